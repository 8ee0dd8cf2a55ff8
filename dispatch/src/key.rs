//! Dispatch keys and key sets, after PyTorch's `DispatchKeySet`: a `u64`
//! whose low bits name the backend (which device's kernels) and whose high
//! bits name the functionality (dense data, autograd). A runtime key is one
//! functionality on one backend: `CPU` is Dense on the CPU backend,
//! `AutogradCPU` is Autograd on it.
//!
//! The fixed tables (bits, priority):
//!
//! | bit | name | kind |
//! |-----|------|------|
//! | 0 | CPU | backend |
//! | 1 | CUDA | backend |
//! | 2 | MPS | backend |
//! | 3 | XPU | backend |
//! | 4 | Meta | backend |
//! | 16 | Dense | functionality, priority 0 |
//! | 17 | Autograd | functionality, priority 1 (above Dense) |
//!
//! Any other bit is unknown, and [`DispatchKeySet::from_bits_checked`]
//! rejects it; it is never masked away.

use std::fmt;

/// A device's kernels: the backend half of a runtime key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Backend {
    Cpu = 0,
    Cuda = 1,
    Mps = 2,
    Xpu = 3,
    Meta = 4,
}

impl Backend {
    pub const ALL: [Backend; 5] = [
        Backend::Cpu,
        Backend::Cuda,
        Backend::Mps,
        Backend::Xpu,
        Backend::Meta,
    ];

    /// PyTorch's spelling, as in its messages ("the 'CUDA' backend").
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "CPU",
            Backend::Cuda => "CUDA",
            Backend::Mps => "MPS",
            Backend::Xpu => "XPU",
            Backend::Meta => "Meta",
        }
    }

    /// The backend that runs tensors of a device kind.
    pub fn of(kind: ft_core::DeviceKind) -> Backend {
        match kind {
            ft_core::DeviceKind::Cpu => Backend::Cpu,
            ft_core::DeviceKind::Cuda => Backend::Cuda,
            ft_core::DeviceKind::Mps => Backend::Mps,
            ft_core::DeviceKind::Xpu => Backend::Xpu,
            ft_core::DeviceKind::Meta => Backend::Meta,
        }
    }

    const fn bit(self) -> u64 {
        1 << self as u8
    }
}

/// What a kernel does, on whichever backend: the functionality half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Functionality {
    /// Compute on dense (strided) data.
    Dense = 16,
    /// Record the graph for backward, then redispatch below itself.
    Autograd = 17,
}

impl Functionality {
    /// Lowest priority first.
    pub const ALL: [Functionality; 2] = [Functionality::Dense, Functionality::Autograd];

    const fn bit(self) -> u64 {
        1 << self as u8
    }
}

const BACKEND_MASK: u64 = 0b1_1111;
const FUNCTIONALITY_MASK: u64 = (1 << 16) | (1 << 17);
const KNOWN_BITS: u64 = BACKEND_MASK | FUNCTIONALITY_MASK;

/// A key a kernel is registered under.
///
/// Runtime keys name one functionality on one backend. The composite keys
/// are alias keys, as in PyTorch: a kernel registered under one serves
/// every backend, built from other ops (`CompositeImplicitAutograd`: also
/// differentiable through them; `CompositeExplicitAutograd`: needs its own
/// backward).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DispatchKey {
    /// Dense kernels of a backend: `CPU`, `CUDA`, ...
    Dense(Backend),
    /// Autograd kernels of a backend: `AutogradCPU`, ...
    Autograd(Backend),
    CompositeImplicitAutograd,
    CompositeExplicitAutograd,
}

impl DispatchKey {
    pub const CPU: DispatchKey = DispatchKey::Dense(Backend::Cpu);
    pub const AUTOGRAD_CPU: DispatchKey = DispatchKey::Autograd(Backend::Cpu);

    /// The number of distinct keys ([`DispatchKey::index`] is below it).
    pub const COUNT: usize = 2 * Backend::ALL.len() + 2;

    /// A dense index for tables: `0..COUNT`.
    pub const fn index(self) -> usize {
        match self {
            DispatchKey::Dense(b) => b as usize,
            DispatchKey::Autograd(b) => Backend::ALL.len() + b as usize,
            DispatchKey::CompositeImplicitAutograd => 2 * Backend::ALL.len(),
            DispatchKey::CompositeExplicitAutograd => 2 * Backend::ALL.len() + 1,
        }
    }

    /// Whether the key is an alias (registration only, never in a key set).
    pub const fn is_alias(self) -> bool {
        matches!(
            self,
            DispatchKey::CompositeImplicitAutograd | DispatchKey::CompositeExplicitAutograd
        )
    }

    /// The key set of a runtime key (an alias key has none: `None`).
    pub const fn keyset(self) -> Option<DispatchKeySet> {
        match self {
            DispatchKey::Dense(b) => Some(DispatchKeySet(b.bit() | Functionality::Dense.bit())),
            DispatchKey::Autograd(b) => Some(DispatchKeySet(
                b.bit() | Functionality::Dense.bit() | Functionality::Autograd.bit(),
            )),
            _ => None,
        }
    }

