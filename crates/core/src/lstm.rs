//! LSTM: one layer-direction over a whole sequence (forward, and backward through time), then the
//! stacked, optionally bidirectional network that PyTorch's `nn.LSTM` describes.
//!
//! Per tick, with gates in PyTorch's order (i, f, g, o) stacked into G = 4H rows:
//!   a   = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (G)
//!   i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)
//!   c_t = f ⊙ c_{t-1} + i ⊙ g
//!   h_t = o ⊙ tanh(c_t)
//! Forward does the input projection of all T ticks as one GEMM, then per tick one recurrent GEMM
//! (W_hh packed once per sequence) followed by a fused pass for bias, activations and the state update.
//! It keeps the activated gates, c_t and h_{t-1} of every tick for backward.
//! Backward walks the ticks in reverse, producing the pre-activation gate gradients dA (T×B×G);
//! the weight gradients are then one GEMM each over all ticks: dW_ih += dAᵀX, dW_hh += dAᵀH_prev,
//! and the input gradient is one GEMM: dX += dA W_ih.
//!
//! A reverse direction is the same cell run over t = T-1 … 0; all per-tick buffers are indexed by
//! the real tick t, so the big GEMMs need not care about direction.

use crate::act::{sigmoid4_with, tanh4_with, ActConsts};
use crate::chunks4;
use crate::simd::F32x4;
use crate::arena::{touches, Arena, Layout, Region};
use crate::error::{check_finite, check_len, zeroed, Error, Result};
use crate::gemm::{gemm, gemm_packed, gemv_packed, GemmWorkspace, PackedB};
use crate::rng::Pcg32;

/// Sizes of one layer-direction pass.
#[derive(Clone, Copy, Debug)]
pub struct SeqDims {
    pub t: usize,
    pub b: usize,
    pub i: usize,
    pub h: usize,
}

/// Weights of one layer-direction: w_ih G×I, w_hh G×H, b_ih G, b_hh G.
pub struct CellWeights<'a> {
    pub w_ih: &'a [f32],
    pub w_hh: &'a [f32],
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

/// Gradients of one layer-direction, same shapes as `CellWeights`; accumulated into.
pub struct CellGrads<'a> {
    pub dw_ih: &'a mut [f32],
    pub dw_hh: &'a mut [f32],
    pub db_ih: &'a mut [f32],
    pub db_hh: &'a mut [f32],
}

/// Activations kept by forward for backward, indexed by real tick t.
pub struct CellCache<'a> {
    /// T×B×G: activated gates i, f, g, o.
    pub gates: &'a mut [f32],
    /// T×B×H: c_t.
    pub cells: &'a mut [f32],
    /// T×B×H: tanh(c_t), so backward need not recompute it.
    pub tanh_c: &'a mut [f32],
}

#[inline(always)]
fn tick(reverse: bool, t_len: usize, step: usize) -> usize {
    if reverse {
        t_len - 1 - step
    } else {
        step
    }
}

/// One tick of one row, fused: `a` holds the 4H gate pre-activations without bias (x·W_ihᵀ + h·W_hhᵀ)
/// and is left holding the activated gates i, f, g, o; `c` is updated in place; `h` receives
/// o ⊙ tanh(c). Four units at a time through the `F32x4` vocabulary (the tail as a partial vector).
#[cfg_attr(feature = "profile", inline(never))]
#[cfg_attr(not(feature = "profile"), inline)]
pub fn lstm_cell_forward(a: &mut [f32], bias: &[f32], c: &mut [f32], h: &mut [f32], mut tanh_c: Option<&mut [f32]>, hid: usize) {
    // Bias and activation in place, one simple pass per activation (i and f are adjacent): short
    // loops with few live values keep the vector registers from spilling.
    let k = ActConsts::load();
    let (if_, rest) = a.split_at_mut(2 * hid);
    let (g, o) = rest.split_at_mut(hid);
    activate(if_, &bias[..2 * hid], &k, sigmoid4_with);
    activate(g, &bias[2 * hid..3 * hid], &k, tanh4_with);
    activate(&mut o[..hid], &bias[3 * hid..4 * hid], &k, sigmoid4_with);
    // c = f ⊙ c + i ⊙ g, h = o ⊙ tanh(c).
    chunks4!(hid, |j, w| {
        let ld = |s: &[f32], k: usize| F32x4::load_partial(s, k, w);
        let cn = ld(if_, hid + j).mul(ld(c, j)).add(ld(if_, j).mul(ld(g, j)));
        cn.store_partial(c, j, w);
        let tc = tanh4_with(cn, &k);
        if let Some(t) = tanh_c.as_deref_mut() {
            tc.store_partial(t, j, w);
        }
        ld(o, j).mul(tc).store_partial(h, j, w);
    });
}

/// `v[i] = f(v[i] + bias[i])` four at a time.
#[inline(always)]
fn activate<F: Fn(F32x4, &ActConsts) -> F32x4>(v: &mut [f32], bias: &[f32], k: &ActConsts, f: F) {
    chunks4!(v.len(), |i, w| {
        f(F32x4::load_partial(v, i, w).add(F32x4::load_partial(bias, i, w)), k).store_partial(v, i, w);
    });
}

/// What `Lstm::forward_keeping` keeps once it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The activations `backward` needs (training).
    ForBackward,
    /// Nothing (inference).
    Nothing,
}

