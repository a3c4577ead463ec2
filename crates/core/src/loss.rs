//! Losses and their gradients, fused: each function returns the loss and writes dL/dinput.
//! Reductions are means, as PyTorch's defaults (`reduction='mean'`). Sums run in f64 so the loss
//! does not depend on the batch size's rounding.

use crate::act::{exp4_with, ActConsts};
use crate::error::{check_finite, check_len, Error, Result};
use crate::simd::F32x4;

/// Class id that marks a row as not counted (PyTorch's `ignore_index`, here fixed at -1).
pub const IGNORE_CLASS: i32 = -1;

/// Softmax cross-entropy of `n` rows of `c` logits against integer class targets.
/// loss = mean over counted rows of (logsumexp(z) - z[target]); rows with target -1 are not counted.
/// dlogits = (softmax(z) - onehot(target)) / counted, and 0 on ignored rows.
/// Returns the loss (0 when no row is counted).
pub fn softmax_cross_entropy(logits: &[f32], n: usize, c: usize, targets: &[i32], dlogits: &mut [f32]) -> Result<f32> {
    softmax_cross_entropy_stats(logits, n, c, targets, dlogits).map(|s| s.loss)
}

/// Loss plus what accuracy needs, from one pass over the logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropyStats {
    pub loss: f32,
    /// Counted rows whose largest logit (first on ties) is the target.
    pub correct: usize,
    /// Rows not ignored.
    pub counted: usize,
}

/// `softmax_cross_entropy` that also counts correct argmax predictions.
pub fn softmax_cross_entropy_stats(logits: &[f32], n: usize, c: usize, targets: &[i32], dlogits: &mut [f32]) -> Result<CrossEntropyStats> {
    check_len("crossEntropy: logits", logits.len(), n * c)?;
    check_len("crossEntropy: targets", targets.len(), n)?;
    check_len("crossEntropy: dlogits", dlogits.len(), n * c)?;
    check_finite("crossEntropy: logits", logits)?;
    if let Some(i) = targets.iter().position(|&t| t != IGNORE_CLASS && (t < 0 || t as usize >= c)) {
        return Err(Error::Value(format!(
            "crossEntropy: target {} is {}, expected a class id in [0, {}) or -1 (ignored)",
            i, targets[i], c
        )));
    }
    let counted = targets.iter().filter(|&&t| t != IGNORE_CLASS).count();
    if counted == 0 {
        dlogits.fill(0.0);
        return Ok(CrossEntropyStats { loss: 0.0, correct: 0, counted: 0 });
    }
    let mut correct = 0;
    let consts = ActConsts::load();
    let scale = 1.0 / counted as f32;
    let mut total = 0.0f64;
    for r in 0..n {
        let z = &logits[r * c..(r + 1) * c];
        let d = &mut dlogits[r * c..(r + 1) * c];
        let target = targets[r];
        if target == IGNORE_CLASS {
            d.fill(0.0);
            continue;
        }
        let mut arg = 0;
        for k in 1..c {
            if z[k] > z[arg] {
                arg = k;
            }
        }
        correct += (arg == target as usize) as usize;
        let max = z[arg];
        // e^(z - max) four classes at a time (the same exp4 as the gates: identical in every build).
        let mut sum = 0.0f32;
        let mut k = 0;
        while k < c {
            let w = (c - k).min(4);
            let e = exp4_with(F32x4::load_partial(z, k, w).sub(F32x4::splat(max)), &consts).to_array();
            d[k..k + w].copy_from_slice(&e[..w]);
            for v in &e[..w] {
                sum += *v;
            }
            k += 4;
        }
        let inv = 1.0 / sum;
        for dv in d.iter_mut() {
            *dv *= inv * scale;
        }
        d[target as usize] -= scale;
        total += (sum.ln() + max - z[target as usize]) as f64;
    }
    Ok(CrossEntropyStats { loss: (total / counted as f64) as f32, correct, counted })
}

/// Mean squared error over all `n` elements; dpred = 2 (pred - target) / n.
pub fn mse(pred: &[f32], target: &[f32], dpred: &mut [f32]) -> Result<f32> {
    mse_masked(pred, target, dpred, pred.len().max(1), None)
}

