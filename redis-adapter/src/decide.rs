//! Every decision of the fleet, as pure functions of what was read: what a local trip,
//! recovery or operator command writes to the fleet record ([`on_trip`], [`on_recovered`],
//! [`on_manual`]), what an incoming record does to the local breaker ([`plan_apply`]), and what
//! the local breaker did since it was last looked at ([`observe`]). The background task only
//! reads, calls these, and applies their answers.

use breaker_core::{RestoreError, State};

use crate::message::{Cause, FleetState, Record, Rejected, VERSION};
use crate::mode::Mode;

/// The epoch of the record that follows `current`: Redis' clock in µs, or one more than the
/// current epoch if that is higher (a clock step back, or records written within one µs). After
/// Redis restarts empty the clock reading is above every epoch written before the restart, as
/// long as Redis' host clock did not step back by more than the downtime.
pub(crate) fn next_epoch(current: Option<&Record>, now_us: u64) -> u64 {
    let floor = current.map_or(0, |r| r.epoch.saturating_add(1));
    now_us.max(floor).max(1)
}

/// What a replica's own trip adds to the fleet.
#[derive(Clone, Debug)]
pub(crate) struct Trip<'a> {
    pub(crate) name: &'a str,
    pub(crate) me: &'a str,
    pub(crate) mode: Mode,
    /// The backoff level of the local open cycle.
    pub(crate) level: u32,
    /// How long the local breaker stays open, ms.
    pub(crate) open_ms: u64,
    /// The trip is the failure of a fleet probe (this replica held a probe lease): it reopens
    /// the fleet even if the fleet's open period is not quite over on Redis' clock.
    pub(crate) fleet_probe: bool,
}

/// The record to write after a local trip, given the record read, the replicas whose trips are
/// within the mode's window (the store pruned older ones, and includes this one), the live
/// replicas and Redis' clock; `None` when the fleet does not change: it is forced, already open,
/// or the quorum is not reached.
pub(crate) fn on_trip(
    trip: &Trip<'_>,
    current: Option<&Record>,
    voters: &[String],
    live: u32,
    now_ms: u64,
    now_us: u64,
) -> Option<Record> {
    if let Some(r) = current {
        match r.state {
            FleetState::ForcedOpen | FleetState::ForcedClosed => return None,
            FleetState::Open if r.remaining_ms(now_ms) > 0 && !trip.fleet_probe => return None,
            FleetState::Open | FleetState::Closed => {}
        }
    }
    let mut voters: Vec<String> = voters.to_vec();
    if !voters.iter().any(|v| v == trip.me) {
        voters.push(trip.me.to_owned());
    }
    voters.sort();
    voters.dedup();
    let count = u32::try_from(voters.len()).unwrap_or(u32::MAX);
    // A failed fleet probe speaks for the fleet whose cycle it probed: the quorum opened that
    // cycle already, and the probe's outcome is everyone's. (Asking for a quorum again would
    // leave the other replicas free to take the next lease and probe in the same cycle.) The
    // reopen never lowers the fleet's backoff level. Left open: the lease goes to whichever
    // replica asks first, so a replica whose own path to the dependency is broken, if it wins
    // the lease, keeps the fleet open one more cycle (each cycle with probability about one in
    // the number of replicas asking); rotating the lease away from the last failed prober is
    // the fix, in the lease script.
    let fleet_cycle = trip.fleet_probe && current.is_some_and(|r| r.state == FleetState::Open);
    if count < trip.mode.needed(live) && !fleet_cycle {
        return None;
    }
    let level = match current {
        Some(r) if fleet_cycle => trip.level.max(r.level),
        _ => trip.level,
    };
    voters.truncate(crate::message::MAX_VOTERS);
    Some(Record {
        v: VERSION,
        name: trip.name.to_owned(),
        epoch: next_epoch(current, now_us),
        state: FleetState::Open,
        cause: Cause::Trips,
        level,
        opened_at_ms: now_ms,
        open_ms: trip.open_ms.clamp(1, crate::message::MAX_OPEN_MS),
        written_ms: now_ms,
        by: trip.me.to_owned(),
        voters,
    })
}

