//! bf16 and f16 products with f32 accumulation. bf16 takes one of three
//! paths (f16 the first):
//!
//! - Widened ([`Widen`]): packing widens each 16-bit float to its f32
//!   (exact; a bf16 is the top half of one), into the f32 GEMM's panels,
//!   and the f32 micro-kernel runs. The conversion rides on the packing
//!   pass, which reads every operand element once per block anyway.
//! - Dot products ([`Bf16Dot`], AVX-512 BF16): the packed panels hold
//!   pairs of bf16 along the depth; `vdpbf16ps` multiplies 16 pairs and
//!   adds both products to 16 f32 accumulators. Like the instruction, this
//!   path treats bf16 subnormal inputs and f32 subnormal partial results
//!   as zero, as oneDNN (PyTorch's bf16 CPU path) does on it.
//! - AMX tiles (`amx.rs`): the same pairs, 16 x 16 f32 accumulators per
//!   tile, 8192 multiply-adds per `tdpbf16ps`; same treatment of
//!   subnormals.
//!
//! Which is faster depends on the processor, not on the instruction set:
//! on AMD Zen 4 the dot products ran ahead of the f32 GEMM
//! (`perf-artifacts/gemm-v2-bf16.md`), while on the Intel Xeon this was
//! measured on, `vdpbf16ps` issued at half the f32 FMA rate and widening
//! won (`perf-artifacts/gemm-v4-bf16-widen.md`). So processors with AMX
//! use their tiles, other Intel processors widen, and others take the dot
//! products where they have them ([`bf16_path`];
//! `tune::set_bf16_path` overrides it).

use super::amx::{Amx, Bf16Amx, SoftTiles};
use super::pack::{
    APanels, BPanel, Lift, pack_a_panels, pack_b_panels, prefetch_row_ahead, release_scratch,
    transpose_panel, with_scratch,
};
use super::tune::Bf16Path;
use super::{
    Beta, Done, Epilogue, Family, Macro, MatMut, MatRef, Plain, check_dims, drive, run_blocks,
    run_with,
};
use crate::convert::{f32_to_bf16, f32_to_f16, narrow_bf16, narrow_f16, slots};
use crate::isa::{Isa, isa};
use ft_core::Result;
use half::{bf16, f16};

/// Whether this processor and the active ISA can run the AVX-512 BF16
/// dot-product path (AVX-512 active, `avx512bf16` present).
pub fn dot_bf16_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        isa() == Isa::Avx512
            && *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512bf16"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The path the next bf16 product takes on this processor and the
/// active ISA (never `Auto`): the one [`super::tune::set_bf16_path`]
/// chose if the processor can run it, else AMX tiles where it has them,
/// else AVX-512 BF16 dot products unless the processor is Intel's (see
/// the module notes), else widening.
pub fn bf16_path() -> Bf16Path {
    match super::tune::chosen_bf16_path() {
        Bf16Path::Auto => {}
        chosen if chosen.is_available() => return chosen,
        _ => {}
    }
    if super::amx_available() {
        Bf16Path::Amx
    } else if dot_bf16_available() && !intel() {
        Bf16Path::Dot
    } else {
        Bf16Path::Widen
    }
}

/// Whether the processor is Intel's (CPUID vendor "GenuineIntel").
fn intel() -> bool {
    crate::cpu::cpu().vendor == crate::cpu::Vendor::Intel
}

