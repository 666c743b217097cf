#!/usr/bin/env bash
# Side-by-side benchmark of the policy gate: `hrun lint` and zizmor over the same corpus of real
# workflow files, in one run. Prints files per second for both, the ratio, and whether the two
# agree on every file for the two rules they share (dangerous trigger, unpinned uses); files
# neither tool can read and our deliberate differences are listed apart (see lint_compare.py).
# Usage: bash ci/bench/lint.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
repeats="${1:-7}"

cargo build --release --quiet -p runner
hrun="$CARGO_TARGET_DIR/release/hrun"

zizmor_version=1.32.0
venv="$HRUN_CACHE/tools/zizmor-venv"
if [ ! -x "$venv/bin/zizmor" ] || [ "$("$venv/bin/zizmor" --version)" != "zizmor $zizmor_version" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "zizmor==$zizmor_version"
fi

corpus="$HRUN_CACHE/bench/corpus"
python3 ci/bench/corpus.py "$corpus"
python3 ci/bench/lint_compare.py --hrun "$hrun" --zizmor "$venv/bin/zizmor" \
  --zizmor-config ci/bench/zizmor.yml --corpus "$corpus" --repeats "$repeats"
