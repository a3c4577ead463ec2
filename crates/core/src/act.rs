//! Gate activations: scalar references (libm) and the four-lane versions the kernels use.
//!
//! The kernels use `sigmoid4`/`tanh4`, built from one `exp4`: Cody–Waite range reduction
//! x = n·ln2 + r, |r| ≤ ln2/2, a degree-5 minimax polynomial for e^r, and 2^n made by shifting a
//! biased integer into the exponent bits. They are written against the `F32x4` vocabulary, whose
//! scalar emulation has the same per-lane arithmetic, so the SIMD and scalar wasm builds give the
//! same bits. Error bounds against the libm references (enforced by the tests below):
//! |sigmoid4 − sigmoid| ≤ 1.5e-7, |tanh4 − tanh| ≤ 2.5e-7 (absolute, over all finite inputs).
//! Derivatives are written in terms of the activation's *output*, which is what forward keeps.

use crate::simd::F32x4;

/// Logistic sigmoid 1 / (1 + e^-x) (reference).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// d sigmoid / dx expressed with y = sigmoid(x).
#[inline(always)]
pub fn sigmoid_grad_from_output(y: f32) -> f32 {
    y * (1.0 - y)
}

/// Hyperbolic tangent (reference).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}

/// d tanh / dx expressed with y = tanh(x).
#[inline(always)]
pub fn tanh_grad_from_output(y: f32) -> f32 {
    1.0 - y * y
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that n·LN2_HI is exact for |n| < 2^9.
const LN2_HI: f32 = 0.693_145_751_953_125;
const LN2_LO: f32 = 1.428_606_765_330_187e-6;
/// 1.5·2^23 + 127: adding it rounds to an integer n and leaves n + 127 in the low mantissa bits.
const MAGIC: f32 = 12_583_039.0;

/// e^x, for x clamped to [-87, 88] (results stay normal floats). Relative error ≈ 2 ulp.
#[cfg_attr(feature = "profile", inline(never))]
#[cfg_attr(not(feature = "profile"), inline(always))]
pub fn exp4(x: F32x4) -> F32x4 {
    let x = x.max(F32x4::splat(-87.0)).min(F32x4::splat(88.0));
    let v = x.mul(F32x4::splat(LOG2E)).add(F32x4::splat(MAGIC));
    let n = v.sub(F32x4::splat(MAGIC));
    let scale = v.shl23_bits();
    let r = x.sub(n.mul(F32x4::splat(LN2_HI))).sub(n.mul(F32x4::splat(LN2_LO)));
    let c = |k: f32| F32x4::splat(k);
    // Degree-5 minimax polynomial for e^r on [-ln2/2, ln2/2] (XNNPACK's rr2-p5 coefficients).
    let mut p = c(8.289_290_592e-3);
    p = p.mul(r).add(c(4.189_782_217e-2));
    p = p.mul(r).add(c(1.666_765_213e-1));
    p = p.mul(r).add(c(4.999_915_063e-1));
    p = p.mul(r).add(c(9.999_997_020e-1));
    p = p.mul(r).add(c(1.0));
    p.mul(scale)
}

/// Four sigmoids.
#[inline(always)]
pub fn sigmoid4(x: F32x4) -> F32x4 {
    let one = F32x4::splat(1.0);
    one.div(one.add(exp4(F32x4::zero().sub(x))))
}

/// Four tanhs: 1 − 2 / (e^{2x} + 1), with x clamped to [-10, 10], where tanh rounds to ±1 in f32.
#[inline(always)]
pub fn tanh4(x: F32x4) -> F32x4 {
    let x = x.max(F32x4::splat(-10.0)).min(F32x4::splat(10.0));
    let one = F32x4::splat(1.0);
    let e = exp4(x.add(x));
    one.sub(F32x4::splat(2.0).div(e.add(one)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for &x in &[-6.0f32, -1.3, -0.2, 0.0, 0.4, 2.5, 7.0] {
            let e = 1e-3f64;
            let xd = x as f64;
            let s = |v: f64| 1.0 / (1.0 + (-v).exp());
            let fd_s = (s(xd + e) - s(xd - e)) / (2.0 * e);
            let fd_t = ((xd + e).tanh() - (xd - e).tanh()) / (2.0 * e);
            assert!((sigmoid_grad_from_output(sigmoid(x)) as f64 - fd_s).abs() < 1e-6, "sigmoid' at {}", x);
            assert!((tanh_grad_from_output(tanh(x)) as f64 - fd_t).abs() < 1e-6, "tanh' at {}", x);
        }
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
    }

    /// Every 97th f32 bit pattern over the finite range, plus a dense sweep of [-20, 20].
    fn inputs() -> Vec<f32> {
        let mut v: Vec<f32> = (0..u32::MAX / 97).map(|i| f32::from_bits(i.wrapping_mul(97))).filter(|x| x.is_finite()).step_by(61).collect();
        v.extend((-200_000..=200_000).map(|i| i as f32 * 1e-4));
        v.extend([0.0, -0.0, f32::MAX, f32::MIN, 1e-30, -1e-30, 87.0, -87.0, 88.5, -88.5, 9.0, -9.0]);
        v
    }

    #[test]
    fn vector_activations_are_within_their_stated_bounds() {
        let (mut worst_s, mut worst_t, mut worst_e) = (0.0f64, 0.0f64, 0.0f64);
        for chunk in inputs().chunks(4) {
            let mut a = [0.0f32; 4];
            a[..chunk.len()].copy_from_slice(chunk);
            let x = F32x4::new(a[0], a[1], a[2], a[3]);
            let (s, t, e) = (sigmoid4(x).to_array(), tanh4(x).to_array(), exp4(x).to_array());
            for k in 0..chunk.len() {
                let xd = a[k] as f64;
                worst_s = worst_s.max((s[k] as f64 - 1.0 / (1.0 + (-xd).exp())).abs());
                worst_t = worst_t.max((t[k] as f64 - xd.tanh()).abs());
                if (-87.0..=88.0).contains(&xd) {
                    let ex = xd.exp();
                    worst_e = worst_e.max(((e[k] as f64 - ex) / ex).abs());
                }
            }
        }
        assert!(worst_s <= 1.5e-7, "sigmoid4 error {:e}", worst_s);
        assert!(worst_t <= 2.5e-7, "tanh4 error {:e}", worst_t);
        assert!(worst_e <= 3.0e-7, "exp4 relative error {:e}", worst_e);
        let ends = sigmoid4(F32x4::new(-1e30, 1e30, 0.0, -0.0)).to_array();
        assert_eq!(ends[1], 1.0);
        assert!(ends[0] >= 0.0 && ends[0] < 1e-37);
        assert_eq!(ends[2], 0.5);
        assert_eq!(tanh4(F32x4::new(1e30, -1e30, 20.0, 0.0)).to_array(), [1.0, -1.0, 1.0, 0.0]);
    }
}
