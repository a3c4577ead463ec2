//! Dense (affine) layer, as PyTorch's `nn.Linear`: y = x Wᵀ + b, with W units×in and b units.
//! Applied to N rows at once (for an LSTM head, N = T·B: every tick of every sequence).

use crate::arena::{touches, Arena, Layout, Region};
use crate::error::{check_finite, check_len, zeroed, Error, Result};
use crate::gemm::{gemm, GemmWorkspace};
use crate::rng::Pcg32;

/// y (N×out) = x (N×in) · wᵀ + b. Overwrites y.
pub fn dense_forward(n: usize, inp: usize, out: usize, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], ws: &mut GemmWorkspace) {
    gemm(n, out, inp, x, inp, 1, w, 1, inp, y, out, false, ws);
    for row in y.chunks_exact_mut(out) {
        for (v, bias) in row.iter_mut().zip(b) {
            *v += *bias;
        }
    }
}

/// dW += dyᵀ x, db += Σ_rows dy, dx = dy · w (overwritten).
pub fn dense_backward(
    n: usize,
    inp: usize,
    out: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    dx: &mut [f32],
    ws: &mut GemmWorkspace,
) {
    gemm(out, inp, n, dy, 1, out, x, inp, 1, dw, inp, true, ws);
    for row in dy.chunks_exact(out) {
        for (g, d) in db.iter_mut().zip(row) {
            *g += *d;
        }
    }
    gemm(n, inp, out, dy, out, 1, w, inp, 1, dx, inp, false, ws);
}

/// Which buffer of a `Dense` the ABI asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseBuffer {
    Output,
    DInput,
}

struct Acts {
    n: usize,
    x: Region,
    y: Region,
    dx: Region,
}

/// A dense layer with its parameters (weight then bias, one block), gradients and activations.
pub struct Dense {
    pub input_size: usize,
    pub units: usize,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
    arena: Arena,
    acts: Option<Acts>,
    have_forward: bool,
    ws: GemmWorkspace,
}

impl Dense {
    /// Initialised like `nn.Linear`: weight and bias uniform in ±1/√inputSize.
    pub fn new(input_size: usize, units: usize, seed: u64) -> Result<Dense> {
        if input_size == 0 || units == 0 {
            return Err(Error::Value(format!(
                "Dense: inputSize and units must be positive integers, got {} and {}",
                input_size, units
            )));
        }
        let n = (units as u64) * (input_size as u64) + units as u64;
        let mut params = zeroed("Dense parameters", n)?;
        let grads = zeroed("Dense gradients", n)?;
        Pcg32::new(seed).fill_uniform(&mut params, 1.0 / (input_size as f32).sqrt());
        Ok(Dense {
            input_size,
            units,
            params,
            grads,
            arena: Arena::new(),
            acts: None,
            have_forward: false,
            ws: GemmWorkspace::new(),
        })
    }

    pub fn bytes(&self) -> usize {
        (self.params.capacity() + self.grads.capacity()) * 4 + self.arena.bytes()
    }

    pub fn buffer(&self, which: DenseBuffer) -> Option<(*const f32, usize)> {
        let a = self.acts.as_ref()?;
        let r = match which {
            DenseBuffer::Output => a.y,
            DenseBuffer::DInput => a.dx,
        };
        Some((self.arena.ptr(r), r.len))
    }

    /// Forward over `n` rows of `x` (n×inputSize).
    pub fn forward(&mut self, x: &[f32], n: usize) -> Result<()> {
        let (inp, out) = (self.input_size, self.units);
        if n == 0 {
            return Err(Error::Shape("Dense.forward: input must have at least one row, got 0".into()));
        }
        check_len("Dense.forward: input", x.len(), n * inp)?;
        check_finite("Dense.forward: input", x)?;
        if !matches!(&self.acts, Some(a) if a.n == n) {
            if (n as u64) * (2 * inp + out) as u64 > crate::error::MAX_FLOATS * 4 {
                return Err(Error::Value(format!("Dense.forward: {} rows need more memory than wasm32 has", n)));
            }
            let mut l = Layout::new();
            let acts = Acts { n, x: l.take(n * inp), y: l.take(n * out), dx: l.take(n * inp) };
            self.arena.fit(l.total())?;
            self.acts = Some(acts);
        }
        self.have_forward = false;
        let a = self.acts.as_ref().unwrap();
        let [xa, ya] = self.arena.split([a.x, a.y]);
        xa.copy_from_slice(x);
        let (w, b) = self.params.split_at(out * inp);
        dense_forward(n, inp, out, xa, w, b, ya, &mut self.ws);
        self.have_forward = true;
        Ok(())
    }

