//! Shape, strides and offset, and every view as a pure rewrite of them.
//!
//! Shapes and strides live inline (no heap allocation per view: candle's
//! per-view `Vec` is a cost we do not copy). Strides are in elements and
//! signed; PyTorch itself never makes a negative stride, and neither does any
//! view here, but kernels accept them.

use crate::error::{Error, ErrorKind, Result, fmt_shape};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The most dimensions a tensor may have. PyTorch allows 64 in principle, but
/// its own kernels (TensorIterator) cap at 25; 16 keeps a layout at 264 bytes.
pub const MAX_DIMS: usize = 16;

/// A fixed-capacity, inline list of per-dimension values.
#[derive(Clone, Copy)]
pub struct DimVec<T: Copy + Default> {
    len: u8,
    data: [T; MAX_DIMS],
}

impl<T: Copy + Default> DimVec<T> {
    #[inline]
    pub fn new() -> Self {
        DimVec {
            len: 0,
            data: [T::default(); MAX_DIMS],
        }
    }

    #[inline]
    pub fn from_slice(values: &[T]) -> Result<Self> {
        if values.len() > MAX_DIMS {
            return Err(too_many_dims(values.len()));
        }
        let mut v = Self::new();
        v.data[..values.len()].copy_from_slice(values);
        v.len = values.len() as u8;
        Ok(v)
    }

    /// `n` copies of `value`.
    #[inline]
    pub fn filled(n: usize, value: T) -> Result<Self> {
        if n > MAX_DIMS {
            return Err(too_many_dims(n));
        }
        let mut v = Self::new();
        v.data[..n].fill(value);
        v.len = n as u8;
        Ok(v)
    }

    pub fn push(&mut self, value: T) -> Result<()> {
        self.insert(self.len(), value)
    }

    pub fn insert(&mut self, index: usize, value: T) -> Result<()> {
        let n = self.len();
        if n == MAX_DIMS {
            return Err(too_many_dims(n + 1));
        }
        assert!(index <= n, "DimVec::insert index {index} > len {n}");
        self.data.copy_within(index..n, index + 1);
        self.data[index] = value;
        self.len += 1;
        Ok(())
    }

    pub fn remove(&mut self, index: usize) -> T {
        let n = self.len();
        assert!(index < n, "DimVec::remove index {index} >= len {n}");
        let v = self.data[index];
        self.data.copy_within(index + 1..n, index);
        self.len -= 1;
        v
    }
}

fn too_many_dims(n: usize) -> Error {
    Error::new(
        ErrorKind::Shape,
        format!("a tensor may have at most {MAX_DIMS} dimensions, but {n} were given"),
    )
}

impl<T: Copy + Default> Default for DimVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default> Deref for DimVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.data[..self.len as usize]
    }
}

impl<T: Copy + Default> DerefMut for DimVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data[..self.len as usize]
    }
}

impl<T: Copy + Default + PartialEq> PartialEq for DimVec<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
impl<T: Copy + Default + Eq> Eq for DimVec<T> {}

impl<T: Copy + Default + fmt::Debug> fmt::Debug for DimVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The most elements a tensor can have: 2^56 - 1 (64 Pi elements, far
/// beyond any memory). A [`Layout`] keeps its element count in the low 56
/// bits of a word whose top byte holds the dim count and contiguity, so
/// that a `Layout` is 88 bytes and a dispatch `Tensor` 128 (a move of
/// one is then a few vector moves in line, where 136 bytes was a `memcpy`
/// call). PyTorch's own bound is 2^63 - 1; a tensor between the two could
/// only be a view with zero strides (no memory holds one), and fails here.
pub const MAX_NUMEL: usize = (1 << 56) - 1;

/// Checked product of a shape: at most [`MAX_NUMEL`].
#[inline]
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .ok_or_else(|| Error::overflow(shape, "the number of elements"))?;
    }
    if n > MAX_NUMEL {
        return Err(Error::overflow(shape, "the number of elements"));
    }
    Ok(n)
}

