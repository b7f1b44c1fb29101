//! The real breaker against the sequential reference model (`breaker_tests::Model`).
//!
//! A property test drives both with random configs and random op sequences (permits held across
//! clock jumps and settled out of order, huge and backwards clock steps, manual control) and
//! compares everything observable after every op; hand-written scenarios pin the cases the
//! README promises. Failing cases are persisted next to this file in
//! `model.proptest-regressions` and replayed first on every run.
//!
//! `PROPTEST_CASES` overrides the number of cases (default 10 000 for the main property).

use core::time::Duration;

use breaker_core::{
    Breaker, CallError, Config, ManualClock, State, Timestamp, Verdict, GENERATIONS, MAX_HALF_OPEN_PROBES,
    MAX_RECOVERY_TIMEOUT_MS,
};
use breaker_tests::{check, ModelConfig, Op, Scenario, Settle, TIME_MODULUS};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

/// Cases from `PROPTEST_CASES`, else `default`; failures persisted beside this file.
fn proptest_config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::with_cases(cases)
    }
}

fn run(scenario: &Scenario) -> Result<(), TestCaseError> {
    check(scenario).map_err(|d| TestCaseError::fail(d.to_string()))
}

// ---- strategies ----

fn configs() -> impl Strategy<Value = ModelConfig> {
    let max = MAX_RECOVERY_TIMEOUT_MS;
    let threshold = prop_oneof![8 => 1u32..=4, 1 => 5u32..=300];
    let timeout = prop_oneof![
        1 => Just(1u64),
        6 => 2u64..=5_000,
        1 => Just(max),
        1 => (max - 1_000)..=max,
        1 => 1u64..=max,
    ];
    let probes = prop_oneof![8 => 1u32..=4, 1 => Just(MAX_HALF_OPEN_PROBES)];
    (threshold, timeout, probes).prop_flat_map(|(t, to, p)| (Just(t), Just(to), Just(p), 1..=p)).prop_map(
        |(failure_threshold, recovery_timeout_ms, half_open_probes, successes_to_close)| ModelConfig {
            failure_threshold,
            recovery_timeout_ms,
            half_open_probes,
            successes_to_close,
        },
    )
}