    /// Backward for the latest forward: dy is n×units. Gradients are added to `grads`, or replace
    /// them with `zero_first` (reset after validation).
    pub fn backward(&mut self, dy: &[f32], zero_first: bool) -> Result<()> {
        if !self.have_forward {
            return Err(Error::State("Dense.backward: call forward first".into()));
        }
        let (inp, out) = (self.input_size, self.units);
        let a = self.acts.as_ref().unwrap();
        check_len("Dense.backward: dOutput", dy.len(), a.n * out)?;
        check_finite("Dense.backward: dOutput", dy)?;
        if zero_first {
            self.grads.fill(0.0);
        }
        let [xa, dx] = self.arena.split([a.x, a.dx]);
        let (w, _) = self.params.split_at(out * inp);
        let (dw, db) = self.grads.split_at_mut(out * inp);
        dense_backward(a.n, inp, out, xa, w, dy, dw, db, dx, &mut self.ws);
        Ok(())
    }

    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    /// Whether the byte range [addr, addr + bytes) overlaps memory this object owns; inputs given
    /// by address must not, since the call writes that memory while reading the input.
    pub fn owns(&self, addr: usize, bytes: usize) -> bool {
        self.arena.overlaps(addr, bytes) || touches(&self.params, addr, bytes) || touches(&self.grads, addr, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut v = vec![0.0; n];
        Pcg32::new(seed).fill_uniform(&mut v, 1.0);
        v
    }

    /// Σ y·r in f64 for y = x wᵀ + b computed naively.
    fn loss(n: usize, i: usize, o: usize, x: &[f64], w: &[f64], b: &[f64], r: &[f32]) -> f64 {
        let mut s = 0.0;
        for row in 0..n {
            for u in 0..o {
                let mut y = b[u];
                for k in 0..i {
                    y += x[row * i + k] * w[u * i + k];
                }
                s += y * r[row * o + u] as f64;
            }
        }
        s
    }

    #[test]
    fn forward_and_backward_match_reference_and_finite_differences() {
        let (n, i, o) = (5, 7, 3);
        let mut d = Dense::new(i, o, 4).unwrap();
        let x = data(n * i, 1);
        let r = data(n * o, 2);
        d.forward(&x, n).unwrap();
        let (yp, yl) = d.buffer(DenseBuffer::Output).unwrap();
        // SAFETY: the buffer belongs to `d`, alive here.
        let y = unsafe { std::slice::from_raw_parts(yp, yl) }.to_vec();
        let w64: Vec<f64> = d.params[..o * i].iter().map(|v| *v as f64).collect();
        let b64: Vec<f64> = d.params[o * i..].iter().map(|v| *v as f64).collect();
        let x64: Vec<f64> = x.iter().map(|v| *v as f64).collect();
        for row in 0..n {
            for u in 0..o {
                let want = b64[u] + (0..i).map(|k| x64[row * i + k] * w64[u * i + k]).sum::<f64>();
                assert!((y[row * o + u] as f64 - want).abs() < 1e-6);
            }
        }
        d.backward(&r, true).unwrap();
        let (dxp, dxl) = d.buffer(DenseBuffer::DInput).unwrap();
        // SAFETY: as above.
        let dx = unsafe { std::slice::from_raw_parts(dxp, dxl) }.to_vec();
        let eps = 1e-6;
        let fd = |f: &dyn Fn(f64) -> f64| (f(eps) - f(-eps)) / (2.0 * eps);
        for j in 0..o * i {
            let g = fd(&|e| {
                let mut w = w64.clone();
                w[j] += e;
                loss(n, i, o, &x64, &w, &b64, &r)
            });
            assert!((d.grads[j] as f64 - g).abs() < 1e-5, "dW[{}] {} vs {}", j, d.grads[j], g);
        }
        for j in 0..o {
            let g = fd(&|e| {
                let mut b = b64.clone();
                b[j] += e;
                loss(n, i, o, &x64, &w64, &b, &r)
            });
            assert!((d.grads[o * i + j] as f64 - g).abs() < 1e-5, "db[{}]", j);
        }
        for j in 0..n * i {
            let g = fd(&|e| {
                let mut xx = x64.clone();
                xx[j] += e;
                loss(n, i, o, &xx, &w64, &b64, &r)
            });
            assert!((dx[j] as f64 - g).abs() < 1e-5, "dx[{}]", j);
        }
    }
}
