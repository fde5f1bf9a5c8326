//! Build requirements: `[build-system] requires` and `build-backend` of a project's
//! `pyproject.toml`, read from the bare mirror at the locked commit (no checkout), once per
//! commit: the lock keeps what was read beside the commit, so a relock with the commit
//! unchanged reads nothing and fetches nothing.

use std::str::FromStr;

use serde::Deserialize;

use super::git::{GitContext, GitError, ensure_commit};

/// A `pyproject.toml` larger than this is refused (real ones are a few KB).
const MAX_PYPROJECT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PyprojectError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{path} at {commit:.12} is not valid TOML: {detail}")]
    Toml {
        path: String,
        commit: String,
        detail: String,
    },
    #[error("{path} at {commit:.12}: requirement `{requirement}` is invalid: {detail}")]
    Requirement {
        path: String,
        commit: String,
        requirement: String,
        detail: String,
    },
    #[error("{path} at {commit:.12} is {size} bytes, more than the {MAX_PYPROJECT} allowed")]
    TooLarge {
        path: String,
        commit: String,
        size: u64,
    },
}

impl PyprojectError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            PyprojectError::Git(e) => e.hint(),
            PyprojectError::Toml { .. } | PyprojectError::Requirement { .. } => Some(
                "fix `[build-system] requires` in the project, or set `build-isolation = false` \
                 to build with what the image and `pip` give"
                    .into(),
            ),
            PyprojectError::TooLarge { .. } => None,
        }
    }

    pub(crate) fn is_user_error(&self) -> bool {
        match self {
            PyprojectError::Git(e) => e.is_user_error(),
            _ => true,
        }
    }
}

/// PEP 517's backend of a project that declares none.
pub(crate) const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";

/// What a `pyproject.toml` declares about building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildSystem {
    /// `requires`, in the file's order.
    pub requires: Vec<String>,
    /// `build-backend`, or [`LEGACY_BACKEND`].
    pub backend: String,
    /// `[project] dependencies`, when declared statically (`None`: dynamic, or no
    /// `[project]` table: the backend alone knows them).
    pub dependencies: Option<Vec<String>>,
}