fn start_times() -> impl Strategy<Value = u64> {
    let m = TIME_MODULUS;
    prop_oneof![
        2 => Just(0u64),
        4 => 0u64..100_000,
        2 => (m - 1_000)..(m + 1_000),
        1 => (u64::MAX - 10_000)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

/// A time span, symbolic so that it shrinks independently of the config: resolved against the
/// recovery timeout and the timestamp modulus when the scenario is built.
#[derive(Clone, Copy, Debug)]
enum Span {
    Ms(u64),
    /// `timeout + offset`
    Timeout(i64),
    /// `timeout * per_mille / 1000`, up to twice the timeout
    OfTimeout(u64),
    /// `modulus + offset`
    Modulus(i64),
    /// `modulus - timeout + offset`
    ModulusLessTimeout(i64),
    /// `k * modulus + ms`
    Moduli(u64, u64),
}

impl Span {
    fn resolve(self, timeout: u64) -> u64 {
        let m = TIME_MODULUS;
        let add = |base: u64, offset: i64| base.wrapping_add_signed(offset);
        match self {
            Span::Ms(ms) => ms,
            Span::Timeout(offset) => add(timeout, offset),
            Span::OfTimeout(per_mille) => (u128::from(timeout) * u128::from(per_mille) / 1_000) as u64,
            Span::Modulus(offset) => add(m, offset),
            Span::ModulusLessTimeout(offset) => add(m - timeout, offset),
            Span::Moduli(k, ms) => m.wrapping_mul(k).wrapping_add(ms),
        }
    }
}

/// Time spans that matter to a breaker: around its recovery timeout, around the timestamp
/// modulus, and anything at all.
fn spans() -> impl Strategy<Value = Span> {
    prop_oneof![
        4 => (0u64..=50).prop_map(Span::Ms),
        3 => Just(Span::Timeout(0)),
        2 => Just(Span::Timeout(-1)),
        2 => (-3i64..=3).prop_map(Span::Timeout),
        4 => (0u64..=2_000).prop_map(Span::OfTimeout),
        2 => (-2i64..=2).prop_map(Span::Modulus),
        1 => (-2i64..=2).prop_map(Span::ModulusLessTimeout),
        1 => (1u64..=3, 0u64..=1_000).prop_map(|(k, ms)| Span::Moduli(k, ms)),
        1 => any::<u64>().prop_map(Span::Ms),
    ]
}

fn settles() -> impl Strategy<Value = Settle> {
    prop_oneof![Just(Settle::Success), Just(Settle::Failure), Just(Settle::Ignore), Just(Settle::Drop),]
}

fn verdicts() -> impl Strategy<Value = Verdict> {
    prop_oneof![Just(Verdict::Success), Just(Verdict::Failure), Just(Verdict::Ignore),]
}

/// An op whose clock spans are still symbolic, or a burst of resets.
#[derive(Clone, Copy, Debug)]
enum GenOp {
    Op(Op),
    Advance(Span),
    Rewind(Span),
    /// `k * GENERATIONS + offset` resets in a row, so that permits held across them (and a few
    /// more transitions) alias their generation. Where `GENERATIONS` is too large to run through
    /// in a property test (the 64-bit layout), just `offset + 4` resets.
    Resets {
        k: u32,
        offset: i32,
    },
}

impl GenOp {
    fn resolve(self, timeout: u64, out: &mut Vec<Op>) {
        out.push(match self {
            GenOp::Op(op) => op,
            GenOp::Advance(span) => Op::Advance(span.resolve(timeout)),
            GenOp::Rewind(span) => Op::Rewind(span.resolve(timeout)),
            GenOp::Resets { k, offset } => {
                let n = if GENERATIONS <= 1_024 {
                    (k * GENERATIONS).saturating_add_signed(offset)
                } else {
                    offset.unsigned_abs() + 4
                };
                out.extend(core::iter::repeat(Op::Reset).take(n as usize));
                return;
            }
        });
    }
}

/// Ops on held permits pick one by index modulo how many are held.
const INDICES: core::ops::Range<usize> = 0..32;

/// Ops. Manual control is rare (force open and disable hold until a reset) unless `churn`
/// weights it up; `bursts` (out of about 100) weights bursts of resets that make generations
/// wrap.
fn ops(churn: u32, bursts: u32) -> BoxedStrategy<GenOp> {
    let op = |op| Just(GenOp::Op(op));
    let single = prop_oneof![
        24 => op(Op::Acquire),
        4 => op(Op::AcquireTicket),
        8 => verdicts().prop_map(|v| GenOp::Op(Op::Call(v))),
        28 => (INDICES, settles()).prop_map(|(index, how)| GenOp::Op(Op::Settle { index, how })),
        2 => INDICES.prop_map(|index| GenOp::Op(Op::IntoTicket { index })),
        12 => spans().prop_map(GenOp::Advance),
        3 => spans().prop_map(GenOp::Rewind),
        1 => any::<u64>().prop_map(|ms| GenOp::Op(Op::SetClock(ms))),
        churn => op(Op::ForceOpen),
        churn => op(Op::Disable),
        3 * churn => op(Op::Reset),
    ];
    if bursts == 0 {
        return single.boxed();
    }
    let burst = (1u32..=2, -4i32..=4).prop_map(|(k, offset)| GenOp::Resets { k, offset });
    prop_oneof![100 - bursts => single, bursts => burst].boxed()
}

fn scenarios(max_ops: usize, churn: u32, bursts: u32) -> impl Strategy<Value = Scenario> {
    (configs(), start_times(), proptest::collection::vec(ops(churn, bursts), 0..max_ops)).prop_map(
        |(config, start_ms, gen_ops)| {
            let mut ops = Vec::with_capacity(gen_ops.len());
            for op in gen_ops {
                op.resolve(config.recovery_timeout_ms, &mut ops);
            }
            Scenario { config, start_ms, ops }
        },
    )
}

proptest! {
    #![proptest_config(proptest_config(10_000))]

    /// The main property: the breaker and the model agree after every op.
    #[test]
    fn breaker_matches_model(scenario in scenarios(160, 1, 0)) {
        run(&scenario)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(1_000))]

    /// Long runs heavy in manual control.
    #[test]
    fn breaker_matches_model_under_manual_churn(scenario in scenarios(1_200, 20, 0)) {
        run(&scenario)?;
    }

    /// Permits held across bursts of about a multiple of `GENERATIONS` resets, so generations
    /// wrap and alias on the 32-bit layout (`GENERATIONS` = 128).
    #[test]
    fn breaker_matches_model_across_generation_wrap(scenario in scenarios(100, 1, 4)) {
        run(&scenario)?;
    }

    /// The fuzz target's decoder yields valid scenarios on which both agree.
    #[test]
    fn fuzz_decoder_scenarios_agree(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let scenario = Scenario::from_bytes(&bytes);
        prop_assert!(scenario.config.validate().is_some());
        run(&scenario)?;
    }
}

/// The decoder's extremes are valid configs too.
#[test]
fn fuzz_decoder_extremes_are_valid() {
    for bytes in [
        &[][..],
        &[0xff; 64][..],
        &[0x00; 64][..],
        &[250, 0xff, 0xff, 1, 0xff, 0xff][..],
        &[250, 0xff, 0xff, 2, 0xff, 255, 0xff][..],
    ] {
        let scenario = Scenario::from_bytes(bytes);
        assert!(scenario.config.validate().is_some(), "{scenario:?}");
        if let Err(d) = check(&scenario) {
            panic!("{d}");
        }
    }
}

// ---- hand-written scenarios ----

fn cfg(threshold: u32, timeout_ms: u64, probes: u32, successes: u32) -> ModelConfig {
    ModelConfig {
        failure_threshold: threshold,
        recovery_timeout_ms: timeout_ms,
        half_open_probes: probes,
        successes_to_close: successes,
    }
}

fn settle(index: usize, how: Settle) -> Op {
    Op::Settle { index, how }
}

fn assert_agrees(config: ModelConfig, start_ms: u64, ops: &[Op]) {
    let scenario = Scenario { config, start_ms, ops: ops.to_vec() };
    if let Err(d) = check(&scenario) {
        panic!("{d}");
    }
}

/// The seed's test: threshold 3, three failures open the circuit, the next call is rejected.
#[test]
fn seed_three_failures_open_and_the_next_call_is_rejected() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(60));
    let breaker = Breaker::try_new("svc", config, &clock).unwrap();
    for _ in 0..3 {
        assert_eq!(breaker.call(|| Err::<(), _>("down")), Err(CallError::Inner("down")));
    }
    assert_eq!(breaker.state(), State::Open);
    let mut ran = false;
    match breaker.call(|| {
        ran = true;
        Ok::<_, &str>(())
    }) {
        Err(CallError::Open(open)) => {
            assert_eq!(open.state(), State::Open);
            assert_eq!(open.retry_after(), Some(Duration::from_secs(60)));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(!ran, "a rejected call must not run");

    let failure = Op::Call(Verdict::Failure);
    assert_agrees(
        cfg(3, 60_000, 1, 1),
        0,
        &[failure, failure, failure, Op::Call(Verdict::Success), Op::Acquire],
    );
}

/// The open timestamp is stored modulo 2^P: opening just before the modulus and waiting across it
/// still waits exactly the recovery timeout.
#[test]
fn recovery_timeout_survives_timestamp_wrap_around() {
    let opened = TIME_MODULUS - 300;
    let clock = ManualClock::starting_at(Timestamp::from_millis(opened));
    let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_millis(1_000));
    let breaker = Breaker::try_new("wrap", config, &clock).unwrap();
    let _ = breaker.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_millis(999));
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    let probe = breaker.try_acquire().unwrap();
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(breaker.state(), State::Closed);

    assert_agrees(
        cfg(1, 1_000, 1, 1),
        opened,
        &[
            Op::Call(Verdict::Failure),
            Op::Advance(999),
            Op::Acquire,
            Op::Advance(1),
            Op::Acquire,
            settle(0, Settle::Success),
        ],
    );
}

