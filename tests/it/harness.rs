//! Self-tests of the test harness (`support`) against the real parts:
//! docker-registry, skopeo, git, git daemon, and the in-process fake server.

use crate::support::test;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::process::{Command, Stdio};

use crate::support::fake::{FakeServer, Response, scripted};
use crate::support::git::{GitDaemon, GitRepo, ls_remote};
use crate::support::images::{
    self, DOCKER_LIST, DOCKER_MANIFEST, IndexKind, ManifestKind, OCI_INDEX, OCI_MANIFEST,
    push_index, push_single, retag, sha256_digest,
};
use crate::support::registry::{Auth, Registry, TOKEN_SERVICE, parse_challenge};
use crate::support::{self, require, require_all};

fn port_closed(addr: &str) -> bool {
    TcpStream::connect(addr).is_err()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// Regression (issue 18): a test whose tool is missing printed a bare `ok`. Run as a child
/// of itself (this test binary, filtered to this test), it is reported as skipped with what
/// it needs, counted in a closing line, and is a failure under `CI=true`.
#[test]
fn a_missing_tool_is_reported_as_skipped_never_ok() {
    let missing = "wbtest-no-such-tool-4711";
    if std::env::var_os("WB_SKIP_PROBE").is_some() {
        require(missing);
        unreachable!("require returns only when the tool is there");
    }
    let me = "harness::a_missing_tool_is_reported_as_skipped_never_ok";
    let probe = |ci: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", me, "--test-threads", "1"])
            .env("WB_SKIP_PROBE", "1")
            .env("CI", ci)
            .output()
            .unwrap()
    };
    let local = probe("false");
    let out = String::from_utf8_lossy(&local.stdout);
    assert!(local.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "test {me} ... ignored, skipped: needs `{missing}` on PATH"
        )),
        "{out}"
    );
    assert!(!out.contains(&format!("test {me} ... ok")), "{out}");
    assert!(
        out.contains("1 tests skipped, not run (each fails under CI=true):"),
        "{out}"
    );
    assert!(
        out.contains(&format!("  1 × needs `{missing}` on PATH")),
        "{out}"
    );

    let ci = probe("true");
    let out = String::from_utf8_lossy(&ci.stdout);
    assert_eq!(ci.status.code(), Some(101), "{out}");
    assert!(out.contains(&format!("test {me} ... FAILED")), "{out}");
    assert!(
        out.contains("CI=true, so this is a failure, not a skip"),
        "{out}"
    );
    assert!(!out.contains("tests skipped"), "{out}");
}

#[test]
fn plain_registry_single_manifests_match_skopeo() {
    require_all(&["docker-registry", "skopeo"]);
    let reg = Registry::start(Auth::None);
    let oci = push_single(
        &reg,
        "wbtest/single",
        "oci",
        "linux/amd64",
        ManifestKind::Oci,
        "a",
    );
    let docker = push_single(
        &reg,
        "wbtest/single",
        "docker",
        "linux/arm64",
        ManifestKind::Docker,
        "a",
    );
    let other = push_single(
        &reg,
        "wbtest/single",
        "oci-b",
        "linux/amd64",
        ManifestKind::Oci,
        "b",
    );
    let again = push_single(
        &reg,
        "wbtest/single",
        "oci-again",
        "linux/amd64",
        ManifestKind::Oci,
        "a",
    );

    assert_eq!(oci.reference, format!("{}/wbtest/single:oci", reg.addr));
    assert_eq!(oci.media_type, OCI_MANIFEST);
    assert_eq!(docker.media_type, DOCKER_MANIFEST);
    assert_ne!(
        oci.digest, other.digest,
        "different seeds give different digests"
    );
    assert_eq!(oci.digest, again.digest, "same inputs give the same digest");
    assert_eq!(
        oci.platforms,
        BTreeMap::from([("linux/amd64".to_owned(), oci.digest.clone())])
    );

    for p in [&oci, &docker, &other] {
        assert_eq!(
            reg.skopeo_digest(&p.repo_tag()),
            p.digest,
            "skopeo .Digest of {}",
            p.reference
        );
        assert_eq!(reg.skopeo_raw_digest(&p.repo_tag()), p.digest);
        let raw = reg.skopeo_raw(&p.repo_tag());
        assert_eq!(sha256_digest(&raw), p.digest);
        assert_eq!(json(&raw)["mediaType"], p.media_type.as_str());
    }
    // The config blob carries the platform: skopeo reads it.
    let inspect = json(&reg.skopeo_inspect(&["--override-arch", "arm64"], &[], &docker.repo_tag()));
    assert_eq!(inspect["Architecture"], "arm64");
    assert_eq!(inspect["Os"], "linux");
    // Pinned by digest works too.
    let pinned = docker.pinned();
    let by_digest = pinned.strip_prefix(&format!("{}/", reg.addr)).unwrap();
    assert_eq!(reg.skopeo_raw_digest(by_digest), docker.digest);
}

