//! The shared test helpers, in one place: a project directory to run `wheelbuild` in,
//! snapshots of its output with the volatile parts (temp paths, ports, digests, SHAs,
//! keys, times) filtered out, config builders for build tests, and readers of what a run
//! leaves (plan, store, wheelhouse, logs).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use assert_cmd::Command;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::fixtures::{
    BaseImage, docker_cli, docker_ok, example_repo, key_label, leftover_containers,
    running_containers,
};
use crate::support::git::GitRepo;

/// A harness timeout far beyond what a command under test needs: reached only when a
/// limit is missing and the command hangs.
pub const HANG: std::time::Duration = std::time::Duration::from_secs(180);

pub struct Project {
    pub dir: tempfile::TempDir,
    /// This project's cache channel (`WHEELBUILD_CACHE_CHANNEL`): cache volumes live on
    /// the engine, shared by every project of a channel, so each test project has its
    /// own (as it had its own cache directory), removed with it.
    pub channel: String,
    /// Registries / servers whose address should be filtered as `[REGISTRY]` etc.
    pub names: Vec<(String, String)>,
    env: Vec<(String, String)>,
    /// Things that must live as long as the project (repositories, servers).
    held: Vec<Box<dyn std::any::Any>>,
}

impl Project {
    pub fn new(config: &str) -> Project {
        let p = Project::empty();
        p.write("wheelbuild.toml", config);
        p
    }

    /// A project directory without a config (for `init` to write one).
    pub fn empty() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("wb-test-")
            .tempdir()
            .unwrap();
        let docker_config = dir.path().join(".docker");
        std::fs::create_dir_all(&docker_config).unwrap();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let channel = format!(
            "t{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        Project {
            dir,
            channel: channel.clone(),
            names: Vec::new(),
            held: Vec::new(),
            env: vec![
                // Retry fast: tests script failures, they do not wait for real backoff.
                ("WHEELBUILD_RETRY_BASE_MS".into(), "5".into()),
                (
                    "DOCKER_CONFIG".into(),
                    docker_config.to_string_lossy().into_owned(),
                ),
                ("WHEELBUILD_CACHE_CHANNEL".into(), channel),
            ],
        }
    }

    /// Run every command with `name=value` in its environment.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// The cache volume of `kind` (`ccache`, `pip`) for `channel` and `variant`.
    pub fn cache_volume(kind: &str, channel: &str, variant: &str) -> String {
        wheelbuild::engine::volume_name(kind, channel, variant)
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
        Command::from_std(self.std_cmd())
    }

    /// [`Project::cmd`] as a plain `std` command, for spawning it by hand.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("wheelbuild"));
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

impl Drop for Project {
    /// Remove the cache volumes of this project's channels (every channel a test uses
    /// ends with its project's): only when it ran something that may have made them.
    fn drop(&mut self) {
        if !self.dir.path().join(".wheelbuild").exists() {
            return;
        }
        let host = self
            .env
            .iter()
            .find(|(k, _)| k == "DOCKER_HOST")
            .map(|(_, v)| v.as_str());
        let ch = &self.channel;
        crate::support::fixtures::remove_cache_volumes(host, |n| {
            n.contains(&format!("-{ch}-")) || n.contains(&format!(".{ch}-"))
        });
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
    // pip's temporary directories are named at random.
    let pip_tmp = regex_lite::Regex::new(r"/tmp/pip-[a-z-]+-[a-z0-9_]+").unwrap();
    let text = pip_tmp.replace_all(&text, "/tmp/[PIP-TMP]").into_owned();
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

// ----- build tests: configs and projects ---------------------------------------------

/// pytest and its dependencies on Python 3.11, as the `pypi` fixture has them (for
/// `test-requires = ["pytest"]`).
pub const PYTEST_WHEELS: &[&str] = &[
    "pytest-9.2.0-py3-none-any.whl",
    "pluggy-1.7.0-py3-none-any.whl",
    "iniconfig-2.3.1-py3-none-any.whl",
    "pygments-2.21.0-py3-none-any.whl",
    "packaging-26.4-py3-none-any.whl",
];

/// Wheelhouse sub-directory of the CPU cell (`py{py}/{accel}/{platform}`).
pub const CPU_DIR: &str = "py311/cpu/linux_x86_64";

// ----- project setup -----------------------------------------------------------------

/// A config for the CPU cell `py3.11-cpu` on `image`, builds as 1234:1234. `extra` goes
/// right after `[build]` (keys of `[build]`, then any other tables).
pub fn config(image: &str, test: &str, extra: &str, projects: &[String]) -> String {
    format!(
        r#"env = {{ WB_TEST = "{test}" }}
# Repair tests opt in per project (`repair = "auditwheel"`).
repair = "none"

[matrix]
python = ["3.11"]

[image]
template = "{image}"

[build]
uid = 1234
gid = 1234
{extra}
{}"#,
        projects.concat()
    )
}

/// A config for the one accelerator cell `py3.11-<variant>` (`cuda11.8`, `rocm5.2`) on
/// `image`, builds as 1234:1234, with an image-wide `toolchain-check` when given.
pub fn accel_config(
    image: &str,
    test: &str,
    variant: &str,
    toolchain_check: Option<&str>,
    projects: &[String],
) -> String {
    let check = toolchain_check
        .map(|c| format!("toolchain-check = {}\n", wheelbuild::lock::quote(c)))
        .unwrap_or_default();
    format!(
        "env = {{ WB_TEST = \"{test}\" }}\nrepair = \"none\"\n\n[matrix]\npython = [\"3.11\"]\ncuda = [\"{variant}\"]\n\n\
         [image]\ntemplate = \"{image}\"\n{check}\n[build]\nuid = 1234\ngid = 1234\n{}",
        projects.concat()
    )
}

/// Install the wheels in `dir` into a fresh container of `image` (no network) and run
/// `script` there; its stdout.
pub fn use_wheels(image: &str, dir: &Path, script: &str) -> String {
    docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/wheels:ro", dir.display()),
        image,
        "sh",
        "-ec",
        &format!(
            "python3 -m pip install -q --no-index --no-cache-dir /wheels/*.whl 2>/dev/null; cd /; {script}"
        ),
    ])
}

