//! Git ref → commit SHA, with the `git` CLI.
//!
//! One `git ls-remote --symref` per distinct URL answers every branch and tag of that
//! repository at once (tags peeled to their commit). Commit SHAs (full or short) are not
//! advertised, so they are checked in a bare mirror under the cache directory, which the
//! build step reuses to check out sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::config::GitInput;
use crate::fsutil::FileLock;
use crate::lock::{LockedGit, RefKind, is_full_sha};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    NoGit(std::io::Error),
    #[error("cannot read git repository {url}: {detail}")]
    Repository { url: String, detail: String },
    #[error("git repository {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("ref `{reference}` not found in {url}")]
    RefNotFound {
        url: String,
        reference: String,
        suggestion: Option<String>,
    },
    #[error("short SHA `{reference}` is ambiguous in {url}")]
    Ambiguous { url: String, reference: String },
    #[error("{url} has no default branch (HEAD does not point at a branch)")]
    NoHead { url: String },
    #[error("git mirror {}: {detail}", path.display())]
    Mirror { path: PathBuf, detail: String },
}

impl GitError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            GitError::NoGit(_) => "install git (apt-get install git)".into(),
            GitError::Repository { .. } => {
                "check the project's `git` URL; local paths are relative to the config file".into()
            }
            GitError::Unreachable { .. } => {
                "check the network and that the git server is running".into()
            }
            GitError::RefNotFound { suggestion, .. } => match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "give an existing branch, tag, or commit SHA in the project's `ref`".into(),
            },
            GitError::Ambiguous { .. } => "use more digits of the SHA, or the full 40".into(),
            GitError::NoHead { .. } => "set the project's `ref` explicitly".into(),
            GitError::Mirror { .. } => {
                "delete the mirror directory; it is re-created on demand".into()
            }
        })
    }

    /// A copy (io errors are not `Clone`; their text is what matters here).
    fn duplicate(&self) -> GitError {
        match self {
            GitError::NoGit(e) => GitError::NoGit(std::io::Error::new(e.kind(), e.to_string())),
            GitError::Repository { url, detail } => GitError::Repository {
                url: url.clone(),
                detail: detail.clone(),
            },
            GitError::Unreachable { url, detail } => GitError::Unreachable {
                url: url.clone(),
                detail: detail.clone(),
            },
            other => GitError::Repository {
                url: String::new(),
                detail: other.to_string(),
            },
        }
    }

    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            GitError::Unreachable { .. } | GitError::NoGit(_) | GitError::Mirror { .. }
        )
    }
}

/// Where things are on this machine.
#[derive(Debug, Clone)]
pub struct GitContext {
    /// Directory that relative repository paths are relative to (the config's).
    pub root: PathBuf,
    /// Directory holding bare mirrors.
    pub mirrors: PathBuf,
}

impl GitContext {
    /// The URL to hand to git: config-relative local paths made absolute.
    pub fn remote_url(&self, url: &str) -> String {
        if url.contains("://") || is_scp_like(url) || Path::new(url).is_absolute() {
            url.to_string()
        } else {
            // Absolute: git also runs with `-C <mirror>`, where a relative path means
            // something else.
            let path = self.root.join(url);
            std::path::absolute(&path)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned()
        }
    }

    /// The bare mirror of `url`.
    pub fn mirror_path(&self, url: &str) -> PathBuf {
        let remote = self.remote_url(url);
        let base: String = remote
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("repo")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(40)
            .collect();
        let hash = blake3::hash(remote.as_bytes()).to_hex();
        self.mirrors.join(format!("{base}-{}.git", &hash[..16]))
    }
}

/// `user@host:path` (scp-like ssh syntax).
fn is_scp_like(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), slash) => colon > 1 && slash.is_none_or(|s| colon < s),
        _ => false,
    }
}

