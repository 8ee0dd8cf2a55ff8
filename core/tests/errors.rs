//! Bad input is an `Err` with PyTorch's message, never a panic.

use ft_core::{DType, ErrorKind, Layout, TensorImpl};
use proptest::prelude::*;

fn t23() -> TensorImpl {
    TensorImpl::arange(0.0, 6.0, 1.0, DType::F32)
        .unwrap()
        .view(&[2, 3])
        .unwrap()
}

fn msg(r: Result<TensorImpl, ft_core::Error>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn wrong_view_sizes_are_errors() {
    let t = TensorImpl::arange(0.0, 9.0, 1.0, DType::F32).unwrap();
    assert_eq!(
        msg(t.view(&[2, 5])),
        "shape '[2, 5]' is invalid for input of size 9"
    );
    assert_eq!(
        msg(t.reshape(&[-1, -1])),
        "only one dimension can be inferred"
    );
    assert_eq!(msg(t.reshape(&[3, -2])), "invalid shape dimension -2");
    assert_eq!(
        msg(t23().t().unwrap().view(&[6])),
        "view size is not compatible with input tensor's size and stride (at least one \
         dimension spans across two contiguous subspaces). Use .reshape(...) instead."
    );
    let empty = TensorImpl::zeros(&[0, 3], DType::F32).unwrap();
    assert!(msg(empty.reshape(&[0, -1])).contains("ambiguous"));
    assert!(TensorImpl::from_slice(&[1.0f32, 2.0], &[3]).is_err());
}

#[test]
fn dims_out_of_range_are_errors() {
    let t = t23();
    let e = t.transpose(0, 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Index);
    assert_eq!(
        e.to_string(),
        "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
    );
    assert!(t.transpose(-3, 0).is_err());
    assert!(t.unsqueeze(3).is_err() && t.unsqueeze(2).is_ok() && t.unsqueeze(-3).is_ok());
    assert!(t.squeeze_dim(2).is_err());
    assert!(t.flatten(0, 2).is_err());
    assert_eq!(
        msg(t.select(0, 2)),
        "select(): index 2 out of range for tensor of size [2, 3] at dimension 0"
    );
    assert_eq!(
        msg(t.narrow(1, 2, 2)),
        "start (2) + length (2) exceeds dimension size (3)."
    );
    assert_eq!(
        msg(t.narrow(1, 0, -1)),
        "narrow(): length must be non-negative."
    );
    assert_eq!(
        msg(t.permute(&[0, 0])),
        "permute(): duplicate dims are not allowed."
    );
    assert!(msg(t.permute(&[0])).contains("input.dim() = 2 is not equal to len(dims) = 1"));
    assert_eq!(
        msg(t.expand(&[2, 4])),
        "The expanded size of the tensor (4) must match the existing size (3) at \
         non-singleton dimension 1.  Target sizes: [2, 4].  Tensor sizes: [2, 3]"
    );
    assert!(t.expand(&[3]).is_err());
    assert!(t.expand(&[-1, 2, 3]).is_err());
    let s = TensorImpl::scalar(1.0f32);
    assert_eq!(
        msg(s.select(0, 0)),
        "select() cannot be applied to a 0-dim tensor."
    );
    assert!(s.size(0).is_err());
    assert!(
        s.transpose(0, -1).is_ok(),
        "a 0-dim tensor accepts dims 0 and -1"
    );
    let t3 = TensorImpl::zeros(&[1, 2, 3], DType::F32).unwrap();
    assert_eq!(
        msg(t3.t()),
        "t() expects a tensor with <= 2 dimensions, but self is 3D"
    );
}

#[test]
fn overflowing_shapes_are_errors() {
    for shape in [
        vec![usize::MAX, 2],
        vec![1 << 32, 1 << 32],
        vec![1 << 62, 4],
    ] {
        let e = TensorImpl::zeros(&shape, DType::F32).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Overflow, "{shape:?}");
    }
    // Element count fits, byte size does not.
    let e = TensorImpl::zeros(&[1 << 61], DType::F64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Overflow);
    let t = TensorImpl::zeros(&[2], DType::F32).unwrap();
    assert!(t.expand(&[isize::MAX, isize::MAX, 2]).is_err());
    assert!(t.reshape(&[isize::MAX, isize::MAX, -1]).is_err());
    assert!(Layout::new(&[3], &[isize::MAX], 0).is_err());
    assert!(t.as_strided(&[2], &[isize::MAX / 2], 0).is_err());
}

#[test]
fn item_needs_exactly_one_element() {
    let t = TensorImpl::zeros(&[3, 3], DType::F32).unwrap();
    assert_eq!(
        t.item().unwrap_err().to_string(),
        "a Tensor with 9 elements cannot be converted to Scalar"
    );
    assert!(TensorImpl::zeros(&[0], DType::F32).unwrap().item().is_err());
    let one = TensorImpl::full(&[1, 1], 2.5, DType::F32).unwrap();
    assert_eq!(one.item().unwrap(), ft_core::Scalar::Float(2.5));
    let i = TensorImpl::full(&[], i64::MIN, DType::I64).unwrap();
    assert_eq!(i.item().unwrap(), ft_core::Scalar::Int(i64::MIN));
}

#[test]
fn dtype_mismatch_in_data_access_is_an_error() {
    let t = t23();
    assert_eq!(
        t.to_vec::<f64>().unwrap_err().to_string(),
        "expected scalar type Double but found Float"
    );
    assert!(t.as_slice::<i32>().is_err());
    assert!(t.t().unwrap().as_slice::<f32>().is_err(), "not contiguous");
}

proptest! {
    /// Arbitrary arguments to every view op: a result or an error, never a
    /// panic, and a result always reads back without error.
    #[test]
    fn arbitrary_view_arguments_never_panic(
        shape in prop::collection::vec(0usize..4, 0..4),
        a in any::<isize>(), b in any::<isize>(), c in any::<isize>(),
        small in -5isize..6, small2 in -5isize..6,
        list in prop::collection::vec(-6isize..8, 0..5),
    ) {
        let n: usize = shape.iter().product();
        let t = TensorImpl::arange(0.0, n as f64, 1.0, DType::F32).unwrap()
            .reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>()).unwrap();
        let results = [
            t.view(&list), t.reshape(&list), t.transpose(a, b), t.transpose(small, small2),
            t.permute(&list), t.narrow(small, small2, c), t.narrow(a, b, c),
            t.select(small, small2), t.select(a, b), t.expand(&list),
            t.squeeze_dim(small), t.unsqueeze(small), t.flatten(small, small2),
            t.as_strided(&shape, &list, small.unsigned_abs()), t.t(),
        ];
        for r in results.into_iter().flatten() {
            let v = r.to_vec::<f32>().unwrap();
            prop_assert_eq!(v.len(), r.numel());
            prop_assert!(r.contiguous().is_ok());
        }
    }
}
