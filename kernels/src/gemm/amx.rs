//! bf16 products on AMX tiles (Intel Xeon from Sapphire Rapids on), and
//! the same tile program on software tiles, so that it is tested on every
//! processor.
//!
//! AMX has eight tile registers of up to 16 rows of 64 bytes.
//! `tdpbf16ps` multiplies a tile of A (16 rows of 16 bf16 pairs along the
//! depth) by a tile of B (16 pair-rows of 16 columns) into a 16 x 16 tile
//! of f32 accumulators: 8192 multiply-adds in one instruction. The
//! micro-kernel keeps a 32 x 32 block of C in tiles 0-3, loads two tiles
//! of A (4, 5) and two of B (6, 7) for each 16 pairs of depth, and issues
//! four products.
//!
//! Packing:
//! - B: the pair panels of the AVX-512 BF16 path (`bf16.rs`), 32 columns
//!   wide: pair-row `q` of a panel is 32 u32 (128 bytes). A tile of B is
//!   half of 16 such rows, loaded with a 128-byte stride.
//! - A: each panel of 32 rows in blocks of 16 pairs of depth; a block
//!   holds its 32 rows one after the other, 16 pairs (64 bytes) each, so
//!   each tile of A is 1 KiB of consecutive memory.
//! - Both are padded with zero pairs to a multiple of 16 pairs deep.
//!
//! The tile program ([`block`]) is written once over [`TileUnit`]: [`Amx`]
//! runs it on the processor's tiles (inline assembly, after the Linux
//! kernel granted the process the tile state with
//! `arch_prctl(ARCH_REQ_XCOMP_PERM)`), [`SoftTiles`] on arrays, one
//! multiply-add at a time as Intel's manual defines the instructions
//! (bf16 subnormals read as zero, each of a pair's two products added
//! and rounded in turn, subnormal sums flushed to zero).

use super::bf16::pair;
use super::pack::pack_b_panels;
use super::{Beta, Family, Macro, MatRef, tiles, write_tile};
use crate::isa::{Isa, Job};
use crate::simd::Vf32;
use half::bf16;

/// Rows of C per micro-kernel block (two tiles).
const MR: usize = 32;
/// Columns of C per micro-kernel block (two tiles).
const NR: usize = 32;
/// Rows of a tile.
const TR: usize = 16;
/// u32 words in a tile row (64 bytes): 16 bf16 pairs, or 16 f32.
const TW: usize = 16;
/// Pairs of depth per tile product.
const KT: usize = 16;

/// Whether this processor can run the AMX path on the active ISA: AVX-512
/// active (the tile path's edges use it), AMX-TILE and AMX-BF16 present,
/// the operating system granted this process the tile state (asked for
/// once, on the first call), and the processor's tiles passed the
/// self-check (`tiles_agree`, once). A failed self-check is reported on
/// stderr, and bf16 products take another path.
pub fn amx_available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        static CHECKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        crate::isa::isa() == Isa::Avx512 && hw::granted() && *CHECKED.get_or_init(|| {
            let ok = tiles_agree();
            if !ok {
                eprintln!(
                    "frankentorch: the AMX tile self-check failed; bf16 products will not use AMX"
                );
            }
            ok
        })
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// `len` words of bf16 pairs of multiples of 1/8 in [-1, 1] (xorshift
/// from `seed`): every product and every sum of a few hundred of them is
/// exact in f32, so any order of the additions gives the same bits.
#[cfg(any(test, all(target_arch = "x86_64", target_os = "linux")))]
fn exact_pairs(seed: u32, len: usize) -> Vec<u32> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = |s: u32| bf16::from_f32(((x >> s) % 17) as f32 / 8.0 - 1.0);
            pair(v(0), v(8))
        })
        .collect()
}

/// Runs the tile program on `u` for a 32 x 32 block 48 pairs deep, twice:
/// with C loaded into the tiles (alpha 1, beta 1) and through the edge
/// path (31 valid rows, alpha 2, beta 0.5). Returns both Cs (rows 40
/// apart), starting from the same integers.
#[cfg(any(test, all(target_arch = "x86_64", target_os = "linux")))]
fn tile_program_sample<U: TileUnit>(u: &mut U) -> [Vec<f32>; 2] {
    let (ap, bp) = (exact_pairs(3, 3 * KT * MR), exact_pairs(4, 3 * KT * NR));
    let ldc = 40;
    let c0: Vec<f32> = (0..MR * ldc).map(|i| (i % 13) as f32 - 6.0).collect();
    let s = pulp::Scalar::new();
    let mut whole = c0.clone();
    block(u, s, &ap, &bp, &mut whole, ldc, MR, NR, 1.0, Beta::One);
    let mut edge = c0;
    block(
        u,
        s,
        &ap,
        &bp,
        &mut edge,
        ldc,
        MR - 1,
        NR,
        2.0,
        Beta::Other(0.5),
    );
    [whole, edge]
}

