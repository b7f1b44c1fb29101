//! The bit layout of the breaker's atomic word. This file is the only place that knows it.
//!
//! Every piece of state the state machine decides on lives in one word so that every change is
//! one compare-and-swap: there is never a moment where the state says OPEN but the timestamp is
//! old, or where two threads each believe they opened the circuit.
//!
//! ```text
//!            MSB                                                 LSB
//!  word:   [ payload (P bits)            | generation (G bits) | tag (3) ]
//!
//!  payload by tag:
//!    CLOSED       [ ...0 | ramping (1) | failures (16) ]      consecutive failures; ramp in progress
//!    OPEN         [ level (L) | opened_at (T = P − L) ]       backoff level; clock (ms) mod 2^T
//!    HALF_OPEN    [ ...0 | level (L) | successes (8) | issued (8) ]
//!    FORCED_OPEN  [ 0 ]                                       manual: reject everything
//!    DISABLED     [ 0 ]                                       manual "force closed"
//! ```
//!
//! The widths G, P, L, T of each layout and the limits they imply are tabulated once, in the
//! public docs of `crate::limits` (`lib.rs`); the `width` modules below are what they describe.
//!
//! A second word of the same width, the *phase stamp* (`[ stamp (W − G) | generation (G) ]`),
//! records when the current phase began, for the two optional timers that need it (gradual
//! recovery after closing, stuck half-open probes). It is written after the transition by the
//! thread that made it, tagged with the generation it belongs to, and never decides a state
//! change on its own: a stamp from another generation reads as "unknown", which always yields the
//! conservative answer (see `cas.rs`).
//!
//! Invariants the rest of the crate relies on (checked at compile time below where possible):
//! - The all-zero word is CLOSED, generation 0, no failures, not ramping, so a breaker is
//!   `const`-constructible and the hot-path test "CLOSED, no failures, not ramping" is
//!   `word & !GEN_MASK == 0`.
//! - Failure counts never exceed [`MAX_FAILURE_THRESHOLD`], probe counts never exceed
//!   [`MAX_HALF_OPEN_PROBES`], the backoff level never exceeds [`MAX_BACKOFF_LEVEL`]; config
//!   validation and saturating arithmetic enforce it, so encoding never truncates.
//! - The generation changes (wrapping modulo 2^G) on every change of tag and on every reset, so a
//!   permit can tell whether the cycle it was admitted in is still the current
//!   one. A permit held across exactly a multiple of 2^G transitions would alias; the README
//!   states this horizon.
//! - Tags 5..=7 are never written.

#[cfg(any(breaker_word32, not(target_has_atomic = "64")))]
mod width {
    /// The integer type of the word on this layout.
    pub(crate) type Word = u32;
    /// Milliseconds as the state machine computes them: every stored time on this layout fits
    /// 32 bits, and 32-bit arithmetic is what a Cortex-M does in one instruction.
    pub(crate) type Ms = u32;
    /// Generation bits on this layout.
    pub(crate) const GEN_BITS: u32 = 6;
    /// Backoff-level bits on this layout.
    pub(crate) const LEVEL_BITS: u32 = 3;
    /// The coarsest open-timestamp tick a config may ask for, as a power of two of ms: the
    /// 20-bit stamp then spans 2^24 ms (4.7 hours) instead of 2^20 ms (17.5 minutes).
    pub(crate) const MAX_TICK_SHIFT: u32 = 4;
    /// `true` when the layout stores the open timestamp in the config's tick (else always in ms).
    pub(crate) const TICKED: bool = true;
    /// Name of the layout, for docs and snapshots.
    pub(crate) const NAME: &str = "32-bit";
}

#[cfg(not(any(breaker_word32, not(target_has_atomic = "64"))))]
mod width {
    /// The integer type of the word on this layout.
    pub(crate) type Word = u64;
    /// Milliseconds as the state machine computes them.
    pub(crate) type Ms = u64;
    /// Generation bits on this layout.
    pub(crate) const GEN_BITS: u32 = 16;
    /// Backoff-level bits on this layout.
    pub(crate) const LEVEL_BITS: u32 = 5;
    /// A config may ask for a tick up to 2^4 ms here too, so one config serves both layouts;
    /// this layout ignores it: its 40-bit stamp spans 34 years at 1 ms.
    pub(crate) const MAX_TICK_SHIFT: u32 = 4;
    /// `true` when the layout stores the open timestamp in the config's tick (else always in ms).
    pub(crate) const TICKED: bool = false;
    /// Name of the layout, for docs and snapshots.
    pub(crate) const NAME: &str = "64-bit";
}

