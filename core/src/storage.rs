//! One 64-byte-aligned, zero-initialised allocation, shared by an `Arc`
//! (triomphe's: one count, no weak count) among a tensor and its views;
//! or, for at most `INLINE_BYTES`, bytes kept inside the storage itself
//! (16-byte aligned), so that a small tensor's storage is one allocation,
//! not two.
//!
//! Views alias, and PyTorch lets a write through one view be seen through
//! another, so the bytes are shared mutable state. To keep that sound in
//! Rust, every access goes through a guard: any number of readers, or one
//! writer, checked at run time (like `RefCell`, but atomic). A conflicting
//! access is an `Error`, never undefined behaviour. Writers bump the version
//! counter that autograd uses to detect a saved tensor modified in place.
//!
//! The borrow flags are biased to the thread that made the storage (see
//! [`bias`]): that thread takes and releases guards with plain loads and
//! stores, no locked instruction (a read guard cost ~10 ns in two of them,
//! `perf-artifacts/dispatch-v6-borrow-floor.md`). The first access from
//! any other thread revokes the bias for good, with a process-wide memory
//! barrier (`membarrier`, microseconds, once per storage), after which
//! every thread uses the shared, atomic flags.
//!
//! Large allocations (`HUGE_PAGE_THRESHOLD` and up) are mapped directly and
//! advised as transparent huge pages: a fresh 64 MiB output then costs 32
//! page faults instead of 16,384, which is where PyTorch loses time on large
//! elementwise outputs (see TARGETS.md).

use crate::error::{Error, ErrorKind, Result};
use std::alloc::{self, Layout as AllocLayout};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, compiler_fence};

/// Alignment of every allocation: a cache line, and a full AVX-512 vector.
pub const ALIGN: usize = 64;

/// Allocations of at least this many bytes are mapped and advised as huge
/// pages (2 MiB each on x86_64 and aarch64 Linux).
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// Storages of at most this many bytes keep them inside the storage
/// itself, in one cache line: a shared storage is then one allocation (the
/// `Arc`'s) instead of two. Small tensors are the ones whose cost is mostly
/// bookkeeping: scalars, losses, the grads and intermediates of small ops
/// (a 16-element f32 tensor fits).
pub const INLINE_BYTES: usize = 64;

const HUGE_PAGE: usize = 2 << 20;
const WRITER: u32 = 1 << (u32::BITS - 1);

#[derive(Debug)]
enum Alloc {
    /// No bytes: a dangling, aligned pointer.
    Empty,
    /// `nbytes <= INLINE_BYTES`, in `Storage::inline`; `ptr` is unused.
    Inline,
    /// From the global allocator with `AllocLayout(nbytes, ALIGN)`.
    Heap,
    /// From `mmap`: `mapped_len(nbytes)` bytes starting at `ptr`.
    #[cfg(target_os = "linux")]
    Mapped,
}

/// `INLINE_BYTES` bytes, written only through the guards (or `&mut
/// Storage`), hence the `UnsafeCell`. Aligned to 16, not `ALIGN`: every
/// element type needs at most 8, and a 64-aligned `Arc` block is one the
/// allocator serves only by over-allocating (mimalloc's generic aligned
/// path cost more than the second allocation this saves).
#[repr(C, align(16))]
struct InlineBytes(UnsafeCell<[MaybeUninit<u8>; INLINE_BYTES]>);

impl std::fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InlineBytes")
    }
}

