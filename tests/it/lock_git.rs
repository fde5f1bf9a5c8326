//! `wheelbuild lock` of git refs against real repositories (`file://`, local paths,
//! `git daemon`), with `git rev-parse` as the reference.

use crate::support::test;
use wheelbuild::lock::RefKind;

use crate::common::{HANG, Project, lock_of};
use crate::support::git::{GitDaemon, GitRepo};
use crate::support::images::{ManifestKind, push_single};
use crate::support::registry::{Auth, Registry};
use crate::support::{free_port, require_all, tempdir};

/// A config whose projects are `(name, git, ref)` over one image.
fn config(image: &str, projects: &[(&str, &str, Option<&str>)]) -> String {
    let mut s = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{image}\"\n"
    );
    for (name, git, reference) in projects {
        s += &format!("\n[[project]]\nname = \"{name}\"\ngit = \"{git}\"\n");
        if let Some(r) = reference {
            s += &format!("ref = \"{r}\"\n");
        }
    }
    s
}

fn image() -> (Registry, String) {
    let reg = Registry::start(Auth::None);
    let img = push_single(
        &reg,
        "wb/base",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "git-tests",
    );
    (reg, img.reference)
}

/// main: c1 - c2 - c3; feature at c2; v1 (lightweight) at c1; v2 (annotated) at c2.
fn history(repo: &GitRepo) -> [String; 3] {
    let c1 = repo.commit("a.txt", "1", "one");
    let c2 = repo.commit("a.txt", "2", "two");
    repo.tag("v1-light");
    repo.annotated_tag("v2", "release 2");
    repo.branch("feature");
    let c3 = repo.commit("a.txt", "3", "three");
    // Move the lightweight tag back to c1 so it differs from every branch tip.
    repo.git(&["tag", "-f", "v1", &c1]);
    repo.git(&["tag", "-d", "v1-light"]);
    [c1, c2, c3]
}

#[test]
fn branches_tags_and_shas_resolve_like_rev_parse() {
    require_all(&["docker-registry", "git"]);
    let (_reg, image) = image();
    let repo = GitRepo::new();
    let [c1, c2, c3] = history(&repo);
    let url = repo.file_url();
    let short = &c1[..8];
    let p = Project::new(&config(
        &image,
        &[
            ("head", &url, None),
            ("main", &url, Some("main")),
            ("feature", &url, Some("feature")),
            ("light", &url, Some("v1")),
            ("annotated", &url, Some("v2")),
            ("full-sha", &url, Some(&c2)),
            ("short-sha", &url, Some(short)),
            ("full-ref", &url, Some("refs/heads/feature")),
        ],
    ));
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let lock = lock_of(&p);
    let pin = |r: Option<&str>| {
        lock.git
            .iter()
            .find(|g| g.reference.as_deref() == r)
            .unwrap()
            .clone()
    };

    let head = pin(None);
    assert_eq!(
        (head.kind, head.resolved.as_deref(), head.commit.as_str()),
        (RefKind::Branch, Some("refs/heads/main"), c3.as_str())
    );
    for (r, kind, resolved, rev) in [
        ("main", RefKind::Branch, Some("refs/heads/main"), "main"),
        (
            "feature",
            RefKind::Branch,
            Some("refs/heads/feature"),
            "feature",
        ),
        ("v1", RefKind::Tag, Some("refs/tags/v1"), "v1"),
        ("v2", RefKind::Tag, Some("refs/tags/v2"), "v2"),
        (
            "refs/heads/feature",
            RefKind::Branch,
            Some("refs/heads/feature"),
            "feature",
        ),
        (c2.as_str(), RefKind::Commit, None, c2.as_str()),
        (short, RefKind::Commit, None, short),
    ] {
        let g = pin(Some(r));
        assert_eq!((g.kind, g.resolved.as_deref()), (kind, resolved), "{r}");
        assert_eq!(g.commit, repo.rev_parse(rev), "{r}");
    }
    // The annotated tag is peeled to its commit, not the tag object.
    assert_eq!(pin(Some("v2")).commit, c2);
    assert_ne!(
        repo.git(&["rev-parse", "v2"]).trim(),
        c2,
        "v2 is a tag object"
    );
    assert_eq!(pin(Some(short)).commit, c1, "short SHA expanded");
    // Eight inputs, one repository: one ls-remote; the short SHA needed a mirror.
    assert!(
        std::fs::read_dir(p.file(".wheelbuild/cache/git"))
            .unwrap()
            .count()
            >= 1
    );
}

