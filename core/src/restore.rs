//! State that survives a restart: [`SavedState`], from [`Breaker::save`], put back with
//! [`Breaker::restore`].
//!
//! [`Snapshot`](crate::Snapshot) is the health view (a name, rates as `f32`, a generation that
//! means nothing to another process); a `SavedState` is the other thing: the least a new process
//! needs to carry on where the old one stopped, small, `Copy`, with a fixed-size binary form
//! ([`SavedState::to_bytes`], for firmware that keeps it in no-init RAM across a reset) and, with
//! the `serde` feature, a serde form (no `alloc` needed).
//!
//! | saved from | comes back as |
//! |---|---|
//! | CLOSED with `n` consecutive failures | CLOSED with `n` failures (a gradual-recovery ramp in progress is not kept: full admission) |
//! | OPEN at backoff level `k`, `r` left before a probe | OPEN at level `k`, admitting a probe after `r` |
//! | HALF_OPEN (level `k`) | CLOSED with 0 failures: its probes died with the process, and closing drops the level |
//! | FORCED_OPEN, DISABLED | the same: an operator's override survives a restart |
//!
//! Only durations are stored, never clock readings: the clock restarts with the process. "`r`
//! left" is measured at [`save`](Breaker::save) and counts again from
//! [`restore`](Breaker::restore), so the time the process was down is not counted (a breaker
//! that was down longer than its open period probes `r` after it is back, as a fresh trip would
//! have it wait). With jitter configured, the restored open period is that of a new cycle, whose
//! jitter differs: `r` is then cut to that period if it is longer (by at most the jitter).
//!
//! Rate windows are not saved: a breaker with a [`Window`](crate::Window) policy comes back
//! with an empty window (its CLOSED count is the window's, so only the state and the open time
//! are kept). The count that opened an OPEN breaker is not saved either.
//!
//! A saved state is checked against the breaker it is restored into, and restoring anything it
//! could not have produced is a [`RestoreError`] that leaves the breaker as it was: another
//! word layout, the other kind of trip policy, a count not below the failure threshold, a backoff
//! level above the highest the config reaches, an open time longer than the config stays open at
//! that level, an unknown format version, or (from bytes) a wrong magic number or checksum.
//!
//! The decision is pure and lives here: [`plan`] checks a saved state against a config and
//! says what to restore, [`step`] is the transition it makes from whatever word the breaker
//! holds, with the transition function's contract. The CAS loop (`cas.rs`, `apply_with`) only
//! applies it, like any other transition: a state
//! change goes into a new generation (outcomes of calls admitted before the restore are not
//! counted) and is reported once, with [`Trigger::Restore`](crate::Trigger::Restore).

use core::fmt;
use core::time::Duration;

use crate::layout::{self, Decoded, Ms, Phase, Word};
use crate::observer::{Observer, Trigger};
use crate::policy::Policy;
use crate::sync::Ordering;
use crate::transition::{open_retry_ms, state_of, Change, Now, Outcome, Step};
use crate::{Breaker, Clock, State, ValidConfig};

/// The word layout a state was saved on.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Layout {
    #[cfg_attr(feature = "serde", serde(rename = "64-bit"))]
    Word64,
    #[cfg_attr(feature = "serde", serde(rename = "32-bit"))]
    Word32,
}

impl Layout {
    const CURRENT: Layout = if Word::BITS == 64 { Layout::Word64 } else { Layout::Word32 };

    const fn name(self) -> &'static str {
        match self {
            Layout::Word64 => "64-bit",
            Layout::Word32 => "32-bit",
        }
    }
}

/// The kind of trip policy of the breaker a state was saved from.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PolicyKind {
    /// [`Consecutive`](crate::Consecutive): the count lives in the word.
    Consecutive,
    /// A rate window: the count lives in the window.
    Window,
}

impl PolicyKind {
    const fn of(consecutive: bool) -> PolicyKind {
        if consecutive {
            PolicyKind::Consecutive
        } else {
            PolicyKind::Window
        }
    }

    const fn name(self) -> &'static str {
        match self {
            PolicyKind::Consecutive => "consecutive-failure",
            PolicyKind::Window => "rate-window",
        }
    }
}

/// What the breaker was doing, in durations.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Saved {
    Closed { failures: u32 },
    Open { backoff_level: u8, retry_after_ms: u64 },
    HalfOpen { backoff_level: u8 },
    ForcedOpen,
    ForcedClosed,
}

/// A breaker's state in a form that survives a restart, from [`Breaker::save`]; put it back
/// with [`Breaker::restore`]. See the `restore` module docs (README, "State that survives a
/// restart") for what is kept.
///
/// Stores durations, never clock readings. Two forms: [`to_bytes`](SavedState::to_bytes) /
/// [`from_bytes`](SavedState::from_bytes) (fixed size, versioned, checksummed) and, with the
/// `serde` feature, `Serialize` / `Deserialize`.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, SavedState, State};
/// use core::time::Duration;
///
/// let config = Config::new().failure_threshold(1).recovery_timeout(Duration::from_secs(60));
/// let clock = ManualClock::new();
/// let before = Breaker::try_new("db", config, &clock).unwrap();
/// let _ = before.call(|| Err::<(), _>("down"));
/// clock.advance(Duration::from_secs(15));
/// let bytes = before.save().to_bytes(); // kept across the restart
///
/// let clock = ManualClock::new(); // the clock restarts too
/// let after = Breaker::try_new("db", config, &clock).unwrap();
/// after.restore(&SavedState::from_bytes(&bytes).unwrap()).unwrap();
/// assert_eq!(after.state(), State::Open);
/// assert_eq!(after.try_acquire().unwrap_err().retry_after(), Some(Duration::from_secs(45)));
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SavedState {
    format: u8,
    layout: Layout,
    policy: PolicyKind,
    state: Saved,
}

/// First byte of the binary form: tells a saved state from zeroed or random memory (with the
/// checksum).
const MAGIC: u8 = 0xB5;
const TAG_CLOSED: u8 = 1;
const TAG_OPEN: u8 = 2;
const TAG_HALF_OPEN: u8 = 3;
const TAG_FORCED_OPEN: u8 = 4;
const TAG_DISABLED: u8 = 5;

