//! The `AutogradCPU` kernels: registered in dispatch's table above the
//! CPU kernels. Each runs the op below the autograd key (the same kernel a
//! call without grad runs, so the forward values are identical), then
//! records a [`Node`] with the op's backward formula and marks the output.
//! `matmul` and `linear` are composite here, as in PyTorch: built from
//! `mm`/`bmm`/`dot`/`mv`/`addmm` and views, which record themselves.
//! In-place and `out=` forms fail closed with PyTorch's messages.

use crate::engine::is_leaf;
use crate::formulas::formula;
use crate::graph::{Edge, MAX_INPUTS, Meta, Node, NodeArc, erase, erase_output, meta_ref};
use ft_core::{Error, ErrorKind, Result, TensorImpl};
use ft_dispatch::{Arg, DispatchKey, Frame, Kernel, Op, Outputs, Tensor, route::schema_of};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// One trampoline per op index: dispatch's kernels are plain function
/// pointers, so the op is a const parameter.
fn k<const I: usize>(f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    match Op::ALL.get(I) {
        Some(&op) => autograd_call(op, f, out),
        None => Err(Error::new(ErrorKind::Value, "no op at this index")),
    }
}

const SLOTS: usize = 256;
const _: () = assert!(Op::COUNT <= SLOTS, "add trampolines for the new ops");
static TRAMPOLINES: [Kernel; SLOTS] = [
    k::<0>, k::<1>, k::<2>, k::<3>, k::<4>, k::<5>, k::<6>, k::<7>, k::<8>, k::<9>, k::<10>,
    k::<11>, k::<12>, k::<13>, k::<14>, k::<15>, k::<16>, k::<17>, k::<18>, k::<19>, k::<20>,
    k::<21>, k::<22>, k::<23>, k::<24>, k::<25>, k::<26>, k::<27>, k::<28>, k::<29>, k::<30>,
    k::<31>, k::<32>, k::<33>, k::<34>, k::<35>, k::<36>, k::<37>, k::<38>, k::<39>, k::<40>,
    k::<41>, k::<42>, k::<43>, k::<44>, k::<45>, k::<46>, k::<47>, k::<48>, k::<49>, k::<50>,
    k::<51>, k::<52>, k::<53>, k::<54>, k::<55>, k::<56>, k::<57>, k::<58>, k::<59>, k::<60>,
    k::<61>, k::<62>, k::<63>, k::<64>, k::<65>, k::<66>, k::<67>, k::<68>, k::<69>, k::<70>,
    k::<71>, k::<72>, k::<73>, k::<74>, k::<75>, k::<76>, k::<77>, k::<78>, k::<79>, k::<80>,
    k::<81>, k::<82>, k::<83>, k::<84>, k::<85>, k::<86>, k::<87>, k::<88>, k::<89>, k::<90>,
    k::<91>, k::<92>, k::<93>, k::<94>, k::<95>, k::<96>, k::<97>, k::<98>, k::<99>, k::<100>,
    k::<101>, k::<102>, k::<103>, k::<104>, k::<105>, k::<106>, k::<107>, k::<108>, k::<109>,
    k::<110>, k::<111>, k::<112>, k::<113>, k::<114>, k::<115>, k::<116>, k::<117>, k::<118>,
    k::<119>, k::<120>, k::<121>, k::<122>, k::<123>, k::<124>, k::<125>, k::<126>, k::<127>,
    k::<128>, k::<129>, k::<130>, k::<131>, k::<132>, k::<133>, k::<134>, k::<135>, k::<136>,
    k::<137>, k::<138>, k::<139>, k::<140>, k::<141>, k::<142>, k::<143>, k::<144>, k::<145>,
    k::<146>, k::<147>, k::<148>, k::<149>, k::<150>, k::<151>, k::<152>, k::<153>, k::<154>,
    k::<155>, k::<156>, k::<157>, k::<158>, k::<159>, k::<160>, k::<161>, k::<162>, k::<163>,
    k::<164>, k::<165>, k::<166>, k::<167>, k::<168>, k::<169>, k::<170>, k::<171>, k::<172>,
    k::<173>, k::<174>, k::<175>, k::<176>, k::<177>, k::<178>, k::<179>, k::<180>, k::<181>,
    k::<182>, k::<183>, k::<184>, k::<185>, k::<186>, k::<187>, k::<188>, k::<189>, k::<190>,
    k::<191>, k::<192>, k::<193>, k::<194>, k::<195>, k::<196>, k::<197>, k::<198>, k::<199>,
    k::<200>, k::<201>, k::<202>, k::<203>, k::<204>, k::<205>, k::<206>, k::<207>, k::<208>,
    k::<209>, k::<210>, k::<211>, k::<212>, k::<213>, k::<214>, k::<215>, k::<216>, k::<217>,
    k::<218>, k::<219>, k::<220>, k::<221>, k::<222>, k::<223>, k::<224>, k::<225>, k::<226>,
    k::<227>, k::<228>, k::<229>, k::<230>, k::<231>, k::<232>, k::<233>, k::<234>, k::<235>,
    k::<236>, k::<237>, k::<238>, k::<239>, k::<240>, k::<241>, k::<242>, k::<243>, k::<244>,
    k::<245>, k::<246>, k::<247>, k::<248>, k::<249>, k::<250>, k::<251>, k::<252>, k::<253>,
    k::<254>, k::<255>,
];

