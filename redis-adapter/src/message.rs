//! The wire format: one [`Record`] per shared breaker, stored under its key and published on the
//! fleet's channel whenever it changes. JSON, versioned ([`VERSION`]), at most [`MAX_BYTES`],
//! validated field by field on the way in ([`Record::decode`]); anything else is a typed
//! [`Rejected`], counted, and changes nothing.
//!
//! Times are Redis' (`TIME`, in ms); a replica never compares them with its own clock, only with
//! another reading of Redis' clock. `epoch` orders the records of one breaker: a record whose
//! epoch is not above the last one a replica applied is stale and changes nothing.

use core::fmt;
use serde::{Deserialize, Serialize};

/// The wire format's version; a record of another version is rejected.
pub const VERSION: u32 = 1;

/// The largest record accepted, in bytes.
pub const MAX_BYTES: usize = 2048;

/// The most voters a record lists.
pub const MAX_VOTERS: usize = 64;

/// The longest open period a record may carry: one day (longer ones are rejected; shorter ones
/// are still cut to what the receiving breaker's config allows).
pub const MAX_OPEN_MS: u64 = 24 * 3600 * 1000;

/// The fleet's state of one breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FleetState {
    /// No fleet-wide open: each replica runs its own breaker.
    Closed,
    /// The fleet opened: replicas that are CLOSED open until `opened_at_ms + open_ms`.
    Open,
    /// Forced open fleet-wide (until a fleet reset).
    ForcedOpen,
    /// Forced closed fleet-wide (until a fleet reset).
    ForcedClosed,
}

impl FleetState {
    /// `closed`, `open`, `forced_open`, `forced_closed`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FleetState::Closed => "closed",
            FleetState::Open => "open",
            FleetState::ForcedOpen => "forced_open",
            FleetState::ForcedClosed => "forced_closed",
        }
    }
}

/// Why the fleet record last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// Enough replicas tripped (the mode's quorum, or one in mode `any`).
    Trips,
    /// A replica's probe succeeded: the fleet closes.
    Recovered,
    /// A fleet-wide force open.
    ForceOpen,
    /// A fleet-wide force closed.
    ForceClosed,
    /// A fleet-wide reset.
    Reset,
}

/// One breaker's fleet record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// [`VERSION`].
    pub v: u32,
    /// The breaker's name.
    pub name: String,
    /// Orders the records of this breaker: every change has a higher one (Redis' clock in µs,
    /// or the previous epoch + 1 if that is higher).
    pub epoch: u64,
    /// The fleet state.
    pub state: FleetState,
    /// Why it changed.
    pub cause: Cause,
    /// The backoff level of the open cycle (0 otherwise).
    pub level: u32,
    /// Redis' clock when the fleet opened, ms (0 unless open).
    pub opened_at_ms: u64,
    /// How long the fleet stays open, ms (0 unless open).
    pub open_ms: u64,
    /// Redis' clock when the record was written, ms.
    pub written_ms: u64,
    /// The replica that wrote it.
    pub by: String,
    /// The replicas whose trips opened it (empty unless open).
    pub voters: Vec<String>,
}

/// Why an incoming record was refused (counted per reason in metrics and
/// [`Stats`](crate::Stats)).
///
/// # Examples
///
/// ```
/// use breaker_redis::{Record, Rejected};
///
/// assert_eq!(Record::decode(b"not json").unwrap_err(), Rejected::Malformed);
/// assert_eq!(Record::decode(&vec![b' '; 5000]).unwrap_err(), Rejected::Oversized(5000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejected {
    /// Larger than [`MAX_BYTES`].
    Oversized(usize),
    /// Not a record: bad JSON, missing or unknown fields.
    Malformed,
    /// Another wire format version.
    Version(u32),
    /// A field out of range.
    Invalid(&'static str),
    /// A breaker this replica does not share.
    UnknownBreaker,
    /// Not newer than the last record applied for the breaker.
    Stale,
}