impl SavedState {
    /// The format version this build writes and reads (byte 1 of the binary form).
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, SavedState};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// assert_eq!(breaker.save().to_bytes()[1], SavedState::FORMAT);
    /// ```
    pub const FORMAT: u8 = 1;

    /// Size of the binary form, in bytes.
    ///
    /// ```text
    ///   0      magic 0xB5
    ///   1      format version (1)
    ///   2      word layout: 64 or 32
    ///   3      trip policy: 1 consecutive failures, 2 rate window
    ///   4      state: 1 closed, 2 open, 3 half-open, 4 forced open, 5 forced closed
    ///   5      backoff level (open, half-open; else 0)
    ///   6..10  consecutive failures, u32 little-endian (closed; else 0)
    ///   10..18 time left before a probe in ms, u64 little-endian (open; else 0)
    ///   18..20 reserved, 0
    ///   20..24 CRC-32 (IEEE 802.3) of bytes 0..20, little-endian
    /// ```
    pub const BYTES: usize = 24;

    /// The state the breaker was in when saved.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// breaker.force_open();
    /// assert_eq!(breaker.save().state(), State::ForcedOpen);
    /// ```
    pub const fn state(&self) -> State {
        match self.state {
            Saved::Closed { .. } => State::Closed,
            Saved::Open { .. } => State::Open,
            Saved::HalfOpen { .. } => State::HalfOpen,
            Saved::ForcedOpen => State::ForcedOpen,
            Saved::ForcedClosed => State::ForcedClosed,
        }
    }

    /// Consecutive failures counted in CLOSED (0 in other states, and under a rate policy).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!(breaker.save().failure_count(), 1);
    /// ```
    pub const fn failure_count(&self) -> u32 {
        match self.state {
            Saved::Closed { failures } => failures,
            _ => 0,
        }
    }

    /// Failed recoveries in a row (OPEN and HALF_OPEN; 0 otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!(breaker.save().backoff_level(), 0);
    /// ```
    pub const fn backoff_level(&self) -> u32 {
        match self.state {
            Saved::Open { backoff_level, .. } | Saved::HalfOpen { backoff_level } => backoff_level as u32,
            _ => 0,
        }
    }

    /// While OPEN: the time that was left before a probe (zero if the open period was over).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    /// use core::time::Duration;
    ///
    /// let breaker = Breaker::try_new("db", Config::new().failure_threshold(1), ManualClock::new()).unwrap();
    /// assert_eq!(breaker.save().retry_after(), None);
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// assert_eq!(breaker.save().retry_after(), Some(Duration::from_secs(60)));
    /// ```
    pub const fn retry_after(&self) -> Option<Duration> {
        match self.state {
            Saved::Open { retry_after_ms, .. } => Some(Duration::from_millis(retry_after_ms)),
            _ => None,
        }
    }

    /// The word layout it was saved on: `"64-bit"` or `"32-bit"` (see
    /// [`WORD_LAYOUT`](crate::limits::WORD_LAYOUT)). It restores only on the same layout.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock};
    /// use breaker_core::limits::WORD_LAYOUT;
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// assert_eq!(breaker.save().layout(), WORD_LAYOUT);
    /// ```
    pub const fn layout(&self) -> &'static str {
        self.layout.name()
    }

    /// The same breaker (word layout and trip policy) saved OPEN instead, at `backoff_level`,
    /// with `retry_after` left before a probe: for a store that hands one breaker's state to
    /// others (a fleet through `breaker-redis`), or a test. Whether it fits a breaker's config
    /// is checked, as always, by [`Breaker::restore`].
    ///
    /// # Errors
    ///
    /// [`RestoreError::BackoffLevel`] if `backoff_level` does not fit the saved form (above
    /// 255), [`RestoreError::Invalid`] (field `retry_after`) if `retry_after` is 2^64 ms or more,
    /// which the saved form cannot hold. A fraction of a millisecond is rounded up.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    /// use core::time::Duration;
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let open = breaker.save().with_open(0, Duration::from_secs(20)).unwrap();
    /// breaker.restore(&open).unwrap();
    /// assert_eq!(breaker.state(), State::Open);
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(Duration::from_secs(20)));
    /// ```
    pub fn with_open(&self, backoff_level: u32, retry_after: Duration) -> Result<SavedState, RestoreError> {
        let level = u8::try_from(backoff_level)
            .map_err(|_| RestoreError::BackoffLevel { level: backoff_level, max: u32::from(u8::MAX) })?;
        // Rounded up to the next ms: never a probe earlier than asked.
        let ms = retry_after.as_nanos().div_ceil(1_000_000);
        let retry_after_ms = u64::try_from(ms).map_err(|_| RestoreError::Invalid { field: "retry_after" })?;
        Ok(SavedState { state: Saved::Open { backoff_level: level, retry_after_ms }, ..*self })
    }

    /// The same breaker (word layout and trip policy) saved CLOSED with no failures: the
    /// counterpart of [`with_open`](SavedState::with_open).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// breaker.force_open();
    /// breaker.restore(&breaker.save().with_closed()).unwrap();
    /// assert_eq!((breaker.state(), breaker.failure_count()), (State::Closed, 0));
    /// ```
    pub const fn with_closed(&self) -> SavedState {
        SavedState { state: Saved::Closed { failures: 0 }, ..*self }
    }

    /// The fixed-size binary form (layout in [`BYTES`](SavedState::BYTES)).
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, SavedState};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let saved = breaker.save();
    /// let bytes: [u8; SavedState::BYTES] = saved.to_bytes();
    /// assert_eq!(SavedState::from_bytes(&bytes), Ok(saved));
    /// ```
    pub const fn to_bytes(&self) -> [u8; SavedState::BYTES] {
        let mut b = [0u8; SavedState::BYTES];
        b[0] = MAGIC;
        b[1] = self.format;
        b[2] = match self.layout {
            Layout::Word64 => 64,
            Layout::Word32 => 32,
        };
        b[3] = match self.policy {
            PolicyKind::Consecutive => 1,
            PolicyKind::Window => 2,
        };
        let (tag, level, failures, left) = match self.state {
            Saved::Closed { failures } => (TAG_CLOSED, 0, failures, 0),
            Saved::Open { backoff_level, retry_after_ms } => (TAG_OPEN, backoff_level, 0, retry_after_ms),
            Saved::HalfOpen { backoff_level } => (TAG_HALF_OPEN, backoff_level, 0, 0),
            Saved::ForcedOpen => (TAG_FORCED_OPEN, 0, 0, 0),
            Saved::ForcedClosed => (TAG_DISABLED, 0, 0, 0),
        };
        b[4] = tag;
        b[5] = level;
        let f = failures.to_le_bytes();
        let mut i = 0;
        while i < 4 {
            b[6 + i] = f[i];
            i += 1;
        }
        let l = left.to_le_bytes();
        let mut i = 0;
        while i < 8 {
            b[10 + i] = l[i];
            i += 1;
        }
        let crc = crc32(&b, 20).to_le_bytes();
        let mut i = 0;
        while i < 4 {
            b[20 + i] = crc[i];
            i += 1;
        }
        b
    }

    /// Reads the binary form back. Checks the magic number, the checksum, the format version
    /// and that every field holds a value [`to_bytes`](SavedState::to_bytes) writes; whether it
    /// fits a particular breaker is checked by [`Breaker::restore`].
    ///
    /// # Errors
    ///
    /// [`RestoreError::Corrupt`] (wrong magic number or checksum: zeroed, uninitialised or
    /// overwritten memory), [`RestoreError::UnsupportedFormat`], [`RestoreError::Invalid`].
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{RestoreError, SavedState};
    ///
    /// // What no-init RAM holds after a power-on reset, say.
    /// assert_eq!(SavedState::from_bytes(&[0; SavedState::BYTES]), Err(RestoreError::Corrupt));
    /// ```
    pub const fn from_bytes(b: &[u8; SavedState::BYTES]) -> Result<SavedState, RestoreError> {
        if b[0] != MAGIC || crc32(b, 20) != u32::from_le_bytes([b[20], b[21], b[22], b[23]]) {
            return Err(RestoreError::Corrupt);
        }
        if b[1] != SavedState::FORMAT {
            return Err(RestoreError::UnsupportedFormat { found: b[1], supported: SavedState::FORMAT });
        }
        let layout = match b[2] {
            64 => Layout::Word64,
            32 => Layout::Word32,
            _ => return Err(RestoreError::Invalid { field: "layout" }),
        };
        let policy = match b[3] {
            1 => PolicyKind::Consecutive,
            2 => PolicyKind::Window,
            _ => return Err(RestoreError::Invalid { field: "policy" }),
        };
        let tag = b[4];
        if tag < TAG_CLOSED || tag > TAG_DISABLED {
            return Err(RestoreError::Invalid { field: "state" });
        }
        let level = b[5];
        let failures = u32::from_le_bytes([b[6], b[7], b[8], b[9]]);
        let left = u64::from_le_bytes([b[10], b[11], b[12], b[13], b[14], b[15], b[16], b[17]]);
        if b[18] != 0 || b[19] != 0 {
            return Err(RestoreError::Invalid { field: "reserved" });
        }
        // Each field is written only by the states it belongs to, and 0 elsewhere.
        if level != 0 && !matches!(tag, TAG_OPEN | TAG_HALF_OPEN) {
            return Err(RestoreError::Invalid { field: "backoff_level" });
        }
        if failures != 0 && tag != TAG_CLOSED {
            return Err(RestoreError::Invalid { field: "failure_count" });
        }
        if left != 0 && tag != TAG_OPEN {
            return Err(RestoreError::Invalid { field: "retry_after" });
        }
        let state = match tag {
            TAG_CLOSED => Saved::Closed { failures },
            TAG_OPEN => Saved::Open { backoff_level: level, retry_after_ms: left },
            TAG_HALF_OPEN => Saved::HalfOpen { backoff_level: level },
            TAG_FORCED_OPEN => Saved::ForcedOpen,
            _ => Saved::ForcedClosed,
        };
        Ok(SavedState { format: b[1], layout, policy, state })
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it) of `bytes[..len]`, bit by bit: no table,
/// a few dozen bytes of code.
const fn crc32(bytes: &[u8], len: usize) -> u32 {
    let mut crc = !0u32;
    let mut i = 0;
    while i < len && i < bytes.len() {
        crc ^= bytes[i] as u32;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            k += 1;
        }
        i += 1;
    }
    !crc
}

