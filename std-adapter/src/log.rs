//! The transition logs, with the seed's messages and fields.
//!
//! | transition | level | message | fields |
//! |---|---|---|---|
//! | → OPEN (threshold reached, or a probe failed) | ERROR | `Circuit breaker '{name}' opening circuit` | `circuit_breaker`, `state = "open"`, `failure_count`, `threshold` |
//! | OPEN → HALF_OPEN | INFO | `Circuit breaker '{name}' transitioning to HALF_OPEN` | `circuit_breaker`, `state = "half_open"`, `elapsed_seconds` |
//! | HALF_OPEN → CLOSED | INFO | `Circuit breaker '{name}' recovered, closing circuit` | `circuit_breaker`, `state = "closed"` |
//! | force open | WARN | `Circuit breaker '{name}' forced open` | `circuit_breaker`, `state = "forced_open"`, `failure_count`, `threshold` |
//! | force closed | WARN | `Circuit breaker '{name}' forced closed` | `circuit_breaker`, `state = "disabled"`, `failure_count`, `threshold` |
//! | reset | INFO | `Circuit breaker '{name}' reset, closing circuit` | `circuit_breaker`, `state = "closed"`, `failure_count`, `threshold` |
//! | restore (a saved state put back, any state) | INFO | `Circuit breaker '{name}' restored, {state}` | `circuit_breaker`, `state`, `failure_count`, `retry_after_seconds` (into OPEN) |
//!
//! Breakers of a keyed family add `key`. The target is `breaker_std`.

use breaker_core::{State, Transition, Trigger};

use crate::LOG_TARGET;

/// Logs one transition.
pub(crate) fn transition(t: &Transition, key: Option<&str>) {
    let name = t.name;
    match (t.to, t.trigger) {
        // Not the threshold's or the recovery's message: nothing failed or recovered just now.
        (to, Trigger::Restore) => tracing::info!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = to.as_str(),
            failure_count = t.failure_count,
            retry_after_seconds = t
                .open_duration
                .map(|d| d.saturating_sub(t.open_for.unwrap_or_default()).as_secs_f64()),
            "Circuit breaker '{}' restored, {}",
            name,
            to.as_str()
        ),
        (State::Open, _) => tracing::error!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "open",
            failure_count = t.failure_count,
            threshold = t.threshold,
            "Circuit breaker '{}' opening circuit",
            name
        ),
        (State::HalfOpen, _) => tracing::info!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "half_open",
            elapsed_seconds = t.open_for.map_or(0.0, |d| d.as_secs_f64()),
            "Circuit breaker '{}' transitioning to HALF_OPEN",
            name
        ),
        (State::Closed, Trigger::Reset) => tracing::info!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "closed",
            failure_count = t.failure_count,
            threshold = t.threshold,
            "Circuit breaker '{}' reset, closing circuit",
            name
        ),
        (State::Closed, _) => tracing::info!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "closed",
            "Circuit breaker '{}' recovered, closing circuit",
            name
        ),
        (State::ForcedOpen, _) => tracing::warn!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "forced_open",
            failure_count = t.failure_count,
            threshold = t.threshold,
            "Circuit breaker '{}' forced open",
            name
        ),
        (State::Disabled, _) => tracing::warn!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "disabled",
            failure_count = t.failure_count,
            threshold = t.threshold,
            "Circuit breaker '{}' forced closed",
            name
        ),
    }
}
