#!/usr/bin/env python3
"""Prints how PyTorch rounds f16/bf16 results where the rule is not just
"compute in f32, round once": the checks behind ft-kernels' choices.

- An f16/bf16 result written into an `out=` of another float dtype holds
  half-rounded values (PyTorch computes in the common dtype, then casts):
  ft-kernels follows (`run_rounded` in kernels/src/ops/mod.rs).
- `mean` of a half tensor is the f32 sum divided by n, rounded once:
  ft-kernels does the same.
- `prod` multiplies in the half dtype, rounding each step; `logsumexp` is a
  composite of half ops: ft-kernels keeps one rounding (see the `prod` and
  `logsumexp` docs).
- `log_softmax` over the last dim keeps its row sum and log in the half
  dtype: ft-kernels follows (kernels/src/ops/softmax.rs).

Run: python3 conformance/oracle/half_rules.py (needs torch).
"""
import torch

torch.manual_seed(0)
bf = torch.bfloat16


def rounded(o, d):
    return bool((o == o.to(d).to(o.dtype)).all())


x = torch.randn(1000).to(bf)
y = torch.randn(1000).to(bf)
print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
print("## out= of another dtype: values rounded to the half first?")
for name, f in [("exp", lambda o: torch.exp(x, out=o)), ("sigmoid", lambda o: torch.sigmoid(x, out=o)),
                ("add", lambda o: torch.add(x, y, out=o)), ("add alpha 0.3", lambda o: torch.add(x, y, alpha=0.3, out=o)),
                ("mul", lambda o: torch.mul(x, y, out=o)), ("div", lambda o: torch.div(x, y, out=o)),
                ("mul by 1.7", lambda o: torch.mul(x, 1.7, out=o))]:
    o = torch.empty(1000, dtype=torch.float32)
    f(o)
    print(f"{name:14} bf16 into f32: {rounded(o, bf)}")
o = torch.empty(1000, dtype=torch.float64)
torch.exp(x.half(), out=o)
print(f"{'exp':14} f16 into f64: {rounded(o, torch.float16)}")

print("## mean: f32 sum / n, rounded once? (mismatches of 64 rows)")
m = (torch.randn(64, 1000) * 3).to(bf)
s = m.float().sum(dim=1)
print("bf16:", int((m.mean(dim=1) != (s / 1000).to(bf)).sum()),
      " f16:", int((m.half().mean(dim=1) != (m.half().float().sum(dim=1) / 1000).half()).sum()))

print("## prod: largest relative distance from the exact product (rows of 1 + 0.01 randn)")
for n in [40, 300, 4096]:
    p = (1 + torch.randn(16, n) * 0.01).to(bf)
    exact = p.double().prod(dim=1)
    dev = lambda r: float(((r.double() - exact).abs() / exact.abs()).max())
    print(f"n {n:5}: PyTorch {dev(p.prod(dim=1)):.4f}, rounded once {dev(exact.to(bf)):.4f}")

print("## against the f32 op rounded once (mismatches of 64 rows of 300)")
z = (torch.randn(64, 300) * 2).to(bf)
for name, f in [("var", lambda t: t.var(dim=1)), ("std", lambda t: t.std(dim=1)),
                ("norm 2", lambda t: t.norm(dim=1)), ("norm 1", lambda t: t.norm(p=1, dim=1)),
                ("logsumexp", lambda t: t.logsumexp(dim=1)), ("softmax", lambda t: t.softmax(dim=1)),
                ("log_softmax", lambda t: t.log_softmax(dim=1))]:
    a, b = f(z), f(z.float()).to(bf)
    print(f"{name:12} {int((a != b).sum())} of {a.numel()}")
mx = z.amax(dim=1, keepdim=True)
composite = (z - mx).exp().sum(dim=1).log() + mx.squeeze(1)
print("logsumexp == the composite of bf16 ops:", bool((z.logsumexp(dim=1) == composite).all()))

print("## log_softmax: mismatches of 19,200 against each rule (h: rounding to the half)")
for dt in [torch.bfloat16, torch.float16]:
    h = lambda t: t.to(dt).float()
    w = (torch.randn(64, 300) * 2).to(dt)
    for dim in [1, 0]:
        ls = w.log_softmax(dim=dim)
        wf = w.float()
        mx = wf.amax(dim=dim, keepdim=True)
        s = (wf - mx).exp().sum(dim=dim, keepdim=True)
        rules = {"(x - max) - h(log(h(sum)))": wf - mx - h(h(s).log()),
                 "(x - max) - log(sum), f32": wf - mx - s.log()}
        print(str(dt)[6:], f"dim {dim}:", ", ".join(f"{k} {int((ls != v.to(dt)).sum())}" for k, v in rules.items()))