/// `C = beta * C + alpha * A @ B` for bf16 `A` and `B` and an f32 `C`:
/// products accumulate in f32 (round C to bf16 once, afterwards, for a
/// bf16 result). Same rules as [`gemm`](super::gemm).
///
/// ```
/// use ft_kernels::gemm::{gemm_bf16, MatMut, MatRef};
/// use half::bf16;
/// let a: Vec<bf16> = [1.0f32, 2.0, 3.0, 4.0].map(bf16::from_f32).to_vec();
/// let mut c = [0.0f32; 4];
/// gemm_bf16(
///     1.0,
///     MatRef::new(&a, 2, 2, 2, 1)?,
///     MatRef::new(&a, 2, 2, 1, 2)?, // the transpose
///     0.0,
///     MatMut::new(&mut c, 2, 2, 2, 1)?,
///     true,
/// )?;
/// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn gemm_bf16(
    alpha: f32,
    a: MatRef<'_, bf16>,
    b: MatRef<'_, bf16>,
    beta: f32,
    c: MatMut<'_, f32>,
    parallel: bool,
) -> Result<()> {
    match bf16_path() {
        Bf16Path::Dot => drive::<Bf16Dot>(alpha, a, b, beta, c, parallel, Isa::Avx512),
        Bf16Path::Amx => drive::<Bf16Amx<Amx>>(alpha, a, b, beta, c, parallel, isa()),
        Bf16Path::AmxEmulated => drive::<Bf16Amx<SoftTiles>>(alpha, a, b, beta, c, parallel, isa()),
        _ => drive::<Bf16Widen>(alpha, a, b, beta, c, parallel, isa()),
    }
}

/// 16-bit floats (bf16, f16) widened to f32 while packing (exactly: every
/// one is an f32); then the f32 GEMM's tiles.
pub(crate) struct Widen<H>(std::marker::PhantomData<H>);

impl<H: Lift<f32> + Sync + 'static> Family for Widen<H> {
    type In = H;
    type P = f32;
    type T = f32;

    fn tile(isa: Isa) -> (usize, usize, usize) {
        Plain::<f32>::tile(isa)
    }

    fn pack_a(
        a: &MatRef<'_, H>,
        i0: usize,
        mc: usize,
        pc: usize,
        kc: usize,
        mr: usize,
        out: &mut [f32],
    ) {
        pack_a_panels(a, i0, mc, pc, kc, mr, out)
    }

    fn pack_b(
        b: &MatRef<'_, H>,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        nr: usize,
        out: &mut [f32],
        parallel: bool,
    ) {
        pack_b_panels(b, pc, kc, kc, jc, nc, nr, out, parallel)
    }

    fn macro_kernel(isa: Isa, job: Macro<'_, f32, f32>) {
        Plain::<f32>::macro_kernel(isa, job)
    }
}

/// bf16 widened while packing.
pub(crate) type Bf16Widen = Widen<bf16>;

/// A 16-bit float output of a product accumulated in f32: how f32 rounds
/// into it, and which GEMM family multiplies its operands.
pub(crate) trait HalfOut: Lift<f32> + bytemuck::Pod + Send + Sync + 'static {
    /// `x` to nearest even (NaN stays NaN).
    fn round(x: f32) -> Self;
    /// `dst[i] = round(src[i])`, in a loop the active ISA's job compiles.
    fn round_row(dst: &mut [Self], src: &[f32]);
    /// Runs `job` on this type's GEMM family.
    fn product<E: Epilogue<f32>>(job: HalfJob<'_, '_, Self, E>) -> Result<bool>;
}

