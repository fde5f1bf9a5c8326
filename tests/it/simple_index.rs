//! The simple index per accelerator variant (`[output] index = true`, `wheelbuild index`)
//! end to end: a real build, then real pip in a fresh container installing from the
//! index over a read-only mount of the wheelhouse, with no network.

use crate::support::test;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind, docker_ok};

/// The project's version comes from its build env: changing it changes the key and the
/// wheel's name.
const SETUP_PY: &str = "import os\nfrom setuptools import setup\n\n\
    setup(name=\"Index_Demo\", version=os.environ[\"DEMO_VERSION\"], py_modules=[\"index_demo_mod\"])\n";

fn write_config(p: &Project, base: &BaseImage, repo_project: &str, index: bool) {
    p.write(
        "wheelbuild.toml",
        &config(
            &base.reference,
            "simple-index",
            &format!("\n[output]\nindex = {index}\n"),
            &[repo_project.to_string()],
        ),
    );
}

/// Every file under the wheelhouse's index, relative to it, with its bytes (sorted).
fn index_files(p: &Project) -> Vec<(PathBuf, Vec<u8>)> {
    let root = p.file("wheelhouse/index");
    let mut files: Vec<(PathBuf, Vec<u8>)> = files_under(&root)
        .into_iter()
        .map(|f| {
            (
                f.strip_prefix(&root).unwrap().to_path_buf(),
                std::fs::read(&f).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn names(files: &[(PathBuf, Vec<u8>)]) -> Vec<String> {
    files.iter().map(|(p, _)| p.display().to_string()).collect()
}

/// `pip install NAME` from the CPU index in a fresh container without network; the
/// installed version and the module's `NAME`.
fn pip_install(image: &str, wheelhouse: &Path, name: &str) -> String {
    docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/wh:ro", wheelhouse.display()),
        image,
        "sh",
        "-ec",
        &format!(
            "python3 -m pip install -q --no-deps --no-cache-dir --disable-pip-version-check \
             --target /tmp/t --index-url file:///wh/index/cpu/simple {name}; cd /; \
             PYTHONPATH=/tmp/t python3 -c 'import importlib.metadata as m, index_demo_mod; \
             print(m.version(\"index-demo\"), index_demo_mod.NAME)'"
        ),
    ])
}

#[test]
fn simple_index_installs_with_pip_is_stable_and_follows_key_changes() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("index_demo", Some(SETUP_PY));
    let with_version = |v: &str| {
        project(
            "index-demo",
            &repo,
            &format!("env = {{ DEMO_VERSION = \"{v}\" }}"),
        )
    };
    let p = new_project(&base, "");
    write_config(&p, &base, &with_version("0.1.0"), true);
    ok(&p, &["lock"]);

    // The build writes the index after placing the wheel.
    let out = p.run(&["build", "--jobs", "1"]);
    insta::assert_snapshot!(snap(&p, &out), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TARGET                 STATUS       TIME  WHEELS
    index-demo/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/Index_Demo-0.1.0-py3-none-any.whl
    1 target: 1 built, 0 cached, 0 failed in [TIME]

    ----- stderr -----
        Building index-demo/py3.11-cpu
           Built index-demo/py3.11-cpu in [TIME]
         Indexed cpu: 1 project(s), 1 wheel(s) in wheelhouse/index/cpu/simple (4 page(s) written)
    ");
    let v1 = index_files(&p);
    assert_eq!(
        names(&v1),
        [
            "cpu/simple/index-demo/index.html",
            "cpu/simple/index-demo/index.json",
            "cpu/simple/index.html",
            "cpu/simple/index.json",
        ]
    );
    let wheel = "Index_Demo-0.1.0-py3-none-any.whl";
    assert_eq!(wheels_in(&wheelhouse(&p)), [wheel]);
    let page: Value = serde_json::from_slice(
        &std::fs::read(p.file("wheelhouse/index/cpu/simple/index-demo/index.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(page["files"][0]["filename"], wheel);
    assert_eq!(
        page["files"][0]["hashes"]["sha256"],
        sha256_file(&wheelhouse(&p).join(wheel)).as_str()
    );
    assert_eq!(page["versions"], serde_json::json!(["0.1.0"]));

    // Real pip, by the PEP 503 name and by another spelling of it.
    let wh = p.file("wheelhouse");
    assert_eq!(
        pip_install(&base.local(), &wh, "index-demo").trim(),
        "0.1.0 index_demo"
    );
    assert_eq!(
        pip_install(&base.local(), &wh, "Index.Demo").trim(),
        "0.1.0 index_demo"
    );

    // Nothing to build: the index is regenerated, byte for byte the same, nothing written.
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert_eq!(status_of(&out, &cpu("index-demo")), "cached");
    assert!(
        stderr(&out).contains(
            "Indexed cpu: 1 project(s), 1 wheel(s) in wheelhouse/index/cpu/simple (unchanged)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(index_files(&p), v1);

    // `[output]` is not a key input: turning the index off rebuilds nothing, and
    // `wheelbuild index` works on its own, from nothing.
    write_config(&p, &base, &with_version("0.1.0"), false);
    let check = p.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", p.snapshot(&check));
    std::fs::remove_dir_all(p.file("wheelhouse/index")).unwrap();
    let out = p.run(&["index"]);
    insta::assert_snapshot!(p.snapshot(&out), @"
    success: true
    exit_code: 0
    ----- stdout -----
    VARIANT  PROJECTS  WHEELS  INDEX
    cpu             1       1  wheelhouse/index/cpu/simple
    4 page(s) written, 0 unchanged, 0 removed; 0 wheel(s) left out

    ----- stderr -----
         Indexed cpu: 1 project(s), 1 wheel(s) in wheelhouse/index/cpu/simple (4 page(s) written)
    ");
    assert_eq!(index_files(&p), v1);
    let out = p.run(&["index"]);
    insta::assert_snapshot!(p.snapshot(&out), @"
    success: true
    exit_code: 0
    ----- stdout -----
    VARIANT  PROJECTS  WHEELS  INDEX
    cpu             1       1  wheelhouse/index/cpu/simple
    0 page(s) written, 4 unchanged, 0 removed; 0 wheel(s) left out

    ----- stderr -----
         Indexed cpu: 1 project(s), 1 wheel(s) in wheelhouse/index/cpu/simple (unchanged)
    ");
    assert_eq!(index_files(&p), v1);

    // The target's key changes (its env): the new wheel replaces the old one in the
    // wheelhouse and in the index.
    write_config(&p, &base, &with_version("0.2.0"), true);
    ok(&p, &["lock"]);
    let out = ok(&p, &["build", "--jobs", "1"]);
    assert_eq!(status_of(&out, &cpu("index-demo")), "built");
    let wheel2 = "Index_Demo-0.2.0-py3-none-any.whl";
    assert_eq!(wheels_in(&wheelhouse(&p)), [wheel2]);
    let page_path = p.file("wheelhouse/index/cpu/simple/index-demo/index.json");
    let page: Value = serde_json::from_slice(&std::fs::read(&page_path).unwrap()).unwrap();
    let files: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(files, [wheel2]);
    assert_eq!(page["versions"], serde_json::json!(["0.2.0"]));
    let html = std::fs::read_to_string(page_path.with_file_name("index.html")).unwrap();
    assert!(html.contains(wheel2) && !html.contains(wheel), "{html}");
    assert_eq!(
        pip_install(&base.local(), &wh, "index-demo").trim(),
        "0.2.0 index_demo"
    );
}

/// No Docker needed: `index` reads only the config and the wheelhouse.
#[test]
fn simple_index_warns_about_unstamped_wheels_and_refuses_a_layout_inside_it() {
    let config = |extra: &str| {
        format!(
            "[matrix]\npython = [\"3.11\"]\ncuda = [\"cpu\", \"cuda11.8\"]\n\n[image]\ntemplate = \"reg.example/base:{{variant}}\"\n\n\
             [[project]]\nname = \"a\"\ngit = \"https://example.com/a.git\"\nref = \"main\"\n{extra}"
        )
    };
    let p = Project::new(&config(""));
    let dir = p.file("wheelhouse").join(CPU_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a-1.0-py3-none-any.whl"), "not stamped").unwrap();
    let out = p.run(&["index"]);
    insta::assert_snapshot!(p.snapshot(&out), @"
    success: true
    exit_code: 0
    ----- stdout -----
    VARIANT  PROJECTS  WHEELS  INDEX
    cpu             0       0  wheelhouse/index/cpu/simple
    cu118           0       0  wheelhouse/index/cu118/simple
    4 page(s) written, 0 unchanged, 0 removed; 1 wheel(s) left out

    ----- stderr -----
    warning: wheelhouse/py311/cpu/linux_x86_64/a-1.0-py3-none-any.whl is not in the index: no valid stamp in its directory's `.wheelbuild-stamps.json` (`wheelbuild build` places and stamps wheels)
         Indexed cpu: 0 project(s), 0 wheel(s) in wheelhouse/index/cpu/simple (2 page(s) written)
         Indexed cu118: 0 project(s), 0 wheel(s) in wheelhouse/index/cu118/simple (2 page(s) written)
    ");
    // Every variant of the config has a repository, empty or not.
    assert!(p.file("wheelhouse/index/cu118/simple/index.html").is_file());

    p.write(
        "wheelbuild.toml",
        &config("\n[output]\nlayout = \"index/{accel}\"\n"),
    );
    let out = p.run(&["index"]);
    insta::assert_snapshot!(p.snapshot(&out), @"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: target `a/py3.11-cpu` puts its wheels in `index/cpu` of ./wheelhouse, where the package index goes
      hint: `index/` of the output directory belongs to the index: change `output.layout` so that no target's directory starts with `index/`
    ");
}
