//! Optimizers over flat parameter blocks, with `torch.optim`'s update rules and defaults (1.13).
//! One `step` call updates every block of a model: clipping first (by value, then by global norm),
//! then the rule. Hyper-parameters are f64 as in PyTorch; per-step coefficients are formed in f64 and
//! rounded to f32 once.
//!
//! State is one contiguous f32 vector: for each block, `slots()` arrays of the block's length, so a
//! checkpoint is one copy. Update rules (g = gradient after clipping, p = parameter, t = step ≥ 1):
//! - SGD: g += wd·p; momentum: buf = g (t = 1) else μ·buf + (1−dampening)·g;
//!        g = nesterov ? g + μ·buf : buf; p −= lr·g.
//! - RMSprop: g += wd·p; sq = α·sq + (1−α)·g²; centered: ga = α·ga + (1−α)·g, avg = √(sq − ga²) + eps,
//!        else avg = √sq + eps; momentum: buf = μ·buf + g/avg, p −= lr·buf; else p −= lr·g/avg.
//! - Adam: g += wd·p; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; amsgrad: vmax = max(vmax, v), use vmax;
//!        p −= (lr/(1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps).
//! - AdamW: p ·= 1 − lr·wd, then Adam without the wd term.
//! - Adagrad: g += wd·p; clr = lr / (1 + (t−1)·lr_decay); sum += g²; p −= clr · g / (√sum + eps).

use crate::error::{Error, Result};
use crate::simd::F32x4;


/// An update rule and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    Sgd { momentum: f64, dampening: f64, nesterov: bool, weight_decay: f64 },
    RmsProp { alpha: f64, eps: f64, momentum: f64, centered: bool, weight_decay: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64, weight_decay: f64, amsgrad: bool, decoupled: bool },
    Adagrad { lr_decay: f64, initial_accumulator_value: f64, eps: f64, weight_decay: f64 },
}

impl Rule {
    /// Build a rule from the ABI's kind code and f64 hyper-parameters (order documented per kind).
    /// 0 SGD [momentum, dampening, nesterov, weightDecay]; 1 RMSprop [alpha, eps, momentum, centered,
    /// weightDecay]; 2 Adam / 3 AdamW [beta1, beta2, eps, weightDecay, amsgrad];
    /// 4 Adagrad [lrDecay, initialAccumulatorValue, eps, weightDecay].
    pub fn from_code(kind: u32, hp: &[f64]) -> Result<Rule> {
        let need = match kind {
            0 => 4,
            1 => 5,
            2 | 3 => 5,
            4 => 4,
            _ => return Err(Error::Value(format!("optimizer: unknown kind {}", kind))),
        };
        if hp.len() != need {
            return Err(Error::Shape(format!("optimizer: kind {} takes {} hyper-parameters, got {}", kind, need, hp.len())));
        }
        if let Some(i) = hp.iter().position(|v| !v.is_finite()) {
            return Err(Error::Value(format!("optimizer: hyper-parameter {} is {}", i, crate::error::fmt_float(hp[i]))));
        }
        let rule = match kind {
            0 => Rule::Sgd { momentum: hp[0], dampening: hp[1], nesterov: hp[2] != 0.0, weight_decay: hp[3] },
            1 => Rule::RmsProp { alpha: hp[0], eps: hp[1], momentum: hp[2], centered: hp[3] != 0.0, weight_decay: hp[4] },
            2 | 3 => Rule::Adam { beta1: hp[0], beta2: hp[1], eps: hp[2], weight_decay: hp[3], amsgrad: hp[4] != 0.0, decoupled: kind == 3 },
            _ => Rule::Adagrad { lr_decay: hp[0], initial_accumulator_value: hp[1], eps: hp[2], weight_decay: hp[3] },
        };
        rule.validate()?;
        Ok(rule)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Value(m.to_string()));
        match *self {
            Rule::Sgd { momentum, dampening, nesterov, weight_decay } => {
                if momentum < 0.0 || weight_decay < 0.0 {
                    return bad("SGD: momentum and weightDecay must be >= 0");
                }
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return bad("SGD: nesterov requires momentum > 0 and dampening = 0");
                }
            }
            Rule::RmsProp { alpha, eps, momentum, weight_decay, .. } => {
                if !(0.0..=1.0).contains(&alpha) || eps < 0.0 || momentum < 0.0 || weight_decay < 0.0 {
                    return bad("RMSprop: alpha must be in [0, 1]; eps, momentum and weightDecay >= 0");
                }
            }
            Rule::Adam { beta1, beta2, eps, weight_decay, .. } => {
                if !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) || eps < 0.0 || weight_decay < 0.0 {
                    return bad("Adam: betas must be in [0, 1); eps and weightDecay >= 0");
                }
            }
            Rule::Adagrad { lr_decay, initial_accumulator_value, eps, weight_decay } => {
                if lr_decay < 0.0 || initial_accumulator_value < 0.0 || eps < 0.0 || weight_decay < 0.0 {
                    return bad("Adagrad: lrDecay, initialAccumulatorValue, eps and weightDecay must be >= 0");
                }
            }
        }
        Ok(())
    }

    /// State arrays per parameter.
    pub fn slots(&self) -> usize {
        match *self {
            Rule::Sgd { momentum, .. } => (momentum != 0.0) as usize,
            Rule::RmsProp { momentum, centered, .. } => 1 + centered as usize + (momentum != 0.0) as usize,
            Rule::Adam { amsgrad, .. } => 2 + amsgrad as usize,
            Rule::Adagrad { .. } => 1,
        }
    }
}

