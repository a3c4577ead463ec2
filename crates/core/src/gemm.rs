//! Single-precision matrix product `C = (accumulate ? C : 0) + A·B` with
//! arbitrary strides, a packed/tiled SIMD path and a scalar reference.
//!
//! # Numerical contract: bit-identical results
//!
//! For every output element `(i, j)` every routine in this module computes
//!
//! ```text
//! dot = if accumulate { C(i,j) } else { 0.0f32 }
//! for p in 0..k (increasing p):  dot = dot + a(i,p) * b(p,j)   // multiply, round; add, round
//! C(i,j) = dot
//! ```
//!
//! i.e. one rounded multiply followed by one rounded add per step (never a
//! fused multiply-add), summed strictly in increasing `p` starting from `C`
//! (accumulating) or `+0.0`, with no splitting of `k`, no reassociation and no
//! K-blocking. Starting from `C` makes products chain: `C = A1·B1` then
//! `C += A2·B2` gives exactly the bits of one product over the concatenated
//! inner dimension `[A1 A2]·[B1; B2]` (what lets a streaming LSTM tick do its
//! two products as one). The special case `k == 0` leaves `C` untouched when
//! accumulating and writes `+0.0` otherwise.
//!
//! [`gemm_ref`] is the literal triple loop of this definition. The tiled
//! kernels ([`gemm`], [`gemm_packed`]) vectorise *across* output elements
//! only (each SIMD lane owns one `(i, j)` and performs exactly the scalar
//! sequence above), so they equal `gemm_ref` **bit for bit** — natively, in
//! the scalar wasm build and in the SIMD128 wasm build (wasm `f32x4.add` /
//! `f32x4.mul` are IEEE binary32 per lane). That is what makes the SIMD and
//! scalar wasm builds agree exactly. (The only unspecified bits are NaN
//! payloads, which IEEE 754 and wasm leave free.)
//!
//! # Layout conventions
//!
//! * `A` is `m×k`, element `(i,p)` at `a[i*rsa + p*csa]`.
//! * `B` is `k×n`, element `(p,j)` at `b[p*rsb + j*csb]`.
//! * `C` is `m×n`, row-major, element `(i,j)` at `c[i*ldc + j]`; elements of
//!   `c` outside that pattern (padding when `ldc > n`) are never touched.
//!
//! Arbitrary strides give transposes for free: `Aᵀ` of a row-major `k×m`
//! matrix is `rsa = 1, csa = m`. Zero strides (broadcast) are allowed for `A`
//! and `B`. `C` must not alias `A` or `B` (guaranteed by the borrow rules).
//! Slice lengths and strides are checked with `assert!`s up front; a panic
//! message names the call shape. Internally the hot loops use unchecked
//! pointer accesses whose bounds are implied by those checks.
//!
//! # Implementation
//!
//! `A` is packed into `MR = 4`-row panels (k-major: for each `p`, 4 values;
//! zero rows pad the `m` tail) and `B` into `NR = 8`-column panels (for each
//! `p`, 8 values; zero columns pad the `n` tail). A 4×8 micro-kernel keeps 8
//! `F32x4` accumulators (4 rows × 2 vectors) and per `p` loads two vectors of
//! packed `B`, splats the 4 `A` values and does `acc = acc + a*b` (mul, then
//! add). A second form of the kernel ([`MicroKernel::ShuffledSplats`]) loads the step's four `A`
//! values as one vector and splats them with shuffles: half the loads, the same arithmetic and
//! bits, faster on engines that bounds-check every load explicitly. Loop order: `B` panels outer
//! (one `8×k` panel stays in L1/L2 for `k ≲ 1024`), `A` panels inner. Partial tiles (`mr < 4` or `nr < 8`) go
//! through a small local tile and only the valid part is written.
//!
//! `m == 1` (batch-1 matrix–vector products) skips `A` packing entirely and
//! uses 1-row kernels with the same per-element summation order: over a
//! [`PackedB`], 1×24 (three panels, 6 accumulators); over a
//! [`PackedB::for_rows`] (24-column blocks, one pointer per block: streaming inference), 1×24;
//! over an unpacked row-major `B` (`csb == 1`), 1×32 / 1×16 / 1×4 register
//! blocks straight on `B` (no packing: packing would cost as much as the
//! product); over an unpacked strided `B` (e.g. `Wᵀ`), an 8-column gather;
//! scalar column tail.
//!
//! The kernels bump their pointers explicitly and the wasm build disables
//! LLVM's loop strength reduction (scripts/build-wasm.sh), so every load is
//! one wasm load at a constant offset from a pointer. V8 issues all loads of
//! a loop iteration before its arithmetic, so a kernel's accumulators plus
//! the vectors one iteration loads must fit its 16 vector registers.

// `dot = dot + a*b` is spelled out on purpose: it *is* the contract.
#![allow(clippy::assign_op_pattern)]

use crate::simd::F32x4;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// Rows of the `A` panels / micro-tile.
pub const MR: usize = 4;
/// Columns of the `B` panels / micro-tile.
pub const NR: usize = 8;
/// Rows of A packed and kept hot at a time (a multiple of MR).
pub const MC: usize = 128;
/// Vectors (of 4 columns) per pass of the unpacked `m == 1` path (row-major `B`).
const ROW_VECS: usize = 8;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Scratch memory reused across [`gemm`] / [`gemm_packed`] calls so that, once
/// warmed up to the largest shape used, no call allocates.
#[derive(Clone, Debug, Default)]
pub struct GemmWorkspace {
    /// Packed `A` (`ceil(m/MR)` panels of `k*MR` floats).
    apack: Vec<f32>,
    /// `B` packed by [`gemm`] (unused by [`gemm_packed`]).
    bpack: PackedB,
}

impl GemmWorkspace {
    /// An empty workspace (allocates lazily, on first use).
    pub fn new() -> Self {
        GemmWorkspace { apack: Vec::new(), bpack: PackedB::new() }
    }

    /// Bytes of memory held.
    pub fn bytes(&self) -> usize {
        self.apack.capacity() * 4 + self.bpack.bytes()
    }
}

/// `B` (`k×n`) packed once into column blocks — k-major inside a block (for
/// each `p`, the block's values), zero-padded at the `n` tail — so it can be
/// reused across many products (e.g. `W_hhᵀ` reused for every tick of a
/// sequence). Two block widths, fixed at construction:
///
/// * [`PackedB::new`]: `NR` = 8-column panels, for the tiled product
///   [`gemm_packed`];
/// * [`PackedB::for_rows`]: [`RB`] = 24-column blocks, for the row-vector
///   product [`gemv_packed`] (streaming one tick of a batch-1 LSTM), where one
///   pointer walks a block and every load is a constant offset from it.
///
/// The last block is as wide as the remaining columns rounded up to 8.
/// Layout (of the packed floats): block `jb` (columns `j0 = jb*W ..`) starts at `j0*k`; element
/// `(p, j0 + jj)` is at `j0*k + p*w + jj`, with `w` that block's width.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    /// Block width: NR or RB.
    block: usize,
    /// The packed floats start at `data[off]`, the first 64-byte boundary (the allocator aligns to
    /// 8 bytes; 16-byte loads that straddle cache lines cost two).
    off: usize,
    data: Vec<f32>,
}

