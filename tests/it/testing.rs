//! The test step (`test-command`, `test-requires`, `test-sources`, `test-gpu`): every
//! wheel installed from its stored bytes into a fresh container of the test environment
//! and tested there before it is placed. Real parts: Docker, pip, pytest from a package
//! index on loopback (pypiserver), and the C-extension example with its pytest file.

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, docker_ok, example_repo, intoto_python};
use crate::support::pypi::PypiServer;
use crate::support::registry::{Auth, Registry};
use crate::support::test;

const PASSING: &str = "pytest -q -s tests";

/// hello-cext tested by `command` with pytest from `server`, locked.
fn tested_project(server: &PypiServer, command: &str, more: &str) -> Project {
    let repo = example_repo("hello-cext");
    let p = locked_with_tests(
        server,
        |test| project("cext", &repo, &format!("{test}{more}")),
        command,
    );
    p.hold(repo)
}

/// The CPU cell's project that `project` makes from its test settings (`command` with
/// pytest and `tests` from the sources), its packages from `server`, locked.
fn locked_with_tests(
    server: &PypiServer,
    project: impl FnOnce(&str) -> String,
    command: &str,
) -> Project {
    let base = fixtures::base_image(ImageKind::Cpu);
    let test = format!(
        "test-command = {}\ntest-requires = [\"pytest\"]\ntest-sources = [\"tests\"]\n",
        wheelbuild::lock::quote(command)
    );
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "t",
            &format!(
                "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
                server.url()
            ),
            &[project(&test)],
        ),
    )
    .hold(base);
    ok(&p, &["lock"]);
    p
}

fn set_test_command(p: &Project, old: &str, new: &str) {
    let config = p.read("wheelbuild.toml");
    let (old, new) = (wheelbuild::lock::quote(old), wheelbuild::lock::quote(new));
    assert!(config.contains(&old), "{config}");
    p.write("wheelbuild.toml", &config.replace(&old, &new));
}

#[test]
fn a_failing_test_keeps_the_wheel_out_of_the_wheelhouse() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let failing = "pytest -q tests && echo the-test-says-no && exit 7";
    let p = tested_project(&server, failing, "");
    let key = key_of(&p, &cpu("cext"));
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the test command exited with status 7: the wheels are not placed"),
        "{err}"
    );
    assert!(err.contains("the-test-says-no"), "the log's tail: {err}");
    assert!(wheels_in(&wheelhouse(&p)).is_empty());
    // The built wheel stays in the store under its build key.
    assert_eq!(store_keys(&p), [key.clone()].into());
    let record = record(&p, &key);
    assert!(stored_wheel(&p, record["wheels"][0]["sha256"].as_str().unwrap()).is_file());

    // The same test of the same wheels is not run again: it failed, as its log says.
    std::fs::remove_dir_all(p.path().join(".wheelbuild/cache/logs")).unwrap();
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "the test of these very wheels failed before (the test command exited with status 7"
        ),
        "{err}"
    );
    assert!(
        err.contains("the-test-says-no"),
        "the stored log's tail: {err}"
    );
    assert!(err.contains("build --retest"), "{err}");
    assert!(wheels_in(&wheelhouse(&p)).is_empty());

    set_test_command(&p, failing, PASSING);
    assert_eq!(
        key_of(&p, &cpu("cext")),
        key,
        "a test change is no build input"
    );
    let out = ok(&p, &["build"]);
    let summary = stdout(&out);
    assert!(
        summary.contains(": 0 built, 1 cached"),
        "not rebuilt: {summary}"
    );
    assert!(summary.contains("test passed in "), "{summary}");
    assert_eq!(wheels_in(&wheelhouse(&p)).len(), 1);
}

