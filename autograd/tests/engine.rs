//! The engine's rules (issue 7 point 2), each test named after the rule
//! it proves; messages are PyTorch 2.15's, checked against torch.

use ft_autograd::{AutogradExt, grad, no_grad};
use ft_core::{DType, ErrorKind};
use ft_dispatch::Tensor;

fn leaf(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

#[test]
fn leaf_gradients_accumulate_across_backward_calls() {
    let x = leaf(&[1.0, 2.0], &[2]);
    x.mul(&x).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(vals(&x.grad().unwrap()), vec![2.0, 4.0]);
    x.mul_scalar(3.0)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(vals(&x.grad().unwrap()), vec![5.0, 7.0]);
}

#[test]
fn a_tensor_used_twice_gets_the_sum_of_both_gradients() {
    let x = leaf(&[3.0], &[1]);
    let a = x.exp().unwrap();
    let b = x.mul_scalar(2.0).unwrap();
    a.add(&b).unwrap().sum().unwrap().backward().unwrap();
    let want = 3f32.exp() + 2.0;
    assert!((vals(&x.grad().unwrap())[0] - want).abs() < 1e-5);
}

#[test]
fn second_backward_through_freed_buffers_fails_with_pytorchs_message() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let z = x.mul(&x).unwrap().sum().unwrap();
    z.backward().unwrap();
    let e = z.backward().unwrap_err();
    assert!(
        e.message().starts_with(
            "Trying to backward through the graph a second time (or directly access saved \
             tensors after they have already been freed)."
        ),
        "{}",
        e.message()
    );
}

#[test]
fn retain_graph_keeps_saved_tensors_for_another_backward() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let z = x.mul(&x).unwrap().sum().unwrap();
    z.backward_with(None, true).unwrap();
    z.backward_with(None, false).unwrap();
    assert_eq!(vals(&x.grad().unwrap()), vec![4.0, 8.0]);
    assert!(z.backward().is_err());
}

#[test]
fn backward_of_a_non_scalar_output_takes_its_gradient() {
    let x = leaf(&[1.0, 2.0, 3.0], &[3]);
    let y = x.mul_scalar(2.0).unwrap();
    let e = y.backward().unwrap_err();
    assert_eq!(
        e.message(),
        "grad can be implicitly created only for scalar outputs"
    );
    let g = Tensor::from_slice(&[1.0f32, 0.5, 0.25], &[3]).unwrap();
    y.backward_with(Some(&g), false).unwrap();
    assert_eq!(vals(&x.grad().unwrap()), vec![2.0, 1.0, 0.5]);
}

#[test]
fn a_gradient_of_the_wrong_shape_is_rejected() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = x.mul_scalar(2.0).unwrap();
    let g = Tensor::ones(&[3], DType::F32).unwrap();
    let e = y.backward_with(Some(&g), false).unwrap_err();
    assert_eq!(
        e.message(),
        "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and output[0] has a \
         shape of torch.Size([2])."
    );
}

#[test]
fn backward_from_a_tensor_without_grad_fails() {
    let b = Tensor::from_slice(&[3.0f32, 4.0], &[2]).unwrap();
    let e = b.sum().unwrap().backward().unwrap_err();
    assert_eq!(
        e.message(),
        "element 0 of tensors does not require grad and does not have a grad_fn"
    );
}

#[test]
fn grad_returns_gradients_without_touching_dot_grad() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let w = leaf(&[3.0, 5.0], &[2]);
    let y = x.mul(&w).unwrap().sum().unwrap();
    let g = grad(&[&y], &[&x], None, false, false).unwrap();
    assert_eq!(vals(g[0].as_ref().unwrap()), vec![3.0, 5.0]);
    assert!(x.grad().is_none());
    assert!(w.grad().is_none());
}

#[test]
fn grad_with_respect_to_an_intermediate_tensor() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let h = x.mul_scalar(3.0).unwrap();
    let y = h.mul(&h).unwrap().sum().unwrap();
    let g = grad(&[&y], &[&h, &x], None, false, false).unwrap();
    assert_eq!(vals(g[0].as_ref().unwrap()), vec![6.0, 12.0]);
    assert_eq!(vals(g[1].as_ref().unwrap()), vec![18.0, 36.0]);
}