/// A saved state could not be restored (or read back from bytes). The breaker is left as it was.
///
/// # Examples
///
/// ```
/// use breaker_core::{Breaker, Config, ManualClock, RestoreError, State};
///
/// let lenient = Breaker::try_new("db", Config::new().failure_threshold(5), ManualClock::new()).unwrap();
/// for _ in 0..4 {
///     let _ = lenient.call(|| Err::<(), _>("down"));
/// }
/// let saved = lenient.save();
///
/// let strict = Breaker::try_new("db", Config::new().failure_threshold(3), ManualClock::new()).unwrap();
/// let err = strict.restore(&saved).unwrap_err();
/// assert_eq!(err, RestoreError::FailureCount { count: 4, threshold: 3 });
/// assert_eq!(
///     err.to_string(),
///     "cannot restore breaker state: its failure count 4 is not below this breaker's failure threshold 3"
/// );
/// assert_eq!((strict.state(), strict.failure_count()), (State::Closed, 0)); // starts fresh
/// ```
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// The bytes are not a saved state: wrong magic number or checksum.
    Corrupt,
    /// Written in a format version this build does not read.
    UnsupportedFormat {
        /// The version found.
        found: u8,
        /// The version this build reads ([`SavedState::FORMAT`]).
        supported: u8,
    },
    /// A field holds a value no breaker writes.
    Invalid {
        /// The field.
        field: &'static str,
    },
    /// Saved on the other word layout (see [`WORD_LAYOUT`](crate::limits::WORD_LAYOUT)).
    Layout {
        /// The saved state's layout.
        saved: &'static str,
        /// This breaker's.
        current: &'static str,
    },
    /// Saved from a breaker with the other kind of trip policy (consecutive failures, or a
    /// rate window).
    Policy {
        /// The saved state's.
        saved: &'static str,
        /// This breaker's.
        current: &'static str,
    },
    /// The consecutive-failure count is not below this breaker's failure threshold.
    FailureCount {
        /// The saved count.
        count: u32,
        /// This breaker's threshold.
        threshold: u32,
    },
    /// The backoff level is above the highest this breaker's config reaches (at most
    /// [`MAX_BACKOFF_LEVEL`](crate::limits::MAX_BACKOFF_LEVEL)).
    BackoffLevel {
        /// The saved level.
        level: u32,
        /// The highest level this breaker reaches.
        max: u32,
    },
    /// The time left open is longer than this breaker stays open at that backoff level
    /// (including the largest jitter).
    RetryAfter {
        /// The saved time left, in ms.
        ms: u64,
        /// The longest open period at that level, in ms.
        max_ms: u64,
    },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot restore breaker state: ")?;
        match *self {
            RestoreError::Corrupt => f.write_str("not a saved state (wrong magic number or checksum)"),
            RestoreError::UnsupportedFormat { found, supported } => {
                write!(f, "format version {found}, this build reads version {supported}")
            }
            RestoreError::Invalid { field } => write!(f, "`{field}` holds a value no breaker writes"),
            RestoreError::Layout { saved, current } => {
                write!(f, "saved on the {saved} word layout, this build uses the {current} layout")
            }
            RestoreError::Policy { saved, current } => {
                write!(f, "saved from a breaker with a {saved} policy, this one has a {current} policy")
            }
            RestoreError::FailureCount { count, threshold } => write!(
                f,
                "its failure count {count} is not below this breaker's failure threshold {threshold}"
            ),
            RestoreError::BackoffLevel { level, max } => write!(
                f,
                "its backoff level {level} is above {max}, the highest this breaker's config reaches"
            ),
            RestoreError::RetryAfter { ms, max_ms } => write!(
                f,
                "its open time left, {ms} ms, is longer than this breaker stays open at that \
                 backoff level ({max_ms} ms)"
            ),
        }
    }
}