/// Checked byte size of `numel` elements of `elem_size` bytes.
#[inline]
pub fn checked_nbytes(shape: &[usize], elem_size: usize) -> Result<usize> {
    let n = checked_numel(shape)?;
    match n.checked_mul(elem_size) {
        Some(b) if b <= isize::MAX as usize => Ok(b),
        _ => Err(Error::overflow(shape, "the byte size")),
    }
}

/// Wraps a possibly negative dim into `0..ndim` as PyTorch's
/// `maybe_wrap_dim`: a 0-dim tensor accepts dims -1 and 0.
pub fn wrap_dim(dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    let wrapped = if dim < 0 { dim + n } else { dim };
    if wrapped < 0 || wrapped >= n {
        return Err(Error::dim_out_of_range(dim, ndim.max(1)));
    }
    Ok(wrapped as usize)
}

/// Dims a layout keeps inline; more spill to one shared heap block. Four
/// covers NCHW and everything smaller, and keeps a `TensorImpl` small
/// enough that moving one does not call `memcpy` (a 16-dim inline layout
/// made every move of a tensor two `memcpy` calls; see
/// `perf-artifacts/dispatch-v1-latency.md`).
const INLINE_DIMS: usize = 4;

/// The dims of a layout with more than `INLINE_DIMS` of them, shared by
/// the layouts cloned from it.
type HeapDims = Arc<(DimVec<usize>, DimVec<isize>)>;

/// `Layout::count`: the element count in the low bits (at most
/// [`MAX_NUMEL`]), the dim count from bit `NDIM_SHIFT` (at most
/// `MAX_DIMS`), contiguity in the top bit.
const NDIM_SHIFT: u32 = 56;
const CONTIGUOUS_BIT: usize = 1 << 63;
const _: () = assert!(MAX_DIMS < 1 << 7 && MAX_NUMEL == (1 << NDIM_SHIFT) - 1);

/// The `Layout::count` word of `numel` elements in `ndim` dims.
#[inline(always)]
const fn count_word(numel: usize, ndim: usize, contiguous: bool) -> usize {
    numel | ndim << NDIM_SHIFT | if contiguous { CONTIGUOUS_BIT } else { 0 }
}

/// A layout being built or rewritten: shape and strides as `DimVec`s.
struct Parts {
    shape: DimVec<usize>,
    strides: DimVec<isize>,
    offset: usize,
}

impl Parts {
    /// The layout of these parts, with its caches computed.
    #[inline]
    fn build(self) -> Layout {
        let n = self.shape.len();
        let contiguous = compute_contiguous(&self.shape, &self.strides);
        let numel: usize = self.shape.iter().product();
        // Every shape reaching here was checked (`checked_numel`) or has
        // the element count of one that was.
        debug_assert!(numel <= MAX_NUMEL);
        let count = count_word(numel, n, contiguous);
        let (mut shape, mut strides) = ([0usize; INLINE_DIMS], [0isize; INLINE_DIMS]);
        let heap = if n <= INLINE_DIMS {
            shape[..n].copy_from_slice(&self.shape);
            strides[..n].copy_from_slice(&self.strides);
            None
        } else {
            Some(Arc::new((self.shape, self.strides)))
        };
        Layout {
            shape,
            strides,
            count,
            heap,
            offset: self.offset,
        }
    }
}

/// Shape, strides (in elements) and storage offset (in elements), with
/// the element count and contiguity computed once per layout (every op asks
/// for them; they are functions of shape and strides, so equality is
/// unaffected). The count is a field, not the product of the inline shape:
/// computing it on each call (a chain of multiplications, four calls per
/// `add_out`) made `add_out` 20% slower.
///
/// Every field is a whole word (the element count, the dim count and the
/// contiguity flag share one: 88 bytes in all), so a `Layout` is written
/// and moved in 8- and 16-byte pieces that line up: the enum it replaced
/// kept two flag bytes beside its tag, and the compiler copied it from
/// byte 1 or 3 with unaligned 16-byte moves whose loads could not be
/// forwarded from the stores that built it (a stall of its own on every
/// move; `Layout::contiguous(&[16])` took 25 ns).
#[derive(Clone, PartialEq, Eq)]
pub struct Layout {
    /// The first `ndim` dims when there are at most `INLINE_DIMS` of them;
    /// the unused tail (all of it, when `heap` holds the dims) is zero.
    shape: [usize; INLINE_DIMS],
    strides: [isize; INLINE_DIMS],
    offset: usize,
    /// Element count, dim count and contiguity in one word (`count_word`).
    count: usize,
    /// The dims when there are more than `INLINE_DIMS`.
    heap: Option<HeapDims>,
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Layout(shape={:?}, strides={:?}, offset={})",
            self.shape(),
            self.strides(),
            self.offset
        )
    }
}

