//! The case families beyond one op call (which `lib.rs` runs): views
//! (001), routing and key sets (002), schemas (003), checkpoints (006),
//! devices (007), modules and losses (008). Each runs a case and compares
//! with what PyTorch did (or, for the `contract` key-set cases, with
//! DESIGN.md's rule, PyTorch having no raw-bits API).

use crate::{Case, Outcome, encode, outcome, owned_args, same, settle, tensor};
use ft_autograd::AutogradExt;
use ft_autograd::nn::functional::{Reduction, cross_entropy, mse_loss};
use ft_autograd::nn::{
    Dropout, Embedding, GELU, LayerNorm, Linear, Module, ReLU, Sequential, SiLU, Sigmoid, Tanh,
};
use ft_core::{Device, Error, ErrorKind, Generator, Result};
use ft_dispatch::key::DispatchKeySet;
use ft_dispatch::{Arg, Frame, Mode, Op, Outputs, Tensor, ledger, schema};
use serde_json::{Value, json};

/// Runs a case of a family other than `op` and `grad`; `None` when the
/// case is not of one of these families.
pub fn run(case: &Case, mode: Mode, family: &str) -> Option<Outcome> {
    Some(match family {
        "view" => view(case),
        "route" => route(case, mode),
        "keyset" => keyset(case),
        "schema" => schema_entry(case),
        "schema_line" => schema_line(case),
        "checkpoint" => checkpoint(case, mode),
        "device" => device(case),
        "device_create" => device_create(case),
        "module" => module(case),
        "loss" => loss(case),
        _ => return None,
    })
}

fn call_one(op: Op, args: &[Arg<'_>]) -> Result<Tensor> {
    let frame = Frame::new(args)?;
    let mut outs = Outputs::default();
    ft_dispatch::call(op, &frame, &mut outs)?;
    outs.one()
}

fn op_named(name: &str) -> Result<Op> {
    Op::from_name(name)
        .ok_or_else(|| Error::new(ErrorKind::Value, format!("no op `{name}` in the schema")))
}

/// 001 views: a chain of view ops from `arange` of a shape; the final
/// view's shape, strides, offset, contiguity, values and storage sharing,
/// then `mul_(10)` through it and the base's values.
fn view(case: &Case) -> Outcome {
    let shape: Vec<usize> = case.args[0]["base_shape"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_u64())
                .map(|d| d as usize)
                .collect()
        })
        .unwrap_or_default();
    let steps = case.args[1]["chain"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let n: usize = shape.iter().product();
    let run = || -> Result<(Tensor, Tensor)> {
        let base = Tensor::from_slice(&(0..n).map(|i| i as f32).collect::<Vec<_>>(), &shape)?;
        let mut v = base.clone();
        for step in &steps {
            let op = op_named(step["op"].as_str().unwrap_or_default())?;
            let extra = owned_args(step["args"].as_array().map(Vec::as_slice).unwrap_or(&[]))?;
            let mut args = vec![Arg::Tensor(&v)];
            args.extend(extra.iter().map(crate::arg));
            let next = call_one(op, &args)?;
            v = next;
        }
        Ok((base, v))
    };
    settle(run(), &case.expect, &[], |(base, v)| {
        let e = &case.expect;
        let strides: Vec<isize> = v.strides().to_vec();
        let offset = v.data().storage_offset();
        let shares = v.data().shares_storage(base.data());
        let actual = json!({"shape": v.shape(), "strides": strides, "offset": offset,
            "is_contiguous": v.is_contiguous(), "shares_storage": shares});
        let layout_ok = e["shape"] == json!(v.shape())
            && e["strides"] == json!(strides)
            && e["offset"] == json!(offset)
            && e["is_contiguous"] == json!(v.is_contiguous())
            && e["shares_storage"] == json!(shares);
        if !layout_ok {
            return outcome(false, format!("layout {actual} but PyTorch {e}"), actual);
        }
        let want_values = json!({"dtype": "float32", "shape": e["shape"], "data": e["values"]});
        if let Err(d) = same(&v, &want_values) {
            return outcome(false, format!("values: {d}"), actual);
        }
        // Writing through the view.
        let wrote = (|| -> Result<()> {
            let ten = Tensor::from_slice(&[10.0f32], &[])?;
            let mut outs = Outputs::default();
            let args = [Arg::Tensor(&v), Arg::Tensor(&ten)];
            ft_dispatch::call(op_named("mul_.Tensor")?, &Frame::new(&args)?, &mut outs)
        })();
        let after = &e["after_mul_"];
        settle(wrote, after, &[], |()| {
            let want_base = json!({"dtype": "float32", "shape": [n], "data": after["base"]});
            let flat = match base.reshape(&[-1]) {
                Ok(f) => f,
                Err(err) => return outcome(false, err.to_string(), actual.clone()),
            };
            match same(&flat, &want_base) {
                Ok(()) => outcome(
                    true,
                    "layout, values and sharing as PyTorch",
                    actual.clone(),
                ),
                Err(d) => outcome(
                    false,
                    format!("base after mul_ through the view: {d}"),
                    actual.clone(),
                ),
            }
        })
    })
}

