#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test syllabus:
# cmake and libclang (llama.cpp's build), the fonts PDFs embed (DejaVu Sans, Droid Sans
# Fallback for Chinese and Japanese, Nanum Gothic for Korean), xmllint and pdftotext (the tests read packages and
# PDFs with them), python3-venv (the API tests' clients), then the test model (98 MB) and the default model (491 MB, fetched once).
# Safe to run again.
# `scripts/setup.sh --vulkan` also prepares the Vulkan build (scripts/vulkan-sdk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# The API tests run the real Ollama and OpenAI Python clients in a virtual environment.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || need+=(fonts-droid-fallback)
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || need+=(fonts-nanum)
# bindgen needs libclang itself (libclang-cpp, which some images ship, does not do).
if [ -z "${LIBCLANG_PATH:-}" ] &&
   ! compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null &&
   ! compgen -G "/usr/lib/*/libclang-[0-9]*.so*" >/dev/null; then
  need+=(libclang-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is missing; install Rust from rustup.rs" >&2; exit 1; }

scripts/fetch-test-model.sh
scripts/fetch-default-model.sh
if [ "${1:-}" = "--vulkan" ]; then
  scripts/vulkan-sdk.sh >/dev/null
fi
