#!/usr/bin/env bash
# The README's test command: on a fresh Debian 12 machine with this repository, as root,
# it installs and starts what the tests exercise for real, then runs them. Each step is
# skipped when its part is already there, so a second run goes straight to the tests.
#
#   - Debian packages: docker-registry, skopeo, git, htpasswd, openssl, Docker, python3-venv
#     (the pypiserver venv); redis-server and redis-tools (the remote compiler cache);
#     socat, iproute2, util-linux and openssh for the second Docker engine of
#     tests/it/support/engine2.rs; nginx-light (WebDAV) for the compiler cache's http://
#     form;
#   - qemu-user-static registered with binfmt_misc (F flag), for the arm64 cells that run
#     emulated on this amd64 machine;
#   - a Docker daemon that answers (dockerd is started when none does);
#   - the slow fixtures, cached under /var/cache/wheelbuild-fixtures (WHEELBUILD_FIXTURES):
#     the Debian base images, a pypiserver venv with its wheels, in-toto and variantlib;
#   - then `cargo test --locked` (arguments are passed on to it).
#
# A test whose real part is still missing is reported as `ignored, skipped: <what it
# needs>` and counted in a closing line; with CI=true (.ci/run) it fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_CMD=(cargo test --locked "$@")

export DEBIAN_FRONTEND=noninteractive

log() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

packages=(docker.io docker-registry skopeo debootstrap apache2-utils iptables
  git openssl ca-certificates curl python3 python3-venv hostname time
  socat iproute2 util-linux openssh-client man-db redis-server redis-tools qemu-user-static)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  log "apt: every package is installed"
else
  log "apt-get update"
  apt-get update -q
  log "apt-get install ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Servers the tests start on loopback themselves: keep their packages from starting
# system-wide ones. sshd for the second engine's ssh:// test (started by
# scripts/engine2.sh inside its own network namespace only); nginx (nginx-light, with its
# WebDAV module) for the compiler cache's http:// form (tests/it/support/webdav.rs).
without_services() {
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  apt-get install -y -q --no-install-recommends "$@"
  if [ -n "$made_policy" ]; then rm -f "$policy"; fi
}
[ -x /usr/sbin/sshd ] || without_services openssh-server
[ -x /usr/sbin/nginx ] || without_services nginx-light

# --- arm64 emulation -------------------------------------------------------
# The package registers qemu-aarch64 through systemd-binfmt, which a container or a
# machine without systemd does not run: mount binfmt_misc and register it (F flag) here.
scripts/fixtures.sh binfmt arm64

# --- Docker daemon ---------------------------------------------------------
# /usr/local/bin/docker may be a newer static client shadowing Debian's; use
# Debian's client for the check when it is there (either works for `info`).
docker_cli=/usr/bin/docker
[ -x "$docker_cli" ] || docker_cli=$(command -v docker) || die "no docker client after install"
if "$docker_cli" info >/dev/null 2>&1; then
  log "docker: daemon already answers"
else
  dockerd_log=${TMPDIR:-/tmp}/wheelbuild-ci-dockerd.log
  log "docker: starting dockerd (log: ${dockerd_log})"
  nohup dockerd >"${dockerd_log}" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    if "$docker_cli" info >/dev/null 2>&1; then break; fi
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      tail -n 50 "${dockerd_log}" >&2 || true
      die "dockerd exited during startup"
    fi
    sleep 1
  done
  if ! "$docker_cli" info >/dev/null 2>&1; then
    tail -n 50 "${dockerd_log}" >&2 || true
    die "dockerd did not answer 'docker info' within 60 s"
  fi
  log "docker: daemon up"
fi

# --- slow fixtures: Debian base images (cached under a fixed path) ---------
# debootstrap + apt into rootfs tarballs, then deterministic OCI layouts; each step is
# skipped when its output is already cached. The CUDA image (Debian's non-free
# nvidia-cuda-toolkit, ~1.6 GB download) enables the CUDA build test.
log "fixtures: base images (cache: ${WHEELBUILD_FIXTURES:-/var/cache/wheelbuild-fixtures})"
scripts/fixtures.sh oci py311
scripts/fixtures.sh oci cuda118
scripts/fixtures.sh oci rocm52
# py311 for linux/arm64 (debootstrap --foreign, apt under qemu) in one image index with
# the amd64 one: the arm64 cells' tests (tests/it/arm64.rs).
scripts/fixtures.sh oci py311-multi
export WHEELBUILD_TEST_CUDA=1
# pypiserver 2.4.2 in a venv plus a few wheels from PyPI (seconds): the package
# index that tests start on loopback (tests/it/support/pypi.rs, PypiServer).
scripts/fixtures.sh pypi
# in-toto-attestation in a venv (seconds): the independent reader of the provenance
# statements wheelbuild writes (tests/it/support/fixtures.rs, intoto_python).
scripts/fixtures.sh intoto
# variantlib in a venv (seconds): the PEP 825 reference implementation, which reads
# the variant wheels wheelbuild writes (tests/it/labels.rs).
scripts/fixtures.sh variantlib
# uv 0.13.8 in a venv (seconds): the installer that picks a variant wheel from the
# variant index (tests/it/variant_index.rs).
scripts/fixtures.sh uv
# maturin, zig, auditwheel, pipx and uv in a venv (seconds): scripts/dist.sh builds the
# wheel of wheelbuild with them, and the install tests install it (tests/it/install.rs).
scripts/fixtures.sh dist
# psutil's sdist from PyPI (seconds): a real pyproject.toml with [tool.cibuildwheel],
# which `init` carries over (tests/it/init.rs).
scripts/fixtures.sh sdist psutil==7.0.0
# contourpy (meson-python) and ninja (scikit-build-core) from their sdists on PyPI, each as
# a git repo (seconds): published projects that tests build and verify (tests/it/dynamic.rs).
scripts/fixtures.sh sdist-repo contourpy==1.3.3
scripts/fixtures.sh sdist-repo ninja==1.13.0
# MarkupSafe's sdist as a git repo (seconds): a published project whose own pytest suite
# runs against the wheel wheelbuild built (tests/it/testing.rs).
scripts/fixtures.sh sdist-repo markupsafe==3.0.2

# --- Rust toolchain --------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"

log "versions"
cargo --version
rustc --version
docker-registry --version
skopeo --version
git --version
openssl version
"$docker_cli" version --format 'docker client {{.Client.Version}}, server {{.Server.Version}}' || true

# A full disk shows up as a linker's "IO failure on output stream": say so up front.
log "disk"
df -h . "${WHEELBUILD_FIXTURES:-/var/cache/wheelbuild-fixtures}" /var/lib/docker 2>/dev/null || true
avail_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ "${avail_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
  log "WARNING: less than 6 GiB free for the build and the tests' images"
fi

log "tests: ${TEST_CMD[*]}"
"${TEST_CMD[@]}"
