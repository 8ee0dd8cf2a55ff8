//! Property tests of the views.
//!
//! The reference model never looks at strides: it keeps, for every element
//! of the current tensor in row-major order, the index of the base element it
//! shows. Each view op is applied to the model by moving indices around.

use ft_core::{DType, TensorImpl};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Model {
    shape: Vec<usize>,
    /// Base index of each element, row-major over `shape`.
    idx: Vec<usize>,
}

fn unravel(mut pos: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        out[d] = pos % shape[d];
        pos /= shape[d];
    }
    out
}

fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i)
}

impl Model {
    fn base(shape: &[usize]) -> Self {
        let n = shape.iter().product();
        Model {
            shape: shape.to_vec(),
            idx: (0..n).collect(),
        }
    }

    /// The model of a new tensor whose element at `i` is the old element at
    /// `old_of(i)`.
    fn remap(&self, shape: Vec<usize>, old_of: impl Fn(&[usize]) -> Vec<usize>) -> Self {
        let n: usize = shape.iter().product();
        let idx = (0..n)
            .map(|p| self.idx[ravel(&old_of(&unravel(p, &shape)), &self.shape)])
            .collect();
        Model { shape, idx }
    }

    fn with_shape(&self, shape: Vec<usize>) -> Self {
        Model {
            shape,
            idx: self.idx.clone(),
        }
    }
}

/// One view op, with raw random parameters that `apply` folds into range.
#[derive(Clone, Debug)]
enum Op {
    Transpose(u8, u8),
    T,
    Permute(u64),
    Narrow(u8, u8, u8),
    Select(u8, u8),
    Expand(u8, u8),
    Unsqueeze(u8),
    Squeeze,
    SqueezeDim(u8),
    Flatten(u8, u8),
    ReshapeSplit(u8),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Transpose(a, b)),
        Just(Op::T),
        any::<u64>().prop_map(Op::Permute),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Op::Narrow(a, b, c)),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Select(a, b)),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Expand(a, b)),
        any::<u8>().prop_map(Op::Unsqueeze),
        Just(Op::Squeeze),
        any::<u8>().prop_map(Op::SqueezeDim),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Flatten(a, b)),
        any::<u8>().prop_map(Op::ReshapeSplit),
    ]
}

/// A dim in range, sometimes spelled negatively as PyTorch allows.
fn dim(raw: u8, ndim: usize) -> (isize, usize) {
    let n = ndim.max(1);
    let d = raw as usize % n;
    let spelled = if raw & 0x80 != 0 {
        d as isize - n as isize
    } else {
        d as isize
    };
    (spelled, d)
}

