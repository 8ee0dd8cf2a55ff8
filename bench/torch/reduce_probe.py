"""PyTorch beside `bench/examples/reduce_probe.rs`: the same cases on the
same inputs, 3 rounds of best-of-5, GB/s of bytes read and written.
Set `reduce` (default), over [4096, 4096]: max/argmax along dim 0 and 1 of
f32, sum along dim 0 and 1 of bf16 and f16. Set `half`, over [1024, 4096]:
a + b, exp, and the casts between f32 and bf16 / f16. Set `softmax`, over
[1024, 4096]: softmax and log_softmax of f32 / bf16 / f16 over the last dim.
Set `stats`, over [4096, 4096]: var along dim 1 and 0, the 2-norm and
logsumexp along dim 1, and max(dim=1) values, of f32 and bf16.

    python bench/torch/reduce_probe.py THREADS [reduce|half|softmax|stats]
"""
import sys, time, torch
t = int(sys.argv[1]); torch.set_num_threads(t)
which = sys.argv[2] if len(sys.argv) > 2 else "reduce"
n = 4096
rows = 4096 if which in ("reduce", "stats") else 1024
k = torch.arange(n * rows, dtype=torch.int64)
v = ((k * 7919 % 2001).to(torch.float32) / 1000.0 - 1.0).reshape(rows, n)
w = ((k * 104729 % 1999).to(torch.float32) / 1000.0 - 1.0).reshape(rows, n)
bf, hf, f = torch.bfloat16, torch.float16, torch.float32
cases = {
    "reduce": [("max(dim=0) f32", [f], lambda x: x.max(dim=0)[1]),
               ("max(dim=1) f32", [f], lambda x: x.max(dim=1)[1]),
               ("sum(dim=0) bf16", [bf], lambda x: x.sum(dim=0)),
               ("sum(dim=1) bf16", [bf], lambda x: x.sum(dim=1)),
               ("sum(dim=0) f16", [hf], lambda x: x.sum(dim=0)),
               ("sum(dim=1) f16", [hf], lambda x: x.sum(dim=1))],
    "half": [("a + b bf16", [bf, bf], lambda a, b: a + b),
             ("a + b f16", [hf, hf], lambda a, b: a + b),
             ("exp bf16", [bf], torch.exp),
             ("exp f16", [hf], torch.exp),
             ("f32 to bf16", [f], lambda x: x.to(bf)),
             ("f32 to f16", [f], lambda x: x.to(hf)),
             ("bf16 to f32", [bf], lambda x: x.to(f)),
             ("f16 to f32", [hf], lambda x: x.to(f))],
    "softmax": [("softmax f32", [f], lambda x: x.softmax(dim=-1)),
                ("log_softmax f32", [f], lambda x: x.log_softmax(dim=-1)),
                ("softmax bf16", [bf], lambda x: x.softmax(dim=-1)),
                ("softmax f16", [hf], lambda x: x.softmax(dim=-1)),
                ("log_softmax bf16", [bf], lambda x: x.log_softmax(dim=-1)),
                ("log_softmax f16", [hf], lambda x: x.log_softmax(dim=-1))],
    "stats": [("var(dim=1) f32", [f], lambda x: x.var(dim=1)),
              ("var(dim=0) f32", [f], lambda x: x.var(dim=0)),
              ("var(dim=1) bf16", [bf], lambda x: x.var(dim=1)),
              ("var(dim=1) f16", [hf], lambda x: x.var(dim=1)),
              ("norm(dim=1) f32", [f], lambda x: torch.linalg.vector_norm(x, 2, dim=1)),
              ("norm(dim=1) bf16", [bf], lambda x: torch.linalg.vector_norm(x, 2, dim=1)),
              ("lse(dim=1) f32", [f], lambda x: torch.logsumexp(x, dim=1)),
              ("lse(dim=1) bf16", [bf], lambda x: torch.logsumexp(x, dim=1)),
              ("max(dim=1) f32 v", [f], lambda x: x.max(dim=1)[0]),
              ("max(dim=1) bf16 v", [bf], lambda x: x.max(dim=1)[0])],
}[which]
xs = [[src.to(dt) for dt, src in zip(dts, (v, w))] for _, dts, _ in cases]
res = {c[0]: [] for c in cases}
for _ in range(3):
    for (name, _, fn), x in zip(cases, xs):
        best = 1e9
        for _ in range(5):
            t0 = time.perf_counter(); y = fn(*x); best = min(best, time.perf_counter() - t0)
        nbytes = sum(a.numel() * a.element_size() for a in x + [y])
        res[name].append(nbytes / best / 1e9)
print(f"PyTorch {torch.__version__} threads {t}, set {which}")
for name, r in res.items():
    r.sort(); print(f"{name:16} median {r[1]:6.2f}  {[round(a,2) for a in r]}")
