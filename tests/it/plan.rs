//! `plan` and `check`: keys against the store, with a stated reason for every build.

use crate::support::test;
use std::path::Path;

use wheelbuild::config::Config;
use wheelbuild::lock::Lockfile;
use wheelbuild::plan::Plan;
use wheelbuild::store::{BuildRecord, STORE_VERSION, Store};

use crate::common::Project;
use crate::support::git::GitRepo;
use crate::support::images::{ManifestKind, push_single};
use crate::support::registry::{Auth, Registry};
use crate::support::require_all;

struct Setup {
    p: Project,
    repo: GitRepo,
    _reg: Registry,
}

fn setup() -> Option<Setup> {
    require_all(&["docker-registry", "git"]);
    let reg = Registry::start(Auth::None);
    push_single(
        &reg,
        "wb/base",
        "py3.10",
        "linux/amd64",
        ManifestKind::Oci,
        "310",
    );
    push_single(
        &reg,
        "wb/base",
        "py3.11",
        "linux/amd64",
        ManifestKind::Docker,
        "311",
    );
    let repo = GitRepo::new();
    repo.commit("setup.py", "v1", "one");
    let other = GitRepo::new();
    other.commit("setup.py", "other", "one");
    let config = format!(
        r#"repair = "none"
[matrix]
python = ["3.10", "3.11"]

[image]
template = "{addr}/wb/base:py{{python}}"

[[project]]
name = "app"
git = "{app}"
ref = "main"
env = {{ CFLAGS = "-O2", MAX_JOBS = "2" }}

[[project]]
name = "other"
git = "{other}"
"#,
        addr = reg.addr,
        app = repo.file_url(),
        other = other.file_url()
    );
    let p = Project::new(&config)
        .name(&reg.addr, "REGISTRY")
        .hold(other);
    let out = p.run(&["lock"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    Some(Setup { p, repo, _reg: reg })
}

/// Record every target of the current plan as built (what `build` will do), without wheels.
fn record_all_built(p: &Project) {
    let config = Config::load(&p.file("wheelbuild.toml")).unwrap();
    let lock = Lockfile::read(&p.file("wheelbuild.lock")).unwrap().unwrap();
    let store = Store::new(&p.file(".wheelbuild/store"));
    let plan = Plan::new(&config, &lock, &store).unwrap();
    for t in plan.to_build() {
        let record = BuildRecord {
            version: STORE_VERSION,
            key: t.key.clone(),
            target: t.id().to_string(),
            inputs: t.inputs(&config).into_owned(),
            wheels: vec![],
            log: String::new(),
            duration_ms: 0,
            ccache: None,
            facts: Default::default(),
            wheelbuild_version: "test".into(),
            provenance: None,
            provenance_signatures: Default::default(),
            built_on: None,
        };
        store.commit(store.stage().unwrap(), &record).unwrap();
    }
}

fn code(p: &Project, args: &[&str]) -> Option<i32> {
    p.run(args).status.code()
}

#[test]
fn new_targets_build_then_are_cached() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    let out = p.run(&["plan"]);
    insta::assert_snapshot!(p.snapshot(&out), @r"
    success: true
    exit_code: 0
    ----- stdout -----
    TARGET            STATUS  KEY           IMAGE                COMMIT        REASON
    app/py3.10-cpu    build   [SHORT]  sha256:[SHORT]  [SHORT]  new target
    app/py3.11-cpu    build   [SHORT]  sha256:[SHORT]  [SHORT]  new target
    other/py3.10-cpu  build   [SHORT]  sha256:[SHORT]  [SHORT]  new target
    other/py3.11-cpu  build   [SHORT]  sha256:[SHORT]  [SHORT]  new target
    4 targets: 0 cached, 4 to build

    ----- stderr -----
    ");
    assert_eq!(code(p, &["check"]), Some(10));

    record_all_built(p);
    let out = p.run(&["check"]);
    insta::assert_snapshot!(p.snapshot(&out), @r"
    success: true
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
          Cached all 4 targets are in the store
    ");
    let out = p.run(&["plan"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 targets: 4 cached, 0 to build"));
}

#[test]
fn a_new_commit_rebuilds_only_its_project_and_says_why() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    record_all_built(p);
    let before = s.repo.rev_parse("main");
    let after = s.repo.commit("setup.py", "v2", "two");
    assert!(p.run(&["lock", "--update", "app"]).status.success());

    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(10));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, id) in lines.iter().zip(["app/py3.10-cpu", "app/py3.11-cpu"]) {
        assert!(line.starts_with(&format!("build  {id}  ")), "{line}");
        assert!(
            line.ends_with(&format!(
                "source.commit {} -> {}",
                &before[..12],
                &after[..12]
            )),
            "{line}"
        );
    }

    let out = p.run(&["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["version"], 1);
    assert_eq!(
        plan["summary"],
        serde_json::json!({"targets": 4, "cached": 2, "build": 2})
    );
    let t = &plan["targets"][0];
    assert_eq!(t["id"], "app/py3.10-cpu");
    assert_eq!(t["status"], "build");
    assert_eq!(
        t["reason"],
        serde_json::json!({"kind": "inputs-changed", "changes": [{"input": "source.commit", "old": before, "new": after}]})
    );
    assert_eq!(t["source"]["commit"], after.as_str());
    assert_eq!(t["source"]["kind"], "branch");
    assert_eq!(
        t["axes"],
        serde_json::json!({"cuda": "cpu", "python": "3.10"})
    );
    assert_eq!(t["output"], "py310/cpu/linux_x86_64");
    assert_eq!(plan["targets"][2]["status"], "cached");
    assert_eq!(plan["targets"][2]["reason"], serde_json::Value::Null);
    let include = plan["matrix"]["include"].as_array().unwrap();
    assert_eq!(include.len(), 2);
    assert_eq!(include[0]["id"], "app/py3.10-cpu");
    assert_eq!(include[0]["key"], t["key"]);
}

#[test]
fn non_key_env_and_formatting_keep_everything_cached() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    record_all_built(p);
    let config = p.read("wheelbuild.toml");
    let edited = format!(
        "# a comment\n{}",
        config
            .replace("MAX_JOBS = \"2\"", "MAX_JOBS = \"16\"")
            .replace('\n', "\r\n")
    );
    p.write("wheelbuild.toml", &edited);
    assert_eq!(code(p, &["--locked", "check"]), Some(0));

    // A key env change rebuilds exactly the project it belongs to, naming the variable.
    p.write(
        "wheelbuild.toml",
        &config.replace("CFLAGS = \"-O2\"", "CFLAGS = \"-O3\""),
    );
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.contains("app/") && l.ends_with("env.CFLAGS -O2 -> -O3")),
        "{stdout}"
    );
}

/// Config settings change what the backend builds: a key input of their project's targets
/// only, named as the reason. They are a lock input too (a backend's hook is asked with
/// them), so the lock is made again first; for these setuptools projects it asks nothing.
#[test]
fn config_settings_are_a_key_input() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    record_all_built(p);
    let config = p.read("wheelbuild.toml");
    p.write(
        "wheelbuild.toml",
        &config.replace(
            "env = { CFLAGS",
            "config-settings = { \"setup-args\" = [\"-Da=1\", \"-Db=2\"] }\nenv = { CFLAGS",
        ),
    );
    let out = p.run(&["--locked", "check"]);
    assert_eq!(out.status.code(), Some(12), "{}", p.snapshot(&out));
    assert!(p.run(&["lock"]).status.success());
    let out = p.run(&["--locked", "check"]);
    assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains("app/")
            && l.ends_with("config-settings (none) -> setup-args=-Da=1 setup-args=-Db=2")),
        "{stdout}"
    );
}

