#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI (.ci/run) run it.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
bash ci/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test (workspace, including GitHub's conformance data)"
cargo test --workspace
