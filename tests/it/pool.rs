//! A pool of engines (`[[engine]]`): the main engine and `support::engine2` (a second
//! dockerd in its own network and mount namespaces, standing in for another machine),
//! scheduled as one; `--engine` restricts a run; an engine that goes away mid-build has
//! its target built again on the other.

use crate::support::test;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::support::engine2::Engine2;
use crate::support::fixtures::{self, BaseImage, ImageKind, example_repo};
use crate::support::git::GitRepo;

fn main_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// `[[engine]]` entries: `main` (this machine's engine, one slot) and `e2` (`e2_jobs`).
fn engines(e2: &Engine2, e2_jobs: usize) -> String {
    format!(
        "\n[[engine]]\nname = \"main\"\nhost = \"{}\"\njobs = 1\n\n[[engine]]\nname = \"e2\"\nhost = \"{}\"\njobs = {e2_jobs}\n",
        main_host(),
        e2.host
    )
}

/// `MAX_JOBS` wheelbuild gives each of `jobs` builds at once on the engine at `host`.
fn max_jobs_on(host: &str, jobs: usize) -> String {
    let out = std::process::Command::new(fixtures::docker_path())
        .args(["info", "--format", "{{.NCPU}} {{.MemTotal}}"])
        .env("DOCKER_HOST", host)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&out.stdout);
    let mut it = info.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    let (cpus, memory) = (it.next().unwrap(), it.next().unwrap());
    wheelbuild::engine::default_parallelism(cpus as usize, memory, Some(jobs))
        .1
        .to_string()
}