/// Columns per block of a [`PackedB::for_rows`] packing.
pub const RB: usize = 24;

impl Default for PackedB {
    fn default() -> Self {
        PackedB::new()
    }
}

impl PackedB {
    /// An empty packing (`k == n == 0`) in `NR`-wide panels, for [`gemm_packed`].
    pub fn new() -> Self {
        PackedB { k: 0, n: 0, block: NR, off: 0, data: Vec::new() }
    }

    /// Bytes of memory held.
    pub fn bytes(&self) -> usize {
        self.data.capacity() * 4
    }

    /// An empty packing in [`RB`]-wide blocks, for [`gemv_packed`].
    pub fn for_rows() -> Self {
        PackedB { block: RB, ..PackedB::new() }
    }

    /// Pack `B` (`k×n`), element `(p,j)` at `b[p*rsb + j*csb]`.
    ///
    /// Replaces any previous content. Reuses the existing capacity: no
    /// allocation when `ceil(n/NR)*NR*k` floats fit.
    ///
    /// Panics if `b` is too short for the given shape and strides.
    pub fn pack(&mut self, k: usize, n: usize, b: &[f32], rsb: usize, csb: usize) {
        check_operand(format_args!("PackedB::pack(k={}, n={})", k, n), "B", b.len(), k, n, rsb, csb);
        if csb == 1 {
            // Rows of B are contiguous: copy a block's row at a time, with a constant length for
            // full panels and blocks (a variable-length copy is a call to memcpy per row).
            self.fill(k, n, |p, j0, dst| {
                let src = &b[p * rsb + j0..p * rsb + j0 + dst.len()];
                match dst.len() {
                    NR => copy_fixed::<NR>(dst, src),
                    RB => copy_fixed::<RB>(dst, src),
                    _ => dst.copy_from_slice(src),
                }
            });
        } else {
            // SAFETY: check_operand guarantees every (p, j) with p < k, j < n lies inside `b`.
            self.fill(k, n, |p, j0, dst| dst.iter_mut().enumerate().for_each(|(jj, d)| *d = unsafe { *b.get_unchecked(p * rsb + (j0 + jj) * csb) }));
        }
    }

    /// Pack the `k×n` matrix whose element `(p, j)` is `at(p, j)` (for instance
    /// two matrices stacked along `k`).
    pub fn pack_with(&mut self, k: usize, n: usize, at: impl Fn(usize, usize) -> f32) {
        self.fill(k, n, |p, j0, dst| dst.iter_mut().enumerate().for_each(|(jj, d)| *d = at(p, j0 + jj)));
    }

    /// Lay out `k×n` and have `row(p, j0, dst)` write columns `j0 .. j0 + dst.len()`
    /// (all `< n`) of row `p` of each block; the padding columns are zeroed.
    fn fill(&mut self, k: usize, n: usize, mut row: impl FnMut(usize, usize, &mut [f32])) {
        let len = div_ceil(n, NR)
            .checked_mul(NR)
            .and_then(|x| x.checked_mul(k))
            .expect("PackedB::pack: packed size overflows usize");
        self.data.resize(len + 15, 0.0);
        self.off = (64 - self.data.as_ptr() as usize % 64) % 64 / 4;
        self.k = k;
        self.n = n;
        let data = &mut self.data[self.off..self.off + len];
        let mut j0 = 0;
        while j0 < n {
            let w = block_width(self.block, n - j0);
            let real = w.min(n - j0);
            let block = &mut data[j0 * k..(j0 + w) * k];
            for (p, dst) in block.chunks_exact_mut(w).enumerate() {
                row(p, j0, &mut dst[..real]);
                dst[real..].fill(0.0);
            }
            j0 += self.block;
        }
    }

    /// Inner dimension of the packed `B`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of columns of the packed `B`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The packed floats (`ceil(n/8)*8*k` of them).
    fn packed(&self) -> &[f32] {
        let len = div_ceil(self.n, NR) * NR * self.k;
        &self.data[self.off..self.off + len]
    }
}

/// `dst = src` for slices of exactly `N` floats, as a copy of known size (inlined, no memcpy call).
#[inline(always)]
fn copy_fixed<const N: usize>(dst: &mut [f32], src: &[f32]) {
    let (d, s): (&mut [f32; N], &[f32; N]) = (dst.try_into().unwrap(), src.try_into().unwrap());
    *d = *s;
}

/// Width of the block that starts `rest` columns before the end: `rest` rounded up to 8, at most
/// `block`.
fn block_width(block: usize, rest: usize) -> usize {
    block.min(div_ceil(rest, NR) * NR)
}

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

/// `C (m×n, row stride ldc) = (accumulate ? C : 0) + A·B`.
///
/// * `A` element `(i,p)` at `a[i*rsa + p*csa]`, `B` element `(p,j)` at
///   `b[p*rsb + j*csb]` (arbitrary strides; transposes are free).
/// * When `accumulate == false`, `C` is never read (it may hold NaN).
/// * `m`, `n`, `k` may be 0; with `k == 0`, `C` is left as is when
///   accumulating and set to `+0.0` otherwise.
/// * Requires `ldc >= n` when `m > 1`; only `c[i*ldc + j]`, `i < m`, `j < n`
///   is touched. `C` must not alias `A` or `B`.
/// * Result is bit-identical to [`gemm_ref`] (see the module docs).
///
/// Packs `B` into the workspace (except for `m == 1`, which streams `B`
/// directly) and runs the tiled kernel. Allocation-free once `ws` has grown
/// to the largest shape used.
///
/// Panics (with the shape in the message) if a slice is too short.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    ws: &mut GemmWorkspace,
) {
    check_all(format_args!("gemm(m={}, n={}, k={})", m, n, k), m, n, k, a, rsa, csa, b, rsb, csb, c, ldc);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            zero_c(m, n, c, ldc);
        }
        return;
    }
    if m == 1 {
        // SAFETY: bounds established by check_all.
        unsafe { row_direct(n, k, a.as_ptr(), csa, b.as_ptr(), rsb, csb, c.as_mut_ptr(), accumulate) };
        return;
    }
    let GemmWorkspace { apack, bpack } = ws;
    bpack.pack(k, n, b, rsb, csb);
    tiled(m, a, rsa, csa, bpack, c, ldc, accumulate, apack);
}

/// Same product as [`gemm`] with `B` already packed: `k = pb.k()`,
/// `n = pb.n()`. Same contract (strides of `A`, `ldc`, `accumulate`,
/// bit-identity with [`gemm_ref`]). Never packs `B`; packs `A` into `ws`
/// except for `m == 1`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed(
    m: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    pb: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    ws: &mut GemmWorkspace,
) {
    let (k, n) = (pb.k, pb.n);
    check_operand(format_args!("gemm_packed(m={}, n={}, k={})", m, n, k), "A", a.len(), m, k, rsa, csa);
    check_c(format_args!("gemm_packed(m={}, n={}, k={})", m, n, k), m, n, c.len(), ldc);
    assert!(pb.block == NR, "gemm_packed: B was packed with PackedB::for_rows (for gemv_packed)");

    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            zero_c(m, n, c, ldc);
        }
        return;
    }
    if m == 1 {
        // SAFETY: bounds established by the checks above and PackedB's invariant.
        unsafe { row_packed(n, k, a.as_ptr(), csa, pb.packed().as_ptr(), c.as_mut_ptr(), accumulate) };
        return;
    }
    tiled(m, a, rsa, csa, pb, c, ldc, accumulate, &mut ws.apack);
}

