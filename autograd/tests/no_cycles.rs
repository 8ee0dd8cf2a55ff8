//! A graph is freed when its outputs are dropped: the process-wide count
//! of live nodes returns to where it was (its own test binary, so no other
//! test builds graphs meanwhile).

use ft_autograd::{AutogradExt, live_nodes};
use ft_dispatch::Tensor;

#[test]
fn graphs_are_freed_when_their_outputs_are_dropped() {
    let before = live_nodes();
    let x = Tensor::from_slice(&[0.5f32, 1.5], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    {
        let mut h = x.clone();
        for _ in 0..50 {
            // Saves its output (exp) and inputs (mul): no cycle through
            // the saved tensors either.
            h = h.exp().unwrap().mul(&h).unwrap().tanh().unwrap();
        }
        assert_eq!(live_nodes(), before + 150);
        let loss = h.sum().unwrap();
        loss.backward_with(None, true).unwrap();
        assert_eq!(live_nodes(), before + 151);
    }
    assert_eq!(live_nodes(), before);
    // A graph dropped without a backward is freed too.
    {
        let y = x.mul(&x).unwrap().sum().unwrap();
        assert_eq!(live_nodes(), before + 2);
        drop(y);
    }
    assert_eq!(live_nodes(), before);
    assert!(x.grad().is_some());
}
