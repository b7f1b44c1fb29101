//! The bit layout of the breaker's single atomic word. This file is the only place that knows it.
//!
//! Every piece of mutable breaker state lives in one word so that every change is one
//! compare-and-swap: there is never a moment where the state says OPEN but the timestamp is
//! old, or where two threads each believe they opened the circuit.
//!
//! ```text
//!            MSB                                                 LSB
//!  word:   [ payload (P bits)            | generation (G bits) | tag (3) ]
//!
//!  payload by tag:
//!    CLOSED       [ ...0 | failures (16) ]          consecutive failures in this generation
//!    OPEN         [ opened_at (P bits) ]            clock reading (ms) mod 2^P when it opened
//!    HALF_OPEN    [ ...0 | successes (8) | issued (8) ]  probes admitted / probes that succeeded
//!    FORCED_OPEN  [ 0 ]                             manual: reject everything
//!    DISABLED     [ 0 ]                             manual "force closed": admit everything, count nothing
//! ```
//!
//! | layout  | selected when                                           | G  | P  | timestamp horizon     |
//! |---------|---------------------------------------------------------|----|----|-----------------------|
//! | 64-bit  | the target has 64-bit atomics (and not `breaker_word32`) | 16 | 45 | 2^45 ms ≈ 1 115 years |
//! | 32-bit  | no 64-bit atomics (thumbv7em, thumbv6m, riscv32imc), or `--cfg breaker_word32` on the host | 7 | 22 | 2^22 ms ≈ 69.9 minutes |
//!
//! Invariants the rest of the crate relies on (checked at compile time below where possible):
//! - The all-zero word is CLOSED, generation 0, no failures, so a breaker is `const`-constructible
//!   and the hot-path test "CLOSED with no failures" is `word & !GEN_MASK == 0`.
//! - Failure counts never exceed [`MAX_FAILURE_THRESHOLD`], probe counts never exceed
//!   [`MAX_HALF_OPEN_PROBES`]; config validation enforces it, so encoding never truncates.
//! - The generation changes (wrapping modulo 2^G) on every change of tag and on every reset, so a
//!   permit can tell whether the cycle it was admitted in is still the current one. A permit held
//!   across exactly a multiple of 2^G transitions would alias; the README states this horizon.
//! - Tags 5..=7 are never written.

#[cfg(any(breaker_word32, not(target_has_atomic = "64")))]
mod width {
    /// The integer type of the word on this layout.
    pub(crate) type Word = u32;
    /// Generation bits on this layout.
    pub(crate) const GEN_BITS: u32 = 7;
    /// Name of the layout, for docs and snapshots.
    pub(crate) const NAME: &str = "32-bit";
}

#[cfg(not(any(breaker_word32, not(target_has_atomic = "64"))))]
mod width {
    /// The integer type of the word on this layout.
    pub(crate) type Word = u64;
    /// Generation bits on this layout.
    pub(crate) const GEN_BITS: u32 = 16;
    /// Name of the layout, for docs and snapshots.
    pub(crate) const NAME: &str = "64-bit";
}

pub(crate) use width::{Word, GEN_BITS, NAME};

/// Bits of the state tag.
pub(crate) const TAG_BITS: u32 = 3;
const TAG_MASK: Word = (1 << TAG_BITS) - 1;
const GEN_SHIFT: u32 = TAG_BITS;
pub(crate) const GEN_MASK: Word = ((1 << GEN_BITS) - 1) << GEN_SHIFT;
const PAYLOAD_SHIFT: u32 = TAG_BITS + GEN_BITS;
/// Bits of the state-dependent payload; also the width of the stored open timestamp.
pub(crate) const PAYLOAD_BITS: u32 = Word::BITS - PAYLOAD_SHIFT;
const PAYLOAD_MASK: Word = Word::MAX >> PAYLOAD_SHIFT;

/// Bits of the closed-state failure counter.
const FAILURE_BITS: u32 = 16;
/// Bits of each half-open counter (admitted probes, successful probes).
const PROBE_BITS: u32 = 8;
const PROBE_MASK: Word = (1 << PROBE_BITS) - 1;

