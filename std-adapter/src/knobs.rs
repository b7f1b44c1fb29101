//! The `Config` knobs of a builder, kept apart from its base config so that setting one never
//! silently replaces another: `builder.failure_threshold(3).config(preset)` and
//! `builder.config(preset).failure_threshold(3)` both build the preset with a threshold of 3.
//! Every builder of this crate has every knob, through [`knob_setters!`].

use core::time::Duration;

use breaker_core::Config;

/// Knobs set one by one on a builder; applied over its base config at `build`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Knobs {
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) recovery_timeout: Option<Duration>,
    pub(crate) half_open_probes: Option<u32>,
    pub(crate) successes_to_close: Option<u32>,
    pub(crate) backoff: Option<Duration>,
    pub(crate) jitter: Option<(Duration, u32)>,
    pub(crate) probe_timeout: Option<Duration>,
    pub(crate) gradual_recovery: Option<(Duration, u32)>,
    pub(crate) abandoned_after: Option<Duration>,
    pub(crate) open_time_resolution: Option<Duration>,
}

impl Knobs {
    /// `base` with every knob that was set.
    pub(crate) fn apply(&self, mut base: Config) -> Config {
        if let Some(n) = self.failure_threshold {
            base = base.failure_threshold(n);
        }
        if let Some(d) = self.recovery_timeout {
            base = base.recovery_timeout(d);
        }
        if let Some(n) = self.half_open_probes {
            base = base.half_open_probes(n);
        }
        if let Some(n) = self.successes_to_close {
            base = base.successes_to_close(n);
        }
        if let Some(d) = self.backoff {
            base = base.backoff(d);
        }
        if let Some((d, seed)) = self.jitter {
            base = base.jitter(d, seed);
        }
        if let Some(d) = self.probe_timeout {
            base = base.probe_timeout(d);
        }
        if let Some((d, percent)) = self.gradual_recovery {
            base = base.gradual_recovery(d, percent);
        }
        if let Some(d) = self.abandoned_after {
            base = base.count_abandoned_after(d);
        }
        if let Some(d) = self.open_time_resolution {
            base = base.open_time_resolution(d);
        }
        base
    }
}

