#!/usr/bin/env python3
"""PyTorch oracle for the engine packets of ft-conformance:

  001 tensor core   type promotion over every dtype pair (tensor-tensor,
                    tensor-zero-dim, tensor-scalar), integer overflow and
                    casts, view semantics (shape, strides, offset, sharing)
  002 dispatch      what routing is observable as: requires_grad, grad_fn
                    and is_leaf of every op's output with and without
                    inputs that require grad, in grad mode and no_grad; the
                    errors of in-place and out= calls on such inputs; and
                    the key-set contract (unknown bits, invalid sets)
  003 op schemas    PyTorch's own schema of every op of dispatch/ops.schema,
                    and malformed schema lines through torch._C.parse_schema
  006 checkpoints   safetensors files written by PyTorch, and corrupt ones
  007 devices       device strings through torch.device
  008 nn            nn modules and state dicts: forward outputs after
                    loading PyTorch's state dict, key names, losses,
                    load_state_dict errors

Run from the repository root (needs torch and safetensors):
    python3 conformance/oracle/engine_packets.py
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from generate import (DT, ROOT, call, enc_tensor, enc_values, other_args, parse_schema, rand, run_case,
                      tensor_args)

FIX = ROOT / "conformance" / "fixtures"
DTYPES = [torch.bool, torch.uint8, torch.int32, torch.int64, torch.float16, torch.bfloat16,
          torch.float32, torch.float64]


def error_of(ex):
    return {"error": {"class": type(ex).__name__, "message": str(ex).split("\n")[0]}}


def attempt(fn, ok):
    """What PyTorch did: `ok(fn())`, or the error's class and first line."""
    try:
        return ok(fn())
    except Exception as ex:  # noqa: BLE001 - the oracle records any error
        return error_of(ex)


def write(packet, name, cases, **extra):
    path = FIX / f"{packet}_{name}.json"
    path.write_text(json.dumps({"packet_id": packet, "suite_id": "ft-conformance-v1",
                                "torch_version": torch.__version__, **extra, "cases": cases}) + "\n")
    kinds = {}
    for c in cases:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print(f"{len(cases)} cases {kinds} -> {path.relative_to(ROOT)}")


def op_case(packet, ops, name, sid, kind, tensors, extra=None, seed=0):
    op = ops[name]
    extra = extra if extra is not None else other_args(op, tensors)
    args, exp = run_case(op, tensors, extra)
    return {"scenario_id": f"{packet}/{sid}", "op": name, "kind": kind, "seed": seed, "args": args,
            "expect": exp}


def values(dt, vals):
    return torch.tensor(vals, dtype=torch.float64).to(dt) if dt != torch.bool else torch.tensor(vals) != 0


# ---------------------------------------------------------------- 001 ----

