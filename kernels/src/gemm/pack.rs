//! Packing A and B into the micro-kernel's panel layouts, and the
//! per-thread scratch buffers they go in.

use super::{GemmElem, MatRef};
use crate::isa::Job;
use crate::scratch::{Scratch, Slot};
use crate::simd::Vf32;
use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    /// Packed B blocks, on the thread that calls `gemm`.
    pub(super) static B_SCRATCH: Slot = const { Cell::new(Vec::new()) };
    /// Packed A blocks, on each thread that runs a row block.
    pub(super) static A_SCRATCH: Slot = const { Cell::new(Vec::new()) };
    /// A row block's accumulators, on each thread that runs one, when the
    /// product has no C of their type (`super::run_blocks`).
    pub(super) static ACC_SCRATCH: Slot = const { Cell::new(Vec::new()) };
}

/// Runs `f` on `len` elements of this thread's `key` buffer
/// ([`crate::scratch`]: grown as needed and kept for the next call, so
/// repeated products allocate nothing; a nested call that finds the buffer
/// in use gets a fresh one). The elements start on a 64-byte line (plus
/// the experiment's skew, [`super::tune::set_panel_skew`]), so that no
/// vector load from a panel straddles two lines (panels are whole numbers
/// of lines long).
pub(super) fn with_scratch<T: bytemuck::Pod, R>(
    key: &'static LocalKey<Slot>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    let skew = super::tune::SKEW.load(std::sync::atomic::Ordering::Relaxed);
    let mut buf = Scratch::take(key);
    f(buf.lines(len, skew))
}

/// Frees this thread's `key` buffer if it holds more than `keep` bytes
/// (and is not in use).
pub(super) fn release_scratch(key: &'static LocalKey<Slot>, keep: usize) {
    crate::scratch::release(key, keep)
}

/// A's rows `i0..i0+mc`, depth `pc..pc+kc`, to pack into `mr`-tall
/// panels in `out`, as a job, so that the packing loops compile under the
/// ISA's features (the layout depends on `mr` alone, not on the ISA that
/// packs). `APanels<T, T>` copies elements; `APanels<bf16, u32>` packs
/// bf16 pairs (`bf16.rs`).
pub(super) struct APanels<'a, 'b, I, P> {
    pub(super) a: &'a MatRef<'b, I>,
    pub(super) i0: usize,
    pub(super) mc: usize,
    pub(super) pc: usize,
    pub(super) kc: usize,
    pub(super) mr: usize,
    pub(super) out: &'a mut [P],
}

/// One `nr`-wide panel of B: columns `j0..j0+cols` (zero past them),
/// depth `pc..pc+kc`, into `dst`; a job like [`APanels`].
pub(super) struct BPanel<'a, 'b, I, P> {
    pub(super) b: &'a MatRef<'b, I>,
    pub(super) pc: usize,
    pub(super) kc: usize,
    pub(super) j0: usize,
    pub(super) cols: usize,
    pub(super) nr: usize,
    pub(super) dst: &'a mut [P],
}

/// Packs `A[i0..i0+mc, pc..pc+kc]` into `mr`-tall panels in `out`, as one
/// [`APanels`] job on the active ISA.
pub(super) fn pack_a_panels<I, P>(
    a: &MatRef<'_, I>,
    i0: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    mr: usize,
    out: &mut [P],
) where
    for<'x, 'y> APanels<'x, 'y, I, P>: Job<Output = ()>,
{
    crate::isa::dispatch(APanels {
        a,
        i0,
        mc,
        pc,
        kc,
        mr,
        out,
    })
}

/// Rows of B this far below the one being packed are asked for ahead.
const B_ROWS_AHEAD: usize = 32;

/// Asks for the cache lines of row `p + B_ROWS_AHEAD` of row-major B,
/// columns `j0..j0 + cols` (one request per 64 bytes). Packing walks one
/// panel of B down its rows, one or two lines per row and rows `rs`
/// elements apart: a strided walk the hardware prefetchers follow poorly
/// (each line is a new page once rows are 4 KiB apart), so without these
/// requests every row waits for its lines (`perf-artifacts/gemm-v6-packs.md`).
/// The address is only computed (`wrapping_add`), never read, and may lie
/// past B: a prefetch never faults.
#[inline(always)]
pub(super) fn prefetch_row_ahead<I>(b: &MatRef<'_, I>, p: usize, j0: usize, cols: usize) {
    let row = b
        .data
        .as_ptr()
        .wrapping_add((p + B_ROWS_AHEAD) * b.rs + j0)
        .cast::<u8>();
    crate::simd::prefetch_lines(row, cols * std::mem::size_of::<I>(), 0);
}

