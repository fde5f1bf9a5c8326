# The test container's entry point, run as the build's non-root user:
#   sh -c "$(cat test.sh)" wheelbuild-test COMMAND DISTS [SOURCE...]
# /wheelbuild/wheels holds the wheels and their SHA256SUMS (the stored bytes, checked again
# here before pip reads them); /wheelbuild/project the project's sources (read-only); the
# command runs in the scratch directory /wheelbuild/test, where each SOURCE is copied, so
# that only the installed wheel is importable. DISTS are the wheels' normalized names:
# `pip check` failing for one of them fails the test (exit 92), naming the requirement.
# The command comes in as an argument, never spliced into this script.
set -eu
# One stream: Docker keeps stdout and stderr apart, so their lines could come out of order.
exec 2>&1
command=$1; dists=$2
shift 2
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
cd /wheelbuild/wheels
sha256sum --strict -c SHA256SUMS || { echo "::wheelbuild:: a wheel is not the stored one"; exit 93; }
python3 -m pip install --user --no-index --no-deps --no-cache-dir ./*.whl
unmet=0
python3 -m pip check >"$HOME/pip-check" 2>&1 || true
while IFS= read -r line; do
  name=$(printf '%s' "${line%% *}" | tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/-/g')
  for dist in $dists; do
    if [ "$name" = "$dist" ]; then echo "::wheelbuild:: unmet requirement: $line"; unmet=1; fi
  done
done <"$HOME/pip-check"
[ "$unmet" = 0 ] || exit 92
for source in "$@"; do
  mkdir -p "/wheelbuild/test/$(dirname "$source")"
  cp -R "/wheelbuild/project/$source" "/wheelbuild/test/$source"
done
cd /wheelbuild/test
if [ -n "${WHEELBUILD_TEST_GPU:-}" ]; then
  # The GPUs the test sees, for its record: the NVIDIA runtime mounts nvidia-smi in.
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null |
      sed 's/^/::wheelbuild:: gpu: /' || true
  elif command -v rocm-smi >/dev/null 2>&1; then
    rocm-smi --showproductname 2>/dev/null |
      sed -n 's/.*Card [Ss]eries:[[:space:]]*/::wheelbuild:: gpu: /p' || true
  fi
fi
echo "::wheelbuild:: test: $command"
sh -c "$command"
