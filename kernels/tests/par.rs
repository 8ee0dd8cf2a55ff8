//! The keep-warm spinners of `ft_kernels::par`: handed out when a parallel
//! op ends, gone within a window after the last one, never when spinning
//! is off or the pool has one thread, and the ops' results unchanged. One
//! test function: the spinner count and the window are process-wide.

use ft_core::{DType, Generator, TensorImpl};
use ft_kernels::par::{live_spinners, set_spin_micros, spin_micros, spinning_workers};
use std::time::Duration;

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

/// Waits until no spinner is live. The windows here are at most 0.2 s; the
/// guard is 300 times that, so only a spinner that never leaves trips it.
fn wait_until_no_spinners() {
    let start = std::time::Instant::now();
    while live_spinners() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} spinners still live after 60 s",
            live_spinners()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn spinners_come_with_parallel_ops_and_leave_after_the_window() {
    let mut g = Generator::new(5);
    let a = TensorImpl::randn(&[300, 300], DType::F32, &mut g).unwrap();
    let b = TensorImpl::randn(&[300, 300], DType::F32, &mut g).unwrap();
    let big = TensorImpl::randn(&[1 << 17], DType::F32, &mut g).unwrap();
    let want = pool(1).install(|| ft_kernels::mm(&a, &b).unwrap().to_vec::<f32>().unwrap());

    // A long window: the spinners of a parallel op are live right after it.
    set_spin_micros(200_000);
    assert_eq!(spin_micros(), 200_000);
    let two = pool(2);
    let got = two.install(|| {
        let c = ft_kernels::mm(&a, &b).unwrap();
        assert!(live_spinners() > 0, "a parallel product hands out spinners");
        // The other worker takes its spinner and spins (within the window).
        let start = std::time::Instant::now();
        while spinning_workers() == 0 {
            assert!(live_spinners() > 0, "the spinners left without spinning");
            assert!(start.elapsed() < Duration::from_secs(60), "no worker spins");
            std::hint::spin_loop();
        }
        // Ops after it run while they spin, with the same results.
        ft_kernels::unary(ft_kernels::UnaryOp::Exp, &big).unwrap();
        c.to_vec::<f32>().unwrap()
    });
    assert_eq!(
        got, want,
        "the product is bitwise the same at 1 and 2 threads"
    );
    // Nothing more runs: they leave when the window ends.
    wait_until_no_spinners();

    // Spinning off: a parallel op hands out none.
    set_spin_micros(0);
    two.install(|| {
        ft_kernels::mm(&a, &b).unwrap();
        assert_eq!(live_spinners(), 0);
    });

    // One thread: nothing to keep warm.
    set_spin_micros(200_000);
    pool(1).install(|| {
        ft_kernels::mm(&a, &b).unwrap();
        assert_eq!(live_spinners(), 0);
    });

    // Many parallel ops in a row: the count stays bounded and drains.
    set_spin_micros(2_000);
    two.install(|| {
        for _ in 0..200 {
            ft_kernels::unary(ft_kernels::UnaryOp::Exp, &big).unwrap();
            assert!(live_spinners() <= 64 * 2);
        }
    });
    wait_until_no_spinners();
    set_spin_micros(ft_kernels::par::DEFAULT_SPIN_US);
}
