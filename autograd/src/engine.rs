//! The backward engine (PyTorch's `Engine::execute` and `GraphTask`):
//! find the nodes the roots reach, count each one's dependencies, run a
//! node when all the gradients flowing into it have arrived (latest
//! created first, so the order, and with it every sum, is deterministic),
//! and hand its input gradients on. Leaves accumulate into `.grad`;
//! `grad()` captures gradients instead and leaves `.grad` alone.

use crate::graph::{Ctx, Edge, Grads, MAX_INPUTS, Meta, Node, fresh_copy, meta_ref, torch_size};
use ft_core::{Error, ErrorKind, Result};
use ft_dispatch::Tensor;
use ft_dispatch::grad_mode::GradModeGuard;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes the engine's keys, which are allocation addresses (distinct,
/// 8-byte aligned): one multiply spreads them, where SipHash's
/// flood-resistance buys nothing and costs a tenth of a backward pass.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Map<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;

struct Task<'g> {
    /// Borrowed from the graph, which `execute`'s roots keep alive and
    /// which nothing rewires while it runs (a node's edges are fixed when
    /// it is recorded): no reference count changes per task.
    edge: &'g Edge,
    /// The task index of each of a node's edges (`None` for a leaf, or
    /// an edge the node does not have): resolved once after discovery, so
    /// the run below indexes a `Vec` instead of hashing per edge.
    children: [Option<usize>; MAX_INPUTS],
    /// Gradient edges from nodes that will run, not yet delivered.
    deps: usize,
    /// Runs (a node on the way to what is wanted).
    run: bool,
    /// Captured by `grad()`: index into its result.
    capture: Option<usize>,
    /// In the ready queue already.
    queued: bool,
}

impl Task<'_> {
    /// Whether a gradient flowing here is wanted.
    fn wanted(&self) -> bool {
        self.run || self.capture.is_some()
    }
}

/// The edge a root or an input starts from.
fn edge_of(t: &Tensor, what: impl FnOnce() -> Error) -> Result<Edge> {
    if !t.requires_grad() {
        return Err(what());
    }
    Edge::of(t)
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Value, msg)
}

/// The gradient each root starts with: the given one (checked against the
/// root's shape) or, for a one-element root, ones.
fn root_grads(roots: &[&Tensor], given: Option<&[&Tensor]>) -> Result<Vec<Tensor>> {
    if let Some(g) = given
        && g.len() != roots.len()
    {
        return Err(err(format!(
            "grad requires one gradient per output: got {} for {} outputs",
            g.len(),
            roots.len()
        )));
    }
    let mut out = Vec::with_capacity(roots.len());
    for (i, r) in roots.iter().enumerate() {
        match given.map(|g| g[i]) {
            Some(g) => {
                if g.shape() != r.shape() {
                    return Err(Error::new(
                        ErrorKind::Shape,
                        format!(
                            "Mismatch in shape: grad_output[{i}] has a shape of {} and output[{i}] \
                             has a shape of {}.",
                            torch_size(g.shape()),
                            torch_size(r.shape())
                        ),
                    ));
                }
                out.push(if g.dtype() == r.dtype() {
                    g.detach()
                } else {
                    g.to_dtype(r.dtype())?
                });
            }
            None => {
                if r.numel() != 1 {
                    return Err(err(
                        "grad can be implicitly created only for scalar outputs",
                    ));
                }
                out.push(Tensor::ones(r.shape(), r.dtype())?);
            }
        }
    }
    Ok(out)
}

/// Reduces a gradient to an input's shape (the sum over broadcast dims),
/// or fails as PyTorch's `validate_outputs` does. In place: the common
/// gradient, already of the input's shape and dtype, is not moved.
fn fit(node: &Node, i: usize, g: &mut Tensor) -> Result<()> {
    let Some(meta) = &node.inputs[i] else {
        return Ok(());
    };
    if !same_shape(g.shape(), meta.shape()) {
        *g = crate::formulas::sum_to(g, meta.shape()).map_err(|_| {
            Error::new(
                ErrorKind::Shape,
                format!(
                    "Function {} returned an invalid gradient at index {i} - got {} but expected \
                     shape compatible with {}",
                    node.name,
                    ft_core::error::fmt_shape(g.shape()),
                    ft_core::error::fmt_shape(meta.shape())
                ),
            )
        })?;
    }
    if g.dtype() != meta.dtype {
        *g = g.to_dtype(meta.dtype)?;
    }
    Ok(())
}