/// Whether the processor's tiles run the tile program as [`SoftTiles`]
/// do, bit for bit, on exact data (so no difference in rounding can
/// excuse a difference): a check of the assembly (tile configuration,
/// operand order, strides) before the first product trusts it.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn tiles_agree() -> bool {
    let (Some(mut hw), Some(mut soft)) = (Amx::start(), SoftTiles::start()) else {
        return false;
    };
    let bits =
        |v: &[Vec<f32>; 2]| -> Vec<u32> { v.iter().flatten().map(|x| x.to_bits()).collect() };
    bits(&tile_program_sample(&mut hw)) == bits(&tile_program_sample(&mut soft))
}

/// The eight tile registers as the tile program uses them: every tile 16
/// rows of 16 u32 words (bf16 pairs in A and B tiles, f32 bits in C
/// tiles). `T`, `C`, `A`, `B` name tiles 0-7.
pub(crate) trait TileUnit {
    /// Sets tile `T` to zero.
    fn zero<const T: u8>(&mut self);
    /// Loads tile `T`: row `r` from `src[r * stride..][..16]`. Panics if
    /// `src` is shorter.
    fn load<const T: u8>(&mut self, src: &[u32], stride: usize);
    /// Stores tile `T` as [`TileUnit::load`] reads it.
    fn store<const T: u8>(&mut self, dst: &mut [u32], stride: usize);
    /// `C[m][n] += sum over k of A[m][k] . B[k][n]`, each term the dot
    /// product of two bf16 pairs, in f32 (`tdpbf16ps`).
    fn dot<const C: u8, const A: u8, const B: u8>(&mut self);
}

/// A tile unit for one thread's share of a product: [`Amx`] or
/// [`SoftTiles`].
pub(crate) trait TileStart: TileUnit + Sized {
    /// The unit, ready for the tile program; `None` if this processor
    /// cannot run it.
    fn start() -> Option<Self>;
}

/// Whether 16 rows of 16 words, `stride` apart, fit in `len` words.
#[inline(always)]
fn tile_fits(len: usize, stride: usize) -> bool {
    (TR - 1)
        .checked_mul(stride)
        .and_then(|x| x.checked_add(TW))
        .is_some_and(|end| end <= len)
}

/// Tiles in arrays, each instruction as Intel's manual defines it.
pub(crate) struct SoftTiles {
    t: [[[u32; TW]; TR]; 8],
}

impl TileStart for SoftTiles {
    fn start() -> Option<Self> {
        Some(SoftTiles {
            t: [[[0; TW]; TR]; 8],
        })
    }
}

/// A bf16 as its f32, subnormals as zero of their sign (`bits` holds the
/// bf16 in its top half).
#[inline(always)]
fn daz(bits: u32) -> f32 {
    if bits & 0x7f80_0000 == 0 {
        f32::from_bits(bits & 0x8000_0000)
    } else {
        f32::from_bits(bits)
    }
}

/// `x`, or zero of its sign if it is subnormal.
#[inline(always)]
fn ftz(x: f32) -> f32 {
    if x.is_subnormal() {
        0f32.copysign(x)
    } else {
        x
    }
}

impl TileUnit for SoftTiles {
    fn zero<const T: u8>(&mut self) {
        self.t[T as usize] = [[0; TW]; TR];
    }

    fn load<const T: u8>(&mut self, src: &[u32], stride: usize) {
        assert!(tile_fits(src.len(), stride), "tile load out of bounds");
        for (r, row) in self.t[T as usize].iter_mut().enumerate() {
            row.copy_from_slice(&src[r * stride..][..TW]);
        }
    }

    fn store<const T: u8>(&mut self, dst: &mut [u32], stride: usize) {
        assert!(tile_fits(dst.len(), stride), "tile store out of bounds");
        for (r, row) in self.t[T as usize].iter().enumerate() {
            dst[r * stride..][..TW].copy_from_slice(row);
        }
    }