pub(crate) use width::{Ms, Word, GEN_BITS, LEVEL_BITS, MAX_TICK_SHIFT, NAME, TICKED};

/// Bits of the state tag.
pub(crate) const TAG_BITS: u32 = 3;
const TAG_MASK: Word = (1 << TAG_BITS) - 1;
const GEN_SHIFT: u32 = TAG_BITS;
pub(crate) const GEN_MASK: Word = ((1 << GEN_BITS) - 1) << GEN_SHIFT;
const PAYLOAD_SHIFT: u32 = TAG_BITS + GEN_BITS;
/// Bits of the state-dependent payload.
pub(crate) const PAYLOAD_BITS: u32 = Word::BITS - PAYLOAD_SHIFT;
const PAYLOAD_MASK: Word = Word::MAX >> PAYLOAD_SHIFT;

/// Bits of the closed-state failure counter.
const FAILURE_BITS: u32 = 16;
const FAILURE_MASK: Word = (1 << FAILURE_BITS) - 1;
/// The closed-state "ramp in progress" flag, just above the failure counter.
const RAMPING_BIT: Word = 1 << FAILURE_BITS;
/// Bits of each half-open counter (admitted probes, successful probes).
const PROBE_BITS: u32 = 8;
const PROBE_MASK: Word = (1 << PROBE_BITS) - 1;
const LEVEL_MASK: Word = (1 << LEVEL_BITS) - 1;
/// Bits of the stored open timestamp.
pub(crate) const TIME_BITS: u32 = PAYLOAD_BITS - LEVEL_BITS;
const TIME_MASK: Word = (1 << TIME_BITS) - 1;

/// Largest accepted `failure_threshold`.
pub const MAX_FAILURE_THRESHOLD: u32 = (1 << FAILURE_BITS) - 1;
/// Largest accepted number of concurrent half-open probes (and of successes to close).
pub const MAX_HALF_OPEN_PROBES: u32 = (1 << PROBE_BITS) - 1;
/// Largest backoff level: the open duration doubles at most this many times before its cap.
pub const MAX_BACKOFF_LEVEL: u32 = (1 << LEVEL_BITS) - 1;
/// Modulus of the stored open timestamp, in milliseconds.
pub(crate) const TIME_MODULUS: Ms = 1 << TIME_BITS;
/// Longest time a breaker may stay OPEN in one cycle on this layout (recovery timeout, or the
/// backoff cap plus the largest jitter), in milliseconds, at the default 1 ms open-time
/// resolution. A coarser resolution extends it on the 32-bit layout: see
/// [`Config::open_time_resolution`](crate::Config::open_time_resolution).
pub const MAX_OPEN_MS: u64 = (TIME_MODULUS - 1) as u64;
/// Largest accepted recovery timeout on this layout at the default 1 ms open-time resolution, in
/// milliseconds (same as [`MAX_OPEN_MS`]; a coarser resolution extends it on the 32-bit layout).
pub const MAX_RECOVERY_TIMEOUT_MS: u64 = MAX_OPEN_MS;
/// The coarsest open-time resolution a config may ask for
/// ([`Config::open_time_resolution`](crate::Config::open_time_resolution)), in ms.
pub const MAX_OPEN_TIME_RESOLUTION_MS: u32 = 1 << MAX_TICK_SHIFT;

/// Longest open cycle on this layout for a config at open-time resolution `2^tick_shift` ms:
/// [`MAX_OPEN_MS`] at 1 ms; on the 32-bit layout `(2^T − 2) · tick + 1` ms beyond that (the
/// stamp counts ticks, and the elapsed time it gives is a lower bound up to one tick short).
/// `tick_shift` is at most [`MAX_TICK_SHIFT`].
pub(crate) const fn max_open_ms(tick_shift: u32) -> u64 {
    let shift = effective_shift(tick_shift);
    (((TIME_MODULUS - 2) as u64) << shift) + 1
}

/// The shift the word stores the open timestamp at for a config asking for `tick_shift`: the
/// asked one on the 32-bit layout, 0 on the 64-bit one (whose 1 ms stamp spans 34 years) and
/// without the `policies` feature (where a config cannot ask: the smallest firmware build keeps
/// the plain 1 ms stamp and its code).
#[inline(always)]
pub(crate) const fn effective_shift(tick_shift: u32) -> u32 {
    if TICKED && cfg!(feature = "policies") {
        tick_shift
    } else {
        0
    }
}
/// Number of distinct generations before a held permit could alias a newer cycle.
pub const GENERATIONS: u32 = 1 << GEN_BITS;

