//! `TensorImpl`: a storage, a layout, a dtype and a device. Views share the
//! storage and rewrite only the layout.
//!
//! Invariant: every `TensorImpl` that shares a storage has the same dtype
//! (there is no reinterpreting view), so the bytes of a storage only ever
//! hold values written as that dtype; a bool storage holds only 0 and 1.

use crate::device::Device;
use crate::dtype::{DType, Element, Scalar};
use crate::error::{Error, ErrorKind, Result, fmt_shape};
use crate::layout::{Layout, checked_nbytes, infer_size, wrap_dim};
use crate::rng::Generator;
use crate::storage::{ReadGuard, Storage, WriteGuard};
use std::fmt;
use std::ops::Deref;
// triomphe's `Arc`: no weak count, so freeing the last reference is one
// locked instruction, not std's two (`bench/examples/lock_probe.rs`: ~6 ns
// each on the benchmark guest; every small op frees a storage). Freeing a
// last reference with none (a load, then `try_unwrap`) was tried and not
// kept: `perf-artifacts/dispatch-v5-unique-drop-tried.md`.
use triomphe::{Arc, UniqueArc};

/// A new storage of `nbytes` bytes (zeroed when `zero`), built in place in
/// its `Arc` ([`Storage::init_at`]) rather than on the stack and moved.
///
/// # Safety
/// Unless `zero`, every byte must be written before anything reads it.
#[inline]
unsafe fn arc_storage(nbytes: usize, zero: bool) -> Result<Arc<Storage>> {
    let mut arc = UniqueArc::<Storage>::new_uninit();
    // SAFETY: the pointer is to the `Arc`'s own, aligned place for a
    // `Storage`, which nothing else can reach; `init_at` initialises it when
    // it returns `Ok` (else the uninitialised `Arc` is freed without a
    // drop), and the byte-writing promise is forwarded to our caller.
    unsafe {
        Storage::init_at(arc.as_mut_ptr().cast(), nbytes, zero)?;
        Ok(UniqueArc::assume_init(arc).shareable())
    }
}

/// The data of a tensor, without autograd: what kernels operate on.
#[derive(Clone)]
pub struct TensorImpl {
    storage: Arc<Storage>,
    layout: Layout,
    dtype: DType,
    device: Device,
}

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// Views a storage's bytes as elements (storages are at least 16-byte aligned and
/// hold only values of their dtype, so this is sound for any `Element`).
pub fn typed<T: Element>(bytes: &[u8]) -> &[T] {
    assert_eq!(bytes.as_ptr() as usize % align_of::<T>(), 0);
    // SAFETY: the storage is aligned to 16 bytes (checked above for T), the
    // length is whole elements, and `Element` is sealed to primitive types
    // whose every byte pattern the storage can hold is valid (see the
    // module invariant for bool).
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / size_of::<T>()) }
}

/// The elements of a storage's bytes, for writing (see [`typed`]).
pub fn typed_mut<T: Element>(bytes: &mut [u8]) -> &mut [T] {
    assert_eq!(bytes.as_ptr() as usize % align_of::<T>(), 0);
    // SAFETY: as in `typed`; the caller writes only values of type T, which
    // keeps the invariant.
    unsafe {
        std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len() / size_of::<T>())
    }
}

/// Calls `f` with the storage offset of every element of `layout`, in
/// row-major order of the layout's shape.
pub fn for_each_offset(layout: &Layout, mut f: impl FnMut(usize)) {
    let n = layout.numel();
    if n == 0 {
        return;
    }
    let shape = layout.shape();
    let strides = layout.strides();
    let nd = shape.len();
    if nd == 0 {
        f(layout.offset());
        return;
    }
    let (inner, inner_stride) = (shape[nd - 1], strides[nd - 1]);
    let mut index = [0usize; crate::layout::MAX_DIMS];
    let mut base = layout.offset() as isize;
    let mut done = 0;
    while done < n {
        for i in 0..inner {
            f((base + i as isize * inner_stride) as usize);
        }
        done += inner;
        // Odometer over the outer dims.
        let mut d = nd - 1;
        while d > 0 {
            d -= 1;
            index[d] += 1;
            base += strides[d];
            if index[d] < shape[d] {
                break;
            }
            base -= strides[d] * shape[d] as isize;
            index[d] = 0;
        }
    }
}

