//! Which processor this is (vendor, family and model from CPUID), for the
//! few choices that depend on the core rather than on its instruction set.
//!
//! Two cores with the same instructions can want different code: software
//! prefetches ahead of a streaming read gave AMD's Zen 5 a fifth more
//! bandwidth and cost Zen 4 a fifth
//! (`perf-artifacts/kernels-v14-sum-prefetch-by-core.md`). Such choices
//! ask [`cpu`] and document the measurement behind them.
//!
//! ```
//! let c = ft_kernels::cpu::cpu();
//! println!("{c}"); // e.g. "AuthenticAMD family 0x19 model 0x11"
//! # let _ = c.family;
//! ```

use std::fmt;
use std::sync::OnceLock;

/// Who made the processor (CPUID leaf 0's vendor string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// "GenuineIntel".
    Intel,
    /// "AuthenticAMD".
    Amd,
    /// Any other vendor, or an architecture without CPUID.
    Other,
}

/// The processor's identity: vendor and the display family and model
/// (base plus extended fields, as the vendors' manuals combine them).
/// Family and model are 0 where there is no CPUID (not x86_64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    pub vendor: Vendor,
    pub family: u32,
    pub model: u32,
}

impl Cpu {
    /// From CPUID leaf 0's vendor registers and leaf 1's EAX.
    pub fn from_cpuid(ebx: u32, edx: u32, ecx: u32, leaf1_eax: u32) -> Cpu {
        // The vendor string is EBX, EDX, ECX, four bytes each.
        let vendor = match (ebx, edx, ecx) {
            (0x756e_6547, 0x4965_6e69, 0x6c65_746e) => Vendor::Intel, // "Genu" "ineI" "ntel"
            (0x6874_7541, 0x6974_6e65, 0x444d_4163) => Vendor::Amd,   // "Auth" "enti" "cAMD"
            _ => Vendor::Other,
        };
        let base_family = (leaf1_eax >> 8) & 0xf;
        let base_model = (leaf1_eax >> 4) & 0xf;
        let ext_family = (leaf1_eax >> 20) & 0xff;
        let ext_model = (leaf1_eax >> 16) & 0xf;
        let family = if base_family == 0xf {
            base_family + ext_family
        } else {
            base_family
        };
        let model = if base_family == 0xf || base_family == 0x6 {
            (ext_model << 4) | base_model
        } else {
            base_model
        };
        Cpu {
            vendor,
            family,
            model,
        }
    }

    /// Whether a long streaming read (a row sum) runs faster with a
    /// software prefetch per cache line some kilobytes ahead of its loads
    /// than with the hardware prefetchers alone. Measured yes on AMD Zen 5
    /// (family 0x1a: +15-20% at one thread), no on Zen 4 (family 0x19:
    /// -20-27%); Intel and the rest are left to their hardware prefetchers
    /// (the Xeon's sums were at 1.05x PyTorch without the requests, which
    /// were never timed there).
    pub fn streams_want_prefetch(self) -> bool {
        self.vendor == Vendor::Amd && self.family >= 0x1a
    }

    /// Whether the tiled walk of a transposed operand (`a.t() + b`) should
    /// take a small tile (512 x 16 f32) with the next tile's lines of that
    /// operand prefetched into L2, rather than a large one (2048 x 32)
    /// left to the hardware prefetchers. Measured yes on AMD Zen 5 (the
    /// prefetch was worth 25-35%, `perf-artifacts/kernels-v7-transposed.md`),
    /// no on an Intel Xeon with AMX (the large tile: 1.6x the bandwidth,
    /// `perf-artifacts/kernels-v23-transposed-tiles.md`). Zen 4 follows
    /// Zen 5 and the rest follow Intel: not measured.
    pub fn gathers_want_prefetch(self) -> bool {
        self.vendor == Vendor::Amd
    }

    /// Whether one core reads a long stream (a row sum) faster with 256-bit
    /// loads than with 512-bit ones, where it has AVX-512. Measured yes on
    /// AMD Zen 4 (family 0x19, the only one of that family with AVX-512,
    /// whose 512-bit operations are two 256-bit halves): a plain four-
    /// accumulator loop over 64 MiB read 35-37.5 GB/s at 256 bits against
    /// 27-29 at 512 in the same process, our row sums 30-33 against 20-23
    /// (`perf-artifacts/kernels-v16-sum-width.md`; PyTorch runs its AVX2
    /// kernels there). Zen 5 and Intel keep 512 bits: not measured.
    pub fn streams_prefer_256(self) -> bool {
        self.vendor == Vendor::Amd && self.family == 0x19
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vendor = match self.vendor {
            Vendor::Intel => "GenuineIntel",
            Vendor::Amd => "AuthenticAMD",
            Vendor::Other => "other",
        };
        write!(
            f,
            "{vendor} family {:#x} model {:#x}",
            self.family, self.model
        )
    }
}

/// This processor, read once.
pub fn cpu() -> Cpu {
    static CPU: OnceLock<Cpu> = OnceLock::new();
    *CPU.get_or_init(read)
}

#[cfg(target_arch = "x86_64")]
fn read() -> Cpu {
    let l0 = std::arch::x86_64::__cpuid(0);
    let eax1 = if l0.eax >= 1 {
        std::arch::x86_64::__cpuid(1).eax
    } else {
        0
    };
    Cpu::from_cpuid(l0.ebx, l0.edx, l0.ecx, eax1)
}

#[cfg(not(target_arch = "x86_64"))]
fn read() -> Cpu {
    Cpu {
        vendor: Vendor::Other,
        family: 0,
        model: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_and_model_combine_the_extended_fields() {
        let amd = (0x6874_7541, 0x6974_6e65, 0x444d_4163);
        // Zen 4 EPYC 9004 (Genoa): family 0x19 model 0x11, stepping 1.
        let genoa = Cpu::from_cpuid(amd.0, amd.1, amd.2, 0x00a1_0f11);
        assert_eq!(
            (genoa.vendor, genoa.family, genoa.model),
            (Vendor::Amd, 0x19, 0x11)
        );
        assert!(!genoa.streams_want_prefetch());
        // Zen 5 EPYC 9005 (Turin): family 0x1a model 0x02.
        let turin = Cpu::from_cpuid(amd.0, amd.1, amd.2, 0x00b0_0f21);
        assert_eq!((turin.family, turin.model), (0x1a, 0x02));
        assert!(turin.streams_want_prefetch());
        assert!(genoa.gathers_want_prefetch() && turin.gathers_want_prefetch());
        // Sapphire Rapids: family 6 model 0x8f, stepping 8.
        let spr = Cpu::from_cpuid(0x756e_6547, 0x4965_6e69, 0x6c65_746e, 0x0008_06f8);
        assert_eq!(
            (spr.vendor, spr.family, spr.model),
            (Vendor::Intel, 6, 0x8f)
        );
        assert!(!spr.streams_want_prefetch());
        assert!(!spr.gathers_want_prefetch());
        assert_eq!(spr.to_string(), "GenuineIntel family 0x6 model 0x8f");
        assert_eq!(Cpu::from_cpuid(0, 0, 0, 0).vendor, Vendor::Other);
    }
}
