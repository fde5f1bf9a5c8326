#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine with this repository (run as root):
#
#   1. prepare what it needs: a Docker daemon, a registry on 127.0.0.1:5000, the Debian
#      base images (python3.11 CPU, CUDA 11.8 and ROCm 5.2, built with debootstrap and cached under
#      /var/cache/wheelbuild-fixtures), and the demo git repositories;
#   2. `wheelbuild lock`, `audit`, `plan`, then `build` of the root wheelbuild.toml;
#   3. a second `build` that finds every target cached, and `check`.
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
wb() { echo "+ wheelbuild $*"; target/release/wheelbuild "$@"; }

step "lock: keeps the committed pins"
wb lock
if ! target/release/wheelbuild audit >/dev/null; then
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