/// `c[0..n] = (accumulate ? c : 0) + a·B` for one row `a` (element `p` at `a[p*csa]`) and `B`
/// packed by [`PackedB::for_rows`] (`n = pb.n()`): the batch-1 product of streaming inference.
/// Same contract as [`gemm`] with `m == 1` (bit-identical to [`gemm_ref`]).
pub fn gemv_packed(a: &[f32], csa: usize, pb: &PackedB, c: &mut [f32], accumulate: bool) {
    let (k, n) = (pb.k, pb.n);
    assert!(pb.block == RB, "gemv_packed: B must be packed with PackedB::for_rows");
    check_operand(format_args!("gemv_packed(n={}, k={})", n, k), "A", a.len(), 1, k, 0, csa);
    check_c(format_args!("gemv_packed(n={}, k={})", n, k), 1, n, c.len(), n);
    if n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            zero_c(1, n, c, n);
        }
        return;
    }
    let mut j0 = 0;
    while j0 < n {
        let count = (n - j0).min(RB);
        // SAFETY: a has k elements at stride csa (checked); the block holds k*w floats at
        // j0*k (PackedB's layout); c[j0..j0 + count] is inside c (checked).
        unsafe {
            let (ap, bp, cp) = (a.as_ptr(), pb.packed().as_ptr().add(j0 * k), c.as_mut_ptr().add(j0));
            match block_width(RB, n - j0) {
                24 => gemv_block::<6>(k, ap, csa, bp, cp, count, accumulate),
                16 => gemv_block::<4>(k, ap, csa, bp, cp, count, accumulate),
                _ => gemv_block::<2>(k, ap, csa, bp, cp, count, accumulate),
            }
        }
        j0 += RB;
    }
}

/// Scalar reference: the plainest triple loop, with exactly the semantics
/// (and summation order) documented at the top of this module. Test oracle
/// and documentation; same arguments and checks as [`gemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_ref(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    check_all(format_args!("gemm_ref(m={}, n={}, k={})", m, n, k), m, n, k, a, rsa, csa, b, rsb, csb, c, ldc);
    if k == 0 {
        if !accumulate {
            zero_c(m, n, c, ldc);
        }
        return;
    }
    for i in 0..m {
        for j in 0..n {
            let cij = &mut c[i * ldc + j];
            let mut dot = if accumulate { *cij } else { 0.0f32 };
            for p in 0..k {
                dot = dot + a[i * rsa + p * csa] * b[p * rsb + j * csb];
            }
            *cij = dot;
        }
    }
}

// ---------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------

/// `ceil(x / d)` (`usize::div_ceil` is newer than our MSRV).
#[inline(always)]
#[allow(unknown_lints, clippy::manual_div_ceil)]
fn div_ceil(x: usize, d: usize) -> usize {
    (x + d - 1) / d
}

/// Number of elements a `rows×cols` operand with strides `(rs, cs)` needs,
/// or `None` on overflow.
fn required_len(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

#[inline]
fn check_operand(ctx: fmt::Arguments<'_>, name: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    match required_len(rows, cols, rs, cs) {
        Some(req) => assert!(
            req <= len,
            "{}: {} is {}x{} with strides ({}, {}) and needs {} elements, but its slice has only {}",
            ctx,
            name,
            rows,
            cols,
            rs,
            cs,
            req,
            len
        ),
        None => panic!(
            "{}: {} is {}x{} with strides ({}, {}): index computation overflows usize",
            ctx, name, rows, cols, rs, cs
        ),
    }
}

#[inline]
fn check_c(ctx: fmt::Arguments<'_>, m: usize, n: usize, len: usize, ldc: usize) {
    assert!(m <= 1 || n == 0 || ldc >= n, "{}: ldc = {} < n = {} (rows of C would overlap)", ctx, ldc, n);
    check_operand(ctx, "C", len, m, n, ldc, 1);
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn check_all(
    ctx: fmt::Arguments<'_>,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &[f32],
    ldc: usize,
) {
    check_operand(ctx, "A", a.len(), m, k, rsa, csa);
    check_operand(ctx, "B", b.len(), k, n, rsb, csb);
    check_c(ctx, m, n, c.len(), ldc);
}

fn zero_c(m: usize, n: usize, c: &mut [f32], ldc: usize) {
    if n == 0 {
        return;
    }
    for i in 0..m {
        let row = i * ldc;
        c[row..row + n].fill(0.0);
    }
}

// ---------------------------------------------------------------------------
// Tiled path (m >= 2)
// ---------------------------------------------------------------------------

/// Pack `A` (`m×k`) into `ceil(m/MR)` panels of `k*MR` floats, k-major,
/// zero-padded rows at the `m` tail. Caller has checked `a`'s bounds.
fn pack_a(m: usize, k: usize, a: &[f32], rsa: usize, csa: usize, out: &mut Vec<f32>) {
    let panels = div_ceil(m, MR);
    let len = panels * k * MR;
    out.resize(len, 0.0);
    debug_assert!(matches!(required_len(m, k, rsa, csa), Some(r) if r <= a.len()));
    let src = a.as_ptr();
    let dst = out.as_mut_ptr();
    // SAFETY: (i, p) with i < m, p < k is inside `a` (checked by the caller);
    // destination indices are < len.
    unsafe {
        for ip in 0..panels {
            let i0 = ip * MR;
            let mr = MR.min(m - i0);
            let panel = dst.add(ip * k * MR);
            if mr == MR {
                let r0 = src.add(i0 * rsa);
                let r1 = src.add((i0 + 1) * rsa);
                let r2 = src.add((i0 + 2) * rsa);
                let r3 = src.add((i0 + 3) * rsa);
                for p in 0..k {
                    let d = panel.add(p * MR);
                    let o = p * csa;
                    *d = *r0.add(o);
                    *d.add(1) = *r1.add(o);
                    *d.add(2) = *r2.add(o);
                    *d.add(3) = *r3.add(o);
                }
            } else {
                for p in 0..k {
                    let d = panel.add(p * MR);
                    for ii in 0..mr {
                        *d.add(ii) = *src.add((i0 + ii) * rsa + p * csa);
                    }
                    for ii in mr..MR {
                        *d.add(ii) = 0.0;
                    }
                }
            }
        }
    }
}

/// 4×8 micro-kernel over one packed `A` panel (`k*4`) and one packed `B`
/// panel (`k*8`), starting from the accumulators `init` and returning them,
/// row-major: `[r0c0..3, r0c4..7, r1c0..3, ...]`. Each lane performs
/// `dot = dot + a*b` for p = 0..k in order. `SHUFFLED` picks how `A`'s four values of a step
/// are splat ([`MicroKernel`]): four splat loads, or one load and four shuffles.
///
/// # Safety
/// `pa` must be valid for `4*k` reads and `pb` for `8*k` reads.
#[inline(always)]
unsafe fn micro_4x8<const SHUFFLED: bool>(k: usize, pa: *const f32, pb: *const f32, init: [F32x4; 8]) -> [F32x4; 8] {
    let [mut c00, mut c01, mut c10, mut c11, mut c20, mut c21, mut c30, mut c31] = init;
    let mut pa = pa;
    let mut pb = pb;
    for _ in 0..k {
        let b0 = F32x4::load_ptr(pb);
        let b1 = F32x4::load_ptr(pb.add(4));
        let four = if SHUFFLED { F32x4::load_ptr(pa) } else { F32x4::zero() };
        let a0 = a_splat::<SHUFFLED, 0>(four, pa);
        c00 = c00.add(a0.mul(b0));
        c01 = c01.add(a0.mul(b1));
        let a1 = a_splat::<SHUFFLED, 1>(four, pa);
        c10 = c10.add(a1.mul(b0));
        c11 = c11.add(a1.mul(b1));
        let a2 = a_splat::<SHUFFLED, 2>(four, pa);
        c20 = c20.add(a2.mul(b0));
        c21 = c21.add(a2.mul(b1));
        let a3 = a_splat::<SHUFFLED, 3>(four, pa);
        c30 = c30.add(a3.mul(b0));
        c31 = c31.add(a3.mul(b1));
        pa = pa.add(MR);
        pb = pb.add(NR);
    }
    [c00, c01, c10, c11, c20, c21, c30, c31]
}

/// `A`'s value `L` of a step in every lane: a splat load at `pa + L`, or lane `L` of `four` (the
/// step's four values, loaded once) shuffled out.
///
/// # Safety
/// `pa + L` valid for a read when `!SHUFFLED`.
#[inline(always)]
unsafe fn a_splat<const SHUFFLED: bool, const L: usize>(four: F32x4, pa: *const f32) -> F32x4 {
    if SHUFFLED {
        four.lane_splat::<L>()
    } else {
        F32x4::load_splat(pa.add(L))
    }
}

/// The two forms of the 4×8 micro-kernel, which give the same bits and differ only in how they
/// splat `A`'s four values of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MicroKernel {
    /// Four `v128.load32_splat`s per step (six loads in all). The faster form where V8 checks
    /// memory bounds with guard pages (Node, Chromium): 45 GFLOP/s here, against 36 for the other.
    SplatLoads,
    /// One `v128.load` of the four values and four `i8x16.shuffle`s (three loads per step). The
    /// faster form in Deno, whose V8 runs without the embedder's trap handler and so checks every
    /// load with extra instructions (31 → 36 GFLOP/s), and in Bun's JavaScriptCore (28 → 35).
    ShuffledSplats,
}