/// One 16-bit product as [`half_out`] hands it to a GEMM family: into an
/// f32 copy of C, or with no C (see [`run_blocks`]).
pub(crate) struct HalfJob<'a, 'e, H, E> {
    alpha: f32,
    a: MatRef<'a, H>,
    b: MatRef<'a, H>,
    parallel: bool,
    /// The f32 copy of C (rows `n` apart) and beta, or `None`.
    acc: Option<(&'a mut [f32], Beta<f32>)>,
    epi: &'e mut E,
}

impl<H, E: Epilogue<f32>> HalfJob<'_, '_, H, E> {
    /// The product on family `F`; `Ok(false)` (nothing done) when it needs
    /// the f32 copy of C it was not given.
    fn run<F: Family<In = H, T = f32>>(self, isa: Isa) -> Result<bool> {
        let HalfJob {
            alpha,
            a,
            b,
            parallel,
            acc,
            epi,
        } = self;
        match acc {
            None => Ok(run_blocks::<F, E>(alpha, a, b, parallel, isa, epi)),
            Some((c, beta)) => {
                let ldc = b.cols;
                run_with::<F, E>(alpha, a, b, beta, c, ldc, parallel, isa, epi)?;
                Ok(true)
            }
        }
    }
}

impl HalfOut for bf16 {
    #[inline(always)]
    fn round(x: f32) -> Self {
        bf16::from_bits(f32_to_bf16(x))
    }
    #[inline(always)]
    fn round_row(dst: &mut [Self], src: &[f32]) {
        narrow_bf16(src, slots(dst));
    }
    fn product<E: Epilogue<f32>>(job: HalfJob<'_, '_, Self, E>) -> Result<bool> {
        match bf16_path() {
            Bf16Path::Dot => job.run::<Bf16Dot>(Isa::Avx512),
            Bf16Path::Amx => job.run::<Bf16Amx<Amx>>(isa()),
            Bf16Path::AmxEmulated => job.run::<Bf16Amx<SoftTiles>>(isa()),
            _ => job.run::<Bf16Widen>(isa()),
        }
    }
}

impl HalfOut for f16 {
    #[inline(always)]
    fn round(x: f32) -> Self {
        f16::from_bits(f32_to_f16(x))
    }
    /// F16C eight at a time where the processor has it.
    #[inline(always)]
    fn round_row(dst: &mut [Self], src: &[f32]) {
        narrow_f16(src, slots(dst));
    }
    fn product<E: Epilogue<f32>>(job: HalfJob<'_, '_, Self, E>) -> Result<bool> {
        job.run::<Widen<f16>>(isa())
    }
}

/// [`gemm_bf16`] with a bf16 `C`: the products accumulate in f32 and are
/// rounded to bf16 once, to nearest even, as PyTorch rounds. Each block of
/// rows is rounded into C by the thread that computed it; the f32
/// accumulators are a per-thread block when beta is zero and the depth
/// fits one packed block (1024 deep on the dot-product and AMX paths, 512
/// widened), else an f32 copy of C that the
/// thread keeps for its next product up to 64 MiB.
///
/// ```
/// use ft_kernels::gemm::{gemm_bf16_out, MatMut, MatRef};
/// use half::bf16;
/// let a: Vec<bf16> = [1.0f32, 2.0, 3.0, 4.0].map(bf16::from_f32).to_vec();
/// let mut c = [bf16::ZERO; 4];
/// gemm_bf16_out(
///     1.0,
///     MatRef::new(&a, 2, 2, 2, 1)?,
///     MatRef::new(&a, 2, 2, 2, 1)?,
///     0.0,
///     MatMut::new(&mut c, 2, 2, 2, 1)?,
///     true,
/// )?;
/// assert_eq!(c.map(|x| x.to_f32()), [7.0, 10.0, 15.0, 22.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn gemm_bf16_out(
    alpha: f32,
    a: MatRef<'_, bf16>,
    b: MatRef<'_, bf16>,
    beta: f32,
    c: MatMut<'_, bf16>,
    parallel: bool,
) -> Result<()> {
    half_out(alpha, a, b, beta, c, parallel)
}

/// [`gemm_bf16_out`] for f16: `C = beta * C + alpha * A @ B` with f16 `A`,
/// `B` and `C`, the operands widened to f32 while packing, the products
/// accumulated in f32 and rounded to f16 once, to nearest even, as
/// PyTorch's CPU f16 product rounds.
///
/// ```
/// use ft_kernels::gemm::{gemm_f16_out, MatMut, MatRef};
/// use half::f16;
/// let a: Vec<f16> = [1.0f32, 2.0, 3.0, 4.0].map(f16::from_f32).to_vec();
/// let mut c = [f16::ZERO; 4];
/// gemm_f16_out(
///     1.0,
///     MatRef::new(&a, 2, 2, 2, 1)?,
///     MatRef::new(&a, 2, 2, 2, 1)?,
///     0.0,
///     MatMut::new(&mut c, 2, 2, 2, 1)?,
///     true,
/// )?;
/// assert_eq!(c.map(|x| x.to_f32()), [7.0, 10.0, 15.0, 22.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn gemm_f16_out(
    alpha: f32,
    a: MatRef<'_, f16>,
    b: MatRef<'_, f16>,
    beta: f32,
    c: MatMut<'_, f16>,
    parallel: bool,
) -> Result<()> {
    half_out(alpha, a, b, beta, c, parallel)
}

