//! The graph: per-tensor autograd state ([`Meta`]), the nodes that record
//! how an output was made ([`Node`]), the edges from a node to the inputs
//! it passes gradients to, and the tensors a node saved for backward
//! ([`Saved`], with PyTorch's version check).
//!
//! Ownership runs one way, from outputs to inputs: an output's meta holds
//! its node, a node holds its edges (the nodes of its inputs, or a leaf's
//! meta), and saved tensors are data only (no meta). So there are no
//! reference cycles, and a graph is freed when its last output is dropped.

use ft_core::{DType, Error, ErrorKind, Layout, Result, TensorImpl};
use ft_dispatch::Tensor;
use std::any::Any;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use triomphe::UniqueArc;

use crate::spin::SpinLock;

/// A node's reference count: `triomphe`'s `Arc`, which has no weak count.
/// With std's, freeing a node took two locked instructions (the strong
/// and the weak count) and `get_mut` a locked compare-exchange; here one,
/// and a load (`perf-artifacts/autograd-v3-in-place.md`). Nothing holds a
/// node weakly.
pub(crate) type NodeArc = triomphe::Arc<Node>;

/// The most tensor arguments an op with a backward formula takes
/// (`where`, `addmm`: three).
pub(crate) const MAX_INPUTS: usize = 3;

/// The gradients a backward function returns, one per tensor argument of
/// the forward call, in order (`None`: not needed or not differentiable).
pub(crate) type Grads = [Option<Tensor>; MAX_INPUTS];

/// What a backward function gets besides the output's gradient: which
/// inputs need a gradient, so it can skip the others' work.
pub(crate) struct Ctx {
    pub needs: [bool; MAX_INPUTS],
}

/// A node's backward function: the gradient of its output in (always
/// `Some`; the engine's, which a formula that passes it on unchanged may
/// take rather than clone), the gradients of its inputs written to the
/// engine's slots (all `None` on entry). It owns the tensors the op
/// saved. Written in place: returned, the ~390-byte `Result<Grads>` was
/// copied twice per node on its way to the engine (a `memcpy` call each).
pub(crate) type BackwardFn =
    Box<dyn FnMut(&Ctx, &mut Option<Tensor>, &mut Grads) -> Result<()> + Send>;

/// Autograd state of one tensor (the `AutogradMeta` slot of
/// [`ft_dispatch::Tensor`]): a leaf has no `grad_fn` and accumulates
/// `.grad`; a non-leaf has the node that made it, which an in-place op
/// replaces (PyTorch's `rebase_history`). Clones of a `Tensor` share it.
pub(crate) struct Meta {
    /// The node that made the tensor (`None`: a leaf), never replaced: it
    /// is read for every recorded input, without a lock, and it stays
    /// alive as long as the meta (after an in-place op it is reachable
    /// anyway, through the new node's edge).
    made_by: Option<NodeArc>,
    /// An in-place op has made the tensor anew: its history is `rebased`.
    is_rebased: AtomicBool,
    /// The history after in-place ops (PyTorch's `rebase_history`): a
    /// [`SpinLock`], taken only once `is_rebased` is set. Reading
    /// `grad_fn` through a lock every time was a locked compare-exchange
    /// per recorded input (half of `Edge::of`'s 6% of a recorded chain).
    rebased: SpinLock<Option<NodeArc>>,
    /// Boxed: every recorded op makes a `Meta` for its output, and only
    /// leaves ever hold a gradient; inline, the 128-byte slot made each
    /// new `Meta` a `memcpy` into its `Arc` (`perf-artifacts/autograd-v2-moves.md`).
    pub grad: Mutex<Option<Box<Tensor>>>,
    /// Made by a view op from a tensor that requires grad.
    pub is_view: bool,
    /// A view op has been recorded on this tensor.
    pub has_views: AtomicBool,
}

impl Meta {
    pub fn leaf() -> Self {
        Meta {
            made_by: None,
            is_rebased: AtomicBool::new(false),
            rebased: SpinLock::new(None),
            grad: Mutex::new(None),
            is_view: false,
            has_views: AtomicBool::new(false),
        }
    }

    /// The meta of an op's output.
    pub fn output(node: NodeArc, is_view: bool) -> Self {
        Meta {
            made_by: Some(node),
            is_rebased: AtomicBool::new(false),
            rebased: SpinLock::new(None),
            grad: Mutex::new(None),
            is_view,
            has_views: AtomicBool::new(false),
        }
    }

