#!/usr/bin/env bash
# Installs detect-secrets (PyPI), the baseline ci/bench/scan.sh compares `hrun scan` with, into its
# own venv under $HRUN_CACHE/tools/detect-secrets, idempotently: a second run with the pinned
# version already there does nothing. Prints the path of the `detect-secrets` executable.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f ci/env.sh ] && source ci/env.sh
TOOLS="${HRUN_CACHE:-$HOME/.cache/hrun}/tools"
VERSION=1.5.0
venv="$TOOLS/detect-secrets"
exe="$venv/bin/detect-secrets"
if [ -x "$exe" ] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('detect-secrets') != '$VERSION')" 2>/dev/null; then
  echo "$exe"
  exit 0
fi
echo "setup-detect-secrets: installing detect-secrets==$VERSION into $venv" >&2
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "detect-secrets==$VERSION" >&2
echo "$exe"
