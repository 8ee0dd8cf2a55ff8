//! A lock for the graph's hot, almost never contended slots: a node's
//! backward function, taken once per run node, and a tensor's history
//! after an in-place op (`graph::Meta`).
//!
//! `std::sync::Mutex` takes and releases with a locked instruction each
//! (a compare-exchange, then an exchange that learns whether a waiter must
//! be woken), ~6 ns apiece on the benchmark guest
//! (`bench/examples/lock_probe.rs`). Here the release is a plain store with
//! release ordering (a `mov` on x86), since a waiter does not sleep: it
//! spins briefly, then yields its time slice until the lock is free. That
//! suits slots held for a clone or a `take`, or, for a node's backward
//! function, by one backward pass while a second, concurrent pass through
//! the same node (rare) waits. A panic while the lock is held releases it
//! (the guard's drop), as `Mutex`'s poisoning, which the graph ignored,
//! left the value usable.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `SpinGuard`, and the
// acquire/release pair on `locked` makes at most one guard exist at a time
// and orders each holder's accesses after the previous holder's; so
// sharing the lock shares `T` between threads one holder at a time, which
// needs `T: Send` (as for `Mutex`).
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits until the lock is free and takes it.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 100 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// The lock, held: the value while it lives.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `SpinLock`'s `Sync`), so
        // nothing else reaches the value while the borrow lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow
        // through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four threads each add one 10,000 times under the lock, with
    /// several reads in between that a torn or unserialised update would
    /// break: the total is exact, and every holder saw its own write.
    #[test]
    fn the_lock_serialises_holders() {
        let lock = SpinLock::new((0u64, 0u64));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        let mut g = lock.lock();
                        let (a, b) = *g;
                        assert_eq!(a, b, "a holder saw another's half-done update");
                        g.0 = a + 1;
                        std::hint::black_box(&mut *g);
                        g.1 = b + 1;
                    }
                });
            }
        });
        assert_eq!(*lock.lock(), (40_000, 40_000));
    }

    /// A panic while the lock is held releases it.
    #[test]
    fn a_panic_releases_the_lock() {
        let lock = SpinLock::new(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = lock.lock();
            panic!("while held");
        }));
        assert!(r.is_err());
        assert_eq!(*lock.lock(), 1);
    }
}
