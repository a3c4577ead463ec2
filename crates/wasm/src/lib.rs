//! The extern "C" ABI of lstm-wasm: the only place where pointers, handles and status codes exist.
//!
//! Conventions
//! - Every fallible export returns an `i32` status: 0 ok, 1 shape, 2 value, 3 state, 4 bad handle,
//!   5 bad pointer. On a non-zero status `lstmw_last_error_ptr/len` hold a UTF-8 message.
//! - Objects live in per-kind slabs and are named by handles (index + 1; 0 is never a handle).
//! - Inputs are given as addresses of f32 (or i32) arrays in linear memory; an address of 0 means
//!   "absent" where an argument is optional. Lengths follow from the object's shape and the call's
//!   dimensions, and each range is checked against the memory's size.
//! - Results stay in the object's own memory; `*_buffer` returns their address. Any call that may
//!   allocate can grow memory, so the caller re-creates its views after each call.
//! - Nothing panics across the boundary: arguments are validated before they reach the core.

use lstm_core::dense::{Dense, DenseBuffer};
use lstm_core::dropout::Dropout;
use lstm_core::embedding::{Embedding, Ids};
use lstm_core::optim::{Clip, Optimizer, Rule};
use lstm_core::error::Error;
use lstm_core::gemm::{gemm, gemm_ref, micro_kernel, set_micro_kernel, GemmWorkspace, MicroKernel};
use lstm_core::loss::{mse_masked, softmax_cross_entropy_stats};
use lstm_core::lstm::{DyIn, Keep, Lstm, LstmBuffer, LstmConfig};
use std::cell::RefCell;

const OK: i32 = 0;
const BAD_HANDLE: i32 = 4;
const BAD_POINTER: i32 = 5;

struct State {
    lstms: Vec<Option<Box<Lstm>>>,
    denses: Vec<Option<Box<Dense>>>,
    embeddings: Vec<Option<Box<Embedding>>>,
    dropouts: Vec<Option<Box<Dropout>>>,
    optimizers: Vec<Option<Box<OptimizerSlot>>>,
    ws: GemmWorkspace,
    /// Version of all parameters: bumped by every optimizer step and every write the facade
    /// reports, so cached packed weights (streaming) know when to rebuild.
    param_epoch: u64,
}

/// An optimizer plus the addresses of the (params, grads) blocks it updates, registered by the facade.
struct OptimizerSlot {
    opt: Optimizer,
    blocks: Vec<(usize, usize)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        lstms: Vec::new(),
        denses: Vec::new(),
        embeddings: Vec::new(),
        dropouts: Vec::new(),
        optimizers: Vec::new(),
        ws: GemmWorkspace::new(),
        param_epoch: 0,
    });
    // Kept apart from STATE so that an error can be recorded while an object is borrowed.
    static LAST_ERROR: RefCell<String> = RefCell::new(String::new());
    // Set by an optimizer step (which runs while STATE is borrowed); folded into param_epoch after.
    static PARAMS_STEPPED: std::cell::Cell<bool> = std::cell::Cell::new(false);
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

fn fail(status: i32, msg: String) -> i32 {
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
    status
}

fn report(r: Result<(), Error>) -> i32 {
    match r {
        Ok(()) => OK,
        Err(e) => fail(e.status(), e.message().to_string()),
    }
}

/// Size of linear memory in bytes (unbounded natively, where only tests call these functions).
fn memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) * 65536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        usize::MAX
    }
}

/// A slice of `len` elements at address `ptr`, after checking alignment and bounds.
/// Address 0 with `optional` gives `Ok(None)`.
fn slice_at<'a, T>(what: &str, ptr: usize, len: usize, optional: bool) -> Result<Option<&'a [T]>, i32> {
    if ptr == 0 {
        if optional {
            return Ok(None);
        }
        return Err(fail(BAD_POINTER, format!("{}: missing (address 0)", what)));
    }
    let size = std::mem::size_of::<T>();
    let end = len.checked_mul(size).and_then(|b| b.checked_add(ptr));
    match end {
        Some(end) if ptr % size == 0 && end <= memory_bytes() => {
            // SAFETY: aligned, inside linear memory, and T is a plain number type (f32 or i32), so
            // every bit pattern is a valid value. Callers check it does not overlap what they write.
            Ok(Some(unsafe { std::slice::from_raw_parts(ptr as *const T, len) }))
        }
        _ => Err(fail(
            BAD_POINTER,
            format!("{}: address {} with {} elements is misaligned or outside memory", what, ptr, len),
        )),
    }
}

fn slice_mut_at<'a, T>(what: &str, ptr: usize, len: usize) -> Result<&'a mut [T], i32> {
    let s: &[T] = slice_at(what, ptr, len, false)?.unwrap();
    // SAFETY: as in `slice_at`; the caller passes output buffers it owns and does not alias them.
    Ok(unsafe { std::slice::from_raw_parts_mut(s.as_ptr() as *mut T, len) })
}

macro_rules! try_status {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(status) => return status,
        }
    };
}

