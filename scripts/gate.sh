#!/usr/bin/env bash
# The instruction-count gate, as CI runs it (issue 5):
#   1. the unchanged tree passes `ft-bench gate` against the committed
#      baseline, twice in a row (counts are deterministic);
#   2. a deliberate slowdown, the same kernels with the scalar path forced
#      (FT_ISA=scalar), must make the gate fail.
# Exit 0 only when all three hold.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ft-bench
bin=target/release/ft-bench
for run in 1 2; do
    echo "gate: run $run on the unchanged tree"
    "$bin" gate
done
echo "gate: deliberate slowdown (FT_ISA=scalar) must fail"
# The five _f32_64k kernels are enough to show it (four of them count
# 2x-35x more scalar; add_f32_64k, a plain loop the compiler vectorises
# either way, about the same); all eighteen under callgrind again cost CI
# a quarter of a minute.
if FT_ISA=scalar "$bin" gate --filter _f32_64k; then
    echo "gate: the forced scalar path passed the gate; the gate is blind" >&2
    exit 1
fi
echo "gate: ok (unchanged tree passed twice, the slowdown was caught)"
