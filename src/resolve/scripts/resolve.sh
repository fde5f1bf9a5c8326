# Resolve an environment in its pinned base image, as root:
# `sh -c "$(cat resolve.sh)" wheelbuild-resolve APT PIP` (space-separated requests).
# Nothing is installed. What it prints between `::wheelbuild-begin:: NAME` and
# `::wheelbuild-end::` is read back: `facts` (NAME=value lines), `apt` (apt-get's
# simulation), `pip` (pip's installation report, JSON). Exit 90: no apt-get for apt
# requests; 91: apt could not resolve; 92: pip could not resolve.
set -eu
apt=$1; pip=$2
out=$(mktemp -d)
{
  if command -v python3 >/dev/null 2>&1; then
    echo "python=$(python3 -c 'import platform; print(platform.python_version())')"
    echo "abi=$(python3 -c 'import sys; v = sys.version_info; print("cp%d%d%s" % (v[0], v[1], getattr(sys, "abiflags", "")))')"
  fi
  if command -v ldd >/dev/null 2>&1; then
    echo "glibc=$(ldd --version 2>/dev/null | head -n1 | awk '{print $NF}')"
  fi
  if command -v gcc >/dev/null 2>&1; then echo "gcc=$(gcc -dumpfullversion 2>/dev/null)"; fi
  if command -v nvcc >/dev/null 2>&1; then
    echo "nvcc=$(nvcc --version 2>/dev/null | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p')"
  fi
  # hipcc prints a traceback on stderr without a GPU; its version line is on stdout.
  if command -v hipcc >/dev/null 2>&1; then
    echo "hipcc=$(hipcc --version 2>/dev/null | sed -n 's/^HIP version: //p')"
  fi
} >"$out/facts"
if [ -n "$apt" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "::wheelbuild:: the image has no apt-get for: $apt"
    exit 90
  fi
  apt-get update -q || exit 91
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install --simulate --no-install-recommends -q $apt >"$out/apt" || exit 91
fi
if [ -n "$pip" ]; then
  # shellcheck disable=SC2086
  python3 -m pip install --dry-run --ignore-installed --quiet --report "$out/pip.json" $pip || exit 92
fi
for part in facts apt pip.json; do
  [ -f "$out/$part" ] || continue
  echo "::wheelbuild-begin:: ${part%.json}"
  cat "$out/$part"
  echo
  echo "::wheelbuild-end::"
done