/// Where a forward puts its gates, and what it keeps for backward.
pub enum ForwardStore<'a> {
    /// Training: every tick's activations, for `lstm_seq_backward`.
    Cache(CellCache<'a>),
    /// Inference: nothing is kept. The gates of `chunk` ticks at a time go through `gates`
    /// (chunk×B×G floats), so memory does not grow with T.
    Scratch { gates: &'a mut [f32], chunk: usize },
}

/// Ticks per input-projection chunk of an inference forward: enough rows (about 512) for the
/// product to run at full speed, at most T.
fn infer_chunk_ticks(t: usize, b: usize) -> usize {
    (512 / b.max(1)).clamp(1, t.max(1))
}

/// Forward of one layer in one direction over the whole sequence.
///
/// - `x`: T×B×I, time-major, contiguous.
/// - `h`, `c`: B×H. In: h0, c0. Out: h_N, c_N (state after the last tick processed).
/// - `y`: output h_t of tick t, batch row b, unit j at `y[(t*B + b)*y_stride + j]`, so a
///   bidirectional layer writes both directions into one T×B×2H buffer (reverse: `y` starts at +H).
/// - `store`: the training caches, or the inference scratch. Both give the same bits.
/// - `bias`: G floats of scratch (b_ih + b_hh).
/// - `lengths`: real ticks per sequence (padding at the end). A padded tick leaves h and c as they
///   are and outputs zeros, so a reverse direction starts at each sequence's last real tick.
pub fn lstm_seq_forward(
    d: SeqDims,
    w: &CellWeights,
    reverse: bool,
    lengths: Option<&[usize]>,
    x: &[f32],
    h: &mut [f32],
    c: &mut [f32],
    y: &mut [f32],
    y_stride: usize,
    store: ForwardStore,
    bias: &mut [f32],
    pb_ih: &mut PackedB,
    pb: &mut PackedB,
    ws: &mut GemmWorkspace,
) {
    let SeqDims { t: tn, b: bn, i: input, h: hid } = d;
    let g4 = 4 * hid;
    debug_assert!(x.len() == tn * bn * input && h.len() == bn * hid && c.len() == bn * hid);
    debug_assert!(y.len() >= (tn * bn - 1) * y_stride + hid);
    // Training projects every tick at once into the cache; inference a chunk at a time.
    let (gates, chunk, mut cache) = match store {
        ForwardStore::Cache(CellCache { gates, cells, tanh_c }) => {
            debug_assert!(gates.len() == tn * bn * g4 && cells.len() == tn * bn * hid);
            (gates, tn, Some((cells, tanh_c)))
        }
        ForwardStore::Scratch { gates, chunk } => {
            debug_assert!(chunk >= 1 && gates.len() >= chunk.min(tn) * bn * g4);
            (gates, chunk.min(tn), None)
        }
    };
    for k in 0..g4 {
        bias[k] = w.b_ih[k] + w.b_hh[k];
    }
    // W_ihᵀ (I×G) and W_hhᵀ (H×G) packed once, reused by every chunk and every tick.
    pb_ih.pack(input, g4, w.w_ih, 1, input);
    pb.pack(hid, g4, w.w_hh, 1, hid);
    let mut step0 = 0;
    while step0 < tn {
        let steps = chunk.min(tn - step0);
        // The chunk's ticks are contiguous in either direction: [first, first + steps).
        let first = if reverse { tn - step0 - steps } else { step0 };
        // Input projection of the chunk's ticks at once: A[steps·B, G] = X · W_ihᵀ.
        let xs = &x[first * bn * input..(first + steps) * bn * input];
        gemm_packed(steps * bn, xs, input, 1, pb_ih, &mut gates[..steps * bn * g4], g4, false, ws);
        for step in step0..step0 + steps {
            let t = tick(reverse, tn, step);
            let rows = t * bn..(t + 1) * bn;
            let a = &mut gates[(t - first) * bn * g4..(t - first + 1) * bn * g4];
            gemm_packed(bn, h, hid, 1, pb, a, g4, true, ws);
            for bi in 0..bn {
                let a = &mut a[bi * g4..(bi + 1) * g4];
                let r = rows.start + bi;
                let h_row = &mut h[bi * hid..(bi + 1) * hid];
                let c_row = &mut c[bi * hid..(bi + 1) * hid];
                let y_row = &mut y[r * y_stride..r * y_stride + hid];
                let padded = lengths.map_or(false, |l| t >= l[bi]);
                if padded {
                    y_row.fill(0.0);
                } else {
                    let tc = cache.as_mut().map(|(_, tanh_c)| &mut tanh_c[r * hid..(r + 1) * hid]);
                    lstm_cell_forward(a, bias, c_row, h_row, tc, hid);
                    y_row.copy_from_slice(h_row);
                }
                if let Some((cells, _)) = cache.as_mut() {
                    cells[r * hid..(r + 1) * hid].copy_from_slice(c_row);
                }
            }
        }
        step0 += steps;
    }
}

/// Backward through time of one layer in one direction, for the most recent `lstm_seq_forward`.
///
/// - `x`, `h0`, `c0`, `gates`, `cells`, `tanh_c`: what forward saw and kept.
/// - `y`: forward's output (its h_t), with stride `y_stride`; h_{t-1} for dW_hh is read from it.
/// - `dy`: dL/dy_t laid out like `y` (same stride).
/// - `dh`, `dc`: B×H. In: dL/dh_N, dL/dc_N. Out: dL/dh0, dL/dc0.
/// - `da`: T×B×G scratch, left holding the pre-activation gate gradients.
/// - `dx`: T×B×I and whether to add into it (the second direction of a layer adds to the first's);
///   `None` when nobody needs the input gradient (the model's first layer).
/// - `g`: parameter gradients, accumulated into.
/// - `lengths` as in forward, with `dh_scratch` (B×H) to carry dh unchanged across padded ticks.
pub fn lstm_seq_backward(
    d: SeqDims,
    w: &CellWeights,
    reverse: bool,
    lengths: Option<&[usize]>,
    dh_scratch: &mut [f32],
    x: &[f32],
    c0: &[f32],
    gates: &[f32],
    cells: &[f32],
    tanh_c: &[f32],
    h0: &[f32],
    y: &[f32],
    y_stride: usize,
    dy: &[f32],
    dh: &mut [f32],
    dc: &mut [f32],
    da: &mut [f32],
    dx: Option<(&mut [f32], bool)>,
    g: CellGrads,
    pb: &mut PackedB,
    ws: &mut GemmWorkspace,
) {
    let SeqDims { t: tn, b: bn, i: input, h: hid } = d;
    let g4 = 4 * hid;
    debug_assert!(da.len() == tn * bn * g4);
    // W_hh (G×H) packed once: dh_{t-1} = dA_t · W_hh.
    pb.pack(g4, hid, w.w_hh, hid, 1);
    let consts = ActConsts::load();
    for step in (0..tn).rev() {
        let t = tick(reverse, tn, step);
        // c_{t-1}: the cell of the tick processed just before t, or c0.
        let prev = if step == 0 { None } else { Some(tick(reverse, tn, step - 1)) };
        for bi in 0..bn {
            let r = t * bn + bi;
            let gate = &gates[r * g4..(r + 1) * g4];
            let tcs = &tanh_c[r * hid..(r + 1) * hid];
            let cprev = match prev {
                None => &c0[bi * hid..(bi + 1) * hid],
                Some(tp) => &cells[(tp * bn + bi) * hid..(tp * bn + bi + 1) * hid],
            };
            let dy_row = &dy[r * y_stride..r * y_stride + hid];
            let dh_row = &dh[bi * hid..(bi + 1) * hid];
            let dc_row = &mut dc[bi * hid..(bi + 1) * hid];
            let da_row = &mut da[r * g4..(r + 1) * g4];
            if lengths.map_or(false, |l| t >= l[bi]) {
                da_row.fill(0.0);
                continue;
            }
            // Gate gradients before the activations, four units at a time.
            let one = consts.one();
            chunks4!(hid, |j, w| {
                let ld = |s: &[f32], k: usize| F32x4::load_partial(s, k, w);
                let (ig, fg, gg, og) = (ld(gate, j), ld(gate, hid + j), ld(gate, 2 * hid + j), ld(gate, 3 * hid + j));
                let tc = ld(tcs, j);
                let dh_t = ld(dh_row, j).add(ld(dy_row, j));
                let dct = ld(dc_row, j).add(dh_t.mul(og).mul(one.sub(tc.mul(tc))));
                dct.mul(gg).mul(ig.mul(one.sub(ig))).store_partial(da_row, j, w);
                dct.mul(ld(cprev, j)).mul(fg.mul(one.sub(fg))).store_partial(da_row, hid + j, w);
                dct.mul(ig).mul(one.sub(gg.mul(gg))).store_partial(da_row, 2 * hid + j, w);
                dh_t.mul(tc).mul(og.mul(one.sub(og))).store_partial(da_row, 3 * hid + j, w);
                dct.mul(fg).store_partial(dc_row, j, w);
            });
        }
        let da_t = &da[t * bn * g4..(t + 1) * bn * g4];
        match lengths {
            None => gemm_packed(bn, da_t, g4, 1, pb, dh, hid, false, ws),
            Some(l) => {
                gemm_packed(bn, da_t, g4, 1, pb, dh_scratch, hid, false, ws);
                for bi in (0..bn).filter(|&bi| t < l[bi]) {
                    dh[bi * hid..(bi + 1) * hid].copy_from_slice(&dh_scratch[bi * hid..(bi + 1) * hid]);
                }
            }
        }
    }
    let rows = tn * bn;
    // dW_ih += dAᵀ X ; dW_hh += dAᵀ H_prev ; dX += dA W_ih ; db += column sums of dA.
    gemm(g4, input, rows, da, 1, g4, x, input, 1, g.dw_ih, input, true, ws);
    // H_prev is not kept: h_{t-1} is the output of the tick processed before t, or h0 for the
    // first one. Forward pairs tick t with y at t − 1 (reverse: t + 1), the first tick with h0.
    let later = (tn - 1) * bn;
    let (da_first, da_later, y_before) = if reverse {
        (&da[later * g4..], &da[..later * g4], y.get(bn * y_stride..).unwrap_or(&[]))
    } else {
        (&da[..bn * g4], &da[bn * g4..], y)
    };
    if later > 0 {
        gemm(g4, hid, later, da_later, 1, g4, y_before, y_stride, 1, g.dw_hh, hid, true, ws);
    }
    gemm(g4, hid, bn, da_first, 1, g4, h0, hid, 1, g.dw_hh, hid, true, ws);
    // A shorter sequence's reverse direction starts from h0 at its last real tick, where the
    // product above used the padded tick after it (whose output is zero): add dA_rowᵀ h0_row.
    if let (true, Some(l)) = (reverse, lengths) {
        for bi in (0..bn).filter(|&bi| l[bi] < tn) {
            let r = (l[bi] - 1) * bn + bi;
            gemm(g4, hid, 1, &da[r * g4..(r + 1) * g4], 1, g4, &h0[bi * hid..(bi + 1) * hid], hid, 1, g.dw_hh, hid, true, ws);
        }
    }
    if let Some((dx, accumulate)) = dx {
        gemm(rows, input, g4, da, g4, 1, w.w_ih, input, 1, dx, input, accumulate, ws);
    }
    for r in 0..rows {
        let row = &da[r * g4..(r + 1) * g4];
        for k in 0..g4 {
            g.db_ih[k] += row[k];
            g.db_hh[k] += row[k];
        }
    }
}

/// Shape of an LSTM stack, as `nn.LSTM(input_size, hidden_size, num_layers, bidirectional=...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmConfig {
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
}