#[test]
fn a_test_only_change_reruns_the_test_and_does_not_rebuild() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    let first = stdout(&ok(&p, &["build"]));
    assert!(
        first.contains(": 1 built") && first.contains("test passed in "),
        "{first}"
    );
    let key = key_of(&p, &cpu("cext"));
    let edited = "pytest -q -s tests -k add";
    set_test_command(&p, PASSING, edited);
    let plan = stdout(&ok(&p, &["plan"]));
    assert!(
        plan.contains("cached  ") && plan.contains("test pending: never run with these wheels"),
        "{plan}"
    );
    let second = stdout(&ok(&p, &["build"]));
    assert_eq!(key_of(&p, &cpu("cext")), key);
    assert!(
        second.contains(": 0 built, 1 cached"),
        "not rebuilt: {second}"
    );
    assert!(second.contains("test passed in "), "{second}");
}

#[test]
fn a_test_image_is_pinned_by_digest_and_the_test_runs_in_it() {
    let server = PypiServer::start(PYTEST_WHEELS);
    // A CPU wheel tested in the CUDA image: only there is `nvcc`.
    let cuda = fixtures::base_image(ImageKind::Cuda);
    let command = "command -v nvcc; pytest -q -s tests";
    let line = format!("test-image = \"{}\"\n", cuda.reference);
    let p = tested_project(&server, command, &line);
    let lock = p.read("wheelbuild.lock");
    assert!(lock.contains(&cuda.digest), "{lock}");
    let p = p.hold(cuda);
    let first = stdout(&ok(&p, &["build"]));
    assert!(first.contains("test passed in "), "{first}");
    let log = p
        .path()
        .join(".wheelbuild/cache/logs/cext/py3.11-cpu.test.log");
    let read = || std::fs::read_to_string(&log).unwrap();
    let has_nvcc = || read().lines().any(|l| l == "/usr/bin/nvcc");
    assert!(has_nvcc(), "{}", read());
    let key = key_of(&p, &cpu("cext"));

    // Back to the cell's image: the test runs again there, the wheel is not rebuilt.
    p.write(
        "wheelbuild.toml",
        &p.read("wheelbuild.toml").replace(&line, ""),
    );
    ok(&p, &["lock"]);
    let plan = stdout(&ok(&p, &["plan"]));
    assert!(plan.contains("test pending: never run"), "{plan}");
    let second = stdout(&ok(&p, &["build"]));
    assert_eq!(key_of(&p, &cpu("cext")), key);
    assert!(second.contains(": 0 built, 1 cached"), "{second}");
    assert!(second.contains("test passed in "), "{second}");
    assert!(!has_nvcc(), "{}", read());
}

#[test]
fn an_unchanged_test_key_is_not_rerun() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    ok(&p, &["build"]);
    let log = p
        .path()
        .join(".wheelbuild/cache/logs/cext/py3.11-cpu.test.log");
    let ran = mtime(&log);
    let again = stdout(&ok(&p, &["build"]));
    assert!(again.contains("test passed (stored outcome)"), "{again}");
    assert_eq!(mtime(&log), ran, "no test container ran");
    let forced = stdout(&ok(&p, &["build", "--retest"]));
    assert!(forced.contains("test passed in "), "{forced}");
    assert_ne!(mtime(&log), ran);
}

#[test]
fn the_test_imports_the_installed_wheel_not_the_sources() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    ok(&p, &["build"]);
    let log = std::fs::read_to_string(
        p.path()
            .join(".wheelbuild/cache/logs/cext/py3.11-cpu.test.log"),
    )
    .unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("hello_cext from "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("/site-packages/hello_cext"), "{line}");
    assert!(!line.contains("/wheelbuild/project"), "{line}");
    assert!(log.contains("2 passed"), "{log}");
}

