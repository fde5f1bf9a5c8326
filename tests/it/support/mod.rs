//! Test harness: real parts (Debian's `docker-registry`, `skopeo`, `git`,
//! `git daemon`) started on loopback ports, plus an in-process fake HTTP
//! server for error paths.
//!
//! Rules every test follows:
//! - call [`require`] for each external tool first (or a helper that does, like
//!   `fixtures::base_image`): a missing part skips the test locally, reported as skipped
//!   with what it needs ([`runner`]), and fails it under `CI=true` (a missing real part is
//!   a failure in CI, never a silent skip);
//! - every process started here is killed and reaped on `Drop`;
//! - every temporary directory lives under [`base_dir`], outside any git
//!   repository.
#![allow(dead_code)]

pub mod engine2;
pub mod fake;
pub mod fixtures;
pub mod git;
pub mod images;
pub mod pypi;
pub mod redis;
pub mod registry;
pub mod runner;
pub mod webdav;

pub use runner::skip;
// Benches include this module too, and register no tests.
#[allow(unused_imports)]
pub use wheelbuild_test_macros::test;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// True when running under CI (`CI=true`, as `.ci/run` exports).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Full path of an executable found on `PATH`, if any.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The external tool `tool` must be on `PATH`. Use at the top of a test:
/// `support::require("skopeo");`.
///
/// Missing: the test is skipped ([`skip`]: a failure under `CI=true`, where every real part
/// must be exercised).
pub fn require(tool: &str) {
    require_all(&[tool]);
}

/// [`require`] for several tools; the skip names every one that is missing.
pub fn require_all(tools: &[&str]) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    if !missing.is_empty() {
        skip(format!(
            "needs {} on PATH (installed by scripts/test.sh)",
            missing
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// There is an unavoidable race between releasing it here and the server
/// binding it; servers started by this harness retry on a new port when the
/// bind fails.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// The HTTP status `url` (plain `http://host:port/path`) answers a GET with,
/// or `None` when nothing answers (connection refused, timeout, garbage).
pub fn http_status(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority.to_socket_addrs().ok()?.next()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let line = std::str::from_utf8(&head[..n]).ok()?;
    let status = line.strip_prefix("HTTP/1.")?.get(2..5)?;
    status.parse().ok()
}

/// Polls `url` until it answers any HTTP status; returns that status, or
/// `None` after `timeout`.
pub fn wait_for_http(url: &str, timeout: Duration) -> Option<u16> {
    wait_until(timeout, || http_status(url))
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `timeout`.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Directory holding every temporary directory of the harness:
/// `$TMPDIR/wheelbuild-it`. Checked once not to be inside a git work tree,
/// so git commands run by tests never see an enclosing repository.
pub fn base_dir() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let base = std::env::temp_dir().join("wheelbuild-it");
        std::fs::create_dir_all(&base).expect("creating harness base dir");
        if which("git").is_some() {
            let out = Command::new("git")
                .args(["rev-parse", "--show-toplevel"])
                .current_dir(&base)
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .output()
                .expect("running git");
            assert!(
                !out.status.success(),
                "harness base dir {} is inside the git work tree {}; set TMPDIR elsewhere",
                base.display(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        base
    })
}

/// A fresh temporary directory under [`base_dir`], removed on drop.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base_dir())
        .expect("creating temp dir")
}

/// Last `lines` lines of a (log) file, for panic messages.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A child process that is killed and reaped when dropped (no zombies, no
/// leaked servers even when the test panics).
pub struct ChildGuard {
    child: Child,
    what: String,
}

impl ChildGuard {
    pub fn new(child: Child, what: impl Into<String>) -> ChildGuard {
        ChildGuard {
            child,
            what: what.into(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` if the process has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.what))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