pub(crate) fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command, url: &str) -> Result<String, GitError> {
    let out = cmd.output().await.map_err(GitError::NoGit)?;
    if out.status.success() {
        return String::from_utf8(out.stdout).map_err(|e| GitError::Repository {
            url: url.to_string(),
            detail: e.to_string(),
        });
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let unreachable = [
        "Connection refused",
        "Could not resolve host",
        "unable to connect",
        "Connection timed out",
        "Network is unreachable",
        "remote end hung up",
    ]
    .iter()
    .any(|s| stderr.contains(s));
    // git's first `fatal:` line says what went wrong; the lines after it are advice.
    let detail = stderr
        .lines()
        .find(|l| l.starts_with("fatal: "))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("git failed")
        .trim_start_matches("fatal: ")
        .to_string();
    Err(if unreachable {
        GitError::Unreachable {
            url: url.to_string(),
            detail,
        }
    } else {
        GitError::Repository {
            url: url.to_string(),
            detail,
        }
    })
}

/// What `git ls-remote --symref` says about one repository.
#[derive(Debug, Default)]
pub struct RemoteRefs {
    /// `refs/heads/main` for `HEAD`, when HEAD is a symref.
    pub head_target: Option<String>,
    pub head: Option<String>,
    /// Full ref name → commit (tags peeled).
    pub refs: BTreeMap<String, String>,
}

impl RemoteRefs {
    pub fn parse(text: &str) -> RemoteRefs {
        let mut r = RemoteRefs::default();
        let mut peeled = BTreeMap::new();
        for line in text.lines() {
            let Some((left, name)) = line.split_once('\t') else {
                continue;
            };
            if let Some(target) = left.strip_prefix("ref: ") {
                if name == "HEAD" {
                    r.head_target = Some(target.to_string());
                }
                continue;
            }
            if name == "HEAD" {
                r.head = Some(left.to_string());
            } else if let Some(tag) = name.strip_suffix("^{}") {
                peeled.insert(tag.to_string(), left.to_string());
            } else {
                r.refs.insert(name.to_string(), left.to_string());
            }
        }
        // Annotated tags: the commit, not the tag object.
        r.refs.extend(peeled);
        r
    }

    /// Resolve a ref the way `git rev-parse` orders names: exact, tag, then branch.
    pub fn lookup(&self, reference: &str) -> Option<(RefKind, &str, &str)> {
        let kind_of = |full: &str| {
            if full.starts_with("refs/tags/") {
                RefKind::Tag
            } else {
                RefKind::Branch
            }
        };
        if reference.starts_with("refs/") {
            return self
                .refs
                .get_key_value(reference)
                .map(|(k, v)| (kind_of(k), k.as_str(), v.as_str()));
        }
        for prefix in ["refs/tags/", "refs/heads/"] {
            if let Some((k, v)) = self.refs.get_key_value(&format!("{prefix}{reference}")) {
                return Some((kind_of(k), k.as_str(), v.as_str()));
            }
        }
        None
    }

    fn short_names(&self) -> impl Iterator<Item = &str> {
        self.refs.keys().filter_map(|k| {
            k.strip_prefix("refs/heads/")
                .or_else(|| k.strip_prefix("refs/tags/"))
        })
    }
}

pub async fn ls_remote(ctx: &GitContext, url: &str) -> Result<RemoteRefs, GitError> {
    let mut cmd = git();
    cmd.args(["ls-remote", "--symref", "--", &ctx.remote_url(url)]);
    let refs = RemoteRefs::parse(&run(cmd, url).await?);
    tracing::debug!(url, refs = refs.refs.len(), head = ?refs.head_target, "git ls-remote");
    Ok(refs)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Resolve every ref wanted from one repository.
pub async fn resolve_repository(
    ctx: &GitContext,
    url: &str,
    inputs: &[GitInput],
) -> Vec<Result<LockedGit, GitError>> {
    let remote = match ls_remote(ctx, url).await {
        Ok(r) => r,
        // Every ref of an unreadable repository fails the same way.
        Err(e) => return inputs.iter().map(|_| Err(e.duplicate())).collect(),
    };
    let mut results = Vec::with_capacity(inputs.len());
    for input in inputs {
        results.push(resolve_one(ctx, url, &remote, input).await);
    }
    results
}

async fn resolve_one(
    ctx: &GitContext,
    url: &str,
    remote: &RemoteRefs,
    input: &GitInput,
) -> Result<LockedGit, GitError> {
    let locked = |kind, resolved: Option<&str>, commit: &str| LockedGit {
        url: input.url.clone(),
        reference: input.reference.clone(),
        kind,
        resolved: resolved.map(str::to_string),
        commit: commit.to_string(),
    };
    let Some(reference) = input.reference.as_deref() else {
        let (Some(target), Some(head)) = (&remote.head_target, &remote.head) else {
            return Err(GitError::NoHead {
                url: url.to_string(),
            });
        };
        return Ok(locked(RefKind::Branch, Some(target), head));
    };
    if let Some((kind, full, commit)) = remote.lookup(reference) {
        return Ok(locked(kind, Some(full), commit));
    }
    if is_hex(reference) && reference.len() >= 4 && reference.len() <= 40 {
        // A full SHA that is some ref's tip needs no fetch.
        if is_full_sha(reference) && remote.refs.values().any(|c| c == reference) {
            return Ok(locked(RefKind::Commit, None, reference));
        }
        let commit = verify_commit(ctx, url, reference).await?;
        return Ok(locked(RefKind::Commit, None, &commit));
    }
    Err(GitError::RefNotFound {
        url: url.to_string(),
        reference: reference.to_string(),
        suggestion: crate::diag::did_you_mean(reference, remote.short_names()).map(str::to_string),
    })
}

/// Update (or create) the bare mirror of `url` and return its path. Holds a file lock
/// so concurrent wheelbuild processes do not fetch into one mirror at once.
pub async fn update_mirror(ctx: &GitContext, url: &str) -> Result<PathBuf, GitError> {
    let path = ctx.mirror_path(url);
    let lock_path = path.with_extension("git.lock");
    let mirror_err = |detail: String| GitError::Mirror {
        path: path.clone(),
        detail,
    };
    let guard = tokio::task::spawn_blocking({
        let lock_path = lock_path.clone();
        move || FileLock::acquire(&lock_path)
    })
    .await
    .map_err(|e| mirror_err(e.to_string()))?
    .map_err(|e| mirror_err(e.to_string()))?;
    if !path.join("HEAD").exists() {
        let mut cmd = git();
        cmd.args(["init", "--quiet", "--bare", "--"]).arg(&path);
        run(cmd, url).await.map_err(|e| mirror_err(e.to_string()))?;
    }
    let mut cmd = git();
    cmd.arg("-C")
        .arg(&path)
        .args(["fetch", "--quiet", "--prune", "--force", "--no-tags", "--"])
        .arg(ctx.remote_url(url))
        .args(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    run(cmd, url).await?;
    drop(guard);
    Ok(path)
}

/// Make sure `commit` (full or short) exists in the mirror, fetching it by SHA if no
/// branch or tag reaches it. Returns the full SHA.
pub async fn ensure_commit(ctx: &GitContext, url: &str, commit: &str) -> Result<PathBuf, GitError> {
    let path = ctx.mirror_path(url);
    if rev_parse(&path, url, commit).await?.is_some() {
        return Ok(path);
    }
    let path = update_mirror(ctx, url).await?;
    if rev_parse(&path, url, commit).await?.is_none() && is_full_sha(commit) {
        let mut cmd = git();
        cmd.arg("-C")
            .arg(&path)
            .args(["fetch", "--quiet", "--"])
            .arg(ctx.remote_url(url))
            .arg(commit);
        let _ = run(cmd, url).await;
    }
    Ok(path)
}

async fn verify_commit(ctx: &GitContext, url: &str, reference: &str) -> Result<String, GitError> {
    let path = ensure_commit(ctx, url, reference).await?;
    rev_parse(&path, url, reference)
        .await?
        .ok_or_else(|| GitError::RefNotFound {
            url: url.to_string(),
            reference: reference.to_string(),
            suggestion: None,
        })
}

/// `git rev-parse --verify <sha>^{commit}` in a mirror; `None` when absent.
async fn rev_parse(mirror: &Path, url: &str, reference: &str) -> Result<Option<String>, GitError> {
    if !mirror.join("HEAD").exists() {
        return Ok(None);
    }
    let mut cmd = git();
    cmd.arg("-C")
        .arg(mirror)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{reference}^{{commit}}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().await.map_err(GitError::NoGit)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ambiguous") {
        return Err(GitError::Ambiguous {
            url: url.to_string(),
            reference: reference.to_string(),
        });
    }
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && is_full_sha(&sha)).then_some(sha))
}

