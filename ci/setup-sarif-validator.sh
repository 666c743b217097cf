#!/usr/bin/env bash
# Installs the SARIF validators that actions-compat/tests/sarif_schema.rs runs against
# `hrun lint --format sarif`, idempotently, under $HRUN_CACHE/tools (default ~/.cache/hrun/tools):
#
# - Microsoft's SARIF Multitool (npm: @microsoft/sarif-multitool-linux), whose `validate` verb
#   checks a log against the SARIF 2.1.0 schema and against GitHub code scanning's ingestion
#   rules (rule kind "Gh"). The package also ships the official schema, sarif-2.1.0.json.
# - Python's jsonschema (PyPI) in its own venv, which checks the log against that same schema
#   file (it catches bad enum values that the Multitool skips silently).
#
# Nothing is fetched at test time: the test only runs what this script installed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f ci/env.sh ] && source ci/env.sh
TOOLS="${HRUN_CACHE:-$HOME/.cache/hrun}/tools"
MULTITOOL_VERSION=5.7.0
JSONSCHEMA_VERSION=4.26.0

multitool_dir="$TOOLS/sarif-multitool"
multitool_pkg="$multitool_dir/node_modules/@microsoft/sarif-multitool-linux"
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "setup-sarif-validator: the SARIF Multitool package is for Linux x86_64 only; skipping it"
elif [ -x "$multitool_pkg/Sarif.Multitool" ] \
  && grep -q "\"version\": \"$MULTITOOL_VERSION\"" "$multitool_pkg/package.json"; then
  : # already installed
elif ! command -v npm >/dev/null; then
  echo "setup-sarif-validator: no npm; the SARIF schema test will skip the Multitool" >&2
else
  echo "setup-sarif-validator: installing @microsoft/sarif-multitool-linux@$MULTITOOL_VERSION"
  mkdir -p "$multitool_dir"
  # The package's only install script is `chmod u+x Sarif.Multitool`; do that here instead.
  npm install --prefix "$multitool_dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@microsoft/sarif-multitool-linux@$MULTITOOL_VERSION" >/dev/null
  chmod u+x "$multitool_pkg/Sarif.Multitool"
fi

venv="$TOOLS/sarif-venv"
if [ -x "$venv/bin/python" ] \
  && "$venv/bin/python" -c "import jsonschema, sys; sys.exit(jsonschema.__version__ != '$JSONSCHEMA_VERSION')" 2>/dev/null; then
  : # already installed
elif ! command -v python3 >/dev/null; then
  echo "setup-sarif-validator: no python3; the SARIF schema test will skip jsonschema" >&2
else
  echo "setup-sarif-validator: installing jsonschema==$JSONSCHEMA_VERSION"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "jsonschema==$JSONSCHEMA_VERSION"
fi