/// Whether each op's schema marks an argument mutated (in place, `out=`):
/// filled before the kernels are registered, so every call of one sees it
/// (the kernel table's own acquire orders it), and read with one load per
/// recorded op instead of the schema's arguments.
static MUTATES: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// Registers the autograd kernel of every differentiable op (once).
pub(crate) fn ensure_registered() -> Result<()> {
    static DONE: OnceLock<Result<()>> = OnceLock::new();
    DONE.get_or_init(|| {
        for &op in Op::ALL {
            let mutates = schema_of(op)?.args.iter().any(|a| a.mutated);
            MUTATES[op.index()].store(mutates, Ordering::Relaxed);
        }
        for &op in Op::ALL {
            if op.autograd_fallthrough() {
                continue;
            }
            ft_dispatch::register(op, DispatchKey::AUTOGRAD_CPU, TRAMPOLINES[op.index()])?;
        }
        Ok(())
    })
    .clone()
}

/// The op run below the autograd key.
#[inline]
fn below(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    ft_dispatch::call_below_autograd(op, f, out)
}

fn autograd_call(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    if !ft_dispatch::grad_mode::is_grad_enabled() {
        return no_grad_view(op, f, out);
    }
    if MUTATES[op.index()].load(Ordering::Relaxed) {
        return in_place(op, f);
    }
    match op {
        Op::Matmul => {
            out.set(matmul(f.tensor(0)?, f.tensor(1)?)?);
            return Ok(());
        }
        Op::Linear => {
            out.set(linear(f.tensor(0)?, f.tensor(1)?, f.opt_tensor(2)?)?);
            return Ok(());
        }
        // PyTorch returns a contiguous tensor itself: no node.
        Op::Contiguous if f.tensor(0)?.is_contiguous() => {
            out.set(f.tensor(0)?.clone());
            return Ok(());
        }
        _ => {}
    }
    // The CPU kernel writes into `out`, and its result is marked where it
    // lies: moving a 128-byte tensor out of a slot, through two by-value
    // setters and back was a chain of stalled copies.
    below(op, f, out)?;
    let (Some(first), second) = out.results() else {
        return Err(Error::new(
            ErrorKind::Value,
            format!("internal error: '{}' returned no tensor", op.name()),
        ));
    };
    if !first.dtype().is_floating_point() {
        return Ok(());
    }
    let node = record(op, f, first, second)?;
    if op.is_view()
        && let Some(m) = meta_ref(f.tensor(0)?)
    {
        m.has_views.store(true, Ordering::Relaxed);
    }
    out.attach_first_autograd_meta(erase_output(node, op.is_view()))
}

/// A view op in no_grad mode on a tensor that requires grad (dispatch
/// routes only those here with grad mode off): as PyTorch, a result that
/// shares the input's storage is a leaf that requires grad, with no
/// history; a copy (`reshape` or `contiguous` that could not view) is a
/// plain tensor.
fn no_grad_view(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    let mut inner = Outputs::default();
    below(op, f, &mut inner)?;
    let v = inner.one()?;
    let this = f.tensor(0)?;
    if !op.is_view() || !v.data().shares_storage(this.data()) {
        out.set(v);
    } else if op == Op::Contiguous {
        // Already contiguous: PyTorch returns `self` itself.
        out.set(this.clone());
    } else {
        out.set(
            v.set_requires_grad(true)?
                .with_autograd_meta(Some(erase(Meta::leaf()))),
        );
    }
    Ok(())
}

