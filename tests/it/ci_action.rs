//! CI in three lines: the composite GitHub Action (`action.yml`) and the GitLab example
//! (`examples/ci/gitlab-ci.yml`) run for real. Their YAML is parsed, and each step or job
//! script runs in bash as the runner would run it (inputs and variables in its environment,
//! `$GITHUB_OUTPUT` a file), against a real registry as the remote cache and real Docker:
//! plan → one build per shard, pushed and signed → assemble on a fresh runner.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind};
use crate::support::git::GitRepo;
use crate::support::registry::{Auth, Registry};
use crate::support::test;

fn repo_file(name: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The directory of the wheelbuild these tests run, first on PATH: the action's install
/// step finds it at the action's version and installs nothing.
fn bin_dir() -> PathBuf {
    Path::new(assert_cmd::cargo::cargo_bin!("wheelbuild"))
        .parent()
        .unwrap()
        .to_owned()
}

/// bash running `script` in `dir` with `p`'s environment (its Docker config, cache
/// channel), this wheelbuild first on PATH, and `env`.
fn bash(p: &Project, dir: &Path, script: &str, env: &[(String, String)]) -> std::process::Command {
    let base = p.std_cmd();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(dir);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", bin_dir().display()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `${{ … }}` in `text` with what a runner puts there; any other expression fails the test,
/// so a step cannot run with one left unexpanded.
fn expand(text: &str, inputs: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("an unclosed ${{") + start;
        let expr = rest[start + 3..end].trim();
        let value = if let Some(name) = expr.strip_prefix("inputs.") {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("`{expr}`: no such input"))
                .clone()
        } else if expr == "github.action_path" {
            env!("CARGO_MANIFEST_DIR").to_string()
        } else {
            panic!("the test does not know `${{{{ {expr} }}}}`: teach it what a runner gives")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A step's `if:`, of the forms the action uses: `inputs.NAME == 'v'` / `!= 'v'` joined by
/// `&&`.
fn holds(condition: &str, inputs: &BTreeMap<String, String>) -> bool {
    condition.split("&&").all(|part| {
        let (name, op, value) = ["==", "!="]
            .iter()
            .find_map(|op| {
                let (l, r) = part.split_once(op)?;
                Some((l.trim(), *op, r.trim()))
            })
            .unwrap_or_else(|| panic!("the test does not know the condition `{part}`"));
        let name = name
            .strip_prefix("inputs.")
            .expect("a condition on an input");
        let value = value.trim_matches('\'');
        (inputs[name] == value) == (op == "==")
    })
}

struct ActionRun {
    /// The last step that ran.
    output: Output,
    /// Every step's stdout and stderr, in order.
    log: String,
    /// What the steps wrote to `$GITHUB_OUTPUT`, by the action's output names.
    outputs: BTreeMap<String, String>,
}

/// Runs `action.yml` with `with` as a workflow step's `with:`, in `p`'s directory: each step
/// whose `if` holds, until one fails.
fn run_action(p: &Project, with: &[(&str, &str)]) -> ActionRun {
    let action = repo_file("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let mut inputs = BTreeMap::new();
    for (name, spec) in action["inputs"].as_hash().unwrap() {
        let default = spec["default"].as_str().unwrap_or("").to_string();
        inputs.insert(name.as_str().unwrap().to_string(), default);
    }
    for (name, value) in with {
        assert!(
            inputs.contains_key(*name),
            "action.yml has no input `{name}`"
        );
        inputs.insert(name.to_string(), value.to_string());
    }
    let files = tempfile::tempdir().unwrap();
    let github_output = files.path().join("output");
    let github_path = files.path().join("path");
    let mut step_outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut last = None;
    let mut log = String::new();
    for step in action["runs"]["steps"].as_vec().unwrap() {
        if let Some(condition) = step["if"].as_str()
            && !holds(condition, &inputs)
        {
            continue;
        }
        assert_eq!(step["shell"].as_str(), Some("bash"), "{step:?}");
        let dir = match step["working-directory"].as_str() {
            Some(d) => p.path().join(expand(d, &inputs)),
            None => p.path().to_owned(),
        };
        let mut env = vec![
            (
                "GITHUB_OUTPUT".to_string(),
                github_output.display().to_string(),
            ),
            ("GITHUB_PATH".to_string(), github_path.display().to_string()),
        ];
        if let Some(vars) = step["env"].as_hash() {
            for (k, v) in vars {
                let v = match v {
                    Yaml::String(s) => s.clone(),
                    other => panic!("env value {other:?}"),
                };
                env.push((k.as_str().unwrap().to_string(), expand(&v, &inputs)));
            }
        }
        std::fs::write(&github_output, "").unwrap();
        let run = step["run"].as_str().unwrap();
        assert!(
            !run.contains("${{"),
            "inputs reach scripts as variables: {run}"
        );
        let output = bash(p, &dir, run, &env).output().unwrap();
        if let Some(id) = step["id"].as_str() {
            for line in std::fs::read_to_string(&github_output).unwrap().lines() {
                let (k, v) = line.split_once('=').unwrap();
                step_outputs.insert(format!("{id}.{k}"), v.to_string());
            }
        }
        log.push_str(&format!("--- {}\n", step["name"].as_str().unwrap_or("")));
        log.push_str(&String::from_utf8_lossy(&output.stdout));
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        let failed = !output.status.success();
        last = Some(output);
        if failed {
            break;
        }
    }
    let mut outputs = BTreeMap::new();
    for (name, spec) in action["outputs"].as_hash().unwrap() {
        let value = spec["value"].as_str().unwrap();
        let reference = value
            .trim()
            .strip_prefix("${{ steps.")
            .and_then(|v| v.strip_suffix(" }}"))
            .unwrap();
        let (id, key) = reference.split_once(".outputs.").unwrap();
        if let Some(v) = step_outputs.get(&format!("{id}.{key}")) {
            outputs.insert(name.as_str().unwrap().to_string(), v.clone());
        }
    }
    ActionRun {
        output: last.expect("a step ran"),
        log,
        outputs,
    }
}

impl ActionRun {
    /// The log of a run that succeeded.
    fn succeeded(&self) -> &str {
        assert!(self.output.status.success(), "{}", self.log);
        &self.log
    }
}

/// Two CI runners' worth of one config: projects `names` of one repository on `base`, the
/// remote cache on `registry`, pushes signed with a key `ci` the config trusts.
struct Pipeline {
    base: BaseImage,
    registry: Registry,
    /// One repository per project, each its own distribution: keys and wheels of their own.
    repos: Vec<(String, GitRepo)>,
    key_dir: tempfile::TempDir,
    public: String,
}

impl Pipeline {
    fn new(names: &[&str]) -> Pipeline {
        let base = fixtures::base_image(ImageKind::Cpu);
        let registry = Registry::start(Auth::basic("ci", "s3cret-pw"));
        let mut names = names.to_vec();
        names.sort();
        let repos = names
            .iter()
            .map(|n| (n.to_string(), pure_repo(n, None)))
            .collect();
        let key_dir = tempfile::tempdir().unwrap();
        let keygen = Project::new("");
        let out = ok(
            &keygen,
            &[
                "key",
                "generate",
                "ci",
                "--dir",
                &key_dir.path().display().to_string(),
            ],
        );
        Pipeline {
            base,
            registry,
            repos,
            key_dir,
            public: stdout(&out).trim().to_string(),
        }
    }

    /// A fresh runner: the repository's config and lock (`None`: locked here), an empty
    /// store, the registry's credentials when `logged_in` (else its job logs in), the
    /// signing key as `ci.secret` when `signs`.
    fn runner(&self, test: &str, lock: Option<&str>, logged_in: bool, signs: bool) -> Project {
        let projects: Vec<String> = self
            .repos
            .iter()
            .map(|(n, repo)| project(n, repo, "build-isolation = false"))
            .collect();
        let remote = format!(
            "\n[remote]\nurl = \"{}/team/cache\"\nsign-with = \"ci.secret\"\ntrusted-keys = [\"{}\"]\n",
            self.registry.addr, self.public
        );
        let p = new_project(
            &self.base,
            &config(&self.base.reference, test, &remote, &projects),
        );
        if logged_in || lock.is_none() {
            self.registry.write_docker_config(&p.docker_config_dir());
        }
        if signs {
            std::fs::copy(self.key_dir.path().join("ci.secret"), p.file("ci.secret")).unwrap();
        }
        match lock {
            Some(lock) => p.write("wheelbuild.lock", lock),
            None => {
                ok(&p, &["lock"]);
            }
        }
        p
    }

    fn wheels(&self, p: &Project) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(wheelhouse(p))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".whl"))
            .collect();
        names.sort();
        names
    }
}

#[test]
fn the_github_action_plans_builds_each_shard_and_assembles_on_a_fresh_runner() {
    let ci = Pipeline::new(&["gha", "ghb", "ghc"]);
    let planner = ci.runner("gh-action", None, true, false);
    let lock = planner.read("wheelbuild.lock");

    let plan = run_action(&planner, &[("command", "plan"), ("shards", "2")]);
    let text = plan.succeeded();
    // The wheelbuild on PATH is the action's version: the install step installs nothing.
    assert!(
        text.contains(&format!(
            "wheelbuild {} is installed",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert_eq!(
        plan.outputs.get("to-build").map(String::as_str),
        Some("3"),
        "{text}"
    );
    let matrix: serde_json::Value = serde_json::from_str(&plan.outputs["matrix"]).unwrap();
    let shards: Vec<String> = matrix["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["shard"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shards, ["1/2", "2/2"], "{matrix}");

    // One runner per matrix entry, each with a store of its own.
    for shard in &shards {
        let runner = ci.runner("gh-action", Some(&lock), true, true);
        let build = run_action(&runner, &[("command", "build"), ("shard", shard)]);
        build.succeeded();
    }

    // The plan now finds everything in the remote cache: no shard to run.
    let replan = run_action(&planner, &[("command", "plan"), ("shards", "2")]);
    replan.succeeded();
    assert_eq!(replan.outputs["to-build"], "0");
    assert_eq!(replan.outputs["matrix"], r#"{"include":[]}"#);

    let assembler = ci.runner("gh-action", Some(&lock), true, false);
    let since = std::time::SystemTime::now();
    let assemble = run_action(&assembler, &[("command", "assemble")]);
    assemble.succeeded();
    assert_eq!(
        ci.wheels(&assembler).len(),
        3,
        "{:?}",
        ci.wheels(&assembler)
    );
    assert!(
        fixtures::containers_created_since(
            since,
            &fixtures::key_label(&key_of(&assembler, &cpu("gha")))
        )
        .is_empty(),
        "assemble pulled, it did not build"
    );
}

#[test]
fn the_github_action_refuses_a_build_without_a_shard_and_an_unknown_command() {
    let p = Project::new("");
    let build = run_action(&p, &[("command", "build")]);
    assert_eq!(build.output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&build.output.stdout).contains("needs shard: I/N"),
        "{build:?}",
        build = build.output
    );
    let other = run_action(&p, &[("command", "deploy")]);
    assert_eq!(other.output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.output.stdout).contains("unknown command 'deploy'"));
}

/// A GitLab job's `script` lines (after `default.before_script`), as its runner joins them.
fn gitlab_script(ci: &Yaml, job: &str) -> String {
    let lines = |y: &Yaml| -> Vec<String> {
        y.as_vec()
            .map(|v| v.iter().map(|l| l.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut script = vec!["set -eo pipefail".to_string()];
    script.extend(lines(&ci["default"]["before_script"]));
    script.extend(lines(&ci[job]["script"]));
    script.join("\n")
}

#[test]
fn the_gitlab_example_plans_builds_each_shard_and_assembles() {
    fixtures::require_docker();
    let gitlab = repo_file("examples/ci/gitlab-ci.yml");
    let ci = Pipeline::new(&["gla", "glb", "glc"]);
    let planner = ci.runner("gitlab", None, false, false);
    let lock = planner.read("wheelbuild.lock");
    let Auth::Basic { user, pass } = &ci.registry.auth else {
        unreachable!("the pipeline's registry takes a password")
    };
    let registry_vars = || -> Vec<(String, String)> {
        vec![
            ("CI_REGISTRY".into(), ci.registry.addr.clone()),
            ("CI_REGISTRY_USER".into(), user.clone()),
            ("CI_REGISTRY_PASSWORD".into(), pass.clone()),
            (
                "WHEELBUILD_SIGNING_KEY".into(),
                ci.key_dir.path().join("ci.secret").display().to_string(),
            ),
            (
                "SHARDS".into(),
                gitlab["variables"]["SHARDS"].as_str().unwrap().into(),
            ),
        ]
    };
    // The real `docker login` of before_script, against the registry.
    tool_ok(&mut bash(
        &planner,
        planner.path(),
        &gitlab_script(&gitlab, "plan"),
        &registry_vars(),
    ));

    let shards: Vec<String> = gitlab["build"]["parallel"]["matrix"][0]["SHARD"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let n = gitlab["variables"]["SHARDS"].as_str().unwrap();
    assert_eq!(shards.len().to_string(), n, "one build job per shard");
    for shard in &shards {
        assert!(shard.ends_with(&format!("/{n}")), "{shard}");
        let runner = ci.runner("gitlab", Some(&lock), false, false);
        let mut vars = registry_vars();
        vars.push(("SHARD".into(), shard.clone()));
        tool_ok(&mut bash(
            &runner,
            runner.path(),
            &gitlab_script(&gitlab, "build"),
            &vars,
        ));
    }

    let assembler = ci.runner("gitlab", Some(&lock), false, false);
    let text = tool_ok(&mut bash(
        &assembler,
        assembler.path(),
        &gitlab_script(&gitlab, "assemble"),
        &registry_vars(),
    ));
    assert_eq!(ci.wheels(&assembler).len(), 3, "{text}");
}
