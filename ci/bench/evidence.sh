#!/usr/bin/env bash
# Evidence cost of `hrun exec` (issue #5): a job that leaves 1 GiB of artifacts under
# $HRUN_ARTIFACTS (2048 files of 64 KiB and 7 of 128 MiB), timed from the job's end to its signed
# evidence (artifacts moved and hashed, provenance signed, audit checkpoint, evidence.tar sealed),
# against `sha256sum` over the same files in the same run. Target: at most 1.3x sha256sum.
# Sized for a 2-core machine; the page cache is warm for both (the files were just written).
# Usage: bash ci/bench/evidence.sh [SANDBOX]   (default: namespace; `none` runs on the host)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
sandbox="${1:-namespace}"

cargo build --release --quiet -p runner
hrun="$CARGO_TARGET_DIR/release/hrun"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HRUN_CACHE="$work/cache"

repo="$work/repo"
mkdir -p "$repo/.github/workflows"
cat > "$repo/.github/workflows/artifacts.yml" <<'YAML'
on: push
jobs:
  build:
    runs-on: x
    steps:
      - run: |
          mkdir -p "$HRUN_ARTIFACTS/small" "$HRUN_ARTIFACTS/large"
          head -c $((128 << 20)) /dev/urandom > "$HRUN_ARTIFACTS/seed"
          for i in $(seq 0 2047); do
            dd if="$HRUN_ARTIFACTS/seed" of="$HRUN_ARTIFACTS/small/f$i" bs=64K skip=$((i % 2048)) count=1 status=none
          done
          for i in 1 2 3 4 5 6; do cp "$HRUN_ARTIFACTS/seed" "$HRUN_ARTIFACTS/large/l$i"; echo $i >> "$HRUN_ARTIFACTS/large/l$i"; done
          mv "$HRUN_ARTIFACTS/seed" "$HRUN_ARTIFACTS/large/l0"
YAML

(cd "$repo" && "$hrun" exec .github/workflows/artifacts.yml --sandbox "$sandbox" --out "$work/out") > "$work/exec.log"
line=$(grep -E '\] evidence: ' "$work/exec.log") || { cat "$work/exec.log"; exit 1; }
evidence_ms=$(sed -E 's/.* signed in ([0-9]+) ms.*/\1/' <<<"$line")
artifacts="$work/out/jobs/build/artifacts"
files=$(find "$artifacts" -type f | wc -l)
bytes=$(du -sb "$artifacts" | cut -f1)

start=$(date +%s.%N)
find "$artifacts" -type f -print0 | xargs -0 sha256sum > /dev/null
end=$(date +%s.%N)
sha_ms=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%d", (e - s) * 1000 }')

"$hrun" verify "$work/out/jobs/build/evidence.tar" --key "$HRUN_CACHE/keys/host.pub" \
  --artifact "$artifacts/large/l3" >/dev/null

echo "artifacts:        $files files, $bytes bytes"
echo "hrun evidence:    ${evidence_ms} ms (move, hash, sign, checkpoint, seal)"
echo "sha256sum:        ${sha_ms} ms"
awk -v a="$evidence_ms" -v b="$sha_ms" 'BEGIN { r = a / b; printf "ratio:            %.2fx sha256sum (target: at most 1.3x) %s\n", r, (r <= 1.3 ? "OK" : "OVER") }'
