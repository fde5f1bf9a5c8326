//! Environments: what builds install, resolved by `lock` in the pinned image and installed
//! exactly. Real parts: the base image from a real registry, a real package index
//! (pypiserver on loopback, reached with host networking), PyPI itself through the
//! machine's CA bundle, Debian's mirror for apt, and Docker.

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind, docker_ok};
use crate::support::pypi::{PypiServer, pypi_fixture};
use crate::support::registry::{Auth, Registry};
use crate::support::{self, test};

const SIX_16: &str = "six-1.16.0-py2.py3-none-any.whl";
const SIX_17: &str = "six-1.17.0-py2.py3-none-any.whl";
const DATEUTIL: &str = "python_dateutil-2.9.0.post0-py2.py3-none-any.whl";

/// A Docker endpoint that does not exist: a command that needs no container passes with it.
const NO_DOCKER: (&str, &str) = ("DOCKER_HOST", "unix:///nonexistent/wheelbuild-test.sock");

/// `[build]` keys and `[pip]` for an index on loopback (reached with host networking).
fn loopback_index(server: &PypiServer) -> String {
    format!(
        "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
        server.url()
    )
}

/// A locked project of one pure package `envtest` that installs `pip` from `server`. Its
/// build command first runs `check` (a Python statement) against what is installed.
fn project_with_pip(
    base: &BaseImage,
    server: &PypiServer,
    test: &str,
    pip: &str,
    check: &str,
) -> (Project, crate::support::git::GitRepo) {
    let repo = pure_repo("envtest", None);
    let build = format!(
        "python3 -c '{check}' && python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" ."
    );
    let more = format!("pip = {pip}\nbuild = {}", wheelbuild::lock::quote(&build));
    let p = locked_project(
        base,
        test,
        &loopback_index(server),
        &[project("envtest", &repo, &more)],
    );
    (p, repo)
}

fn environment(p: &Project) -> wheelbuild::lock::LockedEnvironment {
    let lock = lock_of(p);
    assert_eq!(lock.environments.len(), 1, "{}", p.read("wheelbuild.lock"));
    lock.environments[0].clone()
}

