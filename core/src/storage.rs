//! One 64-byte-aligned, zero-initialised allocation, shared by `Arc` among a
//! tensor and its views.
//!
//! Views alias, and PyTorch lets a write through one view be seen through
//! another, so the bytes are shared mutable state. To keep that sound in
//! Rust, every access goes through a guard: any number of readers, or one
//! writer, checked at run time (like `RefCell`, but atomic). A conflicting
//! access is an `Error`, never undefined behaviour. Writers bump the version
//! counter that autograd uses to detect a saved tensor modified in place.
//!
//! Large allocations (`HUGE_PAGE_THRESHOLD` and up) are mapped directly and
//! advised as transparent huge pages: a fresh 64 MiB output then costs 32
//! page faults instead of 16,384, which is where PyTorch loses time on large
//! elementwise outputs (see TARGETS.md).

use crate::error::{Error, ErrorKind, Result};
use std::alloc::{self, Layout as AllocLayout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Alignment of every allocation: a cache line, and a full AVX-512 vector.
pub const ALIGN: usize = 64;

/// Allocations of at least this many bytes are mapped and advised as huge
/// pages (2 MiB each on x86_64 and aarch64 Linux).
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

const HUGE_PAGE: usize = 2 << 20;
const WRITER: usize = 1 << (usize::BITS - 1);

#[derive(Debug)]
enum Alloc {
    /// No bytes: a dangling, aligned pointer.
    Empty,
    /// From the global allocator with `AllocLayout(nbytes, ALIGN)`.
    Heap,
    /// From `mmap`, `len` bytes starting at `ptr`.
    #[cfg(target_os = "linux")]
    Mapped { len: usize },
}

/// Shared, aligned, zero-initialised bytes with a version counter.
#[derive(Debug)]
pub struct Storage {
    ptr: NonNull<u8>,
    nbytes: usize,
    alloc: Alloc,
    version: AtomicU64,
    /// `WRITER` bit, or the count of live readers.
    borrow: AtomicUsize,
}

// SAFETY: the bytes are only reached through `ReadGuard`/`WriteGuard`, whose
// atomic borrow flag serialises writers against readers across threads, so
// sharing a `Storage` between threads cannot produce a data race.
unsafe impl Send for Storage {}
// SAFETY: as for `Send`: all access to the bytes is mediated by the guards.
unsafe impl Sync for Storage {}

impl Storage {
    /// `nbytes` zeroed bytes, aligned to `ALIGN`.
    pub fn zeroed(nbytes: usize) -> Result<Self> {
        if nbytes > isize::MAX as usize - HUGE_PAGE {
            return Err(Error::new(
                ErrorKind::Overflow,
                format!("cannot allocate {nbytes} bytes"),
            ));
        }
        let (ptr, alloc) = if nbytes == 0 {
            (
                NonNull::new(std::ptr::without_provenance_mut::<u8>(ALIGN)).expect("non-null"),
                Alloc::Empty,
            )
        } else {
            allocate(nbytes)?
        };
        Ok(Storage {
            ptr,
            nbytes,
            alloc,
            version: AtomicU64::new(0),
            borrow: AtomicUsize::new(0),
        })
    }

    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// How many in-place writes this storage has seen.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Marks an in-place modification (done by every `WriteGuard`).
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the data pointers of two storages are the same allocation.
    pub fn same(&self, other: &Storage) -> bool {
        std::ptr::eq(self, other)
    }

    /// Shared read access; fails while a writer holds the storage.
    pub fn read(&self) -> Result<ReadGuard<'_>> {
        let prev = self.borrow.fetch_add(1, Ordering::Acquire);
        if prev & WRITER != 0 {
            self.borrow.fetch_sub(1, Ordering::Release);
            return Err(borrow_error("read", "it is being written"));
        }
        Ok(ReadGuard { storage: self })
    }

    /// Exclusive write access; fails while any reader or writer holds it.
    /// Bumps the version counter.
    pub fn write(&self) -> Result<WriteGuard<'_>> {
        match self
            .borrow
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                self.bump_version();
                Ok(WriteGuard { storage: self })
            }
            Err(state) if state & WRITER != 0 => {
                Err(borrow_error("write to", "another write is in progress"))
            }
            Err(_) => Err(borrow_error(
                "write to",
                "it is being read (a slice borrow or a running kernel)",
            )),
        }
    }

    /// Whether the storage is backed by pages advised as huge.
    pub fn is_huge_page_mapped(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Alloc::Mapped { .. } = self.alloc {
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

fn alloc_error(nbytes: usize) -> Error {
    Error::new(
        ErrorKind::Alloc,
        format!("DefaultCPUAllocator: not enough memory: you tried to allocate {nbytes} bytes."),
    )
}

fn allocate(nbytes: usize) -> Result<(NonNull<u8>, Alloc)> {
    #[cfg(target_os = "linux")]
    if nbytes >= HUGE_PAGE_THRESHOLD {
        return map_huge(nbytes);
    }
    let layout = AllocLayout::from_size_align(nbytes, ALIGN).map_err(|_| alloc_error(nbytes))?;
    // SAFETY: `layout` has a non-zero size (nbytes > 0 here).
    let p = unsafe { alloc::alloc_zeroed(layout) };
    NonNull::new(p)
        .map(|p| (p, Alloc::Heap))
        .ok_or_else(|| alloc_error(nbytes))
}

/// Maps `nbytes` (rounded up to whole huge pages) at a huge-page-aligned
/// address and asks for transparent huge pages. Anonymous maps are zeroed.
#[cfg(target_os = "linux")]
fn map_huge(nbytes: usize) -> Result<(NonNull<u8>, Alloc)> {
    let len = nbytes.div_ceil(HUGE_PAGE) * HUGE_PAGE;
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
    Ok((ptr, Alloc::Mapped { len }))
}

impl Drop for Storage {
    fn drop(&mut self) {
        match self.alloc {
            Alloc::Empty => {}
            Alloc::Heap => {
                let layout = AllocLayout::from_size_align(self.nbytes, ALIGN)
                    .expect("layout was valid at allocation");
                // SAFETY: `ptr` came from `alloc_zeroed` with this same layout
                // and is freed exactly once, here.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) }
            }
            #[cfg(target_os = "linux")]
            Alloc::Mapped { len } => {
                // SAFETY: `[ptr, ptr+len)` is the mapping made by `map_huge`,
                // unmapped exactly once, here.
                unsafe {
                    libc::munmap(self.ptr.as_ptr().cast(), len);
                }
            }
        }
    }
}

/// Shared access to a storage's bytes; released on drop.
#[derive(Debug)]
pub struct ReadGuard<'a> {
    storage: &'a Storage,
}

impl ReadGuard<'_> {
    pub fn as_ptr(&self) -> *const u8 {
        self.storage.ptr.as_ptr()
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `nbytes` initialised (zeroed at
        // allocation) bytes; the guard excludes writers while it lives.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.storage.nbytes) }
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.storage.borrow.fetch_sub(1, Ordering::Release);
    }
}

/// Exclusive access to a storage's bytes; released on drop.
#[derive(Debug)]
pub struct WriteGuard<'a> {
    storage: &'a Storage,
}

impl WriteGuard<'_> {
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.storage.ptr.as_ptr()
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is valid for `nbytes` initialised bytes, and the guard
        // is the only access to them while it lives (`&mut self`).
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), self.storage.nbytes) }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.storage.borrow.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_and_zeroed() {
        for n in [0, 1, 63, 64, 4096, HUGE_PAGE_THRESHOLD + 3] {
            let s = Storage::zeroed(n).unwrap();
            let g = s.read().unwrap();
            assert_eq!(g.as_ptr() as usize % ALIGN, 0);
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
    fn absurd_sizes_fail_cleanly() {
        assert!(Storage::zeroed(usize::MAX).is_err());
    }
}
