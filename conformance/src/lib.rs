//! ft-conformance: PyTorch-generated fixtures and the differential runner
//! (DESIGN.md "conformance").
//!
//! A fixture file (`conformance/fixtures/PPP_*.json`, written by
//! `conformance/oracle/generate.py` from PyTorch) holds cases: an op of
//! the schema, its arguments in schema order, and what PyTorch did (the
//! output values, the argument it wrote, or its error). The runner calls
//! each case through dispatch (`ft_dispatch::call`, the route every method
//! takes) in Strict or Hardened mode, compares, and writes one JSON line
//! per case with the routing decision from the ledger and the command that
//! replays it.

mod families;
pub mod metamorphic;
pub mod sidecar;

use ft_core::{DType, Error, ErrorKind, Result, Scalar, TensorImpl};
use ft_dispatch::{Arg, Frame, Mode, Op, Outputs, Tensor, ledger, with_mode};
use serde_json::{Value, json};

/// The fixture files, compiled in (CI needs neither PyTorch nor paths).
pub const PACKETS: &[(&str, &str, &str)] = &[
    (
        "001",
        "conformance/fixtures/001_tensor_core.json",
        include_str!("../fixtures/001_tensor_core.json"),
    ),
    (
        "002",
        "conformance/fixtures/002_dispatch.json",
        include_str!("../fixtures/002_dispatch.json"),
    ),
    (
        "003",
        "conformance/fixtures/003_schemas.json",
        include_str!("../fixtures/003_schemas.json"),
    ),
    (
        "004",
        "conformance/fixtures/004_autograd.json",
        include_str!("../fixtures/004_autograd.json"),
    ),
    (
        "005",
        "conformance/fixtures/005_cpu_kernels.json",
        include_str!("../fixtures/005_cpu_kernels.json"),
    ),
    (
        "006",
        "conformance/fixtures/006_checkpoints.json",
        include_str!("../fixtures/006_checkpoints.json"),
    ),
    (
        "007",
        "conformance/fixtures/007_devices.json",
        include_str!("../fixtures/007_devices.json"),
    ),
    (
        "008",
        "conformance/fixtures/008_nn.json",
        include_str!("../fixtures/008_nn.json"),
    ),
];

/// One case of a fixture file.
#[derive(Clone, Debug)]
pub struct Case {
    pub packet_id: String,
    pub scenario_id: String,
    pub op: String,
    pub kind: String,
    pub seed: u64,
    pub args: Vec<Value>,
    pub expect: Value,
    /// `op` (one op call, the default), `grad`, or one of the families of
    /// `families.rs` (`view`, `route`, `keyset`, `schema`, ...).
    pub family: String,
    /// The whole case as the fixture has it.
    pub raw: Value,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Value, msg)
}

fn parse_fixture(id: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| bad(format!("fixture {id}: {e}")))
}

/// A packet's fixture file, parsed (`None`: no such packet).
fn fixture(packet: &str) -> Option<Result<Value>> {
    PACKETS
        .iter()
        .find(|p| p.0 == packet)
        .map(|(id, _, text)| parse_fixture(id, text))
}

/// Every case of a packet (`None`: all packets).
pub fn cases(packet: Option<&str>) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    for (id, _, text) in PACKETS {
        if packet.is_some_and(|p| p != *id) {
            continue;
        }
        let v = parse_fixture(id, text)?;
        for c in v["cases"]
            .as_array()
            .ok_or_else(|| bad("fixture without cases"))?
        {
            out.push(Case {
                packet_id: id.to_string(),
                scenario_id: c["scenario_id"].as_str().unwrap_or_default().to_string(),
                op: c["op"].as_str().unwrap_or_default().to_string(),
                kind: c["kind"].as_str().unwrap_or_default().to_string(),
                seed: c["seed"].as_u64().unwrap_or(0),
                args: c["args"].as_array().cloned().unwrap_or_default(),
                expect: c["expect"].clone(),
                family: c["family"].as_str().unwrap_or("op").to_string(),
                raw: c.clone(),
            });
        }
    }
    if packet.is_none_or(|p| p == "009") {
        out.extend(metamorphic::cases());
    }
    Ok(out)
}