/// A `[[project]]` at tag `v0.1.0` of `repo`, with `more` lines.
pub fn project(name: &str, repo: &GitRepo, more: &str) -> String {
    project_at(name, &repo.file_url(), "v0.1.0", more)
}

/// A `[[project]]` at `git_ref` of the repository at `url`, with `more` lines.
pub fn project_at(name: &str, url: &str, git_ref: &str, more: &str) -> String {
    format!("\n[[project]]\nname = \"{name}\"\ngit = \"{url}\"\nref = \"{git_ref}\"\n{more}\n")
}

/// `new_project` with `config(...)`, locked.
pub fn locked_project(base: &BaseImage, test: &str, extra: &str, projects: &[String]) -> Project {
    let p = new_project(base, &config(&base.reference, test, extra, projects));
    ok(&p, &["lock"]);
    p
}

pub fn new_project(base: &BaseImage, config: &str) -> Project {
    Project::new(config).name(base.addr(), "REGISTRY")
}

/// A new repository whose first commit is a setuptools `pyproject.toml` (`setuptools>=61`,
/// `wheel`: what the base images have).
pub fn setuptools_repo() -> GitRepo {
    let repo = GitRepo::new();
    repo.commit(
        "pyproject.toml",
        "[build-system]\nrequires = [\"setuptools>=61\", \"wheel\"]\nbuild-backend = \"setuptools.build_meta\"\n",
        "pyproject",
    );
    repo
}

/// A minimal pure-Python setuptools project `dist` (module `<dist>_mod`), committed and
/// tagged `v0.1.0`. `setup_py` replaces the default `setup.py`.
pub fn pure_repo(dist: &str, setup_py: Option<&str>) -> GitRepo {
    let repo = setuptools_repo();
    repo.commit(
        &format!("{dist}_mod.py"),
        &format!("NAME = {dist:?}\n"),
        "module",
    );
    let default = format!(
        "from setuptools import setup\n\nsetup(name={dist:?}, version=\"0.1.0\", py_modules=[\"{dist}_mod\"])\n"
    );
    repo.commit("setup.py", setup_py.unwrap_or(&default), "setup.py");
    repo.annotated_tag("v0.1.0", "v0.1.0");
    repo
}

/// The id of a project's target in the CPU cell.
pub fn cpu(project: &str) -> String {
    format!("{project}/py3.11-cpu")
}

