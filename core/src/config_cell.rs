//! The breaker's configuration in a double-buffered cell: every decision reads one consistent
//! copy of it without waiting, and [`Breaker::reconfigure`](crate::Breaker::reconfigure)
//! replaces it while calls go on.
//!
//! ```text
//!   initial: ValidConfig  the config the breaker was built with (plain, never written again)
//!   version V: u32        slot 0: one atomic per ValidConfig field
//!   timing: one word      slot 1: one atomic per ValidConfig field
//!   threshold: one word
//!
//!   V = 0 or 1: never replaced, `initial` is in force (the first writer writes slot 1)
//!   V even: stable, the active slot is (V/2) & 1
//!   V odd:  a writer has claimed the cell and is writing the *inactive* slot
//! ```
//!
//! - **Never replaced** (most breakers, always): a read is one relaxed load of `V` and a copy
//!   of `initial`, which for a `static` breaker the optimiser folds into constants, as it did
//!   with a plain config. `V` never returns to 0 or 1 (`published` skips them when it wraps).
//!
//! - **Writer** (one at a time): claims with a CAS `V → V + 1` from an even `V`, issues a
//!   `Release` fence, stores the new values into the inactive slot with relaxed stores, and
//!   publishes with a `Release` store of `V + 2`, which makes that slot the active one. A second
//!   writer that finds `V` odd does not wait for the first: it is told the cell is busy
//!   ([`ReconfigureError::Busy`](crate::ReconfigureError::Busy)). Waiting could deadlock a
//!   single core, where the writer that holds the claim is the thread an interrupt handler
//!   interrupted.
//! - **Reader**: loads `V` (`Acquire`), reads slot `(V/2) & 1` with relaxed loads, issues an
//!   `Acquire` fence and reloads `V`; it retries only if `V/2` changed, that is if a writer
//!   *completed* in the meantime. A writer that is merely in progress writes the other slot, so
//!   readers never wait for one: they are lock-free, and wait-free while nobody reconfigures.
//!
//! Why a reader never sees a mix of two configs: the slot it reads was last written by the writer
//! that published `V/2` (or by the constructor), and its `Acquire` load of `V` makes those stores
//! visible (a claim CAS continues that store's release sequence). The next writer to touch that
//! slot is the one after the next: it first claims `V + 2 → V + 3`, then fences. If any of the
//! reader's loads saw one of its stores, that writer's `Release` fence synchronises with the
//! reader's `Acquire` fence, so the reload of `V` sees at least `V + 3` and the reader retries.
//! `V` only grows (no writer ever backs out: a new config is validated before the claim), so
//! equal halves mean no writer completed. `V` is a `u32`: the check could only be fooled by a
//! reader stalled between its two loads of `V` across exactly a multiple of 2^31 completed
//! reconfigurations.
//!
//! Costs, once replaced: a read is two loads of `V`, one relaxed load per field and, on weakly
//! ordered targets, the fence (`dmb` on Arm); `x86` needs no instruction for either ordering.
//! The clean closed-state call does not read the config at all. The OPEN rejection fast path
//! reads `V` and then either `initial` or one word, `timing` (`pack_timing`: the recovery
//! timeout and a "no jitter" flag, written by the writer under its claim), which answers at
//! backoff level 0 without jitter: one atomic cannot be torn, so it needs no version check, and
//! its address does not depend on `V`. Any other open timing of a replaced config is read from
//! the active slot, out of line. The closed-state record reads one word too, `threshold` (the
//! failure threshold, written under the claim like `timing`). Memory: `initial`, two slots of
//! ten fields, `V`, `timing` and `threshold`: 208 bytes on the 64-bit layout (`threshold` takes
//! the padding beside `V`) and 132 on the 32-bit one, where a plain `ValidConfig` takes 64 and 40.
//!
//! Nothing here decides anything about the breaker. Which slot, whether a read must be retried,
//! whether the config was ever replaced and which version a writer publishes are the pure
//! functions `active_slot`, `unchanged`, `pristine` and `published`, tested below.
//!
//! Without the `policies` feature a slot holds only the four fields a consecutive-failure
//! breaker can set (threshold, timeout, probes, successes); the others have their fixed
//! "off" values there. Without the `reconfigure` feature the cell is a plain `ValidConfig`
//! (`read` is a copy the optimiser folds into constants for a `static` breaker): the cell costs
//! about 300 B of `.text` on thumbv7em in consecutive-failure mode, which a firmware build at
//! its smallest leaves out.