/// The ops of a packet for which PyTorch raised under none of the
/// adversarial inputs the generator tried (the fixture's
/// `no_failing_input` list): the coverage rule excuses them from having an
/// adversarial case.
pub fn no_failing_input(packet: &str) -> Result<Vec<String>> {
    let v = fixture(packet).ok_or_else(|| bad(format!("no packet {packet}")))??;
    Ok(v["no_failing_input"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// Cases a packet's generator left out, each with why (the fixture's
/// `excluded` list; `run` prints them so that none is silent).
pub fn excluded(packet: &str) -> Vec<(String, String)> {
    let Some(Ok(v)) = fixture(packet) else {
        return Vec::new();
    };
    v["excluded"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["scenario_id"].as_str().unwrap_or_default().to_string(),
                        e["why"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn number(v: &Value) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad("number out of range")),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::String(s) => match s.as_str() {
            "nan" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            "-0" => Ok(-0.0),
            other => Err(bad(format!("not a number: {other}"))),
        },
        other => Err(bad(format!("not a number: {other}"))),
    }
}

/// A tensor from its fixture form `{dtype, shape, data}`.
pub fn tensor(v: &Value) -> Result<Tensor> {
    let dtype = v["dtype"]
        .as_str()
        .and_then(DType::parse)
        .ok_or_else(|| bad(format!("bad dtype in {v}")))?;
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .ok_or_else(|| bad("tensor without shape"))?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| bad("bad dim")))
        .collect::<Result<_>>()?;
    let values = |key: &str| -> Result<Vec<f64>> {
        v[key]
            .as_array()
            .ok_or_else(|| bad(format!("tensor without {key}")))?
            .iter()
            .map(number)
            .collect()
    };
    let ints =
        |key: &str| -> Option<Vec<i64>> { v[key].as_array()?.iter().map(Value::as_i64).collect() };
    let integer = matches!(dtype, DType::I64 | DType::I32 | DType::U8);
    let build = |data: &[f64], shape: &[usize]| -> Result<TensorImpl> {
        // Integers exactly (an f64 would round int64 values past 2^53).
        if integer
            && let Some(i) = ints(if v.get("storage").is_some() {
                "storage"
            } else {
                "data"
            })
        {
            return match dtype {
                DType::I64 => TensorImpl::from_slice(&i, shape),
                DType::I32 => {
                    TensorImpl::from_slice(&i.iter().map(|&x| x as i32).collect::<Vec<_>>(), shape)
                }
                _ => TensorImpl::from_slice(&i.iter().map(|&x| x as u8).collect::<Vec<_>>(), shape),
            };
        }
        if dtype == DType::Bool {
            let b: Vec<bool> = data.iter().map(|&x| x != 0.0).collect();
            TensorImpl::from_slice(&b, shape)
        } else {
            TensorImpl::from_fn(shape, dtype, |i| data[i])
        }
    };
    if v.get("storage").is_none() {
        let data = values("data")?;
        if data.len() != shape.iter().product::<usize>() {
            return Err(bad("tensor data does not fill its shape"));
        }
        return Ok(Tensor::from(build(&data, &shape)?));
    }
    // A view: its storage, then the layout PyTorch had over it.
    let storage = values("storage")?;
    let strides: Vec<isize> = v["strides"]
        .as_array()
        .ok_or_else(|| bad("view without strides"))?
        .iter()
        .map(|d| {
            d.as_i64()
                .map(|d| d as isize)
                .ok_or_else(|| bad("bad stride"))
        })
        .collect::<Result<_>>()?;
    let offset = v["offset"]
        .as_u64()
        .ok_or_else(|| bad("view without offset"))? as usize;
    let base = build(&storage, &[storage.len()])?;
    Ok(Tensor::from(base.as_strided(&shape, &strides, offset)?))
}

/// An argument's value, owned.
pub(crate) enum Owned {
    Tensor(Tensor),
    Scalar(Scalar),
    Int(i64),
    Dims(Vec<isize>),
    Bool(bool),
    DType(Option<DType>),
    Str(String),
}

/// Arguments of the fixture form, owned.
pub(crate) fn owned_args(args: &[Value]) -> Result<Vec<Owned>> {
    args.iter().map(owned).collect()
}

fn owned(v: &Value) -> Result<Owned> {
    // A tensor argument may carry more keys (`requires_grad`).
    let o = v
        .as_object()
        .ok_or_else(|| bad(format!("bad argument {v}")))?;
    let (k, x) = o
        .get_key_value("tensor")
        .or_else(|| o.iter().next())
        .ok_or_else(|| bad(format!("bad argument {v}")))?;
    Ok(match k.as_str() {
        "tensor" => Owned::Tensor(tensor(x)?),
        "out" => Owned::Tensor(tensor(&x["tensor"])?),
        "scalar" => Owned::Scalar(match x {
            Value::Number(n) if n.is_i64() => Scalar::Int(n.as_i64().unwrap_or(0)),
            Value::Bool(b) => Scalar::Bool(*b),
            other => Scalar::Float(number(other)?),
        }),
        "int" => Owned::Int(x.as_i64().ok_or_else(|| bad("bad int"))?),
        "dims" => Owned::Dims(
            x.as_array()
                .ok_or_else(|| bad("bad dims"))?
                .iter()
                .map(|d| d.as_i64().map(|d| d as isize).ok_or_else(|| bad("bad dim")))
                .collect::<Result<_>>()?,
        ),
        "bool" => Owned::Bool(x.as_bool().ok_or_else(|| bad("bad bool"))?),
        "dtype" => Owned::DType(match x.as_str() {
            None => None,
            Some(s) => Some(DType::parse(s).ok_or_else(|| bad(format!("bad dtype {s}")))?),
        }),
        "str" => Owned::Str(x.as_str().unwrap_or_default().to_string()),
        other => return Err(bad(format!("unknown argument kind {other}"))),
    })
}

pub(crate) fn arg(o: &Owned) -> Arg<'_> {
    match o {
        Owned::Tensor(t) => Arg::Tensor(t),
        Owned::Scalar(s) => Arg::Scalar(*s),
        Owned::Int(i) => Arg::Int(*i),
        Owned::Dims(d) => Arg::Dims(Some(d)),
        Owned::Bool(b) => Arg::Bool(*b),
        Owned::DType(d) => Arg::DType(*d),
        Owned::Str(s) => Arg::Str(s),
    }
}

