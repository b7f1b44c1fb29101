//! Configuration: [`ModelConfig`] and the specs it is made of (policy, rate window and rule,
//! slow calls, adaptive threshold, jitter, ramp), the real `Config` / `RateConfig` built from
//! them and the derived figures (backoff, jitter, open duration, ramp share, timescales) that
//! the model and the scenario generators use.

use core::time::Duration;

use breaker_core::limits::{
    BUCKET_CAPACITY, MAX_BACKOFF_LEVEL, MAX_BUCKETS, MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES,
    MAX_OPEN_MS, MAX_PHASE_TIMER_MS,
};
use breaker_core::{Config, RateConfig, RateRule, ValidConfig};

use crate::model::{EPOCH_TAGS, STAMP_MODULUS, TIME_MODULUS};
#[cfg(doc)]
use breaker_core::limits::GENERATIONS;

/// The largest jitter the core accepts on any layout: below 2^32 ms.
pub const MAX_JITTER_MS: u64 = u32::MAX as u64 - 1;

/// Bucket counts a [`WindowSpec`] may have: the checker is instantiated for these `B`.
pub const SUPPORTED_BUCKETS: [usize; 8] = [1, 2, 3, 4, 5, 8, 10, MAX_BUCKETS];

/// Random jitter added to every open duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Jitter {
    /// The largest jitter in milliseconds.
    pub max_ms: u64,
    /// The caller's seed.
    pub seed: u32,
}

/// Gradual recovery after closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ramp {
    /// How long the ramp lasts, in milliseconds.
    pub period_ms: u64,
    /// The share of calls admitted when the ramp begins, in percent.
    pub start_percent: u32,
}

/// Slow-call tracking of a rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlowSpec {
    /// A call at least this long (ms, on the breaker's clock) is slow.
    pub threshold_ms: u64,
    /// Trip when at least this share (‰) of the window's calls were slow.
    pub trip_permille: u32,
    /// A slow success also counts as a failure.
    pub as_failure: bool,
}

/// An adaptive failure threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AdaptiveSpec {
    /// The threshold is at least this (‰).
    pub floor_permille: u32,
    /// The threshold is at least this share (%) of the learned baseline.
    pub multiplier_percent: u32,
    /// Learning rate 1/2^`alpha_shift`.
    pub alpha_shift: u32,
    /// Only buckets with at least this many calls teach the baseline.
    pub min_bucket_calls: u32,
}

/// The thresholds of a rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    /// Trip at this failure rate (‰), unless the threshold is adaptive.
    pub failure_permille: u32,
    /// Calls the window must hold before it may trip.
    pub min_calls: u32,
    /// Slow-call tracking, if any.
    pub slow: Option<SlowSpec>,
    /// Adaptive threshold, if any.
    pub adaptive: Option<AdaptiveSpec>,
}

impl RuleSpec {
    /// The same thresholds as a core [`RateConfig`].
    pub fn to_rate_config(&self) -> RateConfig {
        let mut c = RateConfig::new(self.failure_permille, self.min_calls);
        if let Some(s) = self.slow {
            c = c.slow_calls(Duration::from_millis(s.threshold_ms), s.trip_permille, s.as_failure);
        }
        if let Some(a) = self.adaptive {
            c = c.adaptive(a.floor_permille, a.multiplier_percent, a.alpha_shift, a.min_bucket_calls);
        }
        c
    }

    /// The validated core rule, if the thresholds are valid.
    pub fn validate(&self) -> Option<RateRule> {
        self.to_rate_config().validate().ok()
    }
}

/// How a rate window cuts time into buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// `Window::count`: buckets of `calls_per_bucket` calls, filled in order.
    Count {
        /// Calls per bucket (1..=`BUCKET_CAPACITY`).
        calls_per_bucket: u32,
    },
    /// `Window::time`: epoch = clock reading / `bucket_width_ms`.
    Time {
        /// Bucket width in milliseconds (1..=`u32::MAX`).
        bucket_width_ms: u64,
    },
}