    fn dot<const C: u8, const A: u8, const B: u8>(&mut self) {
        let (a, b) = (self.t[A as usize], self.t[B as usize]);
        for (c_row, a_row) in self.t[C as usize].iter_mut().zip(&a) {
            for (n, c) in c_row.iter_mut().enumerate() {
                let mut acc = f32::from_bits(*c);
                for (&x, b_row) in a_row.iter().zip(&b) {
                    let y = b_row[n];
                    acc = ftz(acc + daz(x << 16) * daz(y << 16));
                    acc = ftz(acc + daz(x & 0xffff_0000) * daz(y & 0xffff_0000));
                }
                *c = acc.to_bits();
            }
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) use hw::Amx;

/// Stands in for the processor's tiles where there are none: never
/// started, so the AMX family always falls back to [`SoftTiles`].
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub(crate) type Amx = SoftTiles;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod hw {
    use super::{TileStart, TileUnit, tile_fits};
    use std::arch::asm;

    /// `arch_prctl` asks for permission to use an extended state component.
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    /// The extended state component of the tile data.
    const XFEATURE_XTILEDATA: libc::c_long = 18;

    /// Whether the processor has AMX-TILE and AMX-BF16 and Linux granted
    /// this process the tile data state ([`request`], asked once).
    pub(crate) fn granted() -> bool {
        static GRANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *GRANTED.get_or_init(request)
    }

    /// Whether the processor has AMX-TILE and AMX-BF16 (CPUID leaf 7,
    /// EDX bits 24 and 22) and Linux granted this process the tile data
    /// state (without the grant, the first tile instruction faults).
    fn request() -> bool {
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        if leaf7.edx & (1 << 24) == 0 || leaf7.edx & (1 << 22) == 0 {
            return false;
        }
        // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM takes two integers
        // and touches no memory of ours; it fails cleanly (EINVAL,
        // EOPNOTSUPP) on kernels or processors without the tile state.
        let r = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        r == 0
    }

    /// The tile configuration (palette 1): tiles 0-7 of 16 rows of 64
    /// bytes; the other bytes (start row, reserved fields) zero.
    static CONFIG: [u8; 64] = {
        let mut c = [0u8; 64];
        c[0] = 1;
        let mut t = 0;
        while t < 8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
            t += 1;
        }
        c
    };

    /// The processor's tiles, configured on this thread; released when
    /// dropped. Only [`Amx::start`] makes one, after [`granted`] said the
    /// processor has them and the process may use them: that is the
    /// invariant every tile instruction below relies on. Not `Send`:
    /// the tile state belongs to the thread that configured it.
    pub(crate) struct Amx {
        _thread: std::marker::PhantomData<*const ()>,
    }

    impl TileStart for Amx {
        fn start() -> Option<Self> {
            if !granted() {
                return None;
            }
            // SAFETY: AMX is present and granted (checked just above);
            // CONFIG is 64 readable bytes holding a valid palette-1
            // configuration (rows <= 16, row bytes <= 64, reserved zero).
            unsafe {
                asm!("ldtilecfg [{}]", in(reg) CONFIG.as_ptr(), options(nostack, readonly, preserves_flags))
            };
            Some(Amx {
                _thread: std::marker::PhantomData,
            })
        }
    }

    impl Drop for Amx {
        fn drop(&mut self) {
            // SAFETY: an `Amx` exists only where AMX is present and
            // granted; `tilerelease` returns the tiles to their initial
            // state and touches no memory.
            unsafe { asm!("tilerelease", options(nostack, nomem, preserves_flags)) };
        }
    }

    impl TileUnit for Amx {
        #[inline(always)]
        fn zero<const T: u8>(&mut self) {
            const { assert!(T < 8) };
            // SAFETY: AMX present and configured (the `Amx` invariant);
            // tile T < 8 exists in the configuration.
            unsafe {
                asm!("tilezero tmm{t}", t = const T, options(nostack, nomem, preserves_flags))
            };
        }

        #[inline(always)]
        fn load<const T: u8>(&mut self, src: &[u32], stride: usize) {
            const { assert!(T < 8) };
            assert!(tile_fits(src.len(), stride), "tile load out of bounds");
            // SAFETY: the `Amx` invariant; the tile's 16 rows of 64 bytes,
            // `stride` words apart from `src[0]`, lie inside `src`
            // (asserted just above).
            unsafe {
                asm!(
                    "tileloadd tmm{t}, [{p} + {s}*1]",
                    t = const T,
                    p = in(reg) src.as_ptr(),
                    s = in(reg) stride * 4,
                    options(nostack, readonly, preserves_flags)
                )
            };
        }

        #[inline(always)]
        fn store<const T: u8>(&mut self, dst: &mut [u32], stride: usize) {
            const { assert!(T < 8) };
            assert!(tile_fits(dst.len(), stride), "tile store out of bounds");
            // SAFETY: as in `load`: the 16 rows written lie inside `dst`,
            // which we borrow mutably.
            unsafe {
                asm!(
                    "tilestored [{p} + {s}*1], tmm{t}",
                    t = const T,
                    p = in(reg) dst.as_mut_ptr(),
                    s = in(reg) stride * 4,
                    options(nostack, preserves_flags)
                )
            };
        }

        #[inline(always)]
        fn dot<const C: u8, const A: u8, const B: u8>(&mut self) {
            // The instruction faults unless its three tiles differ.
            const { assert!(C < 8 && A < 8 && B < 8 && C != A && C != B && A != B) };
            // SAFETY: the `Amx` invariant; three distinct configured tiles.
            unsafe {
                asm!(
                    "tdpbf16ps tmm{c}, tmm{a}, tmm{b}",
                    c = const C,
                    a = const A,
                    b = const B,
                    options(nostack, nomem, preserves_flags)
                )
            };
        }
    }
}

/// The 32 x 32 block of C of one A panel and one B panel (`ap`, `bp`:
/// whole blocks of 16 pairs), into C (`c[0]` its corner, rows `ldc`
/// apart), of which `rows x cols` are valid. A whole block with alpha 1
/// goes between C and the tiles directly (C loaded first when beta is
/// one); any other through a buffer and [`write_tile`]. Which of the two
/// a block takes depends on its place in C, not on the threads, so
/// results stay the same for any thread count.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<U: TileUnit, S: Vf32>(
    u: &mut U,
    s: S,
    ap: &[u32],
    bp: &[u32],
    c: &mut [f32],
    ldc: usize,
    rows: usize,
    cols: usize,
    alpha: f32,
    beta: Beta<f32>,
) {
    let direct = rows == MR && cols == NR && alpha == 1.0 && !matches!(beta, Beta::Other(_));
    // Tile i of C covers rows 16 * (i / 2) and columns 16 * (i % 2) on.
    let corner = |i: usize, ld: usize| (i / 2) * TR * ld + (i % 2) * TW;
    if direct && beta == Beta::One {
        let cw: &[u32] = bytemuck::cast_slice(&c[..]);
        u.load::<0>(&cw[corner(0, ldc)..], ldc);
        u.load::<1>(&cw[corner(1, ldc)..], ldc);
        u.load::<2>(&cw[corner(2, ldc)..], ldc);
        u.load::<3>(&cw[corner(3, ldc)..], ldc);
    } else {
        u.zero::<0>();
        u.zero::<1>();
        u.zero::<2>();
        u.zero::<3>();
    }
    for (a, b) in ap.chunks_exact(KT * MR).zip(bp.chunks_exact(KT * NR)) {
        u.load::<4>(a, TW);
        u.load::<5>(&a[TR * TW..], TW);
        u.load::<6>(b, NR);
        u.load::<7>(&b[TW..], NR);
        u.dot::<0, 4, 6>();
        u.dot::<1, 4, 7>();
        u.dot::<2, 5, 6>();
        u.dot::<3, 5, 7>();
    }
    let store_all = |u: &mut U, dst: &mut [u32], ld: usize| {
        u.store::<0>(&mut dst[corner(0, ld)..], ld);
        u.store::<1>(&mut dst[corner(1, ld)..], ld);
        u.store::<2>(&mut dst[corner(2, ld)..], ld);
        u.store::<3>(&mut dst[corner(3, ld)..], ld);
    };
    if direct {
        store_all(u, bytemuck::cast_slice_mut(c), ldc);
    } else {
        let mut acc = [0u32; MR * NR];
        store_all(u, &mut acc, NR);
        let acc: &[f32] = bytemuck::cast_slice(&acc);
        write_tile::<f32, S>(s, acc, NR, c, ldc, rows, cols, alpha, beta);
    }
}

