//! # breaker-redis
//!
//! Circuit breakers shared across the replicas of a service through Redis, with **no network
//! on the call path**. Calls go to the replica's own breaker-std / breaker-tokio breaker,
//! exactly as without sharing; a background tokio task, the only code that talks to Redis,
//! notices the local breakers' trips and recoveries, writes the fleet's decision to Redis, and
//! applies the decisions of the other replicas to the local breakers through their public API
//! (`restore`, `force_open`, `force_closed`, `reset`: the core's CAS loop, each transition
//! reported once, logged and counted like any other).
//!
//! ```
//! use breaker_redis::{Fleet, Mode};
//! use breaker_tokio::BreakerExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = breaker_tokio::registry().build().unwrap();
//! let database = registry.breaker("database").unwrap();
//! let fleet = Fleet::builder("redis://127.0.0.1:1/") // your Redis; nothing listens here
//!     .replica_id("api-1")
//!     .share(database, Mode::default()) // quorum: two replicas within 30 s
//!     .start()
//!     .unwrap();
//! // The call path is the local breaker's, whatever Redis does.
//! let user = database.call_async(async { Ok::<_, std::io::Error>("user 7") }).await;
//! assert_eq!(user.unwrap(), "user 7");
//! # drop(fleet);
//! # }
//! ```
//!
//! # Modes
//!
//! | [`Mode`] | the fleet opens when | choose it when |
//! |---|---|---|
//! | [`Mode::Quorum`] (default: 2 replicas, 30 s) | `replicas` distinct replicas tripped within `window` | replicas can fail alone (a bad node, a local network fault): one bad replica opens only itself |
//! | [`Mode::Share`] | `percent` % of the live replicas (rounded up) tripped within `window` | the fleet size changes (autoscaling) |
//! | [`Mode::Any`] | one replica tripped | the dependency is shared and fails for everyone at once, and sending N× the failing traffic is the bigger harm |
//! | [`Mode::Counts`] (shared counts, opt-in) | the replicas' failures add up to `failures` within `window` (ten expiring buckets, Redis' clock) | low-traffic replicas must still open on a dependency that fails for everyone; needs a [`FailureCounter`] listener (one virtual call per call, an atomic add per failure) |
//!
//! In counts mode the local failures are sent in batches by the task (one script call per
//! `count_interval` per breaker that failed, none otherwise), counted under the current fleet
//! epoch (so a fleet transition starts the count afresh); failures counted while Redis is
//! unreachable are dropped (the local breaker protects alone meanwhile). The count is of
//! failures in the window, not consecutive failures: no replica's success resets the fleet's.
//!
//! A replica always opens itself on its own trip. When the fleet opens, every CLOSED replica
//! opens for the time the fleet stays open (the opening replica's open period, counted on
//! Redis' clock), at the opening replica's backoff level, both cut to what its own config
//! allows. Replicas already OPEN or HALF_OPEN are left alone. Each replica then probes on its
//! own; the first replica whose probe closes its breaker closes the fleet: every OPEN or
//! HALF_OPEN replica closes. A failed probe is a trip again (a vote).
//!
//! # Fleet-wide half-open (probe leases)
//!
//! With [`FleetBuilder::probe_leases`]`(max, lease)`, a fleet cycle has at most `max` probes in
//! the whole fleet: as its local open period ends, a replica asks Redis for one of `max` leases
//! (keys that expire after `lease`). The replica that gets one lets its breaker probe; the others
//! keep theirs OPEN (half a lease at a time, a `restore` transition each) and ask again. The
//! probe's outcome is everyone's: a success closes the fleet, a failure reopens every replica
//! (OPEN and HALF_OPEN ones too) for the prober's next open period, at its backoff level. A
//! prober that dies mid-probe holds its lease only until it expires; then another replica
//! probes. While Redis is unreachable a replica probes on its own: a store failure never keeps a
//! breaker open. The lease is asked for a little before the local open period ends (3 poll
//! intervals, at least 50 ms): a task delayed past that (a starved runtime) lets its breaker
//! probe on its own, so the bound holds as long as the task runs on time.
//!
//! # Manual control
//!
//! [`Fleet::force_open`], [`Fleet::force_closed`] and [`Fleet::reset`] apply on this replica at
//! once and on every replica when they get the record. An operator's `force_open` /
//! `force_closed` on the local breaker itself (not through the fleet) is a **local override**:
//! fleet records do not change that breaker until it is reset, and health shows it
//! ([`BreakerHealth::local_override`]). A fleet reset does not end another replica's local
//! override either; a local reset does.
//!
//! # Failure modes
//!
//! | Redis | calls | the replica |
//! |---|---|---|
//! | unreachable, refused | unchanged: the local breaker | degraded (health, `circuit_breaker_fleet_degraded` 1, one WARN line), retries every `reconnect_interval` |
//! | hung (`SIGSTOP`, a stuck network) | unchanged | each Redis call times out after `op_timeout`: degraded as above |
//! | TLS handshake refused (unknown CA, another host's certificate, no client certificate) | unchanged | degraded as above, retries |
//! | killed, then back | unchanged | reconnects; republishes its own opens and unwritten commands; the snapshot brings the records it missed |
//! | restarted empty, flushed | unchanged | the store marker is gone: a WARN line, `wipes` counted, local opens and fleet-forced states republished |
//! | pub/sub connection killed | unchanged | resubscribes; the snapshot (every `snapshot_period`, jittered) brings what it missed |
//! | a malformed, oversized, unknown or stale message | unchanged | refused, counted per reason, the local breaker untouched |
//!
//! Only Redis' clock is compared with Redis' clock (the fleet's open time, the vote window, the
//! live replicas); a replica's own clock is never compared with another's. Records are ordered
//! by an epoch (Redis' clock in µs, or one more than the previous epoch): a record that is not
//! newer than the last one applied changes nothing.
//!
//! # Keys and security
//!
//! Every key is under one hash tag, `{prefix}` (so a Redis Cluster keeps them in one slot):
//! `{prefix}:rec:<name>` (the fleet record), `{prefix}:votes:<name>` (trips in the window),
//! `{prefix}:live` (heartbeats), `{prefix}:store` (the marker that detects a wiped store),
//! `{prefix}:lease:<name>:<n>` (probe leases), `{prefix}:cnt:<name>:<epoch>:<bucket>` (shared
//! counts: the script derives them from the first, in the same slot); the
//! channel is `{prefix}:events`. A Redis ACL user restricted to them:
//!
//! ```text
//! ACL SETUSER breaker on >password resetchannels ~{breaker}:* &{breaker}:events +ping +evalsha +script|load +subscribe +time +get +set +del +publish +zadd +zrange +zremrangebyscore +zcard +pexpire +hincrby +hgetall
//! ```
//!
//! **Write access to the prefix is the power to open (or force closed) these breakers on every
//! replica**: give it to the service's replicas only. Every message is versioned
//! ([`message::VERSION`]), at most [`message::MAX_BYTES`], and validated ([`Record::decode`]);
//! open periods are cut to what the local config allows; messages for breakers a replica does
//! not share are refused and counted.
//!
//! # TLS
//!
//! `rediss://` URLs work with the `tls` feature, on by default: the `redis` crate's rustls
//! client (ring; TLS 1.2 and 1.3) with Mozilla's root certificates built in (`webpki-roots`).
//! The server's certificate chain and host name are always verified (`#insecure` is refused).
//! Everything is checked at [`FleetBuilder::start`]: a PEM that does not parse, a key that is
//! not the certificate's or certificates with a `redis://` URL are a [`FleetError::Tls`], and a
//! `rediss://` URL in a build without the feature is [`FleetError::NoTls`], never a
//! reconnection loop. A handshake the server or the client refuses is a store error: the
//! replica is degraded, its calls unaffected. The rustls crypto provider is the process'
//! default when one is installed before `start`, ring's otherwise (installed as the process
//! default).
#![cfg_attr(
    feature = "tls",
    doc = r#"
