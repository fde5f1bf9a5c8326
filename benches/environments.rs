//! Side-by-side timings of resolving environments; prints ratios, asserts nothing.
//!
//! `cargo bench --bench environments [-- lock relock relock-dynamic]` (needs Docker,
//! docker-registry, skopeo, git, the cached CPU base image and the `pypi` fixture of
//! `scripts/fixtures.sh`).
//!
//! * `lock` of 8 environments with distinct pip lists (one image, a package index on
//!   loopback) vs the same `docker run … pip install --dry-run --report` done by hand,
//!   one after another (goal ≥ 4× faster on 2 cores);
//! * a relock with nothing changed vs `wheelbuild --version` (goal ≤ 3×);
//! * the same for a project whose backend asks for dynamic build requirements
//!   (`hello-meson`: meson-python's hook), its commit unchanged: the hook's answer is read
//!   from the lock, so no container starts (counted from the engine's events; goal ≤ 3×).

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{copy_dir, median, run, timed};
use support::git::GitRepo;
use support::pypi::PypiServer;
use support::registry::{Auth, Registry};

const BIN: &str = env!("CARGO_BIN_EXE_wheelbuild");

/// Eight distinct pip lists over the fixture's three wheels.
const LISTS: [&[&str]; 8] = [
    &["six==1.16.0"],
    &["six==1.17.0"],
    &["six"],
    &["six<1.17"],
    &["six>=1.0,!=1.16.0"],
    &["python-dateutil"],
    &["python-dateutil", "six==1.17.0"],
    &["python-dateutil==2.9.0.post0", "six>1"],
];

fn cache() -> PathBuf {
    PathBuf::from(
        std::env::var("WHEELBUILD_FIXTURES")
            .unwrap_or_else(|_| "/var/cache/wheelbuild-fixtures".into()),
    )
}

