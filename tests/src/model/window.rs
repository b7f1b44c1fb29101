//! The model of a rate window ([`ModelWindow`]) and its [`Bucket`]s.

use breaker_core::limits::{BUCKET_CAPACITY, GENERATIONS, JUMP_EPOCHS, MAX_BUCKETS, WORD_LAYOUT};
use breaker_core::Trigger;

#[cfg(doc)]
use super::KnownBugs;
use super::{Coverage, WindowFigures};
use crate::config::{WindowKind, WindowSpec};

/// Distinct epoch tags of a window bucket: `2 × MAX_BUCKETS` (12 bits on the 64-bit layout,
/// 5 on the 32-bit one).
pub const EPOCH_TAGS: u64 = 2 * MAX_BUCKETS as u64;

/// Distinct generation tags of a window bucket: a bucket holds the breaker's whole generation,
/// so cycles alias exactly when permits do.
pub const GEN_TAGS: u32 = GENERATIONS;

/// Bits of the breaker's atomic word on this build's layout (64, or 32 for the 32-bit layout).
pub const WORD_BITS: u32 = if WORD_LAYOUT.as_bytes()[0] == b'3' { 32 } else { 64 };

/// One bucket of a model window: its tag and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// The full generation of its calls (the tag is this modulo [`GEN_TAGS`]).
    pub gen: u64,
    /// The full epoch of its calls (the tag is this modulo [`EPOCH_TAGS`]).
    pub epoch: u64,
    /// Calls counted.
    pub calls: u32,
    /// Failed calls counted.
    pub failures: u32,
    /// Slow calls counted.
    pub slow: u32,
}

impl Bucket {
    /// Generation tag.
    pub fn gen_tag(&self) -> u64 {
        self.gen % u64::from(GEN_TAGS)
    }

    /// Epoch tag.
    pub fn epoch_tag(&self) -> u64 {
        self.epoch % EPOCH_TAGS
    }
}

/// `a` is newer than `b` in a wrapping space of `modulus` values (half-range rule); modulus 0
/// stands for 2^64 (epochs of a wrapping `u64` clock).
fn newer(a: u64, b: u64, modulus: u64) -> bool {
    let d = a.wrapping_sub(b);
    if modulus == 0 {
        return d != 0 && d < 1 << 63;
    }
    let d = d % modulus;
    d != 0 && d < modulus / 2
}