/// Clipping applied to all blocks together before the rule.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clip {
    /// Clamp each gradient element to [-v, v] (`clip_grad_value_`).
    pub value: Option<f64>,
    /// Scale all gradients by max_norm / (norm + 1e-6) when that is < 1 (`clip_grad_norm_`).
    pub norm: Option<f64>,
}

/// An optimizer's rule, step count and state for a fixed list of block lengths.
pub struct Optimizer {
    pub rule: Rule,
    /// Steps taken so far.
    pub steps: u64,
    /// Block lengths, in the order blocks are passed to `step`.
    lens: Vec<usize>,
    /// All state, block after block, `slots` arrays per block; allocated on first use (`state`).
    state: Vec<f32>,
}

impl Optimizer {
    pub fn new(rule: Rule) -> Optimizer {
        Optimizer { rule, steps: 0, lens: Vec::new(), state: Vec::new() }
    }

    /// Register the next block of `n` parameters; its state starts as torch's (zeros, or Adagrad's
    /// initial accumulator) when it is first used.
    pub fn add_block(&mut self, n: usize) {
        self.lens.push(n);
    }

    /// The state of every block registered so far. Allocated at first use, once and to the exact
    /// size: growing it block by block would leave wasm memory behind (the blocks it moved out of,
    /// and a doubled capacity), which wasm never gives back.
    pub fn state(&mut self) -> crate::Result<&mut [f32]> {
        let want = self.lens.iter().try_fold(0u64, |a, &n| a.checked_add(n as u64)).and_then(|n| n.checked_mul(self.rule.slots() as u64));
        let want = match want {
            Some(n) if n <= crate::error::MAX_FLOATS => n as usize,
            _ => return Err(crate::Error::Value("optimizer: the blocks' state is more than one buffer may hold".into())),
        };
        if self.state.len() < want {
            let init = match self.rule {
                Rule::Adagrad { initial_accumulator_value, .. } => initial_accumulator_value as f32,
                _ => 0.0,
            };
            self.state
                .try_reserve_exact(want - self.state.len())
                .map_err(|_| crate::Error::Value(format!("optimizer: out of memory for {} floats of state", want)))?;
            self.state.resize(want, init);
        }
        Ok(&mut self.state)
    }

    pub fn block_lens(&self) -> &[usize] {
        &self.lens
    }

