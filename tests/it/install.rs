//! Installing wheelbuild the ways its users install their tools: the wheel that
//! `scripts/dist.sh` builds (maturin, `bindings = "bin"`, manylinux_2_17 through zig)
//! installed with pip, pipx and uv, all pinned from PyPI (the `dist` fixture), each
//! running `--version`, and `lock` and `plan` on a real config; and `cargo install`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind};
use crate::support::{self, test};

/// The `dist` fixture's bin directory (maturin, zig, auditwheel, pipx, uv).
fn dist_bin() -> PathBuf {
    fixtures::tool_python("dist").parent().unwrap().to_owned()
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/dist.sh` into `out`: the one wheel it wrote. One build at a time: maturin
/// builds in one target directory and reads its binary back after cargo.
fn build_wheel(out: &Path) -> PathBuf {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tool_ok(Command::new(repo_root().join("scripts/dist.sh")).arg(out));
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels.into_iter().next().unwrap()
}

/// `exe` runs `--version` as this wheelbuild, then `lock` and `plan` in `p`.
fn runs_lock_and_plan(exe: &Path, p: &Project) {
    let version = tool_ok(Command::new(exe).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("wheelbuild {}", env!("CARGO_PKG_VERSION"))
    );
    let base = p.std_cmd();
    for args in [&["lock"][..], &["plan"]] {
        let mut cmd = Command::new(exe);
        cmd.args(args).current_dir(p.path());
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let out = tool_ok(&mut cmd);
        if args == ["plan"] {
            assert!(out.contains(&cpu("instpkg")), "{out}");
        }
    }
}

fn fresh_project(test: &str) -> Project {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("instpkg", None);
    new_project(
        &base,
        &config(&base.reference, test, "", &[project("instpkg", &repo, "")]),
    )
    .hold(repo)
    .hold(base)
}

#[test]
fn the_wheel_of_wheelbuild_is_manylinux_2_17_stripped_and_the_same_bytes_twice() {
    support::require_all(&["git", "python3"]);
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let wheel = build_wheel(one.path());
    let again = build_wheel(two.path());
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(again.file_name().unwrap().to_string_lossy(), name);
    assert!(
        std::fs::read(&wheel).unwrap() == std::fs::read(&again).unwrap(),
        "two builds of one commit differ: {name}"
    );
    assert!(
        name.starts_with(&format!(
            "wheelbuild-{}-py3-none-",
            env!("CARGO_PKG_VERSION")
        )) && name.contains("manylinux_2_17_x86_64"),
        "{name}"
    );
    // auditwheel agrees: nothing in it needs a newer glibc.
    let shown = tool_ok(
        Command::new(dist_bin().join("auditwheel"))
            .arg("show")
            .arg(&wheel),
    );
    assert!(
        shown.contains("manylinux_2_17_x86_64"),
        "auditwheel show:\n{shown}"
    );
    // The binary carries no symbol table (stripped); pyelftools reads it from the wheel.
    let sections = tool_ok(
        Command::new(fixtures::tool_python("dist"))
            .arg("-c")
            .arg(
                "import io, sys, zipfile\n\
                 from elftools.elf.elffile import ELFFile\n\
                 z = zipfile.ZipFile(sys.argv[1])\n\
                 [n] = [n for n in z.namelist() if n.endswith('/scripts/wheelbuild')]\n\
                 elf = ELFFile(io.BytesIO(z.read(n)))\n\
                 print(' '.join(s.name for s in elf.iter_sections()))",
            )
            .arg(&wheel),
    );
    assert!(sections.contains(".text"), "{sections}");
    assert!(!sections.contains(".symtab"), "not stripped: {sections}");
}

#[test]
fn pip_pipx_and_uv_install_the_wheel_and_it_locks_and_plans() {
    support::require_all(&["git", "python3"]);
    let out = tempfile::tempdir().unwrap();
    let wheel = build_wheel(out.path());
    let home = tempfile::tempdir().unwrap();
    let p = fresh_project("install-wheel");

    // pip (26.3, pinned in the fixture) into a fresh venv, from the file alone.
    let venv = home.path().join("venv");
    tool_ok(
        Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    tool_ok(
        Command::new(fixtures::tool_python("dist"))
            .args(["-m", "pip", "--python"])
            .arg(venv.join("bin/python"))
            .args(["install", "--no-index", "--no-deps"])
            .arg(&wheel),
    );
    runs_lock_and_plan(&venv.join("bin/wheelbuild"), &p);

    // uv tool install, with the system's Python and nothing from the network.
    let (uv_tools, uv_bin) = (home.path().join("uv-tools"), home.path().join("uv-bin"));
    tool_ok(
        Command::new(dist_bin().join("uv"))
            .args([
                "tool",
                "install",
                "--offline",
                "--python-preference",
                "only-system",
            ])
            .arg(&wheel)
            .env("UV_TOOL_DIR", &uv_tools)
            .env("UV_TOOL_BIN_DIR", &uv_bin)
            .env("UV_CACHE_DIR", home.path().join("uv-cache")),
    );
    runs_lock_and_plan(&uv_bin.join("wheelbuild"), &p);

    // pipx install.
    let (pipx_home, pipx_bin) = (home.path().join("pipx"), home.path().join("pipx-bin"));
    tool_ok(
        Command::new(dist_bin().join("pipx"))
            .arg("install")
            .arg(&wheel)
            .env("PIPX_HOME", &pipx_home)
            .env("PIPX_BIN_DIR", &pipx_bin)
            .env("PIPX_MAN_DIR", home.path().join("pipx-man")),
    );
    runs_lock_and_plan(&pipx_bin.join("wheelbuild"), &p);
}

#[test]
fn cargo_install_locked_installs_the_binary() {
    support::require("cargo");
    let root = tempfile::tempdir().unwrap();
    // The test build's own target directory and profile: the binary is built already,
    // so this checks `cargo install --locked --path .` (the manifest, the lockfile, the
    // binary target) without a second compile.
    let target = Path::new(assert_cmd::cargo::cargo_bin!("wheelbuild"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned();
    tool_ok(
        Command::new("cargo")
            .args(["install", "--locked", "--offline", "--debug", "--path"])
            .arg(repo_root())
            .arg("--root")
            .arg(root.path())
            .env("CARGO_TARGET_DIR", &target),
    );
    let version = tool_ok(Command::new(root.path().join("bin/wheelbuild")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("wheelbuild {}", env!("CARGO_PKG_VERSION"))
    );
}