/// A diamond (`a` feeds `c` directly and through `b`): the gradient
/// captured at `a` sums both paths, and only nodes on a path to a
/// captured input run (the one below `a` does not: `x`'s `.grad` stays
/// empty, and a formula that ran below would have freed its buffers).
#[test]
fn grad_through_a_diamond_runs_only_the_nodes_above_the_inputs() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let a = x.mul_scalar(2.0).unwrap();
    let b = a.mul_scalar(3.0).unwrap();
    let c = b.add(&a).unwrap().mul(&b).unwrap().sum().unwrap();
    // c = sum((b + a) b) with b = 3a: through both paths dc/da = b +
    // 3 (2b + a) = 24a; at b, dc/db = 2b + a.
    let g = grad(&[&c], &[&a, &b], None, true, false).unwrap();
    let av = vals(&a);
    let bv = vals(&b);
    let ga = vals(g[0].as_ref().unwrap());
    let gb = vals(g[1].as_ref().unwrap());
    for k in 0..2 {
        assert!((ga[k] - 24.0 * av[k]).abs() < 1e-4, "{ga:?}");
        assert!((gb[k] - (2.0 * bv[k] + av[k])).abs() < 1e-4, "{gb:?}");
    }
    assert!(x.grad().is_none());
    // The node below `a` kept its buffers: a backward through it works.
    c.backward().unwrap();
    // dc/dx = 2 * 24a = 96x.
    assert_eq!(vals(&x.grad().unwrap()), vec![96.0, 192.0]);
}

#[test]
fn grad_of_an_unused_input_fails_unless_allowed() {
    let x = leaf(&[1.0], &[1]);
    let u = leaf(&[1.0], &[1]);
    let y = x.mul_scalar(2.0).unwrap().sum().unwrap();
    let e = grad(&[&y], &[&u], None, true, false).unwrap_err();
    assert!(e.message().starts_with(
        "One of the differentiated Tensors appears to not have been used in the graph."
    ));
    let g = grad(&[&y], &[&u, &x], None, false, true).unwrap();
    assert!(g[0].is_none());
    assert_eq!(vals(g[1].as_ref().unwrap()), vec![2.0]);
}

#[test]
fn grad_of_an_input_that_does_not_require_grad_fails() {
    let x = leaf(&[1.0], &[1]);
    let b = Tensor::from_slice(&[3.0f32], &[1]).unwrap();
    let y = x.mul(&b).unwrap().sum().unwrap();
    let e = grad(&[&y], &[&b], None, false, false).unwrap_err();
    assert_eq!(
        e.message(),
        "One of the differentiated Tensors does not require grad"
    );
}

#[test]
fn no_grad_records_nothing_and_allows_in_place_updates_of_leaves() {
    let w = leaf(&[1.0, 2.0], &[2]);
    let y = no_grad(|| w.mul_scalar(2.0)).unwrap();
    assert!(!y.requires_grad());
    assert!(y.grad_fn_name().is_none());
    // What an optimizer step does.
    no_grad(|| w.sub_(&Tensor::from_slice(&[0.5f32, 0.5], &[2]).unwrap())).unwrap();
    assert_eq!(vals(&w), vec![0.5, 1.5]);
    assert!(w.requires_grad() && w.is_leaf());
}

#[test]
fn detach_stops_the_gradient() {
    let x = leaf(&[2.0], &[1]);
    let y = x.mul(&x.detach()).unwrap().sum().unwrap();
    y.backward().unwrap();
    assert_eq!(vals(&x.grad().unwrap()), vec![2.0]);
}

#[test]
fn requires_grad_only_for_floating_point_and_only_changed_on_leaves() {
    let e = Tensor::from_slice(&[1i64, 2], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap_err();
    assert_eq!(
        e.message(),
        "only Tensors of floating point dtype can require gradients"
    );
    let x = leaf(&[1.0], &[1]);
    let y = x.mul_scalar(2.0).unwrap();
    assert!(!y.is_leaf());
    let e = y.clone().requires_grad_(false).unwrap_err();
    assert!(
        e.message()
            .starts_with("you can only change requires_grad flags of leaf variables.")
    );
    assert!(y.requires_grad_(true).is_ok());
    let off = x.requires_grad_(false).unwrap();
    assert!(!off.mul_scalar(2.0).unwrap().requires_grad());
}

#[test]
fn a_saved_input_modified_in_place_fails_the_backward() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let b = Tensor::from_slice(&[3.0f32, 4.0], &[2]).unwrap();
    let c = a.mul(&b).unwrap();
    b.add_(&Tensor::ones(&[2], DType::F32).unwrap()).unwrap();
    let e = c.sum().unwrap().backward().unwrap_err();
    assert!(
        e.message().starts_with(
            "one of the variables needed for gradient computation has been modified by an \
             inplace operation: [torch.FloatTensor [2]] is at version"
        ),
        "{}",
        e.message()
    );
}