/// Bits of the phase-stamp timestamp.
pub(crate) const STAMP_BITS: u32 = Word::BITS - GEN_BITS;
/// Modulus of the phase stamp, in milliseconds.
pub(crate) const STAMP_MODULUS: Ms = 1 << STAMP_BITS;
/// Longest phase timer (ramp period, probe timeout) on this layout, in milliseconds: half the
/// stamp's range, so a stamp can always be told from one of the previous wrap.
pub const MAX_PHASE_TIMER_MS: u64 = MAX_PHASE_TIMER as u64;
/// [`MAX_PHASE_TIMER_MS`] as [`Ms`].
pub(crate) const MAX_PHASE_TIMER: Ms = STAMP_MODULUS / 2 - 1;

// Compile-time checks of the layout's arithmetic.
const _: () = {
    assert!(TAG_BITS + GEN_BITS + PAYLOAD_BITS == Word::BITS);
    assert!(FAILURE_BITS < PAYLOAD_BITS, "failure counter and ramp flag must fit the payload");
    assert!(2 * PROBE_BITS + LEVEL_BITS <= PAYLOAD_BITS, "half-open counters must fit the payload");
    assert!(TIME_BITS >= 20, "open-timestamp horizon must be at least ~17 minutes");
    assert!(TIME_BITS + MAX_TICK_SHIFT < Ms::BITS, "a stamp in ms at the coarsest tick must fit `Ms`");
    assert!(TIME_BITS < 64 && STAMP_BITS < 64);
    assert!(STAMP_BITS >= 26, "phase stamps must cover at least ~9 hours");
    assert!(GEN_BITS >= 6, "at least 64 generations before a permit can alias");
    assert!(TAG_DISABLED <= TAG_MASK as u8, "the highest tag must fit the tag bits");
    assert!(TAG_MASK & GEN_MASK == 0 && GEN_MASK & (PAYLOAD_MASK << PAYLOAD_SHIFT) == 0);
    assert!((TAG_MASK | GEN_MASK | (PAYLOAD_MASK << PAYLOAD_SHIFT)) == Word::MAX);
    // The zero word must decode as CLOSED with no failures and no ramp.
    assert!(TAG_CLOSED == 0);
};

pub(crate) const TAG_CLOSED: u8 = 0;
pub(crate) const TAG_OPEN: u8 = 1;
pub(crate) const TAG_HALF_OPEN: u8 = 2;
pub(crate) const TAG_FORCED_OPEN: u8 = 3;
pub(crate) const TAG_DISABLED: u8 = 4;

/// The state-dependent part of the word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Counting consecutive failures.
    Closed {
        /// Consecutive failures in this generation, `< threshold`.
        failures: u32,
        /// Gradual recovery in progress: admission is rationed by the ramp.
        ramping: bool,
    },
    /// Rejecting until the open duration for `level` has passed since `opened_at`.
    Open {
        /// Clock reading in ms (shifted back by the cycle's jitter), modulo [`TIME_MODULUS`].
        opened_at: Ms,
        /// Failed recoveries in a row (backoff level), `<= MAX_BACKOFF_LEVEL`.
        level: u32,
    },
    /// Admitting up to `probes` trial calls.
    HalfOpen {
        /// Probe permits admitted in this cycle and not given back.
        issued: u32,
        /// Probes that reported success in this cycle.
        successes: u32,
        /// Backoff level carried from OPEN.
        level: u32,
    },
    /// Manually opened: reject everything.
    ForcedOpen,
    /// Manually closed: admit everything, record nothing.
    ForcedClosed,
}

/// A decoded word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Generation, `< GENERATIONS`.
    pub(crate) gen: u32,
    /// State and its payload.
    pub(crate) phase: Phase,
}

/// The word of a fresh breaker: CLOSED, generation 0, no failures.
pub(crate) const INITIAL: Word = 0;

/// `true` when `word` is CLOSED with no failures and no ramp, whatever its generation: the hot
/// path.
#[inline(always)]
pub(crate) const fn is_clean_closed(word: Word) -> bool {
    word & !GEN_MASK == 0
}

// ---- the word in place ----
//
// The transition function reads and edits the word with these, without decoding it into a
// [`Phase`] and encoding it back: each is what `decode`/`encode` would give on the words the
// machine produces (checked by `in_place_views_agree_with_decode_and_encode` below).

