//! What a repository declares about its build: `pyproject.toml` (backend, requirements,
//! `requires-python`, name), `setup.cfg` for older projects, and the signs of CUDA and HIP
//! code in `setup.py`, `CMakeLists.txt` and the source files.

use std::str::FromStr;

use serde::Deserialize;

use super::cibuildwheel::{self, Carried};
use super::{InitError, Snapshot};

/// What `init` found; each accelerator with the evidence for it, for the file's comments.
#[derive(Debug, Default)]
pub(crate) struct Detected {
    /// `[project] name`, `setup.cfg`'s `name`, an sdist's `PKG-INFO` `Name`, else none
    /// (the command names it).
    pub name: Option<String>,
    pub backend: Option<String>,
    pub build_requires: Vec<String>,
    pub requires_python: Option<String>,
    pub cuda: Vec<String>,
    pub hip: Vec<String>,
    /// The torch build requirement (`torch==2.0.1`), or `torch` when `setup.py` imports it
    /// without declaring it.
    pub torch: Option<Torch>,
    pub cibuildwheel: Option<Carried>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Torch {
    /// The version an `==` requirement pins.
    pub pinned: Option<String>,
    /// Where it comes from, for the comment.
    pub declared: String,
}

#[derive(Deserialize)]
struct Pyproject {
    #[serde(default, rename = "build-system")]
    build_system: Option<BuildSystem>,
    #[serde(default)]
    project: Option<ProjectTable>,
    #[serde(default)]
    tool: Option<ToolTable>,
}

#[derive(Deserialize)]
struct BuildSystem {
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default, rename = "build-backend")]
    build_backend: Option<String>,
}

#[derive(Deserialize)]
struct ProjectTable {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
}

#[derive(Deserialize)]
struct ToolTable {
    #[serde(default)]
    cibuildwheel: Option<toml::Table>,
}

pub(crate) fn detect(snapshot: &Snapshot) -> Result<Detected, InitError> {
    let mut found = Detected::default();
    if let Some(text) = snapshot.files.get("pyproject.toml") {
        let pyproject: Pyproject = toml::from_str(text).map_err(|e| InitError::Toml {
            what: "pyproject.toml".into(),
            detail: e.message().trim().to_string(),
        })?;
        if let Some(b) = pyproject.build_system {
            // Kept only when valid: `lock` refuses an invalid one with its own error.
            found.build_requires = b
                .requires
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| requirement(r).is_some())
                .collect();
            found.backend = b.build_backend;
        }
        if let Some(p) = pyproject.project {
            found.name = p.name;
            found.requires_python = p.requires_python;
        }
        found.cibuildwheel = pyproject
            .tool
            .and_then(|t| t.cibuildwheel)
            .map(|t| cibuildwheel::carry(&t));
    }
    if let Some(cfg) = snapshot.files.get("setup.cfg") {
        found.name = found.name.or_else(|| ini_value(cfg, "metadata", "name"));
        found.requires_python = found
            .requires_python
            .or_else(|| ini_value(cfg, "options", "python_requires"));
    }
    if let Some(pkg_info) = snapshot.files.get("PKG-INFO") {
        // The header ends at the first empty line (the description follows).
        let field = |name: &str| {
            pkg_info
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        found.name = found.name.or_else(|| field("Name"));
        found.requires_python = found.requires_python.or_else(|| field("Requires-Python"));
    }
    let setup_py = snapshot.files.get("setup.py").map(String::as_str);
    found.torch = torch(&found.build_requires, setup_py);
    if let Some(setup) = setup_py {
        for (word, list) in [
            ("CUDAExtension", &mut found.cuda),
            ("hipcc", &mut found.hip),
        ] {
            if setup.contains(word) {
                list.push(format!("setup.py uses `{word}`"));
            }
        }
    }
    for (path, text) in &snapshot.files {
        if path.ends_with("CMakeLists.txt") {
            for (language, list) in [("CUDA", &mut found.cuda), ("HIP", &mut found.hip)] {
                if let Some(line) = cmake_language(text, language) {
                    list.push(format!("{path}: `{line}`"));
                }
            }
        }
    }
    for (extensions, list) in [
        (&[".cu", ".cuh"][..], &mut found.cuda),
        (&[".hip"][..], &mut found.hip),
    ] {
        let sources: Vec<&String> = snapshot
            .paths
            .iter()
            .filter(|p| extensions.iter().any(|e| p.ends_with(e)))
            .collect();
        if let Some(first) = sources.first() {
            let files = if sources.len() == 1 { "file" } else { "files" };
            list.push(format!(
                "{} `{}` {files} ({first}{})",
                sources.len(),
                extensions[0],
                if sources.len() > 1 { ", …" } else { "" }
            ));
        }
    }
    Ok(found)
}

fn requirement(text: &str) -> Option<pep508_rs::Requirement<pep508_rs::VerbatimUrl>> {
    pep508_rs::Requirement::from_str(text).ok()
}