#[cfg(feature = "reconfigure")]
pub(crate) use cell::{ConfigCell, Contention};
#[cfg(not(feature = "reconfigure"))]
pub(crate) use plain::ConfigCell;

/// The config as a plain value: nothing can replace it.
#[cfg(not(feature = "reconfigure"))]
mod plain {
    use crate::layout::Ms;
    use crate::sync::constructor;
    use crate::ValidConfig;

    /// The config of a breaker built without the `reconfigure` feature.
    pub(crate) struct ConfigCell(ValidConfig);

    impl ConfigCell {
        constructor! {
            pub(crate) fn new(config: ValidConfig) -> Self {
                ConfigCell(config)
            }
        }

        /// The config.
        #[inline(always)]
        pub(crate) fn read(&self) -> ValidConfig {
            self.0
        }

        /// The config, by reference (`_copy` is for the reconfigurable cell's signature).
        #[inline(always)]
        pub(crate) fn read_into<'a>(&'a self, _copy: &'a mut Option<ValidConfig>) -> &'a ValidConfig {
            &self.0
        }

        /// The failure threshold alone, for the closed-state record's fast path.
        #[inline(always)]
        pub(crate) fn failure_threshold(&self) -> u32 {
            self.0.failure_threshold
        }

        /// The abandoned-call rule alone (0 = off), for the permit's admission.
        #[inline(always)]
        pub(crate) fn abandoned_ms(&self) -> Ms {
            self.0.abandoned_ms()
        }

        /// The config (all of it: a copy costs nothing here).
        #[inline(always)]
        pub(crate) fn read_open_timing(&self, _level: u32) -> Option<ValidConfig> {
            Some(self.0)
        }

        /// The open period at backoff level 0 of generation `gen`, and the open-time shift: a
        /// plain value has them at hand, whatever the timing (0 only for a zero recovery
        /// timeout, which the caller then reads again out of line).
        #[inline(always)]
        pub(crate) fn open_shortcut(&self, gen: u32) -> (Ms, u32) {
            (self.0.open_ms(0, gen), self.0.stamp_shift())
        }

        /// The shortcut always holds the open period (a recovery timeout is at least 1 ms).
        pub(crate) const SHORTCUT_MAY_MISS: bool = false;
    }
}

#[cfg(feature = "reconfigure")]
mod cell {
    use crate::layout::Ms;
    use crate::sync::{constructor, fence, AtomicU32, HasAtomic, Ordering};
    use crate::ValidConfig;

    type AtomicMs = <Ms as HasAtomic>::Atomic;

    /// A config with this open timing (recovery timeout, backoff cap, jitter) and the defaults
    /// elsewhere: `open_ms` and `open_retry_ms` read nothing else, and it is still a valid config.
    /// Only the OPEN rejection fast path uses it, to load four fields instead of ten.
    #[inline(always)]
    #[cfg_attr(not(feature = "policies"), allow(unused_variables))]
    pub(crate) const fn open_timing(
        recovery_timeout_ms: Ms,
        backoff_max_ms: Ms,
        jitter_ms: Ms,
        jitter_seed: u32,
        tick_shift: u32,
    ) -> ValidConfig {
        ValidConfig {
            failure_threshold: 1,
            recovery_timeout_ms,
            half_open_probes: 1,
            successes_to_close: 1,
            backoff_max_ms,
            jitter_ms,
            jitter_seed,
            probe_timeout_ms: 0,
            ramp_ms: 0,
            ramp_start_percent: 0,
            #[cfg(feature = "policies")]
            tick_shift,
            #[cfg(feature = "policies")]
            abandoned_ms: 0,
        }
    }

