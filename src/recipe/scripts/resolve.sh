# Resolve environments that share one pinned base image, as root:
# `sh -c "$(cat resolve.sh)" wheelbuild-resolve APT1 PIP1 BUILD1 [APT2 PIP2 BUILD2 …]`,
# per environment: apt requests (space-separated), pip requests and the project's build
# requirements (one requirement per line). Nothing is installed.
#
# Build requirements the image already satisfies are taken from it (its digest pins
# them); the others are resolved with the pip requests.
#
# What it prints between `::wheelbuild-begin:: NAME` and `::wheelbuild-end::` is read
# back: `facts` (NAME=value lines, once), and per environment N: `apt.N` (apt-get's
# simulation), `pip.N` (pip's installation report, JSON) and `image.N` (`name version`
# of each build requirement the image satisfies), or `apt-failed.N` / `pip-failed.N`
# (the tool's own words, with `pip-skipped.N` when pip found nothing to install: the
# files it skipped and the pages it could not fetch). Exit 90: no apt-get for apt requests; 91: apt's package lists
# cannot be fetched.
set -eu
out=$(mktemp -d)
n=0
while [ $# -ge 3 ]; do
  n=$((n + 1))
  printf '%s' "$1" >"$out/apt-req.$n"
  printf '%s' "$2" >"$out/pip-req.$n"
  printf '%s' "$3" >"$out/build-req.$n"
  shift 3
done
facts() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import platform, sys
v = sys.version_info
print("python=" + platform.python_version())
print("abi=cp%d%d%s" % (v[0], v[1], getattr(sys, "abiflags", "")))'
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
}

# apt: the package lists once, then one simulation per environment.
apt_all() {
  cat "$out"/apt-req.* | grep -q . || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "::wheelbuild:: the image has no apt-get for: $(cat "$out"/apt-req.*)"
    touch "$out/no-apt"
    return 0
  fi
  if ! apt-get update -q; then
    touch "$out/no-apt-lists"
    return 0
  fi
  i=0
  while [ $i -lt $n ]; do
    i=$((i + 1))
    [ -s "$out/apt-req.$i" ] || continue
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get install --simulate --no-install-recommends -q \
      $(cat "$out/apt-req.$i") >"$out/apt.$i" 2>"$out/apt-err.$i" ||
      mv "$out/apt-err.$i" "$out/apt-failed.$i"
  done
}

# Build requirements the image satisfies go to image.N; the others to the pip requests.
# pip's own copy of `packaging` decides, as pip would.
from_image() {
  python3 - "$out/build-req.$1" "$out/image.$1" "$out/req.$1" <<'PY'
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement
reqs, have, need = (open(p, "a" if i else "r") for i, p in enumerate(sys.argv[1:]))
for line in reqs.read().splitlines():
    if not line.strip():
        continue
    r = Requirement(line)
    if r.marker is not None and not r.marker.evaluate():
        continue
    try:
        version = metadata.version(r.name)
    except metadata.PackageNotFoundError:
        version = None
    if version is not None and not r.url and r.specifier.contains(version, prereleases=True):
        have.write("%s %s\n" % (r.name, version))
    else:
        need.write(line + "\n")
PY
}

pip_resolve() {
  { cat "$out/pip-req.$1"; echo; } >"$out/req.$1"
  if [ -s "$out/build-req.$1" ] && ! from_image "$1" >"$out/pip-err.$1" 2>&1; then
    mv "$out/pip-err.$1" "$out/pip-failed.$1"
    return 0
  fi
  grep -q . "$out/req.$1" || return 0
  python3 -m pip install --dry-run --ignore-installed --quiet --report "$out/pip.$1" \
    -r "$out/req.$1" >"$out/pip-err.$1" 2>&1 && return 0
  mv "$out/pip-err.$1" "$out/pip-failed.$1"
  # Found nothing: once more, verbose, for the files pip skipped and why (their tags, their
  # Requires-Python) and the index pages it could not fetch.
  if grep -q 'No matching distribution found' "$out/pip-failed.$1"; then
    python3 -m pip install --dry-run --ignore-installed -vv -r "$out/req.$1" 2>&1 |
      grep -E 'Skipping link: |Could not fetch URL ' | sort -u | head -n 50 >"$out/pip-skipped.$1" || true
  fi
}

# pip: its modules compiled once on every core (images often ship without .pyc files, and
# each resolution would compile them again), then every resolution at once.
pip_all() {
  cat "$out"/pip-req.* "$out"/build-req.* | grep -q . || return 0
  dir=$(python3 -c 'import os, pip; print(os.path.dirname(pip.__file__))' 2>/dev/null) || dir=
  if [ -n "$dir" ]; then python3 -m compileall -q -j 0 "$dir" >/dev/null 2>&1 || true; fi
  i=0
  while [ $i -lt $n ]; do
    i=$((i + 1))
    [ -s "$out/pip-req.$i" ] || [ -s "$out/build-req.$i" ] || continue
    pip_resolve $i &
  done
  wait
}

facts >"$out/facts" &
apt_all &
pip_all &
wait
[ ! -f "$out/no-apt" ] || exit 90
[ ! -f "$out/no-apt-lists" ] || exit 91

for f in "$out"/facts "$out"/apt.* "$out"/pip.* "$out"/image.* "$out"/apt-failed.* "$out"/pip-failed.* \
  "$out"/pip-skipped.*; do
  [ -f "$f" ] || continue
  echo "::wheelbuild-begin:: ${f##*/}"
  cat "$f"
  echo
  echo "::wheelbuild-end::"
done
