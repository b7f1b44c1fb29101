//! The public face: [`Fleet::builder`], the running [`Fleet`] (health, stats, fleet-wide manual
//! control) and the breakers it can share ([`Shareable`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_core::{Clock, Policy, RestoreError, SavedState, Snapshot, State};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::decide::Manual;
use crate::message::{valid_id, FleetState};
use crate::mode::{Mode, ModeError};
use crate::task;

/// A breaker the fleet can share: breaker-std's (and so breaker-tokio's) [`Breaker`](breaker_std::Breaker),
/// whatever its clock and policy. The fleet uses only its public API: it reads
/// [`snapshot`](breaker_std::Breaker::snapshot), and changes it through
/// [`restore`](breaker_std::Breaker::restore) and manual control, which go through the core's
/// CAS loop and are reported (logged, counted, listened to) once, like any transition.
pub trait Shareable: Send + Sync + 'static {
    /// The breaker's name.
    fn name(&self) -> &'static str;
    /// Its health view.
    fn snapshot(&self) -> Snapshot;
    /// Its saved state.
    fn save(&self) -> SavedState;
    /// Puts a saved state back.
    ///
    /// # Errors
    ///
    /// As [`breaker_std::Breaker::restore`].
    fn restore(&self, saved: &SavedState) -> Result<(), RestoreError>;
    /// Force open.
    fn force_open(&self);
    /// Force closed.
    fn force_closed(&self);
    /// Reset.
    fn reset(&self);
    /// How long it stays open after a trip from CLOSED (its recovery timeout).
    fn open_period(&self) -> Duration;
}

impl<C, P> Shareable for breaker_std::Breaker<C, P>
where
    C: Clock + Send + Sync + 'static,
    P: Policy + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        breaker_std::Breaker::name(self)
    }
    fn snapshot(&self) -> Snapshot {
        breaker_std::Breaker::snapshot(self)
    }
    fn save(&self) -> SavedState {
        breaker_std::Breaker::save(self)
    }
    fn restore(&self, saved: &SavedState) -> Result<(), RestoreError> {
        breaker_std::Breaker::restore(self, saved)
    }
    fn force_open(&self) {
        breaker_std::Breaker::force_open(self);
    }
    fn force_closed(&self) {
        breaker_std::Breaker::force_closed(self);
    }
    fn reset(&self) {
        breaker_std::Breaker::reset(self);
    }
    fn open_period(&self) -> Duration {
        breaker_std::Breaker::config(self).recovery_timeout()
    }
}

/// A shared breaker as the task holds it.
#[derive(Clone)]
pub(crate) enum Handle {
    Static(&'static dyn Shareable),
    Owned(Arc<dyn Shareable>),
}

impl core::ops::Deref for Handle {
    type Target = dyn Shareable;
    fn deref(&self) -> &(dyn Shareable + 'static) {
        match self {
            Handle::Static(b) => *b,
            Handle::Owned(b) => &**b,
        }
    }
}

/// A fleet that could not be built, or a command that did not reach the fleet.
///
/// # Examples
///
/// ```
/// use breaker_redis::{Fleet, FleetError};
///
/// let err = Fleet::builder("redis://127.0.0.1:1/").replica_id("two words").start().unwrap_err();
/// assert_eq!(err, FleetError::ReplicaId("two words".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetError {
    /// The Redis URL does not parse (`redis://`, `rediss://` or `unix://`).
    Url(String),
    /// A `rediss://` URL in a build without the `tls` feature (on by default).
    NoTls,
    /// A TLS setting that cannot work: a root certificate, client certificate or key that does
    /// not parse, a key that is not the certificate's, certificates given with a `redis://`
    /// URL, or `#insecure`.
    Tls(String),
    /// No replica id, or one that is not 1–64 of `A-Za-z0-9-_.:`.
    ReplicaId(String),
    /// A key prefix that is not 1–64 of `A-Za-z0-9-_.:`.
    Prefix(String),
    /// A breaker name that is not 1–64 of `A-Za-z0-9-_.:`.
    Name(String),
    /// The same breaker name shared twice.
    Duplicate(String),
    /// A mode that does not validate.
    Mode(String, ModeError),
    /// A timing that is zero, or no probe lease.
    Timing(&'static str),
    /// A breaker shared in [`Mode::Counts`] without a [`FailureCounter`](crate::FailureCounter)
    /// that counts it.
    NoCounter(String),
    /// `start` outside a tokio runtime.
    NoRuntime,
    /// A command for a breaker the fleet does not share.
    Unknown(String),
    /// The command was applied on this replica, but Redis could not be reached: it is written
    /// when Redis is back (unless another command for the breaker replaces it).
    NotPropagated(String),
    /// The fleet's background task has stopped.
    Stopped,
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Url(e) => write!(f, "invalid Redis URL: {e}"),
            FleetError::NoTls => {
                f.write_str("a rediss:// URL needs breaker-redis' `tls` feature, which this build leaves out")
            }
            FleetError::Tls(e) => write!(f, "TLS: {e}"),
            FleetError::ReplicaId(id) => {
                write!(f, "invalid replica id {id:?}: 1 to 64 of A-Z a-z 0-9 - _ . :")
            }
            FleetError::Prefix(p) => write!(f, "invalid key prefix {p:?}: 1 to 64 of A-Z a-z 0-9 - _ . :"),
            FleetError::Name(n) => {
                write!(f, "breaker name {n:?} cannot be shared: 1 to 64 of A-Z a-z 0-9 - _ . :")
            }
            FleetError::Duplicate(n) => write!(f, "breaker {n:?} is shared twice"),
            FleetError::Mode(n, e) => write!(f, "breaker {n:?}: {e}"),
            FleetError::Timing(what) => write!(f, "{what} must be above zero"),
            FleetError::NoCounter(n) => {
                write!(
                    f,
                    "breaker {n:?} is shared in counts mode: give the fleet a FailureCounter that counts it"
                )
            }
            FleetError::NoRuntime => {
                f.write_str("the fleet starts its task on tokio: start it inside a runtime")
            }
            FleetError::Unknown(n) => write!(f, "breaker {n:?} is not shared by this fleet"),
            FleetError::NotPropagated(n) => {
                write!(f, "breaker {n:?}: applied on this replica; Redis is unreachable, the fleet gets it when it is back")
            }
            FleetError::Stopped => f.write_str("the fleet's background task has stopped"),
        }
    }
}