/// 002 routing: the op with inputs that do or do not require grad, in
/// grad mode or not: requires_grad, grad_fn and is_leaf of the output as
/// PyTorch, and the ledger's key consistent with it (AutogradCPU when
/// PyTorch recorded a grad_fn, CPU when nothing required grad).
fn route(case: &Case, mode: Mode) -> Outcome {
    let op = match op_named(&case.op) {
        Ok(op) => op,
        Err(e) => return Outcome::failed(e.to_string()),
    };
    let mut owned = match owned_args(&case.args) {
        Ok(o) => o,
        Err(e) => return Outcome::failed(format!("fixture: {e}")),
    };
    for (o, spec) in owned.iter_mut().zip(&case.args) {
        if spec["requires_grad"] == json!(true)
            && let crate::Owned::Tensor(t) = o
        {
            match t.clone().requires_grad_(true) {
                Ok(l) => *t = l,
                Err(e) => return Outcome::failed(e.to_string()),
            }
        }
    }
    let grad_on = case.raw["grad_mode"].as_bool().unwrap_or(true);
    let any_rg = case.args.iter().any(|a| a["requires_grad"] == json!(true));
    let args: Vec<Arg<'_>> = owned.iter().map(crate::arg).collect();
    ledger::clear();
    let prev = ft_autograd::set_grad_enabled(grad_on);
    let got = ft_dispatch::with_mode(mode, || {
        let frame = Frame::new(&args)?;
        let mut outs = Outputs::default();
        ft_dispatch::call(op, &frame, &mut outs)?;
        if matches!(op, Op::MaxDim | Op::MinDim) {
            outs.two().map(|t| t.0)
        } else if let Some(i) = ft_dispatch::route::schema_of(op)?
            .args
            .iter()
            .position(|a| a.mutated)
        {
            // In place and out=: the written argument is the result.
            match &owned[i] {
                crate::Owned::Tensor(t) => Ok(t.clone()),
                _ => Err(Error::new(
                    ErrorKind::Value,
                    "written argument is not a tensor",
                )),
            }
        } else {
            outs.one()
        }
    });
    ft_autograd::set_grad_enabled(prev);
    let decision = ledger::entries().into_iter().find(|e| e.op == op);
    let mut o = settle(got, &case.expect, &[], |r| {
        let actual = json!({"requires_grad": r.requires_grad(), "grad_fn": r.grad_fn_name(),
            "is_leaf": r.is_leaf()});
        let e = &case.expect;
        if e["requires_grad"] != actual["requires_grad"]
            || e["grad_fn"] != actual["grad_fn"]
            || e["is_leaf"] != actual["is_leaf"]
        {
            return outcome(false, format!("{actual} but PyTorch {e}"), actual);
        }
        let key = decision.and_then(|d| d.selected).map(|k| k.to_string());
        let want_key = if !e["grad_fn"].is_null() {
            Some("AutogradCPU")
        } else if !any_rg || (!grad_on && !op.is_view()) {
            // Views of a tensor that requires grad go through autograd
            // even in no_grad mode (PyTorch's ADInplaceOrView).
            Some("CPU")
        } else {
            None // an autograd kernel that records nothing: either key
        };
        if want_key.is_some_and(|w| key.as_deref() != Some(w)) {
            return outcome(
                false,
                format!("routed to {key:?} where the key is {want_key:?}"),
                actual,
            );
        }
        outcome(true, "autograd routing as PyTorch", actual)
    });
    o.decision = decision;
    o
}

