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
[ ${#targets[@]} -gt 0 ] || targets=(workflow_yaml action_yaml expression template agent_protocol sync_delta)

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
# The agent protocol and sync deltas: a few well-formed conversations and tar streams.
python3 - fuzz/corpus/agent_protocol fuzz/corpus/sync_delta <<'PY'
import hashlib, io, json, pathlib, struct, sys, tarfile
proto, delta = (pathlib.Path(p) for p in sys.argv[1:3])
proto.mkdir(parents=True, exist_ok=True); delta.mkdir(parents=True, exist_ok=True)
def frame(kind, payload): return struct.pack(">IB", len(payload) + 1, kind) + payload
def control(msg): return frame(1, json.dumps(msg).encode())
def keep(d, data): (d / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)
def tar(entries):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, body in entries:
            info = tarfile.TarInfo(name); info.type = kind; info.mode = 0o644
            if kind == tarfile.SYMTYPE: info.linkname = body.decode()
            else: info.size = len(body)
            t.addfile(info, io.BytesIO(body) if kind == tarfile.REGTYPE else None)
    return out.getvalue()
t = tar([("d", tarfile.DIRTYPE, b""), ("d/f", tarfile.REGTYPE, b"hello"), ("d/l", tarfile.SYMTYPE, b"../f"), ("n" * 150, tarfile.REGTYPE, b"x")])
keep(delta, t)
hello = control({"type": "hello", "version": 1, "agent_version": "0.1.0", "kernel_release": "6.1", "boot_ms": 5, "notes": []})
step = control({"type": "run_step", "program": "sh", "args": ["-c", [255, 0]], "env": [["PATH", "/bin"]], "working_dir": "/w", "timeout_ms": 5, "cancel_grace_ms": 10, "max_processes": None, "memory_bytes": None})
push = control({"type": "push", "root": "/w", "access": "writable"}) + frame(4, b"a\0b/c\0") + frame(5, t) + frame(6, b"")
ended = control({"type": "step_ended", "status": {"code": 0}, "ending": "exited", "usage": {"wall_us": 1, "user_cpu_us": 0, "system_cpu_us": 0, "max_rss_bytes": None}, "limits": [], "output_complete": True})
for seed in (hello, step, push, frame(2, b"out") + frame(3, b"err") + ended, control({"type": "cancel"})):
    keep(proto, b"\x07" + seed)
PY
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
