#!/usr/bin/env bash
# Installs the independent verifiers that provenance/tests/interop.rs runs against our signed
# bundles, idempotently, under $HRUN_CACHE/tools/verifiers (default ~/.cache/hrun/tools):
#
# - npm: @sigstore/verify (3.x) with @sigstore/bundle (4.x), Sigstore's own JavaScript verifier,
#   used with an empty trust root, every threshold 0 and a key selector holding our public key.
# - PyPI, in one venv: securesystemslib[crypto] (DSSE envelopes with ECDSA P-256 and Ed25519
#   keys) and in-toto-attestation (strict parse of the in-toto Statement v1 and SLSA v1
#   provenance through their protobuf definitions).
# - openssl (Debian) checks the signature over the PAE bytes the test builds itself.
#
# Nothing is fetched at test time: the tests only run what this script installed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f ci/env.sh ] && source ci/env.sh
DIR="${HRUN_CACHE:-$HOME/.cache/hrun}/tools/verifiers"
SIGSTORE_VERIFY_VERSION=3.1.1
SIGSTORE_BUNDLE_VERSION=4.0.0
SECURESYSTEMSLIB_VERSION=1.6.0
IN_TOTO_ATTESTATION_VERSION=0.9.3

if ! command -v openssl >/dev/null; then
  echo "setup-verifiers: installing openssl"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
fi

node_dir="$DIR/node"
installed() { # package version
  grep -qs "\"version\": \"$2\"" "$node_dir/node_modules/$1/package.json"
}
if installed @sigstore/verify "$SIGSTORE_VERIFY_VERSION" \
  && installed @sigstore/bundle "$SIGSTORE_BUNDLE_VERSION"; then
  : # already installed
elif ! command -v npm >/dev/null; then
  echo "setup-verifiers: no npm; the interop tests will skip @sigstore/verify" >&2
else
  echo "setup-verifiers: installing @sigstore/verify@$SIGSTORE_VERIFY_VERSION @sigstore/bundle@$SIGSTORE_BUNDLE_VERSION"
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@sigstore/verify@$SIGSTORE_VERIFY_VERSION" "@sigstore/bundle@$SIGSTORE_BUNDLE_VERSION" >/dev/null
fi

venv="$DIR/venv"
want="securesystemslib==$SECURESYSTEMSLIB_VERSION in-toto-attestation==$IN_TOTO_ATTESTATION_VERSION"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/hrun-installed" 2>/dev/null)" = "$want" ]; then
  : # already installed
elif ! command -v python3 >/dev/null; then
  echo "setup-verifiers: no python3; the interop tests will skip securesystemslib and in-toto-attestation" >&2
else
  echo "setup-verifiers: installing $want"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "securesystemslib[crypto]==$SECURESYSTEMSLIB_VERSION" \
    "in-toto-attestation==$IN_TOTO_ATTESTATION_VERSION"
  echo "$want" >"$venv/hrun-installed"
fi
