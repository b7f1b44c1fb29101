//! The background task: the only code that talks to Redis. It watches the local breakers
//! (one snapshot per breaker per poll), writes the fleet record when a decision says so,
//! applies the records it receives (published, or read by the periodic snapshot), and keeps
//! going whatever Redis does: every call has a timeout, every failure marks the replica
//! degraded and drops the connection, and the next successful connection reconciles.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use breaker_core::State;
use futures_util::StreamExt;
use redis::aio::PubSubStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::decide::{self, Apply, Local, Manual, Observed, Probe, Seen, Trip};
use crate::fleet::{Command, FleetError, Handle, Shared, Timings};
use crate::message::{FleetState, Record, Rejected};
use crate::mode::Mode;
use crate::store::{Keys, Store, StoreError, Vote};

/// The `tracing` target of the fleet's log lines.
pub(crate) const TARGET: &str = "breaker_redis";

pub(crate) struct Setup {
    pub(crate) client: redis::Client,
    pub(crate) replica: String,
    pub(crate) prefix: String,
    pub(crate) shared: Vec<(Handle, Mode)>,
    pub(crate) timings: Timings,
    pub(crate) counter: Option<crate::FailureCounter>,
    pub(crate) state: Arc<Shared>,
    pub(crate) commands: mpsc::Receiver<Command>,
}

struct Slot {
    handle: Handle,
    mode: Mode,
    seen: Seen,
    /// The epoch of the last record applied or written.
    epoch: u64,
    /// The last record applied or written.
    fleet: Option<Record>,
    /// The local forced state was put there by the fleet.
    forced_by_fleet: bool,
    /// The local breaker is open by its own trip (not by the fleet): republished on reconcile.
    local_trip: bool,
    /// An operator's command not yet written to Redis.
    pending: Option<Manual>,
    /// This replica holds a fleet probe lease for the breaker.
    lease: bool,
}

struct Task {
    store: Store,
    keys: Keys,
    me: String,
    slots: Vec<Slot>,
    timings: Timings,
    state: Arc<Shared>,
    marker: Option<String>,
    sub: Option<PubSubStream>,
    rng: u64,
    next_connect: Instant,
    counter: Option<crate::FailureCounter>,
}

/// A period cut or stretched by up to a quarter, from a xorshift step of `rng`.
pub(crate) fn jittered(period: Duration, rng: &mut u64) -> Duration {
    let mut x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    period.mul_f64(0.75 + 0.5 * unit)
}

fn forced(s: State) -> bool {
    matches!(s, State::ForcedOpen | State::ForcedClosed)
}

pub(crate) async fn run(setup: Setup) {
    let Setup { client, replica, prefix, shared, timings, counter, state, mut commands } = setup;
    let seed = replica
        .bytes()
        .fold(0x9E37_79B9_7F4A_7C15u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3))
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let slots = shared
        .into_iter()
        .map(|(handle, mode)| {
            let s = handle.snapshot();
            Slot {
                handle,
                mode,
                seen: Seen { state: s.state, generation: s.generation },
                epoch: 0,
                fleet: None,
                forced_by_fleet: false,
                local_trip: s.state == State::Open,
                pending: None,
                lease: false,
            }
        })
        .collect();
    let mut t = Task {
        store: Store::new(client, timings.op_timeout),
        keys: Keys::new(&prefix),
        me: replica,
        slots,
        timings,
        state,
        marker: None,
        sub: None,
        rng: seed | 1,
        next_connect: Instant::now(),
        counter,
    };
    metrics::gauge!("circuit_breaker_fleet_degraded").set(1.0);
    let mut poll = tokio::time::interval(timings.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut count = tokio::time::interval(timings.count);
    count.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_snapshot = Instant::now() + jittered(timings.snapshot, &mut t.rng);
    loop {
        if Instant::now() >= t.next_connect {
            if !t.store.is_connected() {
                if t.connect().await {
                    next_snapshot = Instant::now();
                }
            } else if t.sub.is_none() && t.subscribe().await {
                next_snapshot = Instant::now();
            }
        }
        let wake = if t.store.is_connected() && t.sub.is_some() {
            next_snapshot
        } else {
            next_snapshot.min(t.next_connect)
        };
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(c) => t.command(c).await,
                None => return,
            },
            msg = next_message(&mut t.sub) => t.message(msg).await,
            _ = poll.tick() => t.poll().await,
            _ = count.tick() => t.flush_counts().await,
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= next_snapshot {
                    t.snapshot().await;
                    next_snapshot = Instant::now() + jittered(t.timings.snapshot, &mut t.rng);
                }
            }
        }
    }
}