/// Shared, aligned, zero-initialised bytes with a version counter.
///
/// `repr(C)` with the inline bytes last, after 48 bytes of fields: in a
/// `triomphe::Arc` (one count before it, padded to the storage's 16-byte
/// alignment) they start 64 bytes into the block, so in the allocator's
/// 128-byte blocks they fill one cache line of their own instead of
/// straddling two (a 16-lane vector load or store across a line costs
/// twice).
#[derive(Debug)]
#[repr(C)]
pub struct Storage {
    ptr: NonNull<u8>,
    nbytes: usize,
    version: AtomicU64,
    /// The thread the flags are biased to ([`bias::token`]), or
    /// [`bias::SHARED`] / [`bias::SHARED_DIRTY`] once revoked (or made
    /// where biasing is off), [`bias::REVOKING`] while a revocation runs.
    owner: AtomicU64,
    /// The owner's borrows, taken on its biased path: `WRITER` bit, or the
    /// count of its live readers. Only the owner thread stores to it (with
    /// plain loads and stores); other threads read it.
    local: AtomicU32,
    /// Every other borrow (any thread's, once the bias is revoked):
    /// `WRITER` bit, or the count of live readers.
    borrow: AtomicU32,
    alloc: Alloc,
    /// The bytes themselves when `alloc` is `Inline`.
    inline: InlineBytes,
}

// SAFETY: the bytes are only reached through `ReadGuard`/`WriteGuard`, whose
// borrow flags serialise writers against readers across threads (the biased
// flags are the owner's alone until a revocation publishes them, see
// `bias`), so sharing a `Storage` between threads cannot produce a data race.
unsafe impl Send for Storage {}
// SAFETY: as for `Send`: all access to the bytes is mediated by the guards.
unsafe impl Sync for Storage {}

impl Storage {
    /// `nbytes` zeroed bytes, aligned to `ALIGN`.
    pub fn zeroed(nbytes: usize) -> Result<Self> {
        Self::new_inner(nbytes, true)
    }

    /// `nbytes` bytes aligned to `ALIGN` whose contents are unspecified
    /// (a reused block still holds old values): no zeroing pass, which a
    /// kernel about to overwrite every byte does not need.
    ///
    /// # Safety
    /// The caller must write every byte before anything reads it (the
    /// bytes may be uninitialised memory).
    pub unsafe fn uninit(nbytes: usize) -> Result<Self> {
        Self::new_inner(nbytes, false)
    }

    fn new_inner(nbytes: usize, zero: bool) -> Result<Self> {
        let mut storage = MaybeUninit::<Storage>::uninit();
        // SAFETY: `storage` is valid for writes and aligned; `init_at`
        // writes every field when it returns `Ok`, so `assume_init` reads an
        // initialised value (the inline bytes are `MaybeUninit`).
        unsafe {
            Self::init_at(storage.as_mut_ptr(), nbytes, zero)?;
            Ok(storage.assume_init())
        }
    }

    /// Makes a storage of `nbytes` bytes (zeroed when `zero`) in the memory
    /// at `at`, field by field, leaving the inline bytes untouched unless
    /// `zero`: a new tensor's storage is built where its `Arc` put it, not
    /// built on the stack and copied there with 64 bytes of nothing (that
    /// copy, read back in pieces, cost store-forwarding stalls on every
    /// small op's output). On `Err` nothing was allocated and `at` holds no
    /// storage.
    ///
    /// # Safety
    /// `at` must be valid for writes of a `Storage` and aligned for one.
    /// Unless `zero`, the caller must write every byte before anything
    /// reads it (see [`Storage::uninit`]).
    pub unsafe fn init_at(at: *mut Storage, nbytes: usize, zero: bool) -> Result<()> {
        if nbytes > isize::MAX as usize - HUGE_PAGE {
            return Err(Error::new(
                ErrorKind::Overflow,
                format!("cannot allocate {nbytes} bytes"),
            ));
        }
        let dangling =
            || NonNull::new(std::ptr::without_provenance_mut::<u8>(ALIGN)).expect("non-null");
        let (ptr, alloc) = if nbytes == 0 {
            (dangling(), Alloc::Empty)
        } else if nbytes <= INLINE_BYTES {
            (dangling(), Alloc::Inline)
        } else {
            allocate(nbytes, zero)?
        };
        // SAFETY: `at` is valid for writes and aligned (our caller's
        // promise), so each field's place is too; every field but the
        // `MaybeUninit` inline bytes is written here.
        unsafe {
            if zero && matches!(alloc, Alloc::Inline) {
                (&raw mut (*at).inline).write(InlineBytes(UnsafeCell::new(
                    [MaybeUninit::new(0); INLINE_BYTES],
                )));
            }
            (&raw mut (*at).ptr).write(ptr);
            (&raw mut (*at).nbytes).write(nbytes);
            (&raw mut (*at).alloc).write(alloc);
            (&raw mut (*at).version).write(AtomicU64::new(0));
            (&raw mut (*at).owner).write(AtomicU64::new(bias::owner_for_new()));
            (&raw mut (*at).local).write(AtomicU32::new(0));
            (&raw mut (*at).borrow).write(AtomicU32::new(0));
        }
        Ok(())
    }

