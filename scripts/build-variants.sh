#!/usr/bin/env bash
# Builds the one file for every x86-64 classroom PC: the x86-64-v3 (AVX2) program carrying
# an x86-64-v4 (AVX-512, with VNNI) build and a Vulkan build of itself. At start the file
# hands over to the Vulkan build on a usable GPU, else to the x86-64-v4 build on CPUs that
# have AVX-512, else runs itself.
# Usage: scripts/build-variants.sh [OUT]   (default target/syllabus)
#   SYLLABUS_VARIANTS="x86-64-v4 vulkan" (default) chooses the builds carried.
# Each build compiles llama.cpp again (its own target folder); times are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/syllabus}
variants=${SYLLABUS_VARIANTS:-x86-64-v4 vulkan}

timed() {
    local what=$1 t0
    shift
    t0=$(date +%s)
    "$@"
    echo "build-variants: $what built in $(($(date +%s) - t0)) s" >&2
}

timed x86-64-v3 cargo build --release
cp target/release/syllabus "$out.part"
for v in $variants; do
    case $v in
    x86-64-v4)
        # RUSTFLAGS replaces .cargo/config.toml's target-cpu; llama-cpp-sys-2 passes it on.
        RUSTFLAGS="-C target-cpu=x86-64-v4 -C target-feature=+avx512vnni" \
            CARGO_TARGET_DIR=target/x86-64-v4 timed x86-64-v4 cargo build --release
        build=target/x86-64-v4/release/syllabus name=x86-64-v4+avx512vnni
        ;;
    vulkan)
        sdk=$(scripts/vulkan-sdk.sh)
        VULKAN_SDK=$sdk CARGO_TARGET_DIR=target/vulkan \
            timed vulkan cargo build --release --features vulkan
        build=target/vulkan/release/syllabus name=vulkan
        ;;
    *)
        echo "build-variants: unknown variant $v (x86-64-v4, vulkan)" >&2
        exit 2
        ;;
    esac
    # The joined file so far writes the next one; forced to stay itself while it does.
    SYLLABUS_CPU=x86-64-v3 SYLLABUS_GPU=off "$out.part" cpu embed "$build" --name "$name" -o "$out.next"
    mv "$out.next" "$out.part"
done
mv "$out.part" "$out"
ls -l target/release/syllabus "$out"
"$out" cpu info
