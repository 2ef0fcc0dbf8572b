#!/usr/bin/env bash
# Builds the one file for every x86-64 classroom PC: the x86-64-v3 (AVX2) program carrying
# an x86-64-v4 (AVX-512, with VNNI) build of itself, chosen at start on CPUs that have it.
# Usage: scripts/build-variants.sh [OUT]   (default target/syllabus; the two builds stay in
# target/release and target/x86-64-v4). The second build compiles llama.cpp again.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/syllabus}
cargo build --release
# RUSTFLAGS replaces .cargo/config.toml's target-cpu; llama-cpp-sys-2 passes it to llama.cpp.
RUSTFLAGS="-C target-cpu=x86-64-v4 -C target-feature=+avx512vnni" \
    CARGO_TARGET_DIR=target/x86-64-v4 cargo build --release
target/release/syllabus cpu embed target/x86-64-v4/release/syllabus \
    --name x86-64-v4+avx512vnni -o "$out"
ls -l target/release/syllabus target/x86-64-v4/release/syllabus "$out"
