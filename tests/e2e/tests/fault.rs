//! End-to-end fault test of the breaker-tokio demo service (`demo/`, package `breaker-demo`)
//! against a real PostgreSQL and a real Kafka-protocol broker (tansu), on loopback.
//!
//! Run by `ci/e2e.sh`, which installs PostgreSQL and tansu if needed, builds the service and
//! sets the three variables below. Without them the test is skipped, except under CI (`CI`
//! set), where missing prerequisites fail it.
//!
//! - `BREAKER_E2E_PG_BIN`: directory with `initdb` and `pg_ctl`;
//! - `BREAKER_E2E_TANSU`: the `tansu` binary;
//! - `BREAKER_E2E_SERVICE`: the built `breaker-demo` binary.
//!
//! What it does: 20 reader clients and 4 event publishers load the service (bounded in count
//! and time); PostgreSQL is killed (`pg_ctl stop -m immediate`) and restarted; then the broker
//! is killed (SIGKILL) and restarted. It asserts what issue 5 lists and prints the figures.
//!
//! The broker keeps its log in a SQLite file (tansu's libSQL engine), so it is SIGKILLed with
//! publishes in flight and read once, at the end: every event acknowledged to a client
//! (`published` or `queued`), before or during the kill, must be stored exactly once; the only
//! duplicate accounted for is a `queued` event (one whose delivery the outbox retried) that the
//! broker stored but had not acknowledged when it died. A `published` event stored twice, or
//! an acknowledged event missing, fails the test.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use breaker_e2e::figures::{log_messages, metric, ms, percentile, window};
use breaker_e2e::http::{breaker_state, control, metrics_text, wait_until, Conn};
use breaker_e2e::load::{client, Kind, Load, Outcome, Shape};
use breaker_e2e::process::{free_port, Broker, Postgres, Service};
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

/// Reader clients (`GET /items/{id}`) and publisher clients (`POST /events`).
const READERS: usize = 20;
const PUBLISHERS: usize = 4;
/// Bounds of the load: requests per client and the whole test.
const MAX_REQUESTS_PER_CLIENT: usize = 20_000;
const TEST_DEADLINE: Duration = Duration::from_secs(170);
/// A request not answered within this is a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// The breakers' recovery timeout, shortened for the test (the service's defaults are the
/// seed's 60 s and 30 s).
const RECOVERY: Duration = Duration::from_secs(3);
const DB_THRESHOLD: u32 = 5;
const KAFKA_THRESHOLD: u32 = 3;
/// How long each dependency stays down: two recovery timeouts, so probes fail at least once.
const OUTAGE: Duration = Duration::from_secs(6);
const OUTBOX_CAPACITY: usize = 300;
const ITEMS: i64 = 50;
/// Readers also ask for items that do not exist (404 from the database): while the database is
/// unavailable there is no last good value for them, so they get the degraded 503.
const UNKNOWN_ITEMS: i64 = 10;
const ADMIN_TOKEN: &str = "e2e-admin-token";
/// How long the impatient clients of the hang phase wait: half the database call's timeout
/// (`DB_TIMEOUT_MS` 1 000), so they always leave before the call would fail on its own.
const IMPATIENT: Duration = Duration::from_millis(500);
const IMPATIENT_CLIENTS: usize = 8;
/// Hostile connections of the shedding phase: half slowloris (headers trickled a byte at a time,
/// never finished), half idle (connected, silent). The service's `HEADER_READ_TIMEOUT_MS` (its
/// default, 5 s) must close every one of them.
const HOSTILE: usize = 400;
/// The p99 of normal reads while the hostile connections are held, and cut at the header-read
/// timeout (400 sockets closed within a few milliseconds of each other). What it guards against
/// is the failure before the fix: every new request refused for 30 s. On the 2-core CI machine,
/// with PostgreSQL, the broker, the service and every client on it, the p99 measured 3.5 to
/// 11 ms between runs (one run at 11.04 ms failed a 10 ms bound); 25 ms keeps the margin
/// without letting a stall of even a tenth of a second through.
const HOSTILE_P99_BOUND: Duration = Duration::from_millis(25);
/// Bound on the p99 of the answers while a dependency's breaker is open (a degraded read, a
/// publish to the outbox). What it guards: an open breaker answers without waiting for the
/// dependency (the client timeout is 2 s, a hung dependency's callers waited 500 ms). Measured
/// 4 to 9 ms on the 2-core CI machine shared with PostgreSQL, the broker and 24 clients (one run
/// at 8.68 ms failed a 5 ms bound); 15 ms keeps the margin and still fails a stall of 20 ms.
const OPEN_P99_BOUND: Duration = Duration::from_millis(15);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Events queued in the outbox of a service that is then killed with SIGKILL.
const CRASH_EVENTS: usize = 50;
const TOPIC: &str = "events";