#[test]
fn git_daemon_and_relative_paths_resolve() {
    require_all(&["docker-registry", "git"]);
    let (_reg, image) = image();
    let base = tempdir("daemon-base-");
    let served = GitRepo::new_in(base.path(), "served");
    let c1 = served.commit("x.txt", "x", "served one");
    served.annotated_tag("v1.0", "one");
    let daemon = GitDaemon::start(base.path());

    let p = Project::new("");
    let local = GitRepo::new_in(p.path(), "vendored");
    let l1 = local.commit("y.txt", "y", "local one");
    p.write(
        "wheelbuild.toml",
        &config(
            &image,
            &[
                ("remote", &daemon.url("served"), Some("v1.0")),
                ("local", "vendored", Some("main")),
            ],
        ),
    );
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let lock = lock_of(&p);
    let remote = lock
        .git
        .iter()
        .find(|g| g.url == daemon.url("served"))
        .unwrap();
    assert_eq!(
        (remote.kind, remote.commit.as_str()),
        (RefKind::Tag, c1.as_str())
    );
    assert_eq!(remote.commit, served.rev_parse("v1.0"));
    let local_pin = lock.git.iter().find(|g| g.url == "vendored").unwrap();
    assert_eq!(
        local_pin.commit, l1,
        "relative to the config, kept relative in the lock"
    );

    // Daemon gone: unreachable (3), not a user error.
    let url = daemon.url("served");
    drop(daemon);
    let out = p.run(&["lock", "--update", "remote"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("git repository {url} is unreachable"))
    );
}