/// A rate-window policy: `Window<buckets>` (one stripe) with `kind` and `rule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    /// Number of buckets `B`; one of [`SUPPORTED_BUCKETS`].
    pub buckets: usize,
    /// Count- or time-based.
    pub kind: WindowKind,
    /// The thresholds.
    pub rule: RuleSpec,
}

impl WindowSpec {
    /// `true` if the checker can build this window (supported bucket count, valid kind and
    /// rule).
    pub fn is_valid(&self) -> bool {
        let kind_ok = match self.kind {
            WindowKind::Count { calls_per_bucket } => (1..=BUCKET_CAPACITY).contains(&calls_per_bucket),
            WindowKind::Time { bucket_width_ms } => (1..=u64::from(u32::MAX)).contains(&bucket_width_ms),
        };
        let fits = self.rule.min_calls <= self.capacity()
            && self.rule.adaptive.map_or(true, |a| a.min_bucket_calls <= self.bucket_limit());
        kind_ok && fits && SUPPORTED_BUCKETS.contains(&self.buckets) && self.rule.validate().is_some()
    }

    /// The same window with `min_calls` and the adaptive `min_bucket_calls` lowered to what it
    /// can hold, so generated specs keep the cross-field constraints (breaking them is a config
    /// error, tested on its own).
    pub fn fitted(mut self) -> Self {
        let (capacity, limit) = (self.capacity(), self.bucket_limit());
        self.rule.min_calls = self.rule.min_calls.min(capacity);
        if let Some(a) = self.rule.adaptive.as_mut() {
            a.min_bucket_calls = a.min_bucket_calls.min(limit);
        }
        self
    }

    /// Most calls one bucket takes: `calls_per_bucket`, or `BUCKET_CAPACITY` in a time window.
    pub fn bucket_limit(&self) -> u32 {
        match self.kind {
            WindowKind::Count { calls_per_bucket } => calls_per_bucket,
            WindowKind::Time { .. } => BUCKET_CAPACITY,
        }
    }

    /// Most calls the window holds (`min_calls` above it is a config error).
    pub fn capacity(&self) -> u32 {
        self.buckets as u32 * self.bucket_limit()
    }
}

/// What makes a CLOSED breaker open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelPolicy {
    /// `Consecutive`: `failure_threshold` failures in a row.
    Consecutive,
    /// A rate window.
    Window(WindowSpec),
}

/// Breaker settings as plain integers, with the trip policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Consecutive same-generation failures in CLOSED that open the circuit (consecutive
    /// policy only).
    pub failure_threshold: u32,
    /// How long OPEN rejects at backoff level 0 (before jitter), in milliseconds.
    pub recovery_timeout_ms: u64,
    /// Probe permits HALF_OPEN hands out before their outcomes are in.
    pub half_open_probes: u32,
    /// Successful probes that close the circuit.
    pub successes_to_close: u32,
    /// The backoff cap in milliseconds; `None`: no backoff.
    pub backoff_max_ms: Option<u64>,
    /// Jitter, if any.
    pub jitter: Option<Jitter>,
    /// Stuck half-open protection, if any: the timeout in milliseconds.
    pub probe_timeout_ms: Option<u64>,
    /// Gradual recovery, if any.
    pub ramp: Option<Ramp>,
    /// The abandoned-call rule, if any: a permit dropped without a verdict after it has been
    /// out at least this many milliseconds counts as a failure.
    pub abandoned_ms: Option<u64>,
    /// The trip policy.
    pub policy: ModelPolicy,
}

impl ModelConfig {
    /// The seed's settings with the consecutive-failures policy and no backoff, jitter, probe
    /// timeout or ramp.
    pub const fn new(
        failure_threshold: u32,
        recovery_timeout_ms: u64,
        half_open_probes: u32,
        successes_to_close: u32,
    ) -> Self {
        ModelConfig {
            failure_threshold,
            recovery_timeout_ms,
            half_open_probes,
            successes_to_close,
            backoff_max_ms: None,
            jitter: None,
            probe_timeout_ms: None,
            ramp: None,
            abandoned_ms: None,
            policy: ModelPolicy::Consecutive,
        }
    }