VIEW_CHAINS = [
    ("t", [3, 4], [("t", [])]),
    ("transpose", [2, 3, 4], [("transpose.int", [{"int": 0}, {"int": 2}])]),
    ("permute", [2, 3, 4], [("permute", [{"dims": [2, 0, 1]}])]),
    ("narrow", [4, 5], [("narrow", [{"int": 1}, {"int": 1}, {"int": 3}])]),
    ("select", [3, 4], [("select.int", [{"int": 0}, {"int": 2}])]),
    ("select_neg", [3, 4], [("select.int", [{"int": 1}, {"int": -1}])]),
    ("expand", [1, 4], [("expand", [{"dims": [3, 4]}, {"bool": False}])]),
    ("expand_new_dim", [4], [("expand", [{"dims": [2, 3, 4]}, {"bool": False}])]),
    ("unsqueeze", [3, 4], [("unsqueeze", [{"int": 1}])]),
    ("squeeze", [3, 1, 4, 1], [("squeeze", [])]),
    ("squeeze_dim", [3, 1, 4], [("squeeze.dim", [{"int": 1}])]),
    ("view", [3, 4], [("view", [{"dims": [6, -1]}])]),
    ("view_of_t", [3, 4], [("t", []), ("view", [{"dims": [12]}])]),
    ("reshape_view", [3, 4], [("reshape", [{"dims": [2, 6]}])]),
    ("reshape_of_t_copies", [3, 4], [("t", []), ("reshape", [{"dims": [12]}])]),
    ("flatten", [2, 3, 4], [("flatten.using_ints", [{"int": 1}, {"int": -1}])]),
    ("contiguous_same", [3, 4], [("contiguous", [])]),
    ("contiguous_of_t_copies", [3, 4], [("t", []), ("contiguous", [])]),
    ("t_narrow_select", [4, 6], [("t", []), ("narrow", [{"int": 0}, {"int": 2}, {"int": 3}]),
                                 ("select.int", [{"int": 1}, {"int": 1}])]),
    ("permute_narrow_t", [2, 3, 5], [("permute", [{"dims": [2, 1, 0]}]),
                                     ("narrow", [{"int": 0}, {"int": 1}, {"int": 3}]),
                                     ("select.int", [{"int": 2}, {"int": 0}]), ("t", [])]),
    ("narrow_empty", [3, 4], [("narrow", [{"int": 1}, {"int": 2}, {"int": 0}])]),
    ("narrow_past_end", [3, 4], [("narrow", [{"int": 1}, {"int": 2}, {"int": 3}])]),
    ("select_out_of_range", [3, 4], [("select.int", [{"int": 0}, {"int": 3}])]),
    ("expand_bad", [2, 4], [("expand", [{"dims": [3, 4]}, {"bool": False}])]),
    ("squeeze_dim_not_one", [3, 4], [("squeeze.dim", [{"int": 0}])]),
]


def view_cases(ops):
    cases = []
    for name, shape, chain in VIEW_CHAINS:
        base = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
        v, err = base, None
        steps = []
        for op_name, extra in chain:
            steps.append({"op": op_name, "args": extra})
            try:
                v = call(ops[op_name], [v] + [list(e.values())[0] for e in extra])
            except Exception as ex:  # noqa: BLE001
                err = error_of(ex)["error"]
                break
        exp = {}
        if err is not None:
            exp["error"] = err
        else:
            exp["shape"] = list(v.shape)
            exp["strides"] = list(v.stride())
            exp["offset"] = v.storage_offset()
            exp["is_contiguous"] = v.is_contiguous()
            exp["shares_storage"] = v.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()
            exp["values"] = enc_values(v.reshape(-1).tolist())
            try:
                v.mul_(10)
                exp["after_mul_"] = {"base": enc_values(base.reshape(-1).tolist())}
            except Exception as ex:  # noqa: BLE001
                exp["after_mul_"] = error_of(ex)
        cases.append({"scenario_id": f"001/view/{name}", "op": chain[-1][0], "kind": "view",
                      "family": "view", "seed": 0,
                      "args": [{"base_shape": shape}, {"chain": steps}], "expect": exp})
    return cases