fn slab_insert<T>(slab: &mut Vec<Option<Box<T>>>, v: T) -> u32 {
    match slab.iter().position(|s| s.is_none()) {
        Some(i) => {
            slab[i] = Some(Box::new(v));
            i as u32 + 1
        }
        None => {
            slab.push(Some(Box::new(v)));
            slab.len() as u32
        }
    }
}

fn slab_free<T>(slab: &mut [Option<Box<T>>], h: u32) -> i32 {
    match slab.get_mut((h as usize).wrapping_sub(1)) {
        Some(slot @ Some(_)) => {
            *slot = None;
            OK
        }
        _ => dead_handle(h),
    }
}

/// The status and message for freeing a handle that is not live (one copy for every kind).
#[inline(never)]
fn dead_handle(h: u32) -> i32 {
    fail(BAD_HANDLE, format!("free: handle {} is not live (freed already?)", h))
}

/// Whether byte ranges [p, p + plen) and [q, q + qlen) share a byte.
fn ranges_overlap(p: usize, plen: usize, q: usize, qlen: usize) -> bool {
    plen > 0 && qlen > 0 && p < q + qlen && q < p + plen
}

/// A status when an output range (bytes) overlaps any of the input ranges.
fn check_outputs(what: &str, outputs: &[(usize, usize)], inputs: &[(usize, usize)]) -> Result<(), i32> {
    for (i, &(o, olen)) in outputs.iter().enumerate() {
        let clash = inputs.iter().chain(&outputs[..i]).any(|&(p, plen)| ranges_overlap(o, olen, p, plen));
        if clash {
            return Err(fail(BAD_POINTER, format!("{}: an output buffer overlaps an input or another output", what)));
        }
    }
    Ok(())
}

/// `a·b` as a length in floats, or a status: the product must not wrap (wasm32's usize is 32
/// bits) nor exceed what one buffer may hold.
fn count(what: &str, a: usize, b: usize) -> Result<usize, i32> {
    match a.checked_mul(b) {
        Some(n) if (n as u64) <= lstm_core::error::MAX_FLOATS => Ok(n),
        _ => Err(fail(2, format!("{}: {}×{} values is more than one buffer may hold", what, a, b))),
    }
}

fn slab_get<T>(slab: &mut [Option<Box<T>>], h: u32) -> Option<&mut T> {
    if h == 0 {
        return None;
    }
    slab.get_mut(h as usize - 1).and_then(|s| s.as_deref_mut())
}

// ---------------------------------------------------------------------------------------------
// Errors, memory, build facts

#[no_mangle]
pub extern "C" fn lstmw_last_error_ptr() -> *const u8 {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

#[no_mangle]
pub extern "C" fn lstmw_last_error_len() -> usize {
    LAST_ERROR.with(|e| e.borrow().len())
}

/// 16-byte aligned allocation of `bytes` (at least 1), or 0 when memory cannot grow.
#[no_mangle]
pub extern "C" fn lstmw_alloc(bytes: usize) -> usize {
    match std::alloc::Layout::from_size_align(bytes.max(1), 16) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { std::alloc::alloc_zeroed(layout) as usize },
        Err(_) => 0,
    }
}

/// Free an allocation made by `lstmw_alloc` with the same `bytes`.
#[no_mangle]
pub extern "C" fn lstmw_free(ptr: usize, bytes: usize) {
    if ptr != 0 {
        if let Ok(layout) = std::alloc::Layout::from_size_align(bytes.max(1), 16) {
            // SAFETY: the facade frees only pointers it got from `lstmw_alloc` with their size.
            unsafe { std::alloc::dealloc(ptr as *mut u8, layout) }
        }
    }
}

/// 1 if this module was built with SIMD128 kernels, 0 for the scalar build.
#[no_mangle]
pub extern "C" fn lstmw_simd() -> i32 {
    cfg!(target_feature = "simd128") as i32
}

/// Choose the GEMM micro-kernel: 0 = splat loads, 1 = shuffled splats (the same bits; see
/// `lstm_core::gemm::MicroKernel`). Returns 0, or 1 with a message for another value.
#[no_mangle]
pub extern "C" fn lstmw_gemm_set_kernel(kind: u32) -> i32 {
    let kernel = match kind {
        0 => MicroKernel::SplatLoads,
        1 => MicroKernel::ShuffledSplats,
        _ => return fail(1, format!("gemm_set_kernel: kind must be 0 (splat loads) or 1 (shuffled splats), got {}", kind)),
    };
    set_micro_kernel(kernel);
    0
}

/// The GEMM micro-kernel in use: 0 = splat loads, 1 = shuffled splats.
#[no_mangle]
pub extern "C" fn lstmw_gemm_kernel() -> u32 {
    (micro_kernel() == MicroKernel::ShuffledSplats) as u32
}

/// The facade wrote parameters (loadStateDict): cached packed weights must be rebuilt.
#[no_mangle]
pub extern "C" fn lstmw_params_changed() {
    with_state(|s| s.param_epoch += 1);
}

/// Live objects (all kinds), for leak tests.
#[no_mangle]
pub extern "C" fn lstmw_live_objects() -> u32 {
    with_state(|s| {
        (s.lstms.iter().filter(|x| x.is_some()).count()
            + s.denses.iter().filter(|x| x.is_some()).count()
            + s.embeddings.iter().filter(|x| x.is_some()).count()
            + s.dropouts.iter().filter(|x| x.is_some()).count()
            + s.optimizers.iter().filter(|x| x.is_some()).count()) as u32
    })
}

