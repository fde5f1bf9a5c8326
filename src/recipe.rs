//! wheelbuild's own part of the containers it starts: the scripts they run and the
//! variables it sets. The code that runs them and the fingerprints that cover them (the
//! build key's `wheelbuild` input, the environment image's key, an environment's
//! `resolved-from`) read these one definitions, so that changing a script changes what
//! depends on it.

/// The build container's script (`build.sh`): `sh -c SCRIPT wheelbuild CHECK BUILD SUBDIR
/// [PLAT REPAIR_PY EXCLUDE...]`.
pub(crate) const BUILD_SCRIPT: &str = include_str!("recipe/scripts/build.sh");
/// The repair's Python side (`repair.py`), an argument of [`BUILD_SCRIPT`].
pub(crate) const REPAIR_SCRIPT: &str = include_str!("recipe/scripts/repair.py");

/// The environment image's setup script (`env.sh`), run as root:
/// `sh -c SCRIPT wheelbuild-env APT REQUIREMENTS SETTINGS`.
pub(crate) const ENV_SCRIPT: &str = include_str!("recipe/scripts/env.sh");

/// The script that resolves an environment inside its base image (see its header).
pub(crate) const RESOLVE_SCRIPT: &str = include_str!("recipe/scripts/resolve.sh");

/// Variables of the root containers that resolve or install packages (Debian's pip refuses
/// system installs without the first).
pub(crate) const PIP_ENV: [&str; 3] = [
    "PIP_BREAK_SYSTEM_PACKAGES=1",
    "PIP_DISABLE_PIP_VERSION_CHECK=1",
    "PIP_NO_INPUT=1",
];

/// What wheelbuild sets in a build container, and how; edit with the scripts.
pub(crate) const INJECTED: &str = "SOURCE_DATE_EPOCH=<committer time of the locked commit>\n\
    WHEELBUILD_OUT=/wheelbuild/out\nHOME=/wheelbuild/home\n\
    build in /wheelbuild/build (a copy of the read-only checkout)\n\
    compilers: wrappers first on PATH, PYTORCH_NVCC and CMAKE_{C,CXX,CUDA,HIP}_COMPILER_LAUNCHER run them\n\
    through ccache when WHEELBUILD_CCACHE is set (its remote settings in CCACHE_CONFIGPATH, a file)\n\
    nvcc: --keep --keep-dir <object>.keep when WHEELBUILD_NVCC_KEEP is set and the build gives none\n\
    pip installs: --no-deps --require-hashes --ignore-installed\n";
