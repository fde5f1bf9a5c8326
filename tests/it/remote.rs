//! The remote cache: store entries pushed to a real registry (Debian's docker-registry,
//! with htpasswd auth) as signed OCI artifacts, and pulled by a second "machine" (another
//! project directory: its own store and caches) without building.

use crate::support::{self, test};
use std::time::SystemTime;

use crate::common::*;
use crate::support::fake::{Delivery, FakeServer, Response};
use crate::support::fixtures::{self, BaseImage, ImageKind, containers_created_since, key_label};
use crate::support::git::GitRepo;
use crate::support::images::{ManifestKind, get_manifest, push_blob, push_single, put_manifest};
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
        self.another(&format!("trusted-keys = [\"{trusted}\"]\n"))
    }

    /// Another machine with the first's lock and `[remote]` settings `remote`.
    fn another(&self, remote: &str) -> Project {
        let p = machine(&self.base, &self.repo, &self.registry, &self.test, remote);
        p.write("wheelbuild.lock", &self.first.read("wheelbuild.lock"));
        p
    }

    /// The first machine's config with `from` replaced by `to`.
    fn edit_first(&self, from: &str, to: &str) {
        let config = self.first.read("wheelbuild.toml");
        assert!(config.contains(from), "{config}");
        self.first
            .write("wheelbuild.toml", &config.replace(from, to));
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

/// A locked project of one target, `name`, on a base image of a registry of its own: for
/// remotes that are fake servers (no build runs).
fn locked_project_for_a_fake_remote(name: &str) -> Project {
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
    let repo = pure_repo(name, None);
    let p = Project::new(&config(
        &image.reference,
        name,
        "",
        &[project(name, &repo, "build-isolation = false")],
    ))
    .hold(reg)
    .hold(repo);
    ok(&p, &["lock"]);
    p
}

/// Regression: a registry that ignores `last` answers every page with the same 1000 tags;
/// the listing looped forever (found by `benches/remote.rs`). A page that brings nothing new
/// now ends it.
#[test]
fn a_registry_that_ignores_last_does_not_make_the_listing_loop() {
    let p = locked_project_for_a_fake_remote("loop");
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

/// Regression: `sign-with` naming the `.public` file was accepted, and every entry pushed
/// was signed by a key nobody has (each pull then said its signature "does not match").
/// A secret key now holds its public half too, so a public key is refused where the config
/// names it; and a signer this config does not trust is warned about.
#[test]
fn a_public_key_as_sign_with_is_refused_and_an_untrusted_signer_is_warned_about() {
    let m = pushed(true, "remote-public-key");
    // The first machine signs with `ci-1` and trusts no key.
    let out = ok(&m.first, &["push"]);
    assert!(
        stderr(&out).contains(
            "warning: the signing key `ci-1` is not in `[remote] trusted-keys`: pulls with this \
             config refuse what it pushes"
        ),
        "{}",
        m.first.snapshot(&out)
    );

    m.edit_first("ci-1.secret", "ci-1.public");
    let config = m.first.read("wheelbuild.toml");
    let line = config
        .lines()
        .position(|l| l.contains("ci-1.public"))
        .unwrap()
        + 1;
    for command in [&["push"][..], &["build"], &["plan"]] {
        let out = m.first.run(command);
        assert_eq!(out.status.code(), Some(2), "{}", m.first.snapshot(&out));
        let err = stderr(&out);
        assert!(
            err.contains(
                "error: remote.sign-with: ci-1.public holds a public key (32 bytes), not a secret key"
            ) && err.contains(&format!("wheelbuild.toml:{line}:13"))
                && err.contains("give the `NAME.secret` file `wheelbuild key generate NAME` writes"),
            "{}",
            m.first.snapshot(&out)
        );
    }
}

/// Regression: a machine with `push = true` and no `sign-with` pushed unsigned records over
/// tags that held entries signed by a trusted key, and every other machine then refused
/// them ("it is not signed").
#[test]
fn a_pusher_without_a_key_does_not_replace_a_signed_entry() {
    let m = pushed(true, "remote-keyless-pusher");
    // Trusts the signer, has no key: refused before anything is sent.
    let keyless = m.another(&format!("push = true\ntrusted-keys = [\"{}\"]\n", m.public));
    ok(&keyless, &["pull"]);
    let out = keyless.run(&["push"]);
    assert_eq!(out.status.code(), Some(2), "{}", keyless.snapshot(&out));
    assert!(
        stderr(&out)
            .contains("needs a signing key: `[remote] trusted-keys` is set and `sign-with` is not")
            && stderr(&out).contains("set `[remote] sign-with`"),
        "{}",
        keyless.snapshot(&out)
    );
    // Trusts no key, so it builds the target itself; its unsigned push leaves the signed
    // entry in place, and says so (exit 3, as any push that fails).
    let careless = m.another("push = true\n");
    let out = careless.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", careless.snapshot(&out));
    assert!(
        stderr(&out).contains(
            "is not replaced: the remote's entry is signed by `ci-1`, and this push would not be"
        ),
        "{}",
        careless.snapshot(&out)
    );
    // Every machine that trusts the signer still gets the signed entry.
    let second = m.second(&m.public);
    let out = ok(&second, &["pull"]);
    assert!(stderr(&out).contains("Pulled"), "{}", second.snapshot(&out));
}

/// Regression: `check --remote` and `build --shard` counted every tag as "remote" without
/// looking at its signature: an unsigned or untrusted entry made `check --remote` exit 0,
/// and shards skipped targets that the assemble job's `pull` then refused.
#[test]
fn check_remote_and_shards_count_only_entries_that_pull_would_accept() {
    /// `p`'s `check --remote` says why the remote's entry is refused and counts the target
    /// as to build (exit 10), and its shard builds it.
    fn to_build(p: &Project, refusal: &str) {
        let out = p.run(&["check", "--remote"]);
        assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));
        assert!(
            stderr(&out).contains(refusal) && stderr(&out).contains("; it counts as to build"),
            "{}",
            p.snapshot(&out)
        );
        let out = ok(p, &["build", "--shard", "1/1", "--dry-run"]);
        assert!(
            stdout(&out).contains("rpkg/py3.11-cpu  build"),
            "the shard builds it: {}",
            p.snapshot(&out)
        );
    }
    let m = pushed(false, "remote-check-signatures");
    let second = m.second(&m.public);
    to_build(
        &second,
        &format!(
            "warning: rpkg/py3.11-cpu: remote entry {} is refused: it is not signed",
            &m.key[..12]
        ),
    );

    // Signed now, by `ci-1`: it counts where `ci-1` is trusted, and only there.
    m.edit_first(
        "push = true\n",
        "push = true\nsign-with = \"ci-1.secret\"\n",
    );
    ok(&m.first, &["push"]);
    let out = ok(&second, &["check", "--remote"]);
    assert!(stderr(&out).contains("Cached"), "{}", second.snapshot(&out));
    let stranger = generate_key(&m.first, "stranger");
    let third = m.second(&stranger);
    to_build(&third, "it is signed by `ci-1`, which is not a trusted key");
}

