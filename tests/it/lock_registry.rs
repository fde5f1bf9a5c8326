//! `wheelbuild lock` against a real registry (docker-registry on loopback), with skopeo
//! as the reference for every digest; and against an in-process fake for faults.

use crate::support::test;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::common::{HANG, Project, lock_of, stderr};
use crate::support::fake::{Delivery, FakeServer, Request, Response};
use crate::support::git::GitRepo;
use crate::support::images::{
    self, IndexKind, ManifestKind, push_index, push_single, retag, sha256_digest,
};
use crate::support::registry::{Auth, Registry};
use crate::support::{self, require_all};

/// A config with one project and one cell per image (`img` axis, one select row each).
fn config(images: &[(&str, &str)], repo: &GitRepo) -> String {
    let values: Vec<String> = (0..images.len()).map(|i| format!("\"{i}\"")).collect();
    let mut s = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\naxes = {{ img = [{}] }}\n\n[image]\n",
        values.join(", ")
    );
    for (i, (reference, platform)) in images.iter().enumerate() {
        s += &format!(
            "\n[[image.select]]\nwhen = {{ img = \"{i}\" }}\nref = \"{reference}\"\nplatform = \"{platform}\"\n"
        );
    }
    s += &format!(
        "\n[[project]]\nname = \"app\"\ngit = \"{}\"\nref = \"main\"\n",
        repo.file_url()
    );
    s
}

fn repo() -> GitRepo {
    let r = GitRepo::new();
    r.commit("setup.py", "print('hi')\n", "init");
    r
}

#[test]
fn locks_manifests_indexes_and_lists_like_skopeo() {
    require_all(&["docker-registry", "skopeo", "git"]);
    let reg = Registry::start(Auth::None);
    let oci = push_single(
        &reg,
        "wb/single",
        "oci",
        "linux/amd64",
        ManifestKind::Oci,
        "a",
    );
    let docker = push_single(
        &reg,
        "wb/single",
        "docker",
        "linux/amd64",
        ManifestKind::Docker,
        "b",
    );
    let index = push_index(
        &reg,
        "wb/multi",
        "oci",
        &["linux/amd64", "linux/arm64"],
        IndexKind::OciIndex,
        "c",
    );
    let list = push_index(
        &reg,
        "wb/multi",
        "list",
        &["linux/amd64", "linux/arm/v7", "linux/arm64"],
        IndexKind::DockerList,
        "d",
    );
    let repo = repo();
    let inputs = [
        (oci.reference.as_str(), "linux/amd64"),
        (docker.reference.as_str(), "linux/amd64"),
        (index.reference.as_str(), "linux/amd64"),
        (list.reference.as_str(), "linux/amd64"),
        (list.reference.as_str(), "linux/arm/v7"),
    ];
    let p = Project::new(&config(&inputs, &repo));
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let lock = lock_of(&p);
    assert_eq!(lock.images.len(), 5);

    let pin = |reference: &str, platform: &str| {
        lock.images
            .iter()
            .find(|i| i.reference == reference && i.platform == platform)
            .unwrap_or_else(|| panic!("{reference} {platform} not in lock"))
            .clone()
    };
    for single in [&oci, &docker] {
        let l = pin(&single.reference, "linux/amd64");
        assert_eq!(l.manifest_digest, reg.skopeo_digest(&single.repo_tag()));
        assert_eq!(l.index_digest, None);
        assert_eq!(l.media_type, single.media_type);
        assert_eq!(l.tag.as_deref(), Some(single.tag.as_str()));
        assert_eq!(l.name, format!("{}/{}", reg.addr, single.repo));
    }
    for (multi, platform, arch) in [
        (&index, "linux/amd64", "amd64"),
        (&list, "linux/amd64", "amd64"),
        (&list, "linux/arm/v7", "arm/v7"),
    ] {
        let l = pin(&multi.reference, platform);
        // skopeo reports the index's own digest for a tag that points at an index.
        assert_eq!(
            l.index_digest.as_deref(),
            Some(reg.skopeo_raw_digest(&multi.repo_tag()).as_str())
        );
        assert_eq!(l.index_digest.as_deref(), Some(multi.digest.as_str()));
        assert_eq!(
            l.manifest_digest,
            reg.skopeo_platform_digest(&multi.repo_tag(), "linux", arch)
        );
    }
    assert_eq!(
        pin(&list.reference, "linux/amd64").media_type,
        images::DOCKER_MANIFEST
    );
    assert_eq!(
        pin(&index.reference, "linux/amd64").media_type,
        images::OCI_MANIFEST
    );
}

