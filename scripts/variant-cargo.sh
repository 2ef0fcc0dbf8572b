#!/usr/bin/env bash
# Runs `cargo build --release` for one carried build, in the current folder, the same way on
# any x86-64 host. Usage: scripts/variant-cargo.sh VARIANT [more cargo arguments]
#   x86-64-v4: AVX-512 with VNNI. The CPU flags go through RUSTFLAGS with an explicit --target,
#     so cargo gives them to the program and to llama.cpp (llama-cpp-sys-2 reads the target's
#     features) but not to build scripts and proc macros, which run on this host: without
#     --target a host lacking AVX-512 dies of SIGILL in the first build script. The program is
#     then target/<triple>/release/, which `--print-path` prints.
#   vulkan: llama.cpp's Vulkan backend (scripts/vulkan-sdk.sh prepares the headers).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
variant=${1:?usage: variant-cargo.sh x86-64-v4|vulkan [--print-path] [cargo args]}
shift
triple=$(rustc -vV | sed -n 's/^host: //p')
target_dir=${CARGO_TARGET_DIR:-target}
case $variant in
x86-64-v4)
    if [ "${1:-}" = "--print-path" ]; then echo "$target_dir/$triple/release"; exit 0; fi
    RUSTFLAGS="-C target-cpu=x86-64-v4 -C target-feature=+avx512vnni" \
        exec cargo build --release --target "$triple" "$@"
    ;;
vulkan)
    if [ "${1:-}" = "--print-path" ]; then echo "$target_dir/release"; exit 0; fi
    VULKAN_SDK=${VULKAN_SDK:-$("$here/vulkan-sdk.sh")} exec cargo build --release --features vulkan "$@"
    ;;
*)
    echo "variant-cargo: unknown variant $variant (x86-64-v4, vulkan)" >&2
    exit 2
    ;;
esac
