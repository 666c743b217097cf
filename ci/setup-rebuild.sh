#!/usr/bin/env bash
# Installs what `hrun rebuild` and its tests use, idempotently (a second run changes nothing):
# libfaketime (moves the steps' clock in the namespace sandbox, and reprotest's time variation),
# reprotest (the tests cross-check hrun's verdicts with it) and diffoscope (the diff report of a
# rebuild that did not reproduce; the minimal package is enough for text files and archives).
#
# A test that finds one of them missing prints a SKIP line; `hrun rebuild` refuses --shift in the
# namespace sandbox without libfaketime and falls back to a digest table without diffoscope.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f ci/env.sh ] && source ci/env.sh

need_apt=()
command -v faketime >/dev/null || need_apt+=(faketime)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need_apt+=(libfaketime)
command -v reprotest >/dev/null || need_apt+=(reprotest)
command -v diffoscope >/dev/null || need_apt+=(diffoscope-minimal)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-rebuild: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
