//! Embedding lookup, as PyTorch's `nn.Embedding(num_embeddings, embedding_dim)`: row `id` of a
//! [V, E] table per input id. Backward adds each output row's gradient into its id's row.

use crate::error::{check_finite, check_len, zeroed, Error, Result};
use crate::rng::Pcg32;

/// Token ids: i32, or f32 values that must be integers (a Float32Array of ids from JavaScript).
#[derive(Clone, Copy, Debug)]
pub enum Ids<'a> {
    I32(&'a [i32]),
    F32(&'a [f32]),
}

impl<'a> Ids<'a> {
    fn len(&self) -> usize {
        match self {
            Ids::I32(v) => v.len(),
            Ids::F32(v) => v.len(),
        }
    }
}

pub struct Embedding {
    pub num_embeddings: usize,
    pub dim: usize,
    /// [V, E] table.
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
    /// Ids of the latest forward.
    ids: Vec<u32>,
    /// [N, E] output of the latest forward.
    out: Vec<f32>,
    have_forward: bool,
}

impl Embedding {
    /// Initialised like PyTorch: N(0, 1) entries (Box–Muller over the seeded generator).
    pub fn new(num_embeddings: usize, dim: usize, seed: u64) -> Result<Embedding> {
        if num_embeddings == 0 || dim == 0 {
            return Err(Error::Value(format!(
                "Embedding: numEmbeddings and embeddingDim must be positive integers, got {} and {}",
                num_embeddings, dim
            )));
        }
        let n = (num_embeddings as u64) * (dim as u64);
        let mut params = zeroed("Embedding parameters", n)?;
        let grads = zeroed("Embedding gradients", n)?;
        let mut rng = Pcg32::new(seed);
        for pair in params.chunks_mut(2) {
            let u1 = 1.0 - rng.next_f32() as f64; // (0, 1]
            let u2 = rng.next_f32() as f64;
            let r = (-2.0 * u1.ln()).sqrt();
            let th = 2.0 * std::f64::consts::PI * u2;
            pair[0] = (r * th.cos()) as f32;
            if pair.len() > 1 {
                pair[1] = (r * th.sin()) as f32;
            }
        }
        Ok(Embedding { num_embeddings, dim, params, grads, ids: Vec::new(), out: Vec::new(), have_forward: false })
    }

    pub fn bytes(&self) -> usize {
        (self.params.capacity() + self.grads.capacity() + self.out.capacity()) * 4 + self.ids.capacity() * 4
    }

    /// Look up `n` ids; the output [n, E] is `output()`.
    pub fn forward(&mut self, ids: Ids, n: usize) -> Result<()> {
        check_len("Embedding.forward: ids", ids.len(), n)?;
        let v = self.num_embeddings;
        let bad = |i: usize, val: String| {
            Err(Error::Value(format!(
                "Embedding.forward: ids[{}] is {}, expected an integer id in [0, {})",
                i, val, v
            )))
        };
        // Checked before anything changes: a refused forward keeps the previous one for backward.
        match ids {
            Ids::I32(s) => {
                if let Some(i) = s.iter().position(|&x| x < 0 || x as usize >= v) {
                    return bad(i, s[i].to_string());
                }
                self.ids.clear();
                self.ids.extend(s.iter().map(|&x| x as u32));
            }
            Ids::F32(s) => {
                if let Some(i) = s.iter().position(|&x| !(x >= 0.0 && (x as usize) < v && x.fract() == 0.0)) {
                    return bad(i, crate::error::fmt_float(s[i] as f64));
                }
                self.ids.clear();
                self.ids.extend(s.iter().map(|&x| x as u32));
            }
        }
        let e = self.dim;
        self.out.resize(n * e, 0.0);
        for (row, &id) in self.out.chunks_exact_mut(e).zip(&self.ids) {
            row.copy_from_slice(&self.params[id as usize * e..(id as usize + 1) * e]);
        }
        self.have_forward = true;
        Ok(())
    }

    pub fn output(&self) -> &[f32] {
        &self.out
    }

    /// Add dL/d output rows into their ids' gradient rows (into zeroed gradients with `zero_first`).
    pub fn backward(&mut self, dy: &[f32], zero_first: bool) -> Result<()> {
        if !self.have_forward {
            return Err(Error::State("Embedding.backward: call forward first".into()));
        }
        let e = self.dim;
        check_len("Embedding.backward: dOutput", dy.len(), self.ids.len() * e)?;
        check_finite("Embedding.backward: dOutput", dy)?;
        if zero_first {
            self.grads.fill(0.0);
        }
        for (row, &id) in dy.chunks_exact(e).zip(&self.ids) {
            let g = &mut self.grads[id as usize * e..(id as usize + 1) * e];
            for (a, b) in g.iter_mut().zip(row) {
                *a += *b;
            }
        }
        Ok(())
    }

    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    pub fn owns(&self, addr: usize, bytes: usize) -> bool {
        [&self.params, &self.grads, &self.out].iter().any(|v| crate::arena::touches(v, addr, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_gradient_accumulate_per_id() {
        let mut e = Embedding::new(5, 3, 1).unwrap();
        e.forward(Ids::I32(&[4, 0, 4]), 3).unwrap();
        assert_eq!(&e.output()[0..3], &e.params[12..15]);
        assert_eq!(&e.output()[6..9], &e.params[12..15]);
        e.backward(&[1.0, 2.0, 3.0, 0.5, 0.5, 0.5, 10.0, 20.0, 30.0], true).unwrap();
        assert_eq!(&e.grads[12..15], &[11.0, 22.0, 33.0]);
        assert_eq!(&e.grads[0..3], &[0.5, 0.5, 0.5]);
        assert!(e.grads[3..12].iter().all(|v| *v == 0.0));
        assert!(e.forward(Ids::F32(&[1.0, 2.5]), 2).unwrap_err().message().contains("ids[1] is 2.5"));
        assert!(e.forward(Ids::I32(&[5]), 1).unwrap_err().message().contains("[0, 5)"));
        let mean = e.params.iter().sum::<f32>() / 15.0;
        assert!(mean.abs() < 1.5, "N(0,1) init");
    }
}
