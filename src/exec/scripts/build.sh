# The build container's entry point:
#   sh -c "$(cat build.sh)" wheelbuild CHECK BUILD SUBDIR [PLAT EXCLUDE...]
# User commands come in as arguments, never spliced into this script. With PLAT (a
# manylinux tag), Linux platform wheels are repaired with auditwheel after the build,
# never grafting a library that an EXCLUDE glob matches.
set -eu
# One stream: Docker keeps stdout and stderr apart, so their lines could come out of order.
exec 2>&1
check=$1; build=$2; subdir=$3
shift 3
plat=${1:-}
if [ $# -gt 0 ]; then shift; fi
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
if [ -n "$plat" ]; then
  # The build's own wheels move aside; what the build container leaves in
  # $WHEELBUILD_OUT is then the repaired ones (and the pure ones as they were).
  built=/wheelbuild/home/built
  rm -rf "$built"; mkdir -p "$built"
  find "$WHEELBUILD_OUT" -maxdepth 1 -name '*.whl' -type f -exec mv {} "$built"/ \;
  # The globs become `--exclude GLOB` pairs in "$@", quoted all the way.
  n=$#
  for pattern in "$@"; do set -- "$@" --exclude "$pattern"; done
  shift "$n"
  for w in "$built"/*.whl; do
    [ -e "$w" ] || continue
    case "${w##*/}" in
      *linux_*.whl)
        echo "::wheelbuild:: repair: ${w##*/} for $plat"
        if ! python3 -m auditwheel repair --plat "$plat" -w "$WHEELBUILD_OUT" "$@" "$w"; then
          echo "::wheelbuild:: repair failed"; exit 96
        fi ;;
      *) mv "$w" "$WHEELBUILD_OUT"/ ;;
    esac
  done
fi
if [ -f /wheelbuild/home/ccache.log ]; then
  hits=$(grep -cE '^(direct|preprocessed)_cache_hit$' /wheelbuild/home/ccache.log || true)
  misses=$(grep -cx cache_miss /wheelbuild/home/ccache.log || true)
  echo "::wheelbuild:: ccache hits=$hits misses=$misses"
fi