/// A contiguous tensor's elements, borrowed. Writers to the storage are
/// refused (with an error) while it lives.
pub struct SliceRef<'a, T> {
    _guard: ReadGuard<'a>,
    slice: &'a [T],
}

impl<T> Deref for SliceRef<'_, T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.slice
    }
}

/// A contiguous tensor's elements, borrowed for writing. Every other
/// access to the storage is refused (with an error) while it lives; taking
/// it bumps the version counter.
pub struct SliceMut<'a, T> {
    _guard: WriteGuard<'a>,
    slice: &'a mut [T],
}

impl<T> Deref for SliceMut<'_, T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.slice
    }
}

impl<T> std::ops::DerefMut for SliceMut<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.slice
    }
}

impl TensorImpl {
    // ---------------------------------------------------------------- parts

    /// A tensor over `storage` with `layout`, checked to lie inside it.
    fn from_parts(
        storage: Arc<Storage>,
        layout: Layout,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        device.check_executable()?;
        if let Some((lo, hi)) = layout.offset_range()? {
            let needed = (hi as usize)
                .checked_add(1)
                .and_then(|n| n.checked_mul(dtype.size()))
                .unwrap_or(usize::MAX);
            if lo < 0 || needed > storage.nbytes() {
                return Err(Error::shape(format!(
                    "setStorage: sizes {}, strides {}, storage offset {}, and itemsize {} \
                     requiring a storage size of {needed} are out of bounds for storage of \
                     size {}",
                    fmt_shape(layout.shape()),
                    fmt_shape(layout.strides()),
                    layout.offset(),
                    dtype.size(),
                    storage.nbytes()
                )));
            }
        }
        Ok(TensorImpl {
            storage,
            layout,
            dtype,
            device,
        })
    }

    #[inline]
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    #[inline]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    #[inline]
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    #[inline]
    pub fn device(&self) -> Device {
        self.device
    }

    #[inline]
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    #[inline]
    pub fn strides(&self) -> &[isize] {
        self.layout.strides()
    }

    #[inline]
    pub fn storage_offset(&self) -> usize {
        self.layout.offset()
    }

    #[inline]
    pub fn ndim(&self) -> usize {
        self.layout.ndim()
    }