/// Regression: the tag listing sent the basic credentials to whatever URL its
/// `Link: rel="next"` named, another host or plain HTTP included.
#[test]
fn the_credentials_do_not_follow_a_link_to_another_origin() {
    use base64::Engine as _;
    let p = locked_project_for_a_fake_remote("links");
    let other = FakeServer::start(|_| {
        Response::ok().json(&serde_json::json!({ "name": "team/cache", "tags": ["b"] }))
    });
    let link = format!(
        "<{}/v2/team/cache/tags/list?last=a&n=10000>; rel=\"next\"",
        other.url()
    );
    let fake = FakeServer::start(move |req| {
        if req.path_only().ends_with("/tags/list") {
            Response::ok()
                .header("Link", &link)
                .json(&serde_json::json!({ "name": "team/cache", "tags": ["a"] }))
        } else {
            Response::new(404)
        }
    });
    // Credentials for the remote, as `docker login` writes them.
    let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret-pw");
    std::fs::write(
        p.docker_config_dir().join("config.json"),
        serde_json::json!({ "auths": { fake.addr(): { "auth": auth } } }).to_string(),
    )
    .unwrap();
    let out = p.run(&["check", &format!("--remote={}/team/cache", fake.addr())]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains(&format!(
            "its tag list continues on another origin ({}): not followed",
            other.url()
        )),
        "{}",
        p.snapshot(&out)
    );
    assert_eq!(
        fake.requests()[0].basic_auth(),
        Some(("ci".into(), "s3cret-pw".into())),
        "the registry itself gets them"
    );
    assert!(
        other.requests().is_empty(),
        "another origin is not asked: {:?}",
        other.requests()
    );
    assert!(!stderr(&out).contains("s3cret-pw"));
}

