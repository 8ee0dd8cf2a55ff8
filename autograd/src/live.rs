//! The count of live graph nodes ([`live_nodes`]) without a locked
//! instruction per node made or freed.
//!
//! A process-wide `AtomicUsize` took a `lock xadd` when each node was made
//! and another when it was freed (~6 ns each on the benchmark guest,
//! `bench/examples/lock_probe.rs`; 400 of a recorded chain's ~4,600 locked
//! instructions, `scripts/locked_ops.sh`). Here each thread keeps its own
//! count, which only that thread writes (a plain load and store, no
//! read-modify-write); a node freed on another thread than the one that
//! made it makes one count go up and another down, and only the sum is
//! meaningful. A thread's count is folded into `EXITED` when the thread
//! ends.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Every running thread's count that has ever changed.
static THREADS: Mutex<Vec<Arc<AtomicIsize>>> = Mutex::new(Vec::new());
/// The counts of threads that have ended, and changes made while a
/// thread's own count was already destroyed (a node freed by another
/// thread-local's destructor).
static EXITED: AtomicIsize = AtomicIsize::new(0);

fn threads() -> MutexGuard<'static, Vec<Arc<AtomicIsize>>> {
    // A count is valid whatever panicked while the lock was held.
    THREADS.lock().unwrap_or_else(|p| p.into_inner())
}

struct Mine(Arc<AtomicIsize>);

impl Mine {
    fn register() -> Mine {
        let c = Arc::new(AtomicIsize::new(0));
        threads().push(c.clone());
        Mine(c)
    }
}

impl Drop for Mine {
    fn drop(&mut self) {
        // Folded and removed under the lock that `live_nodes` sums under:
        // the sum never sees this count twice or not at all.
        let mut all = threads();
        EXITED.fetch_add(self.0.load(Ordering::Relaxed), Ordering::Relaxed);
        all.retain(|c| !Arc::ptr_eq(c, &self.0));
    }
}

thread_local! {
    static MINE: Mine = Mine::register();
}

/// Adds `d` to this thread's count.
#[inline]
pub(crate) fn add(d: isize) {
    let done = MINE.try_with(|m| {
        // Only this thread writes its count: a load and a store, which
        // `live_nodes` on another thread reads whole (an atomic, relaxed).
        let c = &m.0;
        c.store(c.load(Ordering::Relaxed) + d, Ordering::Relaxed);
    });
    if done.is_err() {
        // This thread's count is gone (thread-local destructors are
        // running): the shared one takes the change.
        EXITED.fetch_add(d, Ordering::Relaxed);
    }
}

/// How many graph nodes exist in the process: the evidence that a graph
/// is freed when its outputs are dropped (no reference cycles). Exact
/// when no other thread is making or freeing nodes meanwhile.
pub fn live_nodes() -> usize {
    let all = threads();
    let sum = all.iter().map(|c| c.load(Ordering::Relaxed)).sum::<isize>()
        + EXITED.load(Ordering::Relaxed);
    usize::try_from(sum).unwrap_or(0)
}
