#!/usr/bin/env bash
# Installs what the microVM backend and its tests need, idempotently (a second run changes
# nothing): QEMU's x86 system emulator (the `microvm` machine), a static busybox and e2fsprogs
# (the boot tests build a tiny initramfs and a scratch disk with them). Then fetches the kernel
# the boot tests use, Debian's cloud kernel, into $HRUN_CACHE/vm/test-kernel/ (outside the clone;
# never committed): `apt-get download` + `dpkg-deb -x`, no root needed for that part.
#
# Nothing is fetched at test time: a test that finds no kernel or no QEMU prints a SKIP line.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f ci/env.sh ] && source ci/env.sh
CACHE="${HRUN_CACHE:-$HOME/.cache/hrun}"
KERNEL_PACKAGE=linux-image-6.1.0-56-cloud-amd64

need_apt=()
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ! ldd /bin/busybox >/dev/null 2>&1 \
  || need_apt+=(busybox-static)
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-vm: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

dest="$CACHE/vm/test-kernel"
if [ -f "$dest/$KERNEL_PACKAGE.done" ]; then
  exit 0
fi
echo "setup-vm: fetching $KERNEL_PACKAGE into $dest"
work="$(mktemp -d "${TMPDIR:-/tmp}/hrun-test-kernel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write there.
chmod 0755 "$work"
if ! (cd "$work" && apt-get download -q "$KERNEL_PACKAGE" >/dev/null 2>&1); then
  # Stale or missing package lists: refresh once and retry.
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  (cd "$work" && apt-get download -q "$KERNEL_PACKAGE" >/dev/null)
fi
deb="$(ls "$work"/*.deb)"
rm -rf "$dest"
mkdir -p "$dest"
dpkg-deb -x "$deb" "$dest/root"
release="$(ls "$dest/root/lib/modules")"
ln -sf "root/boot/vmlinuz-$release" "$dest/vmlinuz"
echo "$release" > "$dest/release"
sha256sum "$deb" | awk '{print $1}' > "$dest/deb.sha256"
# Debian compresses modules with xz; the tests load them from a busybox init, whose insmod
# takes plain .ko files, so decompress them once here.
find "$dest/root/lib/modules" -name '*.ko.xz' -exec xz -d -f {} +
touch "$dest/$KERNEL_PACKAGE.done"
echo "setup-vm: kernel $release ready at $dest/vmlinuz"