/// Row-major strides for `shape`, as PyTorch computes them: a size-0 dim
/// counts as 1 so that strides stay meaningful.
#[inline]
pub fn contiguous_strides(shape: &[usize]) -> Result<DimVec<isize>> {
    let mut strides = DimVec::filled(shape.len(), 0isize)?;
    fill_contiguous_strides(shape, &mut strides)?;
    Ok(strides)
}

/// Writes the row-major strides of `shape` into `strides[..shape.len()]`.
#[inline]
fn fill_contiguous_strides(shape: &[usize], strides: &mut [isize]) -> Result<()> {
    let mut acc: isize = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc
            .checked_mul(shape[i].max(1) as isize)
            .ok_or_else(|| Error::overflow(shape, "the stride"))?;
    }
    Ok(())
}

fn compute_contiguous(shape: &[usize], strides: &[isize]) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut expected: isize = 1;
    for i in (0..shape.len()).rev() {
        let size = shape[i];
        if size != 1 {
            if strides[i] != expected {
                return false;
            }
            expected *= size as isize;
        }
    }
    true
}

/// [`Layout::contiguous_numel`] for any shape, every product checked: the
/// shapes of more than four dims, and the errors.
#[inline(never)]
fn contiguous_numel_general(shape: &[usize]) -> Result<usize> {
    if shape.len() > MAX_DIMS {
        return Err(too_many_dims(shape.len()));
    }
    let numel = checked_numel(shape)?;
    contiguous_strides(shape)?;
    Ok(numel)
}

impl Layout {
    /// A row-major layout at offset 0.
    #[inline(always)]
    pub fn contiguous(shape: &[usize]) -> Result<Self> {
        let numel = Self::contiguous_numel(shape)?;
        Ok(Self::contiguous_checked(shape, numel))
    }

    /// What [`Layout::contiguous`] checks, alone: `shape`'s element count,
    /// or the error that `contiguous` would return. A caller that makes
    /// the layout later with `Layout::contiguous_checked` builds it in its
    /// final place: a layout returned in a `Result` was written with 8-byte
    /// stores and read back in 16-byte pieces to be moved (a
    /// store-forwarding stall on every small op's output).
    #[inline(always)]
    pub fn contiguous_numel(shape: &[usize]) -> Result<usize> {
        let n = shape.len();
        if n > INLINE_DIMS {
            return contiguous_numel_general(shape);
        }
        // The element count, and the running stride (each dim counted as
        // at least 1, as PyTorch does), in unsigned arithmetic over a fixed
        // four slots (unrolled): the strides are the running products,
        // which never exceed the last one, so that one fitting an `isize`
        // is the whole check (the dims padded with ones). Any overflow goes
        // to the general path, which reports it.
        let mut dims = [1usize; INLINE_DIMS];
        for (i, d) in dims.iter_mut().enumerate() {
            if i < n {
                *d = shape[i];
            }
        }
        let (mut numel, mut acc, mut overflow) = (1usize, 1usize, false);
        for d in dims {
            let (m, o1) = numel.overflowing_mul(d);
            let (a, o2) = acc.overflowing_mul(d.max(1));
            (numel, acc, overflow) = (m, a, overflow | o1 | o2);
        }
        if overflow || numel > MAX_NUMEL || acc > isize::MAX as usize {
            return contiguous_numel_general(shape);
        }
        Ok(numel)
    }

