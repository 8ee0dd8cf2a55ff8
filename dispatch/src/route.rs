//! Routing: the key set of a call's arguments, the key it resolves to, the
//! kernel table lookup, the fallbacks the mode allows, and the ledger.
//! Nothing on this path allocates unless the call fails.

use crate::cpu;
use crate::frame::{Arg, Frame, Kernel, Outputs};
use crate::key::{Backend, DispatchKey, DispatchKeySet, Functionality, KeySetError};
use crate::ledger::{self, Entry, Fallback, Reason};
use crate::mode::{Mode, hardened_max_alloc_bytes, mode};
use crate::ops::{CPU_KERNELS, Op};
use crate::schema::{self, Schema, SchemaError};
use ft_core::{Device, Error, ErrorKind, Result};
use std::sync::OnceLock;

/// The schema file, compiled in.
pub const SCHEMA_TEXT: &str = include_str!("../ops.schema");

static SLOTS: [[OnceLock<Kernel>; DispatchKey::COUNT]; Op::COUNT] =
    [const { [const { OnceLock::new() }; DispatchKey::COUNT] }; Op::COUNT];

/// The parsed schema, in `Op` order, or why it is invalid.
static REGISTRY: OnceLock<Result<Vec<Schema>, SchemaError>> = OnceLock::new();

/// Parses the schema, checks it binds one-to-one to the op table, and
/// fills the CPU and composite slots. Runs once.
fn init() -> Result<Vec<Schema>, SchemaError> {
    let parsed = schema::parse_file(SCHEMA_TEXT)?;
    let mut by_op: Vec<Option<Schema>> = vec![None; Op::COUNT];
    for s in parsed {
        let Some(op) = Op::from_name(&s.full_name()) else {
            return Err(SchemaError {
                line: s.line,
                message: format!("`{}` has no kernel in the op table", s.full_name()),
            });
        };
        by_op[op.index()] = Some(s);
    }
    let mut out = Vec::with_capacity(Op::COUNT);
    for (op, s) in Op::ALL.iter().zip(by_op) {
        out.push(s.ok_or_else(|| SchemaError {
            line: 0,
            message: format!("op `{}` has a kernel but no schema entry", op.name()),
        })?);
    }
    for &(op, k) in CPU_KERNELS {
        let _ = SLOTS[op.index()][DispatchKey::CPU.index()].set(k);
    }
    for &op in Op::ALL {
        if let Some(k) = cpu::composite(op) {
            let _ = SLOTS[op.index()][DispatchKey::CompositeImplicitAutograd.index()].set(k);
        }
    }
    Ok(out)
}

/// The validated schema of every op, in `Op` order.
pub fn schemas() -> Result<&'static [Schema]> {
    match REGISTRY.get_or_init(init) {
        Ok(v) => Ok(v),
        Err(e) => Err(Error::new(ErrorKind::Value, e.to_string())),
    }
}

/// The schema of one op.
pub fn schema_of(op: Op) -> Result<&'static Schema> {
    Ok(&schemas()?[op.index()])
}

/// The kernel registered for `(op, key)`, if any. Never allocates.
#[inline]
pub fn lookup(op: Op, key: DispatchKey) -> Option<Kernel> {
    SLOTS[op.index()][key.index()].get().copied()
}

/// Registers a kernel for `(op, key)`: how ft-autograd adds its
/// `AutogradCPU` kernels. A slot is set once; a second registration is an
/// error, never a silent replacement.
pub fn register(op: Op, key: DispatchKey, kernel: Kernel) -> Result<()> {
    schemas()?;
    SLOTS[op.index()][key.index()].set(kernel).map_err(|_| {
        Error::new(
            ErrorKind::Value,
            format!(
                "a kernel for '{}' is already registered under {key}",
                op.name()
            ),
        )
    })
}

/// PyTorch's message for tensors of one call on different devices.
fn device_mismatch(found: Device, expected: Device) -> Error {
    Error::new(
        ErrorKind::Device,
        format!("Tensor on device {found} is not on the expected device {expected}!"),
    )
}

/// The key set of a call: its tensors' backend, Dense, and Autograd when
/// one of them requires grad and grad mode is on. Tensors on different devices fail closed.
#[inline]
pub fn keyset_of(f: &Frame<'_>) -> Result<DispatchKeySet> {
    let mut device: Option<Device> = None;
    let mut grad = false;
    for t in f.tensors() {
        let d = t.device();
        match device {
            None => device = Some(d),
            Some(e) if e != d => return Err(device_mismatch(d, e)),
            Some(_) => {}
        }
        grad |= t.requires_grad();
    }
    let d = device.ok_or_else(|| {
        Error::new(
            ErrorKind::Value,
            "an op call needs at least one tensor argument",
        )
    })?;
    let mut ks = DispatchKeySet::backend(Backend::of(d.kind))
        .union(DispatchKeySet::functionality(Functionality::Dense));
    if grad && crate::grad_mode::is_grad_enabled() {
        ks = ks.union(DispatchKeySet::functionality(Functionality::Autograd));
    }
    Ok(ks)
}

