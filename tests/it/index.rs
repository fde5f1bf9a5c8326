//! A real package index on loopback: pypiserver from the `pypi` fixture
//! (`scripts/fixtures.sh pypi`), started per test by [`PypiServer`].

use crate::support::test;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::pypi::{PypiServer, pypi_fixture};

const SIX_16: &str = "six-1.16.0-py2.py3-none-any.whl";
const SIX_17: &str = "six-1.17.0-py2.py3-none-any.whl";

/// `pip download --no-deps` of `requirement` from `index` alone into `dest`, by the
/// fixture venv's pip, isolated from the machine's pip configuration (`PIP_*`
/// variables such as `PIP_FIND_LINKS`, user config files) and cache.
fn pip_download(index: &str, dest: &Path, requirement: &str) -> Output {
    let python = pypi_fixture().join("venv/bin/python");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "--isolated", "download", "--no-cache-dir"])
        .args(["--no-input", "--disable-pip-version-check", "--no-deps"])
        .args(["--only-binary=:all:", "--index-url", index, "--dest"])
        .arg(dest)
        .arg(requirement)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PIP_") {
            cmd.env_remove(k);
        }
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running {} -m pip: {e}", python.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn pypiserver_serves_the_cached_wheels() {
    let server = PypiServer::start(&[SIX_16]);
    let url = server.url();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/simple/"),
        "{url}"
    );

    let dest = crate::support::tempdir("pip-download-");
    let out = pip_download(&url, dest.path(), "six==1.16.0");
    assert!(
        out.status.success(),
        "pip download six==1.16.0 from {url}: {}\n--- server log ---\n{}",
        text(&out),
        server.log_tail(30)
    );
    let got = std::fs::read(dest.path().join(SIX_16)).unwrap();
    let cached = std::fs::read(pypi_fixture().join("packages").join(SIX_16)).unwrap();
    assert!(
        got == cached,
        "the downloaded {SIX_16} differs from the cached one"
    );
    assert_eq!(std::fs::read(server.wheel_path(SIX_16)).unwrap(), cached);
    // `sha256sum` over the served copy agrees with the fixture's packages.sha256.
    let sums = std::fs::read_to_string(pypi_fixture().join("packages.sha256")).unwrap();
    let want = format!("{}  {SIX_16}", server.sha256_of(SIX_16));
    assert!(
        sums.lines().any(|l| l == want),
        "{want:?} not in packages.sha256:\n{sums}"
    );
    assert_eq!(
        server.sha256_of(SIX_16),
        crate::common::sha256_file(&server.wheel_path(SIX_16))
    );

    // Not served: no fallback to PyPI.
    let out = pip_download(&url, dest.path(), "six==1.17.0");
    assert!(
        !out.status.success(),
        "six==1.17.0 was found: {}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No matching distribution found for six==1.17.0")
            && stderr.contains("1.16.0"),
        "pip should see only six 1.16.0 on {url}: {}",
        text(&out)
    );
    assert!(!dest.path().join(SIX_17).exists());

    // The directory is listed per request: a wheel dropped in is served at once.
    std::fs::copy(
        pypi_fixture().join("packages").join(SIX_17),
        server.dir().join(SIX_17),
    )
    .unwrap();
    let out = pip_download(&url, dest.path(), "six==1.17.0");
    assert!(
        out.status.success(),
        "six==1.17.0 after adding it: {}",
        text(&out)
    );
    assert_eq!(
        crate::common::sha256_file(&dest.path().join(SIX_17)),
        server.sha256_of(SIX_17)
    );
}