#[test]
fn plain_registry_indexes_match_skopeo() {
    require_all(&["docker-registry", "skopeo"]);
    let reg = Registry::start(Auth::None);
    let platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];
    let oci = push_index(
        &reg,
        "wbtest/multi",
        "oci",
        &platforms,
        IndexKind::OciIndex,
        "s1",
    );
    let list = push_index(
        &reg,
        "wbtest/multi",
        "list",
        &platforms[..2],
        IndexKind::DockerList,
        "s1",
    );
    assert_eq!(oci.media_type, OCI_INDEX);
    assert_eq!(list.media_type, DOCKER_LIST);
    assert_eq!(oci.platforms.len(), 3);
    assert_eq!(list.platforms.len(), 2);

    for p in [&oci, &list] {
        // skopeo's `.Digest` of a multi-platform tag is the index's own digest.
        let d = reg.skopeo_digest(&p.repo_tag());
        assert_eq!(d, p.digest, "skopeo .Digest of index {}", p.reference);
        assert!(
            !p.platforms.values().any(|m| *m == d),
            "index digest differs from platform digests"
        );
        assert_eq!(reg.skopeo_raw_digest(&p.repo_tag()), p.digest);
        assert_eq!(
            json(&reg.skopeo_raw(&p.repo_tag()))["mediaType"],
            p.media_type.as_str()
        );
        for (platform, digest) in &p.platforms {
            let (os, rest) = platform.split_once('/').unwrap();
            assert_eq!(
                &reg.skopeo_platform_digest(&p.repo_tag(), os, rest),
                digest,
                "{platform} of {}",
                p.reference
            );
        }
    }
    // --override-* picks another platform image but `.Digest` stays the index digest.
    let d = reg.skopeo_inspect(
        &["--override-arch", "arm64"],
        &["--format", "{{.Digest}}"],
        &oci.repo_tag(),
    );
    assert_eq!(String::from_utf8(d).unwrap().trim(), oci.digest);
    // Same seed, same platforms: OCI and Docker platform manifests still differ (media types).
    assert_ne!(oci.platforms["linux/amd64"], list.platforms["linux/amd64"]);
}

#[test]
fn retag_moves_a_tag() {
    require_all(&["docker-registry", "skopeo"]);
    let reg = Registry::start(Auth::None);
    let v1 = push_single(
        &reg,
        "wbtest/moving",
        "stable",
        "linux/amd64",
        ManifestKind::Oci,
        "v1",
    );
    let v2 = push_index(
        &reg,
        "wbtest/moving",
        "next",
        &["linux/amd64", "linux/arm64"],
        IndexKind::OciIndex,
        "v2",
    );
    assert_eq!(reg.skopeo_digest("wbtest/moving:stable"), v1.digest);
    assert_eq!(retag(&reg, "wbtest/moving", "next", "stable"), v2.digest);
    assert_eq!(reg.skopeo_digest("wbtest/moving:stable"), v2.digest);
    let (mt, _, d) = images::get_manifest(&reg, "wbtest/moving", "stable");
    assert_eq!((mt.as_str(), d.as_str()), (OCI_INDEX, v2.digest.as_str()));
}

