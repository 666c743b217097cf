#!/usr/bin/env bash
# Builds the guest agent (`hrun-guest-agent`, PID 1 of the microVM) as a static binary and prints
# its path on the last line: `bash ci/build-agent.sh`. The target dir is $CARGO_TARGET_DIR, or
# $HRUN_CACHE/target from ci/env.sh. With an explicit --target, RUSTFLAGS reach only the target
# crates, not build scripts, so crt-static does not break proc macros.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
target=x86_64-unknown-linux-gnu
# The agent ships in every initramfs: no debug info (it is a tenth of the size), symbols kept.
RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_DEBUG=false \
  CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --quiet --release -p hermetic --bin hrun-guest-agent --target "$target" >&2
bin="$CARGO_TARGET_DIR/$target/release/hrun-guest-agent"
# A dynamic agent would find no loader in the initramfs: refuse to hand one out.
if command -v file >/dev/null && ! file -L "$bin" | grep -qE 'statically linked|static-pie linked'; then
  echo "build-agent: $bin is not static: $(file -L "$bin")" >&2
  exit 1
fi
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "build-agent: ldd lists dynamic dependencies of $bin" >&2
  exit 1
fi
echo "build-agent: $(du -h "$bin" | cut -f1) $bin" >&2
echo "$bin"