#[test]
fn a_gpu_test_with_no_gpu_engine_is_reported_not_run() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "test-gpu = true");
    let out = stdout(&ok(&p, &["build"]));
    assert!(
        out.contains("test not run: needs a GPU engine: placed untested"),
        "{out}"
    );
    assert_eq!(wheels_in(&wheelhouse(&p)).len(), 1);
    let plan = ok(&p, &["plan"]);
    insta::assert_snapshot!(p.snapshot(&plan), @r"
    success: true
    exit_code: 0
    ----- stdout -----
    TARGET           STATUS  KEY           IMAGE                COMMIT        REASON
    cext/py3.11-cpu  cached  [SHORT]  sha256:[SHORT]  [SHORT]  test pending: not run (needs a GPU engine)
    1 targets: 1 cached (1 to test), 0 to build
    environment [REGISTRY]/wheelbuild/base:py3.11-cpu + build requirements setuptools>=61, wheel: abi cp311, gcc 12.2.0, glibc 2.36, python 3.11.2; 0 pip, 0 apt package(s) pinned, 2 from the image

    ----- stderr -----
    ");
    let check = p.run(&["check"]);
    assert_eq!(check.status.code(), Some(10), "{}", p.snapshot(&check));
    insta::assert_snapshot!(p.snapshot(&check), @r"
    success: false
    exit_code: 10
    ----- stdout -----
    test   cext/py3.11-cpu  [SHORT]  test pending: not run (needs a GPU engine)

    ----- stderr -----
    1 of 1 targets would be tested (all are built)
    ");
    let audit = p.run(&["--offline", "audit"]);
    let found = stdout(&audit);
    assert!(
        found.contains("1 wheel(s) built but never tested on a GPU"),
        "{}",
        p.snapshot(&audit)
    );

    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[test]\nrequire = true\n"),
    );
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "the wheels were not tested (needs a GPU engine), and `[test] require` is set"
        ),
        "{err}"
    );
}

#[test]
fn a_wheel_whose_requirements_the_test_environment_lacks_fails_its_test_naming_it() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo(
        "needy",
        Some(
            "from setuptools import setup\n\nsetup(name=\"needy\", version=\"0.1.0\", py_modules=[\"needy_mod\"], install_requires=[\"six\"])\n",
        ),
    );
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "t",
            &format!(
                "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
                server.url()
            ),
            &[project(
                "needy",
                &repo,
                "test-command = \"python3 -c 'import needy_mod'\"\ntest-requires = [\"pytest\"]\n",
            )],
        ),
    )
    .hold(repo);
    ok(&p, &["lock"]);
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the test environment lacks `six`, a requirement of the wheels"),
        "{err}"
    );
    assert!(err.contains("wheelbuild lock --update six"), "{err}");
    assert!(wheels_in(&wheelhouse(&p)).is_empty());
}

#[test]
fn test_requires_are_pinned_with_sha256_in_the_lock() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    let lock = lock_of(&p);
    let env = lock
        .environments
        .iter()
        .find(|e| e.pip == ["pytest"])
        .unwrap_or_else(|| panic!("{}", p.read("wheelbuild.lock")));
    assert!(env.build.is_empty() && env.apt.is_empty());
    let pytest = env.packages.iter().find(|p| p.name == "pytest").unwrap();
    let served = server.dir().join("pytest-9.2.0-py3-none-any.whl");
    assert_eq!(pytest.sha256, sha256_file(&served));
    let names: Vec<&str> = env.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["iniconfig", "packaging", "pluggy", "pygments", "pytest"]
    );
    // The lock is current with the test environment in it.
    ok(&p, &["--locked", "plan"]);
}

#[test]
fn a_gpu_test_on_a_gpu_engine_asks_the_engine_for_the_gpu() {
    if fixtures::daemon_has_gpu_runtime() {
        crate::support::skip("this daemon has an NVIDIA runtime");
    }
    let server = PypiServer::start(PYTEST_WHEELS);
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let p = tested_project(&server, PASSING, "test-gpu = true");
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[[engine]]\nname = \"gpu1\"\nhost = \"{host}\"\ngpu = true\n"),
    );
    // The build needs no GPU; its test asks this engine for one, which it has not.
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the Docker daemon has no GPU runtime"),
        "{err}"
    );
    assert!(
        err.contains("hint: install the NVIDIA Container Toolkit"),
        "{err}"
    );
    assert!(
        wheels_in(&wheelhouse(&p)).is_empty(),
        "never passed, never placed"
    );
    let plan = stdout(&ok(&p, &["plan"]));
    assert!(plan.contains("test pending: never run"), "{plan}");
}

