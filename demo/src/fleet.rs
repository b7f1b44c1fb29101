//! Sharing the two breakers across the service's replicas through Redis (breaker-redis), when
//! `REDIS_URL` is set: both in the same mode (`FLEET_MODE`, `FLEET_WINDOW_MS`), with the same
//! probe leases (`FLEET_PROBE_LEASES`, `FLEET_LEASE_MS`).
//!
//! Calls never wait on Redis: they go to the local breakers, and the fleet's background task
//! moves trips, recoveries and manual commands between the replicas. Redis down is not an
//! outage: each replica runs on its own breakers, and `/health/detailed` says `degraded`.

use breaker_redis::{FailureCounter, Fleet, FleetError, FleetHealth, Mode};
use tokio::sync::RwLock;

use crate::config::FleetConfig;

/// The names of the shared breakers: every breaker of the demo.
pub(crate) const SHARED: [&str; 2] = ["database", "kafka"];

/// A manual command of the admin endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    ForceOpen,
    ForceClosed,
    Reset,
}

impl Action {
    pub(crate) fn parse(action: &str) -> Option<Action> {
        match action {
            "force_open" => Some(Action::ForceOpen),
            "force_closed" => Some(Action::ForceClosed),
            "reset" => Some(Action::Reset),
            _ => None,
        }
    }
}

/// The counter a registry needs for [`Mode::Counts`] (a listener counting the shared breakers'
/// failures), or `None` in the other modes (no listener, nothing per call).
pub(crate) fn counter_for(config: Option<&FleetConfig>) -> Option<FailureCounter> {
    config.filter(|c| matches!(c.mode, Mode::Counts { .. })).map(|_| FailureCounter::new(&SHARED))
}

/// The running fleet. Behind a lock only so that shutdown can take it (`Fleet::shutdown`
/// consumes it) while handlers borrow it across their `await`.
pub(crate) struct Sharing {
    fleet: RwLock<Option<Fleet>>,
}

impl Sharing {
    /// Shares `breakers` as `config` says; starts the background task (Redis is reached by the
    /// task: the fleet is degraded until it is). Errors name the setting at fault.
    pub(crate) fn start(
        config: &FleetConfig,
        breakers: &[&'static breaker_tokio::Breaker],
        counter: Option<FailureCounter>,
    ) -> Result<Sharing, String> {
        let mut builder = Fleet::builder(config.redis_url.as_str()).replica_id(config.replica_id.as_str());
        for &breaker in breakers {
            builder = builder.share(breaker, config.mode);
        }
        if let Some((max, lease)) = config.probe_leases {
            builder = builder.probe_leases(max, lease);
        }
        if let Some(poll) = config.poll_interval {
            builder = builder.poll_interval(poll);
        }
        if let Some(counter) = counter {
            builder = builder.counter(counter);
        }
        let fleet = builder.start().map_err(|e| start_error(&e))?;
        Ok(Sharing { fleet: RwLock::new(Some(fleet)) })
    }

    /// The fleet as this replica sees it (`None` once shut down).
    pub(crate) async fn health(&self) -> Option<FleetHealth> {
        self.fleet.read().await.as_ref().map(Fleet::health)
    }

    /// `action` on `name`, through the fleet: applied here at once (whatever Redis does), on
    /// every replica when they get the record.
    pub(crate) async fn control(&self, name: &str, action: Action) -> Result<(), FleetError> {
        let fleet = self.fleet.read().await;
        let Some(fleet) = fleet.as_ref() else { return Err(FleetError::Stopped) };
        match action {
            Action::ForceOpen => fleet.force_open(name).await,
            Action::ForceClosed => fleet.force_closed(name).await,
            Action::Reset => fleet.reset(name).await,
        }
    }

    /// Stops the background task and waits for it; the breakers keep working, alone.
    pub(crate) async fn shutdown(&self) {
        let fleet = self.fleet.write().await.take();
        if let Some(fleet) = fleet {
            fleet.shutdown().await;
        }
    }
}

/// A [`FleetError`] of `start`, as a start-up error naming the setting at fault. (The config
/// has checked the replica id and the mode already; these are the second line.)
fn start_error(e: &FleetError) -> String {
    let setting = match e {
        FleetError::Url(_) => "REDIS_URL",
        FleetError::ReplicaId(_) => "REPLICA_ID",
        FleetError::Mode(_, breaker_redis::ModeError::Window(_)) => "FLEET_WINDOW_MS",
        FleetError::Mode(..) | FleetError::NoCounter(_) => "FLEET_MODE",
        FleetError::Timing("poll_interval") => "FLEET_POLL_MS",
        FleetError::Timing("probe_leases' lease") => "FLEET_LEASE_MS",
        FleetError::Timing("probe_leases' max") => "FLEET_PROBE_LEASES",
        _ => "REDIS_URL",
    };
    format!("{setting}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn start_errors_name_the_setting() {
        assert!(start_error(&FleetError::Url("bad".into())).starts_with("REDIS_URL: "));
        assert!(start_error(&FleetError::Timing("poll_interval")).starts_with("FLEET_POLL_MS: "));
        assert!(start_error(&FleetError::Timing("probe_leases' lease")).starts_with("FLEET_LEASE_MS: "));
        let window = breaker_redis::ModeError::Window(Duration::ZERO);
        assert!(start_error(&FleetError::Mode("kafka".into(), window)).starts_with("FLEET_WINDOW_MS: "));
        assert!(start_error(&FleetError::NoCounter("kafka".into())).starts_with("FLEET_MODE: "));
    }

    #[tokio::test]
    async fn a_url_the_redis_client_refuses_is_a_start_up_error() {
        let config = FleetConfig {
            redis_url: "redis://[::1/".into(),
            replica_id: "a".into(),
            mode: Mode::Any,
            probe_leases: None,
            poll_interval: None,
        };
        let e = Sharing::start(&config, &[], None).err().unwrap();
        assert!(e.starts_with("REDIS_URL: invalid Redis URL"), "{e}");
    }
}