#[test]
fn a_lost_record_is_a_stated_reason() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    record_all_built(p);
    let out = p.run(&["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = plan["targets"][1]["key"].as_str().unwrap();
    std::fs::remove_file(p.file(&format!(".wheelbuild/store/v2/records/{key}.json"))).unwrap();
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(10));
    let stdout = p.filter(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        stdout.trim(),
        "build  app/py3.11-cpu  [SHORT]  build record missing from the store"
    );
}

#[test]
fn the_store_can_be_elsewhere() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    record_all_built(p);
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(
        code(
            p,
            &["check", "--store", &elsewhere.path().to_string_lossy()]
        ),
        Some(10)
    );
    let out = p
        .cmd()
        .env("WHEELBUILD_STORE", elsewhere.path())
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(Path::new(&p.file(".wheelbuild/store/v2/records")).is_dir());
    assert_eq!(code(p, &["check"]), Some(0));
}

/// The ids and keys of `p`'s plan.
fn plan_keys(p: &Project) -> Vec<(String, String)> {
    let out = p.run(&["plan", "--format", "json"]);
    assert!(out.status.success(), "{}", p.snapshot(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Regression: with 64 or more targets, `plan` and `check` listed `keys/` once and counted
/// a key directory without its record as cached: a store of empty directories passed
/// `check`, and `build` failed on every run. A key is in the store when its record is.
#[test]
fn a_store_of_empty_key_directories_is_not_cached() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    let many: Vec<String> = (0..36).map(|i| format!("\"{i}\"")).collect();
    let config = p.read("wheelbuild.toml").replace(
        "python = [\"3.10\", \"3.11\"]",
        &format!(
            "python = [\"3.10\", \"3.11\"]\naxes = {{ n = [{}] }}",
            many.join(", ")
        ),
    );
    p.write("wheelbuild.toml", &config);
    let keys = plan_keys(p);
    assert!(keys.len() >= 64, "{} targets", keys.len());
    let store = p.file(".wheelbuild/store");
    for (_, key) in &keys {
        // What the bug let through: a key's directories without its record, in the
        // layout of then (`v1/keys/<key>/`) and where records are now.
        std::fs::create_dir_all(store.join("v1/keys").join(key).join("wheels")).unwrap();
        std::fs::create_dir_all(store.join("v2/records").join(format!("{key}.json"))).unwrap();
    }
    let out = p.run(&["check"]);
    assert_eq!(out.status.code(), Some(10), "{}", p.snapshot(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{} of {} targets would be built (0 cached)",
            keys.len(),
            keys.len()
        )),
        "{stderr}"
    );
}

/// Regression: a wheel deleted from the store left its key "cached" for `plan` and
/// `check` (and `build` then failed with a path-less "No such file or directory").
#[test]
fn a_missing_store_wheel_is_not_cached() {
    let Some(s) = setup() else { return };
    let p = &s.p;
    let config = Config::load(&p.file("wheelbuild.toml")).unwrap();
    let lock = Lockfile::read(&p.file("wheelbuild.lock")).unwrap().unwrap();
    let store = Store::new(&p.file(".wheelbuild/store"));
    let plan = Plan::new(&config, &lock, &store).unwrap();
    let wheel = "app-1.0-py3-none-any.whl";
    for t in plan.to_build() {
        let staging = store.stage().unwrap();
        let bytes = format!("the wheel of {}", t.id());
        std::fs::write(staging.wheels_dir().join(wheel), &bytes).unwrap();
        let record = BuildRecord {
            version: STORE_VERSION,
            key: t.key.clone(),
            target: t.id().to_string(),
            inputs: t.inputs(&config).into_owned(),
            wheels: vec![wheelbuild::store::WheelRecord {
                file: wheel.into(),
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                size: bytes.len() as u64,
            }],
            log: String::new(),
            duration_ms: 0,
            ccache: None,
            facts: Default::default(),
            wheelbuild_version: "test".into(),
            provenance: None,
            provenance_signatures: Default::default(),
            built_on: None,
        };
        store.commit(staging, &record).unwrap();
    }
    assert_eq!(code(p, &["check"]), Some(0));
    let (_, key) = plan_keys(p)
        .into_iter()
        .find(|(id, _)| id == "app/py3.11-cpu")
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.file(&format!(".wheelbuild/store/v2/records/{key}.json"))).unwrap(),
    )
    .unwrap();
    let sha = record["wheels"][0]["sha256"].as_str().unwrap();
    std::fs::remove_file(p.file(&format!(".wheelbuild/store/v2/wheels/{sha}.whl"))).unwrap();
    let out = p.run(&["check"]);
    insta::assert_snapshot!(p.snapshot(&out), @"
    success: false
    exit_code: 10
    ----- stdout -----
    build  app/py3.11-cpu  [SHORT]  store entry damaged: the stored wheel is missing (./.wheelbuild/store/v2/wheels/[KEY].whl)

    ----- stderr -----
    1 of 4 targets would be built (3 cached)
    ");
}

