//! End-to-end key flood: a keyed route of the demo service (`GET /tenants/{tenant}/items/{id}`,
//! one breaker per tenant, family `tenant`) under a flood of made-up tenants while one tenant's
//! breaker is OPEN.
//!
//! Run by `ci/e2e.sh` (which installs PostgreSQL and builds the service):
//! `BREAKER_E2E_PG_BIN` and `BREAKER_E2E_SERVICE`. Without them the test is skipped, except
//! under CI. No broker runs: `KAFKA_BROKERS` is a port nothing listens on.
//!
//! The scenario:
//! 1. two tenants read normally (`acme`, `globex`);
//! 2. PostgreSQL is hung (SIGSTOP) while only `acme` reads: its breaker opens within its
//!    threshold; PostgreSQL resumes (SIGCONT); `globex` never noticed;
//! 3. flooders read as tens of thousands of distinct made-up tenants for several idle periods
//!    of the family, while `acme` and `globex` keep reading and a sampler reads `/metrics` and
//!    `/health/detailed` every few hundred milliseconds.
//!
//! It asserts the rules: `acme` stays OPEN through the flood (every one of its reads a
//! fast `503` with `Retry-After`, the family never forgets it); the family holds at most
//! `TENANT_MAX_KEYS` breakers plus the shared overflow one; the `/metrics` page's series stay
//! bounded whatever the number of tenants (an evicted tenant's series go after
//! `METRICS_IDLE_MS`); `globex` keeps its latency; no answer but 200 and 503. It prints the
//! figures.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breaker_e2e::figures::{ms, percentile};
use breaker_e2e::http::{control, metrics_text, Conn};
use breaker_e2e::process::{free_port, Postgres, Service};
use serde_json::{json, Value};
use tokio::time::sleep;

const TEST_DEADLINE: Duration = Duration::from_secs(120);
const MAX_KEYS: usize = 64;
/// The family's idle timeout: a CLOSED tenant unused this long may be evicted for a new one.
const TENANT_IDLE: Duration = Duration::from_secs(1);
/// The exporter drops a series not updated this long (an evicted tenant's).
const METRICS_IDLE: Duration = Duration::from_secs(2);
const TENANT_THRESHOLD: usize = 3;
/// Long enough that `acme` stays OPEN through the whole flood.
const TENANT_RECOVERY: Duration = Duration::from_secs(60);
const DB_TIMEOUT: Duration = Duration::from_millis(300);
/// The flood: this many connections, each reading as a new tenant on every request.
const FLOODERS: usize = 6;
const FLOOD_FOR: Duration = Duration::from_secs(8);
/// A rejection is answered without touching PostgreSQL: well under one database round trip
/// on a loaded 2-core machine.
const FAST_REJECTION: Duration = Duration::from_millis(50);
/// `globex`'s p99 during the flood: it shares two cores with the flood, the sampler and
/// PostgreSQL; a tenant whose breaker is forgotten or rebuilt would show as failures, not here.
const GLOBEX_P99: Duration = Duration::from_millis(50);

struct Prereqs {
    pg_bin: PathBuf,
    service: PathBuf,
}

fn prereqs() -> Result<Prereqs, String> {
    Ok(Prereqs { pg_bin: breaker_e2e::pg_bin()?, service: breaker_e2e::path_var("BREAKER_E2E_SERVICE")? })
}

#[test]
fn a_key_flood_keeps_an_open_tenant_open_and_the_metrics_bounded() {
    breaker_e2e::run(prereqs(), TEST_DEADLINE, run);
}

async fn health(port: u16) -> Value {
    control(port, "GET", "/health/detailed", None).await.body
}

/// The tenant family's entries in `/health/detailed`: key → entry.
fn tenants(h: &Value) -> serde_json::Map<String, Value> {
    h["tenant"].as_object().cloned().unwrap_or_default()
}

fn tenant_state(h: &Value, tenant: &str) -> String {
    tenants(h).get(tenant).and_then(|e| e["circuit_breaker"].as_str()).unwrap_or("absent").to_owned()
}

/// Series on the page (sample lines, not `# HELP`/`# TYPE`), and those of the tenant family.
fn series(page: &str) -> (usize, usize) {
    let lines: Vec<&str> = page.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let tenant = lines.iter().filter(|l| l.contains("breaker=\"tenant\"")).count();
    (lines.len(), tenant)
}

async fn read(conn: &mut Conn, tenant: &str) -> (u16, Option<String>, Duration, Value) {
    let start = Instant::now();
    let r = conn.send("GET", &format!("/tenants/{tenant}/items/1"), None, None).await.expect("tenant read");
    (r.status, r.retry_after, start.elapsed(), r.body)
}