    /// The same settings as a core [`Config`] (the policy is not part of it).
    pub fn to_config(&self) -> Config {
        let mut c = Config::new()
            .failure_threshold(self.failure_threshold)
            .recovery_timeout(Duration::from_millis(self.recovery_timeout_ms))
            .half_open_probes(self.half_open_probes)
            .successes_to_close(self.successes_to_close);
        if let Some(max) = self.backoff_max_ms {
            c = c.backoff(Duration::from_millis(max));
        }
        if let Some(j) = self.jitter {
            c = c.jitter(Duration::from_millis(j.max_ms), j.seed);
        }
        if let Some(t) = self.probe_timeout_ms {
            c = c.probe_timeout(Duration::from_millis(t));
        }
        if let Some(r) = self.ramp {
            c = c.gradual_recovery(Duration::from_millis(r.period_ms), r.start_percent);
        }
        if let Some(a) = self.abandoned_ms {
            c = c.count_abandoned_after(Duration::from_millis(a));
        }
        c
    }

    /// The validated core config, if the settings are valid and the policy can be built.
    pub fn validate(&self) -> Option<ValidConfig> {
        if let ModelPolicy::Window(w) = self.policy {
            if !w.is_valid() {
                return None;
            }
        }
        self.to_config().validate().ok()
    }

    /// The rate window, if the policy is one.
    pub fn window(&self) -> Option<&WindowSpec> {
        match &self.policy {
            ModelPolicy::Window(w) => Some(w),
            ModelPolicy::Consecutive => None,
        }
    }

    /// Slow-call tracking, if the policy has it.
    pub fn slow_calls(&self) -> Option<SlowSpec> {
        self.window().and_then(|w| w.rule.slow)
    }

    /// The backoff cap: the configured one, or the recovery timeout without backoff.
    pub fn backoff_cap_ms(&self) -> u64 {
        self.backoff_max_ms.unwrap_or(self.recovery_timeout_ms)
    }

    /// `min(recovery_timeout × 2^level, cap)`.
    pub fn backoff_ms(&self, level: u32) -> u64 {
        let scaled =
            1u64.checked_shl(level).and_then(|f| self.recovery_timeout_ms.checked_mul(f)).unwrap_or(u64::MAX);
        scaled.min(self.backoff_cap_ms())
    }

    /// The jitter of the open cycle whose generation (modulo [`GENERATIONS`]) is `gen`, in
    /// `0..=max`: the seed and the generation mixed by MurmurHash3's 32-bit finaliser
    /// (`seed ^ gen × 0x9E3779B9`, then fmix32), scaled to the range by a multiply and a shift
    /// (`z × (max + 1) >> 32`), as the core documents it.
    pub fn jitter_for(&self, gen: u32) -> u64 {
        let Some(j) = self.jitter else { return 0 };
        if j.max_ms == 0 {
            return 0;
        }
        let mut z = j.seed ^ gen.wrapping_mul(0x9E37_79B9);
        z ^= z >> 16;
        z = z.wrapping_mul(0x85EB_CA6B);
        z ^= z >> 13;
        z = z.wrapping_mul(0xC2B2_AE35);
        z ^= z >> 16;
        ((u128::from(z) * u128::from(j.max_ms + 1)) >> 32) as u64
    }

    /// The largest jitter these settings may have: what the backoff cap leaves of
    /// `MAX_OPEN_MS`, and below 2^32 ms ([`MAX_JITTER_MS`]).
    pub fn jitter_room_ms(&self) -> u64 {
        (MAX_OPEN_MS - self.backoff_cap_ms()).min(MAX_JITTER_MS)
    }

    /// How long the OPEN cycle of generation `gen` at backoff `level` lasts.
    pub fn open_ms(&self, level: u32, gen: u32) -> u64 {
        self.backoff_ms(level) + self.jitter_for(gen)
    }