#[test]
fn basic_auth_registry_shares_storage() {
    require_all(&["docker-registry", "skopeo", "htpasswd"]);
    let storage = support::tempdir("shared-storage-");
    let plain = Registry::start_with_storage(storage.path(), Auth::None);
    let basic = Registry::start_with_storage(storage.path(), Auth::basic("alice", "s3cret"));
    assert_ne!(plain.addr, basic.addr);
    let img = push_index(
        &plain,
        "wbtest/private",
        "v1",
        &["linux/amd64", "linux/arm64"],
        IndexKind::DockerList,
        "p",
    );

    let r = images::http("GET", &format!("{}/v2/", basic.url()), &[], None);
    assert_eq!(r.status, 401);
    let (scheme, params) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(scheme, "Basic");
    assert_eq!(params["realm"], "wbtest-basic-realm");

    assert_eq!(basic.skopeo_digest(&img.repo_tag()), img.digest);
    assert_eq!(
        basic.skopeo_platform_digest(&img.repo_tag(), "linux", "arm64"),
        img.platforms["linux/arm64"]
    );
    let (_, _, d) = images::get_manifest(&basic, "wbtest/private", "v1");
    assert_eq!(d, img.digest);

    let anon = basic.try_skopeo_inspect(&[], &["--raw"], &img.repo_tag(), None);
    assert!(anon.is_err(), "anonymous access must fail: {anon:?}");
    let wrong =
        basic.try_skopeo_inspect(&[], &["--raw"], &img.repo_tag(), Some(("alice", "wrong")));
    assert!(wrong.is_err(), "wrong password must fail: {wrong:?}");

    // A tag moved through the plain registry is seen through the auth one.
    let moved = push_single(
        &plain,
        "wbtest/private",
        "v1",
        "linux/amd64",
        ManifestKind::Oci,
        "moved",
    );
    assert_eq!(basic.skopeo_digest(&img.repo_tag()), moved.digest);
}

#[test]
fn token_auth_registry_shares_storage() {
    require_all(&["docker-registry", "skopeo", "openssl"]);
    let storage = support::tempdir("shared-storage-");
    let plain = Registry::start_with_storage(storage.path(), Auth::None);
    let token = Registry::start_with_storage(storage.path(), Auth::token("bob", "t0ken-pass"));
    let img = push_index(
        &plain,
        "wbtest/tok",
        "v1",
        &["linux/amd64", "linux/arm64"],
        IndexKind::OciIndex,
        "t",
    );

    let r = images::http("GET", &format!("{}/v2/", token.url()), &[], None);
    assert_eq!(r.status, 401);
    let (scheme, params) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(scheme, "Bearer");
    assert_eq!(Some(&params["realm"]), token.token_realm().as_ref());
    assert_eq!(params["service"], TOKEN_SERVICE);

    // The issuer itself refuses anonymous and wrong credentials.
    let realm = token.token_realm().unwrap();
    let q = format!("{realm}?service={TOKEN_SERVICE}&scope=repository:wbtest/tok:pull");
    assert_eq!(images::http("GET", &q, &[], None).status, 401);
    assert_eq!(
        images::http("GET", &q, &[("Authorization", "Basic Ym9iOm5vcGU=")], None).status,
        401
    ); // bob:nope

    assert_eq!(token.skopeo_digest(&img.repo_tag()), img.digest);
    assert_eq!(
        token.skopeo_platform_digest(&img.repo_tag(), "linux", "arm64"),
        img.platforms["linux/arm64"]
    );
    let reqs = token.token_requests();
    assert!(
        reqs.iter().any(
            |r| r.basic_auth() == Some(("bob".into(), "t0ken-pass".into()))
                && r.query_all("scope")
                    .iter()
                    .any(|s| s == "repository:wbtest/tok:pull")
                && r.query("service").as_deref() == Some(TOKEN_SERVICE)
        ),
        "skopeo asked the issuer for a pull token: {reqs:#?}"
    );

    let anon = token.try_skopeo_inspect(&[], &["--raw"], &img.repo_tag(), None);
    assert!(anon.is_err(), "anonymous access must fail: {anon:?}");
    let wrong = token.try_skopeo_inspect(&[], &["--raw"], &img.repo_tag(), Some(("bob", "wrong")));
    assert!(wrong.is_err(), "wrong password must fail: {wrong:?}");
    // Good credentials, missing repository: "not found", not an auth error.
    let missing = token.try_skopeo_inspect(
        &[],
        &["--raw"],
        "wbtest/missing:v1",
        Some(("bob", "t0ken-pass")),
    );
    assert!(missing.is_err_and(|e| e.contains("manifest unknown") && !e.contains("unauthorized")));
}

