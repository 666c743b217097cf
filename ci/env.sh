# Sourced by the project's scripts: where caches live. Everything heavy (cargo's target dir,
# downloaded tools and corpora) is kept outside the clone so repeated runs are fast; nothing
# depends on the cache being there.
export HRUN_CACHE="${HRUN_CACHE:-$HOME/.cache/hrun}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HRUN_CACHE/target}"
export PATH="$HRUN_CACHE/tools/bin:$HOME/.cargo/bin:$PATH"
mkdir -p "$HRUN_CACHE/tools/bin"