    /// Where the bytes are: in the storage itself when they fit, else the
    /// allocation (for `Inline` the address moves with the storage, so it is
    /// taken afresh on every access and never kept across a move).
    #[inline]
    fn data(&self) -> *mut u8 {
        match self.alloc {
            Alloc::Inline => self.inline.0.get().cast(),
            _ => self.ptr.as_ptr(),
        }
    }

    #[inline]
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// How many in-place writes this storage has seen.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Marks an in-place modification; called by [`Storage::write`] with
    /// the write borrow just taken. Only the writer changes the version,
    /// and the borrow makes it the only one: a load and a store, not a
    /// `fetch_add` (a locked instruction, ~6 ns on the benchmark guest,
    /// `bench/examples/lock_probe.rs`, on every `_out` and in-place op).
    /// Readers load it whole (an atomic); the release of the borrow
    /// publishes it with the written bytes.
    #[inline]
    fn bump_version(&self) {
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Release);
    }

    /// Whether the data pointers of two storages are the same allocation.
    #[inline]
    pub fn same(&self, other: &Storage) -> bool {
        std::ptr::eq(self, other)
    }

    /// Shared read access; fails while a writer holds the storage.
    #[inline]
    pub fn read(&self) -> Result<ReadGuard<'_>> {
        // Acquire: a `SHARED` stored by a revocation carries the owner's
        // accesses before it.
        let mut state = self.owner.load(Ordering::Acquire);
        // Past `SHARED_DIRTY`: a thread's token, or `REVOKING`.
        if state > bias::SHARED_DIRTY {
            if state == bias::token() {
                let l = self.local.load(Ordering::Relaxed);
                if l & WRITER != 0 {
                    return Err(borrow_error("read", "it is being written"));
                }
                if self.take_biased(state, l, l + 1) {
                    return Ok(ReadGuard::new(self, true));
                }
            }
            state = self.settle();
        }
        // Never add to the count while a writer holds it: the writer
        // releases with a plain store, which would erase an add made in
        // between (and the subtraction that undid it would then wrap the
        // count into a permanent "being written").
        let mut cur = self.borrow.load(Ordering::Relaxed);
        loop {
            if cur & WRITER != 0 {
                return Err(borrow_error("read", "it is being written"));
            }
            match self.borrow.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        // A write the owner began before the bias was revoked, still
        // running (Acquire: if it has ended, its bytes are visible).
        if state == bias::SHARED_DIRTY && self.local.load(Ordering::Acquire) & WRITER != 0 {
            self.borrow.fetch_sub(1, Ordering::Release);
            return Err(borrow_error("read", "it is being written"));
        }
        Ok(ReadGuard::new(self, false))
    }

    /// Exclusive write access; fails while any reader or writer holds it.
    /// Bumps the version counter.
    #[inline]
    pub fn write(&self) -> Result<WriteGuard<'_>> {
        let mut state = self.owner.load(Ordering::Acquire);
        if state > bias::SHARED_DIRTY {
            if state == bias::token() {
                let l = self.local.load(Ordering::Relaxed);
                if l != 0 {
                    return Err(write_conflict(l));
                }
                if self.take_biased(state, 0, WRITER) {
                    self.bump_version();
                    return Ok(WriteGuard::new(self, true));
                }
            }
            state = self.settle();
        }
        if let Err(held) =
            self.borrow
                .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
        {
            return Err(write_conflict(held));
        }
        // The owner's borrows from before the revocation, if any were live
        // then (Acquire: those released since have their accesses ordered
        // before ours).
        if state == bias::SHARED_DIRTY {
            let l = self.local.load(Ordering::Acquire);
            if l != 0 {
                self.borrow.store(0, Ordering::Release);
                return Err(write_conflict(l));
            }
        }
        self.bump_version();
        Ok(WriteGuard::new(self, false))
    }

    /// On the owner's thread (`owner` is its token), with `local` read as
    /// `old`: stores `new` and keeps it if the flags are still biased here
    /// (`true`), else puts `old` back (revoked meanwhile; only this thread
    /// stores `local`).
    #[inline(always)]
    fn take_biased(&self, owner: u64, old: u32, new: u32) -> bool {
        self.local.store(new, Ordering::Relaxed);
        // The light side of the asymmetric barrier (see `bias`): the store
        // above is ordered before the check below by the compiler; a
        // revoking thread's `membarrier` orders it for the processor.
        compiler_fence(Ordering::SeqCst);
        if self.owner.load(Ordering::Relaxed) == owner {
            return true;
        }
        self.local.store(old, Ordering::Relaxed);
        false
    }

    /// The shared state of the flags ([`bias::SHARED`] or
    /// [`bias::SHARED_DIRTY`]): revokes a bias to another thread, or
    /// waits out a revocation another thread is running.
    #[cold]
    #[inline(never)]
    fn settle(&self) -> u64 {
        let mut o = self.owner.load(Ordering::Acquire);
        loop {
            match o {
                bias::SHARED | bias::SHARED_DIRTY => return o,
                bias::REVOKING => {
                    std::thread::yield_now();
                    o = self.owner.load(Ordering::Acquire);
                }
                _ => match self.owner.compare_exchange(
                    o,
                    bias::REVOKING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        bias::heavy_barrier();
                        // Every store the owner made before the barrier is
                        // visible now; one made after it is undone by the
                        // owner's own check. Its borrows still live keep
                        // the flags dirty: every shared take checks them.
                        let state = if self.local.load(Ordering::Acquire) == 0 {
                            bias::SHARED
                        } else {
                            bias::SHARED_DIRTY
                        };
                        self.owner.store(state, Ordering::Release);
                        return state;
                    }
                    Err(now) => o = now,
                },
            }
        }
    }

    /// Whether the flags are biased to the calling thread (for tests and
    /// probes).
    pub fn is_biased_here(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == bias::token()
    }

    /// The bytes, for a storage nothing shares yet (`&mut self`: no
    /// guard needed). A fresh `uninit` storage's bytes are unspecified.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.data()
    }

    /// The bytes of a storage its caller has just made and not yet shared
    /// (in its `Arc`, where inline bytes stay), without a guard: a write
    /// guard would bump the version and check the flags (a locked
    /// instruction where the flags are not biased, `bias`), on the path of
    /// every new tensor.
    ///
    /// # Safety
    ///
    /// Until the caller is done with the pointer, no other thread may reach
    /// this storage and no guard on it may exist: the caller holds its only
    /// reference and has given out no other.
    #[inline]
    pub unsafe fn unshared_ptr(&self) -> *mut u8 {
        self.data()
    }

    /// Whether the storage is backed by pages advised as huge.
    pub fn is_huge_page_mapped(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Alloc::Mapped = self.alloc {
            return true;
        }
        false
    }
}