/// The micro-kernel the tiled products use (`true` = [`MicroKernel::ShuffledSplats`]); one per
/// module instance, set by the facade for the engine it runs on.
static SHUFFLED_SPLATS: AtomicBool = AtomicBool::new(false);

/// Choose the micro-kernel of every later tiled product. Results are the same bits either way.
pub fn set_micro_kernel(kernel: MicroKernel) {
    SHUFFLED_SPLATS.store(kernel == MicroKernel::ShuffledSplats, Ordering::Relaxed);
}

/// The micro-kernel in use.
pub fn micro_kernel() -> MicroKernel {
    if SHUFFLED_SPLATS.load(Ordering::Relaxed) {
        MicroKernel::ShuffledSplats
    } else {
        MicroKernel::SplatLoads
    }
}

/// The starting accumulators of a 4×8 tile at `c` (row stride `ldc`): the
/// valid `mr×nr` part of `C` when accumulating (zeros elsewhere), else zeros.
///
/// # Safety
/// `c + r*ldc + j` must be valid for `r < mr`, `j < nr` when `accumulate`.
#[inline(always)]
unsafe fn read_tile(c: *const f32, ldc: usize, mr: usize, nr: usize, accumulate: bool) -> [F32x4; 8] {
    let mut acc = [F32x4::zero(); 8];
    if !accumulate {
        return acc;
    }
    if mr == MR && nr == NR {
        for r in 0..MR {
            acc[2 * r] = F32x4::load_ptr(c.add(r * ldc));
            acc[2 * r + 1] = F32x4::load_ptr(c.add(r * ldc + 4));
        }
    } else {
        let mut tile = [0.0f32; MR * NR];
        for r in 0..mr {
            for jj in 0..nr {
                tile[r * NR + jj] = *c.add(r * ldc + jj);
            }
        }
        for (q, v) in acc.iter_mut().enumerate() {
            *v = F32x4::load(&tile, q * 4);
        }
    }
    acc
}

/// Write the valid `mr×nr` part of a 4×8 accumulator tile to `C` at `c`
/// (row stride `ldc`).
///
/// # Safety
/// `c + r*ldc + j` must be valid for `r < mr`, `j < nr`.
#[inline(always)]
unsafe fn write_tile(acc: &[F32x4; 8], c: *mut f32, ldc: usize, mr: usize, nr: usize) {
    if mr == MR && nr == NR {
        for r in 0..MR {
            let row = c.add(r * ldc);
            acc[2 * r].store_ptr(row);
            acc[2 * r + 1].store_ptr(row.add(4));
        }
    } else {
        let mut tile = [0.0f32; MR * NR];
        for (q, v) in acc.iter().enumerate() {
            v.store(&mut tile, q * 4);
        }
        for r in 0..mr {
            for jj in 0..nr {
                *c.add(r * ldc + jj) = tile[r * NR + jj];
            }
        }
    }
}

/// The tiled product for `m >= 1`, `k >= 1`, `n >= 1` with `B` packed.
/// Caller has checked `a` and `c`.
#[allow(clippy::too_many_arguments)]
fn tiled(
    m: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    pb: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    apack: &mut Vec<f32>,
) {
    if SHUFFLED_SPLATS.load(Ordering::Relaxed) {
        tiled_with::<true>(m, a, rsa, csa, pb, c, ldc, accumulate, apack)
    } else {
        tiled_with::<false>(m, a, rsa, csa, pb, c, ldc, accumulate, apack)
    }
}