#[test]
fn the_test_environment_installs_the_projects_runtime_requirements() {
    let server = PypiServer::start(&[PYTEST_WHEELS, &["six-1.17.0-py2.py3-none-any.whl"]].concat());
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = setuptools_repo();
    repo.commit(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=61\", \"wheel\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"needy\"\nversion = \"0.1.0\"\ndependencies = [\"six\"]\n\n\
         [tool.setuptools]\npy-modules = [\"needy_mod\"]\n",
        "pyproject",
    );
    repo.commit("needy_mod.py", "import six\n", "module");
    repo.annotated_tag("v0.1.0", "v0.1.0");
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "t",
            &format!(
                "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
                server.url()
            ),
            &[project(
                "needy",
                &repo,
                "test-command = \"python3 -c 'import needy_mod, six; print(six.__version__)'\"\n",
            )],
        ),
    )
    .hold(repo);
    ok(&p, &["lock"]);
    let lock = p.read("wheelbuild.lock");
    assert!(
        lock.contains("dependencies = { \".\" = { static = true, requires = [\"six\"] } }"),
        "{lock}"
    );
    let env = lock_of(&p)
        .environments
        .into_iter()
        .find(|e| e.pip == ["six"])
        .unwrap_or_else(|| panic!("{lock}"));
    assert_eq!(env.packages[0].name, "six");
    let out = stdout(&ok(&p, &["build"]));
    assert!(out.contains("test passed in "), "{out}");
    assert_eq!(wheels_in(&wheelhouse(&p)).len(), 1);
}

#[test]
fn a_skipped_target_is_placed_untested_and_plan_says_why() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let skip = "test-skip = [{ python = \"3.11\", reason = \"no pytest wheel for 3.11 yet\" }]";
    let p = tested_project(&server, PASSING, skip);
    let lock = lock_of(&p);
    assert!(
        lock.environments.iter().all(|e| e.pip != ["pytest"]),
        "a skipped test needs no test environment"
    );
    let out = stdout(&ok(&p, &["build"]));
    assert!(
        out.contains("test not run: skipped: no pytest wheel for 3.11 yet: placed untested"),
        "{out}"
    );
    assert_eq!(wheels_in(&wheelhouse(&p)).len(), 1);
    let plan = stdout(&ok(&p, &["plan"]));
    assert!(
        plan.contains("test skipped: no pytest wheel for 3.11 yet"),
        "{plan}"
    );
    ok(&p, &["check"]);

    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[test]\nrequire = true\n"),
    );
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("the wheels were not tested (skipped: no pytest wheel for 3.11 yet)"),
        "{}",
        p.snapshot(&out)
    );
}

#[test]
fn a_gpu_test_in_a_pool_builds_on_its_gpu_engine() {
    if fixtures::daemon_has_gpu_runtime() {
        crate::support::skip("this daemon has an NVIDIA runtime");
    }
    let server = PypiServer::start(PYTEST_WHEELS);
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let p = tested_project(&server, PASSING, "test-gpu = true");
    let config = p.read("wheelbuild.toml");
    // The engine without a GPU comes first and is free: the target still goes to `gpu1`,
    // where its test can run (and asks for the GPU this daemon has not).
    p.write(
        "wheelbuild.toml",
        &format!(
            "{config}\n[[engine]]\nname = \"cpu1\"\nhost = \"{host}\"\njobs = 1\n\n\
             [[engine]]\nname = \"gpu1\"\nhost = \"{host}\"\njobs = 1\ngpu = true\n"
        ),
    );
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
    assert!(
        stderr(&out).contains("the Docker daemon has no GPU runtime"),
        "{}",
        p.snapshot(&out)
    );
    assert!(stdout(&out).contains("gpu1"), "{}", p.snapshot(&out));
}

