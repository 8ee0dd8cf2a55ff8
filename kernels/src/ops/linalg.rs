//! Matrix products on tensors, with PyTorch's shape rules, dtype rules and
//! error messages: `mm`, `bmm`, `matmul`, `addmm`, `linear`, `dot`, `mv`
//! and their `_out` forms, on [`crate::gemm`].
//!
//! f32 and f64 run the GEMM directly; f16 and bf16 are widened to f32, the
//! product accumulates in f32 and is rounded once; integer dtypes use an
//! exact (wrapping) i64 loop, as PyTorch's CPU kernels support them; bool
//! is rejected as PyTorch rejects it.

use crate::gemm::{GemmElem, MatMut, MatRef, SMALL, gemm, gemm_bf16_out, gemm_f16_out};
use crate::iter::copy_of;
use crate::ops::unary::copy_;
use ft_core::error::fmt_shape;
use ft_core::{DType, Element, Error, ErrorKind, Result, Scalar, TensorImpl};

fn shape_err(msg: String) -> Error {
    Error::new(ErrorKind::Shape, msg)
}

fn check_dtype_supported(d: DType) -> Result<()> {
    if d == DType::Bool {
        return Err(Error::new(
            ErrorKind::DType,
            "\"addmm_impl_cpu_\" not implemented for 'Bool'",
        ));
    }
    Ok(())
}

fn check_cpu(ts: &[&TensorImpl]) -> Result<()> {
    for t in ts {
        t.device().check_executable()?;
    }
    Ok(())
}

/// `self @ mat2` for two matrices.
///
/// ```
/// use ft_core::TensorImpl;
/// let a = TensorImpl::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let b = TensorImpl::from_slice(&[5.0f32, 6.0, 7.0, 8.0], &[2, 2])?;
/// let c = ft_kernels::mm(&a, &b)?;
/// assert_eq!(c.to_vec::<f32>()?, [19.0, 22.0, 43.0, 50.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn mm(a: &TensorImpl, b: &TensorImpl) -> Result<TensorImpl> {
    check_mm(a, b)?;
    let out = product_out(&[a.shape()[0], b.shape()[1]], a.dtype())?;
    product_into(&out, None, a, b, Scalar::Int(0), Scalar::Int(1), true)?;
    Ok(out)
}

/// `mm` into `out`, which must have the result's shape and dtype.
pub fn mm_out(out: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    // PyTorch checks `out`'s dtype against self's before the operands'.
    if out.dtype() != a.dtype() {
        return Err(super::out_dtype_expected(a.dtype(), out.dtype()));
    }
    check_mm(a, b)?;
    check_out(out, &[a.shape()[0], b.shape()[1]], a.dtype())?;
    product_into(out, None, a, b, Scalar::Int(0), Scalar::Int(1), true)
}

/// A fresh contiguous output for `mm`, `addmm` or `bmm`. A float one is
/// not zeroed first (a pass over memory the product overwrites):
/// [`product_into`] and [`bmm_into`] write every element of such an output
/// before anything reads it: the f32/f64 GEMM writes C whole when beta is
/// zero (empty depth included: it fills zeros); the bf16 and f16 ones
/// compute into f32 accumulators written the same way and then round
/// every one of them into C (`gemm_bf16_out`, `gemm_f16_out`); and
/// `addmm` with a non-zero beta first copies `input`, broadcast, over all
/// of it. Integer dtypes take paths not proven so: they get zeros.
fn product_out(shape: &[usize], dtype: DType) -> Result<TensorImpl> {
    match dtype {
        // SAFETY: see above; every element is written before it is read.
        DType::F32 | DType::F64 | DType::BF16 | DType::F16 => unsafe {
            TensorImpl::uninit(shape, dtype)
        },
        _ => TensorImpl::empty(shape, dtype),
    }
}

fn check_mm(a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    check_cpu(&[a, b])?;
    check_matrices("mm", a, b)?;
    if a.dtype() != b.dtype() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "expected m1 and m2 to have the same dtype, but got: {} != {}",
                super::cpp_type_name(a.dtype()),
                super::cpp_type_name(b.dtype())
            ),
        ));
    }
    check_dtype_supported(a.dtype())
}

