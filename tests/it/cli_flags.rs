//! Global flags: --config / WHEELBUILD_CONFIG, --color, -q, -v.

use crate::common::{Project, stderr};
use crate::support::git::GitRepo;
use crate::support::images::{ManifestKind, push_single};
use crate::support::registry::{Auth, Registry};
use crate::support::require_all;
use crate::support::test;

/// A project locked against a real registry and repo.
fn locked() -> Option<(Project, Registry)> {
    require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    let img = push_single(
        &reg,
        "wb/base",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "flags",
    );
    let repo = GitRepo::new();
    repo.commit("f", "1", "one");
    let config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{}\"\n\n[[project]]\nname = \"app\"\ngit = \"{}\"\nref = \"main\"\n",
        img.reference,
        repo.file_url()
    );
    let p = Project::new(&config).hold(repo);
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    Some((p, reg))
}

#[test]
fn config_flag_and_env_pick_the_file_and_its_lock() {
    let Some((p, _reg)) = locked() else { return };
    std::fs::create_dir(p.file("elsewhere")).unwrap();
    std::fs::rename(p.file("wheelbuild.toml"), p.file("elsewhere/custom.toml")).unwrap();
    std::fs::rename(
        p.file("wheelbuild.lock"),
        p.file("elsewhere/wheelbuild.lock"),
    )
    .unwrap();

    let out = p.run(&["--config", "elsewhere/custom.toml", "--locked", "plan"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("app/py3.11-cpu"));

    let out = p
        .cmd()
        .env("WHEELBUILD_CONFIG", p.file("elsewhere/custom.toml"))
        .args(["--locked", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));

    // Without either, there is no config here (nor in any parent of the temp dir).
    let out = p.run(&["plan"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn quiet_verbose_and_color() {
    let Some((p, _reg)) = locked() else { return };
    let out = p.run(&["lock"]);
    assert!(
        stderr(&out).contains("Locked 1 image(s), 1 git ref(s) (lockfile unchanged)"),
        "{}",
        stderr(&out)
    );

    let out = p.run(&["-q", "lock"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "", "-q silences status lines");
    let out = p.run(&["-q", "plan", "--format", "yaml"]);
    assert!(!stderr(&out).is_empty(), "-q never silences errors");

    let out = p.run(&["-v", "lock", "--update-all"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("DEBUG"),
        "-v shows debug logs: {}",
        stderr(&out)
    );

    let out = p
        .cmd()
        .args(["--color", "always", "plan", "--format", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let p2 = Project::new("[matrix]\npython = [\"3\"]\n[image]\ntemplate = \"x\"\n");
    let out = p2
        .cmd()
        .args(["--color", "always", "plan"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("\u{1b}["),
        "colored: {:?}",
        stderr(&out)
    );
    let out = p2
        .cmd()
        .args(["--color", "never", "plan"])
        .output()
        .unwrap();
    assert!(
        !stderr(&out).contains('\u{1b}'),
        "plain: {:?}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("invalid value `3` for axis `python`"));
}
