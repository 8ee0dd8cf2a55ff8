//! What one atomic read-modify-write costs on this machine, beside a
//! plain increment: the floor under every small op, which takes and
//! releases a borrow of each storage it touches and clones and drops
//! reference counts (`scripts/locked_ops.sh` counts them per call).
//!
//! `cargo run --release -p ft-bench --example lock_probe`: the best of 5
//! loops of 100,000,000 `fetch_add(1, Relaxed)` (a `lock xadd` on x86, each
//! waiting for the one before), of `compare_exchange` (`lock cmpxchg`, as a
//! borrow flag takes it), and of plain increments through `black_box`.
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const N: u64 = 100_000_000;

fn best(name: &str, mut f: impl FnMut()) {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name:<36} {:6.2} ns each", best / N as f64 * 1e9);
}

fn main() {
    let a = AtomicU64::new(0);
    best("fetch_add (lock xadd)", || {
        for _ in 0..N {
            a.fetch_add(1, Ordering::Relaxed);
        }
    });
    best("compare_exchange (lock cmpxchg)", || {
        for _ in 0..N {
            let cur = a.load(Ordering::Relaxed);
            let _ = a.compare_exchange(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed);
        }
    });
    // A read borrow taken and released, as `Storage::read` and its
    // guard's drop do it, three ways (the count is 0 between pairs, as for
    // a tensor nothing else is reading).
    let b = AtomicU64::new(0);
    best("read borrow: load + cmpxchg, fetch_sub", || {
        for _ in 0..N {
            let cur = b.load(Ordering::Relaxed);
            let _ = b.compare_exchange_weak(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed);
            b.fetch_sub(1, Ordering::Release);
        }
    });
    best("read borrow: cmpxchg from 0, fetch_sub", || {
        for _ in 0..N {
            let _ = b.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed);
            b.fetch_sub(1, Ordering::Release);
        }
    });
    best("read borrow: fetch_add, fetch_sub", || {
        for _ in 0..N {
            b.fetch_add(1, Ordering::Acquire);
            b.fetch_sub(1, Ordering::Release);
        }
    });
    let mut x = 0u64;
    best("plain increment", || {
        for _ in 0..N {
            x = black_box(x) + 1;
        }
    });
    black_box((a.load(Ordering::Relaxed), x));
}
