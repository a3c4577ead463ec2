//! Seeded pseudo-random numbers (PCG32, O'Neill 2014) for initialisation and, later, dropout.
//! Deterministic across builds and runtimes: integer arithmetic only, then an exact float conversion.

#[derive(Clone, Debug)]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

impl Pcg32 {
    const MUL: u64 = 6364136223846793005;

    /// A generator for `seed`; the stream is fixed.
    pub fn new(seed: u64) -> Self {
        let mut r = Pcg32 { state: 0, inc: (0xda3e39cb94b95bdb_u64 << 1) | 1 };
        r.next_u32();
        r.state = r.state.wrapping_add(seed);
        r.next_u32();
        r
    }

    /// The full generator state (for checkpoints).
    pub fn to_words(&self) -> [u64; 2] {
        [self.state, self.inc]
    }

    /// Restore a state from `to_words` (the increment is forced odd, as PCG requires).
    pub fn from_words(w: [u64; 2]) -> Self {
        Pcg32 { state: w[0], inc: w[1] | 1 }
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MUL).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in [0, 1) with 24 random bits (exactly representable in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Fill `out` uniformly from [-bound, bound), as PyTorch's `reset_parameters` does for RNNs and Linear.
    pub fn fill_uniform(&mut self, out: &mut [f32], bound: f32) {
        for v in out.iter_mut() {
            *v = (self.next_f32() * 2.0 - 1.0) * bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Pcg32::new(42);
        let mut b = Pcg32::new(42);
        let mut c = Pcg32::new(43);
        let xa: Vec<u32> = (0..8).map(|_| a.next_u32()).collect();
        let xb: Vec<u32> = (0..8).map(|_| b.next_u32()).collect();
        let xc: Vec<u32> = (0..8).map(|_| c.next_u32()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        let mut v = vec![0.0; 10_000];
        Pcg32::new(7).fill_uniform(&mut v, 0.25);
        assert!(v.iter().all(|x| *x >= -0.25 && *x < 0.25));
        let mean: f32 = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.01, "mean {}", mean);
    }
}
