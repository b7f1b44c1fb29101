//! Configuration and its validation.
//!
//! [`Config`] is a `const` builder; [`Config::validate`] checks every field against what the
//! word can represent on this target and returns [`ValidConfig`], which is what a breaker is built
//! from. Both steps are `const fn`, so a breaker can be a `static` in firmware.

use core::time::Duration;

use crate::layout::{MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES, MAX_RECOVERY_TIMEOUT_MS};
use crate::ConfigError;

/// Breaker settings, as given by the user. Defaults follow the seed's database breaker:
/// 5 consecutive failures, 60 s recovery timeout, 1 half-open probe, 1 success to close.
///
/// # Examples
///
/// ```
/// use breaker_core::Config;
/// use core::time::Duration;
///
/// let kafka = Config::new()
///     .failure_threshold(3)
///     .recovery_timeout(Duration::from_secs(30))
///     .validate()
///     .expect("valid config");
/// assert_eq!(kafka.failure_threshold(), 3);
/// assert_eq!(kafka.recovery_timeout(), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    failure_threshold: u32,
    recovery_timeout: Duration,
    half_open_probes: u32,
    successes_to_close: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// The defaults: 5 failures, 60 s, 1 probe, 1 success.
    pub const fn new() -> Self {
        Config {
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(60),
            half_open_probes: 1,
            successes_to_close: 1,
        }
    }

    /// Consecutive failures in CLOSED that open the circuit (1..=65 535).
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n;
        self
    }

    /// How long OPEN rejects before admitting a probe: whole milliseconds, non-zero, at most
    /// 2^45 − 1 ms on the 64-bit layout and 2^22 − 1 ms (69.9 min) on the 32-bit layout.
    pub const fn recovery_timeout(mut self, d: Duration) -> Self {
        self.recovery_timeout = d;
        self
    }

    /// How many probe calls HALF_OPEN admits per cycle before their outcomes are in (1..=255).
    /// A probe that ends without a verdict (ignored, or its permit dropped) gives its slot back.
    pub const fn half_open_probes(mut self, n: u32) -> Self {
        self.half_open_probes = n;
        self
    }

    /// Successful probes that close the circuit (1..=`half_open_probes`).
    pub const fn successes_to_close(mut self, n: u32) -> Self {
        self.successes_to_close = n;
        self
    }

    /// Checks every field; the first offending one is named in the error.
    pub const fn validate(self) -> Result<ValidConfig, ConfigError> {
        if self.failure_threshold == 0 {
            return Err(ConfigError::Zero {
                field: "failure_threshold",
            });
        }
        if self.failure_threshold > MAX_FAILURE_THRESHOLD {
            return Err(ConfigError::TooLarge {
                field: "failure_threshold",
                value: self.failure_threshold as u64,
                max: MAX_FAILURE_THRESHOLD as u64,
            });
        }
        if self.recovery_timeout.is_zero() {
            return Err(ConfigError::Zero {
                field: "recovery_timeout",
            });
        }
        if self.recovery_timeout.subsec_nanos() % 1_000_000 != 0 {
            return Err(ConfigError::SubMillisecond {
                field: "recovery_timeout",
            });
        }
        let ms = self.recovery_timeout.as_millis();
        if ms > MAX_RECOVERY_TIMEOUT_MS as u128 {
            return Err(ConfigError::TooLarge {
                field: "recovery_timeout",
                value: if ms > u64::MAX as u128 {
                    u64::MAX
                } else {
                    ms as u64
                },
                max: MAX_RECOVERY_TIMEOUT_MS,
            });
        }
        if self.half_open_probes == 0 {
            return Err(ConfigError::Zero {
                field: "half_open_probes",
            });
        }
        if self.half_open_probes > MAX_HALF_OPEN_PROBES {
            return Err(ConfigError::TooLarge {
                field: "half_open_probes",
                value: self.half_open_probes as u64,
                max: MAX_HALF_OPEN_PROBES as u64,
            });
        }
        if self.successes_to_close == 0 {
            return Err(ConfigError::Zero {
                field: "successes_to_close",
            });
        }
        if self.successes_to_close > self.half_open_probes {
            return Err(ConfigError::SuccessesExceedProbes {
                successes_to_close: self.successes_to_close,
                half_open_probes: self.half_open_probes,
            });
        }
        Ok(ValidConfig {
            failure_threshold: self.failure_threshold,
            recovery_timeout_ms: ms as u64,
            half_open_probes: self.half_open_probes,
            successes_to_close: self.successes_to_close,
        })
    }
}

