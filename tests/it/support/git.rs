//! Real git repositories (reproducible SHAs) and a real `git daemon`.
//!
//! Every git command run here is isolated from the user's and the system's
//! git config (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`) and from
//! any `GIT_DIR`-style variables of the environment.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{ChildGuard, file_tail, free_port, wait_until};

/// Base of the deterministic author/committer dates: the `n`-th commit or
/// annotated tag of a repo is dated `EPOCH + 60 * n` seconds.
const EPOCH: u64 = 1_700_000_000;

/// A `git` command isolated from global/system config and GIT_* variables.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir);
    isolate_git_env(&mut cmd);
    cmd
}

/// Removes GIT_* variables that redirect git, ignores system/global config.
pub fn isolate_git_env(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs git in `dir`; panics with stderr on failure; returns trimmed stdout.
pub fn run_git(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> String {
    let mut cmd = git_command(dir);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed ({}):\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `git ls-remote URL` as `refname -> sha` (peeled `^{}` entries included
/// under their `refs/tags/X^{}` names). `Err(stderr)` on failure.
pub fn ls_remote(url: &str) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = git_command(Path::new("/"));
    let out = cmd.args(["ls-remote", url]).output().expect("running git");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
        .collect())
}

/// A non-bare git repository in a temp dir with reproducible commits.
pub struct GitRepo {
    pub path: PathBuf,
    tick: Cell<u64>,
    _dir: Option<TempDir>,
}

impl GitRepo {
    /// `git init -b main` in a fresh temp dir (outside any repository).
    pub fn new() -> GitRepo {
        let dir = super::tempdir("git-");
        let path = dir.path().join("repo");
        GitRepo::init(path, Some(dir))
    }

    /// `git init -b main` at `parent/name` (e.g. under a [`GitDaemon`]'s
    /// base dir). The caller owns `parent`'s lifetime.
    pub fn new_in(parent: &Path, name: &str) -> GitRepo {
        GitRepo::init(parent.join(name), None)
    }

    fn init(path: PathBuf, dir: Option<TempDir>) -> GitRepo {
        std::fs::create_dir_all(&path).unwrap();
        run_git(&path, &["init", "-q", "-b", "main"], &[]);
        for (k, v) in [
            ("user.name", "Wheelbuild Test"),
            ("user.email", "wbtest@example.invalid"),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
            ("core.autocrlf", "false"),
        ] {
            run_git(&path, &["config", k, v], &[]);
        }
        GitRepo {
            path,
            tick: Cell::new(0),
            _dir: dir,
        }
    }

    /// Runs git in the repo; returns trimmed stdout. Objects it creates get
    /// the date of the last commit/annotated tag made by this harness.
    pub fn git(&self, args: &[&str]) -> String {
        let date = format!("{} +0000", EPOCH + 60 * self.tick.get());
        run_git(
            &self.path,
            args,
            &[
                ("GIT_AUTHOR_DATE", date.clone()),
                ("GIT_COMMITTER_DATE", date),
            ],
        )
    }

    /// Runs git with the author/committer (and tagger) date of the next
    /// object: one minute later per commit/annotated tag, so SHAs are
    /// reproducible.
    fn git_new_object(&self, args: &[&str]) -> String {
        self.tick.set(self.tick.get() + 1);
        self.git(args)
    }

    /// Writes `file` (relative; parent dirs created), stages it, commits
    /// with `message`; returns the full SHA of the new commit.
    pub fn commit(&self, file: &str, content: &str, message: &str) -> String {
        let p = self.path.join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        self.git(&["add", "--", file]);
        self.git_new_object(&["commit", "-q", "--allow-empty", "-m", message]);
        self.rev_parse("HEAD")
    }

    /// Creates branch `name` at HEAD (does not switch to it).
    pub fn branch(&self, name: &str) {
        self.git(&["branch", name]);
    }

    /// Switches to branch (or detaches at tag/commit) `name`.
    pub fn checkout(&self, name: &str) {
        self.git(&["checkout", "-q", name]);
    }

    /// Lightweight tag at HEAD.
    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    /// Annotated tag at HEAD; returns the tag object's SHA (not the commit's).
    pub fn annotated_tag(&self, name: &str, message: &str) -> String {
        self.git_new_object(&["tag", "-a", name, "-m", message]);
        self.git(&["rev-parse", &format!("refs/tags/{name}")])
    }

    /// `git rev-parse REV^{commit}`: the commit SHA a ref resolves to (the
    /// reference answer for tests).
    pub fn rev_parse(&self, rev: &str) -> String {
        run_git(
            &self.path,
            &["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")],
            &[],
        )
    }

    /// `file:///abs/path`.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

impl Default for GitRepo {
    fn default() -> Self {
        GitRepo::new()
    }
}

/// A running `git daemon` exporting every repository under `base`; killed on drop.
pub struct GitDaemon {
    pub port: u16,
    pub base: PathBuf,
    log: PathBuf,
    child: ChildGuard,
    _logdir: TempDir,
}

impl GitDaemon {
    /// Starts `git daemon --reuseaddr --export-all --base-path=BASE
    /// --listen=127.0.0.1 --port=PORT BASE` and waits until it answers
    /// (`git ls-remote` of a repository under `base` when there is one,
    /// else a TCP connect).
    pub fn start(base: &Path) -> GitDaemon {
        let base = base.canonicalize().expect("git daemon base dir must exist");
        let logdir = super::tempdir("git-daemon-");
        let log = logdir.path().join("git-daemon.log");
        let probe = std::fs::read_dir(&base)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join(".git").exists() || p.join("HEAD").is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned());
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let logf = std::fs::File::create(&log).unwrap();
            // Run `git-daemon` itself: `git daemon` would be a wrapper
            // process whose SIGKILL leaves the real daemon orphaned.
            let exec_path = run_git(&base, &["--exec-path"], &[]);
            let mut cmd = Command::new(Path::new(&exec_path).join("git-daemon"));
            let child = isolate_git_env(&mut cmd)
                .current_dir(&base)
                .args(["--reuseaddr", "--export-all", "--verbose"])
                .arg(format!("--base-path={}", base.display()))
                .args(["--listen=127.0.0.1", &format!("--port={port}")])
                .arg(&base)
                .stdout(logf.try_clone().unwrap())
                .stderr(logf)
                .spawn()
                .expect("spawning git daemon");
            let mut child = ChildGuard::new(child, format!("git daemon on port {port}"));
            let up = wait_until(Duration::from_secs(20), || {
                if let Some(s) = child.exited() {
                    return Some(Err(format!("git daemon exited with {s}")));
                }
                if !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Ready to rumble")) {
                    return None;
                }
                TcpStream::connect(("127.0.0.1", port)).ok()?;
                match &probe {
                    Some(repo) => ls_remote(&format!("git://127.0.0.1:{port}/{repo}"))
                        .ok()
                        .map(Ok),
                    None => Some(Ok(BTreeMap::new())),
                }
            });
            match up {
                Some(Ok(_)) => {
                    return GitDaemon {
                        port,
                        base,
                        log,
                        child,
                        _logdir: logdir,
                    };
                }
                Some(Err(e)) => {
                    last = format!("{e}\n--- log ---\n{}", file_tail(&log, 30));
                    if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("in use")) {
                        continue;
                    }
                    break;
                }
                None => {
                    last = format!(
                        "git daemon not up after 20s\n--- log ---\n{}",
                        file_tail(&log, 30)
                    );
                    break;
                }
            }
        }
        panic!("starting git daemon failed: {last}");
    }

    /// `git://127.0.0.1:PORT/<repo_name>` (path relative to `base`).
    pub fn url(&self, repo_name: &str) -> String {
        format!("git://127.0.0.1:{}/{repo_name}", self.port)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
