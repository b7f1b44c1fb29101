//! The end-to-end harness the scenarios under `tests/` share: starting, killing and restarting
//! PostgreSQL, the broker (tansu), `redis-server` and the demo service (`demo/`, package
//! `breaker-demo`) on loopback; HTTP load recorded request by request; the figures.
//!
//! - `tests/fault.rs`: one service, its dependencies killed, hung and restarted under load;
//!   hostile clients.
//! - `tests/fleet.rs`: three replicas sharing their breakers through Redis, against three that
//!   do not, through one PostgreSQL outage and one Redis outage.
//! - `tests/flood.rs`: a flood of made-up tenants against the keyed route while one tenant's
//!   breaker is OPEN.
//!
//! Run by `ci/e2e.sh`, which installs what they need and sets the variables each scenario
//! reads (see [`path_var`]).

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub mod figures;
pub mod http;
pub mod load;
pub mod process;

/// A path from the environment variable `name`, which must exist.
pub fn path_var(name: &str) -> Result<PathBuf, String> {
    let v = std::env::var_os(name).ok_or_else(|| format!("{name} is not set"))?;
    let p = PathBuf::from(v);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{name}={} does not exist", p.display()))
    }
}

/// `BREAKER_E2E_PG_BIN`: the directory with PostgreSQL's `initdb` and `pg_ctl`.
pub fn pg_bin() -> Result<PathBuf, String> {
    let bin = path_var("BREAKER_E2E_PG_BIN")?;
    for tool in ["initdb", "pg_ctl"] {
        if !bin.join(tool).exists() {
            return Err(format!("{} has no {tool}", bin.display()));
        }
    }
    Ok(bin)
}

/// A fresh temporary directory for the scenario `name` (removed first if left over).
pub fn work_dir(name: &str) -> PathBuf {
    let work = std::env::temp_dir().join(format!("breaker-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    println!("e2e {name}: work directory {}", work.display());
    work
}

/// Runs a scenario on a 2-worker runtime within `deadline`, given its prerequisites. Missing
/// prerequisites skip it, except under CI (`CI` set), where they fail it.
pub fn run<P, F: Future<Output = ()>>(
    prereqs: Result<P, String>,
    deadline: Duration,
    scenario: impl FnOnce(P) -> F,
) {
    let prereqs = match prereqs {
        Ok(p) => p,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but the e2e prerequisites are missing ({why}); run ci/e2e.sh")
        }
        Err(why) => {
            eprintln!("e2e skipped: {why} (ci/e2e.sh provides the prerequisites)");
            return;
        }
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        if tokio::time::timeout(deadline, scenario(prereqs)).await.is_err() {
            panic!("the e2e scenario did not finish within {deadline:?}");
        }
    });
}