#[test]
fn lock_pins_every_package_by_the_sha256_the_index_serves() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[DATEUTIL, SIX_16, SIX_17]);
    let (p, _repo) = project_with_pip(
        &base,
        &server,
        "env-pins",
        "[\"python-dateutil==2.9.0.post0\"]",
        "import dateutil",
    );
    let env = environment(&p);
    let pins: Vec<(&str, &str, &str, &str)> = env
        .packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.file.as_str(),
                p.sha256.as_str(),
            )
        })
        .collect();
    // The transitive dependency too, at the newest version the index has.
    assert_eq!(
        pins,
        [
            (
                "python-dateutil",
                "2.9.0.post0",
                DATEUTIL,
                server.sha256_of(DATEUTIL).as_str()
            ),
            ("six", "1.17.0", SIX_17, server.sha256_of(SIX_17).as_str()),
        ]
    );
    // Facts probed in the pinned image.
    assert!(
        env.facts.0["python"].starts_with("3.11."),
        "{:?}",
        env.facts
    );
    assert_eq!(env.facts.0["abi"], "cp311");
    assert!(env.facts.0.contains_key("glibc"), "{:?}", env.facts);

    // `audit` lists the environment and every pin; nothing is floating.
    let out = ok(&p, &["--offline", "audit", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    let rows: Vec<(String, String, String)> = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["input"] == "pip")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("subject"), s("kind"), s("pin"))
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "python-dateutil 2.9.0.post0".to_string(),
                "sha256".to_string(),
                server.sha256_of(DATEUTIL)
            ),
            (
                "six 1.17.0".to_string(),
                "sha256".to_string(),
                server.sha256_of(SIX_17)
            ),
            // The project's build requirements, met by the image.
            (
                "setuptools 66.1.1".to_string(),
                "from-image".to_string(),
                base.reference.clone()
            ),
            (
                "wheel 0.38.4".to_string(),
                "from-image".to_string(),
                base.reference.clone()
            ),
        ]
    );
    // And `plan` shows the facts.
    let out = ok(&p, &["plan"]);
    assert!(
        stdout(&out).contains(&format!(
            "environment {} + pip python-dateutil==2.9.0.post0 + build requirements setuptools>=61, wheel: abi cp311, gcc ",
            base.reference
        )),
        "{}",
        stdout(&out)
    );

    // A relock with nothing changed starts no container (no Docker reachable) and leaves
    // the file byte-identical, even with the index gone.
    let before = p.read("wheelbuild.lock");
    drop(server);
    let out = run_env(&p, &[NO_DOCKER], &["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("(lockfile unchanged)"),
        "{}",
        p.snapshot(&out)
    );
    assert_eq!(p.read("wheelbuild.lock"), before);
    let out = run_env(&p, &[NO_DOCKER], &["--locked", "lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    // `--update-env` does resolve again: without Docker it cannot, and says so.
    let out = run_env(&p, &[NO_DOCKER], &["lock", "--update-env"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert_eq!(p.read("wheelbuild.lock"), before);
}

#[test]
fn build_installs_exactly_the_locked_pins_and_a_new_pin_rebuilds() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16]);
    // `six` unpinned in the config: the lock decides, and the build sees that version.
    let (p, _repo) = project_with_pip(
        &base,
        &server,
        "env-exact",
        "[\"six\"]",
        "import six; assert six.__version__ == \"1.16.0\", six.__version__",
    );
    assert_eq!(environment(&p).packages[0].version, "1.16.0");
    ok(&p, &["build"]);

    // A newer six appears: the lock keeps its pin, so nothing rebuilds.
    std::fs::copy(
        pypi_fixture().join("packages").join(SIX_17),
        server.wheel_path(SIX_17),
    )
    .unwrap();
    ok(&p, &["lock"]);
    assert_eq!(environment(&p).packages[0].version, "1.16.0");
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", p.snapshot(&out));

    // `lock --update six` takes it, says old -> new, and the plan names the input.
    let out = ok(&p, &["lock", "--update", "six"]);
    assert!(
        stderr(&out).contains(&format!(
            "Updating pip six ({}) 1.16.0 -> 1.17.0",
            base.reference
        )),
        "{}",
        p.snapshot(&out)
    );
    let plan = plan_json(&p);
    let reason = &plan["targets"][0]["reason"];
    assert_eq!(
        reason["changes"],
        serde_json::json!([{ "input": "pip.six", "old": "1.16.0", "new": "1.17.0" }]),
        "{plan:#}"
    );
    // The build still asserts 1.16.0: it now fails, because 1.17.0 is what is installed.
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    assert!(
        read_log(&p, &cpu("envtest")).contains("AssertionError: 1.17.0"),
        "{}",
        read_log(&p, &cpu("envtest"))
    );
}

#[test]
fn a_wheel_replaced_on_the_index_fails_the_install_naming_the_package() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16]);
    let (p, _repo) = project_with_pip(&base, &server, "env-tamper", "[\"six==1.16.0\"]", "1");
    // Other bytes under the locked file name.
    std::fs::copy(
        pypi_fixture().join("packages").join(SIX_17),
        server.wheel_path(SIX_16),
    )
    .unwrap();
    let out = p.run(&["build", "--rebuild-env"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("pip package `six`: the index serves other bytes than the lock pins"),
        "{}",
        p.snapshot(&out)
    );
    assert!(
        err.contains("wheelbuild lock --update six"),
        "{}",
        p.snapshot(&out)
    );
    assert!(store_keys(&p).is_empty(), "nothing is recorded");
}

#[test]
fn an_unknown_package_fails_lock_naming_the_environment_and_leaves_the_lock_alone() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16]);
    let (p, _repo) = project_with_pip(&base, &server, "env-unknown", "[\"six\"]", "1");
    let before = p.read("wheelbuild.lock");
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("pip = [\"six\"]", "pip = [\"six\", \"no-such-package-wb\"]"),
    );
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "resolving the environment {} + pip no-such-package-wb six + build requirements setuptools>=61, wheel: pip cannot resolve",
            base.reference
        )),
        "{}",
        p.snapshot(&out)
    );
    assert!(err.contains("no-such-package-wb"), "{err}");
    assert_eq!(p.read("wheelbuild.lock"), before, "the lock is untouched");
    // And the lock is now out of date for the config.
    let out = p.run(&["--locked", "plan"]);
    assert_eq!(out.status.code(), Some(12), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("is not resolved"),
        "{}",
        p.snapshot(&out)
    );
    // --offline never resolves.
    let out = p.run(&["--offline", "lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("--offline forbids resolving it"),
        "{}",
        p.snapshot(&out)
    );

    // An index that is down is unavailability, not a user error.
    p.write(
        "wheelbuild.toml",
        &config.replace("pip = [\"six\"]", "pip = [\"six==1.16.0\"]"),
    );
    drop(server);
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert_eq!(p.read("wheelbuild.lock"), before);
}