#[test]
fn relock_is_byte_identical_keeps_pins_and_update_moves_them() {
    require_all(&["docker-registry", "skopeo", "git"]);
    let reg = Registry::start(Auth::None);
    let first = push_single(
        &reg,
        "wb/app",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "one",
    );
    let other = push_single(
        &reg,
        "wb/other",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "x",
    );
    let repo = repo();
    let p = Project::new(&config(
        &[
            (&first.reference, "linux/amd64"),
            (&other.reference, "linux/amd64"),
        ],
        &repo,
    ));
    assert!(p.run(&["lock"]).status.success());
    let before = std::fs::read(p.file("wheelbuild.lock")).unwrap();
    let mtime = std::fs::metadata(p.file("wheelbuild.lock"))
        .unwrap()
        .modified()
        .unwrap();

    let out = p.run(&["lock"]);
    assert!(
        stderr(&out).contains("(lockfile unchanged)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(p.file("wheelbuild.lock")).unwrap(), before);
    assert_eq!(
        std::fs::metadata(p.file("wheelbuild.lock"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );

    // Move both tags upstream. A plain lock keeps the pins; --update moves only one.
    push_single(
        &reg,
        "wb/app",
        "v2",
        "linux/amd64",
        ManifestKind::Oci,
        "two",
    );
    let moved = retag(&reg, "wb/app", "v2", "v1");
    push_single(
        &reg,
        "wb/other",
        "v2",
        "linux/amd64",
        ManifestKind::Oci,
        "y",
    );
    retag(&reg, "wb/other", "v2", "v1");
    assert!(p.run(&["lock"]).status.success());
    assert_eq!(std::fs::read(p.file("wheelbuild.lock")).unwrap(), before);

    let out = p.run(&["lock", "--update", &format!("{}/wb/app", reg.addr)]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let text = p.filter(&stderr(&out));
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("Updating"))
            .collect::<Vec<_>>(),
        ["    Updating image [REGISTRY]/wb/app:v1 (linux/amd64) sha256:[SHORT] -> sha256:[SHORT]"]
            .iter()
            .map(|l| l.replace("[REGISTRY]", &reg.addr))
            .collect::<Vec<_>>()
    );
    let lock = lock_of(&p);
    assert_eq!(
        lock.images
            .iter()
            .find(|i| i.reference == first.reference)
            .unwrap()
            .manifest_digest,
        moved
    );
    assert_eq!(
        lock.images
            .iter()
            .find(|i| i.reference == other.reference)
            .unwrap()
            .manifest_digest,
        other.digest,
        "not named in --update: kept"
    );
    assert_eq!(moved, reg.skopeo_digest("wb/app:v1"));

    let out = p.run(&["lock", "--update-all"]);
    assert!(out.status.success());
    assert_eq!(
        lock_of(&p)
            .images
            .iter()
            .find(|i| i.reference == other.reference)
            .unwrap()
            .manifest_digest,
        reg.skopeo_digest("wb/other:v1")
    );
}

#[test]
fn locked_is_checked_offline() {
    require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    let img = push_single(
        &reg,
        "wb/app",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "one",
    );
    let repo = repo();
    let p = Project::new(&config(&[(&img.reference, "linux/amd64")], &repo));
    assert!(p.run(&["lock"]).status.success());
    let before = p.read("wheelbuild.lock");
    drop(reg); // Nothing to talk to from here on.

    for args in [
        &["--locked", "lock"][..],
        &["--locked", "plan"],
        &["--locked", "audit", "--offline", "--allow", "mutable-ref"],
    ] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", p.snapshot(&out));
    }
    // A new input makes the lock stale: 12, and nothing is written.
    p.write(
        "wheelbuild.toml",
        &p.read("wheelbuild.toml")
            .replace("ref = \"main\"", "ref = \"v9\""),
    );
    for args in [
        &["--locked", "lock"][..],
        &["--locked", "plan"],
        &["--locked", "check"],
    ] {
        let out = p.run(args);
        assert_eq!(
            out.status.code(),
            Some(12),
            "{args:?}: {}",
            p.snapshot(&out)
        );
        assert!(
            stderr(&out).contains("the lockfile is out of date with the config: git"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(p.read("wheelbuild.lock"), before);
}

#[test]
fn missing_tag_wrong_platform_and_missing_platform_are_user_errors() {
    require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    let arm = push_single(
        &reg,
        "wb/arm",
        "v1",
        "linux/arm64",
        ManifestKind::Docker,
        "arm",
    );
    let multi = push_index(
        &reg,
        "wb/multi",
        "v1",
        &["linux/amd64", "linux/arm64"],
        IndexKind::OciIndex,
        "m",
    );
    let repo = repo();

    let p = Project::new(&config(
        &[(&reg.reference("wb/arm:nope"), "linux/amd64")],
        &repo,
    ))
    .name(&reg.addr, "REGISTRY");
    let out = p.run(&["lock"]);
    insta::assert_snapshot!(p.snapshot(&out), @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: image `[REGISTRY]/wb/arm:nope` (linux/amd64): not found in registry [REGISTRY]
      --> wheelbuild.toml:10:7
       |
    10 | ref = "[REGISTRY]/wb/arm:nope"
       |       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: check that the tag exists (`skopeo list-tags docker://[REGISTRY]/wb/arm`) and that the config's image template expands to it
    "#);

    let p = Project::new(&config(&[(&arm.reference, "linux/amd64")], &repo));
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is for linux/arm64, not linux/amd64"),
        "{}",
        stderr(&out)
    );

    let p = Project::new(&config(&[(&multi.reference, "linux/s390x")], &repo));
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "no manifest for platform linux/s390x (the index has: linux/amd64, linux/arm64)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!p.file("wheelbuild.lock").exists());
}

/// Content pushed once through a no-auth registry, read through an auth one.
fn auth_setup(auth: Auth) -> (Registry, Registry, images::Pushed) {
    let plain = Registry::start(Auth::None);
    let secured = Registry::start_with_storage(plain.storage(), auth);
    let img = push_single(
        &plain,
        "wb/private",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "secret",
    );
    (plain, secured, img)
}

fn auth_roundtrip(auth: Auth) {
    let (_plain, reg, img) = auth_setup(auth.clone());
    let repo = repo();
    let reference = img.reference_on(&reg);
    let p =
        Project::new(&config(&[(&reference, "linux/amd64")], &repo)).name(&reg.addr, "REGISTRY");

    // No credentials: refused, with a hint to log in.
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let text = p.filter(&stderr(&out));
    assert!(text.contains("error: image `[REGISTRY]/wb/private:v1` (linux/amd64): registry [REGISTRY] refused access"), "{text}");
    assert!(
        text.contains("hint: log in (`docker login [REGISTRY]`)"),
        "{text}"
    );

    // Wrong password: refused too.
    let bad = Project::new(&config(&[(&reference, "linux/amd64")], &repo));
    let (user, _) = auth.creds().unwrap();
    let wrong = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{user}:wrong"),
    );
    bad.write(
        ".docker/config.json",
        &json!({"auths": {reg.addr.clone(): {"auth": wrong}}}).to_string(),
    );
    let out = bad.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", bad.snapshot(&out));

    // Credentials from $DOCKER_CONFIG/config.json auths.
    reg.write_docker_config(&p.docker_config_dir());
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(
        lock_of(&p).images[0].manifest_digest,
        reg.skopeo_digest("wb/private:v1")
    );
    assert_eq!(lock_of(&p).images[0].manifest_digest, img.digest);
}

#[test]
fn basic_auth_from_docker_config() {
    require_all(&["docker-registry", "skopeo", "git", "htpasswd"]);
    auth_roundtrip(Auth::basic("alice", "s3cret"));
}

#[test]
fn bearer_token_auth_from_docker_config() {
    require_all(&["docker-registry", "skopeo", "git", "openssl"]);
    auth_roundtrip(Auth::token("bob", "t0ken"));
}

#[test]
fn credential_helper_supplies_the_token_flow() {
    require_all(&["docker-registry", "skopeo", "git", "openssl"]);
    let (_plain, reg, img) = auth_setup(Auth::token("carol", "h3lper"));
    let repo = repo();
    let p = Project::new(&config(&[(&img.reference_on(&reg), "linux/amd64")], &repo));
    let helper = reg.write_docker_config_with_cred_helper(&p.docker_config_dir());
    let out = p
        .cmd()
        .env("PATH", helper.path_env())
        .arg("lock")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(
        lock_of(&p).images[0].manifest_digest,
        reg.skopeo_digest("wb/private:v1")
    );
    assert!(!helper.invocations().is_empty(), "the helper was asked");
    assert!(
        reg.token_requests()
            .iter()
            .any(|r| r.basic_auth() == Some(("carol".into(), "h3lper".into()))),
        "a token was issued for the helper's credentials"
    );
}

/// Regression: an identity token (what `docker login` stores for Azure ACR and other token
/// logins) was dropped with a warning, and the image asked for anonymously: refused.
#[test]
fn an_identity_token_is_exchanged_for_an_access_token_not_dropped() {
    require_all(&["docker-registry", "skopeo", "git", "openssl"]);
    let (_plain, reg, img) = auth_setup(Auth::token("erin", "n0t-used"));
    let repo = repo();
    let p = Project::new(&config(&[(&img.reference_on(&reg), "linux/amd64")], &repo));
    reg.write_docker_config_with_identity_token(&p.docker_config_dir());
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(
        lock_of(&p).images[0].manifest_digest,
        reg.skopeo_digest("wb/private:v1")
    );
    // The OAuth2 refresh_token grant, as the Docker CLI sends it: once for the repository.
    let grants = reg.refresh_grants();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let grant = &grants[0];
    assert_eq!(grant["refresh_token"], reg.identity_token());
    assert_eq!(grant["service"], support::registry::TOKEN_SERVICE);
    assert_eq!(grant["scope"], "repository:wb/private:pull");
    assert_eq!(grant["client_id"], "wheelbuild");

    // A token the server no longer takes is refused, with the way out.
    let stale = Project::new(&config(&[(&img.reference_on(&reg), "linux/amd64")], &repo))
        .name(&reg.addr, "REGISTRY");
    stale.write(
        ".docker/config.json",
        &json!({"auths": {reg.addr.clone(): {"identitytoken": "expired"}}}).to_string(),
    );
    let out = stale.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", stale.snapshot(&out));
    let text = stale.filter(&stderr(&out));
    assert!(
        text.contains("registry [REGISTRY] refused access (token server http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("refused the identity token (HTTP 400 Bad Request"),
        "{text}"
    );
    assert!(
        text.contains("hint: log in (`docker login [REGISTRY]`)"),
        "{text}"
    );
}

#[test]
fn creds_store_supplies_basic_credentials() {
    require_all(&["docker-registry", "skopeo", "git", "htpasswd"]);
    let (_plain, reg, img) = auth_setup(Auth::basic("dave", "st0re"));
    let repo = repo();
    let p = Project::new(&config(&[(&img.reference_on(&reg), "linux/amd64")], &repo));
    let helper = reg.write_docker_config_with_cred_helper(&p.docker_config_dir());
    // The same helper, as the default store for every registry instead of a per-host entry.
    p.write(
        ".docker/config.json",
        &json!({"credsStore": "wbtest"}).to_string(),
    );
    let out = p
        .cmd()
        .env("PATH", helper.path_env())
        .arg("lock")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(
        lock_of(&p).images[0].manifest_digest,
        reg.skopeo_digest("wb/private:v1")
    );
    assert!(
        helper.invocations().iter().any(|i| i.contains(&reg.addr)),
        "{:?}",
        helper.invocations()
    );
}

/// A non-loopback address of this machine, if it has one.
fn non_loopback_ipv4() -> Option<String> {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
}

#[test]
fn plain_http_beyond_loopback_needs_insecure() {
    require_all(&["docker-registry", "skopeo", "git", "hostname"]);
    let Some(ip) = non_loopback_ipv4() else {
        assert!(!support::in_ci(), "CI machines have a non-loopback address");
        eprintln!("SKIP: no non-loopback IPv4 address");
        return;
    };
    let plain = Registry::start(Auth::None);
    let img = push_single(
        &plain,
        "wb/remote",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "remote",
    );
    let remote = Registry::start_on(&ip, plain.storage());
    let repo = repo();
    let reference = img.reference_on(&remote);
    let p =
        Project::new(&config(&[(&reference, "linux/amd64")], &repo)).name(&remote.addr, "REMOTE");

    // Not loopback and not marked insecure: HTTPS only, which a plain-HTTP registry fails.
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let text = p.filter(&stderr(&out));
    assert!(text.contains("registry [REMOTE] is unavailable"), "{text}");
    assert!(
        text.contains("set `[registries.\"[REMOTE]\"] insecure = true`"),
        "{text}"
    );

    let config_text = format!(
        "{}\n[registries.\"{}\"]\ninsecure = true\n",
        p.read("wheelbuild.toml"),
        remote.addr
    );
    p.write("wheelbuild.toml", &config_text);
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(
        lock_of(&p).images[0].manifest_digest,
        remote.skopeo_digest("wb/remote:v1")
    );
    let out = p.run(&["audit", "--offline", "--allow", "mutable-ref"]);
    assert_eq!(out.status.code(), Some(11));
    assert!(
        p.filter(&String::from_utf8_lossy(&out.stdout))
            .contains("[insecure-registry] [REMOTE]: reached over plain HTTP")
    );
}

// ---- faults, from an in-process fake registry ----------------------------------------

/// A minimal image: (manifest bytes, config bytes).
fn fake_image(arch: &str) -> (Vec<u8>, Vec<u8>) {
    let config =
        json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
            .to_string()
            .into_bytes();
    let layer = sha256_digest(b"layer");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": images::OCI_MANIFEST,
        "config": {"mediaType": images::OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": images::OCI_LAYER_GZIP, "digest": layer, "size": 5}]
    })
    .to_string()
    .into_bytes();
    (manifest, config)
}

/// A fake registry serving `wb/app:v1`; `manifest` decides each manifest response.
fn fake_registry(
    manifest: impl Fn(usize, &[u8]) -> Response + Send + Sync + 'static,
) -> FakeServer {
    let (m, c) = fake_image("amd64");
    let count = AtomicUsize::new(0);
    FakeServer::start(move |req: &Request| {
        let path = req.path_only();
        if path == "/v2/" {
            Response::ok().body("{}")
        } else if path.contains("/manifests/") {
            manifest(count.fetch_add(1, Ordering::SeqCst), &m)
        } else if path.contains("/blobs/") {
            Response::ok()
                .header("Docker-Content-Digest", &sha256_digest(&c))
                .body(c.clone())
        } else {
            Response::new(404)
        }
    })
}

fn manifest_requests(f: &FakeServer) -> usize {
    f.requests()
        .iter()
        .filter(|r| r.path_only().contains("/manifests/"))
        .count()
}

fn fake_project(f: &FakeServer) -> Project {
    let repo = repo();
    Project::new(&config(
        &[(&format!("{}/wb/app:v1", f.addr()), "linux/amd64")],
        &repo,
    ))
    .name(f.addr(), "FAKE")
    .hold(repo)
}

#[test]
fn rate_limited_twice_then_fine_is_retried() {
    support::require("git");
    let f = fake_registry(|n, m| {
        if n < 2 {
            Response::new(429).body("slow down")
        } else {
            Response::manifest(images::OCI_MANIFEST, m)
        }
    });
    let p = fake_project(&f);
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(manifest_requests(&f), 3);
    let (m, _) = fake_image("amd64");
    assert_eq!(lock_of(&p).images[0].manifest_digest, sha256_digest(&m));
}

#[test]
fn always_503_gives_up_after_bounded_retries() {
    support::require("git");
    let f = fake_registry(|_, _| Response::new(503).body("down for maintenance"));
    let p = fake_project(&f);
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        p.filter(&stderr(&out))
            .contains("registry [FAKE] is unavailable: HTTP 503: down for maintenance")
    );
    assert_eq!(manifest_requests(&f), 4, "4 attempts, then give up");
}

#[test]
fn unauthorized_is_not_retried() {
    support::require("git");
    let f = fake_registry(|_, _| Response::new(401).body("{}"));
    let p = fake_project(&f);
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert_eq!(manifest_requests(&f), 1);
}

#[test]
fn body_digest_mismatch_is_refused() {
    support::require("git");
    let f = fake_registry(|_, m| {
        Response::manifest(images::OCI_MANIFEST, m)
            .without_header("Docker-Content-Digest")
            .header("Docker-Content-Digest", &sha256_digest(b"something else"))
    });
    let p = fake_project(&f);
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let text = stderr(&out);
    assert!(
        text.contains("digest mismatch") && text.contains("refusing to lock it"),
        "{text}"
    );
    assert!(!p.file("wheelbuild.lock").exists());

    // The same when the config pins a digest the served bytes do not hash to.
    let f = fake_registry(|_, m| {
        Response::manifest(images::OCI_MANIFEST, m).without_header("Docker-Content-Digest")
    });
    let repo = repo();
    let pinned = format!("{}/wb/app@{}", f.addr(), sha256_digest(b"not the manifest"));
    let p = Project::new(&config(&[(&pinned, "linux/amd64")], &repo));
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(stderr(&out).contains("digest mismatch"), "{}", stderr(&out));
}

#[test]
fn resolutions_run_concurrently() {
    support::require("git");
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (m, c) = fake_image("amd64");
    let f = {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        FakeServer::start(move |req: &Request| {
            let path = req.path_only();
            if path.contains("/manifests/") {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Response::manifest(images::OCI_MANIFEST, &m)
            } else if path.contains("/blobs/") {
                Response::ok().body(c.clone())
            } else {
                Response::ok().body("{}")
            }
        })
    };
    let repo = repo();
    let refs: Vec<String> = (0..8)
        .map(|i| format!("{}/wb/app{i}:v1", f.addr()))
        .collect();
    let inputs: Vec<(&str, &str)> = refs.iter().map(|r| (r.as_str(), "linux/amd64")).collect();
    let p = Project::new(&config(&inputs, &repo));
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(lock_of(&p).images.len(), 8);
    assert!(
        peak.load(Ordering::SeqCst) >= 4,
        "peak concurrency {}",
        peak.load(Ordering::SeqCst)
    );
}

#[test]
fn sigkill_during_lock_leaves_the_old_lock_intact() {
    support::require("git");
    let hang = Arc::new(AtomicBool::new(false));
    let f = {
        let hang = hang.clone();
        fake_registry(move |_, m| {
            if hang.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(20));
            }
            Response::manifest(images::OCI_MANIFEST, m)
        })
    };
    let p = fake_project(&f);
    assert!(p.run(&["lock"]).status.success());
    let before = std::fs::read(p.file("wheelbuild.lock")).unwrap();

    hang.store(true, Ordering::SeqCst);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wheelbuild"))
        .args(["lock", "--update-all"])
        .current_dir(p.path())
        .env("DOCKER_CONFIG", p.docker_config_dir())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = support::wait_until(Duration::from_secs(10), || {
        (manifest_requests(&f) >= 2).then_some(())
    });
    assert!(seen.is_some(), "the re-resolution reached the registry");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(std::fs::read(p.file("wheelbuild.lock")).unwrap(), before);
    let strays: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(strays.is_empty(), "no temp files: {strays:?}");
    hang.store(false, Ordering::SeqCst);
    // And a later lock still works.
    assert!(p.run(&["lock", "--update-all"]).status.success());
}

// ---- bounded reads: size and time of an answer ----------------------------------------

#[test]
fn a_2gib_manifest_is_refused_without_reading_it() {
    support::require("git");
    // Announced up front, or streamed without a length: refused at the 4 MiB limit either
    // way, not retried, long before the server could send it all.
    for announced in [Some(2u64 << 30), None] {
        let sent = Arc::new(AtomicUsize::new(0));
        let f = {
            let sent = sent.clone();
            fake_registry(move |_, _| {
                Response::ok()
                    .header("Content-Type", images::OCI_MANIFEST)
                    .delivery(Delivery::Flood {
                        announced,
                        at_most: 256 << 20,
                        sent: sent.clone(),
                    })
            })
        };
        let p = fake_project(&f);
        let out = p.run_within(&["lock"], HANG);
        assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
        let detail = match announced {
            Some(n) => format!("Content-Length: {n}"),
            None => format!("more than {} bytes received", 4 << 20),
        };
        let text = p.filter(&stderr(&out));
        assert!(
            text.contains(&format!(
                "registry [FAKE] sent manifest wb/app:v1 over the 4 MiB limit ({detail}); refusing it"
            )),
            "{text}"
        );
        assert_eq!(manifest_requests(&f), 1, "not retried");
        let sent = sent.load(Ordering::SeqCst);
        assert!(sent < 32 << 20, "the server got {sent} bytes out");
        assert!(!p.file("wheelbuild.lock").exists());
    }
}

/// Regression: a registry that trickles its answer (a byte a second: every read succeeds,
/// so only a deadline on the whole request ends it) held `lock` for 4 attempts of the
/// request timeout each (242 s with the default 60 s): the attempts of an input now share
/// one deadline, twice the request timeout.
#[test]
fn a_trickling_registry_holds_lock_no_longer_than_twice_the_request_timeout() {
    support::require("git");
    let f = fake_registry(|_, m| {
        Response::manifest(images::OCI_MANIFEST, m)
            .delivery(Delivery::Trickle(Duration::from_secs(1)))
    });
    let p = fake_project(&f);
    let config = format!(
        "{}\n[network]\nrequest-timeout = 2\n",
        p.read("wheelbuild.toml")
    );
    p.write("wheelbuild.toml", &config);
    let started = std::time::Instant::now();
    let out = p.run_within(&["lock"], HANG);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        took < Duration::from_secs(6),
        "lock took {took:?}, the deadline is 4 s"
    );
    let text = p.filter(&stderr(&out));
    assert!(
        text.contains(
            "error: image `[FAKE]/wb/app:v1` (linux/amd64): registry [FAKE] gave no complete answer for manifest wb/app:v1 within 4 s (twice `[network] request-timeout`; 2 attempt(s))"
        ),
        "{text}"
    );
    assert!(text.contains("raise `[network] request-timeout`"), "{text}");
    assert_eq!(manifest_requests(&f), 2, "retried within the deadline");
    assert!(!p.file("wheelbuild.lock").exists());
}

#[test]
fn a_silent_registry_prints_progress_then_gives_up() {
    support::require("git");
    let f = fake_registry(|_, _| Response::ok().delivery(Delivery::Silent));
    let p = fake_project(&f);
    let out = p
        .cmd()
        .env("WHEELBUILD_REQUEST_TIMEOUT", "6")
        .arg("lock")
        .timeout(HANG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let text = p.filter(&stderr(&out));
    // What it waits for, and when it gives up on the input, whichever attempt is on.
    for line in [
        "     Waiting for manifest wb/app:v1 from [FAKE] (attempt 1): no complete answer for [TIME], giving up at [TIME]\n",
        "     Waiting for manifest wb/app:v1 from [FAKE] (attempt 2): no complete answer for [TIME], giving up at [TIME]\n",
    ] {
        assert!(text.contains(line), "{text}");
    }
    assert!(
        text.contains("registry [FAKE] gave no complete answer for manifest wb/app:v1 within 12 s"),
        "{text}"
    );
    assert_eq!(manifest_requests(&f), 2);
}