/// Largest accepted `failure_threshold`.
pub const MAX_FAILURE_THRESHOLD: u32 = (1 << FAILURE_BITS) - 1;
/// Largest accepted number of concurrent half-open probes (and of successes to close).
pub const MAX_HALF_OPEN_PROBES: u32 = (1 << PROBE_BITS) - 1;
/// Modulus of the stored open timestamp, in milliseconds: the recovery timeout must be below it.
pub(crate) const TIME_MODULUS: u64 = 1 << PAYLOAD_BITS;
/// Largest accepted recovery timeout on this layout, in milliseconds.
pub const MAX_RECOVERY_TIMEOUT_MS: u64 = TIME_MODULUS - 1;
/// Number of distinct generations before a held permit could alias a newer cycle.
pub const GENERATIONS: u32 = 1 << GEN_BITS;

// Compile-time checks of the layout's arithmetic.
const _: () = {
    assert!(TAG_BITS + GEN_BITS + PAYLOAD_BITS == Word::BITS);
    assert!(
        FAILURE_BITS <= PAYLOAD_BITS,
        "failure counter must fit the payload"
    );
    assert!(
        2 * PROBE_BITS <= PAYLOAD_BITS,
        "half-open counters must fit the payload"
    );
    assert!(
        PAYLOAD_BITS >= 22,
        "timestamp horizon must be at least ~70 minutes"
    );
    assert!(PAYLOAD_BITS < 64, "timestamp modulus must fit a u64");
    assert!(
        GEN_BITS >= 7,
        "at least 128 generations before a permit can alias"
    );
    assert!(TAG_TOP <= TAG_MASK as u8);
    assert!(TAG_MASK & GEN_MASK == 0 && GEN_MASK & (PAYLOAD_MASK << PAYLOAD_SHIFT) == 0);
    assert!((TAG_MASK | GEN_MASK | (PAYLOAD_MASK << PAYLOAD_SHIFT)) == Word::MAX);
    // The zero word must decode as CLOSED with no failures.
    assert!(TAG_CLOSED == 0);
};

const TAG_CLOSED: u8 = 0;
const TAG_OPEN: u8 = 1;
const TAG_HALF_OPEN: u8 = 2;
const TAG_FORCED_OPEN: u8 = 3;
const TAG_DISABLED: u8 = 4;
const TAG_TOP: u8 = TAG_DISABLED;

/// The state-dependent part of the word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Counting consecutive failures.
    Closed {
        /// Consecutive failures in this generation, `< threshold`.
        failures: u32,
    },
    /// Rejecting until the recovery timeout has passed since `opened_at`.
    Open {
        /// Clock reading in ms, modulo [`TIME_MODULUS`].
        opened_at: u64,
    },
    /// Admitting up to `probes` trial calls.
    HalfOpen {
        /// Probe permits admitted in this cycle and not given back.
        issued: u32,
        /// Probes that reported success in this cycle.
        successes: u32,
    },
    /// Manually opened: reject everything.
    ForcedOpen,
    /// Manually closed: admit everything, record nothing.
    Disabled,
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

/// `true` when `word` is CLOSED with no failures, whatever its generation: the hot path.
#[inline(always)]
pub(crate) const fn is_clean_closed(word: Word) -> bool {
    word & !GEN_MASK == 0
}

/// The next generation, wrapping modulo [`GENERATIONS`].
#[inline]
pub(crate) const fn next_gen(gen: u32) -> u32 {
    gen.wrapping_add(1) & (GENERATIONS - 1)
}

/// Truncates a clock reading to the stored timestamp width.
#[inline]
pub(crate) const fn stamp(now_ms: u64) -> u64 {
    now_ms & (TIME_MODULUS - 1)
}