#[test]
fn a_saved_output_modified_in_place_fails_the_backward() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let y = a.exp().unwrap();
    no_grad(|| y.mul_(&Tensor::full(&[2], 2.0, DType::F32).unwrap())).unwrap();
    let e = y.sum().unwrap().backward().unwrap_err();
    assert!(
        e.message().starts_with(
            "one of the variables needed for gradient computation has been modified by an \
             inplace operation: [torch.FloatTensor [2]], which is output 0 of Exp, is at version"
        ),
        "{}",
        e.message()
    );
}

#[test]
fn in_place_on_a_leaf_that_requires_grad_fails() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let e = a
        .add_(&Tensor::ones(&[2], DType::F32).unwrap())
        .unwrap_err();
    assert_eq!(
        e.message(),
        "a leaf Variable that requires grad is being used in an in-place operation."
    );
    assert_eq!(vals(&a), vec![1.0, 2.0]);
}

#[test]
fn in_place_on_a_non_leaf_records_its_history() {
    let a = leaf(&[0.5, -1.0], &[2]);
    let y = a.mul_scalar(2.0).unwrap();
    y.exp_().unwrap();
    assert_eq!(y.grad_fn_name(), Some("ExpBackward0"));
    y.sum().unwrap().backward().unwrap();
    let want: Vec<f32> = [0.5f32, -1.0]
        .iter()
        .map(|v| 2.0 * (2.0 * v).exp())
        .collect();
    let got = vals(&a.grad().unwrap());
    assert!(
        (got[0] - want[0]).abs() < 1e-5 && (got[1] - want[1]).abs() < 1e-5,
        "{got:?}"
    );
    // self used as the other operand reads the values from before.
    let b = leaf(&[3.0], &[1]);
    let z = b.mul_scalar(1.0).unwrap();
    z.mul_(&z.clone()).unwrap(); // z = b^2
    z.sum().unwrap().backward().unwrap();
    assert_eq!(vals(&b.grad().unwrap()), vec![6.0]);
    // Two in-place ops in a row: the second builds on the first's
    // history (a clone of the tensor, made before both, sees it too).
    let c = leaf(&[0.25, -0.5], &[2]);
    let w = c.mul_scalar(3.0).unwrap();
    let alias = w.clone();
    assert_eq!(alias.grad_fn_name(), Some("MulBackward1"));
    w.add_(&Tensor::ones(&[2], DType::F32).unwrap()).unwrap();
    assert_eq!(alias.grad_fn_name(), Some("AddBackward0"));
    w.exp_().unwrap(); // w = exp(3c + 1)
    assert_eq!(alias.grad_fn_name(), Some("ExpBackward0"));
    assert!(!alias.is_leaf());
    alias.sum().unwrap().backward().unwrap();
    let got = vals(&c.grad().unwrap());
    for (g, v) in got.iter().zip([0.25f32, -0.5]) {
        let want = 3.0 * (3.0 * v + 1.0).exp();
        assert!((g - want).abs() < 1e-5 * want.abs(), "{got:?}");
    }
}