/// `a == b` for shapes, compared inline: the slice comparison was a
/// `memcmp` call per gradient for a few words.
#[inline]
fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Adds `g` to a leaf's `.grad`: the first gradient is copied into storage
/// of the leaf's own (never shared with a user's tensor); later ones are
/// added in place, as PyTorch's `AccumulateGrad` does.
fn accumulate(meta: &Meta, g: Tensor) -> Result<()> {
    let mut slot = meta.grad_slot();
    match slot.as_ref() {
        Some(existing) => existing.add_(&g),
        None => {
            *slot = Some(Box::new(fresh_copy(&g)?));
            Ok(())
        }
    }
}

/// Runs backward from `roots`. With `inputs`, returns the gradient of each
/// input and touches no `.grad`; without, accumulates into the leaves.
pub(crate) fn execute(
    roots: &[&Tensor],
    grads: Option<&[&Tensor]>,
    retain_graph: bool,
    inputs: Option<&[&Tensor]>,
) -> Result<Vec<Option<Tensor>>> {
    let _no_grad = GradModeGuard::new(false);
    let mut root_edges = Vec::with_capacity(roots.len());
    for (i, r) in roots.iter().enumerate() {
        root_edges.push(edge_of(r, || {
            err(format!(
                "element {i} of tensors does not require grad and does not have a grad_fn"
            ))
        })?);
    }
    let start = root_grads(roots, grads)?;

    // Discovery: every node reachable from the roots, numbered as first
    // seen; a node's children are resolved as it is expanded, one hash
    // lookup per edge (entering each edge and resolving it after cost
    // three). Borrowed edges, no reference counts changed.
    let mut index: Map<usize> = Map::with_capacity_and_hasher(256, Default::default());
    let mut tasks: Vec<Task> = Vec::with_capacity(256);
    let mut stack: Vec<usize> = Vec::with_capacity(64);
    // Without inputs (`backward`): every node runs, leaves collect.
    let run_all = inputs.is_none();
    // The task of an edge, made (and queued for expansion) if new.
    fn task_of<'g>(
        e: &'g Edge,
        index: &mut Map<usize>,
        tasks: &mut Vec<Task<'g>>,
        stack: &mut Vec<usize>,
        run: bool,
    ) -> usize {
        *index.entry(e.key()).or_insert_with(|| {
            stack.push(tasks.len());
            tasks.push(Task {
                edge: e,
                children: [None; MAX_INPUTS],
                deps: 0,
                run,
                capture: None,
                queued: false,
            });
            tasks.len() - 1
        })
    }
    for e in &root_edges {
        task_of(e, &mut index, &mut tasks, &mut stack, run_all);
    }
    while let Some(i) = stack.pop() {
        if let Edge::Node(n) = tasks[i].edge {
            for (j, c) in n.edges.iter().enumerate() {
                if let Some(c) = c {
                    tasks[i].children[j] =
                        Some(task_of(c, &mut index, &mut tasks, &mut stack, run_all));
                }
            }
        }
    }

    // With inputs: capture their gradients, and run only the nodes on a
    // path to one of them.
    let mut captured: Vec<Option<Tensor>> = Vec::new();
    if let Some(inputs) = inputs {
        captured = vec![None; inputs.len()];
        for (i, t) in inputs.iter().enumerate() {
            let e = edge_of(t, || {
                err("One of the differentiated Tensors does not require grad")
            })?;
            if let Some(&ti) = index.get(&e.key()) {
                tasks[ti].capture = Some(i);
            }
        }
        for i in post_order(&tasks) {
            let wanted_below = tasks[i]
                .children
                .iter()
                .flatten()
                .any(|&c| tasks[c].wanted());
            tasks[i].run = wanted_below;
        }
    }

    // Dependencies: gradient edges from the nodes that will run.
    for i in 0..tasks.len() {
        if !tasks[i].run {
            continue;
        }
        for c in tasks[i].children.into_iter().flatten() {
            tasks[c].deps += 1;
        }
    }

    let mut ready: BinaryHeap<(u64, usize)> = BinaryHeap::new();
    // The sum of the gradients delivered to each task so far. Beside the
    // tasks, not in them: a node's gradient is read where it lies, and a
    // delivered one is moved once, from its formula's slot.
    let mut bufs: Vec<Option<Tensor>> = Vec::with_capacity(tasks.len());
    bufs.resize_with(tasks.len(), || None);
    // Delivers a gradient (taken from `g`) to a task; a task with nothing
    // left to wait for is finished (a leaf or a capture) or queued (a node).
    fn deliver(
        t: &mut Task,
        buf: &mut Option<Tensor>,
        i: usize,
        ready: &mut BinaryHeap<(u64, usize)>,
        g: &mut Option<Tensor>,
        counted: bool,
    ) -> Result<()> {
        match (buf.as_mut(), g.as_ref()) {
            (_, None) => {}
            (None, Some(_)) => *buf = g.take(),
            (Some(b), Some(g)) => *b = b.add(g)?,
        }
        if counted {
            t.deps -= 1;
        }
        if t.deps == 0
            && !t.queued
            && let Edge::Node(n) = &t.edge
        {
            t.queued = true;
            ready.push((n.seq, i));
        }
        Ok(())
    }

    for (e, g) in root_edges.iter().zip(start) {
        let i = index[&e.key()];
        deliver(
            &mut tasks[i],
            &mut bufs[i],
            i,
            &mut ready,
            &mut Some(g),
            false,
        )?;
    }
    // Leaves are finished once every edge into them has delivered; a
    // root leaf with no other edge is finished at once.
    while let Some((_, i)) = ready.pop() {
        let t = &tasks[i];
        let Edge::Node(node) = t.edge else {
            continue;
        };
        let (run, capture, children) = (t.run, t.capture, t.children);
        if let (Some(c), Some(g)) = (capture, &bufs[i]) {
            captured[c] = Some(g.clone());
        }
        if !run {
            bufs[i] = None;
            continue;
        }
        let wanted = children.map(|c| c.is_some_and(|c| tasks[c].wanted()));
        // The gradients the node's formula writes, one slot per input;
        // what it gave that is not wanted is dropped with them.
        let mut out: Grads = [None, None, None];
        if bufs[i].is_some() {
            node.apply(&Ctx { needs: wanted }, &mut bufs[i], retain_graph, &mut out)?;
        }
        // Its own gradient is used up (or was taken by the formula).
        bufs[i] = None;
        for (j, c) in children.into_iter().enumerate() {
            let Some(c) = c else { continue };
            if !wanted[j] {
                continue;
            }
            if let Some(g) = &mut out[j] {
                fit(node, j, g)?;
            }
            deliver(
                &mut tasks[c],
                &mut bufs[c],
                c,
                &mut ready,
                &mut out[j],
                true,
            )?;
        }
    }
    // Leaves: accumulate (backward) or capture (grad).
    for (i, t) in tasks.iter().enumerate() {
        let Edge::Leaf(m) = t.edge else { continue };
        if t.deps != 0 {
            continue;
        }
        if let Some(g) = bufs[i].take() {
            if let Some(c) = t.capture {
                captured[c] = Some(g);
            } else if run_all {
                accumulate(m, g)?;
            }
        }
    }
    Ok(captured)
}

/// The tasks in an order that puts every task after its children (a
/// post-order of the graph), for the pass that needs it (which nodes lead
/// to a captured input).
fn post_order(tasks: &[Task]) -> Vec<usize> {
    let mut order = Vec::with_capacity(tasks.len());
    let mut seen = vec![false; tasks.len()];
    // (task, whether its children are pushed already)
    let mut stack: Vec<(usize, bool)> = Vec::new();
    for root in 0..tasks.len() {
        if seen[root] {
            continue;
        }
        stack.push((root, false));
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                order.push(i);
                continue;
            }
            if seen[i] {
                continue;
            }
            seen[i] = true;
            stack.push((i, true));
            for c in tasks[i].children.into_iter().flatten() {
                if !seen[c] {
                    stack.push((c, false));
                }
            }
        }
    }
    order
}

/// Whether a tensor is a leaf (no node made it).
pub(crate) fn is_leaf(t: &Tensor) -> bool {
    meta_ref(t).is_none_or(Meta::is_leaf)
}
