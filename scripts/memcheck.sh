#!/usr/bin/env bash
# valgrind memcheck over the kernel tests on the scalar and AVX2 paths
# (valgrind does not emulate AVX-512 and hides it from the program, so AVX2
# is the widest path it can check). A representative subset of the tests:
# every engine path (contiguous, splat, buffered, tiled, parallel, in place,
# overlap copies, the number path of tensor-number ops), reductions and
# softmax, and GEMM's products (packing, edge tiles, strided outputs,
# batches), and the caller-helps parallel loop (`par::parts`, unsafe inside);
# and autograd's graph tests whole (a node is written into its `Arc`'s
# allocation by `Node::new_arc`, unsafe inside, and freed by `Node::drop`'s
# loop), in the debug build the test command made. Fails on any memcheck error.
set -euo pipefail
cd "$(dirname "$0")/.."
bins=()
for t in elementwise reductions gemm par_parts; do
    bins+=("$(cargo test --release -p ft-kernels --test "$t" --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\)).*/\1/p' | tail -1)")
done
filters=(in_place_and_out transposed_add transposed_operands broadcasting where_clamp float_edges scalar_forms number_operands tensor_pairs
         reduction_edges column_sums softmax_matches mm_out_writes addmm_scales bmm_and_matmul empty_dims
         every_part_runs_once ops_on_the_callers_thread)
ag=()
# `--workspace`, as the test command builds them: with `-p ft-autograd`
# cargo resolves features for that package alone and rebuilt it and its
# dependencies a second time (about 4 minutes of CI on the Xeon guest).
for t in engine no_cycles live_threads; do
    ag+=("$(cargo test --workspace --test "$t" --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\)).*/\1/p' | tail -1)")
done

# Every check of one ISA path, in order; stops at the first error.
check() {
    local isa=$1 bin list f
    for bin in "${bins[@]}"; do
        # Listed once, then searched: `--list | grep -q` under pipefail
        # failed at random (grep exits at its first match, the lister gets
        # SIGPIPE) and silently skipped tests.
        list=$("$bin" --list 2>/dev/null)
        for f in "${filters[@]}"; do
            if grep -q "^$f" <<<"$list"; then
                echo "memcheck: FT_ISA=$isa $(basename "$bin") $f"
                FT_ISA=$isa valgrind --tool=memcheck --error-exitcode=1 --quiet \
                    "$bin" "$f" --test-threads=1 -q
            fi
        done
    done
    for bin in "${ag[@]}"; do
        echo "memcheck: FT_ISA=$isa $(basename "$bin")"
        FT_ISA=$isa valgrind --tool=memcheck --error-exitcode=1 --quiet \
            "$bin" --test-threads=1 -q
    done
}

# The two paths at once, one per core (valgrind runs a program's threads
# one at a time): 4.6 minutes one after the other on the 2-core machine
# was what took CI past its 30. Each path's output is kept apart and
# shown whole when it ends.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
isas=(scalar avx2)
pids=()
for isa in "${isas[@]}"; do
    check "$isa" >"$logs/$isa" 2>&1 &
    pids+=($!)
done
failed=0
for i in "${!isas[@]}"; do
    wait "${pids[$i]}" || failed=1
    cat "$logs/${isas[$i]}"
done
if [ $failed != 0 ]; then
    echo "memcheck: errors (above)"
    exit 1
fi
echo "memcheck: no errors"