/// A configuration that passed [`Config::validate`]: every value fits the word.
///
/// # Examples
///
/// ```
/// use breaker_core::{Config, ValidConfig};
///
/// const DATABASE: ValidConfig = match Config::new().validate() {
///     Ok(c) => c,
///     Err(_) => panic!("invalid database breaker config"), // a compile error, not a runtime panic
/// };
/// assert_eq!(DATABASE.failure_threshold(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidConfig {
    pub(crate) failure_threshold: u32,
    pub(crate) recovery_timeout_ms: u64,
    pub(crate) half_open_probes: u32,
    pub(crate) successes_to_close: u32,
}

impl ValidConfig {
    /// Consecutive failures that open the circuit.
    pub const fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long OPEN rejects before admitting a probe.
    pub const fn recovery_timeout(&self) -> Duration {
        Duration::from_millis(self.recovery_timeout_ms)
    }

    /// Probe calls admitted per half-open cycle.
    pub const fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }

    /// Successful probes that close the circuit.
    pub const fn successes_to_close(&self) -> u32 {
        self.successes_to_close
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::MAX_RECOVERY_TIMEOUT_MS;

    #[test]
    fn defaults_are_the_seed_database_breaker() {
        let c = Config::new().validate().unwrap();
        assert_eq!(c.failure_threshold(), 5);
        assert_eq!(c.recovery_timeout(), Duration::from_secs(60));
        assert_eq!((c.half_open_probes(), c.successes_to_close()), (1, 1));
        assert_eq!(Config::default(), Config::new());
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let cases = [
            (
                Config::new().failure_threshold(0),
                ConfigError::Zero {
                    field: "failure_threshold",
                },
            ),
            (
                Config::new().failure_threshold(MAX_FAILURE_THRESHOLD + 1),
                ConfigError::TooLarge {
                    field: "failure_threshold",
                    value: MAX_FAILURE_THRESHOLD as u64 + 1,
                    max: MAX_FAILURE_THRESHOLD as u64,
                },
            ),
            (
                Config::new().recovery_timeout(Duration::ZERO),
                ConfigError::Zero {
                    field: "recovery_timeout",
                },
            ),
            (
                Config::new().recovery_timeout(Duration::from_micros(1_500)),
                ConfigError::SubMillisecond {
                    field: "recovery_timeout",
                },
            ),
            (
                Config::new().recovery_timeout(Duration::from_millis(MAX_RECOVERY_TIMEOUT_MS + 1)),
                ConfigError::TooLarge {
                    field: "recovery_timeout",
                    value: MAX_RECOVERY_TIMEOUT_MS + 1,
                    max: MAX_RECOVERY_TIMEOUT_MS,
                },
            ),
            (
                Config::new().recovery_timeout(Duration::MAX),
                ConfigError::SubMillisecond {
                    field: "recovery_timeout",
                },
            ),
            (
                Config::new().recovery_timeout(Duration::from_secs(u64::MAX)),
                ConfigError::TooLarge {
                    field: "recovery_timeout",
                    value: u64::MAX,
                    max: MAX_RECOVERY_TIMEOUT_MS,
                },
            ),
            (
                Config::new().half_open_probes(0),
                ConfigError::Zero {
                    field: "half_open_probes",
                },
            ),
            (
                Config::new().half_open_probes(256).successes_to_close(1),
                ConfigError::TooLarge {
                    field: "half_open_probes",
                    value: 256,
                    max: 255,
                },
            ),
            (
                Config::new().successes_to_close(0),
                ConfigError::Zero {
                    field: "successes_to_close",
                },
            ),
            (
                Config::new().half_open_probes(2).successes_to_close(3),
                ConfigError::SuccessesExceedProbes {
                    successes_to_close: 3,
                    half_open_probes: 2,
                },
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected), "{config:?}");
        }
    }

    #[test]
    fn limits_themselves_are_accepted() {
        let c = Config::new()
            .failure_threshold(MAX_FAILURE_THRESHOLD)
            .recovery_timeout(Duration::from_millis(MAX_RECOVERY_TIMEOUT_MS))
            .half_open_probes(MAX_HALF_OPEN_PROBES)
            .successes_to_close(MAX_HALF_OPEN_PROBES)
            .validate()
            .unwrap();
        assert_eq!(
            c.recovery_timeout(),
            Duration::from_millis(MAX_RECOVERY_TIMEOUT_MS)
        );
        let one_ms = Config::new()
            .recovery_timeout(Duration::from_millis(1))
            .validate()
            .unwrap();
        assert_eq!(one_ms.recovery_timeout(), Duration::from_millis(1));
    }
}
