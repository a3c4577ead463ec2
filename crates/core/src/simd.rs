//! A tiny 4-lane `f32` SIMD vocabulary used by the GEMM micro-kernels.
//!
//! * On `wasm32` with the `simd128` target feature enabled, [`F32x4`] wraps
//!   `core::arch::wasm32::v128` and every operation is a single SIMD128
//!   instruction (`f32x4.splat`, `v128.load`, `v128.store`, `f32x4.add`,
//!   `f32x4.mul`).
//! * Everywhere else (native builds, scalar wasm builds) it is a `[f32; 4]`
//!   emulation with exactly the same per-lane semantics.
//!
//! Every lane operation is a single IEEE-754 binary32 operation rounded to
//! nearest-even (wasm `f32x4.add` / `f32x4.mul` are specified per lane to be
//! the scalar `f32.add` / `f32.mul`). There is deliberately **no** fused
//! multiply-add: `a.mul(b).add(c)` is always two roundings. Hence code written
//! against this vocabulary produces bit-identical results in both builds
//! (NaN payloads aside, which IEEE/wasm leave unspecified).
//!
//! All operations are `#[inline(always)]` so that the kernels compile to
//! straight-line register code.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{
        f32x4, f32x4_add, f32x4_div, f32x4_extract_lane, f32x4_mul, f32x4_pmax, f32x4_splat, f32x4_ne, f32x4_sqrt, f32x4_sub, i32x4_min, i32x4_shl, i32x4_shuffle, u32x4_max, u32x4_min, v128,
        v128_load, v128_load32_splat, v128_store,
    };

    /// Four `f32` lanes in one SIMD128 register.
    #[derive(Clone, Copy, Debug)]
    #[repr(transparent)]
    pub struct F32x4(v128);

    // The simd128 intrinsics are safe functions on recent toolchains but the
    // `unsafe` blocks keep older ones happy; silence the lint either way.
    #[allow(unused_unsafe, clippy::should_implement_trait)]
    impl F32x4 {
        /// All lanes `+0.0`.
        #[inline(always)]
        pub fn zero() -> Self {
            F32x4(unsafe { f32x4_splat(0.0) })
        }

        /// All lanes `x`.
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F32x4(unsafe { f32x4_splat(x) })
        }

        /// Lanes `[a, b, c, d]`.
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> Self {
            F32x4(unsafe { f32x4(a, b, c, d) })
        }

        /// Unaligned load of `s[off..off + 4]`. Panics if out of bounds.
        #[inline(always)]
        pub fn load(s: &[f32], off: usize) -> Self {
            let s = &s[off..off + 4];
            unsafe { Self::load_ptr(s.as_ptr()) }
        }

        /// Unaligned store into `s[off..off + 4]`. Panics if out of bounds.
        #[inline(always)]
        pub fn store(self, s: &mut [f32], off: usize) {
            let s = &mut s[off..off + 4];
            unsafe { self.store_ptr(s.as_mut_ptr()) }
        }

        /// Unaligned load of 4 floats from `p`.
        ///
        /// # Safety
        /// `p .. p + 4` must be valid for reads.
        #[inline(always)]
        pub unsafe fn load_ptr(p: *const f32) -> Self {
            F32x4(v128_load(p as *const v128))
        }

        /// All lanes `*p` in one instruction (`v128.load32_splat`).
        ///
        /// # Safety
        /// `p` must be valid for one read.
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f32) -> Self {
            F32x4(v128_load32_splat(p as *const u32))
        }

        /// Unaligned store of 4 floats to `p`.
        ///
        /// # Safety
        /// `p .. p + 4` must be valid for writes.
        #[inline(always)]
        pub unsafe fn store_ptr(self, p: *mut f32) {
            v128_store(p as *mut v128, self.0)
        }

        /// Lane-wise `self + o` (one IEEE rounding per lane).
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            F32x4(unsafe { f32x4_add(self.0, o.0) })
        }

        /// Lane-wise `self * o` (one IEEE rounding per lane).
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            F32x4(unsafe { f32x4_mul(self.0, o.0) })
        }

        /// Lane-wise `self - o`.
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            F32x4(unsafe { f32x4_sub(self.0, o.0) })
        }

        /// Lane-wise `self / o` (correctly rounded).
        #[inline(always)]
        pub fn div(self, o: Self) -> Self {
            F32x4(unsafe { f32x4_div(self.0, o.0) })
        }

        /// Lane-wise square root (correctly rounded).
        #[inline(always)]
        pub fn sqrt(self) -> Self {
            F32x4(unsafe { f32x4_sqrt(self.0) })
        }

        /// Lane-wise `self < o ? o : self` (wasm `f32x4.pmax`).
        #[inline(always)]
        pub fn max(self, o: Self) -> Self {
            F32x4(unsafe { f32x4_pmax(self.0, o.0) })
        }

        /// Lane-wise clamp to `[lo, hi]` for `lo <= -0.0` and `hi >= +0.0` by two integer mins on
        /// the bit patterns: a signed min with `hi` (negative floats are negative integers, so
        /// only positive lanes can change), then an unsigned min with `lo` (positive floats sit
        /// below every negative bit pattern; negative ones order by magnitude). A compare and a
        /// max keep NaN: a NaN lane comes out as the all-ones NaN. `f32x4.pmin`/`pmax` would be one
        /// instruction each, but LLVM 14 lowers them to a compare and a bit-select (four in V8).
        #[inline(always)]
        pub fn clamp_around_zero(self, lo: Self, hi: Self) -> Self {
            unsafe {
                // An unsigned max with the NaN mask (all ones in NaN lanes) rather than an `or`,
                // which LLVM rewrites into a three-instruction select.
                let c = u32x4_min(i32x4_min(self.0, hi.0), lo.0);
                F32x4(u32x4_max(c, f32x4_ne(self.0, self.0)))
            }
        }

        /// Reinterpret each lane as an i32, shift it left by 23 and reinterpret back: turns a
        /// biased integer in the low mantissa bits into a power of two (exp's scale factor).
        #[inline(always)]
        pub fn shl23_bits(self) -> Self {
            F32x4(unsafe { i32x4_shl(self.0, 23) })
        }

        /// Lane `L` in every lane (one `i8x16.shuffle`).
        #[inline(always)]
        pub fn lane_splat<const L: usize>(self) -> Self {
            match L {
                0 => F32x4(unsafe { i32x4_shuffle::<0, 0, 0, 0>(self.0, self.0) }),
                1 => F32x4(unsafe { i32x4_shuffle::<1, 1, 1, 1>(self.0, self.0) }),
                2 => F32x4(unsafe { i32x4_shuffle::<2, 2, 2, 2>(self.0, self.0) }),
                _ => F32x4(unsafe { i32x4_shuffle::<3, 3, 3, 3>(self.0, self.0) }),
            }
        }

        /// The four lanes as an array.
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            unsafe {
                [
                    f32x4_extract_lane::<0>(self.0),
                    f32x4_extract_lane::<1>(self.0),
                    f32x4_extract_lane::<2>(self.0),
                    f32x4_extract_lane::<3>(self.0),
                ]
            }
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    /// Four `f32` lanes, emulated with a plain array (same per-lane semantics
    /// as the SIMD128 build).
    #[derive(Clone, Copy, Debug)]
    #[repr(transparent)]
    pub struct F32x4([f32; 4]);

    #[allow(clippy::should_implement_trait)]
    impl F32x4 {
        /// All lanes `+0.0`.
        #[inline(always)]
        pub fn zero() -> Self {
            F32x4([0.0; 4])
        }

        /// All lanes `x`.
        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F32x4([x; 4])
        }

        /// Lanes `[a, b, c, d]`.
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> Self {
            F32x4([a, b, c, d])
        }

        /// Unaligned load of `s[off..off + 4]`. Panics if out of bounds.
        #[inline(always)]
        pub fn load(s: &[f32], off: usize) -> Self {
            let s = &s[off..off + 4];
            F32x4([s[0], s[1], s[2], s[3]])
        }

        /// Unaligned store into `s[off..off + 4]`. Panics if out of bounds.
        #[inline(always)]
        pub fn store(self, s: &mut [f32], off: usize) {
            s[off..off + 4].copy_from_slice(&self.0);
        }

        /// Unaligned load of 4 floats from `p`.
        ///
        /// # Safety
        /// `p .. p + 4` must be valid for reads.
        #[inline(always)]
        pub unsafe fn load_ptr(p: *const f32) -> Self {
            F32x4((p as *const [f32; 4]).read_unaligned())
        }

        /// All lanes `*p`.
        ///
        /// # Safety
        /// `p` must be valid for one read.
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f32) -> Self {
            F32x4([*p; 4])
        }

        /// Unaligned store of 4 floats to `p`.
        ///
        /// # Safety
        /// `p .. p + 4` must be valid for writes.
        #[inline(always)]
        pub unsafe fn store_ptr(self, p: *mut f32) {
            (p as *mut [f32; 4]).write_unaligned(self.0)
        }

        /// Lane-wise `self + o` (one IEEE rounding per lane).
        #[inline(always)]
        pub fn add(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            F32x4([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]])
        }

        /// Lane-wise `self * o` (one IEEE rounding per lane).
        #[inline(always)]
        pub fn mul(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            F32x4([a[0] * b[0], a[1] * b[1], a[2] * b[2], a[3] * b[3]])
        }

        /// Lane-wise `self - o`.
        #[inline(always)]
        pub fn sub(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            F32x4([a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]])
        }

        /// Lane-wise `self / o` (correctly rounded).
        #[inline(always)]
        pub fn div(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            F32x4([a[0] / b[0], a[1] / b[1], a[2] / b[2], a[3] / b[3]])
        }

        /// Lane-wise square root (correctly rounded).
        #[inline(always)]
        pub fn sqrt(self) -> Self {
            let a = self.0;
            F32x4([a[0].sqrt(), a[1].sqrt(), a[2].sqrt(), a[3].sqrt()])
        }

        /// Lane-wise `self < o ? o : self` (wasm `f32x4.pmax`).
        #[inline(always)]
        pub fn max(self, o: Self) -> Self {
            let (a, b) = (self.0, o.0);
            let m = |x: f32, y: f32| if x < y { y } else { x };
            F32x4([m(a[0], b[0]), m(a[1], b[1]), m(a[2], b[2]), m(a[3], b[3])])
        }

        /// Lane-wise clamp to `[lo, hi]` for `lo <= -0.0` and `hi >= +0.0`, on the bit patterns
        /// exactly as the SIMD128 build does it (NaN lanes become the all-ones NaN).
        #[inline(always)]
        pub fn clamp_around_zero(self, lo: Self, hi: Self) -> Self {
            let f = |x: f32, lo: f32, hi: f32| {
                if x.is_nan() {
                    return f32::from_bits(u32::MAX);
                }
                let s = (x.to_bits() as i32).min(hi.to_bits() as i32) as u32;
                f32::from_bits(s.min(lo.to_bits()))
            };
            let (a, l, h) = (self.0, lo.0, hi.0);
            F32x4([f(a[0], l[0], h[0]), f(a[1], l[1], h[1]), f(a[2], l[2], h[2]), f(a[3], l[3], h[3])])
        }

        /// Reinterpret each lane as an i32, shift it left by 23 and reinterpret back.
        #[inline(always)]
        pub fn shl23_bits(self) -> Self {
            let f = |x: f32| f32::from_bits(x.to_bits() << 23);
            let a = self.0;
            F32x4([f(a[0]), f(a[1]), f(a[2]), f(a[3])])
        }

        /// Lane `L` in every lane.
        #[inline(always)]
        pub fn lane_splat<const L: usize>(self) -> Self {
            F32x4([self.0[L]; 4])
        }

        /// The four lanes as an array.
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            self.0
        }
    }
}