    /// The rejection fast path's shortcut word: `recovery_timeout << 1 | 1` without jitter, 0 with
    /// it (so `word >> 1`, the open period the fast path reads without testing the flag, is 0
    /// exactly when the word does not hold it). The timeout is at most `MAX_OPEN_MS` (below 2^40;
    /// on the 32-bit layout below 2^24 at the coarsest open-time resolution), so the shift never
    /// loses a bit.
    #[inline(always)]
    pub(crate) const fn pack_timing(c: &ValidConfig) -> Ms {
        if c.jitter_ms == 0 {
            c.recovery_timeout_ms << 1 | 1
        } else {
            0
        }
    }

    /// The open duration the shortcut word gives at backoff `level`: the recovery timeout at level
    /// 0 without jitter, and always without the `policies` feature (no backoff, no jitter: the
    /// open duration is the timeout); `None` otherwise (the slot has the rest).
    #[inline(always)]
    pub(crate) const fn unpack_timing(timing: Ms, level: u32) -> Option<Ms> {
        if !cfg!(feature = "policies") || (level == 0 && timing & 1 == 1) {
            Some(timing >> 1)
        } else {
            None
        }
    }

    /// `true` while the config was never replaced: version 0, or 1 while the first writer
    /// writes slot 1 (slot 0, the active one, still holds the initial config then).
    #[inline(always)]
    pub(crate) const fn pristine(v: u32) -> bool {
        v < 2
    }

    /// The version a writer that claimed at even `seen` publishes: `seen + 2`, except that it
    /// never comes back to a [`pristine`] one: after 2^31 changes it wraps to 4, which selects
    /// the same slot as 0 would.
    #[inline(always)]
    pub(crate) const fn published(seen: u32) -> u32 {
        let next = seen.wrapping_add(2);
        if pristine(next) {
            next + 4
        } else {
            next
        }
    }

    /// The slot a reader at version `v` reads, and the one a writer claiming at even `v` does *not*
    /// write.
    #[inline(always)]
    pub(crate) const fn active_slot(v: u32) -> usize {
        ((v >> 1) & 1) as usize
    }

    /// `true` when a read that began at version `before` and ended at `after` saw one slot that no
    /// writer touched meanwhile: no writer completed in between.
    #[inline(always)]
    pub(crate) const fn unchanged(before: u32, after: u32) -> bool {
        before >> 1 == after >> 1
    }