#[test]
fn apt_packages_are_pinned_to_the_version_the_mirror_has_and_installed() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("envapt", None);
    let p = locked_project(
        &base,
        "env-apt",
        "",
        &[project(
            "envapt",
            &repo,
            "apt = [\"ninja-build\"]\ntoolchain-check = \"ninja --version\"",
        )],
    );
    let env = environment(&p);
    let deb = env
        .debs
        .iter()
        .find(|d| d.name == "ninja-build")
        .expect("ninja-build is pinned");
    // What Debian's mirror has now, by apt's own word (its simulation).
    assert!(deb.version.contains('-'), "{deb:?}");
    ok(&p, &["build"]);

    // Regression: a container a user starts from the environment image inherits the labels
    // of the container it was committed from, owner included; the next wheelbuild run's
    // cleanup took it for a killed run's and removed it (exit 137).
    let image = env_image_of(&cpu("envapt"));
    let name = format!("wb-test-user-container-{}", std::process::id());
    docker_ok(&["run", "-d", "--name", &name, &image, "sleep", "300"]);
    ok(&p, &["verify"]);
    let running = docker_ok(&["ps", "-q", "--filter", &format!("name={name}")]);
    let _ = docker_ok(&["rm", "-f", &name]);
    assert!(
        !running.trim().is_empty(),
        "the user's container was removed"
    );
    // (A version gone from the mirror: integrity's
    // `a_failed_environment_setup_names_its_log_and_shows_its_tail`.)
}

/// The `wheelbuild-env:…` image built for target `id` (its labels say so).
fn env_image_of(id: &str) -> String {
    let images = docker_ok(&[
        "images",
        "--filter",
        &format!("label=org.wheelbuild.target={id}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    images
        .lines()
        .next()
        .expect("the environment image")
        .to_string()
}

/// PyPI itself, through the machine's CA bundle (containers do not trust the TLS-
/// intercepting proxy otherwise): the lock's sha256 is the one PyPI publishes.
#[test]
fn lock_and_build_reach_pypi_through_the_ca_bundle() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    let repo = pure_repo("envpypi", None);
    let p = locked_project(
        &base,
        "env-pypi",
        &format!("ca-certificates = \"{ca}\""),
        &[project(
            "envpypi",
            &repo,
            "pip = [\"six==1.17.0\"]\ntoolchain-check = \"python3 -c 'import six'\"",
        )],
    );
    let env = environment(&p);
    assert_eq!(env.packages.len(), 1);
    let pin = &env.packages[0];
    assert_eq!((pin.name.as_str(), pin.version.as_str()), ("six", "1.17.0"));
    assert_eq!(pin.sha256, pypi_sha256("six", &pin.file));
    ok(&p, &["build"]);
}

/// The sha256 PyPI's simple API (PEP 691, JSON) publishes for `file` of `name`, fetched
/// on the host by Python's urllib (the host trusts the proxy's CA).
fn pypi_sha256(name: &str, file: &str) -> String {
    let script = format!(
        "import json, urllib.request\n\
         r = urllib.request.Request('https://pypi.org/simple/{name}/', headers={{'Accept': 'application/vnd.pypi.simple.v1+json'}})\n\
         d = json.load(urllib.request.urlopen(r, timeout=60))\n\
         print([f['hashes']['sha256'] for f in d['files'] if f['filename'] == '{file}'][0])"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

// ----- build requirements ------------------------------------------------------------

/// A pure project whose `pyproject.toml` declares `requires`, and whose version records the
/// six its build ran with (`0.1.0+six1.16.0`), when it imports six at build time.
fn build_requires_repo(requires: &str) -> crate::support::git::GitRepo {
    let setup = "try:\n    import six\n    local = \"+six\" + six.__version__\nexcept ImportError:\n    local = \"\"\n\
                 from setuptools import setup\n\n\
                 setup(name=\"envtest\", version=\"0.1.0\" + local, py_modules=[\"envtest_mod\"])\n";
    let repo = pure_repo("envtest", Some(setup));
    repo.commit("pyproject.toml", &pyproject(requires), "requires");
    repo.git(&["tag", "-f", "-a", "v0.1.0", "-m", "v0.1.0"]);
    repo
}

fn pyproject(requires: &str) -> String {
    format!("[build-system]\nrequires = {requires}\nbuild-backend = \"setuptools.build_meta\"\n")
}

/// The names of the wheels `build` placed.
fn wheel_names(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = walk(&p.file("wheelhouse"))
        .into_iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".whl"))
        .collect();
    names.sort();
    names
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn build_requirements_are_read_at_the_commit_pinned_and_built_with() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16, SIX_17]);
    let repo = build_requires_repo(r#"["setuptools>=61", "six==1.16.0"]"#);
    let p = locked_project(
        &base,
        "build-requires",
        &loopback_index(&server),
        &[project("envtest", &repo, "")],
    );
    // The lock keeps what it read beside the commit, and the environment pins it: six
    // from the index by sha256, setuptools from the image (its digest pins it).
    let lock = lock_of(&p);
    assert_eq!(
        lock.git[0].build_requires[wheelbuild::lock::ROOT_DIR],
        ["setuptools>=61", "six==1.16.0"]
    );
    let env = environment(&p);
    assert_eq!(env.build, ["setuptools>=61", "six==1.16.0"]);
    let pins: Vec<(&str, &str, &str)> = env
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.sha256.as_str()))
        .collect();
    assert_eq!(pins, [("six", "1.16.0", server.sha256_of(SIX_16).as_str())]);
    let from_image: Vec<&str> = env.from_image.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(from_image, ["setuptools"]);

    ok(&p, &["build"]);
    assert_eq!(
        wheel_names(&p),
        ["envtest-0.1.0+six1.16.0-py3-none-any.whl"]
    );

    // The project moves to six 1.17.0: relocking the project reads the new commit's
    // requirements, and the change shows as old -> new.
    repo.commit(
        "pyproject.toml",
        &pyproject(r#"["setuptools>=61", "six==1.17.0"]"#),
        "six 1.17",
    );
    repo.git(&["tag", "-f", "-a", "v0.1.0", "-m", "v0.1.0"]);
    let out = ok(&p, &["lock", "--update", "envtest"]);
    assert!(stderr(&out).contains("six==1.17.0"), "{}", p.snapshot(&out));
    assert_eq!(environment(&p).packages[0].version, "1.17.0");
    ok(&p, &["build"]);
    assert_eq!(
        wheel_names(&p),
        ["envtest-0.1.0+six1.17.0-py3-none-any.whl"]
    );
}