/// The product of [`gemm_bf16_out`] and [`gemm_f16_out`].
fn half_out<H: HalfOut>(
    alpha: f32,
    a: MatRef<'_, H>,
    b: MatRef<'_, H>,
    beta: f32,
    c: MatMut<'_, H>,
    parallel: bool,
) -> Result<()> {
    let (m, n) = (c.rows, c.cols);
    check_dims(&a, &b, m, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if c.cs == 1 && beta == 0.0 {
        // The depth in one packed block: no f32 copy of C at all, each row
        // block's accumulators live in a scratch block of the thread that
        // computes it and are rounded into C from there.
        let job = HalfJob {
            alpha,
            a,
            b,
            parallel,
            acc: None,
            epi: &mut IntoHalf::new(&mut *c.data, c.rs, m, n),
        };
        if H::product(job)? {
            return Ok(());
        }
    }
    let r = with_scratch::<f32, _>(&C_SCRATCH, m * n, |acc| {
        if beta != 0.0 {
            for i in 0..m {
                for (j, d) in acc[i * n..(i + 1) * n].iter_mut().enumerate() {
                    *d = c.data[i * c.rs + j * c.cs].lift();
                }
            }
        }
        let acc_beta = Some((&mut *acc, Beta::of(beta)));
        if c.cs == 1 {
            // Each row block rounded into C as soon as its last depth
            // block is in (see `IntoHalf`).
            let epi = &mut IntoHalf::new(&mut *c.data, c.rs, m, n);
            H::product(HalfJob {
                alpha,
                a,
                b,
                parallel,
                acc: acc_beta,
                epi,
            })
            .map(drop)
        } else {
            H::product(HalfJob {
                alpha,
                a,
                b,
                parallel,
                acc: acc_beta,
                epi: &mut Done,
            })?;
            for i in 0..m {
                for j in 0..n {
                    c.data[i * c.rs + j * c.cs] = H::round(acc[i * n + j]);
                }
            }
            Ok(())
        }
    });
    release_scratch(&C_SCRATCH, C_SCRATCH_KEEP);
    r
}

/// The most bytes of f32 accumulators a thread keeps for its next bf16
/// product (a 4096 x 4096 C); a larger buffer is freed after its product,
/// so that one big product does not pin its copy of C for the thread's
/// lifetime. (Products whose depth fits one packed block with beta zero,
/// the common case, need no such copy.)
const C_SCRATCH_KEEP: usize = 64 << 20;

/// The 16-bit C of [`half_out`] (unit column stride, rows `rs` apart), as
/// the epilogue that rounds each row block of f32 accumulators into it.
struct IntoHalf<'a, H> {
    data: &'a mut [H],
    rs: usize,
    m: usize,
    n: usize,
}

impl<'a, H> IntoHalf<'a, H> {
    fn new(data: &'a mut [H], rs: usize, m: usize, n: usize) -> Self {
        IntoHalf { data, rs, m, n }
    }
}