/// The model of a rate window: `B` buckets, the head of a count window, the closed cycle it
/// counts, the newest epoch recorded and the adaptive baseline.
///
/// - A call of generation `g` first enters its cycle: the first call of another cycle than the
///   one counted makes it the counted cycle and empties the buckets of other cycles. (The
///   breaker records only calls of its current cycle. Generations are compared modulo
///   [`GENERATIONS`], the permits' horizon.)
/// - A count window's call goes to the head epoch (0 at first, never reset); if the head's
///   bucket already holds `calls_per_bucket` calls of this cycle, the head moves on by one
///   first. The window is the buckets of this cycle within `B` epochs of the head: exactly the
///   last `B` calls with `calls_per_bucket = 1`. Count windows never drop or saturate a call.
/// - A time window's call is at epoch `e = now / width`. The newest epoch moves forward to `e`
///   if `e` is newer; if epochs were skipped (a quiet period), the slots of the last
///   `min(gap, B)` epochs up to `e` are emptied, by position.
/// - A call `B` or more epochs behind the newest one (a clock stepped back) is outside the
///   window and dropped; one [`JUMP_EPOCHS`] or more behind is taken for a jump instead: the
///   newest epoch becomes the call's and the window empties. A read that far behind sees an
///   empty window.
/// - Then the call goes to bucket `e mod B`: a bucket of the same cycle and epoch counts it
///   (unless it already holds `BUCKET_CAPACITY` calls); an empty bucket, one of another cycle or
///   one of an older epoch is recycled for it; otherwise (the slot holds a newer epoch: the call
///   is a whole window behind) it is dropped.
/// - A recycled bucket of the same cycle is a finished bucket: with an adaptive threshold and
///   at least `min_bucket_calls` calls it moves the baseline (1/65 536 units) by
///   `(rate − baseline) / 2^alpha_shift`, rounded down. Emptied buckets teach nothing.
/// - The window of cycle `g` read at epoch `e` ends at the newest epoch recorded if that is not
///   older than `e` (else at `e`) and sums the buckets of `g` with calls within `B` epochs of
///   the end.
/// - After every recorded call (successes included, as Resilience4j), the window trips when it
///   holds at least `min_calls` calls and either `failures > 0` and `failures / calls ≥ threshold` (fixed, or
///   `max(floor, multiplier × baseline)`) — a failure-rate trip — or slow calls are tracked,
///   `slow > 0` and `slow / calls ≥ slow threshold` — a slow-call-rate trip.
///
/// Epochs are compared with the half-range rule at the clock's full width (modulo 2^64, as the
/// clock wraps), unless [`KnownBugs::window_tag_horizons`] (the core's finite fields): then
/// buckets are compared through their epoch tags (modulo [`EPOCH_TAGS`], half-range rule for
/// "newer") and the newest epoch is kept modulo `2^W` (`W` = [`WORD_BITS`]) as `epoch + 1`,
/// with 0 meaning "none yet", and compared by the half-range rule in that width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelWindow {
    spec: WindowSpec,
    buckets: Vec<Bucket>,
    /// A count window's head: the epoch calls go to, at full width, never reset.
    head: u64,
    /// The adaptive baseline, 1/65 536 units, never reset.
    baseline: u32,
    /// The cycle counted: the full generation of its first call.
    cycle: Option<u64>,
    /// The newest epoch recorded, at full width.
    latest: Option<u64>,
    /// With tags: the newest epoch recorded plus one, modulo `2^W`; 0 = none.
    latest_word: u64,
    /// Compare through the core's finite fields.
    tags: bool,
}

/// `x` modulo `2^WORD_BITS`.
fn word(x: u64) -> u64 {
    if WORD_BITS == 64 {
        x
    } else {
        x & ((1 << WORD_BITS) - 1)
    }
}

impl ModelWindow {
    /// An empty window; `tags`: see [`KnownBugs::window_tag_horizons`].
    pub fn new(spec: WindowSpec, tags: bool) -> Self {
        ModelWindow {
            spec,
            buckets: vec![Bucket::default(); spec.buckets],
            head: 0,
            baseline: 0,
            cycle: None,
            latest: None,
            latest_word: 0,
            tags,
        }
    }

    /// The buckets.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The failure rate (‰) that trips now.
    pub fn trip_permille(&self) -> u32 {
        match self.spec.rule.adaptive {
            None => self.spec.rule.failure_permille,
            Some(a) => {
                let scaled = u64::from(self.baseline) * u64::from(a.multiplier_percent) * 10 / 65_536;
                (scaled.min(1000) as u32).max(a.floor_permille)
            }
        }
    }

    /// The epoch a call recorded now would belong to, without counting it.
    fn current_epoch(&self, now_ms: u64) -> u64 {
        match self.spec.kind {
            WindowKind::Time { bucket_width_ms } => now_ms / bucket_width_ms,
            WindowKind::Count { .. } => self.head,
        }
    }

    /// `b` belongs to cycle `gen` (generations compared modulo [`GENERATIONS`], as permits'
    /// are: a bucket holds the whole generation).
    fn of_gen(&self, gen: u64, b: &Bucket) -> bool {
        b.gen_tag() == gen % u64::from(GEN_TAGS)
    }

