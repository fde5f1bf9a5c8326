//! Shell completions and man pages: generated from the clap definition, committed under
//! `docs/shell/` and `docs/man/` for packagers, and read by the real bash and man.
//! Regenerate with `WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it shell`.

use crate::support::{self, test};
use std::path::{Path, PathBuf};
use std::process::Command;

fn wheelbuild(args: &[&str]) -> Vec<u8> {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("wheelbuild"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wheelbuild {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every generated file and the arguments that print it.
fn generated() -> Vec<(PathBuf, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut files: Vec<(PathBuf, Vec<String>)> = ["bash", "zsh", "fish"]
        .into_iter()
        .map(|shell| {
            let path = root.join("shell").join(format!("wheelbuild.{shell}"));
            (path, vec!["completions".into(), shell.into()])
        })
        .collect();
    files.push((root.join("man/wheelbuild.1"), vec!["man".into()]));
    let commands = String::from_utf8(wheelbuild(&["man", "--list"])).unwrap();
    for command in commands.lines() {
        let path = root.join(format!("man/wheelbuild-{command}.1"));
        files.push((path, vec!["man".into(), command.into()]));
    }
    files
}

#[test]
fn committed_completions_and_man_pages_are_up_to_date() {
    let update = std::env::var_os("WHEELBUILD_UPDATE_SCHEMAS").is_some();
    let files = generated();
    for (path, args) in &files {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = wheelbuild(&args);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read(path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it shell",
                path.display()
            )
        });
        assert!(
            committed == text,
            "{} is stale; run WHEELBUILD_UPDATE_SCHEMAS=1 cargo test --test it shell",
            path.display()
        );
    }
    // No page of a command that is gone stays behind.
    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    for entry in std::fs::read_dir(&man).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            files.iter().any(|(p, _)| *p == path),
            "{} is no command's page any more: remove it",
            path.display()
        );
    }
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    support::require("bash");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/shell/wheelbuild.bash");
    // What bash's programmable completion does on TAB: COMP_WORDS/COMP_CWORD set, the
    // function registered with `complete -F` called with (command, word, previous word).
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("--norc")
            .arg("-c")
            .arg(
                r#"source "$1"; read -ra COMP_WORDS <<< "$2"; [[ $2 == *' ' ]] && COMP_WORDS+=("");
                   COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ));
                   f=$(complete -p wheelbuild | sed -n 's/.*-F \([^ ]*\).*/\1/p');
                   "$f" wheelbuild "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}";
                   printf '%s\n' "${COMPREPLY[@]}""#,
            )
            .arg("bash")
            .arg(&script)
            .arg(words)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("wheelbuild bu").trim(), "build");
    let flags = complete("wheelbuild build --re");
    assert!(
        flags.lines().any(|l| l == "--rebuild-env") && flags.lines().any(|l| l == "--remote"),
        "{flags}"
    );
}

#[test]
fn man_renders_every_page_without_warnings() {
    support::require("man");
    for (path, _) in generated()
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "1"))
    {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(path)
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        // Off a terminal, man emboldens by overstriking (`S\bS`): keep what is struck last.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "man warns about {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("SYNOPSIS"), "{}: {text}", path.display());
    }
}
