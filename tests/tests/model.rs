//! The real breaker against the sequential reference model (`breaker_tests::Model`).
//!
//! Property tests drive both with random configs — every policy: consecutive failures, count-
//! and time-based rate windows with and without slow calls and adaptive thresholds, with random
//! backoff, jitter, probe timeouts and gradual recovery — and random op sequences (permits held
//! across clock jumps and settled out of order, bursts of calls, timed calls, huge and backwards
//! clock steps, manual control, restarts and restores, reconfigurations), and compare everything
//! observable after every op; hand-written
//! scenarios pin the cases the README promises. Failing cases are persisted next to this file in
//! `model.proptest-regressions` and replayed first on every run.
//!
//! `PROPTEST_CASES` overrides the number of cases (default 10 000 for the main property).

use core::time::Duration;

use breaker_core::limits::{
    BUCKET_CAPACITY, GENERATIONS, MAX_BUCKETS, MAX_HALF_OPEN_PROBES, MAX_OPEN_MS, MAX_PHASE_TIMER_MS,
    MAX_RECOVERY_TIMEOUT_MS,
};
use breaker_core::{
    Breaker, CallError, Config, ManualClock, RateConfig, State, Timestamp, Trigger, Verdict, Window,
};
use breaker_tests::{
    check, check_counting, AdaptiveSpec, Coverage, Edit, Jitter, KnownBugs, ModelConfig, ModelPolicy, Op,
    Ramp, RuleSpec, Scenario, Settings, Settle, SlowSpec, WindowKind, WindowSpec, STAMP_MODULUS,
    SUPPORTED_BUCKETS, TIME_MODULUS,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};

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

// ---- strategies: configs ----

/// The seed's settings, consecutive policy, no recovery policies.
fn base_configs() -> impl Strategy<Value = ModelConfig> {
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
    (threshold, timeout, probes)
        .prop_flat_map(|(t, to, p)| (Just(t), Just(to), Just(p), 1..=p))
        .prop_map(|(t, to, p, s)| ModelConfig::new(t, to, p, s))
}

/// The backoff cap, symbolic so that it shrinks independently of the recovery timeout.
#[derive(Clone, Copy, Debug)]
enum Cap {
    /// `timeout << k`, at most `MAX_OPEN_MS`.
    Doublings(u32),
    /// `timeout + ms`, at most `MAX_OPEN_MS`.
    Plus(u64),
    /// `MAX_OPEN_MS`.
    Max,
}

/// A millisecond setting of a phase timer, symbolic like [`Cap`].
#[derive(Clone, Copy, Debug)]
enum Timer {
    Ms(u64),
    /// `timeout × per_mille / 1000`, at least 1.
    OfTimeout(u64),
    /// `MAX_PHASE_TIMER_MS - ms`.
    NearMax(u64),
}

impl Timer {
    fn resolve(self, timeout: u64) -> u64 {
        let ms = match self {
            Timer::Ms(ms) => ms,
            Timer::OfTimeout(pm) => (u128::from(timeout) * u128::from(pm) / 1_000) as u64,
            Timer::NearMax(ms) => MAX_PHASE_TIMER_MS - ms,
        };
        ms.clamp(1, MAX_PHASE_TIMER_MS)
    }
}

fn timers() -> impl Strategy<Value = Timer> {
    prop_oneof![
        4 => (1u64..=50).prop_map(Timer::Ms),
        3 => (1u64..=3_000).prop_map(Timer::OfTimeout),
        2 => (1u64..=100_000).prop_map(Timer::Ms),
        1 => ((1u64 << 21)..(1u64 << 24)).prop_map(Timer::Ms),
        1 => (0u64..=2).prop_map(Timer::NearMax),
    ]
}

/// Backoff, jitter, probe timeout and ramp, each present or not.
#[derive(Clone, Copy, Debug)]
struct Recovery {
    cap: Option<Cap>,
    /// (max, seed); the max is clamped to what the cap leaves.
    jitter: Option<(Option<u64>, u32)>,
    probe_timeout: Option<Timer>,
    ramp: Option<(Timer, u32)>,
    abandoned: Option<Timer>,
}

impl Recovery {
    fn apply(self, mut c: ModelConfig) -> ModelConfig {
        let t = c.recovery_timeout_ms;
        c.backoff_max_ms = self.cap.map(|cap| match cap {
            Cap::Doublings(k) => t.saturating_mul(1 << k).min(MAX_OPEN_MS),
            Cap::Plus(ms) => t.saturating_add(ms).min(MAX_OPEN_MS),
            Cap::Max => MAX_OPEN_MS,
        });
        let room = c.jitter_room_ms();
        c.jitter = self.jitter.map(|(max, seed)| Jitter { max_ms: max.unwrap_or(room).min(room), seed });
        c.probe_timeout_ms = self.probe_timeout.map(|p| p.resolve(t));
        c.ramp =
            self.ramp.map(|(period, start_percent)| Ramp { period_ms: period.resolve(t), start_percent });
        c.abandoned_ms = self.abandoned.map(|a| a.resolve(t));
        c
    }
}

fn recoveries() -> impl Strategy<Value = Recovery> {
    let cap = prop_oneof![
        4 => (0u32..=6).prop_map(Cap::Doublings),
        1 => (0u64..=10_000).prop_map(Cap::Plus),
        1 => Just(Cap::Max),
    ];
    let jitter_max = prop_oneof![
        4 => (0u64..=200).prop_map(Some),
        1 => any::<u64>().prop_map(Some),
        1 => Just(None),
    ];
    let start = prop_oneof![1 => Just(0u32), 3 => 0u32..=99];
    (
        proptest::option::weighted(0.5, cap),
        proptest::option::weighted(0.3, (jitter_max, any::<u32>())),
        proptest::option::weighted(0.35, timers()),
        proptest::option::weighted(0.35, (timers(), start)),
        proptest::option::weighted(0.3, timers()),
    )
        .prop_map(|(cap, jitter, probe_timeout, ramp, abandoned)| Recovery {
            cap,
            jitter,
            probe_timeout,
            ramp,
            abandoned,
        })
}

fn permille() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(1000u32), 1 => Just(500u32), 1 => 1u32..=10, 3 => 1u32..=1000]
}

fn rules() -> impl Strategy<Value = RuleSpec> {
    let min_calls = prop_oneof![6 => 1u32..=6, 2 => 7u32..=40, 1 => 41u32..=1_000];
    let slow = (
        prop_oneof![4 => 1u64..=20, 2 => 21u64..=5_000, 1 => Just(u64::from(u32::MAX))],
        permille(),
        any::<bool>(),
    )
        .prop_map(|(threshold_ms, trip_permille, as_failure)| SlowSpec {
            threshold_ms,
            trip_permille,
            as_failure,
        });
    let adaptive =
        (
            permille(),
            prop_oneof![1 => Just(100u32), 3 => 100u32..=1_000, 1 => 1_000u32..=100_000],
            prop_oneof![3 => 1u32..=4, 1 => 5u32..=16],
            prop_oneof![3 => 1u32..=4, 1 => 5u32..=100],
        )
            .prop_map(|(floor_permille, multiplier_percent, alpha_shift, min_bucket_calls)| {
                AdaptiveSpec { floor_permille, multiplier_percent, alpha_shift, min_bucket_calls }
            });
    (permille(), min_calls, proptest::option::weighted(0.4, slow), proptest::option::weighted(0.35, adaptive))
        .prop_map(|(failure_permille, min_calls, slow, adaptive)| RuleSpec {
            failure_permille,
            min_calls,
            slow,
            adaptive,
        })
}

fn window_specs() -> impl Strategy<Value = WindowSpec> {
    let kind = prop_oneof![
        4 => prop_oneof![5 => 1u32..=3, 1 => 1u32..=BUCKET_CAPACITY]
            .prop_map(|calls_per_bucket| WindowKind::Count { calls_per_bucket }),
        3 => prop_oneof![
            3 => 1u64..=20,
            2 => 21u64..=1_000,
            1 => 1u64..=u64::from(u32::MAX),
        ]
        .prop_map(|bucket_width_ms| WindowKind::Time { bucket_width_ms }),
    ];
    (proptest::sample::select(SUPPORTED_BUCKETS.to_vec()), kind, rules())
        .prop_map(|(buckets, kind, rule)| WindowSpec { buckets, kind, rule }.fitted())
}