#[test]
fn a_damaged_stored_wheel_is_built_again_before_its_test() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let failing = "pytest -q tests && exit 7";
    let p = tested_project(&server, failing, "");
    assert_eq!(p.run(&["build"]).status.code(), Some(1));
    let key = key_of(&p, &cpu("cext"));
    let sha = record(&p, &key)["wheels"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = stored_wheel(&p, &sha);
    let mut bytes = std::fs::read(&stored).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&stored, bytes).unwrap();
    set_test_command(&p, failing, PASSING);
    let out = ok(&p, &["build"]);
    let summary = stdout(&out);
    assert!(summary.contains(": 1 built"), "{}", p.snapshot(&out));
    assert!(summary.contains("test passed in "), "{summary}");
    assert_eq!(wheels_in(&wheelhouse(&p)).len(), 1);
}

#[test]
fn gc_keeps_the_test_environment_and_removes_the_outcomes_of_removed_keys() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    // Made by this store (another test's may have made the same image before).
    ok(&p, &["build", "--rebuild-env"]);
    let store = store_dir(&p);
    // The environment images this store's builds made (by their store label, which
    // names the project's unique directory).
    let project_dir = p.path().file_name().unwrap().to_string_lossy().into_owned();
    let env_images = || {
        let ids = docker_ok(&["images", "-q", "--filter", "reference=wheelbuild-env"]);
        ids.lines()
            .filter(|id| {
                let label = "{{index .Config.Labels \"org.wheelbuild.store\"}}";
                docker_ok(&["image", "inspect", "--format", label, id]).contains(&project_dir)
            })
            .count()
    };
    assert_eq!(
        env_images(),
        2,
        "the build's and the test's environment images"
    );
    let tests = store.join("tests");
    assert_eq!(files_under(&tests).len(), 2, "the outcome and its log");
    // Live: both stay.
    ok(&p, &["gc"]);
    assert_eq!(env_images(), 2, "a live test environment is kept");
    assert_eq!(files_under(&tests).len(), 2);
    // A build input changes: the old key goes, and with it its test's outcome.
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("WB_TEST = \"t\"", "WB_TEST = \"t2\""),
    );
    ok(&p, &["gc"]);
    assert!(files_under(&tests).is_empty(), "{:?}", files_under(&tests));
}

/// The test statement beside the one wheel of `p`, checked by in-toto's reader: its
/// test byproduct.
fn test_byproduct(p: &Project) -> serde_json::Value {
    let wheels = wheels_in(&wheelhouse(p));
    let path = wheelhouse(p).join(format!("{}.test.intoto.json", wheels[0]));
    let out = crate::provenance::validate(&intoto_python(), &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let predicate = &doc["predicate"];
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"]["buildKey"],
        key_of(p, &cpu("cext")).as_str()
    );
    let test = plan_json(p)["targets"][0]["test"]["key"].clone();
    assert_eq!(predicate["runDetails"]["metadata"]["invocationId"], test);
    let byproduct = predicate["runDetails"]["byproducts"][0].clone();
    assert_eq!(byproduct["name"], "test");
    assert_eq!(byproduct["digest"]["blake3"], test);
    byproduct
}

#[test]
fn provenance_carries_the_test_outcome() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    ok(&p, &["build"]);
    let test = test_byproduct(&p);
    let notes = &test["annotations"];
    assert_eq!(notes["outcome"], "passed");
    assert_eq!(notes["engine"], "default");
    assert!(
        notes["duration"].as_str().unwrap().ends_with('s'),
        "{notes}"
    );
    // The build's statement is the build's alone (signed with it when signing).
    let wheel = &wheels_in(&wheelhouse(&p))[0];
    let build =
        std::fs::read_to_string(wheelhouse(&p).join(format!("{wheel}.intoto.json"))).unwrap();
    assert!(!build.contains("\"test\""), "{build}");

    // A test-only change: the wheel stays, its test statement follows the new outcome.
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace("test-sources", "test-gpu = true\ntest-sources"),
    );
    let out = stdout(&ok(&p, &["build"]));
    assert!(out.contains(": 0 built, 1 cached"), "{out}");
    let notes = &test_byproduct(&p)["annotations"];
    assert_eq!(notes["outcome"], "not run");
    assert_eq!(notes["why"], "needs a GPU engine");
    assert_eq!(notes["engine"], serde_json::Value::Null);
}

