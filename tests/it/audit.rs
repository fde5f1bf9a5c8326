//! `audit`: unpinned, mutable, moved and insecure inputs, against a real registry and repo.

use crate::common::Project;
use crate::support::git::GitRepo;
use crate::support::images::{ManifestKind, push_single, retag};
use crate::support::registry::{Auth, Registry};
use crate::support::require_all;
use crate::support::test;

struct Setup {
    p: Project,
    reg: Registry,
    repo: GitRepo,
}

fn setup(extra: &str) -> Setup {
    require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    push_single(
        &reg,
        "wb/base",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "one",
    );
    let repo = GitRepo::new();
    let first = repo.commit("f", "1", "one");
    repo.annotated_tag("v1.0", "one");
    repo.commit("f", "2", "two");
    let config = format!(
        r#"repair = "none"
{extra}[matrix]
python = ["3.11"]

[image]
template = "{addr}/wb/base:v1"

[[project]]
name = "tracking"
git = "{url}"
ref = "main"

[[project]]
name = "released"
git = "{url}"
ref = "v1.0"

[[project]]
name = "short"
git = "{url}"
ref = "{short}"
"#,
        addr = reg.addr,
        url = repo.file_url(),
        short = &first[..12],
    );
    let p = Project::new(&config)
        .name(&reg.addr, "REGISTRY")
        .name(&repo.file_url(), "REPO");
    Setup { p, reg, repo }
}

#[test]
fn without_a_lock_nothing_is_pinned() {
    let s = setup("");
    let out = s.p.run(&["audit", "--offline"]);
    insta::assert_snapshot!(s.p.snapshot(&out), @"
    success: false
    exit_code: 11
    ----- stdout -----
    INPUT  REF                                                       KIND  PIN
    image  [REGISTRY]/wb/base:v1 (linux/amd64)                  tag   NOT PINNED
    git    [REPO] @ main          ?     NOT PINNED
    git    [REPO] @ v1.0          ?     NOT PINNED
    git    [REPO] @ [SHORT]  ?     NOT PINNED

    upstream not checked (--offline)

    8 finding(s):
      [lock-missing] wheelbuild.lock: no lockfile: nothing is pinned; run `wheelbuild lock`
      [unpinned] [REGISTRY]/wb/base:v1: not pinned to a digest for linux/amd64 (wheelbuild.toml:6:12)
      [unpinned] [REPO] @ main: not pinned to a commit (wheelbuild.toml:11:7)
      [unpinned] [REPO] @ v1.0: not pinned to a commit (wheelbuild.toml:16:7)
      [unpinned] [REPO] @ [SHORT]: not pinned to a commit (wheelbuild.toml:21:7)
      [unpinned] build requirements of project `tracking`: they are not read in the lock: run `wheelbuild lock` (wheelbuild.toml:11:7)
      [unpinned] build requirements of project `released`: they are not read in the lock: run `wheelbuild lock` (wheelbuild.toml:16:7)
      [unpinned] build requirements of project `short`: they are not read in the lock: run `wheelbuild lock` (wheelbuild.toml:21:7)

    ----- stderr -----
    ");
}

#[test]
fn reports_branches_short_shas_and_moves_upstream() {
    let s = setup("");
    let p = &s.p;
    assert!(p.run(&["lock"]).status.success());

    // Freshly locked: only what the config itself says is mutable or short.
    let out = p.run(&["audit"]);
    assert_eq!(out.status.code(), Some(11), "{}", p.snapshot(&out));
    let text = p.filter(&String::from_utf8_lossy(&out.stdout));
    let findings: Vec<&str> = text.lines().filter(|l| l.starts_with("  [")).collect();
    assert_eq!(
        findings,
        [
            "  [mutable-ref] [REPO] @ main: `refs/heads/main` is a branch: the pin is [SHORT], but the ref will move (wheelbuild.toml:11:7)",
            "  [short-sha] [REPO] @ [SHORT]: short SHA in the config; write the full [SHA] (wheelbuild.toml:21:7)",
        ],
        "{text}"
    );
    let row = |prefix: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {text}"));
        line.split_whitespace()
            .skip(prefix.split_whitespace().count())
            .collect::<Vec<_>>()
    };
    // The table shows pins by their first 12 hex digits (it fits 100 columns); the JSON
    // keeps them whole.
    assert_eq!(
        row("image  [REGISTRY]/wb/base:v1 (linux/amd64)"),
        ["tag", "sha256:[SHORT]"]
    );
    assert_eq!(row("git    [REPO] @ v1.0"), ["tag", "[SHORT]"]);
    assert_eq!(row("git    [REPO] @ main"), ["branch", "[SHORT]"]);
    let json = p.run(&["audit", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let pins: Vec<String> = json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["pin"].as_str())
        .map(|pin| p.filter(pin))
        .collect();
    assert!(pins.contains(&"sha256:[DIGEST]".to_string()), "{pins:?}");
    assert!(pins.contains(&"[SHA]".to_string()), "{pins:?}");

    let out = p.run(&["audit", "--allow", "mutable-ref", "--allow", "short-sha"]);
    assert_eq!(out.status.code(), Some(0), "{}", p.snapshot(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no findings (2 allowed)"));

    // Upstream moves: the branch gets a commit, the image tag is pushed over.
    let new_commit = s.repo.commit("f", "3", "three");
    push_single(
        &s.reg,
        "wb/base",
        "v2",
        "linux/amd64",
        ManifestKind::Oci,
        "two",
    );
    let new_digest = retag(&s.reg, "wb/base", "v2", "v1");
    let out = p.run(&[
        "audit",
        "--allow",
        "mutable-ref",
        "--allow",
        "short-sha",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(11), "{}", p.snapshot(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["checked_upstream"], true);
    let moved: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|f| assert_eq!(f["kind"], "moved", "{f}"))
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert!(
        moved[0].starts_with("tag moved upstream: locked sha256:")
            && moved[0].ends_with(&new_digest[..19]),
        "{moved:?}"
    );
    assert!(
        moved[1].ends_with(&format!("now {}", &new_commit[..12])),
        "{moved:?}"
    );
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 4);
    assert_eq!(inputs[0]["kind"], "tag");
    assert_eq!(
        inputs[0]["projects"],
        serde_json::json!(["tracking", "released", "short"])
    );

    // Offline: no upstream check, so no move is seen.
    let out = p.run(&[
        "audit",
        "--offline",
        "--allow",
        "mutable-ref",
        "--allow",
        "short-sha",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", p.snapshot(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("upstream not checked (--offline)"));
}

#[test]
fn stale_lock_and_insecure_registries_are_findings() {
    let s = setup("[registries.\"registry.internal:5000\"]\ninsecure = true\n\n");
    let p = &s.p;
    assert!(p.run(&["lock"]).status.success());
    p.write(
        "wheelbuild.toml",
        &p.read("wheelbuild.toml")
            .replace("ref = \"v1.0\"", "ref = \"main\""),
    );
    let out = p.run(&["audit", "--offline", "--format", "json"]);
    assert_eq!(out.status.code(), Some(11));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "lock-stale",
            "mutable-ref",
            "short-sha",
            "insecure-registry"
        ]
    );
}
