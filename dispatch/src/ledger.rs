//! The decision ledger: what dispatch decided, per call. Off by default;
//! [`enable`] allocates its ring once, after which recording a call takes a
//! lock and writes one fixed-size entry (no allocation). When the ring is
//! full the oldest entries are overwritten; [`json_lines`] reads what is
//! kept, oldest first, as JSON lines.

use crate::key::DispatchKey;
use crate::ops::Op;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A fallback dispatch took instead of the direct kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    None,
    /// A composite decomposition (Hardened mode only).
    Composite,
}

/// Why dispatch routed (or refused) a call as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The kernel registered for the selected key ran.
    Direct,
    /// An autograd key with no autograd kernel, on an op without
    /// differentiable outputs: passed to the backend key.
    AutogradFallthrough,
    /// No direct kernel for the input dtype; a composite ran (Hardened).
    DtypeFallback,
    /// No direct kernel for the input dtype, and Strict mode refused the
    /// composite: PyTorch's error.
    DtypeRejected,
    /// The tensors of the call are on different devices.
    DeviceMismatch,
    /// The key set failed validation.
    InvalidKeySet,
    /// No kernel is registered for the selected key (a non-CPU backend, or
    /// autograd before ft-autograd registered its kernels).
    NoKernel,
    /// Hardened mode refused an output larger than its limit.
    AllocationTooLarge,
}

impl Reason {
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Direct => "direct",
            Reason::AutogradFallthrough => "autograd_fallthrough",
            Reason::DtypeFallback => "dtype_fallback",
            Reason::DtypeRejected => "dtype_rejected",
            Reason::DeviceMismatch => "device_mismatch",
            Reason::InvalidKeySet => "invalid_keyset",
            Reason::NoKernel => "no_kernel",
            Reason::AllocationTooLarge => "allocation_too_large",
        }
    }
}

/// One recorded decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Calls recorded before this one since `enable`.
    pub seq: u64,
    pub op: Op,
    pub keyset_bits: u64,
    /// The key whose kernel was looked up (`None` when none could be chosen).
    pub selected: Option<DispatchKey>,
    pub backend: Option<DispatchKey>,
    pub fallback: Fallback,
    pub reason: Reason,
}

impl Entry {
    /// The entry as one JSON object.
    pub fn to_json(&self) -> String {
        let key = |k: Option<DispatchKey>| k.map_or("null".to_string(), |k| format!("\"{k}\""));
        format!(
            "{{\"seq\":{},\"op\":\"{}\",\"keyset\":\"{:#x}\",\"selected\":{},\"backend\":{},\"fallback\":\"{}\",\"reason\":\"{}\"}}",
            self.seq,
            self.op.name(),
            self.keyset_bits,
            key(self.selected),
            key(self.backend),
            match self.fallback {
                Fallback::None => "none",
                Fallback::Composite => "composite",
            },
            self.reason.name()
        )
    }
}

struct Ring {
    entries: Vec<Entry>,
    capacity: usize,
    next: u64,
}

static ON: AtomicBool = AtomicBool::new(false);
static RING: Mutex<Ring> = Mutex::new(Ring {
    entries: Vec::new(),
    capacity: 0,
    next: 0,
});

fn ring() -> std::sync::MutexGuard<'static, Ring> {
    RING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns the ledger on with room for `capacity` entries (at least 1),
/// dropping what it held.
pub fn enable(capacity: usize) {
    let capacity = capacity.max(1);
    let mut r = ring();
    r.entries = Vec::with_capacity(capacity);
    r.capacity = capacity;
    r.next = 0;
    ON.store(true, Ordering::Release);
}

/// Turns the ledger off; what it holds stays readable.
pub fn disable() {
    ON.store(false, Ordering::Release);
}

#[inline]
pub fn is_enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Records a decision if the ledger is on. Never allocates: the ring was
/// sized by `enable`. (`seq` of `e` is set here.)
#[inline]
pub(crate) fn record(e: Entry) {
    if ON.load(Ordering::Relaxed) {
        record_slow(e);
    }
}

#[inline(never)]
fn record_slow(mut e: Entry) {
    let mut r = ring();
    if r.capacity == 0 {
        return;
    }
    e.seq = r.next;
    let slot = (r.next % r.capacity as u64) as usize;
    if slot < r.entries.len() {
        r.entries[slot] = e;
    } else {
        // Within the capacity reserved by `enable`: no reallocation.
        r.entries.push(e);
    }
    r.next += 1;
}

/// The kept entries, oldest first.
pub fn entries() -> Vec<Entry> {
    let r = ring();
    let mut v = r.entries.clone();
    v.sort_by_key(|e| e.seq);
    v
}

/// The kept entries as JSON lines, oldest first.
pub fn json_lines() -> String {
    let mut s = String::new();
    for e in entries() {
        let _ = writeln!(s, "{}", e.to_json());
    }
    s
}

/// Empties the ring (keeps it allocated and on or off as it was).
pub fn clear() {
    let mut r = ring();
    r.entries.clear();
    r.next = 0;
}
