#!/usr/bin/env bash
# The test command of the README: every test of the workspace, with the
# tools it needs installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace "$@"