/// Regression: a pulled record's `target` was joined into `targets/<target>.json` unchecked:
/// a record signed by a trusted (but careless) signer could write outside the store.
#[test]
fn a_pulled_record_naming_a_target_outside_the_store_is_refused() {
    let m = pushed(true, "remote-target-outside");
    // The signer's own record, edited and pushed again: signed all the same.
    let mut record = record(&m.first, &m.key);
    record["target"] = "../../../escaped".into();
    std::fs::write(
        record_path(&m.first, &m.key),
        serde_json::to_vec_pretty(&record).unwrap(),
    )
    .unwrap();
    ok(&m.first, &["push"]);

    let second = m.second(&m.public);
    let out = second.run(&["pull"]);
    assert_eq!(out.status.code(), Some(3), "{}", second.snapshot(&out));
    assert!(
        stderr(&out).contains(
            "its record names target `../../../escaped`, which is not a target id: its project \
             name: it must not start with `.` or `-`"
        ),
        "{}",
        second.snapshot(&out)
    );
    assert!(!second.file(".wheelbuild/escaped.json").exists());
    assert_eq!(
        store_keys(&second).len(),
        0,
        "nothing refused enters the store"
    );
}

/// Regression: tag lists and manifests were read whole before their size was checked. A
/// body that never ends is now refused at the limit, while it is read.
#[test]
fn an_oversized_tag_list_or_manifest_is_refused_while_it_is_read() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const FLOOD: usize = 256 << 20;
    let p = locked_project_for_a_fake_remote("flood");
    let key = key_of(&p, &cpu("flood"));
    let flood = |sent: &Arc<AtomicUsize>| {
        Response::ok()
            .header("Content-Type", "application/json")
            .delivery(Delivery::Flood {
                announced: None,
                at_most: FLOOD,
                sent: sent.clone(),
            })
    };

    let listing = Arc::new(AtomicUsize::new(0));
    let fake = {
        let listing = listing.clone();
        FakeServer::start(move |_| flood(&listing))
    };
    let remote = format!("--remote={}/team/cache", fake.addr());
    let out = p.run_within(&["check", &remote], std::time::Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        stderr(&out)
            .contains("a page of its tag list is more than 16777216 bytes, over the 16 MiB limit"),
        "{}",
        p.snapshot(&out)
    );
    let read = listing.load(Ordering::SeqCst);
    assert!(read < 48 << 20, "{read} bytes of the tag list were sent");

    let manifest = Arc::new(AtomicUsize::new(0));
    let fake = {
        let manifest = manifest.clone();
        FakeServer::start(move |req| {
            if req.path_only().ends_with("/tags/list") {
                Response::ok().json(&serde_json::json!({ "name": "team/cache", "tags": [key] }))
            } else {
                flood(&manifest)
            }
        })
    };
    let remote = format!("--remote={}/team/cache", fake.addr());
    let out = p.run_within(&["pull", &remote], std::time::Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("its manifest is more than 4194304 bytes, over the 4 MiB limit"),
        "{}",
        p.snapshot(&out)
    );
    let read = manifest.load(Ordering::SeqCst);
    assert!(read < 48 << 20, "{read} bytes of the manifest were sent");
}

/// Regression: the build log layer was not covered by the signature: whoever could write
/// to the registry could put any log into the stores of every machine that pulls. The log
/// is pulled only when it is the one the signed record's provenance names.
#[test]
fn a_build_log_the_signed_record_does_not_name_is_not_pulled() {
    let m = pushed(true, "remote-forged-log");
    let log = |p: &Project| store_dir(p).join("logs").join(format!("{}.log", m.key));
    // The log as built comes along.
    let second = m.second(&m.public);
    ok(&second, &["pull"]);
    assert_eq!(
        std::fs::read(log(&second)).unwrap(),
        std::fs::read(log(&m.first)).unwrap()
    );

    // The manifest, signature and all, with another log layer.
    let plain = Registry::start_with_storage(m.registry.storage(), Auth::None);
    let (media_type, bytes, _) = get_manifest(&plain, "team/cache", &m.key);
    let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let forged = b"forged build log\n";
    let digest = push_blob(&plain, "team/cache", forged);
    let layers = manifest["layers"].as_array_mut().unwrap();
    let layer = layers
        .iter_mut()
        .find(|l| l["mediaType"] == "application/vnd.wheelbuild.log.v1")
        .unwrap();
    layer["digest"] = digest.into();
    layer["size"] = forged.len().into();
    put_manifest(
        &plain,
        "team/cache",
        &m.key,
        &media_type,
        &serde_json::to_vec(&manifest).unwrap(),
    );

    let third = m.second(&m.public);
    let out = ok(&third, &["pull"]);
    assert!(stderr(&out).contains("Pulled"), "{}", third.snapshot(&out));
    assert!(
        !log(&third).exists(),
        "the forged log is not stored: {:?}",
        std::fs::read_to_string(log(&third))
    );
}

