//! Count, mean, variance, min and max, merged with Chan et al.'s pairwise formula.
//!
//! Each batch's mean and sum of squared deviations are computed in two passes (exact
//! up to rounding), then batches combine with
//! `M2 = M2_a + M2_b + delta^2 * n_a * n_b / n`: the merge is exact in real
//! arithmetic, so partition-then-merge equals the whole up to floating-point rounding
//! (about 1e-15 relative), and no catastrophic cancellation as with sums of squares.

use serde::{Deserialize, Serialize};

/// Streaming moments of the finite values of a column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of finite values.
    pub n: u64,
    /// Their mean (0 when `n == 0`).
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Smallest finite value (+inf when `n == 0`, serialised as null).
    #[serde(
        serialize_with = "opt_f64::serialize",
        deserialize_with = "opt_f64::de_min"
    )]
    pub min: f64,
    /// Largest finite value (-inf when `n == 0`, serialised as null).
    #[serde(
        serialize_with = "opt_f64::serialize",
        deserialize_with = "opt_f64::de_max"
    )]
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Moments {
        Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Moments of a slice of finite values (two passes).
    pub fn of_slice(values: &[f64]) -> Moments {
        if values.is_empty() {
            return Moments::default();
        }
        let n = values.len() as f64;
        let mut sum = 0.0;
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        for &v in values {
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        let mean = sum / n;
        let mut m2 = 0.0;
        let mut comp = 0.0;
        for &v in values {
            let d = v - mean;
            m2 += d * d;
            comp += d;
        }
        // Corrected two-pass algorithm (Chan, Golub, LeVeque): removes the rounding
        // error of the mean.
        m2 -= comp * comp / n;
        Moments {
            n: values.len() as u64,
            mean: mean + comp / n,
            m2: m2.max(0.0),
            min,
            max,
        }
    }

    /// Combines two sets of moments (Chan's formula).
    pub fn merge(&self, other: &Moments) -> Moments {
        if other.n == 0 {
            return *self;
        }
        if self.n == 0 {
            return *other;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        // Weighted form of the mean: symmetric in (a, b), so merge is commutative.
        let mean = (na * self.mean + nb * other.mean) / n;
        // `na * nb` is an exact integer product and `self.m2 + other.m2` commutes, so the
        // result does not depend on the order of the operands, bit for bit
        // (`delta * delta * na * nb / n` rounds differently once `na` and `nb` swap).
        let m2 = self.m2 + other.m2 + delta * delta * (na * nb / n);
        Moments {
            n: self.n + other.n,
            mean,
            m2,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// Sample variance (ddof = 1); `None` below two values.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.m2 / (self.n - 1) as f64)
    }

    /// Sample standard deviation (ddof = 1).
    pub fn std(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// Population variance (ddof = 0).
    pub fn population_variance(&self) -> Option<f64> {
        (self.n >= 1).then(|| self.m2 / self.n as f64)
    }
}

/// Serialises a float that may be infinite (an empty min/max) as null.
mod opt_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub(super) fn de_min<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }

    pub(super) fn de_max<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_matches_whole() {
        let v: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 0.37).sin() * 1e6 + 1e9)
            .collect();
        let whole = Moments::of_slice(&v);
        let m = Moments::of_slice(&v[..333]).merge(&Moments::of_slice(&v[333..]));
        assert_eq!(m.n, whole.n);
        assert!((m.mean - whole.mean).abs() <= 1e-12 * whole.mean.abs());
        assert!((m.m2 - whole.m2).abs() <= 1e-10 * whole.m2);
        assert_eq!(m.min, whole.min);
    }

    #[test]
    fn merge_is_commutative_bit_for_bit() {
        let v: Vec<f64> = (0..997).map(|i| (i as f64 * 1.7).cos() * 313.0).collect();
        for cut in [1, 2, 3, 10, 100, 333, 500, 996] {
            let (a, b) = (Moments::of_slice(&v[..cut]), Moments::of_slice(&v[cut..]));
            assert_eq!(a.merge(&b), b.merge(&a), "cut {cut}");
        }
    }
}