def packet_001(ops):
    cases = []
    vals_a, vals_b = [0, 1, 2], [2, 1, 0]
    for a in DTYPES:
        for b in DTYPES:
            x, y, z = values(a, vals_a), values(b, vals_b), values(b, 3)
            pair = f"{DT[a]}_{DT[b]}"
            for name in ("add.Tensor", "mul.Tensor", "div.Tensor", "eq.Tensor", "maximum"):
                cases.append(op_case("001", ops, name, f"promote/{name}/{pair}", "promotion", [x, y]))
            for name in ("add.Tensor", "mul.Tensor"):
                cases.append(op_case("001", ops, name, f"promote_zerodim/{name}/{pair}", "promotion", [x, z]))
                cases.append(op_case("001", ops, name, f"promote_zerodim_lhs/{name}/{pair}", "promotion",
                                     [values(a, 3), y]))
        for sname, s in (("bool", True), ("int", 3), ("float", 2.5)):
            x = values(a, vals_a)
            for name in ("add.Scalar", "mul.Scalar", "div.Scalar"):
                extra = other_args(ops[name], [x])
                extra = [{"scalar": s} if (e is not None and "scalar" in e and spec["name"] == "other") else e
                         for spec, e in zip(ops[name]["args"], extra)]
                cases.append(op_case("001", ops, name, f"promote_scalar/{name}/{DT[a]}_{sname}", "promotion",
                                     [x], extra))
    i32, i64, u8 = torch.int32, torch.int64, torch.uint8
    overflow = [
        ("add.Tensor", "int32_add_wraps", [torch.tensor([2**31 - 1, -2**31], dtype=i32), torch.tensor([1, -1], dtype=i32)]),
        ("mul.Tensor", "int64_mul_wraps", [torch.tensor([2**62, -2**63, 3], dtype=i64), torch.tensor([4, -1, 2**62], dtype=i64)]),
        ("add.Tensor", "uint8_add_wraps", [torch.tensor([250, 255], dtype=u8), torch.tensor([10, 1], dtype=u8)]),
        ("sub.Tensor", "uint8_sub_wraps", [torch.tensor([0, 5], dtype=u8), torch.tensor([1, 10], dtype=u8)]),
        ("neg", "int64_neg_min", [torch.tensor([-2**63, 5], dtype=i64)]),
        ("abs", "int64_abs_min", [torch.tensor([-2**63, -5], dtype=i64)]),
        ("neg", "uint8_neg", [torch.tensor([1, 200, 0], dtype=u8)]),
        ("sum", "int32_sum_to_int64", [torch.tensor([2**31 - 1, 2**31 - 1, 5], dtype=i32)]),
        ("sum", "uint8_sum_to_int64", [torch.tensor([255] * 10, dtype=u8)]),
        ("prod", "int64_prod_wraps", [torch.tensor([2**40, 2**40, 3], dtype=i64)]),
        ("mul.Scalar", "int32_mul_scalar_wraps", [torch.tensor([2**20, -2**20], dtype=i32)]),
        ("remainder.Tensor", "int64_remainder_signs", [torch.tensor([-7, 7, -7, 7], dtype=i64), torch.tensor([3, -3, -3, 3], dtype=i64)]),
        ("remainder.Tensor", "int64_remainder_by_zero", [torch.tensor([5], dtype=i64), torch.tensor([0], dtype=i64)]),
        ("div.Tensor", "int64_div_by_zero", [torch.tensor([5, -5, 0], dtype=i64), torch.tensor([0, 0, 0], dtype=i64)]),
        ("to.dtype", "int64_to_uint8_wraps", [torch.tensor([300, -1, 255, 256], dtype=i64)]),
        ("to.dtype", "float_to_int64_truncates", [torch.tensor([-0.7, 2.9, -2.9, 1e3], dtype=torch.float32)]),
        ("to.dtype", "float_to_bool", [torch.tensor([0.0, -0.0, 0.1, float("nan")], dtype=torch.float32)]),
        ("to.dtype", "int_to_float16_rounds", [torch.tensor([2049, 65504, 70000], dtype=i64)]),
        ("to.dtype", "float64_to_bfloat16_rounds", [torch.tensor([1.0 + 2**-8, 1.0 + 3 * 2**-9, 3.4e38], dtype=torch.float64)]),
        ("maximum", "int64_extremes", [torch.tensor([-2**63, 2**63 - 1], dtype=i64), torch.tensor([2**63 - 1, -2**63], dtype=i64)]),
        ("pow.Tensor_Scalar", "int64_pow_wraps", [torch.tensor([3, -2, 7], dtype=i64)]),
    ]
    for name, sid, ts in overflow:
        extra = other_args(ops[name], ts)
        if name == "mul.Scalar":
            extra = [{"scalar": 2**12} if (e is not None and "scalar" in e) else e for e in extra]
        if name == "pow.Tensor_Scalar":
            extra = [{"scalar": 41} if (e is not None and "scalar" in e) else e for e in extra]
        if name == "to.dtype":
            target = {"int64_to_uint8_wraps": "uint8", "float_to_int64_truncates": "int64", "float_to_bool": "bool",
                      "int_to_float16_rounds": "float16", "float64_to_bfloat16_rounds": "bfloat16"}[sid]
            extra = [{"dtype": target} if (e is not None and "dtype" in e and e["dtype"] is not None) else e
                     for e in extra]
        cases.append(op_case("001", ops, name, f"int/{sid}", "overflow", ts, extra))
    cases += view_cases(ops)
    write("001", "tensor_core", cases)


# ---------------------------------------------------------------- 002 ----

