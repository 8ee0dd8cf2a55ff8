//! The calling convention every kernel shares: the arguments of one call,
//! in schema order, in a fixed array on the caller's stack (PyTorch's boxed
//! calling convention without the heap-allocated stack).

use crate::schema::{ArgSpec, BaseType};
use crate::{AutogradMeta, Tensor};
use ft_core::{DType, Error, ErrorKind, Result, Scalar, TensorImpl};

/// The most arguments an op takes.
pub const MAX_ARGS: usize = 6;

/// One argument value.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Tensor(&'a Tensor),
    /// `Tensor?` (`None`: absent, as linear's bias).
    OptTensor(Option<&'a Tensor>),
    Scalar(Scalar),
    OptScalar(Option<Scalar>),
    Int(i64),
    OptInt(Option<i64>),
    /// `int[1]` / `int[1]?` (`None`: all dims).
    Dims(Option<&'a [isize]>),
    Bool(bool),
    /// `ScalarType` / `ScalarType?`.
    DType(Option<DType>),
    Str(&'a str),
}

impl Arg<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Arg::Tensor(_) => "Tensor",
            Arg::OptTensor(_) => "Tensor?",
            Arg::Scalar(_) => "Scalar",
            Arg::OptScalar(_) => "Scalar?",
            Arg::Int(_) => "int",
            Arg::OptInt(_) => "int?",
            Arg::Dims(_) => "int[]",
            Arg::Bool(_) => "bool",
            Arg::DType(_) => "ScalarType",
            Arg::Str(_) => "str",
        }
    }

    /// Whether this value may be passed for `spec`.
    pub fn fits(&self, spec: &ArgSpec) -> bool {
        match (self, spec.ty, spec.list) {
            (Arg::Tensor(_), BaseType::Tensor, false) => true,
            (Arg::OptTensor(t), BaseType::Tensor, false) => spec.optional || t.is_some(),
            (Arg::Scalar(_), BaseType::Scalar, false) => true,
            (Arg::OptScalar(s), BaseType::Scalar, false) => spec.optional || s.is_some(),
            (Arg::Int(_), BaseType::Int, false) => true,
            (Arg::OptInt(v), BaseType::Int, false) => spec.optional || v.is_some(),
            (Arg::Dims(d), BaseType::Int, true) => spec.optional || d.is_some(),
            (Arg::Bool(_), BaseType::Bool, false) => true,
            (Arg::DType(d), BaseType::ScalarType, false) => spec.optional || d.is_some(),
            (Arg::Str(_), BaseType::Str, false) => true,
            _ => false,
        }
    }
}

/// The arguments of one call, borrowed from the caller's stack (no copy).
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    args: &'a [Arg<'a>],
}

fn bad_arg(i: usize, want: &str, got: Option<&Arg<'_>>) -> Error {
    Error::new(
        ErrorKind::Value,
        format!(
            "internal dispatch error: argument {i} should be {want}, found {}",
            got.map_or("nothing", Arg::kind)
        ),
    )
}