/// A clock stepped back while OPEN reads as a very long elapsed time: one probe is admitted early
/// rather than the breaker sticking open; its failure reopens at the (earlier) reading.
#[test]
fn backwards_clock_admits_one_probe_instead_of_sticking() {
    let clock = ManualClock::starting_at(Timestamp::from_millis(5_000));
    let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_secs(60));
    let breaker = Breaker::try_new("back", config, &clock).unwrap();
    let _ = breaker.call(|| Err::<(), _>("down"));
    assert_eq!(breaker.state(), State::Open);
    clock.set(Timestamp::from_millis(4_000));
    let probe = breaker.try_acquire().expect("an early probe");
    assert!(probe.is_probe());
    assert!(breaker.try_acquire().is_err(), "only one probe");
    probe.failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(Duration::from_secs(60)));

    assert_agrees(
        cfg(1, 60_000, 1, 1),
        5_000,
        &[
            Op::Call(Verdict::Failure),
            Op::Rewind(1_000),
            Op::Acquire,
            Op::Acquire,
            settle(0, Settle::Failure),
            Op::Acquire,
            Op::Advance(60_000),
            Op::Acquire,
        ],
    );
}

/// Left open for exactly one timestamp horizon, the breaker waits one more recovery timeout (the
/// documented bound).
#[test]
fn open_for_a_whole_horizon_waits_one_more_timeout() {
    let clock = ManualClock::new();
    let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_millis(500));
    let breaker = Breaker::try_new("horizon", config, &clock).unwrap();
    let _ = breaker.call(|| Err::<(), _>("down"));
    clock.advance(Duration::from_millis(TIME_MODULUS));
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(Duration::from_millis(500)));

    assert_agrees(
        cfg(1, 500, 1, 1),
        0,
        &[
            Op::Call(Verdict::Failure),
            Op::Advance(TIME_MODULUS),
            Op::Acquire,
            Op::Advance(TIME_MODULUS - 1),
            Op::Acquire,
            Op::Advance(500),
            Op::Acquire,
        ],
    );
}