impl std::error::Error for FleetError {}

/// Timings of the background task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timings {
    pub(crate) poll: Duration,
    pub(crate) snapshot: Duration,
    pub(crate) op_timeout: Duration,
    pub(crate) reconnect: Duration,
    /// Fleet-wide probe leases: at most this many probes per fleet cycle, each lease expiring
    /// after the duration.
    pub(crate) probes: Option<(u32, Duration)>,
    pub(crate) count: Duration,
}

/// Builds a [`Fleet`]: the Redis URL, this replica's id, the key prefix, the shared breakers and
/// their modes, the task's timings. Nothing connects until [`start`](FleetBuilder::start).
///
/// # Examples
///
/// ```
/// use breaker_redis::{Fleet, Mode};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = breaker_tokio::registry().build().unwrap();
/// let fleet = Fleet::builder("redis://127.0.0.1:1/") // nothing listens there
///     .replica_id("api-1")
///     .prefix("shop")
///     .share(registry.breaker("database").unwrap(), Mode::default())
///     .share(registry.breaker("kafka").unwrap(), Mode::Any)
///     .snapshot_period(Duration::from_secs(2))
///     .start()
///     .unwrap();
/// assert_eq!(fleet.health().breakers.len(), 2);
/// # }
/// ```
pub struct FleetBuilder {
    url: String,
    replica: Option<String>,
    prefix: String,
    shared: Vec<(Handle, Mode)>,
    timings: Timings,
    counter: Option<crate::FailureCounter>,
    #[cfg(feature = "tls")]
    tls: crate::tls::TlsOptions,
}

impl fmt::Debug for FleetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("FleetBuilder");
        d.field("replica", &self.replica)
            .field("prefix", &self.prefix)
            .field("shared", &self.shared.iter().map(|(h, m)| (h.name(), *m)).collect::<Vec<_>>())
            .field("timings", &self.timings);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish_non_exhaustive()
    }
}

impl FleetBuilder {
    /// This replica's id: unique in the fleet, stable across its restarts (a pod name).
    pub fn replica_id(mut self, id: impl Into<String>) -> Self {
        self.replica = Some(id.into());
        self
    }

    /// The key prefix, inside a hash tag: keys are `{prefix}:...`, the channel
    /// `{prefix}:events` (default `breaker`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Shares a registry's breaker (or any `&'static` one) in `mode`.
    pub fn share(mut self, breaker: &'static dyn Shareable, mode: Mode) -> Self {
        self.shared.push((Handle::Static(breaker), mode));
        self
    }