    /// The backoff level after one more failed recovery: one up, unless the cap or
    /// `MAX_BACKOFF_LEVEL` is reached.
    pub fn next_level(&self, level: u32) -> u32 {
        if level >= MAX_BACKOFF_LEVEL || self.backoff_ms(level) >= self.backoff_cap_ms() {
            level
        } else {
            level + 1
        }
    }

    /// The share of calls (‰) admitted `elapsed_ms` into a ramp:
    /// `start‰ + (1000 − start‰) × elapsed / period`, rounded down, 1000 once the period is over.
    /// Periods of 2^22 ms or more are measured in units of 2^k ms (`k` = the period's bit length
    /// − 22), as the core documents: elapsed time and period are both rounded down to whole
    /// units first.
    pub fn ramp_permille(&self, elapsed_ms: u64) -> u32 {
        let Some(r) = self.ramp else { return 1000 };
        if elapsed_ms >= r.period_ms {
            return 1000;
        }
        let start = u64::from(r.start_percent) * 10;
        let shift = (u64::BITS - r.period_ms.leading_zeros()).saturating_sub(22);
        let share = start + (1000 - start) * (elapsed_ms >> shift) / (r.period_ms >> shift);
        share as u32
    }

    /// Time spans at which something may happen to a breaker with these settings: open
    /// durations at every backoff level, the probe timeout, the ramp period, bucket widths and
    /// whole windows, the slow-call threshold, and the layout's horizons. Never empty.
    pub fn timescales(&self) -> Vec<u64> {
        let mut t = vec![self.recovery_timeout_ms];
        let mut level = 0;
        loop {
            t.push(self.open_ms(level, 0));
            let next = self.next_level(level);
            if next == level {
                break;
            }
            level = next;
        }
        if let Some(j) = self.jitter {
            t.push(self.backoff_cap_ms() + j.max_ms);
        }
        t.extend(self.probe_timeout_ms);
        t.extend(self.ramp.map(|r| r.period_ms));
        if let Some(w) = self.window() {
            if let WindowKind::Time { bucket_width_ms } = w.kind {
                t.push(bucket_width_ms);
                t.push(bucket_width_ms * w.buckets as u64);
                t.push(bucket_width_ms * MAX_BUCKETS as u64);
                t.push(bucket_width_ms * EPOCH_TAGS);
            }
            t.extend(w.rule.slow.map(|s| s.threshold_ms));
        }
        t.extend([TIME_MODULUS, STAMP_MODULUS, MAX_PHASE_TIMER_MS + 1]);
        t
    }
}

/// The reconfigurable part of a [`ModelConfig`]: everything but the trip policy (a window's
/// shape is fixed when the breaker is built). What `Op::Reconfigure` carries; it may be
/// invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Settings {
    /// See [`ModelConfig::failure_threshold`].
    pub failure_threshold: u32,
    /// See [`ModelConfig::recovery_timeout_ms`].
    pub recovery_timeout_ms: u64,
    /// See [`ModelConfig::half_open_probes`].
    pub half_open_probes: u32,
    /// See [`ModelConfig::successes_to_close`].
    pub successes_to_close: u32,
    /// See [`ModelConfig::backoff_max_ms`].
    pub backoff_max_ms: Option<u64>,
    /// See [`ModelConfig::jitter`].
    pub jitter: Option<Jitter>,
    /// See [`ModelConfig::probe_timeout_ms`].
    pub probe_timeout_ms: Option<u64>,
    /// See [`ModelConfig::ramp`].
    pub ramp: Option<Ramp>,
    /// See [`ModelConfig::abandoned_ms`].
    pub abandoned_ms: Option<u64>,
}

