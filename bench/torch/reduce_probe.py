"""PyTorch beside `bench/examples/reduce_probe.rs`: the same reductions of
the same [4096, 4096] input (max/argmax along dim 0 and 1 of f32; sum along
dim 0 and 1 of bf16 and f16), 3 rounds of best-of-5, GB/s of input read.

    python bench/torch/reduce_probe.py THREADS
"""
import sys, time, torch
t = int(sys.argv[1]); torch.set_num_threads(t)
n = 4096
v = ((torch.arange(n*n, dtype=torch.int64) * 7919 % 2001).to(torch.float32) / 1000.0 - 1.0).reshape(n, n)
cases = [("max(dim=0) f32", torch.float32, lambda x: x.max(dim=0)[1]),
         ("max(dim=1) f32", torch.float32, lambda x: x.max(dim=1)[1]),
         ("sum(dim=0) bf16", torch.bfloat16, lambda x: x.sum(dim=0)),
         ("sum(dim=1) bf16", torch.bfloat16, lambda x: x.sum(dim=1)),
         ("sum(dim=0) f16", torch.float16, lambda x: x.sum(dim=0)),
         ("sum(dim=1) f16", torch.float16, lambda x: x.sum(dim=1))]
xs = [v.to(dt) for _, dt, _ in cases]
res = {c[0]: [] for c in cases}
for _ in range(3):
    for (name, dt, f), x in zip(cases, xs):
        best = 1e9
        for _ in range(5):
            t0 = time.perf_counter(); y = f(x); best = min(best, time.perf_counter() - t0)
        res[name].append(x.numel() * x.element_size() / best / 1e9)
print(f"PyTorch {torch.__version__} threads {t}")
for name, r in res.items():
    r.sort(); print(f"{name:16} median {r[1]:6.2f}  {[round(a,2) for a in r]}")
