# The environment image's setup, run as root in the base image:
# `sh -c "$(cat env.sh)" wheelbuild-env APT PIP`.
set -eu
mkdir -p /wheelbuild/out /wheelbuild/home
chmod 1777 /wheelbuild /wheelbuild/out /wheelbuild/home
if [ -n "$1" ]; then
  command -v apt-get >/dev/null || { echo "::wheelbuild:: the image has no apt-get for: $1"; exit 1; }
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $1
  rm -rf /var/lib/apt/lists/*
fi
if [ -n "$2" ]; then
  python3 -m pip install --cache-dir /wheelbuild/cache/pip $2
fi