fn borrow_error(verb: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Borrow,
        format!("cannot {verb} a tensor's storage while {why}"),
    )
}

fn write_conflict(state: u32) -> Error {
    if state & WRITER != 0 {
        borrow_error("write to", "another write is in progress")
    } else {
        borrow_error(
            "write to",
            "it is being read (a slice borrow or a running kernel)",
        )
    }
}

fn alloc_error(nbytes: usize) -> Error {
    Error::new(
        ErrorKind::Alloc,
        format!("DefaultCPUAllocator: not enough memory: you tried to allocate {nbytes} bytes."),
    )
}

fn allocate(nbytes: usize, zero: bool) -> Result<(NonNull<u8>, Alloc)> {
    #[cfg(target_os = "linux")]
    if nbytes >= HUGE_PAGE_THRESHOLD {
        return map_huge(nbytes, zero);
    }
    let layout = AllocLayout::from_size_align(nbytes, ALIGN).map_err(|_| alloc_error(nbytes))?;
    // SAFETY: `layout` has a non-zero size (nbytes > 0 here).
    let p = unsafe {
        if zero {
            alloc::alloc_zeroed(layout)
        } else {
            alloc::alloc(layout)
        }
    };
    NonNull::new(p)
        .map(|p| (p, Alloc::Heap))
        .ok_or_else(|| alloc_error(nbytes))
}

