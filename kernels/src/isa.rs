//! Which instruction set the kernels run on: detected once, cached, and
//! lowered on request with `FT_ISA=scalar|avx2|avx512|neon` (or
//! [`force_isa`]), so that one machine can test every path.
//!
//! A kernel is a [`Job`]: a value whose `run` is generic over the SIMD type.
//! [`dispatch`] monomorphises it per ISA inside a `#[target_feature]`
//! function, so the same generic body compiles to AVX-512, AVX2+FMA, NEON or
//! portable code, and picks one at run time.

use crate::simd::Vf32;
use ft_core::{Error, ErrorKind, Result};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set level, ordered from least to most capable on its
/// architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust, one lane at a time (the compiler may still vectorize
    /// it with the baseline ISA).
    Scalar,
    /// aarch64 Advanced SIMD, 4 f32 lanes.
    Neon,
    /// x86-64-v3: AVX2 + FMA, 8 f32 lanes.
    Avx2,
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL, 16 f32 lanes.
    Avx512,
}

impl Isa {
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Isa::Scalar,
            "neon" => Isa::Neon,
            "avx2" => Isa::Avx2,
            "avx512" => Isa::Avx512,
            _ => return None,
        })
    }

    /// Lanes of f32 per vector on this ISA.
    pub const fn f32_lanes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            Isa::Neon => 4,
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }

    fn to_u8(self) -> u8 {
        self as u8 + 1
    }

    fn from_u8(v: u8) -> Isa {
        match v {
            1 => Isa::Scalar,
            2 => Isa::Neon,
            3 => Isa::Avx2,
            _ => Isa::Avx512,
        }
    }

    /// Whether this processor can run the ISA.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => v3().is_some(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => v4().is_some(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => pulp::aarch64::Neon::try_new().is_some(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The best ISA this processor has.
pub fn detected_isa() -> Isa {
    [Isa::Avx512, Isa::Avx2, Isa::Neon]
        .into_iter()
        .find(|i| i.is_available())
        .unwrap_or(Isa::Scalar)
}

static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The ISA the kernels use: the detected one, or the one `FT_ISA` names.
/// An `FT_ISA` this processor cannot run, or cannot parse, is reported once
/// on stderr and ignored (kernels must never run an unsupported ISA).
pub fn isa() -> Isa {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => {
            let chosen = match std::env::var("FT_ISA") {
                Ok(v) => match resolve_request(&v) {
                    Ok(i) => i,
                    Err(e) => {
                        eprintln!("frankentorch: {e}; using {}", detected_isa());
                        detected_isa()
                    }
                },
                Err(_) => detected_isa(),
            };
            ACTIVE.store(chosen.to_u8(), Ordering::Relaxed);
            chosen
        }
        v => Isa::from_u8(v),
    }
}

fn resolve_request(v: &str) -> Result<Isa> {
    let requested = Isa::parse(v).ok_or_else(|| {
        Error::new(
            ErrorKind::Value,
            format!("FT_ISA={v:?} is not one of scalar, avx2, avx512, neon"),
        )
    })?;
    if !requested.is_available() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("FT_ISA={v} asks for an instruction set this processor does not have"),
        ));
    }
    Ok(requested)
}

/// Switches every later kernel call to `isa` (for tests and benchmarks that
/// compare paths in one process). Fails if the processor cannot run it.
pub fn force_isa(isa: Isa) -> Result<()> {
    resolve_request(isa.name())?;
    ACTIVE.store(isa.to_u8(), Ordering::Relaxed);
    Ok(())
}

/// A kernel body, generic over the SIMD type.
pub trait Job {
    type Output;
    fn run<S: Vf32>(self, simd: S) -> Self::Output;
}

/// Runs `job` on the active ISA.
#[inline]
pub fn dispatch<J: Job>(job: J) -> J::Output {
    run_on(isa(), job)
}

/// [`dispatch`], inlined into its caller: for the small ops' paths, where
/// the job (a few slices) is built just before. Through a `dispatch` call
/// the job was written field by field and copied on in 16-byte pieces, a
/// store-forwarding stall on every call (`perf annotate` of `a + b` on
/// [16]: two thirds of `dispatch`'s samples on that one load).
#[inline(always)]
pub(crate) fn dispatch_inline<J: Job>(job: J) -> J::Output {
    run_on(isa(), job)
}

/// Runs `job` on a given ISA (tests and benchmarks comparing paths); fails
/// if this processor cannot run it.
pub fn dispatch_on<J: Job>(isa: Isa, job: J) -> Result<J::Output> {
    resolve_request(isa.name())?;
    Ok(run_on(isa, job))
}