impl<'a> Frame<'a> {
    /// A frame of these arguments (more than [`MAX_ARGS`]: an error).
    #[inline]
    pub fn new(args: &'a [Arg<'a>]) -> Result<Self> {
        if args.len() > MAX_ARGS {
            return Err(Error::new(
                ErrorKind::Value,
                format!(
                    "an op call takes at most {MAX_ARGS} arguments, got {}",
                    args.len()
                ),
            ));
        }
        Ok(Frame { args })
    }

    #[inline]
    pub fn args(&self) -> &'a [Arg<'a>] {
        self.args
    }

    /// The tensor arguments, in order.
    #[inline]
    pub fn tensors(&self) -> impl Iterator<Item = &'a Tensor> + '_ {
        self.args().iter().filter_map(|a| match a {
            Arg::Tensor(t) | Arg::OptTensor(Some(t)) => Some(*t),
            _ => None,
        })
    }

    #[inline]
    pub fn opt_tensor(&self, i: usize) -> Result<Option<&'a Tensor>> {
        match self.args().get(i) {
            Some(Arg::OptTensor(t)) => Ok(*t),
            Some(Arg::Tensor(t)) => Ok(Some(t)),
            other => Err(bad_arg(i, "a Tensor?", other)),
        }
    }

    #[inline]
    pub fn tensor(&self, i: usize) -> Result<&'a Tensor> {
        match self.args().get(i) {
            Some(Arg::Tensor(t)) => Ok(t),
            other => Err(bad_arg(i, "a Tensor", other)),
        }
    }

    #[inline]
    pub fn scalar(&self, i: usize) -> Result<Scalar> {
        match self.args().get(i) {
            Some(Arg::Scalar(s)) => Ok(*s),
            Some(Arg::OptScalar(Some(s))) => Ok(*s),
            other => Err(bad_arg(i, "a Scalar", other)),
        }
    }

    #[inline]
    pub fn opt_scalar(&self, i: usize) -> Result<Option<Scalar>> {
        match self.args().get(i) {
            Some(Arg::OptScalar(s)) => Ok(*s),
            Some(Arg::Scalar(s)) => Ok(Some(*s)),
            other => Err(bad_arg(i, "a Scalar?", other)),
        }
    }

    #[inline]
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.args().get(i) {
            Some(Arg::Int(v)) | Some(Arg::OptInt(Some(v))) => Ok(*v),
            other => Err(bad_arg(i, "an int", other)),
        }
    }

    #[inline]
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.args().get(i) {
            Some(Arg::OptInt(v)) => Ok(*v),
            Some(Arg::Int(v)) => Ok(Some(*v)),
            other => Err(bad_arg(i, "an int?", other)),
        }
    }

    #[inline]
    pub fn dims(&self, i: usize) -> Result<Option<&'a [isize]>> {
        match self.args().get(i) {
            Some(Arg::Dims(d)) => Ok(*d),
            other => Err(bad_arg(i, "an int[]", other)),
        }
    }

    #[inline]
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.args().get(i) {
            Some(Arg::Bool(b)) => Ok(*b),
            other => Err(bad_arg(i, "a bool", other)),
        }
    }

    #[inline]
    pub fn dtype(&self, i: usize) -> Result<Option<DType>> {
        match self.args().get(i) {
            Some(Arg::DType(d)) => Ok(*d),
            other => Err(bad_arg(i, "a ScalarType", other)),
        }
    }

    #[inline]
    pub fn str(&self, i: usize) -> Result<&'a str> {
        match self.args().get(i) {
            Some(Arg::Str(s)) => Ok(s),
            other => Err(bad_arg(i, "a str", other)),
        }
    }
}

/// Where a kernel puts what it returns: a slot on the caller's stack, so
/// that an in-place or `out=` call moves no tensor at all, and a new tensor
/// is moved once, to the caller. In-place and `out=` kernels leave it empty.
/// A kernel making one plain tensor may write its data straight into
/// [`Outputs::new_slot`], where the surface reads it.
#[derive(Debug, Default)]
pub struct Outputs {
    first: Option<Tensor>,
    second: Option<Tensor>,
    /// The one result as plain data, written in place by the kernel that
    /// made it (`first` stays empty then).
    plain: Option<TensorImpl>,
}

fn missing(what: &str) -> Error {
    Error::new(
        ErrorKind::Value,
        format!("internal dispatch error: the kernel did not return {what}"),
    )
}

impl Outputs {
    /// The kernel's one result.
    #[inline]
    pub fn set(&mut self, t: Tensor) {
        self.plain = None;
        self.first = Some(t);
    }

    /// The kernel's two results (`max.dim`: values, indices).
    pub fn set_two(&mut self, a: Tensor, b: Tensor) {
        self.plain = None;
        self.first = Some(a);
        self.second = Some(b);
    }

    /// Where a kernel writes its one result when that is a new tensor
    /// without autograd state (a kernel of the `CPU` key): the kernel
    /// builds it here (`ft_kernels::add_into`), and [`Outputs::one`] hands
    /// it to the caller, one move in all. Through [`Outputs::set`] a new
    /// tensor was moved out of the kernel, into `first` and out again, and
    /// each move of a tensor just written waited on a failed store forward
    /// (`perf-artifacts/dispatch-v8-moves.md`).
    #[inline]
    pub fn new_slot(&mut self) -> &mut Option<TensorImpl> {
        &mut self.plain
    }

    /// A result written through [`Outputs::new_slot`], moved to `first`
    /// for the readers that want the tensor itself.
    #[inline]
    fn settle(&mut self) {
        if let Some(t) = self.plain.take() {
            self.first = Some(Tensor::from(t));
        }
    }

    /// The one result, for the caller. Takes it out of the slot rather
    /// than consuming the slots: moving both (272 bytes) was a `memcpy`
    /// call on the path of every op that returns a new tensor.
    #[inline]
    pub fn one(&mut self) -> Result<Tensor> {
        if let Some(t) = self.plain.take() {
            return Ok(Tensor::from(t));
        }
        self.first.take().ok_or_else(|| missing("a tensor"))
    }

