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
/// (plan → build over the plan's shard matrix → assemble), each through the wheelbuild
/// action with a command it has, and the extra arguments it passes parse.
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
    // Every wheelbuild step is the action, at one ref, with a command it knows; what
    // each command runs is tested for real in `ci_action`.
    let mut commands = Vec::new();
    for (name, job) in jobs.as_hash().unwrap() {
        for step in job["steps"].as_vec().unwrap() {
            if let Some(run) = step["run"].as_str() {
                assert!(
                    !run.contains("wheelbuild "),
                    "{name:?} runs wheelbuild outside the action: {run}"
                );
            }
            let Some(uses) = step["uses"].as_str() else {
                continue;
            };
            if uses.contains("/wheelbuild@") {
                assert_eq!(uses, "example/wheelbuild@v0.1.0");
                commands.push(step["with"]["command"].as_str().unwrap().to_string());
                if let Some(args) = step["with"]["args"].as_str() {
                    let args: Vec<&str> = std::iter::once("build")
                        .chain(args.split_whitespace())
                        .collect();
                    if let Err(e) = wheelbuild::cli::check_args(&args) {
                        panic!("`args: {args:?}` do not parse:\n{e}");
                    }
                }
            }
        }
    }
    assert_eq!(commands, ["plan", "build", "assemble"]);
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

/// The floors of src/lib.rs's docs, bottom first: a module imports only modules on lower
/// floors. Modules on one floor do not know each other.
const FLOORS: &[&[&str]] = &[
    // The vocabulary, which imports nothing of wheelbuild...
    &[
        "accel",
        "canonical",
        "diag",
        "fsutil",
        "par",
        "platform",
        "recipe",
        "sign",
    ],
    // ...and the vocabulary built on it.
    &["oci", "wheel"],
    // The stages, in the order they need each other.
    &["config"],
    &["lock"],
    &["docker", "key"],
    &["resolve", "store"],
    &["init", "plan", "remote", "wheelhouse"],
    &["exec"],
    // What only the command layer reads, and the command layer.
    &["audit", "error", "schema"],
    &["cli"],
];

/// docs/architecture.md shows newcomers the floors this test holds the imports to.
#[test]
fn the_architecture_page_shows_the_floors() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    // Rows of its table: `| 1 | `accel`, `canonical`, … | what they are |`.
    let shown: Vec<Vec<&str>> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter(|row| row.starts_with(|c: char| c.is_ascii_digit()))
        .map(|row| {
            let modules = row.split(" | ").nth(1).unwrap();
            modules.split(", ").map(|m| m.trim_matches('`')).collect()
        })
        .collect();
    assert_eq!(shown, FLOORS, "docs/architecture.md's floors, bottom first");
}

/// The first name of `path` (`lock::LockedImage` → `lock`).
fn first_name(path: &str) -> &str {
    let path = path.trim_start();
    let end = path
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    &path[..end]
}

/// The names a path from the crate root starts with: `x` of `x::y`, or each of
/// `{x, y::{z, w}}`.
fn root_names(rest: &str) -> Vec<&str> {
    let Some(group) = rest.strip_prefix('{') else {
        return vec![first_name(rest)];
    };
    let (mut level, mut start, mut names) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => level += 1,
            '}' if level == 0 => {
                names.push(first_name(&group[start..i]));
                break;
            }
            '}' => level -= 1,
            ',' if level == 0 => {
                names.push(first_name(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    names
}

/// `(line, name)` of every path in `text` that starts at the crate root: `crate::…` (in
/// code or docs), and `super::…` that climbs there from a file `depth` modules deep
/// (inline modules, as rustfmt indents them, count one more each).
fn root_paths(text: &str, depth: usize) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = text[..at].matches('\n').count() + 1;
        for name in root_names(&text[at + "crate::".len()..]) {
            found.push((line, name));
        }
    }
    // Indentation of each inline `mod x {` the line is in.
    let mut inline: Vec<usize> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        let indent = line.len() - code.len();
        if code == "}" && inline.last() == Some(&indent) {
            inline.pop();
        }
        let mut rest = line;
        while let Some(at) = rest.find("super::") {
            let chain = &rest[at..];
            let after = chain.trim_start_matches("super::");
            let climbs = (chain.len() - after.len()) / "super::".len();
            if climbs >= depth + inline.len() {
                found.extend(root_names(after).into_iter().map(|name| (n + 1, name)));
            }
            rest = after;
        }
        let declaration = code
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        if declaration.starts_with("mod ") && code.ends_with('{') {
            inline.push(indent);
        }
    }
    found
}