/// A change of one setting, made with `Breaker::update_config` on the builder of the config
/// in force (`Config::from(ValidConfig)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Edit {
    /// `failure_threshold(n)`.
    Threshold(u32),
    /// `recovery_timeout(ms)`.
    RecoveryTimeout(u64),
    /// `half_open_probes(probes).successes_to_close(successes)`.
    Probes {
        /// Probe slots.
        probes: u32,
        /// Successes to close.
        successes: u32,
    },
    /// `backoff(ms)`.
    Backoff(u64),
    /// `jitter(max_ms, seed)`.
    Jitter(Jitter),
    /// `probe_timeout(ms)`.
    ProbeTimeout(u64),
    /// `gradual_recovery(period, start)`.
    Ramp(Ramp),
    /// `count_abandoned_after(ms)`.
    Abandoned(u64),
}

impl Edit {
    /// Applies the edit to a core builder.
    pub fn apply_to(self, c: Config) -> Config {
        let ms = Duration::from_millis;
        match self {
            Edit::Threshold(n) => c.failure_threshold(n),
            Edit::RecoveryTimeout(t) => c.recovery_timeout(ms(t)),
            Edit::Probes { probes, successes } => c.half_open_probes(probes).successes_to_close(successes),
            Edit::Backoff(max) => c.backoff(ms(max)),
            Edit::Jitter(j) => c.jitter(ms(j.max_ms), j.seed),
            Edit::ProbeTimeout(t) => c.probe_timeout(ms(t)),
            Edit::Ramp(r) => c.gradual_recovery(ms(r.period_ms), r.start_percent),
            Edit::Abandoned(a) => c.count_abandoned_after(ms(a)),
        }
    }
}

impl Settings {
    /// The same settings as a core [`Config`].
    pub fn to_config(&self) -> Config {
        ModelConfig::new(0, 0, 0, 0).with_settings(*self).to_config()
    }

    /// The builder of a validated config, as `From<ValidConfig> for Config` documents it: a
    /// backoff cap equal to the recovery timeout is "no backoff" and left unset (so a later,
    /// longer timeout is not refused for being above a cap nobody asked for).
    pub fn as_rebuilt(mut self) -> Settings {
        if self.backoff_max_ms == Some(self.recovery_timeout_ms) {
            self.backoff_max_ms = None;
        }
        self
    }

    /// These settings with `edit` made (on the builder: an edit can set, never unset).
    pub fn edited(mut self, edit: Edit) -> Settings {
        match edit {
            Edit::Threshold(n) => self.failure_threshold = n,
            Edit::RecoveryTimeout(t) => self.recovery_timeout_ms = t,
            Edit::Probes { probes, successes } => {
                self.half_open_probes = probes;
                self.successes_to_close = successes;
            }
            Edit::Backoff(max) => self.backoff_max_ms = Some(max),
            Edit::Jitter(j) => self.jitter = Some(j),
            Edit::ProbeTimeout(t) => self.probe_timeout_ms = Some(t),
            Edit::Ramp(r) => self.ramp = Some(r),
            Edit::Abandoned(a) => self.abandoned_ms = Some(a),
        }
        self
    }

