# The build container's entry point: `sh -c "$(cat build.sh)" wheelbuild CHECK BUILD SUBDIR`.
# User commands come in as arguments, never spliced into this script.
set -eu
check=$1; build=$2; subdir=$3
if [ -n "$check" ]; then
  echo "::wheelbuild:: toolchain check: $check"
  if ! sh -c "$check"; then echo "::wheelbuild:: toolchain check failed"; exit 97; fi
fi
cp -R --preserve=mode,timestamps /wheelbuild/src /wheelbuild/build
cd "/wheelbuild/build/$subdir"
if [ -n "${WHEELBUILD_CCACHE:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR=/wheelbuild/cache/ccache CCACHE_STATSLOG=/wheelbuild/home/ccache.log CCACHE_COMPILERCHECK=content
  [ -n "${CC:-}" ] || export CC="ccache gcc"
  [ -n "${CXX:-}" ] || export CXX="ccache g++"
fi
echo "::wheelbuild:: build: $build"
sh -c "$build"
if [ -f /wheelbuild/home/ccache.log ]; then
  hits=$(grep -cE '^(direct|preprocessed)_cache_hit$' /wheelbuild/home/ccache.log || true)
  misses=$(grep -cx cache_miss /wheelbuild/home/ccache.log || true)
  echo "::wheelbuild:: ccache hits=$hits misses=$misses"
fi