/// Packs `B[pc..pc+kc, jc..jc+nc]` into `ceil(nc / nr)` panels of
/// `kp x nr` packed steps (`kp` is `kc` for elements, `kc / 2` rounded up
/// for bf16 pairs), one [`BPanel`] job each, on the threads if `parallel`.
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_b_panels<I: Sync + 'static, P: Send + 'static>(
    b: &MatRef<'_, I>,
    pc: usize,
    kc: usize,
    kp: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    out: &mut [P],
    parallel: bool,
) where
    for<'x, 'y> BPanel<'x, 'y, I, P>: Job<Output = ()>,
{
    let panel = |(jp, dst): (usize, &mut [P])| {
        let j0 = jc + jp * nr;
        crate::isa::dispatch(BPanel {
            b,
            pc,
            kc,
            j0,
            cols: nr.min(jc + nc - j0),
            nr,
            dst,
        })
    };
    if parallel {
        crate::par::chunks_mut(out, kp * nr, |j, p| panel((j, p)));
    } else {
        out.chunks_mut(kp * nr).enumerate().for_each(panel);
    }
}

/// Packs `B[pc..pc+kc, jc..jc+nc]` into `ceil(nc / nr)` panels of
/// `kc x nr`, row `p` of a panel holding `nr` consecutive columns, zero
/// past the last column.
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_b<T: GemmElem>(
    b: &MatRef<'_, T>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    out: &mut [T],
    parallel: bool,
) {
    pack_b_panels(b, pc, kc, kc, jc, nc, nr, out, parallel)
}

/// How an input element is stored in a packed panel of `P`: as itself, or
/// bf16 widened to f32 (exactly: a bf16 is the top half of an f32), so
/// that one packing pass both lays out and converts the operand.
pub(crate) trait Lift<P>: Copy {
    /// Whether converting a whole run at once ([`Lift::lift_slice`]) beats
    /// converting element by element: then whole panels of row-major A
    /// are converted row by row first and transposed after.
    const BY_RUNS: bool = false;
    fn lift(self) -> P;
    /// `dst[i] = src[i].lift()` over the shorter of the two.
    #[inline(always)]
    fn lift_slice(dst: &mut [P], src: &[Self]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s.lift();
        }
    }
}

impl<T: GemmElem> Lift<T> for T {
    #[inline(always)]
    fn lift(self) -> T {
        self
    }
}

impl Lift<f32> for half::bf16 {
    #[inline(always)]
    fn lift(self) -> f32 {
        f32::from_bits((self.to_bits() as u32) << 16)
    }
}

impl Lift<f32> for half::f16 {
    const BY_RUNS: bool = true;
    #[inline(always)]
    fn lift(self) -> f32 {
        crate::convert::f16_to_f32(self.to_bits())
    }
    /// F16C eight at a time where the processor has it.
    #[inline(always)]
    fn lift_slice(dst: &mut [f32], src: &[Self]) {
        use crate::convert::{slots, widen_f16};
        let n = dst.len().min(src.len());
        widen_f16(&src[..n], slots(&mut dst[..n]));
    }
}

