//! `live_nodes` counts the whole process when nodes are made on one thread
//! and freed on another, and after the threads that made them have ended
//! (each thread keeps its own count; its own test binary, so no other test
//! builds graphs meanwhile).

use ft_autograd::{AutogradExt, live_nodes};
use ft_dispatch::Tensor;

fn leaf() -> Tensor {
    Tensor::from_slice(&[0.5f32, 1.5], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// `steps` recorded ops (two per step) on `x`.
fn chain(x: &Tensor, steps: usize) -> Tensor {
    let mut y = x.clone();
    for _ in 0..steps {
        y = y.mul_scalar(2.0).unwrap().add_scalar(1.0).unwrap();
    }
    y
}

#[test]
fn nodes_are_counted_across_threads() {
    let before = live_nodes();
    let x = leaf();

    // Made on a thread that then ends: its count outlives it.
    let y = std::thread::spawn({
        let x = x.clone();
        move || chain(&x, 10)
    })
    .join()
    .unwrap();
    assert_eq!(live_nodes(), before + 20);

    // Made here, freed on another thread (which counts -20 of its own).
    let z = chain(&x, 5);
    assert_eq!(live_nodes(), before + 30);
    std::thread::spawn(move || drop(z)).join().unwrap();
    assert_eq!(live_nodes(), before + 20);

    // Made by an ended thread, freed here.
    drop(y);
    assert_eq!(live_nodes(), before);

    // Two threads making and freeing at once, while this one reads.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let x = x.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    drop(chain(&x, 20));
                }
                chain(&x, 3)
            })
        })
        .collect();
    for _ in 0..100 {
        // A sum of counts being written: never more than both graphs at
        // their largest (2 x 40) plus the two kept (2 x 6).
        assert!(live_nodes() <= before + 92);
    }
    let kept: Vec<Tensor> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(live_nodes(), before + 12);
    drop(kept);
    assert_eq!(live_nodes(), before);
}