    /// The row-major layout of `shape`, whose element count
    /// [`Layout::contiguous_numel`] returned as `numel` (so nothing here
    /// can overflow). Both loops run a fixed four times (unrolled, no
    /// `memcpy` for a length known only at run time).
    #[inline(always)]
    pub(crate) fn contiguous_checked(shape: &[usize], numel: usize) -> Self {
        debug_assert_eq!(Self::contiguous_numel(shape).ok(), Some(numel));
        let n = shape.len();
        if n > INLINE_DIMS {
            return Self::contiguous_general(shape).expect("checked by contiguous_numel");
        }
        let mut sh = [0usize; INLINE_DIMS];
        let mut st = [0isize; INLINE_DIMS];
        let mut acc = 1usize;
        for i in (0..INLINE_DIMS).rev() {
            if i < n {
                sh[i] = shape[i];
                st[i] = acc as isize;
                acc = acc.wrapping_mul(shape[i].max(1));
            }
        }
        Layout {
            shape: sh,
            strides: st,
            offset: 0,
            count: count_word(numel, n, true),
            heap: None,
        }
    }

    /// [`Layout::contiguous`] for any shape, every product checked: the
    /// layouts of more than four dims.
    #[inline(never)]
    fn contiguous_general(shape: &[usize]) -> Result<Self> {
        contiguous_numel_general(shape)?;
        Ok(Parts {
            shape: DimVec::from_slice(shape)?,
            strides: contiguous_strides(shape)?,
            offset: 0,
        }
        .build())
    }

    /// Any layout. The caller (`TensorImpl::as_strided`) checks it against
    /// the storage; here only the arithmetic is checked.
    pub fn new(shape: &[usize], strides: &[isize], offset: usize) -> Result<Self> {
        if shape.len() != strides.len() {
            return Err(Error::shape(format!(
                "mismatch in length of strides and shape: {} vs {}",
                strides.len(),
                shape.len()
            )));
        }
        checked_numel(shape)?;
        let l = Parts {
            shape: DimVec::from_slice(shape)?,
            strides: DimVec::from_slice(strides)?,
            offset,
        }
        .build();
        l.offset_range()?;
        Ok(l)
    }

    #[inline]
    pub fn shape(&self) -> &[usize] {
        match &self.heap {
            None => &self.shape[..self.ndim()],
            Some(dims) => &dims.0,
        }
    }

    #[inline]
    pub fn strides(&self) -> &[isize] {
        match &self.heap {
            None => &self.strides[..self.ndim()],
            Some(dims) => &dims.1,
        }
    }

    /// Shape, strides and offset to rewrite into a new layout.
    fn parts(&self) -> Parts {
        Parts {
            shape: DimVec::from_slice(self.shape()).expect("a layout has at most MAX_DIMS dims"),
            strides: DimVec::from_slice(self.strides())
                .expect("a layout has at most MAX_DIMS dims"),
            offset: self.offset,
        }
    }

    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    #[inline]
    pub fn ndim(&self) -> usize {
        (self.count & !CONTIGUOUS_BIT) >> NDIM_SHIFT
    }

    /// Never overflows: every constructor checked the product.
    #[inline]
    pub fn numel(&self) -> usize {
        let numel = self.count & MAX_NUMEL;
        debug_assert_eq!(numel, self.shape().iter().product::<usize>());
        numel
    }