#[test]
fn relock_with_the_commit_unchanged_reads_no_pyproject_and_fetches_nothing() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("envtest", None);
    let p = locked_project(
        &base,
        "build-requires-relock",
        "",
        &[project("envtest", &repo, "")],
    );
    let before = p.read("wheelbuild.lock");
    assert!(
        before.contains("build-requires = { \".\" = [\"setuptools>=61\", \"wheel\"] }"),
        "{before}"
    );
    // Without the mirror and without Docker, the relock only asks the remote for its refs.
    let mirrors = p.file(".wheelbuild/cache/git");
    std::fs::remove_dir_all(&mirrors).unwrap();
    let out = run_env(&p, &[NO_DOCKER], &["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    assert_eq!(p.read("wheelbuild.lock"), before);
    assert!(!mirrors.exists(), "the relock fetched into a mirror");
}

#[test]
fn build_isolation_false_leaves_the_declared_requirements_out() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = build_requires_repo(r#"["setuptools>=61", "six==1.16.0"]"#);
    // No index at all: nothing is resolved, so the lock needs none.
    let p = locked_project(
        &base,
        "build-isolation-false",
        "",
        &[project("envtest", &repo, "build-isolation = false")],
    );
    let lock = lock_of(&p);
    assert!(lock.git[0].build_requires.is_empty(), "{lock:?}");
    assert!(lock.environments.is_empty(), "{lock:?}");
    ok(&p, &["build"]);
    assert_eq!(wheel_names(&p), ["envtest-0.1.0-py3-none-any.whl"]);
}

#[test]
fn an_unavailable_build_requirement_fails_lock_naming_the_environment() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16]);
    let repo = build_requires_repo(r#"["setuptools>=61", "six>=2"]"#);
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "build-requires-unavailable",
            &loopback_index(&server),
            &[project("envtest", &repo, "")],
        ),
    );
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("build requirements setuptools>=61, six>=2"),
        "{}",
        p.snapshot(&out)
    );
    assert!(err.contains("six>=2"), "pip's words: {err}");
    assert!(!p.file("wheelbuild.lock").exists());
}