    /// Shares a breaker held in an `Arc`, in `mode`.
    pub fn share_arc(mut self, breaker: Arc<dyn Shareable>, mode: Mode) -> Self {
        self.shared.push((Handle::Owned(breaker), mode));
        self
    }

    /// How often the task looks at the local breakers for trips and recoveries (default 5 ms):
    /// the local part of the propagation delay. One atomic load per shared breaker each time,
    /// on the task, never on a call.
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.timings.poll = d;
        self
    }

    /// The period of the catch-up snapshot (heartbeat, wipe check, every record; default
    /// 2 s, jittered ±25 %). A replica that missed a published record has it within this
    /// period. A replica is live for three periods after its last heartbeat.
    pub fn snapshot_period(mut self, d: Duration) -> Self {
        self.timings.snapshot = d;
        self
    }

    /// The timeout of each Redis call and connection attempt (default 250 ms).
    pub fn op_timeout(mut self, d: Duration) -> Self {
        self.timings.op_timeout = d;
        self
    }

    /// The pause between reconnection attempts while Redis is unreachable (default 500 ms).
    pub fn reconnect_interval(mut self, d: Duration) -> Self {
        self.timings.reconnect = d;
        self
    }

    /// The [`FailureCounter`](crate::FailureCounter) of the breakers shared in
    /// [`Mode::Counts`] (installed as a listener on their registry).
    pub fn counter(mut self, counter: crate::FailureCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    /// How often the task sends the counted failures of [`Mode::Counts`] breakers to Redis
    /// (default 100 ms): one script call per breaker that failed since, none otherwise.
    pub fn count_interval(mut self, d: Duration) -> Self {
        self.timings.count = d;
        self
    }

    /// Fleet-wide half-open: while the fleet is open (a fleet cycle), at most `max` replicas
    /// probe, each holding a lease that expires after `lease` (so a replica that dies mid-probe
    /// hands the probe to another when its lease runs out). The others stay OPEN (their open
    /// period is extended by half a lease at a time, each a `restore` transition) until the
    /// probe's outcome closes or reopens every replica, with the prober's backoff level. Off
    /// by default (each replica probes on its own). While Redis is unreachable a replica
    /// probes on its own: a store failure never keeps a breaker open.
    pub fn probe_leases(mut self, max: u32, lease: Duration) -> Self {
        self.timings.probes = Some((max, lease));
        self
    }

    /// The CA certificates (PEM, one or more) that the server's certificate must chain to, for
    /// a `rediss://` URL: a private CA. They replace the built-in roots (Mozilla's, through
    /// `webpki-roots`) for this fleet; the host name of the URL is checked against the
    /// certificate as always. Given again, the last one counts. To trust the system's store
    /// instead, pass its bundle (`/etc/ssl/certs/ca-certificates.crt` on Debian).
    ///
    /// Checked at [`start`](FleetBuilder::start): [`FleetError::Tls`] for a PEM without a
    /// certificate, a certificate that does not parse, or a `redis://` URL (no TLS to use it
    /// on). A server whose certificate the CA did not sign is a store error like an unreachable
    /// one: the fleet is degraded, calls go to the local breakers as always.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use breaker_redis::{Fleet, Mode};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// let fleet = Fleet::builder("rediss://breaker:password@redis.internal:6380/")
    ///     .replica_id("api-1")
    ///     .tls_root_certificates(std::fs::read("/etc/breaker/redis-ca.pem")?)
    ///     .share(registry.breaker("database").unwrap(), Mode::default())
    ///     .start()?;
    /// # drop(fleet);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A bad PEM is an error at `start`, not a reconnection loop:
    ///
    /// ```
    /// use breaker_redis::{Fleet, FleetError};
    ///
    /// let err = Fleet::builder("rediss://redis.internal:6380/")
    ///     .replica_id("api-1")
    ///     .tls_root_certificates("not a certificate")
    ///     .start()
    ///     .unwrap_err();
    /// assert!(matches!(err, FleetError::Tls(_)), "{err}");
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.roots = Some(pem.into());
        self
    }

    /// This replica's client certificate (PEM: the certificate, then any intermediates) and its
    /// private key (PEM: PKCS#8, PKCS#1 or SEC1), for a server that requires mutual TLS
    /// (`tls-auth-clients yes`, Redis' default when TLS is on). Given again, the last one
    /// counts.
    ///
    /// Checked at [`start`](FleetBuilder::start): [`FleetError::Tls`] for a certificate or key
    /// that does not parse, a key that is not the certificate's, or a `redis://` URL. A server
    /// that refuses the certificate is a store error: the fleet is degraded, calls are
    /// unaffected.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use breaker_redis::{Fleet, Mode};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// let fleet = Fleet::builder("rediss://redis.internal:6380/")
    ///     .replica_id("api-1")
    ///     .tls_root_certificates(std::fs::read("/etc/breaker/redis-ca.pem")?)
    ///     .tls_client_identity(
    ///         std::fs::read("/etc/breaker/api-1.crt")?,
    ///         std::fs::read("/etc/breaker/api-1.key")?,
    ///     )
    ///     .share(registry.breaker("database").unwrap(), Mode::default())
    ///     .start()?;
    /// # drop(fleet);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_client_identity(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls.identity = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The Redis client for the URL, with TLS if it is `rediss://`: every certificate checked.
    fn client(&self) -> Result<redis::Client, FleetError> {
        let scheme = self.url.split_once("://").map_or("", |(s, _)| s);
        let tls_url = scheme.eq_ignore_ascii_case("rediss") || scheme.eq_ignore_ascii_case("valkeys");
        #[cfg(feature = "tls")]
        {
            if tls_url {
                return crate::tls::client(&self.url, &self.tls);
            }
            if self.tls.is_set() {
                return Err(FleetError::Tls(format!(
                    "certificates given for a URL without TLS ({scheme}://): use rediss://"
                )));
            }
        }
        #[cfg(not(feature = "tls"))]
        if tls_url {
            return Err(FleetError::NoTls);
        }
        redis::Client::open(self.url.as_str()).map_err(|e| FleetError::Url(e.to_string()))
    }

    /// Checks everything and spawns the background task on the current tokio runtime. Returns
    /// at once: Redis is reached by the task (the fleet is degraded until it is).
    ///
    /// # Errors
    ///
    /// A [`FleetError`] for a bad URL, replica id, prefix, breaker name, mode or timing, a name
    /// shared twice, a TLS setting that cannot work ([`FleetError::Tls`]; a `rediss://` URL
    /// without the `tls` feature: [`FleetError::NoTls`]), or no tokio runtime.
    pub fn start(self) -> Result<Fleet, FleetError> {
        let replica = self.replica.clone().unwrap_or_default();
        if !valid_id(&replica) {
            return Err(FleetError::ReplicaId(replica));
        }
        if !valid_id(&self.prefix) {
            return Err(FleetError::Prefix(self.prefix));
        }
        let t = self.timings;
        for (d, what) in [
            (t.poll, "poll_interval"),
            (t.snapshot, "snapshot_period"),
            (t.op_timeout, "op_timeout"),
            (t.reconnect, "reconnect_interval"),
            (t.count, "count_interval"),
        ] {
            if d.is_zero() {
                return Err(FleetError::Timing(what));
            }
        }
        if let Some((max, lease)) = t.probes {
            if max == 0 {
                return Err(FleetError::Timing("probe_leases' max"));
            }
            if lease.is_zero() {
                return Err(FleetError::Timing("probe_leases' lease"));
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for (h, mode) in &self.shared {
            let name = h.name();
            if !valid_id(name) {
                return Err(FleetError::Name(name.to_owned()));
            }
            if names.contains(&name) {
                return Err(FleetError::Duplicate(name.to_owned()));
            }
            mode.validate().map_err(|e| FleetError::Mode(name.to_owned(), e))?;
            if matches!(mode, Mode::Counts { .. }) && !self.counter.as_ref().is_some_and(|c| c.counts(name)) {
                return Err(FleetError::NoCounter(name.to_owned()));
            }
            names.push(name);
        }
        let client = self.client()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let shared = Arc::new(Shared {
            replica: replica.clone(),
            degraded: AtomicBool::new(true),
            stats: Counters::default(),
            breakers: Mutex::new(
                self.shared
                    .iter()
                    .map(|(h, mode)| BreakerHealth {
                        name: h.name(),
                        mode: mode.as_str(),
                        local_state: h.snapshot().state,
                        fleet_state: None,
                        epoch: 0,
                        voters: Vec::new(),
                        local_override: false,
                    })
                    .collect(),
            ),
        });
        let (tx, rx) = mpsc::channel(64);
        let handles = self.shared.iter().map(|(h, _)| h.clone()).collect();
        let task = runtime.spawn(task::run(task::Setup {
            client,
            replica,
            prefix: self.prefix,
            shared: self.shared,
            timings: t,
            counter: self.counter,
            state: Arc::clone(&shared),
            commands: rx,
        }));
        Ok(Fleet { shared, commands: tx, handles, task: Some(task) })
    }
}

/// What the fleet's task and its handle share: health and counters.
pub(crate) struct Shared {
    pub(crate) replica: String,
    pub(crate) degraded: AtomicBool,
    pub(crate) stats: Counters,
    pub(crate) breakers: Mutex<Vec<BreakerHealth>>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) store_errors: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) unknown: AtomicU64,
    pub(crate) fitted: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) wipes: AtomicU64,
}