/// [`tiled`] with one micro-kernel compiled in (`SHUFFLED`: [`MicroKernel::ShuffledSplats`]).
#[allow(clippy::too_many_arguments)]
fn tiled_with<const SHUFFLED: bool>(
    m: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    pb: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    apack: &mut Vec<f32>,
) {
    let (k, n) = (pb.k, pb.n);
    let npanels = div_ceil(n, NR);
    debug_assert!(pb.packed().len() == npanels * k * NR);
    debug_assert!((m - 1) * ldc + n <= c.len());
    let bp0 = pb.packed().as_ptr();
    let cp = c.as_mut_ptr();
    // Rows in blocks of MC: a packed block of A (MC×k) stays in L2 while every B panel (k×NR, in
    // L1) passes over it, instead of all of A streaming from memory once per B panel.
    let mut i_block = 0;
    while i_block < m {
        let mc = MC.min(m - i_block);
        pack_a(mc, k, &a[i_block * rsa..], rsa, csa, apack);
        let mpanels = div_ceil(mc, MR);
        debug_assert!(apack.len() == mpanels * k * MR);
        let ap0 = apack.as_ptr();
        // SAFETY: panel offsets are within apack / pb.packed() (lengths asserted above); tile
        // (i0.., j0..) restricted to mr×nr lies within C.
        unsafe {
            for jp in 0..npanels {
                let j0 = jp * NR;
                let nr = NR.min(n - j0);
                let bp = bp0.add(jp * k * NR);
                for ip in 0..mpanels {
                    let i0 = i_block + ip * MR;
                    let mr = MR.min(m - i0);
                    let ct = cp.add(i0 * ldc + j0);
                    let (ap, init) = (ap0.add(ip * k * MR), read_tile(ct, ldc, mr, nr, accumulate));
                    let acc = micro_4x8::<SHUFFLED>(k, ap, bp, init);
                    write_tile(&acc, ct, ldc, mr, nr);
                }
            }
        }
        i_block += mc;
    }
}

// ---------------------------------------------------------------------------
// Row path (m == 1): no A packing, B streamed as is or from a PackedB
// ---------------------------------------------------------------------------

/// The starting accumulators of a row block: `c[0..count]` (count ≤ 4V, zeros
/// past it) when accumulating, else zeros.
///
/// # Safety
/// `c` must be valid for `count` reads when `accumulate`.
#[inline(always)]
unsafe fn read_row<const V: usize>(c: *const f32, count: usize, accumulate: bool) -> [F32x4; V] {
    let mut acc = [F32x4::zero(); V];
    if !accumulate {
        return acc;
    }
    if count == 4 * V {
        for (q, v) in acc.iter_mut().enumerate() {
            *v = F32x4::load_ptr(c.add(4 * q));
        }
    } else {
        let mut tile = [0.0f32; 32];
        debug_assert!(4 * V <= 32 && count <= 4 * V);
        for (jj, t) in tile.iter_mut().enumerate().take(count) {
            *t = *c.add(jj);
        }
        for (q, v) in acc.iter_mut().enumerate() {
            *v = F32x4::load(&tile, 4 * q);
        }
    }
    acc
}

/// Write `count <= 4*V` leading lanes of `accs` to `c[0..count]`.
///
/// # Safety
/// `c` must be valid for `count` writes.
#[inline(always)]
unsafe fn write_row<const V: usize>(accs: &[F32x4; V], c: *mut f32, count: usize) {
    if count == 4 * V {
        for (q, v) in accs.iter().enumerate() {
            v.store_ptr(c.add(4 * q));
        }
    } else {
        let mut tile = [0.0f32; 32];
        debug_assert!(4 * V <= 32 && count <= 4 * V);
        for (q, v) in accs.iter().enumerate() {
            v.store(&mut tile, 4 * q);
        }
        for (jj, &d) in tile.iter().enumerate().take(count) {
            *c.add(jj) = d;
        }
    }
}

/// `c[0..4V] (+)= a(0,·) · B[:, 0..4V]` for a row-major `B` (`csb == 1`),
/// `V` accumulators kept in registers.
///
/// # Safety
/// `a[p*csa]`, `b[p*rsb .. p*rsb + 4V]` for `p < k` and `c[0..4V]` valid.
#[inline(always)]
unsafe fn row_block<const V: usize>(k: usize, a: *const f32, csa: usize, b: *const f32, rsb: usize, c: *mut f32, accumulate: bool) {
    let mut acc = read_row::<V>(c, 4 * V, accumulate);
    for p in 0..k {
        let av = F32x4::load_splat(a.add(p * csa));
        let row = b.add(p * rsb);
        for (q, v) in acc.iter_mut().enumerate() {
            *v = v.add(av.mul(F32x4::load_ptr(row.add(4 * q))));
        }
    }
    write_row(&acc, c, 4 * V);
}

/// `c[0..n] (+)= a(0,·) · B` reading `B` in place (m == 1, k >= 1).
///
/// # Safety
/// `a[p*csa]` for `p < k`, `b[p*rsb + j*csb]` for `p < k, j < n` and
/// `c[0..n]` must be valid.
#[allow(clippy::too_many_arguments)]
unsafe fn row_direct(
    n: usize,
    k: usize,
    a: *const f32,
    csa: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    c: *mut f32,
    accumulate: bool,
) {
    let mut j = 0;
    if csb == 1 {
        // Contiguous rows of B: ROW_VECS vectors of columns per pass (two
        // cache lines per row of B; 16 columns would be latency-bound by a
        // page jump per line, 64 would spill registers).
        while j + 4 * ROW_VECS <= n {
            row_block::<ROW_VECS>(k, a, csa, b.add(j), rsb, c.add(j), accumulate);
            j += 4 * ROW_VECS;
        }
        while j + 16 <= n {
            row_block::<4>(k, a, csa, b.add(j), rsb, c.add(j), accumulate);
            j += 16;
        }
        while j + 4 <= n {
            row_block::<1>(k, a, csa, b.add(j), rsb, c.add(j), accumulate);
            j += 4;
        }
    } else {
        // Strided columns (e.g. B = Wᵀ with W row-major): gather 8 columns
        // per p; each column is its own stream.
        while j + 8 <= n {
            let mut acc = read_row::<2>(c.add(j), 8, accumulate);
            for p in 0..k {
                let av = F32x4::load_splat(a.add(p * csa));
                let s = b.add(p * rsb + j * csb);
                let v0 = F32x4::new(*s, *s.add(csb), *s.add(2 * csb), *s.add(3 * csb));
                let v1 = F32x4::new(*s.add(4 * csb), *s.add(5 * csb), *s.add(6 * csb), *s.add(7 * csb));
                acc[0] = acc[0].add(av.mul(v0));
                acc[1] = acc[1].add(av.mul(v1));
            }
            write_row(&acc, c.add(j), 8);
            j += 8;
        }
    }
    // Remaining columns: scalar, same order.
    while j < n {
        let cj = c.add(j);
        let mut dot = if accumulate { *cj } else { 0.0f32 };
        for p in 0..k {
            dot = dot + *a.add(p * csa) * *b.add(p * rsb + j * csb);
        }
        *cj = dot;
        j += 1;
    }
}