/// Every policy, every recovery setting. `rate` (out of 10) weights rate windows.
fn configs(rate: u32) -> impl Strategy<Value = ModelConfig> {
    let policy = prop_oneof![
        10 - rate => Just(ModelPolicy::Consecutive),
        rate => window_specs().prop_map(ModelPolicy::Window),
    ];
    (base_configs(), recoveries(), policy)
        .prop_map(|(base, recovery, policy)| ModelConfig { policy, ..recovery.apply(base) })
}

fn start_times() -> impl Strategy<Value = u64> {
    let m = TIME_MODULUS;
    prop_oneof![
        2 => Just(0u64),
        4 => 0u64..100_000,
        2 => (m - 1_000)..(m + 1_000),
        1 => (STAMP_MODULUS - 1_000)..(STAMP_MODULUS + 1_000),
        1 => (u64::MAX - 10_000)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

// ---- strategies: ops ----

/// A time span, symbolic so that it shrinks independently of the config: resolved against the
/// config's timescales (`ModelConfig::timescales`) when the scenario is built.
#[derive(Clone, Copy, Debug)]
enum Span {
    Ms(u64),
    /// `scales[i % len] + offset`
    Scale(usize, i64),
    /// `scales[i % len] * per_mille / 1000`, up to twice the scale
    Fraction(usize, u64),
    /// `k * modulus + ms`, with the open-timestamp or the phase-stamp modulus
    Moduli(bool, u64, u64),
}

impl Span {
    fn resolve(self, scales: &[u64]) -> u64 {
        let scale = |i: usize| scales[i % scales.len()];
        match self {
            Span::Ms(ms) => ms,
            Span::Scale(i, offset) => scale(i).wrapping_add_signed(offset),
            Span::Fraction(i, per_mille) => (u128::from(scale(i)) * u128::from(per_mille) / 1_000) as u64,
            Span::Moduli(stamp, k, ms) => {
                let m = if stamp { STAMP_MODULUS } else { TIME_MODULUS };
                m.wrapping_mul(k).wrapping_add(ms)
            }
        }
    }
}

/// Time spans that matter to a breaker: around its timescales, around the layout's moduli,
/// and anything at all.
fn spans() -> impl Strategy<Value = Span> {
    let i = 0usize..64;
    prop_oneof![
        4 => (0u64..=50).prop_map(Span::Ms),
        3 => i.clone().prop_map(|i| Span::Scale(i, 0)),
        2 => i.clone().prop_map(|i| Span::Scale(i, -1)),
        2 => (i.clone(), -3i64..=3).prop_map(|(i, o)| Span::Scale(i, o)),
        4 => (i, 0u64..=2_000).prop_map(|(i, pm)| Span::Fraction(i, pm)),
        1 => (any::<bool>(), 1u64..=3, 0u64..=1_000).prop_map(|(s, k, ms)| Span::Moduli(s, k, ms)),
        1 => any::<u64>().prop_map(Span::Ms),
    ]
}

fn settles() -> impl Strategy<Value = Settle> {
    prop_oneof![Just(Settle::Success), Just(Settle::Failure), Just(Settle::Ignore), Just(Settle::Drop),]
}

fn verdicts() -> impl Strategy<Value = Verdict> {
    prop_oneof![Just(Verdict::Success), Just(Verdict::Failure), Just(Verdict::Ignore),]
}

/// An op whose clock spans are still symbolic, or a macro op that expands to several.
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
    /// `n` calls in a row, every `every`-th failing (none when 0), every `ignore`-th ignored.
    Burst {
        n: usize,
        every: usize,
        ignore: usize,
    },
    /// Acquire, let `span` pass, settle the permit as `how`: a timed (possibly slow) call.
    Timed {
        span: Span,
        how: Settle,
    },
    /// Let `span` pass, acquire, settle as `how`: a recovery attempt when OPEN.
    Cycle {
        span: Span,
        how: Settle,
    },
    /// [`Op::Restart`] after `span` down.
    Restart {
        span: Span,
        keep_config: bool,
    },
    /// [`Op::UpdateConfig`] of setting `which` (threshold, timeout, probes, backoff, jitter,
    /// probe timeout, ramp) to `span` ms or `n` (and `m`), sometimes invalid.
    Update {
        which: u8,
        span: Span,
        n: u32,
        m: u32,
    },
}

impl GenOp {
    fn resolve(self, scales: &[u64], out: &mut Vec<Op>) {
        out.push(match self {
            GenOp::Op(op) => op,
            GenOp::Advance(span) => Op::Advance(span.resolve(scales)),
            GenOp::Rewind(span) => Op::Rewind(span.resolve(scales)),
            GenOp::Resets { k, offset } => {
                let n = if GENERATIONS <= 1_024 {
                    (k * GENERATIONS).saturating_add_signed(offset)
                } else {
                    offset.unsigned_abs() + 4
                };
                out.extend(core::iter::repeat(Op::Reset).take(n as usize));
                return;
            }
            GenOp::Burst { n, every, ignore } => {
                out.extend((0..n).map(|i| {
                    Op::Call(if every > 0 && i % every == 0 {
                        Verdict::Failure
                    } else if ignore > 0 && i % ignore == 1 {
                        Verdict::Ignore
                    } else {
                        Verdict::Success
                    })
                }));
                return;
            }
            GenOp::Timed { span, how } => {
                out.extend([Op::Acquire, Op::Advance(span.resolve(scales)), Op::SettleLast(how)]);
                return;
            }
            GenOp::Cycle { span, how } => {
                out.extend([Op::Advance(span.resolve(scales)), Op::Acquire, Op::SettleLast(how)]);
                return;
            }
            GenOp::Restart { span, keep_config } => {
                Op::Restart { down_ms: span.resolve(scales), keep_config }
            }
            GenOp::Update { which, span, n, m } => {
                let ms = span.resolve(scales);
                Op::UpdateConfig(match which % 8 {
                    0 => Edit::Threshold(n % 7),
                    1 => Edit::RecoveryTimeout(ms.min(MAX_OPEN_MS + 1)),
                    2 => Edit::Probes { probes: n % 5, successes: m % 5 },
                    3 => Edit::Backoff(ms.min(MAX_OPEN_MS + 1)),
                    4 => Edit::Jitter(Jitter { max_ms: ms.min(u64::from(u32::MAX)), seed: m }),
                    5 => Edit::ProbeTimeout(ms.min(MAX_PHASE_TIMER_MS + 1)),
                    6 => Edit::Abandoned(ms.min(MAX_PHASE_TIMER_MS + 1)),
                    _ => {
                        Edit::Ramp(Ramp { period_ms: ms.min(MAX_PHASE_TIMER_MS + 1), start_percent: n % 101 })
                    }
                })
            }
        });
    }
}

/// Ops on held permits pick one by index modulo how many are held.
const INDICES: core::ops::Range<usize> = 0..32;

/// Op weights: `churn` weights manual control (force open and disable hold until a reset),
/// `bursts` (out of about 100) bursts of resets that make generations wrap, `calls` bursts of
/// calls, `timed` timed calls (acquire, wait, settle) and recovery attempts (wait, acquire,
/// settle), `lifecycle` restarts, restores (own, and from damaged bytes) and reconfigurations.
#[derive(Clone, Copy, Debug)]
struct Weights {
    churn: u32,
    bursts: u32,
    calls: u32,
    timed: u32,
    lifecycle: u32,
}

/// Settings for a reconfiguration: as the configs' (so near the current ones in scale), and
/// one time in five with one field broken.
fn reconfigurations() -> impl Strategy<Value = Settings> {
    let breakage = proptest::option::weighted(0.2, (0u8..10, any::<bool>()));
    (base_configs(), recoveries(), breakage).prop_map(|(base, recovery, breakage)| {
        let mut s = recovery.apply(base).settings();
        let t = s.recovery_timeout_ms;
        if let Some((field, high)) = breakage {
            let pick = |low: u64, hi: u64| if high { hi } else { low };
            match field {
                0 => s.failure_threshold = pick(0, 65_536) as u32,
                1 => s.recovery_timeout_ms = pick(0, MAX_OPEN_MS + 1),
                2 => s.half_open_probes = pick(0, u64::from(MAX_HALF_OPEN_PROBES) + 1) as u32,
                3 => s.successes_to_close = pick(0, u64::from(s.half_open_probes) + 1) as u32,
                4 => s.backoff_max_ms = Some(pick(t - 1, MAX_OPEN_MS + 1)),
                5 => {
                    let room = MAX_OPEN_MS - s.backoff_max_ms.unwrap_or(t);
                    s.jitter = Some(Jitter { max_ms: (room + 1).min(u64::from(u32::MAX)), seed: 7 });
                }
                6 => s.probe_timeout_ms = Some(pick(0, MAX_PHASE_TIMER_MS + 1)),
                7 => s.ramp = Some(Ramp { period_ms: pick(0, MAX_PHASE_TIMER_MS + 1), start_percent: 50 }),
                8 => s.abandoned_ms = Some(pick(0, MAX_PHASE_TIMER_MS + 1)),
                _ => s.ramp = Some(Ramp { period_ms: 1_000, start_percent: 100 }),
            }
        }
        s
    })
}

fn ops(w: Weights) -> BoxedStrategy<GenOp> {
    let op = |op| Just(GenOp::Op(op));
    let burst = (1usize..=40, 0usize..=6, 0usize..=8).prop_map(|(n, every, ignore)| GenOp::Burst {
        n,
        every,
        ignore,
    });
    let timed = (spans(), settles()).prop_map(|(span, how)| GenOp::Timed { span, how });
    let cycle = (spans(), settles()).prop_map(|(span, how)| GenOp::Cycle { span, how });
    let single = prop_oneof![
        24 => op(Op::Acquire),
        4 => op(Op::AcquireTicket),
        8 => verdicts().prop_map(|v| GenOp::Op(Op::Call(v))),
        20 => (INDICES, settles()).prop_map(|(index, how)| GenOp::Op(Op::Settle { index, how })),
        8 => settles().prop_map(|how| GenOp::Op(Op::SettleLast(how))),
        2 => INDICES.prop_map(|index| GenOp::Op(Op::IntoTicket { index })),
        12 => spans().prop_map(GenOp::Advance),
        3 => spans().prop_map(GenOp::Rewind),
        1 => any::<u64>().prop_map(|ms| GenOp::Op(Op::SetClock(ms))),
        w.churn => op(Op::ForceOpen),
        w.churn => op(Op::ForceClosed),
        3 * w.churn => op(Op::Reset),
        w.calls => burst,
        w.timed => timed,
        w.timed => cycle,
        2 * w.lifecycle => (spans(), any::<bool>()).prop_map(|(span, keep_config)| GenOp::Restart { span, keep_config }),
        w.lifecycle => op(Op::RestoreOwn),
        w.lifecycle => (0usize..24, prop_oneof![Just(1u8), Just(0x80), any::<u8>()], any::<bool>())
            .prop_map(|(index, xor, reseal)| GenOp::Op(Op::RestoreBytes { index, xor, reseal })),
        2 * w.lifecycle => reconfigurations().prop_map(|s| GenOp::Op(Op::Reconfigure(s))),
        2 * w.lifecycle => (0u8..7, spans(), any::<u32>(), any::<u32>())
            .prop_map(|(which, span, n, m)| GenOp::Update { which, span, n, m }),
    ];
    if w.bursts == 0 {
        return single.boxed();
    }
    let resets = (1u32..=2, -4i32..=4).prop_map(|(k, offset)| GenOp::Resets { k, offset });
    prop_oneof![100 - w.bursts => single, w.bursts => resets].boxed()
}

fn scenarios(
    configs: impl Strategy<Value = ModelConfig>,
    max_ops: usize,
    w: Weights,
) -> impl Strategy<Value = Scenario> {
    (configs, start_times(), proptest::collection::vec(ops(w), 0..max_ops)).prop_map(
        |(config, start_ms, gen_ops)| {
            let scales = config.timescales();
            let mut ops = Vec::with_capacity(gen_ops.len());
            for op in gen_ops {
                op.resolve(&scales, &mut ops);
            }
            Scenario { config, start_ms, ops }
        },
    )
}

/// The main property's scenarios: every policy and recovery setting.
fn main_scenarios() -> impl Strategy<Value = Scenario> {
    scenarios(configs(6), 160, Weights { churn: 1, bursts: 0, calls: 3, timed: 5, lifecycle: 1 })
}

proptest! {
    #![proptest_config(proptest_config(10_000))]

    /// The main property: for every policy (consecutive, count and time windows, with and
    /// without slow calls and adaptive thresholds) and every recovery setting (backoff, jitter,
    /// probe timeout, gradual recovery), the breaker and the model agree after every op.
    #[test]
    fn breaker_matches_model(scenario in main_scenarios()) {
        run(&scenario)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(1_000))]

    /// Long runs heavy in manual control.
    #[test]
    fn breaker_matches_model_under_manual_churn(
        scenario in scenarios(configs(5), 1_200, Weights { churn: 20, bursts: 0, calls: 2, timed: 2, lifecycle: 3 })
    ) {
        run(&scenario)?;
    }

    /// Permits held across bursts of about a multiple of `GENERATIONS` resets, so generations
    /// wrap and alias on the 32-bit layout (`GENERATIONS` = 64).
    #[test]
    fn breaker_matches_model_across_generation_wrap(
        scenario in scenarios(configs(5), 100, Weights { churn: 1, bursts: 4, calls: 2, timed: 2, lifecycle: 1 })
    ) {
        run(&scenario)?;
    }

    /// Rate windows only, long runs heavy in calls: buckets fill, roll over, recycle, learn.
    #[test]
    fn rate_windows_match_model_over_long_runs(
        scenario in scenarios(configs(10), 400, Weights { churn: 1, bursts: 0, calls: 16, timed: 8, lifecycle: 1 })
    ) {
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

/// The decoder's extremes are valid configs too, and every policy and setting can come out of
/// it.
#[test]
fn fuzz_decoder_extremes_are_valid() {
    for bytes in [
        &[][..],
        &[0xff; 64][..],
        &[0x00; 64][..],
        &[250, 0xff, 0xff, 1, 0xff, 0xff][..],
        &[250, 0xff, 0xff, 2, 0xff, 255, 0xff][..],
        &[1, 1, 1, 1, 0, 0xff, 3, 3, 0xff, 0xff, 0xff, 0xff, 3, 2, 3, 2, 3][..],
        &[1, 1, 1, 1, 0, 0xef, 3, 3, 0xff, 0xff, 0xff, 0xff, 3, 2, 3, 2, 3][..],
    ] {
        let scenario = Scenario::from_bytes(bytes);
        assert!(scenario.config.validate().is_some(), "{scenario:?}");
        if let Err(d) = check(&scenario) {
            panic!("{d}");
        }
    }
    let mut runner = TestRunner::deterministic();
    let bytes = proptest::collection::vec(any::<u8>(), 0..64);
    let (mut count, mut time, mut slow, mut adaptive) = (false, false, false, false);
    let (mut backoff, mut jitter, mut probe_timeout, mut ramp, mut abandoned) =
        (false, false, false, false, false);
    // Restarts (both kinds), own restores, damaged bytes (resealed or not), reconfigurations
    // (valid and not) and edits.
    let mut lifecycle = [false; 8];
    for _ in 0..2_000 {
        let data = bytes.new_tree(&mut runner).unwrap().current();
        let scenario = Scenario::from_bytes(&data);
        for op in &scenario.ops {
            match *op {
                Op::Restart { keep_config, .. } => lifecycle[usize::from(keep_config)] = true,
                Op::RestoreOwn => lifecycle[2] = true,
                Op::RestoreBytes { reseal, .. } => lifecycle[3 + usize::from(reseal)] = true,
                Op::Reconfigure(s) => lifecycle[5 + usize::from(s.problem().is_some())] = true,
                Op::UpdateConfig(_) => lifecycle[7] = true,
                _ => {}
            }
        }
        let c = scenario.config;
        assert!(c.validate().is_some(), "{c:?}");
        if let Some(w) = c.window() {
            count |= matches!(w.kind, WindowKind::Count { .. });
            time |= matches!(w.kind, WindowKind::Time { .. });
            slow |= w.rule.slow.is_some();
            adaptive |= w.rule.adaptive.is_some();
        }
        backoff |= c.backoff_max_ms.is_some();
        jitter |= c.jitter.is_some();
        probe_timeout |= c.probe_timeout_ms.is_some();
        ramp |= c.ramp.is_some();
        abandoned |= c.abandoned_ms.is_some();
    }
    assert!(count && time && slow && adaptive && backoff && jitter && probe_timeout && ramp && abandoned);
    assert_eq!(lifecycle, [true; 8], "restart, restart keeping the config, own restore, damaged bytes, resealed bytes, valid and invalid reconfiguration, edit");
}

/// The main property's generator reaches every path that matters: every trigger, backoff up
/// to the cap, jitter, ramp rationing and its end, stamps re-read as unknown, slow calls and
/// their promotion, window drops and adaptive learning, permits abandoned late.
#[test]
fn main_property_covers_every_policy() {
    let mut runner = TestRunner::deterministic();
    let strategy = main_scenarios();
    let mut total = Coverage::default();
    for _ in 0..2_000 {
        let scenario = strategy.new_tree(&mut runner).unwrap().current();
        match check_counting(&scenario, KnownBugs::CORE) {
            Ok(c) => total.add(&c),
            Err(d) => panic!("{d}\n{scenario:?}"),
        }
    }
    println!("coverage of 2 000 main-property cases: {total:#?}");
    for (trigger, n) in Coverage::TRIGGERS.iter().zip(total.transitions) {
        assert!(n > 0, "no {trigger:?} transition");
    }
    let Coverage {
        backed_off_opens,
        jittered_opens,
        capped_opens,
        ramp_admitted,
        ramp_shed,
        ramps_ended,
        restamps,
        slow_calls,
        promoted,
        window_records,
        window_dropped,
        learned,
        restarts,
        restores_in_place,
        restored_open,
        restore_errors,
        bytes_rejected,
        reconfigurations,
        reconfigure_errors,
        reconfigured_mid_recovery,
        over_threshold,
        abandoned,
        ..
    } = total;
    for (what, n) in [
        ("backed-off open", backed_off_opens),
        ("jittered open", jittered_opens),
        ("capped open", capped_opens),
        ("ramp admission", ramp_admitted),
        ("ramp shedding", ramp_shed),
        ("ramp end", ramps_ended),
        ("re-stamp", restamps),
        ("slow call", slow_calls),
        ("promoted slow call", promoted),
        ("window record", window_records),
        ("window drop", window_dropped),
        ("adaptive learning", learned),
        ("restart", restarts),
        ("restore in place", restores_in_place),
        ("restore into OPEN", restored_open),
        ("refused restore", restore_errors),
        ("refused bytes", bytes_rejected),
        ("reconfiguration", reconfigurations),
        ("refused reconfiguration", reconfigure_errors),
        ("reconfiguration while OPEN or HALF_OPEN", reconfigured_mid_recovery),
        ("failure over a lowered threshold", over_threshold),
        ("permit abandoned late enough to count", abandoned),
    ] {
        assert!(n > 0, "no {what} in 2 000 cases: {total:#?}");
    }
}

// ---- hand-written scenarios ----

fn cfg(threshold: u32, timeout_ms: u64, probes: u32, successes: u32) -> ModelConfig {
    ModelConfig::new(threshold, timeout_ms, probes, successes)
}

fn settle(index: usize, how: Settle) -> Op {
    Op::Settle { index, how }
}

/// Checks that the breaker and the model agree on `ops`; returns what the model went through.
fn assert_agrees(config: ModelConfig, start_ms: u64, ops: &[Op]) -> Coverage {
    let scenario = Scenario { config, start_ms, ops: ops.to_vec() };
    match check_counting(&scenario, KnownBugs::from_env()) {
        Ok(coverage) => coverage,
        Err(d) => panic!("{d}"),
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
            Op::ForceClosed,
            Op::ForceClosed,
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

// ---- hand-written scenarios: recovery policies ----

fn with(config: ModelConfig, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    let mut c = config;
    f(&mut c);
    c
}

/// Each failed recovery doubles the open time up to the cap (and `next_level` stops there);
/// closing resets the level. Transitions report the open duration and the level.
#[test]
fn backoff_doubles_up_to_the_cap_and_resets_on_close() {
    let config = with(cfg(1, 100, 1, 1), |c| c.backoff_max_ms = Some(500));
    let mut ops = vec![Op::Call(Verdict::Failure)];
    for wait in [100, 200, 400, 500, 500] {
        ops.extend([Op::Acquire, Op::Advance(wait - 1), Op::Acquire, Op::Advance(1)]);
        ops.push(Op::Call(Verdict::Failure)); // the probe fails
    }
    ops.extend([
        Op::Advance(500),
        Op::Call(Verdict::Success), // closes, level back to 0
        Op::Call(Verdict::Failure),
        Op::Acquire,
    ]);
    let c = assert_agrees(config, 0, &ops);
    assert_eq!(c.count(Trigger::ProbeFailed), 5);
    assert_eq!(c.backed_off_opens, 5);
    // Levels 3, 3, 3: the cap (500 ≤ 100 × 2^3) stops the climb.
    assert_eq!(c.capped_opens, 3);

    // A cap that is never reached: the level stops at MAX_BACKOFF_LEVEL.
    let config = with(cfg(1, 1, 1, 1), |c| c.backoff_max_ms = Some(MAX_OPEN_MS));
    let mut ops = vec![Op::Call(Verdict::Failure)];
    let mut wait = 1u64;
    for _ in 0..40 {
        ops.extend([Op::Advance(wait), Op::Call(Verdict::Failure)]);
        wait = (wait * 2).min(MAX_OPEN_MS);
    }
    assert_agrees(config, 0, &ops);
}

/// Jitter is a deterministic function of the seed and the open cycle's generation, added to
/// every open duration.
#[test]
fn jitter_follows_seed_and_generation() {
    for seed in [0, 1, 0xdead_beef] {
        let config = with(cfg(1, 1_000, 1, 1), |c| {
            c.backoff_max_ms = Some(4_000);
            c.jitter = Some(Jitter { max_ms: 1_000, seed });
        });
        let mut ops = vec![];
        for _ in 0..6 {
            ops.extend([
                Op::Call(Verdict::Failure),
                Op::Acquire,
                Op::Advance(1_000),
                Op::Acquire,
                Op::Advance(1_000),
                Op::Acquire,
                Op::Reset,
            ]);
        }
        let c = assert_agrees(config, 0, &ops);
        assert!(c.jittered_opens > 0);
    }
}

/// With every slot taken, the first acquire once the half-open phase is `probe_timeout` old
/// reopens one level up and is rejected with the new open duration; the stuck probe's late
/// outcome is stale.
#[test]
fn stuck_probes_reopen_after_the_probe_timeout() {
    let config = with(cfg(1, 1_000, 2, 1), |c| {
        c.backoff_max_ms = Some(4_000);
        c.probe_timeout_ms = Some(5_000);
    });
    let c = assert_agrees(
        config,
        0,
        &[
            Op::Call(Verdict::Failure),
            Op::Advance(1_000),
            Op::AcquireTicket, // probe 1 leaks
            Op::Acquire,       // probe 2 hangs
            Op::Advance(4_999),
            Op::Acquire, // busy
            Op::Advance(1),
            Op::Acquire,                // reopens: ProbeTimeout, level 1, rejected with 2 000 ms
            settle(1, Settle::Success), // stale
            settle(0, Settle::Success), // stale
            Op::Advance(2_000),
            Op::Call(Verdict::Success),
        ],
    );
    assert_eq!(c.count(Trigger::ProbeTimeout), 1);
}

/// A phase stamp whose elapsed time is unknown (the clock went back, or jumped more than
/// `MAX_PHASE_TIMER_MS`) reads as "just begun" and is re-stamped.
#[test]
fn unknown_phase_stamps_restart_the_timers() {
    let config = with(cfg(1, 100, 1, 1), |c| {
        c.probe_timeout_ms = Some(1_000);
        c.ramp = Some(Ramp { period_ms: 1_000, start_percent: 50 });
    });
    let c = assert_agrees(
        config,
        STAMP_MODULUS - 500,
        &[
            Op::Call(Verdict::Failure),
            Op::Advance(100),
            Op::AcquireTicket, // every slot taken, the stamp is the half-open start
            Op::Rewind(1),     // unknown: re-stamped by the next reader
            Op::Acquire,
            Op::Advance(999),
            Op::Acquire, // busy: 999 ms since the re-stamp
            Op::Advance(1),
            Op::Acquire, // reopens
            Op::Advance(100),
            Op::Call(Verdict::Success),          // closes: a ramp begins
            Op::Advance(MAX_PHASE_TIMER_MS + 1), // unknown again (the snapshot re-stamps)
            Op::Acquire,
            Op::Acquire,
            Op::Advance(500),
            Op::Acquire,
            Op::Advance(500),
            Op::Acquire, // the ramp is over
        ],
    );
    assert!(c.restamps >= 2, "{c:?}");
    assert_eq!(c.count(Trigger::ProbeTimeout), 1);
    assert_eq!(c.ramps_ended, 1);
}

/// Gradual recovery: a probe's success starts a ramp; shed calls are rejected as CLOSED with
/// `retry_after` 0; the rationing counter is never reset; the first acquire after the period
/// ends the ramp in the same generation.
#[test]
fn gradual_recovery_rations_then_ends() {
    let config = with(cfg(1, 100, 1, 1), |c| {
        c.ramp = Some(Ramp { period_ms: 1_000, start_percent: 10 });
    });
    let mut ops = vec![];
    for _ in 0..2 {
        ops.extend([Op::Call(Verdict::Failure), Op::Advance(100), Op::Call(Verdict::Success)]);
        for _ in 0..10 {
            ops.extend(core::iter::repeat(Op::Call(Verdict::Success)).take(7));
            ops.push(Op::Advance(100));
        }
        ops.push(Op::Acquire); // ends the ramp
    }
    let c = assert_agrees(config, 0, &ops);
    assert_eq!(c.ramps_ended, 2);
    assert!(c.ramp_admitted > 0 && c.ramp_shed > 0, "{c:?}");
}

// ---- hand-written scenarios: rate windows ----

fn rate(kind: WindowKind, buckets: usize, rule: RuleSpec) -> ModelConfig {
    ModelConfig { policy: ModelPolicy::Window(WindowSpec { buckets, kind, rule }), ..cfg(5, 1_000, 1, 1) }
}

fn rule(failure_permille: u32, min_calls: u32) -> RuleSpec {
    RuleSpec { failure_permille, min_calls, slow: None, adaptive: None }
}

const COUNT1: WindowKind = WindowKind::Count { calls_per_bucket: 1 };

/// The README's example: 5 % over the last 100 calls (10 buckets of 10), at least 20 calls,
/// every 16th call failing: the trip comes at call 20 (a success: 1 failure in 20 calls),
/// reporting FailureRate with the window's 1 failure.
#[test]
fn count_window_trips_at_call_20() {
    let config = rate(WindowKind::Count { calls_per_bucket: 10 }, 10, rule(50, 20));
    let ops: Vec<Op> = (1..=100u32)
        .map(|n| Op::Call(if n % 16 == 0 { Verdict::Failure } else { Verdict::Success }))
        .collect();
    let c = assert_agrees(config, 0, &ops);
    assert_eq!(c.count(Trigger::FailureRate), 1);
}

/// Time windows: old buckets leave the window, a rewound clock's calls are dropped or
/// counted by the newer-wins rule, a reset starts an empty window.
#[test]
fn time_window_expires_and_restarts() {
    let config = rate(WindowKind::Time { bucket_width_ms: 500 }, 10, rule(500, 4));
    let f = Op::Call(Verdict::Failure);
    let ok = Op::Call(Verdict::Success);
    assert_agrees(
        config,
        0,
        &[
            f,
            f,
            f,
            Op::Advance(5_000),
            ok,
            ok,
            ok,
            f,
            Op::Advance(600),
            f,
            Op::Rewind(5_200),
            f,
            Op::Advance(10_000),
            Op::Reset,
            f,
            f,
            f,
            f,
        ],
    );
}

/// Slow calls: a permit held across the threshold is slow; the slow-call rate trips on its own;
/// with `as_failure` a slow success is a failure (for probes too, which then reopen).
#[test]
fn slow_calls_trip_and_promote() {
    let slow = |as_failure| {
        rate(
            COUNT1,
            8,
            RuleSpec {
                slow: Some(SlowSpec { threshold_ms: 100, trip_permille: 500, as_failure }),
                ..rule(1000, 4)
            },
        )
    };
    let timed = |ms| [Op::Acquire, Op::Advance(ms), Op::SettleLast(Settle::Success)];
    let mut ops = vec![];
    for ms in [10, 150, 10, 150] {
        ops.extend(timed(ms));
    }
    let c = assert_agrees(slow(false), 0, &ops);
    assert_eq!(c.count(Trigger::SlowCallRate), 1);

    let mut ops = vec![];
    for ms in [150, 150, 150, 150] {
        ops.extend(timed(ms));
    }
    ops.push(Op::Advance(1_000));
    ops.extend(timed(100)); // a slow probe success: promoted, reopens
    let c = assert_agrees(
        with(slow(true), |c| {
            if let ModelPolicy::Window(w) = &mut c.policy {
                w.rule.failure_permille = 500;
            }
        }),
        0,
        &ops,
    );
    assert_eq!(c.count(Trigger::FailureRate), 1);
    assert_eq!(c.count(Trigger::ProbeFailed), 1);
    assert_eq!(c.promoted, 5);
}

/// The adaptive threshold learns from finished buckets of the current generation only and
/// trips at `max(floor, multiplier × baseline)`.
#[test]
fn adaptive_threshold_learns_and_trips() {
    let config = rate(
        WindowKind::Count { calls_per_bucket: 10 },
        4,
        RuleSpec {
            adaptive: Some(AdaptiveSpec {
                floor_permille: 150,
                multiplier_percent: 300,
                alpha_shift: 2,
                min_bucket_calls: 5,
            }),
            ..rule(1000, 20)
        },
    );
    // 200 calls at 10 % failures stay below the 15 % floor and teach a 10 % baseline (a 30 %
    // threshold); then 40 % trips.
    let mut ops: Vec<Op> = (0..200u32)
        .map(|n| Op::Call(if n % 10 == 0 { Verdict::Failure } else { Verdict::Success }))
        .collect();
    ops.extend((0..100u32).map(|n| Op::Call(if n % 5 < 2 { Verdict::Failure } else { Verdict::Success })));
    let c = assert_agrees(config, 0, &ops);
    assert!(c.learned >= 15, "{c:?}");
    assert_eq!(c.count(Trigger::FailureRate), 1);
}

/// A bucket counts at most `BUCKET_CAPACITY` calls; later calls in it are not counted (the
/// rate is that of its first calls) but may still trip the window.
#[test]
fn full_buckets_stop_counting() {
    let config = rate(WindowKind::Time { bucket_width_ms: 1_000 }, 2, rule(10, 1));
    let n = BUCKET_CAPACITY as usize + 50;
    let mut ops = vec![Op::Call(Verdict::Success); n];
    ops.extend([Op::Call(Verdict::Failure); 3]);
    // The full bucket leaves the window; 10 % failures trip the 1 % threshold.
    ops.push(Op::Advance(2_000));
    ops.extend(vec![Op::Call(Verdict::Success); 90]);
    ops.extend([Op::Call(Verdict::Failure); 10]);
    let c = assert_agrees(config, 0, &ops);
    assert_eq!(c.window_saturated, 53);
    assert_eq!(c.count(Trigger::FailureRate), 1);
}

/// Manual transitions from CLOSED report the word's consecutive-failure count, which a rate
/// policy does not use: 0, even with failures in the window.
#[test]
fn manual_control_in_rate_mode() {
    let config = rate(COUNT1, 4, rule(1000, 4));
    let c = assert_agrees(
        config,
        0,
        &[
            Op::Call(Verdict::Failure),
            Op::Call(Verdict::Failure),
            Op::ForceOpen,
            Op::Reset,
            Op::Call(Verdict::Failure),
            Op::ForceClosed,
            Op::Call(Verdict::Failure),
            Op::Reset,
        ],
    );
    assert_eq!(c.count(Trigger::Reset), 2);
}

// ---- regressions: core bugs the model found ----

/// Whether the model reproducing `bugs` agrees with the real breaker on `scenario`.
fn agrees_with(bugs: KnownBugs, (config, ops): &(ModelConfig, Vec<Op>)) -> Result<(), String> {
    let scenario = Scenario { config: *config, start_ms: 0, ops: ops.clone() };
    check_counting(&scenario, bugs).map(drop).map_err(|d| d.to_string())
}

/// Both the model of the core and the documented one agree with the breaker on `case`.
fn agrees_strictly(case: &(ModelConfig, Vec<Op>)) {
    agrees_with(KnownBugs::CORE, case).unwrap();
    agrees_with(KnownBugs::NONE, case).unwrap();
}

/// A 50 % count window (2 buckets of 1 call, at least 2 calls, 10 ms recovery timeout) trips,
/// fails `failed_probes` probes in a row, closes, then fails twice: it must trip again.
fn window_after_failed_recoveries(failed_probes: u32) -> (ModelConfig, Vec<Op>) {
    let config = ModelConfig { recovery_timeout_ms: 10, ..rate(COUNT1, 2, rule(500, 2)) };
    let mut ops = vec![Op::Call(Verdict::Failure), Op::Call(Verdict::Failure)];
    for _ in 0..failed_probes {
        ops.extend([Op::Advance(10), Op::Call(Verdict::Failure)]);
    }
    ops.extend([Op::Advance(10), Op::Call(Verdict::Success)]);
    ops.extend([Op::Call(Verdict::Failure); 2]);
    (config, ops)
}

/// The real breaker on [`window_after_failed_recoveries`], then 100 failures: `true` if it
/// tripped again.
fn trips_after_failed_recoveries(failed_probes: u32) -> bool {
    let rule_ = RateConfig::new(500, 2).validate().unwrap();
    let clock = ManualClock::new();
    let config = Config::new().recovery_timeout(Duration::from_millis(10)).validate().unwrap();
    let window = Window::<2>::count(1, rule_).unwrap();
    let breaker = Breaker::with_policy("w", config, &clock, (), window);
    let fail = || {
        let _ = breaker.call(|| Err::<(), ()>(()));
    };
    fail();
    fail();
    assert_eq!(breaker.state(), State::Open);
    for _ in 0..failed_probes {
        clock.advance(Duration::from_millis(10));
        fail();
    }
    clock.advance(Duration::from_millis(10));
    assert!(breaker.call(|| Ok::<(), ()>(())).is_ok());
    assert_eq!(breaker.state(), State::Closed);
    for _ in 0..100 {
        fail();
    }
    breaker.state() == State::Open
}

/// Failed probes in a row after which the closed cycle is at least `n` generations after the
/// one the window counted: trip (+1), `k` failed probes (+2 each), a successful one (+2).
fn failed_probes_for_generations(n: u32) -> u32 {
    n.saturating_sub(3).div_ceil(2)
}

/// Fixed in f2bcb44 and ffa699b: buckets left by the last closed cycle looked newer than the
/// calls of a cycle 4 generations later (one failed probe on the 32-bit layout; 32 on the
/// 64-bit one), which dropped every call, and then a cycle `GENERATIONS / 2` generations later
/// was taken for an older one and refused (15 failed recoveries in a row on the 32-bit layout):
/// either way the breaker could never trip again.
#[test]
fn window_keeps_counting_after_failed_recoveries() {
    for k in [1, 15, failed_probes_for_generations(GENERATIONS / 2)] {
        assert!(trips_after_failed_recoveries(k), "did not trip again after {k} failed recoveries");
        agrees_strictly(&window_after_failed_recoveries(k));
    }
}

/// A 50 % time window (4 buckets of 100 ms, at least 4 calls) sees 3 successes, `gap` quiet
/// bucket widths, then 4 failures.
fn time_window_after_silence(gap: u64) -> (ModelConfig, Vec<Op>) {
    let config = rate(WindowKind::Time { bucket_width_ms: 100 }, 4, rule(500, 4));
    let mut ops = vec![Op::Call(Verdict::Success); 3];
    ops.push(Op::Advance(100 * gap));
    ops.extend([Op::Call(Verdict::Failure); 4]);
    (config, ops)
}

/// Fixed in f2bcb44: after a quiet period of more than `MAX_BUCKETS` bucket widths, old
/// buckets' epoch tags looked newer than the current epoch, so new calls were dropped and the
/// old ones summed: 10 failures did not trip a 50 % window.
#[test]
fn time_window_sees_calls_after_a_quiet_period() {
    let quiet = 100 * (MAX_BUCKETS as u64 + 1);
    let rule_ = RateConfig::new(500, 4).validate().unwrap();
    let clock = ManualClock::new();
    let window = Window::<4>::time(Duration::from_millis(100), rule_).unwrap();
    let breaker = Breaker::with_policy("w", Config::new().validate().unwrap(), &clock, (), window);
    for _ in 0..3 {
        let _ = breaker.call(|| Ok::<(), ()>(()));
    }
    clock.advance(Duration::from_millis(quiet));
    for _ in 0..10 {
        let _ = breaker.call(|| Err::<(), ()>(()));
    }
    assert_eq!(breaker.state(), State::Open);
    agrees_strictly(&time_window_after_silence(MAX_BUCKETS as u64 + 1));
    // A silence of k × EPOCH_TAGS + (0..B) widths still shows stale buckets to reads before the
    // next call (known_bug_window_reads_after_silence_are_empty).
    agrees_with(KnownBugs::CORE, &time_window_after_silence(2 * MAX_BUCKETS as u64 + 1)).unwrap();
}

/// A count window (4 buckets of 1 call, 50 %, at least 4 calls) trips on 4 failures, closes
/// after one probe, goes through `resets` resets (no call in between) and sees one failure: a
/// fresh cycle with 1 call must not trip.
fn new_cycle_after_resets(resets: usize) -> (ModelConfig, Vec<Op>) {
    let config = rate(COUNT1, 4, rule(500, 4));
    let mut ops = vec![Op::Call(Verdict::Failure); 4];
    ops.extend([Op::Advance(1_000), Op::Call(Verdict::Success)]);
    ops.extend(vec![Op::Reset; resets]);
    ops.push(Op::Call(Verdict::Failure));
    (config, ops)
}

/// Fixed in ffa699b: a cycle whose generation tag (then 3 or 6 bits) matched the counted
/// cycle's kept its buckets, which counted again: one failure re-tripped the breaker on the
/// failures of the cycle that had tripped it before.
#[test]
fn new_cycle_starts_empty_whatever_its_generation() {
    // (3 + resets) generations after the tripped cycle: skip exact multiples of GENERATIONS,
    // the documented horizon where cycles (like permits) alias.
    for resets in [5, 61].into_iter().filter(|r| (3 + r) % GENERATIONS as usize != 0) {
        let (config, ops) = new_cycle_after_resets(resets);
        agrees_strictly(&(config, ops.clone()));
        let c = check_counting(&Scenario { config, start_ms: 0, ops }, KnownBugs::NONE).unwrap();
        assert_eq!(c.count(Trigger::FailureRate), 1, "{resets} resets");
    }
}

/// 2 probes, `probe_timeout` 1 000 ms; a probe of the first half-open cycle settles as a
/// failure 900 ms into the second cycle, whose slots are all taken; 100 ms later the second
/// cycle is 1 000 ms old and must reopen.
fn stale_probe_during_a_full_half_open() -> (ModelConfig, Vec<Op>) {
    let config = with(cfg(1, 100, 2, 2), |c| c.probe_timeout_ms = Some(1_000));
    let ops = vec![
        Op::Call(Verdict::Failure),
        Op::Advance(100),
        Op::Acquire,                     // probe of cycle 1: held
        Op::Acquire,                     // probe of cycle 1
        Op::SettleLast(Settle::Failure), // reopens
        Op::Advance(100),
        Op::AcquireTicket, // cycle 2 begins
        Op::AcquireTicket, // every slot taken
        Op::Advance(900),
        settle(0, Settle::Failure), // the stale probe of cycle 1
        Op::Advance(100),
        Op::Acquire, // 1 000 ms into cycle 2: reopens (ProbeTimeout)
    ];
    (config, ops)
}

/// Fixed in ffa699b: a stale probe's late failure made the breaker read the phase stamp on
/// behalf of the probe's old cycle (the permit's admission-time word is the first CAS guess)
/// and overwrite the current cycle's stamp, restarting its timer: stuck-probe protection
/// reopened a whole `probe_timeout` late (and a ramp restarted the same way).
#[test]
fn stale_probe_does_not_postpone_the_probe_timeout() {
    let ms = Duration::from_millis;
    let clock = ManualClock::new();
    let config = Config::new()
        .failure_threshold(1)
        .recovery_timeout(ms(100))
        .half_open_probes(2)
        .successes_to_close(2)
        .probe_timeout(ms(1_000));
    let breaker = Breaker::try_new("p", config, &clock).unwrap();
    let _ = breaker.call(|| Err::<(), ()>(()));
    clock.advance(ms(100));
    let stale = breaker.try_acquire().unwrap(); // probe of half-open cycle 1
    breaker.try_acquire().unwrap().failure(); // reopens
    clock.advance(ms(100));
    let _a = breaker.try_acquire().unwrap().into_ticket(); // half-open cycle 2 begins
    let _b = breaker.try_acquire().unwrap().into_ticket(); // every slot taken
    clock.advance(ms(900));
    stale.failure(); // stale: changes nothing
    clock.advance(ms(100)); // 1 000 ms since half-opening
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!((open.state(), open.retry_after()), (State::Open, Some(ms(100))));
    let c =
        assert_agrees(stale_probe_during_a_full_half_open().0, 0, &stale_probe_during_a_full_half_open().1);
    assert_eq!(c.count(Trigger::ProbeTimeout), 1);
}

// ---- the windows' truncated epoch tags ----
//
// Two cases the model once found (a read after a silence of exactly k × EPOCH_TAGS + (0..B)
// bucket widths, and a call after the clock stepped back by half the tag range) are regression
// tests now: the window compares the reader's and the caller's epoch with the newest one at the
// word's width before it trusts a tag, and takes anything `JUMP_EPOCHS` or more behind for a
// jump forward. What `KnownBugs::window_tag_horizons` still models is the 32-bit layout's word
// width: a silence within `JUMP_EPOCHS` of a multiple of 2^32 epochs reads as a step back.
// `BREAKER_MODEL_STRICT=<field>` runs the property tests against the documented behaviour.

/// A time window (4 buckets of 100 ms) sees 3 failures, then `EPOCH_TAGS` bucket widths of
/// silence: its snapshot must show an empty window.
fn reads_after_a_whole_epoch_tag_range() -> (ModelConfig, Vec<Op>) {
    let config = rate(WindowKind::Time { bucket_width_ms: 100 }, 4, rule(500, 4));
    let mut ops = vec![Op::Call(Verdict::Failure); 3];
    ops.push(Op::Advance(100 * breaker_tests::EPOCH_TAGS));
    (config, ops)
}

/// A time window (4 buckets of 100 ms) sees 3 successes at epoch `EPOCH_TAGS`; the clock steps
/// back `EPOCH_TAGS / 2 + 4` bucket widths for one more success (a whole window behind the
/// newest epoch: dropped) and returns; the window must still hold the 3 calls.
fn call_far_behind_the_newest_epoch() -> (ModelConfig, Vec<Op>) {
    let config = rate(WindowKind::Time { bucket_width_ms: 100 }, 4, rule(500, 4));
    let back = 100 * (breaker_tests::EPOCH_TAGS / 2 + 4);
    let mut ops = vec![Op::SetClock(100 * breaker_tests::EPOCH_TAGS)];
    ops.extend([Op::Call(Verdict::Success); 3]);
    ops.extend([Op::Rewind(back), Op::Call(Verdict::Success), Op::Advance(back)]);
    ops.push(Op::Call(Verdict::Failure));
    (config, ops)
}

/// A read after a silence of a whole epoch-tag range shows an empty window, on both layouts.
#[test]
fn window_read_after_an_epoch_tag_range_of_silence_is_empty() {
    let case = reads_after_a_whole_epoch_tag_range();
    agrees_with(KnownBugs::CORE, &case).unwrap();
    agrees_with(KnownBugs::NONE, &case).unwrap();
}

/// A call a whole window behind the newest epoch is dropped and the window keeps its calls.
#[test]
fn window_call_far_behind_the_newest_epoch_is_dropped() {
    let case = call_far_behind_the_newest_epoch();
    agrees_with(KnownBugs::CORE, &case).unwrap();
    agrees_with(KnownBugs::NONE, &case).unwrap();
}

/// A silence of 2^31 + 10 bucket widths (1 ms buckets: 25 days), which the 32-bit layout's
/// word-width newest epoch sees as 2^31 − 10 epochs *behind*: taken for the jump it is, so the
/// window restarts empty and the next failures trip it as on a fresh window.
fn time_window_after_a_half_word_silence() -> (ModelConfig, Vec<Op>) {
    let config = rate(WindowKind::Time { bucket_width_ms: 1 }, 4, rule(500, 4));
    let mut ops = vec![Op::Call(Verdict::Failure), Op::Advance(1)];
    ops.extend([Op::Call(Verdict::Success), Op::Advance(1)].repeat(3));
    ops.push(Op::Advance((1 << 31) + 10));
    ops.extend([Op::Call(Verdict::Success), Op::Call(Verdict::Success), Op::Call(Verdict::Failure)]);
    ops.push(Op::Call(Verdict::Failure));
    (config, ops)
}

#[test]
fn window_survives_a_half_word_silence() {
    let case = time_window_after_a_half_word_silence();
    agrees_with(KnownBugs::CORE, &case).unwrap();
    agrees_with(KnownBugs::NONE, &case).unwrap();
}

/// Found by the model in round 2: a trip left the window's "filled below the thresholds" mark
/// in place, so when the generation came round to the tripped cycle's again (a permit-horizon
/// alias, `GENERATIONS` transitions later) a success was not evaluated and the window, at
/// 2 failures in 3 calls, stayed closed; and a mark built from the generation `2^G − 1`
/// overflowed to 0, the "no mark" value. Numbers of resets around one and two generation rounds.
#[test]
fn window_marks_survive_no_trip_and_no_generation() {
    let g = GENERATIONS;
    let around = |n: u32| n.saturating_sub(3)..n + 3;
    for resets in (0..4).chain(around(g)).chain(around(2 * g)) {
        let mut ops = vec![
            Op::Call(Verdict::Success),
            Op::Call(Verdict::Success),
            Op::Call(Verdict::Failure),
            Op::Call(Verdict::Failure),
        ];
        ops.extend((0..resets).map(|_| Op::Reset));
        ops.extend([Op::Call(Verdict::Success), Op::Call(Verdict::Failure), Op::Call(Verdict::Success)]);
        assert_agrees(rate(COUNT1, 3, rule(500, 3)), 0, &ops);
        // The same with slow calls on a 5-call bucket, the case that found the overflow.
        let slow = RuleSpec {
            slow: Some(SlowSpec { threshold_ms: 1, trip_permille: 500, as_failure: false }),
            ..rule(1000, 5)
        };
        let mut ops: Vec<Op> = (0..resets).map(|_| Op::Reset).collect();
        for _ in 0..3 {
            ops.extend([Op::Acquire, Op::Advance(1), Op::SettleLast(Settle::Success)]);
        }
        ops.extend([Op::Call(Verdict::Success), Op::Call(Verdict::Success), Op::Call(Verdict::Success)]);
        assert_agrees(rate(WindowKind::Count { calls_per_bucket: 5 }, 1, slow), 0, &ops);
    }
}

// ---- hand-written scenarios: restore and reconfigure ----

fn restart(down_ms: u64) -> Op {
    Op::Restart { down_ms, keep_config: false }
}

/// The module docs' table, through restarts: OPEN comes back OPEN for the time it had left
/// (the downtime not counted, reported once with `Trigger::Restore`), a CLOSED count comes
/// back, HALF_OPEN comes back CLOSED 0 in place, forced states are kept; held permits die with
/// the process.
#[test]
fn restarts_keep_what_the_docs_say() {
    let config = with(cfg(3, 1_000, 2, 1), |c| c.backoff_max_ms = Some(8_000));
    let failure = Op::Call(Verdict::Failure);
    let c = assert_agrees(
        config,
        5_000,
        &[
            failure,
            failure,
            restart(123_456), // CLOSED 2: in place, nothing reported
            Op::Acquire,      // held across the next restart: forgotten
            failure,          // trips: OPEN, 1 000 ms
            Op::Advance(400),
            restart(10_000_000), // 600 ms left, counted from the restore
            Op::Acquire,
            Op::Advance(599),
            Op::Acquire,
            Op::Advance(1),
            Op::Acquire, // the probe, at level 0
            settle(0, Settle::Failure),
            Op::Advance(2_000),
            Op::Acquire, // a probe at level 1
            restart(1),  // HALF_OPEN comes back CLOSED 0
            Op::ForceOpen,
            restart(0),
            Op::Acquire,
            Op::ForceClosed,
            restart(0),
            Op::Call(Verdict::Failure),
        ],
    );
    assert_eq!((c.restarts, c.restored_open, c.count(Trigger::Restore)), (5, 1, 3));
}

/// `restore(&save())` on a live breaker changes nothing it shows, in every state; a flipped
/// byte is refused by the checksum; a resealed one is read and checked against the breaker.
#[test]
fn own_and_damaged_saved_states() {
    let config = with(cfg(2, 500, 1, 1), |c| c.jitter = Some(Jitter { max_ms: 100, seed: 9 }));
    let own = Op::RestoreOwn;
    let bytes = |index, xor, reseal| Op::RestoreBytes { index, xor, reseal };
    let c = assert_agrees(
        config,
        0,
        &[
            own,
            Op::Call(Verdict::Failure),
            own,
            bytes(6, 1, false), // checksum: refused
            bytes(6, 1, true),  // CLOSED 0: in place
            bytes(6, 2, true),  // CLOSED 2: not below the threshold
            bytes(1, 3, true),  // format 2
            bytes(2, 96, true), // layout 32 / 64
            bytes(3, 3, true),  // policy 2: a rate window's state
            bytes(18, 1, true), // reserved
            Op::Call(Verdict::Failure),
            Op::Advance(100),
            own,
            bytes(4, 1, true),   // OPEN with time left -> HALF_OPEN with it: invalid
            bytes(4, 6, true),   // -> ForcedOpen... with time left: invalid
            bytes(5, 1, true),   // level 1: above what the config reaches
            bytes(11, 8, true),  // more time left than the config stays open
            bytes(10, 1, true),  // 1 ms more or less: in place
            Op::Advance(10_000), // ready to probe
            own,
            Op::Acquire,
            own, // HALF_OPEN -> CLOSED 0, the probe stale
            settle(0, Settle::Failure),
            Op::ForceOpen,
            own,
            bytes(4, 1, true), // FORCED_OPEN -> DISABLED, reported
        ],
    );
    assert!(c.bytes_rejected >= 6 && c.restore_errors >= 3, "{c:?}");
}

/// A restart into the scenario's config after the live one was changed: a count, a level or
/// an open time the old config allowed and the new one does not is a `RestoreError`, and the
/// breaker starts fresh; with `keep_config` it restores.
#[test]
fn restores_refused_by_the_config_start_fresh() {
    let config = with(cfg(5, 1_000, 1, 1), |c| c.backoff_max_ms = Some(4_000));
    let failure = Op::Call(Verdict::Failure);
    let mut ops = vec![failure; 4];
    ops.extend([
        Op::UpdateConfig(Edit::Threshold(3)), // 4 pending, above the new threshold
        Op::Restart { down_ms: 0, keep_config: true }, // count 4, threshold 3: refused
        failure,
        failure,
        failure, // trips at the lowered threshold, kept
        Op::UpdateConfig(Edit::RecoveryTimeout(3_000)),
        Op::Restart { down_ms: 50, keep_config: false }, // 3 000 ms left > 1 000: refused
    ]);
    let c = assert_agrees(config, 0, &ops);
    assert_eq!((c.restore_errors, c.count(Trigger::Restore)), (2, 0));
}

/// The table in `reconfigure.rs`: a lowered threshold trips on the next failure; an OPEN
/// breaker measures its open time with the new timeout; probes over a lowered limit stay
/// admitted; successes reaching a lowered figure close on the next one; an invalid change
/// keeps the old config; a removed ramp ends at the next call.
#[test]
fn reconfigurations_follow_the_table() {
    let config = with(cfg(4, 1_000, 3, 3), |c| c.ramp = Some(Ramp { period_ms: 10_000, start_percent: 10 }));
    let failure = Op::Call(Verdict::Failure);
    let settings = |f: &dyn Fn(&mut Settings)| {
        let mut s = config.settings();
        f(&mut s);
        Op::Reconfigure(s)
    };
    let c = assert_agrees(
        config,
        0,
        &[
            failure,
            failure,
            Op::UpdateConfig(Edit::Threshold(1)),
            Op::Call(Verdict::Success), // clears the count
            failure,                    // trips at 1
            Op::Advance(300),
            Op::UpdateConfig(Edit::RecoveryTimeout(200)), // already over: ready to probe
            Op::Acquire,
            Op::Acquire,
            Op::Acquire,
            Op::UpdateConfig(Edit::Probes { probes: 1, successes: 1 }), // 3 out, limit 1
            Op::Acquire,
            settle(0, Settle::Ignore),
            Op::Acquire,
            settle(0, Settle::Success), // closes: a ramp begins
            Op::UpdateConfig(Edit::Probes { probes: 0, successes: 1 }), // invalid
            settings(&|s| s.successes_to_close = 4), // invalid
            Op::Call(Verdict::Success),
            Op::Call(Verdict::Success),
            settings(&|s| s.ramp = None), // ends at the next call
            Op::Call(Verdict::Success),
            Op::Call(Verdict::Success),
        ],
    );
    assert_eq!((c.reconfigure_errors, c.count(Trigger::ProbeSucceeded)), (2, 1));
    assert!(c.over_threshold > 0 || c.reconfigurations >= 3, "{c:?}");
}

/// Found by the model (fixed in `health.rs`): a live HALF_OPEN breaker (threshold 2)
/// restored from a saved OPEN state showed and reported 3 failures, as if a probe had failed;
/// a restored OPEN breaker shows the threshold, 2. The side-word rule counted every
/// HALF_OPEN -> OPEN as a failed probe.
#[test]
fn restore_from_half_open_into_open_is_not_a_failed_probe() {
    let case = (
        cfg(2, 1, 1, 1),
        vec![
            Op::Call(Verdict::Failure),
            Op::Call(Verdict::Failure),
            Op::Advance(1),
            Op::Acquire, // HALF_OPEN, showing 2
            // Its saved HALF_OPEN state made an OPEN one (tag 3 -> 2, 0 ms left), resealed.
            Op::RestoreBytes { index: 4, xor: 1, reseal: true },
        ],
    );
    agrees_strictly(&case);
}
