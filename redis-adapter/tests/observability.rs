//! The degraded flag in metrics and logs (a global recorder and subscriber: its own test
//! binary, one test).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_redis::{Fleet, Mode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::{eventually, RedisServer};

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The gauge and the counter of one snapshot (the debugging recorder's snapshot takes the
/// values: read both from one).
fn read(s: &Snapshotter) -> (Option<f64>, u64) {
    let (mut gauge, mut errors) = (None, 0);
    for (k, _, _, v) in s.snapshot().into_vec() {
        match (k.key().name(), v) {
            ("circuit_breaker_fleet_degraded", DebugValue::Gauge(g)) => gauge = Some(g.into_inner()),
            ("circuit_breaker_fleet_store_errors_total", DebugValue::Counter(c)) => errors += c,
            _ => {}
        }
    }
    (gauge, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_shows_in_metrics_and_one_log_line_and_clears_when_redis_is_back() {
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    recorder.install().unwrap();
    let lines = Lines::default();
    let writer = lines.clone();
    tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).init();

    let mut redis = RedisServer::start();
    let registry = breaker_tokio::registry().build().unwrap();
    let db = registry.breaker("db").unwrap();
    let fleet = Fleet::builder(redis.url())
        .replica_id("a")
        .share(db, Mode::Any)
        .op_timeout(Duration::from_millis(100))
        .reconnect_interval(Duration::from_millis(50))
        .snapshot_period(Duration::from_millis(200))
        .start()
        .unwrap();
    eventually(Duration::from_secs(3), "connected", || !fleet.is_degraded()).await;
    assert_eq!(read(&snap).0, Some(0.0));

    redis.kill();
    eventually(Duration::from_secs(3), "degraded", || fleet.is_degraded()).await;
    tokio::time::sleep(Duration::from_millis(400)).await; // several failed reconnections
    let (degraded, errors) = read(&snap);
    assert_eq!(degraded, Some(1.0));
    assert!(errors >= 2, "{errors} {:?}", fleet.stats());
    let log = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let warns: Vec<&str> = log.lines().filter(|l| l.contains("fleet store unreachable")).collect();
    assert_eq!(warns.len(), 1, "one line per outage, not per attempt:\n{log}");
    assert!(warns[0].contains("WARN"), "{}", warns[0]);

    redis.restart();
    eventually(Duration::from_secs(3), "reconnected", || !fleet.is_degraded()).await;
    assert_eq!(read(&snap).0, Some(0.0));
    let log = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("fleet store reachable"), "{log}");
}