pub use imp::F32x4;

impl F32x4 {
    /// Lanes `off..off + n` of `s` (n ≤ 4), the rest zero: a partial vector at a row's tail.
    #[inline(always)]
    pub fn load_partial(s: &[f32], off: usize, n: usize) -> Self {
        if n == 4 {
            return F32x4::load(s, off);
        }
        let mut t = [0.0f32; 4];
        t[..n].copy_from_slice(&s[off..off + n]);
        F32x4::new(t[0], t[1], t[2], t[3])
    }

    /// Store the first `n` lanes (n ≤ 4) to `s[off..off + n]`.
    #[inline(always)]
    pub fn store_partial(self, s: &mut [f32], off: usize, n: usize) {
        if n == 4 {
            self.store(s, off);
        } else {
            s[off..off + n].copy_from_slice(&self.to_array()[..n]);
        }
    }
}

/// Runs `$body` for `$j = 0, 4, 8, ...` below `$n`, with `$w = 4` for every full chunk and
/// `$w = n - j < 4` once for the tail. A macro rather than a function taking a closure: the body
/// is pasted into both places, so the full-chunk copy sees `w == 4` as a constant and its
/// partial-vector branches fold away (a closure called twice was not inlined, and ran slower).
#[macro_export]
macro_rules! chunks4 {
    ($n:expr, |$j:ident, $w:ident| $body:block) => {{
        let n: usize = $n;
        let full = n & !3;
        let mut $j = 0usize;
        while $j < full {
            let $w = 4usize;
            $body
            $j += 4;
        }
        if $j < n {
            let $w = n - $j;
            $body
        }
    }};
}

