//! One contiguous block of f32 carved into named regions, as llm.c's `malloc_and_point_parameters`.
//!
//! A `Layout` hands out `Region`s (offset + length, each 16-byte aligned) one after another, so regions
//! never overlap by construction. An `Arena` owns the block; it only grows, so once it has seen the
//! largest (T, B) of a run no later call allocates. `Arena::split` borrows several disjoint regions
//! mutably at once, which is what a kernel call with many buffers needs.

/// Whether the byte range [addr, addr + bytes) overlaps the floats of `v`: inputs given by address
/// must not overlap memory the call writes.
pub fn touches(v: &[f32], addr: usize, bytes: usize) -> bool {
    let start = v.as_ptr() as usize;
    bytes > 0 && addr < start + v.len() * 4 && start < addr + bytes
}

/// A range of an arena, in f32 elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    pub off: usize,
    pub len: usize,
}

impl Region {
    /// The sub-range `[start, start + len)` of this region.
    pub fn sub(self, start: usize, len: usize) -> Region {
        assert!(start + len <= self.len, "sub-region {}+{} outside region of {}", start, len, self.len);
        Region { off: self.off + start, len }
    }
}

/// Hands out consecutive, non-overlapping regions.
#[derive(Debug, Default)]
pub struct Layout {
    total: usize,
}

impl Layout {
    pub fn new() -> Self {
        Layout { total: 0 }
    }
    /// The next `len` floats, starting on a 4-float (16-byte) boundary.
    pub fn take(&mut self, len: usize) -> Region {
        let off = (self.total + 3) & !3;
        self.total = off + len;
        Region { off, len }
    }
    pub fn total(&self) -> usize {
        self.total
    }
}

/// The block itself.
#[derive(Debug, Default)]
pub struct Arena {
    buf: Vec<f32>,
}

impl Arena {
    pub fn new() -> Self {
        Arena { buf: Vec::new() }
    }
    /// Make room for a layout of `total` floats. Grows only; contents of a grown arena are zero.
    /// Fails (leaving the arena as it was) when memory cannot grow.
    pub fn fit(&mut self, total: usize) -> crate::Result<()> {
        if self.buf.len() < total {
            if total as u64 > crate::error::MAX_FLOATS * 4 {
                return Err(crate::Error::Value(format!("activations: {} floats is more than wasm32 memory can hold", total)));
            }
            self.buf
                .try_reserve_exact(total - self.buf.len())
                .map_err(|_| crate::Error::Value(format!("activations: out of memory growing to {} floats", total)))?;
            self.buf.resize(total, 0.0);
        }
        Ok(())
    }
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.capacity() * 4
    }
    pub fn get(&self, r: Region) -> &[f32] {
        &self.buf[r.off..r.off + r.len]
    }
    pub fn get_mut(&mut self, r: Region) -> &mut [f32] {
        &mut self.buf[r.off..r.off + r.len]
    }
    pub fn ptr(&self, r: Region) -> *const f32 {
        self.get(r).as_ptr()
    }
    /// Whether the byte range [addr, addr + bytes) touches this arena's block.
    pub fn overlaps(&self, addr: usize, bytes: usize) -> bool {
        touches(&self.buf, addr, bytes)
    }
    /// Mutable slices of `N` regions at once. Panics if two of them overlap or one is out of range.
    pub fn split<const N: usize>(&mut self, rs: [Region; N]) -> [&mut [f32]; N] {
        for (i, a) in rs.iter().enumerate() {
            assert!(a.off + a.len <= self.buf.len(), "region {:?} outside arena of {}", a, self.buf.len());
            for b in rs.iter().skip(i + 1) {
                let disjoint = a.len == 0 || b.len == 0 || a.off + a.len <= b.off || b.off + b.len <= a.off;
                assert!(disjoint, "regions {:?} and {:?} overlap", a, b);
            }
        }
        let base = self.buf.as_mut_ptr();
        // SAFETY: every region is inside the buffer and no two overlap (checked above), so the slices
        // are disjoint borrows of `self.buf`, which stays mutably borrowed for their lifetime.
        std::array::from_fn(|i| unsafe { std::slice::from_raw_parts_mut(base.add(rs[i].off), rs[i].len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_aligned_disjoint_and_split() {
        let mut l = Layout::new();
        let a = l.take(5);
        let b = l.take(3);
        let c = l.take(0);
        assert_eq!((a.off, b.off, c.off), (0, 8, 12));
        let mut arena = Arena::new();
        arena.fit(l.total()).unwrap();
        let [x, y] = arena.split([a, b]);
        x.fill(1.0);
        y.fill(2.0);
        assert_eq!(arena.get(a), &[1.0; 5]);
        assert_eq!(arena.get(b), &[2.0; 3]);
    }

    #[test]
    #[should_panic(expected = "overlap")]
    fn overlapping_split_panics() {
        let mut arena = Arena::new();
        arena.fit(16).unwrap();
        let _ = arena.split([Region { off: 0, len: 8 }, Region { off: 4, len: 8 }]);
    }
}
