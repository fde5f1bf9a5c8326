# The build container's entry point: `sh -c "$(cat build.sh)" wheelbuild CHECK BUILD SUBDIR`.
# User commands come in as arguments, never spliced into this script.
set -eu
# One stream: Docker keeps stdout and stderr apart, so their lines could come out of order.
exec 2>&1
check=$1; build=$2; subdir=$3
if [ -n "$check" ]; then
  echo "::wheelbuild:: toolchain check: $check"
  if ! sh -c "$check"; then echo "::wheelbuild:: toolchain check failed"; exit 97; fi
fi
if [ -f /wheelbuild/facts ]; then sed 's/^/::wheelbuild:: fact /' /wheelbuild/facts; fi
cp -R --preserve=mode,timestamps /wheelbuild/src /wheelbuild/build
cd "/wheelbuild/build/$subdir"
if [ -n "${WHEELBUILD_CCACHE:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR=/wheelbuild/cache/ccache CCACHE_STATSLOG=/wheelbuild/home/ccache.log CCACHE_COMPILERCHECK=content
  # ccache's masquerade: wrappers named like the compilers, first on PATH, so that command
  # lines stay exactly as the project writes them (`CC="ccache gcc"` breaks
  # torch.utils.cpp_extension's ninja files).
  wrappers=/wheelbuild/home/ccache-bin
  mkdir -p "$wrappers"
  arch=$(uname -m)
  for c in cc c++ gcc g++ clang clang++ "$arch-linux-gnu-gcc" "$arch-linux-gnu-g++" \
    gcc-9 g++-9 gcc-10 g++-10 gcc-11 g++-11 gcc-12 g++-12 gcc-13 g++-13 gcc-14 g++-14; do
    if command -v "$c" >/dev/null 2>&1; then ln -sf "$(command -v ccache)" "$wrappers/$c"; fi
  done
  export PATH="$wrappers:$PATH"
fi
echo "::wheelbuild:: build: $build"
sh -c "$build"
if [ -f /wheelbuild/home/ccache.log ]; then
  hits=$(grep -cE '^(direct|preprocessed)_cache_hit$' /wheelbuild/home/ccache.log || true)
  misses=$(grep -cx cache_miss /wheelbuild/home/ccache.log || true)
  echo "::wheelbuild:: ccache hits=$hits misses=$misses"
fi