/// `--shard I/N` splits the targets to build into parts that are disjoint, cover them all
/// and differ in size by at most one; `--matrix-shards N` gives CI one entry per part.
#[test]
fn shards_partition_the_targets_to_build() {
    use crate::common::{config, ok, project, pure_repo, stdout};
    let base = crate::support::fixtures::base_image(crate::support::fixtures::ImageKind::Cpu);
    let repo = pure_repo("shardpkg", None);
    let projects: Vec<String> = (0..5)
        .map(|i| project(&format!("p{i}"), &repo, "build-isolation = false"))
        .collect();
    let p = crate::common::new_project(&base, &config(&base.reference, "shards", "", &projects));
    ok(&p, &["lock"]);
    let ids = |args: &[&str]| -> Vec<String> {
        let out = ok(&p, args);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    let one = ids(&["plan", "--format", "json", "--shard", "1/2"]);
    let two = ids(&["plan", "--format", "json", "--shard", "2/2"]);
    let mut all = [one.clone(), two.clone()].concat();
    all.sort();
    let mut expected = ids(&["plan", "--format", "json"]);
    expected.sort();
    assert_eq!(all, expected, "disjoint and complete");
    assert_eq!(one.len().abs_diff(two.len()), 1, "{one:?} {two:?}");
    // The same split every time.
    assert_eq!(ids(&["plan", "--format", "json", "--shard", "1/2"]), one);

    let out = ok(&p, &["plan", "--format", "json", "--matrix-shards", "2"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let shards: Vec<(String, u64)> = json["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["shard"].as_str().unwrap().to_string(),
                e["targets"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shards,
        [
            ("1/2".to_string(), one.len() as u64),
            ("2/2".to_string(), two.len() as u64)
        ]
    );
    let out = p.run(&["plan", "--shard", "3/2"]);
    assert_eq!(out.status.code(), Some(2));
}