# Cases left out, each with why (the runner prints them with the summary).
EXCLUDED_002 = {
    "002/relu.out/requires_grad": "PyTorch's relu.out (autogen) writes `out` and gives it a NotImplemented "
                                  "grad_fn; FrankenTorch cannot attach history to a caller's tensor that "
                                  "did not require grad, and raises the out= autograd error instead of "
                                  "returning a tensor whose backward would silently miss relu",
}


def packet_002(ops):
    cases = []
    for k, op in enumerate(parse_schema()):
        name = op["name"]
        seed = 1000 + 10 * k
        ts = tensor_args(op, seed)
        if not any(t.dtype.is_floating_point for t in ts):
            continue
        extra = other_args(op, ts)
        for rg, grad_on in ((False, True), (True, True), (True, False)):
            live, enc = [], []
            pool = [t.clone().requires_grad_(rg) if t.dtype.is_floating_point else t.clone() for t in ts]
            out_t = None
            for spec, e in zip(op["args"], extra):
                if e is None and spec["name"] == "out":
                    out_t = torch.zeros_like(ts[0].detach()) if name not in ("mm.out", "bmm.out", "matmul.out", "addmm.out") else None
                    live.append(out_t)
                    enc.append({"out": True})
                elif e is None:
                    t = pool.pop(0)
                    live.append(t)
                    enc.append({**enc_tensor(t), "requires_grad": t.requires_grad})
                else:
                    live.append(decode_e(e))
                    enc.append(e)
            if out_t is None and any(a["name"] == "out" for a in op["args"]):
                continue
            if out_t is not None:
                enc[[i for i, a in enumerate(op["args"]) if a["name"] == "out"][0]] = {"out": enc_tensor(out_t)}
            try:
                with torch.set_grad_enabled(grad_on):
                    r = call(op, live)
                r = r[0] if isinstance(r, tuple) else r
                exp = {"requires_grad": bool(r.requires_grad),
                       "grad_fn": type(r.grad_fn).__name__ if r.grad_fn is not None else None,
                       "is_leaf": bool(r.is_leaf)}
            except Exception as ex:  # noqa: BLE001
                exp = error_of(ex)
            tag = ("requires_grad" if rg else "plain") + ("" if grad_on else "_no_grad")
            if f"002/{name}/{tag}" in EXCLUDED_002:
                continue
            cases.append({"scenario_id": f"002/{name}/{tag}", "op": name, "family": "route",
                          "kind": "adversarial" if "error" in exp else "nominal", "seed": seed,
                          "args": enc, "grad_mode": grad_on, "expect": exp})
    # The key-set contract (DESIGN.md "dispatch"): PyTorch has no raw-bits
    # API, so these state FrankenTorch's own rule, which mirrors
    # c10::DispatchKeySet: backend bits 0-4 (CPU, CUDA, MPS, XPU, Meta),
    # functionality bits 16 (Dense) and 17 (Autograd); any other bit is
    # rejected, never masked.
    cpu, cuda, meta, dense, ad = 1, 2, 16, 1 << 16, 1 << 17
    contract = [
        ("cpu_dense", cpu | dense, {"highest": "CPU", "backend": "CPU"}),
        ("cpu_autograd", cpu | dense | ad, {"highest": "AutogradCPU", "backend": "CPU"}),
        ("meta_autograd", meta | dense | ad, {"highest": "AutogradMeta", "backend": "Meta"}),
        ("empty", 0, {"error": "empty dispatch key set"}),
        ("unknown_bit_5", cpu | dense | (1 << 5), {"error": "unknown dispatch key bits"}),
        ("unknown_bit_40", cpu | dense | (1 << 40), {"error": "unknown dispatch key bits"}),
        ("unknown_bit_63", 1 << 63, {"error": "unknown dispatch key bits"}),
        ("all_bits", (1 << 64) - 1, {"error": "unknown dispatch key bits"}),
        ("no_backend", dense | ad, {"error": "no backend key"}),
        ("no_functionality", cpu, {"error": "no functionality"}),
        ("autograd_without_dense", cpu | ad, {"error": "Autograd without its backend's dense key"}),
        ("mixed_backends", cpu | cuda | dense, {"error": "more than one backend"}),
    ]
    for name, bits, exp in contract:
        cases.append({"scenario_id": f"002/keyset/{name}", "op": "keyset", "family": "keyset",
                      "kind": "adversarial" if "error" in exp else "nominal", "seed": 0,
                      "oracle": "contract", "args": [{"bits": str(bits)}], "expect": exp})
    write("002", "dispatch", cases,
          excluded=[{"scenario_id": k, "why": v} for k, v in EXCLUDED_002.items()])


