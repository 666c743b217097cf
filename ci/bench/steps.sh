#!/usr/bin/env bash
# Step overhead of `hrun exec`: a workflow of 200 `run: true` steps under the namespace sandbox
# (and on the host, --sandbox none) against the same 200 commands run as 200 `bash` processes
# started by one script, side by side; then a fan-out of 10 independent jobs that each sleep 1 s,
# against its longest job. Targets (issue #3): at most 3 ms per step over bash, and the fan-out
# within 1.2x of its longest job.
# Usage: bash ci/bench/steps.sh [SANDBOX]   (default: namespace; `none` runs on the host)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
sandbox="${1:-namespace}"
steps=200

cargo build --release --quiet -p runner
hrun="$CARGO_TARGET_DIR/release/hrun"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

repo="$work/repo"
mkdir -p "$repo/.github/workflows"
{
  echo "on: push"
  echo "jobs:"
  echo "  many:"
  echo "    runs-on: x"
  echo "    steps:"
  for _ in $(seq "$steps"); do echo "      - run: 'true'"; done
} > "$repo/.github/workflows/steps.yml"
{
  echo "on: push"
  echo "jobs:"
  for i in $(seq 10); do
    printf '  j%s:\n    runs-on: x\n    steps:\n      - run: sleep 1\n' "$i"
  done
} > "$repo/.github/workflows/fanout.yml"

now() { date +%s.%N; }

start=$(now)
(cd "$repo" && "$hrun" exec .github/workflows/steps.yml --sandbox "$sandbox" --quiet --out "$work/out1" >/dev/null)
hrun_s=$(echo "$(now) - $start" | bc)

start=$(now)
for _ in $(seq "$steps"); do bash --noprofile --norc -eo pipefail -c true; done
bash_s=$(echo "$(now) - $start" | bc)

start=$(now)
(cd "$repo" && "$hrun" exec .github/workflows/fanout.yml --sandbox "$sandbox" --jobs 10 --quiet --out "$work/out2" >/dev/null)
fan_s=$(echo "$(now) - $start" | bc)

per_step=$(echo "scale=2; ($hrun_s - $bash_s) * 1000 / $steps" | bc)
ratio=$(echo "scale=2; $fan_s / 1.0" | bc)
printf '%-34s %8.3f s\n' "hrun exec, $steps steps ($sandbox)" "$hrun_s"
printf '%-34s %8.3f s\n' "bash, $steps processes" "$bash_s"
printf '%-34s %8s ms (target <= 3)\n' "overhead per step over bash" "$per_step"
printf '%-34s %8.3f s = %sx the longest job (target <= 1.2)\n' "10-job fan-out of 1 s jobs" "$fan_s" "$ratio"