impl<H: HalfOut> Epilogue<f32> for IntoHalf<'_, H> {
    type Rows<'a>
        = (&'a mut [H], usize)
    where
        Self: 'a;

    fn split(&mut self, rows: usize, blocks: usize) -> Vec<(&mut [H], usize)> {
        let (rs, len) = (self.rs, (self.m - 1) * self.rs + self.n);
        let data = &mut self.data[..len];
        if blocks == 1 {
            return vec![(data, rs)];
        }
        // More than one row: rows do not overlap, so `rs >= n > 0`.
        let parts: Vec<_> = data.chunks_mut(rows * rs).map(|d| (d, rs)).collect();
        debug_assert_eq!(parts.len(), blocks);
        parts
    }

    fn finish(
        out: &mut (&mut [H], usize),
        acc: &[f32],
        ldc: usize,
        acc_col0: usize,
        m: usize,
        jc: usize,
        nc: usize,
    ) {
        let (dst, rs) = (&mut *out.0, out.1);
        crate::isa::dispatch(NarrowRows {
            src: acc,
            ld_src: ldc,
            src_col0: acc_col0,
            dst,
            ld_dst: rs,
            m,
            cols: jc..jc + nc,
        })
    }
}

thread_local! {
    /// The f32 accumulators of [`half_out`].
    static C_SCRATCH: crate::scratch::Slot = const { std::cell::Cell::new(Vec::new()) };
}

/// Rounds `m` rows of f32 (`ld_src` apart, from column `src_col0`) into
/// columns `cols` of `dst` (rows `ld_dst` apart) on the active ISA.
struct NarrowRows<'a, H> {
    src: &'a [f32],
    ld_src: usize,
    src_col0: usize,
    dst: &'a mut [H],
    ld_dst: usize,
    m: usize,
    cols: std::ops::Range<usize>,
}

impl<H: HalfOut> crate::isa::Job for NarrowRows<'_, H> {
    type Output = ();
    #[inline(always)]
    fn run<S: crate::simd::Vf32>(self, _s: S) {
        let (j0, nc) = (self.cols.start, self.cols.len());
        for i in 0..self.m {
            let src = &self.src[i * self.ld_src + self.src_col0..][..nc];
            H::round_row(&mut self.dst[i * self.ld_dst + j0..][..nc], src);
        }
    }
}

/// Two bf16 in one u32, the first in the low half: `vdpbf16ps`'s pair.
#[inline(always)]
pub(super) fn pair(lo: bf16, hi: bf16) -> u32 {
    lo.to_bits() as u32 | (hi.to_bits() as u32) << 16
}

const MR: usize = 8;
const NR: usize = 32;

/// bf16 pairs on AVX-512 BF16: 8 x 32 tiles of f32 accumulators.
pub(crate) struct Bf16Dot;

impl Family for Bf16Dot {
    type In = bf16;
    type P = u32;
    type T = f32;

    fn tile(_isa: Isa) -> (usize, usize, usize) {
        (MR, NR, 2)
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
        pack_a_panels(a, i0, mc, pc, kc, mr, out)
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
        pack_b_panels(b, pc, kc, kc.div_ceil(2), jc, nc, nr, out, parallel)
    }

    fn macro_kernel(_isa: Isa, job: Macro<'_, u32, f32>) {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V4::try_new()
            && dot_bf16_available()
        {
            // SAFETY: V4 exists and the processor has AVX-512 BF16 (both
            // checked just above): every feature `tiles_bf16` enables is
            // present.
            unsafe { x86::tiles_bf16(simd, job) };
            return;
        }
        portable_tiles(job);
    }
}