def decode_e(e):
    (k, v), = e.items()
    if k == "dtype":
        return None if v is None else {n: t for t, n in DT.items()}[v]
    return v


# ---------------------------------------------------------------- 003 ----

MALFORMED = [
    "add.Tensor(Tensor self, Tensor other",
    "add.Tensor(Tensor self Tensor other) -> Tensor",
    "add.Tensor(Tensor self, Foo other) -> Tensor",
    "add.Tensor(Tensor self, int[1? dim) -> Tensor",
    "add.Tensor(Tensor self, Tensor other) ->",
    "add.Tensor(Tensor self, Tensor other) -> Tensor Tensor",
    "add.Tensor(Tensor self, *, *, Tensor other) -> Tensor",
    "add.Tensor(Tensor self, Scalar alpha=) -> Tensor",
    "add..Tensor(Tensor self) -> Tensor",
    "(Tensor self) -> Tensor",
    "add.Tensor(Tensor) -> Tensor",
    "add.Tensor(Tensor self, Tensor self2",
    "add.Tensor(Tensor(a! self) -> Tensor",
]


def packet_003():
    cases = []
    for op in parse_schema():
        name, _, overload = op["name"].partition(".")
        schema = str(getattr(getattr(torch.ops.aten, name), overload or "default")._schema)
        cases.append({"scenario_id": f"003/{op['name']}/pytorch_schema", "op": op["name"], "family": "schema",
                      "kind": "nominal", "seed": 0, "args": [{"str": schema}],
                      "expect": {"parses": True}})
    for i, line in enumerate(MALFORMED):
        exp = attempt(lambda: torch._C.parse_schema(line), lambda _: {"parses": True})
        cases.append({"scenario_id": f"003/malformed/{i}", "op": "schema", "family": "schema_line",
                      "kind": "adversarial" if "error" in exp else "nominal", "seed": 0,
                      "args": [{"str": line}], "expect": exp})
    write("003", "schemas", cases)


# ---------------------------------------------------------------- 006 ----

def st_case(sid, kind, data, note=""):
    exp = attempt(lambda: st_load(bytes(data)),
                  lambda loaded: {"tensors": [[k, enc_tensor(v)] for k, v in sorted(loaded.items())]})
    return {"scenario_id": f"006/{sid}", "op": "checkpoint", "family": "checkpoint",
            "kind": "adversarial" if "error" in exp else kind, "seed": 0, "note": note,
            "args": [{"hex": bytes(data).hex()}], "expect": exp}