/// The import graph of the crate's top-level modules holds no circle: shared vocabulary
/// sits on floors below the stages that use it (src/lib.rs's docs). Every path counts:
/// `use` lines, inline paths and doc links, in tests too. With every arrow pointing down,
/// none can close a circle.
#[test]
fn modules_import_only_from_lower_floors() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    // The top-level modules, and the names lib.rs re-exports from them (`crate::Error`).
    let mut module_of = std::collections::BTreeMap::new();
    for line in lib.lines() {
        let item = line
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        if let Some(name) = item.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')) {
            module_of.insert(name, name);
        } else if let Some(path) = item.strip_prefix("use ") {
            let module = first_name(path);
            let names = path[module.len()..].trim_matches(|c| ":{};".contains(c));
            for name in names.split(',') {
                let name = name.rsplit([' ', ':']).next().unwrap();
                module_of.insert(name, module);
            }
        }
    }
    let floor_of = |module: &str| FLOORS.iter().position(|f| f.contains(&module));
    let mut declared: Vec<&str> = module_of
        .iter()
        .filter(|(name, module)| name == module)
        .map(|(name, _)| *name)
        .collect();
    let mut on_floors: Vec<&str> = FLOORS.concat();
    declared.sort_unstable();
    on_floors.sort_unstable();
    assert_eq!(
        declared, on_floors,
        "every module of src/lib.rs on one floor"
    );

    let mut sources = Vec::new();
    files_named(&src, ".rs", &mut sources);
    let mut wrong = Vec::new();
    for file in &sources {
        let relative = file.strip_prefix(&src).unwrap();
        let parts: Vec<&str> = relative
            .iter()
            .map(|p| p.to_str().unwrap().trim_end_matches(".rs"))
            .collect();
        let from = parts[0];
        if from == "lib" || from == "main" {
            continue;
        }
        let depth = parts.len() - usize::from(parts.last() == Some(&"mod"));
        let text = std::fs::read_to_string(file).unwrap();
        for (line, name) in root_paths(&text, depth) {
            let place = format!("src/{}:{line}", relative.display());
            let Some(to) = module_of.get(name).copied() else {
                wrong.push(format!("{place}: `{name}` is no module of src/lib.rs"));
                continue;
            };
            let (up, down) = (floor_of(from).unwrap(), floor_of(to).unwrap());
            if to != from && down >= up {
                wrong.push(format!(
                    "{place}: {from} (floor {up}) imports {to} (floor {down})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not go down the floors (move what both need to a lower module):\n{}",
        wrong.join("\n")
    );
}

/// The README and the pages of docs/, with their paths relative to the repository.
fn docs() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    files_named(&root.join("docs"), ".md", &mut pages);
    pages.sort();
    pages
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(root).unwrap().to_path_buf(), text)
        })
        .collect()
}

/// `text` as spaces, byte for byte, its lines kept.
fn blank(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\n' {
                "\n"
            } else {
                &"    "[..c.len_utf8()]
            }
        })
        .collect()
}

/// `text` with its fenced code blocks blanked: every offset keeps its place.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let fence = line.trim_start().starts_with("```");
        fenced ^= fence;
        if fenced || fence {
            out.push_str(&blank(line));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The code spans of Markdown prose (the bytes they cover, backticks included, and what
/// they hold): a run of backticks opens one, the next run of as many closes it
/// (``a `b` c`` is one span).
fn code_spans(prose: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let run = |at: usize| prose[at..].len() - prose[at..].trim_start_matches('`').len();
    let mut spans = Vec::new();
    let mut at = 0;
    'spans: while let Some(open) = prose[at..].find('`').map(|i| i + at) {
        let ticks = run(open);
        let body = open + ticks;
        let mut close = body;
        while run(close) != ticks {
            close += run(close);
            let Some(next) = prose[close..].find('`') else {
                // Unclosed: the backticks are text.
                at = body;
                continue 'spans;
            };
            close += next;
        }
        spans.push((open..close + ticks, &prose[body..close]));
        at = close + ticks;
    }
    spans
}

/// The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped,
/// spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (`-1`, `-2`… after a repeated one).
fn anchors(text: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    prose(text)
        .lines()
        .filter_map(|l| {
            let title = l.trim_start_matches('#');
            (title.len() < l.len() && title.starts_with(' ')).then(|| slug(title.trim()))
        })
        .map(|s| {
            let n = seen.entry(s.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                s
            } else {
                format!("{s}-{}", *n - 1)
            }
        })
        .collect()
}

