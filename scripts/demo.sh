#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine with this repository (run as root):
#
#   1. prepare what it needs: a Docker daemon, a registry on 127.0.0.1:5000, the Debian
#      base images (python3.11 CPU, CUDA 11.8 and ROCm 5.2, built with debootstrap and cached under
#      /var/cache/wheelbuild-fixtures), and the demo git repositories;
#   2. `wheelbuild lock`, `audit`, `plan`, then `build` of the root wheelbuild.toml;
#   3. a second `build` that finds every target cached, and `check`;
#   4. each wheel installed in a fresh container and called (torch-ext in its environment
#      image, which has the locked torch 2.0.1: a 2.3 GB download the first time).
#
# The committed wheelbuild.lock pins the images as they were built here. Base images are
# rebuilt from today's Debian archive when missing, so on another machine their digests
# can differ: `audit` then reports the tags as moved and the demo re-pins them with
# `lock --update`, which prints every pin old -> new.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "installing Debian packages (docker.io, docker-registry, skopeo, debootstrap, ...)"
if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null || ! command -v dockerd >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker.io docker-registry skopeo debootstrap iptables git ca-certificates python3 python3-venv
fi

step "fixtures: dockerd, registry 127.0.0.1:5000, base images, demo repositories"
scripts/fixtures.sh all

step "building wheelbuild"
cargo build --release --locked --quiet
# Where cargo put it: CARGO_TARGET_DIR moves the whole target directory.
bin="${CARGO_TARGET_DIR:-target}/release/wheelbuild"
wb() { echo "+ wheelbuild $*"; "$bin" "$@"; }

step "lock: keeps the committed pins"
wb lock
if ! "$bin" audit >/dev/null; then
  step "the base images here differ from the committed pins: re-pinning them"
  wb audit || true
  wb lock --update 127.0.0.1:5000/wheelbuild/base
fi
wb audit

step "plan"
wb plan

step "build"
wb build

step "second build: nothing changed, so nothing is rebuilt"
wb build
wb check

step "the wheels, and the key stamped beside each"
find wheelhouse -type f | sort

step "each wheel installed in a fresh container and used (no network, not root)"
# use IMAGE WHEEL-DIR PYTHON: install the directory's wheels into a venv over the image's
# site-packages, then run PYTHON.
use() {
  echo "+ in $1: $3"
  docker run --rm --network none --user 1000:1000 -e HOME=/tmp -v "$PWD/$2:/wheels:ro" "$1" \
    bash -ec "cd / && python3 -m venv --system-site-packages /tmp/venv &&
      /tmp/venv/bin/pip install -q --no-index --no-deps --no-cache-dir /wheels/*.whl &&
      /tmp/venv/bin/python -c '$3'"
}
base=127.0.0.1:5000/wheelbuild/base
use "$base:py3.11-cpu" wheelhouse/py311/cpu/linux_x86_64 \
  'import hello_pure, hello_cext; print(hello_pure.greet("demo"), hello_cext.add(2, 40))'
use "$base:py3.11-cuda11.8" wheelhouse/py311/cu118/linux_x86_64 \
  'import hello_cuda as h; print("add", h.add(2, 40), "built against CUDA", h.build_version())'
use "$base:py3.11-rocm5.2" wheelhouse/py311/rocm5.2/linux_x86_64 \
  'import hello_rocm as h; print("add", h.add(2, 40), "built against HIP", h.build_version(), h.device_status())'
step "pip installs by name from the CPU variant's index; each wheel has its provenance"
docker run --rm --network none --user 1000:1000 -e HOME=/tmp -v "$PWD/wheelhouse:/wh:ro" "$base:py3.11-cpu" \
  bash -ec "cd / && python3 -m venv --system-site-packages /tmp/venv &&
    /tmp/venv/bin/pip install -q --no-deps --no-cache-dir --index-url file:///wh/index/cpu/simple hello-cext &&
    /tmp/venv/bin/python -c 'import hello_cext; print(\"from the index:\", hello_cext.add(2, 40))'"
for f in wheelhouse/py311/*/linux_x86_64/*.intoto.json; do
  [ -e "$f" ] || continue
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); p = d["predicate"]
print(d["subject"][0]["name"], "built as", p["runDetails"]["metadata"]["invocationId"][:12], "from", len(p["buildDefinition"]["resolvedDependencies"]), "pinned inputs")' "$f"
done
# torch-ext needs the torch it was built against: its environment image has exactly the
# locked one.
torch_env=$(docker images --filter "label=org.wheelbuild.target=torch-ext/py3.11-cuda11.8" \
  --format '{{.Repository}}:{{.Tag}}' | head -n 1)
use "$torch_env" wheelhouse/py311/cu118/linux_x86_64 \
  'import torch, torch_ext; a = torch.arange(3.0); print("mul_add", torch_ext.mul_add(a, torch.full((3,), 2.0), 1.5).tolist(), "torch", torch.__version__, "CUDA", torch_ext.cuda_build_version())'
