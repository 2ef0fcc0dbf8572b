#!/usr/bin/env bash
# Builds the one file for every x86-64 classroom PC: the x86-64-v3 (AVX2) program carrying
# an x86-64-v4 (AVX-512, with VNNI) build and a Vulkan build of itself. At start the file
# hands over to the Vulkan build on a usable GPU, else to the x86-64-v4 build on CPUs that
# have AVX-512, else runs itself.
# Usage: scripts/build-variants.sh [OUT]   (default target/syllabus)
#   SYLLABUS_VARIANTS="x86-64-v4 vulkan" (default) chooses the builds carried.
# Each build compiles llama.cpp again (its own target folder); times are printed. Any x86-64
# host builds every variant (scripts/variant-cargo.sh keeps the CPU flags off build scripts).
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
    x86-64-v4) name=x86-64-v4+avx512vnni ;;
    vulkan) name=vulkan ;;
    *)
        echo "build-variants: unknown variant $v (x86-64-v4, vulkan)" >&2
        exit 2
        ;;
    esac
    export CARGO_TARGET_DIR=target/$v
    timed "$v" scripts/variant-cargo.sh "$v"
    build=$(scripts/variant-cargo.sh "$v" --print-path)/syllabus
    unset CARGO_TARGET_DIR
    # The joined file so far writes the next one; forced to stay itself while it does.
    SYLLABUS_CPU=x86-64-v3 SYLLABUS_GPU=off "$out.part" cpu embed "$build" --name "$name" -o "$out.next"
    mv "$out.next" "$out.part"
done
mv "$out.part" "$out"
ls -l target/release/syllabus "$out"
# Which of the builds this host itself runs (the file chooses the same way at start).
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
v4=yes
for f in avx512f avx512bw avx512cd avx512dq avx512vl avx512_vnni; do
    case " $flags " in *" $f "*) ;; *) v4="no (this CPU lacks $f; classroom PCs that have it run it)" ;; esac
done
echo "build-variants: this host runs x86-64-v3: yes; x86-64-v4: $v4; vulkan: when a usable GPU is listed below" >&2
"$out" cpu info