    /// One update of every block (params[i], grads[i]) at learning rate `lr`. Gradients are clipped
    /// in place. Returns the global 2-norm of the gradients before clipping.
    pub fn step(&mut self, blocks: &mut [(&mut [f32], &mut [f32])], lr: f64, clip: Clip) -> Result<f64> {
        if blocks.len() != self.lens.len() || blocks.iter().zip(&self.lens).any(|((p, g), n)| p.len() != *n || g.len() != *n) {
            return Err(Error::Shape(format!(
                "optimizer.step: expected {} blocks of lengths {:?}, got {:?}",
                self.lens.len(),
                self.lens,
                blocks.iter().map(|(p, _)| p.len()).collect::<Vec<_>>()
            )));
        }
        if !lr.is_finite() || lr < 0.0 {
            return Err(Error::Value(format!("optimizer.step: lr must be a finite number >= 0, got {}", crate::error::fmt_float(lr))));
        }
        // The state exists (or the step is refused) before anything changes.
        self.state()?;
        let mut sq = 0.0f64;
        for (_, g) in blocks.iter() {
            for v in g.iter() {
                sq += (*v as f64) * (*v as f64);
            }
        }
        let norm = sq.sqrt();
        if !norm.is_finite() {
            return Err(Error::Value("optimizer.step: gradients are not finite (NaN or Inf); parameters left unchanged".into()));
        }
        if let Some(v) = clip.value {
            let v = v as f32;
            for (_, g) in blocks.iter_mut() {
                for x in g.iter_mut() {
                    *x = x.max(-v).min(v);
                }
            }
        }
        if let Some(max_norm) = clip.norm {
            let total = if clip.value.is_some() {
                let mut s = 0.0f64;
                for (_, g) in blocks.iter() {
                    s += g.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>();
                }
                s.sqrt()
            } else {
                norm
            };
            let coef = max_norm / (total + 1e-6);
            if coef < 1.0 {
                let c = coef as f32;
                for (_, g) in blocks.iter_mut() {
                    for x in g.iter_mut() {
                        *x *= c;
                    }
                }
            }
        }
        self.steps += 1;
        let t = self.steps;
        let (rule, slots) = (self.rule, self.rule.slots());
        let state = self.state()?;
        let mut off = 0;
        for (p, g) in blocks.iter_mut() {
            let n = p.len();
            let st = &mut state[off..off + n * slots];
            off += n * slots;
            apply(rule, p, g, st, lr, t);
        }
        Ok(norm)
    }
}

