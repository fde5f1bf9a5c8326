//! Base images for `build` tests, fast and shared: the Debian images of
//! `scripts/fixtures.sh`, pushed once per machine into one registry storage
//! (`$WHEELBUILD_FIXTURES/test-registry`) that every test serves with its own
//! [`Registry`] (own port, same content). Plus helpers for the Docker CLI,
//! example-project repositories and wheelbuild's leftover containers.
//!
//! Skip rules: a missing tool (docker, docker-registry, skopeo, git) skips
//! locally and fails under `CI=true` ([`super::require`]). A fixture that cannot
//! be built (not root, no debootstrap, no network) is a skip locally and a
//! failure under `CI=true`. The CUDA image (a 2.9 GB layer) is only used when
//! it is already cached or `WHEELBUILD_TEST_CUDA=1` asks for it; only then is
//! its failure a CI failure.
//!
//! The daemon keeps each fixture image under a stable tag
//! (`wheelbuild-test/base:TAG`, see [`BaseImage::local`]), so that the
//! `ADDR/wheelbuild/base@DIGEST` reference a test's builds pull (one per test
//! port) can be untagged when the test ends without deleting the image.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::git::GitRepo;
use super::registry::{Auth, Registry};
use super::require_all;

/// Debian's Docker CLI, matching the 20.10 daemon (`/usr/local/bin/docker` may be
/// a newer static client that is first on `PATH`); `docker` from `PATH` without it.
pub fn docker_path() -> &'static str {
    if Path::new("/usr/bin/docker").is_file() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

/// Remove wheelbuild's cache volumes (label `org.wheelbuild.cache`) whose names `select`
/// picks, on the engine `docker_host` names (the default one for `None`); best effort.
pub fn remove_cache_volumes(docker_host: Option<&str>, select: impl Fn(&str) -> bool) {
    let docker = || {
        let mut cmd = Command::new(docker_path());
        if let Some(host) = docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        cmd.stderr(Stdio::null());
        cmd
    };
    let Ok(out) = docker()
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            "label=org.wheelbuild.cache",
        ])
        .output()
    else {
        return;
    };
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| select(n))
        .map(str::to_string)
        .collect();
    if !names.is_empty() {
        let _ = docker()
            .args(["volume", "rm"])
            .args(&names)
            .stdout(Stdio::null())
            .status();
    }
}

/// Label on every container wheelbuild creates (`org.wheelbuild=1`, `.target`,
/// `.key`, `.pid`).
pub const LABEL: &str = "org.wheelbuild";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ImageKind {
    /// Debian bookworm python3 3.11, pip, setuptools, wheel, gcc, ccache, git.
    Cpu,
    /// The same plus Debian's nvidia-cuda-toolkit 11.8.
    Cuda,
    /// The CPU image plus Debian's hipcc 5.2.3 and libamdhip64-dev.
    Rocm,
    /// One image index of the CPU image (linux/amd64) and the same packages for
    /// linux/arm64/v8 (run under qemu-user-static here).
    CpuMulti,
}

impl ImageKind {
    /// The fixture's name in `scripts/fixtures.sh` (and under `$CACHE/oci/`).
    pub fn fixture(self) -> &'static str {
        match self {
            ImageKind::Cpu => "py311",
            ImageKind::Cuda => "cuda118",
            ImageKind::Rocm => "rocm52",
            ImageKind::CpuMulti => "py311-multi",
        }
    }

    /// Tag in the test registry.
    pub fn tag(self) -> &'static str {
        match self {
            ImageKind::Cpu => "py3.11-cpu",
            ImageKind::Cuda => "py3.11-cuda11.8",
            ImageKind::Rocm => "py3.11-rocm5.2",
            ImageKind::CpuMulti => "py3.11-cpu-multi",
        }
    }
}

/// A fixture image in a registry of this test's own.
pub struct BaseImage {
    pub registry: Registry,
    /// `ADDR/wheelbuild/base:TAG`.
    pub reference: String,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    pub kind: ImageKind,
}

