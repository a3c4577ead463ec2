//! Losses and their gradients, fused: each function returns the loss and writes dL/dinput.
//! Reductions are means, as PyTorch's defaults (`reduction='mean'`). Sums run in f64 so the loss
//! does not depend on the batch size's rounding.

use crate::error::{check_finite, check_len, Error, Result};

/// Class id that marks a row as not counted (PyTorch's `ignore_index`, here fixed at -1).
pub const IGNORE_CLASS: i32 = -1;

/// Softmax cross-entropy of `n` rows of `c` logits against integer class targets.
/// loss = mean over counted rows of (logsumexp(z) - z[target]); rows with target -1 are not counted.
/// dlogits = (softmax(z) - onehot(target)) / counted, and 0 on ignored rows.
/// Returns the loss (0 when no row is counted).
pub fn softmax_cross_entropy(logits: &[f32], n: usize, c: usize, targets: &[i32], dlogits: &mut [f32]) -> Result<f32> {
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
        return Ok(0.0);
    }
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
        let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (dv, zv) in d.iter_mut().zip(z) {
            let e = (zv - max).exp();
            *dv = e;
            sum += e;
        }
        let inv = 1.0 / sum;
        for dv in d.iter_mut() {
            *dv *= inv * scale;
        }
        d[target as usize] -= scale;
        total += (sum.ln() + max - z[target as usize]) as f64;
    }
    Ok((total / counted as f64) as f32)
}

/// Mean squared error over all `n` elements; dpred = 2 (pred - target) / n.
pub fn mse(pred: &[f32], target: &[f32], dpred: &mut [f32]) -> Result<f32> {
    check_len("mse: target", target.len(), pred.len())?;
    check_len("mse: dpred", dpred.len(), pred.len())?;
    check_finite("mse: prediction", pred)?;
    check_finite("mse: target", target)?;
    let n = pred.len();
    if n == 0 {
        return Err(Error::Shape("mse: prediction is empty".into()));
    }
    let scale = 2.0 / n as f32;
    let mut total = 0.0f64;
    for i in 0..n {
        let e = pred[i] - target[i];
        dpred[i] = e * scale;
        total += (e as f64) * (e as f64);
    }
    Ok((total / n as f64) as f32)
}