    pub fn two(mut self) -> Result<(Tensor, Tensor)> {
        self.settle();
        match (self.first, self.second) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(missing("two tensors")),
        }
    }

    /// The results where they lie, for a kernel that wraps another (the
    /// autograd kernels read the output where the CPU kernel left it): the
    /// first one's data, which may lie in the plain slot, and the second.
    #[inline]
    pub fn results(&self) -> (Option<&TensorImpl>, Option<&Tensor>) {
        let first = match &self.plain {
            Some(t) => Some(t),
            None => self.first.as_ref().map(Tensor::data),
        };
        (first, self.second.as_ref())
    }

    /// Marks the first result as requiring grad with autograd's state
    /// `meta`. A result in the plain slot becomes a tensor here, after
    /// the wrapping kernel's own work, not as soon as the kernel below
    /// returns: moved then, the tensor just written waited on a failed
    /// store forward (4% of a recorded chain's time). Only floating-point
    /// tensors can require grad; no result is an error.
    #[inline]
    pub fn attach_first_autograd_meta(&mut self, meta: AutogradMeta) -> Result<()> {
        self.settle();
        match &mut self.first {
            Some(t) => t.attach_autograd_meta(meta),
            None => Err(missing("a tensor")),
        }
    }

    /// Whether the kernel wrote nothing here (in place, `out=`).
    pub fn is_empty(&self) -> bool {
        self.first.is_none() && self.second.is_none() && self.plain.is_none()
    }
}

/// A kernel: every (op, key) entry of the table has this type.
pub type Kernel = fn(&Frame<'_>, &mut Outputs) -> Result<()>;

#[cfg(test)]
mod tests {
    use super::*;

    fn written_in_place(values: &[f32]) -> Outputs {
        let mut o = Outputs::default();
        *o.new_slot() = Some(TensorImpl::from_slice(values, &[values.len()]).unwrap());
        o
    }

    /// A result a kernel wrote through `new_slot` reaches every reader:
    /// the caller (`one`), a wrapping kernel (`results`, and the autograd
    /// state it attaches, which the caller's tensor then carries), `two`
    /// (which finds one result, an error) and `is_empty`; and `set`
    /// replaces it, with any state attached.
    #[test]
    fn a_result_written_in_place_reaches_every_reader() {
        let mut o = written_in_place(&[1.0, 2.0]);
        assert!(!o.is_empty());
        assert_eq!(o.one().unwrap().to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
        assert!(o.is_empty());
        assert!(o.one().is_err());

        let mut o = written_in_place(&[3.0]);
        let (first, second) = o.results();
        assert_eq!(first.unwrap().to_vec::<f32>().unwrap(), vec![3.0]);
        assert!(second.is_none());
        let t = o.one().unwrap();
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![3.0]);
        assert!(!t.requires_grad() && t.autograd_meta().is_none());

        let meta = || -> AutogradMeta { std::sync::Arc::new(7u8) };
        let mut o = written_in_place(&[3.5]);
        o.attach_first_autograd_meta(meta()).unwrap();
        let t = o.one().unwrap();
        assert!(t.requires_grad());
        assert_eq!(t.autograd_meta().unwrap().downcast_ref::<u8>(), Some(&7));
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![3.5]);
        // Through `two` (which settles the slot into `first`), the state
        // stays with the tensor.
        let mut o = written_in_place(&[3.75]);
        o.attach_first_autograd_meta(meta()).unwrap();
        o.second = Some(Tensor::from(TensorImpl::from_slice(&[1i64], &[1]).unwrap()));
        let (a, b) = o.two().unwrap();
        assert!(a.requires_grad() && a.autograd_meta().is_some());
        assert!(!b.requires_grad());
        // Only floating-point results can require grad; no result at all
        // is an error.
        let mut o = Outputs::default();
        *o.new_slot() = Some(TensorImpl::from_slice(&[1i64], &[1]).unwrap());
        assert!(o.attach_first_autograd_meta(meta()).is_err());
        assert!(!o.one().unwrap().requires_grad());
        assert!(
            Outputs::default()
                .attach_first_autograd_meta(meta())
                .is_err()
        );

        assert!(written_in_place(&[4.0]).two().is_err());

        let mut o = written_in_place(&[5.0]);
        o.attach_first_autograd_meta(meta()).unwrap();
        o.set(Tensor::from(
            TensorImpl::from_slice(&[6.0f32], &[1]).unwrap(),
        ));
        let t = o.one().unwrap();
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![6.0]);
        assert!(!t.requires_grad());
        assert!(o.is_empty());
    }
}
