"""PyTorch reference for FrankenTorch's digits parity test.

Trains the MLP 64-128-10 (ReLU) with AdamW (lr 1e-3, weight decay 0.01,
PyTorch's defaults otherwise) on the first 20 batches of 32 rows of
examples/data/digits.csv.gz, in file order, pixels divided by 16, and
writes:
  examples/data/digits_parity/init.safetensors  the initial weights
  examples/data/digits_parity/losses.json       the loss of each step

Run from the repository root with a Python that has torch and safetensors:
  python conformance/oracle/digits_parity.py
"""
import gzip
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "examples", "data", "digits_parity")
STEPS, BATCH = 20, 32


def main():
    with gzip.open(os.path.join(ROOT, "examples", "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float64)
    x = torch.tensor(rows[:, :64] / 16.0, dtype=torch.float32)
    y = torch.tensor(rows[:, 64], dtype=torch.int64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(OUT, "init.safetensors"))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    losses = []
    for i in range(STEPS):
        xb, yb = x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(OUT, "losses.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "steps": STEPS, "batch": BATCH,
                   "lr": 1e-3, "weight_decay": 0.01, "losses": losses}, f, indent=1)
        f.write("\n")
    print("\n".join(f"step {i + 1}: {l:.7f}" for i, l in enumerate(losses)))


if __name__ == "__main__":
    main()