    /// PyTorch's name: `CPU`, `AutogradCPU`, `CompositeImplicitAutograd`.
    pub fn name(self) -> &'static str {
        const AUTOGRAD: [&str; 5] = [
            "AutogradCPU",
            "AutogradCUDA",
            "AutogradMPS",
            "AutogradXPU",
            "AutogradMeta",
        ];
        match self {
            DispatchKey::Dense(b) => b.name(),
            DispatchKey::Autograd(b) => AUTOGRAD[b as usize],
            DispatchKey::CompositeImplicitAutograd => "CompositeImplicitAutograd",
            DispatchKey::CompositeExplicitAutograd => "CompositeExplicitAutograd",
        }
    }
}

impl fmt::Display for DispatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key set cannot be dispatched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySetError {
    /// Bits outside the table (the value given).
    UnknownBits(u64),
    Empty,
    /// A functionality but no backend: nothing says which device runs it.
    NoBackend,
    /// A backend but no functionality ("type") key: nothing says what
    /// kind of kernel runs.
    NoFunctionality,
    /// Autograd on a backend without that backend's dense key: there would
    /// be nothing for the autograd kernel to redispatch to.
    AutogradWithoutDense,
    /// More than one backend: the tensors of one call live on one device.
    MixedBackends,
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySetError::UnknownBits(b) => write!(f, "unknown dispatch key bits {b:#x}"),
            KeySetError::Empty => f.write_str("empty dispatch key set"),
            KeySetError::NoBackend => f.write_str("dispatch key set has no backend key"),
            KeySetError::NoFunctionality => {
                f.write_str("dispatch key set has no functionality (type) key")
            }
            KeySetError::AutogradWithoutDense => {
                f.write_str("dispatch key set has Autograd without its backend's dense key")
            }
            KeySetError::MixedBackends => f.write_str("dispatch key set has more than one backend"),
        }
    }
}

impl std::error::Error for KeySetError {}

/// A set of dispatch keys in one `u64` (see the module's table).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DispatchKeySet(u64);

impl DispatchKeySet {
    pub const EMPTY: DispatchKeySet = DispatchKeySet(0);