/// `op`'s operands are two matrices that chain, with PyTorch's messages
/// (it names the first `self` when it is not 2-D, `mat1` in the shape
/// message).
fn check_matrices(op: &str, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    for (t, name) in [(a, "self"), (b, "mat2")] {
        if t.ndim() != 2 {
            return Err(shape_err(format!(
                "{op}: {name} must be a matrix, got {}-D tensor",
                t.ndim()
            )));
        }
    }
    if a.shape()[1] != b.shape()[0] {
        return Err(shape_err(format!(
            "{op}: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
            a.shape()[0],
            a.shape()[1],
            b.shape()[0],
            b.shape()[1]
        )));
    }
    Ok(())
}

fn check_out(out: &TensorImpl, shape: &[usize], dtype: DType) -> Result<()> {
    out.device().check_executable()?;
    if out.dtype() != dtype {
        return Err(super::out_dtype_expected(dtype, out.dtype()));
    }
    if out.shape() != shape {
        return Err(shape_err(format!(
            "output with shape {} doesn't match the result shape {}",
            fmt_shape(out.shape()),
            fmt_shape(shape)
        )));
    }
    Ok(())
}

/// `beta * self + alpha * (mat1 @ mat2)`, `self` broadcast to the product's
/// shape. With `beta` zero, `self` is ignored (NaN in it does not reach
/// the result).
///
/// ```
/// use ft_core::TensorImpl;
/// let bias = TensorImpl::from_slice(&[10.0f32, 20.0], &[2])?;
/// let a = TensorImpl::from_slice(&[1.0f32, 2.0], &[1, 2])?;
/// let eye = TensorImpl::from_slice(&[1.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
/// let y = ft_kernels::addmm(&bias, &a, &eye, 1.0.into(), 2.0.into())?;
/// assert_eq!(y.to_vec::<f32>()?, [12.0, 24.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn addmm(
    input: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    beta: Scalar,
    alpha: Scalar,
) -> Result<TensorImpl> {
    check_addmm(input, a, b)?;
    let out = product_out(&[a.shape()[0], b.shape()[1]], a.dtype())?;
    product_into(&out, Some(input), a, b, beta, alpha, true)?;
    Ok(out)
}

/// `addmm` into `out` (which may be `input` itself: `addmm_`).
pub fn addmm_out(
    out: &TensorImpl,
    input: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    beta: Scalar,
    alpha: Scalar,
) -> Result<()> {
    check_addmm(input, a, b)?;
    check_out(out, &[a.shape()[0], b.shape()[1]], a.dtype())?;
    product_into(out, Some(input), a, b, beta, alpha, true)
}

fn check_addmm(input: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    check_cpu(&[input, a, b])?;
    check_matrices("addmm", a, b)?;
    let target = [a.shape()[0] as isize, b.shape()[1] as isize];
    input.expand(&target)?;
    let same = |what: &str, x: DType| -> Result<()> {
        if x == b.dtype() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::DType,
            format!(
                "{what} and mat2 must have the same dtype, but got {} and {}",
                x.scalar_type_name(),
                b.dtype().scalar_type_name()
            ),
        ))
    };
    same("self", input.dtype())?;
    same("mat1", a.dtype())?;
    check_dtype_supported(a.dtype())
}

/// `input.addmm_(a, b, beta, alpha)`: in place, so `input` must already
/// have the product's shape (no broadcasting into it).
pub fn addmm_(
    input: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    beta: Scalar,
    alpha: Scalar,
) -> Result<()> {
    if a.ndim() == 2 && b.ndim() == 2 && input.shape() != [a.shape()[0], b.shape()[1]] {
        return Err(shape_err(format!(
            "Bad in-place call: input tensor size {} and output tensor size [{}, {}] should match",
            fmt_shape(input.shape()),
            a.shape()[0],
            b.shape()[1]
        )));
    }
    addmm_out(input, input, a, b, beta, alpha)
}

/// Batched `self @ mat2`: `[b, n, k] @ [b, k, m] -> [b, n, m]`.
///
/// ```
/// use ft_core::TensorImpl;
/// let a = TensorImpl::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 1, 2])?;
/// let b = TensorImpl::from_slice(&[1.0f32, 1.0, 2.0, 0.0], &[2, 2, 1])?;
/// assert_eq!(ft_kernels::bmm(&a, &b)?.to_vec::<f32>()?, [3.0, 6.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn bmm(a: &TensorImpl, b: &TensorImpl) -> Result<TensorImpl> {
    check_bmm(a, b)?;
    let out = product_out(&[a.shape()[0], a.shape()[1], b.shape()[2]], a.dtype())?;
    bmm_into(&out, a, b)?;
    Ok(out)
}