impl Default for F32x4 {
    #[inline(always)]
    fn default() -> Self {
        F32x4::zero()
    }
}

/// `true` when [`F32x4`] is backed by real SIMD128 instructions.
pub const HAS_SIMD128: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

#[cfg(test)]
mod tests {
    use super::F32x4;

    #[test]
    fn lanes_roundtrip_and_ops() {
        let v = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let a = F32x4::load(&v, 1);
        assert_eq!(a.to_array(), [2.0, 3.0, 4.0, 5.0]);
        let b = F32x4::splat(0.5);
        assert_eq!(a.mul(b).add(F32x4::new(1.0, 1.0, 1.0, 1.0)).to_array(), [2.0, 2.5, 3.0, 3.5]);
        let mut out = [0.0f32; 6];
        a.store(&mut out, 2);
        assert_eq!(out, [0.0, 0.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(F32x4::zero().to_array(), [0.0; 4]);
        assert_eq!(F32x4::default().to_array(), [0.0; 4]);
    }

    #[test]
    fn clamp_around_zero_is_an_ordinary_clamp_that_keeps_nan() {
        let (lo, hi) = (F32x4::splat(-87.0), F32x4::splat(88.0));
        let xs = [0.0f32, -0.0, 1.5, -1.5, 88.0, 88.5, -87.0, -87.5, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 1e-40, -1e-40];
        for &x in &xs {
            let got = F32x4::splat(x).clamp_around_zero(lo, hi).to_array()[0];
            let want = if x < -87.0 { -87.0 } else if x > 88.0 { 88.0 } else { x };
            assert_eq!(got.to_bits(), want.to_bits(), "clamp({})", x);
        }
        assert!(F32x4::splat(f32::NAN).clamp_around_zero(lo, hi).to_array()[0].is_nan());
        assert!(F32x4::splat(-f32::NAN).clamp_around_zero(lo, hi).to_array()[0].is_nan());
    }

    #[test]
    fn chunks4_visits_full_chunks_then_the_tail() {
        let mut seen = Vec::new();
        crate::chunks4!(10, |j, w| { seen.push((j, w)); });
        assert_eq!(seen, [(0, 4), (4, 4), (8, 2)]);
        seen.clear();
        crate::chunks4!(8, |j, w| { seen.push((j, w)); });
        assert_eq!(seen, [(0, 4), (4, 4)]);
        seen.clear();
        crate::chunks4!(0, |j, w| { seen.push((j, w)); });
        assert!(seen.is_empty());
    }
}
