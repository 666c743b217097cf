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

A file hrun cannot parse (a `parse` error) has no verdict. It is left out of the
comparison, and listed, only when zizmor cannot read it either (`--strict-collection` fails on it);
a file zizmor audits but hrun cannot parse is a disagreement. The differences we keep on purpose
are in DELIBERATE_DIFFERENCES, each with its reason: they are printed in their own section, and
one that no longer shows is reported too, so the list cannot go stale.

Exit 0 when every other file gets the same verdict from both tools, 1 otherwise.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

HRUN_RULES = {"pull-request-target": "dangerous-trigger", "unpinned-uses": "unpinned-uses"}
RULES = ("dangerous-trigger", "unpinned-uses")
# Errors that mean hrun could not read the file as a workflow or action at all.
UNPARSED_KINDS = {"parse"}
# zizmor's exit codes when it audited everything: 0, or 10-14 by the highest severity found.
ZIZMOR_AUDITED = {0, 10, 11, 12, 13, 14}

# (file relative to the corpus, rule) -> why hrun's verdict differs from zizmor's on purpose.
DELIBERATE_DIFFERENCES = {
    ("matplotlib-3.11.2/.github/workflows/labeler.yml", "dangerous-trigger"):
        "hrun denies every pull_request_target trigger, whatever its jobs run; zizmor passes this "
        "workflow because its only step is actions/labeler, an action it judges safe there",
    # "parse": hrun refuses the file itself.
    ("numpy-2.5.5/.github/workflows/images.yml", "parse"):
        "`branches:` is left empty (null); GitHub's workflow schema allows only a string or a list "
        "of strings for every branch, tag and path filter, and its reader rejects null there with "
        "\"Unexpected value ''\" at 9:14, as hrun does (checked with GitHub's own parser, npm "
        "@actions/workflow-parser); zizmor reads it leniently",
}


def count_files(n):
    return f"{n} file" if n == 1 else f"{n} files"


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def hrun_verdicts(hrun, files, root):
    """hrun's verdicts per file, and the files it could not parse (with the first reason)."""
    _, proc = run([hrun, "lint", "--format", "json", *map(str, files)])
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"hrun lint failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"hrun lint printed no JSON report (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    unparsed = {}
    for error in report["errors"]:
        if error["kind"] not in UNPARSED_KINDS or not error.get("file"):
            sys.exit(f"hrun lint could not evaluate the corpus: {error['kind']}: {error['message']}")
        rel = str(pathlib.Path(error["file"]).resolve().relative_to(root))
        unparsed.setdefault(rel, error["message"])
    verdicts = {}
    for f in report["findings"]:
        rule = HRUN_RULES.get(f["rule_id"])
        if rule and f["severity"] == "deny":
            path = pathlib.Path(f["location"]["file"]).resolve()
            verdicts.setdefault(str(path.relative_to(root)), set()).add(rule)
    return verdicts, unparsed


def zizmor_cannot_audit(zizmor, config, path):
    """Whether zizmor fails to read `path` (it only warns and skips such a file by default)."""
    _, proc = run([zizmor, "--offline", "--no-ignores", "--no-progress", "--strict-collection",
                   "--format", "json", "--config", config, str(path)])
    return proc.returncode not in ZIZMOR_AUDITED


def zizmor_verdicts(zizmor, config, files, root):
    _, proc = run([zizmor, "--offline", "--no-ignores", "--no-progress", "--format", "json", "--config", config, *map(str, files)])
    if proc.returncode not in ZIZMOR_AUDITED:
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

    hv, unparsed = hrun_verdicts(args.hrun, files, root)
    zv = zizmor_verdicts(args.zizmor, args.zizmor_config, files, root)
    disagree, excluded, deliberate = [], [], []
    observed = set()
    for f in files:
        rel = str(f.relative_to(root))
        if rel in unparsed:
            if zizmor_cannot_audit(args.zizmor, args.zizmor_config, f):
                excluded.append(f"  {rel}: {unparsed[rel]}")
            else:
                line = f"  {rel}: hrun cannot parse it ({unparsed[rel]}), zizmor audits it"
                reason = DELIBERATE_DIFFERENCES.get((rel, "parse"))
                if reason:
                    observed.add((rel, "parse"))
                    deliberate.append(f"{line}\n    why: {reason}")
                else:
                    disagree.append(line)
            continue
        for rule in RULES:
            a, b = rule in hv.get(rel, set()), rule in zv.get(rel, set())
            if a == b:
                continue
            line = f"  {rel}: {rule}: hrun {'denies' if a else 'allows'}, zizmor {'flags' if b else 'passes'}"
            reason = DELIBERATE_DIFFERENCES.get((rel, rule))
            if reason:
                observed.add((rel, rule))
                deliberate.append(f"{line}\n    why: {reason}")
            else:
                disagree.append(line)
    for rel, rule in sorted(DELIBERATE_DIFFERENCES.keys() - observed):
        disagree.append(f"  {rel}: {rule}: listed as a deliberate difference, but the tools agree "
                        "or the file is gone: update DELIBERATE_DIFFERENCES")
    for rule in RULES:
        flagged = sum(rule in v for v in hv.values())
        print(f"{rule}: hrun denies {count_files(flagged)}, zizmor flags {sum(rule in v for v in zv.values())}")
    compared = n - len(excluded)
    if excluded:
        print(f"not compared: {count_files(len(excluded))} neither tool can read:")
        print("\n".join(excluded))
    if deliberate:
        print(f"deliberate differences: {len(deliberate)} (kept on purpose, not counted as disagreements):")
        print("\n".join(deliberate))
    if disagree:
        print(f"verdicts: {len(disagree)} disagreement{'' if len(disagree) == 1 else 's'} on {count_files(compared)}:")
        print("\n".join(disagree))
        sys.exit(1)
    print(f"verdicts: same on all {count_files(compared)} compared for both shared rules"
          + (", apart from the deliberate differences above" if deliberate else ""))


if __name__ == "__main__":
    main()
