//! Side-by-side timings of the remote cache; prints ratios, asserts nothing.
//!
//! `cargo bench --bench remote [-- check hit]` (needs docker-registry and git; `hit` also
//! Docker and the cached CPU base image of `scripts/fixtures.sh`).
//!
//! * `check --remote` over 1000 keys whose signed entries the cache holds vs one `curl`
//!   round trip to the same registry, on loopback and through a TCP proxy on loopback that
//!   delays each direction by 50 ms (goal ≤ 3× one round trip in both): with all 1000 to
//!   build (a fresh runner: every entry's signature is checked) and with 10 to build (the
//!   rest in the local store);
//! * `build` of the C-extension example when the remote has it (pulled, signed, checked)
//!   vs building it (goal ≥ 5× faster).

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{copy_dir, median, run, timed};
use support::git::GitRepo;
use support::images::{ManifestKind, push_single};
use support::registry::{Auth, Registry};

const BIN: &str = env!("CARGO_BIN_EXE_wheelbuild");
const KEYS: usize = 1000;

fn wheelbuild(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .env_remove("WHEELBUILD_REMOTE")
        .arg("-q");
    c
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A TCP proxy on loopback to `target` that holds every chunk `delay` before passing it
/// on, in each direction (latency, not a bandwidth limit). Its address.
fn delaying_proxy(target: String, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            relay(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                delay,
            );
            relay(server, client, delay);
        }
    });
    addr
}

fn relay(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, bytes) in rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn curl_round_trip(addr: &str) -> Duration {
    median(
        (0..15)
            .map(|_| {
                timed(Command::new("curl").args([
                    "-sf",
                    "-o",
                    "/dev/null",
                    &format!("http://{addr}/v2/"),
                ]))
            })
            .collect(),
    )
}

fn check_bench() {
    let reg = Registry::start(Auth::None);
    let base = push_single(
        &reg,
        "wb/base",
        "py3.11",
        "linux/amd64",
        ManifestKind::Oci,
        "b",
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::new_in(dir.path(), "pkg");
    repo.commit("README", "x\n", "init");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join(".docker")).unwrap();
    let out = wheelbuild(&project)
        .args(["key", "generate", "bench"])
        .output()
        .unwrap();
    let public = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{}\"\n\n[remote]\nurl = \"{}/team/cache\"\nsign-with = \"bench.secret\"\ntrusted-keys = [\"{public}\"]\n",
        base.reference, reg.addr
    );
    for i in 0..KEYS {
        config.push_str(&format!(
            "\n[[project]]\nname = \"p{i}\"\ngit = \"{}\"\nbuild-isolation = false\nenv = {{ N = \"{i}\" }}\n",
            repo.file_url()
        ));
    }
    std::fs::write(project.join("wheelbuild.toml"), &config).unwrap();
    run(wheelbuild(&project).arg("lock"));
    // A signed entry per key in the cache, pushed as `build --push` would: each target
    // recorded as built with one wheel, then pushed.
    let targets = common::record_all_built(&project, |cfg, t| {
        format!("{}-1.0-py3-none-any.whl", cfg.project_of(t.target).name)
    });
    assert_eq!(targets, KEYS);
    run(wheelbuild(&project).arg("push"));
    let store = project.join(".wheelbuild/store");
    let full = dir.path().join("full-store");
    std::fs::rename(&store, &full).unwrap();
    // The part of `check --remote` that is not the remote: the process, the config, the lock
    // and 1000 keys, with the local store only.
    let local = median(
        (0..7)
            .map(|_| timed(wheelbuild(&project).arg("plan")))
            .collect(),
    );
    let version = median(
        (0..7)
            .map(|_| timed(Command::new(BIN).arg("--version")))
            .collect(),
    );
    println!("local floor over {KEYS} keys");
    println!(
        "  wheelbuild --version             {:>9.1} ms (median of 7)",
        ms(version)
    );
    println!(
        "  wheelbuild plan (local store)    {:>9.1} ms (median of 7)",
        ms(local)
    );
    if std::env::var_os("WHEELBUILD_BENCH_KEEP").is_some() {
        println!("  project kept at {}", project.display());
        std::mem::forget(dir);
    }
    let proxy = delaying_proxy(reg.addr.clone(), Duration::from_millis(50));
    for to_build in [KEYS, 10] {
        if to_build < KEYS {
            // The full store, but for `to_build` records: those targets are to build.
            copy_dir(&full, &store);
            let records = store.join("v2/records");
            let mut names: Vec<_> = std::fs::read_dir(&records)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for record in &names[..to_build] {
                std::fs::remove_file(record).unwrap();
            }
        }
        for (label, addr) in [
            ("loopback", reg.addr.clone()),
            ("+50 ms each way", proxy.clone()),
        ] {
            let check = || {
                let mut c = wheelbuild(&project);
                c.args(["check", &format!("--remote={addr}/team/cache")]);
                timed(&mut c)
            };
            let checks = median((0..7).map(|_| check()).collect());
            let trip = curl_round_trip(&addr);
            println!("check --remote over {KEYS} keys, {to_build} to build ({label})");
            println!(
                "  curl, one round trip             {:>9.1} ms (median of 15)",
                ms(trip)
            );
            println!(
                "  wheelbuild check --remote        {:>9.1} ms (median of 7)",
                ms(checks)
            );
            println!(
                "  ratio                             {:>8.2}x   (goal <= 3x)",
                ms(checks) / ms(trip)
            );
        }
    }
}