#[test]
fn missing_refs_and_shas_are_user_errors_with_suggestions() {
    require_all(&["docker-registry", "git"]);
    let (reg, image) = image();
    let repo = GitRepo::new();
    history(&repo);
    let p = Project::new(&config(&image, &[("app", &repo.file_url(), Some("mian"))]))
        .name(&repo.file_url(), "REPO")
        .name(&reg.addr, "REGISTRY");
    let out = p.run(&["lock"]);
    insta::assert_snapshot!(p.snapshot(&out), @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: git `[REPO]` at `mian`: ref `mian` not found in [REPO]
      --> wheelbuild.toml:11:7
       |
    11 | ref = "mian"
       |       ^^^^^^
      hint: did you mean `main`?
    "#);

    p.write(
        "wheelbuild.toml",
        &config(&image, &[("app", &repo.file_url(), Some("deadbeef"))]),
    );
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ref `deadbeef` not found"));
    assert!(!p.file("wheelbuild.lock").exists());
}

#[test]
fn a_moved_branch_is_kept_until_updated() {
    require_all(&["docker-registry", "git"]);
    let (_reg, image) = image();
    let (a, b) = (GitRepo::new(), GitRepo::new());
    let a1 = a.commit("f", "1", "a1");
    let b1 = b.commit("f", "1", "b1");
    let p = Project::new(&config(
        &image,
        &[
            ("a", &a.file_url(), Some("main")),
            ("b", &b.file_url(), Some("main")),
        ],
    ))
    .name(&a.file_url(), "A");
    assert!(p.run(&["lock"]).status.success());
    let a2 = a.commit("f", "2", "a2");
    b.commit("f", "2", "b2");

    assert!(p.run(&["lock"]).status.success());
    let pin = |url: &str| {
        lock_of(&p)
            .git
            .iter()
            .find(|g| g.url == url)
            .unwrap()
            .commit
            .clone()
    };
    assert_eq!(
        (pin(&a.file_url()), pin(&b.file_url())),
        (a1.clone(), b1.clone()),
        "plain lock keeps pins"
    );

    let out = p.run(&["lock", "--update", "a"]);
    assert!(out.status.success());
    let text = p.filter(&String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("Updating git [A] @ main [SHORT] (branch) -> [SHORT] (branch)"),
        "{text}"
    );
    assert_eq!(pin(&a.file_url()), a2);
    assert_eq!(pin(&b.file_url()), b1, "b not named: kept");
}

/// The demo's fixture repositories are regenerated when an example changes: a tag moved,
/// its old commit gone, and a plain `lock` (keeping the pin) said only "not in the fetched
/// history" with a hint about the URL.
#[test]
fn a_locked_commit_gone_from_the_repository_says_to_update_the_pin() {
    require_all(&["docker-registry", "git"]);
    let (_reg, image) = image();
    let repo = GitRepo::new();
    repo.commit("f", "1", "c1");
    repo.tag("v1");
    let p = Project::new(&config(&image, &[("a", &repo.file_url(), Some("v1"))]))
        .name(&repo.file_url(), "A");
    assert!(p.run(&["lock"]).status.success());
    // Rewrite the tagged commit and drop the old one, as a regenerated repository does.
    repo.git(&["commit", "-q", "--amend", "-m", "c1 again"]);
    repo.git(&["tag", "-f", "v1"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    // A fresh machine (no mirror that still holds the old commit), and a config that now
    // tests the project: the lock must read its runtime requirements at the pinned commit.
    std::fs::remove_dir_all(p.path().join(".wheelbuild")).unwrap();
    let tested =
        config(&image, &[("a", &repo.file_url(), Some("v1"))]) + "test-command = \"true\"\n";
    std::fs::write(p.path().join("wheelbuild.toml"), tested).unwrap();

    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2));
    let text = p.filter(&String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("[A] no longer has the locked commit [SHA]"),
        "{text}"
    );
    assert!(text.contains("hint: `wheelbuild lock --update"), "{text}");
    assert!(p.run(&["lock", "--update", "a"]).status.success());
}

#[test]
fn a_git_server_that_is_down_is_exit_3() {
    require_all(&["docker-registry", "git"]);
    let (_reg, image) = image();
    // Nothing listens there: git's own transport and HTTP (curl) word it differently.
    let down = format!("127.0.0.1:{}", free_port());
    let p = Project::new(&config(
        &image,
        &[
            ("native", &format!("git://{down}/x"), Some("main")),
            ("http", &format!("http://{down}/x.git"), Some("main")),
        ],
    ))
    .name(&down, "DOWN");
    let out = p.run_within(&["lock"], HANG);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let text = p.filter(&String::from_utf8_lossy(&out.stderr));
    for url in ["git://[DOWN]/x", "http://[DOWN]/x.git"] {
        assert!(
            text.contains(&format!("git repository {url} is unreachable")),
            "{text}"
        );
    }
}

#[test]
fn a_silent_git_server_hits_the_request_deadline() {
    require_all(&["docker-registry", "git"]);
    let (_reg, image) = image();
    // Listening, never accepting: connections complete, nothing ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let url = format!("git://{addr}/x");
    let p = Project::new(&format!(
        "{}\n[network]\nrequest-timeout = 2\n",
        config(&image, &[("app", &url, Some("main"))])
    ))
    .name(&addr, "SILENT");
    let out = p.run_within(&["lock"], HANG);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let text = p.filter(&String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("`git ls-remote` of git://[SILENT]/x did not finish within 2 s"),
        "{text}"
    );
    assert!(
        text.contains("a higher `[network] request-timeout`"),
        "{text}"
    );
}