/// The state tag of `word` (`TAG_*`).
#[inline(always)]
pub(crate) const fn tag_of(word: Word) -> u8 {
    (word & TAG_MASK) as u8
}

/// `true` when `word` is CLOSED and not ramping, with or without pending failures: admission
/// without a store.
#[inline(always)]
pub(crate) const fn is_closed_unramped(word: Word) -> bool {
    word & (TAG_MASK | RAMPING_BIT << PAYLOAD_SHIFT) == 0
}

/// `true` when `word` is CLOSED in generation `gen` (`gen < GENERATIONS`), ramping or not.
#[inline(always)]
pub(crate) const fn is_closed_in(word: Word, gen: u32) -> bool {
    word & (TAG_MASK | GEN_MASK) == ((gen as Word) << GEN_SHIFT) | TAG_CLOSED as Word
}

/// `true` when `word` is HALF_OPEN in generation `gen` (`gen < GENERATIONS`).
#[inline(always)]
pub(crate) const fn is_half_open_in(word: Word, gen: u32) -> bool {
    word & (TAG_MASK | GEN_MASK) == ((gen as Word) << GEN_SHIFT) | TAG_HALF_OPEN as Word
}

/// `true` when `word` is OPEN (any level).
#[inline(always)]
pub(crate) const fn is_open(word: Word) -> bool {
    tag_of(word) == TAG_OPEN
}

/// `true` when `word` is HALF_OPEN.
#[inline(always)]
pub(crate) const fn is_half_open(word: Word) -> bool {
    tag_of(word) == TAG_HALF_OPEN
}

/// The payload of `word`, shifted down.
#[inline(always)]
const fn payload(word: Word) -> Word {
    word >> PAYLOAD_SHIFT
}

/// A CLOSED word's consecutive failures.
#[inline(always)]
pub(crate) const fn closed_failures(word: Word) -> u32 {
    (payload(word) & FAILURE_MASK) as u32
}

/// `true` when a CLOSED word's ramp flag is set.
#[inline(always)]
pub(crate) const fn closed_ramping(word: Word) -> bool {
    payload(word) & RAMPING_BIT != 0
}

/// A CLOSED word with its ramp flag cleared, everything else kept.
#[inline(always)]
pub(crate) const fn clear_ramping(word: Word) -> Word {
    word & !(RAMPING_BIT << PAYLOAD_SHIFT)
}

/// One more failure, added to a CLOSED word's counter in place (the caller keeps the count
/// below [`MAX_FAILURE_THRESHOLD`]).
pub(crate) const ONE_FAILURE: Word = 1 << PAYLOAD_SHIFT;

/// A CLOSED word with its failures cleared, generation and ramp flag kept.
#[inline(always)]
pub(crate) const fn clear_failures(word: Word) -> Word {
    word & !(FAILURE_MASK << PAYLOAD_SHIFT)
}

/// An OPEN word's stored timestamp.
#[inline(always)]
pub(crate) const fn open_opened_at(word: Word) -> Ms {
    (payload(word) & TIME_MASK) as Ms
}

/// `true` when `word` is OPEN at backoff level 0 (its first open period, or no backoff): one
/// mask and compare, for the OPEN rejection fast path.
#[inline(always)]
pub(crate) const fn is_open_at_level_zero(word: Word) -> bool {
    const MASK: Word = TAG_MASK | LEVEL_MASK << (PAYLOAD_SHIFT + TIME_BITS);
    word & MASK == TAG_OPEN as Word
}

/// An OPEN word's backoff level.
#[inline(always)]
pub(crate) const fn open_level(word: Word) -> u32 {
    ((payload(word) >> TIME_BITS) & LEVEL_MASK) as u32
}

/// A HALF_OPEN word's admitted probes.
#[inline(always)]
pub(crate) const fn half_issued(word: Word) -> u32 {
    (payload(word) & PROBE_MASK) as u32
}

/// A HALF_OPEN word's successful probes.
#[inline(always)]
pub(crate) const fn half_successes(word: Word) -> u32 {
    ((payload(word) >> PROBE_BITS) & PROBE_MASK) as u32
}

/// A HALF_OPEN word's backoff level.
#[inline(always)]
pub(crate) const fn half_level(word: Word) -> u32 {
    ((payload(word) >> (2 * PROBE_BITS)) & LEVEL_MASK) as u32
}