#[test]
fn in_place_forms_give_the_gradients_of_the_out_of_place_forms() {
    type Op2 = fn(&Tensor, &Tensor) -> ft_core::Result<()>;
    type Fn2 = fn(&Tensor, &Tensor) -> ft_core::Result<Tensor>;
    let cases: Vec<(&str, Op2, Fn2)> = vec![
        ("add_", |y, o| y.add_(o), |y, o| y.add(o)),
        ("sub_", |y, o| y.sub_(o), |y, o| y.sub(o)),
        ("mul_", |y, o| y.mul_(o), |y, o| y.mul(o)),
        ("div_", |y, o| y.div_(o), |y, o| y.div(o)),
        ("pow_", |y, o| y.pow_(o), |y, o| y.pow(o)),
        ("tanh_", |y, _| y.tanh_(), |y, _| y.tanh()),
        ("sigmoid_", |y, _| y.sigmoid_(), |y, _| y.sigmoid()),
        ("relu_", |y, _| y.relu_(), |y, _| y.relu()),
        ("sqrt_", |y, _| y.sqrt_(), |y, _| y.sqrt()),
        (
            "clamp_",
            |y, _| y.clamp_(Some(ft_core::Scalar::Float(0.7)), None),
            |y, _| y.clamp(Some(ft_core::Scalar::Float(0.7)), None),
        ),
        ("gelu_", |y, _| y.gelu_("tanh"), |y, _| y.gelu("tanh")),
    ];
    for (name, inplace, outplace) in cases {
        let run = |in_place: bool| {
            let a = Tensor::from_slice(&[0.5f64, 1.25, 2.0], &[3])
                .unwrap()
                .requires_grad_(true)
                .unwrap();
            let o = Tensor::from_slice(&[1.5f64, 0.75, 1.1], &[3])
                .unwrap()
                .requires_grad_(true)
                .unwrap();
            let y = a.mul_scalar(1.5).unwrap();
            let r = if in_place {
                inplace(&y, &o).unwrap();
                y
            } else {
                outplace(&y, &o).unwrap()
            };
            r.mul(&Tensor::from_slice(&[1.0f64, -2.0, 0.5], &[3]).unwrap())
                .unwrap()
                .sum()
                .unwrap()
                .backward()
                .unwrap();
            let ga = a.grad().unwrap().to_vec::<f64>().unwrap();
            let go = o.grad().map(|g| g.to_vec::<f64>().unwrap());
            (r.to_vec::<f64>().unwrap(), ga, go)
        };
        assert_eq!(run(true), run(false), "{name}");
    }
}

#[test]
fn in_place_on_views_or_without_grad_on_self_fails_closed() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let y = a.mul_scalar(2.0).unwrap();
    let v = y.narrow(0, 0, 1).unwrap();
    assert_eq!(v.exp_().unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(
        y.exp_().unwrap_err().kind(),
        ErrorKind::Unsupported,
        "y has a view"
    );
    let plain = Tensor::from_slice(&[1.0f32, 1.0], &[2]).unwrap();
    assert_eq!(plain.add_(&a).unwrap_err().kind(), ErrorKind::Unsupported);
    assert_eq!(vals(&plain), vec![1.0, 1.0], "nothing written");
}

#[test]
fn a_tensor_saved_before_an_in_place_op_fails_the_backward() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let y = a.mul_scalar(2.0).unwrap();
    let w = y.mul(&y).unwrap(); // saves y
    y.add_(&Tensor::ones(&[2], DType::F32).unwrap()).unwrap();
    let e = w.sum().unwrap().backward().unwrap_err();
    assert!(
        e.message()
            .starts_with("one of the variables needed for gradient computation"),
        "{}",
        e.message()
    );
}

#[test]
fn out_variants_with_an_argument_that_requires_grad_fail() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let out = Tensor::zeros(&[2], DType::F32).unwrap();
    let e = a.add_out(&a, &out).unwrap_err();
    assert_eq!(
        e.message(),
        "add(): functions with out=... arguments don't support automatic differentiation, but \
         one of the arguments requires grad."
    );
}

#[test]
fn broadcast_gradients_are_summed_to_each_input_shape() {
    let a = leaf(&[1.0, 2.0, 3.0], &[3]);
    let b = leaf(&[10.0, 20.0], &[2, 1]);
    a.mul(&b).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(a.grad().unwrap().shape(), &[3]);
    assert_eq!(vals(&a.grad().unwrap()), vec![30.0, 30.0, 30.0]);
    assert_eq!(b.grad().unwrap().shape(), &[2, 1]);
    assert_eq!(vals(&b.grad().unwrap()), vec![6.0, 6.0]);
}