// ---------------------------------------------------------------------------------------------
// LSTM

/// A new LSTM stack, initialised from `seed`. Returns a handle, or 0 with the last error set.
#[no_mangle]
pub extern "C" fn lstmw_lstm_new(input: u32, hidden: u32, layers: u32, bidirectional: u32, seed_lo: u32, seed_hi: u32) -> u32 {
    let cfg = LstmConfig {
        input_size: input as usize,
        hidden_size: hidden as usize,
        num_layers: layers as usize,
        bidirectional: bidirectional != 0,
    };
    match Lstm::new(cfg, (seed_hi as u64) << 32 | seed_lo as u64) {
        Ok(l) => with_state(|s| slab_insert(&mut s.lstms, l)),
        Err(e) => {
            fail(e.status(), e.message().to_string());
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn lstmw_lstm_free(h: u32) -> i32 {
    with_state(|s| slab_free(&mut s.lstms, h))
}

fn with_lstm(h: u32, f: impl FnOnce(&mut Lstm) -> i32) -> i32 {
    with_state(|s| match slab_get(&mut s.lstms, h) {
        Some(l) => f(l),
        None => fail(BAD_HANDLE, format!("LSTM handle {} is not live (disposed?)", h)),
    })
}

/// Address of the parameter block (state_dict order), or 0.
#[no_mangle]
pub extern "C" fn lstmw_lstm_params(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.lstms, h).map_or(0, |l| l.params.as_ptr() as usize))
}

/// Address of the gradient block (same layout as the parameters), or 0.
#[no_mangle]
pub extern "C" fn lstmw_lstm_grads(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.lstms, h).map_or(0, |l| l.grads.as_ptr() as usize))
}

#[no_mangle]
pub extern "C" fn lstmw_lstm_param_count(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.lstms, h).map_or(0, |l| l.params.len()))
}

#[no_mangle]
pub extern "C" fn lstmw_lstm_bytes(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.lstms, h).map_or(0, |l| l.bytes()))
}


/// Forward over x at `x_ptr` ([T,B,I], or [B,T,I] with flag bit 0); h0/c0 at their addresses or 0;
/// `lengths_ptr`: B i32 real lengths, or 0 when every sequence fills all T ticks.
/// `flags`: bit 0 batch-first; bit 1 inference (keep nothing for backward).
#[no_mangle]
pub extern "C" fn lstmw_lstm_forward(h: u32, x_ptr: usize, t: u32, b: u32, flags: u32, h0_ptr: usize, c0_ptr: usize, lengths_ptr: usize) -> i32 {
    with_lstm(h, |l| {
        let cfg = l.cfg;
        let (t, b) = (t as usize, b as usize);
        let state_len = cfg.num_layers * cfg.dirs() * b * cfg.hidden_size;
        let x_len = t * b * cfg.input_size;
        let x: &[f32] = try_status!(slice_at("LSTM.forward: input", x_ptr, x_len, false)).unwrap();
        let h0 = try_status!(slice_at::<f32>("LSTM.forward: h0", h0_ptr, state_len, true));
        let c0 = try_status!(slice_at::<f32>("LSTM.forward: c0", c0_ptr, state_len, true));
        let lengths = try_status!(slice_at::<i32>("LSTM.forward: lengths", lengths_ptr, b, true));
        for (name, p, n) in [("input", x_ptr, x_len), ("h0", h0_ptr, state_len), ("c0", c0_ptr, state_len), ("lengths", lengths_ptr, b)] {
            if p != 0 && l.owns(p, n * 4) {
                return fail(BAD_POINTER, format!("LSTM.forward: {} overlaps the layer's own memory", name));
            }
        }
        let batch_first = flags & 1 != 0;
        let keep = if flags & 2 != 0 { Keep::Nothing } else { Keep::ForBackward };
        report(l.forward_keeping(keep, x, t, b, batch_first, h0, c0, lengths))
    })
}

/// Backward for the latest forward; dOutput at `dy_ptr` in the forward's layout, dHN/dCN or 0.
/// `flags`: bit 0 resets the gradients first (after validation); bit 1 means dOutput is the
/// gradient of the last output [B, D·H] rather than of the whole sequence; bit 2 skips the input
/// gradient (the layer reads data, not another layer).
#[no_mangle]
pub extern "C" fn lstmw_lstm_backward(h: u32, dy_ptr: usize, dhn_ptr: usize, dcn_ptr: usize, flags: u32) -> i32 {
    with_lstm(h, |l| {
        let (t, b) = match l.last_dims() {
            Some(d) => d,
            None => return fail(3, "LSTM.backward: call forward first".into()),
        };
        let last = flags & 2 != 0;
        let out_len = if last { 1 } else { t } * b * l.cfg.dirs() * l.cfg.hidden_size;
        let state_len = l.cfg.num_layers * l.cfg.dirs() * b * l.cfg.hidden_size;
        let dy: &[f32] = try_status!(slice_at("LSTM.backward: dOutput", dy_ptr, out_len, false)).unwrap();
        let dhn = try_status!(slice_at::<f32>("LSTM.backward: dHN", dhn_ptr, state_len, true));
        let dcn = try_status!(slice_at::<f32>("LSTM.backward: dCN", dcn_ptr, state_len, true));
        for (name, p, n) in [("dOutput", dy_ptr, out_len), ("dHN", dhn_ptr, state_len), ("dCN", dcn_ptr, state_len)] {
            if p != 0 && l.owns(p, n * 4) {
                return fail(BAD_POINTER, format!("LSTM.backward: {} overlaps the layer's own memory", name));
            }
        }
        let dy_in = if last { DyIn::Last(dy) } else { DyIn::Sequence(dy) };
        report(l.backward(dy_in, dhn, dcn, flags & 1 != 0, flags & 4 == 0))
    })
}