/// Counters of the fleet's task since it started (also exported as metrics, see the crate
/// docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Redis calls that failed or timed out (connection attempts included).
    pub store_errors: u64,
    /// Records that changed the local breaker.
    pub applied: u64,
    /// Records refused (malformed, oversized, other version, out of range, stale, unknown
    /// breaker): all of them, including the next two.
    pub rejected: u64,
    /// Of `rejected`: older than the last one applied.
    pub stale: u64,
    /// Of `rejected`: for a breaker this replica does not share.
    pub unknown: u64,
    /// Remote open periods or backoff levels cut to what the local config allows.
    pub fitted: u64,
    /// Records this replica wrote (fleet transitions it caused).
    pub published: u64,
    /// Times the store was found wiped (restarted empty, flushed).
    pub wipes: u64,
}

/// One shared breaker in [`FleetHealth`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BreakerHealth {
    /// The breaker's name.
    pub name: &'static str,
    /// Its mode: `any`, `quorum`, `share`.
    pub mode: &'static str,
    /// The local breaker's state, as last seen by the task (serialized as its name).
    #[serde(serialize_with = "state_name")]
    pub local_state: State,
    /// The fleet's state, from the last record applied (`None`: none yet).
    pub fleet_state: Option<FleetState>,
    /// The epoch of that record.
    pub epoch: u64,
    /// The replicas whose trips opened the fleet (while open).
    pub voters: Vec<String>,
    /// Forced on this replica alone: fleet records do not change it until a local reset.
    pub local_override: bool,
}

