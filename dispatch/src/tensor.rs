//! `Tensor`: the user-facing handle. It is a [`TensorImpl`] (the data) plus
//! what dispatch needs to route a call: whether it requires grad, and a
//! slot for the autograd metadata that ft-autograd attaches. Every op
//! method on it (see [`crate::surface`]) goes through dispatch.

use ft_core::{DType, Device, Error, ErrorKind, Result, TensorImpl};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Autograd's per-tensor state, opaque to dispatch (ft-autograd defines
/// it: the grad_fn, the accumulated grad).
pub type AutogradMeta = Arc<dyn Any + Send + Sync>;

/// A tensor: data, and the autograd state dispatch routes on.
///
/// Aligned to 16 (its size stays 128, `tests/no_alloc.rs`): a tensor is
/// moved in 16-byte pieces, and with 8-byte alignment its `Result` and
/// `Option` wrappers put it at offsets that split those pieces across the
/// pieces the previous move stored, so each move of a new tensor through
/// the dispatch layers (kernel, slot, caller) waited on a failed store
/// forward: `a + b` on `[16]` 60-63 -> 53-56 ns
/// (`perf-artifacts/dispatch-v8-moves.md`).
#[derive(Clone)]
#[repr(align(16))]
pub struct Tensor {
    data: TensorImpl,
    requires_grad: bool,
    meta: Option<AutogradMeta>,
}

impl From<TensorImpl> for Tensor {
    #[inline]
    fn from(data: TensorImpl) -> Self {
        Tensor {
            data,
            requires_grad: false,
            meta: None,
        }
    }
}

/// PyTorch's error for a tensor of an integer or bool dtype that is asked
/// to require grad.
fn not_floating_point() -> Error {
    Error::new(
        ErrorKind::DType,
        "only Tensors of floating point dtype can require gradients",
    )
}

impl Tensor {
    /// The data, without autograd: what kernels operate on.
    #[inline]
    pub fn data(&self) -> &TensorImpl {
        &self.data
    }

    pub fn into_data(self) -> TensorImpl {
        self.data
    }

    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }

    /// Marks the tensor as requiring grad (PyTorch's `requires_grad_`):
    /// only floating-point tensors can.
    pub fn set_requires_grad(mut self, requires_grad: bool) -> Result<Self> {
        if requires_grad && !self.data.dtype().is_floating_point() {
            return Err(not_floating_point());
        }
        self.requires_grad = requires_grad;
        Ok(self)
    }

    pub fn autograd_meta(&self) -> Option<&AutogradMeta> {
        self.meta.as_ref()
    }

    /// Attaches autograd's state (ft-autograd does this for the outputs of
    /// its kernels).
    pub fn with_autograd_meta(mut self, meta: Option<AutogradMeta>) -> Self {
        self.meta = meta;
        self
    }

    /// Marks this tensor, in place, as requiring grad with autograd's
    /// state `meta` (ft-autograd does this for the outputs of its
    /// kernels): the by-value [`set_requires_grad`](Self::set_requires_grad)
    /// and [`with_autograd_meta`](Self::with_autograd_meta) without moving
    /// the tensor twice. Only floating-point tensors can require grad.
    pub fn attach_autograd_meta(&mut self, meta: AutogradMeta) -> Result<()> {
        if !self.data.dtype().is_floating_point() {
            return Err(not_floating_point());
        }
        self.requires_grad = true;
        self.meta = Some(meta);
        Ok(())
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn device(&self) -> Device {
        self.data.device()
    }

    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    pub fn strides(&self) -> &[isize] {
        self.data.strides()
    }

    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    pub fn numel(&self) -> usize {
        self.data.numel()
    }

    pub fn is_contiguous(&self) -> bool {
        self.data.is_contiguous()
    }

    /// The elements in row-major order, as `T` (the dtype must be `T`'s).
    pub fn to_vec<T: ft_core::Element>(&self) -> Result<Vec<T>> {
        self.data.to_vec()
    }

    /// The elements in row-major order, converted to f64.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        self.data.to_vec_f64()
    }

    /// A tensor of these values and shape.
    pub fn from_slice<T: ft_core::Element>(data: &[T], shape: &[usize]) -> Result<Self> {
        TensorImpl::from_slice(data, shape).map(Tensor::from)
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Self> {
        TensorImpl::zeros(shape, dtype).map(Tensor::from)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Result<Self> {
        TensorImpl::ones(shape, dtype).map(Tensor::from)
    }

    pub fn full(shape: &[usize], value: impl Into<ft_core::Scalar>, dtype: DType) -> Result<Self> {
        TensorImpl::full(shape, value, dtype).map(Tensor::from)
    }

    /// `start, start+step, ...` below `end`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Self> {
        TensorImpl::arange(start, end, step, dtype).map(Tensor::from)
    }

    /// The same data without autograd history: shares the storage,
    /// requires no grad (PyTorch's `detach`).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[2])?.set_requires_grad(true)?;
    /// let d = x.detach();
    /// assert!(!d.requires_grad());
    /// assert!(d.data().shares_storage(x.data()));
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn detach(&self) -> Tensor {
        Tensor::from(self.data.clone())
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({:?}, requires_grad={})",
            self.data, self.requires_grad
        )
    }
}