/// Where one layer-direction's parameters sit in the parameter block (PyTorch state_dict order:
/// weight_ih, weight_hh, bias_ih, bias_hh; layer-major, forward before reverse).
#[derive(Clone, Copy, Debug)]
pub struct CellOffsets {
    pub w_ih: Region,
    pub w_hh: Region,
    pub b_ih: Region,
    pub b_hh: Region,
}

impl CellOffsets {
    /// This layer-direction's weights inside the parameter block.
    pub fn weights<'a>(&self, params: &'a [f32]) -> CellWeights<'a> {
        let at = |r: Region| &params[r.off..r.off + r.len];
        CellWeights { w_ih: at(self.w_ih), w_hh: at(self.w_hh), b_ih: at(self.b_ih), b_hh: at(self.b_hh) }
    }
}

impl LstmConfig {
    pub fn dirs(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
    /// Width of layer `l`'s input: I for layer 0, D·H above.
    pub fn layer_input(&self, l: usize) -> usize {
        if l == 0 {
            self.input_size
        } else {
            self.dirs() * self.hidden_size
        }
    }
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return Err(Error::Value(format!(
                "LSTM: inputSize, hiddenSize and numLayers must be positive integers, got {}, {}, {}",
                self.input_size, self.hidden_size, self.num_layers
            )));
        }
        // Parameter count in u64 first, so absurd sizes are refused instead of overflowing.
        let (i, h, l, d) = (self.input_size as u64, self.hidden_size as u64, self.num_layers as u64, self.dirs() as u64);
        let count = d * 4 * h * (i + h + 2) + (l - 1) * d * 4 * h * (d * h + h + 2);
        if count > crate::error::MAX_FLOATS {
            return Err(Error::Value(format!(
                "LSTM: inputSize {}, hiddenSize {}, numLayers {} need {} parameters, more than wasm32 memory can hold",
                self.input_size, self.hidden_size, self.num_layers, count
            )));
        }
        Ok(())
    }
    /// Parameter regions of every layer-direction, in state_dict order, and the total count.
    pub fn param_layout(&self) -> (Vec<CellOffsets>, usize) {
        let g4 = 4 * self.hidden_size;
        let mut cells = Vec::with_capacity(self.num_layers * self.dirs());
        let mut off = 0;
        let mut take = |n: usize| {
            let r = Region { off, len: n };
            off += n;
            r
        };
        for l in 0..self.num_layers {
            for _ in 0..self.dirs() {
                cells.push(CellOffsets {
                    w_ih: take(g4 * self.layer_input(l)),
                    w_hh: take(g4 * self.hidden_size),
                    b_ih: take(g4),
                    b_hh: take(g4),
                });
            }
        }
        (cells, off)
    }
}

/// Regions of the activation arena for one (T, B) and mode.
struct Acts {
    t: usize,
    b: usize,
    /// Inference layout: no caches and no backward buffers; the layers' outputs take turns in two
    /// buffers and the gates pass through a chunk of `chunk` ticks.
    infer: bool,
    chunk: usize,
    /// Whether the caller's layout is batch-first (the buffers in that layout exist only then).
    batch_first: bool,
    /// T×B×I, time-major copy of the input.
    x: Region,
    /// Per layer: T×B×D·H outputs (time-major).
    layer_out: Vec<Region>,
    /// T×B×D·H: the network output in the caller's layout (batch-first only; empty otherwise).
    out_user: Region,
    /// L·D×B×H each.
    h0: Region,
    c0: Region,
    hn: Region,
    cn: Region,
    /// Per layer-direction caches (training), or one chunk×B×G scratch shared by all (inference).
    gates: Vec<Region>,
    cells: Vec<Region>,
    tanh_c: Vec<Region>,
    bias: Region,
    /// B×D·H: the top layer's final h of each direction (the output of a last-tick-only LSTM).
    last: Region,
    // Backward.
    dy: Region,
    dh_scratch: Region,
    dbuf: [Region; 2],
    da: Region,
    dh0: Region,
    dc0: Region,
    dx_user: Region,
}

impl Acts {
    fn new(cfg: &LstmConfig, t: usize, b: usize, infer: bool, batch_first: bool) -> (Acts, usize) {
        let h = cfg.hidden_size;
        let (tb, dh_w, ld, l_n) = (t * b, cfg.dirs() * cfg.hidden_size, cfg.num_layers * cfg.dirs(), cfg.num_layers);
        let widest = cfg.input_size.max(dh_w);
        let mut l = Layout::new();
        let x = l.take(tb * cfg.input_size);
        let (layer_out, out_user) = if infer {
            // Layer k reads buffer (k-1)%2 and writes k%2; the batch-first copy of the top layer's
            // output goes to the other one, whose content (layer L-2's output) is spent by then.
            let pp = [l.take(tb * dh_w), if l_n > 1 { l.take(tb * dh_w) } else { Region::default() }];
            let out_user = if !batch_first {
                Region::default()
            } else if l_n > 1 {
                pp[l_n % 2]
            } else {
                l.take(tb * dh_w)
            };
            ((0..l_n).map(|k| pp[k % 2]).collect(), out_user)
        } else {
            ((0..l_n).map(|_| l.take(tb * dh_w)).collect(), l.take(if batch_first { tb * dh_w } else { 0 }))
        };
        let (h0, c0, hn, cn) = (l.take(ld * b * h), l.take(ld * b * h), l.take(ld * b * h), l.take(ld * b * h));
        let chunk = if infer { infer_chunk_ticks(t, b) } else { t };
        let gates = if infer { vec![l.take(chunk * b * 4 * h); ld] } else { (0..ld).map(|_| l.take(tb * 4 * h)).collect() };
        // Training only: a layout that is empty in inference.
        let mut train = |len: usize| if infer { Region::default() } else { l.take(len) };
        let cells = (0..ld).map(|_| train(tb * h)).collect();
        let tanh_c = (0..ld).map(|_| train(tb * h)).collect();
        let (dy, dh_scratch) = (train(tb * dh_w), train(b * h));
        let dbuf = [train(tb * widest), train(tb * widest)];
        let (da, dh0, dc0, dx_user) = (train(tb * 4 * h), train(ld * b * h), train(ld * b * h), train(if batch_first { tb * cfg.input_size } else { 0 }));
        let (bias, last) = (l.take(4 * h), l.take(b * dh_w));
        let acts = Acts { t, b, infer, chunk, batch_first, x, layer_out, out_user, h0, c0, hn, cn, gates, cells, tanh_c, bias, last, dy, dh_scratch, dbuf, da, dh0, dc0, dx_user };
        (acts, l.total())
    }
}

/// An upper bound, in floats, of what `Acts::new` lays out for T ticks of B sequences, computed
/// in u64 so that it cannot overflow: training keeps caches and backward buffers for every tick,
/// inference only the input, two layer outputs (and a batch-first copy) and one chunk of gates.
fn layout_bound(c: &LstmConfig, t: usize, b: usize, infer: bool) -> u64 {
    let (t, b, i, h) = (t as u64, b as u64, c.input_size as u64, c.hidden_size as u64);
    let dh = c.dirs() as u64 * h;
    let states = 8 * c.num_layers as u64 * dh * b + 8 * h + b * dh;
    if infer {
        t * b * (i + 3 * dh) + (512 + b) * 4 * h + states
    } else {
        t * b * ((c.num_layers as u64 + 4) * dh * 6 + 4 * i) + states
    }
}

