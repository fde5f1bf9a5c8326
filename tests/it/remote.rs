//! The remote cache: store entries pushed to a real registry (Debian's docker-registry,
//! with htpasswd auth) as signed OCI artifacts, and pulled by a second "machine" (another
//! project directory: its own store and caches) without building.

use crate::support::test;
use std::time::SystemTime;

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind, containers_created_since, key_label};
use crate::support::git::GitRepo;
use crate::support::registry::{Auth, Registry};

/// A project on `base` building `repo`, with `[remote]` settings `remote` (TOML lines).
/// `test` is in the build's env, so each test has keys of its own (tests run at once, and
/// one asserts no container of its key starts).
fn machine(
    base: &BaseImage,
    repo: &GitRepo,
    registry: &Registry,
    test: &str,
    remote: &str,
) -> Project {
    let p = new_project(
        base,
        &config(
            &base.reference,
            test,
            &format!(
                "\n[remote]\nurl = \"{}/team/cache\"\n{remote}",
                registry.addr
            ),
            &[project("rpkg", repo, "")],
        ),
    );
    registry.write_docker_config(&p.docker_config_dir());
    p
}

/// `wheelbuild key generate NAME` in `p`: the public key it prints.
fn generate_key(p: &Project, name: &str) -> String {
    let out = ok(p, &["key", "generate", name]);
    stdout(&out).trim().to_string()
}

fn wheel_bytes(p: &Project) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![p.file("wheelhouse")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "whl") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

struct TwoMachines {
    test: String,
    base: BaseImage,
    registry: Registry,
    repo: GitRepo,
    first: Project,
    public: String,
    key: String,
}

/// The first machine builds and pushes, signed with its key.
fn pushed(sign: bool, test: &str) -> TwoMachines {
    let base = fixtures::base_image(ImageKind::Cpu);
    let registry = Registry::start(Auth::basic("ci", "s3cret-pw"));
    let repo = pure_repo("rpkg", None);
    let first = machine(&base, &repo, &registry, test, "push = true\n");
    let public = generate_key(&first, "ci-1");
    if sign {
        let config = first.read("wheelbuild.toml");
        first.write(
            "wheelbuild.toml",
            &config.replace(
                "push = true\n",
                "push = true\nsign-with = \"ci-1.secret\"\n",
            ),
        );
    }
    ok(&first, &["lock"]);
    ok(&first, &["build"]);
    let key = key_of(&first, &cpu("rpkg"));
    TwoMachines {
        test: test.to_string(),
        base,
        registry,
        repo,
        first,
        public,
        key,
    }
}

impl TwoMachines {
    /// A second machine with the first's lock, trusting `trusted`.
    fn second(&self, trusted: &str) -> Project {
        let p = machine(
            &self.base,
            &self.repo,
            &self.registry,
            &self.test,
            &format!("trusted-keys = [\"{trusted}\"]\n"),
        );
        p.write("wheelbuild.lock", &self.first.read("wheelbuild.lock"));
        p
    }
}

#[test]
fn a_second_machine_builds_nothing_and_gets_byte_identical_wheels() {
    let m = pushed(true, "remote-second");
    let second = m.second(&m.public);
    // Not in its own store; the remote has it.
    let out = second.run(&["check"]);
    assert_eq!(out.status.code(), Some(10), "{}", second.snapshot(&out));
    let out = ok(&second, &["check", "--remote"]);
    assert!(stderr(&out).contains("Cached"), "{}", second.snapshot(&out));
    let out = ok(&second, &["plan", "--remote"]);
    assert!(
        stdout(&out).contains("rpkg/py3.11-cpu  remote"),
        "{}",
        stdout(&out)
    );

    let since = SystemTime::now();
    let out = ok(&second, &["build"]);
    assert!(
        stderr(&out).contains("Pulled rpkg/py3.11-cpu from the remote cache"),
        "{}",
        second.snapshot(&out)
    );
    assert_eq!(
        containers_created_since(since, &key_label(&m.key)),
        Vec::<String>::new(),
        "a pulled target starts no container"
    );
    assert_eq!(wheel_bytes(&second), wheel_bytes(&m.first));
    ok(&second, &["check"]);
}