/// Shared counts: the record to write when the fleet's failures in the window (`total`, from
/// the replicas in `contributors`) reach the mode's threshold; `None` when they do not, or the
/// fleet is already open or forced. The fleet opens for this replica's open period.
#[allow(clippy::too_many_arguments)]
pub(crate) fn on_counts(
    name: &str,
    me: &str,
    mode: Mode,
    current: Option<&Record>,
    total: u64,
    contributors: &[String],
    open_ms: u64,
    now_ms: u64,
    now_us: u64,
) -> Option<Record> {
    if total < u64::from(mode.needed(0)) {
        return None;
    }
    if let Some(r) = current {
        match r.state {
            FleetState::ForcedOpen | FleetState::ForcedClosed => return None,
            FleetState::Open if r.remaining_ms(now_ms) > 0 => return None,
            FleetState::Open | FleetState::Closed => {}
        }
    }
    let mut voters: Vec<String> =
        contributors.iter().filter(|v| crate::message::valid_id(v)).cloned().collect();
    voters.sort();
    voters.dedup();
    voters.truncate(crate::message::MAX_VOTERS);
    Some(Record {
        v: VERSION,
        name: name.to_owned(),
        epoch: next_epoch(current, now_us),
        state: FleetState::Open,
        cause: Cause::Trips,
        level: 0,
        opened_at_ms: now_ms,
        open_ms: open_ms.clamp(1, crate::message::MAX_OPEN_MS),
        written_ms: now_ms,
        by: me.to_owned(),
        voters,
    })
}

/// The record to write after a replica's probe closed its breaker: the fleet closes if it was
/// open; otherwise nothing changes.
pub(crate) fn on_recovered(
    name: &str,
    me: &str,
    current: Option<&Record>,
    now_ms: u64,
    now_us: u64,
) -> Option<Record> {
    match current {
        Some(r) if r.state == FleetState::Open => {
            Some(Record::closed(name, next_epoch(current, now_us), Cause::Recovered, now_ms, me))
        }
        _ => None,
    }
}

/// An operator's fleet-wide command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Manual {
    ForceOpen,
    ForceClosed,
    Reset,
}

impl Manual {
    pub(crate) fn cause(self) -> Cause {
        match self {
            Manual::ForceOpen => Cause::ForceOpen,
            Manual::ForceClosed => Cause::ForceClosed,
            Manual::Reset => Cause::Reset,
        }
    }
}

/// The record an operator's command writes: always a new one, whatever the current state.
pub(crate) fn on_manual(
    name: &str,
    me: &str,
    op: Manual,
    current: Option<&Record>,
    now_ms: u64,
    now_us: u64,
) -> Record {
    Record::closed(name, next_epoch(current, now_us), op.cause(), now_ms, me)
}

/// What this replica knows of its breaker when a record arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Local {
    /// The local breaker's state.
    pub(crate) state: State,
    /// The epoch of the last record applied (0: none).
    pub(crate) epoch: u64,
    /// Whether the local breaker is in a forced state that the fleet put it in (as opposed to
    /// an operator's local override).
    pub(crate) forced_by_fleet: bool,
    /// Fleet probes are on: an OPEN or HALF_OPEN replica (no probe of its own in flight) follows
    /// a newer fleet open too, so the fleet's cycle (and its backoff level) is everyone's.
    pub(crate) follow_open: bool,
}

/// What an incoming record does to the local breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Apply {
    /// Already there, or the fleet's open period is over: only the epoch is recorded.
    Nothing,
    /// The breaker is under a local override (forced on this replica alone): it stays.
    Overridden,
    /// Open at `level` for `ms` (a restore of an OPEN state).
    Open { level: u32, ms: u64 },
    /// Close (a restore of a CLOSED state with no failures), after a replica's recovery.
    Close,
    /// `force_open`.
    ForceOpen,
    /// `force_closed`.
    ForceClosed,
    /// `reset`.
    Reset,
}