/// Pairs of A along the depth, `mr` rows side by side.
impl crate::isa::Job for APanels<'_, '_, bf16, u32> {
    type Output = ();
    #[inline(always)]
    fn run<S: crate::simd::Vf32>(self, s: S) {
        let APanels {
            a,
            i0,
            mc,
            pc,
            kc,
            mr,
            out,
        } = self;
        let kp = kc.div_ceil(2);
        let zero = bf16::ZERO;
        for (ip, dst) in out.chunks_mut(kp * mr).enumerate() {
            let r0 = i0 + ip * mr;
            let rows = mr.min(i0 + mc - r0);
            if a.cs == 1 && rows == MR && mr == MR {
                // A whole panel of row-major A: eight rows read side by
                // side, each packed step written whole.
                let rws: [&[bf16]; MR] =
                    std::array::from_fn(|i| &a.data[(r0 + i) * a.rs + pc..][..kc]);
                let full = kc / 2;
                if !pairs_transposed(s, &a.data[r0 * a.rs + pc..], a.rs, full, dst) {
                    for (q, d) in dst[..full * MR].chunks_exact_mut(MR).enumerate() {
                        for (v, r) in d.iter_mut().zip(&rws) {
                            *v = pair(r[2 * q], r[2 * q + 1]);
                        }
                    }
                }
                if kc % 2 == 1 {
                    for (v, r) in dst[full * MR..].iter_mut().zip(&rws) {
                        *v = pair(r[kc - 1], zero);
                    }
                }
                continue;
            }
            for i in 0..mr {
                if i >= rows {
                    dst.chunks_exact_mut(mr).for_each(|d| d[i] = 0);
                } else if a.cs == 1 {
                    // Along the row, as memory runs.
                    let at = (r0 + i) * a.rs + pc;
                    let row = &a.data[at..at + kc];
                    for (d, pr) in dst.chunks_exact_mut(mr).zip(row.chunks(2)) {
                        d[i] = pair(pr[0], pr.get(1).copied().unwrap_or(zero));
                    }
                } else {
                    for q in 0..kp {
                        let (k0, k1) = (pc + 2 * q, pc + 2 * q + 1);
                        let hi = if 2 * q + 1 < kc {
                            *a.at(r0 + i, k1)
                        } else {
                            zero
                        };
                        dst[q * mr + i] = pair(*a.at(r0 + i, k0), hi);
                    }
                }
            }
        }
    }
}

/// The first `full` pairs of `MR` rows of A (`rs` apart from `src[0]`)
/// into `dst`, step `q` holding the rows' pair `q` side by side, by
/// [`transpose_panel`]: in memory a pair of bf16 is already the u32 `pair`
/// makes (little-endian, the first in the low half), so the panel is the
/// transpose of an `MR x full` block of u32. Only when the rows' pairs are
/// whole u32 (`src` 4-byte aligned, `rs` even) and the block fits in both
/// slices; `false`, with nothing written, otherwise.
#[inline(always)]
fn pairs_transposed<S: crate::simd::Vf32>(
    s: S,
    src: &[bf16],
    rs: usize,
    full: usize,
    dst: &mut [u32],
) -> bool {
    if !cfg!(target_endian = "little") || !rs.is_multiple_of(2) {
        return false;
    }
    // The whole pairs of `src` as u32 (an error when `src` is not 4-byte
    // aligned); `transpose_panel` checks the block's extent in them.
    match bytemuck::try_cast_slice::<bf16, u32>(&src[..src.len() / 2 * 2]) {
        Ok(words) => transpose_panel(s, words, rs / 2, MR, full, dst),
        Err(_) => false,
    }
}

/// Pairs of B along the depth, two rows of B at a time.
impl crate::isa::Job for BPanel<'_, '_, bf16, u32> {
    type Output = ();
    #[inline(always)]
    fn run<S: crate::simd::Vf32>(self, _s: S) {
        let BPanel {
            b,
            pc,
            kc,
            j0,
            cols,
            nr,
            dst,
        } = self;
        for (q, d) in dst.chunks_exact_mut(nr).enumerate() {
            if 2 * q >= kc {
                // Padding past the depth (the AMX tiles' groups of 16).
                d.fill(0);
                continue;
            }
            let (k0, k1) = (pc + 2 * q, pc + 2 * q + 1);
            let has_k1 = 2 * q + 1 < kc;
            if b.cs == 1 {
                prefetch_row_ahead(b, k0, j0, cols);
                prefetch_row_ahead(b, k1, j0, cols);
                // Two rows of B, as memory runs.
                let r0 = &b.data[k0 * b.rs + j0..][..cols];
                if has_k1 {
                    let r1 = &b.data[k1 * b.rs + j0..][..cols];
                    for ((v, &x), &y) in d.iter_mut().zip(r0).zip(r1) {
                        *v = pair(x, y);
                    }
                } else {
                    for (v, &x) in d.iter_mut().zip(r0) {
                        *v = pair(x, bf16::ZERO);
                    }
                }
                d[cols..].fill(0);
                continue;
            }
            for (j, v) in d.iter_mut().enumerate() {
                *v = if j < cols {
                    let hi = if has_k1 {
                        *b.at(k1, j0 + j)
                    } else {
                        bf16::ZERO
                    };
                    pair(*b.at(k0, j0 + j), hi)
                } else {
                    0
                };
            }
        }
    }
}