fn state_name<S: serde::Serializer>(s: &State, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

/// The fleet as this replica sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetHealth {
    /// This replica's id.
    pub replica: String,
    /// Redis could not be reached at the last attempt: the replica runs on its local breakers.
    pub degraded: bool,
    /// Each shared breaker.
    pub breakers: Vec<BreakerHealth>,
    /// The task's counters.
    pub stats: Stats,
}

pub(crate) enum Command {
    Manual { index: usize, op: Manual, reply: oneshot::Sender<Result<(), FleetError>> },
}

/// A running fleet: the background task that shares the breakers through Redis, and the handle
/// to it. Dropping it stops the task (the breakers keep working, alone).
///
/// # Examples
///
/// Redis unreachable is not an outage: calls go to the local breaker, and the fleet says it is
/// degraded.
///
/// ```
/// use breaker_redis::{Fleet, Mode};
/// use breaker_tokio::BreakerExt;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = breaker_tokio::registry().build().unwrap();
/// let db = registry.breaker("database").unwrap();
/// let fleet = Fleet::builder("redis://127.0.0.1:1/")
///     .replica_id("api-1")
///     .share(db, Mode::default())
///     .op_timeout(Duration::from_millis(50))
///     .start()
///     .unwrap();
/// assert_eq!(db.call_async(async { Ok::<_, ()>(7) }).await, Ok(7));
/// tokio::time::sleep(Duration::from_millis(200)).await;
/// assert!(fleet.is_degraded());
/// assert!(fleet.stats().store_errors > 0);
/// # }
/// ```
pub struct Fleet {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    handles: Vec<Handle>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet").field("health", &self.health()).finish_non_exhaustive()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Fleet {
    /// A builder for a fleet on the Redis at `url`: `redis://[user:password@]host:port/db`,
    /// `rediss://...` for TLS (the `tls` feature, on by default; see [TLS](crate#tls)), or
    /// `unix:///path`.
    ///
    /// # Examples
    ///
    /// See [`FleetBuilder`].
    pub fn builder(url: impl Into<String>) -> FleetBuilder {
        FleetBuilder {
            url: url.into(),
            replica: None,
            prefix: "breaker".to_owned(),
            shared: Vec::new(),
            timings: Timings {
                poll: Duration::from_millis(5),
                snapshot: Duration::from_secs(2),
                op_timeout: Duration::from_millis(250),
                reconnect: Duration::from_millis(500),
                probes: None,
                count: Duration::from_millis(100),
            },
            counter: None,
            #[cfg(feature = "tls")]
            tls: crate::tls::TlsOptions::default(),
        }
    }

