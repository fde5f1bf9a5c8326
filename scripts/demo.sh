#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine with this repository (run as root):
#
#   1. prepare what it needs: a Docker daemon, a registry on 127.0.0.1:5000, the Debian
#      base images (python3.11 CPU, CUDA 11.8 and ROCm 5.2, built with debootstrap and cached under
#      /var/cache/wheelbuild-fixtures), and the demo git repositories;
#   2. `wheelbuild lock`, `audit`, `plan`, then `build` of the root wheelbuild.toml;
#   3. each wheel tested by `build` before it is placed: installed in a fresh container of
#      its pinned test environment and called (torch-ext with the locked torch 2.0.1: a
#      2.3 GB download the first time; its GPU test is declared and reported not run);
#   4. a second `build` that finds every target and test cached, and `check`.
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
# torch-ext-gpu's GPU test never runs here (no GPU engine): a run after the first finds its
# wheel placed untested, which is expected on this machine.
if ! "$bin" audit --allow untested >/dev/null; then
  step "the base images here differ from the committed pins: re-pinning them"
  wb audit --allow untested || true
  wb lock --update 127.0.0.1:5000/wheelbuild/base
fi
wb audit --allow untested

step "plan"
wb plan

step "build"
wb build

step "second build: nothing changed, so nothing is rebuilt and no test runs again"
wb build
# Every wheel is built and placed; torch-ext-gpu's test stays pending (exit 10) until an
# engine with a GPU runs it.
rc=0
wb check || rc=$?
[ "$rc" -eq 10 ] || { echo "check: expected exit 10 (a GPU test pending), got $rc" >&2; exit 1; }

step "the wheels, and the key stamped beside each"
find wheelhouse -type f | sort

step "what each wheel's test printed (build ran them in fresh containers: no network, not root)"
for f in .wheelbuild/cache/logs/*/*.test.log; do
  t=${f#.wheelbuild/cache/logs/}
  echo "+ ${t%.test.log}: $(tail -n 1 "$f")"
done
step "pip installs by name from the CPU variant's index; each wheel has its provenance"
base=127.0.0.1:5000/wheelbuild/base
docker run --rm --network none --user 1000:1000 -e HOME=/tmp -v "$PWD/wheelhouse:/wh:ro" "$base:py3.11-cpu" \
  bash -ec "cd / && python3 -m venv --system-site-packages /tmp/venv &&
    /tmp/venv/bin/pip install -q --no-deps --no-cache-dir --index-url file:///wh/index/cpu/simple hello-cext &&
    /tmp/venv/bin/python -c 'import hello_cext; print(\"from the index:\", hello_cext.add(2, 40))'"
for f in wheelhouse/py311/*/linux_x86_64/*.whl.intoto.json; do
  [ -e "$f" ] || continue
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); p = d["predicate"]
print(d["subject"][0]["name"], "built as", p["runDetails"]["metadata"]["invocationId"][:12], "from", len(p["buildDefinition"]["resolvedDependencies"]), "pinned inputs")' "$f"
done
# Beside each tested wheel, the statement of its test (docs/testing.md).
for f in wheelhouse/py311/*/linux_x86_64/*.whl.test.intoto.json; do
  [ -e "$f" ] || continue
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); a = d["predicate"]["runDetails"]["byproducts"][0]["annotations"]
print(d["subject"][0]["name"], "test", a["outcome"], a.get("why", ""))' "$f"
done
