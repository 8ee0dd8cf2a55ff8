//! `Mode::{Strict, Hardened}`: how far dispatch may depart from PyTorch's
//! route. Set for the whole process ([`set_mode`]) or for the current
//! thread ([`set_thread_mode`], [`with_mode`]); the thread's setting wins.
//!
//! - `Strict` (the default) takes only the route PyTorch takes: where
//!   PyTorch has no kernel for a dtype, the call fails with PyTorch's error,
//!   and no composite fallback is used.
//! - `Hardened` keeps the same outward contract for everything PyTorch
//!   accepts, may take a bounded fallback (a composite decomposition where
//!   no direct kernel exists for a dtype) that the ledger records, and adds
//!   defensive checks: an output larger than [`hardened_max_alloc_bytes`]
//!   is refused before anything is allocated.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    #[default]
    Strict,
    Hardened,
}

static GLOBAL: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// 0: follow the global mode; 1 + mode otherwise.
    static THREAD: Cell<u8> = const { Cell::new(0) };
}

const fn code(m: Mode) -> u8 {
    match m {
        Mode::Strict => 0,
        Mode::Hardened => 1,
    }
}

const fn from_code(c: u8) -> Mode {
    if c == 1 { Mode::Hardened } else { Mode::Strict }
}

/// The process-wide mode (threads without their own setting use it).
pub fn set_mode(m: Mode) {
    GLOBAL.store(code(m), Ordering::Relaxed);
}

#[inline]
pub fn global_mode() -> Mode {
    from_code(GLOBAL.load(Ordering::Relaxed))
}

/// The current thread's mode (`None`: follow the global mode).
pub fn set_thread_mode(m: Option<Mode>) {
    THREAD.with(|t| t.set(m.map_or(0, |m| 1 + code(m))));
}

/// The mode calls on this thread run in.
#[inline]
pub fn mode() -> Mode {
    match THREAD.with(Cell::get) {
        0 => global_mode(),
        c => from_code(c - 1),
    }
}

/// Runs `f` with this thread in mode `m`, then restores the setting it had
/// (also when `f` panics).
pub fn with_mode<R>(m: Mode, f: impl FnOnce() -> R) -> R {
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(THREAD.with(|t| t.replace(1 + code(m))));
    f()
}

/// The largest output a call may allocate in `Hardened` mode: half the
/// machine's physical memory, or `FT_HARDENED_MAX_ALLOC` bytes when set.
pub fn hardened_max_alloc_bytes() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        if let Some(v) = std::env::var("FT_HARDENED_MAX_ALLOC")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            return v;
        }
        physical_memory().map_or(usize::MAX / 2, |m| m / 2)
    })
}

#[cfg(unix)]
fn physical_memory() -> Option<usize> {
    // SAFETY: sysconf has no preconditions; a negative result means unknown.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && size > 0).then(|| (pages as usize).saturating_mul(size as usize))
}

#[cfg(not(unix))]
fn physical_memory() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_mode_overrides_global_and_is_restored() {
        assert_eq!(mode(), global_mode());
        with_mode(Mode::Hardened, || {
            assert_eq!(mode(), Mode::Hardened);
            with_mode(Mode::Strict, || assert_eq!(mode(), Mode::Strict));
            assert_eq!(mode(), Mode::Hardened);
        });
        set_thread_mode(Some(Mode::Hardened));
        assert_eq!(mode(), Mode::Hardened);
        // Another thread follows the global mode, not this thread's.
        std::thread::spawn(|| assert_eq!(mode(), global_mode()))
            .join()
            .unwrap();
        set_thread_mode(None);
        assert_eq!(mode(), global_mode());
    }

    #[test]
    fn the_alloc_limit_is_positive() {
        assert!(hardened_max_alloc_bytes() > 1 << 20);
    }
}