/// One streaming tick of a unidirectional stack: x (B×I) at `x_ptr`; h and c ([L, B, H]) at
/// `h_ptr`/`c_ptr` are read and updated in place. The output (B×H) is at `lstmw_lstm_step_output`.
#[no_mangle]
pub extern "C" fn lstmw_lstm_step(h: u32, x_ptr: usize, b: u32, h_ptr: usize, c_ptr: usize) -> i32 {
    let epoch = with_state(|s| s.param_epoch);
    with_lstm(h, |l| {
        let b = b as usize;
        let n = try_status!(count("LSTM.step: state", b, l.cfg.num_layers * l.cfg.hidden_size));
        let xn = try_status!(count("LSTM.step: x", b, l.cfg.input_size));
        let x: &[f32] = try_status!(slice_at("LSTM.step: x", x_ptr, xn, false)).unwrap();
        let hs: &mut [f32] = try_status!(slice_mut_at("LSTM.step: state h", h_ptr, n));
        let cs: &mut [f32] = try_status!(slice_mut_at("LSTM.step: state c", c_ptr, n));
        let (xa, ha, ca) = (x_ptr, h_ptr, c_ptr);
        let overlap = |p: usize, len: usize, q: usize, qlen: usize| p < q + qlen && q < p + len;
        if [(xa, xn), (ha, n), (ca, n)].iter().any(|&(p, len)| l.owns(p, len * 4)) || overlap(ha, n * 4, ca, n * 4) {
            return fail(BAD_POINTER, "LSTM.step: x, h and c must be distinct buffers outside the layer".into());
        }
        report(l.step(x, b, hs, cs, epoch))
    })
}

/// Address of the latest step's output (B×H).
#[no_mangle]
pub extern "C" fn lstmw_lstm_step_output(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.lstms, h).map_or(0, |l| l.step_output().as_ptr() as usize))
}

/// Address of a result buffer: 0 output, 1 hN, 2 cN, 3 dInput, 4 dH0, 5 dC0, 6 last output (0 if none yet).
#[no_mangle]
pub extern "C" fn lstmw_lstm_buffer(h: u32, which: u32) -> usize {
    let which = match which {
        0 => LstmBuffer::Output,
        1 => LstmBuffer::HN,
        2 => LstmBuffer::CN,
        3 => LstmBuffer::DInput,
        4 => LstmBuffer::DH0,
        5 => LstmBuffer::DC0,
        6 => LstmBuffer::LastOutput,
        _ => return 0,
    };
    with_state(|s| slab_get(&mut s.lstms, h).and_then(|l| l.buffer(which)).map_or(0, |(p, _)| p as usize))
}

// ---------------------------------------------------------------------------------------------
// Dense

#[no_mangle]
pub extern "C" fn lstmw_dense_new(input: u32, units: u32, seed_lo: u32, seed_hi: u32) -> u32 {
    match Dense::new(input as usize, units as usize, (seed_hi as u64) << 32 | seed_lo as u64) {
        Ok(d) => with_state(|s| slab_insert(&mut s.denses, d)),
        Err(e) => {
            fail(e.status(), e.message().to_string());
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn lstmw_dense_free(h: u32) -> i32 {
    with_state(|s| slab_free(&mut s.denses, h))
}

fn with_dense(h: u32, f: impl FnOnce(&mut Dense) -> i32) -> i32 {
    with_state(|s| match slab_get(&mut s.denses, h) {
        Some(d) => f(d),
        None => fail(BAD_HANDLE, format!("Dense handle {} is not live (disposed?)", h)),
    })
}

#[no_mangle]
pub extern "C" fn lstmw_dense_params(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.denses, h).map_or(0, |d| d.params.as_ptr() as usize))
}

#[no_mangle]
pub extern "C" fn lstmw_dense_grads(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.denses, h).map_or(0, |d| d.grads.as_ptr() as usize))
}

#[no_mangle]
pub extern "C" fn lstmw_dense_bytes(h: u32) -> usize {
    with_state(|s| slab_get(&mut s.denses, h).map_or(0, |d| d.bytes()))
}