/// What `record` does to the local breaker, at Redis time `now_ms` (the record's own
/// `written_ms` for a published one, a fresh reading for one read from its key).
///
/// # Errors
///
/// [`Rejected::Stale`] for an epoch below the last one applied (equal: [`Apply::Nothing`], the
/// same record seen twice).
pub(crate) fn plan_apply(local: Local, record: &Record, now_ms: u64) -> Result<Apply, Rejected> {
    if record.epoch < local.epoch {
        return Err(Rejected::Stale);
    }
    if record.epoch == local.epoch {
        return Ok(Apply::Nothing);
    }
    let forced = matches!(local.state, State::ForcedOpen | State::ForcedClosed);
    if forced && !local.forced_by_fleet {
        return Ok(Apply::Overridden);
    }
    Ok(match record.state {
        FleetState::Open => {
            let ms = record.remaining_ms(now_ms);
            match local.state {
                _ if ms == 0 => Apply::Nothing,
                State::Closed | State::ForcedOpen | State::ForcedClosed => {
                    Apply::Open { level: record.level, ms }
                }
                State::Open | State::HalfOpen if local.follow_open => Apply::Open { level: record.level, ms },
                _ => Apply::Nothing,
            }
        }
        FleetState::Closed => match (record.cause, local.state) {
            (Cause::Reset, _) => Apply::Reset,
            (_, State::Open | State::HalfOpen) => Apply::Close,
            (_, State::ForcedOpen | State::ForcedClosed) => Apply::Reset,
            _ => Apply::Nothing,
        },
        FleetState::ForcedOpen if local.state == State::ForcedOpen => Apply::Nothing,
        FleetState::ForcedOpen => Apply::ForceOpen,
        FleetState::ForcedClosed if local.state == State::ForcedClosed => Apply::Nothing,
        FleetState::ForcedClosed => Apply::ForceClosed,
    })
}

/// A restore the breaker refused, made to fit its config: a backoff level above its highest is
/// cut to the highest, an open time above its longest at that level to the longest. `None`:
/// nothing to fit (another kind of error).
pub(crate) fn fit(level: u32, ms: u64, err: RestoreError) -> Option<(u32, u64)> {
    match err {
        RestoreError::BackoffLevel { max, .. } if max < level => Some((max, ms)),
        RestoreError::RetryAfter { max_ms, .. } if max_ms < ms => Some((level, max_ms)),
        _ => None,
    }
}

/// With fleet probes: what a replica does as its local open period ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Not the time, or not a fleet cycle: the local breaker decides alone.
    Leave,
    /// Ask Redis for a probe lease (then probe, or hold).
    Ask,
}

/// Whether to ask for a probe lease: the fleet is open (a fleet cycle), Redis is reachable (or
/// the local breaker probes alone: a store failure never strands a replica open), the replica
/// holds no lease yet, and its local breaker is about to admit a probe: OPEN with at most
/// `margin_ms` left, or ready to probe with none in flight.
pub(crate) fn probe(
    fleet_open: bool,
    online: bool,
    holds_lease: bool,
    state: State,
    retry_ms: Option<u64>,
    probes_in_flight: u32,
    margin_ms: u64,
) -> Probe {
    if !fleet_open || !online || holds_lease {
        return Probe::Leave;
    }
    match (state, retry_ms) {
        (State::Open, Some(ms)) if ms <= margin_ms => Probe::Ask,
        (State::HalfOpen, None) if probes_in_flight == 0 => Probe::Ask,
        _ => Probe::Leave,
    }
}