impl core::error::Error for RestoreError {}

/// What a checked saved state restores: the target of the `Restore` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Restored {
    /// CLOSED with this many consecutive failures.
    Closed {
        failures: u32,
    },
    /// OPEN at `level`, admitting a probe after `left` ms (at most the level's longest period).
    Open {
        level: u32,
        left: Ms,
    },
    ForcedOpen,
    ForcedClosed,
}

/// The highest backoff level `cfg` reaches: where `next_level` stops climbing.
const fn max_level(cfg: &ValidConfig) -> u32 {
    let mut level = 0;
    loop {
        let next = cfg.next_level(level);
        if next == level {
            return level;
        }
        level = next;
    }
}

/// Checks `saved` against a breaker with config `cfg` and a consecutive (`true`) or rate-window
/// policy, and says what to restore.
pub(crate) const fn plan(
    saved: &SavedState,
    cfg: &ValidConfig,
    consecutive: bool,
) -> Result<Restored, RestoreError> {
    if saved.format != SavedState::FORMAT {
        return Err(RestoreError::UnsupportedFormat { found: saved.format, supported: SavedState::FORMAT });
    }
    if !matches!(
        (saved.layout, Layout::CURRENT),
        (Layout::Word64, Layout::Word64) | (Layout::Word32, Layout::Word32)
    ) {
        return Err(RestoreError::Layout { saved: saved.layout.name(), current: Layout::CURRENT.name() });
    }
    let current = PolicyKind::of(consecutive);
    if !matches!(
        (saved.policy, current),
        (PolicyKind::Consecutive, PolicyKind::Consecutive) | (PolicyKind::Window, PolicyKind::Window)
    ) {
        return Err(RestoreError::Policy { saved: saved.policy.name(), current: current.name() });
    }
    let level = match saved.state {
        Saved::Open { backoff_level, .. } | Saved::HalfOpen { backoff_level } => {
            let max = max_level(cfg);
            if backoff_level as u32 > max {
                return Err(RestoreError::BackoffLevel { level: backoff_level as u32, max });
            }
            backoff_level as u32
        }
        _ => 0,
    };
    Ok(match saved.state {
        Saved::Closed { failures } => {
            if !consecutive && failures != 0 {
                // A rate-window breaker counts in its window; its word never holds a count.
                return Err(RestoreError::Invalid { field: "failure_count" });
            }
            if failures >= cfg.failure_threshold {
                return Err(RestoreError::FailureCount { count: failures, threshold: cfg.failure_threshold });
            }
            Restored::Closed { failures }
        }
        Saved::Open { retry_after_ms, .. } => {
            let max_ms = cfg.backoff_ms(level) as u64 + cfg.jitter_ms as u64;
            if retry_after_ms > max_ms {
                return Err(RestoreError::RetryAfter { ms: retry_after_ms, max_ms });
            }
            // `max_ms` is at most `MAX_OPEN_MS` (validated), which fits `Ms`.
            Restored::Open { level, left: retry_after_ms as Ms }
        }
        Saved::HalfOpen { .. } => Restored::Closed { failures: 0 },
        Saved::ForcedOpen => Restored::ForcedOpen,
        Saved::ForcedClosed => Restored::ForcedClosed,
    })
}

/// The saved form of `word` under `cfg` at clock reading `now` (used only when OPEN).
pub(crate) const fn saved_from(word: Word, cfg: &ValidConfig, now: Ms, consecutive: bool) -> SavedState {
    let d = layout::decode(word);
    let state = match d.phase {
        Phase::Closed { failures, .. } => Saved::Closed { failures },
        Phase::Open { opened_at, level } => {
            let left = match open_retry_ms(cfg, opened_at, level, d.gen, now) {
                Some(ms) => ms as u64,
                None => 0,
            };
            Saved::Open { backoff_level: level as u8, retry_after_ms: left }
        }
        Phase::HalfOpen { level, .. } => Saved::HalfOpen { backoff_level: level as u8 },
        Phase::ForcedOpen => Saved::ForcedOpen,
        Phase::ForcedClosed => Saved::ForcedClosed,
    };
    SavedState {
        format: SavedState::FORMAT,
        layout: Layout::CURRENT,
        policy: PolicyKind::of(consecutive),
        state,
    }
}

/// The transition the `Restore` event makes from `word`: into `target`, in a new generation
/// (reported, trigger `Restore`) when the state changes; in place, unreported, when the breaker
/// is already in that state (a CLOSED count or an OPEN period replaced, like any count change).
/// An OPEN target needs the time: its open timestamp is put `period − left` in the past, where
/// `period` is the open duration of the cycle it enters (`left` is cut to `period`).
pub(crate) const fn step(word: Word, target: Restored, now: Option<Now>, cfg: &ValidConfig) -> Step {
    let Decoded { gen, phase } = layout::decode(word);
    let from = state_of(phase);
    let (next_phase, failure_count, served) = match (target, phase) {
        (Restored::Closed { failures }, Phase::Closed { ramping, .. }) => {
            return in_place(gen, Phase::Closed { failures, ramping });
        }
        (Restored::Closed { failures }, _) => (Phase::Closed { failures, ramping: false }, failures, None),
        (Restored::Open { level, left }, _) => {
            let Some(now) = now else {
                return Step::NeedsTime;
            };
            let same = matches!(phase, Phase::Open { .. });
            let period = cfg.open_ms(level, if same { gen } else { layout::next_gen(gen) });
            let served = period - if left < period { left } else { period };
            let open = Phase::Open {
                opened_at: layout::stamp(now.ms.wrapping_sub(served), cfg.stamp_shift()),
                level,
            };
            if same {
                return in_place(gen, open);
            }
            (open, 0, Some(served))
        }
        (Restored::ForcedOpen, Phase::ForcedOpen) | (Restored::ForcedClosed, Phase::ForcedClosed) => {
            return Step::Done { next: word, outcome: Outcome::Controlled, change: None };
        }
        (Restored::ForcedOpen, _) => (Phase::ForcedOpen, 0, None),
        (Restored::ForcedClosed, _) => (Phase::ForcedClosed, 0, None),
    };
    let gen = layout::next_gen(gen);
    let level = match next_phase {
        Phase::Open { level, .. } => level,
        _ => 0,
    };
    Step::Done {
        next: layout::encode(Decoded { gen, phase: next_phase }),
        outcome: Outcome::Controlled,
        change: Some(Change {
            from,
            to: state_of(next_phase),
            trigger: Trigger::Restore,
            failure_count,
            open_for_ms: served,
            level,
            gen,
            stamp: false,
        }),
    }
}