/// The drifts Hardened mode is allowed: a ledger reason code and why.
/// A Hardened-mode case that departs from PyTorch passes as an
/// *allowlisted drift* only when dispatch recorded one of these reasons
/// for it; any other departure is a failure. Strict mode has no allowlist.
pub const HARDENED_ALLOWLIST: &[(&str, &str)] = &[
    (
        "dtype_fallback",
        "where PyTorch has no kernel for a dtype (and raises), Hardened mode runs \
         the op's composite decomposition in a supported dtype (DESIGN.md \
         \"modes\": bounded fallback, recorded in the ledger)",
    ),
    (
        "hardened_nonfinite_checkpoint",
        "Hardened mode refuses a checkpoint tensor holding NaN or infinity, which \
         PyTorch loads (ft_autograd::checkpoint)",
    ),
];

/// What a case did here.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `pass`, or `fail` with the reason.
    pub pass: bool,
    /// A Hardened-mode departure the allowlist accepts (its reason code);
    /// `pass` is false and the drift is reported, not failed.
    pub allowlisted: Option<&'static str>,
    pub detail: String,
    pub decision: Option<ledger::Entry>,
    /// What FrankenTorch gave: tensors or an error.
    pub actual: Value,
}

pub(crate) fn encode(t: &Tensor) -> Value {
    let data: Vec<Value> = t
        .to_vec_f64()
        .unwrap_or_default()
        .into_iter()
        .map(|x| {
            if x.is_nan() {
                json!("nan")
            } else if x.is_infinite() {
                json!(if x > 0.0 { "inf" } else { "-inf" })
            } else {
                json!(x)
            }
        })
        .collect();
    json!({"dtype": t.dtype().name(), "shape": t.shape(), "data": data})
}

/// Whether `got` is PyTorch's `want`: dtype and shape equal, values
/// equal within the tolerance of the dtype (NaN where NaN, the same
/// infinities; -0.0 and 0.0 count as equal).
pub(crate) fn same(got: &Tensor, want: &Value) -> std::result::Result<(), String> {
    same_within(got, want, &Value::Null)
}

