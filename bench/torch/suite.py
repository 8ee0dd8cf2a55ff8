#!/usr/bin/env python3
"""PyTorch side of the FrankenTorch suite: the same ids, shapes, inputs
(uniform in [-1, 1)), timing rule (warm-up, then >= 20 runs and >= 0.4 s,
median) and thread counts as `ft-bench`. Prints one JSON list on stdout.

Run: python3 bench/torch/suite.py [--threads 1,2] [--filter SUBSTRING]
     python3 bench/torch/suite.py --serve

With --serve it reads requests "ID THREADS" one per line from stdin and
answers each with one JSON line (the measurement, or {"error": ...}), so
that `ft-bench torch` can alternate ours and PyTorch's per workload;
inputs are made once per id. The first line it prints is
{"torch_version": ...}.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def inp(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * 2 - 1).to(dtype)


def elementwise():
    return {
        "add_f32_256k": (lambda: _add(262144), 3 * 262144 * 4, "GB/s"),
        "add_f32_16m": (lambda: _add(16777216), 3 * 16777216 * 4, "GB/s"),
        "add_f32_bcast": (lambda: _bin(inp([4096, 4096], 1), inp([4096], 2)), (2 * 16777216 + 4096) * 4, "GB/s"),
        "add_f32_transposed": (lambda: _bin_t(inp([4096, 4096], 1), inp([4096, 4096], 2)), 3 * 16777216 * 4, "GB/s"),
        "exp_f32_4m": (lambda: _un(torch.exp), 2 * 4194304 * 4, "GB/s"),
        "tanh_f32_4m": (lambda: _un(torch.tanh), 2 * 4194304 * 4, "GB/s"),
        "gelu_f32_4m": (lambda: _un(torch.nn.functional.gelu), 2 * 4194304 * 4, "GB/s"),
        "sum_f32_16m": (lambda: _red(inp([16777216], 1), lambda a: a.sum()), (16777216 + 1) * 4, "GB/s"),
        "sum_dim1_f32": (lambda: _red(inp([4096, 4096], 1), lambda a: a.sum(dim=1)), (16777216 + 4096) * 4, "GB/s"),
        "sum_dim0_f32": (lambda: _red(inp([4096, 4096], 1), lambda a: a.sum(dim=0)), (16777216 + 4096) * 4, "GB/s"),
        "softmax_f32": (lambda: _red(inp([4096, 1024], 1), lambda a: torch.softmax(a, dim=-1)), 2 * 4194304 * 4, "GB/s"),
        "matmul_f32_64": (lambda: _mm(64, 64, 64), 2 * 64 ** 3, "GFLOP/s"),
        "matmul_f32_256": (lambda: _mm(256, 256, 256), 2 * 256 ** 3, "GFLOP/s"),
        "matmul_f32_1024": (lambda: _mm(1024, 1024, 1024), 2 * 1024 ** 3, "GFLOP/s"),
        "matmul_f32_2048": (lambda: _mm(2048, 2048, 2048), 2 * 2048 ** 3, "GFLOP/s"),
        "linear_f32_mlp": (lambda: _mm(256, 512, 784), 2 * 256 * 512 * 784, "GFLOP/s"),
        "bmm_f32": (lambda: _bmm(), 64 * 2 * 128 ** 3, "GFLOP/s"),
        "matmul_bf16_1024": (lambda: _mm(1024, 1024, 1024, torch.bfloat16), 2 * 1024 ** 3, "GFLOP/s"),
        "mlp_train_step": (lambda: _mlp(), 1, "steps/s"),
        "small_add_latency": (lambda: _batch(_bin(inp([16], 1), inp([16], 2))), BATCH, "ns/op"),
        "autograd_chain_latency": (lambda: _chain(), 1, "µs/chain"),
        # Extra (issue #4's target, not a WORKLOADS.md id).
        "add_out_latency": (lambda: _batch(_add_out()), BATCH, "ns/op"),
    }


# Calls per timed call of a latency workload, as ft-bench's LATENCY_BATCH.
BATCH = 1000


def _batch(f):
    def run():
        for _ in range(BATCH):
            f()
    return run


def _add_out():
    a, b, o = inp([16], 1), inp([16], 2), torch.zeros(16)
    return lambda: torch.add(a, b, out=o)


def _add(n):
    a, b = inp([n], 1), inp([n], 2)
    return lambda: a + b


def _bin(a, b):
    return lambda: a + b


def _bin_t(a, b):
    return lambda: a.t() + b


def _un(f):
    a = inp([4194304], 1)
    return lambda: f(a)


def _red(a, f):
    return lambda: f(a)


def _mm(m, n, k, dtype=torch.float32):
    a, b = inp([m, k], 1, dtype), inp([k, n], 2, dtype)
    return lambda: a @ b


def _bmm():
    a, b = inp([64, 128, 128], 1), inp([64, 128, 128], 2)
    return lambda: a @ b


def _mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = inp([256, 784], 1)
    y = torch.randint(0, 10, (256,), generator=torch.Generator().manual_seed(2))
    # The parameters are reset before every step, as ft-bench's step does
    # (so that every step computes the same thing and its output can be
    # checksummed): the same work on both sides.
    params = list(model.parameters())
    initial = [p.detach().clone() for p in params]

    def step():
        with torch.no_grad():
            for p, p0 in zip(params, initial):
                p.copy_(p0)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _chain():
    x0 = inp([16], 1)

    def run():
        x = x0.clone().requires_grad_(True)
        y = x
        for _ in range(100):
            y = y * 1.0001 + 0.001
        y.sum().backward()
        return x.grad
    return run


def measure(fn, work, unit):
    for _ in range(3):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < 20 or (time.perf_counter() - start < 0.4 and len(times) < 500):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    med = statistics.median(times)
    if unit in ("GB/s", "GFLOP/s"):
        value = work / med
    elif unit == "steps/s":
        value = 1e9 / med
    elif unit == "ns/op":
        value = med / work
    else:
        value = med / 1e3
    return {"median_ns": med, "runs": len(times), "value": value, "unit": unit}


def serve():
    table = elementwise()
    made = {}
    print(json.dumps({"torch_version": torch.__version__}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            wid, threads = parts[0], int(parts[1])
            setup, work, unit = table[wid]
            if wid not in made:
                # One workload's tensors at a time: the server otherwise
                # keeps every earlier workload's inputs alive.
                made.clear()
                made[wid] = setup()
            torch.set_num_threads(threads)
            r = measure(made[wid], work, unit)
            r.update({"id": wid, "threads": threads})
        except (KeyError, IndexError, ValueError) as e:
            r = {"error": f"bad request {line.strip()!r}: {e!r}"}
        print(json.dumps(r), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--filter", default="")
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()
    if args.serve:
        return serve()
    out = []
    table = elementwise()
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for wid, (setup, work, unit) in table.items():
            if args.filter and args.filter not in wid:
                continue
            print(f"torch {wid} {threads}T", file=sys.stderr)
            r = measure(setup(), work, unit)
            r.update({"id": wid, "threads": threads})
            out.append(r)
    print(json.dumps({"torch_version": torch.__version__, "results": out}))


if __name__ == "__main__":
    main()