/// The build system declared in `subdir/pyproject.toml` at `commit` (`subdir` `None`: the
/// repository's root): no requirements and the legacy backend when there is no such file
/// or it declares none.
pub(crate) async fn build_system(
    ctx: &GitContext,
    url: &str,
    commit: &str,
    subdir: Option<&str>,
) -> Result<BuildSystem, PyprojectError> {
    let mirror = ensure_commit(ctx, url, commit).await?;
    let path = match subdir {
        Some(dir) => format!("{}/pyproject.toml", dir.trim_end_matches('/')),
        None => "pyproject.toml".to_string(),
    };
    let object = format!("{commit}:{path}");
    let git = |args: &[&str]| {
        let mut cmd = ctx.git();
        cmd.arg("-C").arg(&mirror).args(args);
        cmd
    };
    let commit_object = format!("{commit}^{{commit}}");
    let has_commit = ctx
        .output(
            git(&["cat-file", "-e", "--end-of-options", &commit_object]),
            url,
        )
        .await?;
    if !has_commit.status.success() {
        return Err(GitError::CommitGone {
            url: url.to_string(),
            commit: commit.to_string(),
        }
        .into());
    }
    // The commit is there: a missing path is "no pyproject.toml".
    let size = ctx
        .output(git(&["cat-file", "-s", "--end-of-options", &object]), url)
        .await?;
    if !size.status.success() {
        return Ok(BuildSystem {
            requires: Vec::new(),
            backend: LEGACY_BACKEND.to_string(),
            dependencies: None,
        });
    }
    let size: u64 = String::from_utf8_lossy(&size.stdout)
        .trim()
        .parse()
        .unwrap_or(u64::MAX);
    if size > MAX_PYPROJECT {
        return Err(PyprojectError::TooLarge {
            path,
            commit: commit.to_string(),
            size,
        });
    }
    let out = ctx
        .output(git(&["cat-file", "blob", "--end-of-options", &object]), url)
        .await?;
    if !out.status.success() {
        return Err(GitError::Repository {
            url: url.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
        .into());
    }
    parse(&out.stdout, &path, commit)
}

/// `[build-system]` of a `pyproject.toml`'s bytes, each requirement checked to be PEP 508.
pub(crate) fn parse(bytes: &[u8], path: &str, commit: &str) -> Result<BuildSystem, PyprojectError> {
    #[derive(Deserialize)]
    struct Pyproject {
        #[serde(default, rename = "build-system")]
        build_system: Option<Declared>,
        #[serde(default)]
        project: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(default)]
        dependencies: Vec<String>,
        #[serde(default)]
        dynamic: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Declared {
        #[serde(default)]
        requires: Vec<String>,
        #[serde(default, rename = "build-backend")]
        backend: Option<String>,
    }
    let toml_err = |detail: String| PyprojectError::Toml {
        path: path.to_string(),
        commit: commit.to_string(),
        detail,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| toml_err(e.to_string()))?;
    let pyproject: Pyproject =
        toml::from_str(text).map_err(|e| toml_err(e.message().trim().to_string()))?;
    let (requires, backend) = pyproject
        .build_system
        .map(|b| (b.requires, b.backend))
        .unwrap_or_default();
    let dependencies = pyproject
        .project
        .filter(|p| !p.dynamic.iter().any(|d| d == "dependencies"))
        .map(|p| p.dependencies);
    for requirement in requires.iter().chain(dependencies.iter().flatten()) {
        if let Err(e) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement) {
            return Err(PyprojectError::Requirement {
                path: path.to_string(),
                commit: commit.to_string(),
                requirement: requirement.clone(),
                detail: e.message.to_string(),
            });
        }
    }
    Ok(BuildSystem {
        requires: requires.into_iter().map(|r| r.trim().to_string()).collect(),
        backend: backend.map_or_else(|| LEGACY_BACKEND.to_string(), |b| b.trim().to_string()),
        dependencies: dependencies.map(|d| d.into_iter().map(|r| r.trim().to_string()).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_are_read_in_order_and_absent_ones_are_empty() {
        let text = br#"
[build-system]
requires = ["setuptools>=70.1", "wheel", "tomli; python_version < '3.11'"]
build-backend = "setuptools.build_meta"
"#;
        let read = parse(text, "pyproject.toml", "abc").unwrap();
        assert_eq!(
            read.requires,
            [
                "setuptools>=70.1",
                "wheel",
                "tomli; python_version < '3.11'"
            ]
        );
        assert_eq!(read.backend, "setuptools.build_meta");
        let none = parse(b"[project]\nname = 'x'\n", "p", "c").unwrap();
        assert!(none.requires.is_empty());
        assert_eq!(none.backend, LEGACY_BACKEND);
        assert_eq!(none.dependencies, Some(vec![]));
        let deps = parse(b"[project]\ndependencies = ['six >= 1.16']\n", "p", "c").unwrap();
        assert_eq!(deps.dependencies, Some(vec!["six >= 1.16".to_string()]));
        let dynamic = b"[project]\ndynamic = ['dependencies']\n";
        assert_eq!(parse(dynamic, "p", "c").unwrap().dependencies, None);
        let backend_only = parse(b"[build-system]\nbuild-backend = 'x'\n", "p", "c").unwrap();
        assert_eq!(backend_only.dependencies, None);
        assert!(backend_only.requires.is_empty());
        assert_eq!(backend_only.backend, "x");
    }

    #[test]
    fn an_invalid_requirement_or_file_is_an_error_naming_it() {
        let e = parse(
            b"[build-system]\nrequires = ['setuptools>=>1']\n",
            "sub/pyproject.toml",
            "0123456789abcdef",
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "sub/pyproject.toml at 0123456789ab: requirement `setuptools>=>1` is invalid"
            ),
            "{e}"
        );
        let e = parse(b"[build-system\n", "pyproject.toml", "c").unwrap_err();
        assert!(matches!(e, PyprojectError::Toml { .. }), "{e}");
    }
}
