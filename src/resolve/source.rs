//! Sources at their locked commit: checked out on this machine, sent into each build
//! container (and each container of `lock` that asks a backend's hook) through the
//! engine's API (never bind-mounted: the engine may be another machine) as the directory
//! [`SRC`].
//!
//! One checkout per commit under `<cache>/sources/<commit>`, shared by every target of
//! that commit. It is a local clone of the lock's bare mirror (objects hard-linked, so
//! its `.git` stands alone and git works inside the container too, e.g. for
//! setuptools-scm), checked out detached at the commit, renamed into place complete, and
//! verified before every build: `git rev-parse HEAD` is the commit and `git status`
//! shows no change, so the archive sent is the commit's tree.

use std::path::{Path, PathBuf};

use crate::fsutil::FileLock;
use crate::resolve::git::{GitContext, GitError, ensure_commit};

/// Where the checkout is in a container.
pub const SRC: &str = "/wheelbuild/src";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("checkout of {url} at {commit} has HEAD {head}")]
    WrongHead {
        url: String,
        commit: String,
        head: String,
    },
    #[error("the checkout of {url} at {commit} in {} has changes: {changes}", path.display())]
    Changed {
        url: String,
        commit: String,
        path: PathBuf,
        changes: String,
    },
    #[error("cannot prepare sources in {}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
    #[error("the commit time of {commit} in {} is unreadable: `{found}`", path.display())]
    CommitTime {
        path: PathBuf,
        commit: String,
        found: String,
    },
}

impl SourceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SourceError::Git(e) => e.hint(),
            SourceError::WrongHead { .. } => Some(
                "the mirror or checkout is damaged: delete it under the cache directory".into(),
            ),
            SourceError::Changed { path, .. } => Some(format!(
                "something modified the shared checkout: delete {} (it is re-created on demand)",
                path.display()
            )),
            SourceError::Io { .. } => {
                Some("check the cache directory's permissions and free space".into())
            }
            SourceError::CommitTime { path, .. } => Some(format!(
                "the checkout is damaged: delete {} (it is re-created on demand)",
                path.display()
            )),
        }
    }
}

/// A checkout of `commit`, ready to send.
#[derive(Debug, Clone)]
pub struct Source {
    pub dir: PathBuf,
    /// Committer time of the commit: the build's `SOURCE_DATE_EPOCH`.
    pub epoch: i64,
}

async fn output(
    ctx: &GitContext,
    cmd: tokio::process::Command,
    url: &str,
) -> Result<String, SourceError> {
    let out = ctx.output(cmd, url).await?;
    if !out.status.success() {
        return Err(GitError::Repository {
            url: url.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The checkout of `url` at `commit` (full SHA), creating it if needed.
pub async fn checkout(
    ctx: &GitContext,
    sources: &Path,
    url: &str,
    commit: &str,
) -> Result<Source, SourceError> {
    let dir = sources.join(commit);
    let io = |detail: String| SourceError::Io {
        path: dir.clone(),
        detail,
    };
    if !dir.join(".git").exists() {
        // One process at a time prepares a commit; the others find it done.
        let lock_path = sources.join(format!("{commit}.lock"));
        let guard = tokio::task::spawn_blocking(move || FileLock::acquire(&lock_path))
            .await
            .map_err(|e| io(e.to_string()))?
            .map_err(|e| io(e.to_string()))?;
        if !dir.join(".git").exists() {
            let mirror = ensure_commit(ctx, url, commit).await?;
            let staging = tempfile::Builder::new()
                .prefix(&format!(".{commit}."))
                .tempdir_in(sources)
                .map_err(|e| io(e.to_string()))?;
            let work = staging.path().join("src");
            let mut clone = ctx.git();
            clone
                .args(["clone", "--quiet", "--no-checkout", "--"])
                .arg(&mirror)
                .arg(&work);
            output(ctx, clone, url).await?;
            // A commit only reachable by SHA is not in a clone of the refs: fetch it.
            let mut has = ctx.git();
            has.arg("-C")
                .arg(&work)
                .args(["cat-file", "-e", &format!("{commit}^{{commit}}")]);
            if output(ctx, has, url).await.is_err() {
                let mut fetch = ctx.git();
                fetch
                    .arg("-C")
                    .arg(&work)
                    .args(["fetch", "--quiet", "--"])
                    .arg(&mirror)
                    .arg(commit);
                output(ctx, fetch, url).await?;
            }
            let mut co = ctx.git();
            co.arg("-C")
                .arg(&work)
                .args(["checkout", "--quiet", "--detach", commit]);
            output(ctx, co, url).await?;
            std::fs::rename(&work, &dir).map_err(|e| io(e.to_string()))?;
        }
        drop(guard);
    }
    let mut head = ctx.git();
    head.arg("-C").arg(&dir).args(["rev-parse", "HEAD"]);
    let head = output(ctx, head, url).await?;
    if head != commit {
        return Err(SourceError::WrongHead {
            url: url.to_string(),
            commit: commit.to_string(),
            head,
        });
    }
    // The tree sent is the commit's: nothing changed, nothing added (`--no-optional-locks`:
    // other builds read the same checkout at the same time).
    let mut status = ctx.git();
    status.arg("-C").arg(&dir).args([
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=all",
    ]);
    let changes = output(ctx, status, url).await?;
    if !changes.is_empty() {
        return Err(SourceError::Changed {
            url: url.to_string(),
            commit: commit.to_string(),
            path: dir.clone(),
            changes: changes.lines().take(5).collect::<Vec<_>>().join("; "),
        });
    }
    let mut time = ctx.git();
    time.arg("-C")
        .arg(&dir)
        .args(["show", "-s", "--format=%ct", commit]);
    // No fallback: a wrong SOURCE_DATE_EPOCH silently changes every timestamp in the wheel.
    let found = output(ctx, time, url).await?;
    let epoch = found.parse().map_err(|_| SourceError::CommitTime {
        path: dir.clone(),
        commit: commit.to_string(),
        found,
    })?;
    Ok(Source { dir, epoch })
}

/// The checkout as `/wheelbuild/src` of a build (or hook) container: every file as it is here
/// (`.git` included), with its time and mode (made readable by all), owned by root.
pub(crate) fn upload(src: &Source) -> crate::docker::upload::Upload {
    let mut upload = crate::docker::upload::Upload::default();
    upload.tree(&src.dir, SRC);
    upload
}