    pub fn grad_slot(&self) -> MutexGuard<'_, Option<Box<Tensor>>> {
        // A panic while the lock was held cannot leave a half-written
        // Option; the value is still sound.
        self.grad.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the node that made the tensor, as of now.
    #[inline]
    fn with_fn<R>(&self, f: impl FnOnce(Option<&NodeArc>) -> R) -> R {
        // Acquire: a rebase's node, stored before the flag, is seen with it.
        if self.is_rebased.load(Ordering::Acquire) {
            f(self.rebased.lock().as_ref())
        } else {
            f(self.made_by.as_ref())
        }
    }

    /// The node that made the tensor (`None`: a leaf).
    #[inline]
    pub fn grad_fn(&self) -> Option<NodeArc> {
        self.with_fn(|n| n.cloned())
    }

    pub fn grad_fn_name(&self) -> Option<&'static str> {
        self.with_fn(|n| n.map(|n| n.name))
    }

    pub fn is_leaf(&self) -> bool {
        self.with_fn(|n| n.is_none())
    }

    /// An in-place op made the tensor anew: its history is now `node`.
    pub fn rebase(&self, node: NodeArc) {
        *self.rebased.lock() = Some(node);
        self.is_rebased.store(true, Ordering::Release);
    }
}

/// The autograd meta of a tensor, if it has ours.
pub(crate) fn meta_ref(t: &Tensor) -> Option<&Meta> {
    t.autograd_meta().and_then(|m| (**m).downcast_ref::<Meta>())
}

pub(crate) fn meta_arc(t: &Tensor) -> Option<Arc<Meta>> {
    t.autograd_meta()
        .and_then(|m| Arc::clone(m).downcast::<Meta>().ok())
}

/// Where a gradient goes: the node that made an input, or a leaf's meta
/// (its `.grad`).
#[derive(Clone)]
pub(crate) enum Edge {
    Node(NodeArc),
    Leaf(Arc<Meta>),
}

impl Edge {
    /// The edge of a tensor that requires grad.
    pub fn of(t: &Tensor) -> Result<Edge> {
        let missing = || {
            Error::new(
                ErrorKind::Value,
                "a tensor requires grad but has no autograd state: mark leaves with \
                 ft_autograd::AutogradExt::requires_grad_ (ft_dispatch's set_requires_grad only \
                 sets the routing flag)",
            )
        };
        // A node is all the edge needs: the meta's own `Arc` is cloned only
        // for a leaf (two reference-count changes fewer per recorded input).
        match meta_ref(t).ok_or_else(missing)?.grad_fn() {
            Some(n) => Ok(Edge::Node(n)),
            None => Ok(Edge::Leaf(meta_arc(t).ok_or_else(missing)?)),
        }
    }

    /// An identity for the engine's tables (the allocation's address).
    pub fn key(&self) -> usize {
        match self {
            Edge::Node(n) => NodeArc::as_ptr(n) as *const () as usize,
            Edge::Leaf(m) => Arc::as_ptr(m) as *const () as usize,
        }
    }
}

/// Shape and dtype of an input, to check and fit the gradient flowing to
/// it (PyTorch's `InputMetadata`).
pub(crate) struct InputMeta {
    /// The input's layout, for its shape: a copy (or, past four dims, a
    /// shared reference) of what the tensor already holds, so recording a
    /// node allocates nothing for it.
    layout: Layout,
    pub dtype: DType,
}

impl InputMeta {
    pub fn of(t: &Tensor) -> InputMeta {
        InputMeta {
            layout: t.data().layout().clone(),
            dtype: t.dtype(),
        }
    }

    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }
}

thread_local! {
    /// The next node's sequence number on this thread: per thread, as
    /// PyTorch's `at::sequence_number` is. A process-wide atomic counter
    /// was a locked instruction per recorded op (~6 ns on the benchmark
    /// guest, `bench/examples/lock_probe.rs`); the engine only orders ready
    /// nodes by it (ties go by discovery order).
    static SEQ: Cell<u64> = const { Cell::new(0) };
}