/// Copy `src` (rows of `w` floats in `a`-major order a×b) into `dst` in b-major order: the
/// batch-first ↔ time-major transpose of a [A, B, w] tensor into [B, A, w].
fn transpose_rows(src: &[f32], dst: &mut [f32], a: usize, b: usize, w: usize) {
    for i in 0..a {
        for j in 0..b {
            dst[(j * a + i) * w..(j * a + i + 1) * w].copy_from_slice(&src[(i * b + j) * w..(i * b + j + 1) * w]);
        }
    }
}

/// Which buffer of an `Lstm` the ABI asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LstmBuffer {
    Output,
    /// [B, D·H]: final h of the top layer's directions, concatenated.
    LastOutput,
    HN,
    CN,
    DInput,
    DH0,
    DC0,
}

/// The upstream gradient of `Lstm::backward`.
#[derive(Clone, Copy, Debug)]
pub enum DyIn<'a> {
    /// dL/d output, shaped like the forward's output.
    Sequence(&'a [f32]),
    /// dL/d last output [B, D·H] (an LSTM whose head reads only its final h).
    Last(&'a [f32]),
}

/// A stacked, optionally bidirectional LSTM with its parameters, gradients and activations.
pub struct Lstm {
    pub cfg: LstmConfig,
    cells: Vec<CellOffsets>,
    /// All parameters, state_dict order.
    pub params: Vec<f32>,
    /// Gradients, same layout as `params`.
    pub grads: Vec<f32>,
    arena: Arena,
    acts: Option<Acts>,
    /// True between a forward and the next resize: backward is allowed.
    have_forward: bool,
    /// Real ticks per sequence of the latest forward, when it was given lengths.
    lengths: Vec<usize>,
    has_lengths: bool,
    /// Forward's packed W_ihᵀ and W_hhᵀ of the layer-direction being run (backward reuses `pb`).
    pb_ih: PackedB,
    pb: PackedB,
    ws: GemmWorkspace,
    /// Streaming: the weights of every layer packed once, valid while `step_epoch` matches, each
    /// kind built on first use: W_ihᵀ and W_hhᵀ for the tiled products (batch > 1), and
    /// [W_ihᵀ; W_hhᵀ] stacked for one row-vector product over [x, h] (batch 1).
    step_packs: Vec<(PackedB, PackedB)>,
    step_row_packs: Vec<PackedB>,
    /// Batch-1 streaming scratch: [x, h] of the layer being stepped.
    step_xh: Vec<f32>,
    step_bias: Vec<f32>,
    step_epoch: Option<u64>,
    /// Whether `step_packs` / `step_row_packs` hold this epoch's weights.
    step_packed_tiled: bool,
    step_packed_row: bool,
    /// Streaming scratch: gates (B×G) and the layer output handed to the next layer (B×H).
    step_gates: Vec<f32>,
    step_out: Vec<f32>,
}

impl Lstm {
    /// A network initialised like PyTorch: every parameter uniform in ±1/√H, from `seed`.
    pub fn new(cfg: LstmConfig, seed: u64) -> Result<Lstm> {
        cfg.validate()?;
        let (cells, n) = cfg.param_layout();
        let mut params = zeroed("LSTM parameters", n as u64)?;
        let grads = zeroed("LSTM gradients", n as u64)?;
        Pcg32::new(seed).fill_uniform(&mut params, 1.0 / (cfg.hidden_size as f32).sqrt());
        Ok(Lstm {
            cfg,
            cells,
            params,
            grads,
            arena: Arena::new(),
            acts: None,
            have_forward: false,
            lengths: Vec::new(),
            has_lengths: false,
            pb_ih: PackedB::new(),
            pb: PackedB::new(),
            ws: GemmWorkspace::new(),
            step_packs: Vec::new(),
            step_row_packs: Vec::new(),
            step_xh: Vec::new(),
            step_bias: Vec::new(),
            step_epoch: None,
            step_packed_tiled: false,
            step_packed_row: false,
            step_gates: Vec::new(),
            step_out: Vec::new(),
        })
    }

    /// One tick of a unidirectional stack for B sequences: `x` is B×I; `h` and `c` ([L, B, H]) hold
    /// the state and are updated in place; the output (the top layer's new h, B×H) is
    /// `step_output()`. `param_epoch` names the parameters' version: the packed weights are rebuilt
    /// when it changes. Bit-identical to `forward` over the same ticks.
    pub fn step(&mut self, x: &[f32], b: usize, h: &mut [f32], c: &mut [f32], param_epoch: u64) -> Result<()> {
        let cfg = self.cfg;
        if cfg.bidirectional {
            return Err(Error::State("LSTM.step: a bidirectional LSTM cannot stream (its reverse direction needs the whole sequence); use forward".into()));
        }
        if b == 0 {
            return Err(Error::Shape("LSTM.step: x must have at least one row, got 0".into()));
        }
        let (hid, l_n) = (cfg.hidden_size, cfg.num_layers);
        let g4 = 4 * hid;
        check_len("LSTM.step: x", x.len(), b * cfg.input_size)?;
        check_len("LSTM.step: state h", h.len(), l_n * b * hid)?;
        check_len("LSTM.step: state c", c.len(), l_n * b * hid)?;
        check_finite("LSTM.step: x", x)?;
        check_finite("LSTM.step: state h", h)?;
        check_finite("LSTM.step: state c", c)?;
        if self.step_epoch != Some(param_epoch) {
            self.step_bias.resize(l_n * g4, 0.0);
            for l in 0..l_n {
                let w = self.cells[l].weights(&self.params);
                for k in 0..g4 {
                    self.step_bias[l * g4 + k] = w.b_ih[k] + w.b_hh[k];
                }
            }
            self.step_epoch = Some(param_epoch);
            self.step_packed_tiled = false;
            self.step_packed_row = false;
        }
        let row = b == 1;
        if row && !self.step_packed_row {
            self.step_row_packs.resize_with(l_n, PackedB::for_rows);
            for l in 0..l_n {
                let (w, input) = (self.cells[l].weights(&self.params), cfg.layer_input(l));
                // Row p of [W_ihᵀ; W_hhᵀ], column j: W_ih[j][p] for p < I, then W_hh[j][p - I].
                let at = |p: usize, j: usize| if p < input { w.w_ih[j * input + p] } else { w.w_hh[j * hid + p - input] };
                self.step_row_packs[l].pack_with(input + hid, g4, at);
            }
            self.step_packed_row = true;
        }
        if !row && !self.step_packed_tiled {
            self.step_packs.resize_with(l_n, Default::default);
            for l in 0..l_n {
                let (w, input) = (self.cells[l].weights(&self.params), cfg.layer_input(l));
                let (pi, ph) = &mut self.step_packs[l];
                pi.pack(input, g4, w.w_ih, 1, input);
                ph.pack(hid, g4, w.w_hh, 1, hid);
            }
            self.step_packed_tiled = true;
        }
        self.step_gates.resize(b * g4, 0.0);
        self.step_out.resize(b * hid, 0.0);
        for l in 0..l_n {
            let input = cfg.layer_input(l);
            let gates = &mut self.step_gates;
            let hs = &mut h[l * b * hid..(l + 1) * b * hid];
            let cs = &mut c[l * b * hid..(l + 1) * b * hid];
            let xin: &[f32] = if l == 0 { x } else { &self.step_out };
            // Same two products, in the same order, as forward: x·W_ihᵀ, then += h·W_hhᵀ. For one
            // row they run as one product over [x, h], which gives the same bits (see gemm).
            if row {
                let xh = &mut self.step_xh;
                xh.clear();
                xh.extend_from_slice(xin);
                xh.extend_from_slice(hs);
                gemv_packed(xh, 1, &self.step_row_packs[l], gates, false);
            } else {
                let (pi, ph) = &self.step_packs[l];
                gemm_packed(b, xin, input, 1, pi, gates, g4, false, &mut self.ws);
                gemm_packed(b, hs, hid, 1, ph, gates, g4, true, &mut self.ws);
            }
            let bias = &self.step_bias[l * g4..(l + 1) * g4];
            for bi in 0..b {
                let row = bi * hid..(bi + 1) * hid;
                lstm_cell_forward(&mut gates[bi * g4..(bi + 1) * g4], bias, &mut cs[row.clone()], &mut hs[row.clone()], None, hid);
            }
            self.step_out.copy_from_slice(hs);
        }
        Ok(())
    }

    /// The output of the latest `step`: B×H.
    pub fn step_output(&self) -> &[f32] {
        &self.step_out
    }

    /// (T, B) of the latest forward, if any.
    pub fn last_dims(&self) -> Option<(usize, usize)> {
        self.acts.as_ref().map(|a| (a.t, a.b))
    }

    pub fn cell_offsets(&self) -> &[CellOffsets] {
        &self.cells
    }

    /// Bytes of wasm memory held by this network (parameters, gradients, activations, scratch).
    pub fn bytes(&self) -> usize {
        let floats = |vs: &[&Vec<f32>]| vs.iter().map(|v| v.capacity() * 4).sum::<usize>();
        let step = self.step_packs.iter().map(|(a, b)| a.bytes() + b.bytes()).sum::<usize>()
            + self.step_row_packs.iter().map(PackedB::bytes).sum::<usize>()
            + floats(&[&self.step_xh, &self.step_bias, &self.step_gates, &self.step_out]);
        floats(&[&self.params, &self.grads]) + self.arena.bytes() + self.pb_ih.bytes() + self.pb.bytes() + self.ws.bytes() + step
    }

    /// Lay out (and grow if needed) the activation arena for T ticks of B sequences.
    fn fit(&mut self, t: usize, b: usize, infer: bool, batch_first: bool) -> Result<()> {
        let same = matches!(&self.acts, Some(a) if a.t == t && a.b == b && a.infer == infer && a.batch_first == batch_first);
        if !same {
            // Refuse sizes whose layout would overflow before computing it.
            if layout_bound(&self.cfg, t, b, infer) > crate::error::MAX_FLOATS * 4 {
                let what = if infer { "an inference forward" } else { "a training forward (grad: false needs less)" };
                return Err(Error::Value(format!("LSTM.forward: T={} B={} needs more activation memory than wasm32 has for {}", t, b, what)));
            }
            let (acts, total) = Acts::new(&self.cfg, t, b, infer, batch_first);
            self.arena.fit(total)?;
            self.acts = Some(acts);
        }
        Ok(())
    }

    /// Pointer to one of the result buffers of the latest forward/backward, and its length.
    pub fn buffer(&self, which: LstmBuffer) -> Option<(*const f32, usize)> {
        let a = self.acts.as_ref()?;
        if a.infer && matches!(which, LstmBuffer::DInput | LstmBuffer::DH0 | LstmBuffer::DC0) {
            return None;
        }
        let r = match which {
            LstmBuffer::Output => {
                if a.batch_first {
                    a.out_user
                } else {
                    a.layer_out[self.cfg.num_layers - 1]
                }
            }
            LstmBuffer::LastOutput => a.last,
            LstmBuffer::HN => a.hn,
            LstmBuffer::CN => a.cn,
            LstmBuffer::DInput => {
                if a.batch_first {
                    a.dx_user
                } else {
                    a.dbuf[self.dx_buf_index()]
                        .sub(0, a.t * a.b * self.cfg.input_size)
                }
            }
            LstmBuffer::DH0 => a.dh0,
            LstmBuffer::DC0 => a.dc0,
        };
        Some((self.arena.ptr(r), r.len))
    }

    /// Backward ends with layer 0's input gradient in dbuf[L % 2]... see `backward`.
    fn dx_buf_index(&self) -> usize {
        // Layer L-1 writes its dX into dbuf[0], layer L-2 into dbuf[1], ...: layer 0 into dbuf[(L-1) % 2].
        (self.cfg.num_layers - 1) % 2
    }

    /// Forward over `x` ([T, B, I], or [B, T, I] when `batch_first`), from h0/c0 ([L·D, B, H]) or zeros.
    /// `lengths` (B values in 1..=T) marks each sequence's real ticks; later ticks are padding.
    /// Keeps the activations `backward` needs.
    pub fn forward(
        &mut self,
        x: &[f32],
        t: usize,
        b: usize,
        batch_first: bool,
        h0: Option<&[f32]>,
        c0: Option<&[f32]>,
        lengths: Option<&[i32]>,
    ) -> Result<()> {
        self.forward_keeping(Keep::ForBackward, x, t, b, batch_first, h0, c0, lengths)
    }

    /// `forward`, keeping the activations for `backward` or nothing. `Keep::Nothing` (inference)
    /// gives the same outputs, bit for bit, without T×B×6H floats per layer-direction: memory holds
    /// only each layer's output and a chunk of gates, and `backward` is refused until the next
    /// forward that keeps them.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_keeping(
        &mut self,
        keep: Keep,
        x: &[f32],
        t: usize,
        b: usize,
        batch_first: bool,
        h0: Option<&[f32]>,
        c0: Option<&[f32]>,
        lengths: Option<&[i32]>,
    ) -> Result<()> {
        let infer = keep == Keep::Nothing;
        let cfg = self.cfg;
        let (h, dirs, l_n) = (cfg.hidden_size, cfg.dirs(), cfg.num_layers);
        if t == 0 || b == 0 {
            return Err(Error::Shape(format!(
                "LSTM.forward: input must have at least one tick and one sequence, got T={} B={}",
                t, b
            )));
        }
        check_len("LSTM.forward: input", x.len(), t * b * cfg.input_size)?;
        check_finite("LSTM.forward: input", x)?;
        for (name, s) in [("h0", h0), ("c0", c0)] {
            if let Some(s) = s {
                check_len(&format!("LSTM.forward: {}", name), s.len(), l_n * dirs * b * h)?;
                check_finite(&format!("LSTM.forward: {}", name), s)?;
            }
        }
        if let Some(l) = lengths {
            check_len("LSTM.forward: lengths", l.len(), b)?;
            if let Some(i) = l.iter().position(|&v| v < 1 || v as usize > t) {
                return Err(Error::Value(format!("LSTM.forward: lengths[{}] is {}, expected 1..={} (the padded length T)", i, l[i], t)));
            }
        }
        self.fit(t, b, infer, batch_first)?;
        self.have_forward = false;
        self.has_lengths = lengths.is_some();
        self.lengths.clear();
        self.lengths.extend(lengths.unwrap_or(&[]).iter().map(|&v| v as usize));
        let a = self.acts.as_ref().unwrap();
        {
            let [xa, h0a, c0a] = self.arena.split([a.x, a.h0, a.c0]);
            if batch_first {
                transpose_rows(x, xa, b, t, cfg.input_size);
            } else {
                xa.copy_from_slice(x);
            }
            match h0 {
                Some(s) => h0a.copy_from_slice(s),
                None => h0a.fill(0.0),
            }
            match c0 {
                Some(s) => c0a.copy_from_slice(s),
                None => c0a.fill(0.0),
            }
        }
        let bh = b * h;
        let dh_w = dirs * h;
        for l in 0..l_n {
            let input = cfg.layer_input(l);
            let x_region = if l == 0 { a.x } else { a.layer_out[l - 1] };
            for d in 0..dirs {
                let k = l * dirs + d;
                let co = self.cells[k];
                let w = co.weights(&self.params);
                let y_region = a.layer_out[l].sub(d * h, t * b * dh_w - d * h);
                let [xs, h0s, c0s, hn, cn, y, gates, cells, tanh_c, bias] = self.arena.split([
                    x_region,
                    a.h0.sub(k * bh, bh),
                    a.c0.sub(k * bh, bh),
                    a.hn.sub(k * bh, bh),
                    a.cn.sub(k * bh, bh),
                    y_region,
                    a.gates[k],
                    a.cells[k],
                    a.tanh_c[k],
                    a.bias,
                ]);
                hn.copy_from_slice(h0s);
                cn.copy_from_slice(c0s);
                lstm_seq_forward(
                    SeqDims { t, b, i: input, h },
                    &w,
                    d == 1,
                    if self.has_lengths { Some(&self.lengths) } else { None },
                    xs,
                    hn,
                    cn,
                    y,
                    dh_w,
                    if a.infer {
                        ForwardStore::Scratch { gates, chunk: a.chunk }
                    } else {
                        ForwardStore::Cache(CellCache { gates, cells, tanh_c })
                    },
                    bias,
                    &mut self.pb_ih,
                    &mut self.pb,
                    &mut self.ws,
                );
            }
        }
        if batch_first {
            let [top, out] = self.arena.split([a.layer_out[l_n - 1], a.out_user]);
            transpose_rows(top, out, t, b, dh_w);
        }
        {
            let [hn, last] = self.arena.split([a.hn, a.last]);
            for d in 0..dirs {
                let k = (l_n - 1) * dirs + d;
                for bi in 0..b {
                    last[bi * dh_w + d * h..bi * dh_w + (d + 1) * h].copy_from_slice(&hn[(k * b + bi) * h..(k * b + bi + 1) * h]);
                }
            }
        }
        self.have_forward = !infer;
        Ok(())
    }

    /// Backward through time for the latest forward. `dy` is dL/doutput in the forward's layout
    /// (`DyIn::Sequence`), or dL/d(last output) [B, D·H] (`DyIn::Last`);
    /// `dhn`, `dcn` ([L·D, B, H]) are dL/dh_N, dL/dc_N, or zeros when absent.
    /// Parameter gradients are *added* to `grads` (call `zero_grad` first for a fresh gradient).
    /// With `zero_first`, gradients are reset (after the arguments are validated) instead of added to.
    /// Without `need_dx` the input gradient of layer 0 is not computed (it would be thrown away when
    /// the input is data), and `buffer(DInput)` is then stale.
    pub fn backward(&mut self, dy_in: DyIn, dhn: Option<&[f32]>, dcn: Option<&[f32]>, zero_first: bool, need_dx: bool) -> Result<()> {
        if !self.have_forward {
            return Err(Error::State(
                "LSTM.backward: call forward first (backward needs its activations; an inference forward does not keep them)".into(),
            ));
        }
        let cfg = self.cfg;
        let (h, dirs, l_n) = (cfg.hidden_size, cfg.dirs(), cfg.num_layers);
        let a = self.acts.as_ref().unwrap();
        let (t, b) = (a.t, a.b);
        let (bh, dh_w) = (b * h, dirs * h);
        let dy = match dy_in {
            DyIn::Sequence(dy) => {
                check_len("LSTM.backward: dOutput", dy.len(), t * b * dh_w)?;
                dy
            }
            DyIn::Last(dl) => {
                check_len("LSTM.backward: dOutput (last tick)", dl.len(), b * dh_w)?;
                dl
            }
        };
        check_finite("LSTM.backward: dOutput", dy)?;
        for (name, s) in [("dHN", dhn), ("dCN", dcn)] {
            if let Some(s) = s {
                check_len(&format!("LSTM.backward: {}", name), s.len(), l_n * dirs * bh)?;
                check_finite(&format!("LSTM.backward: {}", name), s)?;
            }
        }
        if zero_first {
            self.grads.fill(0.0);
        }
        {
            let [dya, dh0, dc0] = self.arena.split([a.dy, a.dh0, a.dc0]);
            // dh0/dc0 start as dL/dh_N, dL/dc_N and are walked back to tick 0 in place.
            match dhn {
                Some(s) => dh0.copy_from_slice(s),
                None => dh0.fill(0.0),
            }
            match dy_in {
                DyIn::Sequence(_) if a.batch_first => transpose_rows(dy, dya, b, t, dh_w),
                DyIn::Sequence(_) => dya.copy_from_slice(dy),
                DyIn::Last(dl) => {
                    // The last output is the top layer's h_N: its gradient joins dL/dh_N there.
                    dya.fill(0.0);
                    for d in 0..dirs {
                        let k = (l_n - 1) * dirs + d;
                        for bi in 0..b {
                            let dst = &mut dh0[(k * b + bi) * h..(k * b + bi + 1) * h];
                            for (x, g) in dst.iter_mut().zip(&dl[bi * dh_w + d * h..bi * dh_w + (d + 1) * h]) {
                                *x += *g;
                            }
                        }
                    }
                }
            }
            match dcn {
                Some(s) => dc0.copy_from_slice(s),
                None => dc0.fill(0.0),
            }
        }
        let mut d_out = a.dy;
        for l in (0..l_n).rev() {
            let input = cfg.layer_input(l);
            let x_region = if l == 0 { a.x } else { a.layer_out[l - 1] };
            let d_in = a.dbuf[(l_n - 1 - l) % 2].sub(0, t * b * input);
            let want_dx = l > 0 || need_dx;
            for d in 0..dirs {
                let k = l * dirs + d;
                let co = self.cells[k];
                let w = co.weights(&self.params);
                let (gw_ih, rest) = self.grads[co.w_ih.off..].split_at_mut(co.w_ih.len);
                let (gw_hh, rest) = rest.split_at_mut(co.w_hh.len);
                let (gb_ih, rest) = rest.split_at_mut(co.b_ih.len);
                let gb_hh = &mut rest[..co.b_hh.len];
                let dy_region = d_out.sub(d * h, t * b * dh_w - d * h);
                let y_region = a.layer_out[l].sub(d * h, t * b * dh_w - d * h);
                let [xs, h0s, c0s, gates, cells, tanh_c, ys, dys, dh, dc, da, dx, dh_scratch] = self.arena.split([
                    x_region,
                    a.h0.sub(k * bh, bh),
                    a.c0.sub(k * bh, bh),
                    a.gates[k],
                    a.cells[k],
                    a.tanh_c[k],
                    y_region,
                    dy_region,
                    a.dh0.sub(k * bh, bh),
                    a.dc0.sub(k * bh, bh),
                    a.da,
                    d_in,
                    a.dh_scratch,
                ]);
                lstm_seq_backward(
                    SeqDims { t, b, i: input, h },
                    &w,
                    d == 1,
                    if self.has_lengths { Some(&self.lengths) } else { None },
                    dh_scratch,
                    xs,
                    c0s,
                    gates,
                    cells,
                    tanh_c,
                    h0s,
                    ys,
                    dh_w,
                    dys,
                    dh,
                    dc,
                    da,
                    // The first direction writes dX, the second adds to it.
                    if want_dx { Some((dx, d == 1)) } else { None },
                    CellGrads { dw_ih: gw_ih, dw_hh: gw_hh, db_ih: gb_ih, db_hh: gb_hh },
                    &mut self.pb,
                    &mut self.ws,
                );
            }
            d_out = d_in;
        }
        if a.batch_first {
            let [dx_tm, dx_user] = self.arena.split([d_out, a.dx_user]);
            transpose_rows(dx_tm, dx_user, t, b, cfg.input_size);
        }
        Ok(())
    }

    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    /// Whether the byte range [addr, addr + bytes) overlaps memory this object owns; inputs given
    /// by address must not, since the call writes that memory while reading the input.
    pub fn owns(&self, addr: usize, bytes: usize) -> bool {
        self.arena.overlaps(addr, bytes)
            || [&self.params, &self.grads, &self.step_gates, &self.step_out].iter().any(|v| touches(v, addr, bytes))
    }
}