/// torch from the build requirements, else from `setup.py` importing it.
fn torch(build_requires: &[String], setup_py: Option<&str>) -> Option<Torch> {
    for text in build_requires {
        let Some(req) = requirement(text) else {
            continue;
        };
        if req.name.as_ref() != "torch" {
            continue;
        }
        let pinned = match &req.version_or_url {
            Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => {
                match specifiers.iter().collect::<Vec<_>>()[..] {
                    [one] if *one.operator() == pep508_rs::pep440_rs::Operator::Equal => {
                        Some(one.version().to_string())
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        return Some(Torch {
            pinned,
            declared: format!("build requirement `{text}`"),
        });
    }
    setup_py
        .filter(|s| s.contains("import torch") || s.contains("from torch"))
        .map(|_| Torch {
            pinned: None,
            declared: "setup.py imports torch, not a build requirement".into(),
        })
}

/// The first line of a CMake file that turns `language` on: `enable_language(CUDA)`,
/// `project(x LANGUAGES CXX CUDA)`, `find_package(CUDAToolkit)`, `check_language(HIP)`,
/// comments left out.
fn cmake_language(text: &str, language: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let code = line.split('#').next().unwrap_or_default().trim();
        let (command, args) = code.split_once('(')?;
        let command = command.trim().to_ascii_lowercase();
        let words: Vec<&str> = args
            .split(|c: char| c.is_whitespace() || c == ')')
            .filter(|w| !w.is_empty())
            .collect();
        let found = match command.as_str() {
            "enable_language" | "check_language" | "project" => words.contains(&language),
            "find_package" => words.first().is_some_and(|w| {
                *w == language
                    || (language == "CUDA" && *w == "CUDAToolkit")
                    || (language == "HIP" && w.eq_ignore_ascii_case("hip"))
            }),
            _ => false,
        };
        found.then(|| code.to_string())
    })
}

/// `key = value` in `[section]` of an INI file (`setup.cfg`), on one line.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = "";
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim();
        } else if current == section
            && let Some((k, v)) = line.split_once(['=', ':'])
            && k.trim() == key
            && !v.trim().is_empty()
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn snapshot(files: &[(&str, &str)], others: &[&str]) -> Snapshot {
        let mut paths: Vec<String> = files.iter().map(|(p, _)| p.to_string()).collect();
        paths.extend(others.iter().map(|p| p.to_string()));
        Snapshot {
            paths,
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect::<BTreeMap<_, _>>(),
            commit: None,
        }
    }

    #[test]
    fn a_torch_cuda_extension_is_cuda_with_its_torch_pin() {
        let found = detect(&snapshot(
            &[
                (
                    "pyproject.toml",
                    "[build-system]\nrequires = [\"setuptools>=61\", \"torch==2.0.1\"]\n\
                     build-backend = \"setuptools.build_meta\"\n",
                ),
                (
                    "setup.py",
                    "from torch.utils.cpp_extension import BuildExtension, CUDAExtension\n",
                ),
            ],
            &["csrc/a.cu", "csrc/b.cu", "csrc/a.cpp"],
        ))
        .unwrap();
        assert_eq!(found.backend.as_deref(), Some("setuptools.build_meta"));
        assert_eq!(
            found.torch,
            Some(Torch {
                pinned: Some("2.0.1".into()),
                declared: "build requirement `torch==2.0.1`".into()
            })
        );
        assert_eq!(
            found.cuda,
            [
                "setup.py uses `CUDAExtension`",
                "2 `.cu` files (csrc/a.cu, …)"
            ]
        );
        assert!(found.hip.is_empty());
    }

    #[test]
    fn cmake_languages_count_and_comments_do_not() {
        let text = "# enable_language(HIP)\ncmake_minimum_required(VERSION 3.26)\n\
                    project(k LANGUAGES CXX CUDA)\nfind_package(hip REQUIRED)\n";
        assert_eq!(
            cmake_language(text, "CUDA").as_deref(),
            Some("project(k LANGUAGES CXX CUDA)")
        );
        assert_eq!(
            cmake_language(text, "HIP").as_deref(),
            Some("find_package(hip REQUIRED)")
        );
        assert_eq!(cmake_language("enable_language(CXX)\n", "CUDA"), None);
    }

    #[test]
    fn setup_cfg_gives_name_and_python_when_pyproject_does_not() {
        let found = detect(&snapshot(
            &[(
                "setup.cfg",
                "[metadata]\nname = hello-cext\n\n[options]\npython_requires = >=3.8\n",
            )],
            &[],
        ))
        .unwrap();
        assert_eq!(found.name.as_deref(), Some("hello-cext"));
        assert_eq!(found.requires_python.as_deref(), Some(">=3.8"));
        assert!(found.torch.is_none() && found.cuda.is_empty());
    }
}