/// 002 key-set contract.
fn keyset(case: &Case) -> Outcome {
    let bits: u64 = case.args[0]["bits"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let got = DispatchKeySet::from_bits_checked(bits)
        .and_then(|s| Ok((s.highest_priority_key()?, s.backend_key()?)));
    let e = &case.expect;
    match (got, e.get("error")) {
        (Err(err), Some(want)) => {
            let msg = err.to_string();
            let pass = msg.contains(want.as_str().unwrap_or("?"));
            outcome(pass, format!("refused: {msg}"), json!({"error": msg}))
        }
        (Err(err), None) => outcome(false, format!("refused a valid set: {err}"), Value::Null),
        (Ok(k), Some(want)) => outcome(
            false,
            format!("accepted ({k:?}); the rule says {want}"),
            Value::Null,
        ),
        (Ok((hi, backend)), None) => {
            let actual = json!({"highest": hi.to_string(), "backend": backend.to_string()});
            let pass = actual["highest"] == e["highest"] && actual["backend"] == e["backend"];
            outcome(pass, format!("{actual}"), actual)
        }
    }
}

fn schema_error(e: schema::SchemaError) -> Error {
    Error::new(ErrorKind::Value, e.message)
}

/// Arguments of PyTorch's schemas our ops leave out, and why. Each is
/// keyword-only or trailing with a default, so every PyTorch call that
/// leaves it at its default has the same meaning here.
pub const OMITTED_ARGS: &[(&str, &str, &str)] = &[
    (
        "to.dtype",
        "memory_format",
        "only contiguous results exist here: the default (None: preserve) is what happens",
    ),
    (
        "contiguous",
        "memory_format",
        "only row-major contiguity exists here: contiguous_format, the default",
    ),
];

/// 003: PyTorch's schema of the op, read by our parser, equals ours
/// (after the arguments of [`OMITTED_ARGS`]).
fn schema_entry(case: &Case) -> Outcome {
    let text = case.args[0]["str"].as_str().unwrap_or_default();
    let line = format!("- func: {}", text.strip_prefix("aten::").unwrap_or(text));
    let theirs = schema::parse_entry(&line, 1).map_err(schema_error);
    settle(theirs, &case.expect, &[], |mut theirs| {
        theirs.args.retain(|a| {
            !OMITTED_ARGS
                .iter()
                .any(|(op, arg, _)| *op == case.op && *arg == a.name)
        });
        let Some(op) = Op::from_name(&case.op) else {
            return outcome(false, format!("no op {}", case.op), Value::Null);
        };
        let mut ours = match ft_dispatch::route::schema_of(op) {
            Ok(s) => s.clone(),
            Err(e) => return outcome(false, e.to_string(), Value::Null),
        };
        ours.line = 1;
        if ours == theirs {
            outcome(true, "schema as PyTorch's", json!(text))
        } else {
            outcome(
                false,
                format!("ours {ours:?} but PyTorch's {theirs:?}"),
                json!(format!("{ours:?}")),
            )
        }
    })
}

/// 003: a schema line, malformed or not, through our parser; PyTorch's
/// `torch._C.parse_schema` decided.
fn schema_line(case: &Case) -> Outcome {
    let text = case.args[0]["str"].as_str().unwrap_or_default();
    let got = schema::parse_entry(&format!("- func: {text}"), 1).map_err(schema_error);
    settle(got, &case.expect, &[], |s| {
        outcome(true, "parses, as in PyTorch", json!(format!("{s:?}")))
    })
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return Err(Error::new(ErrorKind::Value, "odd hex length"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| Error::new(ErrorKind::Value, "bad hex in fixture"))
        })
        .collect()
}

