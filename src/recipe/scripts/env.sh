# The environment image's setup, run as root in the base image:
# `sh -c "$(cat env.sh)" wheelbuild-env APT REQUIREMENTS SETTINGS`: APT is `name=version`
# pins, space-separated; REQUIREMENTS a pip requirements file's text, one
# `name==version --hash=sha256:…` per line; SETTINGS a file of `NAME='value'` lines (the
# index, proxies, CA bundle) that this script exports, so that they never are the
# container's environment, which its image would keep. Exactly the lock's pins are
# installed.
set -eu
# One stream: Docker keeps stdout and stderr apart, so their lines could come out of order.
exec 2>&1
apt=$1; requirements=$2
set -a
# shellcheck disable=SC1090
. "$3"
set +a
mkdir -p /wheelbuild/out /wheelbuild/home
chmod 1777 /wheelbuild /wheelbuild/out /wheelbuild/home
if [ -n "$apt" ]; then
  command -v apt-get >/dev/null || { echo "::wheelbuild:: the image has no apt-get for: $apt"; exit 1; }
  apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $apt
  rm -rf /var/lib/apt/lists/*
fi
if [ -n "$requirements" ]; then
  file=$(mktemp)
  printf '%s\n' "$requirements" >"$file"
  # pip refuses a cache root does not own: root's part of the shared cache is its own.
  if [ -d /wheelbuild/cache/pip ]; then
    mkdir -p /wheelbuild/cache/pip/root
    chown 0:0 /wheelbuild/cache/pip/root
    cache="--cache-dir=/wheelbuild/cache/pip/root"
  else
    cache="--no-cache-dir"
  fi
  python3 -m pip install --no-deps --require-hashes --ignore-installed --no-input "$cache" -r "$file"
  rm -f "$file"
fi
# Facts of what was installed, for build records (torch decides a CUDA extension's ABI).
if command -v python3 >/dev/null 2>&1 && python3 -c 'import torch' >/dev/null 2>&1; then
  python3 -c 'import torch
print("torch=" + torch.__version__)
print("torch.cuda=" + (torch.version.cuda or ""))
print("torch.hip=" + (getattr(torch.version, "hip", None) or ""))
print("torch.cxx11-abi=" + str(int(torch._C._GLIBCXX_USE_CXX11_ABI)))' >/wheelbuild/facts
fi