fn keyset_error(op: Op, e: KeySetError) -> Error {
    Error::new(
        ErrorKind::Value,
        format!("dispatch of '{}' failed closed: {e}", op.name()),
    )
}

/// Calls `op`: key set, resolution, lookup, kernel. The kernel's results
/// land in `out` (nothing, for in-place and `out=` ops).
#[inline]
pub fn call(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    if !ledger::is_enabled()
        && let Some(k) = plain_route(op, f)
    {
        if cfg!(debug_assertions) {
            check_frame(schema_of(op)?, f)?;
        }
        return k(f, out);
    }
    call_not_plain(op, f, out)
}

/// [`call`] past its plain route: the recorded route, else the general
/// path. Out of line, and light: the general path's frame is set up only
/// when it runs.
#[inline(never)]
fn call_not_plain(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    if !ledger::is_enabled()
        && let Some(k) = recorded_route(op, f)
    {
        if cfg!(debug_assertions) {
            check_frame(schema_of(op)?, f)?;
        }
        return k(f, out);
    }
    call_general(op, f, out)
}

/// Whether a call has tensor arguments, all on the CPU, and (unless
/// `grad_ok`) none requiring grad.
#[inline]
fn all_cpu(f: &Frame<'_>, grad_ok: bool) -> bool {
    let mut tensors = 0;
    for a in f.args() {
        if let Arg::Tensor(t) | Arg::OptTensor(Some(t)) = a {
            if !t.device().is_cpu() || (!grad_ok && t.requires_grad()) {
                return false;
            }
            tensors += 1;
        }
    }
    tensors > 0
}

/// Whether a tensor argument requires grad.
#[inline]
fn any_grad(f: &Frame<'_>) -> bool {
    f.tensors().any(|t| t.requires_grad())
}

/// The kernel of the most common call, found without building a key set:
/// every tensor argument on the CPU and none requiring grad (so the key
/// set is `{CPU, Dense}` and resolves to the CPU kernel), Strict mode, and
/// a dtype the kernel has. `None` for any other call, which
/// [`call_general`] routes; for this one it selects the same kernel, with
/// nothing to fall back to or refuse (`plain_route_selects_what_the_general_path_selects`
/// checks that against the ledger). [`call`] takes it only while the
/// ledger is off, since it records nothing.
#[doc(hidden)]
#[inline]
pub fn plain_route(op: Op, f: &Frame<'_>) -> Option<Kernel> {
    if !all_cpu(f, false) {
        return None;
    }
    cpu_kernel(op, f)
}

/// The CPU kernel when the general path would call it directly for a call
/// whose tensors are all on the CPU: Strict mode and a dtype it has.
#[inline]
fn cpu_kernel(op: Op, f: &Frame<'_>) -> Option<Kernel> {
    if mode() != Mode::Strict || !cpu::has_dtype(op, f) {
        return None;
    }
    lookup(op, DispatchKey::CPU)
}

/// The kernel of a call that records, found without building a key set:
/// every tensor on the CPU, one requiring grad and grad mode on (the key
/// set `{CPU, Dense, Autograd}`): the `AutogradCPU` kernel, if one is
/// registered, which the general path calls then without consulting the
/// mode or the dtype (ft-autograd's `tests/routes.rs` checks that against
/// the ledger). [`call`] takes it after its plain route, while the ledger
/// is off, out of line: the inlined plain route stays as small as it was.
#[doc(hidden)]
#[inline]
pub fn recorded_route(op: Op, f: &Frame<'_>) -> Option<Kernel> {
    // All on the CPU is not enough: `plain_route` also refuses plain calls
    // in Hardened mode or with a dtype the CPU kernel lacks.
    if !crate::grad_mode::is_grad_enabled() || !all_cpu(f, true) || !any_grad(f) {
        return None;
    }
    lookup(op, DispatchKey::AUTOGRAD_CPU)
}

/// What an `AutogradCPU` kernel calls to run the op below itself: the
/// general path with the Autograd key taken out of the call's key set, or,
/// while the ledger is off, for tensors all on the CPU, in Strict mode and
/// with a dtype the CPU kernel has, that kernel directly (the one the
/// general path selects then: `shortcuts_select_what_the_general_path_selects`
/// in ft-autograd's tests).
#[inline]
pub fn call_below_autograd(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    if !ledger::is_enabled()
        && let Some(k) = below_autograd_route(op, f)
    {
        return k(f, out);
    }
    let ks = keyset_of(f)?.without(Functionality::Autograd);
    redispatch(op, ks, f, out)
}

