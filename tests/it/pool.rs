//! A pool of engines (`[[engine]]`): the main engine and `support::engine2` (a second
//! dockerd in its own network and mount namespaces, standing in for another machine),
//! scheduled as one; `--engine` restricts a run; an engine that goes away mid-build has
//! its target built again on the other.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::support::engine2::Engine2;
use crate::support::fixtures::{self, BaseImage, ImageKind, example_repo};
use crate::support::git::GitRepo;

fn main_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// `[[engine]]` entries: `main` (this machine's engine) and `e2`, one slot each.
fn engines(e2: &Engine2) -> String {
    format!(
        "\n[[engine]]\nname = \"main\"\nhost = \"{}\"\njobs = 1\n\n[[engine]]\nname = \"e2\"\nhost = \"{}\"\njobs = 1\n",
        main_host(),
        e2.host
    )
}

fn setup() -> Option<(BaseImage, Engine2, GitRepo)> {
    let base = fixtures::base_image(ImageKind::Cpu)?;
    let engine = Engine2::for_image(&base)?;
    Some((base, engine, example_repo("hello-cext")))
}

/// The C extension as project `name`, its key told apart by `salt`.
fn cext(repo: &GitRepo, name: &str, salt: &str, more: &str) -> String {
    project(
        name,
        repo,
        &format!("env = {{ WB_TEST_SALT = \"{salt}\" }}\n{more}"),
    )
}

