//! The repository itself: files the tools rely on are where the tools look for them.

use crate::support::test;
use std::path::{Path, PathBuf};

fn files_named(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_named(&path, suffix, out);
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
}

/// Regression: `tests/tmp_keys.proptest-regressions` was never replayed: proptest reads
/// the seeds of `foo.rs` from `foo.proptest-regressions` beside it, nothing else.
#[test]
fn proptest_regressions_sit_beside_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["src", "tests"] {
        files_named(&root.join(dir), ".proptest-regressions", &mut found);
    }
    assert!(!found.is_empty(), "the keys seeds are kept");
    for seeds in found {
        let source = PathBuf::from(
            seeds
                .to_string_lossy()
                .replace(".proptest-regressions", ".rs"),
        );
        let text = std::fs::read_to_string(&source).unwrap_or_else(|_| {
            panic!(
                "{} has no {} beside it to replay it",
                seeds.display(),
                source.display()
            )
        });
        assert!(
            text.contains("proptest!"),
            "{} holds no proptest to replay {}",
            source.display(),
            seeds.display()
        );
    }
}

/// `examples/ci/github-actions.yml` is valid YAML, its jobs chain as the fan-out needs
/// (plan → build over the plan's shard matrix → assemble), and every `wheelbuild` command
/// it runs parses with this wheelbuild's arguments.
#[test]
fn the_github_actions_example_runs_commands_that_exist() {
    use yaml_rust2::{Yaml, YamlLoader};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/github-actions.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let jobs = &docs[0]["jobs"];
    let needs = |job: &str| -> Vec<String> {
        match &jobs[job]["needs"] {
            Yaml::String(s) => vec![s.clone()],
            Yaml::Array(a) => a
                .iter()
                .filter_map(|y| y.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    assert_eq!(needs("build"), ["plan"]);
    assert_eq!(needs("assemble"), ["plan", "build"]);
    assert_eq!(
        jobs["build"]["strategy"]["matrix"].as_str(),
        Some("${{ fromJson(needs.plan.outputs.matrix) }}")
    );
    let mut commands = Vec::new();
    for (_, job) in jobs.as_hash().unwrap() {
        for step in job["steps"].as_vec().unwrap() {
            let Some(run) = step["run"].as_str() else {
                continue;
            };
            for line in run.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("wheelbuild ") {
                    // Expressions as a matrix would fill them in; the shell's redirection off.
                    let rest = rest.replace("${{ matrix.shard }}", "1/4");
                    let rest = rest.split(" > ").next().unwrap().to_string();
                    commands.push(rest);
                }
            }
        }
    }
    assert_eq!(commands.len(), 4, "{commands:?}");
    for command in &commands {
        let args: Vec<&str> = command.split_whitespace().collect();
        if let Err(e) = wheelbuild::cli::check_args(&args) {
            panic!("`wheelbuild {command}` does not parse:\n{e}");
        }
    }
    // And the check catches a command that does not exist.
    assert!(wheelbuild::cli::check_args(&["build", "--shards", "1/4"]).is_err());
}

/// Every `#[test]` in `tests/it` is registered with the harness: under `harness = false`
/// a built-in `#[test]` (a module that forgot `use crate::support::test;`) is compiled
/// out without a word, and its test never runs.
#[test]
fn every_integration_test_is_registered_with_the_harness() {
    let mut sources = Vec::new();
    files_named(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it"),
        ".rs",
        &mut sources,
    );
    let written: usize = sources
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter(|l| l.trim() == "#[test]")
                .count()
        })
        .sum();
    let registered = inventory::iter::<crate::support::runner::Test>
        .into_iter()
        .count();
    assert_eq!(registered, written, "tests registered vs `#[test]` written");
}

/// The README's test command is the one CI runs (with CI=true).
#[test]
fn ci_runs_the_readmes_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let command = "./scripts/test.sh";
    assert!(
        readme.lines().any(|l| l.trim() == command),
        "README's test command"
    );
    assert!(
        ci.lines()
            .any(|l| l.trim() == "exec scripts/test.sh \"$@\"")
    );
    assert!(ci.lines().any(|l| l.trim() == "export CI=true"));
}