/// The kernel [`call_below_autograd`] calls directly, if any.
#[doc(hidden)]
#[inline]
pub fn below_autograd_route(op: Op, f: &Frame<'_>) -> Option<Kernel> {
    if all_cpu(f, true) {
        cpu_kernel(op, f)
    } else {
        None
    }
}

/// [`call`] for every call: key set, resolution, lookup, kernel.
#[inline(never)]
fn call_general(op: Op, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    let schemas = schemas()?;
    if cfg!(debug_assertions) {
        check_frame(&schemas[op.index()], f)?;
    }
    let ks = match keyset_of(f) {
        Ok(ks) => ks,
        Err(e) => {
            ledger::record(Entry {
                seq: 0,
                op,
                keyset_bits: 0,
                selected: None,
                backend: None,
                fallback: Fallback::None,
                reason: Reason::DeviceMismatch,
            });
            return Err(e);
        }
    };
    // PyTorch's ADInplaceOrView key: a view of a tensor that requires
    // grad, taken in no_grad mode, still goes through autograd's kernel
    // (which makes it a leaf that requires grad, as PyTorch does).
    let ks = if op.is_view()
        && !ks.has_functionality(Functionality::Autograd)
        && f.tensors().any(|t| t.requires_grad())
        && lookup(op, DispatchKey::AUTOGRAD_CPU).is_some()
    {
        ks.union(DispatchKeySet::functionality(Functionality::Autograd))
    } else {
        ks
    };
    redispatch(op, ks, f, out)
}

/// Routes `op` with a given key set: what an autograd kernel calls with
/// `ks.without(Functionality::Autograd)` to reach the kernel below it.
pub fn redispatch(op: Op, ks: DispatchKeySet, f: &Frame<'_>, out: &mut Outputs) -> Result<()> {
    let bits = ks.bits();
    let record = |selected, backend, fallback, reason| {
        ledger::record(Entry {
            seq: 0,
            op,
            keyset_bits: bits,
            selected,
            backend,
            fallback,
            reason,
        })
    };
    let (mut key, backend) = match (ks.highest_priority_key(), ks.backend_key()) {
        (Ok(k), Ok(b)) => (k, b),
        (Err(e), _) | (_, Err(e)) => {
            record(None, None, Fallback::None, Reason::InvalidKeySet);
            return Err(keyset_error(op, e));
        }
    };
    let mut reason = Reason::Direct;
    if let DispatchKey::Autograd(_) = key {
        if let Some(k) = lookup(op, key) {
            record(Some(key), Some(backend), Fallback::None, Reason::Direct);
            return k(f, out);
        }
        if !op.autograd_fallthrough() {
            record(Some(key), Some(backend), Fallback::None, Reason::NoKernel);
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "'{}' has no {key} kernel: autograd is not available for it yet",
                    op.name()
                ),
            ));
        }
        key = backend;
        reason = Reason::AutogradFallthrough;
    }
    let Some(k) = lookup(op, key) else {
        record(Some(key), Some(backend), Fallback::None, Reason::NoKernel);
        return Err(Error::new(
            ErrorKind::Device,
            format!(
                "Could not run 'aten::{}' with arguments from the '{key}' backend: \
                 FrankenTorch executes on the CPU only",
                op.name()
            ),
        ));
    };
    let m = mode();
    if !cpu::has_dtype(op, f)
        && let Some(c) = lookup(op, DispatchKey::CompositeImplicitAutograd)
    {
        if m == Mode::Hardened {
            record(
                Some(DispatchKey::CompositeImplicitAutograd),
                Some(backend),
                Fallback::Composite,
                Reason::DtypeFallback,
            );
            return c(f, out);
        }
        // Strict: the direct kernel gives PyTorch's error for the dtype.
        record(
            Some(key),
            Some(backend),
            Fallback::None,
            Reason::DtypeRejected,
        );
        return k(f, out);
    }
    if m == Mode::Hardened
        && let Err(e) = check_output_size(op, f)
    {
        record(
            Some(key),
            Some(backend),
            Fallback::None,
            Reason::AllocationTooLarge,
        );
        return Err(e);
    }
    record(Some(key), Some(backend), Fallback::None, reason);
    k(f, out)
}

