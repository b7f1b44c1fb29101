//! What sharing a breaker through Redis costs per call: a breaker registered with a running
//! [`Fleet`] against a local one, in one run (issue 14: `closed_success` and `open_reject` of a
//! shared breaker within 5 % of a local one).
//!
//! Run with `nice -n 5 cargo bench -p breaker-benches --bench fleet`.
//!
//! # Set-up
//!
//! The bench starts its own `redis-server` on a free loopback port, in a temporary directory,
//! without persistence (`--save "" --appendonly no`), and stops it by PID when it is done (as
//! breaker-redis's integration tests do). Every breaker comes from one breaker-tokio registry
//! (`&'static Breaker`, tokio's clock), the way a service gets them; the `shared/` ones are
//! registered with one [`Fleet`] (`Fleet::builder(url).replica_id(..).share(..).start()`,
//! default timings: its task reads every shared breaker's snapshot every `poll_interval`, 5 ms)
//! running on a multi-thread tokio runtime (one worker thread) beside the bench, connected to
//! that Redis before the first row. The `local/` ones are not shared. The fleet runs during
//! every row, the local ones included, so both sides of each pair see the same background work;
//! what differs is only whether the task polls the breaker being measured.
//!
//! Without `redis-server` (or if it does not start) the bench says so and runs against an
//! unreachable URL: the **degraded** case (the task reconnects every `reconnect_interval` and
//! still polls every 5 ms), not the figure the issue asks for.
//!
//! # Rows (group `fleet`, single thread)
//!
//! - `atomic_load`: an `Acquire` load of an `AtomicU64`, the baseline the other benches report.
//! - `local/closed_success`, `shared/closed_success`: `breaker.call(ok)` on a CLOSED breaker with
//!   no failures (the README's std call path).
//! - `local/open_reject`, `shared/open_reject`: `breaker.call(ok)` on a breaker **tripped** OPEN
//!   (threshold 1, one failing call, recovery timeout 1 h): the rejection fast path of
//!   `hot_path/open_reject` (a load and a clock read, no store). The shared one is in
//!   [`Mode::Any`], so its trip opens the fleet: the fleet record is OPEN too (checked).
//! - `local/forced_open_reject`, `shared/forced_open_reject`: the same on a breaker forced open:
//!   the local one with its own `force_open()`, the shared one with [`Fleet::force_open`], so the
//!   fleet record is FORCED_OPEN too (checked). A forced-open rejection is not on the
//!   tripped-open fast path; it is here because it is the fleet's own way of opening.
//!
//! Each pair runs the same machine code: every breaker row is one `#[inline(never)]` loop of
//! `iters` calls ([`calls`]), so a difference between `local/` and `shared/` is not code
//! placement, only the breaker's memory (the task's reads of its word share the cache line
//! with the bench's reads; neither writes it in these states) and the machine's noise. Rows run
//! in the order listed, each shared row right after its local one. Figures: the "Figures"
//! section of redis-adapter/README.md.

use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use breaker_redis::{Fleet, FleetState, Mode};
use breaker_tokio::{Breaker, Config, Snapshot, State};
use criterion::Criterion;

mod common;
use common::consume;

/// The closure every breaker row calls.
#[inline(always)]
fn ok_call() -> Result<u64, u32> {
    Ok(black_box(1))
}

/// The failing closure (trips the `open` breakers at set-up).
#[inline(always)]
fn err_call() -> Result<u64, u32> {
    Err(black_box(1))
}

/// A recovery timeout no row reaches: the tripped breakers stay OPEN for the whole run.
const NEVER: Duration = Duration::from_secs(3_600);

/// Where nothing listens: the degraded case, when there is no `redis-server`.
const UNREACHABLE: &str = "redis://127.0.0.1:1/";

/// `iters` calls of `breaker.call(ok_call)`, timed. One function for every breaker row (never
/// inlined into the row), so a local row and its shared row run the same code.
#[inline(never)]
fn calls(breaker: &Breaker, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        consume(black_box(breaker).call(ok_call));
    }
    start.elapsed()
}

/// A `redis-server` of the bench's own: a free loopback port, a temporary directory, no
/// persistence; stopped by PID (SIGKILL, then reaped) and its directory removed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts one and waits (up to 10 s) until it accepts connections; why not, otherwise.
    fn start() -> Result<RedisServer, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!("breaker-fleet-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("redis-server could not be run ({e})"));
            }
        };
        let server = RedisServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("redis-server did not accept connections on port {port} within 10 s"))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `f` every 5 ms until it holds or `within` passes; whether it held.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The breakers of the rows: each local breaker and its shared twin have the same config.
struct Breakers {
    local_closed: &'static Breaker,
    shared_closed: &'static Breaker,
    local_open: &'static Breaker,
    shared_open: &'static Breaker,
    local_forced: &'static Breaker,
    shared_forced: &'static Breaker,
}

/// Everything running beside the rows. Dropped in field order: the fleet's task stops, then
/// the runtime, then Redis.
struct Running {
    fleet: Fleet,
    runtime: tokio::runtime::Runtime,
    redis: Option<RedisServer>,
    breakers: Breakers,
}