/// Mean squared error over the rows (of `width` elements) whose `row_mask` entry is non-zero
/// (all rows without a mask); dpred = 2 (pred - target) / counted elements, 0 on masked rows.
pub fn mse_masked(pred: &[f32], target: &[f32], dpred: &mut [f32], width: usize, row_mask: Option<&[i32]>) -> Result<f32> {
    check_len("mse: target", target.len(), pred.len())?;
    check_len("mse: dpred", dpred.len(), pred.len())?;
    let n = pred.len();
    if n == 0 || width == 0 || n % width != 0 {
        return Err(Error::Shape(format!("mse: prediction of {} values is not rows of {}", n, width)));
    }
    if let Some(m) = row_mask {
        check_len("mse: row mask", m.len(), n / width)?;
    }
    check_finite("mse: prediction", pred)?;
    check_finite("mse: target", target)?;
    let counted_rows = row_mask.map_or(n / width, |m| m.iter().filter(|&&v| v != 0).count());
    if counted_rows == 0 {
        dpred.fill(0.0);
        return Ok(0.0);
    }
    let counted = counted_rows * width;
    let scale = 2.0 / counted as f32;
    let mut total = 0.0f64;
    for (r, ((p, t), d)) in pred.chunks_exact(width).zip(target.chunks_exact(width)).zip(dpred.chunks_exact_mut(width)).enumerate() {
        if row_mask.map_or(false, |m| m[r] == 0) {
            d.fill(0.0);
            continue;
        }
        for i in 0..width {
            let e = p[i] - t[i];
            d[i] = e * scale;
            total += (e as f64) * (e as f64);
        }
    }
    Ok((total / counted as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ce64(z: &[f64], n: usize, c: usize, t: &[i32]) -> f64 {
        let (mut s, mut k) = (0.0, 0);
        for r in 0..n {
            if t[r] < 0 {
                continue;
            }
            let row = &z[r * c..(r + 1) * c];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            s += lse - row[t[r] as usize];
            k += 1;
        }
        s / k as f64
    }

    #[test]
    fn cross_entropy_value_and_gradient() {
        let (n, c) = (4, 5);
        let z: Vec<f32> = (0..n * c).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.4).collect();
        let t = [2, -1, 0, 4];
        let mut d = vec![f32::NAN; n * c];
        let l = softmax_cross_entropy(&z, n, c, &t, &mut d).unwrap();
        let z64: Vec<f64> = z.iter().map(|v| *v as f64).collect();
        assert!((l as f64 - ce64(&z64, n, c, &t)).abs() < 1e-6);
        for i in 0..n * c {
            let (mut p, mut m) = (z64.clone(), z64.clone());
            p[i] += 1e-6;
            m[i] -= 1e-6;
            let fd = (ce64(&p, n, c, &t) - ce64(&m, n, c, &t)) / 2e-6;
            assert!((d[i] as f64 - fd).abs() < 1e-6, "dlogits[{}] {} vs {}", i, d[i], fd);
        }
        assert!(d[c..2 * c].iter().all(|v| *v == 0.0), "ignored row has zero gradient");
        // Huge logits do not overflow.
        let big = [1000.0f32, -1000.0, 0.0];
        let mut db = [0.0; 3];
        assert!(softmax_cross_entropy(&big, 1, 3, &[0], &mut db).unwrap().abs() < 1e-6);
        assert!(softmax_cross_entropy(&big, 1, 3, &[3], &mut db).unwrap_err().message().contains("target 0 is 3"));
    }

    #[test]
    fn mse_value_and_gradient() {
        let p = [0.5f32, -1.0, 2.0, 0.25];
        let y = [0.0f32, -1.5, 1.0, 1.0];
        let mut d = [0.0; 4];
        let l = mse(&p, &y, &mut d).unwrap();
        let want: f64 = p.iter().zip(&y).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / 4.0;
        assert!((l as f64 - want).abs() < 1e-7);
        for i in 0..4 {
            assert!((d[i] - 2.0 * (p[i] - y[i]) / 4.0).abs() < 1e-7);
        }
        assert!(mse(&[f32::INFINITY], &[0.0], &mut [0.0]).is_err());
    }
}
