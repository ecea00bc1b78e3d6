//! The closed forms behind the judge, as plain functions of an estimate and its variance.
//!
//! Everything is on the log scale: the mixture likelihood ratios reach `exp(700)` on a
//! large, clearly harmful canary and `exp(-700)` on a clearly better one, and the
//! decision only compares them with `ln(1/α)`.
//!
//! The Gaussian-mixture martingale in information time `1/s²` (Johari, Koomen, Pekelis,
//! Walsh 2017, written for unequal allocation with `s²` the variance of the estimate
//! `d`): `Λ = sqrt(s²/(s²+τ²)) · exp(τ² d² / (2 s² (s²+τ²)))` for a prior `N(0, τ²)` on
//! the effect. Restricting the prior to one half-line (the half-normal mixture,
//! density `2·N(0, τ²)` on `Δ < 0`) multiplies it by `2·Φ(−d τ / (s·sqrt(s²+τ²)))`.
//! Under any effect on the other side of zero that statistic is a nonnegative
//! supermartingale (in the Gaussian approximation), so Ville's inequality bounds the
//! chance that it ever reaches `1/α` by `α`, however often it is looked at.

use std::f64::consts::{LN_2, SQRT_2};

use statrs::function::erf::erfc;

/// `ln Φ(x)` for the standard normal distribution function, accurate in both tails.
pub fn ln_norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x > 0.0 {
        // ln(1 - Φ(-x)) without losing the small tail probability.
        (-0.5 * erfc(x / SQRT_2)).ln_1p()
    } else if x > -30.0 {
        (0.5 * erfc(-x / SQRT_2)).ln()
    } else {
        // Asymptotic series of Mills' ratio; below -30 its fourth term is < 1e-9 relative.
        let x2 = x * x;
        let series = 1.0 - 1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2);
        -0.5 * x2 - (-x).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln() + series.ln()
    }
}

/// `ln Λ` of the symmetric normal mixture (prior `N(0, τ²)` on the effect) for an
/// estimate `d` with variance `s2`.
pub fn ln_normal_mixture(d: f64, s2: f64, tau: f64) -> f64 {
    let t2 = tau * tau;
    let v = s2 + t2;
    0.5 * (s2.ln() - v.ln()) + t2 * d * d / (2.0 * s2 * v)
}

/// `ln Λ₋` of the half-normal mixture over effects **below zero**: the evidence that the
/// true effect is negative, for an estimate `d` with variance `s2` and mixture scale
/// `tau`. Reaching `ln(1/α)` rejects "effect ≥ 0" at level `α`, always validly.
pub fn ln_half_normal_below(d: f64, s2: f64, tau: f64) -> f64 {
    let scale = tau / (s2.sqrt() * (s2 + tau * tau).sqrt());
    LN_2 + ln_norm_cdf(-d * scale) + ln_normal_mixture(d, s2, tau)
}

/// `ln Λ₊` of the half-normal mixture over effects **above zero** (the mirror image of
/// [`ln_half_normal_below`]).
pub fn ln_half_normal_above(d: f64, s2: f64, tau: f64) -> f64 {
    ln_half_normal_below(-d, s2, tau)
}

/// Half-width `r` of the one-sided level-`alpha` confidence sequence of the half-normal
/// mixture: `Δ > d − r` holds at every look at once with probability at least `1 − α`
/// (and `Δ < d + r` likewise).
///
/// `r = u*·s`, where `u*` solves `ln Λ₊(u·s) = ln(1/α)`; `ln Λ₊` increases in `u ≥ 0`
/// (because `2Φ(−y)e^{y²/2}` decreases), so the root is unique and bisection within the
/// bracket below converges to it.
pub fn half_normal_cs_radius(s2: f64, tau: f64, alpha: f64) -> f64 {
    let s = s2.sqrt();
    let t2 = tau * tau;
    let rho = t2 / (s2 + t2);
    let ln_one_minus_rho = s2.ln() - (s2 + t2).ln();
    let target = (1.0 / alpha).ln();
    // ln2 + lnΦ(u√ρ) lies in [0, ln2] for u ≥ 0, which brackets the root.
    let lo_sq = 2.0 * (target - LN_2 - 0.5 * ln_one_minus_rho) / rho;
    let hi_sq = 2.0 * (target - 0.5 * ln_one_minus_rho) / rho;
    let mut lo = lo_sq.max(0.0).sqrt();
    let mut hi = hi_sq.max(0.0).sqrt();
    let f = |u: f64| ln_half_normal_above(u * s, s2, tau) - target;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) >= 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi) * s
}

/// The upper `1 − alpha` quantile of the standard normal distribution.
pub fn normal_upper_quantile(alpha: f64) -> f64 {
    // Φ⁻¹(1 − α) = √2 · erfc⁻¹(2α).
    SQRT_2 * statrs::function::erf::erfc_inv(2.0 * alpha)
}