#[test]
fn token_auth_registry_checks_signature_and_scope() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    require_all(&["docker-registry", "openssl"]);
    let storage = support::tempdir("shared-storage-");
    let plain = Registry::start_with_storage(storage.path(), Auth::None);
    let token = Registry::start_with_storage(storage.path(), Auth::token("bob", "pw"));
    let img = push_single(
        &plain,
        "wbtest/a",
        "v1",
        "linux/amd64",
        ManifestKind::Docker,
        "sig",
    );
    push_single(
        &plain,
        "wbtest/b",
        "v1",
        "linux/amd64",
        ManifestKind::Docker,
        "sig",
    );

    let realm = token.token_realm().unwrap();
    let get_token = |scope: &str| {
        let url = format!("{realm}?service={TOKEN_SERVICE}&scope={scope}");
        let r = images::http("GET", &url, &[("Authorization", "Basic Ym9iOnB3")], None); // bob:pw
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let body = json(&r.body);
        assert_eq!(body["token"], body["access_token"]);
        assert_eq!(body["expires_in"], 300);
        body["token"].as_str().unwrap().to_owned()
    };
    let manifest = |repo: &str, jwt: &str| {
        let url = format!("{}/v2/{repo}/manifests/v1", token.url());
        let bearer = format!("Bearer {jwt}");
        images::http(
            "GET",
            &url,
            &[("Accept", DOCKER_MANIFEST), ("Authorization", &bearer)],
            None,
        )
    };
    let jwt = get_token("repository:wbtest/a:pull");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = json(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap());
    assert_eq!(
        (
            header["alg"].as_str(),
            header["x5c"].as_array().map(Vec::len)
        ),
        (Some("RS256"), Some(1))
    );
    let claims = json(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap());
    assert_eq!(claims["aud"], TOKEN_SERVICE);
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "wbtest/a", "actions": ["pull"]}])
    );

    let ok = manifest("wbtest/a", &jwt);
    assert_eq!(
        ok.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&ok.body),
        token.log_tail(10)
    );
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(img.digest.as_str())
    );
    // The token's scope is enforced: no access to another repository.
    assert_eq!(manifest("wbtest/b", &jwt).status, 401);
    // Push is never granted.
    let push = get_token("repository:wbtest/a:pull,push");
    let claims = json(
        &URL_SAFE_NO_PAD
            .decode(push.split('.').nth(1).unwrap())
            .unwrap(),
    );
    assert_eq!(claims["access"][0]["actions"], serde_json::json!(["pull"]));
    // The signature is checked: widen the access claim, keep the signature.
    let mut forged_claims = claims.clone();
    forged_claims["access"][0]["name"] = "wbtest/b".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    assert_eq!(manifest("wbtest/b", &forged).status, 401);
    assert_eq!(manifest("wbtest/a", "not-a-jwt").status, 401);
}

