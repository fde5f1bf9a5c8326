# The build container's entry point:
#   sh -c "$(cat build.sh)" wheelbuild CHECK BUILD SUBDIR [PLAT REPAIR_PY EXCLUDE...]
# User commands come in as arguments, never spliced into this script. With PLAT (a
# manylinux tag), Linux platform wheels are repaired with auditwheel after the build
# (by REPAIR_PY, repair.py), never grafting a library that an EXCLUDE glob matches.
set -eu
# One stream: Docker keeps stdout and stderr apart, so their lines could come out of order.
exec 2>&1
check=$1; build=$2; subdir=$3
shift 3
plat=${1:-}; repair_py=${2:-}
if [ $# -gt 0 ]; then shift 2; fi
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
repair_pid=
if [ -n "$plat" ] && command -v python3 >/dev/null 2>&1; then
  # auditwheel's start-up (about 130 ms of imports) overlaps the build: repair.py
  # imports it now and waits on a FIFO for the wheels.
  repair_fifo=/wheelbuild/home/repair.fifo
  rm -f "$repair_fifo"; mkfifo "$repair_fifo"
  python3 -c "$repair_py" "$repair_fifo" "$plat" "$WHEELBUILD_OUT" "$@" </dev/null &
  repair_pid=$!
fi
echo "::wheelbuild:: build: $build"
sh -c "$build"
if [ -n "$plat" ]; then
  # The build's own wheels move aside; what the build container leaves in
  # $WHEELBUILD_OUT is then the repaired ones (and the pure ones as they were).
  built=/wheelbuild/home/built
  rm -rf "$built"; mkdir -p "$built"
  find "$WHEELBUILD_OUT" -maxdepth 1 -name '*.whl' -type f -exec mv {} "$built"/ \;
  for w in "$built"/*.whl; do
    [ -e "$w" ] || continue
    case "${w##*/}" in
      *linux_*.whl) ;;
      *) mv "$w" "$WHEELBUILD_OUT"/ ;;
    esac
  done
  rc=3
  if [ -n "$repair_pid" ]; then
    # Opened read-write, so that this never waits for a reader, even one that is gone.
    exec 3<>"$repair_fifo"
    for w in "$built"/*.whl; do
      if [ -e "$w" ]; then printf '%s\0' "$w" >&3; fi
    done
    printf '\0' >&3
    rc=0; wait "$repair_pid" || rc=$?
    exec 3>&-
  fi
  case $rc in
    0) ;;
    1) echo "::wheelbuild:: repair failed"; exit 96 ;;
    *)
      # repair.py could not warm up (or there is no python3): auditwheel the plain way,
      # so that its own error shows. The globs become `--exclude GLOB` pairs in "$@".
      echo "::wheelbuild:: repair: auditwheel did not start during the build (status $rc); starting it now"
      n=$#
      for pattern in "$@"; do set -- "$@" --exclude "$pattern"; done
      shift "$n"
      for w in "$built"/*.whl; do
        [ -e "$w" ] || continue
        echo "::wheelbuild:: repair: ${w##*/} for $plat"
        if ! python3 -m auditwheel repair --plat "$plat" -w "$WHEELBUILD_OUT" "$@" "$w"; then
          echo "::wheelbuild:: repair failed"; exit 96
        fi
      done ;;
  esac
fi
if [ -f /wheelbuild/home/ccache.log ]; then
  hits=$(grep -cE '^(direct|preprocessed)_cache_hit$' /wheelbuild/home/ccache.log || true)
  misses=$(grep -cx cache_miss /wheelbuild/home/ccache.log || true)
  echo "::wheelbuild:: ccache hits=$hits misses=$misses"
fi