async fn run(p: Prereqs) {
    let work = breaker_e2e::work_dir("flood");
    let pg = Postgres::init(&p.pg_bin, work.join("pg")).await;
    pg.start().await;
    let env = vec![
        ("DATABASE_URL", pg.url()),
        ("KAFKA_BROKERS", format!("127.0.0.1:{}", free_port())),
        ("OUTBOX_PATH", String::new()),
        ("DB_TIMEOUT_MS", DB_TIMEOUT.as_millis().to_string()),
        ("TENANT_FAILURE_THRESHOLD", TENANT_THRESHOLD.to_string()),
        ("TENANT_RECOVERY_TIMEOUT_MS", TENANT_RECOVERY.as_millis().to_string()),
        ("TENANT_MAX_KEYS", MAX_KEYS.to_string()),
        ("TENANT_IDLE_MS", TENANT_IDLE.as_millis().to_string()),
        ("METRICS_IDLE_MS", METRICS_IDLE.as_millis().to_string()),
    ];
    let svc = Service::start(&p.service, &env, work.join("service.log")).await;
    let port = svc.port;

    // 1. The item, and two tenants reading it.
    let mut seed = Conn::open(port).await.expect("connect");
    let r = seed.send("PUT", "/items/1", Some(json!({"value": "one"})), None).await.expect("seed");
    assert_eq!(r.status, 200, "seed write: {}", r.body);
    let mut acme = Conn::open(port).await.expect("connect");
    let mut globex = Conn::open(port).await.expect("connect");
    for (conn, name) in [(&mut acme, "acme"), (&mut globex, "globex")] {
        let (status, _, _, body) = read(conn, name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["breaker_key"], name);
    }
    let (_, tenant_series_two) = series(&metrics_text(port).await);

    // 2. PostgreSQL hangs while only acme reads: acme's breaker opens.
    let stopped = pg.signal_all("STOP").await;
    let hung_at = Instant::now();
    let mut failed = 0;
    while failed < TENANT_THRESHOLD {
        let (status, _, _, body) = read(&mut acme, "acme").await;
        assert_eq!(status, 503, "acme while PostgreSQL hangs: {body}");
        failed += 1;
    }
    let opened_after = hung_at.elapsed();
    pg.signal_all("CONT").await;
    let h = health(port).await;
    assert_eq!(tenant_state(&h, "acme"), "open", "acme after {TENANT_THRESHOLD} timeouts: {}", h["tenant"]);
    assert_eq!(tenant_state(&h, "globex"), "closed");
    assert_eq!(
        h["database"]["circuit_breaker"], "closed",
        "the tenants' failures are not the database breaker's"
    );
    let (status, _, _, _) = read(&mut globex, "globex").await;
    assert_eq!(status, 200, "globex after PostgreSQL resumed");
    println!(
        "e2e flood: PostgreSQL hung ({stopped} processes SIGSTOPped): acme OPEN after {TENANT_THRESHOLD} reads in {}",
        ms(opened_after)
    );

    // 3. The flood.
    let stop = Arc::new(AtomicBool::new(false));
    let next_tenant = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, usize>::new()));
    let mut flooders = Vec::new();
    for _ in 0..FLOODERS {
        let (stop, next, statuses) = (Arc::clone(&stop), Arc::clone(&next_tenant), Arc::clone(&statuses));
        flooders.push(tokio::spawn(async move {
            let mut conn = Conn::open(port).await.expect("connect");
            let mut mine = std::collections::BTreeMap::<u16, usize>::new();
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (status, _, _, _) = read(&mut conn, &format!("flood-{n}")).await;
                *mine.entry(status).or_default() += 1;
            }
            let mut all = statuses.lock().unwrap();
            for (s, c) in mine {
                *all.entry(s).or_default() += c;
            }
        }));
    }
    // acme and globex keep reading, and a sampler watches the page and the family.
    let tenants_reading = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let (mut acme_slowest, mut acme_reads, mut globex_latencies, mut globex_errors) =
                (Duration::ZERO, 0usize, Vec::new(), 0usize);
            while !stop.load(Ordering::Relaxed) {
                let (status, retry_after, took, body) = read(&mut acme, "acme").await;
                assert_eq!(status, 503, "acme during the flood: {body}");
                assert!(retry_after.is_some(), "acme's rejection without Retry-After");
                assert_eq!(body["breaker_key"], "acme", "acme's read went through another breaker");
                acme_slowest = acme_slowest.max(took);
                acme_reads += 1;
                let (status, _, took, _) = read(&mut globex, "globex").await;
                if status == 200 {
                    globex_latencies.push(took);
                } else {
                    globex_errors += 1;
                }
                sleep(Duration::from_millis(5)).await;
            }
            (acme_slowest, acme_reads, globex_latencies, globex_errors)
        })
    };
    let flood_start = Instant::now();
    let mut samples = Vec::new();
    while flood_start.elapsed() < FLOOD_FOR {
        sleep(Duration::from_millis(400)).await;
        let page = metrics_text(port).await;
        let h = health(port).await;
        let family = tenants(&h);
        samples.push((
            flood_start.elapsed(),
            next_tenant.load(Ordering::Relaxed),
            series(&page),
            family.len(),
            tenant_state(&h, "acme"),
        ));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.await.expect("flooder");
    }
    let (acme_slowest, acme_reads, mut globex_latencies, globex_errors) =
        tenants_reading.await.expect("tenant readers");
    let flood_tenants = next_tenant.load(Ordering::Relaxed);

    // After the flood: one more idle period of the exporter, and the page is back to the live keys.
    sleep(METRICS_IDLE + TENANT_IDLE).await;
    let after_page = series(&metrics_text(port).await);
    let after = health(port).await;

    println!("e2e flood: {flood_tenants} made-up tenants in {} over {FLOODERS} connections", ms(FLOOD_FOR));
    println!("  t (s) | tenants so far | series (all / tenant) | family entries | acme");
    for (t, n, (all, tenant), entries, acme_state) in &samples {
        println!("  {:5.1} | {n:14} | {all:6} / {tenant:6} | {entries:14} | {acme_state}", t.as_secs_f64());
    }
    println!("  after: series {} / {}, family entries {}", after_page.0, after_page.1, tenants(&after).len());
    println!("  flood answers by status: {:?}", statuses.lock().unwrap());
    globex_latencies.sort();
    println!(
        "  acme: {acme_reads} reads, all 503, slowest {}; globex: {} reads, p50 {}, p99 {}, {globex_errors} not 200",
        ms(acme_slowest),
        globex_latencies.len(),
        ms(percentile(&globex_latencies, 0.5)),
        ms(percentile(&globex_latencies, 0.99)),
    );

    // The rules.
    assert!(
        flood_tenants >= 20 * MAX_KEYS,
        "the flood was too small to mean anything: {flood_tenants} tenants"
    );
    for (t, _, _, entries, acme_state) in &samples {
        assert_eq!(acme_state, "open", "acme at {t:?} into the flood");
        assert!(
            *entries <= MAX_KEYS + 1,
            "{entries} family entries at {t:?}: more than {MAX_KEYS} + the overflow"
        );
    }
    // Series: per tenant breaker, what two tenants had, for the live keys plus the keys evicted
    // within the exporter's idle timeout (at most MAX_KEYS per family idle period), plus the
    // overflow breaker: bounded by the family's size, never by the flood's.
    let per_tenant = tenant_series_two.div_ceil(2).max(1);
    let evicted_per_window = MAX_KEYS * (METRICS_IDLE.as_millis() / TENANT_IDLE.as_millis() + 1) as usize;
    let bound = per_tenant * (MAX_KEYS + 1 + evicted_per_window);
    let max_tenant_series = samples.iter().map(|s| (s.2).1).max().unwrap_or(0);
    println!(
        "  tenant series: at most {max_tenant_series} during the flood (bound {bound}: {per_tenant} per breaker), {} after",
        after_page.1
    );
    assert!(max_tenant_series <= bound, "{max_tenant_series} tenant series > {bound}");
    assert!(after_page.1 <= per_tenant * (MAX_KEYS + 1), "{} tenant series after the flood", after_page.1);
    assert!(
        flood_tenants > 4 * (bound / per_tenant),
        "the flood ({flood_tenants} tenants) must outnumber what the bound allows, or the bound shows nothing"
    );
    assert_eq!(tenant_state(&after, "acme"), "open", "acme after the flood");
    assert!(acme_reads > 0 && acme_slowest < FAST_REJECTION, "acme's rejections: slowest {acme_slowest:?}");
    let bad: Vec<_> = statuses.lock().unwrap().keys().copied().filter(|s| *s != 200 && *s != 503).collect();
    assert!(bad.is_empty(), "flood answers other than 200 and 503: {bad:?}");
    assert_eq!(globex_errors, 0, "globex failed during the flood");
    assert!(
        percentile(&globex_latencies, 0.99) <= GLOBEX_P99,
        "globex p99 {:?} during the flood",
        percentile(&globex_latencies, 0.99)
    );
    svc.stop().await;
    pg.kill().await;
}