/// [`same`] with the case's own tolerance (`{rtol, atol}`) where it has
/// one; the dtype's default otherwise.
pub(crate) fn same_within(
    got: &Tensor,
    want: &Value,
    tolerance: &Value,
) -> std::result::Result<(), String> {
    let w = tensor(want).map_err(|e| e.to_string())?;
    if got.dtype() != w.dtype() {
        return Err(format!("dtype {} but PyTorch {}", got.dtype(), w.dtype()));
    }
    if got.shape() != w.shape() {
        return Err(format!(
            "shape {:?} but PyTorch {:?}",
            got.shape(),
            w.shape()
        ));
    }
    let (rtol, atol) = match got.dtype() {
        DType::F16 | DType::BF16 => (1e-2, 1e-3),
        DType::F32 => (1e-4, 1e-5),
        DType::F64 => (1e-10, 1e-12),
        _ => (0.0, 0.0),
    };
    let rtol = tolerance["rtol"].as_f64().unwrap_or(rtol);
    let atol = tolerance["atol"].as_f64().unwrap_or(atol);
    if matches!(got.dtype(), DType::I64 | DType::I32 | DType::U8) {
        let ints = |t: &Tensor| t.to_dtype(DType::I64).and_then(|t| t.to_vec::<i64>());
        let (g, wv) = (
            ints(got).map_err(|e| e.to_string())?,
            ints(&w).map_err(|e| e.to_string())?,
        );
        return match g.iter().zip(&wv).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(i) => Err(format!("element {i}: {} but PyTorch {}", g[i], wv[i])),
        };
    }
    let (g, wv) = (
        got.to_vec_f64().map_err(|e| e.to_string())?,
        w.to_vec_f64().map_err(|e| e.to_string())?,
    );
    for (i, (a, b)) in g.iter().zip(&wv).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= atol + rtol * b.abs()
        };
        if !ok {
            return Err(format!("element {i}: {a} but PyTorch {b}"));
        }
    }
    Ok(())
}

impl Outcome {
    /// `pass`, `allowlisted_drift` or `fail`.
    pub fn verdict(&self) -> &'static str {
        match (self.pass, self.allowlisted) {
            (true, _) => "pass",
            (false, Some(_)) => "allowlisted_drift",
            (false, None) => "fail",
        }
    }

    /// A case that could not be run as the fixture says.
    pub(crate) fn failed(detail: String) -> Outcome {
        Outcome {
            pass: false,
            allowlisted: None,
            detail,
            decision: None,
            actual: Value::Null,
        }
    }
}

/// The op of a case and its arguments, owned.
fn prepare(case: &Case) -> std::result::Result<(Op, Vec<Owned>), Outcome> {
    let op = Op::from_name(&case.op)
        .ok_or_else(|| Outcome::failed(format!("no op `{}` in the schema", case.op)))?;
    let owned = case
        .args
        .iter()
        .map(owned)
        .collect::<Result<Vec<_>>>()
        .map_err(|e| Outcome::failed(format!("fixture: {e}")))?;
    Ok((op, owned))
}

