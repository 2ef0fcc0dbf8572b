#!/usr/bin/env bash
# The whole test suite (the README's test command runs it after scripts/setup.sh): builds the
# tests like `cargo test --release`, then runs the test files side by side, one a CPU (at
# most 4), the longest first; every model run in them uses one llama.cpp thread
# (tests/common/mod.rs, THREADS), so two files on 2 cores do not slow each other. The GPU
# tests run last, alone: lavapipe, the Vulkan device in software, takes every core.
# Arguments go to every test file (a test name to filter on, --nocapture, ...).
# Exit 0 when every test passed; 1 names the files that failed (their output is above).
set -euo pipefail
cd "$(dirname "$0")/.."

logs=target/test-logs
rm -rf "$logs"
mkdir -p "$logs"

# Test files as `label executable`, from cargo's build messages.
cargo test --release --no-run --message-format=json-render-diagnostics >"$logs/build.json"
python3 - "$logs/build.json" >"$logs/files" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"][0]
        label = m["target"]["name"] if kind == "test" else f"{kind} unit tests"
        print(label.replace(" ", "_"), m["executable"])
EOF

cpus=$(nproc)
jobs=$((cpus < 4 ? cpus : 4))

# The longest first (seconds here, at one file a core): the others fill in around them.
longest=(engine serve report batch hardening workflow cli pack render ollama models cpu clients templates)
order=()
for name in "${longest[@]}"; do
    grep -q "^$name " "$logs/files" && order+=("$name")
done
while read -r name _; do
    [[ " ${longest[*]} gpu " == *" $name "* ]] || order+=("$name")
done <"$logs/files"

# Runs one test file as cargo would (its folder, its settings), prints its whole output
# when it ends, and records a failure.
run_file() {
    local name=$1
    shift
    local exe log start status=0
    exe=$(awk -v n="$name" '$1 == n {print $2}' "$logs/files")
    log=$logs/$name.log
    start=$(date +%s)
    # Every line stamped with the time it came (the slowest tests are listed at the end).
    {
        RUST_TEST_THREADS=1 CARGO_MANIFEST_DIR=$PWD "$exe" "$@" 2>&1 || status=$?
        echo "$status" >"$log.status"
    } | while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$log.stamped"
    status=$(cat "$log.status")
    cut -d' ' -f2- "$log.stamped" >"$log"
    {
        flock 9
        echo "     Running ${name//_/ } ($exe)"
        cat "$log"
        if [ "$status" -eq 0 ]; then
            echo "test file ${name//_/ }: ok in $(($(date +%s) - start)) s"
        else
            echo "test file ${name//_/ }: FAILED (exit $status) in $(($(date +%s) - start)) s"
            echo "${name//_/ }" >>"$logs/failed"
        fi
        echo
    } 9>>"$logs/print.lock"
}
export -f run_file
export logs

start=$(date +%s)
printf '%s\n' "${order[@]}" | xargs -P "$jobs" -I{} bash -c 'run_file "$@"' _ {} "$@"
if grep -q "^gpu " "$logs/files"; then
    run_file gpu "$@"
fi
cargo test --release --doc -q -- "$@" >"$logs/doc.log" 2>&1 || {
    cat "$logs/doc.log"
    echo "doc tests" >>"$logs/failed"
}
python3 - "$logs" <<'PY'
import glob, re, sys
took = []
for path in glob.glob(sys.argv[1] + "/*.log.stamped"):
    name = path.rsplit("/", 1)[1].removesuffix(".log.stamped").replace("_", " ")
    last = pending = None
    for line in open(path, errors="replace"):
        stamp, _, text = line.rstrip("\n").partition(" ")
        t = float(stamp)
        if last is None or text.startswith("running "):
            last = t
        m = re.match(r"test (\S+) \.\.\. ?(.*)$", text)
        if m and m.group(2).strip() in ("ok", "FAILED", "ignored"):
            test = m.group(1)
        elif m:
            pending = m.group(1)
            continue
        elif pending and re.search(r"(^| )(ok|FAILED)$", text):
            test = pending
        else:
            continue
        took.append((t - last, name, test))
        last, pending = t, None
print("slowest tests:")
for t, name, test in sorted(took, reverse=True)[:12]:
    print(f"{t:7.1f} s  {name}: {test}")
PY
echo "test files: $(wc -l <"$logs/files"), $jobs at once, $(($(date +%s) - start)) s"
if [ -s "$logs/failed" ]; then
    echo "FAILED: $(paste -sd, "$logs/failed" | sed 's/,/, /g')"
    exit 1
fi
echo "all passed"
