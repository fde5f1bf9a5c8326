//! Git ref → commit SHA, with the `git` CLI.
//!
//! One `git ls-remote --symref` per distinct URL answers every branch and tag of that
//! repository at once (tags peeled to their commit). Commit SHAs (full or short) are not
//! advertised, so they are checked in a bare mirror under the cache directory, which the
//! build step reuses to check out sources.
//!
//! Every git command runs under a deadline (see `GitContext::output`) and is killed
//! past it; HTTP transfers slower than 1 KB/s for `request-timeout` are cut by git itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

use super::network::{self, NetworkSettings, WaitObserver};
use crate::config::GitInput;
use crate::fsutil::FileLock;
use crate::lock::{LockedGit, RefKind, is_full_sha};

#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    #[error("cannot run git: {0}")]
    NoGit(std::io::Error),
    #[error("cannot read git repository {url}: {detail}")]
    Repository { url: String, detail: String },
    #[error("git repository {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("`git {command}` of {url} did not finish within {} s", limit.as_secs())]
    TimedOut {
        url: String,
        command: String,
        limit: Duration,
        /// The `[network]` key that sets `limit`.
        setting: &'static str,
    },
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
    #[error(
        "{url} no longer has the locked commit {commit} (a tag or branch was moved and its old commit is gone)"
    )]
    CommitGone { url: String, commit: String },
}

impl GitError {
    pub(crate) fn hint(&self) -> Option<String> {
        Some(match self {
            GitError::NoGit(_) => "install git (apt-get install git)".into(),
            GitError::Repository { .. } => {
                "check the project's `git` URL; local paths are relative to the config file".into()
            }
            GitError::Unreachable { .. } => {
                "check the network and that the git server is running".into()
            }
            GitError::TimedOut { setting, .. } => format!(
                "check the network and that the git server is running; a big repository or a \
                 slow link may need a higher `[network] {setting}`"
            ),
            GitError::RefNotFound { suggestion, .. } => match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "give an existing branch, tag, or commit SHA in the project's `ref`".into(),
            },
            GitError::Ambiguous { .. } => "use more digits of the SHA, or the full 40".into(),
            GitError::NoHead { .. } => "set the project's `ref` explicitly".into(),
            GitError::Mirror { .. } => {
                "delete the mirror directory; it is re-created on demand".into()
            }
            GitError::CommitGone { .. } => "`wheelbuild lock --update PROJECT` pins the commit \
                its ref names now (`audit` shows the move)"
                .into(),
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
            GitError::TimedOut {
                url,
                command,
                limit,
                setting,
            } => GitError::TimedOut {
                url: url.clone(),
                command: command.clone(),
                limit: *limit,
                setting,
            },
            GitError::CommitGone { url, commit } => GitError::CommitGone {
                url: url.clone(),
                commit: commit.clone(),
            },
            other => GitError::Repository {
                url: String::new(),
                detail: other.to_string(),
            },
        }
    }

    pub(crate) fn is_user_error(&self) -> bool {
        !matches!(
            self,
            GitError::Unreachable { .. }
                | GitError::TimedOut { .. }
                | GitError::NoGit(_)
                | GitError::Mirror { .. }
        )
    }
}

/// Where things are on this machine, and how long git may take.
#[derive(Clone)]
pub(crate) struct GitContext {
    /// Directory that relative repository paths are relative to (the config's).
    pub root: PathBuf,
    /// Directory holding bare mirrors.
    pub mirrors: PathBuf,
    pub network: NetworkSettings,
    /// Told about git commands still running.
    pub on_wait: Option<WaitObserver>,
}

impl GitContext {
    /// A git command that never prompts, and whose HTTP transfers give up below 1 KB/s
    /// sustained for `request-timeout` (a trickling server).
    pub(crate) fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
            .env(
                "GIT_HTTP_LOW_SPEED_TIME",
                self.network.request_timeout.as_secs().to_string(),
            )
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Run `cmd` to completion within its deadline, killing it past that:
    /// `request-timeout` for `ls-remote`, which only asks for refs, and `fetch-timeout`
    /// for every other command, which may move a whole history.
    pub(crate) async fn output(&self, mut cmd: Command, url: &str) -> Result<Output, GitError> {
        let command = subcommand(&cmd);
        let (limit, setting) = if command == "ls-remote" {
            (self.network.request_timeout, "request-timeout")
        } else {
            (self.network.fetch_timeout, "fetch-timeout")
        };
        match network::within(limit, url, self.on_wait.as_ref(), cmd.output()).await {
            Some(out) => out.map_err(GitError::NoGit),
            None => Err(GitError::TimedOut {
                url: url.to_string(),
                command,
                limit,
                setting,
            }),
        }
    }