#[test]
fn records_of_an_untrusted_key_or_unsigned_are_refused_and_built_here() {
    let m = pushed(false, "remote-untrusted");
    // Unsigned: refused before any blob is fetched; the target is built instead.
    let second = m.second(&m.public);
    let out = ok(&second, &["build"]);
    assert!(
        stderr(&out).contains("is refused: it is not signed; building it here"),
        "{}",
        second.snapshot(&out)
    );
    assert!(
        stdout(&out).contains("1 built"),
        "{}",
        second.snapshot(&out)
    );

    // Signed by a key the second machine does not trust.
    let signed = pushed(true, "remote-untrusted-signed");
    let stranger = generate_key(&signed.first, "stranger");
    let third = signed.second(&stranger);
    let out = third.run(&["pull"]);
    assert_eq!(out.status.code(), Some(3), "{}", third.snapshot(&out));
    assert!(
        stderr(&out).contains("it is signed by `ci-1`, which is not a trusted key"),
        "{}",
        third.snapshot(&out)
    );
    assert_eq!(
        store_keys(&third).len(),
        0,
        "nothing refused enters the store"
    );
}

#[test]
fn a_tampered_blob_is_refused_naming_its_digest() {
    let m = pushed(true, "remote-tampered");
    // Replace the wheel's bytes in the registry's storage (same length).
    let record = record(&m.first, &m.key);
    let sha = record["wheels"][0]["sha256"].as_str().unwrap().to_string();
    let data = m
        .registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&sha[..2])
        .join(&sha)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let second = m.second(&m.public);
    let out = second.run(&["pull"]);
    assert_eq!(out.status.code(), Some(3), "{}", second.snapshot(&out));
    assert!(
        stderr(&out).contains(&format!("blob sha256:{sha}")) && stderr(&out).contains("digest"),
        "{}",
        second.snapshot(&out)
    );
    assert_eq!(store_keys(&second).len(), 0);
}

#[test]
fn a_registry_that_is_down_fails_check_with_3_and_build_builds_here() {
    let m = pushed(true, "remote-down");
    let second = m.second(&m.public);
    let config = second.read("wheelbuild.toml");
    // Nothing listens on port 9 of loopback.
    second.write(
        "wheelbuild.toml",
        &config.replace(&m.registry.addr, "127.0.0.1:9"),
    );
    let out = second.run(&["check", "--remote"]);
    assert_eq!(out.status.code(), Some(3), "{}", second.snapshot(&out));
    let out = ok(&second, &["build"]);
    assert!(
        stderr(&out).contains("cannot be reached") && stderr(&out).contains("building it here"),
        "{}",
        second.snapshot(&out)
    );
}