#[test]
fn docker_config_and_cred_helper() {
    require_all(&["docker-registry", "htpasswd", "sh"]);
    let reg = Registry::start(Auth::basic("carol", "pa55"));
    let dir = support::tempdir("docker-config-");
    let path = reg.write_docker_config(dir.path());
    let cfg = json(&std::fs::read(&path).unwrap());
    assert_eq!(cfg["auths"][&reg.addr]["auth"], "Y2Fyb2w6cGE1NQ=="); // base64("carol:pa55")

    let helper_dir = support::tempdir("cred-helper-");
    let helper = reg.write_docker_config_with_cred_helper(helper_dir.path());
    let cfg = json(&std::fs::read(helper.config_dir.join("config.json")).unwrap());
    assert_eq!(cfg["credHelpers"][&reg.addr], "wbtest");
    let ask = |server: &str| {
        let mut child = Command::new("docker-credential-wbtest")
            .arg("get")
            .env("PATH", helper.path_env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("helper on PATH via path_env()");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(server.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = ask(&reg.addr);
    assert!(out.status.success());
    let answer = json(&out.stdout);
    assert_eq!(answer["Username"], "carol");
    assert_eq!(answer["Secret"], "pa55");
    assert_eq!(answer["ServerURL"], reg.addr.as_str());
    assert!(
        ask(&format!("http://{}/", reg.addr)).status.success(),
        "URL form of the server"
    );
    let out = ask("127.0.0.1:1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("credentials not found"));
    assert_eq!(helper.invocations().len(), 3);
    assert!(helper.invocations()[0].starts_with(&format!("get {}", reg.addr)));
}

#[test]
fn git_repo_refs_match_ls_remote() {
    require("git");
    let build = || {
        let repo = GitRepo::new();
        let c1 = repo.commit("README.md", "one\n", "first");
        repo.tag("v1.0.0");
        repo.branch("release");
        let c2 = repo.commit("src/lib.py", "x = 2\n", "second");
        let tag_obj = repo.annotated_tag("v2.0.0", "release 2");
        repo.checkout("release");
        let c3 = repo.commit("README.md", "release fix\n", "fix");
        repo.checkout("main");
        (repo, c1, c2, c3, tag_obj)
    };
    let (repo, c1, c2, c3, tag_obj) = build();
    assert_eq!(c1.len(), 40);
    assert_eq!(repo.rev_parse("v1.0.0"), c1);
    assert_eq!(
        repo.rev_parse("v2.0.0"),
        c2,
        "annotated tag peels to its commit"
    );
    assert_ne!(tag_obj, c2, "annotated tag has its own object");
    assert_eq!(repo.rev_parse("main"), c2);
    assert_eq!(repo.rev_parse("release"), c3);
    assert_eq!(repo.rev_parse("HEAD"), c2, "checkout(main) switched back");

    let refs = ls_remote(&repo.file_url()).unwrap();
    assert_eq!(refs["refs/heads/main"], c2);
    assert_eq!(refs["refs/heads/release"], c3);
    assert_eq!(refs["refs/tags/v1.0.0"], c1);
    assert_eq!(refs["refs/tags/v2.0.0"], tag_obj);
    assert_eq!(refs["refs/tags/v2.0.0^{}"], c2);
    assert!(
        !refs.contains_key("refs/tags/v1.0.0^{}"),
        "lightweight tags are not peeled"
    );

    // Deterministic dates: the same steps give the same SHAs.
    let (_again, a1, a2, a3, atag) = build();
    assert_eq!((&a1, &a2, &a3, &atag), (&c1, &c2, &c3, &tag_obj));
    // Dates step per commit/annotated tag only: other commands do not shift SHAs.
    let solo = GitRepo::new();
    solo.git(&["status", "--short"]);
    assert_eq!(solo.commit("README.md", "one\n", "first"), c1);
}

#[test]
fn git_daemon_serves_repos() {
    require("git");
    let base = support::tempdir("git-daemon-base-");
    let repo = GitRepo::new_in(base.path(), "proj");
    let sha = repo.commit("setup.py", "print('hi')\n", "init");
    repo.tag("v0.1");
    let daemon = GitDaemon::start(base.path());
    let addr = format!("127.0.0.1:{}", daemon.port);
    assert_eq!(daemon.url("proj"), format!("git://{addr}/proj"));
    let over_daemon =
        ls_remote(&daemon.url("proj")).unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_tail(20)));
    assert_eq!(over_daemon, ls_remote(&repo.file_url()).unwrap());
    assert_eq!(over_daemon["refs/tags/v0.1"], sha);
    // A repo created after the daemon started is served as well.
    let late = GitRepo::new_in(base.path(), "late");
    let late_sha = late.commit("a", "b", "c");
    assert_eq!(
        ls_remote(&daemon.url("late")).unwrap()["refs/heads/main"],
        late_sha
    );
    assert!(ls_remote(&daemon.url("nope")).is_err());
    drop(daemon);
    assert!(port_closed(&addr), "git daemon stopped on drop");
}

#[test]
fn registry_stops_on_drop() {
    require("docker-registry");
    let reg = Registry::start(Auth::None);
    let addr = reg.addr.clone();
    assert_eq!(
        support::http_status(&format!("http://{addr}/v2/")),
        Some(200)
    );
    drop(reg);
    assert!(port_closed(&addr), "registry stopped on drop");
    assert_eq!(support::http_status(&format!("http://{addr}/v2/")), None);
}

#[test]
fn fake_server_round_trip() {
    let manifest = br#"{"schemaVersion":2}"#;
    let lying = Response::manifest(OCI_MANIFEST, manifest)
        .without_header("Docker-Content-Digest")
        .header("Docker-Content-Digest", &sha256_digest(b"something else"));
    let server = FakeServer::start(scripted(vec![
        Response::new(429).header("Retry-After", "0"),
        Response::new(429),
        Response::manifest(OCI_MANIFEST, manifest),
        lying,
    ]));
    let url = format!("{}/v2/app/manifests/v1?x=a%3Ab", server.url());
    let r1 = images::http("GET", &url, &[("Accept", OCI_MANIFEST)], None);
    assert_eq!((r1.status, r1.header("retry-after")), (429, Some("0")));
    assert_eq!(images::http("GET", &url, &[], None).status, 429);
    let ok = images::http("GET", &url, &[], None);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, manifest);
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(sha256_digest(manifest).as_str())
    );
    let lie = images::http(
        "PUT",
        &url,
        &[("Content-Type", "text/plain")],
        Some(b"payload"),
    );
    assert_eq!(lie.body, manifest);
    assert_ne!(
        lie.header("docker-content-digest"),
        Some(sha256_digest(manifest).as_str())
    );
    let head = images::http("HEAD", &url, &[], None);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(
        head.header("content-length"),
        Some(manifest.len().to_string().as_str())
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 5);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/v2/app/manifests/v1?x=a%3Ab");
    assert_eq!(reqs[0].path_only(), "/v2/app/manifests/v1");
    assert_eq!(reqs[0].query("x").as_deref(), Some("a:b"));
    assert_eq!(reqs[0].header("accept"), Some(OCI_MANIFEST));
    assert_eq!(
        (reqs[3].method.as_str(), reqs[3].body.as_slice()),
        ("PUT", &b"payload"[..])
    );
    assert_eq!(reqs[4].method, "HEAD");

    // Always-503 and 401 handlers.
    let down = FakeServer::start(|_| Response::new(503).body("down"));
    for _ in 0..3 {
        assert_eq!(images::http("GET", &down.url(), &[], None).status, 503);
    }
    let auth = FakeServer::start(|req| match req.basic_auth() {
        Some((u, p)) if u == "u" && p == "p" => {
            Response::ok().json(&serde_json::json!({"ok": true}))
        }
        _ => Response::new(401).header("WWW-Authenticate", "Basic realm=\"fake\""),
    });
    assert_eq!(images::http("GET", &auth.url(), &[], None).status, 401);
    let r = images::http("GET", &auth.url(), &[("Authorization", "Basic dTpw")], None);
    assert_eq!((r.status, json(&r.body)["ok"].as_bool()), (200, Some(true)));

    let addr = server.addr().to_owned();
    drop(server);
    assert!(port_closed(&addr), "fake server stopped on drop");
}