/// `c[0..n] (+)= a(0,·) · B` with `B` packed (m == 1, k >= 1): 1×24 over three
/// panels at a time (6 independent accumulators), then 1×8 per remaining panel.
///
/// # Safety
/// `a[p*csa]` for `p < k` valid; `pb` is a PackedB's packed floats for (k, n);
/// `c[0..n]` valid.
unsafe fn row_packed(n: usize, k: usize, a: *const f32, csa: usize, pb: *const f32, c: *mut f32, accumulate: bool) {
    let npanels = div_ceil(n, NR);
    let mut jp = 0;
    // Three panels (24 columns) per pass: six independent accumulators hide the add latency, and
    // with the six loaded vectors and the splat they fit V8's 16 vector registers (V8 issues all
    // of an iteration's loads first, so four panels spilled). Every pointer is bumped explicitly:
    // the build disables LLVM's loop strength reduction (scripts/build-wasm.sh), so each load is
    // one wasm load with a constant offset. Written out by hand: a const-generic version with a
    // loop over the panels ran 20 % slower (V8 kept the accumulators in memory).
    while jp + 3 <= npanels {
        let (mut p0, mut av_ptr) = (pb.add(jp * k * NR), a);
        let (mut p1, mut p2) = (p0.add(k * NR), p0.add(2 * k * NR));
        let j0 = jp * NR;
        let count = (n - j0).min(3 * NR);
        let mut acc = read_row::<6>(c.add(j0), count, accumulate);
        for _ in 0..k {
            let av = F32x4::load_splat(av_ptr);
            acc[0] = acc[0].add(av.mul(F32x4::load_ptr(p0)));
            acc[1] = acc[1].add(av.mul(F32x4::load_ptr(p0.add(4))));
            acc[2] = acc[2].add(av.mul(F32x4::load_ptr(p1)));
            acc[3] = acc[3].add(av.mul(F32x4::load_ptr(p1.add(4))));
            acc[4] = acc[4].add(av.mul(F32x4::load_ptr(p2)));
            acc[5] = acc[5].add(av.mul(F32x4::load_ptr(p2.add(4))));
            av_ptr = av_ptr.add(csa);
            p0 = p0.add(NR);
            p1 = p1.add(NR);
            p2 = p2.add(NR);
        }
        write_row(&acc, c.add(j0), count);
        jp += 3;
    }
    // The last one or two panels: a panel is a width-8 block of the row layout.
    while jp < npanels {
        let j0 = jp * NR;
        gemv_block::<2>(k, a, csa, pb.add(jp * k * NR), c.add(j0), (n - j0).min(NR), accumulate);
        jp += 1;
    }
}

