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
use lstm_core::error::Error;
use lstm_core::gemm::{gemm, gemm_ref, GemmWorkspace};
use lstm_core::loss::{mse, softmax_cross_entropy};
use lstm_core::lstm::{Lstm, LstmBuffer, LstmConfig};
use lstm_core::optim::sgd_step;
use std::cell::RefCell;

const OK: i32 = 0;
const BAD_HANDLE: i32 = 4;
const BAD_POINTER: i32 = 5;

struct State {
    lstms: Vec<Option<Box<Lstm>>>,
    denses: Vec<Option<Box<Dense>>>,
    ws: GemmWorkspace,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        lstms: Vec::new(),
        denses: Vec::new(),
        ws: GemmWorkspace::new(),
    });
    // Kept apart from STATE so that an error can be recorded while an object is borrowed.
    static LAST_ERROR: RefCell<String> = RefCell::new(String::new());
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

/// Live objects (LSTMs + dense layers), for leak tests.
#[no_mangle]
pub extern "C" fn lstmw_live_objects() -> u32 {
    with_state(|s| {
        (s.lstms.iter().filter(|x| x.is_some()).count() + s.denses.iter().filter(|x| x.is_some()).count()) as u32
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
    with_state(|s| match s.lstms.get_mut((h as usize).wrapping_sub(1)) {
        Some(slot @ Some(_)) => {
            *slot = None;
            OK
        }
        _ => BAD_HANDLE,
    })
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

#[no_mangle]
pub extern "C" fn lstmw_lstm_zero_grad(h: u32) -> i32 {
    with_lstm(h, |l| {
        l.zero_grad();
        OK
    })
}

/// Forward over x at `x_ptr` ([T,B,I], or [B,T,I] if `batch_first`); h0/c0 at their addresses or 0.
#[no_mangle]
pub extern "C" fn lstmw_lstm_forward(h: u32, x_ptr: usize, t: u32, b: u32, batch_first: u32, h0_ptr: usize, c0_ptr: usize) -> i32 {
    with_lstm(h, |l| {
        let cfg = l.cfg;
        let (t, b) = (t as usize, b as usize);
        let state_len = cfg.num_layers * cfg.dirs() * b * cfg.hidden_size;
        let x_len = t * b * cfg.input_size;
        let x: &[f32] = try_status!(slice_at("LSTM.forward: input", x_ptr, x_len, false)).unwrap();
        let h0 = try_status!(slice_at::<f32>("LSTM.forward: h0", h0_ptr, state_len, true));
        let c0 = try_status!(slice_at::<f32>("LSTM.forward: c0", c0_ptr, state_len, true));
        for (name, p, n) in [("input", x_ptr, x_len), ("h0", h0_ptr, state_len), ("c0", c0_ptr, state_len)] {
            if p != 0 && l.owns(p, n * 4) {
                return fail(BAD_POINTER, format!("LSTM.forward: {} overlaps the layer's own memory", name));
            }
        }
        report(l.forward(x, t, b, batch_first != 0, h0, c0))
    })
}

/// Backward for the latest forward; dOutput at `dy_ptr` in the forward's layout, dHN/dCN or 0.
#[no_mangle]
pub extern "C" fn lstmw_lstm_backward(h: u32, dy_ptr: usize, dhn_ptr: usize, dcn_ptr: usize) -> i32 {
    with_lstm(h, |l| {
        let (t, b) = match l.last_dims() {
            Some(d) => d,
            None => return fail(3, "LSTM.backward: call forward first".into()),
        };
        let out_len = t * b * l.cfg.dirs() * l.cfg.hidden_size;
        let state_len = l.cfg.num_layers * l.cfg.dirs() * b * l.cfg.hidden_size;
        let dy: &[f32] = try_status!(slice_at("LSTM.backward: dOutput", dy_ptr, out_len, false)).unwrap();
        let dhn = try_status!(slice_at::<f32>("LSTM.backward: dHN", dhn_ptr, state_len, true));
        let dcn = try_status!(slice_at::<f32>("LSTM.backward: dCN", dcn_ptr, state_len, true));
        for (name, p, n) in [("dOutput", dy_ptr, out_len), ("dHN", dhn_ptr, state_len), ("dCN", dcn_ptr, state_len)] {
            if p != 0 && l.owns(p, n * 4) {
                return fail(BAD_POINTER, format!("LSTM.backward: {} overlaps the layer's own memory", name));
            }
        }
        report(l.backward(dy, dhn, dcn))
    })
}

/// Address of a result buffer: 0 output, 1 hN, 2 cN, 3 dInput, 4 dH0, 5 dC0 (0 if none yet).
#[no_mangle]
pub extern "C" fn lstmw_lstm_buffer(h: u32, which: u32) -> usize {
    let which = match which {
        0 => LstmBuffer::Output,
        1 => LstmBuffer::HN,
        2 => LstmBuffer::CN,
        3 => LstmBuffer::DInput,
        4 => LstmBuffer::DH0,
        5 => LstmBuffer::DC0,
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
    with_state(|s| match s.denses.get_mut((h as usize).wrapping_sub(1)) {
        Some(slot @ Some(_)) => {
            *slot = None;
            OK
        }
        _ => BAD_HANDLE,
    })
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

#[no_mangle]
pub extern "C" fn lstmw_dense_zero_grad(h: u32) -> i32 {
    with_dense(h, |d| {
        d.zero_grad();
        OK
    })
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

/// Backward for the latest forward; dOutput (n×units) at `dy_ptr`.
#[no_mangle]
pub extern "C" fn lstmw_dense_backward(h: u32, dy_ptr: usize) -> i32 {
    with_dense(h, |d| {
        let len = match d.buffer(DenseBuffer::Output) {
            Some((_, n)) => n,
            None => return fail(3, "Dense.backward: call forward first".into()),
        };
        let dy: &[f32] = try_status!(slice_at("Dense.backward: dOutput", dy_ptr, len, false)).unwrap();
        if d.owns(dy_ptr, len * 4) {
            return fail(BAD_POINTER, "Dense.backward: dOutput overlaps the layer's own memory".into());
        }
        report(d.backward(dy))
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

/// Softmax cross-entropy of n×c logits against n i32 targets (-1 = ignored); writes dlogits and the loss.
#[no_mangle]
pub extern "C" fn lstmw_softmax_cross_entropy(logits: usize, n: u32, c: u32, targets: usize, dlogits: usize, loss_out: usize) -> i32 {
    let (n, c) = (n as usize, c as usize);
    let z: &[f32] = try_status!(slice_at("crossEntropy: logits", logits, n * c, false)).unwrap();
    let t: &[i32] = try_status!(slice_at("crossEntropy: targets", targets, n, false)).unwrap();
    let d: &mut [f32] = try_status!(slice_mut_at("crossEntropy: dlogits", dlogits, n * c));
    let out: &mut [f32] = try_status!(slice_mut_at("crossEntropy: loss", loss_out, 1));
    match softmax_cross_entropy(z, n, c, t, d) {
        Ok(v) => {
            out[0] = v;
            OK
        }
        Err(e) => fail(e.status(), e.message().to_string()),
    }
}

/// Mean squared error over n elements; writes dpred and the loss.
#[no_mangle]
pub extern "C" fn lstmw_mse(pred: usize, target: usize, n: u32, dpred: usize, loss_out: usize) -> i32 {
    let n = n as usize;
    let p: &[f32] = try_status!(slice_at("mse: prediction", pred, n, false)).unwrap();
    let t: &[f32] = try_status!(slice_at("mse: target", target, n, false)).unwrap();
    let d: &mut [f32] = try_status!(slice_mut_at("mse: dpred", dpred, n));
    let out: &mut [f32] = try_status!(slice_mut_at("mse: loss", loss_out, 1));
    match mse(p, t, d) {
        Ok(v) => {
            out[0] = v;
            OK
        }
        Err(e) => fail(e.status(), e.message().to_string()),
    }
}

/// p -= lr·g over n floats.
#[no_mangle]
pub extern "C" fn lstmw_sgd_step(params: usize, grads: usize, n: u32, lr: f32) -> i32 {
    let p: &mut [f32] = try_status!(slice_mut_at("SGD: params", params, n as usize));
    let g: &[f32] = try_status!(slice_at("SGD: grads", grads, n as usize, false)).unwrap();
    sgd_step(p, g, lr);
    OK
}

// ---------------------------------------------------------------------------------------------
// GEMM, exported for the kernel tests (SIMD build against its scalar reference)

fn gemm_args<'a>(
    m: usize, n: usize, k: usize, a: usize, rsa: usize, csa: usize, b: usize, rsb: usize, csb: usize, c: usize, ldc: usize,
) -> Result<(&'a [f32], &'a [f32], &'a mut [f32]), i32> {
    let span = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    let aa = slice_at("gemm: a", a, span(m, k, rsa, csa), false)?.unwrap();
    let bb = slice_at("gemm: b", b, span(k, n, rsb, csb), false)?.unwrap();
    let cc = slice_mut_at("gemm: c", c, span(m, n, ldc, 1))?;
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