/// bf16 products on tiles of `U`: [`Amx`], or [`SoftTiles`] (where the
/// processor's tiles cannot start, the software ones run).
pub(crate) struct Bf16Amx<U>(std::marker::PhantomData<U>);

impl<U: TileStart> Family for Bf16Amx<U> {
    type In = bf16;
    type P = u32;
    type T = f32;

    fn tile(_isa: Isa) -> (usize, usize, usize) {
        (MR, NR, 2)
    }

    fn packed_steps(_isa: Isa, kc: usize) -> usize {
        kc.div_ceil(2).next_multiple_of(KT)
    }

    fn pack_a(
        a: &MatRef<'_, bf16>,
        i0: usize,
        mc: usize,
        pc: usize,
        kc: usize,
        mr: usize,
        out: &mut [u32],
    ) {
        debug_assert_eq!(mr, MR);
        let kp = Self::packed_steps(Isa::Scalar, kc);
        crate::isa::dispatch(TileAPanels {
            a,
            i0,
            mc,
            pc,
            kc,
            kp,
            out,
        })
    }

    fn pack_b(
        b: &MatRef<'_, bf16>,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        nr: usize,
        out: &mut [u32],
        parallel: bool,
    ) {
        debug_assert_eq!(nr, NR);
        let kp = Self::packed_steps(Isa::Scalar, kc);
        pack_b_panels(b, pc, kc, kp, jc, nc, nr, out, parallel)
    }

