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
# Every compiler through `launch`: wrappers named like the compilers, first on PATH (so
# that command lines stay exactly as the project writes them: `CC="ccache gcc"` breaks
# torch.utils.cpp_extension's ninja files), nvcc also as PYTORCH_NVCC (torch calls it by
# absolute path) and every compiler as CMake's launcher. `launch COMPILER ARGS...` runs it
# through ccache (with WHEELBUILD_CCACHE) with a statistics log per compiler, and gives
# nvcc `--keep --keep-dir` (with WHEELBUILD_NVCC_KEEP) unless the build already does.
wrappers=/wheelbuild/home/compilers
launch=$wrappers/.launch
mkdir -p "$wrappers" /wheelbuild/home/ccache
export WHEELBUILD_WRAPPERS="$wrappers"
if [ -n "${WHEELBUILD_CCACHE:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR=/wheelbuild/cache/ccache CCACHE_COMPILERCHECK=content
  # The remote cache's settings: a file, since its URL may hold credentials (a build that
  # prints its environment would show them).
  if [ -r /wheelbuild/secret/ccache.conf ]; then export CCACHE_CONFIGPATH=/wheelbuild/secret/ccache.conf; fi
else
  unset WHEELBUILD_CCACHE
fi
cat >"$launch" <<'LAUNCH'
#!/bin/sh
compiler=$1; shift
case $compiler in "$WHEELBUILD_WRAPPERS"/*) exec "$compiler" "$@" ;; esac
case ${compiler##*/} in
  *nvcc*) name=nvcc ;; *hipcc*) name=hipcc ;; *clang++*) name=clang++ ;; *clang*) name=clang ;;
  *g++*|*c++*) name=g++ ;; *) name=gcc ;;
esac
case $name in
  nvcc|hipcc)
    # Their host compilers are cached as part of them, not each on its own.
    PATH=$(printf '%s' "$PATH" | sed "s|^$WHEELBUILD_WRAPPERS:||"); export PATH ;;
esac
case $PWD in
  */CMakeFiles/CMakeScratch/*|*/CMakeFiles/CMakeTmp|*/CMakeFiles/CMakeTmp/*)
    # CMake's try-compiles (its compiler checks) build in directories of random names,
    # which nvcc's keep directory carries into the hash: through ccache they would never
    # hit, and each build would store an entry no build reads.
    exec "$compiler" "$@" ;;
esac
if [ "$name" = nvcc ] && [ -n "${WHEELBUILD_NVCC_KEEP:-}" ]; then
  # nvcc's temporaries are named tmpxft_<pid>_…, and the name lands in the object's
  # symbols; kept in a directory named after the object, they are named after the source.
  out=; keep=1; prev=
  for a in "$@"; do
    case $prev in -o|--output-file) out=$a ;; esac
    case $a in -keep-dir|--keep-dir|-keep-dir=*|--keep-dir=*) keep= ;; --output-file=*) out=${a#*=} ;; esac
    prev=$a
  done
  if [ -n "$keep" ]; then
    dir=${out:-/wheelbuild/home/nvcc}.keep
    case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
    mkdir -p "$dir"
    set -- "$@" --keep --keep-dir "$dir"
  fi
fi
if [ -n "${WHEELBUILD_CCACHE:-}" ]; then
  CCACHE_STATSLOG=/wheelbuild/home/ccache/$name.log exec ccache "$compiler" "$@"
fi
exec "$compiler" "$@"
LAUNCH
chmod 755 "$launch"
arch=$(uname -m)
for c in cc c++ gcc g++ clang clang++ "$arch-linux-gnu-gcc" "$arch-linux-gnu-g++" \
  gcc-9 g++-9 gcc-10 g++-10 gcc-11 g++-11 gcc-12 g++-12 gcc-13 g++-13 gcc-14 g++-14 nvcc hipcc; do
  if real=$(command -v "$c" 2>/dev/null); then
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$launch" "$real" >"$wrappers/$c"
    chmod 755 "$wrappers/$c"
  fi
done
# torch.utils.cpp_extension (and CMake) find the CUDA and ROCm toolkits from where nvcc
# and hipcc are on PATH: behind the wrappers they would take /wheelbuild/home for the
# toolkit. Name the real ones, as torch would have found them (CUDA: the directory above
# nvcc's; ROCm: above hipcc's real path), unless the build names them itself.
if [ -z "${CUDA_HOME:-}${CUDA_PATH:-}" ] && real=$(command -v nvcc 2>/dev/null); then
  CUDA_HOME=$(dirname "$(dirname "$real")"); export CUDA_HOME
fi
if [ -z "${ROCM_HOME:-}${ROCM_PATH:-}" ] && real=$(command -v hipcc 2>/dev/null); then
  ROCM_HOME=$(dirname "$(dirname "$(readlink -f "$real")")"); export ROCM_HOME
fi
export PATH="$wrappers:$PATH"
if [ -x "$wrappers/nvcc" ] && [ -z "${PYTORCH_NVCC:-}" ]; then export PYTORCH_NVCC="$wrappers/nvcc"; fi
for lang in C CXX CUDA HIP; do
  if eval "[ -z \"\${CMAKE_${lang}_COMPILER_LAUNCHER:-}\" ]"; then export "CMAKE_${lang}_COMPILER_LAUNCHER=$launch"; fi
done
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
if [ -n "${WHEELBUILD_CCACHE:-}" ]; then
  # Per compiler, from its statistics log (a `# SOURCE` line, then one counter a line, per
  # compile): hits, those of them read from the remote cache (a remote entry that fails
  # ccache's checks is read, then compiled anew: a miss), misses, and compiles whose
  # remote lookup failed (server down, slow or refusing: compiled here).
  for log in /wheelbuild/home/ccache/*.log; do
    [ -f "$log" ] || continue
    awk -v name="$(basename "$log" .log)" '
      function end() {
        if (hit) { hits++; if (remote) remote_hits++ }
        if (miss) misses++
        if (failed) errors++
        hit = miss = remote = failed = 0
      }
      /^# / { end(); next }
      /^(direct|preprocessed)_cache_hit$/ { hit = 1 }
      /^cache_miss$/ { miss = 1 }
      /^remote_storage_hit$/ { remote = 1 }
      /^remote_storage_(error|timeout)$/ { failed = 1 }
      END {
        end()
        printf "::wheelbuild:: ccache compiler=%s hits=%d misses=%d remote-hits=%d remote-errors=%d\n", name, hits, misses, remote_hits, errors
      }' "$log"
  done | tee /wheelbuild/home/ccache/summary
  if [ -s /wheelbuild/home/ccache/summary ]; then
    awk '{ split($4, h, "="); split($5, m, "="); hits += h[2]; misses += m[2] }
      END { printf "::wheelbuild:: ccache hits=%d misses=%d\n", hits, misses }' /wheelbuild/home/ccache/summary
  fi
fi
