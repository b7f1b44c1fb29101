//! Drives a breaker through the seed's life cycle on real time: trip → reject → half-open →
//! recover, printing every transition with the fields the seed logs.
//!
//! Run with `cargo run -p breaker-core --example demo`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use breaker_core::{Breaker, CallError, Clock, Config, Observer, State, Timestamp, Transition, Trigger};

/// Milliseconds since the clock was made, from `std::time::Instant` (the std adapter ships a
/// ready-made one; the core only needs the `Clock` trait).
struct StdClock(Instant);

impl Clock for StdClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.elapsed().as_millis() as u64)
    }
}

/// Prints transitions the way the seed logs them.
struct SeedLog;

impl Observer for SeedLog {
    fn on_transition(&self, t: &Transition) {
        match (t.to, t.trigger) {
            (State::Open, _) => println!(
                "ERROR Circuit breaker '{}' opening circuit  circuit_breaker={} state=open failure_count={} threshold={} trigger={:?}",
                t.name, t.name, t.failure_count, t.threshold, t.trigger
            ),
            (State::HalfOpen, _) => println!(
                "INFO  Circuit breaker '{}' transitioning to HALF_OPEN  circuit_breaker={} state=half_open elapsed_seconds={:.1}",
                t.name,
                t.name,
                t.open_for.unwrap_or_default().as_secs_f64()
            ),
            (State::Closed, Trigger::ProbeSucceeded) => println!(
                "INFO  Circuit breaker '{}' recovered, closing circuit  circuit_breaker={} state=closed",
                t.name, t.name
            ),
            _ => println!("INFO  Circuit breaker '{}' {} -> {} ({:?})", t.name, t.from, t.to, t.trigger),
        }
    }
}

fn main() {
    let config = Config::new()
        .failure_threshold(3)
        .recovery_timeout(Duration::from_millis(500))
        .validate()
        .expect("valid config");
    let kafka = Breaker::with_observer("kafka", config, StdClock(Instant::now()), SeedLog);
    let broker_up = AtomicBool::new(false);
    let publish = |event: &str| {
        kafka.call(|| {
            if broker_up.load(Ordering::Relaxed) {
                Ok(format!("published {event}"))
            } else {
                Err("broker unreachable")
            }
        })
    };

    println!("-- the broker is down: three failures trip the breaker");
    for i in 1..=3 {
        println!("publish #{i}: {:?}", publish("order-created"));
    }
    println!("-- while open, calls fail fast without touching the broker");
    match publish("order-created") {
        Err(CallError::Open(open)) => println!("rejected: {open}"),
        other => println!("unexpected: {other:?}"),
    }
    println!("state={} snapshot={:?}", kafka.state(), kafka.snapshot());

    println!("-- the broker comes back; after the recovery timeout one probe is admitted");
    broker_up.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(550));
    println!("probe: {:?}", publish("order-created"));
    println!("-- recovered: normal operation");
    println!("publish: {:?}", publish("order-shipped"));
    println!("state={} failure_count={}", kafka.state(), kafka.failure_count());
    assert_eq!(kafka.state(), State::Closed);
}
