//! Operations and scenarios: [`Scenario`], [`Op`], [`Settle`] and the decoding of fuzzer
//! input ([`Scenario::from_bytes`]).

use breaker_core::{
    Verdict, BUCKET_CAPACITY, MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES, MAX_OPEN_MS, MAX_PHASE_TIMER_MS,
};

use crate::config::{
    AdaptiveSpec, Jitter, ModelConfig, ModelPolicy, Ramp, RuleSpec, SlowSpec, WindowKind, WindowSpec,
    SUPPORTED_BUCKETS,
};
use crate::model::{STAMP_MODULUS, TIME_MODULUS};

/// How a held permit (or ticket) ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Settle {
    /// `success()` / `settle(ticket, Success)`.
    Success,
    /// `failure()` / `settle(ticket, Failure)`.
    Failure,
    /// `ignore()` / `settle(ticket, Ignore)`.
    Ignore,
    /// The permit is dropped (reports `Ignore`); a ticket is forgotten, never settled.
    Drop,
}

/// One step of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `try_acquire()`; an admitted permit is held.
    Acquire,
    /// `try_acquire_ticket()`; an admitted ticket is held.
    AcquireTicket,
    /// `call_with(..)` with a closure that reports this verdict.
    Call(Verdict),
    /// End the held permit or ticket at `index % held` (nothing if none is held).
    Settle {
        /// Which held permit, modulo how many are held.
        index: usize,
        /// How it ends.
        how: Settle,
    },
    /// End the most recently acquired permit or ticket still held (nothing if none is held).
    SettleLast(Settle),
    /// Turn the held permit at `index % held` into a ticket (`Permit::into_ticket`).
    IntoTicket {
        /// Which held permit, modulo how many are held.
        index: usize,
    },
    /// Move the clock forward by this many milliseconds (wrapping at `u64`).
    Advance(u64),
    /// Move the clock backward by this many milliseconds (wrapping at `u64`).
    Rewind(u64),
    /// Set the clock reading.
    SetClock(u64),
    /// `force_open()`.
    ForceOpen,
    /// `disable()`.
    Disable,
    /// `reset()`.
    Reset,
}

/// A config, a starting clock reading and the ops to run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The breaker's settings and policy (must be valid).
    pub config: ModelConfig,
    /// The clock's initial reading in milliseconds.
    pub start_ms: u64,
    /// What to do, in order.
    pub ops: Vec<Op>,
}

/// Reads bytes front to back, yielding zeros once they run out.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    fn verdict(&mut self) -> Verdict {
        match self.u8() % 3 {
            0 => Verdict::Success,
            1 => Verdict::Failure,
            _ => Verdict::Ignore,
        }
    }

    fn settle(&mut self) -> Settle {
        match self.u8() % 4 {
            0 => Settle::Success,
            1 => Settle::Failure,
            2 => Settle::Ignore,
            _ => Settle::Drop,
        }
    }

    /// A time span that is interesting for a breaker whose timescales are `scales`.
    fn span(&mut self, scales: &[u64]) -> u64 {
        let small = u64::from(self.u8());
        let scale = scales[usize::from(self.u8()) % scales.len()];
        match self.u8() % 12 {
            0 => small,
            1 | 2 => scale,
            3 => scale.saturating_sub(1 + small % 4),
            4 => scale + small % 4,
            5 => u64::from(self.u16()),
            6 => (u128::from(scale) * u128::from(small) / 128) as u64,
            7 => TIME_MODULUS.saturating_sub(scale).wrapping_add(small % 4),
            8 => [TIME_MODULUS, STAMP_MODULUS][usize::from(small % 2 == 0)]
                .wrapping_mul(1 + small % 4)
                .wrapping_add(u64::from(self.u16())),
            9 => self.u64(),
            _ => scale / 2 + small,
        }
    }

    /// A millisecond setting in `1..=max`, often small, sometimes near `max` or `near`.
    fn ms(&mut self, near: u64, max: u64) -> u64 {
        let v = match self.u8() % 6 {
            0 => 1 + u64::from(self.u8()),
            1 => 1 + u64::from(self.u16()),
            2 => max,
            3 => max - u64::from(self.u8()).min(max - 1),
            4 => near,
            _ => 1 + u64::from(self.u8()) % 16,
        };
        v.clamp(1, max)
    }
}