async fn next_message(sub: &mut Option<PubSubStream>) -> Option<redis::Msg> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Task {
    fn online(&self) -> bool {
        self.store.is_connected()
    }

    /// A Redis call failed: degraded until the next successful connection.
    fn fail(&mut self, what: &str, e: &StoreError) {
        self.state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("circuit_breaker_fleet_store_errors_total").increment(1);
        self.store.disconnect();
        self.sub = None;
        self.next_connect = Instant::now() + self.timings.reconnect;
        if !self.state.degraded.swap(true, Ordering::Relaxed) {
            metrics::gauge!("circuit_breaker_fleet_degraded").set(1.0);
            tracing::warn!(
                target: TARGET,
                replica = %self.me,
                error = %e,
                "fleet store unreachable ({what}): running on the local breakers until it is back"
            );
        }
    }

    async fn connect(&mut self) -> bool {
        if let Err(e) = self.store.connect().await {
            self.fail("connect", &e);
            return false;
        }
        if !self.subscribe().await {
            return false;
        }
        if self.state.degraded.swap(false, Ordering::Relaxed) {
            metrics::gauge!("circuit_breaker_fleet_degraded").set(0.0);
            tracing::info!(target: TARGET, replica = %self.me, "fleet store reachable: sharing the breakers");
        }
        self.reconcile(false).await;
        true
    }

    async fn subscribe(&mut self) -> bool {
        let timeout = self.timings.op_timeout;
        let channel = self.keys.channel();
        let client = self.store.client().clone();
        let r = tokio::time::timeout(timeout, async move {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(ps)
        })
        .await;
        match r {
            Ok(Ok(ps)) => {
                self.sub = Some(ps.into_on_message());
                true
            }
            Ok(Err(e)) => {
                self.fail("subscribe", &StoreError::Redis(e));
                false
            }
            Err(_) => {
                self.fail("subscribe", &StoreError::Timeout);
                false
            }
        }
    }

    fn reject(&self, r: Rejected) {
        let s = &self.state.stats;
        s.rejected.fetch_add(1, Ordering::Relaxed);
        match r {
            Rejected::Stale => s.stale.fetch_add(1, Ordering::Relaxed),
            Rejected::UnknownBreaker => s.unknown.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        metrics::counter!("circuit_breaker_fleet_messages_rejected_total", "reason" => r.as_str())
            .increment(1);
        tracing::debug!(target: TARGET, replica = %self.me, reason = r.as_str(), "fleet message rejected: {r}");
    }

    async fn message(&mut self, msg: Option<redis::Msg>) {
        let Some(msg) = msg else {
            // The subscription ended (connection killed): resubscribe; the snapshot right after
            // catches up with what was missed.
            self.sub = None;
            self.state.stats.store_errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("circuit_breaker_fleet_store_errors_total").increment(1);
            tracing::warn!(target: TARGET, replica = %self.me, "fleet subscription lost: resubscribing");
            self.next_connect = Instant::now();
            return;
        };
        let record = match Record::decode(msg.get_payload_bytes()) {
            Ok(r) => r,
            Err(r) => return self.reject(r),
        };
        let now = record.written_ms;
        self.apply_named(record, now);
    }

    fn apply_named(&mut self, record: Record, now_ms: u64) {
        match self.slots.iter().position(|s| s.handle.name() == record.name) {
            Some(i) => self.apply(i, record, now_ms),
            None => self.reject(Rejected::UnknownBreaker),
        }
    }

    /// Applies `record` to slot `i` (Redis time `now_ms`).
    fn apply(&mut self, i: usize, record: Record, now_ms: u64) {
        let slot = &self.slots[i];
        let snap = slot.handle.snapshot();
        let local = Local {
            state: snap.state,
            epoch: slot.epoch,
            forced_by_fleet: slot.forced_by_fleet && forced(snap.state),
            follow_open: self.timings.probes.is_some(),
        };
        let plan = match decide::plan_apply(local, &record, now_ms) {
            Ok(p) => p,
            Err(r) => return self.reject(r),
        };
        let name = slot.handle.name();
        match plan {
            Apply::Nothing | Apply::Overridden => {}
            Apply::Open { level, ms } => {
                self.restore_open(i, level, ms);
                tracing::info!(
                    target: TARGET, circuit_breaker = name, replica = %self.me, by = %record.by,
                    voters = ?record.voters, retry_after_ms = ms,
                    "Circuit breaker '{name}' opened by the fleet"
                );
            }
            Apply::Close => {
                let h = &self.slots[i].handle;
                let _ = h.restore(&h.save().with_closed());
                tracing::info!(target: TARGET, circuit_breaker = name, replica = %self.me, by = %record.by,
                    "Circuit breaker '{name}' closed by the fleet: a replica recovered");
            }
            Apply::ForceOpen => self.slots[i].handle.force_open(),
            Apply::ForceClosed => self.slots[i].handle.force_closed(),
            Apply::Reset => self.slots[i].handle.reset(),
        }
        if !matches!(plan, Apply::Nothing | Apply::Overridden) {
            self.state.stats.applied.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("circuit_breaker_fleet_messages_applied_total", "circuit_breaker" => name)
                .increment(1);
        }
        let slot = &mut self.slots[i];
        match plan {
            Apply::ForceOpen | Apply::ForceClosed => slot.forced_by_fleet = true,
            Apply::Reset | Apply::Open { .. } | Apply::Close => slot.forced_by_fleet = false,
            Apply::Nothing | Apply::Overridden => {}
        }
        if matches!(plan, Apply::Reset | Apply::Close) {
            slot.local_trip = false;
        }
        if matches!(plan, Apply::Reset | Apply::Close | Apply::Open { .. }) {
            slot.lease = false; // the fleet's cycle ended (or a new one began)
        }
        slot.epoch = record.epoch;
        slot.fleet = Some(record);
        let s = slot.handle.snapshot();
        slot.seen = Seen { state: s.state, generation: s.generation };
        self.publish_health(i);
    }

    fn restore_open(&mut self, i: usize, mut level: u32, mut ms: u64) {
        let h = self.slots[i].handle.clone();
        for _ in 0..3 {
            // At least 1 ms left: a record that arrives as its open period ends still opens.
            let r = h.save().with_open(level, Duration::from_millis(ms.max(1))).and_then(|s| h.restore(&s));
            match r {
                Ok(()) => return,
                Err(e) => match decide::fit(level, ms, e) {
                    Some((l, m)) => {
                        self.state.stats.fitted.fetch_add(1, Ordering::Relaxed);
                        (level, ms) = (l, m);
                    }
                    None => {
                        tracing::warn!(target: TARGET, circuit_breaker = h.name(), error = %e,
                            "fleet open could not be applied to the local breaker");
                        return;
                    }
                },
            }
        }
    }

    fn publish_health(&self, i: usize) {
        let slot = &self.slots[i];
        if let Ok(mut all) = self.state.breakers.lock() {
            let h = &mut all[i];
            h.local_state = slot.seen.state;
            h.fleet_state = slot.fleet.as_ref().map(|r| r.state);
            h.epoch = slot.epoch;
            h.voters = slot.fleet.as_ref().map(|r| r.voters.clone()).unwrap_or_default();
            h.local_override = forced(slot.seen.state) && !slot.forced_by_fleet;
        }
    }

    async fn poll(&mut self) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let s = slot.handle.snapshot();
            let retry_ms = s.retry_after.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let seen = slot.seen;
            let obs = decide::observe(seen, s.state, s.generation, s.backoff_level, retry_ms);
            slot.seen = Seen { state: s.state, generation: s.generation };
            if !forced(s.state) {
                slot.forced_by_fleet = false;
            }
            if s.state == State::Closed {
                slot.local_trip = false;
            }
            if seen != slot.seen {
                self.publish_health(i);
            }
            match obs {
                Observed::Nothing => {}
                Observed::Trip { level, open_ms } => {
                    self.slots[i].local_trip = true;
                    if self.online() {
                        let fleet_probe = self.slots[i].lease;
                        self.vote(i, level, open_ms, fleet_probe).await;
                    }
                }
                Observed::Recovered => {
                    if self.online() {
                        self.recovered(i).await;
                    }
                }
            }
            if !matches!(obs, Observed::Nothing) && self.slots[i].lease {
                self.release(i).await;
            }
            self.fleet_probe(i).await;
        }
    }

    /// With fleet probes: near the end of the local open period of a fleet cycle, take a
    /// lease and probe, or hold the breaker OPEN for half a lease and ask again then.
    async fn fleet_probe(&mut self, i: usize) {
        let Some((max, lease)) = self.timings.probes else { return };
        let slot = &self.slots[i];
        let s = slot.handle.snapshot();
        let fleet_open = slot.fleet.as_ref().is_some_and(|r| r.state == FleetState::Open);
        let retry_ms = s.retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let margin = u64::try_from((self.timings.poll * 3).as_millis()).unwrap_or(u64::MAX).max(50);
        let ask = decide::probe(
            fleet_open,
            self.online(),
            slot.lease,
            s.state,
            retry_ms,
            s.probes_in_flight,
            margin,
        );
        if ask == Probe::Leave {
            return;
        }
        let name = slot.handle.name();
        match self.store.lease(&self.keys, name, &self.me, max, lease).await {
            Ok(true) => {
                self.slots[i].lease = true;
                tracing::debug!(target: TARGET, circuit_breaker = name, replica = %self.me, "fleet probe lease taken");
            }
            Ok(false) => {
                let hold = u64::try_from((lease / 2).as_millis()).unwrap_or(u64::MAX).max(1);
                // Read again: the breaker may have moved during the round trip (the loom model
                // `a_fleet_hold_racing_a_local_probe_…` shows a stale hold lowering the level).
                let now = self.slots[i].handle.snapshot();
                let now_ms = now.retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                let plan = decide::hold(
                    s.backoff_level,
                    now.state,
                    now.backoff_level,
                    now_ms,
                    now.probes_in_flight,
                    hold,
                );
                if let Some((level, ms)) = plan {
                    self.restore_open(i, level, ms);
                }
                // A trip or a recovery of its own during the round trip is left for `poll` to
                // report; only a hold over nothing else is recorded as seen.
                let moved = decide::observe(
                    self.slots[i].seen,
                    now.state,
                    now.generation,
                    now.backoff_level,
                    now_ms.unwrap_or(0),
                );
                if moved == Observed::Nothing {
                    let slot = &mut self.slots[i];
                    let s = slot.handle.snapshot();
                    slot.seen = Seen { state: s.state, generation: s.generation };
                }
                self.publish_health(i);
            }
            Err(e) => self.fail("lease", &e),
        }
    }

    async fn release(&mut self, i: usize) {
        self.slots[i].lease = false;
        let Some((max, _)) = self.timings.probes else { return };
        if !self.online() {
            return;
        }
        let name = self.slots[i].handle.name();
        if let Err(e) = self.store.release(&self.keys, name, &self.me, max).await {
            self.fail("release", &e);
        }
    }

    /// Shared counts: sends each counted breaker's failures since the last flush (none while
    /// Redis is unreachable: those are dropped, the local breaker protects alone), and opens
    /// the fleet when the window's sum reaches the threshold.
    async fn flush_counts(&mut self) {
        let Some(counter) = self.counter.clone() else { return };
        for i in 0..self.slots.len() {
            let mode = self.slots[i].mode;
            let Mode::Counts { window, .. } = mode else { continue };
            let name = self.slots[i].handle.name();
            let delta = counter.take(name);
            if delta == 0 || !self.online() {
                continue;
            }
            let epoch = self.slots[i].epoch;
            let (total, who) = match self.store.count(&self.keys, name, epoch, &self.me, delta, window).await
            {
                Ok(r) => r,
                Err(e) => {
                    self.fail("count", &e);
                    continue;
                }
            };
            if total < u64::from(mode.needed(0)) {
                continue;
            }
            let open_ms = u64::try_from(self.slots[i].handle.open_period().as_millis()).unwrap_or(u64::MAX);
            for _ in 0..4 {
                let Some((obs, current)) = self.observe(i, Vote::Keep).await else { return };
                let Some(record) = decide::on_counts(
                    name,
                    &self.me,
                    mode,
                    current.as_ref(),
                    total,
                    &who,
                    open_ms,
                    obs.now_ms,
                    obs.now_us,
                ) else {
                    break;
                };
                let before = self.slots[i].epoch;
                match self.write(i, &obs.record, record.clone()).await {
                    Some(true) => {
                        // This replica may be CLOSED (its share of the failures was small): the
                        // fleet's open is its own too.
                        self.slots[i].epoch = before;
                        self.apply(i, record, obs.now_ms);
                        break;
                    }
                    Some(false) => {}
                    None => return,
                }
            }
        }
    }

    /// Reads the record (and, with `vote`, adds this replica's vote), applying it if newer.
    async fn observe(&mut self, i: usize, vote: Vote) -> Option<(crate::store::Observation, Option<Record>)> {
        let name = self.slots[i].handle.name();
        let window = self.slots[i].mode.window();
        let ttl = self.timings.snapshot * 3;
        let obs = match self.store.observe(&self.keys, name, &self.me, vote, window, ttl).await {
            Ok(o) => o,
            Err(e) => {
                self.fail("observe", &e);
                return None;
            }
        };
        let current = if obs.record.is_empty() {
            None
        } else {
            match Record::decode(&obs.record) {
                Ok(r) => {
                    self.apply(i, r.clone(), obs.now_ms);
                    Some(r)
                }
                Err(r) => {
                    self.reject(r);
                    None
                }
            }
        };
        Some((obs, current))
    }

    /// Writes `record` over `expected`; `Some(true)` if written.
    async fn write(&mut self, i: usize, expected: &[u8], record: Record) -> Option<bool> {
        let name = self.slots[i].handle.name();
        match self.store.cas(&self.keys, name, expected, &record.encode()).await {
            Ok(true) => {
                self.state.stats.published.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("circuit_breaker_fleet_transitions_published_total", "circuit_breaker" => name)
                    .increment(1);
                tracing::info!(target: TARGET, circuit_breaker = name, replica = %self.me,
                    fleet_state = record.state.as_str(), voters = ?record.voters,
                    "Circuit breaker '{name}' fleet state {}", record.state.as_str());
                let slot = &mut self.slots[i];
                slot.epoch = record.epoch;
                slot.fleet = Some(record);
                self.publish_health(i);
                Some(true)
            }
            Ok(false) => Some(false),
            Err(e) => {
                self.fail("write", &e);
                None
            }
        }
    }

    async fn vote(&mut self, i: usize, level: u32, open_ms: u64, fleet_probe: bool) {
        for _ in 0..4 {
            let Some((obs, current)) = self.observe(i, Vote::Add).await else { return };
            let slot = &self.slots[i];
            let trip =
                Trip { name: slot.handle.name(), me: &self.me, mode: slot.mode, level, open_ms, fleet_probe };
            let Some(record) =
                decide::on_trip(&trip, current.as_ref(), &obs.voters, obs.live, obs.now_ms, obs.now_us)
            else {
                return;
            };
            if self.write(i, &obs.record, record).await != Some(false) {
                return;
            }
        }
    }

    async fn recovered(&mut self, i: usize) {
        for _ in 0..4 {
            let Some((obs, current)) = self.observe(i, Vote::Withdraw).await else { return };
            let name = self.slots[i].handle.name();
            let Some(record) = decide::on_recovered(name, &self.me, current.as_ref(), obs.now_ms, obs.now_us)
            else {
                return;
            };
            if self.write(i, &obs.record, record).await != Some(false) {
                return;
            }
        }
    }

    /// Writes the slot's pending command (only if no record exists, with `only_if_absent`).
    async fn write_manual(&mut self, i: usize, op: Manual, only_if_absent: bool) -> bool {
        for _ in 0..4 {
            let Some((obs, current)) = self.observe(i, Vote::Keep).await else { return false };
            if only_if_absent && !obs.record.is_empty() {
                self.slots[i].pending = None;
                return true;
            }
            let name = self.slots[i].handle.name();
            let record = decide::on_manual(name, &self.me, op, current.as_ref(), obs.now_ms, obs.now_us);
            match self.write(i, &obs.record, record).await {
                Some(true) => {
                    self.slots[i].pending = None;
                    return true;
                }
                Some(false) => {}
                None => return false,
            }
        }
        false
    }

    async fn command(&mut self, c: Command) {
        let Command::Manual { index, op, reply } = c;
        let slot = &mut self.slots[index];
        slot.forced_by_fleet = matches!(op, Manual::ForceOpen | Manual::ForceClosed);
        slot.local_trip = false;
        slot.pending = Some(op);
        let s = slot.handle.snapshot();
        slot.seen = Seen { state: s.state, generation: s.generation };
        let name = slot.handle.name();
        let done = self.online() && self.write_manual(index, op, false).await;
        let _ = reply.send(if done { Ok(()) } else { Err(FleetError::NotPropagated(name.to_owned())) });
    }

    /// After a (re)connection or a wipe: write what Redis should know and may not.
    async fn reconcile(&mut self, wiped: bool) {
        for i in 0..self.slots.len() {
            if !self.online() {
                return;
            }
            let slot = &self.slots[i];
            let s = slot.handle.snapshot();
            if let Some(op) = slot.pending {
                self.write_manual(i, op, false).await;
            } else if slot.local_trip && s.state == State::Open {
                let retry_ms = s.retry_after.map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                self.vote(i, s.backoff_level, retry_ms, false).await;
            } else if wiped && slot.forced_by_fleet && forced(s.state) {
                let op = if s.state == State::ForcedOpen { Manual::ForceOpen } else { Manual::ForceClosed };
                self.write_manual(i, op, true).await;
            }
        }
    }

    async fn snapshot(&mut self) {
        if !self.online() {
            return;
        }
        let new_marker = format!("{}-{:016x}", self.me, self.rng);
        let names: Vec<&'static str> = self.slots.iter().map(|s| s.handle.name()).collect();
        let snap = match self
            .store
            .snapshot(&self.keys, &names, &self.me, self.timings.snapshot * 3, &new_marker)
            .await
        {
            Ok(s) => s,
            Err(e) => return self.fail("snapshot", &e),
        };
        let wiped = match (&self.marker, snap.marker.as_str()) {
            (None, "") => {
                self.marker = Some(new_marker);
                false
            }
            (None, m) => {
                self.marker = Some(m.to_owned());
                false
            }
            (Some(_), "") => {
                self.marker = Some(new_marker);
                true
            }
            (Some(known), m) if known != m => {
                self.marker = Some(m.to_owned());
                true
            }
            (Some(_), _) => false,
        };
        for (i, raw) in snap.records.iter().enumerate() {
            if raw.is_empty() {
                continue;
            }
            match Record::decode(raw) {
                Ok(r) if r.name == names[i] => {
                    let lag = snap.now_ms.saturating_sub(r.written_ms);
                    if r.epoch > self.slots[i].epoch {
                        metrics::histogram!("circuit_breaker_fleet_catch_up_seconds")
                            .record(lag as f64 / 1000.0);
                    }
                    self.apply(i, r, snap.now_ms);
                }
                Ok(_) => self.reject(Rejected::Invalid("name")),
                Err(r) => self.reject(r),
            }
        }
        if wiped {
            self.state.stats.wipes.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("circuit_breaker_fleet_store_wipes_total").increment(1);
            tracing::warn!(target: TARGET, replica = %self.me,
                "fleet store was wiped (restarted empty or flushed): republishing local opens");
            self.reconcile(true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter_and_varies() {
        let mut rng = 0x1234_5678_9abc_def1;
        let p = Duration::from_secs(2);
        let all: Vec<Duration> = (0..1000).map(|_| jittered(p, &mut rng)).collect();
        assert!(all.iter().all(|d| *d >= p.mul_f64(0.75) && *d < p.mul_f64(1.25)));
        let (lo, hi) = (all.iter().min().unwrap(), all.iter().max().unwrap());
        assert!(*hi - *lo > Duration::from_millis(800), "{lo:?}..{hi:?}");
    }
}