def packet_006():
    g = torch.Generator().manual_seed(6)
    every = {
        "f32": torch.rand(2, 3, generator=g),
        "f64": torch.rand(3, generator=g, dtype=torch.float64),
        "f16": torch.rand(2, 2, generator=g).half(),
        "bf16": torch.rand(4, generator=g).bfloat16(),
        "i64": torch.tensor([-(2**40), 0, 2**62]),
        "i32": torch.tensor([-7, 2**31 - 1], dtype=torch.int32),
        "u8": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
    }
    cases = []
    good = st_save(every)
    cases.append(st_case("every_dtype", "nominal", good, "one file with every dtype, a 0-dim and an empty tensor"))
    cases.append(st_case("single", "nominal", st_save({"w": torch.arange(6.0).reshape(2, 3)})))
    cases.append(st_case("no_tensors", "edge", st_save({})))
    cases.append(st_case("nonfinite", "edge", st_save({"w": torch.tensor([1.0, float("nan"), float("inf")])}),
                         "PyTorch loads NaN/inf; Hardened mode refuses (allowlisted)"))
    n = int.from_bytes(good[:8], "little")
    header = json.loads(good[8:8 + n])
    cases.append(st_case("truncated_len", "edge", good[:5], "shorter than the 8-byte header length"))
    cases.append(st_case("truncated_header", "edge", good[:8 + n // 2]))
    cases.append(st_case("truncated_data", "edge", good[:-7]))
    big = bytearray(good)
    big[:8] = (len(good) * 4).to_bytes(8, "little")
    cases.append(st_case("header_len_past_end", "edge", big))
    huge = bytearray(good)
    huge[:8] = (2**63).to_bytes(8, "little")
    cases.append(st_case("header_len_huge", "edge", huge))
    garbage = bytearray(good)
    garbage[8:8 + 10] = b"not json!!"
    cases.append(st_case("header_not_json", "edge", garbage))

    def with_header(h):
        hb = json.dumps(h, separators=(",", ":")).encode()
        hb += b" " * ((8 - len(hb) % 8) % 8)
        return len(hb).to_bytes(8, "little") + hb + good[8 + n:]
    h = json.loads(json.dumps(header))
    h["f32"]["data_offsets"][1] += 10**6
    cases.append(st_case("offsets_past_end", "edge", with_header(h)))
    h = json.loads(json.dumps(header))
    h["f32"]["dtype"] = "X9"
    cases.append(st_case("unknown_dtype", "edge", with_header(h)))
    h = json.loads(json.dumps(header))
    h["f32"]["shape"] = [4, 3]
    cases.append(st_case("shape_mismatch", "edge", with_header(h)))
    h = json.loads(json.dumps(header))
    h["f64"]["data_offsets"] = list(h["f32"]["data_offsets"])
    cases.append(st_case("overlapping_offsets", "edge", with_header(h)))
    h = json.loads(json.dumps(header))
    h["f32"]["shape"] = [-1, 6]
    cases.append(st_case("negative_dim", "edge", with_header(h)))
    write("006", "checkpoints", cases)


# ---------------------------------------------------------------- 007 ----

DEVICES = ["cpu", "cpu:0", "cuda", "cuda:1", "mps", "xpu:0", "meta", "cuda:-1", "gpu", "cuda:01", "cpu:x",
           "", "CUDA", "cuda:0:1", " cpu", "cuda:+1"]


def packet_007():
    cases = []
    for s in DEVICES:
        exp = attempt(lambda: torch.device(s), lambda d: {"type": d.type, "index": d.index, "str": str(d)})
        cases.append({"scenario_id": f"007/parse/{s!r}", "op": "device", "family": "device",
                      "kind": "adversarial" if "error" in exp else "nominal", "seed": 0,
                      "args": [{"str": s}], "expect": exp})
    # A tensor on an accelerator this build lacks: PyTorch's CPU build fails.
    for s in ["cuda", "cuda:1", "xpu"]:
        exp = attempt(lambda: torch.zeros(2, device=s), lambda _: {"created": True})
        cases.append({"scenario_id": f"007/create/{s}", "op": "device", "family": "device_create",
                      "kind": "adversarial" if "error" in exp else "nominal", "seed": 0,
                      "args": [{"str": s}], "expect": exp})
    write("007", "devices", cases)


# ---------------------------------------------------------------- 008 ----

def build(spec):
    layers = []
    for s in spec:
        kind = s[0]
        if kind == "Linear":
            layers.append(nn.Linear(s[1], s[2], bias=s[3]))
        elif kind == "LayerNorm":
            layers.append(nn.LayerNorm(s[1], eps=s[2]))
        elif kind == "Embedding":
            layers.append(nn.Embedding(s[1], s[2]))
        elif kind == "GELU":
            layers.append(nn.GELU(approximate=s[1]))
        elif kind == "Dropout":
            layers.append(nn.Dropout(s[1]))
        else:
            layers.append(getattr(nn, kind)())
    return nn.Sequential(*layers)


MODELS = [
    ("mlp", [["Linear", 4, 8, True], ["ReLU"], ["Linear", 8, 3, True]], [5, 4]),
    ("tanh_layernorm", [["Linear", 6, 6, False], ["Tanh"], ["LayerNorm", 6, 1e-5], ["Linear", 6, 2, True]], [3, 6]),
    ("gelu_sigmoid", [["Linear", 3, 5, True], ["GELU", "none"], ["Linear", 5, 5, True], ["Sigmoid"]], [4, 3]),
    ("gelu_tanh_dropout_silu", [["Linear", 3, 4, True], ["GELU", "tanh"], ["Dropout", 0.5], ["SiLU"]], [2, 3]),
    ("batched_3d", [["Linear", 4, 4, True], ["ReLU"], ["LayerNorm", 4, 1e-5]], [2, 3, 4]),
    ("embedding", [["Embedding", 10, 4], ["Linear", 4, 2, True]], None),
]


def packet_008():
    cases = []
    for i, (name, spec, shape) in enumerate(MODELS):
        torch.manual_seed(800 + i)
        m = build(spec).eval()
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.rand(p.shape) * 0.1)  # LayerNorm weights away from 1
        x = torch.randint(0, 10, (2, 5)) if shape is None else torch.rand(shape) * 4 - 2
        sd = m.state_dict()
        with torch.no_grad():
            y = m(x)
        cases.append({"scenario_id": f"008/{name}/forward", "op": "module", "family": "module", "kind": "nominal",
                      "seed": 800 + i,
                      "args": [{"spec": spec}, {"state_dict": st_save(dict(sd)).hex()}, enc_tensor(x)],
                      "expect": {"keys": list(sd.keys()), "values": [enc_tensor(y)]}})
        if name == "mlp":
            bad = [("missing_key", {k: v for k, v in sd.items() if k != "2.bias"}),
                   ("unexpected_key", {**sd, "3.weight": torch.zeros(2)}),
                   ("size_mismatch", {**sd, "0.weight": torch.zeros(8, 5)})]
            for bname, d in bad:
                try:
                    build(spec).load_state_dict(d)
                    exp = {"loaded": True}
                except Exception as ex:  # noqa: BLE001
                    exp = {"error": {"class": type(ex).__name__, "message": str(ex)}}
                cases.append({"scenario_id": f"008/{name}/load_{bname}", "op": "module", "family": "module",
                              "kind": "adversarial", "seed": 800 + i,
                              "args": [{"spec": spec}, {"state_dict": st_save(d).hex()}, enc_tensor(x)],
                              "expect": exp})
    g = torch.Generator().manual_seed(88)
    inp, tgt = torch.rand(4, 3, generator=g), torch.rand(4, 3, generator=g)
    for red in ("mean", "sum", "none"):
        cases.append({"scenario_id": f"008/mse_loss/{red}", "op": "mse_loss", "family": "loss", "kind": "nominal",
                      "seed": 88, "args": [enc_tensor(inp), enc_tensor(tgt), {"str": red}],
                      "expect": {"values": [enc_tensor(F.mse_loss(inp, tgt, reduction=red))]}})
    logits, cls = torch.rand(5, 4, generator=g) * 6 - 3, torch.tensor([0, 3, 1, 1, 2])
    for red in ("mean", "sum", "none"):
        for ls in (0.0, 0.1):
            cases.append({"scenario_id": f"008/cross_entropy/{red}_ls{ls}", "op": "cross_entropy", "family": "loss",
                          "kind": "nominal", "seed": 88,
                          "args": [enc_tensor(logits), enc_tensor(cls), {"str": red}, {"scalar": ls}],
                          "expect": {"values": [enc_tensor(F.cross_entropy(logits, cls, reduction=red,
                                                                           label_smoothing=ls))]}})
    bad_cls = torch.tensor([0, 4, 1, 1, 2])
    exp = attempt(lambda: F.cross_entropy(logits, bad_cls), lambda _: {"values": []})
    cases.append({"scenario_id": "008/cross_entropy/target_out_of_range", "op": "cross_entropy", "family": "loss",
                  "kind": "adversarial", "seed": 88,
                  "args": [enc_tensor(logits), enc_tensor(bad_cls), {"str": "mean"}, {"scalar": 0.0}], "expect": exp})
    write("008", "nn", cases)


def main():
    torch.set_num_threads(1)
    ops = {op["name"]: op for op in parse_schema()}
    packet_001(ops)
    packet_002(ops)
    packet_003()
    packet_006()
    packet_007()
    packet_008()


if __name__ == "__main__":
    main()