fn setup() -> (BaseImage, Engine2, GitRepo) {
    let base = fixtures::base_image(ImageKind::Cpu);
    let engine = Engine2::for_image(&base);
    (base, engine, example_repo("hello-cext"))
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
    let (base, e2, repo) = setup();
    let names = ["a", "b", "c", "d"];
    let report_max_jobs = "build = \"echo FACT max_jobs=$MAX_JOBS; python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \\\"$WHEELBUILD_OUT\\\" .\"";
    // Each engine's builds get MAX_JOBS from its own cores and memory over its own slots.
    let max_jobs = [
        ("main", max_jobs_on(&main_host(), 1)),
        ("e2", max_jobs_on(&e2.host, 2)),
    ];
    let config = |salt: &str| {
        config(
            &base.reference,
            "pool",
            &engines(&e2, 2),
            &names
                .iter()
                .map(|n| cext(&repo, n, &format!("{n}{salt}"), report_max_jobs))
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
        let expected = &max_jobs.iter().find(|(e, _)| *e == engine).unwrap().1;
        assert_eq!(
            &facts(&read_log(&p, &id))["max_jobs"],
            expected,
            "{id} on {engine}"
        );
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
    let (base, e2, repo) = setup();
    // `fast` takes the first engine (`main`), `slow` the other; `slow` waits long enough
    // for its engine to be stopped under it.
    let slow = "build = \"sleep 30; python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \\\"$WHEELBUILD_OUT\\\" .\"";
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "pool-loss",
            &engines(&e2, 1),
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
    let base = fixtures::base_image(ImageKind::Cpu);
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
    let base = fixtures::base_image(ImageKind::Cpu);
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
    let e2 = Engine2::for_image_with_tls(&base, &p.file("certs"));
    let tcp = e2.tcp.clone().unwrap();
    assert!(tcp.starts_with("tcp://10.213."), "{tcp}");
    ok(&p, &["lock"]);
    let engine =
        |dir: &str| format!("\n[[engine]]\nname = \"tls\"\nhost = \"{tcp}\"\ntls = \"{dir}\"\n");
    p.write("wheelbuild.toml", &with(&engine("certs"), "1"));
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &cpu("tlsdemo")), "built");
    assert_eq!(engine_of(&out, &cpu("tlsdemo")), "tls");
    e2.assert_has_image(&base.digest);

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

/// An engine reached over `ssh://` (bollard's ssh transport: the system `ssh` client with
/// key auth, `docker system dial-stdio` on the far side) builds the C extension byte for
/// byte as the main engine does, and `verify` there agrees. A host key other than the one
/// known_hosts holds for it is refused: exit 3 naming the engine, and no ssh process left.
#[test]
fn an_engine_over_ssh_builds_the_same_wheel_and_a_changed_host_key_is_refused() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = example_repo("hello-cext");
    let with = |engines: &str, salt: &str| {
        config(
            &base.reference,
            "pool-ssh",
            engines,
            &[cext(&repo, "sshdemo", salt, "")],
        )
    };
    let id = cpu("sshdemo");
    let here = new_project(&base, &with("", "1"));
    ok(&here, &["lock"]);
    ok(&here, &["build"]);

    let there = new_project(&base, &with("", "1"));
    let e2 = Engine2::for_image_with_ssh(&base, &there.file("ssh"));
    let ssh = e2.ssh.clone().unwrap();
    assert!(ssh.starts_with("ssh://root@10.213."), "{ssh}");
    // The client's ssh config, as ~/.ssh/config would hold it (ssh reads that from the
    // passwd entry, so a test cannot point HOME elsewhere).
    let path = format!(
        "{}:{}",
        there.file("ssh/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ip = ssh.trim_start_matches("ssh://root@").to_string();
    let there = there
        .with_env("PATH", &path)
        .name(&ssh, "SSH")
        .name(&ip, "SSH_IP");
    let engine = format!("\n[[engine]]\nname = \"gpu1\"\nhost = \"{ssh}\"\n");
    there.write("wheelbuild.toml", &with(&engine, "1"));
    ok(&there, &["lock"]);
    assert_eq!(key_of(&there, &id), key_of(&here, &id));
    let out = ok(&there, &["build"]);
    assert_eq!(status_of(&out, &id), "built");
    assert_eq!(engine_of(&out, &id), "gpu1");
    assert_eq!(wheel_sha(&there, &id), wheel_sha(&here, &id));
    e2.assert_has_image(&base.digest);
    let out = ok(&there, &["verify", &id]);
    assert!(stdout(&out).contains("reproducible"), "{}", stdout(&out));
    assert_eq!(
        ssh_processes(&ssh),
        0,
        "ssh left running after wheelbuild exited"
    );

    // Another host key for its address: ssh refuses to connect.
    let other = there.file("other_host_key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    there.write("ssh/known_hosts", &format!("{ip} {}\n", key.join(" ")));
    there.write("wheelbuild.toml", &with(&engine, "2"));
    let out = there.run(&["build"]);
    // ssh's own words, whole, then what to check.
    insta::with_settings!({filters => vec![(r"SHA256:[A-Za-z0-9+/]{43}", "SHA256:[FINGERPRINT]")]}, {
        insta::assert_snapshot!(snap(&there, &out), @r#"
        success: false
        exit_code: 3
        ----- stdout -----

        ----- stderr -----
        error: cannot reach the Docker daemon at gpu1 ([SSH]): Error in the hyper legacy client: client error (Connect): failed to connect to the remote host: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
        @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
        @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
        IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
        Someone could be eavesdropping on you right now (man-in-the-middle attack)!
        It is also possible that a host key has just been changed.
        The fingerprint for the ED25519 key sent by the remote host is
        SHA256:[FINGERPRINT].
        Please contact your system administrator.
        Add correct host key in [PROJECT]/ssh/known_hosts to get rid of this message.
        Offending ED25519 key in [PROJECT]/ssh/known_hosts:1
          remove with:
          ssh-keygen -f "[PROJECT]/ssh/known_hosts" -R "[SSH_IP]"
        Host key for [SSH_IP] has changed and you have requested strict checking.
        Host key verification failed.
          hint: the engine's machine must take `ssh` without a prompt (key auth, or an agent; its host key in known_hosts, as ~/.ssh/config says) and run `docker system dial-stdio`: check with `ssh HOST docker version`
        "#);
    });

    assert_eq!(
        ssh_processes(&ssh),
        0,
        "ssh left running after a refused host key"
    );
}

/// ssh processes connected to `host` (`ssh://user@ip`), by their command lines, once
/// those told to end have had 15 s to do so (a master exits after its last session).
fn ssh_processes(host: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = ssh_processes_now(host);
        if n == 0 || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ssh_processes_now(host: &str) -> usize {
    let ip = host.rsplit('@').next().unwrap_or(host);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmd| {
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.first()
                .is_some_and(|a| a.ends_with(b"/ssh") || *a == b"ssh")
                && args.iter().any(|a| a.ends_with(ip.as_bytes()))
        })
        .count()
}