/// Every relative link of the README and docs/ leads to a file that exists and, with a
/// `#fragment`, to a heading of it; and the README links to every page of docs/.
#[test]
fn the_docs_link_only_to_files_and_headings_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = docs();
    let mut wrong = Vec::new();
    let mut linked = Vec::new();
    for (page, text) in &pages {
        // Code spans blanked too: `[a](b)` in one is no link.
        let mut prose = prose(text);
        for (span, _) in code_spans(&prose.clone()) {
            let blanked = blank(&prose[span.clone()]);
            prose.replace_range(span, &blanked);
        }
        for (at, _) in prose.match_indices("](") {
            let target = &prose[at + 2..];
            let target = &target[..target.find(')').unwrap()];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let line = prose[..at].matches('\n').count() + 1;
            let place = format!("{}:{line}: `{target}`", page.display());
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() {
                root.join(page)
            } else {
                root.join(page.parent().unwrap()).join(file)
            };
            let Ok(file) = file.canonicalize() else {
                wrong.push(format!("{place}: no such file"));
                continue;
            };
            if page == Path::new("README.md") {
                linked.push(file.clone());
            }
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if !anchors(&text).iter().any(|a| a == fragment) {
                    wrong.push(format!("{place}: no heading with that anchor"));
                }
            }
        }
    }
    for (page, _) in &pages {
        let file = root.join(page).canonicalize().unwrap();
        if page.starts_with("docs") && !linked.contains(&file) {
            wrong.push(format!(
                "{}: the README does not link to it",
                page.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "broken links:\n{}", wrong.join("\n"));
}

/// The code of a page, with the line each piece starts on: its code spans, and each line of
/// its fenced blocks without a `# comment`.
fn code(text: &str) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            pieces.push((n + 1, line.split('#').next().unwrap()));
        }
    }
    let prose = prose(text);
    for (span, cited) in code_spans(&prose) {
        let line = prose[..span.start].matches('\n').count() + 1;
        // `prose` keeps every offset: the span's bytes are `text`'s.
        let ticks = (span.len() - cited.len()) / 2;
        pieces.push((line, &text[span.start + ticks..span.end - ticks]));
    }
    pieces
}

/// Every test and bench the README and docs/ cite exists: a code span that is a path into
/// a module of tests/it (`remote::a_large_wheel_…`, or `remote::` for the module) names
/// registered tests, the filters of `cargo test --test it …` and `scripts/test.sh …` match
/// some, and `cargo bench --bench NAME` names a bench of Cargo.toml.
#[test]
fn the_docs_cite_tests_and_benches_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests: Vec<String> = inventory::iter::<crate::support::runner::Test>
        .into_iter()
        .map(crate::support::runner::test_path)
        .collect();
    let modules: std::collections::BTreeSet<&str> = tests
        .iter()
        .filter_map(|t| t.split_once("::").map(|(module, _)| module))
        .collect();
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let benches: Vec<&str> = manifest["bench"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    let mut wrong = Vec::new();
    for (page, text) in docs() {
        for (line, code) in code(&text) {
            let place = format!("{}:{line}: `{}`", page.display(), code.trim());
            let is_path = code.split("::").all(|part| {
                part.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
            if let Some((module, name)) = code.split_once("::")
                && is_path
                && modules.contains(module)
            {
                let cited = match name {
                    "" => tests.iter().any(|t| t.starts_with(code)),
                    _ => tests.iter().any(|t| t == code),
                };
                if !cited {
                    wrong.push(format!("{place}: no such test in tests/it/{module}.rs"));
                }
            }
            let words: Vec<&str> = code
                .split_whitespace()
                .map(|w| w.trim_matches(|c| "`()[],.;\"'".contains(c)))
                .collect();
            for (at, pair) in words.windows(2).enumerate() {
                let args = &words[at + 2..];
                if pair == ["cargo", "bench"] {
                    let bench = args.iter().skip_while(|w| **w != "--bench").nth(1);
                    if bench.is_some_and(|b| !benches.contains(b)) {
                        wrong.push(format!("{place}: no such bench"));
                    }
                }
                if pair == ["cargo", "test"] && args.starts_with(&["--test", "it"]) {
                    test_filters(&args[2..], &tests, &place, &mut wrong);
                }
            }
            if let Some(at) = words.iter().position(|w| w.ends_with("scripts/test.sh")) {
                test_filters(&words[at + 1..], &tests, &place, &mut wrong);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the docs cite what does not exist:\n{}",
        wrong.join("\n")
    );
}

/// Each filter of a test command's `args` (those not flags) matches a registered test, as
/// libtest matches them.
fn test_filters(args: &[&str], tests: &[String], place: &str, wrong: &mut Vec<String>) {
    for filter in args.iter().filter(|a| !a.starts_with('-')) {
        if !tests.iter().any(|t| t.contains(filter)) {
            wrong.push(format!("{place}: `{filter}` matches no test in tests/it"));
        }
    }
}