/// `bmm` into `out`.
pub fn bmm_out(out: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    check_bmm(a, b)?;
    check_out(out, &[a.shape()[0], a.shape()[1], b.shape()[2]], a.dtype())?;
    bmm_into(out, a, b)
}

fn check_bmm(a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    check_cpu(&[a, b])?;
    if a.ndim() != 3 {
        return Err(shape_err("batch1 must be a 3D tensor".into()));
    }
    if b.ndim() != 3 {
        return Err(shape_err("batch2 must be a 3D tensor".into()));
    }
    let (sa, sb) = (a.shape(), b.shape());
    if sb[0] != sa[0] || sb[1] != sa[2] {
        return Err(shape_err(format!(
            "Expected size for first two dimensions of batch2 tensor to be: [{}, {}] but got: [{}, {}].",
            sa[0], sa[2], sb[0], sb[1]
        )));
    }
    // PyTorch's bmm picks its kernel by self's dtype before comparing.
    if a.dtype() == DType::Bool {
        return Err(super::not_implemented("bmm", DType::Bool));
    }
    if a.dtype() != b.dtype() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "expected scalar type {} but found {}",
                a.dtype().scalar_type_name(),
                b.dtype().scalar_type_name()
            ),
        ));
    }
    check_dtype_supported(a.dtype())
}

fn bmm_into(out: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    let (a, b) = (detached(a, out)?, detached(b, out)?);
    match out.dtype() {
        DType::F32 => bmm_gemm::<f32>(out, &a, &b),
        DType::F64 => bmm_gemm::<f64>(out, &a, &b),
        _ => (0..a.shape()[0] as isize).try_for_each(|i| {
            let (ai, bi, oi) = (a.select(0, i)?, b.select(0, i)?, out.select(0, i)?);
            product_into(&oi, None, &ai, &bi, Scalar::Int(0), Scalar::Int(1), true)
        }),
    }
}

/// The batches of a float `bmm`, with the storages borrowed once. Many
/// small products run one per thread; few large ones use the threads
/// inside each product.
fn bmm_gemm<T: GemmElem + Element>(out: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    let batch = a.shape()[0];
    let (n, k, m) = (a.shape()[1], a.shape()[2], b.shape()[2]);
    // Threads across the batch when it has enough products to share out
    // and each is of moderate size; else inside each product.
    let threads = rayon::current_num_threads();
    let inner_parallel = threads == 1 || batch < 2 * threads || n * k * m > 64 * SMALL;
    let (sa, sb, so) = (ustrides(a), ustrides(b), ustrides(out));
    with_slices::<T, T>(out, a, b, |ad, bd, od| {
        let one = |i: usize, c: &mut [T]| -> Result<()> {
            let am = MatRef::new(&ad[(i * sa[0]).min(ad.len())..], n, k, sa[1], sa[2])?;
            let bm = MatRef::new(&bd[(i * sb[0]).min(bd.len())..], k, m, sb[1], sb[2])?;
            let om = MatMut::new(c, n, m, so[1], so[2])?;
            gemm(T::ONE, am, bm, T::ZERO, om, inner_parallel)
        };
        if batch == 0 || n * m == 0 {
            return Ok(());
        }
        if !inner_parallel && out.is_contiguous() {
            let failed = std::sync::Mutex::new(None);
            crate::par::region(|| {
                crate::par::chunks_mut(&mut od[..batch * n * m], n * m, |i, c| {
                    if let Err(e) = one(i, c) {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    }
                })
            });
            match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        } else {
            (0..batch).try_for_each(|i| one(i, &mut od[i * so[0]..]))
        }
    })
}

fn ustrides(t: &TensorImpl) -> Vec<usize> {
    t.strides().iter().map(|&s| s as usize).collect()
}

/// `t`, or a fresh copy of it if it shares memory with `out`.
fn detached(t: &TensorImpl, out: &TensorImpl) -> Result<TensorImpl> {
    if t.shares_storage(out) {
        copy_of(t)
    } else {
        Ok(t.clone())
    }
}