/// A registry that wants bearer tokens: the listing and the manifests go through the same
/// bounded requests, with a token fetched when the registry challenges for one.
#[test]
fn check_and_pull_go_through_a_token_registry() {
    let m = pushed(true, "remote-token");
    // The same storage, served with token auth (the issuer grants pulls only).
    let token = Registry::start_with_storage(m.registry.storage(), Auth::token("bob", "t0ken-pw"));
    let second = machine(
        &m.base,
        &m.repo,
        &token,
        &m.test,
        &format!("trusted-keys = [\"{}\"]\n", m.public),
    );
    second.write("wheelbuild.lock", &m.first.read("wheelbuild.lock"));
    let out = ok(&second, &["check", "--remote"]);
    assert!(stderr(&out).contains("Cached"), "{}", second.snapshot(&out));
    let out = ok(&second, &["pull"]);
    assert!(stderr(&out).contains("Pulled"), "{}", second.snapshot(&out));
    assert!(
        !token.token_requests().is_empty(),
        "a token was asked for: {}",
        token.log_tail(20)
    );
}

/// Regression (issue 18): a Docker identity token (what `docker login` stores for Azure ACR
/// and other token logins) made the remote cache anonymous. It is exchanged through the
/// registry's OAuth2 `refresh_token` grant, for a push scope when pushing and a pull scope
/// when checking and pulling.
#[test]
fn an_identity_token_login_pushes_and_pulls_the_remote_cache() {
    let base = fixtures::base_image(ImageKind::Cpu);
    support::require("openssl");
    let registry = Registry::start(Auth::token("tokenuser", "n0t-used"));
    let repo = pure_repo("rpkg", None);
    let test = "remote-identity-token";
    let first = machine(
        &base,
        &repo,
        &registry,
        test,
        "push = true\nsign-with = \"ci-1.secret\"\n",
    );
    let public = generate_key(&first, "ci-1");
    registry.write_docker_config_with_identity_token(&first.docker_config_dir());
    ok(&first, &["lock"]);
    ok(&first, &["build"]);

    let trusted = format!("trusted-keys = [\"{public}\"]\n");
    let second = machine(&base, &repo, &registry, test, &trusted);
    registry.write_docker_config_with_identity_token(&second.docker_config_dir());
    second.write("wheelbuild.lock", &first.read("wheelbuild.lock"));
    let out = ok(&second, &["check", "--remote"]);
    assert!(stderr(&out).contains("Cached"), "{}", second.snapshot(&out));
    let out = ok(&second, &["pull"]);
    assert!(stderr(&out).contains("Pulled"), "{}", second.snapshot(&out));
    ok(&second, &["build"]);
    assert_eq!(wheel_bytes(&second), wheel_bytes(&first));

    let scopes: std::collections::BTreeSet<String> = registry
        .refresh_grants()
        .iter()
        .filter(|g| g.get("client_id").map(String::as_str) == Some("wheelbuild"))
        .inspect(|g| {
            assert_eq!(
                g.get("refresh_token").map(String::as_str),
                Some(registry.identity_token())
            );
        })
        .filter_map(|g| g.get("scope").cloned())
        .collect();
    assert_eq!(
        scopes,
        [
            "repository:team/cache:pull".to_string(),
            "repository:team/cache:pull,push".to_string()
        ]
        .into(),
        "{}",
        registry.log_tail(20)
    );
}

/// Regression (issue 18): every command with a remote read `sign-with` when it started, so
/// the plan and assemble jobs of the CI example, which have no secret key, could not check
/// or pull. The key is read when pushing, and only then.
#[test]
fn a_job_without_the_signing_key_checks_and_pulls_and_only_a_push_needs_it() {
    let m = pushed(true, "remote-no-secret-here");
    let second = m.another(&format!(
        "sign-with = \"ci-1.secret\"\ntrusted-keys = [\"{}\"]\n",
        m.public
    ));
    assert!(!second.file("ci-1.secret").exists());
    let out = ok(&second, &["check", "--remote"]);
    assert!(stderr(&out).contains("Cached"), "{}", second.snapshot(&out));
    let out = ok(&second, &["pull"]);
    assert!(stderr(&out).contains("Pulled"), "{}", second.snapshot(&out));
    let out = second.run(&["push"]);
    assert_eq!(out.status.code(), Some(2), "{}", second.snapshot(&out));
    assert!(
        stderr(&out).contains("ci-1.secret"),
        "{}",
        second.snapshot(&out)
    );
}