#[cfg(test)]
mod tests {
    //! Native checks of the stack against a plain f64 reference written from the equations above,
    //! and of backward against central differences of that reference.
    use super::*;
    use crate::error::MAX_FLOATS;

    struct Case {
        cfg: LstmConfig,
        t: usize,
        b: usize,
    }

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// f64 reference forward of the whole stack from a flat parameter block; returns
    /// (output T×B×DH, hN, cN) in time-major layout.
    fn reference(cfg: &LstmConfig, p: &[f64], x: &[f64], h0: &[f64], c0: &[f64], t_n: usize, b_n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (cells, _) = cfg.param_layout();
        let (h, dirs) = (cfg.hidden_size, cfg.dirs());
        let mut input = x.to_vec();
        let mut hn = vec![0.0; cfg.num_layers * dirs * b_n * h];
        let mut cn = hn.clone();
        for l in 0..cfg.num_layers {
            let inp = cfg.layer_input(l);
            let mut out = vec![0.0; t_n * b_n * dirs * h];
            for d in 0..dirs {
                let k = l * dirs + d;
                let co = cells[k];
                let w = |r: Region, i: usize| p[r.off + i];
                for bi in 0..b_n {
                    let mut hs: Vec<f64> = h0[(k * b_n + bi) * h..(k * b_n + bi + 1) * h].to_vec();
                    let mut cs: Vec<f64> = c0[(k * b_n + bi) * h..(k * b_n + bi + 1) * h].to_vec();
                    for step in 0..t_n {
                        let t = if d == 1 { t_n - 1 - step } else { step };
                        let xt = &input[(t * b_n + bi) * inp..(t * b_n + bi + 1) * inp];
                        let mut a = vec![0.0; 4 * h];
                        for (g, av) in a.iter_mut().enumerate() {
                            let mut s = w(co.b_ih, g) + w(co.b_hh, g);
                            for j in 0..inp {
                                s += w(co.w_ih, g * inp + j) * xt[j];
                            }
                            for j in 0..h {
                                s += w(co.w_hh, g * h + j) * hs[j];
                            }
                            *av = s;
                        }
                        for j in 0..h {
                            let (i, f, g, o) = (sig(a[j]), sig(a[h + j]), a[2 * h + j].tanh(), sig(a[3 * h + j]));
                            cs[j] = f * cs[j] + i * g;
                            hs[j] = o * cs[j].tanh();
                            out[(t * b_n + bi) * dirs * h + d * h + j] = hs[j];
                        }
                    }
                    hn[(k * b_n + bi) * h..(k * b_n + bi + 1) * h].copy_from_slice(&hs);
                    cn[(k * b_n + bi) * h..(k * b_n + bi + 1) * h].copy_from_slice(&cs);
                }
            }
            input = out;
        }
        (input, hn, cn)
    }

    fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut v = vec![0.0; n];
        Pcg32::new(seed).fill_uniform(&mut v, scale);
        v
    }

    fn to64(v: &[f32]) -> Vec<f64> {
        v.iter().map(|x| *x as f64).collect()
    }

    fn read(l: &Lstm, which: LstmBuffer) -> Vec<f32> {
        let (p, n) = l.buffer(which).unwrap();
        // SAFETY: the buffer belongs to `l`, which outlives this copy.
        unsafe { std::slice::from_raw_parts(p, n) }.to_vec()
    }

    fn cases() -> Vec<Case> {
        let c = |i, h, l, bi, t, b| Case { cfg: LstmConfig { input_size: i, hidden_size: h, num_layers: l, bidirectional: bi }, t, b };
        vec![c(3, 4, 1, false, 5, 2), c(2, 3, 2, true, 4, 3), c(5, 9, 3, false, 3, 1), c(4, 5, 2, true, 6, 2)]
    }

    #[test]
    fn forward_matches_f64_reference() {
        for case in cases() {
            let cfg = case.cfg;
            let mut l = Lstm::new(cfg, 11).unwrap();
            let sn = cfg.num_layers * cfg.dirs() * case.b * cfg.hidden_size;
            let x = data(case.t * case.b * cfg.input_size, 1, 1.0);
            let (h0, c0) = (data(sn, 2, 0.5), data(sn, 3, 0.5));
            l.forward(&x, case.t, case.b, false, Some(&h0), Some(&c0), None).unwrap();
            let (out, hn, cn) = reference(&cfg, &to64(&l.params), &to64(&x), &to64(&h0), &to64(&c0), case.t, case.b);
            for (name, got, want) in [("output", read(&l, LstmBuffer::Output), out), ("hN", read(&l, LstmBuffer::HN), hn), ("cN", read(&l, LstmBuffer::CN), cn)] {
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((*g as f64 - w).abs() < 2e-6, "{:?} {} [{}]: {} vs {}", cfg, name, i, g, w);
                }
            }
        }
    }

    #[test]
    fn batch_first_is_a_transpose_of_time_major() {
        let cfg = LstmConfig { input_size: 3, hidden_size: 4, num_layers: 2, bidirectional: true };
        let (t, b) = (5, 3);
        let x = data(t * b * 3, 5, 1.0);
        let mut xb = vec![0.0; x.len()];
        transpose_rows(&x, &mut xb, t, b, 3);
        let mut tm = Lstm::new(cfg, 3).unwrap();
        let mut bf = Lstm::new(cfg, 3).unwrap();
        tm.forward(&x, t, b, false, None, None, None).unwrap();
        bf.forward(&xb, t, b, true, None, None, None).unwrap();
        let mut expect = vec![0.0; t * b * 8];
        transpose_rows(&read(&tm, LstmBuffer::Output), &mut expect, t, b, 8);
        assert_eq!(read(&bf, LstmBuffer::Output), expect);
        let dy = data(t * b * 8, 6, 1.0);
        let mut dyb = vec![0.0; dy.len()];
        transpose_rows(&dy, &mut dyb, t, b, 8);
        tm.backward(DyIn::Sequence(&dy), None, None, false, true).unwrap();
        bf.backward(DyIn::Sequence(&dyb), None, None, false, true).unwrap();
        assert_eq!(tm.grads, bf.grads);
        let mut dx = vec![0.0; x.len()];
        transpose_rows(&read(&tm, LstmBuffer::DInput), &mut dx, t, b, 3);
        assert_eq!(read(&bf, LstmBuffer::DInput), dx);
    }

    #[test]
    fn inference_forward_gives_training_forwards_bits_with_less_memory() {
        let l = |i, h, n, bi| LstmConfig { input_size: i, hidden_size: h, num_layers: n, bidirectional: bi };
        // (config, T, B, batch_first, lengths): B = 64 makes chunks of 8 ticks, so T = 21 ends in a
        // partial chunk, and a reverse direction walks the chunks from the end.
        let runs: Vec<(LstmConfig, usize, usize, bool, Option<Vec<i32>>)> = vec![
            (l(3, 5, 1, false), 21, 64, false, None),
            (l(3, 5, 3, true), 21, 64, true, None),
            (l(4, 6, 2, true), 9, 3, false, Some(vec![9, 4, 1])),
            (l(2, 7, 2, false), 600, 1, false, None),
        ];
        for (cfg, t, b, batch_first, lengths) in runs {
            let sn = cfg.num_layers * cfg.dirs() * b * cfg.hidden_size;
            let x = data(t * b * cfg.input_size, 8, 1.0);
            let (h0, c0) = (data(sn, 9, 0.5), data(sn, 10, 0.5));
            let lengths = lengths.as_deref();
            let mut train = Lstm::new(cfg, 4).unwrap();
            let mut infer = Lstm::new(cfg, 4).unwrap();
            train.forward(&x, t, b, batch_first, Some(&h0), Some(&c0), lengths).unwrap();
            infer.forward_keeping(Keep::Nothing, &x, t, b, batch_first, Some(&h0), Some(&c0), lengths).unwrap();
            for which in [LstmBuffer::Output, LstmBuffer::LastOutput, LstmBuffer::HN, LstmBuffer::CN] {
                assert_eq!(read(&train, which), read(&infer, which), "{:?} T={} B={} {:?}", cfg, t, b, which);
            }
            assert!(infer.buffer(LstmBuffer::DInput).is_none());
            let dy = data(t * b * cfg.dirs() * cfg.hidden_size, 11, 1.0);
            let e = infer.backward(DyIn::Sequence(&dy), None, None, true, true).unwrap_err();
            assert!(e.message().contains("inference forward"), "{}", e.message());
            // Inference keeps no c_t or tanh(c_t) (and no backward buffers); its gate scratch is
            // at most training's gate cache.
            let caches = 4 * cfg.num_layers * cfg.dirs() * t * b * 2 * cfg.hidden_size;
            assert!(
                infer.bytes() + caches <= train.bytes(),
                "{:?} T={} B={}: inference holds {} bytes, training {}",
                cfg,
                t,
                b,
                infer.bytes(),
                train.bytes()
            );
            // A training forward after it allows backward again, with the training run's gradient.
            infer.forward(&x, t, b, batch_first, Some(&h0), Some(&c0), lengths).unwrap();
            infer.backward(DyIn::Sequence(&dy), None, None, true, true).unwrap();
            train.backward(DyIn::Sequence(&dy), None, None, true, true).unwrap();
            assert_eq!(infer.grads, train.grads);
        }
    }

    /// L = Σ output·r + Σ hN·rh + Σ cN·rc, in f64 through the reference.
    fn loss(cfg: &LstmConfig, p: &[f64], x: &[f64], h0: &[f64], c0: &[f64], case: &Case, r: &[f64], rh: &[f64], rc: &[f64]) -> f64 {
        let (o, hn, cn) = reference(cfg, p, x, h0, c0, case.t, case.b);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
        dot(&o, r) + dot(&hn, rh) + dot(&cn, rc)
    }

    #[test]
    fn backward_matches_finite_differences_of_reference() {
        for case in cases() {
            let cfg = case.cfg;
            let mut l = Lstm::new(cfg, 21).unwrap();
            let sn = cfg.num_layers * cfg.dirs() * case.b * cfg.hidden_size;
            let on = case.t * case.b * cfg.dirs() * cfg.hidden_size;
            let x = data(case.t * case.b * cfg.input_size, 7, 1.0);
            let (h0, c0) = (data(sn, 8, 0.5), data(sn, 9, 0.5));
            let (r, rh, rc) = (data(on, 10, 1.0), data(sn, 11, 1.0), data(sn, 12, 1.0));
            l.forward(&x, case.t, case.b, false, Some(&h0), Some(&c0), None).unwrap();
            l.zero_grad();
            l.backward(DyIn::Sequence(&r), Some(&rh), Some(&rc), false, true).unwrap();
            let (p64, x64, h64, c64) = (to64(&l.params), to64(&x), to64(&h0), to64(&c0));
            let (r64, rh64, rc64) = (to64(&r), to64(&rh), to64(&rc));
            let eps = 1e-6;
            let check = |name: &str, analytic: &[f32], base: &[f64], which: usize| {
                for i in 0..base.len() {
                    let mut plus = base.to_vec();
                    let mut minus = base.to_vec();
                    plus[i] += eps;
                    minus[i] -= eps;
                    let args = |v: Vec<f64>| match which {
                        0 => loss(&cfg, &v, &x64, &h64, &c64, &case, &r64, &rh64, &rc64),
                        1 => loss(&cfg, &p64, &v, &h64, &c64, &case, &r64, &rh64, &rc64),
                        2 => loss(&cfg, &p64, &x64, &v, &c64, &case, &r64, &rh64, &rc64),
                        _ => loss(&cfg, &p64, &x64, &h64, &v, &case, &r64, &rh64, &rc64),
                    };
                    let fd = (args(plus) - args(minus)) / (2.0 * eps);
                    let a = analytic[i] as f64;
                    assert!((a - fd).abs() <= 1e-5 + 1e-4 * fd.abs(), "{:?} d{}[{}]: analytic {} vs finite difference {}", cfg, name, i, a, fd);
                }
            };
            check("params", &l.grads, &p64, 0);
            check("x", &read(&l, LstmBuffer::DInput), &x64, 1);
            check("h0", &read(&l, LstmBuffer::DH0), &h64, 2);
            check("c0", &read(&l, LstmBuffer::DC0), &c64, 3);
        }
    }

    #[test]
    fn layout_bound_covers_the_layout_and_lets_inference_go_further() {
        for (cfg, t, b) in [
            (LstmConfig { input_size: 3, hidden_size: 5, num_layers: 2, bidirectional: true }, 7, 4),
            (LstmConfig { input_size: 40, hidden_size: 8, num_layers: 1, bidirectional: false }, 600, 1),
            (LstmConfig { input_size: 1, hidden_size: 16, num_layers: 3, bidirectional: false }, 3, 700),
        ] {
            for bf in [false, true] {
                for infer in [false, true] {
                    let (_, total) = Acts::new(&cfg, t, b, infer, bf);
                    assert!(total as u64 <= layout_bound(&cfg, t, b, infer), "{:?} T={} B={} infer={} bf={}", cfg, t, b, infer, bf);
                }
            }
        }
        // One layer of 1024 units, 137 ticks of 256 sequences: 4 GiB is too little for training
        // caches, not for inference.
        let big = LstmConfig { input_size: 1, hidden_size: 1024, num_layers: 1, bidirectional: false };
        assert!(layout_bound(&big, 137, 256, false) > MAX_FLOATS * 4);
        assert!(layout_bound(&big, 137, 256, true) < MAX_FLOATS * 4 / 8);
    }

    #[test]
    fn stepping_equals_forward_bit_for_bit() {
        // Batch 1 takes the row-vector kernels (blocks of 24, 16 and 8 columns for 4H = 28, 40,
        // 52), batch 2 the tiled ones; one network steps at both sizes in turn.
        for hid in [7usize, 8, 10, 12, 13, 32] {
            let cfg = LstmConfig { input_size: 5, hidden_size: hid, num_layers: 3, bidirectional: false };
            let mut l = Lstm::new(cfg, 4).unwrap();
            for b in [2usize, 1, 2, 1] {
                let t = 6;
                let x = data(t * b * 5, 31, 1.0);
                let sn = 3 * b * hid;
                let (h0, c0) = (data(sn, 32, 0.5), data(sn, 33, 0.5));
                l.forward(&x, t, b, false, Some(&h0), Some(&c0), None).unwrap();
                let out = read(&l, LstmBuffer::Output);
                let (mut h, mut c) = (h0.clone(), c0.clone());
                for tick in 0..t {
                    l.step(&x[tick * b * 5..(tick + 1) * b * 5], b, &mut h, &mut c, 1).unwrap();
                    assert_eq!(l.step_output(), &out[tick * b * hid..(tick + 1) * b * hid], "hidden {} batch {} tick {}", hid, b, tick);
                }
                assert_eq!(h, read(&l, LstmBuffer::HN));
                assert_eq!(c, read(&l, LstmBuffer::CN));
            }
        }
        let cfg = LstmConfig { input_size: 5, hidden_size: 7, num_layers: 3, bidirectional: false };
        let x = data(10, 31, 1.0);
        let bi = Lstm::new(LstmConfig { bidirectional: true, ..cfg }, 1);
        assert!(bi.unwrap().step(&x[..10], 2, &mut vec![0.0; 84], &mut vec![0.0; 84], 0).is_err());
    }

    #[test]
    fn errors_name_the_argument_and_leave_state_usable() {
        let cfg = LstmConfig { input_size: 3, hidden_size: 2, num_layers: 1, bidirectional: false };
        let mut l = Lstm::new(cfg, 1).unwrap();
        assert!(matches!(l.backward(DyIn::Sequence(&[0.0; 4]), None, None, true, true), Err(Error::State(_))));
        let e = l.forward(&[0.0; 5], 1, 2, false, None, None, None).unwrap_err();
        assert_eq!(e.message(), "LSTM.forward: input: expected 6 values, got 5");
        let mut x = vec![0.5; 6];
        x[4] = f32::NAN;
        assert!(l.forward(&x, 1, 2, false, None, None, None).unwrap_err().message().contains("element 4 is NaN"));
        x[4] = 0.5;
        l.forward(&x, 1, 2, false, None, None, None).unwrap();
        assert!(Lstm::new(LstmConfig { hidden_size: 0, ..cfg }, 1).is_err());
    }
}