fn set_up() -> Running {
    let redis = match RedisServer::start() {
        Ok(r) => {
            eprintln!("fleet bench: redis-server on 127.0.0.1:{} (pid {})", r.port, r.child.id());
            Some(r)
        }
        Err(why) => {
            eprintln!(
                "fleet bench: {why}. Install it (Debian: apt-get install redis-server) for the real \
                 figures. Running against {UNREACHABLE}, where nothing listens: these are the \
                 DEGRADED case's figures (the fleet's task reconnecting), not a connected fleet's."
            );
            None
        }
    };
    let url = redis.as_ref().map_or_else(|| UNREACHABLE.to_owned(), RedisServer::url);

    let open = Config::new().failure_threshold(1).recovery_timeout(NEVER);
    let registry = breaker_tokio::registry()
        .configure("local_open", open)
        .configure("shared_open", open)
        .build()
        .expect("valid config");
    let get = |name| registry.breaker(name).expect("a named breaker");
    let breakers = Breakers {
        local_closed: get("local_closed"),
        shared_closed: get("shared_closed"),
        local_open: get("local_open"),
        shared_open: get("shared_open"),
        local_forced: get("local_forced"),
        shared_forced: get("shared_forced"),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fleet")
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let fleet = {
        let _in_runtime = runtime.enter();
        Fleet::builder(url)
            .replica_id("bench-1")
            .share(breakers.shared_closed, Mode::default())
            // Any: this replica's trip opens the fleet, so the fleet record is OPEN as well.
            .share(breakers.shared_open, Mode::Any)
            .share(breakers.shared_forced, Mode::default())
            .start()
            .expect("a valid fleet")
    };
    let connected = redis.is_some();
    if connected {
        assert!(
            eventually(Duration::from_secs(10), || !fleet.is_degraded()),
            "the fleet did not reach Redis"
        );
    }

    // Open the open and forced breakers, the local and the shared one the same way.
    for b in [breakers.local_open, breakers.shared_open] {
        assert!(b.call(err_call).is_err());
        assert_eq!(b.state(), State::Open);
    }
    breakers.local_forced.force_open();
    let forced = runtime.block_on(fleet.force_open("shared_forced"));
    if connected {
        forced.expect("forced open fleet-wide");
    }
    for b in [breakers.local_forced, breakers.shared_forced] {
        assert_eq!(b.state(), State::ForcedOpen);
    }
    if connected {
        // The task saw the trip, voted, and the fleet opened (Any); the forced record is written.
        let fleet_state = |name: &str| {
            fleet.health().breakers.into_iter().find(|b| b.name == name).and_then(|b| b.fleet_state)
        };
        assert!(
            eventually(Duration::from_secs(10), || fleet_state("shared_open") == Some(FleetState::Open)
                && fleet_state("shared_forced") == Some(FleetState::ForcedOpen)),
            "fleet records not written: {:?}",
            fleet.health()
        );
    }
    Running { fleet, runtime, redis, breakers }
}

fn fleet(c: &mut Criterion, run: &Running) {
    let b = &run.breakers;
    let mut g = c.benchmark_group("fleet");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("atomic_load", |bench| {
        let a = AtomicU64::new(0);
        bench.iter(|| consume(black_box(&a).load(Ordering::Acquire)));
    });

    let rows: [(&str, &'static Breaker, State); 6] = [
        ("local/closed_success", b.local_closed, State::Closed),
        ("shared/closed_success", b.shared_closed, State::Closed),
        ("local/open_reject", b.local_open, State::Open),
        ("shared/open_reject", b.shared_open, State::Open),
        ("local/forced_open_reject", b.local_forced, State::ForcedOpen),
        ("shared/forced_open_reject", b.shared_forced, State::ForcedOpen),
    ];
    for (name, breaker, state) in rows {
        let seen = |s: Snapshot| (s.state, s.generation, s.failure_count);
        let before = seen(breaker.snapshot());
        assert_eq!(before.0, state, "{name}");
        g.bench_function(name, |bench| bench.iter_custom(|iters| calls(breaker, iters)));
        // Nothing moved the breaker during the row (no trip, no restore by the task).
        assert_eq!(seen(breaker.snapshot()), before, "{name}");
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let run = set_up();
    fleet(&mut c, &run);
    let health = run.fleet.health();
    let stats = health.stats;
    eprintln!(
        "fleet bench: fleet {} at the end; store errors {}, transitions published {}, records \
         applied {}",
        if health.degraded { "DEGRADED" } else { "connected" },
        stats.store_errors,
        stats.published,
        stats.applied
    );
    if run.redis.is_some() {
        assert!(!health.degraded, "the fleet lost Redis during the run: figures not of a connected fleet");
    }
    let Running { fleet, runtime, redis, breakers: _ } = run;
    runtime.block_on(fleet.shutdown());
    drop(runtime);
    drop(redis);
    c.final_summary();
}