/// `torch.matmul`: dot, matrix-vector, matrix-matrix, and batched with
/// broadcast batch dims, by the dims of the operands.
///
/// ```
/// use ft_core::TensorImpl;
/// let a = TensorImpl::ones(&[5, 2, 3], ft_core::DType::F32)?;
/// let b = TensorImpl::ones(&[3, 4], ft_core::DType::F32)?;
/// let c = ft_kernels::matmul(&a, &b)?;
/// assert_eq!(c.shape(), &[5, 2, 4]);
/// assert_eq!(c.to_vec::<f32>()?[0], 3.0);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn matmul(a: &TensorImpl, b: &TensorImpl) -> Result<TensorImpl> {
    check_cpu(&[a, b])?;
    match matmul_plan(a.shape(), b.shape())? {
        MatmulPlan::Dot => dot(a, b),
        MatmulPlan::Mv => mv(a, b),
        MatmulPlan::VecMat => mm(&a.unsqueeze(0)?, b)?.squeeze_dim(0),
        MatmulPlan::Mm => mm(a, b),
        MatmulPlan::Folded { a2, vec_b, out } => {
            let a2 = a.reshape(&a2)?;
            let r = if vec_b {
                mm(&a2, &b.unsqueeze(1)?)?
            } else {
                mm(&a2, b)?
            };
            r.view(&out)
        }
        MatmulPlan::Batched(p) => {
            let a2 = if p.unsqueeze_a {
                a.unsqueeze(0)?
            } else {
                a.clone()
            };
            let b2 = if p.unsqueeze_b {
                b.unsqueeze(1)?
            } else {
                b.clone()
            };
            let a3 = a2.expand(&p.expand_a)?.reshape(&p.a3)?;
            let b3 = b2.expand(&p.expand_b)?.reshape(&p.b3)?;
            bmm(&a3, &b3)?.reshape(&p.out)
        }
    }
}

fn to_isize(s: &[usize]) -> Vec<isize> {
    s.iter().map(|&x| x as isize).collect()
}

/// How `torch.matmul` computes the product of operands of these shapes:
/// PyTorch's cases, with every shape worked out and every shape error
/// found. The kernel ([`matmul`]) and autograd's composite (which must
/// record each step) both follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatmulPlan {
    /// 1-D x 1-D.
    Dot,
    /// 2-D x 1-D.
    Mv,
    /// 1-D x 2-D: `a.unsqueeze(0) @ b`, squeezed.
    VecMat,
    /// 2-D x 2-D.
    Mm,
    /// 3-D or more x 1-D or 2-D: `a.reshape(a2) @ b` (`b.unsqueeze(1)` for
    /// a vector), viewed as `out`.
    Folded {
        a2: Vec<isize>,
        vec_b: bool,
        out: Vec<isize>,
    },
    /// Batched, with broadcast batch dims: one `bmm`.
    Batched(BatchedPlan),
}

/// The steps of a batched `matmul`: unsqueeze a vector operand, expand
/// both to the broadcast batch, reshape to 3-D, `bmm`, reshape to `out`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchedPlan {
    pub unsqueeze_a: bool,
    pub unsqueeze_b: bool,
    pub expand_a: Vec<isize>,
    pub expand_b: Vec<isize>,
    pub a3: [isize; 3],
    pub b3: [isize; 3],
    pub out: Vec<isize>,
}

