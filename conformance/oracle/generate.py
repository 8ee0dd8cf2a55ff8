#!/usr/bin/env python3
"""PyTorch oracle for ft-conformance: runs every op of dispatch/ops.schema
through torch.ops.aten with the schema's own argument order and writes the
fixture files conformance/fixtures/005_cpu_kernels.json and
004_autograd.json (the gradient of every differentiable op).

Per op: a nominal case; edge cases (non-finite and signed-zero inputs
where the op takes a floating tensor; empty operands; size-1 dims;
non-contiguous views; 0-stride expanded operands); adversarial cases from
eight input families (shape, dim, index, dims, size, dtype, rank, overlap,
out dtype), kept where PyTorch raises; the ops PyTorch raised for under
none of them are listed as `no_failing_input`. Each case holds the
arguments in schema order (a view as storage, strides and offset) and what
PyTorch did: the output values with their tolerance (and the written
argument, for in-place and out=), or the error's class and message.

Run from the repository root (needs torch): python3 conformance/oracle/generate.py
"""
import json
import math
import pathlib
import re

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "dispatch" / "ops.schema"
OUT = ROOT / "conformance" / "fixtures" / "005_cpu_kernels.json"
OUT_GRAD = ROOT / "conformance" / "fixtures" / "004_autograd.json"
DT = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
      torch.bool: "bool", torch.uint8: "uint8", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def parse_schema():
    ops = []
    for line in SCHEMA.read_text().splitlines():
        m = re.match(r"- func: ([\w.]+)\((.*)\) -> (.*)$", line)
        if not m:
            continue
        args, kw = [], False
        for a in [x.strip() for x in m.group(2).split(",") if x.strip()]:
            if a == "*":
                kw = True
                continue
            decl, _, default = a.partition("=")
            ty, name = decl.rsplit(" ", 1)
            args.append({"name": name, "type": ty, "kw": kw, "default": default or None})
        ops.append({"name": m.group(1), "args": args})
    return ops


def gen(seed):
    return torch.Generator().manual_seed(seed)


def rand(shape, seed, lo=-2.0, hi=2.0, dtype=torch.float32):
    return (torch.rand(shape, generator=gen(seed), dtype=torch.float64) * (hi - lo) + lo).to(dtype)


