#!/usr/bin/env bash
# Prepares what the Vulkan build (`--features vulkan`) needs and prints the folder to give
# as VULKAN_SDK. llama.cpp's Vulkan backend needs Vulkan headers 1.3.261 or newer
# (VK_EXT_layer_settings); Debian 12 has 1.3.239, so the headers (and SPIR-V headers of the
# same release) come from Debian 13's packages, pinned by sha256, and go with Debian 12's
# loader (libvulkan1) and glslc. Nothing is installed system-wide but Debian 12 packages.
# Usage: scripts/vulkan-sdk.sh [DIR]   (default target/vulkan-sdk)
set -euo pipefail
cd "$(dirname "$0")/.."
sdk=${1:-target/vulkan-sdk}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
need=()
for p in glslc libvulkan1; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi
debs=(
    "pool/main/v/vulkan-loader/libvulkan-dev_1.4.309.0-1_amd64.deb 8d329d465e16168afff58b1bd0dd6db46aac2cc3f56054a481b25a04e90b345a"
    "pool/main/s/spirv-headers/spirv-headers_1.6.1+1.4.309.0-1_all.deb dc18db866d63680351c40ac6b6bece34cb52da64a7799ce1cc4f16f6bff4d064"
)
if [ ! -f "$sdk/.done" ]; then
    rm -rf "$sdk" && mkdir -p "$sdk/debs" "$sdk/root"
    for entry in "${debs[@]}"; do
        read -r path sha <<<"$entry"
        file="$sdk/debs/$(basename "$path")"
        curl -fsSL --retry 3 -o "$file" "$mirror/$path"
        echo "$sha  $file" | sha256sum -c --quiet -
        dpkg-deb -x "$file" "$sdk/root"
    done
    mkdir -p "$sdk/lib" "$sdk/bin"
    ln -sfn "$(pwd)/$sdk/root/usr/include" "$sdk/include"
    ln -sfn "$(pwd)/$sdk/root/usr/share" "$sdk/share"
    loader=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/libvulkan.so.1
    [ -e "$loader" ] || { echo "no Vulkan loader at $loader (Debian package libvulkan1)" >&2; exit 1; }
    ln -sfn "$loader" "$sdk/lib/libvulkan.so"
    ln -sfn "$(command -v glslc)" "$sdk/bin/glslc"
    touch "$sdk/.done"
fi
cd "$sdk" && pwd
