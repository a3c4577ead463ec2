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

/// The constants of `exp4`, `sigmoid4` and `tanh4` as vectors. In a loop, build them once with
/// `ActConsts::load()` and pass them in: V8 re-materialises a wasm `v128.const` at every use, which
/// made the activation loops twice as slow as they need to be.
#[derive(Clone, Copy)]
pub struct ActConsts {
    lo: F32x4,
    hi: F32x4,
    log2e: F32x4,
    magic: F32x4,
    ln2_hi: F32x4,
    ln2_lo: F32x4,
    c: [F32x4; 5],
    one: F32x4,
    t_lo: F32x4,
    t_hi: F32x4,
    neg_log2e: F32x4,
    s_lo: F32x4,
    s_hi: F32x4,
}

/// -87, 88, log2 e, magic, ln2 hi, ln2 lo, the degree-5 minimax coefficients of e^r on
/// [-ln2/2, ln2/2] (XNNPACK's rr2-p5, highest first), 1, -10, 10, -log2 e, -88, 87.
static ACT_TABLE: [f32; 17] = [
    -87.0,
    88.0,
    LOG2E,
    MAGIC,
    LN2_HI,
    LN2_LO,
    8.289_290_592e-3,
    4.189_782_217e-2,
    1.666_765_213e-1,
    4.999_915_063e-1,
    9.999_997_020e-1,
    1.0,
    -10.0,
    10.0,
    -LOG2E,
    -88.0,
    87.0,
];

impl ActConsts {
    /// 1.0 in every lane (kept in a register, as the other constants).
    #[inline(always)]
    pub fn one(&self) -> F32x4 {
        self.one
    }

    /// Read through a volatile load, so the compiler keeps the splats in locals rather than
    /// folding them back into per-use constants.
    #[inline(always)]
    pub fn load() -> Self {
        // SAFETY: a plain read of a static array.
        let t: [f32; 17] = unsafe { core::ptr::read_volatile(&ACT_TABLE) };
        let v = F32x4::splat;
        ActConsts {
            lo: v(t[0]),
            hi: v(t[1]),
            log2e: v(t[2]),
            magic: v(t[3]),
            ln2_hi: v(t[4]),
            ln2_lo: v(t[5]),
            c: [v(t[6]), v(t[7]), v(t[8]), v(t[9]), v(t[10])],
            one: v(t[11]),
            t_lo: v(t[12]),
            t_hi: v(t[13]),
            neg_log2e: v(t[14]),
            s_lo: v(t[15]),
            s_hi: v(t[16]),
        }
    }
}

/// e^x, for x clamped to [-87, 88] (results stay normal floats). Relative error ≈ 2 ulp.
#[inline(always)]
pub fn exp4_with(x: F32x4, k: &ActConsts) -> F32x4 {
    exp4_in_range_with(x.clamp_around_zero(k.lo, k.hi), k)
}

/// e^x for x already in [-87, 88] (no clamp).
#[inline(always)]
fn exp4_in_range_with(x: F32x4, k: &ActConsts) -> F32x4 {
    exp4_reduced::<false>(x, k)
}

/// e^-x for x already in [-88, 87]: `exp4_in_range_with(-x)` to the bit, with the negation folded
/// into the constants (one operation fewer on the chain).
#[inline(always)]
fn exp4_neg_in_range_with(x: F32x4, k: &ActConsts) -> F32x4 {
    exp4_reduced::<true>(x, k)
}

/// e^x (NEG = false) or e^-x (NEG = true). With n = round(±x·log2 e), the reduced argument is
/// r = ±x − n·ln2, and e^r = 1 + c4·r + c3·r² + c2·r³ + c1·r⁴ + c0·r⁵ by Estrin's scheme (the
/// activation loops are bound by the length of this dependency chain, which Estrin cuts from 10
/// operations to 6). For NEG the code works with s = x + n·ln2, which is −r exactly (rounding is
/// symmetric), so the odd powers of r change sign: `pm` adds for e^x and subtracts for e^-x.
#[inline(always)]
fn exp4_reduced<const NEG: bool>(x: F32x4, k: &ActConsts) -> F32x4 {
    let pm = |a: F32x4, b: F32x4| if NEG { a.sub(b) } else { a.add(b) };
    let v = x.mul(if NEG { k.neg_log2e } else { k.log2e }).add(k.magic);
    let n = v.sub(k.magic);
    // r = x − n·ln2 (or s = x + n·ln2), ln2 in two parts.
    let r = if NEG { x.add(n.mul(k.ln2_hi)).add(n.mul(k.ln2_lo)) } else { x.sub(n.mul(k.ln2_hi)).sub(n.mul(k.ln2_lo)) };
    let r2 = r.mul(r);
    let lo = pm(k.one, k.c[4].mul(r));
    let mid = pm(k.c[3], k.c[2].mul(r));
    let hi = pm(k.c[1], k.c[0].mul(r));
    lo.add(r2.mul(mid.add(r2.mul(hi)))).mul(v.shl23_bits())
}

/// Four sigmoids: 1 / (1 + e^-x), with x clamped to [-88, 87] (e^-x stays a normal float).
#[inline(always)]
pub fn sigmoid4_with(x: F32x4, k: &ActConsts) -> F32x4 {
    k.one.div(k.one.add(exp4_neg_in_range_with(x.clamp_around_zero(k.s_lo, k.s_hi), k)))
}

/// Four tanhs: (e^{2x} − 1) / (e^{2x} + 1), with x clamped to [-10, 10], where tanh rounds to ±1 in f32.
#[inline(always)]
pub fn tanh4_with(x: F32x4, k: &ActConsts) -> F32x4 {
    let x = x.clamp_around_zero(k.t_lo, k.t_hi);
    let e = exp4_in_range_with(x.add(x), k);
    e.sub(k.one).div(e.add(k.one))
}

/// e^x (see `exp4_with`; this one builds its constants at each call).
#[cfg_attr(feature = "profile", inline(never))]
#[cfg_attr(not(feature = "profile"), inline(always))]
pub fn exp4(x: F32x4) -> F32x4 {
    exp4_with(x, &ActConsts::load())
}

/// Four sigmoids (see `sigmoid4_with`).
#[inline(always)]
pub fn sigmoid4(x: F32x4) -> F32x4 {
    sigmoid4_with(x, &ActConsts::load())
}

/// Four tanhs (see `tanh4_with`).
#[inline(always)]
pub fn tanh4(x: F32x4) -> F32x4 {
    tanh4_with(x, &ActConsts::load())
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
    fn sigmoids_folded_negation_gives_exp_of_minus_x_to_the_bit() {
        let k = ActConsts::load();
        for chunk in inputs().into_iter().filter(|x| (-88.0..=87.0).contains(x)).collect::<Vec<_>>().chunks(4) {
            let mut a = [0.0f32; 4];
            a[..chunk.len()].copy_from_slice(chunk);
            let x = F32x4::new(a[0], a[1], a[2], a[3]);
            let folded = exp4_neg_in_range_with(x, &k).to_array();
            let plain = exp4_in_range_with(F32x4::zero().sub(x), &k).to_array();
            for i in 0..4 {
                assert_eq!(folded[i].to_bits(), plain[i].to_bits(), "e^-x at x = {}", a[i]);
            }
        }
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
        eprintln!("worst |error|: sigmoid4 {:e}, tanh4 {:e}, exp4 relative {:e}", worst_s, worst_t, worst_e);
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
