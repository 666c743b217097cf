#!/usr/bin/env bash
# Installs what the egress enforcement (hermetic/src/egress) and its tests need, idempotently:
# iproute2 (`ip`: network namespaces, veth and tap links, routes) and nftables (`nft`: the
# job's rules). A second run changes nothing. The tests themselves need root; without it, or
# without these tools, they print `SKIP <test>: <reason>`.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have ip || need_apt+=(iproute2)
have nft || need_apt+=(nftables)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-egress: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