/// One rule over one block; `st` holds the block's `slots` state arrays back to back.
fn apply(rule: Rule, p: &mut [f32], g: &[f32], st: &mut [f32], lr: f64, t: u64) {
    let n = p.len();
    match rule {
        Rule::Sgd { momentum, dampening, nesterov, weight_decay } => {
            let (lr, wd, mu, damp) = (lr as f32, weight_decay as f32, momentum as f32, (1.0 - dampening) as f32);
            for i in 0..n {
                let mut d = g[i] + wd * p[i];
                if momentum != 0.0 {
                    let buf = &mut st[i];
                    *buf = if t == 1 { d } else { mu * *buf + damp * d };
                    d = if nesterov { d + mu * *buf } else { *buf };
                }
                p[i] -= lr * d;
            }
        }
        Rule::RmsProp { alpha, eps, momentum, centered, weight_decay } => {
            let (lr, wd, a, one_a, eps, mu) = (lr as f32, weight_decay as f32, alpha as f32, (1.0 - alpha) as f32, eps as f32, momentum as f32);
            let (sq, rest) = st.split_at_mut(n);
            let (ga, buf) = if centered { rest.split_at_mut(n) } else { rest.split_at_mut(0) };
            for i in 0..n {
                let d = g[i] + wd * p[i];
                sq[i] = a * sq[i] + one_a * d * d;
                let avg = if centered {
                    ga[i] = a * ga[i] + one_a * d;
                    (sq[i] - ga[i] * ga[i]).sqrt() + eps
                } else {
                    sq[i].sqrt() + eps
                };
                if momentum != 0.0 {
                    buf[i] = mu * buf[i] + d / avg;
                    p[i] -= lr * buf[i];
                } else {
                    p[i] -= lr * d / avg;
                }
            }
        }
        Rule::Adam { beta1, beta2, eps, weight_decay, amsgrad, decoupled } => {
            let bc1 = 1.0 - beta1.powi(t as i32);
            let bc2_sqrt = (1.0 - beta2.powi(t as i32)).sqrt();
            let step_size = (lr / bc1) as f32;
            let (b1, one_b1, b2, one_b2) = (beta1 as f32, (1.0 - beta1) as f32, beta2 as f32, (1.0 - beta2) as f32);
            let (inv_bc2_sqrt, eps) = ((1.0 / bc2_sqrt) as f32, eps as f32);
            let decay = (1.0 - lr * weight_decay) as f32;
            let wd = if decoupled { 0.0 } else { weight_decay as f32 };
            let (m, rest) = st.split_at_mut(n);
            let (v, vmax) = rest.split_at_mut(n);
            // Four parameters at a time; every operation is correctly rounded per lane, so this is
            // the scalar rule's arithmetic exactly.
            let s4 = F32x4::splat;
            let (b1, one_b1, b2, one_b2) = (s4(b1), s4(one_b1), s4(b2), s4(one_b2));
            let (inv_bc2_sqrt, eps, step_size, decay, wd) = (s4(inv_bc2_sqrt), s4(eps), s4(step_size), s4(decay), s4(wd));
            let mut i = 0;
            while i < n {
                let w = (n - i).min(4);
                let ld = |s: &[f32]| F32x4::load_partial(s, i, w);
                let mut pv = ld(p);
                if decoupled {
                    pv = pv.mul(decay);
                }
                let d = ld(g).add(wd.mul(pv));
                let mv = b1.mul(ld(m)).add(one_b1.mul(d));
                let vv = b2.mul(ld(v)).add(one_b2.mul(d).mul(d));
                mv.store_partial(m, i, w);
                vv.store_partial(v, i, w);
                let vv = if amsgrad {
                    let mx = ld(vmax).max(vv);
                    mx.store_partial(vmax, i, w);
                    mx
                } else {
                    vv
                };
                let denom = vv.sqrt().mul(inv_bc2_sqrt).add(eps);
                pv.sub(step_size.mul(mv).div(denom)).store_partial(p, i, w);
                i += 4;
            }
        }
        Rule::Adagrad { lr_decay, eps, weight_decay, .. } => {
            let clr = (lr / (1.0 + (t - 1) as f64 * lr_decay)) as f32;
            let (wd, eps) = (weight_decay as f32, eps as f32);
            for i in 0..n {
                let d = g[i] + wd * p[i];
                st[i] += d * d;
                p[i] -= clr * d / (st[i].sqrt() + eps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: Rule, clip: Clip, steps: usize) -> Vec<f32> {
        let mut o = Optimizer::new(rule);
        o.add_block(3);
        o.add_block(2);
        let mut p1 = vec![0.5f32, -0.25, 1.0];
        let mut p2 = vec![2.0f32, -1.0];
        for s in 0..steps {
            let mut g1: Vec<f32> = p1.iter().map(|v| v * (1.0 + s as f32)).collect();
            let mut g2: Vec<f32> = p2.iter().map(|v| v - 0.5).collect();
            o.step(&mut [(&mut p1, &mut g1), (&mut p2, &mut g2)], 0.1, clip).unwrap();
        }
        p1.into_iter().chain(p2).collect()
    }

    #[test]
    fn sgd_without_momentum_is_plain_descent() {
        let r = Rule::Sgd { momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 };
        let p = run(r, Clip::default(), 1);
        assert_eq!(p, vec![0.45, -0.225, 0.9, 1.85, -0.85]);
    }

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        // With bias correction the first Adam step is lr · g/|g| (up to eps).
        let r = Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, amsgrad: false, decoupled: false };
        let p = run(r, Clip::default(), 1);
        let want = [0.4, -0.15, 0.9, 1.9, -0.9];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{} vs {}", a, b);
        }
    }

    #[test]
    fn clipping_by_norm_scales_all_blocks_together() {
        let mut o = Optimizer::new(Rule::Sgd { momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 });
        o.add_block(1);
        o.add_block(1);
        let (mut p1, mut p2) = (vec![0.0f32], vec![0.0f32]);
        let (mut g1, mut g2) = (vec![3.0f32], vec![4.0f32]);
        let norm = o.step(&mut [(&mut p1, &mut g1), (&mut p2, &mut g2)], 1.0, Clip { value: None, norm: Some(1.0) }).unwrap();
        assert_eq!(norm, 5.0);
        assert!((p1[0] + 0.6).abs() < 1e-6 && (p2[0] + 0.8).abs() < 1e-6);
    }

    #[test]
    fn refuses_bad_hyper_parameters_and_non_finite_gradients() {
        assert!(Rule::from_code(2, &[1.0, 0.999, 1e-8, 0.0, 0.0]).is_err());
        assert!(Rule::from_code(0, &[0.0, 0.0, 1.0, 0.0]).is_err(), "nesterov without momentum");
        assert!(Rule::from_code(9, &[]).is_err());
        let mut o = Optimizer::new(Rule::from_code(0, &[0.0, 0.0, 0.0, 0.0]).unwrap());
        o.add_block(1);
        let mut p = vec![1.0f32];
        let mut g = vec![f32::NAN];
        assert!(o.step(&mut [(&mut p, &mut g)], 0.1, Clip::default()).is_err());
        assert_eq!(p, vec![1.0]);
        assert_eq!(o.steps, 0);
    }
}
