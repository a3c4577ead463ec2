//! Optimizer updates over a flat parameter block (one call per model step).

/// Plain SGD, `torch.optim.SGD(lr)` without momentum or decay: p -= lr · g.
pub fn sgd_step(params: &mut [f32], grads: &[f32], lr: f32) {
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * *g;
    }
}