    /// Run `cmd`; its stdout, or the error its stderr describes.
    async fn run(&self, cmd: Command, url: &str) -> Result<String, GitError> {
        let out = self.output(cmd, url).await?;
        if out.status.success() {
            return String::from_utf8(out.stdout).map_err(|e| GitError::Repository {
                url: url.to_string(),
                detail: e.to_string(),
            });
        }
        Err(classify(&String::from_utf8_lossy(&out.stderr), url))
    }

    /// The URL to hand to git: config-relative local paths made absolute.
    pub(crate) fn remote_url(&self, url: &str) -> String {
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
    pub(crate) fn mirror_path(&self, url: &str) -> PathBuf {
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

/// The git subcommand of `cmd` (`fetch` in `git -C dir fetch ...`).
fn subcommand(cmd: &Command) -> String {
    let mut args = cmd.as_std().get_args();
    while let Some(arg) = args.next() {
        if arg == "-C" || arg == "-c" {
            args.next();
        } else {
            return arg.to_string_lossy().into_owned();
        }
    }
    String::new()
}

/// What git's stderr says when the remote could not be reached, over git://, HTTP (curl)
/// or ssh, as opposed to a wrong URL or missing access.
const UNREACHABLE: [&str; 13] = [
    "Connection refused",
    "Connection reset",
    "Connection closed",
    "Could not resolve host",
    "unable to connect",
    "Couldn't connect to server",
    "Failed to connect",
    "Connection timed out",
    "Operation timed out",
    "Operation too slow",
    "Network is unreachable",
    "No route to host",
    "remote end hung up",
];

/// A failed git command, from its stderr.
fn classify(stderr: &str, url: &str) -> GitError {
    let stderr = stderr.trim();
    // A wrong path or a refused ssh key: the user's to fix, whatever else git says.
    let refused = [
        "does not appear to be a git repository",
        "Permission denied",
    ]
    .iter()
    .any(|s| stderr.contains(s));
    let cause = stderr
        .lines()
        .find(|l| UNREACHABLE.iter().any(|s| l.contains(s)));
    // ssh and local transports end any failure with this line.
    let unreachable =
        !refused && (cause.is_some() || stderr.contains("Could not read from remote repository"));
    // The line that says why the remote is unreachable; otherwise git's first `fatal:`
    // line, which says what went wrong (the lines after it are advice).
    let detail = cause
        .filter(|_| unreachable)
        .or_else(|| stderr.lines().find(|l| l.starts_with("fatal: ")))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("git failed")
        .trim_start_matches("fatal: ")
        .to_string();
    let url = url.to_string();
    if unreachable {
        GitError::Unreachable { url, detail }
    } else {
        GitError::Repository { url, detail }
    }
}

/// What `git ls-remote --symref` says about one repository.
#[derive(Debug, Default)]
pub(crate) struct RemoteRefs {
    /// `refs/heads/main` for `HEAD`, when HEAD is a symref.
    pub head_target: Option<String>,
    pub head: Option<String>,
    /// Full ref name → commit (tags peeled).
    pub refs: BTreeMap<String, String>,
}

impl RemoteRefs {
    pub(crate) fn parse(text: &str) -> RemoteRefs {
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
    pub(crate) fn lookup(&self, reference: &str) -> Option<(RefKind, &str, &str)> {
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

pub(crate) async fn ls_remote(ctx: &GitContext, url: &str) -> Result<RemoteRefs, GitError> {
    let mut cmd = ctx.git();
    cmd.args(["ls-remote", "--symref", "--", &ctx.remote_url(url)]);
    let refs = RemoteRefs::parse(&ctx.run(cmd, url).await?);
    tracing::debug!(url, refs = refs.refs.len(), head = ?refs.head_target, "git ls-remote");
    Ok(refs)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Resolve every ref wanted from one repository.
pub(crate) async fn resolve_repository(
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
        build_requires: Default::default(),
        build_backend: Default::default(),
        dynamic_requires: Default::default(),
        dependencies: Default::default(),
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
        let commit = find_commit(ctx, url, reference).await?;
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
pub(crate) async fn update_mirror(ctx: &GitContext, url: &str) -> Result<PathBuf, GitError> {
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
        let mut cmd = ctx.git();
        cmd.args(["init", "--quiet", "--bare", "--"]).arg(&path);
        ctx.run(cmd, url)
            .await
            .map_err(|e| mirror_err(e.to_string()))?;
    }
    let mut cmd = ctx.git();
    cmd.arg("-C")
        .arg(&path)
        .args(["fetch", "--quiet", "--prune", "--force", "--no-tags", "--"])
        .arg(ctx.remote_url(url))
        .args(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    ctx.run(cmd, url).await?;
    drop(guard);
    Ok(path)
}

/// Make sure `commit` (full or short) exists in the mirror, fetching it by SHA if no
/// branch or tag reaches it. Returns the full SHA.
pub(crate) async fn ensure_commit(
    ctx: &GitContext,
    url: &str,
    commit: &str,
) -> Result<PathBuf, GitError> {
    let path = ctx.mirror_path(url);
    if rev_parse(ctx, &path, url, commit).await?.is_some() {
        return Ok(path);
    }
    let path = update_mirror(ctx, url).await?;
    if rev_parse(ctx, &path, url, commit).await?.is_none() && is_full_sha(commit) {
        let mut cmd = ctx.git();
        cmd.arg("-C")
            .arg(&path)
            .args(["fetch", "--quiet", "--"])
            .arg(ctx.remote_url(url))
            .arg(commit);
        let _ = ctx.run(cmd, url).await;
    }
    Ok(path)
}

async fn find_commit(ctx: &GitContext, url: &str, reference: &str) -> Result<String, GitError> {
    let path = ensure_commit(ctx, url, reference).await?;
    rev_parse(ctx, &path, url, reference)
        .await?
        .ok_or_else(|| GitError::RefNotFound {
            url: url.to_string(),
            reference: reference.to_string(),
            suggestion: None,
        })
}

/// `git rev-parse --verify <sha>^{commit}` in a mirror; `None` when absent.
async fn rev_parse(
    ctx: &GitContext,
    mirror: &Path,
    url: &str,
    reference: &str,
) -> Result<Option<String>, GitError> {
    if !mirror.join("HEAD").exists() {
        return Ok(None);
    }
    let mut cmd = ctx.git();
    cmd.arg("-C")
        .arg(mirror)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{reference}^{{commit}}"));
    let out = ctx.output(cmd, url).await?;
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
pub(crate) async fn resolve_all(
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

    fn context(root: &str, mirrors: &str) -> GitContext {
        GitContext {
            root: PathBuf::from(root),
            mirrors: PathBuf::from(mirrors),
            network: NetworkSettings::default(),
            on_wait: None,
        }
    }

    #[test]
    fn local_paths_are_relative_to_the_config() {
        let ctx = context("/proj", "/cache/git");
        assert_eq!(ctx.remote_url("../repo"), "/proj/../repo");
        let here = context(".", "/m");
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

    #[test]
    fn a_server_that_is_down_is_unreachable_a_wrong_path_is_not() {
        let advice = "fatal: Could not read from remote repository.\n\n\
            Please make sure you have the correct access rights\nand the repository exists.\n";
        let down = [
            (
                "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused\n".to_string(),
                "unable to connect to 127.0.0.1:",
            ),
            (
                "fatal: unable to access 'http://127.0.0.1:1/x/': Failed to connect to 127.0.0.1 port 1 after 1 ms: Couldn't connect to server\n".to_string(),
                "unable to access 'http://127.0.0.1:1/x/': Failed to connect to 127.0.0.1 port 1 after 1 ms: Couldn't connect to server",
            ),
            (
                format!("ssh: connect to host 127.0.0.1 port 1: Connection refused\n{advice}"),
                "ssh: connect to host 127.0.0.1 port 1: Connection refused",
            ),
            (
                format!("kex_exchange_identification: read: Connection reset by peer\n{advice}"),
                "kex_exchange_identification: read: Connection reset by peer",
            ),
            (
                "error: RPC failed; curl 28 Operation too slow. Less than 1000 bytes/sec transferred the last 60 seconds\nfatal: expected flush after ref listing\n".to_string(),
                "error: RPC failed; curl 28 Operation too slow. Less than 1000 bytes/sec transferred the last 60 seconds",
            ),
        ];
        for (stderr, detail) in down {
            match classify(&stderr, "u") {
                GitError::Unreachable { detail: d, .. } => assert_eq!(d, detail),
                other => panic!("{stderr}: {other:?}"),
            }
        }
        for stderr in [
            format!("fatal: '/nonexistent/x' does not appear to be a git repository\n{advice}"),
            format!("git@example.com: Permission denied (publickey).\n{advice}"),
            "fatal: repository 'http://127.0.0.1:8/x/' not found\n".to_string(),
        ] {
            let e = classify(&stderr, "u");
            assert!(e.is_user_error(), "{stderr}: {e:?}");
        }
    }
}
