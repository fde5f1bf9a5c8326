//! A project directory to run `wheelbuild` in, and snapshots of its output with the
//! volatile parts (temp paths, ports, digests, SHAs, keys, times) filtered out.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A harness timeout far beyond what a command under test needs: reached only when a
/// limit is missing and the command hangs.
pub const HANG: std::time::Duration = std::time::Duration::from_secs(180);

pub struct Project {
    pub dir: tempfile::TempDir,
    /// Registries / servers whose address should be filtered as `[REGISTRY]` etc.
    pub names: Vec<(String, String)>,
    env: Vec<(String, String)>,
    /// Things that must live as long as the project (repositories, servers).
    held: Vec<Box<dyn std::any::Any>>,
}

impl Project {
    pub fn new(config: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("wb-test-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("wheelbuild.toml"), config).unwrap();
        let docker_config = dir.path().join(".docker");
        std::fs::create_dir_all(&docker_config).unwrap();
        Project {
            dir,
            names: Vec::new(),
            held: Vec::new(),
            env: vec![
                // Retry fast: tests script failures, they do not wait for real backoff.
                ("WHEELBUILD_RETRY_BASE_MS".into(), "5".into()),
                (
                    "DOCKER_CONFIG".into(),
                    docker_config.to_string_lossy().into_owned(),
                ),
            ],
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.file(name), text).unwrap();
    }

    /// Replace `addr` with `[name]` in snapshots.
    pub fn name(mut self, addr: &str, name: &str) -> Self {
        self.names.push((addr.to_string(), format!("[{name}]")));
        self
    }

    /// Keep `thing` alive as long as the project.
    pub fn hold(mut self, thing: impl std::any::Any) -> Self {
        self.held.push(Box::new(thing));
        self
    }

    pub fn docker_config_dir(&self) -> PathBuf {
        self.file(".docker")
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("wheelbuild").unwrap();
        cmd.current_dir(self.path())
            .env_remove("WHEELBUILD_CONFIG")
            .env_remove("WHEELBUILD_STORE")
            .env_remove("WHEELBUILD_CACHE_DIR")
            .env_remove("WHEELBUILD_OFFLINE")
            .env_remove("WHEELBUILD_LOG")
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// [`Project::run`], killed after `limit`: a hang then fails the test (no exit
    /// code) instead of stalling the suite. Not a measure of speed: give it slack.
    pub fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Output {
        self.cmd().args(args).timeout(limit).output().unwrap()
    }

    /// uv-style snapshot text: exit code, stdout, stderr, filtered.
    pub fn snapshot(&self, out: &Output) -> String {
        let text = format!(
            "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            out.status.success(),
            out.status
                .code()
                .map_or("signal".to_string(), |c| c.to_string()),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        self.filter(&text)
    }

    pub fn filter(&self, text: &str) -> String {
        let mut text = text.to_string();
        let canonical = std::fs::canonicalize(self.path()).unwrap();
        for p in [
            canonical.to_string_lossy().into_owned(),
            self.path().to_string_lossy().into_owned(),
        ] {
            text = text.replace(&p, "[PROJECT]");
        }
        for (addr, name) in &self.names {
            text = text.replace(addr, name);
        }
        filter_volatile(&text)
    }
}

/// Digests, SHAs, keys and durations vary between runs.
pub fn filter_volatile(text: &str) -> String {
    let rules: [(&str, &str); 6] = [
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"sha256:[0-9a-f]{12}", "sha256:[SHORT]"),
        (r"blake3:[0-9a-f]{64}", "blake3:[FINGERPRINT]"),
        (r"\b[0-9a-f]{64}\b", "[KEY]"),
        (r"\b[0-9a-f]{40}\b", "[SHA]"),
        (r"\b[0-9a-f]{12}\b", "[SHORT]"),
    ];
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        text = regex_lite::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    let time = regex_lite::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b").unwrap();
    time.replace_all(&text, "[TIME]").into_owned()
}

/// `assert_snapshot!` of a command's filtered output.
#[macro_export]
macro_rules! wb_snapshot {
    ($project:expr, $args:expr, @$snapshot:literal) => {{
        let out = $project.run(&$args);
        insta::assert_snapshot!($project.snapshot(&out), @$snapshot);
        out
    }};
}
