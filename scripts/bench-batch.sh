#!/bin/bash
# Six courses x 4 modules as six separate `generate` runs, then as one `batch` at 1, 2, 3
# and 6 courses at once, one after another with the same binary; prints each wall time.
# Usage: scripts/bench-batch.sh [MODEL] (default: the test model); SYLLABUS=path/to/binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SYLLABUS:-$root/target/release/syllabus}
model=${1:-$root/models/SmolLM2-135M-Instruct.Q4_1.gguf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s\n' topic,modules "Introduction to Marine Biology,4" "History of Jazz,4" \
    "Personal Finance for Teenagers,4" "Climate Science,4" "Urban Gardening,4" \
    "Basic Chemistry,4" > "$work/courses.csv"
now() { date +%s.%N; }
t0=$(now)
n=0
tail -n +2 "$work/courses.csv" | while IFS=, read -r topic modules; do
    n=$((n + 1))
    "$bin" generate "$topic" --modules "$modules" --model "$model" --quiet -o "$work/sep-$n.json"
done
separate=$(echo "$(now) - $t0" | bc)
printf 'separate runs      %7.1f s\n' "$separate"
for at_once in 1 2 3 6; do
    t0=$(now)
    "$bin" batch "$work/courses.csv" --out-dir "$work/out-$at_once" --model "$model" --quiet \
        --courses-at-once "$at_once"
    took=$(echo "$(now) - $t0" | bc)
    printf 'batch, %d at once  %7.1f s  (%.2fx)\n' "$at_once" "$took" "$(echo "$took / $separate" | bc -l)"
done