#[test]
fn a_build_requirement_the_environment_does_not_meet_fails_before_the_build() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("envtest", None);
    let p = locked_project(
        &base,
        "build-requires-unmet",
        "",
        &[project("envtest", &repo, "")],
    );
    // A lock edited by hand: the image's setuptools is now "too old" for the project.
    let text = p.read("wheelbuild.lock");
    let edited = regex_lite::Regex::new(r#"name = "setuptools", version = "[^"]+""#)
        .unwrap()
        .replace(&text, r#"name = "setuptools", version = "60.0.0""#)
        .into_owned();
    assert_ne!(
        edited, text,
        "the lock lists the image's setuptools: {text}"
    );
    p.write("wheelbuild.lock", &edited);
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("build requirement `setuptools>=61` of project `envtest` is not in its environment (it has 60.0.0)"),
        "{}",
        p.snapshot(&out)
    );
    assert!(err.contains("wheelbuild lock --update-env"), "{err}");
    // Refused before any container: no build log was written.
    assert!(!log_path(&p, &cpu("envtest")).exists());
}

/// Regression: a `pip` list that changed showed as one environment removed and another
/// added; it is one environment whose requests and packages changed.
#[test]
fn changing_a_pip_request_shows_updates_not_a_new_environment() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&[SIX_16, DATEUTIL]);
    let (p, _repo) = project_with_pip(&base, &server, "env-requests", "[\"six==1.16.0\"]", "1");
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace(
            "pip = [\"six==1.16.0\"]",
            "pip = [\"six==1.16.0\", \"python-dateutil==2.9.0.post0\"]",
        ),
    );
    let out = ok(&p, &["lock"]);
    let err = stderr(&out);
    let scope = &base.reference;
    assert!(
        err.contains(&format!(
            "Updating pip requests ({scope}) six==1.16.0 -> python-dateutil==2.9.0.post0, six==1.16.0"
        )),
        "{}",
        p.snapshot(&out)
    );
    assert!(
        err.contains(&format!("Adding pip python-dateutil ({scope}) 2.9.0.post0")),
        "{}",
        p.snapshot(&out)
    );
    assert!(
        !err.contains("Removing environment"),
        "{}",
        p.snapshot(&out)
    );
}

// ----- secrets and logins ------------------------------------------------------------

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// `docker inspect --format TEMPLATE IMAGE`.
fn inspect(image: &str, template: &str) -> String {
    docker_ok(&["inspect", "--format", template, image])
}

/// Regression: the setup container's environment was baked into the environment image
/// (`docker commit` keeps it unless the commit's config replaces it, and the image's
/// `container_config` keeps it whatever the commit says): `PIP_INDEX_URL` with the
/// index's password, and `SSL_CERT_FILE`/`PIP_CERT` naming a file that exists only while
/// the setup runs.
#[test]
fn the_index_password_and_setup_variables_stay_out_of_the_environment_image() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let password = format!("wb-index-password-{}", std::process::id());
    let server = PypiServer::start_with_auth(&[SIX_16], "wbuser", &password);
    let index = server
        .url()
        .replace("http://", "http://wbuser:${WB_TEST_INDEX_PASSWORD}@");
    let extra = format!(
        "network = \"host\"\nca-certificates = \"/etc/ssl/certs/ca-certificates.crt\"\n\n[pip]\nindex-url = \"{index}\"\n"
    );
    let repo = pure_repo("envtest", None);
    let build = "python3 -c \"import six\" && python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .";
    let more = format!(
        "pip = [\"six==1.16.0\"]\nbuild = {}",
        wheelbuild::lock::quote(build)
    );
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "env-secret",
            &extra,
            &[project("envtest", &repo, &more)],
        ),
    )
    .with_env("WB_TEST_INDEX_PASSWORD", &password);
    ok(&p, &["lock"]);
    // The index wants the password: the setup had it (a setup of this run, not an image
    // an earlier one left).
    ok(&p, &["build", "--rebuild-env"]);

    let image = &env_image_of(&cpu("envtest"));
    // The base image's environment and command, nothing of the setup's.
    let local = base.local();
    for template in ["{{json .Config.Env}}", "{{json .Config.Cmd}}"] {
        assert_eq!(
            inspect(image, template),
            inspect(&local, template),
            "{template}"
        );
    }
    assert_eq!(
        inspect(image, "{{json .ContainerConfig.Env}}"),
        inspect(&local, "{{json .Config.Env}}")
    );
    assert_eq!(inspect(image, "{{json .Config.Volumes}}"), "null");
    let everything = [
        docker_ok(&["inspect", image]),
        docker_ok(&["history", "--no-trunc", image]),
    ]
    .concat();
    for secret in [
        password.as_str(),
        "PIP_INDEX_URL",
        "SSL_CERT_FILE",
        "PIP_CERT",
    ] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
    // Nor in the lock, a record or a log.
    assert_eq!(
        files_containing(p.path(), &password),
        Vec::<std::path::PathBuf>::new()
    );
}

