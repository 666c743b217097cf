#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while: `bash ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]`.
# Seeds come from the example workflows and GitHub's conformance data; crashes are kept under
# fuzz/artifacts/. cargo-fuzz needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# rustc accept the sanitizer flags (this machine has only rustup's stable toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
secs="${1:-60}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(workflow_yaml action_yaml expression template)

if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz into $HRUN_CACHE/tools"
  cargo install --quiet --locked --root "$HRUN_CACHE/tools" cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
conf="${HRUN_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/conformance/languageservices}"

seed() { # seed DIR FILES... : copy seeds into a target's corpus directory
  local dir=$1; shift
  mkdir -p "$dir"
  for f in "$@"; do
    if [ -f "$f" ]; then cp -n "$f" "$dir/$(sha256sum "$f" | cut -c1-16)"; fi
  done
}
seed fuzz/corpus/workflow_yaml examples/*/.github/workflows/*.yml "$conf"/workflow-parser/testdata/reader/*.yml
seed fuzz/corpus/action_yaml examples/*/action.yml
if [ -d "$conf/expressions/testdata" ]; then
  mkdir -p fuzz/corpus/expression
  python3 - "$conf/expressions/testdata" fuzz/corpus/expression <<'PY'
import json, sys, pathlib, hashlib
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in src.glob("*.json"):
    for cases in json.loads(f.read_text()).values():
        for case in cases:
            e = case.get("expr", "").encode()
            (out / hashlib.sha256(e).hexdigest()[:16]).write_bytes(e)
PY
  mkdir -p fuzz/corpus/template
  cp -n fuzz/corpus/expression/* fuzz/corpus/template/
fi

for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs}s"
  (cd fuzz && cargo fuzz run --target-dir "$CARGO_TARGET_DIR/fuzz" "$t" "corpus/$t" -- \
      -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 | tail -5)
done
echo "fuzz: no crash in ${#targets[@]} targets"
