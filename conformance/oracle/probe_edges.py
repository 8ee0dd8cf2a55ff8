#!/usr/bin/env python3
"""Prints PyTorch's dtype and error for op edge cases (the rules ft-kernels follows).
Run: python3 conformance/oracle/probe_edges.py (needs torch)."""
import torch
def t(expr):
    try:
        r = eval(expr)
        print(f"{expr!s:60} -> {r.dtype} {r.tolist() if r.numel() < 6 else ''}")
    except Exception as e:
        print(f"{expr!s:60} !! {type(e).__name__}: {str(e).splitlines()[0]}")
B = torch.tensor([True, False]); I = torch.tensor([3, -2]); I32 = torch.tensor([3,-2], dtype=torch.int32); U = torch.tensor([3, 200], dtype=torch.uint8)
F = torch.tensor([1.5, -2.5]); H = F.half()
for e in ["torch.abs(B)", "torch.neg(B)", "torch.sign(B)", "torch.relu(B)", "torch.relu(I)", "torch.floor(I)", "torch.round(I)", "torch.clamp(I, 0.5)", "torch.clamp(I, 0, 1)", "torch.clamp(B, 0, 1)",
          "torch.exp(I)", "torch.exp(B)", "torch.sqrt(I32)", "torch.reciprocal(I)", "torch.sigmoid(I)", "torch.nn.functional.gelu(I)", "torch.nn.functional.silu(I)", "torch.erf(I)",
          "torch.sign(U)", "torch.abs(U)", "torch.neg(U)", "B - B", "B + B", "B * B", "B / B", "I / I", "I // I", "torch.remainder(I, torch.tensor([0, 0]))", "torch.remainder(F, torch.tensor([0., 0.]))",
          "torch.remainder(I, 3)", "torch.remainder(torch.tensor([-3., 3.]), 2)", "torch.pow(I, -1)", "torch.pow(I, torch.tensor([-1, 2]))", "torch.pow(torch.tensor([1,-1,2]), torch.tensor([-1,-1,-1]))", "torch.pow(B, B)", "torch.pow(I, 0.5)", "torch.pow(2, I)",
          "torch.maximum(B, B)", "torch.maximum(F, torch.tensor([float('nan'), 0.]))", "torch.logical_and(F, I)", "torch.where(B, I, F)", "torch.where(I, I, F)", "torch.add(I, I, alpha=0.5)", "torch.add(B, B, alpha=2)", "torch.add(F, F, alpha=True)",
          "torch.sum(B)", "torch.sum(U)", "torch.sum(I32)", "torch.prod(B)", "torch.mean(I)", "torch.mean(torch.tensor([]))", "torch.max(torch.tensor([]))", "torch.max(torch.zeros(0, 3), 0)", "torch.argmax(torch.zeros(0))",
          "torch.var(I)", "torch.std(F, correction=2)", "torch.var(torch.tensor([1.0]))", "torch.logsumexp(I, 0)", "torch.linalg.vector_norm(I)", "torch.norm(I.float(), p=1)", "torch.any(U)", "torch.all(I)", "torch.any(F)", "torch.softmax(I, 0)", "torch.softmax(H, 0)", "torch.log_softmax(torch.tensor([]), 0)",
          "torch.sum(H)", "torch.amax(torch.zeros(2,0), 1)", "torch.sum(torch.zeros(2,0), 1)", "torch.prod(torch.zeros(2,0), 1)", "torch.max(F.view(2,1), 1).indices", "torch.max(torch.tensor([1., float('nan'), 3.]))", "torch.argmax(torch.tensor([1., float('nan'), 3.]))", "torch.argmax(torch.tensor([3., 1., 3.]))",
          "torch.round(torch.tensor([0.5, 1.5, 2.5, -0.5]))", "torch.sign(torch.tensor([-0.0, float('nan'), 2.]))", "torch.clamp(torch.tensor([float('nan'), 1.]), 0, 0.5)", "torch.clamp(F, 1, 0)", "torch.relu(torch.tensor([float('nan'), -0.0]))", "torch.exp(torch.tensor([1.], dtype=torch.float64))",
          "torch.sub(F, F, alpha=2)", "torch.rsqrt(torch.tensor([0., -1.]))", "torch.eq(F, I)", "torch.lt(B, 0.5)", "torch.sum(F, dtype=torch.float64)", "torch.mean(H)", "torch.var(H)", "torch.abs(I32.min())", "torch.nn.functional.gelu(H)", "I32 + 2.5", "U - 300", "torch.norm(torch.tensor([3.,4.]), float('inf'))"]:
    t(e)