/// The plan of `torch.matmul` for these shapes, or PyTorch's error.
pub fn matmul_plan(sa: &[usize], sb: &[usize]) -> Result<MatmulPlan> {
    let (da, db) = (sa.len(), sb.len());
    if da == 0 || db == 0 {
        return Err(shape_err(format!(
            "both arguments to matmul need to be at least 1D, but they are {da}D and {db}D"
        )));
    }
    Ok(match (da, db) {
        (1, 1) => MatmulPlan::Dot,
        (2, 1) => MatmulPlan::Mv,
        (1, 2) => MatmulPlan::VecMat,
        (2, 2) => MatmulPlan::Mm,
        (_, 1 | 2) if da >= 3 => {
            // Fold the batch dims of `a` into its rows: one mm.
            let lead = &sa[..da - 1];
            let rows: usize = lead.iter().product();
            let mut out = to_isize(lead);
            if db == 2 {
                out.push(sb[1] as isize);
            }
            MatmulPlan::Folded {
                a2: vec![rows as isize, sa[da - 1] as isize],
                vec_b: db == 1,
                out,
            }
        }
        _ => {
            let a2: Vec<usize> = if da == 1 { vec![1, sa[0]] } else { sa.to_vec() };
            let b2: Vec<usize> = if db == 1 { vec![sb[0], 1] } else { sb.to_vec() };
            let (n, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let (k2, m) = (b2[b2.len() - 2], b2[b2.len() - 1]);
            let batch = crate::iter::broadcast_shapes(&[&a2[..a2.len() - 2], &b2[..b2.len() - 2]])?
                .to_vec();
            let nb: usize = batch.iter().product();
            if k != k2 {
                return Err(shape_err(format!(
                    "Expected size for first two dimensions of batch2 tensor to be: [{nb}, {k}] but got: [{nb}, {k2}]."
                )));
            }
            let mut expand_a = to_isize(&batch);
            expand_a.extend([n as isize, k as isize]);
            let mut expand_b = to_isize(&batch);
            expand_b.extend([k2 as isize, m as isize]);
            let mut out = to_isize(&batch);
            if da > 1 {
                out.push(n as isize);
            }
            if db > 1 {
                out.push(m as isize);
            }
            MatmulPlan::Batched(BatchedPlan {
                unsqueeze_a: da == 1,
                unsqueeze_b: db == 1,
                expand_a,
                expand_b,
                a3: [nb as isize, n as isize, k as isize],
                b3: [nb as isize, k2 as isize, m as isize],
                out,
            })
        }
    })
}

/// `matmul` into `out`, which must have the result's shape and dtype.
pub fn matmul_out(out: &TensorImpl, a: &TensorImpl, b: &TensorImpl) -> Result<()> {
    if a.ndim() == 2 && b.ndim() == 2 {
        return mm_out(out, a, b);
    }
    let r = matmul(a, b)?;
    check_out(out, r.shape(), r.dtype())?;
    copy_(out, &r)
}

/// The dot product of two 1-D tensors (a 0-D result).
pub fn dot(a: &TensorImpl, b: &TensorImpl) -> Result<TensorImpl> {
    check_cpu(&[a, b])?;
    if a.ndim() != 1 || b.ndim() != 1 {
        return Err(shape_err(format!(
            "1D tensors expected, but got {}D and {}D tensors",
            a.ndim(),
            b.ndim()
        )));
    }
    if a.numel() != b.numel() {
        return Err(shape_err(format!(
            "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively",
            a.numel(),
            b.numel(),
            a.numel(),
            b.numel()
        )));
    }
    if a.dtype() != b.dtype() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "dot : expected both vectors to have same dtype, but found {} and {}",
                a.dtype().scalar_type_name(),
                b.dtype().scalar_type_name()
            ),
        ));
    }
    check_dtype_supported(a.dtype())?;
    mm(&a.unsqueeze(0)?, &b.unsqueeze(1)?)?.reshape(&[])
}

/// Matrix times vector: `[n, k] @ [k] -> [n]`.
pub fn mv(a: &TensorImpl, v: &TensorImpl) -> Result<TensorImpl> {
    check_cpu(&[a, v])?;
    if a.ndim() != 2 || v.ndim() != 1 {
        return Err(shape_err(format!(
            "vector + matrix @ vector expected, got 1, {}, {}",
            a.ndim(),
            v.ndim()
        )));
    }
    if a.shape()[1] != v.numel() {
        return Err(shape_err(format!(
            "size mismatch, got input ({}), mat ({}x{}), vec ({})",
            a.shape()[0],
            a.shape()[0],
            a.shape()[1],
            v.numel()
        )));
    }
    if a.dtype() != v.dtype() {
        return Err(Error::new(
            ErrorKind::DType,
            format!(
                "addmv input tensors must have the same dtype, but got {}, {}, and {}",
                v.dtype().scalar_type_name(),
                a.dtype().scalar_type_name(),
                v.dtype().scalar_type_name()
            ),
        ));
    }
    check_dtype_supported(a.dtype())?;
    mm(a, &v.unsqueeze(1)?)?.squeeze_dim(1)
}

