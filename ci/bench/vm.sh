#!/usr/bin/env bash
# The microVM executor against the namespace executor (issue #4), measured in the same run, the
# two alternating. Each of N rounds (default 20; `N=5 bash ci/bench/vm.sh` for a quick look) runs
# one `hrun exec` per executor of a one-job workflow: a step printing the time, an idle step
# (`sleep 2`), 10 `run: 'true'` steps, a step printing the time. Then 8 jobs at once per
# executor (`--jobs 8`). Figures are medians over the rounds; where they come from:
#   - VM launch -> first step running: the `$EPOCHREALTIME` the first step prints (the guest
#     clock, set from the host's at setup) minus QEMU's start time (/proc/<pid>/stat starttime,
#     10 ms ticks, on the realtime clock). From hrun's own result.json (sandbox_details): QEMU's
#     launch to the first step handed to the guest agent (first_step_ms: boot, setup and the
#     directory sync included) and to the agent's hello (boot_ms).
#   - hrun start -> first step running: the `$EPOCHREALTIME` the first step prints minus the time
#     this script started hrun (in the VM the guest clock, set from the host's at setup).
#   - per-step round trip: result.json duration_ms of the 10 `run: 'true'` steps (the engine's
#     whole step: script, sync in and out of the VM, bash in the guest), median of all of them.
#   - teardown: sandbox_details.teardown_ms (the executor's finish: agent shutdown, QEMU's exit,
#     run directory and network removed); last step -> hrun exit: this script's clock at hrun's
#     exit minus the time the last step printed (results and evidence written in between).
#   - memory per idle VM: Pss and Rss in /proc/<qemu pid>/smaps_rollup, read 1 s into the
#     idle step (QEMU found by the run's private HRUN_CACHE in its command line).
#   - 8 at once: jobs whose conclusion is not success (target: none), and the wall time.
# Targets on a 2-core host under TCG: first step within 1.0 s of launch, round trip under 20 ms,
# 8 VMs at once without failures.
# Usage: bash ci/bench/vm.sh    (needs the guest image: bash ci/setup-image.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
rounds="${N:-20}"
trivial=10

images="${HRUN_IMAGES:-$HRUN_CACHE/images}"
if [ ! -e "$images/current/manifest.json" ]; then
  echo "no guest image under $images (bash ci/setup-image.sh builds it)" >&2
  exit 2
fi
cargo build --release --quiet -p runner
hrun="$CARGO_TARGET_DIR/release/hrun"
work="$(mktemp -d)"
hrun_pid=""
cleanup() {
  if [ -n "$hrun_pid" ]; then kill "$hrun_pid" 2>/dev/null || true; wait "$hrun_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# A private cache: this run's VM directories, signing key and audit log; the machine's images.
export HRUN_CACHE="$work/cache" HRUN_IMAGES="$images" NO_COLOR=1

repo="$work/repo"
mkdir -p "$repo/.github/workflows"
{
  echo "on: push"
  echo "jobs:"
  echo "  b:"
  echo "    runs-on: x"
  echo "    steps:"
  echo "      - run: echo \"T_FIRST=\$EPOCHREALTIME\""
  echo "      - run: echo IDLE_NOW; sleep 2"
  for _ in $(seq "$trivial"); do echo "      - run: 'true'"; done
  echo "      - run: echo \"T_LAST=\$EPOCHREALTIME\""
} > "$repo/.github/workflows/bench.yml"
{
  echo "on: push"
  echo "jobs:"
  for i in $(seq 8); do
    printf '  j%s:\n    runs-on: x\n    steps:\n      - run: echo "job %s ok"\n' "$i" "$i"
  done
} > "$repo/.github/workflows/eight.yml"

# When a process started, on the realtime clock (its start is kept in ticks since boot).
cat > "$work/started.py" <<'PY'
import os, sys, time
fields = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
ticks = int(fields[19])
offset = time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_BOOTTIME)
print(f"{ticks / os.sysconf('SC_CLK_TCK') + offset:.3f}")
PY

rows="$work/rows.tsv"
: > "$rows"

