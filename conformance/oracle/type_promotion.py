#!/usr/bin/env python3
"""Writes core/tests/data/type_promotion.json: torch.result_type for every
pair of FrankenTorch dtypes, as tensor-tensor (both dimensioned), dimensioned
vs zero-dim, and tensor vs Python scalar (bool, int, float).

Run: python3 conformance/oracle/type_promotion.py   (needs `pip install torch`)
"""
import json
import pathlib

import torch

DTYPES = {
    "bool": torch.bool, "uint8": torch.uint8, "int32": torch.int32, "int64": torch.int64,
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64,
}
NAME = {v: k for k, v in DTYPES.items()}
SCALARS = {"bool": True, "int": 2, "float": 2.5}


def main():
    cases = []
    for a, ta in DTYPES.items():
        x = torch.ones(2, dtype=ta)
        for b, tb in DTYPES.items():
            y = torch.ones(2, dtype=tb)
            z = torch.ones((), dtype=tb)
            cases.append({"kind": "promote_types", "a": a, "b": b,
                          "result": NAME[torch.promote_types(ta, tb)]})
            cases.append({"kind": "tensor_tensor", "a": a, "b": b,
                          "result": NAME[torch.result_type(x, y)]})
            cases.append({"kind": "tensor_zerodim", "a": a, "b": b,
                          "result": NAME[torch.result_type(x, z)]})
            # Two zero-dim tensors promote fully, like two dimensioned ones.
            cases.append({"kind": "zerodim_zerodim", "a": a, "b": b,
                          "result": NAME[torch.result_type(torch.ones((), dtype=ta), z)]})
        for s, v in SCALARS.items():
            cases.append({"kind": "tensor_scalar", "a": a, "b": s,
                          "result": NAME[torch.result_type(x, v)]})
            cases.append({"kind": "zerodim_scalar", "a": a, "b": s,
                          "result": NAME[torch.result_type(torch.ones((), dtype=ta), v)]})
    path = pathlib.Path(__file__).resolve().parents[2] / "core/tests/data/type_promotion.json"
    lines = ",\n".join("  " + json.dumps(c) for c in cases)
    path.write_text(f'{{"torch_version": "{torch.__version__}", "cases": [\n{lines}\n]}}\n')
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
