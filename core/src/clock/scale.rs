//! Ticks to milliseconds without a division: the conversion the clock adapters make on every
//! reading (so on every rejection), computed once, in a `const`, from the tick rate.
//!
//! `ms = ⌊t · num / den⌋` for a tick count `t` and a rational tick period of `num / den`
//! milliseconds, split into a whole part and a fraction:
//!
//! ```text
//! ⌊t · num / den⌋ = t · whole + ⌊t · rem / den⌋          whole = ⌊num / den⌋, rem = num mod den
//! ⌊t · rem / den⌋ = q or q + 1,  q = ⌊t · magic / 2^64⌋  magic = ⌊2^64 · rem / den⌋
//! ```
//!
//! The estimate `q` is never above the true fraction and less than one below it
//! (`magic = 2^64·rem/den − δ` with `0 ≤ δ < 1`, so `t·magic/2^64 > t·rem/den − t/2^64 >
//! t·rem/den − 1`); the remainder `t·rem − q·den` lies in `[0, 2·den)` and says which of the two
//! it is. That remainder is computed in wrapping `u64` arithmetic, exact because `2·den ≤ 2^64`
//! (`den ≤ 2^63`, checked when the scale is built). One 64×64→128 multiply (its high half),
//! two wrapping 64-bit multiplies and a compare per reading; for a power-of-two denominator
//! (a 32.768 kHz RTC) `magic` is exact and the high multiply alone is the answer; for a tick
//! period of a whole number of milliseconds (`rem = 0`) only `t · whole`. Exactness is tested against the 128-bit
//! division over the whole `u64` range (`tests` below).

/// A precomputed ticks-to-milliseconds conversion (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MsScale {
    whole: u64,
    rem: u64,
    den: u64,
    magic: u64,
    /// `den` is a power of two: `magic` is then exact (`δ = 0`) and `q` needs no correction.
    exact: bool,
}

impl MsScale {
    /// The conversion for a tick period of `num / den` milliseconds.
    ///
    /// `const`, and meant to run in a `const` item: a zero or too large denominator (a clock
    /// type that cannot exist) is then a compile-time error naming it, never a runtime panic.
    pub(crate) const fn new(num: u64, den: u64) -> MsScale {
        assert!(den != 0, "breaker_core clock adapter: the tick rate's denominator is zero");
        let g = gcd(num, den);
        let (num, den) = (num / g, den / g);
        assert!(den <= 1 << 63, "breaker_core clock adapter: the tick period's denominator exceeds 2^63");
        let rem = num % den;
        let magic = (((rem as u128) << 64) / den as u128) as u64;
        MsScale { whole: num / den, rem, den, magic, exact: den.is_power_of_two() }
    }

    /// The conversion for a tick rate of `hz` ticks per second (`1000 / hz` ms per tick).
    #[cfg_attr(not(feature = "embassy-time"), allow(dead_code))]
    pub(crate) const fn per_second(hz: u64) -> MsScale {
        MsScale::new(1_000, hz)
    }

    /// `⌊t · num / den⌋`, or `None` if that does not fit a `u64`.
    #[inline]
    pub(crate) const fn ms(self, t: u64) -> Option<u64> {
        let frac = if self.rem == 0 {
            0
        } else {
            let q = ((t as u128 * self.magic as u128) >> 64) as u64;
            if self.exact {
                return match t.checked_mul(self.whole) {
                    Some(w) => w.checked_add(q),
                    None => None,
                };
            }
            let r = t.wrapping_mul(self.rem).wrapping_sub(q.wrapping_mul(self.den));
            if r >= self.den {
                q + 1
            } else {
                q
            }
        };
        match t.checked_mul(self.whole) {
            Some(w) => w.checked_add(frac),
            None => None,
        }
    }
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    /// The definition, with the 128-bit division the scale avoids.
    fn reference(num: u64, den: u64, t: u64) -> Option<u64> {
        u64::try_from(u128::from(t) * u128::from(num) / u128::from(den)).ok()
    }