    #[inline]
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// Size of one dim (negative dims count from the end).
    pub fn size(&self, dim: isize) -> Result<usize> {
        if self.ndim() == 0 {
            return Err(Error::new(
                ErrorKind::Index,
                format!("Dimension specified as {dim} but tensor has no dimensions"),
            ));
        }
        Ok(self.shape()[wrap_dim(dim, self.ndim())?])
    }

    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Whether two tensors share one storage (one is a view of the other, or
    /// both are views of a third).
    #[inline]
    pub fn shares_storage(&self, other: &TensorImpl) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Whether this tensor is the only one that refers to its storage (no
    /// clone, no view): an in-place write to it then changes no other
    /// tensor's values. (A load of the reference count; another thread can
    /// only add a reference through a tensor it already has.)
    #[inline]
    pub fn storage_is_unique(&self) -> bool {
        Arc::is_unique(&self.storage)
    }

    /// The storage's version counter (bumped by every in-place write).
    #[inline]
    pub fn version(&self) -> u64 {
        self.storage.version()
    }

    fn with_layout(&self, layout: Layout) -> Self {
        TensorImpl {
            storage: Arc::clone(&self.storage),
            layout,
            dtype: self.dtype,
            device: self.device,
        }
    }

    // --------------------------------------------------------- constructors

    /// A zero-filled contiguous tensor. (PyTorch's `empty` leaves memory
    /// uninitialised; reading uninitialised memory is undefined behaviour in
    /// Rust, and fresh pages from the OS are zero anyway, so ours is zeroed.)
    pub fn empty(shape: &[usize], dtype: DType) -> Result<Self> {
        Self::empty_on(shape, dtype, Device::CPU)
    }

    /// A contiguous tensor whose bytes are unspecified: for a kernel that
    /// writes every element before anything reads it (no zeroing pass).
    ///
    /// # Safety
    /// Every element must be written before the tensor is read.
    #[inline]
    pub unsafe fn uninit(shape: &[usize], dtype: DType) -> Result<Self> {
        let numel = Layout::contiguous_numel(shape)?;
        // Cannot overflow: `numel <= MAX_NUMEL` (2^56 - 1), elements <= 8 bytes.
        let nbytes = numel * dtype.size();
        // SAFETY: forwarded to our caller.
        let storage = unsafe { arc_storage(nbytes, false)? };
        Ok(TensorImpl {
            storage,
            layout: Layout::contiguous_checked(shape, numel),
            dtype,
            device: Device::CPU,
        })
    }

    /// A new contiguous tensor of `T` whose elements `fill` writes while
    /// nothing else can reach its storage (before the storage is shared),
    /// so the write takes no guard and bumps no version: the fresh output
    /// of a small op costs no atomic operation. An error from `fill` is
    /// returned and the storage freed.
    ///
    /// ```
    /// # use ft_core::TensorImpl;
    /// // SAFETY: the closure writes all three elements.
    /// let t = unsafe {
    ///     TensorImpl::uninit_with::<f32>(&[3], |out| {
    ///         out.copy_from_slice(&[1.0, 2.0, 3.0]);
    ///         Ok(())
    ///     })?
    /// };
    /// assert_eq!(t.to_vec::<f32>()?, vec![1.0, 2.0, 3.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    ///
    /// # Safety
    /// `fill` receives unspecified (possibly uninitialised) elements and
    /// must write every one of them.
    #[inline]
    pub unsafe fn uninit_with<T: Element>(
        shape: &[usize],
        fill: impl FnOnce(&mut [T]) -> Result<()>,
    ) -> Result<Self> {
        // The layout is made last, in the result itself (see
        // `Layout::contiguous_numel`).
        let numel = Layout::contiguous_numel(shape)?;
        // Cannot overflow: `numel <= MAX_NUMEL` (2^56 - 1), elements <= 8 bytes.
        let nbytes = numel * size_of::<T>();
        // SAFETY: forwarded to our caller (`fill` writes every element).
        // Into its `Arc` before the write: a storage's bytes may be inside
        // it (`INLINE_BYTES`), and they are written once, where they stay.
        let storage = unsafe { arc_storage(nbytes, false)? };
        // SAFETY: `storage` is this function's only reference to a storage
        // it just made (no guard exists, no other thread can reach it), and
        // it is not shared until `fill` has returned. The bytes are 16-byte
        // aligned and `nbytes` long, which is `numel` elements of T, so the
        // slice is in bounds and aliases nothing while it lives. (Not
        // `Arc::get_mut`: its check is a locked instruction.)
        let elems =
            unsafe { std::slice::from_raw_parts_mut(storage.unshared_ptr().cast::<T>(), numel) };
        fill(elems)?;
        Ok(TensorImpl {
            storage,
            layout: Layout::contiguous_checked(shape, numel),
            dtype: T::DTYPE,
            device: Device::CPU,
        })
    }

    /// A tensor on the `meta` device: PyTorch's shape-only tensors, here so
    /// that routing can be checked against a device that is not the CPU.
    /// Every op on it fails closed. (It holds zeroed bytes all the same, so
    /// that no path, even a buggy one, can read past a missing buffer.)
    pub fn empty_meta(shape: &[usize], dtype: DType) -> Result<Self> {
        let mut t = Self::empty(shape, dtype)?;
        t.device = Device {
            kind: crate::device::DeviceKind::Meta,
            index: None,
        };
        Ok(t)
    }

    /// `empty` on a given device; fails closed for any device but the CPU.
    pub fn empty_on(shape: &[usize], dtype: DType, device: Device) -> Result<Self> {
        device.check_executable()?;
        let layout = Layout::contiguous(shape)?;
        let nbytes = checked_nbytes(shape, dtype.size())?;
        // SAFETY: zeroed bytes.
        let storage = unsafe { arc_storage(nbytes, true)? };
        Ok(TensorImpl {
            storage,
            layout,
            dtype,
            device,
        })
    }

    /// A zero-filled tensor with the given strides (non-negative), over a
    /// storage just large enough for them.
    pub fn empty_strided(shape: &[usize], strides: &[isize], dtype: DType) -> Result<Self> {
        Self::strided_inner(shape, strides, dtype, true)
    }

    /// As `empty_strided`, but the storage's bytes are unspecified.
    ///
    /// # Safety
    /// Every element of the result must be written before any is read, and
    /// the layout must not leave bytes of the storage that are never
    /// written but could be read through a later view (a dense layout, as
    /// kernel outputs are, satisfies this).
    pub unsafe fn uninit_strided(shape: &[usize], strides: &[isize], dtype: DType) -> Result<Self> {
        Self::strided_inner(shape, strides, dtype, false)
    }

    fn strided_inner(shape: &[usize], strides: &[isize], dtype: DType, zero: bool) -> Result<Self> {
        if strides.iter().any(|&s| s < 0) {
            return Err(Error::value(
                "empty_strided: negative strides are not supported",
            ));
        }
        let layout = Layout::new(shape, strides, 0)?;
        let elems = match layout.offset_range()? {
            Some((_, hi)) => hi as usize + 1,
            None => 0,
        };
        let nbytes = checked_nbytes(&[elems], dtype.size())?;
        // SAFETY: zeroed bytes, or the promise of `uninit_strided`'s caller.
        let storage = unsafe { arc_storage(nbytes, zero)? };
        Ok(TensorImpl {
            storage,
            layout,
            dtype,
            device: Device::CPU,
        })
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Self> {
        Self::empty(shape, dtype)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Result<Self> {
        Self::full(shape, 1i64, dtype)
    }

    /// Every element `value`, converted to `dtype` as PyTorch converts.
    pub fn full(shape: &[usize], value: impl Into<Scalar>, dtype: DType) -> Result<Self> {
        let t = Self::empty(shape, dtype)?;
        t.fill_(value)?;
        Ok(t)
    }

    /// A tensor holding `data` (row-major) with `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Self> {
        let layout = Layout::contiguous(shape)?;
        if layout.numel() != data.len() {
            return Err(Error::shape(format!(
                "shape '{}' is invalid for input of size {}",
                fmt_shape(shape),
                data.len()
            )));
        }
        let t = Self::empty(shape, T::DTYPE)?;
        {
            let mut g = t.storage.write()?;
            typed_mut::<T>(g.bytes_mut()).copy_from_slice(data);
        }
        Ok(t)
    }

    /// As `from_slice`. (The data is copied once: a `Vec` is not 64-byte
    /// aligned, and the storage always is.)
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        Self::from_slice(&data, shape)
    }

    /// A 0-dim tensor.
    pub fn scalar<T: Element>(value: T) -> Self {
        Self::from_slice(&[value], &[]).expect("a one-element allocation")
    }

    /// `torch.arange(start, end, step)`: `ceil((end - start) / step)` values
    /// `start + i * step`, computed in f64 and converted to `dtype`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Self> {
        if step == 0.0 {
            return Err(Error::value("step must be nonzero"));
        }
        if !(start.is_finite() && end.is_finite()) {
            return Err(Error::value(format!("unsupported range: {start} -> {end}")));
        }
        if (step > 0.0 && end < start) || (step < 0.0 && end > start) {
            return Err(Error::value(
                "upper bound and larger bound inconsistent with step sign",
            ));
        }
        let n = ((end - start) / step).ceil();
        if !(0.0..=(isize::MAX as f64)).contains(&n) {
            return Err(Error::new(
                ErrorKind::Overflow,
                format!("invalid size, possible overflow? arange({start}, {end}, {step})"),
            ));
        }
        Self::from_fn(&[n as usize], dtype, |i| start + i as f64 * step)
    }

    /// `torch.linspace(start, end, steps)`, with PyTorch's symmetric formula
    /// (the first half counts up from `start`, the second down from `end`).
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Self> {
        let step = if steps > 1 {
            (end - start) / (steps - 1) as f64
        } else {
            0.0
        };
        let half = steps / 2;
        Self::from_fn(&[steps], dtype, |i| {
            if i < half {
                start + step * i as f64
            } else {
                end - step * (steps - i - 1) as f64
            }
        })
    }

    /// Uniform in [0, 1) from a seeded generator (floating dtypes only).
    pub fn rand(shape: &[usize], dtype: DType, generator: &mut Generator) -> Result<Self> {
        Self::check_random_dtype("rand", dtype)?;
        if dtype == DType::F64 {
            Self::from_fn(shape, dtype, |_| generator.uniform_f64())
        } else {
            Self::from_fn(shape, dtype, |_| generator.uniform_f32())
        }
    }

    /// Standard normal from a seeded generator (floating dtypes only).
    pub fn randn(shape: &[usize], dtype: DType, generator: &mut Generator) -> Result<Self> {
        Self::check_random_dtype("randn", dtype)?;
        Self::from_fn(shape, dtype, |_| generator.normal())
    }

    fn check_random_dtype(op: &str, dtype: DType) -> Result<()> {
        if dtype.is_floating_point() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::DType,
            format!(
                "\"{op}\" not implemented for '{}': it needs a floating point dtype",
                dtype.scalar_type_name()
            ),
        ))
    }

    /// A contiguous tensor whose `i`-th element (row-major) is `f(i)`,
    /// converted to `dtype`.
    pub fn from_fn(shape: &[usize], dtype: DType, mut f: impl FnMut(usize) -> f64) -> Result<Self> {
        let t = Self::empty(shape, dtype)?;
        {
            let mut g = t.storage.write()?;
            with_dtype!(dtype, T => {
                for (i, x) in typed_mut::<T>(g.bytes_mut()).iter_mut().enumerate() {
                    *x = T::from_f64(f(i));
                }
            });
        }
        Ok(t)
    }

    // --------------------------------------------------------- data access

    /// The elements in row-major order. `T` must be the tensor's dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::dtype_mismatch(T::DTYPE, self.dtype));
        }
        let g = self.storage.read()?;
        let data = typed::<T>(g.bytes());
        let mut out = Vec::with_capacity(self.numel());
        for_each_offset(&self.layout, |o| out.push(data[o]));
        Ok(out)
    }

    /// The elements in row-major order, converted to f64 (exact for every
    /// dtype but i64 beyond 2^53).
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let g = self.storage.read()?;
        let mut out = Vec::with_capacity(self.numel());
        with_dtype!(self.dtype, T => {
            let data = typed::<T>(g.bytes());
            for_each_offset(&self.layout, |o| out.push(data[o].to_f64()));
        });
        Ok(out)
    }

    /// The value of a one-element tensor (any shape with one element).
    pub fn item(&self) -> Result<Scalar> {
        if self.numel() != 1 {
            return Err(Error::value(format!(
                "a Tensor with {} elements cannot be converted to Scalar",
                self.numel()
            )));
        }
        let v = self.to_vec_f64()?[0];
        Ok(match self.dtype {
            DType::Bool => Scalar::Bool(v != 0.0),
            DType::I64 => Scalar::Int(self.to_vec::<i64>()?[0]),
            d if d.is_integral(false) => Scalar::Int(v as i64),
            _ => Scalar::Float(v),
        })
    }

    /// Where the elements of a contiguous tensor of dtype `T` lie in its
    /// storage, in elements: `(offset, numel)`, checked against the storage.
    #[inline]
    fn contiguous_span<T: Element>(&self) -> Result<(usize, usize)> {
        if T::DTYPE != self.dtype {
            return Err(Error::dtype_mismatch(T::DTYPE, self.dtype));
        }
        if !self.is_contiguous() {
            return Err(Error::shape(
                "as_slice() needs a contiguous tensor; call contiguous() first",
            ));
        }
        let (start, n) = (self.layout.offset(), self.numel());
        if n == 0 {
            // An empty view's offset may lie anywhere.
            return Ok((0, 0));
        }
        // Always true (a layout is checked against its storage when the
        // tensor is made); kept because the slices below rely on it.
        if start.saturating_add(n) > self.storage.nbytes() / size_of::<T>() {
            return Err(Error::shape("internal error: a layout outside its storage"));
        }
        Ok((start, n))
    }

    /// The elements of a contiguous tensor as a slice. While the returned
    /// borrow lives, in-place writes to the storage fail with an error.
    /// (Always inlined: it is on every small op's path, and whether LLVM
    /// inlines it otherwise changes with unrelated code in the caller's
    /// crate: +50 instructions per `a + b` on `[16]` when it did not.)
    #[inline(always)]
    pub fn as_slice<T: Element>(&self) -> Result<SliceRef<'_, T>> {
        let (start, n) = self.contiguous_span::<T>()?;
        let g = self.storage.read()?;
        // SAFETY: the storage is 16-byte aligned and holds `start + n`
        // elements of T (checked by `contiguous_span`), every byte pattern
        // it holds is a valid T (see `typed`); the `Arc` in `self` keeps it
        // alive for `'_` and the guard beside the slice keeps writers out
        // for as long as the slice can be used.
        let slice = unsafe { std::slice::from_raw_parts(g.as_ptr().cast::<T>().add(start), n) };
        Ok(SliceRef { _guard: g, slice })
    }

    /// The elements of a contiguous tensor as a mutable slice (bumps the
    /// version counter). While it lives, every other access to the storage
    /// fails with an error.
    ///
    /// ```
    /// # use ft_core::{DType, TensorImpl};
    /// let t = TensorImpl::zeros(&[3], DType::F32)?;
    /// t.as_slice_mut::<f32>()?.copy_from_slice(&[1.0, 2.0, 3.0]);
    /// assert_eq!(t.to_vec::<f32>()?, vec![1.0, 2.0, 3.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    #[inline]
    pub fn as_slice_mut<T: Element>(&self) -> Result<SliceMut<'_, T>> {
        let (start, n) = self.contiguous_span::<T>()?;
        let mut g = self.storage.write()?;
        // SAFETY: as in `as_slice`; the write guard makes this the only
        // access to the storage while the slice lives, and the caller
        // stores only values of type T, which keeps the storage valid.
        let slice =
            unsafe { std::slice::from_raw_parts_mut(g.as_mut_ptr().cast::<T>().add(start), n) };
        Ok(SliceMut { _guard: g, slice })
    }

    /// Sets every element to `value` in place (bumps the version counter).
    pub fn fill_(&self, value: impl Into<Scalar>) -> Result<()> {
        let v = value.into();
        let mut g = self.storage.write()?;
        with_dtype!(self.dtype, T => {
            let x = T::from_scalar(v);
            let data = typed_mut::<T>(g.bytes_mut());
            for_each_offset(&self.layout, |o| data[o] = x);
        });
        Ok(())
    }

    // ---------------------------------------------------------------- views

    /// A view with new dims (one may be -1); fails when the strides forbid
    /// a view. See [`crate::layout::compute_stride`] for the rule.
    pub fn view(&self, shape: &[isize]) -> Result<Self> {
        let shape = infer_size(shape, self.numel())?;
        match self.layout.view_as(&shape)? {
            Some(l) => Ok(self.with_layout(l)),
            None => Err(Error::shape(
                "view size is not compatible with input tensor's size and stride (at least one \
                 dimension spans across two contiguous subspaces). Use .reshape(...) instead.",
            )),
        }
    }

    /// As `view` where a view exists (PyTorch's `computeStride` succeeds),
    /// otherwise a contiguous copy with the new shape. Exactly PyTorch's rule.
    pub fn reshape(&self, shape: &[isize]) -> Result<Self> {
        let shape = infer_size(shape, self.numel())?;
        match self.layout.view_as(&shape)? {
            Some(l) => Ok(self.with_layout(l)),
            None => {
                let c = self.contiguous()?;
                let l = Layout::contiguous(&shape)?;
                Ok(c.with_layout(l))
            }
        }
    }

    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Self> {
        Ok(self.with_layout(self.layout.transpose(dim0, dim1)?))
    }

    pub fn t(&self) -> Result<Self> {
        Ok(self.with_layout(self.layout.t()?))
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Self> {
        Ok(self.with_layout(self.layout.permute(dims)?))
    }

    pub fn narrow(&self, dim: isize, start: isize, length: isize) -> Result<Self> {
        Ok(self.with_layout(self.layout.narrow(dim, start, length)?))
    }

    pub fn select(&self, dim: isize, index: isize) -> Result<Self> {
        Ok(self.with_layout(self.layout.select(dim, index)?))
    }

    pub fn expand(&self, sizes: &[isize]) -> Result<Self> {
        Ok(self.with_layout(self.layout.expand(sizes)?))
    }

    pub fn squeeze(&self) -> Self {
        self.with_layout(self.layout.squeeze())
    }

    pub fn squeeze_dim(&self, dim: isize) -> Result<Self> {
        Ok(self.with_layout(self.layout.squeeze_dim(dim)?))
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Self> {
        Ok(self.with_layout(self.layout.unsqueeze(dim)?))
    }

    /// Merges dims `start_dim..=end_dim` into one (a view when `reshape`
    /// would be one).
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Self> {
        if self.ndim() == 0 {
            return self.reshape(&[1]);
        }
        let s = wrap_dim(start_dim, self.ndim())?;
        let e = wrap_dim(end_dim, self.ndim())?;
        if s > e {
            return Err(Error::value(
                "flatten() has invalid args: start_dim cannot come after end_dim",
            ));
        }
        if s == e {
            return Ok(self.clone());
        }
        let shape = self.shape();
        let mut new: Vec<isize> = shape[..s].iter().map(|&d| d as isize).collect();
        new.push(shape[s..=e].iter().product::<usize>() as isize);
        new.extend(shape[e + 1..].iter().map(|&d| d as isize));
        self.reshape(&new)
    }

    /// Any layout over this tensor's storage, checked to stay inside it.
    pub fn as_strided(&self, shape: &[usize], strides: &[isize], offset: usize) -> Result<Self> {
        let layout = Layout::new(shape, strides, offset)?;
        Self::from_parts(Arc::clone(&self.storage), layout, self.dtype, self.device)
    }

    /// `self` if already contiguous (sharing storage), else a row-major copy.
    pub fn contiguous(&self) -> Result<Self> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let out = Self::empty(self.shape(), self.dtype)?;
        {
            let src = self.storage.read()?;
            let mut dst = out.storage.write()?;
            match self.dtype.size() {
                1 => gather_into::<u8>(&src, &self.layout, dst.bytes_mut()),
                2 => gather_into::<u16>(&src, &self.layout, dst.bytes_mut()),
                4 => gather_into::<u32>(&src, &self.layout, dst.bytes_mut()),
                _ => gather_into::<u64>(&src, &self.layout, dst.bytes_mut()),
            }
        }
        Ok(out)
    }
}