    /// The set of these bits, or `Err` if any bit is unknown (never
    /// repaired by masking).
    pub const fn from_bits_checked(bits: u64) -> Result<Self, KeySetError> {
        if bits & !KNOWN_BITS != 0 {
            return Err(KeySetError::UnknownBits(bits));
        }
        Ok(DispatchKeySet(bits))
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    pub const fn backend(b: Backend) -> Self {
        DispatchKeySet(b.bit())
    }

    pub const fn functionality(f: Functionality) -> Self {
        DispatchKeySet(f.bit())
    }

    pub const fn union(self, other: Self) -> Self {
        DispatchKeySet(self.0 | other.0)
    }

    pub const fn intersection(self, other: Self) -> Self {
        DispatchKeySet(self.0 & other.0)
    }

    /// The keys of `self` not in `other`.
    pub const fn difference(self, other: Self) -> Self {
        DispatchKeySet(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every key of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn has_functionality(self, f: Functionality) -> bool {
        self.0 & f.bit() != 0
    }

    /// The set without `f`: what an autograd kernel redispatches to.
    pub const fn without(self, f: Functionality) -> Self {
        DispatchKeySet(self.0 & !f.bit())
    }

    /// Checks the set is one a call can be dispatched on: known bits, one
    /// backend, a functionality, and Autograd only above Dense.
    pub const fn validate(self) -> Result<(), KeySetError> {
        if self.0 & !KNOWN_BITS != 0 {
            return Err(KeySetError::UnknownBits(self.0));
        }
        if self.0 == 0 {
            return Err(KeySetError::Empty);
        }
        let backends = self.0 & BACKEND_MASK;
        if backends == 0 {
            return Err(KeySetError::NoBackend);
        }
        if backends.count_ones() > 1 {
            return Err(KeySetError::MixedBackends);
        }
        if self.0 & FUNCTIONALITY_MASK == 0 {
            return Err(KeySetError::NoFunctionality);
        }
        if self.has_functionality(Functionality::Autograd)
            && !self.has_functionality(Functionality::Dense)
        {
            return Err(KeySetError::AutogradWithoutDense);
        }
        Ok(())
    }

    /// The backend of a valid set.
    pub const fn backend_component(self) -> Result<Backend, KeySetError> {
        if let Err(e) = self.validate() {
            return Err(e);
        }
        let i = (self.0 & BACKEND_MASK).trailing_zeros();
        Ok(Backend::ALL[i as usize])
    }

    /// The key a call with this set runs first: the highest functionality
    /// on the set's backend (AutogradCPU above CPU).
    pub const fn highest_priority_key(self) -> Result<DispatchKey, KeySetError> {
        let b = match self.backend_component() {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        if self.has_functionality(Functionality::Autograd) {
            Ok(DispatchKey::Autograd(b))
        } else {
            Ok(DispatchKey::Dense(b))
        }
    }

    /// The dense key of the set's backend: where computation happens once
    /// every functionality above it has run.
    pub const fn backend_key(self) -> Result<DispatchKey, KeySetError> {
        match self.backend_component() {
            Ok(b) => Ok(DispatchKey::Dense(b)),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for DispatchKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        for b in Backend::ALL {
            if self.0 & b.bit() != 0 {
                names.push(b.name());
            }
        }
        if self.has_functionality(Functionality::Dense) {
            names.push("Dense");
        }
        if self.has_functionality(Functionality::Autograd) {
            names.push("Autograd");
        }
        write!(f, "DispatchKeySet({})", names.join("|"))
    }
}

impl std::ops::BitOr for DispatchKeySet {
    type Output = DispatchKeySet;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: DispatchKeySet = DispatchKeySet::backend(Backend::Cpu);
    const DENSE: DispatchKeySet = DispatchKeySet::functionality(Functionality::Dense);
    const AUTOGRAD: DispatchKeySet = DispatchKeySet::functionality(Functionality::Autograd);

    #[test]
    fn unknown_bits_fail_closed() {
        for bit in (0..64).filter(|b| KNOWN_BITS & (1 << b) == 0) {
            let bits = CPU.union(DENSE).bits() | 1 << bit;
            assert_eq!(
                DispatchKeySet::from_bits_checked(bits),
                Err(KeySetError::UnknownBits(bits)),
                "bit {bit}"
            );
        }
        let ok = DispatchKeySet::from_bits_checked(CPU.union(DENSE).bits()).unwrap();
        assert_eq!(ok.highest_priority_key(), Ok(DispatchKey::CPU));
    }

    #[test]
    fn autograd_outranks_cpu() {
        let s = CPU | DENSE | AUTOGRAD;
        assert_eq!(s.highest_priority_key(), Ok(DispatchKey::AUTOGRAD_CPU));
        assert_eq!(s.backend_key(), Ok(DispatchKey::CPU));
        assert_eq!(
            s.without(Functionality::Autograd).highest_priority_key(),
            Ok(DispatchKey::CPU)
        );
    }

    #[test]
    fn autograd_without_cpu_rejected() {
        assert_eq!(
            (CPU | AUTOGRAD).validate(),
            Err(KeySetError::AutogradWithoutDense)
        );
        assert_eq!(
            (CPU | AUTOGRAD).highest_priority_key(),
            Err(KeySetError::AutogradWithoutDense)
        );
    }

    #[test]
    fn empty_keyset_rejected() {
        assert_eq!(DispatchKeySet::EMPTY.validate(), Err(KeySetError::Empty));
    }

    #[test]
    fn keyset_without_backend_rejected() {
        assert_eq!((DENSE | AUTOGRAD).validate(), Err(KeySetError::NoBackend));
    }

    #[test]
    fn keyset_without_type_key_rejected() {
        assert_eq!(CPU.validate(), Err(KeySetError::NoFunctionality));
    }

    #[test]
    fn keyset_with_two_backends_rejected() {
        let s = CPU | DispatchKeySet::backend(Backend::Cuda) | DENSE;
        assert_eq!(s.validate(), Err(KeySetError::MixedBackends));
    }

    #[test]
    fn set_algebra() {
        let a = CPU | DENSE;
        let b = DENSE | AUTOGRAD;
        assert_eq!(a.union(b), CPU | DENSE | AUTOGRAD);
        assert_eq!(a.intersection(b), DENSE);
        assert_eq!(a.difference(b), CPU);
        assert!(a.union(b).contains(a) && !a.contains(b));
        assert!(DispatchKeySet::EMPTY.is_empty());
        assert_eq!(
            format!("{:?}", a | AUTOGRAD),
            "DispatchKeySet(CPU|Dense|Autograd)"
        );
    }

    #[test]
    fn runtime_keys_round_trip_through_their_sets() {
        for b in Backend::ALL {
            for k in [DispatchKey::Dense(b), DispatchKey::Autograd(b)] {
                let s = k.keyset().unwrap();
                assert_eq!(s.highest_priority_key(), Ok(k));
                assert_eq!(s.backend_key(), Ok(DispatchKey::Dense(b)));
            }
        }
        assert!(DispatchKey::CompositeImplicitAutograd.keyset().is_none());
        let mut seen = [false; DispatchKey::COUNT];
        for b in Backend::ALL {
            seen[DispatchKey::Dense(b).index()] = true;
            seen[DispatchKey::Autograd(b).index()] = true;
        }
        seen[DispatchKey::CompositeImplicitAutograd.index()] = true;
        seen[DispatchKey::CompositeExplicitAutograd.index()] = true;
        assert!(seen.iter().all(|&s| s), "indices are dense and distinct");
        assert_eq!(DispatchKey::AUTOGRAD_CPU.name(), "AutogradCPU");
    }
}