/// After a refused lease: the level and period to hold the breaker OPEN at (`Some`), or `None`
/// when it needs no hold. `asked_level` is the level when the lease was asked for; `state`,
/// `level` and `retry_ms` are read again after the round trip, because the breaker may have
/// moved meanwhile (a task late past the open period lets it probe on its own, and a failed
/// probe reopens it one backoff level up, a successful one closes it): a hold never lowers the
/// level, and it leaves alone a breaker already OPEN for at least the hold, one whose own probe
/// is out, and one no longer OPEN or HALF_OPEN (it recovered, or an operator forced it). What
/// the breaker did meanwhile is still reported: the task records its hold as seen only when
/// [`observe`] finds nothing to report in the re-read.
pub(crate) fn hold(
    asked_level: u32,
    state: State,
    level: u32,
    retry_ms: Option<u64>,
    probes_in_flight: u32,
    hold_ms: u64,
) -> Option<(u32, u64)> {
    match (state, retry_ms) {
        (State::Open, Some(ms)) if ms >= hold_ms => None,
        // A probe of its own is out (the task was late): holding would throw its answer away.
        (State::HalfOpen, _) if probes_in_flight > 0 => None,
        (State::Open | State::HalfOpen, _) => Some((asked_level.max(level), hold_ms)),
        _ => None,
    }
}

/// What the task saw of a local breaker last time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) state: State,
    pub(crate) generation: u32,
}

/// What the local breaker did since it was last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Observed {
    /// Nothing the fleet hears of.
    Nothing,
    /// It tripped (from CLOSED, or a failed probe): a vote.
    Trip { level: u32, open_ms: u64 },
    /// It closed after being open: its probe succeeded.
    Recovered,
}