/// Runs `job` on an ISA [`isa`] returned earlier, so that a caller that
/// laid out data for that ISA (GEMM's packed panels) runs on that ISA even
/// if another thread forces a different one meanwhile.
#[inline]
pub(crate) fn dispatch_with<J: Job>(isa: Isa, job: J) -> J::Output {
    run_on(isa, job)
}

/// Runs `job` on `isa`, or on the portable path if the processor lacks it.
/// Every fallback goes through the one [`run_scalar`] instance, so each job
/// carries one scalar body, not one per arm (a third of the crate's code).
#[inline(always)]
fn run_on<J: Job>(isa: Isa, job: J) -> J::Output {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => match v4() {
            // SAFETY: `v4` succeeded, so the processor has every feature
            // `run_v4` enables (pulp's `V4` and F16C).
            Some(simd) => unsafe { run_v4(simd, job) },
            None => run_scalar(job),
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => match v3() {
            // SAFETY: `v3` succeeded, so the processor has every feature
            // `run_v3` enables (pulp's `V3` and F16C).
            Some(simd) => unsafe { run_v3(simd, job) },
            None => run_scalar(job),
        },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => match pulp::aarch64::Neon::try_new() {
            // SAFETY: `Neon::try_new` succeeded, so the processor has NEON.
            Some(simd) => unsafe { run_neon(simd, job) },
            None => run_scalar(job),
        },
        _ => run_scalar(job),
    }
}

/// Every ISA this processor can run, lowest first.
pub fn available_isas() -> Vec<Isa> {
    [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|i| i.is_available())
        .collect()
}

#[inline(never)]
fn run_scalar<J: Job>(job: J) -> J::Output {
    job.run(pulp::Scalar::new())
}

/// Which x86 jobs this processor can run, found once: bit 0 `run_v3`,
/// bit 1 `run_v4` (pulp's token, and F16C); `u8::MAX` before the first
/// look. A dispatch reads this one byte: pulp's and std's caches were two
/// reads and two tests each, 2,000 instructions of a 256-row sum.
#[cfg(target_arch = "x86_64")]
static X86_JOBS: AtomicU8 = AtomicU8::new(u8::MAX);

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn x86_jobs() -> u8 {
    match X86_JOBS.load(Ordering::Relaxed) {
        u8::MAX => detect_x86_jobs(),
        jobs => jobs,
    }
}

/// The first look of [`x86_jobs`]: out of line, so that each dispatch
/// site carries a load and a test only.
#[cfg(target_arch = "x86_64")]
#[cold]
#[inline(never)]
fn detect_x86_jobs() -> u8 {
    // Every AVX2 processor made has F16C (x86-64-v3 includes it), but
    // pulp's tokens do not check it; the jobs are compiled with it, so f16
    // loads and stores inside them are one instruction.
    let f16c = std::arch::is_x86_feature_detected!("f16c");
    let v3 = f16c && pulp::x86::V3::is_available();
    let v4 = f16c && pulp::x86::V4::is_available();
    let jobs = v3 as u8 | (v4 as u8) << 1;
    X86_JOBS.store(jobs, Ordering::Relaxed);
    jobs
}

/// pulp's AVX2 token, where `run_v3` can run.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn v3() -> Option<pulp::x86::V3> {
    // SAFETY: bit 0 is set only where pulp found every feature of `V3`.
    (x86_jobs() & 1 != 0).then(|| unsafe { pulp::x86::V3::new_unchecked() })
}

/// pulp's AVX-512 token, where `run_v4` can run.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn v4() -> Option<pulp::x86::V4> {
    // SAFETY: bit 1 is set only where pulp found every feature of `V4`.
    (x86_jobs() & 2 != 0).then(|| unsafe { pulp::x86::V4::new_unchecked() })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt,f16c")]
fn run_v4<J: Job>(simd: pulp::x86::V4, job: J) -> J::Output {
    job.run(simd)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt,f16c")]
fn run_v3<J: Job>(simd: pulp::x86::V3, job: J) -> J::Output {
    job.run(simd)
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
fn run_neon<J: Job>(simd: pulp::aarch64::Neon, job: J) -> J::Output {
    job.run(simd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_names_round_trip() {
        for i in [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(i.name()), Some(i));
        }
        assert_eq!(Isa::parse("sse9"), None);
        assert!(resolve_request("sse9").is_err());
    }

    #[test]
    fn scalar_is_always_available() {
        assert!(Isa::Scalar.is_available());
        assert!(detected_isa().is_available());
    }
}
