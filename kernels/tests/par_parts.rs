//! `ft_kernels::par::parts`: the caller and the pool share an op's parts.
//! Every part runs exactly once, whether the caller is outside the pool (a
//! program's main thread: it takes parts itself) or inside it (nested:
//! rayon's own loop); a panic in a part reaches the caller only after
//! every part that started has finished; and the ops built on it give
//! bitwise the results of one thread. This binary's global pool has three
//! threads (an odd count, so that parts do not split evenly).

use ft_core::{DType, Generator, TensorImpl};
use ft_kernels::par;
use std::sync::atomic::{AtomicUsize, Ordering};

fn three_global_threads() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build_global()
            .expect("the global pool is built here first");
    });
    assert_eq!(rayon::current_num_threads(), 3);
}

fn each_part_once(parts: usize) {
    let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
    par::parts(parts, |k| {
        counts[k].fetch_add(1, Ordering::Relaxed);
    });
    for (k, c) in counts.iter().enumerate() {
        assert_eq!(c.load(Ordering::Relaxed), 1, "part {k} of {parts}");
    }
}

#[test]
fn every_part_runs_once_from_outside_and_inside_the_pool() {
    three_global_threads();
    assert!(rayon::current_thread_index().is_none());
    for parts in [0, 1, 2, 3, 7, 64, 1000] {
        each_part_once(parts);
        rayon::scope(|_| {
            assert!(rayon::current_thread_index().is_some());
            each_part_once(parts);
        });
    }
    // Many calls in a row: helpers of an earlier call that start late
    // claim nothing of a later one.
    for _ in 0..2000 {
        each_part_once(5);
    }
    let mut v = vec![usize::MAX; 1001];
    par::chunks_mut(&mut v, 10, |k, c| c.fill(k));
    for (i, &x) in v.iter().enumerate() {
        assert_eq!(x, i / 10);
    }
}

#[test]
fn the_caller_takes_parts_from_the_front_and_the_pool_from_the_back() {
    // Each thread keeps its end of the data from call to call (its core's
    // cache holds it): the parts the caller ran are a prefix, the pool's
    // a suffix. Parts that take a while let the helpers start and meet
    // the caller partway.
    three_global_threads();
    let caller = std::thread::current().id();
    let mut helpers_ran = 0;
    for _ in 0..20 {
        let by_caller: Vec<AtomicUsize> = (0..24).map(|_| AtomicUsize::new(2)).collect();
        par::parts(24, |k| {
            std::thread::sleep(std::time::Duration::from_micros(200));
            let mine = std::thread::current().id() == caller;
            by_caller[k].store(usize::from(mine), Ordering::Relaxed);
        });
        let ran: Vec<usize> = by_caller
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert!(ran.iter().all(|&r| r < 2), "every part ran: {ran:?}");
        let front = ran.iter().take_while(|&&r| r == 1).count();
        assert!(front >= 1, "the caller took part 0: {ran:?}");
        assert!(
            ran[front..].iter().all(|&r| r == 0),
            "the caller's parts are a prefix, the pool's the rest: {ran:?}"
        );
        helpers_ran += usize::from(front < ran.len());
    }
    assert!(helpers_ran > 0, "the pool never took a part in 20 calls");
}

#[test]
fn a_panicking_part_reaches_the_caller_after_the_others_finish() {
    three_global_threads();
    let finished = AtomicUsize::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        par::parts(64, |k| {
            if k == 7 {
                panic!("part 7 fails");
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
            finished.fetch_add(1, Ordering::Relaxed);
        })
    }));
    assert!(r.is_err(), "the panic reaches the caller");
    assert_eq!(finished.load(Ordering::Relaxed), 63, "every other part ran");
}

#[test]
fn ops_on_the_callers_thread_and_the_pool_match_one_thread_bitwise() {
    three_global_threads();
    let mut g = Generator::new(11);
    let long = TensorImpl::randn(&[(1 << 20) + 77], DType::F32, &mut g).unwrap();
    let m = TensorImpl::randn(&[1031, 517], DType::F32, &mut g).unwrap();
    // Too few rows to split the row tree: threads take columns.
    let wide = TensorImpl::randn(&[40, 3001], DType::F32, &mut g).unwrap();
    let a = TensorImpl::randn(&[300, 257], DType::F32, &mut g).unwrap();
    let b = TensorImpl::randn(&[257, 301], DType::F32, &mut g).unwrap();
    let batch_a = TensorImpl::randn(&[16, 33, 40], DType::F32, &mut g).unwrap();
    let batch_b = TensorImpl::randn(&[16, 40, 29], DType::F32, &mut g).unwrap();
    let run = || -> Vec<Vec<f32>> {
        let v = |t: TensorImpl| t.to_vec::<f32>().unwrap();
        vec![
            v(ft_kernels::sum(&long, None, false, None).unwrap()),
            v(ft_kernels::sum(&m, Some(&[0]), false, None).unwrap()),
            v(ft_kernels::sum(&m, Some(&[1]), false, None).unwrap()),
            v(ft_kernels::sum(&wide, Some(&[0]), false, None).unwrap()),
            v(ft_kernels::softmax(&m, 1).unwrap()),
            v(ft_kernels::unary(ft_kernels::UnaryOp::Exp, &long).unwrap()),
            v(ft_kernels::mm(&a, &b).unwrap()),
            v(ft_kernels::bmm(&batch_a, &batch_b).unwrap()),
        ]
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    for round in 0..3 {
        let here = run();
        for (k, (x, y)) in here.iter().zip(&one).enumerate() {
            let same =
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(
                same,
                "op {k}, round {round}: 3 threads from outside the pool differ from 1"
            );
        }
    }
}