/// A `docker-credential-NAME` helper in `dir` that fails as a locked keychain does.
fn broken_helper(dir: &std::path::Path, name: &str) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let helper = dir.join(format!("docker-credential-{name}"));
    std::fs::write(
        &helper,
        "#!/bin/sh\ncat >/dev/null\necho 'error getting credentials: the keychain is locked' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// The base image of `base`, served by another registry of the same storage with `auth`;
/// a config for one pure project on it.
fn behind_auth(base: &BaseImage, auth: Auth, test: &str) -> (Registry, Project) {
    let registry = Registry::start_with_storage(base.registry.storage(), auth);
    let reference = base.reference.replace(base.addr(), &registry.addr);
    let repo = pure_repo("envtest", None);
    let p = Project::new(&config(
        &reference,
        test,
        "",
        &[project("envtest", &repo, "")],
    ))
    .name(&registry.addr, "REGISTRY")
    .hold(repo);
    (registry, p)
}

/// Untag `REGISTRY/wheelbuild/base@DIGEST`, so that the next run pulls it (the image stays).
fn forget_pull(registry: &Registry, base: &BaseImage) {
    docker_ok(&[
        "rmi",
        &format!("{}/wheelbuild/base@{}", registry.addr, base.digest),
    ]);
}

/// Regression: a credential helper that failed made the pull anonymous, and only the
/// registry's refusal showed.
#[test]
fn a_failing_credential_helper_stops_the_pull_and_says_what_it_said() {
    let base = fixtures::base_image(ImageKind::Cpu);
    support::require("htpasswd");
    let (registry, p) = behind_auth(&base, Auth::basic("puller", "pull-pw"), "helper-broken");
    registry.write_docker_config(&p.docker_config_dir());
    ok(&p, &["lock"]);
    forget_pull(&registry, &base);

    p.write(
        ".docker/config.json",
        &serde_json::json!({ "credHelpers": { registry.addr.clone(): "wbbroken" } }).to_string(),
    );
    let path = broken_helper(&p.file("bin"), "wbbroken");
    let out = p.cmd().env("PATH", path).arg("build").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let text = p.filter(&stderr(&out));
    assert!(
        text.contains(
            "cannot pull [REGISTRY]/wheelbuild/base@sha256:[DIGEST]: cannot get credentials for registry [REGISTRY]: `docker-credential-wbbroken get` failed: error getting credentials: the keychain is locked"
        ),
        "{text}"
    );
    assert!(
        text.contains("hint: check $DOCKER_CONFIG/config.json and the credential helper it names for [REGISTRY]"),
        "{text}"
    );
    assert!(store_keys(&p).is_empty(), "nothing was built");
}

/// Regression: an identity token (what `docker login` stores for Azure ACR and other
/// token logins) was dropped with a warning, and the base image pulled anonymously: the
/// daemon gets it, and exchanges it as for the Docker CLI's pulls.
#[test]
fn an_identity_token_login_pulls_the_base_image() {
    let base = fixtures::base_image(ImageKind::Cpu);
    support::require("openssl");
    let (registry, p) = behind_auth(
        &base,
        Auth::token("tokenuser", "n0t-used"),
        "identity-token",
    );
    registry.write_docker_config_with_identity_token(&p.docker_config_dir());
    // The environment's resolution pulls the image too.
    ok(&p, &["lock"]);
    forget_pull(&registry, &base);
    ok(&p, &["build"]);
    let grants = registry.refresh_grants();
    let clients: std::collections::BTreeSet<&str> = grants
        .iter()
        .map(|g| g.get("client_id").map_or("", String::as_str))
        .collect();
    // wheelbuild's own (the lock's manifests), and the daemon's (its pulls).
    assert_eq!(clients, ["docker", "wheelbuild"].into(), "{grants:?}");
    assert!(
        grants
            .iter()
            .all(|g| g.get("refresh_token").map(String::as_str) == Some(registry.identity_token())),
        "{grants:?}"
    );
}