/// What the scenario needs, from the environment (see the module docs).
struct Prereqs {
    pg_bin: PathBuf,
    tansu: PathBuf,
    service: PathBuf,
}

fn prereqs() -> Result<Prereqs, String> {
    Ok(Prereqs {
        pg_bin: breaker_e2e::pg_bin()?,
        tansu: breaker_e2e::path_var("BREAKER_E2E_TANSU")?,
        service: breaker_e2e::path_var("BREAKER_E2E_SERVICE")?,
    })
}

#[test]
fn dependencies_fail_and_return_under_load() {
    breaker_e2e::run(prereqs(), TEST_DEADLINE, run);
}

/// The readers' and publishers' load.
const READS: Shape = Shape {
    items: ITEMS,
    unknown_items: UNKNOWN_ITEMS,
    max_requests: MAX_REQUESTS_PER_CLIENT,
    timeout: CLIENT_TIMEOUT,
    pause: Duration::from_millis(15),
};
const PUBLISHES: Shape = Shape { pause: Duration::from_millis(20), ..READS };

// ---------------------------------------------------------------------------------------------
// Load

/// A reader that gives up after [`IMPATIENT`], as a browser or an upstream with a short
/// deadline would, until `stop`: each request as (start, latency, status; `None` when it gave
/// up). A fresh connection after giving up.
async fn impatient_client(
    port: u16,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, Duration, Option<u16>)> {
    let mut conn = Conn::open(port).await.expect("impatient connection");
    let mut out = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = 1 + (n * 7 + i) as i64 % ITEMS;
        i += 1;
        let start = Instant::now();
        let r = timeout(IMPATIENT, conn.send("GET", &format!("/items/{id}"), None, None)).await;
        let status = match r {
            Ok(Ok(reply)) => Some(reply.status),
            _ => None,
        };
        out.push((start, start.elapsed(), status));
        if status.is_none() {
            conn = Conn::open(port).await.expect("impatient reconnection");
        }
        sleep(Duration::from_millis(20)).await;
    }
    out
}

/// One hostile connection: slowloris (`trickle`: an unfinished request, one more header byte
/// every 300 ms) or idle (nothing sent). Returns how long the service kept it open (until it
/// closed it or answered 408 and closed), or `None` if it was still open after 20 s.
async fn hostile_connection(port: u16, trickle: bool) -> Option<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    if trickle && s.write_all(b"GET /items/1 HTTP/1.1\r\nHost: e2e\r\nX-Slow: ").await.is_err() {
        return Some(start.elapsed());
    }
    let deadline = sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    let mut buf = [0u8; 512];
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return Some(start.elapsed()),
                Ok(_) => {} // a 408 before the close
            },
            _ = sleep(Duration::from_millis(300)), if trickle => {
                if s.write_all(b"a").await.is_err() {
                    return Some(start.elapsed());
                }
            }
            _ = &mut deadline => return None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The broker's contents

