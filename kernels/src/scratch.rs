//! Buffers each thread keeps for the kernels' temporary blocks: GEMM's
//! packed panels and accumulators, the transposed walk's tile. A buffer
//! grows as needed and stays for the next call, so a repeated op (an
//! `_out` call, a training step's products) allocates nothing after its
//! first; its blocks start on a 64-byte line, so no vector load or store
//! of a block whose rows are whole lines straddles two.

use std::cell::Cell;
use std::thread::LocalKey;

/// Where a thread keeps one buffer:
/// `thread_local! { static S: Slot = const { Cell::new(Vec::new()) }; }`.
pub(crate) type Slot = Cell<Vec<u64>>;

/// Words of `u64` in a cache line.
const LINE_WORDS: usize = 64 / 8;

/// This thread's buffer of one [`Slot`], taken out of the slot while the
/// guard lives and put back when it drops. No closure is involved, so a
/// caller compiled for an ISA's features keeps them around its use (a
/// closure the compiler leaves out of line runs without them). A nested
/// user of the same slot finds it empty and grows a buffer of its own,
/// which the outer guard's return then replaces (and frees).
pub(crate) struct Scratch {
    slot: &'static LocalKey<Slot>,
    buf: Vec<u64>,
}

impl Scratch {
    /// Takes this thread's buffer out of `slot`.
    pub(crate) fn take(slot: &'static LocalKey<Slot>) -> Scratch {
        Scratch {
            slot,
            buf: slot.take(),
        }
    }

    /// `words` words of the buffer from its first 64-byte boundary plus
    /// `skew` words (`skew < 8`; GEMM's panel-skew experiment, else 0); the
    /// buffer grows to hold them (new words are zero).
    pub(crate) fn line_words(&mut self, words: usize, skew: usize) -> &mut [u64] {
        // Up to a line of padding before the boundary, and the skew.
        let skew = skew.min(LINE_WORDS - 1);
        let need = words + (LINE_WORDS - 1) + skew;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        // A `u64` pointer is 8-aligned, so the offset is below LINE_WORDS;
        // `align_offset` may also answer "cannot" (usize::MAX): then start
        // at 0, unaligned but still in bounds.
        let off = match self.buf.as_ptr().align_offset(64) {
            o if o < LINE_WORDS => o,
            _ => 0,
        } + skew;
        &mut self.buf[off..off + words]
    }

    /// `len` elements of `T` from the buffer's first 64-byte boundary (plus
    /// `skew` words), as [`Scratch::line_words`].
    pub(crate) fn lines<T: bytemuck::Pod>(&mut self, len: usize, skew: usize) -> &mut [T] {
        let words = (len * std::mem::size_of::<T>()).div_ceil(8);
        &mut bytemuck::cast_slice_mut(self.line_words(words, skew))[..len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.slot.set(std::mem::take(&mut self.buf));
    }
}

/// Frees this thread's buffer in `slot` if it holds more than `keep`
/// bytes (one in use, taken out by a [`Scratch`], is left alone).
pub(crate) fn release(slot: &'static LocalKey<Slot>, keep: usize) {
    let buf = slot.take();
    if buf.len() * 8 <= keep {
        slot.set(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static S: Slot = const { Cell::new(Vec::new()) };
    }

    #[test]
    fn blocks_start_on_a_line_and_the_buffer_is_kept() {
        let first = {
            let mut s = Scratch::take(&S);
            let b: &mut [f32] = s.lines(1000, 0);
            assert_eq!(b.len(), 1000);
            assert_eq!(b.as_ptr() as usize % 64, 0);
            b.fill(1.5);
            b.as_ptr() as usize
        };
        // The same memory again: kept, not reallocated.
        let mut s = Scratch::take(&S);
        let b: &mut [f32] = s.lines(500, 0);
        assert_eq!(b.as_ptr() as usize, first);
        assert_eq!(b[499], 1.5);
        // A nested user gets a buffer of its own.
        let mut inner = Scratch::take(&S);
        let c: &mut [u16] = inner.lines(10, 3);
        assert_eq!(c.as_ptr() as usize % 64, 24);
        drop(inner);
        drop(s);
        release(&S, 0);
        assert!(S.take().is_empty(), "a buffer over `keep` bytes is freed");
    }
}