[`FleetBuilder::tls_root_certificates`] trusts a private CA instead of the built-in roots
(PEM), [`FleetBuilder::tls_client_identity`] presents a client certificate to a server that
requires mutual TLS (`tls-auth-clients yes`):

```no_run
use breaker_redis::{Fleet, Mode};

# #[tokio::main(flavor = "current_thread")]
# async fn main() -> Result<(), Box<dyn std::error::Error>> {
let registry = breaker_tokio::registry().build().unwrap();
let fleet = Fleet::builder("rediss://breaker:password@redis.internal:6380/")
    .replica_id("api-1")
    .tls_root_certificates(std::fs::read("/etc/breaker/redis-ca.pem")?)
    .tls_client_identity(std::fs::read("/etc/breaker/api-1.crt")?, std::fs::read("/etc/breaker/api-1.key")?)
    .share(registry.breaker("database").unwrap(), Mode::default())
    .start()?;
# drop(fleet);
# Ok(())
# }
```
"#
)]
//!
//! # Health and metrics
//!
//! [`Fleet::health`]: per shared breaker, the local state, the fleet state, the replicas that
//! voted and whether a local override holds; the degraded flag; [`Stats`]. Metrics, through the
//! `metrics` facade:
//!
//! | series | kind | labels |
//! |---|---|---|
//! | `circuit_breaker_fleet_degraded` | gauge (0/1) | |
//! | `circuit_breaker_fleet_store_errors_total` | counter | |
//! | `circuit_breaker_fleet_messages_applied_total` | counter | `circuit_breaker` |
//! | `circuit_breaker_fleet_messages_rejected_total` | counter | `reason` ([`Rejected::as_str`]) |
//! | `circuit_breaker_fleet_transitions_published_total` | counter | `circuit_breaker` |
//! | `circuit_breaker_fleet_store_wipes_total` | counter | |
//! | `circuit_breaker_fleet_catch_up_seconds` | histogram | (records the snapshot brought: Redis time of the read minus that of the write) |
//!
//! Log lines use the `tracing` target `breaker_redis`.
//!
//! # Costs
//!
//! Nothing per call. The task reads each shared breaker's snapshot every `poll_interval`
//! (default 5 ms); Redis sees two script calls per fleet transition, one per
//! `snapshot_period` per replica and, with probe leases, one per replica per half lease while a
//! fleet cycle ends. Nothing per request in steady state.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The crate README (what crates.io shows) is compiled and run with the doctests (in the default
// build: its TLS example needs the `tls` feature).
#[cfg(all(doctest, feature = "tls"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod counter;
mod decide;
mod fleet;
pub mod message;
mod mode;
mod store;
mod task;
#[cfg(feature = "tls")]
mod tls;

pub use counter::FailureCounter;
pub use fleet::{BreakerHealth, Fleet, FleetBuilder, FleetError, FleetHealth, Shareable, Stats};
pub use message::{valid_id, Cause, FleetState, Record, Rejected};
pub use mode::{Mode, ModeError, MAX_WINDOW};
