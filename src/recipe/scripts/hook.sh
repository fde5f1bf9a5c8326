# Ask a project's PEP 517 backend what else it needs to build a wheel, at lock time, as
# a non-root user in a hardened container of the pinned image:
#   sh -c "$(cat hook.sh)" wheelbuild-hook REQUIREMENTS SUBDIR REQUIRES_PY BACKEND SETTINGS
# REQUIREMENTS is a pip requirements file's text (the static build requirements' pins,
# `name==version --hash=sha256:…` per line), installed beside the image's own packages;
# the checkout sent as /wheelbuild/src is copied, so that the hook may write in it.
# REQUIRES_PY (requires.py) prints the answer between `::wheelbuild-begin:: requires`
# and `::wheelbuild-end::`. Exit 92: the pins cannot be installed.
set -eu
exec 2>&1
requirements=$1; subdir=$2; requires_py=$3; backend=$4; settings=$5
work=$(mktemp -d)
export HOME="$work"
if [ -n "$requirements" ]; then
  printf '%s\n' "$requirements" >"$work/requirements.txt"
  python3 -m pip install --no-deps --require-hashes --no-input --no-cache-dir \
    --target "$work/requires" -r "$work/requirements.txt" || exit 92
  export PYTHONPATH="$work/requires${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="$work/requires/bin:$PATH"
fi
cp -R /wheelbuild/src "$work/src"
cd "$work/src/$subdir"
python3 -c "$requires_py" ask "$backend" "$settings"