/// The node of `op` called with frame `f` that produced `first`: its
/// backward formula and an edge per tensor argument that requires grad.
fn record(op: Op, f: &Frame<'_>, first: &TensorImpl, second: Option<&Tensor>) -> Result<NodeArc> {
    record_as(op, f, first, second, None)
}

/// `record`, with PyTorch's node name for a composite's step where it
/// differs from the op's own (`UnsafeViewBackward0`).
fn record_as(
    op: Op,
    f: &Frame<'_>,
    first: &TensorImpl,
    second: Option<&Tensor>,
    rename: Option<&'static str>,
) -> Result<NodeArc> {
    let Some((name, backward)) = formula(op, f, first, second)? else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("'{}' has no backward formula", op.name()),
        ));
    };
    Node::new_arc(rename.unwrap_or(name), backward, |node| {
        for (i, t) in f.tensors().enumerate() {
            if i >= MAX_INPUTS {
                return Err(Error::new(
                    ErrorKind::Value,
                    format!(
                        "'{}' has more tensor arguments than autograd records",
                        op.name()
                    ),
                ));
            }
            if t.requires_grad() {
                node.set_input(i, Edge::of(t)?, t);
            }
        }
        Ok(())
    })
}

/// PyTorch's `_unsafe_view`, matmul's last step: `t.view(shape)` whose
/// result is not a view for autograd (in-place ops on it are allowed) and
/// whose node is `UnsafeViewBackward0`.
fn unsafe_view(t: &Tensor, shape: &[isize]) -> Result<Tensor> {
    let v = ft_dispatch::grad_mode::no_grad(|| t.view(shape))?;
    if !t.requires_grad() || !ft_dispatch::grad_mode::is_grad_enabled() {
        return Ok(v);
    }
    let args = [Arg::Tensor(t), Arg::Dims(Some(shape))];
    let frame = Frame::new(&args)?;
    let node = record_as(
        Op::View,
        &frame,
        v.data(),
        None,
        Some("UnsafeViewBackward0"),
    )?;
    Ok(v.set_requires_grad(true)?
        .with_autograd_meta(Some(erase_output(node, false))))
}

/// The out-of-place op whose formula an in-place op shares (its schema has
/// the same arguments).
fn functional(op: Op) -> Option<Op> {
    use Op::*;
    Some(match op {
        AddInplace => AddTensor,
        SubInplace => SubTensor,
        MulInplace => MulTensor,
        DivInplace => DivTensor,
        RemainderInplace => RemainderTensor,
        PowInplace => PowTensor,
        NegInplace => Neg,
        AbsInplace => Abs,
        SignInplace => Sign,
        ExpInplace => Exp,
        Expm1Inplace => Expm1,
        LogInplace => Log,
        Log1pInplace => Log1p,
        SqrtInplace => Sqrt,
        RsqrtInplace => Rsqrt,
        ReciprocalInplace => Reciprocal,
        SinInplace => Sin,
        CosInplace => Cos,
        TanhInplace => Tanh,
        SigmoidInplace => Sigmoid,
        ReluInplace => Relu,
        SiluInplace => Silu,
        ErfInplace => Erf,
        FloorInplace => Floor,
        CeilInplace => Ceil,
        RoundInplace => Round,
        GeluInplace => Gelu,
        ClampInplace => Clamp,
        AddmmInplace => Addmm,
        _ => return None,
    })
}