/// One more admitted probe, added to a HALF_OPEN word in place (the caller keeps the count
/// below [`MAX_HALF_OPEN_PROBES`]).
pub(crate) const ONE_PROBE: Word = 1 << PAYLOAD_SHIFT;
/// One more successful probe, added to a HALF_OPEN word in place (the caller keeps the count
/// below [`MAX_HALF_OPEN_PROBES`]).
pub(crate) const ONE_SUCCESS: Word = 1 << (PAYLOAD_SHIFT + PROBE_BITS);

/// The word of `tag` in generation `gen` with `payload` (fields within their limits): what
/// [`encode`] gives.
#[inline(always)]
pub(crate) const fn make(tag: u8, gen: u32, payload: Word) -> Word {
    (tag as Word) | (((gen as Word) << GEN_SHIFT) & GEN_MASK) | ((payload & PAYLOAD_MASK) << PAYLOAD_SHIFT)
}

/// The OPEN payload: opened at `now_ms` (stored as [`stamp`] at `shift`), backoff `level`.
#[inline(always)]
pub(crate) const fn open_payload(now_ms: Ms, level: u32, shift: u32) -> Word {
    stamp(now_ms, shift) as Word | (level as Word & LEVEL_MASK) << TIME_BITS
}

/// The HALF_OPEN payload with one probe admitted, none succeeded, backoff `level`.
#[inline(always)]
pub(crate) const fn first_probe_payload(level: u32) -> Word {
    1 | (level as Word & LEVEL_MASK) << (2 * PROBE_BITS)
}

/// The CLOSED payload with no failures, ramping or not.
#[inline(always)]
pub(crate) const fn closed_payload(ramping: bool) -> Word {
    if ramping {
        RAMPING_BIT
    } else {
        0
    }
}

/// The generation of `word`, without decoding the rest.
#[inline(always)]
pub(crate) const fn gen_of(word: Word) -> u32 {
    ((word & GEN_MASK) >> GEN_SHIFT) as u32
}

/// The next generation, wrapping modulo [`GENERATIONS`].
#[inline]
pub(crate) const fn next_gen(gen: u32) -> u32 {
    gen.wrapping_add(1) & (GENERATIONS - 1)
}

/// A clock reading as the stored open timestamp: in ticks of `2^shift` ms (`shift` from
/// [`effective_shift`]; 0, so ms, unless the config asked for a coarser resolution on the 32-bit
/// layout), modulo [`TIME_MODULUS`].
#[inline]
pub(crate) const fn stamp(now_ms: Ms, shift: u32) -> Ms {
    (now_ms >> shift) & (TIME_MODULUS - 1)
}

/// Milliseconds from `opened_at` (a stored stamp) to `now_ms`, as a lower bound: with ticks of
/// `t = 2^shift` ms, `d` ticks apart on the stamps means at least `d·t − (t − 1)` ms (and at
/// most `d·t + t − 1`), so the OPEN rule, which waits until this reaches the open period, never
/// admits a probe early and at most `2t − 2` ms late. At `shift` 0 it is exact: the ticks apart,
/// modulo [`TIME_MODULUS`].
#[inline]
pub(crate) const fn elapsed_since(opened_at: Ms, now_ms: Ms, shift: u32) -> Ms {
    let ticks = ticks_since(opened_at, now_ms, shift);
    // `ticks < 2^T`, so `ticks << shift` fits `Ms` (checked below): no overflow. 0 ticks is 0.
    (ticks << shift).saturating_sub((1 << shift) - 1)
}

/// Ticks of `2^shift` ms from the stamp `opened_at` to `now_ms`, modulo [`TIME_MODULUS`].
#[inline(always)]
pub(crate) const fn ticks_since(opened_at: Ms, now_ms: Ms, shift: u32) -> Ms {
    stamp(now_ms, shift).wrapping_sub(opened_at) & (TIME_MODULUS - 1)
}

/// Encodes a phase stamp: `now_ms` (mod 2^STAMP_BITS) tagged with `gen`.
#[inline]
pub(crate) const fn encode_stamp(gen: u32, now_ms: Ms) -> Word {
    ((now_ms & (STAMP_MODULUS - 1)) as Word) << GEN_BITS | (gen as Word & ((1 << GEN_BITS) - 1))
}

