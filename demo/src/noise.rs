//! Deterministic pseudo-randomness: a tiny xorshift and a smooth drift.
//!
//! The demo must look alive (quotes move, forecasts change) yet be
//! reproducible: the same seed and instant always give the same value, so
//! tests can pin outputs and two portal nodes show the same numbers.

/// One xorshift64* step; never returns the same value for different inputs
/// within a round, and maps 0 to a non-zero state.
pub fn mix(seed: u64) -> u64 {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// A value in `[-1.0, 1.0)` determined by `seed`.
pub fn unit(seed: u64) -> f64 {
    // Two rounds so that neighbouring seeds are uncorrelated.
    let bits = mix(mix(seed)) >> 11; // 53 significant bits
    (bits as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// A value in `[-1.0, 1.0)` that moves smoothly with `t`: linear interpolation
/// between fresh random points every `period` units, so consecutive readings
/// drift rather than jump.
pub fn drift(seed: u64, t: u64, period: u64) -> f64 {
    let period = period.max(1);
    let k = t / period;
    let frac = (t % period) as f64 / period as f64;
    let a = unit(seed ^ k.wrapping_mul(0x100_0000_01B3));
    let b = unit(seed ^ (k + 1).wrapping_mul(0x100_0000_01B3));
    a + (b - a) * frac
}

/// Stable 64-bit hash of a string (FNV-1a), used to seed per-symbol,
/// per-user and per-city values.
pub fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

/// Rounds to `digits` decimal places.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_bounded_and_deterministic() {
        for s in 0..10_000u64 {
            let v = unit(s);
            assert!((-1.0..1.0).contains(&v), "{v}");
            assert_eq!(v.to_bits(), unit(s).to_bits());
        }
        assert_ne!(unit(1).to_bits(), unit(2).to_bits());
    }

    #[test]
    fn drift_is_continuous_within_a_period() {
        let step = (drift(7, 100, 60) - drift(7, 101, 60)).abs();
        assert!(step < 2.0 / 60.0 + 1e-9, "{step}");
        assert_eq!(
            drift(7, 120, 60).to_bits(),
            unit(7 ^ 2u64.wrapping_mul(0x100_0000_01B3)).to_bits()
        );
    }

    #[test]
    fn hash_and_round() {
        assert_ne!(hash("SMI"), hash("DAX"));
        assert_eq!(round(1.23456, 2), 1.23);
    }
}