/// `input @ weight.T + bias` (`torch.nn.functional.linear`): `weight` is
/// `[out_features, in_features]`, `bias` broadcasts to `[out_features]`.
///
/// ```
/// use ft_core::TensorImpl;
/// let x = TensorImpl::from_slice(&[1.0f32, 2.0], &[1, 2])?;
/// let w = TensorImpl::from_slice(&[1.0f32, 1.0, 0.0, 3.0], &[2, 2])?;
/// let b = TensorImpl::from_slice(&[0.5f32, -1.0], &[2])?;
/// let y = ft_kernels::linear(&x, &w, Some(&b))?;
/// assert_eq!(y.to_vec::<f32>()?, [3.5, 5.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn linear(x: &TensorImpl, w: &TensorImpl, bias: Option<&TensorImpl>) -> Result<TensorImpl> {
    check_cpu(&[x, w])?;
    if w.ndim() > 2 {
        return Err(shape_err(format!(
            "t() expects a tensor with <= 2 dimensions, but self is {}D",
            w.ndim()
        )));
    }
    let wt = w.t()?;
    if x.ndim() == 2 && w.ndim() == 2 {
        if let Some(b) = bias {
            return addmm(b, x, &wt, Scalar::Int(1), Scalar::Int(1));
        }
        return mm(x, &wt);
    }
    // A vector with a bias: PyTorch's addmm of the row [1, k].
    if x.ndim() == 1
        && w.ndim() == 2
        && let Some(b) = bias
    {
        return addmm(b, &x.unsqueeze(0)?, &wt, Scalar::Int(1), Scalar::Int(1))?.squeeze_dim(0);
    }
    let y = matmul(x, &wt)?;
    match bias {
        Some(b) => crate::ops::binary::add(&y, b, Scalar::Int(1)),
        None => Ok(y),
    }
}

/// The product for 2-D `a`, `b`, `out` of one dtype (checked). `input`
/// (broadcast to `out`'s shape) is copied into `out` first unless it is
/// `out` itself or `beta` is zero.
fn product_into(
    out: &TensorImpl,
    input: Option<&TensorImpl>,
    a: &TensorImpl,
    b: &TensorImpl,
    beta: Scalar,
    alpha: Scalar,
    parallel: bool,
) -> Result<()> {
    let beta_zero = match beta {
        Scalar::Bool(b) => !b,
        Scalar::Int(i) => i == 0,
        Scalar::Float(f) => f == 0.0,
    };
    let (beta, input) = match input {
        Some(inp) if !beta_zero => (beta, Some(inp)),
        _ => (Scalar::Int(0), None),
    };
    let (a, b) = (detached(a, out)?, detached(b, out)?);
    if let Some(inp) = input {
        let same = inp.shares_storage(out)
            && inp.storage_offset() == out.storage_offset()
            && inp.shape() == out.shape()
            && inp.strides() == out.strides();
        if !same {
            let inp = detached(inp, out)?;
            copy_(out, &inp)?;
        }
    }
    match out.dtype() {
        DType::F32 => gemm_tensors::<f32>(out, &a, &b, beta, alpha, parallel),
        DType::F64 => gemm_tensors::<f64>(out, &a, &b, beta, alpha, parallel),
        DType::BF16 => with_operands::<half::bf16, half::bf16>(out, &a, &b, |am, bm, om| {
            let (alpha, beta) = (scalar_f64(alpha) as f32, scalar_f64(beta) as f32);
            gemm_bf16_out(alpha, am, bm, beta, om, parallel)
        }),
        // Widened to f32 while packing, accumulated in f32, rounded once.
        DType::F16 => with_operands::<half::f16, half::f16>(out, &a, &b, |am, bm, om| {
            let (alpha, beta) = (scalar_f64(alpha) as f32, scalar_f64(beta) as f32);
            gemm_f16_out(alpha, am, bm, beta, om, parallel)
        }),
        d => ft_core::with_dtype!(d, T => int_product::<T>(out, &a, &b, beta, alpha)),
    }
}

fn scalar_f64(s: Scalar) -> f64 {
    match s {
        Scalar::Bool(b) => b as i64 as f64,
        Scalar::Int(i) => i as f64,
        Scalar::Float(f) => f,
    }
}

/// Borrows the storages and runs the GEMM (`out` shares memory with
/// neither `a` nor `b`).
fn gemm_tensors<T: GemmElem + Element + FromF64>(
    out: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    beta: Scalar,
    alpha: Scalar,
    parallel: bool,
) -> Result<()> {
    with_operands::<T, T>(out, a, b, |am, bm, om| {
        gemm(
            T::from_f64_(scalar_f64(alpha)),
            am,
            bm,
            T::from_f64_(scalar_f64(beta)),
            om,
            parallel,
        )
    })
}