/// Forward over `n` rows at `x_ptr`.
#[no_mangle]
pub extern "C" fn lstmw_dense_forward(h: u32, x_ptr: usize, n: u32) -> i32 {
    with_dense(h, |d| {
        let len = n as usize * d.input_size;
        let x: &[f32] = try_status!(slice_at("Dense.forward: input", x_ptr, len, false)).unwrap();
        if d.owns(x_ptr, len * 4) {
            return fail(BAD_POINTER, "Dense.forward: input overlaps the layer's own memory".into());
        }
        report(d.forward(x, n as usize))
    })
}

/// Backward for the latest forward; dOutput (n×units) at `dy_ptr`; `flags` bit 0 resets gradients first.
#[no_mangle]
pub extern "C" fn lstmw_dense_backward(h: u32, dy_ptr: usize, flags: u32) -> i32 {
    with_dense(h, |d| {
        let len = match d.buffer(DenseBuffer::Output) {
            Some((_, n)) => n,
            None => return fail(3, "Dense.backward: call forward first".into()),
        };
        let dy: &[f32] = try_status!(slice_at("Dense.backward: dOutput", dy_ptr, len, false)).unwrap();
        if d.owns(dy_ptr, len * 4) {
            return fail(BAD_POINTER, "Dense.backward: dOutput overlaps the layer's own memory".into());
        }
        report(d.backward(dy, flags & 1 != 0))
    })
}

/// 0 output, 1 dInput.
#[no_mangle]
pub extern "C" fn lstmw_dense_buffer(h: u32, which: u32) -> usize {
    let which = match which {
        0 => DenseBuffer::Output,
        1 => DenseBuffer::DInput,
        _ => return 0,
    };
    with_state(|s| slab_get(&mut s.denses, h).and_then(|d| d.buffer(which)).map_or(0, |(p, _)| p as usize))
}

// ---------------------------------------------------------------------------------------------
// Losses and optimizer steps (stateless: buffers are the caller's)

/// Softmax cross-entropy of n×c logits against n i32 targets (-1 = ignored); writes dlogits and, at
/// `loss_out`, 3 floats: the loss, the correct argmax predictions and the counted rows.
#[no_mangle]
pub extern "C" fn lstmw_softmax_cross_entropy(logits: usize, n: u32, c: u32, targets: usize, dlogits: usize, loss_out: usize) -> i32 {
    let (n, c) = (n as usize, c as usize);
    let nc = try_status!(count("crossEntropy: logits", n, c));
    try_status!(check_outputs("crossEntropy", &[(dlogits, nc * 4), (loss_out, 12)], &[(logits, nc * 4), (targets, n * 4)]));
    let z: &[f32] = try_status!(slice_at("crossEntropy: logits", logits, nc, false)).unwrap();
    let t: &[i32] = try_status!(slice_at("crossEntropy: targets", targets, n, false)).unwrap();
    let d: &mut [f32] = try_status!(slice_mut_at("crossEntropy: dlogits", dlogits, nc));
    let out: &mut [f32] = try_status!(slice_mut_at("crossEntropy: loss", loss_out, 3));
    match softmax_cross_entropy_stats(z, n, c, t, d) {
        Ok(v) => {
            out.copy_from_slice(&[v.loss, v.correct as f32, v.counted as f32]);
            OK
        }
        Err(e) => fail(e.status(), e.message().to_string()),
    }
}

/// Mean squared error over n elements in rows of `width`; rows whose i32 at `row_mask` is 0 are
/// not counted (`row_mask` 0: all rows count). Writes dpred and the loss.
#[no_mangle]
pub extern "C" fn lstmw_mse(pred: usize, target: usize, n: u32, width: u32, row_mask: usize, dpred: usize, loss_out: usize) -> i32 {
    let (n, width) = (n as usize, width as usize);
    let rows = if width == 0 { 0 } else { n / width };
    try_status!(check_outputs("mse", &[(dpred, n * 4), (loss_out, 4)], &[(pred, n * 4), (target, n * 4), (row_mask, rows * 4)]));
    let p: &[f32] = try_status!(slice_at("mse: prediction", pred, n, false)).unwrap();
    let t: &[f32] = try_status!(slice_at("mse: target", target, n, false)).unwrap();
    let mask = try_status!(slice_at::<i32>("mse: row mask", row_mask, if width == 0 { 0 } else { n / width }, true));
    let d: &mut [f32] = try_status!(slice_mut_at("mse: dpred", dpred, n));
    let out: &mut [f32] = try_status!(slice_mut_at("mse: loss", loss_out, 1));
    match mse_masked(p, t, d, width, mask) {
        Ok(v) => {
            out[0] = v;
            OK
        }
        Err(e) => fail(e.status(), e.message().to_string()),
    }
}

/// Index of the first NaN or infinite value among `n` floats at `ptr`, -1 when all are finite
/// (-2 for a bad range): a check before work that must not start on bad data (targets, before the
/// forward that would draw dropout masks).
#[no_mangle]
pub extern "C" fn lstmw_first_nonfinite(ptr: usize, n: u32) -> i32 {
    match slice_at::<f32>("values", ptr, n as usize, false) {
        Ok(Some(v)) => v.iter().position(|x| !x.is_finite()).map_or(-1, |i| i as i32),
        _ => -2,
    }
}

