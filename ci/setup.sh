#!/usr/bin/env bash
# Installs what building and testing Hermetic Runner needs on a Debian machine, idempotently:
# a second run changes nothing. Run as root (CI and the README's commands are), or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v git >/dev/null || need_apt+=(git)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip python3-venv)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v curl >/dev/null || need_apt+=(curl ca-certificates)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: no cargo on PATH. Hermetic Runner needs Rust 1.85 or newer (rustup's stable)." >&2
  exit 2
fi

# Tools the tests use, each installed by its own idempotent script.
for tool in ci/setup-*.sh; do
  [ -e "$tool" ] || continue
  bash "$tool"
done
