#!/usr/bin/env bash
# The main job, end to end: build `hrun` and the guest image (with progress, cached), put the
# example workflows through the policy gate, then run examples/build with `hrun exec` with every
# job in its own microVM (no network: its egress allowlist is empty), a secret masked, verify
# each job's signed evidence, rebuild the package job from its evidence with the clock moved 400
# days (exit 0: reproducible), verify the audit log, and print where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
bash ci/setup.sh
cargo build --release --quiet -p runner
hrun="$CARGO_TARGET_DIR/release/hrun"
echo "== guest image (kernel, initramfs with the agent, rootfs; built once, then reused)"
bash ci/build-image.sh
out="$HRUN_CACHE/demo"
mkdir -p "$out"

echo "== hrun lint examples/hello   (pinned actions, safe trigger: allowed)"
"$hrun" lint examples/hello
echo
echo "== hrun lint examples/unsafe  (pull_request_target, unpinned uses: denied, exit 1)"
set +e
"$hrun" lint examples/unsafe
code=$?
"$hrun" lint --format sarif examples/unsafe >"$out/unsafe.sarif"
set -e
[ "$code" -eq 1 ] || { echo "demo: expected exit 1 (denied), got $code" >&2; exit 1; }
echo
echo "demo: the policy report for examples/unsafe is at $out/unsafe.sarif (SARIF 2.1.0)"
echo
echo "== hrun exec examples/build   (policy gate, then every job in its own microVM)"
secret="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
rm -rf "$out/build" "$out/example" "$out/rebuild"
# A repository of its own for the example, with one commit at a fixed time: its committer time
# is every step's SOURCE_DATE_EPOCH, and `hrun rebuild` checks the commit out again.
cp -r examples/build "$out/example"
git -C "$out/example" init -q -b main
git -C "$out/example" add .
GIT_COMMITTER_DATE="@1700000000 +0000" GIT_AUTHOR_DATE="@1700000000 +0000" \
  git -C "$out/example" -c user.name=demo -c user.email=demo@example.org commit -q -m "the example"
(cd "$out/example" && "$hrun" exec .github/workflows/build.yml --sandbox microvm \
  --secret "DEMO_TOKEN=$secret" --out "$out/build")
if grep -rqF "$secret" "$out/build"; then
  echo "demo: the secret leaked into $out/build" >&2
  exit 1
fi
echo
echo "== hrun verify   (each job's evidence.tar, offline, with the host's public key)"
for evidence in $(find "$out/build" -name evidence.tar | sort); do
  "$hrun" verify "$evidence" --key "$HRUN_CACHE/keys/host.pub"
done
echo
echo "== hrun rebuild   (the package job again from its evidence alone: same commit and image,"
echo "                   guest clock +400 days, another time zone; then its attestation verified)"
"$hrun" rebuild "$out/build/jobs/package/evidence.tar" --key "$HRUN_CACHE/keys/host.pub" \
  --source "$out/example" --vary tz --out "$out/rebuild"
"$hrun" verify "$out/rebuild/jobs/package/evidence.tar" --key "$HRUN_CACHE/keys/host.pub"
echo
echo "== hrun audit verify   (the host's append-only audit log)"
"$hrun" audit verify
echo
echo "demo: results (result.json per run and per job, logs, step summaries, signed provenance"
echo "      and evidence.tar per job) are in $out/build; the secret appears in none of them."
echo "demo: each job's result.json says under sandbox_details which accelerator ran (kvm or tcg),"
echo "      the guest kernel and the image digest."