// ---------------------------------------------------------------------------------------------
// Embedding

#[no_mangle]
pub extern "C" fn lstmw_embedding_new(num: u32, dim: u32, seed_lo: u32, seed_hi: u32) -> u32 {
    match Embedding::new(num as usize, dim as usize, (seed_hi as u64) << 32 | seed_lo as u64) {
        Ok(e) => with_state(|s| slab_insert(&mut s.embeddings, e)),
        Err(e) => {
            fail(e.status(), e.message().to_string());
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn lstmw_embedding_free(h: u32) -> i32 {
    with_state(|s| slab_free(&mut s.embeddings, h))
}

fn with_embedding(h: u32, f: impl FnOnce(&mut Embedding) -> i32) -> i32 {
    with_state(|s| match slab_get(&mut s.embeddings, h) {
        Some(e) => f(e),
        None => fail(BAD_HANDLE, format!("Embedding handle {} is not live (disposed?)", h)),
    })
}

/// 0 params, 1 grads, 2 output of the latest forward.
#[no_mangle]
pub extern "C" fn lstmw_embedding_buffer(h: u32, which: u32) -> usize {
    with_state(|s| {
        slab_get(&mut s.embeddings, h).map_or(0, |e| match which {
            0 => e.params.as_ptr() as usize,
            1 => e.grads.as_ptr() as usize,
            2 => e.output().as_ptr() as usize,
            _ => 0,
        })
    })
}

/// Look up `n` ids at `ids_ptr`: i32 when `ids_f32` is 0, else f32 values that must be integers.
#[no_mangle]
pub extern "C" fn lstmw_embedding_forward(h: u32, ids_ptr: usize, n: u32, ids_f32: u32) -> i32 {
    with_embedding(h, |e| {
        let n = n as usize;
        if e.owns(ids_ptr, n * 4) {
            return fail(BAD_POINTER, "Embedding.forward: ids overlap the layer's own memory".into());
        }
        let ids = if ids_f32 != 0 {
            Ids::F32(try_status!(slice_at("Embedding.forward: ids", ids_ptr, n, false)).unwrap())
        } else {
            Ids::I32(try_status!(slice_at("Embedding.forward: ids", ids_ptr, n, false)).unwrap())
        };
        report(e.forward(ids, n))
    })
}

#[no_mangle]
pub extern "C" fn lstmw_embedding_backward(h: u32, dy_ptr: usize, flags: u32) -> i32 {
    with_embedding(h, |e| {
        let len = e.output().len();
        let dy: &[f32] = try_status!(slice_at("Embedding.backward: dOutput", dy_ptr, len, false)).unwrap();
        if e.owns(dy_ptr, len * 4) {
            return fail(BAD_POINTER, "Embedding.backward: dOutput overlaps the layer's own memory".into());
        }
        report(e.backward(dy, flags & 1 != 0))
    })
}

// ---------------------------------------------------------------------------------------------
// Dropout

#[no_mangle]
pub extern "C" fn lstmw_dropout_new(p: f32, seed_lo: u32, seed_hi: u32) -> u32 {
    match Dropout::new(p, (seed_hi as u64) << 32 | seed_lo as u64) {
        Ok(d) => with_state(|s| slab_insert(&mut s.dropouts, d)),
        Err(e) => {
            fail(e.status(), e.message().to_string());
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn lstmw_dropout_free(h: u32) -> i32 {
    with_state(|s| slab_free(&mut s.dropouts, h))
}

fn with_dropout(h: u32, f: impl FnOnce(&mut Dropout) -> i32) -> i32 {
    with_state(|s| match slab_get(&mut s.dropouts, h) {
        Some(d) => f(d),
        None => fail(BAD_HANDLE, format!("Dropout handle {} is not live (disposed?)", h)),
    })
}

/// Forward over n floats; `training` 0 makes it the identity.
#[no_mangle]
pub extern "C" fn lstmw_dropout_forward(h: u32, x_ptr: usize, n: u32, training: u32) -> i32 {
    with_dropout(h, |d| {
        let x: &[f32] = try_status!(slice_at("Dropout.forward: input", x_ptr, n as usize, false)).unwrap();
        if d.owns(x_ptr, n as usize * 4) {
            return fail(BAD_POINTER, "Dropout.forward: input overlaps the layer's own memory".into());
        }
        report(d.forward(x, training != 0))
    })
}

#[no_mangle]
pub extern "C" fn lstmw_dropout_backward(h: u32, dy_ptr: usize, n: u32) -> i32 {
    with_dropout(h, |d| {
        let dy: &[f32] = try_status!(slice_at("Dropout.backward: dOutput", dy_ptr, n as usize, false)).unwrap();
        if d.owns(dy_ptr, n as usize * 4) {
            return fail(BAD_POINTER, "Dropout.backward: dOutput overlaps the layer's own memory".into());
        }
        report(d.backward(dy))
    })
}

/// 0 output, 1 dInput.
#[no_mangle]
pub extern "C" fn lstmw_dropout_buffer(h: u32, which: u32) -> usize {
    with_state(|s| {
        slab_get(&mut s.dropouts, h).map_or(0, |d| match which {
            0 => d.output().as_ptr() as usize,
            1 => d.dinput().as_ptr() as usize,
            _ => 0,
        })
    })
}

/// Read (write = 0) or write (write = 1) the generator state as 4 u32 words at `ptr`.
#[no_mangle]
pub extern "C" fn lstmw_dropout_rng(h: u32, ptr: usize, write: u32) -> i32 {
    with_dropout(h, |d| {
        let words: &mut [u32] = try_status!(slice_mut_at("Dropout.rng: state", ptr, 4));
        if write != 0 {
            let w = [words[0] as u64 | (words[1] as u64) << 32, words[2] as u64 | (words[3] as u64) << 32];
            d.rng = lstm_core::rng::Pcg32::from_words(w);
        } else {
            let w = d.rng.to_words();
            words.copy_from_slice(&[w[0] as u32, (w[0] >> 32) as u32, w[1] as u32, (w[1] >> 32) as u32]);
        }
        OK
    })
}

// ---------------------------------------------------------------------------------------------
// Optimizers: one step call updates every registered (params, grads) block.

/// A new optimizer of `kind` with `hp_len` f64 hyper-parameters at `hp_ptr` (see `Rule::from_code`).
#[no_mangle]
pub extern "C" fn lstmw_optim_new(kind: u32, hp_ptr: usize, hp_len: u32) -> u32 {
    let hp: &[f64] = match slice_at("optimizer: hyper-parameters", hp_ptr, hp_len as usize, false) {
        Ok(v) => v.unwrap(),
        Err(_) => return 0,
    };
    match Rule::from_code(kind, hp) {
        Ok(rule) => with_state(|s| slab_insert(&mut s.optimizers, OptimizerSlot { opt: Optimizer::new(rule), blocks: Vec::new() })),
        Err(e) => {
            fail(e.status(), e.message().to_string());
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn lstmw_optim_free(h: u32) -> i32 {
    with_state(|s| slab_free(&mut s.optimizers, h))
}

fn with_optim(h: u32, f: impl FnOnce(&mut OptimizerSlot) -> i32) -> i32 {
    with_state(|s| match slab_get(&mut s.optimizers, h) {
        Some(o) => f(o),
        None => fail(BAD_HANDLE, format!("optimizer handle {} is not live (disposed?)", h)),
    })
}

/// Register the next block: `n` parameters at `params_ptr` with gradients at `grads_ptr`.
#[no_mangle]
pub extern "C" fn lstmw_optim_add_block(h: u32, params_ptr: usize, grads_ptr: usize, n: u32) -> i32 {
    with_optim(h, |o| {
        let n = n as usize;
        try_status!(slice_at::<f32>("optimizer: params", params_ptr, n, false));
        try_status!(slice_at::<f32>("optimizer: grads", grads_ptr, n, false));
        let (pb, gb) = ((params_ptr, n * 4), (grads_ptr, n * 4));
        // Every parameter and gradient range of every block must be disjoint from every other.
        let mut ranges: Vec<(usize, usize)> = o.blocks.iter().zip(o.opt.block_lens()).flat_map(|(&(p, g), &m)| [(p, m * 4), (g, m * 4)]).collect();
        ranges.push(gb);
        if ranges.iter().any(|&(q, qlen)| ranges_overlap(pb.0, pb.1, q, qlen)) || ranges[..ranges.len() - 1].iter().any(|&(q, qlen)| ranges_overlap(gb.0, gb.1, q, qlen)) {
            return fail(BAD_POINTER, "optimizer: a parameter block overlaps its gradients or another block".into());
        }
        o.opt.add_block(n);
        o.blocks.push((params_ptr, grads_ptr));
        OK
    })
}

/// One update of every block at learning rate `lr`, clipping by value then by global norm first
/// (a value <= 0 disables that clip). Writes the pre-clip global gradient norm (f64) to `norm_out`.
#[no_mangle]
pub extern "C" fn lstmw_optim_step(h: u32, lr: f64, clip_norm: f64, clip_value: f64, norm_out: usize) -> i32 {
    let status = optim_step(h, lr, clip_norm, clip_value, norm_out);
    if PARAMS_STEPPED.with(|f| f.replace(false)) {
        with_state(|s| s.param_epoch += 1);
    }
    status
}

fn optim_step(h: u32, lr: f64, clip_norm: f64, clip_value: f64, norm_out: usize) -> i32 {
    with_optim(h, |o| {
        let lens = o.opt.block_lens().to_vec();
        let ranges: Vec<(usize, usize)> = o.blocks.iter().zip(&lens).flat_map(|(&(p, g), &m)| [(p, m * 4), (g, m * 4)]).collect();
        try_status!(check_outputs("optimizer.step: norm", &[(norm_out, 8)], &ranges));
        let out: &mut [f64] = try_status!(slice_mut_at("optimizer: norm", norm_out, 1));
        let mut blocks: Vec<(&mut [f32], &mut [f32])> = Vec::with_capacity(lens.len());
        for (&(p, g), &n) in o.blocks.iter().zip(&lens) {
            blocks.push((try_status!(slice_mut_at("optimizer: params", p, n)), try_status!(slice_mut_at("optimizer: grads", g, n))));
        }
        let clip = Clip {
            value: if clip_value > 0.0 { Some(clip_value) } else { None },
            norm: if clip_norm > 0.0 { Some(clip_norm) } else { None },
        };
        match o.opt.step(&mut blocks, lr, clip) {
            Ok(norm) => {
                out[0] = norm;
                PARAMS_STEPPED.with(|f| f.set(true));
                OK
            }
            Err(e) => fail(e.status(), e.message().to_string()),
        }
    })
}

/// Address and length (in floats, via `len_out`) of the optimizer's state, for checkpoints.
#[no_mangle]
pub extern "C" fn lstmw_optim_state(h: u32, len_out: usize) -> usize {
    let mut addr = 0;
    let status = with_optim(h, |o| {
        let out: &mut [u32] = try_status!(slice_mut_at("optimizer: state length", len_out, 1));
        let state = match o.opt.state() {
            Ok(s) => s,
            Err(e) => return fail(e.status(), e.message().to_string()),
        };
        out[0] = state.len() as u32;
        addr = state.as_ptr() as usize;
        OK
    });
    if status == OK {
        addr
    } else {
        0
    }
}

/// Steps taken (get), or set them when `set` is 1 (restoring a checkpoint).
#[no_mangle]
pub extern "C" fn lstmw_optim_steps(h: u32, set: u32, value: f64) -> f64 {
    let mut steps = -1.0;
    with_optim(h, |o| {
        if set != 0 {
            if !(value >= 0.0 && value.fract() == 0.0 && value <= 9007199254740992.0) {
                // fmt_float, not {} on an f64: Rust's float formatting would add about 25 KB to the module.
                return fail(2, format!("optimizer: steps must be a non-negative integer, got {}", lstm_core::error::fmt_float(value)));
            }
            o.opt.steps = value as u64;
        }
        steps = o.opt.steps as f64;
        OK
    });
    steps
}

// ---------------------------------------------------------------------------------------------
// GEMM, exported for the kernel tests (SIMD build against its scalar reference)

fn gemm_args<'a>(
    m: usize, n: usize, k: usize, a: usize, rsa: usize, csa: usize, b: usize, rsb: usize, csb: usize, c: usize, ldc: usize,
) -> Result<(&'a [f32], &'a [f32], &'a mut [f32]), i32> {
    if m > 1 && ldc < n {
        return Err(fail(1, format!("gemm: ldc {} is less than n {}: rows of C would overlap", ldc, n)));
    }
    // Elements spanned by a rows×cols matrix with strides (rs, cs), or None on overflow.
    let span = |rows: usize, cols: usize, rs: usize, cs: usize| -> Option<usize> {
        if rows == 0 || cols == 0 {
            return Some(0);
        }
        (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
    };
    let too_big = |what: &str| fail(BAD_POINTER, format!("gemm: {} spans more than the address space", what));
    // Zero strides let a small buffer stand for a huge operand; the packed copies would not fit.
    count("gemm: m×k", m, k)?;
    count("gemm: k×n", k, n)?;
    count("gemm: m×n", m, n)?;
    let (sa, sb, sc) = (
        span(m, k, rsa, csa).ok_or_else(|| too_big("a"))?,
        span(k, n, rsb, csb).ok_or_else(|| too_big("b"))?,
        span(m, n, ldc, 1).ok_or_else(|| too_big("c"))?,
    );
    let aa = slice_at("gemm: a", a, sa, false)?.unwrap();
    let bb = slice_at("gemm: b", b, sb, false)?.unwrap();
    let cc = slice_mut_at("gemm: c", c, sc)?;
    Ok((aa, bb, cc))
}

/// C (m×n, row stride ldc) = (accumulate ? C : 0) + A·B with strided A and B; tiled kernel.
#[no_mangle]
pub extern "C" fn lstmw_gemm(m: u32, n: u32, k: u32, a: usize, rsa: u32, csa: u32, b: usize, rsb: u32, csb: u32, c: usize, ldc: u32, accumulate: u32) -> i32 {
    let (m, n, k, rsa, csa, rsb, csb, ldc) = (m as usize, n as usize, k as usize, rsa as usize, csa as usize, rsb as usize, csb as usize, ldc as usize);
    let (aa, bb, cc) = try_status!(gemm_args(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc));
    with_state(|s| gemm(m, n, k, aa, rsa, csa, bb, rsb, csb, cc, ldc, accumulate != 0, &mut s.ws));
    OK
}

/// The same product by the scalar reference triple loop.
#[no_mangle]
pub extern "C" fn lstmw_gemm_ref(m: u32, n: u32, k: u32, a: usize, rsa: u32, csa: u32, b: usize, rsb: u32, csb: u32, c: usize, ldc: u32, accumulate: u32) -> i32 {
    let (m, n, k, rsa, csa, rsb, csb, ldc) = (m as usize, n as usize, k as usize, rsa as usize, csa as usize, rsb as usize, csb as usize, ldc as usize);
    let (aa, bb, cc) = try_status!(gemm_args(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc));
    gemm_ref(m, n, k, aa, rsa, csa, bb, rsb, csb, cc, ldc, accumulate != 0);
    OK
}