def enc_values(vals):
    def f(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            if v == 0.0 and math.copysign(1.0, v) < 0:
                return "-0"
        return v
    return [f(v) for v in vals]


def enc_tensor(t):
    """A tensor's fixture form: dtype, shape and values in row-major order;
    a view that is not contiguous from offset 0 also carries its storage,
    strides and storage offset, so the runner rebuilds the same layout."""
    t = t.detach()
    d = {"dtype": DT[t.dtype], "shape": list(t.shape), "data": enc_values(t.reshape(-1).tolist())}
    if t.numel() > 0 and (not t.is_contiguous() or t.storage_offset() != 0):
        base = torch.empty(0, dtype=t.dtype).set_(t.untyped_storage())
        d["storage"] = enc_values(base.tolist())
        d["strides"] = list(t.stride())
        d["offset"] = t.storage_offset()
    return {"tensor": d}


POSITIVE = {"log", "log1p", "sqrt", "rsqrt", "log_", "log1p_", "sqrt_", "rsqrt_", "log.out", "log1p.out",
            "sqrt.out", "rsqrt.out", "pow.Tensor_Tensor", "pow_.Tensor", "pow.Tensor_Tensor_out"}


def tensor_args(op, seed):
    """The tensor arguments of a nominal call, by op family."""
    n = op["name"]
    base = n.split(".")[0].rstrip("_")
    lo = 0.25 if n in POSITIVE else -2.0
    if base in ("mm",):
        return [rand([2, 3], seed), rand([3, 4], seed + 1)]
    if base == "bmm":
        return [rand([2, 2, 3], seed), rand([2, 3, 4], seed + 1)]
    if base == "matmul":
        return [rand([2, 2, 3], seed), rand([3, 4], seed + 1)]
    if base == "addmm":
        first = rand([2, 4], seed) if n == "addmm_" else rand([4], seed)
        return [first, rand([2, 3], seed + 1), rand([3, 4], seed + 2)]
    if base == "linear":
        return [rand([2, 3], seed), rand([4, 3], seed + 1), rand([4], seed + 2)]
    if base == "dot":
        return [rand([5], seed), rand([5], seed + 1)]
    if base == "mv":
        return [rand([2, 3], seed), rand([3], seed + 1)]
    if base == "where":
        return [rand([2, 3], seed) > 0, rand([2, 3], seed + 1), rand([3], seed + 2)]
    if base in ("logical_and", "logical_or", "logical_xor"):
        return [rand([2, 3], seed) > 0, rand([3], seed + 1) > 0.5]
    if base == "remainder":
        return [rand([2, 3], seed, -5, 5), rand([3], seed + 1, 0.5, 2.0)]
    count = sum(1 for a in op["args"] if a["type"].startswith("Tensor") and a["name"] != "out")
    shapes = [[2, 3], [3], [2, 3]]
    return [rand(shapes[i], seed + i, lo, 2.0) for i in range(count)]


SCALAR_ARG = {"alpha": 2, "other": 1.5, "exponent": 2.0, "min": -0.5, "max": 1.0, "p": 2, "beta": 0.5}
INT_ARG = {"dim": 1, "dim0": 0, "dim1": 1, "start": 0, "length": 2, "index": 1, "start_dim": 0, "end_dim": -1}
DIMS_ARG = {"dim": [1], "size": [3, 2], "shape": [3, -1], "dims": [1, 0]}


def other_args(op, tensors):
    """The non-tensor arguments, in schema order (None marks a tensor slot)."""
    out = []
    name = op["name"]
    for a in op["args"]:
        ty = a["type"]
        if ty.startswith("Tensor"):
            out.append(None)
        elif ty.startswith("ScalarType"):
            out.append({"dtype": "float64"} if name == "to.dtype" else {"dtype": None})
        elif ty.startswith("Scalar"):
            v = SCALAR_ARG.get(a["name"], 1)
            if name.startswith("var") or name.startswith("std"):
                v = 1
            out.append({"scalar": v})
        elif ty.startswith("int[") :
            v = DIMS_ARG.get(a["name"], [1])
            if name.startswith("expand"):
                v = [2, 2, 3]
            if name.startswith("permute"):
                v = [1, 0]
            out.append({"dims": v})
        elif ty.startswith("int"):
            v = INT_ARG.get(a["name"], 0)
            if name in ("unsqueeze", "squeeze.dim"):
                v = 0
            out.append({"int": v})
        elif ty == "bool":
            out.append({"bool": False})
        elif ty == "str":
            out.append({"str": "none"})
        else:
            raise ValueError(f"{name}: argument type {ty}")
    return out


TORCH_DT = {v: k for k, v in DT.items()}


def decode(arg, tensors):
    if arg is None:
        return tensors.pop(0)
    (k, v), = arg.items()
    if k == "dtype":
        return None if v is None else TORCH_DT[v]
    return v


# Our schema names that PyTorch spells otherwise (none now; the map stays
# for the next one).
TORCH_NAME = {}


def call(op, args):
    name, _, overload = TORCH_NAME.get(op["name"], op["name"]).partition(".")
    fn = getattr(getattr(torch.ops.aten, name), overload or "default")
    pos, kw = [], {}
    for spec, a in zip(op["args"], args):
        if spec["kw"]:
            kw[spec["name"]] = a
        else:
            pos.append(a)
    return fn(*pos, **kw)


def run_case(op, tensors, extra, out_dtype=None):
    """Runs the op on copies (same layouts); returns (inputs encoded,
    expected). `out_dtype`: the dtype of the out= tensor (default: the
    first operand's)."""
    args_enc, live, ts = [], [], [copy_layout(t) for t in tensors]
    out_slot = None
    for spec, e in zip(op["args"], extra):
        if e is None:
            if spec["name"] == "out":
                t = torch.zeros_like(tensors[0]) if op["name"] not in ("mm.out", "bmm.out", "matmul.out", "addmm.out") else None
                out_slot = len(live)
                args_enc.append({"out": True})
                live.append(t)
            else:
                t = ts.pop(0)
                args_enc.append(enc_tensor(t))
                live.append(t)
        else:
            args_enc.append(e)
            live.append(decode(e, []))
    if out_slot is not None and live[out_slot] is None:
        # Products: allocate out from the functional result.
        fname = op["name"].replace(".out", "")
        fop = {"name": fname, "args": [a for a in op["args"] if a["name"] != "out"]}
        try:
            ref = call(fop, [l for i, l in enumerate(live) if i != out_slot])
        except Exception:  # noqa: BLE001 - invalid operands: any out shows the error
            ref = torch.zeros(1)
        live[out_slot] = torch.zeros_like(ref)
    if out_slot is not None and out_dtype is not None:
        live[out_slot] = live[out_slot].to(out_dtype)
    if out_slot is not None:
        args_enc[out_slot] = {"out": enc_tensor(live[out_slot])}
    try:
        r = call(op, live)
    except Exception as ex:  # noqa: BLE001 - the oracle records any error
        return args_enc, {"error": {"class": type(ex).__name__, "message": str(ex).split("\n")[0]}}
    mutated = [i for i, s in enumerate(op["args"]) if s["type"].startswith("Tensor(a!)")]
    # The computation may run in an input's dtype and be cast into the
    # output's: the looser of their tolerances applies.
    inputs = [t.dtype for t in live if isinstance(t, torch.Tensor)]
    if mutated:
        w = live[mutated[0]]
        return args_enc, {"written": {"arg": mutated[0], **enc_tensor(w)},
                          "tolerance": tolerance([w.dtype] + inputs)}
    rs = list(r) if isinstance(r, tuple) else [r]
    return args_enc, {"values": [enc_tensor(x) for x in rs], "tolerance": tolerance([rs[0].dtype] + inputs)}


TOL = {torch.float16: {"rtol": 1e-2, "atol": 1e-3}, torch.bfloat16: {"rtol": 1e-2, "atol": 1e-3},
       torch.float32: {"rtol": 1e-4, "atol": 1e-5}, torch.float64: {"rtol": 1e-10, "atol": 1e-12}}


def tolerance(dtypes):
    """How close a value must be: relative and absolute, the loosest of
    the floating dtypes involved; exact when the result is an integer or
    bool."""
    if not dtypes[0].is_floating_point:
        return {"rtol": 0.0, "atol": 0.0}
    return max((TOL[d] for d in dtypes if d in TOL), key=lambda t: t["rtol"])


def grad_case(op, tensors, extra, seed):
    """The gradients of sum(op(...) * w) with respect to every floating
    tensor argument (float64, so the comparison is tight), or None when the
    op is not differentiable here."""
    if any(a["type"].startswith("Tensor(a!)") for a in op["args"]):
        return None
    ts = [t.double().requires_grad_(True) if t.dtype.is_floating_point else t.clone() for t in tensors]
    live, pool = [], list(ts)
    for e in extra:
        live.append(pool.pop(0) if e is None else decode(e, []))
    try:
        r = call(op, live)
    except Exception:  # noqa: BLE001
        return None
    r = r[0] if isinstance(r, tuple) else r
    if not r.dtype.is_floating_point or not r.requires_grad:
        return None
    w = rand(list(r.shape), seed + 99, dtype=torch.float64)
    (r * w).sum().backward()
    args = []
    pool = list(ts)
    for e in extra:
        args.append(enc_tensor(pool.pop(0).detach()) if e is None else e)
    return {"args": args, "weights": enc_tensor(w),
            "grads": [enc_tensor(t.grad) if t.dtype.is_floating_point and t.grad is not None else None for t in ts]}


def copy_layout(t):
    """A copy with its own storage and the same strides and offset (clone()
    would make a strided or expanded view contiguous)."""
    if t.numel() == 0 or (t.is_contiguous() and t.storage_offset() == 0):
        return t.clone()
    base = torch.empty(0, dtype=t.dtype).set_(t.untyped_storage()).clone()
    return base.as_strided(t.shape, t.stride(), t.storage_offset())


def edge_nonfinite(op, tensors):
    """Non-finite and signed zeros in the first floating tensor."""
    out = [t.clone() for t in tensors]
    t = out[0]
    if t.dtype.is_floating_point and t.numel() >= 4:
        flat = t.reshape(-1)
        flat[0], flat[1], flat[2], flat[3] = float("nan"), float("inf"), float("-inf"), -0.0
        return out
    return None


def edge_empty(op, tensors):
    """Zero rows: the first dim of every matrix (and of every vector when
    all operands are vectors) becomes 0."""
    all_1d = all(t.dim() == 1 for t in tensors)
    out = [t[:0].clone() if t.dim() >= 2 or (t.dim() == 1 and all_1d) else t.clone() for t in tensors]
    return out


def edge_noncontig(op, tensors):
    """Every operand as a non-contiguous view with the same values: a
    matrix transposed in storage, a vector every other element from
    offset 1."""
    out = []
    for t in tensors:
        if t.dim() >= 2:
            out.append(t.transpose(-1, -2).contiguous().transpose(-1, -2))
        elif t.dim() == 1:
            base = torch.zeros(2 * t.shape[0] + 1, dtype=t.dtype)
            v = base[1::2]
            v.copy_(t)
            out.append(v)
        else:
            out.append(t.clone())
    return out


def mutated_slots(op):
    """Indices (among the tensor operands, out= excluded) that the op writes."""
    slots = [a for a in op["args"] if a["type"].startswith("Tensor") and a["name"] != "out"]
    return [i for i, a in enumerate(slots) if a["type"].startswith("Tensor(a!)")]


def edge_expanded(op, tensors):
    """Operands the op only reads as 0-stride expanded views (row 0 repeated)."""
    written = mutated_slots(op)
    out = []
    for i, t in enumerate(tensors):
        if i not in written and t.dim() >= 1 and t.shape[0] > 1:
            out.append(t[:1].clone().expand(t.shape))
        else:
            out.append(t.clone())
    return out


def edge_size1(op, tensors):
    """Size-1 leading dims: every operand with at least two dims keeps
    only its first row (so size-1 dims broadcast against each other)."""
    return [t[:1].clone() if t.dim() >= 2 else t.clone() for t in tensors]


EDGES = [("edge_nonfinite", edge_nonfinite), ("edge_empty", edge_empty), ("edge_size1", edge_size1),
         ("edge_noncontig", edge_noncontig), ("edge_expanded", edge_expanded)]


def set_int_args(extra, op, names, value):
    out, hit = [], False
    for spec, e in zip(op["args"], extra):
        if e is not None and "int" in e and spec["name"] in names:
            out.append({"int": value})
            hit = True
        else:
            out.append(e)
    return out if hit else None


def set_dims_args(extra, op, value):
    out, hit = [], False
    for e in extra:
        if e is not None and "dims" in e:
            out.append({"dims": value(e["dims"])})
            hit = True
        else:
            out.append(e)
    return out if hit else None


def adversarial(op, ts, extra, seed):
    """(name, tensors, extra) variants that may make PyTorch fail; only the
    ones that do become cases."""
    n = op["name"]
    out = []
    if len(ts) >= 2 and not n.startswith(("where", "addmm", "linear")):
        bad = [t.clone() for t in ts]
        bad[1] = rand([7], seed + 7, dtype=bad[1].dtype) if bad[1].dtype.is_floating_point else (rand([7], seed + 7) > 0)
        out.append(("adversarial_shape", bad, extra))
    e = set_int_args(extra, op, ("dim", "dim0", "dim1", "start_dim", "end_dim"), 5)
    if e is not None:
        out.append(("adversarial_dim", [t.clone() for t in ts], e))
    e = set_int_args(extra, op, ("index", "start", "length"), 9)
    if e is not None:
        out.append(("adversarial_index", [t.clone() for t in ts], e))
    e = set_dims_args(extra, op, lambda d: [5] * len(d) if len(d) != 2 or d[0] != d[1] else [0, 0])
    if e is not None:
        out.append(("adversarial_dims", [t.clone() for t in ts], e))
    e = set_dims_args(extra, op, lambda d: [4, 4])
    if e is not None:
        out.append(("adversarial_size", [t.clone() for t in ts], e))
    if ts:
        bad = [t.clone() for t in ts]
        bad[0] = bad[0] > 0 if bad[0].dtype != torch.bool else bad[0].to(torch.float32)
        out.append(("adversarial_dtype", bad, extra))
        bad = [t.clone() for t in ts]
        bad[0] = (bad[0] * 3).to(torch.int64)
        out.append(("adversarial_int", bad, extra))
        if ts[0].dim() >= 2:
            bad = [t.clone() for t in ts]
            bad[0] = bad[0].reshape(-1)
            out.append(("adversarial_rank", bad, extra))
    written = mutated_slots(op)
    if written and ts[written[0]].dim() >= 1:
        bad = [t.clone() for t in ts]
        w = written[0]
        bad[w] = bad[w][:1].clone().expand(bad[w].shape) if bad[w].shape[0] > 1 else bad[w]
        out.append(("adversarial_overlap", bad, extra))
    if n.endswith(("out", "_out")):
        out.append(("adversarial_out_dtype", [t.clone() for t in ts], extra, torch.int64))
    return out


def main():
    torch.set_num_threads(1)
    cases, cannot_fail = [], []
    for k, op in enumerate(parse_schema()):
        seed = 1000 + 10 * k
        ts = tensor_args(op, seed)
        extra = other_args(op, ts)
        args, exp = run_case(op, ts, extra)
        cases.append({"scenario_id": f"005/{op['name']}/nominal", "op": op["name"], "kind": "nominal",
                      "seed": seed, "args": args, "expect": exp})
        for kind, make in EDGES:
            et = make(op, ts)
            if et is None:
                continue
            args, exp = run_case(op, et, extra)
            cases.append({"scenario_id": f"005/{op['name']}/{kind}", "op": op["name"],
                          "kind": "edge", "seed": seed, "args": args, "expect": exp})
        if op["name"].endswith(("out", "_out")):
            # out= of another float dtype: PyTorch casts for some ops and
            # insists on the exact dtype for others.
            for dt in (torch.float64, torch.float16):
                args, exp = run_case(op, ts, extra, dt)
                cases.append({"scenario_id": f"005/{op['name']}/edge_out_{DT[dt]}", "op": op["name"],
                              "kind": "edge", "seed": seed, "args": args, "expect": exp})
        failing = 0
        for variant in adversarial(op, ts, extra, seed):
            kind, bad, e = variant[:3]
            args, exp = run_case(op, bad, e, *variant[3:])
            if "error" in exp:
                failing += 1
                cases.append({"scenario_id": f"005/{op['name']}/{kind}", "op": op["name"],
                              "kind": "adversarial", "seed": seed, "args": args, "expect": exp})
        if failing == 0:
            cannot_fail.append(op["name"])
    grads = []
    for k, op in enumerate(parse_schema()):
        seed = 1000 + 10 * k
        ts = tensor_args(op, seed)
        g = grad_case(op, ts, other_args(op, ts), seed)
        if g is not None:
            grads.append({"scenario_id": f"004/{op['name']}/grad", "op": op["name"], "kind": "nominal",
                          "seed": seed, "args": g["args"],
                          "expect": {"grads": g["grads"], "weights": g["weights"]}})
    OUT_GRAD.write_text(json.dumps({"packet_id": "004", "suite_id": "ft-conformance-v1",
                                    "torch_version": torch.__version__, "cases": grads}) + "\n")
    print(f"{len(grads)} gradient cases -> {OUT_GRAD.relative_to(ROOT)}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"packet_id": "005", "suite_id": "ft-conformance-v1",
                               "torch_version": torch.__version__,
                               "no_failing_input": cannot_fail, "cases": cases}, indent=None) + "\n")
    kinds = {}
    for c in cases:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print(f"{len(cases)} cases {kinds} -> {OUT.relative_to(ROOT)}")
    print(f"ops PyTorch did not fail on under any adversarial input tried: {cannot_fail}")


if __name__ == "__main__":
    main()