impl BaseImage {
    /// `127.0.0.1:PORT` of the registry.
    pub fn addr(&self) -> &str {
        &self.registry.addr
    }

    /// `ADDR/wheelbuild/base@DIGEST`: what builds pull.
    pub fn pinned(&self) -> String {
        format!("{}/wheelbuild/base@{}", self.registry.addr, self.digest)
    }

    /// The daemon's stable tag for the image, for `docker run` in tests.
    pub fn local(&self) -> String {
        local_tag(self.kind)
    }
}

impl Drop for BaseImage {
    fn drop(&mut self) {
        // Untag this port's reference; the image stays (held by `local()`).
        let _ = Command::new(docker_path())
            .args(["rmi", &self.pinned()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn local_tag(kind: ImageKind) -> String {
    format!("wheelbuild-test/base:{}", kind.tag())
}

/// `$WHEELBUILD_FIXTURES` or `/var/cache/wheelbuild-fixtures`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("WHEELBUILD_FIXTURES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/wheelbuild-fixtures"))
}

/// The repository root (where `scripts/` and `examples/` are).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cuda_requested() -> bool {
    std::env::var("WHEELBUILD_TEST_CUDA").is_ok_and(|v| v == "1" || v == "true")
}

/// The Docker CLI must be there and the daemon must answer: a skip otherwise (a failure
/// under `CI=true`).
pub fn require_docker() {
    super::require("docker");
    let info = docker_cli(&["info", "--format", "{{.ServerVersion}}"]);
    if !info.status.success() {
        super::skip(format!(
            "needs a Docker daemon that answers `{} info` ({}); .ci/run starts one",
            docker_path(),
            String::from_utf8_lossy(&info.stderr).trim()
        ));
    }
}

/// Whether the daemon has an NVIDIA runtime (`docker info` lists its runtimes).
pub fn daemon_has_gpu_runtime() -> bool {
    let out = docker_cli(&["info", "--format", "{{json .Runtimes}}"]);
    String::from_utf8_lossy(&out.stdout).contains("nvidia")
}

/// The fixture image `kind`, in the shared test storage, served by a fresh registry.
/// Skipped (a failure under `CI=true`) when it cannot be had.
pub fn base_image(kind: ImageKind) -> BaseImage {
    require_all(&["docker-registry", "skopeo", "git"]);
    let cache = fixtures_dir();
    if kind == ImageKind::Cuda
        && !cuda_requested()
        && !cache.join("oci/cuda118/manifest-digest").is_file()
    {
        super::skip(
            "needs the CUDA fixture, which is not cached and WHEELBUILD_TEST_CUDA=1 is not \
             set (`scripts/fixtures.sh oci cuda118` builds it)",
        );
    }
    require_docker();
    let storage = cache.join("test-registry");
    if let Err(e) = std::fs::create_dir_all(&storage) {
        super::skip(format!("cannot create {}: {e}", storage.display()));
    }
    let registry = Registry::start_with_storage(&storage, Auth::None);
    let reference = format!("{}/wheelbuild/base:{}", registry.addr, kind.tag());
    match ensure_pushed(kind, &cache, &reference) {
        Ok(digest) => BaseImage {
            registry,
            reference,
            digest,
            kind,
        },
        Err(e) => super::skip(format!("needs the {} base image fixture: {e}", kind.tag())),
    }
}

/// Push (and build, if missing) the fixture once per test process, under a
/// cross-process lock; returns its manifest digest.
fn ensure_pushed(kind: ImageKind, cache: &Path, reference: &str) -> Result<String, String> {
    static DONE: Mutex<BTreeMap<ImageKind, Result<String, String>>> = Mutex::new(BTreeMap::new());
    // Held while pushing: the other tests of this process wait for the first one.
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(result) = done.get(&kind) {
        return result.clone();
    }
    let result = push_locked(kind, cache, reference);
    done.insert(kind, result.clone());
    result
}

fn push_locked(kind: ImageKind, cache: &Path, reference: &str) -> Result<String, String> {
    let lock_path = cache.join(format!("test-registry.{}.lock", kind.fixture()));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let script = repo_root().join("scripts/fixtures.sh");
    let out = Command::new(&script)
        .args(["image", kind.fixture(), reference])
        .env("WHEELBUILD_FIXTURES", cache)
        .env("DOCKER", docker_path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        return Err(format!(
            "`{} image {} {reference}` failed ({}):\n{}",
            script.display(),
            kind.fixture(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let digest_file = cache
        .join("oci")
        .join(kind.fixture())
        .join("manifest-digest");
    let digest = std::fs::read_to_string(&digest_file)
        .map_err(|e| format!("{}: {e}", digest_file.display()))?
        .trim()
        .to_owned();
    // The script pulled REPO@DIGEST into the daemon: give it a stable name.
    let repo = reference.rsplit_once(':').map_or(reference, |(r, _)| r);
    let tag = docker_cli(&["tag", &format!("{repo}@{digest}"), &local_tag(kind)]);
    if !tag.status.success() {
        return Err(format!(
            "docker tag {repo}@{digest}: {}",
            String::from_utf8_lossy(&tag.stderr).trim()
        ));
    }
    drop(lock);
    Ok(digest)
}

/// Run the Docker CLI ([`docker_path`]).
pub fn docker_cli(args: &[&str]) -> Output {
    Command::new(docker_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", docker_path()))
}

/// [`docker_cli`] that must succeed; returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker_cli(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `org.wheelbuild.pid=PID`: the containers of one wheelbuild process.
pub fn pid_label(pid: u32) -> String {
    format!("{LABEL}.pid={pid}")
}

/// `org.wheelbuild.key=KEY`: the containers of one build key.
pub fn key_label(key: &str) -> String {
    format!("{LABEL}.key={key}")
}

/// IDs of the containers, running or not, carrying `label` (`name=value`, e.g.
/// [`pid_label`] or [`key_label`]).
pub fn leftover_containers(label: &str) -> Vec<String> {
    let out = docker_ok(&[
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label={label}"),
    ]);
    out.lines().map(str::to_owned).collect()
}

/// Running containers carrying `label`: (ID, name without the leading `/`).
pub fn running_containers(label: &str) -> Vec<(String, String)> {
    let out = docker_ok(&[
        "ps",
        "--no-trunc",
        "--filter",
        &format!("label={label}"),
        "--filter",
        "status=running",
        "--format",
        "{{.ID}} {{.Names}}",
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (id.to_owned(), name.trim_start_matches('/').to_owned()))
        .collect()
}

/// Seconds since the epoch with nanoseconds, as `docker events --since` takes them.
fn docker_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Names of the containers carrying `label` that the daemon created since `since`
/// (from `docker events`; the daemon keeps its last 256 events, so use short windows).
pub fn containers_created_since(since: SystemTime, label: &str) -> Vec<String> {
    let out = docker_ok(&[
        "events",
        "--since",
        &docker_time(since),
        "--until",
        &docker_time(SystemTime::now()),
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    out.lines().map(str::to_owned).collect()
}

/// `(container name, action, time in ns)` of the `actions` (e.g. `start`, `die`) of
/// containers carrying `label` since `since`, oldest first.
pub fn container_events_since(
    since: SystemTime,
    label: &str,
    actions: &[&str],
) -> Vec<(String, String, u128)> {
    let mut args = vec![
        "events".to_owned(),
        "--since".to_owned(),
        docker_time(since),
        "--until".to_owned(),
        docker_time(SystemTime::now()),
        "--filter".to_owned(),
        "type=container".to_owned(),
        "--filter".to_owned(),
        format!("label={label}"),
        "--format".to_owned(),
        "{{.Actor.Attributes.name}} {{.Action}} {{.TimeNano}}".to_owned(),
    ];
    for action in actions {
        args.push("--filter".to_owned());
        args.push(format!("event={action}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker_ok(&args)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            Some((
                it.next()?.to_owned(),
                it.next()?.to_owned(),
                it.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// A git repository holding a copy of `examples/projects/<name>` (sources only),
/// committed (reproducible SHA) and tagged `v0.1.0` (annotated).
pub fn example_repo(name: &str) -> GitRepo {
    example_into(name, GitRepo::new())
}

/// [`example_repo`] at `parent/name` (e.g. inside a project directory).
pub fn example_repo_in(parent: &Path, name: &str) -> GitRepo {
    example_into(name, GitRepo::new_in(parent, name))
}

fn example_into(name: &str, repo: GitRepo) -> GitRepo {
    let src = repo_root().join("examples/projects").join(name);
    assert!(src.is_dir(), "no example project {}", src.display());
    copy_sources(&src, &repo.path);
    repo.git(&["add", "-A"]);
    let readme = std::fs::read_to_string(repo.path.join("README.md")).unwrap_or_default();
    repo.commit(
        "README.md",
        &readme,
        &format!("Import {name} example project"),
    );
    repo.annotated_tag("v0.1.0", &format!("{name} v0.1.0"));
    repo
}

fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if matches!(name_str.as_ref(), "build" | "dist" | "__pycache__" | ".git")
            || name_str.ends_with(".egg-info")
            || name_str.ends_with(".so")
            || name_str.ends_with(".o")
            || name_str.ends_with(".pyc")
        {
            continue;
        }
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            copy_sources(&entry.path(), &to.join(&name));
        } else if ty.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The sdist of `spec` (`NAME==VERSION`) from PyPI (`scripts/fixtures.sh sdist SPEC`); a
/// skip when it is missing.
pub fn sdist(spec: &str) -> PathBuf {
    let dir = fixtures_dir().join("sdist").join(spec.replace("==", "-"));
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
    });
    found.unwrap_or_else(|| {
        super::skip(format!(
            "needs the sdist of {spec} in {}: run `scripts/fixtures.sh sdist {spec}`",
            dir.display()
        ))
    })
}

/// The git repository of a published project's sdist from PyPI, one commit tagged
/// `vVERSION` (`scripts/fixtures.sh sdist-repo NAME==VERSION`). When it is missing: a skip
/// (a failure under `CI=true`).
pub fn sdist_repo(spec: &str) -> PathBuf {
    let dir = fixtures_dir()
        .join("sdist-repo")
        .join(spec.replace("==", "-"));
    if !dir.join(".git").is_dir() {
        super::skip(format!(
            "needs the git repo of the sdist of {spec} in {}: run `scripts/fixtures.sh \
             sdist-repo {spec}`",
            dir.display()
        ));
    }
    dir
}

/// The Python of the `intoto` fixture (in-toto-attestation in a venv).
pub fn intoto_python() -> PathBuf {
    tool_python("intoto")
}

/// The Python of the `variantlib` fixture (variantlib in a venv, with its `variantlib`
/// command beside it).
pub fn variantlib_python() -> PathBuf {
    tool_python("variantlib")
}

/// uv of the `uv` fixture (uv 0.13.8 in a venv): the installer that picks PEP 825 variant
/// wheels.
pub fn uv() -> PathBuf {
    tool_python("uv").with_file_name("uv")
}

/// The Python of the venv fixture `name` (`scripts/fixtures.sh NAME`); a skip when it is
/// missing.
pub fn tool_python(name: &str) -> PathBuf {
    let python = fixtures_dir().join(name).join("venv/bin/python");
    if !python.is_file() {
        super::skip(format!(
            "needs the `{name}` fixture ({} is missing): run `scripts/fixtures.sh {name}`",
            python.display()
        ));
    }
    python
}