# One measured run: bench.yml with sandbox $1 into $2; appends a row to $rows.
one_run() {
  local sandbox="$1" out="$2" log="$2.log" pss="" rss="" t0 t_end qemu="" launched=""
  t0=$EPOCHREALTIME
  (cd "$repo" && exec "$hrun" exec .github/workflows/bench.yml --sandbox "$sandbox" --out "$out") > "$log" 2>&1 &
  hrun_pid=$!
  if [ "$sandbox" = microvm ]; then
    for _ in $(seq 1200); do
      grep -q 'IDLE_NOW$' "$log" 2>/dev/null && break
      kill -0 "$hrun_pid" 2>/dev/null || break
      sleep 0.05
    done
    sleep 1
    qemu="$(pgrep -f -- "$HRUN_CACHE/vm/run/" | head -n1 || true)"
    if [ -n "$qemu" ] && [ -r "/proc/$qemu/smaps_rollup" ]; then
      pss="$(awk '/^Pss:/ {print $2}' "/proc/$qemu/smaps_rollup")"
      rss="$(awk '/^Rss:/ {print $2}' "/proc/$qemu/smaps_rollup")"
      launched="$(python3 "$work/started.py" "$qemu" || true)"
    fi
  fi
  local rc=0
  wait "$hrun_pid" || rc=$?
  t_end=$EPOCHREALTIME
  hrun_pid=""
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sandbox" "$out" "$log" "$t0" "$t_end" "${pss:--}" "${rss:--}" "$rc" "${launched:--}" >> "$rows"
}

echo "warming up (one run each, not counted)..." >&2
for sandbox in microvm namespace; do
  (cd "$repo" && "$hrun" exec .github/workflows/bench.yml --sandbox "$sandbox" --quiet --out "$work/warm-$sandbox") > "$work/warm-$sandbox.log" 2>&1 || {
    echo "the warm-up run under $sandbox failed:" >&2; tail -n 20 "$work/warm-$sandbox.log" >&2; exit 1; }
done
: > "$rows"
for i in $(seq "$rounds"); do
  echo "round $i/$rounds" >&2
  one_run microvm "$work/vm-$i"
  one_run namespace "$work/ns-$i"
done

eight="$work/eight.tsv"
: > "$eight"
for sandbox in microvm namespace; do
  echo "8 jobs at once ($sandbox)" >&2
  t0=$EPOCHREALTIME
  rc=0
  (cd "$repo" && "$hrun" exec .github/workflows/eight.yml --sandbox "$sandbox" --jobs 8 --out "$work/eight-$sandbox") > "$work/eight-$sandbox.log" 2>&1 || rc=$?
  printf '%s\t%s\t%s\t%s\t%s\n' "$sandbox" "$work/eight-$sandbox" "$t0" "$EPOCHREALTIME" "$rc" >> "$eight"
done

python3 - "$rows" "$eight" "$trivial" <<'PY'
import json, os, re, statistics, sys

rows_path, eight_path, trivial = sys.argv[1], sys.argv[2], int(sys.argv[3])

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def job_result(out):
    path = os.path.join(out, "jobs", "b", "result.json")
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None

def printed(log, key):
    try:
        text = open(log, errors="replace").read()
    except OSError:
        return None
    m = re.search(key + r"=([0-9]+[.,][0-9]+)", text)
    return float(m.group(1).replace(",", ".")) if m else None

data = {"microvm": [], "namespace": []}
failed = {"microvm": 0, "namespace": 0}
for line in open(rows_path):
    sandbox, out, log, t0, t_end, pss, rss, rc, launched = line.rstrip("\n").split("\t")
    t0, t_end = float(t0.replace(",", ".")), float(t_end.replace(",", "."))
    res = job_result(out)
    if rc != "0" or res is None or res.get("conclusion") != "success":
        failed[sandbox] += 1
        continue
    details = res.get("sandbox_details", {})
    steps = res.get("steps", [])
    first, last = printed(log, "T_FIRST"), printed(log, "T_LAST")
    def fact(key):
        v = details.get(key)
        return float(v) if v is not None else None
    data[sandbox].append({
        "hrun_to_first": (first - t0) * 1000 if first else None,
        "launch_to_first": (first - float(launched)) * 1000 if first and launched != "-" else None,
        "first_step": fact("first_step_ms"),
        "boot": fact("boot_ms"),
        "roundtrips": [s["duration_ms"] for s in steps[2:2 + trivial]],
        "teardown": fact("teardown_ms"),
        "last_to_exit": (t_end - last) * 1000 if last else None,
        "pss": float(pss) / 1024 if pss != "-" else None,
        "rss": float(rss) / 1024 if rss != "-" else None,
    })