#[test]
fn with_a_signing_key_the_test_statement_is_signed() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[remote]\nsign-with = \"ci-1.secret\"\n"),
    );
    let public = stdout(&ok(&p, &["key", "generate", "ci-1"]));
    ok(&p, &["build"]);
    let wheel = &wheels_in(&wheelhouse(&p))[0];
    let path = wheelhouse(&p).join(format!("{wheel}.test.intoto.json"));
    let envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        statement["predicate"]["runDetails"]["byproducts"][0]["annotations"]["outcome"],
        "passed"
    );
    let signature = &envelope["signatures"][0];
    assert_eq!(signature["keyid"], "ci-1");
    let key = b64
        .decode(public.trim().split_once(':').unwrap().1)
        .unwrap();
    let sig = b64.decode(signature["sig"].as_str().unwrap()).unwrap();
    let mut pae = format!("DSSEv1 28 application/vnd.in-toto+json {} ", payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let dir = tempfile::tempdir().unwrap();
    assert!(crate::provenance::openssl_verifies(
        dir.path(),
        &key,
        &pae,
        &sig
    ));
}

/// A runner that only pulls has `sign-with` but no secret key: placing a tested wheel it
/// did not build failed on the missing key, though it signs nothing else.
#[test]
fn a_runner_without_the_signing_key_places_tested_wheels_with_an_unsigned_test_statement() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let p = tested_project(&server, PASSING, "");
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &format!("{config}\n[remote]\nsign-with = \"ci-1.secret\"\n"),
    );
    ok(&p, &["key", "generate", "ci-1"]);
    ok(&p, &["build"]);
    // The wheel is in the store; this runner has no key and tests it again.
    std::fs::remove_file(p.path().join("ci-1.secret")).unwrap();
    let out = p.run(&["build", "--retest"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the test's provenance statement is written unsigned"),
        "{stderr}"
    );
    let wheel = &wheels_in(&wheelhouse(&p))[0];
    let path = wheelhouse(&p).join(format!("{wheel}.test.intoto.json"));
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        statement["predicate"]["runDetails"]["byproducts"][0]["annotations"]["outcome"], "passed",
        "a plain statement, not an envelope: {statement}"
    );
}

/// A first runner (`first`, signing with `ci-1`) that built, tested and pushed hello-cext
/// to `registry`, and a second one with its config and lock, trusting `ci-1`, that pushes
/// nothing.
fn two_runners(server: &PypiServer, registry: &Registry) -> (Project, Project) {
    let first = tested_project(server, PASSING, "");
    let public = stdout(&ok(&first, &["key", "generate", "ci-1"]));
    let config = first.read("wheelbuild.toml");
    let remote = format!("\n[remote]\nurl = \"{}/team/cache\"\n", registry.addr);
    first.write(
        "wheelbuild.toml",
        &format!("{config}{remote}push = true\nsign-with = \"ci-1.secret\"\n"),
    );
    registry.write_docker_config(&first.docker_config_dir());
    let built = stdout(&ok(&first, &["build"]));
    assert!(built.contains("test passed in "), "{built}");
    let second = Project::new(&format!(
        "{config}{remote}trusted-keys = [\"{}\"]\n",
        public.trim()
    ));
    second.write("wheelbuild.lock", &first.read("wheelbuild.lock"));
    registry.write_docker_config(&second.docker_config_dir());
    (first, second)
}