#[test]
fn a_push_with_wrong_credentials_is_a_clear_error_and_the_store_stays() {
    let m = pushed(true, "remote-creds");
    // The first machine's credentials, now wrong for its registry.
    let config_json = m.first.docker_config_dir().join("config.json");
    let text = std::fs::read_to_string(&config_json).unwrap();
    let bad = base64_of("ci:wrong");
    let edited = regex_lite::Regex::new(r#""auth":\s*"[^"]+""#)
        .unwrap()
        .replace(&text, format!("\"auth\": \"{bad}\"").as_str())
        .into_owned();
    std::fs::write(&config_json, edited).unwrap();
    let out = m.first.run(&["push"]);
    assert_eq!(out.status.code(), Some(2), "{}", m.first.snapshot(&out));
    assert!(
        stderr(&out).contains("refused the credentials"),
        "{}",
        m.first.snapshot(&out)
    );
    assert!(!stderr(&out).contains("s3cret-pw"));
    ok(&m.first, &["check"]);
    // A build that cannot push builds and stores all the same, and says so with exit 3, so
    // that a CI shard does not pass without its push.
    std::fs::remove_dir_all(store_dir(&m.first)).unwrap();
    let out = m.first.run(&["build", "--push"]);
    assert_eq!(out.status.code(), Some(3), "{}", m.first.snapshot(&out));
    assert!(
        stderr(&out).contains("not pushed to the remote cache")
            && stderr(&out).contains("1 target(s) built but not pushed"),
        "{}",
        m.first.snapshot(&out)
    );
    ok(&m.first, &["check"]);
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Regression: a registry that ignores `last` answers every page with the same 1000 tags;
/// the listing looped forever (found by `benches/remote.rs`). A page that brings nothing new
/// now ends it.
#[test]
fn a_registry_that_ignores_last_does_not_make_the_listing_loop() {
    use crate::support::fake::{FakeServer, Response};
    use crate::support::images::{ManifestKind, push_single};
    crate::support::require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    let image = push_single(
        &reg,
        "wb/base",
        "py3.11",
        "linux/amd64",
        ManifestKind::Oci,
        "l",
    );
    let repo = pure_repo("loop", None);
    let p = Project::new(&config(
        &image.reference,
        "listing",
        "",
        &[project("loop", &repo, "build-isolation = false")],
    ));
    ok(&p, &["lock"]);
    let tags: Vec<String> = (0..1000).map(|i| format!("{i:064x}")).collect();
    let fake = FakeServer::start(move |req| {
        if req.path_only().ends_with("/tags/list") {
            // And says there is a next page: itself again.
            Response::ok()
                .header(
                    "Link",
                    "</v2/team/cache/tags/list?last=ffff&n=1000>; rel=\"next\"",
                )
                .json(&serde_json::json!({ "name": "team/cache", "tags": tags }))
        } else {
            Response::ok().json(&serde_json::json!({}))
        }
    });
    let out = p.run_within(
        &["check", &format!("--remote={}/team/cache", fake.addr())],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));
    let listings = fake
        .requests()
        .iter()
        .filter(|r| r.path_only().ends_with("/tags/list"))
        .count();
    assert_eq!(
        listings, 2,
        "the first page, and the next that brings nothing new"
    );
}

/// Two runners pushing the same key at once both succeed, and the remote holds one entry
/// that a third machine pulls (signatures are deterministic: both push the same bytes).
#[test]
fn two_runners_pushing_the_same_key_at_once_both_succeed() {
    let m = pushed(true, "remote-two-runners");
    let mut runs: Vec<Running> = (0..2)
        .map(|i| spawn(&m.first, &["push"], &format!("push-{i}")))
        .collect();
    for run in &mut runs {
        let out = run.wait(std::time::Duration::from_secs(120));
        assert!(out.status.success(), "{}", m.first.snapshot(&out));
    }
    let second = m.second(&m.public);
    let out = ok(&second, &["pull"]);
    assert!(stderr(&out).contains("Pulled"), "{}", second.snapshot(&out));
    assert_eq!(store_keys(&second).len(), 1);
}

/// A wheel much larger than the memory a push or pull may use: both stream it (in chunks
/// from and to files), and the second machine still gets the same bytes.
#[test]
fn a_large_wheel_is_pushed_and_pulled_without_holding_it_in_memory() {
    const WHEEL_MIB: u64 = 160;
    const PEAK_MIB: u64 = 96;
    let base = fixtures::base_image(ImageKind::Cpu);
    let registry = Registry::start(Auth::basic("ci", "s3cret-pw"));
    // Incompressible data, made at build time (the repository stays small).
    let setup = format!(
        "import random\nfrom setuptools import setup\n\n\
         with open('big.bin', 'wb') as f:\n    \
         f.write(random.Random(0).randbytes({WHEEL_MIB} << 20))\n\n\
         setup(name='rpkg', version='0.1.0', py_modules=['rpkg_mod'], \
         data_files=[('share/rpkg', ['big.bin'])])\n"
    );
    let repo = pure_repo("rpkg", Some(&setup));
    let test = "remote-large";
    let first = machine(&base, &repo, &registry, test, "");
    let public = generate_key(&first, "ci-1");
    let config = first.read("wheelbuild.toml");
    first.write(
        "wheelbuild.toml",
        &config.replace("[remote]\n", "[remote]\nsign-with = \"ci-1.secret\"\n"),
    );
    ok(&first, &["lock"]);
    ok(&first, &["build"]);
    let wheels = wheel_bytes(&first);
    assert!(
        wheels[0].1.len() as u64 > WHEEL_MIB << 20,
        "the wheel is {} bytes",
        wheels[0].1.len()
    );

    let (out, peak_kib) = run_measuring_memory(&first, &["push"]);
    assert!(out.status.success(), "{}", first.snapshot(&out));
    assert!(
        peak_kib < PEAK_MIB << 10,
        "push of a {WHEEL_MIB} MiB wheel peaked at {} MiB",
        peak_kib >> 10
    );

    let second = machine(
        &base,
        &repo,
        &registry,
        test,
        &format!("trusted-keys = [\"{public}\"]\n"),
    );
    second.write("wheelbuild.lock", &first.read("wheelbuild.lock"));
    let (out, peak_kib) = run_measuring_memory(&second, &["pull"]);
    assert!(out.status.success(), "{}", second.snapshot(&out));
    assert!(
        peak_kib < PEAK_MIB << 10,
        "pull of a {WHEEL_MIB} MiB wheel peaked at {} MiB",
        peak_kib >> 10
    );
    ok(&second, &["build"]);
    assert_eq!(wheel_bytes(&second), wheels);
}
