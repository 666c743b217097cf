#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI (.ci/run) run it.
#
# A test that cannot run here (a tool, a kernel feature or a privilege is missing) prints a line
# `SKIP <test>: <reason>` and returns; cargo counts it as passed, so this script shows every such
# line and counts it as skipped, not passed, in the closing `tests: N passed, N failed, N skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
bash ci/setup.sh
# The guest image the microVM tests boot (built once, then reused from $HRUN_CACHE/images).
echo "== guest image (ci/build-image.sh)"
bash ci/build-image.sh >/dev/null

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test (workspace, including GitHub's conformance data)"
log="$HRUN_CACHE/test.log"
set +e
cargo test --workspace --no-fail-fast -- --show-output 2>&1 | tee "$log" | grep -v -E '^(test .* \.\.\. ok|---- .* (stdout|stderr) ----|successes:|    .*)$'
status=${PIPESTATUS[0]}
set -e

passed=$(grep -oE 'test result: .* ([0-9]+) passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE 'test result: .* ([0-9]+) failed' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
# The conformance suite has its own harness and closing line.
conf_passed=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | awk '{s+=$1} END {print s+0}')
conf_failed=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | awk '{s+=$3} END {print s+0}')
skipped=$(grep -cE '^SKIP ' "$log" || true)
if [ "$skipped" -gt 0 ]; then
  echo "== skipped tests (counted as skipped, not passed):"
  grep -E '^SKIP ' "$log" | sort -u
fi
echo "tests: $((passed + conf_passed - skipped)) passed, $((failed + conf_failed)) failed, $skipped skipped"
exit "$status"