    /// Enters the call's cycle: the first call of another cycle empties the buckets of others.
    fn enter_cycle(&mut self, gen: u64) {
        let gens = u64::from(GENERATIONS);
        if self.cycle.is_some_and(|c| c % gens == gen % gens) {
            return;
        }
        self.cycle = Some(gen);
        for i in 0..self.buckets.len() {
            let b = self.buckets[i];
            if b.calls > 0 && !self.of_gen(gen, &b) {
                self.buckets[i] = Bucket::default();
            }
        }
    }

    /// Moves the newest epoch forward to `epoch` (or back to it, when it is at least
    /// [`JUMP_EPOCHS`] behind: a jump), emptying the slots of skipped epochs (all of them after
    /// a jump). Returns how many epochs `epoch` is behind the newest one (0 if it is the newest
    /// or now is).
    fn advance(&mut self, epoch: u64) -> u64 {
        let width = self.spec.buckets as u64;
        let gap = if self.tags {
            let next = word(epoch.wrapping_add(1));
            let cur = self.latest_word;
            let ahead = word(next.wrapping_sub(cur));
            let behind = word(cur.wrapping_sub(next));
            if cur != 0 && (ahead == 0 || ahead > word(u64::MAX) / 2) && behind < JUMP_EPOCHS {
                return behind;
            }
            self.latest_word = next;
            if cur == 0 {
                return 0;
            }
            ahead
        } else {
            match self.latest {
                Some(latest) if !newer(epoch, latest, 0) && latest.wrapping_sub(epoch) < JUMP_EPOCHS => {
                    return latest.wrapping_sub(epoch)
                }
                Some(latest) => {
                    self.latest = Some(epoch);
                    epoch.wrapping_sub(latest)
                }
                None => {
                    self.latest = Some(epoch);
                    return 0;
                }
            }
        };
        if gap > 1 {
            for k in 0..gap.min(width) {
                let slot = (epoch.wrapping_sub(k) % width) as usize;
                self.buckets[slot] = Bucket::default();
            }
        }
        0
    }

    /// Sums cycle `gen`'s window ending at the newest epoch, or at `epoch` if that is newer (a
    /// count window: at its head).
    fn sum(&self, gen: u64, epoch: u64) -> Bucket {
        let width = self.spec.buckets as u64;
        let mine = |b: &&Bucket| self.of_gen(gen, b) && b.calls > 0;
        let mut total = Bucket { gen, ..Bucket::default() };
        let head = self.head;
        let in_window: &dyn Fn(&Bucket) -> bool = if matches!(self.spec.kind, WindowKind::Count { .. }) {
            total.epoch = head;
            &move |b: &Bucket| head.wrapping_sub(b.epoch) < width
        } else if self.tags {
            let newest = word(self.latest_word.wrapping_sub(1));
            let ahead = word(newest.wrapping_sub(epoch));
            let end = if self.latest_word == 0 {
                epoch
            } else if ahead <= word(u64::MAX) / 2 && ahead < JUMP_EPOCHS {
                epoch.wrapping_add(ahead)
            } else if ahead <= word(u64::MAX) / 2 {
                return total; // a jump: the window restarts empty
            } else if word(ahead.wrapping_neg()) < width {
                epoch
            } else {
                return total; // a whole window past the newest epoch: all older
            };
            total.epoch = end;
            &move |b: &Bucket| end.wrapping_sub(b.epoch_tag()) % EPOCH_TAGS < width
        } else {
            let end = match self.latest {
                Some(l) if newer(l, epoch, 0) && l.wrapping_sub(epoch) >= JUMP_EPOCHS => return total,
                Some(l) if newer(l, epoch, 0) => l,
                _ => epoch,
            };
            total.epoch = end;
            &move |b: &Bucket| end.wrapping_sub(b.epoch) < width
        };
        for b in self.buckets.iter().filter(mine).filter(|b| in_window(b)) {
            total.calls += b.calls;
            total.failures += b.failures;
            total.slow += b.slow;
        }
        total
    }