/// Milliseconds since the phase stamp `stamp_word`, if it belongs to generation `gen`; `None`
/// when it belongs to another generation, or when it lies in the future (a clock that went
/// backwards, or a stamp older than half the stamp range).
#[inline]
pub(crate) const fn stamp_elapsed(stamp_word: Word, gen: u32, now_ms: Ms) -> Option<Ms> {
    if (stamp_word & ((1 << GEN_BITS) - 1)) as u32 != gen {
        return None;
    }
    let then = (stamp_word >> GEN_BITS) as Ms;
    let elapsed = (now_ms & (STAMP_MODULUS - 1)).wrapping_sub(then) & (STAMP_MODULUS - 1);
    if elapsed > MAX_PHASE_TIMER {
        None
    } else {
        Some(elapsed)
    }
}

/// Decodes a word. Total: every word decodes to something.
#[inline]
pub(crate) const fn decode(word: Word) -> Decoded {
    let gen = gen_of(word);
    let payload = (word >> PAYLOAD_SHIFT) & PAYLOAD_MASK;
    let phase = match (word & TAG_MASK) as u8 {
        TAG_CLOSED => {
            Phase::Closed { failures: (payload & FAILURE_MASK) as u32, ramping: payload & RAMPING_BIT != 0 }
        }
        TAG_OPEN => Phase::Open {
            opened_at: (payload & TIME_MASK) as Ms,
            level: ((payload >> TIME_BITS) & LEVEL_MASK) as u32,
        },
        TAG_HALF_OPEN => Phase::HalfOpen {
            issued: (payload & PROBE_MASK) as u32,
            successes: ((payload >> PROBE_BITS) & PROBE_MASK) as u32,
            level: ((payload >> (2 * PROBE_BITS)) & LEVEL_MASK) as u32,
        },
        TAG_DISABLED => Phase::ForcedClosed,
        // TAG_FORCED_OPEN, and the never-written tags 5..=7: rejecting is the safe reading.
        _ => Phase::ForcedOpen,
    };
    Decoded { gen, phase }
}