/// The test key of `p`'s one target, from the JSON plan.
fn test_key(p: &Project) -> String {
    plan_json(p)["targets"][0]["test"]["key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A runner that pulls a tested wheel tested it again: the outcome did not travel with it.
#[test]
fn a_pulled_entry_that_was_tested_is_not_tested_again() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let registry = Registry::start(Auth::basic("ci", "s3cret-pw"));
    let (_first, second) = two_runners(&server, &registry);
    // Nothing to build, nothing to test: the remote holds both.
    let out = second.run(&["check", "--remote"]);
    assert_eq!(out.status.code(), Some(0), "{}", second.snapshot(&out));
    let out = second.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(10),
        "without --remote: {}",
        second.snapshot(&out)
    );

    let since = std::time::SystemTime::now();
    let out = ok(&second, &["build"]);
    let summary = stdout(&out);
    assert!(
        summary.contains("test passed on another runner"),
        "{}",
        second.snapshot(&out)
    );
    assert_eq!(
        fixtures::containers_created_since(since, &fixtures::key_label(&test_key(&second))),
        Vec::<String>::new(),
        "no test container started"
    );
    assert_eq!(wheels_in(&wheelhouse(&second)).len(), 1);
    // Stored now: the next build says so, and `check` has nothing to do.
    let again = stdout(&ok(&second, &["build"]));
    assert!(again.contains("test passed (stored outcome)"), "{again}");
    ok(&second, &["check"]);
    // `--retest` runs it here all the same.
    let forced = stdout(&ok(&second, &["build", "--retest"]));
    assert!(forced.contains("test passed in "), "{forced}");
}

/// The test record's bytes altered in the registry: the outcome is refused, said, and the
/// test runs here; `pull` says which entry it refused.
#[test]
fn a_tampered_test_outcome_is_refused_and_the_test_runs_here() {
    let server = PypiServer::start(PYTEST_WHEELS);
    let registry = Registry::start(Auth::basic("ci", "s3cret-pw"));
    let (first, second) = two_runners(&server, &registry);
    let key = test_key(&first);
    let sha = sha256_file(&store_dir(&first).join(format!("tests/{key}.json")));
    registry.tamper_blob(&sha, 1);

    let out = second.run(&["pull"]);
    assert_eq!(out.status.code(), Some(3), "{}", second.snapshot(&out));
    assert!(
        stderr(&out).contains(&format!(
            "remote entry {} is refused: test outcome",
            &key[..12]
        )),
        "{}",
        second.snapshot(&out)
    );
    let out = ok(&second, &["build"]);
    assert!(
        stderr(&out).contains("testing it here"),
        "{}",
        second.snapshot(&out)
    );
    assert!(stdout(&out).contains("test passed in "), "{}", stdout(&out));
}

/// A project nobody here wrote runs its own pytest suite, shipped in its sdist, against the
/// built wheel: MarkupSafe 3.0.2 (setuptools, a C speedups module), whose suite runs every
/// check against the pure-Python module and the compiled one. The command first imports
/// the compiled module: its suite would skip it, not fail, if the wheel lacked it.
#[test]
fn a_published_projects_own_pytest_suite_runs_against_the_built_wheel() {
    let served: Vec<&str> = PYTEST_WHEELS
        .iter()
        .copied()
        .chain(["setuptools-84.2.1-py3-none-any.whl"])
        .collect();
    let server = PypiServer::start(&served);
    let repo = fixtures::sdist_repo("markupsafe==3.0.2");
    let command = "python3 -c 'import markupsafe._speedups as s; print(s.__file__)' && \
                   python3 -m pytest -q -p no:cacheprovider tests";
    let p = locked_with_tests(
        &server,
        |test| {
            project_at(
                "markupsafe",
                &format!("file://{}", repo.display()),
                "v3.0.2",
                test,
            )
        },
        command,
    );
    let out = p.run(&["build"]);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(
        p.path()
            .join(".wheelbuild/cache/logs")
            .join(format!("{}.test.log", cpu("markupsafe"))),
    )
    .unwrap_or_default();
    assert!(out.status.success(), "{output}\n{log}");
    assert!(output.contains("test passed"), "{output}");
    assert!(
        log.contains("site-packages/markupsafe/_speedups"),
        "the compiled module comes from the installed wheel:\n{log}"
    );
    let summary = log.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("failed") && !summary.contains("error"),
        "{log}"
    );
}