const fn in_place(gen: u32, phase: Phase) -> Step {
    Step::Done { next: layout::encode(Decoded { gen, phase }), outcome: Outcome::Controlled, change: None }
}

impl<C: Clock, O: Observer, P: Policy> Breaker<C, O, P> {
    /// The breaker's state in a form that survives a restart (see [`SavedState`]): one load of
    /// the word, and a clock read if OPEN.
    ///
    /// # Examples
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, State};
    ///
    /// let breaker = Breaker::try_new("db", Config::new(), ManualClock::new()).unwrap();
    /// let _ = breaker.call(|| Err::<(), _>("down"));
    /// let saved = breaker.save();
    /// assert_eq!((saved.state(), saved.failure_count()), (State::Closed, 1));
    /// ```
    pub fn save(&self) -> SavedState {
        let word = self.word.load(Ordering::Acquire);
        let cfg = self.config.read();
        let now = match layout::decode(word).phase {
            Phase::Open { .. } => self.clock.now().as_millis() as Ms,
            _ => 0,
        };
        saved_from(word, &cfg, now, P::CONSECUTIVE)
    }

    /// Puts a saved state back into this breaker, live: a `static` breaker can be restored at
    /// boot, before or while it is used. A change of state is a transition into a new
    /// generation, reported once with [`Trigger::Restore`](crate::Trigger::Restore); calls
    /// admitted before it are not counted after it.
    ///
    /// # Errors
    ///
    /// A [`RestoreError`] when `saved` does not fit this breaker (see the module docs); the
    /// breaker is left as it was.
    ///
    /// # Examples
    ///
    /// A firmware breaker in a `static`, restored at boot from no-init RAM:
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, ManualClock, SavedState, State, ValidConfig};
    ///
    /// const CONFIG: ValidConfig = match Config::new().failure_threshold(3).validate() {
    ///     Ok(c) => c,
    ///     Err(_) => panic!("bad config"),
    /// };
    /// static CLOCK: ManualClock = ManualClock::new();
    /// static SENSOR: Breaker<&ManualClock> = Breaker::new("sensor", CONFIG, &CLOCK);
    ///
    /// # let kept = { let b = Breaker::new("sensor", CONFIG, ManualClock::new()); b.force_open(); b.save().to_bytes() };
    /// // `kept` survived the reset in no-init RAM.
    /// if let Ok(saved) = SavedState::from_bytes(&kept) {
    ///     // An error (a firmware update changed the config, say) leaves the breaker fresh.
    ///     let _ = SENSOR.restore(&saved);
    /// } // else: a power-on reset, nothing was saved
    /// assert_eq!(SENSOR.state(), State::ForcedOpen);
    /// ```
    pub fn restore(&self, saved: &SavedState) -> Result<(), RestoreError> {
        let target = plan(saved, &self.config.read(), P::CONSECUTIVE)?;
        self.apply_with(
            |word, now, cfg| step(word, target, now, cfg),
            self.word.load(Ordering::Acquire),
            true,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{encode, GENERATIONS, MAX_BACKOFF_LEVEL, MAX_FAILURE_THRESHOLD, TIME_MODULUS};
    use crate::Config;
    use std::vec::Vec;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn with_open_and_with_closed_keep_layout_and_policy_and_check_their_input() {
        let b = Breaker::try_new("db", Config::new().recovery_timeout(ms(60_000)), crate::ManualClock::new())
            .unwrap();
        let own = b.save();
        let open = own.with_open(0, Duration::from_micros(20_000_001)).unwrap();
        assert_eq!((open.state(), open.layout(), open.policy), (State::Open, own.layout(), own.policy));
        assert_eq!(open.retry_after(), Some(ms(20_001)), "a fraction of a ms rounds up");
        assert_eq!(SavedState::from_bytes(&open.to_bytes()), Ok(open));
        b.restore(&open).unwrap();
        assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(ms(20_001)));
        assert_eq!(own.with_open(256, ms(1)), Err(RestoreError::BackoffLevel { level: 256, max: 255 }));
        assert_eq!(own.with_open(0, Duration::MAX), Err(RestoreError::Invalid { field: "retry_after" }));
        assert_eq!(
            b.restore(&own.with_open(0, ms(61_000)).unwrap()),
            Err(RestoreError::RetryAfter { ms: 61_000, max_ms: 60_000 })
        );
        let closed = b.save().with_closed();
        assert_eq!((closed.state(), closed.failure_count()), (State::Closed, 0));
        b.restore(&closed).unwrap();
        assert_eq!(b.state(), State::Closed);
    }

    /// Configs of every shape the checks depend on: with and without backoff and jitter.
    fn configs() -> Vec<ValidConfig> {
        #[cfg_attr(not(feature = "policies"), allow(unused_mut))]
        let mut v = std::vec![
            Config::new().failure_threshold(1).recovery_timeout(ms(1_000)),
            Config::new().failure_threshold(3).recovery_timeout(ms(250)).half_open_probes(2),
        ];
        #[cfg(feature = "policies")]
        v.extend([
            Config::new().failure_threshold(2).recovery_timeout(ms(100)).backoff(ms(800)),
            Config::new().recovery_timeout(ms(100)).backoff(ms(350)).jitter(ms(40), 0xfeed),
            Config::new().recovery_timeout(ms(1)).backoff(ms(crate::limits::MAX_OPEN_MS / 2)),
        ]);
        v.into_iter().map(|c| c.validate().unwrap()).collect()
    }

    fn saved(state: Saved) -> SavedState {
        SavedState {
            format: SavedState::FORMAT,
            layout: Layout::CURRENT,
            policy: PolicyKind::Consecutive,
            state,
        }
    }

    fn open(level: u8, left: u64) -> Saved {
        Saved::Open { backoff_level: level, retry_after_ms: left }
    }

    fn w(gen: u32, phase: Phase) -> Word {
        encode(Decoded { gen, phase })
    }

    /// Every phase a live breaker can be in when a restore arrives.
    fn current_phases() -> [Phase; 8] {
        [
            Phase::Closed { failures: 0, ramping: false },
            Phase::Closed { failures: 2, ramping: false },
            Phase::Closed { failures: 0, ramping: true },
            Phase::Open { opened_at: 77, level: 0 },
            Phase::Open { opened_at: TIME_MODULUS - 1, level: 1 },
            Phase::HalfOpen { issued: 1, successes: 0, level: 1 },
            Phase::ForcedOpen,
            Phase::ForcedClosed,
        ]
    }

    fn done(step: Step) -> (Word, Option<Change>) {
        match step {
            Step::Done { next, outcome, change } => {
                assert_eq!(outcome, Outcome::Controlled);
                (next, change)
            }
            Step::NeedsTime => panic!("asked for time with the time given"),
        }
    }

    #[test]
    fn plan_accepts_what_the_config_can_produce_up_to_each_limit() {
        for cfg in configs() {
            let top = max_level(&cfg);
            assert!(top <= MAX_BACKOFF_LEVEL);
            assert_eq!(cfg.next_level(top), top, "the level stops climbing at the top");
            let t = cfg.failure_threshold;
            assert_eq!(
                plan(&saved(Saved::Closed { failures: t - 1 }), &cfg, true),
                Ok(Restored::Closed { failures: t - 1 })
            );
            for level in 0..=top {
                let longest = cfg.backoff_ms(level) as u64 + cfg.jitter_ms as u64;
                for left in [0, 1, longest / 2, longest] {
                    assert_eq!(
                        plan(&saved(open(level as u8, left)), &cfg, true),
                        Ok(Restored::Open { level, left: left as Ms }),
                    );
                }
                let half = saved(Saved::HalfOpen { backoff_level: level as u8 });
                assert_eq!(plan(&half, &cfg, true), Ok(Restored::Closed { failures: 0 }));
            }
            assert_eq!(plan(&saved(Saved::ForcedOpen), &cfg, true), Ok(Restored::ForcedOpen));
            assert_eq!(
                plan(&saved(Saved::ForcedClosed), &cfg, false),
                Err(RestoreError::Policy { saved: "consecutive-failure", current: "rate-window" })
            );
        }
    }

    #[test]
    fn plan_rejects_everything_else_naming_it() {
        for cfg in configs() {
            let top = max_level(&cfg);
            let t = cfg.failure_threshold;
            for failures in [t, t + 1, MAX_FAILURE_THRESHOLD, u32::MAX] {
                assert_eq!(
                    plan(&saved(Saved::Closed { failures }), &cfg, true),
                    Err(RestoreError::FailureCount { count: failures, threshold: t })
                );
            }
            for level in [top + 1, MAX_BACKOFF_LEVEL + 1, 255] {
                let max = RestoreError::BackoffLevel { level, max: top };
                assert_eq!(plan(&saved(open(level as u8, 0)), &cfg, true), Err(max));
                assert_eq!(
                    plan(&saved(Saved::HalfOpen { backoff_level: level as u8 }), &cfg, true),
                    Err(max)
                );
            }
            for level in 0..=top {
                let longest = cfg.backoff_ms(level) as u64 + cfg.jitter_ms as u64;
                for left in [longest + 1, u64::MAX] {
                    assert_eq!(
                        plan(&saved(open(level as u8, left)), &cfg, true),
                        Err(RestoreError::RetryAfter { ms: left, max_ms: longest })
                    );
                }
            }
            let other_layout =
                if Layout::CURRENT == Layout::Word64 { Layout::Word32 } else { Layout::Word64 };
            let s = SavedState { layout: other_layout, ..saved(Saved::ForcedClosed) };
            assert_eq!(
                plan(&s, &cfg, true),
                Err(RestoreError::Layout { saved: other_layout.name(), current: crate::limits::WORD_LAYOUT })
            );
            let s = SavedState { format: 2, ..saved(Saved::ForcedClosed) };
            assert_eq!(plan(&s, &cfg, true), Err(RestoreError::UnsupportedFormat { found: 2, supported: 1 }));
            let window = SavedState { policy: PolicyKind::Window, ..saved(Saved::Closed { failures: 0 }) };
            assert_eq!(plan(&window, &cfg, false), Ok(Restored::Closed { failures: 0 }));
            assert_eq!(
                plan(&window, &cfg, true),
                Err(RestoreError::Policy { saved: "rate-window", current: "consecutive-failure" })
            );
            let counted = SavedState { state: Saved::Closed { failures: 1 }, ..window };
            assert_eq!(plan(&counted, &cfg, false), Err(RestoreError::Invalid { field: "failure_count" }));
        }
    }

    #[test]
    fn save_reads_durations_from_every_phase() {
        for cfg in configs() {
            let t = cfg.failure_threshold;
            let g = 9;
            let closed = saved_from(w(g, Phase::Closed { failures: t - 1, ramping: true }), &cfg, 5, true);
            assert_eq!(closed.state, Saved::Closed { failures: t - 1 });
            for level in 0..=max_level(&cfg) {
                let period = cfg.open_ms(level, g);
                let word = w(g, Phase::Open { opened_at: layout::stamp(TIME_MODULUS - 3, 0), level });
                // Opened 3 ms before the stamp wraps; read 0, 10 ms and a whole period later.
                let ten = period.min(10);
                for (elapsed, left) in [(0, period), (ten, period - ten), (period, 0), (period + 5, 0)] {
                    let now = (TIME_MODULUS - 3).wrapping_add(elapsed);
                    let s = saved_from(word, &cfg, now, true);
                    assert_eq!(s.state, open(level as u8, left as u64), "level {level}, {elapsed} ms in");
                    assert_eq!(s.retry_after(), Some(Duration::from_millis(left as u64)));
                }
            }
            let half = saved_from(w(g, Phase::HalfOpen { issued: 1, successes: 0, level: 2 }), &cfg, 0, true);
            assert_eq!((half.state(), half.backoff_level()), (State::HalfOpen, 2));
            assert_eq!(saved_from(w(g, Phase::ForcedOpen), &cfg, 0, true).state(), State::ForcedOpen);
            let disabled = saved_from(w(g, Phase::ForcedClosed), &cfg, 0, false);
            assert_eq!((disabled.state(), disabled.policy), (State::ForcedClosed, PolicyKind::Window));
            assert_eq!((disabled.layout(), disabled.format), (crate::limits::WORD_LAYOUT, 1));
        }
    }

    /// Every current phase × every kind of target × clock readings around the wrap: the word the
    /// step writes, whether it reports, and (OPEN) that the probe comes exactly `left` later.
    #[test]
    fn step_from_every_phase_to_every_target() {
        for cfg in configs() {
            let top = max_level(&cfg);
            let mut targets = std::vec![
                Restored::Closed { failures: 0 },
                Restored::Closed { failures: cfg.failure_threshold - 1 },
                Restored::ForcedOpen,
                Restored::ForcedClosed,
            ];
            for level in [0, top] {
                let longest = cfg.backoff_ms(level) + cfg.jitter_ms;
                for left in [0, 1, cfg.backoff_ms(level) / 2, longest] {
                    targets.push(Restored::Open { level, left });
                }
            }
            for gen in [0, GENERATIONS - 1] {
                for phase in current_phases() {
                    let word = w(gen, phase);
                    for target in targets.iter().copied() {
                        // Fewer readings under Miri, which runs this a thousand times slower.
                        let nows: &[Ms] = if cfg!(miri) {
                            &[TIME_MODULUS - 1]
                        } else {
                            &[0, 12_345, TIME_MODULUS - 1, TIME_MODULUS + 2]
                        };
                        for &now in nows {
                            check_step(&cfg, word, target, now);
                        }
                    }
                }
            }
        }
    }

    fn check_step(cfg: &ValidConfig, word: Word, target: Restored, now: Ms) {
        let before = layout::decode(word);
        let needs_time = matches!(target, Restored::Open { .. });
        assert_eq!(step(word, target, None, cfg) == Step::NeedsTime, needs_time, "{target:?}");
        let (next, change) = done(step(word, target, Some(Now { ms: now, phase_elapsed: None }), cfg));
        let after = layout::decode(next);
        let to = match target {
            Restored::Closed { .. } => State::Closed,
            Restored::Open { .. } => State::Open,
            Restored::ForcedOpen => State::ForcedOpen,
            Restored::ForcedClosed => State::ForcedClosed,
        };
        let from = state_of(before.phase);
        assert_eq!(state_of(after.phase), to);
        // A new, reported generation exactly when the state changes.
        match change {
            Some(c) => {
                assert_ne!(from, to, "{before:?} -> {target:?}");
                assert_eq!(
                    (c.from, c.to, c.trigger, c.gen, c.stamp),
                    (from, to, Trigger::Restore, after.gen, false)
                );
                assert_eq!(after.gen, layout::next_gen(before.gen));
            }
            None => {
                assert_eq!(from, to, "{before:?} -> {target:?}");
                assert_eq!(after.gen, before.gen);
            }
        }
        match (target, after.phase) {
            (Restored::Closed { failures }, Phase::Closed { failures: f, ramping }) => {
                assert_eq!(f, failures);
                // A ramp is never started by a restore; one in progress in place is kept.
                let was_ramping = matches!(before.phase, Phase::Closed { ramping: true, .. });
                assert_eq!(ramping, was_ramping);
                if let Some(c) = change {
                    assert_eq!((c.failure_count, c.open_for_ms, c.level), (failures, None, 0));
                }
            }
            (Restored::Open { level, left }, Phase::Open { opened_at, level: l }) => {
                assert_eq!(l, level);
                let period = cfg.open_ms(level, after.gen);
                let left = left.min(period);
                let retry = open_retry_ms(cfg, opened_at, level, after.gen, now);
                assert_eq!(retry, if left == 0 { None } else { Some(left) }, "{target:?} at {now}");
                // ... and a probe is admitted exactly `left` later, not a millisecond before.
                assert_eq!(open_retry_ms(cfg, opened_at, level, after.gen, now.wrapping_add(left)), None);
                if left > 0 {
                    let just_before = now.wrapping_add(left - 1);
                    assert_eq!(open_retry_ms(cfg, opened_at, level, after.gen, just_before), Some(1));
                }
                if let Some(c) = change {
                    assert_eq!((c.level, c.open_for_ms, c.failure_count), (level, Some(period - left), 0));
                }
            }
            (Restored::ForcedOpen, Phase::ForcedOpen) | (Restored::ForcedClosed, Phase::ForcedClosed) => {
                if change.is_none() {
                    assert_eq!(next, word);
                }
            }
            other => panic!("restored into the wrong phase: {other:?}"),
        }
    }

    #[test]
    fn saved_then_restored_comes_back_as_documented() {
        for cfg in configs() {
            for level in 0..=max_level(&cfg) {
                let g = 4;
                let word = w(g, Phase::Open { opened_at: 1_000, level });
                let now = 1_000 + cfg.backoff_ms(level) / 3;
                let s = saved_from(word, &cfg, now, true);
                let s = SavedState::from_bytes(&s.to_bytes()).unwrap();
                let target = plan(&s, &cfg, true).unwrap();
                // Into a fresh breaker whose clock restarted at 0.
                let (next, change) =
                    done(step(layout::INITIAL, target, Some(Now { ms: 0, phase_elapsed: None }), &cfg));
                let restored = saved_from(next, &cfg, 0, true);
                let left = s.retry_after().unwrap().as_millis() as u64;
                let back = restored.retry_after().unwrap().as_millis() as u64;
                // Exact without jitter; cut by at most the jitter with it.
                assert!(back <= left && left - back <= cfg.jitter_ms as u64, "{left} -> {back}");
                if cfg.jitter_ms == 0 {
                    assert_eq!(restored, s);
                }
                assert_eq!(change.map(|c| (c.from, c.to)), Some((State::Closed, State::Open)));
            }
        }
    }

    #[test]
    fn bytes_round_trip_every_state_and_reject_damage() {
        let states = [
            Saved::Closed { failures: 0 },
            Saved::Closed { failures: u32::MAX },
            open(0, 0),
            open(31, u64::MAX),
            Saved::HalfOpen { backoff_level: 7 },
            Saved::ForcedOpen,
            Saved::ForcedClosed,
        ];
        for state in states {
            for (layout, policy) in
                [(Layout::Word64, PolicyKind::Window), (Layout::Word32, PolicyKind::Consecutive)]
            {
                let s = SavedState { format: 1, layout, policy, state };
                let b = s.to_bytes();
                assert_eq!(SavedState::from_bytes(&b), Ok(s));
                // CRC-32 detects every single-bit error.
                for bit in (0..SavedState::BYTES * 8).step_by(if cfg!(miri) { 13 } else { 1 }) {
                    let mut damaged = b;
                    damaged[bit / 8] ^= 1 << (bit % 8);
                    assert_eq!(SavedState::from_bytes(&damaged), Err(RestoreError::Corrupt), "bit {bit}");
                }
            }
        }
        assert_eq!(SavedState::from_bytes(&[0; SavedState::BYTES]), Err(RestoreError::Corrupt));
        assert_eq!(SavedState::from_bytes(&[0xff; SavedState::BYTES]), Err(RestoreError::Corrupt));
        // Well-formed bytes holding values no breaker writes.
        let resealed = |edit: &dyn Fn(&mut [u8; SavedState::BYTES])| {
            let mut b = saved(open(1, 500)).to_bytes();
            edit(&mut b);
            let crc = crc32(&b, 20).to_le_bytes();
            b[20..].copy_from_slice(&crc);
            SavedState::from_bytes(&b)
        };
        let invalid = |field| Err(RestoreError::Invalid { field });
        assert_eq!(resealed(&|b| b[1] = 9), Err(RestoreError::UnsupportedFormat { found: 9, supported: 1 }));
        assert_eq!(resealed(&|b| b[2] = 16), invalid("layout"));
        assert_eq!(resealed(&|b| b[3] = 0), invalid("policy"));
        assert_eq!(resealed(&|b| b[4] = 6), invalid("state"));
        assert_eq!(resealed(&|b| b[4] = TAG_CLOSED), invalid("backoff_level"));
        assert_eq!(resealed(&|b| b[6] = 1), invalid("failure_count"));
        assert_eq!(resealed(&|b| { b[4] = TAG_HALF_OPEN }), invalid("retry_after"));
        assert_eq!(resealed(&|b| b[19] = 1), invalid("reserved"));
        assert_eq!(resealed(&|_| {}), Ok(saved(open(1, 500))));
        // The checksum is zlib's CRC-32.
        assert_eq!(crc32(b"123456789", 9), 0xCBF4_3926);
    }

    #[test]
    fn the_binary_form_is_pinned() {
        let b = SavedState {
            format: 1,
            layout: Layout::Word64,
            policy: PolicyKind::Consecutive,
            state: open(2, 0x0102_0304_0506),
        }
        .to_bytes();
        assert_eq!(&b[..20], &[0xB5, 1, 64, 1, 2, 2, 0, 0, 0, 0, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases = [
            (RestoreError::Corrupt, "not a saved state (wrong magic number or checksum)"),
            (RestoreError::UnsupportedFormat { found: 2, supported: 1 }, "format version 2, this build reads version 1"),
            (RestoreError::Invalid { field: "state" }, "`state` holds a value no breaker writes"),
            (
                RestoreError::Layout { saved: "32-bit", current: "64-bit" },
                "saved on the 32-bit word layout, this build uses the 64-bit layout",
            ),
            (
                RestoreError::Policy { saved: "rate-window", current: "consecutive-failure" },
                "saved from a breaker with a rate-window policy, this one has a consecutive-failure policy",
            ),
            (
                RestoreError::BackoffLevel { level: 9, max: 3 },
                "its backoff level 9 is above 3, the highest this breaker's config reaches",
            ),
            (
                RestoreError::RetryAfter { ms: 70_000, max_ms: 60_000 },
                "its open time left, 70000 ms, is longer than this breaker stays open at that backoff level (60000 ms)",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(std::format!("{e}"), std::format!("cannot restore breaker state: {text}"));
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_form_round_trips_and_reads_well() {
        let s = saved(open(3, 1_500));
        let json = serde_json::to_string(&s).unwrap();
        let layout = crate::limits::WORD_LAYOUT;
        assert_eq!(
            json,
            std::format!(
                r#"{{"format":1,"layout":"{layout}","policy":"consecutive","state":{{"open":{{"backoff_level":3,"retry_after_ms":1500}}}}}}"#
            )
        );
        assert_eq!(serde_json::from_str::<SavedState>(&json).unwrap(), s);
        let closed: SavedState = serde_json::from_str(&std::format!(
            r#"{{"format":1,"layout":"{layout}","policy":"window","state":{{"closed":{{"failures":0}}}}}}"#
        ))
        .unwrap();
        assert_eq!((closed.state(), closed.policy), (State::Closed, PolicyKind::Window));
        assert!(serde_json::from_str::<SavedState>(r#"{"format":1,"layout":"16-bit"}"#).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::layout::{encode, GENERATIONS, TIME_MODULUS};
    use crate::Config;
    use proptest::prelude::*;

    fn config() -> impl Strategy<Value = ValidConfig> {
        (1u32..6, 1u64..5_000, 0u64..3, 0u64..300, any::<u32>()).prop_map(|(t, ms, shift, jitter, seed)| {
            let c = Config::new().failure_threshold(t).recovery_timeout(Duration::from_millis(ms));
            #[cfg(feature = "policies")]
            let c = c
                .backoff(Duration::from_millis(ms << (shift * 2)))
                .jitter(Duration::from_millis(jitter), seed);
            #[cfg(not(feature = "policies"))]
            let _ = (shift, jitter, seed);
            c.validate().unwrap()
        })
    }

    fn phase(cfg: ValidConfig) -> impl Strategy<Value = Phase> {
        let top = max_level(&cfg);
        prop_oneof![
            (0..cfg.failure_threshold, any::<bool>())
                .prop_map(|(failures, ramping)| Phase::Closed { failures, ramping }),
            (0..TIME_MODULUS, 0..=top).prop_map(|(opened_at, level)| Phase::Open { opened_at, level }),
            (0..=top).prop_map(|level| Phase::HalfOpen { issued: 1, successes: 0, level }),
            Just(Phase::ForcedOpen),
            Just(Phase::ForcedClosed),
        ]
    }

    proptest! {
        /// Whatever a breaker holds, what it saves restores into a breaker with the same config
        /// (through the bytes), and what that one saves is the same state, minus what the docs
        /// say is not kept (a half-open cycle, a ramp; up to the jitter of the open time).
        #[test]
        fn what_is_saved_restores_and_saves_again_the_same(
            (cfg, phase) in config().prop_flat_map(|c| (Just(c), phase(c))),
            gen in 0..GENERATIONS,
            live in (0..GENERATIONS, prop_oneof![Just(Phase::Closed { failures: 0, ramping: false }), Just(Phase::ForcedOpen)]),
            then in any::<Ms>(),
            boot in any::<Ms>(),
        ) {
            let word = encode(Decoded { gen, phase });
            let s = SavedState::from_bytes(&saved_from(word, &cfg, then, true).to_bytes()).unwrap();
            let target = plan(&s, &cfg, true).unwrap();
            let into = encode(Decoded { gen: live.0, phase: live.1 });
            let now = Some(Now { ms: boot, phase_elapsed: None });
            let Step::Done { next, .. } = step(into, target, now, &cfg) else { panic!("asked for time") };
            let again = saved_from(next, &cfg, boot, true);
            match (s.state, again.state) {
                (Saved::HalfOpen { .. }, back) => prop_assert_eq!(back, Saved::Closed { failures: 0 }),
                (Saved::Open { backoff_level, retry_after_ms }, Saved::Open { backoff_level: l, retry_after_ms: r }) => {
                    prop_assert_eq!(l, backoff_level);
                    prop_assert!(r <= retry_after_ms && retry_after_ms - r <= cfg.jitter_ms as u64);
                }
                (saved, back) => prop_assert_eq!(back, saved),
            }
        }
    }
}
