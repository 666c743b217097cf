#!/usr/bin/env bash
# Side-by-side benchmark of the secret scanner: `hrun scan` and detect-secrets (PyPI) over the
# same tree, in one run, both on one core (`detect-secrets -c 1`; hrun scans on one thread).
# The tree is the labeled corpus of planted synthetic secrets (hermetic/tests/corpus) plus Rust
# sources copied from the cargo registry up to SCAN_BENCH_MB megabytes (default 10: detect-secrets
# reads about 0.1 MB a second here, so the run stays near two minutes on two cores).
# Prints the throughput of both and the ratio, and the recall of both on the planted secrets.
# Usage: bash ci/bench/scan.sh [REPEATS]   (hrun's best of REPEATS runs, default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
repeats="${1:-5}"
megabytes="${SCAN_BENCH_MB:-10}"

cargo build --release --quiet -p runner
cargo build --release --quiet -p hermetic --example plant_secrets
hrun="$CARGO_TARGET_DIR/release/hrun"
plant="$CARGO_TARGET_DIR/release/examples/plant_secrets"
detect_secrets="$(bash ci/setup-detect-secrets.sh)"

work="$HRUN_CACHE/bench/scan"
tree="$work/tree"
rm -rf "$tree"
mkdir -p "$tree"
"$plant" "$tree/planted" "$work/labels.tsv"
python3 ci/bench/scan_compare.py --hrun "$hrun" --detect-secrets "$detect_secrets" \
  --tree "$tree" --labels "$work/labels.tsv" --megabytes "$megabytes" --repeats "$repeats"