/// The same tiles without the instruction, for a processor that lacks it
/// (`drive` never picks this family there; this keeps the family sound on
/// its own).
fn portable_tiles(job: Macro<'_, u32, f32>) {
    let s = pulp::Scalar::new();
    super::tiles(job, MR, NR, |ap, bp, c, ldc, rows, cols, alpha, beta| {
        let mut acc = [0f32; MR * NR];
        for (ak, bk) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
            for (i, &a) in ak.iter().enumerate() {
                let (a0, a1) = (
                    bf16::from_bits(a as u16).to_f32(),
                    bf16::from_bits((a >> 16) as u16).to_f32(),
                );
                for (j, &b) in bk.iter().enumerate() {
                    let (b0, b1) = (
                        bf16::from_bits(b as u16).to_f32(),
                        bf16::from_bits((b >> 16) as u16).to_f32(),
                    );
                    acc[i * NR + j] += a0 * b0 + a1 * b1;
                }
            }
        }
        super::write_tile::<f32, _>(s, &acc, NR, c, ldc, rows, cols, alpha, beta);
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR};
    use crate::gemm::{Macro, tiles, write_tile};
    use std::arch::x86_64::*;

    /// Every tile of a row block with `vdpbf16ps`.
    #[target_feature(enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl")]
    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt,avx512bf16")]
    pub(super) fn tiles_bf16(simd: pulp::x86::V4, job: Macro<'_, u32, f32>) {
        tiles(job, MR, NR, |ap, bp, c, ldc, rows, cols, alpha, beta| {
            let acc = micro(ap, bp);
            write_tile::<f32, _>(simd, &acc, NR, c, ldc, rows, cols, alpha, beta);
        });
    }

    /// 32 bf16 (16 pairs) from `p`, unaligned.
    ///
    /// # Safety
    /// `p` must point to 16 readable u32.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    unsafe fn load_pairs(p: *const u32) -> __m512bh {
        // SAFETY: the caller guarantees 64 readable bytes at `p`; any bit
        // pattern is a valid vector of 32 bf16, so the transmute between
        // two 512-bit vector types is sound.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())) }
    }

    /// One pair in every lane.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    fn splat_pair(x: u32) -> __m512bh {
        // SAFETY: as in `load_pairs`, any 512 bits are 32 valid bf16.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(x as i32)) }
    }

    /// The 8 x 32 f32 tile of one A and one B panel of pairs.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    fn micro(a: &[u32], b: &[u32]) -> [f32; MR * NR] {
        let (a, _) = a.as_chunks::<MR>();
        let (b, _) = b.as_chunks::<NR>();
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (ak, bk) in a.iter().zip(b) {
            // SAFETY: `bk` holds NR = 32 u32: two runs of 16 from its start.
            let (b0, b1) = unsafe { (load_pairs(bk.as_ptr()), load_pairs(bk.as_ptr().add(16))) };
            for i in 0..MR {
                let ai = splat_pair(ak[i]);
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
            }
        }
        let mut out = [0f32; MR * NR];
        for (row, v) in out.chunks_exact_mut(NR).zip(&acc) {
            // SAFETY: `row` holds 32 f32: two runs of 16 from its start.
            unsafe {
                _mm512_storeu_ps(row.as_mut_ptr(), v[0]);
                _mm512_storeu_ps(row.as_mut_ptr().add(16), v[1]);
            }
        }
        out
    }
}
