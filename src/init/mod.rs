//! `wheelbuild init`: a first `wheelbuild.toml` from what a repository declares.
//!
//! Its files, bottom first: this one reads the repository (a local directory, or a git
//! URL through the lock's own bare mirrors) into a [`Snapshot`] of the few files that say
//! how it builds; `detect` turns that into facts (build backend and requirements, CUDA,
//! HIP, `requires-python`, torch); `cibuildwheel` carries over a `[tool.cibuildwheel]`
//! table; `render` proposes a matrix and writes the commented file's text. Nothing here
//! prints: the command layer says what was written.

mod cibuildwheel;
mod detect;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::resolve::{GitContext, GitError};

pub(crate) use detect::detect;
pub(crate) use render::{Options, render};

/// A file `init` reads larger than this is refused (real ones are a few KB).
const MAX_FILE: u64 = 1 << 20;
/// Paths listed from a repository at most: enough for any source tree, bounded for a
/// monorepo.
const MAX_PATHS: usize = 200_000;
/// `CMakeLists.txt` files read at most (the first ones, shallowest first).
const MAX_CMAKE_FILES: usize = 64;
/// Directories a local walk skips: version control, environments and build outputs,
/// never part of what a commit builds.
const SKIPPED_DIRS: [&str; 8] = [
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "build",
    "dist",
    "__pycache__",
    ".wheelbuild",
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error("{} already exists", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is {size} bytes, more than the {MAX_FILE} allowed")]
    TooLarge { what: String, size: u64 },
    #[error("{what} is not valid TOML: {detail}")]
    Toml { what: String, detail: String },
    #[error("`{source_arg}` is neither a directory nor a git URL")]
    NoSource { source_arg: String },
    #[error(transparent)]
    Git(#[from] GitError),
}

impl InitError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            InitError::Exists { .. } => Some(
                "edit it, or move it away to write a new one; `init` never overwrites a file"
                    .into(),
            ),
            InitError::Write { .. } => Some("check the directory's permissions".into()),
            InitError::Read { .. } => Some("check the path and its permissions".into()),
            InitError::TooLarge { .. } => None,
            InitError::Toml { .. } => Some("fix the project's pyproject.toml first".into()),
            InitError::NoSource { .. } => Some(
                "give a project directory, or a git URL (https://, ssh://, git@host:path, \
                 file://)"
                    .into(),
            ),
            InitError::Git(e) => e.hint(),
        }
    }

    pub(crate) fn is_user_error(&self) -> bool {
        match self {
            InitError::Write { .. } | InitError::Read { .. } => false,
            InitError::Git(e) => e.is_user_error(),
            _ => true,
        }
    }
}

/// Where the project is, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A directory on this machine.
    Local(PathBuf),
    /// A repository `git` can fetch.
    Git(String),
}

impl Source {
    /// A directory that exists is local; otherwise it must look like a git URL.
    pub(crate) fn parse(arg: &str) -> Result<Source, InitError> {
        let path = Path::new(arg);
        if path.is_dir() {
            return Ok(Source::Local(path.to_path_buf()));
        }
        let scp_like = arg
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
        if arg.contains("://") || scp_like {
            return Ok(Source::Git(arg.to_string()));
        }
        Err(InitError::NoSource {
            source_arg: arg.to_string(),
        })
    }
}

/// What `init` read of a repository: every file's path, and the text of the files that
/// say how it builds.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Every file, relative, with `/` separators.
    pub paths: Vec<String>,
    /// `pyproject.toml`, `setup.py`, `setup.cfg`, `meson.build` and an sdist's `PKG-INFO`
    /// at the root, and `CMakeLists.txt` anywhere: path → text.
    pub files: BTreeMap<String, String>,
    /// The commit read, for a git URL.
    pub commit: Option<String>,
}

/// Whether `path` (relative) is a file `detect` reads.
fn wanted(path: &str) -> bool {
    matches!(
        path,
        "pyproject.toml" | "setup.py" | "setup.cfg" | "meson.build" | "PKG-INFO"
    ) || path == "CMakeLists.txt"
        || path.ends_with("/CMakeLists.txt")
}

/// The files of `paths` to read: the root ones, and the shallowest `CMakeLists.txt`.
fn to_read(paths: &[String]) -> Vec<&String> {
    let mut wanted: Vec<&String> = paths.iter().filter(|p| wanted(p)).collect();
    wanted.sort_by_key(|p| (p.matches('/').count(), p.as_str()));
    let mut cmake = 0;
    wanted.retain(|p| {
        if p.ends_with("CMakeLists.txt") {
            cmake += 1;
            return cmake <= MAX_CMAKE_FILES;
        }
        true
    });
    wanted
}