/// Every record of the topic, as event id → how many times it was stored.
async fn consume_all(broker: &str) -> BTreeMap<String, usize> {
    let client = ClientBuilder::new(vec![broker.to_owned()]).build().await.expect("consumer client");
    let partition =
        client.partition_client(TOPIC, 0, UnknownTopicHandling::Retry).await.expect("partition client");
    let high = partition.get_offset(OffsetAt::Latest).await.expect("high watermark");
    let mut offset = partition.get_offset(OffsetAt::Earliest).await.expect("low watermark");
    let mut seen = BTreeMap::new();
    while offset < high {
        let (records, _) = partition.fetch_records(offset, 1..10_000_000, 200).await.expect("fetch");
        for r in records {
            offset = offset.max(r.offset + 1);
            let key = r.record.key.map(|k| String::from_utf8_lossy(&k).into_owned());
            *seen.entry(key.unwrap_or_default()).or_insert(0) += 1;
        }
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// Figures

async fn run(p: Prereqs) {
    let t0 = Instant::now();
    let at = |t: Instant| t.duration_since(t0);
    let work = breaker_e2e::work_dir("fault");

    let pg = Postgres::init(&p.pg_bin, work.join("pg")).await;
    pg.start().await;
    let mut broker = Broker::new(&p.tansu, work.join("tansu"));
    broker.start().await;

    let env = vec![
        ("DATABASE_URL", pg.url()),
        ("KAFKA_BROKERS", broker.addr()),
        ("KAFKA_TOPIC", TOPIC.to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("DB_FAILURE_THRESHOLD", DB_THRESHOLD.to_string()),
        ("DB_RECOVERY_TIMEOUT_MS", RECOVERY.as_millis().to_string()),
        ("DB_TIMEOUT_MS", "1000".to_owned()),
        ("KAFKA_FAILURE_THRESHOLD", KAFKA_THRESHOLD.to_string()),
        ("KAFKA_RECOVERY_TIMEOUT_MS", RECOVERY.as_millis().to_string()),
        ("KAFKA_TIMEOUT_MS", "1000".to_owned()),
        ("OUTBOX_CAPACITY", OUTBOX_CAPACITY.to_string()),
        ("OUTBOX_PATH", work.join("outbox.sqlite3").display().to_string()),
    ];
    let svc = Service::start(&p.service, &env, work.join("service.log")).await;
    let port = svc.port;

    // Seed the items (each write also publishes an `item_updated` event).
    let mut seed_events: Vec<(String, String)> = Vec::new();
    {
        let mut conn = Conn::open(port).await.expect("connect");
        for id in 1..=ITEMS {
            let r = conn
                .send("PUT", &format!("/items/{id}"), Some(json!({"value": format!("value {id}")})), None)
                .await
                .expect("seed write");
            assert_eq!(r.status, 200, "seed write: {}", r.body);
            let event = &r.body["event"];
            seed_events.push((
                event["id"].as_str().unwrap_or_default().to_owned(),
                event["delivery"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }

    // ---- Load.
    let load = Arc::new(Load::default());
    let mut clients = Vec::new();
    for n in 0..READERS {
        clients.push(tokio::spawn(client(Arc::clone(&load), port, Kind::Read, n, READS)));
    }
    for n in 0..PUBLISHERS {
        clients.push(tokio::spawn(client(Arc::clone(&load), port, Kind::Publish, n, PUBLISHES)));
    }
    sleep(Duration::from_secs(2)).await;

    // ---- PostgreSQL dies under load, then returns.
    let db_kill = Instant::now();
    pg.kill().await;
    let db_open =
        wait_until(port, "database", Duration::from_secs(10), "database breaker opens", |s, _| s == "open")
            .await;
    sleep(OUTAGE.saturating_sub(db_kill.elapsed())).await;
    let db_restart = Instant::now();
    pg.start().await;
    let db_up = Instant::now();
    let db_closed =
        wait_until(port, "database", RECOVERY + Duration::from_secs(5), "database breaker closes", |s, _| {
            s == "closed"
        })
        .await;
    sleep(Duration::from_secs(2)).await;

    // ---- PostgreSQL hangs (SIGSTOP of every process) while impatient clients give up after
    // 0.5 s, before the 1 s call timeout (issue 13: before the fix, 600 of 600 such requests
    // hung until the client left and the breaker stayed CLOSED with no failure counted). The
    // breaker must open within its threshold of calls, and requests must then be answered fast.
    let stop_impatient = Arc::new(AtomicBool::new(false));
    let impatient: Vec<_> = (0..IMPATIENT_CLIENTS)
        .map(|n| tokio::spawn(impatient_client(port, n, Arc::clone(&stop_impatient))))
        .collect();
    sleep(Duration::from_millis(500)).await;
    let hang = Instant::now();
    let stopped = pg.signal_all("STOP").await;
    let hang_open = wait_until(
        port,
        "database",
        Duration::from_secs(10),
        "database breaker opens while PostgreSQL hangs and clients give up",
        |s, _| s == "open",
    )
    .await;
    sleep(Duration::from_millis(1_500)).await;
    stop_impatient.store(true, Ordering::SeqCst);
    let mut hang_samples = Vec::new();
    for c in impatient {
        hang_samples.extend(c.await.expect("impatient client"));
    }
    pg.signal_all("CONT").await;
    let hang_closed = wait_until(
        port,
        "database",
        RECOVERY + Duration::from_secs(5),
        "database breaker closes after the hang",
        |s, _| s == "closed",
    )
    .await;
    {
        let during: Vec<_> =
            hang_samples.iter().filter(|(start, ..)| *start >= hang && *start < hang_open).collect();
        let gave_up = during.iter().filter(|(.., st)| st.is_none()).count();
        // Answered fast once open: from 100 ms after the breaker opened until the clients stopped.
        let settled = hang_open + Duration::from_millis(100);
        let mut open_lat: Vec<Duration> =
            hang_samples.iter().filter(|(start, ..)| *start >= settled).map(|(_, l, _)| *l).collect();
        open_lat.sort();
        let open_gave_up =
            hang_samples.iter().filter(|(start, _, st)| *start >= settled && st.is_none()).count();
        let statuses: BTreeMap<String, usize> = hang_samples
            .iter()
            .filter(|(start, ..)| *start >= settled)
            .fold(BTreeMap::new(), |mut m, (_, _, st)| {
                *m.entry(st.map_or("gave up".to_owned(), |s| s.to_string())).or_insert(0) += 1;
                m
            });
        let p99 = percentile(&open_lat, 99.0);
        println!(
            "hang: {stopped} PostgreSQL processes stopped at {:.2} s; {} requests by {IMPATIENT_CLIENTS} clients patient for {} before the breaker opened, {gave_up} gave up; breaker open at {:.2} s (+{}); after: {} requests, {open_gave_up} gave up, p50 {}, p99 {}, statuses {statuses:?}; closed at {:.2} s after SIGCONT",
            at(hang).as_secs_f64(),
            during.len(),
            ms(IMPATIENT),
            at(hang_open).as_secs_f64(),
            ms(hang_open - hang),
            open_lat.len(),
            ms(percentile(&open_lat, 50.0)),
            ms(p99),
            at(hang_closed).as_secs_f64(),
        );
        assert!(gave_up > 0, "the scenario needs clients that gave up before the breaker opened");
        // The calls time out after 1 s on their own and count (and so would the abandoned ones):
        // DB_THRESHOLD of them open the breaker, so it opens after about one call timeout.
        assert!(
            hang_open - hang <= Duration::from_secs(4),
            "the breaker took {} to open",
            ms(hang_open - hang)
        );
        assert!(open_lat.len() >= 20, "too few requests while open: {}", open_lat.len());
        assert_eq!(open_gave_up, 0, "requests still hang while the breaker is open: {statuses:?}");
        assert!(p99 <= Duration::from_millis(100), "p99 while open {}", ms(p99));
    }
    sleep(Duration::from_secs(1)).await;

    // ---- The broker dies (SIGKILL) under load, publishes in flight, then returns on the same
    // storage.
    wait_until(port, "kafka", Duration::from_secs(10), "outbox drained before the broker kill", |s, q| {
        s == "closed" && q == 0
    })
    .await;
    let in_flight = load.publishing.load(Ordering::SeqCst);
    let k_kill = Instant::now();
    broker.kill().await;
    let k_open =
        wait_until(port, "kafka", Duration::from_secs(10), "kafka breaker opens", |s, _| s == "open").await;
    sleep(OUTAGE.saturating_sub(k_kill.elapsed())).await;
    let k_restart = Instant::now();
    broker.start().await;
    let k_up = Instant::now();
    let k_closed =
        wait_until(port, "kafka", RECOVERY + Duration::from_secs(5), "kafka breaker closes", |s, _| {
            s == "closed"
        })
        .await;
    let k_drained =
        wait_until(port, "kafka", Duration::from_secs(10), "outbox drained after recovery", |_, q| q == 0)
            .await;
    sleep(Duration::from_secs(1)).await;

    // ---- Hostile clients: slowloris and idle connections while the load goes on. The
    // service sheds every one within its header-read timeout; normal requests are unaffected
    // (their p99 in this window is checked with the others, at the end).
    let hostile_start = Instant::now();
    let hostile: Vec<_> = (0..HOSTILE).map(|i| tokio::spawn(hostile_connection(port, i % 2 == 0))).collect();
    let mut held = Vec::new();
    for h in hostile {
        held.push(h.await.expect("hostile connection"));
    }
    let hostile_end = Instant::now();
    {
        let still_open = held.iter().filter(|h| h.is_none()).count();
        let mut kept: Vec<Duration> = held.iter().flatten().copied().collect();
        kept.sort();
        println!(
            "hostile: {HOSTILE} connections ({} slowloris, {} idle): {still_open} still open after 20 s; held p50 {}, max {} (header-read timeout {:?})",
            HOSTILE.div_ceil(2),
            HOSTILE / 2,
            ms(percentile(&kept, 50.0)),
            ms(kept.last().copied().unwrap_or_default()),
            HEADER_READ_TIMEOUT
        );
        assert_eq!(still_open, 0, "hostile connections not shed");
        let max = kept.last().copied().unwrap_or_default();
        assert!(
            max <= HEADER_READ_TIMEOUT + Duration::from_secs(2),
            "a hostile connection was held {}",
            ms(max)
        );
    }

    // ---- Stop the load; let the last events through.
    load.stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client task");
    }
    wait_until(port, "kafka", Duration::from_secs(10), "final outbox drain", |_, q| q == 0).await;
    let after_restart = consume_all(&broker.addr()).await;

    // ---- Manual control.
    let admin = "/admin/breakers/database/force_open";
    let no_token = control(port, "POST", admin, None).await.status;
    let wrong_token = control(port, "POST", admin, Some("not-the-token")).await.status;
    let state_after_refusals = breaker_state(port, "database").await.0;
    let right_token = control(port, "POST", admin, Some(ADMIN_TOKEN)).await.status;
    let forced = breaker_state(port, "database").await.0;
    let reset = control(port, "POST", "/admin/breakers/database/reset", Some(ADMIN_TOKEN)).await.status;
    let after_reset = breaker_state(port, "database").await.0;
    let unknown = control(port, "POST", "/admin/breakers/nope/force_open", Some(ADMIN_TOKEN)).await.status;
    // A second instance without a token: the endpoints do not exist.
    let no_admin_env: Vec<_> = env.iter().filter(|(k, _)| *k != "ADMIN_TOKEN").cloned().collect();
    let plain = Service::start(&p.service, &no_admin_env, work.join("service-no-admin.log")).await;
    let without_config = control(plain.port, "POST", admin, Some(ADMIN_TOKEN)).await.status;
    plain.stop().await;

    let metrics = metrics_text(port).await;
    svc_stop_and_check(
        svc,
        Checks {
            t0,
            load,
            seed_events,
            in_flight_at_kill: in_flight,
            after_restart,
            metrics,
            times: Times {
                db_kill,
                db_open,
                db_restart,
                db_up,
                db_closed,
                k_kill,
                k_open,
                k_restart,
                k_up,
                k_closed,
                k_drained,
                hostile_start,
                hostile_end,
            },
            admin: [no_token, wrong_token, right_token, reset, unknown, without_config],
            admin_states: [state_after_refusals, forced, after_reset],
        },
    )
    .await;

    // ---- kill -9 with events in the outbox. A second service whose broker address has nothing
    // listening queues every event in its outbox file; it is killed with SIGKILL (no shutdown,
    // no flush), started again on the same file with the real broker, and every event it
    // acknowledged as queued must reach the broker exactly once.
    let crash_outbox = work.join("crash-outbox.sqlite3").display().to_string();
    let with = |brokers: String| -> Vec<(&str, String)> {
        env.iter()
            .map(|(k, v)| match *k {
                "KAFKA_BROKERS" => (*k, brokers.clone()),
                "OUTBOX_PATH" => (*k, crash_outbox.clone()),
                _ => (*k, v.clone()),
            })
            .collect()
    };
    let first = Service::start(
        &p.service,
        &with(format!("127.0.0.1:{}", free_port())),
        work.join("service-crash-1.log"),
    )
    .await;
    let mut queued = Vec::new();
    {
        let mut conn = Conn::open(first.port).await.expect("connect to the first service");
        for i in 0..CRASH_EVENTS {
            let id = format!("crash-{i}");
            let r = conn
                .send("POST", "/events", Some(json!({"id": id, "type": "e2e"})), None)
                .await
                .expect("publish to the first service");
            assert_eq!(r.body["delivery"].as_str(), Some("queued"), "{id}: {} {}", r.status, r.body);
            queued.push(id);
        }
    }
    let killed = Instant::now();
    first.kill9().await;
    let second = Service::start(&p.service, &with(broker.addr()), work.join("service-crash-2.log")).await;
    let drained = wait_until(
        second.port,
        "kafka",
        Duration::from_secs(20),
        "the restarted service drains the outbox",
        |_, q| q == 0,
    )
    .await;
    let stored = consume_all(&broker.addr()).await;
    second.stop().await;
    let lost: Vec<_> = queued.iter().filter(|id| !stored.contains_key(*id)).collect();
    let twice: Vec<_> = queued.iter().filter(|id| stored.get(*id).is_some_and(|&n| n > 1)).collect();
    println!(
        "kill -9: {} events queued by a service with no broker, SIGKILLed; restarted on the same outbox, drained {} after the kill; lost {}, stored twice {}",
        queued.len(),
        ms(drained - killed),
        lost.len(),
        twice.len()
    );
    assert!(lost.is_empty(), "events acknowledged as queued were lost across kill -9: {lost:?}");
    assert!(twice.is_empty(), "events stored twice: {twice:?}");

    broker.kill().await;
    pg.kill().await;
    println!("e2e: total {:.1} s", at(Instant::now()).as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
}

struct Times {
    db_kill: Instant,
    db_open: Instant,
    db_restart: Instant,
    db_up: Instant,
    db_closed: Instant,
    k_kill: Instant,
    k_open: Instant,
    k_restart: Instant,
    k_up: Instant,
    k_closed: Instant,
    k_drained: Instant,
    hostile_start: Instant,
    hostile_end: Instant,
}

struct Checks {
    t0: Instant,
    load: Arc<Load>,
    seed_events: Vec<(String, String)>,
    /// Publishes in flight when the broker was killed.
    in_flight_at_kill: usize,
    after_restart: BTreeMap<String, usize>,
    metrics: String,
    times: Times,
    admin: [u16; 6],
    admin_states: [String; 3],
}

async fn svc_stop_and_check(svc: Service, c: Checks) {
    let logs_before_stop = svc.log_lines();
    svc.stop().await;
    let t = &c.times;
    let samples = c.load.samples.lock().unwrap().clone();
    let at = |i: Instant| i.duration_since(c.t0).as_secs_f64();

    // Every request answered within the client timeout.
    let reads = samples.iter().filter(|s| s.kind == Kind::Read).count();
    let publishes = samples.len() - reads;
    let hung: Vec<_> = samples.iter().filter(|s| matches!(s.outcome, Outcome::TimedOut)).collect();
    let failed: Vec<_> = samples.iter().filter(|s| matches!(s.outcome, Outcome::Failed(_))).collect();
    let mut all: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    all.sort();

    // While the database breaker is open.
    let (db_lat, db_unanswered) = window(&samples, Kind::Read, t.db_open, t.db_restart);
    let db_p99 = percentile(&db_lat, 99.0);
    let degraded = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_open && s.start < t.db_restart)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { what, .. } if what != "database"))
        .count();
    let with_retry_after = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_open && s.start < t.db_restart)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { status: 503, retry_after: true, .. }))
        .count();
    let unavailable = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_open && s.start < t.db_restart)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { status: 503, .. }))
        .count();
    // Normal answers after the database returned.
    let first_normal_read = samples
        .iter()
        .filter(|s| s.kind == Kind::Read && s.start >= t.db_up)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { status: 200, what, .. } if what == "database"))
        .map(|s| s.start + s.latency)
        .min()
        .expect("no normal read after the database returned");

    // While hostile connections are held.
    let (h_lat, h_unanswered) = window(&samples, Kind::Read, t.hostile_start, t.hostile_end);
    let h_p99 = percentile(&h_lat, 99.0);

    // While the kafka breaker is open.
    let (k_lat, k_unanswered) = window(&samples, Kind::Publish, t.k_open, t.k_restart);
    let k_p99 = percentile(&k_lat, 99.0);
    let first_published = samples
        .iter()
        .filter(|s| s.kind == Kind::Publish && s.start >= t.k_up)
        .filter(|s| matches!(&s.outcome, Outcome::Answered { what, .. } if what == "published"))
        .map(|s| s.start + s.latency)
        .min();

    // Events.
    let mut accepted: HashMap<String, String> = HashMap::new();
    let mut overflowed: Vec<String> = Vec::new();
    for (id, delivery) in &c.seed_events {
        accepted.insert(id.clone(), delivery.clone());
    }
    for s in &samples {
        if let (Some(id), Outcome::Answered { what, .. }) = (&s.event_id, &s.outcome) {
            match what.as_str() {
                "published" | "queued" => {
                    accepted.insert(id.clone(), what.clone());
                }
                "overflow" => overflowed.push(id.clone()),
                other => panic!("event {id}: unexpected delivery {other:?}"),
            }
        }
    }
    // The broker's whole log, read once after everything (it survived its kill).
    let consumed: BTreeMap<String, usize> = c.after_restart.clone();
    let queued = accepted.values().filter(|d| *d == "queued").count();
    let missing: Vec<_> = accepted.keys().filter(|id| !consumed.contains_key(*id)).collect();
    let duplicated: Vec<_> = consumed.iter().filter(|(_, n)| **n > 1).collect();
    // A duplicate is accounted for only if the outbox delivered it (`queued`): a retried
    // delivery of a batch the broker stored but had not acknowledged when it was killed.
    let unaccounted_duplicates: Vec<_> =
        duplicated.iter().filter(|(id, _)| accepted.get(*id).map(String::as_str) != Some("queued")).collect();
    let unknown: Vec<_> = consumed.keys().filter(|id| !accepted.contains_key(*id)).collect();
    let overflow_metric = metric(&c.metrics, "outbox_events_overflowed_total", &[]);
    // Refusals are logged one line per second at most, each with the count since the last.
    let overflow_lines: Vec<u64> = logs_before_stop
        .iter()
        .filter(|l| l["fields"]["message"].as_str() == Some("outbox full: events refused"))
        .filter_map(|l| l["fields"]["refused"].as_u64())
        .collect();
    let overflow_logged = overflow_lines.iter().sum::<u64>() as usize;

    // Transitions in the logs and in the metrics.
    let logs = logs_before_stop;
    let transitions = |name: &str| {
        let msgs = log_messages(&logs, name);
        let opening: Vec<_> = msgs
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|s| s.ends_with("opening circuit")))
            .collect();
        let half_open: Vec<f64> = msgs
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|s| s.ends_with("transitioning to HALF_OPEN")))
            .filter_map(|m| m["elapsed_seconds"].as_f64())
            .collect();
        let closed = msgs
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|s| s.ends_with("recovered, closing circuit")))
            .count();
        let first_open = opening.first().map(|m| (m["failure_count"].as_u64(), m["threshold"].as_u64()));
        (opening.len(), half_open, closed, first_open)
    };
    let (db_opens, db_half, db_closes, db_first_open) = transitions("database");
    let (k_opens, k_half, k_closes, k_first_open) = transitions("kafka");
    let m = |b: &str, from: &str, to: &str| {
        metric(&c.metrics, "circuit_breaker_transitions_total", &[("breaker", b), ("from", from), ("to", to)])
    };

    // ---- Figures.
    println!();
    println!(
        "==== e2e figures ({} readers + {} publishers, client timeout {:?}, recovery timeout {:?})",
        READERS, PUBLISHERS, CLIENT_TIMEOUT, RECOVERY
    );
    println!(
        "requests: {} reads, {} publishes; hung past the client timeout: {}; transport errors: {}",
        reads,
        publishes,
        hung.len(),
        failed.len()
    );
    println!(
        "latency, all requests: p50 {} p99 {} max {}",
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
        ms(*all.last().unwrap_or(&Duration::ZERO))
    );
    println!("-- database (threshold {DB_THRESHOLD})");
    println!("killed at {:.2} s; breaker open at {:.2} s (+{}); restarted at {:.2} s, ready at {:.2} s; closed at {:.2} s", at(t.db_kill), at(t.db_open), ms(t.db_open - t.db_kill), at(t.db_restart), at(t.db_up), at(t.db_closed));
    println!("first open logged with failure_count/threshold = {:?}", db_first_open);
    println!("while open: {} reads, unanswered {}, degraded {} (503 {}, with Retry-After {}), p50 {} p99 {} max {}", db_lat.len() + db_unanswered, db_unanswered, degraded, unavailable, with_retry_after, ms(percentile(&db_lat, 50.0)), ms(db_p99), ms(*db_lat.last().unwrap_or(&Duration::ZERO)));
    println!("half-open after (elapsed_seconds in the logs): {:?}; closed {} time(s)", db_half, db_closes);
    println!(
        "normal answers resumed {} after the database was ready (bound: recovery timeout + 1 s = {:?})",
        ms(first_normal_read - t.db_up),
        RECOVERY + Duration::from_secs(1)
    );
    println!("-- kafka (threshold {KAFKA_THRESHOLD}, outbox {OUTBOX_CAPACITY})");
    println!("killed at {:.2} s; breaker open at {:.2} s (+{}); restarted at {:.2} s, listening at {:.2} s; closed at {:.2} s; outbox drained at {:.2} s", at(t.k_kill), at(t.k_open), ms(t.k_open - t.k_kill), at(t.k_restart), at(t.k_up), at(t.k_closed), at(t.k_drained));
    println!("first open logged with failure_count/threshold = {:?}", k_first_open);
    println!(
        "while open: {} publishes, unanswered {}, p50 {} p99 {} max {}",
        k_lat.len() + k_unanswered,
        k_unanswered,
        ms(percentile(&k_lat, 50.0)),
        ms(k_p99),
        ms(*k_lat.last().unwrap_or(&Duration::ZERO))
    );
    println!("half-open after (elapsed_seconds): {:?}; closed {} time(s); first direct publish {} after the broker listened", k_half, k_closes, first_published.map_or("never".into(), |f| ms(f - t.k_up)));
    println!("events: {} accepted ({} via the outbox), {} overflowed (metric {}, logged {} in {} lines); consumed {} distinct from the broker's durable log after its SIGKILL ({} publishes in flight at the kill); missing {}, duplicated {} ({} of them not retried deliveries), unknown {}", accepted.len(), queued, overflowed.len(), overflow_metric, overflow_logged, overflow_lines.len(), consumed.len(), c.in_flight_at_kill, missing.len(), duplicated.len(), unaccounted_duplicates.len(), unknown.len());
    println!("metrics transitions: database closed→open {} open→half_open {} half_open→open {} half_open→closed {}; kafka closed→open {} open→half_open {} half_open→open {} half_open→closed {}",
        m("database", "closed", "open"), m("database", "open", "half_open"), m("database", "half_open", "open"), m("database", "half_open", "closed"),
        m("kafka", "closed", "open"), m("kafka", "open", "half_open"), m("kafka", "half_open", "open"), m("kafka", "half_open", "closed"));
    println!("admin: no token {}, wrong token {} (state after: {}), right token {} (state: {}), reset {} (state: {}), unknown breaker {}, no token configured {}",
        c.admin[0], c.admin[1], c.admin_states[0], c.admin[2], c.admin_states[1], c.admin[3], c.admin_states[2], c.admin[4], c.admin[5]);
    println!();

    println!(
        "-- hostile connections held: {} normal reads, unanswered {}, p50 {} p99 {} (bound {})",
        h_lat.len() + h_unanswered,
        h_unanswered,
        ms(percentile(&h_lat, 50.0)),
        ms(h_p99),
        ms(HOSTILE_P99_BOUND)
    );

    // ---- Assertions.
    assert!(h_lat.len() > 100, "too few normal reads while hostile connections were held");
    assert_eq!(h_unanswered, 0, "normal reads went unanswered while hostile connections were held");
    assert!(h_p99 <= HOSTILE_P99_BOUND, "p99 of normal reads under hostile connections: {}", ms(h_p99));
    assert!(hung.is_empty(), "{} requests hung past the client timeout: {:?}", hung.len(), hung.first());
    let first_error = failed.first().map(|s| match &s.outcome {
        Outcome::Failed(e) => e.as_str(),
        _ => "",
    });
    assert!(failed.is_empty(), "{} requests failed at the transport, first: {first_error:?}", failed.len());
    // The database breaker opened at its threshold.
    assert_eq!(db_first_open, Some((Some(u64::from(DB_THRESHOLD)), Some(u64::from(DB_THRESHOLD)))));
    assert!(m("database", "closed", "open") >= 1.0);
    // While open: every request answered, fast.
    assert!(db_lat.len() > 100, "too few reads while the database breaker was open");
    assert_eq!(db_unanswered, 0);
    assert!(db_p99 <= OPEN_P99_BOUND, "p99 while the database breaker is open: {}", ms(db_p99));
    assert_eq!(unavailable, with_retry_after, "every degraded 503 carries Retry-After");
    // Half-open after the timeout, then closed, and normal answers within timeout + 1 s.
    assert!(
        !db_half.is_empty() && db_half.iter().all(|&e| e >= RECOVERY.as_secs_f64()),
        "half-open before the recovery timeout: {db_half:?}"
    );
    assert!(db_closes >= 1 && m("database", "half_open", "closed") >= 1.0);
    assert!(m("database", "open", "half_open") >= 1.0);
    assert!(
        first_normal_read - t.db_up <= RECOVERY + Duration::from_secs(1),
        "normal reads resumed {} after the database returned",
        ms(first_normal_read - t.db_up)
    );
    // The kafka breaker: same shape.
    assert_eq!(k_first_open, Some((Some(u64::from(KAFKA_THRESHOLD)), Some(u64::from(KAFKA_THRESHOLD)))));
    assert!(k_lat.len() > 20 && k_unanswered == 0);
    assert!(k_p99 <= OPEN_P99_BOUND, "p99 while the kafka breaker is open: {}", ms(k_p99));
    assert!(
        !k_half.is_empty() && k_half.iter().all(|&e| e >= RECOVERY.as_secs_f64()),
        "kafka half-open before the recovery timeout: {k_half:?}"
    );
    assert!(k_closes >= 1);
    assert!(
        t.k_closed - t.k_up <= RECOVERY + Duration::from_secs(1),
        "kafka closed {} after the broker returned",
        ms(t.k_closed - t.k_up)
    );
    for (from, to) in [("closed", "open"), ("open", "half_open"), ("half_open", "closed")] {
        assert!(m("kafka", from, to) >= 1.0, "kafka {from}→{to} missing from /metrics");
    }
    // Events: exactly once, or accounted (overflow; a retried outbox delivery).
    assert!(queued > 0, "no event went through the outbox");
    assert!(!overflowed.is_empty(), "the outbox never overflowed: the test did not exercise it");
    assert!(missing.is_empty(), "accepted events never delivered: {:?}", &missing[..missing.len().min(10)]);
    assert!(
        unaccounted_duplicates.is_empty(),
        "events stored more than once that the outbox never retried: {:?}",
        &unaccounted_duplicates[..unaccounted_duplicates.len().min(10)]
    );
    assert!(
        unknown.is_empty(),
        "delivered events nobody accepted (overflowed ones included): {:?}",
        &unknown[..unknown.len().min(10)]
    );
    assert_eq!(overflow_metric as usize, overflowed.len(), "overflow metric");
    // Every refusal is in the metric; the log has its count in at most one line per second (the
    // refusals after the last line wait for the next one).
    assert!(
        overflow_logged <= overflowed.len(),
        "overflow log counts {overflow_logged} > {}",
        overflowed.len()
    );
    assert!(
        overflowed.is_empty() || overflow_logged >= 1,
        "no overflow line for {} refusals",
        overflowed.len()
    );
    assert!(
        overflow_lines.len() <= 1 + overflowed.len().min(120),
        "{} overflow lines for {} refusals: not aggregated",
        overflow_lines.len(),
        overflowed.len()
    );
    // Admin endpoints.
    assert_eq!(c.admin, [401, 401, 200, 200, 404, 404]);
    assert_eq!(c.admin_states, ["closed", "forced_open", "closed"].map(String::from));
    assert!(m("database", "closed", "forced_open") >= 1.0 && m("database", "forced_open", "closed") >= 1.0);
    let _ = (db_opens, k_opens);
}
