#!/usr/bin/env bash
# How many atomic read-modify-write instructions (`lock`-prefixed, and
# `xchg` with memory, which locks implicitly) one run of a counted kernel
# of `ft-bench count` executes, and in which functions: the part of a small
# op's latency that no instruction count shows (each is ~6 ns on the
# benchmark guest, `cargo run --release -p ft-bench --example lock_probe`).
#
#   scripts/locked_ops.sh [ID ...]   (default: the dispatch and autograd ids)
#   scripts/locked_ops.sh --check    the default ids against the baseline
#                                    bench/baseline/locked.json: fails when
#                                    one executes more than 1% over it
#   scripts/locked_ops.sh --update   rewrites that baseline
#   (FT_LOCKED_BASELINE=FILE names another baseline file for either.)
#
# The 1% is slack for the allocator's own (a dozen per chain, mimalloc's
# page bookkeeping); one new atomic per call or per recorded op is +20% on
# dispatch_add_16 and +6.7% on the chain. CI runs `--check` (gate.sh),
# beside the instruction counts, which weigh a ~6 ns atomic as one
# instruction.
#
# The ids are those of `ft_bench::counts::COUNTED`: dispatch_add_16 and
# dispatch_add_out_16 are 1000 calls each, autograd_chain_16 one chain (200
# recorded ops, a sum and the backward).
#
# Deterministic: callgrind counts executions of each instruction
# (`--dump-instr=yes`) in the measured region only
# (`--toggle-collect=ft_bench_measured`); objdump finds the locked ones.
# Needs valgrind (scripts/setup.sh), objdump (binutils) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=${FT_LOCKED_BASELINE:-bench/baseline/locked.json}
mode=show
case "${1:-}" in
    --check) mode=check; shift ;;
    --update) mode=update; shift ;;
esac
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(dispatch_add_16 dispatch_add_out_16 autograd_chain_16)
cargo build -q --release -p ft-bench --bin ft-bench
bin=target/release/ft-bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
objdump -d --no-show-raw-insn "$bin" \
    | grep -E '^\s+[0-9a-f]+:\s+(lock |xchg\s+%[a-z0-9]+,-?(0x[0-9a-f]+)?\()' \
    | awk '{print $1}' | tr -d ':' >"$tmp/locked"
for id in "${ids[@]}"; do
    valgrind --tool=callgrind --dump-instr=yes --toggle-collect=ft_bench_measured \
        --callgrind-out-file="$tmp/cg.out" "$bin" count "$id" >/dev/null 2>"$tmp/vg.log" \
        || { cat "$tmp/vg.log" >&2; exit 1; }
    echo "== $id"
    python3 - "$tmp/locked" "$tmp/cg.out" "$tmp/totals" "$id" <<'PY'
import collections, re, sys
locked = {int(a, 16) for a in open(sys.argv[1])}
names = {"ob": {}, "fn": {}}
ob = fn = None
addr, skip, total = 0, False, 0
per_fn = collections.Counter()
for line in open(sys.argv[2]):
    line = line.rstrip("\n")
    m = re.match(r"(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line)
    if m:
        if m[4]:
            names[m[2]][m[3]] = m[4]
        if not m[1]:
            if m[2] == "ob":
                ob = names["ob"].get(m[3])
            else:
                fn = names["fn"].get(m[3])
        continue
    if line.startswith("calls="):
        skip = True  # the next cost line is the call's inclusive cost
        continue
    if not line or line[0] not in "+-0123456789*":
        continue
    parts = line.split()
    if parts[0].startswith("0x"):
        addr = int(parts[0], 16)
    elif parts[0][0] in "+-":
        addr += int(parts[0])
    if skip:
        skip = False
        continue
    if ob and ob.endswith("/ft-bench") and addr in locked and len(parts) >= 3:
        total += int(parts[2])
        per_fn[fn] += int(parts[2])
print(f"locked instructions executed: {total}")
with open(sys.argv[3], "a") as f:
    f.write(f"{sys.argv[4]} {total}\n")
for f, c in per_fn.most_common(12):
    print(f"{c:8}  {f}")
PY
done

[ "$mode" != show ] || exit 0
python3 - "$mode" "$baseline" "$tmp/totals" <<'PY'
import json, sys
mode, path, totals = sys.argv[1:]
now = {k: int(v) for k, v in (l.split() for l in open(totals))}
if mode == "update":
    with open(path, "w") as f:
        json.dump({"what": "locked instructions per counted run (scripts/locked_ops.sh)",
                   "counts": dict(sorted(now.items()))}, f, indent=2)
        f.write("\n")
    print(f"locked: updated {path}")
    sys.exit(0)
base = json.load(open(path))["counts"]
bad = 0
for k, v in sorted(now.items()):
    if k not in base:
        print(f"locked: {k} has no baseline (scripts/locked_ops.sh --update)")
        bad += 1
        continue
    b = base[k]
    over = v > b * 1.01
    bad += over
    print(f"locked: {k:24} baseline {b:6} now {v:6} {'FAIL: over +1%' if over else 'ok'}")
sys.exit(1 if bad else 0)
PY