    /// Whether Redis could not be reached at the last attempt (also at start, until it is).
    ///
    /// # Examples
    ///
    /// See [`Fleet`].
    pub fn is_degraded(&self) -> bool {
        self.shared.degraded.load(Ordering::Relaxed)
    }

    /// The task's counters.
    ///
    /// # Examples
    ///
    /// See [`Fleet`].
    pub fn stats(&self) -> Stats {
        self.shared.stats.read()
    }

    /// Local and fleet state of every shared breaker, the degraded flag and the counters.
    ///
    /// # Examples
    ///
    /// See [`FleetBuilder`].
    pub fn health(&self) -> FleetHealth {
        FleetHealth {
            replica: self.shared.replica.clone(),
            degraded: self.is_degraded(),
            breakers: self.shared.breakers.lock().map(|b| b.clone()).unwrap_or_default(),
            stats: self.stats(),
        }
    }

    /// Forces `name` open on every replica: here at once, on the others when they get the
    /// record (published, and in the snapshot).
    ///
    /// # Errors
    ///
    /// [`FleetError::Unknown`] for a breaker not shared; [`FleetError::NotPropagated`] when
    /// Redis is unreachable (applied here; written when Redis is back);
    /// [`FleetError::Stopped`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_redis::{Fleet, FleetError, Mode};
    /// use breaker_tokio::State;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let registry = breaker_tokio::registry().build().unwrap();
    /// let db = registry.breaker("database").unwrap();
    /// let fleet = Fleet::builder("redis://127.0.0.1:1/")
    ///     .replica_id("api-1")
    ///     .share(db, Mode::default())
    ///     .op_timeout(Duration::from_millis(50))
    ///     .start()
    ///     .unwrap();
    /// let r = fleet.force_open("database").await;
    /// assert_eq!(r, Err(FleetError::NotPropagated("database".into())));
    /// assert_eq!(db.state(), State::ForcedOpen); // applied here all the same
    /// assert_eq!(fleet.reset("kafka").await, Err(FleetError::Unknown("kafka".into())));
    /// # }
    /// ```
    pub async fn force_open(&self, name: &str) -> Result<(), FleetError> {
        self.manual(name, Manual::ForceOpen).await
    }

    /// Forces `name` closed on every replica; see [`force_open`](Fleet::force_open).
    ///
    /// # Errors
    ///
    /// As [`force_open`](Fleet::force_open).
    ///
    /// # Examples
    ///
    /// See [`force_open`](Fleet::force_open).
    pub async fn force_closed(&self, name: &str) -> Result<(), FleetError> {
        self.manual(name, Manual::ForceClosed).await
    }

    /// Resets `name` on every replica (CLOSED, no failures; ends a forced state, including a
    /// local override on this replica); see [`force_open`](Fleet::force_open).
    ///
    /// # Errors
    ///
    /// As [`force_open`](Fleet::force_open).
    ///
    /// # Examples
    ///
    /// See [`force_open`](Fleet::force_open).
    pub async fn reset(&self, name: &str) -> Result<(), FleetError> {
        self.manual(name, Manual::Reset).await
    }

    async fn manual(&self, name: &str, op: Manual) -> Result<(), FleetError> {
        let index = self
            .handles
            .iter()
            .position(|h| h.name() == name)
            .ok_or_else(|| FleetError::Unknown(name.to_owned()))?;
        // Here first, whatever Redis does.
        let local = &self.handles[index];
        match op {
            Manual::ForceOpen => local.force_open(),
            Manual::ForceClosed => local.force_closed(),
            Manual::Reset => local.reset(),
        }
        let (reply, wait) = oneshot::channel();
        self.commands.send(Command::Manual { index, op, reply }).await.map_err(|_| FleetError::Stopped)?;
        wait.await.map_err(|_| FleetError::Stopped)?
    }

    /// Stops the background task and waits for it (the breakers keep working, alone).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fleet = breaker_redis::Fleet::builder("redis://127.0.0.1:1/").replica_id("a").start().unwrap();
    /// fleet.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Counters {
    pub(crate) fn read(&self) -> Stats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            store_errors: r(&self.store_errors),
            applied: r(&self.applied),
            rejected: r(&self.rejected),
            stale: r(&self.stale),
            unknown: r(&self.unknown),
            fitted: r(&self.fitted),
            published: r(&self.published),
            wipes: r(&self.wipes),
        }
    }
}