    fn macro_kernel(isa: Isa, job: Macro<'_, u32, f32>) {
        match U::start() {
            Some(mut unit) => crate::isa::dispatch_with(
                isa,
                TileJob {
                    job,
                    unit: &mut unit,
                },
            ),
            None => {
                let mut unit = SoftTiles::start().expect("software tiles always start");
                crate::isa::dispatch_with(
                    isa,
                    TileJob {
                        job,
                        unit: &mut unit,
                    },
                )
            }
        }
    }
}

/// Every block of a [`Macro`] on one tile unit.
struct TileJob<'a, 'u, U> {
    job: Macro<'a, u32, f32>,
    unit: &'u mut U,
}

impl<U: TileUnit> Job for TileJob<'_, '_, U> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, s: S) {
        let unit = self.unit;
        tiles(
            self.job,
            MR,
            NR,
            |ap, bp, c, ldc, rows, cols, alpha, beta| {
                block(unit, s, ap, bp, c, ldc, rows, cols, alpha, beta)
            },
        );
    }
}

/// A's rows `i0..i0+mc`, depth `pc..pc+kc`, into panels of 32 rows in
/// the tile layout (module notes), `kp` pairs deep (zero past `kc`).
struct TileAPanels<'a, 'b> {
    a: &'a MatRef<'b, bf16>,
    i0: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    kp: usize,
    out: &'a mut [u32],
}