/// One block of [`gemv_packed`] (or one panel of `row_packed`): `V` vectors (4·V columns, V ≤ 6)
/// over `k` steps of a [`PackedB`] block, one pointer bumped by the block width, then `count` lanes written.
/// Six accumulators, six loaded vectors and the splat fit V8's 16 vector registers.
///
/// # Safety
/// `a[p*csa]` for `p < k`, `b[0..k*4V]` and `c[0..count]` valid.
#[inline(always)]
unsafe fn gemv_block<const V: usize>(k: usize, a: *const f32, csa: usize, b: *const f32, c: *mut f32, count: usize, accumulate: bool) {
    let mut acc = read_row::<V>(c, count, accumulate);
    let (mut ap, mut bp) = (a, b);
    for _ in 0..k {
        let av = F32x4::load_splat(ap);
        for (q, v) in acc.iter_mut().enumerate() {
            *v = v.add(av.mul(F32x4::load_ptr(bp.add(4 * q))));
        }
        ap = ap.add(csa);
        bp = bp.add(4 * V);
    }
    write_row(&acc, c, count);
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift32 → f32 in [-1, 1) with 24 random mantissa bits (so products
    /// and sums round, making order/fusion differences visible).
    struct Rng(u32);
    impl Rng {
        fn next_u32(&mut self) -> u32 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.0 = x;
            x
        }
        fn f32(&mut self) -> f32 {
            (self.next_u32() >> 8) as f32 * (2.0 / (1u32 << 24) as f32) - 1.0
        }
        fn vec(&mut self, len: usize) -> Vec<f32> {
            (0..len).map(|_| self.f32()).collect()
        }
    }

    /// Storage for a rows×cols operand: row-major (rs = cols + pad, cs = 1)
    /// or transposed (rs = 1, cs = rows + pad). Exactly the required length.
    fn layout(rows: usize, cols: usize, trans: bool, pad: usize) -> (usize, usize, usize) {
        let (rs, cs) = if trans { (1, rows + pad) } else { (cols + pad, 1) };
        (rs, cs, required_len(rows, cols, rs, cs).unwrap())
    }

    const SENTINEL: f32 = 12345.5;

    /// Bit-compare the m×n window of `got` vs `want`; padding must be intact.
    #[allow(clippy::too_many_arguments)]
    fn compare(what: &str, m: usize, n: usize, k: usize, got: &[f32], want: &[f32], ldc: usize, extra: &str) {
        for (idx, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            if g.to_bits() != w.to_bits() {
                let (i, j) = (idx / ldc, idx % ldc);
                if j < n && i < m {
                    panic!(
                        "{}: (m,n,k)=({},{},{}) {}: first mismatch at (i,j)=({},{}): got {:e} ({:#010x}), reference {:e} ({:#010x})",
                        what, m, n, k, extra, i, j, g, g.to_bits(), w, w.to_bits()
                    );
                } else {
                    panic!("{}: (m,n,k)=({},{},{}) {}: padding of C modified at index {}", what, m, n, k, extra, idx);
                }
            }
        }
        assert_eq!(got.len(), want.len());
    }

    #[allow(clippy::too_many_arguments)]
    fn check_case(
        rng: &mut Rng,
        ws: &mut GemmWorkspace,
        pb: &mut PackedB,
        m: usize,
        n: usize,
        k: usize,
        ta: bool,
        tb: bool,
        ldc_pad: usize,
        accumulate: bool,
    ) {
        let (rsa, csa, alen) = layout(m, k, ta, 1);
        let (rsb, csb, blen) = layout(k, n, tb, 2);
        let a = rng.vec(alen);
        let b = rng.vec(blen);
        let ldc = n + ldc_pad;
        let clen = if m == 0 { 0 } else { (m - 1) * ldc + n + ldc_pad };
        let mut c0 = vec![SENTINEL; clen];
        for i in 0..m {
            for j in 0..n {
                c0[i * ldc + j] = if accumulate { rng.f32() * 4.0 } else { f32::NAN };
            }
        }
        let extra = format!(
            "strides A=({},{}) B=({},{}) ldc={} accumulate={}",
            rsa, csa, rsb, csb, ldc, accumulate
        );

        let mut want = c0.clone();
        gemm_ref(m, n, k, &a, rsa, csa, &b, rsb, csb, &mut want, ldc, accumulate);
        if !accumulate {
            assert!(want.iter().all(|x| !x.is_nan()), "reference left NaN: {}", extra);
        }

        let mut got = c0.clone();
        gemm(m, n, k, &a, rsa, csa, &b, rsb, csb, &mut got, ldc, accumulate, ws);
        compare("gemm", m, n, k, &got, &want, ldc, &extra);

        let (c0_for_kernels, c0_shuffled) = (c0.clone(), c0.clone());
        let mut got = c0;
        pb.pack(k, n, &b, rsb, csb);
        assert_eq!((pb.k(), pb.n()), (k, n));
        gemm_packed(m, &a, rsa, csa, pb, &mut got, ldc, accumulate, ws);
        compare("gemm_packed", m, n, k, &got, &want, ldc, &extra);

        // Both forms of the micro-kernel, whatever the global choice (tests run in parallel).
        if m >= 1 && n >= 1 && k >= 1 {
            let mut c = c0_for_kernels;
            tiled_with::<false>(m, &a, rsa, csa, pb, &mut c, ldc, accumulate, &mut ws.apack);
            compare("tiled, splat loads", m, n, k, &c, &want, ldc, &extra);
            let mut c = c0_shuffled;
            tiled_with::<true>(m, &a, rsa, csa, pb, &mut c, ldc, accumulate, &mut ws.apack);
            compare("tiled, shuffled splats", m, n, k, &c, &want, ldc, &extra);
        }
    }

    fn all_layouts(rng: &mut Rng, ws: &mut GemmWorkspace, pb: &mut PackedB, m: usize, n: usize, k: usize) {
        for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
            for &accumulate in &[false, true] {
                let ldc_pad = if (m + n + k) & 1 == 0 { 0 } else { 3 };
                check_case(rng, ws, pb, m, n, k, ta, tb, ldc_pad, accumulate);
            }
        }
    }

    #[test]
    fn ref_small_known_product() {
        // A = [[1,2,3],[4,5,6]], B = [[1,0],[0,1],[1,1]] -> [[4,5],[10,11]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [f32::NAN; 4];
        gemm_ref(2, 2, 3, &a, 3, 1, &b, 2, 1, &mut c, 2, false);
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        gemm_ref(2, 2, 3, &a, 3, 1, &b, 2, 1, &mut c, 2, true);
        assert_eq!(c, [8.0, 10.0, 20.0, 22.0]);
        // Order matters: (1e8 + 1) - 1e8 = 0 in f32, but 1e8 - 1e8 + 1 = 1.
        let a = [1.0f32, 1.0, 1.0];
        let b = [1e8f32, 1.0, -1e8];
        let mut ws = GemmWorkspace::new();
        for &(m, n) in &[(1usize, 1usize), (4, 8), (5, 9)] {
            let mut c = vec![f32::NAN; m * n];
            gemm(m, n, 3, &a, 0, 1, &b, 1, 0, &mut c, n, false, &mut ws);
            assert!(c.iter().all(|&x| x == 0.0), "{:?}", c);
        }
    }

    #[test]
    fn sweep_0_to_12() {
        let mut rng = Rng(0x1234_5678);
        let mut ws = GemmWorkspace::new();
        let mut pb = PackedB::new();
        for m in 0..=12 {
            for n in 0..=12 {
                for k in 0..=12 {
                    all_layouts(&mut rng, &mut ws, &mut pb, m, n, k);
                }
            }
        }
    }

    #[test]
    fn block_tails() {
        let mut rng = Rng(0x9e37_79b9);
        let mut ws = GemmWorkspace::new();
        let mut pb = PackedB::new();
        for &m in &[3, 4, 5, 7, 8, 9] {
            for &n in &[7, 8, 9, 15, 16, 17] {
                for &k in &[1, 2, 3, 31, 32, 33] {
                    all_layouts(&mut rng, &mut ws, &mut pb, m, n, k);
                }
            }
        }
    }

    #[test]
    fn row_vector_paths() {
        // m == 1 uses dedicated kernels (direct 32/16/4/scalar, gather 8, packed 16/8).
        let mut rng = Rng(0xdead_beef);
        let mut ws = GemmWorkspace::new();
        let mut pb = PackedB::new();
        for n in 0..=41 {
            for &k in &[1, 2, 5, 17] {
                all_layouts(&mut rng, &mut ws, &mut pb, 1, n, k);
            }
        }
        for &m in &[2, 3] {
            for &n in &[1, 15, 16, 17, 33] {
                all_layouts(&mut rng, &mut ws, &mut pb, m, n, 7);
            }
        }
    }

    #[test]
    fn packed_for_rows_matches_the_reference() {
        let mut rng = Rng(0x5eed_0001);
        let mut pr = PackedB::for_rows();
        for &k in &[0usize, 1, 2, 7, 32, 129] {
            for n in (0..=50).chain([512, 513, 1000]) {
                for &(rsb, csb, csa) in &[(n, 1, 1), (1, k.max(1), 2)] {
                    let b = rng.vec(if csb == 1 { k * n } else { n * k.max(1) });
                    let a = rng.vec(k * csa);
                    pr.pack(k, n, &b, rsb, csb);
                    assert_eq!((pr.k(), pr.n()), (k, n));
                    for &accumulate in &[false, true] {
                        let init = rng.vec(n);
                        let (mut got, mut want) = (init.clone(), init.clone());
                        gemm_ref(1, n, k, &a, 0, csa, &b, rsb, csb, &mut want, n, accumulate);
                        gemv_packed(&a, csa, &pr, &mut got, accumulate);
                        compare("gemv_packed", 1, n, k, &got, &want, n.max(1), if accumulate { "acc" } else { "" });
                    }
                }
            }
        }
    }

    #[test]
    fn accumulating_products_chain_like_one_product_over_the_joined_inner_dimension() {
        // C = A1·B1, then C += A2·B2, equals [A1 A2]·[B1; B2] bit for bit, on every path.
        let mut rng = Rng(0x00c0_ffee);
        let mut ws = GemmWorkspace::new();
        let (mut pb1, mut pb2, mut pr) = (PackedB::new(), PackedB::new(), PackedB::for_rows());
        for &(m, n, k1, k2) in &[(1usize, 52usize, 5usize, 13usize), (1, 29, 1, 1), (3, 40, 7, 9), (6, 17, 32, 128)] {
            let (a1, a2) = (rng.vec(m * k1), rng.vec(m * k2));
            let (b1, b2) = (rng.vec(k1 * n), rng.vec(k2 * n));
            let k = k1 + k2;
            let a: Vec<f32> = (0..m).flat_map(|i| a1[i * k1..(i + 1) * k1].iter().chain(&a2[i * k2..(i + 1) * k2]).copied().collect::<Vec<_>>()).collect();
            let b: Vec<f32> = b1.iter().chain(&b2).copied().collect();
            let mut want = vec![f32::NAN; m * n];
            gemm_ref(m, n, k, &a, k, 1, &b, n, 1, &mut want, n, false);
            let mut got = vec![f32::NAN; m * n];
            gemm(m, n, k1, &a1, k1, 1, &b1, n, 1, &mut got, n, false, &mut ws);
            gemm(m, n, k2, &a2, k2, 1, &b2, n, 1, &mut got, n, true, &mut ws);
            compare("gemm chained", m, n, k, &got, &want, n, "");
            pb1.pack(k1, n, &b1, n, 1);
            pb2.pack(k2, n, &b2, n, 1);
            let mut got = vec![f32::NAN; m * n];
            gemm_packed(m, &a1, k1, 1, &pb1, &mut got, n, false, &mut ws);
            gemm_packed(m, &a2, k2, 1, &pb2, &mut got, n, true, &mut ws);
            compare("gemm_packed chained", m, n, k, &got, &want, n, "");
            if m == 1 {
                pr.pack_with(k, n, |p, j| if p < k1 { b1[p * n + j] } else { b2[(p - k1) * n + j] });
                let mut got = vec![f32::NAN; n];
                gemv_packed(&a, 1, &pr, &mut got, false);
                compare("gemv_packed joined", 1, n, k, &got, &want, n, "");
            }
        }
    }

    #[test]
    #[should_panic(expected = "gemv_packed: B must be packed with PackedB::for_rows")]
    fn gemv_refuses_panels_packed_for_the_tiled_product() {
        let mut pb = PackedB::new();
        pb.pack(2, 3, &[1.0; 6], 3, 1);
        gemv_packed(&[1.0, 2.0], 1, &pb, &mut [0.0; 3], false);
    }

    #[test]
    #[should_panic(expected = "gemm_packed: B was packed with PackedB::for_rows")]
    fn gemm_packed_refuses_blocks_packed_for_rows() {
        let mut pb = PackedB::for_rows();
        pb.pack(2, 3, &[1.0; 6], 3, 1);
        gemm_packed(2, &[1.0; 4], 2, 1, &pb, &mut [0.0; 6], 3, false, &mut GemmWorkspace::new());
    }

    #[test]
    fn odd_large_sizes() {
        let mut rng = Rng(0x0bad_f00d);
        let mut ws = GemmWorkspace::new();
        let mut pb = PackedB::new();
        for &(m, n, k) in &[(17, 257, 33), (65, 130, 259), (1, 1024, 256)] {
            all_layouts(&mut rng, &mut ws, &mut pb, m, n, k);
        }
    }

    #[test]
    fn packed_b_reuse_and_repack() {
        let mut rng = Rng(42);
        let mut ws = GemmWorkspace::new();
        let mut pb = PackedB::new();
        assert_eq!((pb.k(), pb.n()), (0, 0));
        // Pack one shape, use it many times with different A, then repack a
        // different (smaller, then larger) shape into the same PackedB.
        for &(k, n) in &[(37usize, 29usize), (5, 3), (64, 70), (0, 9), (9, 0)] {
            let b = rng.vec(k * n);
            pb.pack(k, n, &b, n, 1);
            assert_eq!((pb.k(), pb.n()), (k, n));
            for &m in &[1usize, 2, 6, 13] {
                let a = rng.vec(m * k);
                let mut want = vec![f32::NAN; m * n];
                let mut got = want.clone();
                gemm(m, n, k, &a, k, 1, &b, n, 1, &mut want, n, false, &mut ws);
                gemm_packed(m, &a, k, 1, &pb, &mut got, n, false, &mut ws);
                compare("gemm_packed reuse", m, n, k, &got, &want, n.max(1), "");
                // Accumulate on top of the previous result.
                let mut want2 = want.clone();
                gemm_ref(m, n, k, &a, k, 1, &b, n, 1, &mut want2, n, true);
                gemm_packed(m, &a, k, 1, &pb, &mut got, n, true, &mut ws);
                compare("gemm_packed reuse acc", m, n, k, &got, &want2, n.max(1), "");
            }
        }
    }

    #[test]
    fn packed_floats_start_on_a_cache_line() {
        let mut rng = Rng(64);
        for (k, n) in [(1usize, 1usize), (3, 17), (160, 512), (33, 9)] {
            let b = rng.vec(k * n);
            for mut pb in [PackedB::new(), PackedB::for_rows()] {
                pb.pack(k, n, &b, n, 1);
                assert_eq!(pb.packed().as_ptr() as usize % 64, 0, "k {} n {}", k, n);
            }
        }
    }

    #[test]
    fn the_micro_kernel_choice_is_kept() {
        assert_eq!(micro_kernel(), MicroKernel::SplatLoads, "the default");
        set_micro_kernel(MicroKernel::ShuffledSplats);
        assert_eq!(micro_kernel(), MicroKernel::ShuffledSplats);
        set_micro_kernel(MicroKernel::SplatLoads);
        assert_eq!(micro_kernel(), MicroKernel::SplatLoads);
    }

    #[test]
    fn k_zero() {
        let mut ws = GemmWorkspace::new();
        let mut c = vec![f32::NAN, 7.0, -0.0, 3.0];
        gemm(2, 2, 0, &[], 0, 1, &[], 2, 1, &mut c, 2, false, &mut ws);
        assert_eq!(c, vec![0.0; 4]);
        let mut c = vec![1.5, 7.0, -2.0, 3.0];
        gemm(2, 2, 0, &[], 0, 1, &[], 2, 1, &mut c, 2, true, &mut ws);
        assert_eq!(c, vec![1.5, 7.0, -2.0, 3.0]);
        let mut pb = PackedB::new();
        pb.pack(0, 2, &[], 2, 1);
        let mut c = vec![f32::NAN; 4];
        gemm_packed(2, &[], 0, 1, &pb, &mut c, 2, false, &mut ws);
        assert_eq!(c, vec![0.0; 4]);
    }

    #[test]
    fn warmed_workspace_does_not_reallocate() {
        let mut rng = Rng(7);
        let mut ws = GemmWorkspace::new();
        let (m, n, k) = (13, 21, 19);
        let a = rng.vec(m * k);
        let b = rng.vec(k * n);
        let mut c = vec![0.0; m * n];
        gemm(m, n, k, &a, k, 1, &b, n, 1, &mut c, n, false, &mut ws);
        let (pa, pbp) = (ws.apack.as_ptr(), ws.bpack.data.as_ptr());
        let (ca, cb) = (ws.apack.capacity(), ws.bpack.data.capacity());
        for &(m2, n2, k2) in &[(13, 21, 19), (5, 8, 19), (2, 3, 4), (13, 21, 19)] {
            gemm(m2, n2, k2, &a, k2, 1, &b, n2, 1, &mut c, n2, true, &mut ws);
            assert_eq!((ws.apack.as_ptr(), ws.bpack.data.as_ptr()), (pa, pbp));
            assert_eq!((ws.apack.capacity(), ws.bpack.data.capacity()), (ca, cb));
        }
        let mut pb = PackedB::new();
        pb.pack(k, n, &b, n, 1);
        let p = pb.data.as_ptr();
        pb.pack(k - 3, n - 5, &b, n - 5, 1);
        pb.pack(k, n, &b, 1, k);
        assert_eq!(pb.data.as_ptr(), p);
    }

    #[test]
    #[should_panic(expected = "gemm(m=2, n=3, k=4): A is 2x4")]
    fn short_a_panics_with_shape() {
        let mut ws = GemmWorkspace::new();
        let mut c = vec![0.0; 6];
        gemm(2, 3, 4, &[0.0; 7], 4, 1, &[0.0; 12], 3, 1, &mut c, 3, false, &mut ws);
    }

    #[test]
    #[should_panic(expected = "ldc = 2 < n = 3")]
    fn small_ldc_panics() {
        let mut ws = GemmWorkspace::new();
        let mut c = vec![0.0; 16];
        gemm(2, 3, 4, &[0.0; 8], 4, 1, &[0.0; 12], 3, 1, &mut c, 2, false, &mut ws);
    }

    #[test]
    #[should_panic(expected = "C is 2x3")]
    fn short_c_panics() {
        let mut ws = GemmWorkspace::new();
        let mut c = vec![0.0; 5];
        gemm(2, 3, 4, &[0.0; 8], 4, 1, &[0.0; 12], 3, 1, &mut c, 3, false, &mut ws);
    }
}