/// The length of the mapping that holds `nbytes` (whole huge pages).
#[cfg(target_os = "linux")]
fn mapped_len(nbytes: usize) -> usize {
    nbytes.div_ceil(HUGE_PAGE) * HUGE_PAGE
}

/// A large block: reused from the pool when one of the same length is
/// cached, else freshly mapped with huge pages advised.
#[cfg(target_os = "linux")]
fn map_huge(nbytes: usize, zero: bool) -> Result<(NonNull<u8>, Alloc)> {
    let len = mapped_len(nbytes);
    if let Some(ptr) = pool::take(len) {
        if zero {
            // SAFETY: the pooled block is a live mapping of `len` bytes that
            // nothing else refers to.
            unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, len) };
        }
        return Ok((ptr, Alloc::Mapped));
    }
    let span = len + HUGE_PAGE;
    // SAFETY: an anonymous private mapping with no address hint has no
    // preconditions; the result is checked against MAP_FAILED.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return Err(alloc_error(nbytes));
    }
    let base = raw as usize;
    let start = base.next_multiple_of(HUGE_PAGE);
    let (head, tail) = (start - base, span - (start - base) - len);
    // SAFETY: [base, base+head) and [start+len, base+span) lie inside the
    // mapping just made and nothing refers to them; unmapping the slack
    // leaves exactly [start, start+len) mapped.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((start + len) as *mut libc::c_void, tail);
        }
        // Advice only: if THP is off the mapping still works, with 4 KiB pages.
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    let ptr = NonNull::new(start as *mut u8).ok_or_else(|| alloc_error(nbytes))?;
    Ok((ptr, Alloc::Mapped))
}

