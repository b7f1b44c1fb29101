//! The transition logs: the Python original's messages and fields. The one table of them (each
//! message, its level and fields) is in the crate docs, "Logs" (`lib.rs`): keep it in step with
//! the code below.

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
        // The Python original's message is the threshold's; any other way into OPEN says what
        // happened (a failed probe is not "opening" a circuit that was never closed).
        (State::Open, trigger) if !matches!(trigger, Trigger::FailureThreshold) => tracing::error!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "open",
            failure_count = t.failure_count,
            threshold = t.threshold,
            trigger = trigger.as_str(),
            "Circuit breaker '{}' {}",
            name,
            trigger.opening_message()
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
        (State::ForcedClosed, _) => tracing::warn!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = "forced_closed",
            failure_count = t.failure_count,
            threshold = t.threshold,
            "Circuit breaker '{}' forced closed",
            name
        ),
        // A state a later core adds: logged with its name until it gets a message of its own.
        (to, _) => tracing::info!(
            target: LOG_TARGET,
            circuit_breaker = name,
            key,
            state = to.as_str(),
            "Circuit breaker '{}' now {}",
            name,
            to.as_str()
        ),
    }
}