/// Compares the local breaker's state now with what was seen last (the generation changes on
/// every transition). Changes the task made itself are recorded as seen right after it makes
/// them, so they do not come back here.
pub(crate) fn observe(seen: Seen, state: State, generation: u32, level: u32, retry_ms: u64) -> Observed {
    if generation == seen.generation {
        return Observed::Nothing;
    }
    match (seen.state, state) {
        (_, State::Open) => Observed::Trip { level, open_ms: retry_ms.max(1) },
        (State::Open | State::HalfOpen, State::Closed) => Observed::Recovered,
        _ => Observed::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const W: Duration = Duration::from_secs(10);

    fn trip(mode: Mode) -> Trip<'static> {
        Trip { name: "db", me: "a", mode, level: 0, open_ms: 5_000, fleet_probe: false }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn any_opens_on_the_first_trip() {
        let r = on_trip(&trip(Mode::Any), None, &ids(&["a"]), 3, 1_000, 1_000_000).unwrap();
        assert_eq!(
            (r.state, r.cause, r.open_ms, r.opened_at_ms),
            (FleetState::Open, Cause::Trips, 5_000, 1_000)
        );
        assert_eq!(r.voters, ids(&["a"]));
        assert_eq!(r.epoch, 1_000_000);
    }

    #[test]
    fn quorum_waits_for_distinct_replicas() {
        let q = Mode::Quorum { replicas: 2, window: W };
        assert_eq!(on_trip(&trip(q), None, &ids(&["a"]), 3, 1, 1), None);
        assert_eq!(on_trip(&trip(q), None, &[], 3, 1, 1), None, "the tripping replica counts once");
        let r = on_trip(&trip(q), None, &ids(&["b", "a"]), 3, 1, 1).unwrap();
        assert_eq!(r.voters, ids(&["a", "b"]));
        let share = Mode::Share { percent: 50, window: W };
        assert_eq!(on_trip(&trip(share), None, &ids(&["a", "b"]), 5, 1, 1), None);
        assert!(on_trip(&trip(share), None, &ids(&["a", "b", "c"]), 5, 1, 1).is_some());
    }

    #[test]
    fn an_open_or_forced_fleet_is_left_alone_and_an_expired_one_reopens() {
        let open = on_trip(&trip(Mode::Any), None, &[], 1, 1_000, 50).unwrap();
        assert_eq!(on_trip(&trip(Mode::Any), Some(&open), &[], 1, 5_999, 60), None);
        let again = on_trip(&trip(Mode::Any), Some(&open), &[], 1, 6_000, 40).unwrap();
        assert_eq!(again.epoch, open.epoch + 1, "epochs only grow, whatever the clock says");
        let forced = on_manual("db", "a", Manual::ForceClosed, Some(&open), 7_000, 7_000_000);
        assert_eq!(on_trip(&trip(Mode::Any), Some(&forced), &[], 1, 8_000, 8_000_000), None);
    }

    #[test]
    fn shared_counts_open_at_the_fleet_sum() {
        let m = Mode::Counts { failures: 6, window: W };
        assert_eq!(on_counts("db", "a", m, None, 5, &ids(&["a", "b"]), 9_000, 1, 1), None);
        let r = on_counts("db", "a", m, None, 6, &ids(&["c", "a", "b"]), 9_000, 100, 1).unwrap();
        assert_eq!((r.state, r.open_ms, r.opened_at_ms), (FleetState::Open, 9_000, 100));
        assert_eq!(r.voters, ids(&["a", "b", "c"]));
        assert_eq!(on_counts("db", "a", m, Some(&r), 60, &[], 9_000, 200, 2), None, "open already");
        let forced = on_manual("db", "a", Manual::ForceClosed, Some(&r), 20_000, 3);
        assert_eq!(on_counts("db", "a", m, Some(&forced), 60, &[], 9_000, 20_000, 4), None);
    }

    #[test]
    fn recovery_closes_only_an_open_fleet() {
        let open = on_trip(&trip(Mode::Any), None, &[], 1, 1_000, 5).unwrap();
        let closed = on_recovered("db", "b", Some(&open), 2_000, 2).unwrap();
        assert_eq!((closed.state, closed.cause, closed.epoch), (FleetState::Closed, Cause::Recovered, 6));
        assert_eq!(on_recovered("db", "b", Some(&closed), 3_000, 3_000_000), None);
        assert_eq!(on_recovered("db", "b", None, 3_000, 3_000_000), None);
    }

    fn local(state: State, epoch: u64) -> Local {
        Local { state, epoch, forced_by_fleet: false, follow_open: false }
    }

    #[test]
    fn a_failed_fleet_probe_reopens_at_once_and_everyone_follows() {
        let open = on_trip(&trip(Mode::Any), None, &[], 1, 1_000, 50).unwrap();
        let probe = Trip { level: 1, fleet_probe: true, ..trip(Mode::Any) };
        let again = on_trip(&probe, Some(&open), &[], 1, 5_990, 60).unwrap();
        assert_eq!((again.level, again.opened_at_ms, again.epoch), (1, 5_990, 60));
        let follower = Local { follow_open: true, ..local(State::HalfOpen, open.epoch) };
        assert_eq!(plan_apply(follower, &again, 5_990), Ok(Apply::Open { level: 1, ms: 5_000 }));
        assert_eq!(plan_apply(local(State::HalfOpen, open.epoch), &again, 5_990), Ok(Apply::Nothing));
    }

    #[test]
    fn a_failed_fleet_probe_reopens_a_quorum_fleet_without_a_new_quorum() {
        // Found by the end-to-end fleet test: with quorum 2, the leased prober's failure was a
        // single vote, so the fleet stayed as it was and another replica took the next lease
        // and probed in the same cycle.
        let q = Mode::Quorum { replicas: 2, window: W };
        let open = on_trip(&trip(q), None, &ids(&["a", "b"]), 3, 1_000, 50).unwrap();
        let probe = Trip { level: 1, fleet_probe: true, ..trip(q) };
        let again = on_trip(&probe, Some(&open), &ids(&["a"]), 3, 6_000, 60).unwrap();
        assert_eq!((again.state, again.level, again.epoch), (FleetState::Open, 1, 60));
        // Not a fleet probe, or no fleet cycle under way: the quorum rule as before.
        assert_eq!(on_trip(&trip(q), Some(&open), &ids(&["a"]), 3, 6_000, 60), None);
        let closed = on_recovered("db", "b", Some(&open), 2_000, 70).unwrap();
        assert_eq!(on_trip(&probe, Some(&closed), &ids(&["a"]), 3, 6_000, 80), None);
        // The reopen keeps the fleet's level when the prober's is lower.
        let high = Record { level: 3, ..again.clone() };
        let low = Trip { level: 1, fleet_probe: true, ..trip(q) };
        assert_eq!(on_trip(&low, Some(&high), &ids(&["a"]), 3, 9_000, 90).unwrap().level, 3);
    }

    #[test]
    fn a_lease_is_asked_for_only_at_the_end_of_a_fleet_cycle() {
        assert_eq!(probe(true, true, false, State::Open, Some(30), 0, 50), Probe::Ask);
        assert_eq!(probe(true, true, false, State::HalfOpen, None, 0, 50), Probe::Ask);
        assert_eq!(probe(true, true, false, State::Open, Some(51), 0, 50), Probe::Leave);
        assert_eq!(probe(true, true, false, State::HalfOpen, None, 1, 50), Probe::Leave, "probing already");
        assert_eq!(probe(false, true, false, State::Open, Some(1), 0, 50), Probe::Leave, "not a fleet cycle");
        assert_eq!(probe(true, false, false, State::Open, Some(1), 0, 50), Probe::Leave, "Redis down: alone");
        assert_eq!(probe(true, true, true, State::Open, Some(1), 0, 50), Probe::Leave, "holds one");
        assert_eq!(probe(true, true, false, State::Closed, None, 0, 50), Probe::Leave);
    }

    #[test]
    fn stale_and_repeated_records_change_nothing() {
        let open = on_trip(&trip(Mode::Any), None, &[], 1, 1_000, 100).unwrap();
        assert_eq!(plan_apply(local(State::Closed, 101), &open, 1_000), Err(Rejected::Stale));
        assert_eq!(plan_apply(local(State::Closed, 100), &open, 1_000), Ok(Apply::Nothing));
        assert_eq!(
            plan_apply(local(State::Closed, 99), &open, 1_000),
            Ok(Apply::Open { level: 0, ms: 5_000 })
        );
    }

    #[test]
    fn an_open_record_opens_a_closed_replica_for_the_time_left() {
        let open = on_trip(&trip(Mode::Any), None, &[], 1, 1_000, 100).unwrap();
        assert_eq!(
            plan_apply(local(State::Closed, 0), &open, 3_000),
            Ok(Apply::Open { level: 0, ms: 3_000 })
        );
        assert_eq!(plan_apply(local(State::Closed, 0), &open, 6_000), Ok(Apply::Nothing), "over already");
        assert_eq!(plan_apply(local(State::Open, 0), &open, 3_000), Ok(Apply::Nothing));
        assert_eq!(plan_apply(local(State::HalfOpen, 0), &open, 3_000), Ok(Apply::Nothing));
        assert_eq!(plan_apply(local(State::ForcedOpen, 0), &open, 3_000), Ok(Apply::Overridden));
    }

    #[test]
    fn manual_records_reach_every_state_but_a_local_override() {
        let fo = on_manual("db", "a", Manual::ForceOpen, None, 1, 1);
        let fc = on_manual("db", "a", Manual::ForceClosed, Some(&fo), 1, 1);
        let reset = on_manual("db", "a", Manual::Reset, Some(&fc), 1, 1);
        for s in [State::Closed, State::Open, State::HalfOpen] {
            assert_eq!(plan_apply(local(s, 0), &fo, 1), Ok(Apply::ForceOpen));
            assert_eq!(plan_apply(local(s, 0), &fc, 1), Ok(Apply::ForceClosed));
            assert_eq!(plan_apply(local(s, 0), &reset, 1), Ok(Apply::Reset));
        }
        let by_fleet =
            Local { state: State::ForcedOpen, epoch: 0, forced_by_fleet: true, follow_open: false };
        assert_eq!(plan_apply(by_fleet, &reset, 1), Ok(Apply::Reset));
        assert_eq!(plan_apply(by_fleet, &fo, 1), Ok(Apply::Nothing));
        assert_eq!(plan_apply(by_fleet, &fc, 1), Ok(Apply::ForceClosed));
        assert_eq!(plan_apply(local(State::ForcedClosed, 0), &reset, 1), Ok(Apply::Overridden));
    }

    #[test]
    fn a_recovery_closes_open_replicas_and_ends_fleet_forced_ones() {
        let rec = Record::closed("db", 9, Cause::Recovered, 1, "b");
        assert_eq!(plan_apply(local(State::Open, 0), &rec, 1), Ok(Apply::Close));
        assert_eq!(plan_apply(local(State::HalfOpen, 0), &rec, 1), Ok(Apply::Close));
        assert_eq!(plan_apply(local(State::Closed, 0), &rec, 1), Ok(Apply::Nothing));
    }

    #[test]
    fn refused_restores_are_fitted_once_per_field() {
        assert_eq!(fit(9, 10, RestoreError::BackoffLevel { level: 9, max: 3 }), Some((3, 10)));
        assert_eq!(
            fit(1, 90_000, RestoreError::RetryAfter { ms: 90_000, max_ms: 60_000 }),
            Some((1, 60_000))
        );
        assert_eq!(fit(1, 10, RestoreError::Corrupt), None);
        assert_eq!(fit(1, 10, RestoreError::RetryAfter { ms: 10, max_ms: 10 }), None, "no loop");
    }

    #[test]
    fn observe_reports_trips_and_recoveries_once() {
        let seen = Seen { state: State::Closed, generation: 4 };
        assert_eq!(observe(seen, State::Open, 4, 0, 9), Observed::Nothing);
        assert_eq!(observe(seen, State::Open, 5, 2, 9), Observed::Trip { level: 2, open_ms: 9 });
        let half = Seen { state: State::HalfOpen, generation: 6 };
        assert_eq!(observe(half, State::Open, 7, 1, 0), Observed::Trip { level: 1, open_ms: 1 });
        assert_eq!(observe(half, State::Closed, 7, 0, 0), Observed::Recovered);
        let open = Seen { state: State::Open, generation: 6 };
        assert_eq!(observe(open, State::Closed, 8, 0, 0), Observed::Recovered);
        assert_eq!(observe(seen, State::ForcedOpen, 5, 0, 0), Observed::Nothing, "a local override");
    }

    #[test]
    fn epochs_grow_past_the_clock_and_the_previous_record() {
        assert_eq!(next_epoch(None, 0), 1);
        assert_eq!(next_epoch(None, 77), 77);
        let r = Record::closed("db", 100, Cause::Reset, 1, "a");
        assert_eq!(next_epoch(Some(&r), 50), 101);
        assert_eq!(next_epoch(Some(&r), 500), 500);
    }

    #[test]
    fn a_hold_reads_the_breaker_again_and_never_lowers_its_level_or_undoes_a_recovery() {
        // As asked: OPEN, 20 ms left, level 1: held at level 1 for the half lease.
        assert_eq!(hold(1, State::Open, 1, Some(20), 0, 500), Some((1, 500)));
        // Ready to probe (HALF_OPEN, nothing in flight): held.
        assert_eq!(hold(1, State::HalfOpen, 1, None, 0, 500), Some((1, 500)));
        // Its own probe is out (the task was late): left to finish.
        assert_eq!(hold(1, State::HalfOpen, 1, None, 1, 500), None);
        // A local probe failed during the round trip: level 2, a longer period than the hold.
        assert_eq!(hold(1, State::Open, 2, Some(4_000), 0, 500), None);
        // ... or a shorter one left: held, at the higher level.
        assert_eq!(hold(1, State::Open, 2, Some(100), 0, 500), Some((2, 500)));
        // A local probe succeeded: CLOSED stays CLOSED.
        assert_eq!(hold(1, State::Closed, 0, None, 0, 500), None);
        // An operator forced it meanwhile: left alone.
        assert_eq!(hold(1, State::ForcedOpen, 1, None, 0, 500), None);
        assert_eq!(hold(1, State::ForcedClosed, 1, None, 0, 500), None);
        // What it did meanwhile is reported (the task keeps `seen` when this is not Nothing):
        let seen = Seen { state: State::Open, generation: 7 };
        assert_eq!(observe(seen, State::HalfOpen, 8, 1, 0), Observed::Nothing, "ready: nothing");
        assert_eq!(observe(seen, State::Open, 9, 2, 100), Observed::Trip { level: 2, open_ms: 100 });
        assert_eq!(observe(seen, State::Closed, 9, 0, 0), Observed::Recovered);
    }
}
