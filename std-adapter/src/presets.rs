//! The seed's two protected services, as builders to take as they are or adjust.
//!
//! | preset | name | failure threshold | recovery timeout |
//! |---|---|---|---|
//! | [`database`] | `"database"` | 5 | 60 s |
//! | [`kafka`] | `"kafka"` | 3 | 30 s |

use core::time::Duration;

use breaker_core::Config;

use crate::{Breaker, Builder};

/// The seed's database breaker config: 5 consecutive failures, 60 s recovery timeout.
///
/// # Examples
///
/// ```
/// let c = breaker_std::presets::DATABASE.validate().unwrap();
/// assert_eq!(c.failure_threshold(), 5);
/// ```
pub const DATABASE: Config = Config::new().failure_threshold(5).recovery_timeout(Duration::from_secs(60));

/// The seed's Kafka breaker config: 3 consecutive failures, 30 s recovery timeout.
///
/// # Examples
///
/// ```
/// let c = breaker_std::presets::KAFKA.validate().unwrap();
/// assert_eq!(c.failure_threshold(), 3);
/// ```
pub const KAFKA: Config = Config::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30));

/// The seed's database breaker: named `"database"`, 5 failures, 60 s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let database_breaker = breaker_std::presets::database().build().unwrap();
/// assert_eq!(database_breaker.name(), "database");
/// assert_eq!(database_breaker.config().failure_threshold(), 5);
/// assert_eq!(database_breaker.config().recovery_timeout(), Duration::from_secs(60));
/// ```
pub fn database() -> Builder {
    Breaker::builder("database").config(DATABASE)
}

/// The seed's Kafka breaker: named `"kafka"`, 3 failures, 30 s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let kafka_breaker = breaker_std::presets::kafka().build().unwrap();
/// assert_eq!(kafka_breaker.name(), "kafka");
/// assert_eq!(kafka_breaker.config().failure_threshold(), 3);
/// assert_eq!(kafka_breaker.config().recovery_timeout(), Duration::from_secs(30));
/// ```
pub fn kafka() -> Builder {
    Breaker::builder("kafka").config(KAFKA)
}