/// Hardened mode's guard against absurd allocations: the broadcast output
/// of an elementwise op must fit in [`hardened_max_alloc_bytes`].
fn check_output_size(op: Op, f: &Frame<'_>) -> Result<()> {
    if !op.is_elementwise() {
        return Ok(());
    }
    let mut shapes: [&[usize]; crate::frame::MAX_ARGS] = [&[]; crate::frame::MAX_ARGS];
    let mut n = 0;
    let mut elem = 1;
    for t in f.tensors() {
        shapes[n] = t.shape();
        n += 1;
        elem = elem.max(t.dtype().size());
    }
    // Shapes that do not broadcast: the kernel reports PyTorch's error.
    let Ok(shape) = ft_kernels::iter::broadcast_shapes(&shapes[..n]) else {
        return Ok(());
    };
    let bytes = shape.iter().try_fold(elem, |acc, &d| acc.checked_mul(d));
    let limit = hardened_max_alloc_bytes();
    match bytes {
        Some(b) if b <= limit => Ok(()),
        _ => Err(Error::new(
            ErrorKind::Alloc,
            format!(
                "Hardened mode refused '{}': its output would take {} bytes, over the limit of \
                 {limit} (FT_HARDENED_MAX_ALLOC)",
                op.name(),
                bytes.map_or("more than usize::MAX".to_string(), |b| b.to_string())
            ),
        )),
    }
}

/// Checks a frame against the op's schema (debug builds: every test call
/// proves the method passes what the schema declares).
fn check_frame(s: &Schema, f: &Frame<'_>) -> Result<()> {
    let args = f.args();
    if args.len() != s.args.len() {
        return Err(Error::new(
            ErrorKind::Value,
            format!(
                "internal dispatch error: '{}' takes {} arguments, the call passed {}",
                s.full_name(),
                s.args.len(),
                args.len()
            ),
        ));
    }
    for (a, spec) in args.iter().zip(&s.args) {
        if !a.fits(spec) {
            return Err(Error::new(
                ErrorKind::Value,
                format!(
                    "internal dispatch error: argument `{}` of '{}' got {a:?}",
                    spec.name,
                    s.full_name()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;
    use crate::grad_mode::no_grad;
    use ft_core::{DType, Scalar};

    /// For calls of every kind the shortcut meets (plain, requiring grad,
    /// in no_grad, a dtype without a direct kernel, Hardened mode, a view),
    /// `plain_route` gives a kernel exactly when the general path selects
    /// the CPU kernel directly, and then the same kernel (no autograd
    /// kernel is registered here: ft-autograd's tests check the recorded
    /// route).
    #[test]
    fn plain_route_selects_what_the_general_path_selects() {
        // The table fills on first use (a call before that routes the
        // general way, which fills it).
        schemas().unwrap();
        let a = Tensor::from_slice(&[1.0f32, -2.0, 3.0], &[3]).unwrap();
        let g = a.clone().set_requires_grad(true).unwrap();
        let i = Tensor::from_slice(&[1i64, 2, 3], &[3]).unwrap();
        let out = Tensor::zeros(&[3], DType::F32).unwrap();
        let one = Arg::Scalar(Scalar::Int(1));
        let half = Arg::Scalar(Scalar::Float(0.5));
        let none = Arg::Str("none");
        let cases: Vec<(Op, Vec<Arg<'_>>)> = vec![
            (Op::AddTensor, vec![Arg::Tensor(&a), Arg::Tensor(&a), one]),
            (
                Op::AddOut,
                vec![Arg::Tensor(&a), Arg::Tensor(&a), one, Arg::Tensor(&out)],
            ),
            (Op::MulScalar, vec![Arg::Tensor(&a), half]),
            (Op::AddTensor, vec![Arg::Tensor(&g), Arg::Tensor(&a), one]),
            (Op::Gelu, vec![Arg::Tensor(&a), none]),
            (Op::Gelu, vec![Arg::Tensor(&i), none]),
        ];
        // `exact`: the shortcut must be taken wherever the general path goes
        // straight to the CPU kernel (Strict); otherwise only never where
        // it does not (Hardened adds its size check, so it stays general).
        let check = |label: &str, exact: bool| {
            for (op, args) in &cases {
                let f = Frame::new(args).unwrap();
                let plain = plain_route(*op, &f);
                ledger::clear();
                let mut o = Outputs::default();
                let _ = call_general(*op, &f, &mut o);
                let e = ledger::entries().pop().expect("the general path records");
                let direct = e.selected == Some(DispatchKey::CPU)
                    && e.fallback == Fallback::None
                    && e.reason == Reason::Direct;
                if exact {
                    assert_eq!(plain.is_some(), direct, "{label} {op:?}: {e:?}");
                } else {
                    assert!(plain.is_none() || direct, "{label} {op:?}: {e:?}");
                }
                if let Some(k) = plain {
                    assert!(std::ptr::fn_addr_eq(
                        k,
                        lookup(*op, DispatchKey::CPU).unwrap()
                    ));
                }
            }
        };
        ledger::enable(8);
        crate::mode::with_mode(Mode::Strict, || {
            check("strict", true);
            // In no_grad, a tensor that requires grad still goes the general
            // way (it checks grad mode and the view rule).
            no_grad(|| check("no_grad", false));
        });
        crate::mode::with_mode(Mode::Hardened, || check("hardened", false));
        ledger::disable();
    }
}
