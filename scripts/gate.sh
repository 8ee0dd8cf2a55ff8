#!/usr/bin/env bash
# The instruction-count gate, as CI runs it (issue 5):
#   1. the unchanged tree passes `ft-bench gate` against the committed
#      baseline, twice in a row (counts are deterministic);
#   2. a deliberate slowdown, the same kernels with the scalar path forced
#      (FT_ISA=scalar), must make the gate fail.
#   3. the locked-instruction counts of the dispatch and autograd ids are
#      within 1% of theirs (scripts/locked_ops.sh --check), and a baseline
#      one atomic per call below today's (as if a change had added one to
#      `a.add`) makes that check fail.
# Exit 0 only when all of these hold.
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
echo "gate: locked instructions against bench/baseline/locked.json"
scripts/locked_ops.sh --check
echo "gate: one more atomic per call in a.add must fail the locked check"
lower=$(mktemp)
trap 'rm -f "$lower"' EXIT
python3 - "$lower" <<'PY'
import json, sys
b = json.load(open("bench/baseline/locked.json"))
b["counts"]["dispatch_add_16"] -= 1000  # its run is 1000 calls
json.dump(b, open(sys.argv[1], "w"))
PY
if FT_LOCKED_BASELINE=$lower scripts/locked_ops.sh --check dispatch_add_16; then
    echo "gate: one more locked instruction per call passed; the locked check is blind" >&2
    exit 1
fi
echo "gate: ok (unchanged tree passed twice, the slowdown and the extra atomic were caught)"