/// Reads the working tree of `dir` (what is on disk, committed or not).
pub(crate) fn read_local(dir: &Path) -> Result<Snapshot, InitError> {
    let mut paths = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let entries = std::fs::read_dir(&abs).map_err(|source| InitError::Read {
            path: abs.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| InitError::Read {
                path: abs.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = rel.join(&name);
            // Symlinks are not followed: a link out of the tree is not the project's.
            let ty = entry.file_type().map_err(|source| InitError::Read {
                path: dir.join(&path),
                source,
            })?;
            if ty.is_dir() && !SKIPPED_DIRS.contains(&name.as_str()) {
                stack.push(path);
            } else if ty.is_file() && paths.len() < MAX_PATHS {
                paths.push(path.to_string_lossy().into_owned());
            }
        }
    }
    paths.sort();
    let mut files = BTreeMap::new();
    for rel in to_read(&paths) {
        let path = dir.join(rel);
        let size = std::fs::metadata(&path)
            .map_err(|source| InitError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        if size > MAX_FILE {
            return Err(InitError::TooLarge {
                what: path.display().to_string(),
                size,
            });
        }
        let bytes = std::fs::read(&path).map_err(|source| InitError::Read {
            path: path.clone(),
            source,
        })?;
        files.insert(rel.clone(), String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(Snapshot {
        paths,
        files,
        commit: None,
    })
}

/// Reads the default branch of `url` from its bare mirror (fetched as `lock` fetches it,
/// into the same directory, so the first `lock` fetches nothing new).
pub(crate) async fn read_git(ctx: &GitContext, url: &str) -> Result<Snapshot, InitError> {
    let remote = crate::resolve::git::ls_remote(ctx, url).await?;
    let commit = remote.head.clone().ok_or_else(|| GitError::NoHead {
        url: url.to_string(),
    })?;
    let mirror = crate::resolve::git::ensure_commit(ctx, url, &commit).await?;
    let git = |args: &[&str]| {
        let mut cmd = ctx.git();
        cmd.arg("-C").arg(&mirror).args(args);
        cmd
    };
    // `-l`: each blob's size, so that none is read past the limit.
    let listing = ctx
        .output(
            git(&["ls-tree", "-r", "-z", "-l", "--end-of-options", &commit]),
            url,
        )
        .await?;
    if !listing.status.success() {
        return Err(repository_error(url, &listing.stderr));
    }
    let mut sizes = BTreeMap::new();
    for entry in listing.stdout.split(|b| *b == 0) {
        // `<mode> blob <object> <size>\t<path>`; submodules (`commit`) have no blob.
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut fields = meta.split_whitespace();
        if fields.nth(1) != Some("blob") || sizes.len() >= MAX_PATHS {
            continue;
        }
        let size = fields
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        sizes.insert(path.to_string(), size);
    }
    let paths: Vec<String> = sizes.keys().cloned().collect();
    let mut files = BTreeMap::new();
    for rel in to_read(&paths) {
        let size = sizes[rel];
        if size > MAX_FILE {
            return Err(InitError::TooLarge {
                what: format!("{rel} in {url}"),
                size,
            });
        }
        let object = format!("{commit}:{rel}");
        let out = ctx
            .output(git(&["cat-file", "blob", "--end-of-options", &object]), url)
            .await?;
        if !out.status.success() {
            return Err(repository_error(url, &out.stderr));
        }
        files.insert(
            rel.clone(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
    }
    Ok(Snapshot {
        paths,
        files,
        commit: Some(commit),
    })
}

fn repository_error(url: &str, stderr: &[u8]) -> InitError {
    InitError::Git(GitError::Repository {
        url: url.to_string(),
        detail: String::from_utf8_lossy(stderr).trim().to_string(),
    })
}

/// Writes `text` to `path`, which must not exist: a file that appears meanwhile is not
/// overwritten either (the temp file is linked into place, which fails on an existing one).
pub(crate) fn write_new(path: &Path, text: &str) -> Result<(), InitError> {
    use std::io::Write as _;
    if path.symlink_metadata().is_ok() {
        return Err(InitError::Exists {
            path: path.to_path_buf(),
        });
    }
    let write_err = |source| InitError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = crate::fsutil::temp_file_beside(path).map_err(write_err)?;
    tmp.write_all(text.as_bytes()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(InitError::Exists {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(write_err(e.error)),
    }
}

/// `to` relative to the directory `from` (both absolute), with `/` separators: what a
/// config in `from` writes as a local `git` path.
pub(crate) fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_git_paths_are_relative_to_the_config() {
        let rel = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
        assert_eq!(rel("/w/p", "/w/p"), ".");
        assert_eq!(rel("/w/p", "/w/p/src"), "src");
        assert_eq!(rel("/w/p", "/w/q/r"), "../q/r");
    }

    #[test]
    fn a_url_is_git_and_a_missing_directory_is_an_error() {
        assert_eq!(
            Source::parse("https://github.com/o/r.git").unwrap(),
            Source::Git("https://github.com/o/r.git".into())
        );
        assert_eq!(
            Source::parse("git@github.com:o/r.git").unwrap(),
            Source::Git("git@github.com:o/r.git".into())
        );
        assert!(matches!(
            Source::parse("/nonexistent/dir"),
            Err(InitError::NoSource { .. })
        ));
    }

    #[test]
    fn only_the_root_files_and_the_shallowest_cmake_lists_are_read() {
        let mut paths: Vec<String> = ["pyproject.toml", "a/pyproject.toml", "setup.py"]
            .map(String::from)
            .into();
        paths.extend((0..70).map(|i| format!("d{i:02}/CMakeLists.txt")));
        paths.push("CMakeLists.txt".into());
        let read = to_read(&paths);
        assert_eq!(read[0], "CMakeLists.txt");
        assert!(read.iter().any(|p| *p == "pyproject.toml"));
        assert!(!read.iter().any(|p| *p == "a/pyproject.toml"));
        assert_eq!(
            read.iter()
                .filter(|p| p.ends_with("CMakeLists.txt"))
                .count(),
            MAX_CMAKE_FILES
        );
    }
}
