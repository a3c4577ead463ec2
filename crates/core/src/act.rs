//! Gate activations and their derivatives, written in terms of the activation's *output*
//! (what the forward pass keeps), as backward needs them.
//!
//! One scalar definition serves every build, so the SIMD and scalar wasm modules agree bit for bit.

/// Logistic sigmoid 1 / (1 + e^-x). Saturates cleanly: e^-x = inf gives 0, e^-x = 0 gives 1.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// d sigmoid / dx expressed with y = sigmoid(x).
#[inline(always)]
pub fn sigmoid_grad_from_output(y: f32) -> f32 {
    y * (1.0 - y)
}

/// Hyperbolic tangent.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}

/// d tanh / dx expressed with y = tanh(x).
#[inline(always)]
pub fn tanh_grad_from_output(y: f32) -> f32 {
    1.0 - y * y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for &x in &[-6.0f32, -1.3, -0.2, 0.0, 0.4, 2.5, 7.0] {
            let e = 1e-3f64;
            let xd = x as f64;
            let s = |v: f64| 1.0 / (1.0 + (-v).exp());
            let fd_s = (s(xd + e) - s(xd - e)) / (2.0 * e);
            let fd_t = ((xd + e).tanh() - (xd - e).tanh()) / (2.0 * e);
            assert!((sigmoid_grad_from_output(sigmoid(x)) as f64 - fd_s).abs() < 1e-6, "sigmoid' at {}", x);
            assert!((tanh_grad_from_output(tanh(x)) as f64 - fd_t).abs() < 1e-6, "tanh' at {}", x);
        }
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
    }
}