/// Borrows the storages of 2-D `a`, `b` (read) and `out` (write) as
/// strided matrices.
fn with_operands<I: Element, O: Element>(
    out: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    f: impl FnOnce(MatRef<'_, I>, MatRef<'_, I>, MatMut<'_, O>) -> Result<()>,
) -> Result<()> {
    let (sa, sb, so) = (ustrides(a), ustrides(b), ustrides(out));
    with_slices(out, a, b, |ad, bd, od| {
        let am = MatRef::new(ad, a.shape()[0], a.shape()[1], sa[0], sa[1])?;
        let bm = MatRef::new(bd, b.shape()[0], b.shape()[1], sb[0], sb[1])?;
        let om = MatMut::new(od, out.shape()[0], out.shape()[1], so[0], so[1])?;
        f(am, bm, om)
    })
}

/// Borrows the storages of `a`, `b` (read) and `out` (write) and passes
/// their elements from each tensor's first one. An empty tensor's offset
/// may lie past its storage (a batch `select`ed from a `[3, 2, 0]`
/// tensor starts at element 2 of none): it gets an empty slice.
fn with_slices<I: Element, O: Element>(
    out: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    f: impl FnOnce(&[I], &[I], &mut [O]) -> Result<()>,
) -> Result<()> {
    let (ga, gb) = (a.storage().read()?, b.storage().read()?);
    let mut go = out.storage().write()?;
    let ad = elements_from(ft_core::tensor::typed::<I>(ga.bytes()), a.storage_offset());
    let bd = elements_from(ft_core::tensor::typed::<I>(gb.bytes()), b.storage_offset());
    let od = ft_core::tensor::typed_mut::<O>(go.bytes_mut());
    let od = match od.get_mut(out.storage_offset()..) {
        Some(d) => d,
        None => &mut [],
    };
    f(ad, bd, od)
}

/// `xs[at..]`, or nothing when `at` lies past the end.
fn elements_from<I>(xs: &[I], at: usize) -> &[I] {
    xs.get(at..).unwrap_or_default()
}

/// f32/f64 from an f64 scalar (alpha and beta).
trait FromF64 {
    fn from_f64_(v: f64) -> Self;
}
impl FromF64 for f32 {
    fn from_f64_(v: f64) -> Self {
        v as f32
    }
}
impl FromF64 for f64 {
    fn from_f64_(v: f64) -> Self {
        v
    }
}

/// Integer products: exact in wrapping i64 arithmetic, as PyTorch's CPU
/// kernel (which accumulates in the dtype, wrapping the same way modulo
/// the dtype's width).
fn int_product<T: Element>(
    out: &TensorImpl,
    a: &TensorImpl,
    b: &TensorImpl,
    beta: Scalar,
    alpha: Scalar,
) -> Result<()> {
    let (n, k, m) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let av: Vec<i64> = a
        .contiguous()?
        .to_vec::<T>()?
        .into_iter()
        .map(T::to_i64)
        .collect();
    let bv: Vec<i64> = b
        .contiguous()?
        .to_vec::<T>()?
        .into_iter()
        .map(T::to_i64)
        .collect();
    let cur: Vec<i64> = out
        .contiguous()?
        .to_vec::<T>()?
        .into_iter()
        .map(T::to_i64)
        .collect();
    let to_int = |s: Scalar| match s {
        Scalar::Bool(b) => b as i64,
        Scalar::Int(i) => i,
        Scalar::Float(f) => f as i64,
    };
    let (alpha, beta) = (to_int(alpha), to_int(beta));
    let mut res = vec![T::zero(); n * m];
    for i in 0..n {
        for j in 0..m {
            let mut s = 0i64;
            for p in 0..k {
                s = s.wrapping_add(av[i * k + p].wrapping_mul(bv[p * m + j]));
            }
            let v = alpha.wrapping_mul(s);
            let v = if beta == 0 {
                v
            } else {
                v.wrapping_add(beta.wrapping_mul(cur[i * m + j]))
            };
            res[i * m + j] = T::from_i64(v);
        }
    }
    copy_(out, &TensorImpl::from_vec(res, out.shape())?)
}
