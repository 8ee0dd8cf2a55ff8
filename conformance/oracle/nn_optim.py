"""PyTorch reference for FrankenTorch's nn and optim tests.

Writes autograd/tests/fixtures/nn_optim.json: optimizer trajectories (SGD
with momentum, dampening, Nesterov, weight decay; Adam with weight decay;
AdamW) on a fixed quadratic, cross-entropy values and gradients (every
reduction, label smoothing), layer norm output and gradient, mse_loss, and
load_state_dict's error message.

Run from the repository root with a Python that has torch:
  python conformance/oracle/nn_optim.py
"""
import json
import os

import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "autograd", "tests", "fixtures", "nn_optim.json")


def trajectory(make, steps=5):
    p = torch.tensor([0.5, -1.5, 2.0], requires_grad=True)
    c = torch.tensor([1.0, 2.0, 3.0])
    opt = make([p])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        (p * p * c).sum().backward()
        opt.step()
        out.append(p.detach().tolist())
    return out


def main():
    optim = {
        "sgd": trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1)),
        "sgd_momentum": trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
        "sgd_dampening_wd": trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
        "sgd_nesterov": trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
        "adam": trajectory(lambda ps: torch.optim.Adam(ps, lr=0.1)),
        "adam_wd": trajectory(lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
        "adamw": trajectory(lambda ps: torch.optim.AdamW(ps, lr=0.1)),
        "adamw_wd": trajectory(lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.5)),
    }
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 5, generator=g)
    target = torch.tensor([0, 3, 4, 1])
    ce = {"logits": logits.tolist(), "target": target.tolist(), "cases": []}
    for reduction in ["none", "mean", "sum"]:
        for ls in [0.0, 0.1]:
            x = logits.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(x, target, reduction=reduction, label_smoothing=ls)
            loss.sum().backward()
            ce["cases"].append({"reduction": reduction, "label_smoothing": ls,
                                "value": loss.detach().reshape(-1).tolist(), "grad": x.grad.tolist()})
    x = torch.randn(2, 3, 4, generator=g)
    w = torch.randn(2, 3, 4, generator=g)
    ln = torch.nn.LayerNorm([4], eps=1e-5)
    xg = x.clone().requires_grad_(True)
    out = ln(xg)
    (out * w).sum().backward()
    layer_norm = {"x": x.tolist(), "w": w.tolist(), "out": out.detach().tolist(), "grad": xg.grad.tolist(),
                  "grad_weight": ln.weight.grad.tolist(), "grad_bias": ln.bias.grad.tolist()}
    a = torch.randn(3, 2, generator=g)
    b = torch.randn(3, 2, generator=g)
    mse = {"a": a.tolist(), "b": b.tolist(),
           "mean": torch.nn.functional.mse_loss(a, b).item(),
           "sum": torch.nn.functional.mse_loss(a, b, reduction="sum").item()}
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    sd = {"0.weight": torch.zeros(2, 4), "extra": torch.zeros(1)}
    try:
        model.load_state_dict(sd)
        msg = ""
    except RuntimeError as e:
        msg = str(e)
    with open(OUT, "w") as f:
        json.dump({"torch_version": torch.__version__, "optim": optim, "cross_entropy": ce,
                   "layer_norm": layer_norm, "mse": mse, "load_state_dict_error": msg}, f, indent=1)
        f.write("\n")
    print(msg)


if __name__ == "__main__":
    main()