/// 006: a safetensors file through our checkpoint reader. PyTorch's
/// safetensors raises `SafetensorError` for every malformed file; ours is
/// an error of kind Value (the kind every checkpoint error has).
fn checkpoint(case: &Case, mode: Mode) -> Outcome {
    let got = unhex(case.args[0]["hex"].as_str().unwrap_or_default()).and_then(|bytes| {
        ft_dispatch::with_mode(mode, || ft_autograd::checkpoint::from_bytes(&bytes))
    });
    let refused_nonfinite =
        matches!(&got, Err(e) if e.message().starts_with("Hardened mode refused"));
    let mut o = settle(got, &case.expect, &["SafetensorError"], |mut tensors| {
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let want = case.expect["tensors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let actual = Value::Array(tensors.iter().map(|(n, t)| json!([n, encode(t)])).collect());
        if want.len() != tensors.len() {
            return outcome(
                false,
                format!("{} tensors but PyTorch {}", tensors.len(), want.len()),
                actual,
            );
        }
        for ((name, t), w) in tensors.iter().zip(&want) {
            if w[0] != json!(name) {
                return outcome(false, format!("tensor {name} but PyTorch {}", w[0]), actual);
            }
            if let Err(d) = same(t, &w[1]["tensor"]) {
                return outcome(false, format!("{name}: {d}"), actual);
            }
        }
        outcome(true, "tensors as PyTorch loaded them", actual)
    });
    if mode == Mode::Hardened && refused_nonfinite {
        o.allowlisted = Some("hardened_nonfinite_checkpoint");
    }
    o
}

/// 007: a device string.
fn device(case: &Case) -> Outcome {
    let s = case.args[0]["str"].as_str().unwrap_or_default();
    settle(s.parse::<Device>(), &case.expect, &[], |d| {
        let actual = json!({"type": d.kind.name(), "index": d.index, "str": d.to_string()});
        let e = &case.expect;
        let pass = actual["type"] == e["type"]
            && actual["index"] == e["index"]
            && actual["str"] == e["str"];
        outcome(pass, format!("{actual}"), actual)
    })
}

/// 007: a tensor made on an accelerator (PyTorch's CPU build fails).
fn device_create(case: &Case) -> Outcome {
    let s = case.args[0]["str"].as_str().unwrap_or_default();
    let got = s.parse::<Device>().and_then(|d| {
        ft_core::TensorImpl::empty_on(&[2], ft_core::DType::F32, d).map(Tensor::from)
    });
    settle(got, &case.expect, &[], |_| {
        outcome(true, "created", Value::Null)
    })
}

/// `model` with the layer of a fixture spec appended.
fn push_layer(model: Sequential, spec: &Value, g: &mut Generator) -> Result<Sequential> {
    let kind = spec[0].as_str().unwrap_or_default();
    let u = |i: usize| spec[i].as_u64().unwrap_or(0) as usize;
    Ok(match kind {
        "Linear" => model.push(Linear::new(
            u(1),
            u(2),
            spec[3].as_bool().unwrap_or(true),
            g,
        )?),
        "LayerNorm" => model.push(LayerNorm::new(&[u(1)], spec[2].as_f64().unwrap_or(1e-5))?),
        "Embedding" => model.push(Embedding::new(u(1), u(2), g)?),
        "GELU" => model.push(GELU {
            approximate: if spec[1] == "tanh" { "tanh" } else { "none" },
        }),
        "Dropout" => model.push(Dropout::new(spec[1].as_f64().unwrap_or(0.5), 0)?),
        "ReLU" => model.push(ReLU),
        "Tanh" => model.push(Tanh),
        "Sigmoid" => model.push(Sigmoid),
        "SiLU" => model.push(SiLU),
        other => {
            return Err(Error::new(
                ErrorKind::Value,
                format!("unknown layer {other}"),
            ));
        }
    })
}

/// 008: a Sequential built from the spec, PyTorch's state dict loaded
/// (from safetensors bytes), the forward pass compared; or the error of
/// loading a state dict that does not fit.
fn module(case: &Case) -> Outcome {
    let spec = case.args[0]["spec"].as_array().cloned().unwrap_or_default();
    let got = (|| -> Result<(Vec<String>, Tensor)> {
        let mut g = Generator::new(case.seed);
        let mut model = Sequential::new();
        for s in &spec {
            model = push_layer(model, s, &mut g)?;
        }
        model.eval();
        let keys: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
        let bytes = unhex(case.args[1]["state_dict"].as_str().unwrap_or_default())?;
        let state = ft_autograd::checkpoint::from_bytes(&bytes)?;
        model.load_state_dict(&state, true)?;
        let x = tensor(&case.args[2]["tensor"])?;
        let y = ft_autograd::no_grad(|| model.forward(&x))?;
        Ok((keys, y))
    })();
    settle(got, &case.expect, &[], |(keys, y)| {
        let actual = json!({"keys": keys, "values": [encode(&y)]});
        if case.expect["keys"] != json!(keys) {
            return outcome(
                false,
                format!(
                    "state dict keys {keys:?} but PyTorch {}",
                    case.expect["keys"]
                ),
                actual,
            );
        }
        match same(&y, &case.expect["values"][0]["tensor"]) {
            Ok(()) => outcome(true, "keys and forward pass as PyTorch", actual),
            Err(d) => outcome(false, d, actual),
        }
    })
}

/// 008: a loss.
fn loss(case: &Case) -> Outcome {
    let got = (|| -> Result<Tensor> {
        let a = tensor(&case.args[0]["tensor"])?;
        let b = tensor(&case.args[1]["tensor"])?;
        let r = match case.args[2]["str"].as_str() {
            Some("sum") => Reduction::Sum,
            Some("none") => Reduction::None,
            _ => Reduction::Mean,
        };
        if case.op == "mse_loss" {
            mse_loss(&a, &b, r)
        } else {
            cross_entropy(&a, &b, r, case.args[3]["scalar"].as_f64().unwrap_or(0.0))
        }
    })();
    settle(got, &case.expect, &[], |y| {
        let actual = json!([encode(&y)]);
        match same(&y, &case.expect["values"][0]["tensor"]) {
            Ok(()) => outcome(true, "loss as PyTorch", actual),
            Err(d) => outcome(false, d, actual),
        }
    })
}
