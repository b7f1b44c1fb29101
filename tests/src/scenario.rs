//! Operations and scenarios: [`Scenario`], [`Op`], [`Settle`] and the decoding of fuzzer
//! input ([`Scenario::from_bytes`]).

use breaker_core::limits::{
    BUCKET_CAPACITY, MAX_FAILURE_THRESHOLD, MAX_HALF_OPEN_PROBES, MAX_OPEN_MS, MAX_PHASE_TIMER_MS,
};
use breaker_core::Verdict;

use crate::config::{
    AdaptiveSpec, Edit, Jitter, ModelConfig, ModelPolicy, Ramp, RuleSpec, Settings, SlowSpec, WindowKind,
    WindowSpec, SUPPORTED_BUCKETS,
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
    /// `force_closed()`.
    ForceClosed,
    /// `reset()`.
    Reset,
    /// The process restarts: `save()`, through `to_bytes` / `from_bytes`, then the breaker is
    /// replaced by a fresh one (same policy, an empty window; the config in force if
    /// `keep_config`, else the scenario's own config, as a process that restarts with its
    /// configured values) that is `restore`d from it. Held permits and tickets of the old
    /// breaker are forgotten (the process died with them). The clock is the same one, moved
    /// forward by `down_ms` (wrapping: any new reading can come out), as the time the process
    /// was down: a saved state holds only durations, so this is as good as a clock that
    /// restarted at a new reading.
    Restart {
        /// How long the process was down (ms).
        down_ms: u64,
        /// Build the fresh breaker with the config in force rather than the scenario's.
        keep_config: bool,
    },
    /// `restore(&save())` on the live breaker.
    RestoreOwn,
    /// `save().to_bytes()`, byte `index % 24` xor-ed with `xor`, the checksum recomputed if
    /// `reseal`, then `SavedState::from_bytes` and, if that reads, `restore` on the live
    /// breaker.
    RestoreBytes {
        /// Which byte.
        index: usize,
        /// What to flip in it.
        xor: u8,
        /// Recompute the CRC, so the damage reaches the field checks.
        reseal: bool,
    },
    /// `reconfigure(settings)` (may be invalid).
    Reconfigure(Settings),
    /// `update_config(|c| edit applied to c)` (may be invalid).
    UpdateConfig(Edit),
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

    /// Valid settings: threshold, recovery timeout, probes, successes, then a feature byte for
    /// backoff, jitter, probe timeout and ramp, each with its arguments.
    fn settings(&mut self) -> Settings {
        let b = self;
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
        let mut c =
            ModelConfig::new(failure_threshold, recovery_timeout_ms, half_open_probes, successes_to_close);
        let features = b.u8();
        if features & 1 != 0 {
            let t = recovery_timeout_ms;
            c.backoff_max_ms = Some(match b.u8() % 4 {
                0 => t,
                1 => t.saturating_mul(1 << (1 + b.u8() % 6)).min(max),
                2 => max,
                _ => t.saturating_add(u64::from(b.u16())).min(max),
            });
        }
        if features & 2 != 0 {
            let room = c.jitter_room_ms();
            let max_ms = match b.u8() % 4 {
                0 => 0,
                1 => u64::from(b.u8()),
                2 => u64::from(b.u16()),
                _ => room,
            };
            c.jitter = Some(Jitter { max_ms: max_ms.min(room), seed: b.u32() });
        }
        if features & 4 != 0 {
            c.probe_timeout_ms = Some(b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS));
        }
        if features & 8 != 0 {
            c.ramp = Some(Ramp {
                period_ms: b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS),
                start_percent: u32::from(b.u8()) % 100,
            });
        }
        if features & 16 != 0 {
            c.abandoned_ms = Some(b.ms(recovery_timeout_ms, MAX_PHASE_TIMER_MS));
        }
        c.settings()
    }

    /// Settings for a reconfiguration: valid ones, sometimes (1 in 4) with one field broken.
    fn reconfiguration(&mut self) -> Settings {
        let mut s = self.settings();
        let breakage = self.u8();
        if breakage % 4 == 0 {
            let t = s.recovery_timeout_ms;
            match (breakage / 4) % 10 {
                0 => s.failure_threshold = 0,
                1 => s.failure_threshold = MAX_FAILURE_THRESHOLD + 1,
                2 => s.recovery_timeout_ms = [0, MAX_OPEN_MS + 1][usize::from(breakage & 64 != 0)],
                3 => s.half_open_probes = [0, MAX_HALF_OPEN_PROBES + 1][usize::from(breakage & 64 != 0)],
                4 => s.successes_to_close = [0, s.half_open_probes + 1][usize::from(breakage & 64 != 0)],
                5 => s.backoff_max_ms = Some([t - 1, MAX_OPEN_MS + 1][usize::from(breakage & 64 != 0)]),
                6 => {
                    let cap = s.backoff_max_ms.unwrap_or(t);
                    s.jitter =
                        Some(Jitter { max_ms: (MAX_OPEN_MS - cap + 1).min(u64::from(u32::MAX)), seed: 1 });
                }
                7 => s.probe_timeout_ms = Some([0, MAX_PHASE_TIMER_MS + 1][usize::from(breakage & 64 != 0)]),
                8 => s.abandoned_ms = Some([0, MAX_PHASE_TIMER_MS + 1][usize::from(breakage & 64 != 0)]),
                _ => {
                    s.ramp = Some(if breakage & 64 != 0 {
                        Ramp { period_ms: 1_000, start_percent: 100 }
                    } else {
                        Ramp { period_ms: 0, start_percent: 10 }
                    })
                }
            }
        }
        s
    }

    /// A one-setting edit, sometimes invalid.
    fn edit(&mut self, scales: &[u64]) -> Edit {
        match self.u8() % 8 {
            0 => Edit::Threshold(u32::from(self.u8() % 8)),
            1 => Edit::RecoveryTimeout(self.span(scales).min(MAX_OPEN_MS + 1)),
            2 => Edit::Probes { probes: u32::from(self.u8() % 5), successes: u32::from(self.u8() % 5) },
            3 => Edit::Backoff(self.span(scales).min(MAX_OPEN_MS + 1)),
            4 => Edit::Jitter(Jitter { max_ms: u64::from(self.u16()), seed: self.u32() }),
            5 => Edit::ProbeTimeout(self.span(scales).min(MAX_PHASE_TIMER_MS + 1)),
            6 => Edit::Abandoned(self.span(scales).min(MAX_PHASE_TIMER_MS + 1)),
            _ => Edit::Ramp(Ramp {
                period_ms: self.span(scales).min(MAX_PHASE_TIMER_MS + 1),
                start_percent: u32::from(self.u8()) % 101,
            }),
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
        let settings = b.settings();
        let start_ms = match b.u8() % 6 {
            0 => 0,
            1 => TIME_MODULUS - 1 - u64::from(b.u8()),
            2 => u64::MAX - u64::from(b.u16()),
            3 => b.u64(),
            _ => u64::from(b.u16()),
        };
        let mut config = ModelConfig::new(0, 0, 0, 0).with_settings(settings);
        let features = b.u8();
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
            let op = match tag % 48 {
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
                29 => Op::ForceClosed,
                30 | 31 => Op::Reset,
                32..=33 => Op::SettleLast(b.settle()),
                40 | 41 => Op::Restart { down_ms: b.span(&scales), keep_config: tag & 64 != 0 },
                42 => Op::RestoreOwn,
                43 => {
                    let (index, xor) = (usize::from(b.u8()), b.u8());
                    Op::RestoreBytes { index, xor, reseal: tag & 64 != 0 }
                }
                44 | 45 => Op::Reconfigure(b.reconfiguration()),
                46 => Op::UpdateConfig(b.edit(&scales)),
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
                    // 37..=39, 47: a timed call: acquire, let time pass, settle.
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
