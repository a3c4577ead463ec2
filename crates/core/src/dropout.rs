//! Inverted dropout: in training each element is zeroed with probability p and the survivors are
//! scaled by 1/(1−p); at inference it is the identity. The mask comes from a seeded generator whose
//! state is part of a checkpoint, so a resumed run draws the same masks.

use crate::error::{check_len, Error, Result};
use crate::rng::Pcg32;

pub struct Dropout {
    pub p: f32,
    pub rng: Pcg32,
    /// Per element of the latest forward: 0 or 1/(1−p) (1 when not training).
    mask: Vec<f32>,
    out: Vec<f32>,
    dx: Vec<f32>,
    have_forward: bool,
}

impl Dropout {
    pub fn new(p: f32, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Value(format!("Dropout: p must be in [0, 1), got {}", crate::error::fmt_float(p as f64))));
        }
        Ok(Dropout { p, rng: Pcg32::new(seed), mask: Vec::new(), out: Vec::new(), dx: Vec::new(), have_forward: false })
    }

    pub fn forward(&mut self, x: &[f32], training: bool) -> Result<()> {
        let n = x.len();
        self.mask.resize(n, 1.0);
        self.out.resize(n, 0.0);
        if training && self.p > 0.0 {
            let keep = 1.0 / (1.0 - self.p);
            for m in self.mask.iter_mut() {
                *m = if self.rng.next_f32() < self.p { 0.0 } else { keep };
            }
        } else {
            self.mask.fill(1.0);
        }
        for ((o, xv), m) in self.out.iter_mut().zip(x).zip(&self.mask) {
            *o = xv * m;
        }
        self.have_forward = true;
        Ok(())
    }

    pub fn output(&self) -> &[f32] {
        &self.out
    }

    pub fn backward(&mut self, dy: &[f32]) -> Result<()> {
        if !self.have_forward {
            return Err(Error::State("Dropout.backward: call forward first".into()));
        }
        check_len("Dropout.backward: dOutput", dy.len(), self.mask.len())?;
        self.dx.resize(dy.len(), 0.0);
        for ((d, g), m) in self.dx.iter_mut().zip(dy).zip(&self.mask) {
            *d = g * m;
        }
        Ok(())
    }

    pub fn dinput(&self) -> &[f32] {
        &self.dx
    }

    pub fn bytes(&self) -> usize {
        (self.mask.capacity() + self.out.capacity() + self.dx.capacity()) * 4
    }

    pub fn owns(&self, addr: usize, bytes: usize) -> bool {
        [&self.mask, &self.out, &self.dx].iter().any(|v| crate::arena::touches(v, addr, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_scaling_and_seeded_masks() {
        let x = vec![1.0f32; 10_000];
        let mut d = Dropout::new(0.25, 9).unwrap();
        d.forward(&x, true).unwrap();
        let zeros = d.output().iter().filter(|v| **v == 0.0).count();
        assert!((2300..2700).contains(&zeros), "{} zeros", zeros);
        assert!(d.output().iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.75).abs() < 1e-6));
        let mean: f32 = d.output().iter().sum::<f32>() / 10_000.0;
        assert!((mean - 1.0).abs() < 0.03);
        d.backward(&x).unwrap();
        assert_eq!(d.dinput(), d.output());
        let mut again = Dropout::new(0.25, 9).unwrap();
        again.forward(&x, true).unwrap();
        assert_eq!(again.output(), d.output());
        again.forward(&x, false).unwrap();
        assert_eq!(again.output(), &x[..]);
        assert!(Dropout::new(1.0, 0).is_err());
    }
}
