#!/usr/bin/env python3
"""Times `hrun lint` and zizmor over the same files and compares their verdicts.

Both tools get every file of the corpus in one invocation, `--repeats` times each, alternating so
that neither profits from a warmer cache; the median wall time gives files per second. Verdicts are
compared per file for the two rules the tools share:
- dangerous trigger: hrun's `pull-request-target` rule; zizmor's `dangerous-triggers` finding when
  its evidence is a `pull_request_target` trigger (zizmor also flags `workflow_run`, which hrun
  does not, so those findings are left out of the comparison).
- unpinned uses: hrun's `unpinned-uses` rule; zizmor's `unpinned-uses` with every action required
  to be hash-pinned (ci/bench/zizmor.yml).
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

HRUN_RULES = {"pull-request-target": "dangerous-trigger", "unpinned-uses": "unpinned-uses"}


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def hrun_verdicts(hrun, files, root):
    _, proc = run([hrun, "lint", "--format", "json", *map(str, files)])
    if proc.returncode not in (0, 1):
        sys.exit(f"hrun lint could not evaluate the corpus (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    verdicts = {}
    for f in report["findings"]:
        rule = HRUN_RULES.get(f["rule_id"])
        if rule and f["severity"] == "deny":
            path = pathlib.Path(f["location"]["file"]).resolve()
            verdicts.setdefault(str(path.relative_to(root)), set()).add(rule)
    return verdicts


def zizmor_verdicts(zizmor, config, files, root):
    _, proc = run([zizmor, "--offline", "--no-ignores", "--no-progress", "--format", "json", "--config", config, *map(str, files)])
    if proc.returncode not in (0, 10, 11, 12, 13, 14):
        sys.exit(f"zizmor failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    verdicts = {}
    for finding in json.loads(proc.stdout):
        ident = finding["ident"]
        loc = finding["locations"][0]
        if ident == "dangerous-triggers":
            if "pull_request_target" not in loc["concrete"]["feature"]:
                continue
            rule = "dangerous-trigger"
        elif ident == "unpinned-uses":
            rule = "unpinned-uses"
        else:
            continue
        path = pathlib.Path(loc["symbolic"]["key"]["Local"]["verbatim_path"]).resolve()
        verdicts.setdefault(str(path.relative_to(root)), set()).add(rule)
    return verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hrun", required=True)
    ap.add_argument("--zizmor", required=True)
    ap.add_argument("--zizmor-config", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    root = pathlib.Path(args.corpus).resolve()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    if not files:
        sys.exit(f"no workflow files under {root}")

    hrun_cmd = [args.hrun, "lint", "--format", "json", *map(str, files)]
    zizmor_cmd = [args.zizmor, "--offline", "--no-ignores", "--no-progress", "--format", "json", "--config",
                  args.zizmor_config, *map(str, files)]
    hrun_times, zizmor_times = [], []
    for _ in range(args.repeats):
        hrun_times.append(run(hrun_cmd)[0])
        zizmor_times.append(run(zizmor_cmd)[0])
    h, z = statistics.median(hrun_times), statistics.median(zizmor_times)
    n = len(files)
    print(f"corpus: {n} workflow files, {args.repeats} runs each, median wall time")
    print(f"hrun lint: {n / h:10.1f} files/s  ({h * 1000:.1f} ms per run)")
    print(f"zizmor:    {n / z:10.1f} files/s  ({z * 1000:.1f} ms per run)")
    print(f"ratio:     {z / h:10.2f}x  (hrun throughput / zizmor throughput; target >= 5x)")

    hv = hrun_verdicts(args.hrun, files, root)
    zv = zizmor_verdicts(args.zizmor, args.zizmor_config, files, root)
    disagree = []
    for f in files:
        rel = str(f.relative_to(root))
        for rule in ("dangerous-trigger", "unpinned-uses"):
            a, b = rule in hv.get(rel, set()), rule in zv.get(rel, set())
            if a != b:
                disagree.append(f"  {rel}: {rule}: hrun {'denies' if a else 'allows'}, zizmor {'flags' if b else 'passes'}")
    for rule in ("dangerous-trigger", "unpinned-uses"):
        flagged = sum(rule in v for v in hv.values())
        print(f"{rule}: hrun denies {flagged} files, zizmor flags {sum(rule in v for v in zv.values())}")
    if disagree:
        print(f"verdicts: {len(disagree)} disagreements on {n} files:")
        print("\n".join(disagree))
        sys.exit(1)
    print(f"verdicts: same on all {n} files for both shared rules")


if __name__ == "__main__":
    main()