def med(sandbox, key):
    return median([r[key] for r in data[sandbox]])

def med_rt(sandbox):
    return median([x for r in data[sandbox] for x in r["roundtrips"]])

def fmt(v, unit):
    return "-" if v is None else f"{v:,.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}"

vm_first, vm_rt = med("microvm", "launch_to_first"), med_rt("microvm")
rows = [
    ("VM launch -> first step running", fmt(vm_first, "ms"), "-", "<= 1000 ms"),
    ("VM launch -> first step sent (first_step_ms)", fmt(med("microvm", "first_step"), "ms"), "-", ""),
    ("VM launch -> agent hello (boot_ms)", fmt(med("microvm", "boot"), "ms"), "-", ""),
    ("hrun start -> first step running", fmt(med("microvm", "hrun_to_first"), "ms"),
     fmt(med("namespace", "hrun_to_first"), "ms"), ""),
    ("per-step round trip (run: 'true')", fmt(vm_rt, "ms"), fmt(med_rt("namespace"), "ms"), "< 20 ms"),
    ("VM teardown (teardown_ms)", fmt(med("microvm", "teardown"), "ms"), "-", ""),
    ("last step -> hrun exit", fmt(med("microvm", "last_to_exit"), "ms"),
     fmt(med("namespace", "last_to_exit"), "ms"), ""),
    ("host memory per idle VM: PSS", fmt(med("microvm", "pss"), "MiB"), "-", ""),
    ("host memory per idle VM: RSS", fmt(med("microvm", "rss"), "MiB"), "-", ""),
]
eight = {}
for line in open(eight_path):
    sandbox, out, t0, t1, rc = line.rstrip("\n").split("\t")
    try:
        jobs = json.load(open(os.path.join(out, "result.json"))).get("jobs", {})
    except OSError:
        jobs = {}
    bad = sum(1 for k in (f"j{i}" for i in range(1, 9)) if jobs.get(k, {}).get("conclusion") != "success")
    wall = (float(t1.replace(",", ".")) - float(t0.replace(",", "."))) * 1000
    eight[sandbox] = (bad, wall)
for sandbox in ("microvm", "namespace"):
    eight.setdefault(sandbox, (8, None))
rows.append(("8 jobs at once: failed jobs", str(eight["microvm"][0]), str(eight["namespace"][0]), "0"))
rows.append(("8 jobs at once: wall time", fmt(eight["microvm"][1], "ms"), fmt(eight["namespace"][1], "ms"), ""))

n_vm, n_ns = len(data["microvm"]), len(data["namespace"])
print(f"medians of {n_vm} microvm and {n_ns} namespace runs (failed runs: microvm {failed['microvm']}, namespace {failed['namespace']})")
w = max(len(r[0]) for r in rows)
print(f"{'':<{w}}  {'microvm':>10}  {'namespace':>10}  target")
for name, vm, ns, target in rows:
    print(f"{name:<{w}}  {vm:>10}  {ns:>10}  {target}")
def verdict(ok):
    return "unknown" if ok is None else ("met" if ok else "NOT met")
print()
print(f"target: first step within 1.0 s of the VM's launch: {verdict(None if vm_first is None else vm_first <= 1000)}")
print(f"target: per-step round trip under 20 ms: {verdict(None if vm_rt is None else vm_rt < 20)}")
print(f"target: 8 VMs at once without failures: {verdict(eight['microvm'][0] == 0)}")
PY