/// Permits held across state changes are stale; a clean success does not clear failures recorded
/// while it ran; a dirty success does; probes given back free their slot.
#[test]
fn held_permits_settled_out_of_order() {
    assert_agrees(
        cfg(3, 1_000, 2, 2),
        0,
        &[
            Op::Acquire,                // 0: clean
            Op::Call(Verdict::Failure), // failures = 1
            Op::Acquire,                // 1: dirty
            settle(0, Settle::Success), // clean success: no effect
            Op::Call(Verdict::Failure), // failures = 2
            settle(0, Settle::Success), // dirty success: clears
            Op::Acquire,                // 0: clean
            Op::Call(Verdict::Failure),
            Op::Call(Verdict::Failure),
            settle(0, Settle::Failure), // clean permit's failure counts: opens
            Op::Advance(1_000),
            Op::Acquire,             // probe 1
            Op::Acquire,             // probe 2
            Op::Acquire,             // rejected: slots taken
            settle(1, Settle::Drop), // probe 2 gives its slot back
            Op::Acquire,             // probe 2'
            settle(0, Settle::Success),
            settle(0, Settle::Success), // closes
            Op::Acquire,
            Op::Reset,
            settle(0, Settle::Failure), // stale after the reset
        ],
    );
}

/// Generations are compared modulo `GENERATIONS`: a permit held across exactly that many changes
/// is taken for a current one (the documented horizon); one change fewer and it is stale.
#[test]
fn generation_horizon_aliases_exactly_at_the_modulus() {
    let resets = GENERATIONS as usize;
    let mut ops = vec![Op::Acquire];
    ops.extend(core::iter::repeat(Op::Reset).take(resets));
    ops.push(settle(0, Settle::Failure));
    assert_agrees(cfg(5, 1_000, 1, 1), 0, &ops);

    let clock = ManualClock::new();
    let breaker = Breaker::try_new("alias", Config::new(), &clock).unwrap();
    let permit = breaker.try_acquire().unwrap();
    let stale = breaker.try_acquire().unwrap();
    breaker.reset();
    stale.failure();
    assert_eq!(breaker.failure_count(), 0, "one reset makes a permit stale");
    for _ in 1..resets {
        breaker.reset();
    }
    permit.failure();
    assert_eq!(breaker.failure_count(), 1, "after GENERATIONS resets the permit aliases");
}

/// Manual control holds until a reset, and every control that changes something is reported.
#[test]
fn manual_control() {
    assert_agrees(
        cfg(2, 100, 1, 1),
        0,
        &[
            Op::Call(Verdict::Failure),
            Op::ForceOpen,
            Op::ForceOpen,
            Op::Acquire,
            Op::Advance(1_000),
            Op::Acquire,
            Op::Disable,
            Op::Disable,
            Op::Call(Verdict::Failure),
            Op::Call(Verdict::Failure),
            Op::Acquire,
            settle(0, Settle::Failure),
            Op::Reset,
            Op::Reset,
            Op::Acquire,
            settle(0, Settle::Failure),
        ],
    );
}
