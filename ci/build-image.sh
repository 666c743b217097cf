#!/usr/bin/env bash
# Builds the microVM guest image into $HRUN_CACHE/images (see `hrun image build --help`) and
# prints its directory on the last line: `bash ci/build-image.sh [--force]`.
#
# Idempotent: the agent is built by ci/build-agent.sh (when the tree has it; cargo rebuilds
# nothing if nothing changed), and `hrun image build` reuses the stored image when the agent,
# the recipe and the Debian mirror's indexes are unchanged. Without ci/build-agent.sh, the agent
# is $HRUN_IMAGE_AGENT or busybox-static, enough to test the image but not to run jobs.
# Needs root (mmdebstrap --mode=root), as CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
bash ci/setup-image.sh

if [ -f ci/build-agent.sh ]; then
  agent=$(bash ci/build-agent.sh | tail -n 1)
else
  agent=${HRUN_IMAGE_AGENT:-/bin/busybox}
  echo "build-image: no ci/build-agent.sh; using $agent as the guest agent" >&2
fi

cargo build --quiet -p runner >&2
"$CARGO_TARGET_DIR/debug/hrun" image build --agent "$agent" "$@" >&2
readlink -f "$HRUN_CACHE/images/current"