/// Applies `op` to the tensor and the model; `None` when the op does not
/// apply to this shape (the chain then skips it).
fn apply(t: &TensorImpl, m: &Model, op: &Op) -> Option<(TensorImpl, Model)> {
    let nd = m.shape.len();
    let shape = m.shape.clone();
    Some(match *op {
        Op::Transpose(a, b) => {
            let ((sa, da), (sb, db)) = (dim(a, nd), dim(b, nd));
            let mut ns = shape.clone();
            if nd > 0 {
                ns.swap(da, db);
            }
            let mm = m.remap(ns, |i| {
                let mut o = i.to_vec();
                if nd > 0 {
                    o.swap(da, db);
                }
                o
            });
            (t.transpose(sa, sb).unwrap(), mm)
        }
        Op::T => {
            if nd > 2 {
                assert!(t.t().is_err());
                return None;
            }
            let mut ns = shape.clone();
            ns.reverse();
            let mm = m.remap(ns, |i| i.iter().rev().copied().collect());
            (t.t().unwrap(), mm)
        }
        Op::Permute(seed) => {
            let mut perm: Vec<usize> = (0..nd).collect();
            let mut s = seed;
            for i in (1..nd).rev() {
                perm.swap(i, (s % (i as u64 + 1)) as usize);
                s /= i as u64 + 1;
            }
            let ns: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            let mm = m.remap(ns, |i| {
                let mut o = vec![0; nd];
                for (k, &p) in perm.iter().enumerate() {
                    o[p] = i[k];
                }
                o
            });
            let dims: Vec<isize> = perm.iter().map(|&p| p as isize).collect();
            (t.permute(&dims).unwrap(), mm)
        }
        Op::Narrow(d, a, b) => {
            if nd == 0 {
                return None;
            }
            let (sd, d) = dim(d, nd);
            let size = shape[d];
            let start = a as usize % (size + 1);
            let len = b as usize % (size - start + 1);
            let mut ns = shape.clone();
            ns[d] = len;
            let mm = m.remap(ns, |i| {
                let mut o = i.to_vec();
                o[d] += start;
                o
            });
            (t.narrow(sd, start as isize, len as isize).unwrap(), mm)
        }
        Op::Select(d, k) => {
            if nd == 0 {
                return None;
            }
            let (sd, d) = dim(d, nd);
            if shape[d] == 0 {
                return None;
            }
            let k = k as usize % shape[d];
            let mut ns = shape.clone();
            ns.remove(d);
            let mm = m.remap(ns, |i| {
                let mut o = i.to_vec();
                o.insert(d, k);
                o
            });
            (t.select(sd, k as isize).unwrap(), mm)
        }
        Op::Expand(lead, k) => {
            // Grow every size-1 dim to k and add `lead % 2` leading dims.
            let k = (k % 3 + 1) as usize;
            let lead = (lead % 2) as usize;
            let mut sizes: Vec<isize> = vec![k as isize; lead];
            for &s in &shape {
                sizes.push(if s == 1 { k as isize } else { -1 });
            }
            let ns: Vec<usize> = (0..lead)
                .map(|_| k)
                .chain(shape.iter().map(|&s| if s == 1 { k } else { s }))
                .collect();
            if ns.len() > 6 {
                return None;
            }
            let mm = m.remap(ns, |i| {
                i[lead..]
                    .iter()
                    .zip(&shape)
                    .map(|(&x, &s)| if s == 1 { 0 } else { x })
                    .collect()
            });
            (t.expand(&sizes).unwrap(), mm)
        }
        Op::Unsqueeze(d) => {
            if nd >= 6 {
                return None;
            }
            let (sd, d) = dim(d, nd + 1);
            let mut ns = shape.clone();
            ns.insert(d, 1);
            let mm = m.remap(ns, |i| {
                let mut o = i.to_vec();
                o.remove(d);
                o
            });
            (t.unsqueeze(sd).unwrap(), mm)
        }
        Op::Squeeze => {
            let ns: Vec<usize> = shape.iter().copied().filter(|&s| s != 1).collect();
            (t.squeeze(), m.with_shape(ns))
        }
        Op::SqueezeDim(d) => {
            let (sd, d) = dim(d, nd);
            let mut ns = shape.clone();
            if nd > 0 && shape[d] == 1 {
                ns.remove(d);
            }
            (t.squeeze_dim(sd).unwrap(), m.with_shape(ns))
        }
        Op::Flatten(a, b) => {
            let ((sa, da), (sb, db)) = (dim(a, nd), dim(b, nd));
            if nd > 0 && da > db {
                assert!(t.flatten(sa, sb).is_err());
                return None;
            }
            let ns = if nd == 0 {
                vec![1]
            } else {
                let mut ns = shape[..da].to_vec();
                ns.push(shape[da..=db].iter().product());
                ns.extend_from_slice(&shape[db + 1..]);
                ns
            };
            (t.flatten(sa, sb).unwrap(), m.with_shape(ns))
        }
        Op::ReshapeSplit(k) => {
            // Reshape to [a, numel / a] for a divisor a, or to [-1].
            let n: usize = shape.iter().product();
            let divisors: Vec<usize> = (1..=n).filter(|a| n.is_multiple_of(*a)).collect();
            let (ns, spec): (Vec<usize>, Vec<isize>) = if divisors.is_empty() || k % 4 == 0 {
                (vec![n], vec![-1])
            } else {
                let a = divisors[k as usize % divisors.len()];
                (vec![a, n / a], vec![a as isize, -1])
            };
            if n == 0 && spec.len() == 2 {
                return None; // -1 is ambiguous with 0 elements (tested elsewhere)
            }
            (t.reshape(&spec).unwrap(), m.with_shape(ns))
        }
    })
}

fn base_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 0..5)
}