#[test]
fn gradients_keep_each_input_dtype() {
    let a = leaf(&[1.0, 2.0], &[2]);
    let b = Tensor::from_slice(&[3.0f64, 4.0], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let y = a.mul(&b).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    y.sum().unwrap().backward().unwrap();
    assert_eq!(a.grad().unwrap().dtype(), DType::F32);
    assert_eq!(vals(&a.grad().unwrap()), vec![3.0, 4.0]);
    assert_eq!(b.grad().unwrap().to_vec::<f64>().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn forward_values_with_grad_are_bitwise_those_without() {
    let mut g = ft_core::Generator::new(5);
    let a = Tensor::from(ft_core::TensorImpl::randn(&[33, 47], DType::F32, &mut g).unwrap());
    let b = Tensor::from(ft_core::TensorImpl::randn(&[47, 29], DType::F32, &mut g).unwrap());
    let plain = a
        .matmul(&b)
        .unwrap()
        .softmax(1)
        .unwrap()
        .sum_dim(&[0], false)
        .unwrap();
    let ag = a.detach().requires_grad_(true).unwrap();
    let tracked = ag
        .matmul(&b)
        .unwrap()
        .softmax(1)
        .unwrap()
        .sum_dim(&[0], false)
        .unwrap();
    assert!(tracked.requires_grad());
    assert_eq!(vals(&plain), vals(&tracked));
}

#[test]
fn grad_fn_names_are_pytorchs() {
    let m = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let names = [
        m.mul_scalar(2.0).unwrap().grad_fn_name(),
        m.add(&m).unwrap().grad_fn_name(),
        m.sum().unwrap().grad_fn_name(),
        m.sum_dim(&[0], false).unwrap().grad_fn_name(),
        m.view(&[4]).unwrap().grad_fn_name(),
        m.t().unwrap().grad_fn_name(),
        m.matmul(&m).unwrap().grad_fn_name(),
        m.linear(&m, Some(&m.select(0, 0).unwrap()))
            .unwrap()
            .grad_fn_name(),
        m.t().unwrap().contiguous().unwrap().grad_fn_name(),
        m.contiguous().unwrap().grad_fn_name(),
        m.max_dim(1, false).unwrap().0.grad_fn_name(),
        m.narrow(0, 0, 1).unwrap().grad_fn_name(),
    ];
    assert_eq!(
        names,
        [
            Some("MulBackward1"),
            Some("AddBackward0"),
            Some("SumBackward0"),
            Some("SumBackward1"),
            Some("ViewBackward0"),
            Some("TBackward0"),
            Some("MmBackward0"),
            Some("AddmmBackward0"),
            Some("CloneBackward0"),
            None,
            Some("MaxBackward0"),
            Some("SliceBackward0"),
        ]
    );
}

#[test]
fn integer_results_do_not_require_grad() {
    let m = leaf(&[1.0, 5.0, 3.0], &[3]);
    assert!(!m.argmax(None, false).unwrap().requires_grad());
    assert!(!m.gt_scalar(2.0).unwrap().requires_grad());
    assert!(!m.to_dtype(DType::I64).unwrap().requires_grad());
    let (v, i) = m.max_dim(0, false).unwrap();
    assert!(v.requires_grad() && !i.requires_grad());
}

/// The backward of `x * number` and `x / number` scales an f32 gradient
/// that nothing else refers to in place: the values are right along a
/// chain of them, and a gradient someone else holds (the one passed to
/// `backward`, one captured by `grad`, one the user keeps from `grad`) is
/// never written.
#[test]
fn gradients_scaled_in_place_change_no_tensor_a_caller_holds() {
    // A chain: d/dx of ((x * 2 + 1) * 3 / 4 + 1) * 5 = 2 * 3 / 4 * 5 = 7.5.
    let x = leaf(&[0.5, -1.0, 2.0], &[3]);
    let y = x
        .mul_scalar(2.0)
        .unwrap()
        .add_scalar(1.0)
        .unwrap()
        .mul_scalar(3.0)
        .unwrap()
        .div_scalar(4.0)
        .unwrap()
        .add_scalar(1.0)
        .unwrap()
        .mul_scalar(5.0)
        .unwrap();
    let g = Tensor::from_slice(&[1.0f32, 10.0, 100.0], &[3]).unwrap();
    y.backward_with(Some(&g), true).unwrap();
    assert_eq!(vals(&x.grad().unwrap()), vec![7.5, 75.0, 750.0]);
    // The given gradient is as it was.
    assert_eq!(vals(&g), vec![1.0, 10.0, 100.0]);
    // Captured gradients, of an intermediate and of the leaf, are the
    // right values and stay so after another backward through the graph.
    let h = x.mul_scalar(2.0).unwrap();
    let z = h
        .mul_scalar(3.0)
        .unwrap()
        .mul_scalar(4.0)
        .unwrap()
        .sum()
        .unwrap();
    let got = grad(&[&z], &[&h, &x], None, true, false).unwrap();
    let (gh, gx) = (got[0].clone().unwrap(), got[1].clone().unwrap());
    assert_eq!(vals(&gh), vec![12.0; 3]);
    assert_eq!(vals(&gx), vec![24.0; 3]);
    z.backward().unwrap();
    assert_eq!(vals(&gh), vec![12.0; 3]);
    assert_eq!(vals(&gx), vec![24.0; 3]);
    assert_eq!(vals(&x.grad().unwrap()), vec![31.5, 99.0, 774.0]);
}