fn hit_bench() {
    let base = support::fixtures::base_image(support::fixtures::ImageKind::Cpu);
    let reg = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::new_in(dir.path(), "hello-cext");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/projects/hello-cext");
    copy_dir(&src, &repo.path);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "import"]);
    let machine = |name: &str, remote: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.join(".docker")).unwrap();
        std::fs::write(
            p.join("wheelbuild.toml"),
            format!(
                "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{}\"\n\n[build]\nuid = 1234\ngid = 1234\n\n[cache]\nccache = false\n{remote}\n[[project]]\nname = \"hello-cext\"\ngit = \"{}\"\n",
                base.reference,
                repo.file_url()
            ),
        )
        .unwrap();
        p
    };
    let first = machine("first", "");
    let out = wheelbuild(&first)
        .args(["key", "generate", "bench"])
        .output()
        .unwrap();
    let public = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let remote = format!(
        "\n[remote]\nurl = \"{}/team/cache\"\nsign-with = \"{}\"\ntrusted-keys = [\"{public}\"]\n",
        reg.addr,
        first.join("bench.secret").display()
    );
    let first = machine("first", &remote);
    run(wheelbuild(&first).arg("lock"));
    run(wheelbuild(&first).args(["build", "--push"]));
    let second = machine("second", &remote);
    std::fs::copy(
        first.join("wheelbuild.lock"),
        second.join("wheelbuild.lock"),
    )
    .unwrap();
    let fresh = |p: &Path| {
        let _ = std::fs::remove_dir_all(p.join(".wheelbuild/store"));
        let _ = std::fs::remove_dir_all(p.join("wheelhouse"));
    };
    let mut pulled = Vec::new();
    let mut built = Vec::new();
    for _ in 0..5 {
        fresh(&second);
        pulled.push(timed(wheelbuild(&second).arg("build")));
        fresh(&first);
        built.push(timed(
            wheelbuild(&first).args(["build", "--remote=127.0.0.1:9/none"]),
        ));
    }
    let (pulled, built) = (median(pulled), median(built));
    println!("C extension: remote hit vs build (fresh store each time)");
    println!(
        "  build (no remote hit)            {:>9.1} ms (median of 5)",
        ms(built)
    );
    println!(
        "  build, pulled from the remote    {:>9.1} ms (median of 5)",
        ms(pulled)
    );
    println!(
        "  speed-up                          {:>8.2}x   (goal >= 5x)",
        ms(built) / ms(pulled)
    );
}

fn main() {
    let Some(wanted) = common::selection() else {
        return;
    };
    if wanted("check") {
        check_bench();
    }
    if wanted("hit") {
        hit_bench();
    }
}