    /// The field `Config::validate` names for these settings, `None` if they are valid; from
    /// the builder's documentation, checked in the order of the builder's fields (the first
    /// offending one is named): threshold 1..=`MAX_FAILURE_THRESHOLD`, recovery timeout
    /// 1..=`MAX_OPEN_MS`, probes 1..=`MAX_HALF_OPEN_PROBES`, successes 1..=probes, backoff cap
    /// from the timeout to `MAX_OPEN_MS`, jitter at most `MAX_OPEN_MS` − cap and below 2^32 ms,
    /// probe timeout and ramp period 1..=`MAX_PHASE_TIMER_MS`, ramp start at most 99 %.
    pub fn problem(&self) -> Option<&'static str> {
        let t = self.recovery_timeout_ms;
        let cap = self.backoff_max_ms.unwrap_or(t);
        let bad = [
            ("failure_threshold", !(1..=MAX_FAILURE_THRESHOLD).contains(&self.failure_threshold)),
            ("recovery_timeout", !(1..=MAX_OPEN_MS).contains(&t)),
            ("half_open_probes", !(1..=MAX_HALF_OPEN_PROBES).contains(&self.half_open_probes)),
            ("successes_to_close", !(1..=self.half_open_probes).contains(&self.successes_to_close)),
            ("backoff_max", !(t..=MAX_OPEN_MS).contains(&cap)),
            (
                "jitter",
                self.jitter
                    .is_some_and(|j| j.max_ms > MAX_JITTER_MS || j.max_ms > MAX_OPEN_MS.saturating_sub(cap)),
            ),
            ("probe_timeout", self.probe_timeout_ms.is_some_and(|p| !(1..=MAX_PHASE_TIMER_MS).contains(&p))),
            ("abandoned_after", self.abandoned_ms.is_some_and(|a| !(1..=MAX_PHASE_TIMER_MS).contains(&a))),
            ("ramp_period", self.ramp.is_some_and(|r| !(1..=MAX_PHASE_TIMER_MS).contains(&r.period_ms))),
            ("ramp_start_percent", self.ramp.is_some_and(|r| r.start_percent > 99)),
        ];
        bad.iter().find(|(_, b)| *b).map(|(field, _)| *field)
    }

    /// What `ValidConfig`'s accessors show for these (valid) settings: threshold, recovery
    /// timeout, probes, successes, backoff cap (the timeout without backoff), jitter (0
    /// without), probe timeout, ramp.
    pub fn shown(&self) -> ShownConfig {
        let ms = Duration::from_millis;
        (
            self.failure_threshold,
            ms(self.recovery_timeout_ms),
            self.half_open_probes,
            self.successes_to_close,
            ms(self.backoff_max_ms.unwrap_or(self.recovery_timeout_ms)),
            ms(self.jitter.map_or(0, |j| j.max_ms)),
            self.probe_timeout_ms.map(ms),
            self.ramp.map(|r| (ms(r.period_ms), r.start_percent)),
        )
    }
}

/// A config as `ValidConfig`'s accessors show it (see [`Settings::shown`]).
pub type ShownConfig =
    (u32, Duration, u32, u32, Duration, Duration, Option<Duration>, Option<(Duration, u32)>);

/// What `ValidConfig`'s accessors show (see [`Settings::shown`]).
pub fn shown(c: &ValidConfig) -> ShownConfig {
    (
        c.failure_threshold(),
        c.recovery_timeout(),
        c.half_open_probes(),
        c.successes_to_close(),
        c.backoff_max(),
        c.jitter(),
        c.probe_timeout(),
        c.ramp(),
    )
}

impl ModelConfig {
    /// Everything but the policy.
    pub fn settings(&self) -> Settings {
        Settings {
            failure_threshold: self.failure_threshold,
            recovery_timeout_ms: self.recovery_timeout_ms,
            half_open_probes: self.half_open_probes,
            successes_to_close: self.successes_to_close,
            backoff_max_ms: self.backoff_max_ms,
            jitter: self.jitter,
            probe_timeout_ms: self.probe_timeout_ms,
            ramp: self.ramp,
            abandoned_ms: self.abandoned_ms,
        }
    }

    /// The same policy with `s`.
    pub fn with_settings(self, s: Settings) -> ModelConfig {
        ModelConfig {
            failure_threshold: s.failure_threshold,
            recovery_timeout_ms: s.recovery_timeout_ms,
            half_open_probes: s.half_open_probes,
            successes_to_close: s.successes_to_close,
            backoff_max_ms: s.backoff_max_ms,
            jitter: s.jitter,
            probe_timeout_ms: s.probe_timeout_ms,
            ramp: s.ramp,
            abandoned_ms: s.abandoned_ms,
            policy: self.policy,
        }
    }

    /// The highest backoff level these settings reach: where [`ModelConfig::next_level`]
    /// stops climbing.
    pub fn max_level(&self) -> u32 {
        let mut level = 0;
        loop {
            let next = self.next_level(level);
            if next == level {
                return level;
            }
            level = next;
        }
    }
}
