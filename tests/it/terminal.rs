//! What a long wait looks like: on a terminal (a pseudo-terminal from `script`), a spinner
//! per running target with its time so far and the build's last line; in CI (`CI=true`),
//! plain status lines and no terminal control codes, even under a pseudo-terminal.

use std::process::Command;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind};
use crate::support::{self, test};

/// A project whose build says what it does, then works for a few seconds.
fn slow_build(test: &str) -> Project {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("slowpkg", None);
    let build = "build = 'echo compiling-step-one && sleep 3 && python3 -m pip wheel --no-deps \
                 --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .'";
    let p = new_project(
        &base,
        &config(
            &base.reference,
            test,
            "",
            &[project("slowpkg", &repo, build)],
        ),
    )
    .hold(repo)
    .hold(base);
    ok(&p, &["lock"]);
    p
}

/// `wheelbuild build` under `script`'s pseudo-terminal, with `ci` as `CI`: everything the
/// terminal got.
fn build_on_a_terminal(p: &Project, ci: Option<&str>) -> String {
    support::require("script");
    let exe = assert_cmd::cargo::cargo_bin!("wheelbuild");
    let base = p.std_cmd();
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c"])
        .arg(format!("{} build", exe.display()))
        .arg("/dev/null")
        .current_dir(p.path())
        .env_remove("CI")
        .env("COLUMNS", "120")
        .env("TERM", "xterm");
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    tool_ok(&mut cmd)
}

#[test]
fn a_terminal_shows_the_builds_time_so_far_and_its_last_line() {
    let p = slow_build("terminal-tty");
    let shown = build_on_a_terminal(&p, None);
    // Frames of the spinner: the target, its seconds so far, what the build printed last.
    let frames: Vec<&str> = shown
        .split(['\r', '\n'])
        .filter(|l| l.contains("slowpkg/py3.11-cpu") && l.contains("compiling-step-one"))
        .collect();
    assert!(!frames.is_empty(), "no spinner line:\n{shown:?}");
    assert!(
        frames
            .iter()
            .any(|f| ["1s", "2s", "3s"].iter().any(|s| f.contains(s))),
        "no time so far in {frames:?}"
    );
    assert!(
        shown.contains("\u{1b}["),
        "a terminal gets control codes: {shown:?}"
    );
    assert!(shown.contains("Built"), "{shown:?}");
}

#[test]
fn ci_logs_get_status_lines_and_no_control_codes_even_on_a_terminal() {
    let p = slow_build("terminal-ci");
    let shown = build_on_a_terminal(&p, Some("true"));
    assert!(
        !shown.contains("\u{1b}["),
        "control codes in a CI log: {shown:?}"
    );
    assert!(!shown.contains("compiling-step-one"), "{shown:?}");
    let lines: Vec<&str> = shown.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Building slowpkg/py3.11-cpu")),
        "{shown:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Built slowpkg/py3.11-cpu")),
        "{shown:?}"
    );
}
