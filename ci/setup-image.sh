#!/usr/bin/env bash
# Installs what `hrun image build` runs, idempotently (a second run changes nothing):
# mmdebstrap (the Debian rootfs), e2fsprogs (mkfs.ext4 -d, debugfs, e2fsck), kmod (depmod, for
# the kernel package's modules.dep), dpkg-deb, curl (mirror state, the node tarball), xz and
# zstd (compressed kernel modules, should a kernel ship them), busybox-static (a static stand-in
# agent for tests). Run as root (CI and the README's commands are), or with sudo.
set -euo pipefail

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || [ -x /sbin/mkfs.ext4 ] || need+=(e2fsprogs)
command -v debugfs >/dev/null || [ -x /sbin/debugfs ] || need+=(e2fsprogs)
command -v depmod >/dev/null || [ -x /sbin/depmod ] || need+=(kmod)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-image: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
