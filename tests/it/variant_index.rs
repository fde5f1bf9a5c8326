//! The variant index (`[output] index = "variants"`): one repository over every cell, from
//! which uv 0.13.8, the shipping installer that supports PEP 825 wheel variants, picks
//! the wheel that fits the machine, as a new user would install it.

use crate::support::test;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, example_repo};

/// A `cpu` and a `cuda11.8` cell; the CUDA cell's wheels say so with an `nvidia`
/// property, the CPU cell's have none (`{cuda}` is unset there) and become `null`.
fn config(image: &str, projects: &[String]) -> String {
    format!(
        "env = {{ WB_TEST = \"variant-index\" }}\nrepair = \"none\"\n\n[matrix]\npython = [\"3.11\"]\n\
         cuda = [\"cpu\", \"cuda11.8\"]\n\n\
         # No CUDA code: the CPU image serves both cells.\n[image]\ntemplate = \"{image}\"\n\n\
         [build]\nuid = 1234\ngid = 1234\n\n[output]\nindex = \"variants\"\n\n{}\n\
         [variants]\nlabel = \"{{accel}}\"\n\
         [variants.providers.nvidia]\nrequires = [\"nvidia-variant-provider>=0.0.1,<1.0.0\"]\n\
         plugin-api = \"nvidia_variant_provider.plugin:NvidiaVariantPlugin\"\n",
        projects.concat()
    )
}

const CUDA_PROPERTY: &str = "variant = { \"nvidia :: cuda_version_lower_bound\" = \"{cuda}\" }";

/// `uv pip install --preview-features wheel-variants` of `packages` from `index` into a
/// fresh venv, the NVIDIA provider's detection forced to `cuda` when given (this machine
/// has no GPU); then `check` run by the venv's Python. The labels installed (each
/// dist-info's `variant.json`) and `check`'s output.
fn uv_install(
    index: &Path,
    packages: &[&str],
    cuda: Option<&str>,
    check: &str,
) -> (Vec<String>, String) {
    let uv = fixtures::uv();
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&uv);
        cmd.args(args)
            .env("UV_CACHE_DIR", dir.path().join("cache"))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("VIRTUAL_ENV", &venv)
            .env_remove("NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION")
            .env_remove("NV_VARIANT_PROVIDER_FORCE_SM_ARCH");
        if let Some(version) = cuda {
            cmd.env("NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION", version);
        }
        tool_ok(&mut cmd)
    };
    run(&["venv", "--quiet", venv.to_str().unwrap()]);
    let url = format!("file://{}", index.display());
    let mut install = vec![
        "pip",
        "install",
        "--offline",
        "--preview-features",
        "wheel-variants",
        "--index-url",
        &url,
    ];
    install.extend(packages);
    run(&install);
    let mut labels = Vec::new();
    for file in files_under(&venv.join("lib")) {
        if file.file_name().unwrap() == "variant.json" {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            labels.extend(json["variants"].as_object().unwrap().keys().cloned());
        }
    }
    labels.sort();
    let printed = tool_ok(
        Command::new(venv.join("bin/python"))
            .args(["-c", check])
            .current_dir(dir.path()),
    );
    (labels, printed)
}

/// The issue: from the per-accelerator indexes, with variantlib's schema and a provider
/// uv does not vendor, uv 0.13.8 installed nothing ("has only unsupported wheel
/// variants"). From the variant index it installs the `null` (CPU) variant of a pure and
/// of a C-extension project on this GPU-less machine, and the `cu118` one when the NVIDIA
/// provider is told the driver is CUDA 11.8.
#[test]
fn uv_installs_the_null_variant_from_the_variant_index() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let pure = example_repo("hello-pure");
    let cext = example_repo("hello-cext");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            &[
                project("hello-pure", &pure, CUDA_PROPERTY),
                project("hello-cext", &cext, CUDA_PROPERTY),
            ],
        ),
    );
    ok(&p, &["lock"]);
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert!(
        stderr(&out).contains(
            "Indexed variants: 2 project(s), 4 wheel(s) in wheelhouse/index/variants/simple"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("warning: no known installer"),
        "{}",
        stderr(&out)
    );
    let index = p.file("wheelhouse/index/variants/simple");
    let check = "import hello_pure, hello_cext; print(hello_cext.add(2, 40))";

    let (labels, printed) = uv_install(&index, &["hello-pure", "hello-cext"], None, check);
    assert_eq!(labels, ["null", "null"]);
    assert_eq!(printed.trim(), "42");

    let (labels, printed) = uv_install(&index, &["hello-pure", "hello-cext"], Some("11.8"), check);
    assert_eq!(labels, ["cu118", "cu118"]);
    assert_eq!(printed.trim(), "42");
}