    /// Tick periods of real clocks, in ms: `num / den`.
    const PERIODS: &[(u64, u64)] = &[
        (1_000, 1),             // 1 Hz
        (1_000, 3),             // 3 Hz
        (1, 1),                 // 1 kHz (SysTick at 1 ms)
        (1_000, 1_024),         // 1.024 kHz
        (1_000, 32_768),        // 32.768 kHz RTC (nRF)
        (1, 1_000),             // 1 MHz (embassy's default, its mock and std drivers)
        (1_000, 12_500_000),    // 12.5 MHz (the qemu board's core clock)
        (1_000, 16_000_000),    // 16 MHz
        (1, 1_000_000_000),     // 1 GHz
        (1_000, 1_310_720_000), // embassy's largest listed rate
        (7, 3),                 // a period above 1 ms with a fraction
        (1_000, 1 << 40),       // a power-of-two denominator
        (3, 1 << 63),           // the largest denominator accepted
        (u64::MAX, 1),          // overflows for every t > 1
    ];

    fn check(num: u64, den: u64, t: u64) {
        assert_eq!(MsScale::new(num, den).ms(t), reference(num, den, t), "{num}/{den} ms per tick, t = {t}");
    }

    #[test]
    fn equals_the_division_at_the_edges() {
        for &(num, den) in PERIODS {
            let g = gcd(num, den);
            let d = den / g;
            let mut ts = vec![0, 1, 2, u64::MAX, u64::MAX - 1, u64::MAX / 2, u64::MAX / 1_000];
            // Around multiples of the reduced denominator (where the floor steps), low and high.
            for k in [1u64, 2, 3, 999, 1_000, 1 << 20, u64::MAX / d.max(1)] {
                if let Some(m) = k.checked_mul(d) {
                    ts.extend([m - 1, m, m.saturating_add(1)]);
                }
            }
            for t in ts {
                check(num, den, t);
            }
        }
    }

    #[test]
    fn equals_the_division_on_a_dense_range() {
        // Every tick of the first 200 000 (2 000 under Miri) at 1 MHz, 32.768 kHz and 12.5 MHz.
        for &(num, den) in &[(1, 1_000), (1_000, 32_768), (1_000, 12_500_000)] {
            let s = MsScale::new(num, den);
            for t in 0..if cfg!(miri) { 2_000u64 } else { 200_000 } {
                assert_eq!(s.ms(t), reference(num, den, t), "{num}/{den}, t = {t}");
            }
        }
    }

    #[test]
    fn whole_periods_need_no_fraction() {
        assert_eq!(MsScale::per_second(1_000), MsScale { whole: 1, rem: 0, den: 1, magic: 0, exact: true });
        assert_eq!(MsScale::per_second(1).ms(5), Some(5_000));
        assert_eq!(MsScale::per_second(1).ms(u64::MAX), None);
    }

    proptest! {
        // Many cases natively; under Miri, PROPTEST_CASES (ci/miri.sh sets 16).
        #![proptest_config(if cfg!(miri) { ProptestConfig::default() } else { ProptestConfig::with_cases(20_000) })]

        /// Over the whole `u64` range of ticks, for the periods above.
        #[test]
        fn equals_the_division_for_real_clocks(i in 0..PERIODS.len(), t in any::<u64>()) {
            let (num, den) = PERIODS[i];
            prop_assert_eq!(MsScale::new(num, den).ms(t), reference(num, den, t));
        }

        /// Any period (any numerator, any denominator up to 2^63) and any tick count.
        #[test]
        fn equals_the_division_for_any_period(num in any::<u64>(), den in 1..=(1u64 << 63), t in any::<u64>()) {
            prop_assert_eq!(MsScale::new(num, den).ms(t), reference(num, den, t));
        }

        /// Small periods and tick counts near a step of the floor.
        #[test]
        fn equals_the_division_near_steps(num in 1..100_000u64, den in 1..100_000u64, k in any::<u64>(), off in 0..3u64) {
            let t = (k / den).wrapping_mul(den).wrapping_add(off).wrapping_sub(1);
            prop_assert_eq!(MsScale::new(num, den).ms(t), reference(num, den, t));
        }
    }
}