impl<I: Lift<T> + 'static, T: GemmElem> Job for BPanel<'_, '_, I, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        let BPanel {
            b,
            pc,
            kc,
            j0,
            cols,
            nr,
            dst,
        } = self;
        if b.cs == 1 {
            for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
                prefetch_row_ahead(b, pc + p, j0, cols);
                let at = (pc + p) * b.rs + j0;
                I::lift_slice(&mut d[..cols], &b.data[at..at + cols]);
                d[cols..].fill(T::ZERO);
            }
            return;
        }
        if b.rs == 1
            && cols == nr
            && nr % 8 == 0
            && transpose_panel(s, &b.data[j0 * b.cs + pc..], b.cs, nr, kc, dst)
        {
            // f32 columns of B contiguous (a transposed row-major matrix,
            // as linear's weight), a whole panel, packed as the transpose
            // of its nr x kc block of B^T.
            return;
        }
        if b.rs == 1 && cols == nr {
            // Columns of B contiguous (a transposed row-major matrix, as
            // linear's weight): NR columns read side by side.
            let at = |j: usize| (j0 + j) * b.cs + pc;
            match nr {
                32 => return pack_rows::<I, T, 32>(b.data, at, kc, dst),
                16 => return pack_rows::<I, T, 16>(b.data, at, kc, dst),
                12 => return pack_rows::<I, T, 12>(b.data, at, kc, dst),
                8 => return pack_rows::<I, T, 8>(b.data, at, kc, dst),
                6 => return pack_rows::<I, T, 6>(b.data, at, kc, dst),
                4 => return pack_rows::<I, T, 4>(b.data, at, kc, dst),
                _ => {}
            }
        }
        // Read down B's columns, the direction memory runs.
        for j in 0..cols {
            for p in 0..kc {
                dst[p * nr + j] = b.at(pc + p, j0 + j).lift();
            }
        }
        if cols < nr {
            for d in dst.chunks_exact_mut(nr) {
                d[cols..].fill(T::ZERO);
            }
        }
    }
}

/// Packs `A[i0..i0+mc, pc..pc+kc]` into `ceil(mc / mr)` panels of
/// `kc x mr`, row `p` of a panel holding `mr` consecutive rows' elements
/// of column `pc + p`, zero past the last row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_a<I: Lift<T> + 'static, T: GemmElem, S: Vf32>(
    s: S,
    a: &MatRef<'_, I>,
    i0: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    mr: usize,
    out: &mut [T],
) {
    for (ip, dst) in out.chunks_mut(kc * mr).enumerate() {
        let r0 = i0 + ip * mr;
        let rows = mr.min(i0 + mc - r0);
        if a.rs == 1 {
            for (p, d) in dst.chunks_exact_mut(mr).enumerate() {
                let at = r0 + (pc + p) * a.cs;
                I::lift_slice(&mut d[..rows], &a.data[at..at + rows]);
                d[rows..].fill(T::ZERO);
            }
        } else if a.cs == 1
            && rows == 8
            && mr == 8
            && transpose_panel(s, &a.data[r0 * a.rs + pc..], a.rs, 8, kc, dst)
        {
            // Row-major f32 A, a whole panel of 8 rows, packed as the
            // transpose of its 8 x kc block.
        } else if I::BY_RUNS
            && a.cs == 1
            && rows == 8
            && mr == 8
            && widened_transpose(s, a, r0, pc, kc, dst)
        {
            // Row-major 16-bit A that converts fastest by runs (f16), a
            // whole panel: each row widened at once, then transposed.
        } else if a.cs == 1 && rows == mr && matches!(mr, 4 | 6 | 8) {
            // Row-major A, a whole panel: the rows read side by side, each
            // packed step written whole.
            let at = |i: usize| (r0 + i) * a.rs + pc;
            match mr {
                8 => pack_rows::<I, T, 8>(a.data, at, kc, dst),
                6 => pack_rows::<I, T, 6>(a.data, at, kc, dst),
                _ => pack_rows::<I, T, 4>(a.data, at, kc, dst),
            }
        } else {
            // Read along A's rows, the direction memory runs.
            for i in 0..rows {
                let row = &a.data[(r0 + i) * a.rs + pc * a.cs..];
                if a.cs == 1 {
                    for (d, &v) in dst.chunks_exact_mut(mr).zip(&row[..kc]) {
                        d[i] = v.lift();
                    }
                } else {
                    for (p, d) in dst.chunks_exact_mut(mr).enumerate() {
                        d[i] = row[p * a.cs].lift();
                    }
                }
            }
            if rows < mr {
                for d in dst.chunks_exact_mut(mr) {
                    d[rows..].fill(T::ZERO);
                }
            }
        }
    }
}

thread_local! {
    /// Rows of A widened to f32 before [`widened_transpose`] packs them.
    static WIDE_ROWS: Slot = const { Cell::new(Vec::new()) };
}