/// One recorded op.
pub(crate) struct Node {
    /// PyTorch's name of the backward function: `MulBackward0`.
    pub name: &'static str,
    /// Creation order on the thread that made it; the engine runs later
    /// nodes first among those ready (PyTorch's sequence number, also
    /// per thread).
    pub seq: u64,
    pub edges: [Option<Edge>; MAX_INPUTS],
    pub inputs: [Option<InputMeta>; MAX_INPUTS],
    /// `None` once run without `retain_graph`: its saved tensors are freed.
    /// A [`SpinLock`], taken once per run of the node.
    backward: SpinLock<Option<BackwardFn>>,
}

impl Node {
    /// A node made in its `Arc`'s allocation: built on the stack and moved
    /// in, its ~380 bytes were a `memcpy` call per recorded op
    /// (`perf-artifacts/autograd-v3-in-place.md`). `fill` adds the edges
    /// ([`Node::set_input`]) while the allocation is a `UniqueArc` (no
    /// count to check); if it fails, the node is dropped and its error
    /// returned.
    pub fn new_arc(
        name: &'static str,
        backward: BackwardFn,
        fill: impl FnOnce(&mut Node) -> Result<()>,
    ) -> Result<NodeArc> {
        let mut slot = UniqueArc::<Node>::new_uninit();
        // Counted as it is made: its drop uncounts it.
        crate::live::add(1);
        let filled = fill(slot.write(Node {
            name,
            seq: SEQ.with(|s| s.replace(s.get() + 1)),
            edges: [None, None, None],
            inputs: [None, None, None],
            backward: SpinLock::new(Some(backward)),
        }));
        // SAFETY: `write` above put a whole `Node` in `slot` before `fill`
        // saw it, and `fill` could only replace its fields with other valid
        // values.
        let node = unsafe { UniqueArc::assume_init(slot) }.shareable();
        filled.map(|()| node)
    }

    /// Records that argument `i`, `t` (which requires grad), is `edge`,
    /// of `t`'s shape and dtype. Once per argument of a new node: its
    /// slots are empty, so they are filled in place. (Assigned, the old
    /// slot's drop came between making the shape and storing it, which
    /// put it on the stack in odd-sized pieces, and the store into the
    /// node waited on them: a third of `Node::new_arc`'s samples.)
    #[inline]
    pub fn set_input(&mut self, i: usize, edge: Edge, t: &Tensor) {
        debug_assert!(self.edges[i].is_none() && self.inputs[i].is_none());
        self.edges[i].get_or_insert(edge);
        self.inputs[i].get_or_insert_with(|| InputMeta::of(t));
    }

    /// Runs the backward function on `grad` (`Some`; the function may
    /// take it), which writes the inputs' gradients to `out` (all `None`
    /// on entry); without `retain` it is dropped after, with the tensors
    /// it saved.
    pub fn apply(
        &self,
        ctx: &Ctx,
        grad: &mut Option<Tensor>,
        retain: bool,
        out: &mut Grads,
    ) -> Result<()> {
        let mut slot = self.backward.lock();
        let Some(f) = slot.as_mut() else {
            return Err(Error::new(
                ErrorKind::Value,
                "Trying to backward through the graph a second time (or directly access saved \
                 tensors after they have already been freed). Saved intermediate values of the \
                 graph are freed when you call .backward() or autograd.grad(). Specify \
                 retain_graph=True if you need to backward through the graph a second time or \
                 if you need to access saved tensors after calling backward.",
            ));
        };
        let r = f(ctx, grad, out);
        if !retain {
            *slot = None;
        }
        r
    }
}

impl Drop for Node {
    /// Frees the nodes only this one kept alive in a loop, not by
    /// recursion: the default drop of a chain of N nodes nests N drops
    /// and overflowed a 2 MiB test thread's stack at 100,000 ops (PyTorch
    /// frees its graphs iteratively too, `deleteNode`). A node whose last
    /// reference is ours has its edges taken here, so its own drop finds
    /// nothing to follow.
    fn drop(&mut self) {
        crate::live::add(-1);
        let mut stack: Vec<NodeArc> = Vec::new();
        take_node_edges(&mut self.edges, &mut stack);
        while let Some(mut n) = stack.pop() {
            // `get_mut` succeeds only for the last reference (no weak
            // references exist): then no other owner can see the edges
            // taken. Otherwise dropping `n` only decrements its count, or,
            // if another thread let go meanwhile, frees that one node,
            // whose drop is this loop again.
            if let Some(inner) = NodeArc::get_mut(&mut n) {
                take_node_edges(&mut inner.edges, &mut stack);
            }
        }
    }
}