    /// PyTorch's definition: strides match row-major order, ignoring dims of
    /// size 1; a tensor with no elements is contiguous.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        let contiguous = self.count & CONTIGUOUS_BIT != 0;
        debug_assert_eq!(contiguous, compute_contiguous(self.shape(), self.strides()));
        contiguous
    }

    /// The lowest and highest element offsets this layout touches, or `None`
    /// when it has no elements. Errors if the span overflows.
    pub fn offset_range(&self) -> Result<Option<(isize, isize)>> {
        if self.numel() == 0 {
            return Ok(None);
        }
        let overflow = || Error::overflow(self.shape(), "the storage span");
        let base = isize::try_from(self.offset).map_err(|_| overflow())?;
        let (mut lo, mut hi) = (base, base);
        for (&size, &stride) in self.shape().iter().zip(self.strides().iter()) {
            let reach = (size as isize - 1)
                .checked_mul(stride)
                .ok_or_else(overflow)?;
            if reach < 0 {
                lo = lo.checked_add(reach).ok_or_else(overflow)?;
            } else {
                hi = hi.checked_add(reach).ok_or_else(overflow)?;
            }
        }
        Ok(Some((lo, hi)))
    }

    /// Element offset of a multi-index (assumed in range).
    pub fn offset_of(&self, index: &[usize]) -> isize {
        let mut o = self.offset as isize;
        for (i, &s) in index.iter().zip(self.strides().iter()) {
            o += *i as isize * s;
        }
        o
    }

    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Self> {
        let n = self.ndim();
        let (a, b) = (wrap_dim(dim0, n)?, wrap_dim(dim1, n)?);
        let mut out = self.parts();
        if n > 0 {
            out.shape.swap(a, b);
            out.strides.swap(a, b);
        }
        Ok(out.build())
    }

    /// `t()`: transpose of a 2-D tensor; 0-D and 1-D are returned as is.
    pub fn t(&self) -> Result<Self> {
        if self.ndim() > 2 {
            return Err(Error::shape(format!(
                "t() expects a tensor with <= 2 dimensions, but self is {}D",
                self.ndim()
            )));
        }
        if self.ndim() < 2 {
            return Ok(self.clone());
        }
        self.transpose(0, 1)
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Self> {
        let n = self.ndim();
        if dims.len() != n {
            return Err(Error::shape(format!(
                "permute(sparse_coo): number of dimensions in the tensor input does not match \
                 the length of the desired ordering of dimensions i.e. input.dim() = {n} is not \
                 equal to len(dims) = {}",
                dims.len()
            )));
        }
        let mut seen = [false; MAX_DIMS];
        let mut out = self.parts();
        for (i, &d) in dims.iter().enumerate() {
            let w = wrap_dim(d, n)?;
            if seen[w] {
                return Err(Error::value("permute(): duplicate dims are not allowed."));
            }
            seen[w] = true;
            out.shape[i] = self.shape()[w];
            out.strides[i] = self.strides()[w];
        }
        Ok(out.build())
    }

    pub fn narrow(&self, dim: isize, start: isize, length: isize) -> Result<Self> {
        if self.ndim() == 0 {
            return Err(Error::shape(
                "narrow() cannot be applied to a 0-dim tensor.",
            ));
        }
        if length < 0 {
            return Err(Error::value("narrow(): length must be non-negative."));
        }
        let d = wrap_dim(dim, self.ndim())?;
        let size = self.shape()[d] as isize;
        if start < -size || start > size {
            return Err(Error::new(
                ErrorKind::Index,
                format!(
                    "start out of range (expected to be in range of [{}, {size}], but got {start})",
                    -size
                ),
            ));
        }
        let start = if start < 0 { start + size } else { start };
        if start + length > size {
            // PyTorch: TORCH_CHECK, a RuntimeError (the start check above is
            // TORCH_CHECK_INDEX, an IndexError).
            return Err(Error::shape(format!(
                "start ({start}) + length ({length}) exceeds dimension size ({size})."
            )));
        }
        let mut out = self.parts();
        out.shape[d] = length as usize;
        // The offset moves even for an empty result, as PyTorch's does.
        out.offset = self.shifted_offset(start * self.strides()[d])?;
        Ok(out.build())
    }

    pub fn select(&self, dim: isize, index: isize) -> Result<Self> {
        if self.ndim() == 0 {
            return Err(Error::new(
                ErrorKind::Index,
                "select() cannot be applied to a 0-dim tensor.",
            ));
        }
        let d = wrap_dim(dim, self.ndim())?;
        let size = self.shape()[d] as isize;
        if index < -size || index >= size {
            return Err(Error::new(
                ErrorKind::Index,
                format!(
                    "select(): index {index} out of range for tensor of size {} at dimension {d}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let index = if index < 0 { index + size } else { index };
        let mut out = self.parts();
        out.offset = self.shifted_offset(index * self.strides()[d])?;
        out.shape.remove(d);
        out.strides.remove(d);
        Ok(out.build())
    }

    /// `offset + delta`, which views only ever move inside the storage.
    fn shifted_offset(&self, delta: isize) -> Result<usize> {
        let o = self.offset as isize + delta;
        usize::try_from(o).map_err(|_| Error::value("view offset would be negative"))
    }

    /// `expand(sizes)`: -1 keeps a size; size-1 dims and new leading dims
    /// broadcast with stride 0.
    pub fn expand(&self, sizes: &[isize]) -> Result<Self> {
        let n = self.ndim();
        if sizes.len() < n {
            return Err(Error::shape(format!(
                "expand({}, size={}): the number of sizes provided ({}) must be greater or \
                 equal to the number of dimensions in the tensor ({n})",
                fmt_shape(self.shape()),
                fmt_shape(sizes),
                sizes.len()
            )));
        }
        let lead = sizes.len() - n;
        let mut shape = DimVec::filled(sizes.len(), 0usize)?;
        let mut strides = DimVec::filled(sizes.len(), 0isize)?;
        // From the last dim, as PyTorch's inferExpandGeometry (so its error
        // names the same dim).
        for (i, &target) in sizes.iter().enumerate().rev() {
            if i < lead {
                if target < 0 {
                    return Err(Error::shape(format!(
                        "The expanded size of the tensor ({target}) isn't allowed in a \
                         leading, non-existing dimension {i}"
                    )));
                }
                shape[i] = target as usize;
                strides[i] = 0;
                continue;
            }
            let (size, stride) = (self.shape()[i - lead], self.strides()[i - lead]);
            if target == -1 || (target >= 0 && target as usize == size) {
                shape[i] = size;
                strides[i] = stride;
            } else if size == 1 && target >= 0 {
                shape[i] = target as usize;
                strides[i] = 0;
            } else {
                return Err(Error::shape(format!(
                    "The expanded size of the tensor ({target}) must match the existing size \
                     ({size}) at non-singleton dimension {i}.  Target sizes: {}.  Tensor \
                     sizes: {}",
                    fmt_shape(sizes),
                    fmt_shape(self.shape())
                )));
            }
        }
        checked_numel(&shape)?;
        Ok(Parts {
            shape,
            strides,
            offset: self.offset,
        }
        .build())
    }

    /// Removes every dim of size 1.
    pub fn squeeze(&self) -> Self {
        let mut out = Parts {
            shape: DimVec::new(),
            strides: DimVec::new(),
            offset: self.offset,
        };
        for (&s, &st) in self.shape().iter().zip(self.strides().iter()) {
            if s != 1 {
                // Cannot fail: never more dims than the input.
                let _ = out.shape.push(s);
                let _ = out.strides.push(st);
            }
        }
        out.build()
    }

    /// Removes `dim` if its size is 1; otherwise returns the layout as is.
    pub fn squeeze_dim(&self, dim: isize) -> Result<Self> {
        let d = wrap_dim(dim, self.ndim())?;
        let mut out = self.parts();
        if self.ndim() > 0 && self.shape()[d] == 1 {
            out.shape.remove(d);
            out.strides.remove(d);
        }
        Ok(out.build())
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Self> {
        let n = self.ndim();
        let d = wrap_dim(dim, n + 1)?;
        // PyTorch's choice of stride for the new dim keeps contiguity.
        let stride = if d >= n {
            1
        } else {
            self.shape()[d] as isize * self.strides()[d]
        };
        let mut out = self.parts();
        out.shape.insert(d, 1)?;
        out.strides.insert(d, stride)?;
        Ok(out.build())
    }

    /// The layout of `view(shape)`, or `None` when the strides forbid a view
    /// (then `reshape` copies). `shape` must already be inferred.
    pub fn view_as(&self, shape: &[usize]) -> Result<Option<Self>> {
        Ok(
            compute_stride(self.shape(), self.strides(), shape)?.map(|strides| {
                Parts {
                    shape: DimVec::from_slice(shape).expect("checked by compute_stride"),
                    strides,
                    offset: self.offset,
                }
                .build()
            }),
        )
    }
}

/// PyTorch's `infer_size`: resolves one `-1` and checks the element count.
pub fn infer_size(shape: &[isize], numel: usize) -> Result<DimVec<usize>> {
    let mut out = DimVec::filled(shape.len(), 0usize)?;
    let mut infer: Option<usize> = None;
    let mut known: usize = 1;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                return Err(Error::shape("only one dimension can be inferred"));
            }
            infer = Some(i);
        } else if d >= 0 {
            out[i] = d as usize;
            known = known.checked_mul(d as usize).ok_or_else(|| {
                Error::new(
                    ErrorKind::Overflow,
                    format!("shape '{}' overflows", fmt_shape(shape)),
                )
            })?;
        } else {
            return Err(Error::shape(format!("invalid shape dimension {d}")));
        }
    }
    let invalid = || {
        Error::shape(format!(
            "shape '{}' is invalid for input of size {numel}",
            fmt_shape(shape)
        ))
    };
    match infer {
        None if known == numel => Ok(out),
        None => Err(invalid()),
        Some(i) => {
            if known == 0 {
                // numel == 0 with another zero dim: -1 could be anything.
                if numel == 0 {
                    return Err(Error::shape(format!(
                        "cannot reshape tensor of 0 elements into shape {} because the \
                         unspecified dimension size -1 can be any value and is ambiguous",
                        fmt_shape(shape)
                    )));
                }
                return Err(invalid());
            }
            if !numel.is_multiple_of(known) {
                return Err(invalid());
            }
            out[i] = numel / known;
            Ok(out)
        }
    }
}

/// PyTorch's `computeStride` (ATen TensorUtils.cpp): the strides that let
/// `newshape` view the same elements in the same row-major order, or `None`.
///
/// The rule: split the old dims into chunks that are contiguous among
/// themselves (`stride[d-1] == size[d] * stride[d]`, size-1 dims ignored).
/// A view exists exactly when every new dim falls inside one chunk, i.e. the
/// new shape splits or merges dims only within chunks. With no elements any
/// shape is a view (strides as if freshly resized).
pub fn compute_stride(
    oldshape: &[usize],
    oldstride: &[isize],
    newshape: &[usize],
) -> Result<Option<DimVec<isize>>> {
    let mut newstride = DimVec::filled(newshape.len(), 0isize)?;
    if oldshape.is_empty() {
        newstride.fill(1);
        return Ok(Some(newstride));
    }
    let numel: usize = oldshape.iter().product();
    if numel == 0 {
        if oldshape == newshape {
            return Ok(Some(DimVec::from_slice(oldstride)?));
        }
        return contiguous_strides(newshape).map(Some);
    }
    let mut view_d = newshape.len() as isize - 1;
    let mut chunk_base_stride = *oldstride.last().expect("non-empty");
    let mut tensor_numel: usize = 1;
    let mut view_numel: usize = 1;
    for tensor_d in (0..oldshape.len()).rev() {
        tensor_numel *= oldshape[tensor_d];
        let chunk_ends = tensor_d == 0
            || (oldshape[tensor_d - 1] != 1
                && oldstride[tensor_d - 1] != tensor_numel as isize * chunk_base_stride);
        if chunk_ends {
            while view_d >= 0 && (view_numel < tensor_numel || newshape[view_d as usize] == 1) {
                newstride[view_d as usize] = view_numel as isize * chunk_base_stride;
                view_numel *= newshape[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return Ok(None);
            }
            if tensor_d > 0 {
                chunk_base_stride = oldstride[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if view_d != -1 {
        return Ok(None);
    }
    Ok(Some(newstride))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unrolled path of `contiguous` (up to four dims) against the
    /// general one, which checks every product: the same layouts and the
    /// same errors, over every shape of one to four dims drawn from sizes
    /// that include zero and ones that overflow alone or together.
    #[test]
    fn contiguous_fast_path_agrees_with_the_checked_one() {
        let sizes = [
            0,
            1,
            3,
            7,
            1 << 20,
            1 << 28,
            1 << 40,
            MAX_NUMEL,
            isize::MAX as usize,
            usize::MAX,
        ];
        let mut shapes: Vec<Vec<usize>> = vec![vec![]];
        for _ in 0..INLINE_DIMS {
            let longer: Vec<Vec<usize>> = shapes
                .iter()
                .filter(|s| s.len() == shapes.last().map_or(0, Vec::len))
                .flat_map(|s| sizes.iter().map(move |&d| [s.as_slice(), &[d]].concat()))
                .collect();
            shapes.extend(longer);
        }
        assert_eq!(shapes.len(), 1 + 10 + 100 + 1000 + 10_000);
        for shape in &shapes {
            let fast = Layout::contiguous(shape);
            let general = Layout::contiguous_general(shape);
            match (&fast, &general) {
                (Ok(f), Ok(g)) => assert_eq!(f, g, "{shape:?}"),
                (Err(f), Err(g)) => assert_eq!(f.to_string(), g.to_string(), "{shape:?}"),
                _ => panic!("{shape:?}: {fast:?} vs {general:?}"),
            }
            let numel = Layout::contiguous_numel(shape).map_err(|e| e.to_string());
            assert_eq!(numel, fast.map(|l| l.numel()).map_err(|e| e.to_string()));
        }
    }

    #[test]
    fn numel_overflow_is_an_error() {
        let e = checked_numel(&[usize::MAX, 2]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Overflow);
        assert!(checked_nbytes(&[1 << 61], 8).is_err());
        assert!(Layout::contiguous(&[1 << 32, 1 << 32]).is_err());
    }

    #[test]
    fn the_count_word_keeps_numel_ndim_and_contiguity_apart() {
        // At the element limit: the count does not spill into the dim
        // count, and one more element is an overflow error.
        let l = Layout::contiguous(&[MAX_NUMEL]).unwrap();
        assert_eq!(
            (l.numel(), l.ndim(), l.is_contiguous()),
            (MAX_NUMEL, 1, true)
        );
        assert_eq!(
            checked_numel(&[MAX_NUMEL + 1]).unwrap_err().kind(),
            ErrorKind::Overflow
        );
        assert!(Layout::contiguous(&[1 << 28, 1 << 28]).is_err());
        // Every dim count up to the limit, inline and on the heap, with
        // and without contiguity; an expanded view at the element limit.
        for n in 0..=MAX_DIMS {
            let shape = vec![1usize; n];
            let l = Layout::contiguous(&shape).unwrap();
            assert_eq!((l.numel(), l.ndim(), l.is_contiguous()), (1, n, true));
            let mut shape = vec![2usize; n];
            let mut strides = vec![0isize; n];
            if n > 0 {
                shape[0] = 3;
                strides[0] = 1;
            }
            let l = Layout::new(&shape, &strides, 5).unwrap();
            let numel = shape.iter().product::<usize>();
            assert_eq!((l.numel(), l.ndim()), (numel, n));
            assert_eq!(l.is_contiguous(), n <= 1, "{n} dims");
        }
        let l = Layout::new(&[1 << 28, (1 << 28) - 1], &[0, 0], 0).unwrap();
        assert_eq!(
            (l.numel(), l.ndim(), l.is_contiguous()),
            ((1 << 56) - (1 << 28), 2, false)
        );
    }

    #[test]
    fn infer_size_messages() {
        assert_eq!(
            infer_size(&[2, 5], 9).unwrap_err().to_string(),
            "shape '[2, 5]' is invalid for input of size 9"
        );
        assert_eq!(
            infer_size(&[-1, -1], 4).unwrap_err().to_string(),
            "only one dimension can be inferred"
        );
        assert_eq!(&*infer_size(&[-1, 3], 12).unwrap(), &[4, 3]);
        assert!(infer_size(&[0, -1], 0).is_err());
    }

    #[test]
    fn compute_stride_splits_and_merges_within_chunks_only() {
        // Contiguous [2, 3, 4] -> [6, 4]: one chunk, a view.
        let s = compute_stride(&[2, 3, 4], &[12, 4, 1], &[6, 4]).unwrap();
        assert_eq!(&*s.unwrap(), &[4, 1]);
        // Transposed [3, 2] (strides [1, 3]) -> [6]: no view.
        assert!(compute_stride(&[3, 2], &[1, 3], &[6]).unwrap().is_none());
    }

    #[test]
    fn too_many_dims_is_an_error() {
        let shape = [1usize; MAX_DIMS + 1];
        assert!(Layout::contiguous(&shape).is_err());
        let l = Layout::contiguous(&[1; MAX_DIMS]).unwrap();
        assert!(l.unsqueeze(0).is_err());
    }
}
