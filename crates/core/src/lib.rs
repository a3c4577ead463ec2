//! lstm_core: the numeric core of lstm-wasm. Pure Rust, no `extern "C"`, no allocation on hot paths.
//!
//! Dimension letters, used the same way in every file:
//! T = time steps, B = batch, I = input features, H = hidden units, G = 4·H gate rows
//! (gate order i, f, g, o as in PyTorch's `nn.LSTM`), D = directions (1 or 2), L = layers.
//! Every matrix is row-major. Gradient buffers carry a `d` prefix (`dx`, `dw_ih`).
//! Backward kernels *accumulate* into parameter gradients; zeroing is explicit.
//!
//! The same source builds natively (for `cargo test`) and for wasm32 with or without SIMD128;
//! SIMD is a compile-time property of a wasm module (see `simd.rs`).

pub mod act;
pub mod arena;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod error;
pub mod gemm;
pub mod loss;
pub mod lstm;
pub mod optim;
pub mod rng;
pub mod simd;

pub use error::{Error, Result};