/// Biased borrow flags: a storage's flags belong to the thread that made
/// it until another thread touches it.
///
/// The owner takes a guard with a plain store to `local` and then checks
/// that it still owns the flags; any other thread first revokes the bias:
/// it marks the storage `REVOKING`, runs `heavy_barrier` (`membarrier`), marks it
/// `SHARED`, and from then on every thread (the owner too) uses the atomic
/// `borrow` flags and also checks `local` for the owner's borrows from
/// before. This is the asymmetric Dekker pattern of liburcu and of folly's
/// `asymmetricLightBarrier`/`asymmetricHeavyBarrier`: the barrier makes
/// every thread of the process execute a full memory barrier, so either
/// the owner's `local` store is visible to the revoker after it (and counts
/// as a borrow), or the owner's check comes after the barrier and sees the
/// revocation (and undoes its store). Revocation is permanent, so a storage
/// never goes back to a biased state and at most one barrier is paid per
/// storage.
///
/// Biasing is on only where the barrier exists: Linux with
/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (4.14 and later; registered once per
/// process). Elsewhere, or with `FT_BIASED_BORROWS=0`, every storage is
/// made `SHARED` and only the atomic flags are used.
pub mod bias {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The owner value of a storage whose flags are shared by all threads.
    pub const SHARED: u64 = 0;
    /// As [`SHARED`], revoked while the owner held borrows on its biased
    /// path: every shared take also checks those.
    pub const SHARED_DIRTY: u64 = 1;
    /// The owner value while a thread revokes the bias.
    pub const REVOKING: u64 = 2;

    static NEXT: AtomicU64 = AtomicU64::new(3);

    thread_local! {
        /// This thread's token: unique in the process, never reused (a
        /// reused token would let two live threads take the biased path
        /// on one storage; 2^64 thread creations do not happen).
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }

    /// What [`token`] returns during thread teardown, when thread-locals
    /// are gone: no storage is ever owned by it, so the shared path serves
    /// such a thread.
    const NO_TOKEN: u64 = u64::MAX;

    /// The calling thread's token.
    #[inline]
    pub fn token() -> u64 {
        TOKEN.try_with(|t| *t).unwrap_or(NO_TOKEN)
    }

    /// The owner a new storage gets: the calling thread, or `SHARED` when
    /// biasing is off (or the thread has no token left).
    #[inline]
    pub(super) fn owner_for_new() -> u64 {
        let t = token();
        if t != NO_TOKEN && enabled() {
            t
        } else {
            SHARED
        }
    }

    /// Whether storages are biased in this process (decided once).
    pub fn enabled() -> bool {
        static ENABLED: OnceLock<bool> = OnceLock::new();
        *ENABLED.get_or_init(|| {
            std::env::var("FT_BIASED_BORROWS").map_or(true, |v| v != "0") && register()
        })
    }

    #[cfg(target_os = "linux")]
    const CMD_QUERY: libc::c_long = 0;
    #[cfg(target_os = "linux")]
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    #[cfg(target_os = "linux")]
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    /// Asks the kernel for the process-private expedited barrier.
    #[cfg(target_os = "linux")]
    fn register() -> bool {
        // SAFETY: `membarrier` takes integer arguments only and touches no
        // memory of ours; an unknown command is an error return.
        let supported = unsafe { libc::syscall(libc::SYS_membarrier, CMD_QUERY, 0, 0) };
        if supported < 0 || supported & CMD_PRIVATE_EXPEDITED == 0 {
            return false;
        }
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_membarrier, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 }
    }

    #[cfg(not(target_os = "linux"))]
    fn register() -> bool {
        false
    }

    /// A full memory barrier on every running thread of the process.
    /// Called only when [`enabled`] (so registered). A forked child's
    /// address space may not carry the registration: then it registers and
    /// tries again; if the barrier still fails the process stops rather
    /// than risk a data race.
    #[cfg(target_os = "linux")]
    pub(super) fn heavy_barrier() {
        // SAFETY: as in `register`.
        let barrier =
            || unsafe { libc::syscall(libc::SYS_membarrier, CMD_PRIVATE_EXPEDITED, 0, 0) };
        if barrier() != 0 && !(register() && barrier() == 0) {
            std::process::abort();
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn heavy_barrier() {}
}

/// A small cache of freed large blocks, so that a loop that allocates the
/// same large output every iteration (a benchmark, a training step) pays
/// neither page faults nor the kernel's zeroing after the first time.
/// Bounded: at most `POOL_MAX_BLOCKS` blocks and `pool_cap_bytes()` bytes;
/// the oldest block is unmapped first. `FT_POOL_MB=0` turns it off.
#[cfg(target_os = "linux")]
pub mod pool {
    use std::ptr::NonNull;
    use std::sync::Mutex;
    use std::sync::OnceLock;

    pub const POOL_MAX_BLOCKS: usize = 16;
    const DEFAULT_CAP_MB: usize = 1024;

    struct Block(NonNull<u8>, usize);
    // SAFETY: a cached block is an unused mapping owned by the pool alone.
    unsafe impl Send for Block {}

    static POOL: Mutex<Vec<Block>> = Mutex::new(Vec::new());

    /// The most bytes the pool keeps (`FT_POOL_MB`, default 1024 MiB).
    pub fn pool_cap_bytes() -> usize {
        static CAP: OnceLock<usize> = OnceLock::new();
        *CAP.get_or_init(|| {
            std::env::var("FT_POOL_MB")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(DEFAULT_CAP_MB)
                .saturating_mul(1 << 20)
        })
    }

    pub(super) fn take(len: usize) -> Option<NonNull<u8>> {
        let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let i = p.iter().rposition(|b| b.1 == len)?;
        Some(p.remove(i).0)
    }

    /// Keeps a block for reuse; returns it back if the pool is full.
    pub(super) fn give(ptr: NonNull<u8>, len: usize) -> Option<(NonNull<u8>, usize)> {
        let cap = pool_cap_bytes();
        if len > cap {
            return Some((ptr, len));
        }
        let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = Vec::new();
        while p.len() >= POOL_MAX_BLOCKS || p.iter().map(|b| b.1).sum::<usize>() + len > cap {
            if p.is_empty() {
                break;
            }
            evicted.push(p.remove(0));
        }
        p.push(Block(ptr, len));
        drop(p);
        for b in evicted {
            super::unmap(b.0, b.1);
        }
        None
    }

    /// Unmaps every cached block (returns the bytes released).
    pub fn release_cached() -> usize {
        let blocks = std::mem::take(&mut *POOL.lock().unwrap_or_else(|e| e.into_inner()));
        let total = blocks.iter().map(|b| b.1).sum();
        for b in blocks {
            super::unmap(b.0, b.1);
        }
        total
    }

    /// Bytes held by the pool now.
    pub fn cached_bytes() -> usize {
        POOL.lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|b| b.1)
            .sum()
    }
}

#[cfg(target_os = "linux")]
fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: `[ptr, ptr+len)` is a mapping made by `map_huge` that nothing
    // refers to any more; it is unmapped exactly once.
    unsafe {
        libc::munmap(ptr.as_ptr().cast(), len);
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        match self.alloc {
            Alloc::Empty | Alloc::Inline => {}
            Alloc::Heap => {
                let layout = AllocLayout::from_size_align(self.nbytes, ALIGN)
                    .expect("layout was valid at allocation");
                // SAFETY: `ptr` came from `alloc_zeroed` with this same layout
                // and is freed exactly once, here.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) }
            }
            #[cfg(target_os = "linux")]
            Alloc::Mapped => {
                let len = mapped_len(self.nbytes);
                if let Some((p, l)) = pool::give(self.ptr, len) {
                    unmap(p, l);
                }
            }
        }
    }
}