/// An in-place op on tensors that require grad (PyTorch's
/// `rebase_history`): the forward runs in place; the node gets the
/// formula of the out-of-place op, with `self` as it was before (a copy,
/// which the formula may save) and edges to what made it; then `self`'s
/// history becomes that node. Fails closed, with PyTorch's message where
/// PyTorch has one, on a leaf, on `out=`, on a view or a tensor with
/// views (whose histories this engine does not regenerate), and on a
/// `self` that does not require grad itself.
fn in_place(op: Op, f: &Frame<'_>) -> Result<()> {
    let this = f.tensor(0)?;
    let rebase = match (functional(op), meta_ref(this)) {
        (Some(fun), Some(m)) if this.requires_grad() && !m.is_leaf() => {
            if m.is_view || m.has_views.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "'{}' on a view, or on a tensor a view was taken of, while it requires grad: FrankenTorch's autograd does not regenerate views' histories; use the out-of-place form",
                        op.name()
                    ),
                ));
            }
            fun
        }
        _ => return Err(mutation_error(op, f)),
    };
    // `self` before the write, with its autograd state: the frame the
    // formula sees.
    // Formulas that never read `self`'s input values need no copy of it.
    let reads_self = !matches!(
        rebase,
        Op::AddTensor
            | Op::SubTensor
            | Op::Neg
            | Op::Exp
            | Op::Expm1
            | Op::Sqrt
            | Op::Rsqrt
            | Op::Reciprocal
            | Op::Tanh
            | Op::Sigmoid
            | Op::Relu
            | Op::Addmm
    );
    let data = if reads_self {
        let copy = ft_core::TensorImpl::empty(this.shape(), this.dtype())?;
        ft_kernels::copy_(&copy, this.data())?;
        copy
    } else {
        this.data().clone()
    };
    let before = Tensor::from(data)
        .set_requires_grad(true)?
        .with_autograd_meta(this.autograd_meta().cloned());
    // Every argument that is `self` (`y.mul_(&y)`) reads the values from
    // before the write, as the op did. (PyTorch fails such a backward as
    // "modified by an inplace operation"; the gradient here is the right
    // one instead.)
    let mut args: Vec<Arg<'_>> = f.args().to_vec();
    for a in args.iter_mut() {
        if let Arg::Tensor(t) = a
            && t.data().shares_storage(this.data())
            && t.data().layout() == this.data().layout()
        {
            *a = Arg::Tensor(&before);
        }
    }
    let pre = Frame::new(&args)?;
    let mut none = Outputs::default();
    below(op, f, &mut none)?;
    let node = record(rebase, &pre, this.data(), None)?;
    if let Some(m) = meta_ref(this) {
        m.rebase(node);
    }
    Ok(())
}

/// PyTorch's errors for in-place and `out=` calls that involve a tensor
/// requiring grad, where the in-place op cannot be recorded.
fn mutation_error(op: Op, f: &Frame<'_>) -> Error {
    let name = op.name();
    let base = name.split('.').next().unwrap_or(name).trim_end_matches('_');
    if name.ends_with(".out") || name.contains("_out") {
        return Error::new(
            ErrorKind::Value,
            format!(
                "{base}(): functions with out=... arguments don't support automatic \
                 differentiation, but one of the arguments requires grad."
            ),
        );
    }
    if let Ok(t) = f.tensor(0)
        && t.requires_grad()
        && is_leaf(t)
    {
        return Error::new(
            ErrorKind::Value,
            "a leaf Variable that requires grad is being used in an in-place operation.",
        );
    }
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "'{name}' where `self` does not require grad but another argument does (or on an op \
             without a recorded in-place form): FrankenTorch's autograd cannot make `self` \
             require grad in place; use the out-of-place form ({base})"
        ),
    )
}

/// `torch.matmul` as PyTorch's composite: the same cases as the kernel
/// (`ft_kernels::matmul`), made of ops that record themselves.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    use ft_kernels::MatmulPlan;
    Ok(match ft_kernels::matmul_plan(a.shape(), b.shape())? {
        MatmulPlan::Dot => a.dot(b)?,
        MatmulPlan::Mv => a.mv(b)?,
        MatmulPlan::VecMat => a.unsqueeze(0)?.mm(b)?.squeeze_dim(0)?,
        MatmulPlan::Mm => a.mm(b)?,
        MatmulPlan::Folded { a2, vec_b, out } => {
            let a2 = a.reshape(&a2)?;
            let r = if vec_b {
                a2.mm(&b.unsqueeze(1)?)?
            } else {
                a2.mm(b)?
            };
            unsafe_view(&r, &out)?
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
            unsafe_view(&a3.bmm(&b3)?, &p.out)?
        }
    })
}

/// `torch.nn.functional.linear` as PyTorch's composite: `addmm` for a
/// 2-D input with a bias, else `matmul` and `add`.
pub(crate) fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if w.ndim() > 2 {
        return Err(Error::new(
            ErrorKind::Shape,
            format!(
                "t() expects a tensor with <= 2 dimensions, but self is {}D",
                w.ndim()
            ),
        ));
    }
    let wt = w.t()?;
    if x.ndim() == 2 && w.ndim() == 2 {
        if let Some(b) = bias {
            return b.addmm(x, &wt, ft_core::Scalar::Int(1), ft_core::Scalar::Int(1));
        }
        return x.mm(&wt);
    }
    let y = matmul(x, &wt)?;
    match bias {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}