fn wheelbuild(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .arg("-q");
    c
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let Some(wanted) = common::selection() else {
        return;
    };
    if wanted("relock-dynamic") {
        relock_dynamic();
    }
    if !(wanted("lock") || wanted("relock")) {
        return;
    }
    support::require_all(&["docker", "docker-registry", "skopeo", "git"]);
    let index = PypiServer::start(&[
        "six-1.16.0-py2.py3-none-any.whl",
        "six-1.17.0-py2.py3-none-any.whl",
        "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
    ]);
    let (reg, reference) = cpu_image();
    let digest = std::fs::read_to_string(cache().join("oci/py311/manifest-digest")).unwrap();
    let pinned = format!("{}/wheelbuild/base@{}", reg.addr, digest.trim());

    let dir = support::tempdir("bench-env-");
    let repo = GitRepo::new_in(dir.path(), "pkg");
    repo.commit("README", "x\n", "init");
    let mut config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n[build]\nnetwork = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
        index.url()
    );
    for (i, list) in LISTS.iter().enumerate() {
        let pip: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
        config.push_str(&format!(
            "\n[[project]]\nname = \"p{i}\"\ngit = \"{}\"\npip = [{}]\n",
            repo.file_url(),
            pip.join(", ")
        ));
    }
    std::fs::write(dir.path().join("wheelbuild.toml"), config).unwrap();
    let lock = dir.path().join("wheelbuild.lock");
    // Warm: the image is in the daemon, both ways.
    run(wheelbuild(dir.path()).arg("lock"));

    if wanted("lock") {
        let by_hand = |list: &[&str]| {
            let mut c = Command::new("docker");
            c.args(["run", "--rm", "--network", "host"])
                .args(["-e", "PIP_BREAK_SYSTEM_PACKAGES=1"])
                .args(["-e", "PIP_DISABLE_PIP_VERSION_CHECK=1"])
                .args(["-e", &format!("PIP_INDEX_URL={}", index.url())])
                .arg(&pinned)
                .args(["python3", "-m", "pip", "install", "--dry-run"])
                .args(["--ignore-installed", "--quiet", "--report", "/tmp/r.json"])
                .args(list);
            c
        };
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..5 {
            theirs.push(LISTS.iter().map(|list| timed(&mut by_hand(list))).sum());
            std::fs::remove_file(&lock).unwrap();
            ours.push(timed(wheelbuild(dir.path()).arg("lock")));
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!("lock of 8 environments (distinct pip lists, one image, index on loopback)");
        println!(
            "  docker run … pip --dry-run, x8 in a row {:>9.1} ms (median of 5)",
            ms(theirs)
        );
        println!(
            "  wheelbuild lock                         {:>9.1} ms (median of 5)",
            ms(ours)
        );
        println!(
            "  speed-up                                {:>9.2}x   (goal >= 4x)",
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
    if wanted("relock") {
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        for _ in 0..31 {
            floor.push(timed(wheelbuild(dir.path()).arg("--version")));
            ours.push(timed(wheelbuild(dir.path()).arg("lock")));
        }
        let (ours, floor) = (median(ours), median(floor));
        println!("relock with nothing changed (8 environments)");
        println!(
            "  wheelbuild --version                    {:>9.2} ms (median of 31)",
            ms(floor)
        );
        println!(
            "  wheelbuild lock                         {:>9.2} ms (median of 31)",
            ms(ours)
        );
        println!(
            "  ratio                                   {:>9.2}x   (goal <= 3x)",
            ours.as_secs_f64() / floor.as_secs_f64()
        );
    }
}

/// A registry (on storage shared by bench runs) holding the CPU fixture image; its tag.
fn cpu_image() -> (Registry, String) {
    let reg = Registry::start_with_storage(&cache().join("bench-registry"), Auth::None);
    let reference = format!("{}/wheelbuild/base:py3.11-cpu", reg.addr);
    run(Command::new("scripts/fixtures.sh")
        .args(["image", "py311", &reference])
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    (reg, reference)
}

/// Containers the engine created since `since` (unix seconds), from its event log.
fn containers_created_since(since: u64) -> usize {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = Command::new("docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
        ])
        .args(["--filter", "type=container", "--filter", "event=create"])
        .args(["--format", "{{.ID}}"])
        .output()
        .expect("docker events");
    assert!(out.status.success(), "docker events failed");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn relock_dynamic() {
    support::require_all(&["docker", "docker-registry", "skopeo", "git"]);
    let index = PypiServer::start(&support::pypi::MESON_PYTHON_WHEELS);
    let (_reg, reference) = cpu_image();
    let dir = support::tempdir("bench-env-dynamic-");
    let repo = GitRepo::new_in(dir.path(), "hello-meson");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/projects/hello-meson"),
        &repo.path,
    );
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "import"]);
    let config = format!(
        "repair = \"none\"\n[matrix]\npython = [\"3.11\"]\n\n[image]\ntemplate = \"{reference}\"\n\n\
         [build]\nnetwork = \"host\"\n\n[pip]\nindex-url = \"{}\"\n\n\
         [[project]]\nname = \"hello-meson\"\ngit = \"{}\"\n",
        index.url(),
        repo.file_url()
    );
    std::fs::write(dir.path().join("wheelbuild.toml"), config).unwrap();
    // The first lock asks the backend's hook in a container and resolves the environment.
    let first = timed(wheelbuild(dir.path()).arg("lock"));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..31 {
        floor.push(timed(wheelbuild(dir.path()).arg("--version")));
        ours.push(timed(wheelbuild(dir.path()).arg("lock")));
    }
    let created = containers_created_since(since);
    let (ours, floor) = (median(ours), median(floor));
    println!(
        "relock of a project with dynamic build requirements (meson-python), commit unchanged"
    );
    println!(
        "  first lock (hook + resolution)          {:>9.1} ms",
        ms(first)
    );
    println!(
        "  wheelbuild --version                    {:>9.2} ms (median of 31)",
        ms(floor)
    );
    println!(
        "  wheelbuild lock                         {:>9.2} ms (median of 31)",
        ms(ours)
    );
    println!(
        "  ratio                                   {:>9.2}x   (goal <= 3x)",
        ours.as_secs_f64() / floor.as_secs_f64()
    );
    println!("  containers created by the 31 relocks    {created:>9}   (goal 0)");
}
