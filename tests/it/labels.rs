//! Labels a wheel gets after its build, end to end: `[output] local-version` checked by real
//! pip installing from the index in a fresh container, and PEP 825 variant wheels and the
//! index's `*-variants.json` checked by variantlib, the reference implementation.

use crate::support::test;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, docker_ok, variantlib_python};

const SETUP_PY: &str = "from setuptools import setup\n\n\
    setup(name=\"Label_Demo\", version=\"0.1.0\", py_modules=[\"label_demo_mod\"])\n";

/// Two CPU cells told apart by a user axis, `blas`; `extra` goes at the end.
fn labels_config(image: &str, project: &str, extra: &str) -> String {
    format!(
        "env = {{ WB_TEST = \"labels\" }}\nrepair = \"none\"\n\n[matrix]\npython = [\"3.11\"]\n\
         [matrix.axes]\nblas = [\"mkl\", \"openblas\"]\n\n[image]\ntemplate = \"{image}\"\n\n\
         [build]\nuid = 1234\ngid = 1234\n\n[output]\nindex = true\nlocal-version = \"{{accel}}\"\n\
         {project}{extra}"
    )
}

/// variantlib 0.2.2 reads its own schema.
const VARIANTS: &str = "\n[variants]\nlabel = \"{blas}\"\nschema = \"variantlib-0.2\"\n\
    [variants.providers.blas]\nrequires = [\"blas-variant-provider>=0.1\"]\n\
    plugin-api = \"blas_variant_provider.plugin:BlasPlugin\"\n";

/// The names of every wheel under the wheelhouse, sorted.
fn all_wheels(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = files_under(root)
        .into_iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".whl"))
        .collect();
    names.sort();
    names
}

fn variantlib(python: &Path, args: &[&str]) -> String {
    tool_ok(Command::new(python.with_file_name("variantlib")).args(args))
}

#[test]
fn local_versions_install_with_pip_and_variant_wheels_read_as_variantlib_writes_them() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let python = variantlib_python();
    let repo = pure_repo("label_demo", Some(SETUP_PY));
    let plain = project("label-demo", &repo, "");
    let p = new_project(&base, &labels_config(&base.reference, &plain, ""));
    ok(&p, &["lock"]);

    // 1. A local version: the wheel, its dist-info, METADATA and RECORD say `0.1.0+cpu`.
    let out = ok(&p, &["build", "--jobs", "1"]);
    let wheel = "Label_Demo-0.1.0+cpu-py3-none-any.whl";
    for cell in ["mkl", "openblas"] {
        assert_eq!(
            status_of(&out, &format!("label-demo/py3.11-cpu-blas={cell}")),
            "built"
        );
    }
    let wh = p.file("wheelhouse");
    assert_eq!(all_wheels(&wh), [wheel, wheel], "one per cell");
    // Real pip checks that the name, the dist-info and METADATA agree when it installs.
    let installed = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/wh:ro", wh.display()),
        &base.local(),
        "sh",
        "-ec",
        "python3 -m pip install -q --no-deps --no-cache-dir --disable-pip-version-check \
         --target /tmp/t --index-url file:///wh/index/cpu/simple 'label-demo==0.1.0+cpu'; cd /; \
         PYTHONPATH=/tmp/t python3 -c 'import importlib.metadata as m, label_demo_mod; \
         print(m.version(\"label-demo\"), label_demo_mod.NAME)'; ls /tmp/t | grep dist-info",
    ]);
    assert_eq!(
        installed.trim(),
        "0.1.0+cpu label_demo\nLabel_Demo-0.1.0+cpu.dist-info"
    );

    // 2. Variants: a key change per cell, with its reason.
    let variant = project(
        "label-demo",
        &repo,
        "variant = { \"blas :: lib\" = \"{blas}\", \"blas :: threads\" = [\"openmp\", \"pthreads\"] }",
    );
    p.write(
        "wheelbuild.toml",
        &labels_config(&base.reference, &variant, VARIANTS),
    );
    let plan = stdout(&ok(&p, &["plan", "--format", "json"]));
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let target = &plan["targets"][0];
    assert_eq!(target["local-version"], "cpu");
    assert_eq!(target["variant"]["label"], "mkl");
    assert_eq!(
        target["variant"]["properties"],
        serde_json::json!({ "blas": { "lib": ["mkl"], "threads": ["openmp", "pthreads"] } })
    );
    assert_eq!(
        target["reason"]["changes"][0]["input"], "variant",
        "{target}"
    );
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert!(stderr(&out).contains("Indexed cpu"), "{}", stderr(&out));
    let mkl = "Label_Demo-0.1.0+cpu-py3-none-any-mkl.whl";
    let openblas = "Label_Demo-0.1.0+cpu-py3-none-any-openblas.whl";
    assert_eq!(all_wheels(&wh), [mkl, openblas]);

    // variantlib reads each wheel's label and properties back.
    let wheel_path = |name: &str| {
        files_under(&wh)
            .into_iter()
            .find(|f| f.file_name().unwrap() == name)
            .unwrap()
    };
    let analyzed = variantlib(
        &python,
        &["analyze-wheel", "-i", wheel_path(mkl).to_str().unwrap()],
    );
    assert!(
        analyzed.contains("blas :: lib :: mkl")
            && analyzed.contains("blas :: threads :: openmp")
            && analyzed.contains("blas :: threads :: pthreads"),
        "{analyzed}"
    );

    // The index's `*-variants.json` is byte for byte what variantlib makes of the wheels,
    // and the project page links it with its sha256.
    let dir = tempfile::tempdir().unwrap();
    for name in [mkl, openblas] {
        std::fs::copy(wheel_path(name), dir.path().join(name)).unwrap();
    }
    variantlib(
        &python,
        &["generate-index-json", "-d", dir.path().to_str().unwrap()],
    );
    let json_name = "Label_Demo-0.1.0+cpu-variants.json";
    let reference = std::fs::read(dir.path().join(json_name)).unwrap();
    let page_dir = p.file("wheelhouse/index/cpu/simple/label-demo");
    let ours = std::fs::read(page_dir.join(json_name)).unwrap();
    assert_eq!(
        String::from_utf8(ours.clone()).unwrap(),
        String::from_utf8(reference).unwrap()
    );
    let page: Value =
        serde_json::from_slice(&std::fs::read(page_dir.join("index.json")).unwrap()).unwrap();
    let listed = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == json_name)
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(listed["url"], "Label_Demo-0.1.0%2Bcpu-variants.json");
    assert_eq!(
        listed["hashes"]["sha256"],
        sha256_file(&page_dir.join(json_name)).as_str()
    );
    let html = std::fs::read_to_string(page_dir.join("index.html")).unwrap();
    assert!(html.contains(json_name), "{html}");

    // The relabelled wheels are reproducible: a rebuild with cold caches gives the same
    // bytes.
    let out = ok(&p, &["verify", "label-demo/py3.11-cpu-blas=mkl"]);
    assert!(stdout(&out).contains("reproducible"), "{}", stdout(&out));
}
