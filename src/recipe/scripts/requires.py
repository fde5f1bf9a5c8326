# PEP 517's get_requires_for_build_wheel, run in the project's directory:
#   python3 -c "$(cat requires.py)" ask|check BACKEND SETTINGS_JSON
# `ask` (lock) prints the backend's answer between markers, one requirement a line;
# `check` (a build, before compiling) exits 95 naming the first requirement of the
# answer that no installed distribution meets.
import importlib
import importlib.metadata
import json
import os
import sys

mode, backend, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
try:
    import tomllib

    with open("pyproject.toml", "rb") as f:
        paths = tomllib.load(f).get("build-system", {}).get("backend-path", [])
except (ImportError, OSError):
    paths = []
# An in-tree backend (PEP 517's backend-path) imports from the project's directory.
sys.path[:0] = [os.path.abspath(p) for p in paths]
module, _, attrs = backend.partition(":")
hooks = importlib.import_module(module)
for attr in filter(None, attrs.split(".")):
    hooks = getattr(hooks, attr)
hook = getattr(hooks, "get_requires_for_build_wheel", None)
requires = [str(r) for r in hook(settings)] if hook else []
if mode == "ask":
    print("::wheelbuild-begin:: requires")
    for r in requires:
        print(r)
    print("::wheelbuild-end::")
    sys.exit(0)
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
for text in requires:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate():
        continue
    try:
        found = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        found = None
    if found is None or not req.specifier.contains(found, prereleases=True):
        print("::wheelbuild:: unlocked build requirement: " + text, flush=True)
        sys.exit(95)