/// Milliseconds from `opened_at` (a stored stamp) to `now_ms`, modulo [`TIME_MODULUS`].
#[inline]
pub(crate) const fn elapsed_since(opened_at: u64, now_ms: u64) -> u64 {
    stamp(now_ms).wrapping_sub(opened_at) & (TIME_MODULUS - 1)
}

/// Decodes a word. Total: every word decodes to something.
#[inline]
pub(crate) const fn decode(word: Word) -> Decoded {
    let gen = ((word & GEN_MASK) >> GEN_SHIFT) as u32;
    let payload = (word >> PAYLOAD_SHIFT) & PAYLOAD_MASK;
    let phase = match (word & TAG_MASK) as u8 {
        TAG_CLOSED => Phase::Closed {
            failures: payload as u32,
        },
        TAG_OPEN => Phase::Open {
            opened_at: payload as u64,
        },
        TAG_HALF_OPEN => Phase::HalfOpen {
            issued: (payload & PROBE_MASK) as u32,
            successes: ((payload >> PROBE_BITS) & PROBE_MASK) as u32,
        },
        TAG_DISABLED => Phase::Disabled,
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
        Phase::Closed { failures } => {
            (TAG_CLOSED, failures as Word & MAX_FAILURE_THRESHOLD as Word)
        }
        Phase::Open { opened_at } => (TAG_OPEN, stamp(opened_at) as Word),
        Phase::HalfOpen { issued, successes } => (
            TAG_HALF_OPEN,
            (issued as Word & PROBE_MASK) | ((successes as Word & PROBE_MASK) << PROBE_BITS),
        ),
        Phase::ForcedOpen => (TAG_FORCED_OPEN, 0),
        Phase::Disabled => (TAG_DISABLED, 0),
    };
    (tag as Word)
        | (((d.gen as Word) << GEN_SHIFT) & GEN_MASK)
        | ((payload & PAYLOAD_MASK) << PAYLOAD_SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases() -> [Phase; 9] {
        [
            Phase::Closed { failures: 0 },
            Phase::Closed {
                failures: MAX_FAILURE_THRESHOLD,
            },
            Phase::Open { opened_at: 0 },
            Phase::Open {
                opened_at: TIME_MODULUS - 1,
            },
            Phase::HalfOpen {
                issued: 0,
                successes: 0,
            },
            Phase::HalfOpen {
                issued: MAX_HALF_OPEN_PROBES,
                successes: 1,
            },
            Phase::HalfOpen {
                issued: 3,
                successes: MAX_HALF_OPEN_PROBES,
            },
            Phase::ForcedOpen,
            Phase::Disabled,
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
        assert_eq!(
            decode(INITIAL),
            Decoded {
                gen: 0,
                phase: Phase::Closed { failures: 0 }
            }
        );
        let other_gen = encode(Decoded {
            gen: GENERATIONS - 1,
            phase: Phase::Closed { failures: 0 },
        });
        assert!(is_clean_closed(other_gen));
        let one_failure = encode(Decoded {
            gen: 0,
            phase: Phase::Closed { failures: 1 },
        });
        assert!(!is_clean_closed(one_failure));
        assert!(!is_clean_closed(encode(Decoded {
            gen: 0,
            phase: Phase::Disabled
        })));
    }

    #[test]
    fn generation_wraps_within_its_field() {
        assert_eq!(next_gen(GENERATIONS - 1), 0);
        assert_eq!(next_gen(0), 1);
    }

    #[test]
    fn elapsed_wraps_at_the_modulus() {
        let opened = stamp(TIME_MODULUS - 10);
        assert_eq!(elapsed_since(opened, TIME_MODULUS + 5), 15);
        assert_eq!(elapsed_since(stamp(100), 100), 0);
        // A clock that stepped back by 1 ms reads as (almost) a full horizon elapsed.
        assert_eq!(elapsed_since(stamp(100), 99), TIME_MODULUS - 1);
    }

    #[test]
    fn unwritten_tags_decode_as_forced_open() {
        for tag in 5..=7 as Word {
            assert_eq!(decode(tag).phase, Phase::ForcedOpen);
        }
    }
}