    /// The figures of cycle `gen`'s window at `now_ms`.
    pub fn figures(&self, gen: u64, now_ms: u64) -> WindowFigures {
        let total = self.sum(gen, self.current_epoch(now_ms));
        WindowFigures {
            calls: total.calls,
            failures: total.failures,
            slow: total.slow,
            trip_permille: self.trip_permille(),
            baseline: self.spec.rule.adaptive.map(|_| self.baseline),
        }
    }

    /// Folds a finished bucket into the adaptive baseline.
    fn learn(&mut self, finished: Bucket, coverage: &mut Coverage) {
        let Some(a) = self.spec.rule.adaptive else {
            return;
        };
        if finished.calls < a.min_bucket_calls {
            return;
        }
        coverage.learned += 1;
        let rate = (i64::from(finished.failures) << 16) / i64::from(finished.calls);
        let b = i64::from(self.baseline);
        let next = b + (rate - b).div_euclid(1 << a.alpha_shift);
        self.baseline = next.clamp(0, 1 << 16) as u32;
    }

    /// Records one outcome of generation `gen` at `now_ms`; returns the trip, if any, with the
    /// window's failures.
    pub(crate) fn record(
        &mut self,
        gen: u64,
        failed: bool,
        slow: bool,
        now_ms: u64,
        coverage: &mut Coverage,
    ) -> Option<(Trigger, u32)> {
        coverage.window_records += 1;
        self.enter_cycle(gen);
        let width = self.spec.buckets as u64;
        let epoch = match self.spec.kind {
            WindowKind::Time { bucket_width_ms } => {
                let epoch = now_ms / bucket_width_ms;
                if self.advance(epoch) >= width {
                    coverage.window_dropped += 1;
                    return None;
                }
                epoch
            }
            WindowKind::Count { calls_per_bucket } => {
                let b = self.buckets[(self.head % width) as usize];
                if self.of_gen(gen, &b) && b.epoch == self.head && b.calls >= calls_per_bucket {
                    self.head += 1;
                }
                self.head
            }
        };
        let index = (epoch % self.spec.buckets as u64) as usize;
        let bucket = self.buckets[index];
        // A count window's tags are exact (its slots fill in order): full-width comparisons.
        let tags = self.tags && matches!(self.spec.kind, WindowKind::Time { .. });
        let same = self.of_gen(gen, &bucket)
            && if tags { bucket.epoch_tag() == epoch % EPOCH_TAGS } else { bucket.epoch == epoch };
        let bucket_ahead = if tags {
            newer(bucket.epoch_tag(), epoch % EPOCH_TAGS, EPOCH_TAGS)
        } else {
            newer(bucket.epoch, epoch, 0)
        };
        if same && bucket.calls > 0 {
            if bucket.calls < BUCKET_CAPACITY {
                let b = &mut self.buckets[index];
                b.calls += 1;
                b.failures += u32::from(failed);
                b.slow += u32::from(slow);
            } else {
                coverage.window_saturated += 1;
            }
        } else if bucket.calls == 0 || !self.of_gen(gen, &bucket) || !bucket_ahead {
            self.buckets[index] =
                Bucket { gen, epoch, calls: 1, failures: u32::from(failed), slow: u32::from(slow) };
            if self.of_gen(gen, &bucket) {
                self.learn(bucket, coverage);
            }
        } else {
            coverage.window_dropped += 1;
            return None;
        }
        let total = self.sum(gen, epoch);
        let rule = self.spec.rule;
        if total.calls < rule.min_calls {
            return None;
        }
        let calls = u64::from(total.calls);
        if total.failures > 0 && u64::from(total.failures) * 1000 >= u64::from(self.trip_permille()) * calls {
            return Some((Trigger::FailureRate, total.failures));
        }
        if let Some(s) = rule.slow {
            if total.slow > 0 && u64::from(total.slow) * 1000 >= u64::from(s.trip_permille) * calls {
                return Some((Trigger::SlowCallRate, total.failures));
            }
        }
        None
    }
}
