//! The committed JSON Schemas in `schemas/` must match the Rust types.
//! Regenerate with `WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it schemas`.

use crate::support::test;
use std::path::Path;

#[test]
fn committed_schemas_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("WHEELBUILD_UPDATE_SCHEMAS").is_some();
    for (name, text) in wheelbuild::schema::all() {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it schemas",
                path.display()
            )
        });
        assert!(
            committed == text,
            "{} is stale; run WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it schemas",
            path.display()
        );
    }
}

#[test]
fn the_example_configs_validate_against_the_schema_types() {
    // The schema is generated from the same types the parser uses; make sure every
    // committed config also parses with them, so schema and parser cannot drift apart.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = 0;
    for entry in walk(root) {
        if entry.file_name().is_some_and(|n| n == "wheelbuild.toml") {
            wheelbuild::config::Config::load(&entry)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
            found += 1;
        }
    }
    assert!(
        found >= 1,
        "no wheelbuild.toml found under {}",
        root.display()
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir()
            && !matches!(
                name.to_str(),
                Some("target" | ".git" | ".wheelbuild" | "wheelhouse")
            )
        {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// The config of the first ```toml block after `heading` in `file` (relative to the
/// repository), parsed.
fn example_config(file: &str, heading: &str) -> wheelbuild::config::Config {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let section = text
        .lines()
        .position(|l| l == heading)
        .unwrap_or_else(|| panic!("{file} has the section `{heading}`"));
    let section = text
        .lines()
        .take(section)
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let start = text[section..].find("```toml").expect("a toml block") + section + "```toml".len();
    let end = text[start..].find("```").unwrap() + start;
    wheelbuild::config::Config::parse(Path::new(file), &text[start..end])
        .unwrap_or_else(|e| panic!("the example config of {file} does not parse: {e}"))
}

#[test]
fn the_readme_example_config_parses() {
    let config = example_config("README.md", "## Example");
    assert!(config.targets.len() > 1, "the example has a matrix");
}

/// The README says which targets its example makes and where their wheels go.
#[test]
fn the_readme_example_config_makes_the_targets_and_directories_it_names() {
    let config = example_config("README.md", "## Example");
    let made: Vec<(&str, &str)> = config
        .targets
        .iter()
        .map(|t| (t.id.as_str(), t.output_subdir.as_str()))
        .collect();
    assert_eq!(
        made,
        [
            (
                "flash-kernels/py3.11-cpu-torch2.4.0",
                "py311/cpu/linux_x86_64"
            ),
            (
                "flash-kernels/py3.11-cuda12.4-torch2.4.0",
                "py311/cu124/linux_x86_64"
            ),
        ]
    );
}

#[test]
fn the_configuration_reference_example_config_parses() {
    let config = example_config("docs/configuration.md", "# `wheelbuild.toml`");
    assert!(config.targets.len() > 1, "the example has a matrix");
}