/// Moves a node's edges to other nodes onto `stack` (leaf edges are
/// dropped: a leaf's meta holds no node).
fn take_node_edges(edges: &mut [Option<Edge>; MAX_INPUTS], stack: &mut Vec<NodeArc>) {
    for e in edges {
        if let Some(Edge::Node(n)) = e.take() {
            stack.push(n);
        }
    }
}

/// PyTorch's forward name of a node: `ExpBackward0` -> `Exp`.
fn forward_name(node: &str) -> &str {
    let base = node.trim_end_matches(|c: char| c.is_ascii_digit());
    base.strip_suffix("Backward").unwrap_or(base)
}

/// A tensor saved for backward: its data (no autograd state, so no
/// cycle), the version of its storage when saved, and what made it (for
/// the error message).
pub(crate) struct Saved {
    data: TensorImpl,
    version: u64,
    producer: Option<&'static str>,
}

impl Saved {
    /// An input of the op being recorded.
    pub fn input(t: &Tensor) -> Saved {
        Saved {
            data: t.data().clone(),
            version: t.data().version(),
            producer: meta_ref(t).and_then(Meta::grad_fn_name),
        }
    }

    /// The output of the op being recorded, whose node is `node`.
    pub fn output(t: &TensorImpl, node: &'static str) -> Saved {
        Saved {
            data: t.clone(),
            version: t.version(),
            producer: Some(node),
        }
    }

    /// The saved tensor, if it was not modified in place since.
    pub fn get(&self) -> Result<Tensor> {
        let now = self.data.version();
        if now != self.version {
            let mut msg = format!(
                "one of the variables needed for gradient computation has been modified by an \
                 inplace operation: [torch.{}Tensor {}]",
                self.data.dtype().scalar_type_name(),
                ft_core::error::fmt_shape(self.data.shape())
            );
            if let Some(p) = self.producer {
                msg.push_str(&format!(", which is output 0 of {},", forward_name(p)));
            }
            msg.push_str(&format!(
                " is at version {now}; expected version {} instead. Hint: enable anomaly \
                 detection to find the operation that failed to compute its gradient, with \
                 torch.autograd.set_detect_anomaly(True, check_nan=False).",
                self.version
            ));
            return Err(Error::new(ErrorKind::Value, msg));
        }
        Ok(Tensor::from(self.data.clone()))
    }
}

/// PyTorch's `torch.Size([2, 3])`, as its messages print shapes.
pub(crate) fn torch_size(s: &[usize]) -> String {
    let inner: Vec<String> = s.iter().map(usize::to_string).collect();
    format!("torch.Size([{}])", inner.join(", "))
}

/// A copy of `t` in fresh contiguous storage that nothing else shares (a
/// leaf's first `.grad`, an optimizer's state).
pub(crate) fn fresh_copy(t: &Tensor) -> Result<Tensor> {
    let c = Tensor::zeros(t.shape(), t.dtype())?;
    c.copy_(t)?;
    Ok(c)
}

/// The type-erased form dispatch stores (a leaf's meta).
pub(crate) fn erase(m: Meta) -> ft_dispatch::AutogradMeta {
    Arc::new(m) as Arc<dyn Any + Send + Sync>
}

/// The erased meta of an op's output, written straight into its `Arc`:
/// `Arc::new(Meta::output(..))` built the 48 bytes on the stack and copied
/// them in after allocating, and the copy's 16-byte loads waited on the
/// stores just made (a failed store forward: 60% of the samples of the
/// code that marks a recorded op's output, ~2% of a recorded chain).
#[inline(always)]
pub(crate) fn erase_output(node: NodeArc, is_view: bool) -> ft_dispatch::AutogradMeta {
    let slot: Arc<MaybeUninit<Meta>> = Arc::new_uninit();
    let at = Arc::as_ptr(&slot).cast_mut();
    // SAFETY: `slot` was just allocated and is its allocation's only
    // reference (no clone, no `Weak`), so nothing else reads or writes
    // it; `as_ptr` gives a raw pointer to the value without making a
    // reference to it, and writing a whole `Meta` through it initialises
    // the value, as `assume_init` below requires.
    unsafe {
        at.write(MaybeUninit::new(Meta::output(node, is_view)));
        slot.assume_init() as Arc<dyn Any + Send + Sync>
    }
}
