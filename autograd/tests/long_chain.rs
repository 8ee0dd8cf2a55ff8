//! A graph as long as a training run can make one is freed without
//! recursing once per node (its own test binary: it counts live nodes).

use ft_autograd::{AutogradExt, live_nodes};
use ft_dispatch::Tensor;

/// A graph as long as a training run can make one (a running total never
/// detached, an unrolled recurrence) is freed without recursing once per
/// node: dropping its last output, and running backward through it, on a
/// test thread's 2 MiB stack.
#[test]
fn a_long_chain_is_freed_without_deep_recursion() {
    let before = live_nodes();
    let x = Tensor::from_slice(&[1.0f32, -2.0], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let chain = |n: usize| {
        let mut y = x.clone();
        for _ in 0..n {
            y = y.mul_scalar(1.0).unwrap().add_scalar(0.5).unwrap();
        }
        y
    };
    let steps = 100_000;
    let y = chain(steps);
    assert_eq!(live_nodes(), before + 2 * steps);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![50_001.0, 49_998.0]);
    drop(y);
    assert_eq!(live_nodes(), before);

    let y = chain(steps);
    y.sum().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
    drop(y);
    assert_eq!(live_nodes(), before);
}