/// Encodes a decoded word. Callers keep fields within the limits documented on [`Phase`];
/// excess bits are masked off rather than spilling into neighbouring fields.
#[inline]
pub(crate) const fn encode(d: Decoded) -> Word {
    let (tag, payload): (u8, Word) = match d.phase {
        Phase::Closed { failures, ramping } => {
            (TAG_CLOSED, (failures as Word & FAILURE_MASK) | if ramping { RAMPING_BIT } else { 0 })
        }
        Phase::Open { opened_at, level } => (
            TAG_OPEN,
            ((opened_at & (TIME_MODULUS - 1)) as Word) | ((level as Word & LEVEL_MASK) << TIME_BITS),
        ),
        Phase::HalfOpen { issued, successes, level } => (
            TAG_HALF_OPEN,
            (issued as Word & PROBE_MASK)
                | ((successes as Word & PROBE_MASK) << PROBE_BITS)
                | ((level as Word & LEVEL_MASK) << (2 * PROBE_BITS)),
        ),
        Phase::ForcedOpen => (TAG_FORCED_OPEN, 0),
        Phase::ForcedClosed => (TAG_DISABLED, 0),
    };
    (tag as Word) | (((d.gen as Word) << GEN_SHIFT) & GEN_MASK) | ((payload & PAYLOAD_MASK) << PAYLOAD_SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases() -> [Phase; 12] {
        [
            Phase::Closed { failures: 0, ramping: false },
            Phase::Closed { failures: MAX_FAILURE_THRESHOLD, ramping: false },
            Phase::Closed { failures: 3, ramping: true },
            Phase::Open { opened_at: 0, level: 0 },
            Phase::Open { opened_at: TIME_MODULUS - 1, level: MAX_BACKOFF_LEVEL },
            Phase::Open { opened_at: 12_345, level: 1 },
            Phase::HalfOpen { issued: 0, successes: 0, level: 0 },
            Phase::HalfOpen { issued: MAX_HALF_OPEN_PROBES, successes: 1, level: MAX_BACKOFF_LEVEL },
            Phase::HalfOpen { issued: 3, successes: MAX_HALF_OPEN_PROBES, level: 2 },
            Phase::ForcedOpen,
            Phase::ForcedClosed,
            Phase::Closed { failures: MAX_FAILURE_THRESHOLD, ramping: true },
        ]
    }

    #[test]
    fn round_trips_every_phase_at_generation_extremes() {
        for phase in phases() {
            for gen in [0, 1, GENERATIONS / 2, GENERATIONS - 1] {
                let d = Decoded { gen, phase };
                assert_eq!(decode(encode(d)), d, "{d:?}");
            }
        }
    }

    #[test]
    fn zero_word_is_clean_closed() {
        assert_eq!(decode(INITIAL), Decoded { gen: 0, phase: Phase::Closed { failures: 0, ramping: false } });
        let other_gen =
            encode(Decoded { gen: GENERATIONS - 1, phase: Phase::Closed { failures: 0, ramping: false } });
        assert!(is_clean_closed(other_gen));
        let one_failure = encode(Decoded { gen: 0, phase: Phase::Closed { failures: 1, ramping: false } });
        assert!(!is_clean_closed(one_failure));
        let ramping = encode(Decoded { gen: 0, phase: Phase::Closed { failures: 0, ramping: true } });
        assert!(!is_clean_closed(ramping));
        assert!(!is_clean_closed(encode(Decoded { gen: 0, phase: Phase::ForcedClosed })));
    }

    #[test]
    fn in_place_views_agree_with_decode_and_encode() {
        for phase in phases() {
            for gen in [0, 1, GENERATIONS / 2, GENERATIONS - 1] {
                let word = encode(Decoded { gen, phase });
                assert_eq!(is_closed_unramped(word), matches!(phase, Phase::Closed { ramping: false, .. }));
                for g in [0, gen, next_gen(gen)] {
                    let closed = matches!(phase, Phase::Closed { .. }) && g == gen;
                    assert_eq!(is_closed_in(word, g), closed, "{phase:?} {gen} {g}");
                    let half = matches!(phase, Phase::HalfOpen { .. }) && g == gen;
                    assert_eq!(is_half_open_in(word, g), half, "{phase:?} {gen} {g}");
                }
                assert_eq!(is_open(word), matches!(phase, Phase::Open { .. }));
                assert_eq!(is_half_open(word), matches!(phase, Phase::HalfOpen { .. }));
                match phase {
                    Phase::Closed { failures, ramping } => {
                        assert_eq!(tag_of(word), TAG_CLOSED);
                        assert_eq!((closed_failures(word), closed_ramping(word)), (failures, ramping));
                        let cleared = Decoded { gen, phase: Phase::Closed { failures: 0, ramping } };
                        assert_eq!(clear_failures(word), encode(cleared));
                        let unramped = Decoded { gen, phase: Phase::Closed { failures, ramping: false } };
                        assert_eq!(clear_ramping(word), encode(unramped));
                        if failures < MAX_FAILURE_THRESHOLD {
                            let more =
                                Decoded { gen, phase: Phase::Closed { failures: failures + 1, ramping } };
                            assert_eq!(word + ONE_FAILURE, encode(more));
                        }
                        let fresh = Decoded { gen, phase: Phase::Closed { failures: 0, ramping } };
                        assert_eq!(make(TAG_CLOSED, gen, closed_payload(ramping)), encode(fresh));
                    }
                    Phase::Open { opened_at, level } => {
                        assert_eq!(tag_of(word), TAG_OPEN);
                        assert_eq!((open_opened_at(word), open_level(word)), (opened_at, level));
                        assert_eq!(make(TAG_OPEN, gen, open_payload(opened_at, level, 0)), word);
                        let later = opened_at.wrapping_add(TIME_MODULUS + 3);
                        for shift in 0..=MAX_TICK_SHIFT {
                            let opened_at = stamp(later, shift);
                            let reopened = Decoded { gen, phase: Phase::Open { opened_at, level } };
                            assert_eq!(
                                make(TAG_OPEN, gen, open_payload(later, level, shift)),
                                encode(reopened)
                            );
                        }
                    }
                    Phase::HalfOpen { issued, successes, level } => {
                        assert_eq!(tag_of(word), TAG_HALF_OPEN);
                        assert_eq!(
                            (half_issued(word), half_successes(word), half_level(word)),
                            (issued, successes, level)
                        );
                        if issued < MAX_HALF_OPEN_PROBES {
                            let more = Phase::HalfOpen { issued: issued + 1, successes, level };
                            assert_eq!(word + ONE_PROBE, encode(Decoded { gen, phase: more }));
                        }
                        if successes < MAX_HALF_OPEN_PROBES {
                            let more = Phase::HalfOpen { issued, successes: successes + 1, level };
                            assert_eq!(word + ONE_SUCCESS, encode(Decoded { gen, phase: more }));
                        }
                        let first = Phase::HalfOpen { issued: 1, successes: 0, level };
                        assert_eq!(
                            make(TAG_HALF_OPEN, gen, first_probe_payload(level)),
                            encode(Decoded { gen, phase: first })
                        );
                    }
                    Phase::ForcedOpen => {
                        assert_eq!(tag_of(word), TAG_FORCED_OPEN);
                        assert_eq!(make(TAG_FORCED_OPEN, gen, 0), word);
                    }
                    Phase::ForcedClosed => {
                        assert_eq!(tag_of(word), TAG_DISABLED);
                        assert_eq!(make(TAG_DISABLED, gen, 0), word);
                    }
                }
            }
        }
    }

    #[test]
    fn generation_wraps_within_its_field() {
        assert_eq!(next_gen(GENERATIONS - 1), 0);
        assert_eq!(next_gen(0), 1);
    }

    #[test]
    fn elapsed_wraps_at_the_modulus() {
        let opened = stamp(TIME_MODULUS - 10, 0);
        assert_eq!(elapsed_since(opened, TIME_MODULUS + 5, 0), 15);
        assert_eq!(elapsed_since(stamp(100, 0), 100, 0), 0);
        // A clock that stepped back by 1 ms reads as (almost) a full horizon elapsed.
        assert_eq!(elapsed_since(stamp(100, 0), 99, 0), TIME_MODULUS - 1);
    }

    /// On ticks of `t = 2^shift` ms the elapsed time is a lower bound, at most `2t − 2` ms short
    /// (the stamps lose where in its tick each reading fell), and a breaker whose open period is
    /// at most `max_open_ms(shift)` reaches it before the stamp wraps: never early, less than two
    /// ticks late.
    #[test]
    fn elapsed_on_coarse_ticks_is_never_more_and_less_than_two_ticks_short() {
        for shift in 0..=MAX_TICK_SHIFT {
            let t: Ms = 1 << shift;
            // The horizon at this tick, whether or not the layout uses the tick.
            let longest = ((TIME_MODULUS - 2) << shift) + 1;
            let used = if TICKED && cfg!(feature = "policies") { longest as u64 } else { MAX_OPEN_MS };
            assert_eq!(max_open_ms(shift), used);
            // Openings at every offset within a tick, near 0, mid-range and across the wrap of
            // `Ms` (a clock that wraps).
            let starts =
                (0..2 * t).chain((0..2 * t).map(|o| 12_345 * t + o)).chain((0..2 * t).map(|o| Ms::MAX - o));
            for opened in starts {
                let at = stamp(opened, shift);
                // Ticks apart on an unwrapped clock.
                let ticks = |e: Ms| ((opened as u128 + e as u128) >> shift) - ((opened as u128) >> shift);
                let mut arrived = None;
                let es = (0..3 * t).chain(longest - 2 * t..longest + 2 * t - 1);
                for e in es {
                    let got = elapsed_since(at, opened.wrapping_add(e), shift);
                    assert!(ticks(e) < TIME_MODULUS as u128, "shift {shift}: no wrap within the horizon");
                    assert!(got <= e, "shift {shift}: opened {opened}, {e} ms later reads {got}");
                    assert!(e - got <= 2 * t - 2, "shift {shift}: opened {opened}, {e} ms later reads {got}");
                    if got >= longest {
                        // The probe time: what comes later may wrap (a breaker left OPEN and
                        // untouched past its horizon, as at 1 ms).
                        arrived = Some(e);
                        break;
                    }
                }
                let arrived = arrived.expect("the longest open period is reached before the stamp wraps");
                assert!(arrived - longest <= 2 * t - 2, "shift {shift}: opened {opened}: {arrived} ms");
                if shift == 0 {
                    assert_eq!(arrived, longest, "exact at 1 ms");
                }
            }
        }
        assert_eq!(max_open_ms(0), MAX_OPEN_MS);
    }

    #[test]
    fn phase_stamps_are_generation_tagged_and_wrap() {
        let s = encode_stamp(5, STAMP_MODULUS - 10);
        assert_eq!(stamp_elapsed(s, 5, STAMP_MODULUS + 20), Some(30));
        assert_eq!(stamp_elapsed(s, 6, STAMP_MODULUS + 20), None, "another generation");
        assert_eq!(stamp_elapsed(s, 5, STAMP_MODULUS - 11), None, "clock went backwards");
        let g = GENERATIONS - 1;
        assert_eq!(stamp_elapsed(encode_stamp(g, 7), g, 7 + MAX_PHASE_TIMER), Some(MAX_PHASE_TIMER));
    }

    #[test]
    fn unwritten_tags_decode_as_forced_open() {
        for tag in 5..=7 as Word {
            assert_eq!(decode(tag).phase, Phase::ForcedOpen);
        }
    }
}