/// Resolve all git inputs: one task per repository, all concurrently.
pub async fn resolve_all(
    ctx: &GitContext,
    inputs: Vec<GitInput>,
) -> Vec<(GitInput, Result<LockedGit, GitError>)> {
    let mut by_url: BTreeMap<String, Vec<GitInput>> = BTreeMap::new();
    for input in inputs {
        by_url.entry(input.url.clone()).or_default().push(input);
    }
    let tasks = by_url.into_iter().map(|(url, inputs)| async move {
        let results = resolve_repository(ctx, &url, &inputs).await;
        inputs.into_iter().zip(results).collect::<Vec<_>>()
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ls_remote_with_symref_and_peeled_tags() {
        let text = "ref: refs/heads/main\tHEAD\n\
            1111111111111111111111111111111111111111\tHEAD\n\
            1111111111111111111111111111111111111111\trefs/heads/main\n\
            2222222222222222222222222222222222222222\trefs/tags/v1\n\
            3333333333333333333333333333333333333333\trefs/tags/v1^{}\n\
            4444444444444444444444444444444444444444\trefs/tags/light\n";
        let r = RemoteRefs::parse(text);
        assert_eq!(r.head_target.as_deref(), Some("refs/heads/main"));
        assert_eq!(
            r.lookup("v1"),
            Some((
                RefKind::Tag,
                "refs/tags/v1",
                "3333333333333333333333333333333333333333"
            ))
        );
        assert_eq!(r.lookup("main").map(|x| x.0), Some(RefKind::Branch));
        assert_eq!(r.lookup("refs/tags/light").map(|x| x.0), Some(RefKind::Tag));
        assert_eq!(r.lookup("nope"), None);
    }

    #[test]
    fn local_paths_are_relative_to_the_config() {
        let ctx = GitContext {
            root: PathBuf::from("/proj"),
            mirrors: PathBuf::from("/cache/git"),
        };
        assert_eq!(ctx.remote_url("../repo"), "/proj/../repo");
        let here = GitContext {
            root: PathBuf::from("."),
            mirrors: PathBuf::from("/m"),
        };
        assert!(Path::new(&here.remote_url("repo")).is_absolute());
        assert_eq!(ctx.remote_url("file:///x"), "file:///x");
        assert_eq!(
            ctx.remote_url("git@github.com:org/r.git"),
            "git@github.com:org/r.git"
        );
        assert_eq!(ctx.remote_url("/abs/r"), "/abs/r");
        let m = ctx.mirror_path("https://example.com/org/flash-attn.git");
        assert!(
            m.to_string_lossy().starts_with("/cache/git/flash-attn-"),
            "{}",
            m.display()
        );
    }
}