/// Copies the elements of `layout` in row-major order, moving raw units of
/// the element's size (a copy needs no knowledge of the dtype).
fn gather_into<U: bytemuck::Pod>(src: &ReadGuard<'_>, layout: &Layout, dst: &mut [u8]) {
    let s: &[U] = bytemuck::cast_slice(src.bytes());
    let d: &mut [U] = bytemuck::cast_slice_mut(dst);
    let mut i = 0;
    for_each_offset(layout, |o| {
        d[i] = s[o];
        i += 1;
    });
}

impl fmt::Debug for TensorImpl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TensorImpl(shape={}, strides={}, offset={}, dtype={}, device={}",
            fmt_shape(self.shape()),
            fmt_shape(self.strides()),
            self.storage_offset(),
            self.dtype,
            self.device
        )?;
        if self.numel() <= 16
            && let Ok(v) = self.to_vec_f64()
        {
            write!(f, ", data={v:?}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_fill_as_pytorch() {
        let t = TensorImpl::arange(0.0, 5.0, 1.0, DType::I64).unwrap();
        assert_eq!(t.to_vec::<i64>().unwrap(), vec![0, 1, 2, 3, 4]);
        let t = TensorImpl::arange(1.0, 2.0, 0.3, DType::F64).unwrap();
        assert_eq!(t.numel(), 4);
        let t = TensorImpl::linspace(0.0, 1.0, 5, DType::F32).unwrap();
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let t = TensorImpl::full(&[2, 2], 7, DType::U8).unwrap();
        assert_eq!(t.to_vec::<u8>().unwrap(), vec![7; 4]);
        let big = i64::MAX - 1;
        let t = TensorImpl::full(&[1], big, DType::I64).unwrap();
        assert_eq!(t.to_vec::<i64>().unwrap(), vec![big]);
        let t = TensorImpl::ones(&[3], DType::Bool).unwrap();
        assert_eq!(t.to_vec::<bool>().unwrap(), vec![true; 3]);
    }

    #[test]
    fn arange_rejects_bad_steps() {
        assert!(TensorImpl::arange(0.0, 1.0, 0.0, DType::F32).is_err());
        assert!(TensorImpl::arange(0.0, 1.0, -1.0, DType::F32).is_err());
        assert!(TensorImpl::arange(0.0, f64::INFINITY, 1.0, DType::F32).is_err());
    }

    #[test]
    fn random_constructors_are_seeded_and_float_only() {
        let a = TensorImpl::rand(&[8], DType::F32, &mut Generator::new(3)).unwrap();
        let b = TensorImpl::rand(&[8], DType::F32, &mut Generator::new(3)).unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        let e = TensorImpl::randn(&[2], DType::I64, &mut Generator::new(0)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DType);
    }

    #[test]
    fn fill_bumps_version_and_is_seen_through_views() {
        let t = TensorImpl::zeros(&[2, 3], DType::F32).unwrap();
        let row = t.select(0, 1).unwrap();
        let v0 = t.version();
        row.fill_(5.0).unwrap();
        assert!(t.version() > v0);
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![0., 0., 0., 5., 5., 5.]);
    }

    #[test]
    fn slice_borrow_blocks_writes() {
        let t = TensorImpl::zeros(&[4], DType::F32).unwrap();
        let s = t.as_slice::<f32>().unwrap();
        assert_eq!(t.fill_(1.0).unwrap_err().kind(), ErrorKind::Borrow);
        drop(s);
        t.fill_(1.0).unwrap();
        assert_eq!(&*t.as_slice::<f32>().unwrap(), &[1.0; 4]);
    }

    #[test]
    fn views_keep_their_storage_after_the_tensor_is_dropped() {
        // Inline (16 f32) and heap (17 f32) storages alike.
        for n in [16usize, 17] {
            let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let t = TensorImpl::from_slice(&v, &[n]).unwrap();
            let tail = t.narrow(0, 1, n as isize - 1).unwrap();
            drop(t);
            assert_eq!(tail.to_vec::<f32>().unwrap(), v[1..]);
            // Two last handles dropped at once on two threads: the storage
            // is freed exactly once, by whichever lets go last (a double
            // free aborts the allocator, a use after free reads garbage).
            for _ in 0..500 {
                let mine = TensorImpl::from_slice(&v, &[n]).unwrap();
                let other = mine.narrow(0, 0, n as isize - 1).unwrap();
                let h = std::thread::spawn(move || other.to_vec::<f32>().unwrap());
                drop(mine);
                assert_eq!(h.join().unwrap(), v[..n - 1]);
            }
        }
    }

    #[test]
    fn as_strided_is_bounds_checked() {
        let t = TensorImpl::zeros(&[10], DType::F32).unwrap();
        assert!(t.as_strided(&[2, 5], &[5, 1], 0).is_ok());
        assert!(t.as_strided(&[2, 5], &[5, 1], 1).is_err());
        assert!(t.as_strided(&[3], &[-1], 1).is_err());
    }

    #[test]
    fn non_cpu_devices_fail_closed() {
        let d: Device = "cuda:0".parse().unwrap();
        let e = TensorImpl::empty_on(&[2], DType::F32, d).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Device);
    }
}