/// The per-knob setters of a builder with a `knobs: Knobs` field: each forwards to the
/// [`Config`] setter of the same name (whose docs give the ranges) and wins over the base
/// config whatever the order of the calls.
macro_rules! knob_setters {
    ($example:literal) => {
        /// Consecutive failures in CLOSED that open the circuit (see
        /// [`Config::failure_threshold`](crate::Config::failure_threshold)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.failure_threshold(3).build().unwrap();\nassert_eq!(b.config().failure_threshold(), 3);\n```")]
        pub fn failure_threshold(mut self, n: u32) -> Self {
            self.knobs.failure_threshold = Some(n);
            self
        }

        /// How long OPEN rejects before a probe (see
        /// [`Config::recovery_timeout`](crate::Config::recovery_timeout)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.recovery_timeout(std::time::Duration::from_secs(30)).build().unwrap();\nassert_eq!(b.config().recovery_timeout().as_secs(), 30);\n```")]
        pub fn recovery_timeout(mut self, timeout: core::time::Duration) -> Self {
            self.knobs.recovery_timeout = Some(timeout);
            self
        }

        /// Probe calls HALF_OPEN admits per cycle (see
        /// [`Config::half_open_probes`](crate::Config::half_open_probes)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.half_open_probes(3).build().unwrap();\nassert_eq!(b.config().half_open_probes(), 3);\n```")]
        pub fn half_open_probes(mut self, n: u32) -> Self {
            self.knobs.half_open_probes = Some(n);
            self
        }

        /// Successful probes that close the circuit (see
        /// [`Config::successes_to_close`](crate::Config::successes_to_close)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.half_open_probes(3).successes_to_close(2).build().unwrap();\nassert_eq!(b.config().successes_to_close(), 2);\n```")]
        pub fn successes_to_close(mut self, n: u32) -> Self {
            self.knobs.successes_to_close = Some(n);
            self
        }

        /// Exponential backoff of the open duration up to `max` (see
        /// [`Config::backoff`](crate::Config::backoff)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.backoff(std::time::Duration::from_secs(600)).build().unwrap();\nassert_eq!(b.config().backoff_max().as_secs(), 600);\n```")]
        pub fn backoff(mut self, max: core::time::Duration) -> Self {
            self.knobs.backoff = Some(max);
            self
        }

        /// Random jitter of up to `max` on each open duration, from `seed` (see
        /// [`Config::jitter`](crate::Config::jitter)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.jitter(std::time::Duration::from_secs(5), 7).build().unwrap();\nassert_eq!(b.config().jitter().as_secs(), 5);\n```")]
        pub fn jitter(mut self, max: core::time::Duration, seed: u32) -> Self {
            self.knobs.jitter = Some((max, seed));
            self
        }

        /// A probe slot held longer than `timeout` counts as a failed probe (see
        /// [`Config::probe_timeout`](crate::Config::probe_timeout)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.probe_timeout(std::time::Duration::from_secs(10)).build().unwrap();\nassert_eq!(b.config().probe_timeout(), Some(std::time::Duration::from_secs(10)));\n```")]
        pub fn probe_timeout(mut self, timeout: core::time::Duration) -> Self {
            self.knobs.probe_timeout = Some(timeout);
            self
        }

        /// After closing, admit a share of calls rising from `start_percent` to all over
        /// `period` (see [`Config::gradual_recovery`](crate::Config::gradual_recovery)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.gradual_recovery(std::time::Duration::from_secs(60), 10).build().unwrap();\nassert_eq!(b.config().ramp(), Some((std::time::Duration::from_secs(60), 10)));\n```")]
        pub fn gradual_recovery(mut self, period: core::time::Duration, start_percent: u32) -> Self {
            self.knobs.gradual_recovery = Some((period, start_percent));
            self
        }

        /// A permit (a call future, a request through the layer) dropped without a verdict
        /// after it has been out at least `after` counts as a failure: callers giving up on a
        /// hung dependency (see
        /// [`Config::count_abandoned_after`](crate::Config::count_abandoned_after)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.count_abandoned_after(std::time::Duration::from_secs(2)).build().unwrap();\nassert_eq!(b.config().abandoned_after(), Some(std::time::Duration::from_secs(2)));\n```")]
        pub fn count_abandoned_after(mut self, after: core::time::Duration) -> Self {
            self.knobs.abandoned_after = Some(after);
            self
        }

        /// The coarsest resolution the open period may be measured at, for open periods past
        /// 17.5 minutes on the 32-bit layout (see
        /// [`Config::open_time_resolution`](crate::Config::open_time_resolution)).
        ///
        /// # Examples
        ///
        #[doc = concat!("```\n", $example, "\nlet b = builder.open_time_resolution(std::time::Duration::from_millis(4)).build().unwrap();\nassert_eq!(b.config().open_time_resolution(), std::time::Duration::from_millis(4));\n```")]
        pub fn open_time_resolution(mut self, tick: core::time::Duration) -> Self {
            self.knobs.open_time_resolution = Some(tick);
            self
        }
    };
}
pub(crate) use knob_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knob_wins_over_the_base_whatever_the_order() {
        let knobs = Knobs { failure_threshold: Some(3), ..Knobs::default() };
        let base = Config::new().failure_threshold(9).half_open_probes(4);
        let c = knobs.apply(base).validate().unwrap();
        assert_eq!((c.failure_threshold(), c.half_open_probes()), (3, 4));
    }

    #[test]
    fn no_knob_leaves_the_base_as_it_is() {
        let base = Config::new().failure_threshold(9);
        assert_eq!(Knobs::default().apply(base), base);
    }
}
