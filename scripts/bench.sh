#!/usr/bin/env bash
# The main job of the README: the benchmark suite report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -q -p ft-bench -- run "$@"