/// Makes a guard `!Send` (a biased borrow must be released by the thread
/// that took it) while keeping it `Sync`.
type NotSend = PhantomData<std::sync::MutexGuard<'static, ()>>;

/// Shared access to a storage's bytes; released on drop.
#[derive(Debug)]
pub struct ReadGuard<'a> {
    storage: &'a Storage,
    /// Taken on the biased path (`local`), else on `borrow`.
    biased: bool,
    _not_send: NotSend,
}

impl<'a> ReadGuard<'a> {
    #[inline]
    fn new(storage: &'a Storage, biased: bool) -> Self {
        ReadGuard {
            storage,
            biased,
            _not_send: PhantomData,
        }
    }
}

impl ReadGuard<'_> {
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.storage.data()
    }

    #[inline]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `data()` is valid for `nbytes` initialised (zeroed at
        // allocation) bytes; the guard excludes writers while it lives.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.storage.nbytes) }
    }
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.biased {
            // The owner's count, on the owner's thread (guards are not
            // `Send`): nobody else stores to it.
            let l = self.storage.local.load(Ordering::Relaxed);
            self.storage.local.store(l - 1, Ordering::Release);
        } else {
            self.storage.borrow.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Exclusive access to a storage's bytes; released on drop.
#[derive(Debug)]
pub struct WriteGuard<'a> {
    storage: &'a Storage,
    /// Taken on the biased path (`local`), else on `borrow`.
    biased: bool,
    _not_send: NotSend,
}

impl<'a> WriteGuard<'a> {
    #[inline]
    fn new(storage: &'a Storage, biased: bool) -> Self {
        WriteGuard {
            storage,
            biased,
            _not_send: PhantomData,
        }
    }
}