/// A gradient case (packet 004): every floating tensor argument requires
/// grad, the op runs through dispatch (so autograd records it),
/// `sum(out * weights)` is differentiated, and each gradient is compared
/// with PyTorch's.
fn run_grad_case(case: &Case, mode: Mode) -> Outcome {
    use ft_autograd::AutogradExt;
    let fail = Outcome::failed;
    let (op, mut owned) = match prepare(case) {
        Ok(p) => p,
        Err(o) => return o,
    };
    for o in owned.iter_mut() {
        if let Owned::Tensor(t) = o
            && t.dtype().is_floating_point()
        {
            match t.clone().requires_grad_(true) {
                Ok(l) => *t = l,
                Err(e) => return fail(e.to_string()),
            }
        }
    }
    let args: Vec<Arg<'_>> = owned.iter().map(arg).collect();
    let frame = match Frame::new(&args) {
        Ok(f) => f,
        Err(e) => return fail(format!("fixture: {e}")),
    };
    ledger::clear();
    let r = with_mode(mode, || -> Result<()> {
        let mut outs = Outputs::default();
        ft_dispatch::call(op, &frame, &mut outs)?;
        let out = if matches!(op, Op::MaxDim | Op::MinDim) {
            outs.two()?.0
        } else {
            outs.one()?
        };
        let w = tensor(&case.expect["weights"]["tensor"])?;
        out.mul(&w)?.sum()?.backward()
    });
    let decision = ledger::entries().into_iter().find(|e| e.op == op);
    if let Err(e) = r {
        return Outcome {
            pass: false,
            allowlisted: None,
            detail: format!("error where PyTorch differentiated: {}", e.message()),
            decision,
            actual: json!({"error": e.message()}),
        };
    }
    let want = case.expect["grads"].as_array().cloned().unwrap_or_default();
    let leaves: Vec<&Tensor> = owned
        .iter()
        .filter_map(|o| match o {
            Owned::Tensor(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut actual = Vec::new();
    let mut detail = "gradients as PyTorch".to_string();
    let mut pass = true;
    for (i, (t, w)) in leaves.iter().zip(&want).enumerate() {
        let g = t.grad();
        actual.push(g.as_ref().map_or(Value::Null, encode));
        let verdict = match (g, w) {
            (None, Value::Null) => Ok(()),
            (Some(g), Value::Null) => {
                if g.to_vec_f64().is_ok_and(|v| v.iter().all(|&x| x == 0.0)) {
                    Ok(())
                } else {
                    Err("a gradient where PyTorch has none".to_string())
                }
            }
            (None, _) => Err("no gradient where PyTorch has one".to_string()),
            (Some(g), w) => same(&g, &w["tensor"]),
        };
        if let Err(d) = verdict {
            pass = false;
            detail = format!("argument {i}: {d}");
            break;
        }
    }
    Outcome {
        pass,
        allowlisted: None,
        detail,
        decision,
        actual: Value::Array(actual),
    }
}

pub(crate) fn outcome(pass: bool, detail: impl Into<String>, actual: Value) -> Outcome {
    Outcome {
        pass,
        allowlisted: None,
        detail: detail.into(),
        decision: None,
        actual,
    }
}

/// Compares an error of ours with PyTorch's expected `{class, message}`.
pub(crate) fn error_matches(e: &Error, want: &Value, extra_classes: &[&str]) -> Outcome {
    let class = want["class"].as_str().unwrap_or_default();
    let msg = want["message"].as_str().unwrap_or_default();
    let actual = json!({"error": e.message(), "kind": format!("{:?}", e.kind())});
    if !torch_classes(e.kind()).contains(&class) && !extra_classes.contains(&class) {
        return outcome(
            false,
            format!(
                "error class {:?} (PyTorch {:?}) where PyTorch raised {class}: ours {:?}, PyTorch {msg:?}",
                e.kind(),
                torch_classes(e.kind()),
                e.message()
            ),
            actual,
        );
    }
    let detail = if e.message() == msg {
        "error, PyTorch's message".to_string()
    } else {
        format!(
            "error as PyTorch; message differs: ours {:?}, PyTorch {msg:?}",
            e.message()
        )
    };
    outcome(true, detail, actual)
}

/// The common end of a case that either errs or gives a value: both
/// sides erred (compare classes), one side erred (fail), or compare.
pub(crate) fn settle<T>(
    got: Result<T>,
    expect: &Value,
    extra_classes: &[&str],
    compare: impl FnOnce(T) -> Outcome,
) -> Outcome {
    match (got, expect.get("error")) {
        (Err(e), Some(want)) => error_matches(&e, want, extra_classes),
        (Err(e), None) => outcome(
            false,
            format!("error where PyTorch succeeded: {}", e.message()),
            json!({"error": e.message()}),
        ),
        (Ok(_), Some(want)) => outcome(
            false,
            format!("succeeded where PyTorch failed: {}", want["message"]),
            Value::Null,
        ),
        (Ok(v), None) => compare(v),
    }
}

/// The Python exception classes PyTorch raises for errors of our `kind`
/// (PyTorch raises most errors as RuntimeError; dims out of range as
/// IndexError; bad argument values as ValueError or RuntimeError; type
/// errors in bindings as TypeError).
pub fn torch_classes(kind: ErrorKind) -> &'static [&'static str] {
    match kind {
        ErrorKind::Index => &["IndexError"],
        ErrorKind::Value => &["ValueError", "RuntimeError"],
        // PyTorch 2.x raises "not implemented for 'Bool'" as NotImplementedError.
        ErrorKind::DType => &["RuntimeError", "TypeError", "NotImplementedError"],
        ErrorKind::Unsupported => &["RuntimeError", "NotImplementedError"],
        ErrorKind::Device => &["RuntimeError", "AssertionError"],
        ErrorKind::Shape | ErrorKind::Overflow | ErrorKind::Borrow | ErrorKind::Alloc => {
            &["RuntimeError"]
        }
    }
}

/// Runs one case in `mode`, with the Hardened allowlist applied.
pub fn run_case(case: &Case, mode: Mode) -> Outcome {
    let mut o = run_case_raw(case, mode);
    if mode == Mode::Hardened && !o.pass {
        let reason = o.decision.map(|d| d.reason.name());
        // A family may name its own reason (checkpoints); else the ledger's.
        let code = o.allowlisted.or(reason);
        o.allowlisted = HARDENED_ALLOWLIST
            .iter()
            .find(|(c, _)| Some(*c) == code)
            .map(|(c, _)| *c);
    }
    o
}

fn run_case_raw(case: &Case, mode: Mode) -> Outcome {
    if case.kind == "metamorphic" {
        return with_mode(mode, || metamorphic::run(case));
    }
    if let Some(o) = families::run(case, mode, &case.family) {
        return o;
    }
    if case.expect.get("grads").is_some() {
        return run_grad_case(case, mode);
    }
    let fail = Outcome::failed;
    let (op, owned) = match prepare(case) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let args: Vec<Arg<'_>> = owned.iter().map(arg).collect();
    let frame = match Frame::new(&args) {
        Ok(f) => f,
        Err(e) => return fail(format!("fixture: {e}")),
    };
    ledger::clear();
    let mut outs = Outputs::default();
    let r = with_mode(mode, || ft_dispatch::call(op, &frame, &mut outs));
    let decision = ledger::entries().into_iter().find(|e| e.op == op);
    let mut o = settle(r, &case.expect, &[], |()| {
        compare_values(case, &owned, outs)
    });
    o.decision = decision;
    o
}

/// The values of a call that succeeded as PyTorch's did, against
/// PyTorch's: the written argument (`out=` and in-place forms) or the
/// returned tensors.
fn compare_values(case: &Case, owned: &[Owned], mut outs: Outputs) -> Outcome {
    let fail = Outcome::failed;
    // What we produced (shown even when it differs), and the comparison.
    let (actual, check) = if let Some(w) = case.expect.get("written") {
        let i = w["arg"].as_u64().unwrap_or(0) as usize;
        match owned.get(i) {
            Some(Owned::Tensor(t)) => (
                json!([encode(t)]),
                same_within(t, &w["tensor"], &case.expect["tolerance"]),
            ),
            _ => (
                Value::Null,
                Err("the written argument is not a tensor".to_string()),
            ),
        }
    } else {
        let want = case.expect["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let got: Vec<Tensor> = match want.len() {
            2 => match outs.two() {
                Ok((a, b)) => vec![a, b],
                Err(e) => return fail(e.to_string()),
            },
            _ => match outs.one() {
                Ok(a) => vec![a],
                Err(e) => return fail(e.to_string()),
            },
        };
        (
            Value::Array(got.iter().map(encode).collect()),
            got.iter()
                .zip(&want)
                .try_for_each(|(g, w)| same_within(g, &w["tensor"], &case.expect["tolerance"])),
        )
    };
    match check {
        Ok(()) => outcome(true, "values as PyTorch", actual),
        Err(d) => outcome(false, d, actual),
    }
}

/// The environment a result was made in.
pub fn env_fingerprint() -> String {
    format!(
        "{} {} isa={} ft={}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        ft_dispatch_isa(),
        env!("CARGO_PKG_VERSION")
    )
}

fn ft_dispatch_isa() -> &'static str {
    match std::env::var("FT_ISA").ok().as_deref() {
        Some("scalar") => "scalar",
        Some("avx2") => "avx2",
        Some("avx512") => "avx512",
        Some("neon") => "neon",
        _ => "auto",
    }
}

/// The files a packet's cases come from.
pub fn artifact_refs(packet: &str) -> Vec<&'static str> {
    if packet == "009" {
        return vec!["conformance/src/metamorphic.rs"];
    }
    PACKETS
        .iter()
        .filter(|p| p.0 == packet)
        .map(|p| p.1)
        .collect()
}

/// One case's JSON line.
pub fn json_line(case: &Case, mode: Mode, o: &Outcome) -> Value {
    let d = o.decision;
    let mode_name = match mode {
        Mode::Strict => "strict",
        Mode::Hardened => "hardened",
    };
    json!({
        "suite_id": "ft-conformance-v1",
        "scenario_id": case.scenario_id,
        "packet_id": case.packet_id,
        "mode": mode_name,
        "seed": case.seed,
        "selected_key": d.and_then(|d| d.selected).map(|k| k.to_string()),
        "backend_key": d.and_then(|d| d.backend).map(|k| k.to_string()),
        "keyset_bits": d.map(|d| format!("{:#x}", d.keyset_bits)),
        "fallback_used": d.is_some_and(|d| d.fallback != ledger::Fallback::None),
        "reason_code": d.map(|d| d.reason.name()),
        "outcome": o.verdict(),
        "detail": o.detail,
        "artifact_refs": artifact_refs(&case.packet_id),
        "replay_command": format!("cargo run -q -p ft-conformance -- replay {} --mode {mode_name}", case.scenario_id),
        "env_fingerprint": env_fingerprint(),
    })
}
