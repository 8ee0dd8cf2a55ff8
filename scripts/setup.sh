#!/usr/bin/env bash
# Installs everything the README's commands and .ci/run need, on a Debian
# machine with Rust (rustup) installed. Idempotent: installs only what is
# missing, so a second run does nothing and takes a second.
set -euo pipefail

need_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup.sh: need root (or sudo) to run: $*" >&2; exit 1; fi
}

if ! command -v cargo >/dev/null; then
    echo "setup.sh: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2
    exit 1
fi

# Rust components and the aarch64 target (NEON tests under qemu).
if command -v rustup >/dev/null; then
    for comp in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
            rustup component add "$comp"
        fi
    done
    if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
        rustup target add aarch64-unknown-linux-gnu
    fi
fi

# Debian packages: command -> package. valgrind (memcheck of the kernels),
# hyperfine (whole-process timings), the aarch64 cross linker and qemu
# (NEON tests), objdump and python3 (the gate's locked-instruction check,
# scripts/locked_ops.sh).
declare -A PKGS=(
    [objdump]=binutils
    [python3]=python3-minimal
    [valgrind]=valgrind
    [hyperfine]=hyperfine
    [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu
    [qemu-aarch64]=qemu-user
)
missing=()
for cmd in "${!PKGS[@]}"; do
    command -v "$cmd" >/dev/null || missing+=("${PKGS[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq "${missing[@]}"
fi

# Optional: `scripts/setup.sh --gungraun` installs gungraun-runner, which
# `cargo bench -p ft-bench --bench instructions` needs (same version as the
# gungraun library in bench/Cargo.toml). CI does not need it: its
# instruction-count gate (`ft-bench gate`) drives valgrind itself.
if [ "${1:-}" = "--gungraun" ]; then
    want=$(sed -n 's/^gungraun = "\(.*\)"/\1/p' "$(dirname "$0")/../bench/Cargo.toml")
    if ! gungraun-runner --version 2>/dev/null | grep -q " $want"; then
        cargo install --locked gungraun-runner --version "~$want"
    fi
fi
