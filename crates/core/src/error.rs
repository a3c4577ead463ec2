//! Errors returned by the core. The ABI layer turns them into a status code plus a message.

use std::fmt;
use crate::simd::F32x4;

/// What went wrong, with a message that names the argument and the expected and actual shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument has the wrong length or shape.
    Shape(String),
    /// An argument has an invalid value (NaN, out-of-range class id, zero size...).
    Value(String),
    /// The call is not valid in the object's current state (backward before forward...).
    State(String),
}

impl Error {
    /// Numeric status used across the ABI: 1 shape, 2 value, 3 state.
    pub fn status(&self) -> i32 {
        match self {
            Error::Shape(_) => 1,
            Error::Value(_) => 2,
            Error::State(_) => 3,
        }
    }
    pub fn message(&self) -> &str {
        match self {
            Error::Shape(m) | Error::Value(m) | Error::State(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `Err(Error::Shape)` unless `slice_len == expected`.
pub fn check_len(what: &str, slice_len: usize, expected: usize) -> Result<()> {
    if slice_len == expected {
        Ok(())
    } else {
        Err(Error::Shape(format!(
            "{}: expected {} values, got {}",
            what, expected, slice_len
        )))
    }
}

/// A float for an error message, written without `core::fmt`'s float machinery (which would add
/// tens of kilobytes to the wasm): "NaN", "Infinity", "-Infinity", or up to 6 decimals.
pub fn fmt_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let neg = x < 0.0;
    let a = x.abs();
    if a >= 1e15 {
        return format!("{}1e{}", if neg { "-" } else { "" }, a.log10().floor() as i64);
    }
    let scaled = (a * 1e6).round() as u64;
    let (int, frac) = (scaled / 1_000_000, scaled % 1_000_000);
    let mut s = format!("{}{}", if neg { "-" } else { "" }, int);
    if frac != 0 {
        let digits = format!("{:06}", frac);
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s
}

/// `Err(Error::Value)` naming the first non-finite element of `v`.
pub fn check_finite(what: &str, v: &[f32]) -> Result<()> {
    if all_finite(v) {
        return Ok(());
    }
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Value(format!(
            "{}: element {} is {} (inputs must be finite)",
            what,
            i,
            fmt_float(v[i] as f64)
        ))),
    }
}

/// Whether every element is finite, four at a time: x·0 is ±0 for a finite x and NaN for ±inf and
/// NaN, so the sum of those products is NaN exactly when some element is not finite (one load, one
/// multiply and one add per four floats, no branch).
fn all_finite(v: &[f32]) -> bool {
    let n4 = v.len() & !3;
    let (zero, mut acc) = (F32x4::zero(), F32x4::zero());
    let mut p = v.as_ptr();
    // SAFETY: p walks v[0..n4] four floats at a time.
    unsafe {
        let end = p.add(n4);
        while p != end {
            acc = acc.add(F32x4::load_ptr(p).mul(zero));
            p = p.add(4);
        }
    }
    acc.to_array().iter().all(|&x| x == 0.0) && v[n4..].iter().all(|x| x.is_finite())
}

/// Largest float count one buffer may hold (1 GiB): wasm32 memory is 4 GiB in all, and an object
/// holds several buffers of its size.
pub const MAX_FLOATS: u64 = 1 << 28;

/// A zeroed Vec of `n` floats, or `Err(Error::Value)` when it is too large or memory cannot grow
/// (instead of the abort an infallible allocation would be).
pub fn zeroed(what: &str, n: u64) -> Result<Vec<f32>> {
    if n > MAX_FLOATS {
        return Err(Error::Value(format!("{}: {} floats is more than this build can hold ({})", what, n, MAX_FLOATS)));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n as usize)
        .map_err(|_| Error::Value(format!("{}: out of memory allocating {} floats", what, n)))?;
    v.resize(n as usize, 0.0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::check_finite;

    #[test]
    fn check_finite_finds_every_non_finite_value_and_names_the_first() {
        for len in [0usize, 1, 3, 4, 5, 8, 13, 64] {
            let v: Vec<f32> = (0..len).map(|i| i as f32 * -1.5e30).collect();
            assert!(check_finite("v", &v).is_ok(), "len {}", len);
            for at in 0..len {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut w = v.clone();
                    w[at] = bad;
                    let err = check_finite("v", &w).unwrap_err();
                    assert!(format!("{:?}", err).contains(&format!("element {} ", at)), "len {} at {}: {:?}", len, at, err);
                }
            }
        }
        assert!(check_finite("v", &[f32::MAX, f32::MIN, 0.0, -0.0, 1e-45]).is_ok());
    }
}