impl Job for TileAPanels<'_, '_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Vf32>(self, _s: S) {
        let TileAPanels {
            a,
            i0,
            mc,
            pc,
            kc,
            kp,
            out,
        } = self;
        for (ip, panel) in out.chunks_exact_mut(kp * MR).enumerate() {
            let r0 = i0 + ip * MR;
            for (blk, block) in panel.chunks_exact_mut(KT * MR).enumerate() {
                // This block's depth, in elements from `pc`, and how much
                // of it is inside the matrix.
                let k0 = 2 * KT * blk;
                let width = (2 * KT).min(kc.saturating_sub(k0));
                for (i, row) in block.chunks_exact_mut(TW).enumerate() {
                    let r = r0 + i;
                    if r >= i0 + mc || width == 0 {
                        row.fill(0);
                    } else if a.cs == 1 && width == 2 * KT && cfg!(target_endian = "little") {
                        // A whole row of the block, as memory runs: in
                        // memory two bf16 are already their `pair`.
                        let src = &a.data[r * a.rs + pc + k0..][..2 * KT];
                        bytemuck::cast_slice_mut::<u32, bf16>(row).copy_from_slice(src);
                    } else {
                        let at = |q: usize| {
                            if q < width {
                                *a.at(r, pc + k0 + q)
                            } else {
                                bf16::ZERO
                            }
                        };
                        for (q, w) in row.iter_mut().enumerate() {
                            *w = pair(at(2 * q), at(2 * q + 1));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The software tile product, against sums in f64 of the same
    /// bf16 values (exact here: small dyadic values).
    #[test]
    fn soft_dot_is_the_pairs_dot_product() {
        let (a, b) = (exact_pairs(1, TR * TW), exact_pairs(2, TR * TW));
        let mut u = SoftTiles::start().unwrap();
        u.zero::<0>();
        u.load::<4>(&a, TW);
        u.load::<6>(&b, TW);
        u.dot::<0, 4, 6>();
        u.dot::<0, 4, 6>();
        let mut c = vec![0u32; TR * TW];
        u.store::<0>(&mut c, TW);
        let half = |w: u32, hi: bool| {
            bf16::from_bits(if hi { (w >> 16) as u16 } else { w as u16 }).to_f64()
        };
        for m in 0..TR {
            for n in 0..TW {
                let want: f64 = (0..KT)
                    .map(|k| {
                        let (x, y) = (a[m * TW + k], b[k * TW + n]);
                        half(x, false) * half(y, false) + half(x, true) * half(y, true)
                    })
                    .sum();
                assert_eq!(
                    f32::from_bits(c[m * TW + n]) as f64,
                    2.0 * want,
                    "[{m}, {n}]"
                );
            }
        }
    }

    /// Subnormal bf16 inputs count as zero, and a subnormal sum is
    /// flushed to zero, as the instruction does.
    #[test]
    fn soft_dot_flushes_subnormals() {
        let tiny = bf16::from_bits(0x0001); // the least bf16 subnormal
        let mut a = vec![0u32; TR * TW];
        let mut b = vec![0u32; TR * TW];
        a[0] = pair(tiny, bf16::from_f32(1e-20));
        b[0] = pair(bf16::ONE, bf16::from_f32(1e-20));
        let mut u = SoftTiles::start().unwrap();
        u.zero::<1>();
        u.load::<5>(&a, TW);
        u.load::<7>(&b, TW);
        u.dot::<1, 5, 7>();
        let mut c = vec![1u32; TR * TW];
        u.store::<1>(&mut c, TW);
        // tiny * 1 reads as 0; 1e-20 * 1e-20 = 1e-40 is an f32 subnormal.
        assert_eq!(c[0], 0);
    }

    /// The processor's tiles against the software ones, bit for bit, on
    /// the self-check's tile program, where AMX runs (and the self-check
    /// agrees, so `amx_available` on AVX-512); elsewhere there is nothing
    /// to compare, and the test says so.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn processor_tiles_match_software_tiles() {
        if !hw::granted() {
            eprintln!("no AMX here: processor tiles not compared");
            return;
        }
        let mut hw = Amx::start().expect("granted, so the tiles start");
        let mut soft = SoftTiles::start().unwrap();
        let (got, want) = (tile_program_sample(&mut hw), tile_program_sample(&mut soft));
        for (g, w) in got.iter().zip(&want) {
            let differ = g
                .iter()
                .zip(w)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
            assert_eq!(differ, 0, "{differ} of {} differ", g.len());
        }
        assert!(tiles_agree());
        assert_eq!(amx_available(), crate::isa::isa() == Isa::Avx512);
    }

    /// The self-check's sample is the product it claims: both Cs against
    /// f64 sums of the same bf16 values.
    #[test]
    fn self_check_sample_is_the_exact_product() {
        let got = tile_program_sample(&mut SoftTiles::start().unwrap());
        let (ap, bp) = (exact_pairs(3, 3 * KT * MR), exact_pairs(4, 3 * KT * NR));
        let half =
            |w: u32, hi: bool| bf16::from_bits((w >> if hi { 16 } else { 0 }) as u16).to_f64();
        for i in 0..MR {
            for j in 0..NR {
                // Packed A: block `blk`, row i, pair q at blk*512 + i*16 + q;
                // packed B: pair-row blk*16 + q, column j, 32 per row.
                let ab: f64 = (0..3 * KT)
                    .map(|p| {
                        let (blk, q) = (p / KT, p % KT);
                        let (x, y) = (ap[blk * KT * MR + i * TW + q], bp[p * NR + j]);
                        half(x, false) * half(y, false) + half(x, true) * half(y, true)
                    })
                    .sum();
                let c0 = ((i * 40 + j) % 13) as f64 - 6.0;
                assert_eq!(got[0][i * 40 + j] as f64, c0 + ab, "whole [{i}, {j}]");
                let edge = if i < MR - 1 { 0.5 * c0 + 2.0 * ab } else { c0 };
                assert_eq!(got[1][i * 40 + j] as f64, edge, "edge [{i}, {j}]");
            }
        }
    }
}