// ----- running wheelbuild ------------------------------------------------------------

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lock `p` has now, parsed.
pub fn lock_of(p: &Project) -> wheelbuild::lock::Lockfile {
    let text = p.read("wheelbuild.lock");
    wheelbuild::lock::Lockfile::parse(&p.file("wheelbuild.lock"), &text).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args`, which must exit 0.
pub fn ok(p: &Project, args: &[&str]) -> Output {
    let out = p.run(args);
    assert!(
        out.status.success(),
        "wheelbuild {args:?} failed:\n{}",
        p.snapshot(&out)
    );
    out
}

/// Runs the tool `cmd` (not wheelbuild), which must exit 0: its stdout and stderr.
pub fn tool_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Runs `args` with extra environment variables.
/// [`Project::run`], with the peak resident memory of that one process (KiB), as GNU
/// time reports it. Through `time` rather than `wait4` here: a process exec'd by the
/// test binary inherits the test binary's own high-water mark (the kernel records the old
/// memory map's peak at exec), and tests share that process.
pub fn run_measuring_memory(p: &Project, args: &[&str]) -> (Output, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let cmd = p.std_cmd();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(args)
        .current_dir(p.path());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.output().expect("GNU time (apt: time)");
    let peak = std::fs::read_to_string(report.path()).unwrap();
    let peak = peak
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("time's report: {peak:?}"));
    (out, peak)
}

pub fn run_env(p: &Project, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = p.cmd();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

/// `Project::snapshot`, with the padding before right-aligned times collapsed (a time of
/// `12.3s` is one column wider than `3.2s`).
pub fn snap(p: &Project, out: &Output) -> String {
    regex_lite::Regex::new(r" +\[TIME\]")
        .unwrap()
        .replace_all(&p.snapshot(out), " [TIME]")
        .into_owned()
}

/// `p.cmd()` as a `std::process::Command` (to spawn it), output into files under the
/// project (no pipe to fill up).
pub fn spawn(p: &Project, args: &[&str], name: &str) -> Running {
    let cmd = p.cmd();
    let mut std_cmd = std::process::Command::new(cmd.get_program());
    std_cmd.args(cmd.get_args()).args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => std_cmd.env(k, v),
            None => std_cmd.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        std_cmd.current_dir(dir);
    }
    let out_path = p.file(&format!("{name}.stdout"));
    let err_path = p.file(&format!("{name}.stderr"));
    std_cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    Running {
        child: std_cmd.spawn().expect("spawning wheelbuild"),
        out_path,
        err_path,
    }
}

/// A spawned wheelbuild; killed and reaped if dropped while running.
pub struct Running {
    child: Child,
    out_path: PathBuf,
    err_path: PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit (at most `timeout`); its output.
    pub fn wait(&mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "wheelbuild (pid {}) still running after {timeout:?}\n--- stderr ---\n{}",
                    self.child.id(),
                    std::fs::read_to_string(&self.err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: std::fs::read(&self.out_path).unwrap_or_default(),
            stderr: std::fs::read(&self.err_path).unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ----- plan, store, wheelhouse, logs -------------------------------------------------

pub fn plan_json(p: &Project) -> Value {
    let out = ok(p, &["plan", "--format", "json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `id` → its key, from `plan --format json`.
pub fn keys(p: &Project) -> BTreeMap<String, String> {
    plan_json(p)["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn key_of(p: &Project, id: &str) -> String {
    keys(p)
        .remove(id)
        .unwrap_or_else(|| panic!("no target {id} in the plan"))
}

pub fn store_dir(p: &Project) -> PathBuf {
    p.file(".wheelbuild/store/v2")
}

/// Keys with a record in the store.
pub fn store_keys(p: &Project) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(store_dir(p).join("records")) else {
        return BTreeSet::new();
    };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect()
}

pub fn record_path(p: &Project, key: &str) -> PathBuf {
    store_dir(p).join("records").join(format!("{key}.json"))
}

pub fn record(p: &Project, key: &str) -> Value {
    let path = record_path(p, key);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Where the store keeps the wheel with this sha256.
pub fn stored_wheel(p: &Project, sha256: &str) -> PathBuf {
    store_dir(p).join("wheels").join(format!("{sha256}.whl"))
}

/// Nothing is left in the store's staging directory.
pub fn assert_no_staging_leftovers(p: &Project) {
    let left = staging_leftovers(p);
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

/// Entries left in the store's staging directory.
pub fn staging_leftovers(p: &Project) -> Vec<PathBuf> {
    match std::fs::read_dir(store_dir(p).join("tmp")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

pub fn wheelhouse(p: &Project) -> PathBuf {
    p.file("wheelhouse").join(CPU_DIR)
}

/// The sha256 of `id`'s one wheel in `p`'s store.
pub fn wheel_sha(p: &Project, id: &str) -> (String, String) {
    let rec: Value = record(p, &key_of(p, id));
    let wheels = rec["wheels"].as_array().unwrap();
    assert_eq!(wheels.len(), 1, "{rec:#}");
    (
        wheels[0]["file"].as_str().unwrap().to_string(),
        wheels[0]["sha256"].as_str().unwrap().to_string(),
    )
}

/// The stamp of the wheel `whl` in the wheelhouse directory `dir` (its
/// `.wheelbuild-stamps.json`).
pub fn stamp_of(dir: &Path, whl: &str) -> Value {
    let path = dir.join(".wheelbuild-stamps.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stamps: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stamps["format"], 1, "{stamps:#}");
    stamps["wheels"][whl].clone()
}

/// `*.whl` file names in `dir` (sorted; none when it does not exist).
pub fn wheels_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".whl"))
        .collect();
    names.sort();
    names
}

/// Every file under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::encode(Sha256::digest(&bytes))
}

pub fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The build log of target `id`.
pub fn log_path(p: &Project, id: &str) -> PathBuf {
    p.file(".wheelbuild/cache/logs").join(format!("{id}.log"))
}

pub fn read_log(p: &Project, id: &str) -> String {
    let path = log_path(p, id);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `FACT name=value` lines of a log.
pub fn facts(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("FACT "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The summary row of `id` in `build`'s stdout, split on whitespace.
pub fn summary_row(out: &Output, id: &str) -> Vec<String> {
    stdout(out)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no summary row for {id} in:\n{}", stdout(out)))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

pub fn status_of(out: &Output, id: &str) -> String {
    summary_row(out, id)[1].clone()
}

/// The `N target(s): B built, C cached, F failed in T` line.
pub fn totals(out: &Output) -> String {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.contains(" targets: ") || l.contains(" target: "))
        .unwrap_or_else(|| panic!("no totals line in:\n{text}"));
    line.split(" in ").next().unwrap().to_owned()
}

pub fn assert_no_containers(label: &str) {
    let left = leftover_containers(label);
    assert!(left.is_empty(), "containers left with {label}: {left:?}");
}

/// The files in Docker volume `volume` (on the engine `host`, else the main one), listed
/// by a throwaway container of `image` that mounts it read-only.
pub fn volume_files(host: Option<&str>, image: &str, volume: &str) -> Vec<String> {
    let mut cmd = std::process::Command::new(crate::support::fixtures::docker_path());
    if let Some(h) = host {
        cmd.env("DOCKER_HOST", h);
    }
    let out = cmd
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{volume}:/v:ro"))
        .args([image, "find", "/v", "-type", "f"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "listing volume {volume}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether Docker volume `volume` exists (on the engine `host`, else the main one).
pub fn volume_exists(host: Option<&str>, volume: &str) -> bool {
    let mut cmd = std::process::Command::new(crate::support::fixtures::docker_path());
    if let Some(h) = host {
        cmd.env("DOCKER_HOST", h);
    }
    cmd.args(["volume", "inspect", volume])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The `ccache` field of a record: (hits, misses).
pub fn ccache_stats(record: &Value) -> (u64, u64) {
    let c = &record["ccache"];
    assert!(c.is_object(), "record has no ccache stats: {record:#}");
    (c["hits"].as_u64().unwrap(), c["misses"].as_u64().unwrap())
}

/// A project whose build sleeps for a minute, building: returns it with its running
/// `wheelbuild build` and the build container's id.
pub fn start_sleeping_build(base: &BaseImage, test: &str) -> (Project, GitRepo, Running, String) {
    let pure = example_repo("hello-pure");
    let p = new_project(
        base,
        &config(
            &base.reference,
            test,
            "",
            &[project("sleeper", &pure, "build = 'sleep 60'")],
        ),
    );
    ok(&p, &["lock"]);
    let key = key_of(&p, &cpu("sleeper"));
    let running = spawn(&p, &["build"], "build");
    // The build container (`wheelbuild-<key12>-<pid>-<n>`, not an environment one), once
    // it runs the build command (after the toolchain check).
    let prefix = format!("wheelbuild-{}-{}-", &key[..12], running.pid());
    let container = crate::support::wait_until(Duration::from_secs(180), || {
        running_containers(&key_label(&key))
            .into_iter()
            .find(|(_, name)| name.starts_with(&prefix))
            .map(|(id, _)| id)
            .filter(|id| {
                let top = docker_cli(&["top", id]);
                String::from_utf8_lossy(&top.stdout).contains("sleep 60")
            })
            // And its first lines have reached the log: on a loaded machine the daemon's
            // log copier can lag the process, and a container killed before it caught up
            // leaves an empty log.
            .filter(|_| {
                std::fs::read_to_string(log_path(&p, &cpu("sleeper")))
                    .is_ok_and(|log| log.contains("::wheelbuild:: build: sleep 60"))
            })
    });
    let container = container.unwrap_or_else(|| {
        panic!(
            "the build command never ran:\n{}",
            std::fs::read_to_string(p.file("build.stderr")).unwrap_or_default()
        )
    });
    (p, pure, running, container)
}