/// The 8 rows `r0..r0 + 8` of row-major `a`, depth `pc..pc + kc`, widened
/// row by row ([`Lift::lift_slice`]) into a thread scratch and packed from
/// there by [`transpose_panel`]; `false`, with nothing written, unless the
/// panel is of f32.
#[inline(always)]
fn widened_transpose<I: Lift<T>, T: GemmElem, S: Vf32>(
    s: S,
    a: &MatRef<'_, I>,
    r0: usize,
    pc: usize,
    kc: usize,
    dst: &mut [T],
) -> bool {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() {
        return false;
    }
    with_scratch::<T, _>(&WIDE_ROWS, 8 * kc, |rows| {
        for (i, row) in rows.chunks_exact_mut(kc).enumerate() {
            let at = (r0 + i) * a.rs + pc;
            I::lift_slice(row, &a.data[at..at + kc]);
        }
        transpose_panel(s, rows, kc, 8, kc, dst)
    })
}

/// `dst[c * rows + r] = src[r * ld + c]` for `r < rows`, `c < kc`, by the
/// ISA's register transposes (8 x 8 blocks on x86, 4 x 4 on NEON, where
/// `pack_rows` moves one element at a time), when `I` and `T` are one
/// 4-byte type (f32 packed as f32; bf16 pairs as u32 words) and the
/// block fits in both slices; `false`, with nothing written, otherwise.
#[inline(always)]
pub(super) fn transpose_panel<I: 'static, T: 'static, S: Vf32>(
    s: S,
    src: &[I],
    ld: usize,
    rows: usize,
    kc: usize,
    dst: &mut [T],
) -> bool {
    // The last element read is src[(rows - 1) * ld + kc - 1], the last
    // written dst[(kc - 1) * rows + rows - 1].
    if !same_4_bytes::<I, T>()
        || rows == 0
        || kc == 0
        || (rows - 1) * ld + kc > src.len()
        || kc * rows > dst.len()
    {
        return false;
    }
    // SAFETY: every `src[r * ld + c]` and `dst[c * rows + r]` is inside
    // its slice (checked just above); `dst` is a packing buffer, never the
    // operand's memory; I and T are the same 4-byte type, so the bits
    // `transpose_u32` moves unchanged are the values packing copies.
    unsafe {
        s.transpose_u32(
            src.as_ptr().cast(),
            ld,
            rows,
            kc,
            dst.as_mut_ptr().cast(),
            rows,
        )
    };
    true
}

/// Whether `I` and `T` are one 4-byte type (f32 packed as f32).
#[inline(always)]
fn same_4_bytes<I: 'static, T: 'static>() -> bool {
    std::any::TypeId::of::<I>() == std::any::TypeId::of::<T>() && std::mem::size_of::<T>() == 4
}

/// `MR` rows of `kc` elements, row `i` from `data[at(i)..]`, interleaved
/// into `dst`: step `p` holds element `p` of every row.
#[inline(always)]
fn pack_rows<I: Lift<T>, T: GemmElem, const MR: usize>(
    data: &[I],
    at: impl Fn(usize) -> usize,
    kc: usize,
    dst: &mut [T],
) {
    let rows: [&[I]; MR] = std::array::from_fn(|i| &data[at(i)..at(i) + kc]);
    for (p, d) in dst.as_chunks_mut::<MR>().0[..kc].iter_mut().enumerate() {
        *d = std::array::from_fn(|i| rows[i][p].lift());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static T_SCRATCH: Slot = const { Cell::new(Vec::new()) };
    }

    #[test]
    fn scratch_panels_start_on_a_cache_line() {
        // Growing, shrinking and nested (fresh-buffer) uses, f32 and u16.
        for len in [1usize, 7, 16, 1000, 33, 100_000, 5] {
            with_scratch::<f32, _>(&T_SCRATCH, len, |s| {
                assert_eq!(s.len(), len);
                assert_eq!(s.as_ptr() as usize % 64, 0, "len {len}");
                s.fill(1.0);
                with_scratch::<u16, _>(&T_SCRATCH, len + 3, |t| {
                    assert_eq!(t.len(), len + 3);
                    assert_eq!(t.as_ptr() as usize % 64, 0, "nested len {len}");
                });
            });
        }
    }
}