/// Runs a chain on a base `arange` tensor; returns the base, the final
/// tensor and its model.
fn run_chain(base_shape: &[usize], ops: &[Op]) -> (TensorImpl, TensorImpl, Model) {
    let n: usize = base_shape.iter().product();
    let base = TensorImpl::arange(0.0, n as f64, 1.0, DType::I64)
        .unwrap()
        .reshape(&base_shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
        .unwrap();
    let mut t = base.clone();
    let mut m = Model::base(base_shape);
    for op in ops {
        if let Some((nt, nm)) = apply(&t, &m, op) {
            t = nt;
            m = nm;
        }
    }
    (base, t, m)
}

/// Element offsets of a tensor computed from its strides here, not by the
/// library's iterator.
fn offsets(t: &TensorImpl) -> Vec<isize> {
    (0..t.numel())
        .map(|p| {
            let i = unravel(p, t.shape());
            t.storage_offset() as isize
                + i.iter()
                    .zip(t.strides())
                    .map(|(&x, &s)| x as isize * s)
                    .sum::<isize>()
        })
        .collect()
}

/// Whether some strides let `new_shape` address the elements at `offs`
/// (row-major) — the brute-force truth that a view exists.
fn view_exists(offs: &[isize], new_shape: &[usize]) -> bool {
    if offs.is_empty() {
        return true;
    }
    let mut strides = vec![0isize; new_shape.len()];
    for d in 0..new_shape.len() {
        if new_shape[d] > 1 {
            let step: usize = new_shape[d + 1..].iter().product();
            strides[d] = offs[step] - offs[0];
        }
    }
    (0..offs.len()).all(|p| {
        let i = unravel(p, new_shape);
        offs[p]
            == offs[0]
                + i.iter()
                    .zip(&strides)
                    .map(|(&x, &s)| x as isize * s)
                    .sum::<isize>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any chain of views shows exactly the base elements the model says.
    #[test]
    fn any_chain_of_views_equals_gather_from_base(
        base_shape in base_strategy(),
        ops in prop::collection::vec(op_strategy(), 0..8),
    ) {
        let (base, t, m) = run_chain(&base_shape, &ops);
        prop_assert_eq!(t.shape(), &m.shape[..]);
        let got = t.to_vec::<i64>().unwrap();
        let want: Vec<i64> = m.idx.iter().map(|&i| i as i64).collect();
        prop_assert_eq!(got, want);
        // Views never copy unless a reshape had to.
        let reshaped = ops.iter().any(|o| matches!(o, Op::ReshapeSplit(_) | Op::Flatten(..)));
        if !reshaped {
            prop_assert!(t.shares_storage(&base));
        }
    }

    /// `contiguous()` of any view is a row-major copy of the same elements,
    /// and is `self` when already contiguous.
    #[test]
    fn contiguous_of_any_view_equals_gather(
        base_shape in base_strategy(),
        ops in prop::collection::vec(op_strategy(), 0..8),
    ) {
        let (_, t, m) = run_chain(&base_shape, &ops);
        let c = t.contiguous().unwrap();
        prop_assert!(c.is_contiguous());
        prop_assert_eq!(c.shape(), t.shape());
        let want: Vec<i64> = m.idx.iter().map(|&i| i as i64).collect();
        prop_assert_eq!(c.as_slice::<i64>().unwrap().to_vec(), want);
        prop_assert_eq!(c.shares_storage(&t), t.is_contiguous());
    }

    /// `reshape` returns a view exactly when one exists: PyTorch's rule is
    /// `computeStride` (a view iff each new dim lies within one run of dims
    /// that are contiguous with each other, or there are no elements), and
    /// it agrees with the brute-force search for strides done here.
    #[test]
    fn reshape_is_a_view_exactly_when_pytorch_makes_one(
        base_shape in base_strategy(),
        ops in prop::collection::vec(op_strategy(), 0..8),
        split in any::<u8>(),
    ) {
        let (_, t, m) = run_chain(&base_shape, &ops);
        let n = t.numel();
        let divisors: Vec<usize> = (1..=n.max(1)).filter(|a| n.max(1).is_multiple_of(*a)).collect();
        let a = divisors[split as usize % divisors.len()];
        for target in [vec![n], vec![a, n / a], vec![n / a, 1, a]] {
            if target.iter().product::<usize>() != n { continue; }
            let spec: Vec<isize> = target.iter().map(|&d| d as isize).collect();
            let r = t.reshape(&spec).unwrap();
            let is_view = r.shares_storage(&t);
            prop_assert_eq!(is_view, view_exists(&offsets(&t), &target),
                "shape {:?} strides {:?} -> {:?}", t.shape(), t.strides(), target);
            prop_assert_eq!(t.view(&spec).is_ok(), is_view);
            let want: Vec<i64> = m.idx.iter().map(|&i| i as i64).collect();
            prop_assert_eq!(r.to_vec::<i64>().unwrap(), want);
        }
    }
}