/// The engine column of `id`'s summary row.
fn engine_of(out: &std::process::Output, id: &str) -> String {
    let row = summary_row(out, id);
    // TARGET STATUS TIME ENGINE [(after X)] WHEELS
    row[3..]
        .iter()
        .take_while(|c| !c.starts_with("wheelhouse/"))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_pool_of_two_engines_builds_on_both_and_says_where() {
    let Some((base, e2, repo)) = setup() else {
        return;
    };
    let names = ["a", "b", "c", "d"];
    let config = |salt: &str| {
        config(
            &base.reference,
            "pool",
            &engines(&e2),
            &names
                .iter()
                .map(|n| cext(&repo, n, &format!("{n}{salt}"), ""))
                .collect::<Vec<_>>(),
        )
    };
    let p = new_project(&base, &config("1"));
    ok(&p, &["lock"]);
    let out = ok(&p, &["build"]);
    let mut used = std::collections::BTreeSet::new();
    for n in names {
        let id = cpu(n);
        assert_eq!(status_of(&out, &id), "built");
        let engine = engine_of(&out, &id);
        let rec: Value = record(&p, &key_of(&p, &id));
        assert_eq!(rec["built-on"], engine.as_str(), "{rec:#}");
        used.insert(engine);
    }
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["e2", "main"],
        "both engines build: {}",
        stdout(&out)
    );
    assert!(stdout(&out).starts_with("TARGET"), "{}", stdout(&out));
    assert!(stdout(&out).lines().next().unwrap().contains("ENGINE"));

    // `--engine` restricts a run to the engines named.
    p.write("wheelbuild.toml", &config("2"));
    let out = ok(&p, &["build", "--engine", "e2"]);
    for n in names {
        assert_eq!(engine_of(&out, &cpu(n)), "e2");
    }
    // `verify` builds on the first `[[engine]]`, not on what `DOCKER_HOST` says.
    let out = run_env(
        &p,
        &[("DOCKER_HOST", "unix:///run/wb-no-such-engine.sock")],
        &["verify", &cpu("a")],
    );
    assert!(
        out.status.success() && stdout(&out).contains("reproducible"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    let out = p.run(&["build", "--engine", "e3"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no engine is named `e3`")
            && stderr(&out).contains("the config's engines are `main`, `e2`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_engine_that_goes_away_mid_build_has_its_target_built_on_another() {
    let Some((base, e2, repo)) = setup() else {
        return;
    };
    // `fast` takes the first engine (`main`), `slow` the other; `slow` waits long enough
    // for its engine to be stopped under it.
    let slow = "build = \"sleep 30; python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \\\"$WHEELBUILD_OUT\\\" .\"";
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "pool-loss",
            &engines(&e2),
            &[cext(&repo, "fast", "f", ""), cext(&repo, "slow", "s", slow)],
        ),
    );
    ok(&p, &["lock"]);
    let mut running = spawn(&p, &["build", "--keep-going"], "build");
    // Wait until `slow`'s container runs on e2, then stop e2.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let ps = e2.docker_ok(&["ps", "-q", "--filter", "label=org.wheelbuild"]);
        if !ps.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no build started on e2");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(e2);
    let out = running.wait(Duration::from_secs(600));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(engine_of(&out, &cpu("fast")), "main");
    assert_eq!(engine_of(&out, &cpu("slow")), "main (after e2)");
    assert!(
        stderr(&out).contains(
            "engine `e2` stopped answering during the build; building it again on `main`"
        ),
        "{}",
        stderr(&out)
    );
    let rec: Value = record(&p, &key_of(&p, &cpu("slow")));
    assert_eq!(rec["built-on"], "main");
    assert_no_staging_leftovers(&p);
}

#[test]
fn an_unreachable_engine_fails_the_build_with_exit_3_naming_it() {
    let Some(base) = fixtures::base_image(ImageKind::Cpu) else {
        return;
    };
    let repo = pure_repo("unreach", None);
    let with = |engines: &str| {
        config(
            &base.reference,
            "pool-unreachable",
            engines,
            &[project("unreach", &repo, "")],
        )
    };
    // Locked on the default engine: engines are not part of the lock.
    let p = new_project(&base, &with(""));
    ok(&p, &["lock"]);
    p.write(
        "wheelbuild.toml",
        &with("\n[[engine]]\nname = \"gone\"\nhost = \"unix:///run/wb-no-such-engine.sock\"\n"),
    );
    let out = p.run(&["build"]);
    insta::assert_snapshot!(snap(&p, &out), @"
    success: false
    exit_code: 3
    ----- stdout -----

    ----- stderr -----
    error: cannot reach the Docker daemon at gone (unix:///run/wb-no-such-engine.sock): Socket not found: /run/wb-no-such-engine.sock
      hint: start the daemon (`dockerd`), or point DOCKER_HOST (or the `[[engine]]` entry) at one (unix://, tcp://, ssh://); `build --engine` leaves an engine out of a run
    ");
}

/// An engine reached over `tcp://` with TLS client certificates (`tls = DIR`, as
/// `DOCKER_CERT_PATH` holds them) builds; a client certificate its CA did not sign is
/// refused by the engine, and the build is exit 3 naming it.
#[test]
fn an_engine_over_tcp_with_tls_client_certificates_builds_and_refuses_other_clients() {
    let Some(base) = fixtures::base_image(ImageKind::Cpu) else {
        return;
    };
    let repo = pure_repo("tlsdemo", None);
    let with = |engines: &str, salt: &str| {
        config(
            &base.reference,
            "pool-tls",
            engines,
            &[project(
                "tlsdemo",
                &repo,
                &format!("env = {{ WB_TEST_SALT = \"{salt}\" }}"),
            )],
        )
    };
    let p = new_project(&base, &with("", "1"));
    let Some(e2) = Engine2::for_image_with_tls(&base, &p.file("certs")) else {
        return;
    };
    let tcp = e2.tcp.clone().unwrap();
    assert!(tcp.starts_with("tcp://10.213."), "{tcp}");
    ok(&p, &["lock"]);
    let engine =
        |dir: &str| format!("\n[[engine]]\nname = \"tls\"\nhost = \"{tcp}\"\ntls = \"{dir}\"\n");
    p.write("wheelbuild.toml", &with(&engine("certs"), "1"));
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &cpu("tlsdemo")), "built");
    assert_eq!(engine_of(&out, &cpu("tlsdemo")), "tls");
    let images = e2.docker_ok(&["image", "ls", "--digests", "--format", "{{.Digest}}"]);
    assert!(images.lines().any(|d| d == base.digest), "{images}");

    // A client certificate of another CA: the engine refuses the handshake.
    std::fs::create_dir(p.file("other")).unwrap();
    std::fs::copy(p.file("certs/ca.pem"), p.file("other/ca.pem")).unwrap();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=stranger",
            "-keyout",
        ])
        .arg(p.file("other/key.pem"))
        .arg("-out")
        .arg(p.file("other/cert.pem"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    // Something to build, so that the engine is contacted.
    p.write("wheelbuild.toml", &with(&engine("other"), "2"));
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot reach the Docker daemon at tls ({tcp})")),
        "{}",
        stderr(&out)
    );
}