impl WriteGuard<'_> {
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.storage.data()
    }

    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `data()` is valid for `nbytes` initialised bytes, and the
        // guard is the only access to them while it lives (`&mut self`).
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), self.storage.nbytes) }
    }
}

impl Drop for WriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.biased {
            self.storage.local.store(0, Ordering::Release);
        } else {
            self.storage.borrow.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_and_zeroed() {
        for n in [0, 1, 63, 64, 65, 4096, HUGE_PAGE_THRESHOLD + 3] {
            let s = Storage::zeroed(n).unwrap();
            let g = s.read().unwrap();
            let align = if (1..=INLINE_BYTES).contains(&n) {
                16
            } else {
                ALIGN
            };
            assert_eq!(g.as_ptr() as usize % align, 0);
            assert!(g.bytes().iter().all(|&b| b == 0));
        }
        assert!(
            Storage::zeroed(HUGE_PAGE_THRESHOLD)
                .unwrap()
                .is_huge_page_mapped()
        );
    }

    #[test]
    fn writer_excludes_readers_and_bumps_version() {
        let s = Storage::zeroed(16).unwrap();
        assert_eq!(s.version(), 0);
        {
            let r = s.read().unwrap();
            assert_eq!(s.write().unwrap_err().kind(), ErrorKind::Borrow);
            drop(r);
        }
        let mut w = s.write().unwrap();
        w.bytes_mut()[0] = 7;
        assert!(s.read().is_err());
        assert!(s.write().is_err());
        drop(w);
        assert_eq!(s.version(), 1);
        assert_eq!(s.read().unwrap().bytes()[0], 7);
    }

    #[test]
    fn pooled_blocks_are_reused_and_zeroed_on_request() {
        let n = HUGE_PAGE_THRESHOLD * 3 + 5;
        let s = Storage::zeroed(n).unwrap();
        let addr = s.read().unwrap().as_ptr() as usize;
        s.write().unwrap().bytes_mut().fill(0xAB);
        drop(s);
        // Same length: the block comes back (other tests may race for it,
        // so only check contents, which must be zero either way).
        let t = Storage::zeroed(n).unwrap();
        assert!(t.read().unwrap().bytes().iter().all(|&b| b == 0));
        let _ = addr;
    }

    #[test]
    fn inline_bytes_move_with_the_storage() {
        // Both sides of the inline limit: the bytes written before a move
        // are the bytes read after it, at an aligned address.
        for n in [1, INLINE_BYTES, INLINE_BYTES + 1] {
            let mut s = Storage::zeroed(n).unwrap();
            assert_eq!(matches!(s.alloc, Alloc::Inline), n <= INLINE_BYTES);
            s.write().unwrap().bytes_mut()[n - 1] = 9;
            // SAFETY: `&mut s`: nothing else reaches the bytes; n - 1 < n.
            unsafe { *s.as_mut_ptr() = 5 };
            let moved = triomphe::Arc::new(s);
            let g = moved.read().unwrap();
            assert_eq!(g.as_ptr() as usize % 16, 0);
            assert_eq!(g.bytes().len(), n);
            assert_eq!(g.bytes()[0], 5);
            assert_eq!(g.bytes()[n - 1], if n == 1 { 5 } else { 9 });
        }
    }

    #[test]
    fn inline_bytes_start_a_cache_line_into_the_arc_block() {
        // The layout the `Storage` doc promises: 64 bytes into the block,
        // whatever the allocator gives (the block is 16-aligned at least).
        let a = triomphe::Arc::new(Storage::zeroed(INLINE_BYTES).unwrap());
        let block = triomphe::Arc::heap_ptr(&a) as usize;
        let bytes = a.read().unwrap().as_ptr() as usize;
        assert_eq!(bytes - block, 64);
        assert_eq!(size_of::<Storage>() + 16, 128);
    }

    #[test]
    fn absurd_sizes_fail_cleanly() {
        assert!(Storage::zeroed(usize::MAX).is_err());
    }
}