impl Rejected {
    /// The metric label: `oversized`, `malformed`, `version`, `invalid`, `unknown_breaker`,
    /// `stale`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(breaker_redis::Rejected::Stale.as_str(), "stale");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Oversized(_) => "oversized",
            Rejected::Malformed => "malformed",
            Rejected::Version(_) => "version",
            Rejected::Invalid(_) => "invalid",
            Rejected::UnknownBreaker => "unknown_breaker",
            Rejected::Stale => "stale",
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Oversized(n) => write!(f, "fleet message of {n} bytes, above {MAX_BYTES}"),
            Rejected::Malformed => f.write_str("fleet message is not a record"),
            Rejected::Version(v) => write!(f, "fleet message of version {v}, this build reads {VERSION}"),
            Rejected::Invalid(field) => write!(f, "fleet message field `{field}` is out of range"),
            Rejected::UnknownBreaker => {
                f.write_str("fleet message for a breaker this replica does not share")
            }
            Rejected::Stale => f.write_str("fleet message older than the last one applied"),
        }
    }
}

impl std::error::Error for Rejected {}

/// Whether `id` is a valid replica id or breaker name on the wire: 1–64 bytes of ASCII letters,
/// digits, `-`, `_`, `.`, `:`.
///
/// # Examples
///
/// ```
/// assert!(breaker_redis::valid_id("replica-1"));
/// assert!(!breaker_redis::valid_id("two words"));
/// assert!(!breaker_redis::valid_id(""));
/// ```
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl Record {
    /// The record as sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_redis::{Cause, FleetState, Record};
    ///
    /// let r = Record::closed("db", 7, Cause::Reset, 1_000, "a");
    /// assert_eq!(Record::decode(r.encode().as_bytes()), Ok(r));
    /// ```
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("a record always serializes"))
    }

    /// A record of a non-open state.
    ///
    /// # Examples
    ///
    /// See [`encode`](Record::encode).
    pub fn closed(name: &str, epoch: u64, cause: Cause, now_ms: u64, by: &str) -> Record {
        let state = match cause {
            Cause::ForceOpen => FleetState::ForcedOpen,
            Cause::ForceClosed => FleetState::ForcedClosed,
            Cause::Trips | Cause::Recovered | Cause::Reset => FleetState::Closed,
        };
        Record {
            v: VERSION,
            name: name.to_owned(),
            epoch,
            state,
            cause,
            level: 0,
            opened_at_ms: 0,
            open_ms: 0,
            written_ms: now_ms,
            by: by.to_owned(),
            voters: Vec::new(),
        }
    }

    /// Reads and validates a record from the wire.
    ///
    /// # Errors
    ///
    /// [`Rejected::Oversized`], [`Rejected::Malformed`], [`Rejected::Version`] or
    /// [`Rejected::Invalid`] (an id that is not [`valid_id`], an open period above
    /// [`MAX_OPEN_MS`], more than [`MAX_VOTERS`] voters, an open state without an open period, a
    /// state that does not match its cause).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_redis::{Record, Rejected};
    ///
    /// let v2 = br#"{"v":2,"name":"db","epoch":1,"state":"closed","cause":"reset","level":0,
    ///   "opened_at_ms":0,"open_ms":0,"written_ms":1,"by":"a","voters":[]}"#;
    /// assert_eq!(Record::decode(v2), Err(Rejected::Version(2)));
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Record, Rejected> {
        if bytes.len() > MAX_BYTES {
            return Err(Rejected::Oversized(bytes.len()));
        }
        // The version first, so a newer format with other fields is told apart from garbage.
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let Versioned { v } = serde_json::from_slice(bytes).map_err(|_| Rejected::Malformed)?;
        if v != VERSION {
            return Err(Rejected::Version(v));
        }
        let r: Record = serde_json::from_slice(bytes).map_err(|_| Rejected::Malformed)?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), Rejected> {
        if !valid_id(&self.name) {
            return Err(Rejected::Invalid("name"));
        }
        if !valid_id(&self.by) {
            return Err(Rejected::Invalid("by"));
        }
        if self.voters.len() > MAX_VOTERS || !self.voters.iter().all(|v| valid_id(v)) {
            return Err(Rejected::Invalid("voters"));
        }
        if self.epoch == 0 {
            return Err(Rejected::Invalid("epoch"));
        }
        let state_fits = match self.cause {
            Cause::Trips => self.state == FleetState::Open,
            Cause::Recovered | Cause::Reset => self.state == FleetState::Closed,
            Cause::ForceOpen => self.state == FleetState::ForcedOpen,
            Cause::ForceClosed => self.state == FleetState::ForcedClosed,
        };
        if !state_fits {
            return Err(Rejected::Invalid("state"));
        }
        if self.state == FleetState::Open {
            if self.open_ms == 0 || self.open_ms > MAX_OPEN_MS {
                return Err(Rejected::Invalid("open_ms"));
            }
            if self.opened_at_ms > self.written_ms {
                return Err(Rejected::Invalid("opened_at_ms"));
            }
        } else if self.open_ms != 0 || self.opened_at_ms != 0 || self.level != 0 {
            return Err(Rejected::Invalid("open_ms"));
        }
        if self.level > 64 {
            return Err(Rejected::Invalid("level"));
        }
        Ok(())
    }

    /// While open: the time left, at Redis time `now_ms` (zero once over).
    pub(crate) fn remaining_ms(&self, now_ms: u64) -> u64 {
        if self.state != FleetState::Open {
            return 0;
        }
        (self.opened_at_ms.saturating_add(self.open_ms)).saturating_sub(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Record {
        Record {
            v: VERSION,
            name: "db".into(),
            epoch: 10,
            state: FleetState::Open,
            cause: Cause::Trips,
            level: 1,
            opened_at_ms: 1_000,
            open_ms: 5_000,
            written_ms: 1_000,
            by: "a".into(),
            voters: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn a_record_round_trips() {
        let r = open();
        assert_eq!(Record::decode(r.encode().as_bytes()), Ok(r));
    }

    #[test]
    fn each_bad_field_is_rejected_by_name() {
        type Spoil = fn(&mut Record);
        let cases: [(Spoil, &str); 9] = [
            (|r| r.name = "has space".into(), "name"),
            (|r| r.by = String::new(), "by"),
            (|r| r.voters = vec!["x".into(); MAX_VOTERS + 1], "voters"),
            (|r| r.epoch = 0, "epoch"),
            (|r| r.state = FleetState::Closed, "state"),
            (|r| r.open_ms = MAX_OPEN_MS + 1, "open_ms"),
            (|r| r.open_ms = 0, "open_ms"),
            (|r| r.opened_at_ms = r.written_ms + 1, "opened_at_ms"),
            (|r| r.level = 65, "level"),
        ];
        for (spoil, field) in cases {
            let mut r = open();
            spoil(&mut r);
            assert_eq!(Record::decode(r.encode().as_bytes()), Err(Rejected::Invalid(field)), "{field}");
        }
    }

    #[test]
    fn unknown_fields_and_truncation_are_malformed() {
        let mut v: serde_json::Value = serde_json::from_str(&open().encode()).unwrap();
        v["extra"] = 1.into();
        assert_eq!(Record::decode(v.to_string().as_bytes()), Err(Rejected::Malformed));
        let s = open().encode();
        assert_eq!(Record::decode(&s.as_bytes()[..s.len() - 3]), Err(Rejected::Malformed));
    }

    #[test]
    fn time_left_uses_only_redis_readings() {
        let r = open();
        assert_eq!(r.remaining_ms(1_000), 5_000);
        assert_eq!(r.remaining_ms(4_500), 1_500);
        assert_eq!(r.remaining_ms(9_000), 0);
        assert_eq!(Record::closed("db", 1, Cause::Reset, 5, "a").remaining_ms(0), 0);
    }
}