    /// Why a replacement did not happen.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Contention {
        /// Another writer holds the claim.
        Busy,
        /// Another writer completed since the version the caller read: recompute and retry.
        Changed,
    }

    /// One copy of the config, one atomic per field.
    struct Slot {
        failure_threshold: AtomicU32,
        recovery_timeout_ms: AtomicMs,
        half_open_probes: AtomicU32,
        successes_to_close: AtomicU32,
        #[cfg(feature = "policies")]
        recovery: RecoverySlot,
    }

    /// The fields only the recovery policies (`policies` feature) set.
    #[cfg(feature = "policies")]
    struct RecoverySlot {
        backoff_max_ms: AtomicMs,
        jitter_ms: AtomicMs,
        jitter_seed: AtomicU32,
        probe_timeout_ms: AtomicMs,
        ramp_ms: AtomicMs,
        ramp_start_percent: AtomicU32,
        abandoned_ms: AtomicMs,
    }

    impl Slot {
        constructor! {
            fn new(c: ValidConfig) -> Self {
                Slot {
                    failure_threshold: AtomicU32::new(c.failure_threshold),
                    recovery_timeout_ms: AtomicMs::new(c.recovery_timeout_ms),
                    half_open_probes: AtomicU32::new(c.half_open_probes),
                    successes_to_close: AtomicU32::new(c.successes_to_close),
                    #[cfg(feature = "policies")]
                    recovery: RecoverySlot {
                        backoff_max_ms: AtomicMs::new(c.backoff_max_ms),
                        jitter_ms: AtomicMs::new(c.jitter_ms),
                        jitter_seed: AtomicU32::new(c.jitter_seed),
                        probe_timeout_ms: AtomicMs::new(c.probe_timeout_ms),
                        ramp_ms: AtomicMs::new(c.ramp_ms),
                        ramp_start_percent: AtomicU32::new(c.ramp_start_percent),
                        abandoned_ms: AtomicMs::new(c.abandoned_ms),
                    },
                }
            }
        }

        #[inline(always)]
        #[cfg_attr(not(feature = "policies"), allow(unused_variables))]
        fn load(&self, tick_shift: u32) -> ValidConfig {
            let r = Ordering::Relaxed;
            let recovery_timeout_ms = self.recovery_timeout_ms.load(r);
            #[cfg(feature = "policies")]
            let p = &self.recovery;
            ValidConfig {
                failure_threshold: self.failure_threshold.load(r),
                recovery_timeout_ms,
                half_open_probes: self.half_open_probes.load(r),
                successes_to_close: self.successes_to_close.load(r),
                #[cfg(feature = "policies")]
                backoff_max_ms: p.backoff_max_ms.load(r),
                #[cfg(feature = "policies")]
                jitter_ms: p.jitter_ms.load(r),
                #[cfg(feature = "policies")]
                jitter_seed: p.jitter_seed.load(r),
                #[cfg(feature = "policies")]
                probe_timeout_ms: p.probe_timeout_ms.load(r),
                #[cfg(feature = "policies")]
                ramp_ms: p.ramp_ms.load(r),
                #[cfg(feature = "policies")]
                ramp_start_percent: p.ramp_start_percent.load(r),
                // What `Config::validate` produces when the recovery policies cannot be set.
                #[cfg(not(feature = "policies"))]
                backoff_max_ms: recovery_timeout_ms,
                #[cfg(not(feature = "policies"))]
                jitter_ms: 0,
                #[cfg(not(feature = "policies"))]
                jitter_seed: 0,
                #[cfg(not(feature = "policies"))]
                probe_timeout_ms: 0,
                #[cfg(not(feature = "policies"))]
                ramp_ms: 0,
                #[cfg(not(feature = "policies"))]
                ramp_start_percent: 0,
                #[cfg(feature = "policies")]
                tick_shift,
                #[cfg(feature = "policies")]
                abandoned_ms: p.abandoned_ms.load(r),
            }
        }

        /// Only the fields the open duration at backoff `level` is computed from (see
        /// [`open_timing`]): at level 0 the cap is never looked at, and without jitter the seed
        /// is not, so the common case is two loads.
        #[inline(always)]
        fn load_open_timing(&self, level: u32, tick_shift: u32) -> ValidConfig {
            let r = Ordering::Relaxed;
            let recovery_timeout_ms = self.recovery_timeout_ms.load(r);
            #[cfg(feature = "policies")]
            let (backoff_max_ms, jitter_ms, jitter_seed) = {
                let p = &self.recovery;
                let cap = if level == 0 { recovery_timeout_ms } else { p.backoff_max_ms.load(r) };
                let jitter = p.jitter_ms.load(r);
                (cap, jitter, if jitter == 0 { 0 } else { p.jitter_seed.load(r) })
            };
            #[cfg(not(feature = "policies"))]
            let _ = level;
            #[cfg(not(feature = "policies"))]
            let (backoff_max_ms, jitter_ms, jitter_seed) = (recovery_timeout_ms, 0, 0);
            open_timing(recovery_timeout_ms, backoff_max_ms, jitter_ms, jitter_seed, tick_shift)
        }

        /// Writes `c` into this slot, field by field, skipping the fields that already hold
        /// their new value. Only the writer holding the claim calls it, and the slot's content
        /// is stable then (it was written two completions ago, which the claim acquired), so
        /// reading it first is safe; a reader that reads an unwritten field reads the same value
        /// either way. Fewer stores also means a smaller loom model.
        fn store(&self, c: &ValidConfig) {
            let r = Ordering::Relaxed;
            let old = self.load(c.tick());
            macro_rules! set {
                ($($atomic:expr => $field:ident),* $(,)?) => {
                    $(if old.$field != c.$field {
                        $atomic.store(c.$field, r);
                    })*
                };
            }
            set!(
                self.failure_threshold => failure_threshold,
                self.recovery_timeout_ms => recovery_timeout_ms,
                self.half_open_probes => half_open_probes,
                self.successes_to_close => successes_to_close,
            );
            #[cfg(feature = "policies")]
            set!(
                self.recovery.backoff_max_ms => backoff_max_ms,
                self.recovery.jitter_ms => jitter_ms,
                self.recovery.jitter_seed => jitter_seed,
                self.recovery.probe_timeout_ms => probe_timeout_ms,
                self.recovery.ramp_ms => ramp_ms,
                self.recovery.ramp_start_percent => ramp_start_percent,
                self.recovery.abandoned_ms => abandoned_ms,
            );
        }
    }

    /// The double-buffered config (see the module docs).
    pub(crate) struct ConfigCell {
        /// The config the breaker was built with, in force while the version is [`pristine`]:
        /// a plain value, never written after construction.
        initial: ValidConfig,
        version: AtomicU32,
        /// The OPEN rejection fast path's shortcut: [`pack_timing`] of the config in force.
        timing: AtomicMs,
        /// The closed-state record's shortcut: the failure threshold of the config in force.
        threshold: AtomicU32,
        slots: [Slot; 2],
    }

    impl ConfigCell {
        constructor! {
            /// A cell holding `config` in slot 0 (version 0). The inactive slot holds a copy too, so
            /// every slot holds a validated config at all times.
            pub(crate) fn new(config: ValidConfig) -> Self {
                ConfigCell {
                    initial: config,
                    version: AtomicU32::new(0),
                    timing: AtomicMs::new(pack_timing(&config)),
                    threshold: AtomicU32::new(config.failure_threshold),
                    slots: [Slot::new(config), Slot::new(config)],
                }
            }
        }

        /// One attempt at `part` of the active slot, and the (possibly odd) version it was read
        /// at: `None` if a writer completed meanwhile.
        #[inline(always)]
        fn try_read_part<R>(&self, part: impl Fn(&Slot) -> R) -> Option<(R, u32)> {
            let before = self.version.load(Ordering::Acquire);
            let value = part(&self.slots[active_slot(before)]);
            fence(Ordering::Acquire);
            let after = self.version.load(Ordering::Relaxed);
            if unchanged(before, after) {
                Some((value, before))
            } else {
                None
            }
        }

        /// A consistent copy of the config in force, and the (possibly odd) version it was read at.
        /// One load while the config was never replaced.
        #[inline(always)]
        pub(crate) fn read_versioned(&self) -> (ValidConfig, u32) {
            // `Relaxed`: `initial` was written before the breaker was shared and never since.
            let v = self.version.load(Ordering::Relaxed);
            if pristine(v) {
                return (self.initial, v);
            }
            self.read_replaced()
        }

        /// [`read_versioned`](ConfigCell::read_versioned) from the slots. Out of line: one copy
        /// of the loop serves every decision.
        #[inline(never)]
        fn read_replaced(&self) -> (ValidConfig, u32) {
            loop {
                // The tick is the breaker's for life (`reconfigure` keeps it): not in the slots.
                let shift = self.initial.tick();
                if let Some(read) = self.try_read_part(|slot| slot.load(shift)) {
                    return read;
                }
            }
        }

        /// A consistent copy of the config in force.
        #[inline(always)]
        pub(crate) fn read(&self) -> ValidConfig {
            self.read_versioned().0
        }

        /// The config in force, by reference: `initial` itself while the config was never
        /// replaced (no copy: a decision reads the few fields it needs from it), else a
        /// consistent copy of the active slot, kept in `copy`. The CAS loop decides through
        /// this, so an admission or a record that goes to the transition function does not copy
        /// ten fields onto the stack first.
        #[inline(always)]
        pub(crate) fn read_into<'a>(&'a self, copy: &'a mut Option<ValidConfig>) -> &'a ValidConfig {
            // `Relaxed`: as in `read_versioned`.
            if pristine(self.version.load(Ordering::Relaxed)) {
                return &self.initial;
            }
            copy.insert(self.read_replaced().0)
        }

        /// The failure threshold of the config in force, for the closed-state record's fast
        /// path: one relaxed load of its own word, whatever the version (like `timing`: one
        /// atomic cannot be torn, and the record needs no other field). A whole `read` is a
        /// version check around a copy of every field; a version check and `initial`'s field
        /// cost the record two more instructions and, once replaced, a call that returns the
        /// whole config on the stack.
        #[inline(always)]
        pub(crate) fn failure_threshold(&self) -> u32 {
            self.threshold.load(Ordering::Relaxed)
        }

        /// The abandoned-call rule of the config in force (0 = off), for the permit's
        /// admission: one relaxed load of the version and one of `initial`'s field while the
        /// config was never replaced, a versioned read of the slot otherwise.
        #[inline(always)]
        pub(crate) fn abandoned_ms(&self) -> Ms {
            if pristine(self.version.load(Ordering::Relaxed)) {
                return self.initial.abandoned_ms();
            }
            self.read_replaced().0.abandoned_ms()
        }

        /// The open timing at backoff `level` of the config in force (see [`open_timing`]),
        /// for the OPEN rejection fast path: two to four loads instead of ten, inlined, one
        /// attempt. `None` if a writer completed meanwhile: the caller then takes its slow path,
        /// which reads the whole config (retrying here would keep the values live across a
        /// call and cost the fast path a stack frame).
        ///
        /// The common case (level 0, no jitter) is one load of its own word, `timing`: a single
        /// atomic holds the recovery timeout and the "no jitter" flag of one config, so it
        /// cannot be torn, and the fast path pays neither the version check nor the load of a
        /// slot address that depends on the version.
        #[inline(always)]
        pub(crate) fn read_open_timing(&self, level: u32) -> Option<ValidConfig> {
            if pristine(self.version.load(Ordering::Relaxed)) {
                return Some(self.initial);
            }
            match unpack_timing(self.timing.load(Ordering::Relaxed), level) {
                Some(timeout) => Some(open_timing(timeout, timeout, 0, 0, self.initial.tick())),
                None => {
                    let shift = self.initial.tick();
                    self.try_read_part(|slot| slot.load_open_timing(level, shift)).map(|(timing, _)| timing)
                }
            }
        }

        /// The shortcut alone, for the OPEN rejection fast path at backoff level 0: the open
        /// period and the open-time shift, from one load of the shortcut word whatever the
        /// version; the period is 0 when the word does not hold it (jitter), and the caller
        /// then reads the timing out of line ([`read_open_timing`](ConfigCell::read_open_timing)).
        #[inline(always)]
        pub(crate) fn open_shortcut(&self, _gen: u32) -> (Ms, u32) {
            let timing = self.timing.load(Ordering::Relaxed);
            // Without `policies` there is no jitter: the word always holds the period.
            (timing >> 1, crate::layout::effective_shift(self.initial.tick()))
        }

        /// The shortcut word misses (reads 0) for a timing with jitter.
        pub(crate) const SHORTCUT_MAY_MISS: bool = cfg!(feature = "policies");

        /// Replaces the config with `config` if no writer completed since version `seen` (from
        /// [`read_versioned`](ConfigCell::read_versioned)) and none is writing now.
        pub(crate) fn replace(&self, seen: u32, config: &ValidConfig) -> Result<(), Contention> {
            if seen & 1 == 1 {
                return Err(Contention::Busy);
            }
            // `Acquire`: the stores of the writer that last wrote the slot about to be written
            // (two completions ago) happen before ours, so ours come later in every field's order.
            if let Err(actual) = self.version.compare_exchange(
                seen,
                seen.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                return Err(if actual & 1 == 1 { Contention::Busy } else { Contention::Changed });
            }
            // Orders the claim before the stores: a reader that sees any of them sees the claim.
            fence(Ordering::Release);
            self.slots[active_slot(seen) ^ 1].store(config);
            // Under the claim, so writers' shortcuts are ordered like their slots. A fast-path
            // reader may see it a moment before the slot is published: it then decides under the
            // new config, which is one whole config all the same.
            self.timing.store(pack_timing(config), Ordering::Relaxed);
            self.threshold.store(config.failure_threshold, Ordering::Relaxed);
            self.version.store(published(seen), Ordering::Release);
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::sync::Ordering;
        use crate::Config;
        use core::time::Duration;

        #[test]
        fn the_open_timing_is_the_configs() {
            use crate::layout::GENERATIONS;
            let ms = Duration::from_millis;
            #[cfg_attr(not(feature = "policies"), allow(unused_mut))]
            let mut configs =
                std::vec![Config::new(), Config::new().recovery_timeout(ms(7)).failure_threshold(9)];
            #[cfg(feature = "policies")]
            configs.extend([
                Config::new().recovery_timeout(ms(100)).backoff(ms(5_000)).jitter(ms(77), 0xabc),
                Config::new().probe_timeout(ms(3)).gradual_recovery(ms(9), 5).jitter(ms(1), 1),
            ]);
            for c in configs {
                let c = c.validate().unwrap();
                let cell = ConfigCell::new(c);
                for level in 0..=crate::limits::MAX_BACKOFF_LEVEL {
                    let t = cell.read_open_timing(level).unwrap();
                    assert_eq!(Config::from(t).validate(), Ok(t), "a valid config");
                    for gen in [0, 1, GENERATIONS - 1] {
                        assert_eq!(t.open_ms(level, gen), c.open_ms(level, gen));
                    }
                }
            }
        }

        #[test]
        fn the_shortcut_word_answers_level_0_without_jitter_only() {
            let ms = Duration::from_millis;
            let plain = Config::new().recovery_timeout(ms(1_234)).validate().unwrap();
            assert_eq!(unpack_timing(pack_timing(&plain), 0), Some(1_234));
            let at_level_1 = if cfg!(feature = "policies") { None } else { Some(1_234) };
            assert_eq!(unpack_timing(pack_timing(&plain), 1), at_level_1);
            let longest = Config::new().recovery_timeout(ms(crate::limits::MAX_OPEN_MS)).validate().unwrap();
            assert_eq!(unpack_timing(pack_timing(&longest), 0), Some(crate::limits::MAX_OPEN_MS as Ms));
            #[cfg(feature = "policies")]
            {
                let jittered = Config::new().jitter(ms(5), 1).validate().unwrap();
                assert_eq!(unpack_timing(pack_timing(&jittered), 0), None);
                // A seed without jitter adds nothing: still the shortcut.
                let seeded = Config::new().jitter(Duration::ZERO, 1).validate().unwrap();
                assert_eq!(unpack_timing(pack_timing(&seeded), 0), Some(60_000));
            }
            // The writer keeps it in step with the slots.
            let cell = ConfigCell::new(plain);
            assert_eq!(cell.replace(0, &longest), Ok(()));
            assert_eq!(cell.timing.load(Ordering::Relaxed), pack_timing(&longest));
        }

        #[test]
        fn the_threshold_word_follows_every_replacement() {
            let config = |n| Config::new().failure_threshold(n).validate().unwrap();
            let cell = ConfigCell::new(config(5));
            assert_eq!(cell.failure_threshold(), 5);
            let mut seen = 0;
            let max = crate::layout::MAX_FAILURE_THRESHOLD;
            for n in [3, 9, 1, max] {
                assert_eq!(cell.replace(seen, &config(n)), Ok(()));
                seen = cell.read_versioned().1;
                // The shortcut and a whole read agree after each publish.
                assert_eq!((cell.failure_threshold(), cell.read().failure_threshold), (n, n));
            }
            // A refused replacement leaves it alone.
            assert_eq!(cell.replace(seen + 1, &config(7)), Err(Contention::Busy));
            assert_eq!(cell.failure_threshold(), max);
        }

        #[test]
        fn slots_alternate_and_a_claim_keeps_the_active_slot() {
            assert_eq!([0, 1, 2, 3, 4, 5, 6].map(active_slot), [0, 0, 1, 1, 0, 0, 1]);
            // A writer claiming at even v writes the slot readers at v and v + 1 do not read.
            for v in (0..16).step_by(2) {
                assert_eq!(active_slot(v), active_slot(v + 1));
                assert_ne!(active_slot(v), active_slot(v + 2));
            }
            assert_eq!(active_slot(u32::MAX - 1), active_slot(u32::MAX));
            assert_ne!(active_slot(u32::MAX), active_slot(u32::MAX.wrapping_add(1)));
        }

        #[test]
        fn a_read_is_retried_exactly_when_a_writer_completed() {
            for v in 0..64u32 {
                for d in 0..5u32 {
                    let after = v + d;
                    // From an even v: unchanged through the claim (v + 1), not after the publish.
                    // From an odd v (claimed): unchanged only while that writer has not published.
                    let completed = if v % 2 == 0 { d >= 2 } else { d >= 1 };
                    assert_eq!(unchanged(v, after), !completed, "{v} -> {after}");
                }
            }
        }

        #[test]
        fn replace_publishes_and_contention_is_reported() {
            let a = Config::new().failure_threshold(3).validate().unwrap();
            let b = Config::new().recovery_timeout(Duration::from_secs(7)).validate().unwrap();
            let cell = ConfigCell::new(a);
            let (c, v) = cell.read_versioned();
            assert_eq!((c, v), (a, 0));
            assert_eq!(cell.replace(v, &b), Ok(()));
            assert_eq!(cell.read_versioned(), (b, 2));
            // A writer that read before the last completion must recompute.
            assert_eq!(cell.replace(v, &a), Err(Contention::Changed));
            // A claimed cell is busy; readers still read the published slot.
            cell.version.store(3, Ordering::Relaxed);
            assert_eq!(cell.replace(2, &a), Err(Contention::Busy));
            assert_eq!(cell.replace(3, &a), Err(Contention::Busy));
            assert_eq!(cell.read(), b);
            cell.version.store(4, Ordering::Relaxed);
            assert_eq!(cell.replace(4, &a), Ok(()));
            assert_eq!(cell.read_versioned(), (a, 6));
        }

        #[test]
        fn the_version_wraps_without_losing_the_slot() {
            let a = Config::new().validate().unwrap();
            let b = Config::new().failure_threshold(9).validate().unwrap();
            let cell = ConfigCell::new(a);
            cell.version.store(u32::MAX - 1, Ordering::Relaxed);
            // Slot 1 is active at u32::MAX - 1; writing goes to slot 0, active at 4 (0 and 1
            // would read as "never replaced").
            assert_eq!(cell.replace(u32::MAX - 1, &b), Ok(()));
            assert_eq!(cell.read_versioned(), (b, 4));
            assert_eq!(cell.open_shortcut(0).0 as u64, b.recovery_timeout().as_millis() as u64);
            assert_eq!(published(u32::MAX - 1), 4);
            assert_eq!(published(6), 8);
            assert!(pristine(0) && pristine(1) && !pristine(2));
        }
    }
}
