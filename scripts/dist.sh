#!/usr/bin/env bash
# The wheel of wheelbuild itself (pyproject.toml: maturin, bindings = "bin"), for
# `pip install`, `pipx install` and `uv tool install`:
#   scripts/dist.sh OUT_DIR
# manylinux_2_17 (glibc 2.17) through maturin's --zig, with zig from PyPI (no second
# toolchain, no rustup target); the binary stripped; SOURCE_DATE_EPOCH fixed to the last
# commit's time, so that two builds of one commit give the same bytes.
#
# maturin and zig come from the `dist` fixture venv (scripts/fixtures.sh dist), cached
# under ${WHEELBUILD_FIXTURES:-/var/cache/wheelbuild-fixtures}; so does the cargo target
# directory (CARGO_TARGET_DIR overrides it), so that a second build compiles nothing.
set -euo pipefail

out=${1:?usage: scripts/dist.sh OUT_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fixtures=${WHEELBUILD_FIXTURES:-/var/cache/wheelbuild-fixtures}
venv=$fixtures/dist/venv
[[ -x $venv/bin/maturin ]] || "$root/scripts/fixtures.sh" dist

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$fixtures/dist/target}
export PATH="$venv/bin:$PATH"
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 315532800)
  export SOURCE_DATE_EPOCH
fi
mkdir -p "$out"
cd "$root"
maturin build --release --locked --zig --out "$out"