impl Scenario {
    /// Decodes arbitrary bytes (fuzzer input) into a valid scenario: a few bytes for the config
    /// (every setting and policy can come out) and starting clock, then one op (or a short
    /// burst of ops) per tag byte with its arguments. Never fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = breaker_tests::Scenario::from_bytes(&[3, 0, 7, 1, 0, 9, 9, 9, 9]);
    /// assert!(s.config.validate().is_some());
    /// breaker_tests::check(&s).unwrap();
    /// ```
    pub fn from_bytes(data: &[u8]) -> Scenario {
        const MAX_OPS: usize = 4_096;
        let mut b = Bytes { data };
        let failure_threshold = match b.u8() {
            250..=255 => 1 + u32::from(b.u16()) % MAX_FAILURE_THRESHOLD, // occasionally large
            x => 1 + u32::from(x % 5),
        };
        let max = MAX_OPEN_MS;
        let recovery_timeout_ms = match b.u8() % 8 {
            0 => 1,
            1 => max,
            2 => max - u64::from(b.u8()),
            3 => (max / 2).max(1),
            4 => 1 + b.u64() % max,
            _ => 1 + u64::from(b.u16()),
        };
        let half_open_probes = match b.u8() {
            255 => MAX_HALF_OPEN_PROBES,
            x => 1 + u32::from(x % 4),
        };
        let successes_to_close = 1 + u32::from(b.u8()) % half_open_probes;
        let start_ms = match b.u8() % 6 {
            0 => 0,
            1 => TIME_MODULUS - 1 - u64::from(b.u8()),
            2 => u64::MAX - u64::from(b.u16()),
            3 => b.u64(),
            _ => u64::from(b.u16()),
        };
        let mut config =
            ModelConfig::new(failure_threshold, recovery_timeout_ms, half_open_probes, successes_to_close);
        let features = b.u8();
        if features & 1 != 0 {
            let t = recovery_timeout_ms;
            config.backoff_max_ms = Some(match b.u8() % 4 {
                0 => t,
                1 => t.saturating_mul(1 << (1 + b.u8() % 6)).min(max),
                2 => max,
                _ => t.saturating_add(u64::from(b.u16())).min(max),
            });
        }
        if features & 2 != 0 {
            let room = config.jitter_room_ms();
            let max_ms = match b.u8() % 4 {
                0 => 0,
                1 => u64::from(b.u8()),
                2 => u64::from(b.u16()),
                _ => room,
            };
            config.jitter = Some(Jitter { max_ms: max_ms.min(room), seed: b.u32() });
        }
        if features & 4 != 0 {
            config.probe_timeout_ms = Some(b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS));
        }
        if features & 8 != 0 {
            config.ramp = Some(Ramp {
                period_ms: b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS),
                start_percent: u32::from(b.u8()) % 100,
            });
        }
        let window_kind = match (features >> 4) & 3 {
            2 => Some(WindowKind::Count {
                calls_per_bucket: match b.u8() % 4 {
                    0 | 1 => 1,
                    2 => 1 + u32::from(b.u8() % 8),
                    _ => 1 + u32::from(b.u16()) % BUCKET_CAPACITY,
                },
            }),
            3 => Some(WindowKind::Time {
                bucket_width_ms: match b.u8() % 4 {
                    0 => 1 + u64::from(b.u8() % 10),
                    1 => 1 + u64::from(b.u16()),
                    2 => u64::from(u32::MAX) - u64::from(b.u8()),
                    _ => 100,
                },
            }),
            _ => None,
        };
        if let Some(kind) = window_kind {
            let buckets = SUPPORTED_BUCKETS[usize::from(b.u8()) % SUPPORTED_BUCKETS.len()];
            let failure_permille = match b.u8() % 4 {
                0 => 1000,
                1 => 500,
                _ => 1 + u32::from(b.u16()) % 1000,
            };
            let min_calls = match b.u8() {
                250..=255 => 1 + u32::from(b.u16()) % 1000,
                x => 1 + u32::from(x % 10),
            };
            let slow = (features & 64 != 0).then(|| SlowSpec {
                threshold_ms: match b.u8() % 4 {
                    0 => 1,
                    1 => 1 + u64::from(b.u16()),
                    2 => u64::from(u32::MAX),
                    _ => 1 + u64::from(b.u8()),
                },
                trip_permille: 1 + u32::from(b.u16()) % 1000,
                as_failure: b.u8() % 2 == 1,
            });
            let adaptive = (features & 128 != 0).then(|| AdaptiveSpec {
                floor_permille: 1 + u32::from(b.u16()) % 1000,
                multiplier_percent: match b.u8() % 4 {
                    0 => 100,
                    1 => 100_000,
                    _ => 100 + u32::from(b.u16()) % 1000,
                },
                alpha_shift: 1 + u32::from(b.u8() % 16),
                min_bucket_calls: 1 + u32::from(b.u8() % 8),
            });
            let spec =
                WindowSpec { buckets, kind, rule: RuleSpec { failure_permille, min_calls, slow, adaptive } }
                    .fitted();
            config.policy = ModelPolicy::Window(spec);
        }
        let scales = config.timescales();
        let mut ops = Vec::new();
        while !b.data.is_empty() && ops.len() < MAX_OPS {
            let tag = b.u8();
            let op = match tag % 40 {
                0..=6 => Op::Acquire,
                7 => Op::AcquireTicket,
                8..=9 => Op::Call(b.verdict()),
                10..=19 => Op::Settle {
                    index: usize::from(b.u8()),
                    how: match tag % 4 {
                        0 => Settle::Success,
                        1 => Settle::Failure,
                        2 => Settle::Ignore,
                        _ => Settle::Drop,
                    },
                },
                20 => Op::IntoTicket { index: usize::from(b.u8()) },
                21..=25 => Op::Advance(b.span(&scales)),
                26 => Op::Rewind(b.span(&scales)),
                27 => Op::SetClock(b.u64()),
                28 => Op::ForceOpen,
                29 => Op::Disable,
                30 | 31 => Op::Reset,
                32..=33 => Op::SettleLast(b.settle()),
                34..=36 => {
                    // A burst of calls, every `every`-th failing (none when 0).
                    let n = 1 + usize::from(b.u8() % 64);
                    let every = usize::from(b.u8() % 6);
                    ops.extend((0..n).map(|i| {
                        Op::Call(if every > 0 && i % every == 0 {
                            Verdict::Failure
                        } else {
                            Verdict::Success
                        })
                    }));
                    continue;
                }
                _ => {
                    // A timed call: acquire, let time pass, settle.
                    let span = b.span(&scales);
                    let how = b.settle();
                    ops.extend([Op::Acquire, Op::Advance(span), Op::SettleLast(how)]);
                    continue;
                }
            };
            ops.push(op);
        }
        Scenario { config, start_ms, ops }
    }
}
