//! A second Docker engine that stands in for another machine: `scripts/engine2.sh`
//! starts a `dockerd` in its own network namespace (a veth pair on a private /30, never
//! the main daemon's namespace) and its own mount namespace (tmpfs over this machine's
//! temporary, home, work and fixture directories), with its own data root, exec root,
//! pid file and socket `unix:///run/wb-engine2-<pid>.sock`. It starts empty: images are
//! pulled by digest from the tests' loopback registries, forwarded into its namespace.
//!
//! One at a time per test process ([`Engine2::start`] holds a lock until the engine is
//! dropped); dropping it (also when the test fails or panics) stops the daemon and
//! removes the namespace, the veth pair and the data root. An engine left by a killed
//! test process is removed by the next start (`engine2.sh sweep`).
//!
//! Needs root, `dockerd`, `socat`, `unshare`, `nsenter` and `ip`: a missing part skips
//! locally and fails under `CI=true`.

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use super::fixtures::{docker_path, repo_root};

pub struct Engine2 {
    /// `unix:///run/wb-engine2-<pid>.sock`.
    pub host: String,
    /// `tcp://<its veth address>:2376`, TLS with client certificates, when started with
    /// [`Engine2::start_with_tls`].
    pub tcp: Option<String>,
    /// `ssh://root@<its veth address>`, when started with [`Engine2::start_with_ssh`].
    pub ssh: Option<String>,
    id: u32,
    _one_at_a_time: MutexGuard<'static, ()>,
}

fn script() -> std::path::PathBuf {
    repo_root().join("scripts/engine2.sh")
}

impl Engine2 {
    /// Start the engine, forwarding the loopback TCP `ports` (registries, package
    /// indexes) into its namespace. Skipped (a failure under `CI=true`) when a part is
    /// missing.
    pub fn start(ports: &[u16]) -> Engine2 {
        Engine2::start_inner(ports, None, None)
    }

    /// [`Engine2::start`], also listening on `tcp://` with TLS client verification; the
    /// client's ca.pem, cert.pem and key.pem are written to `tls_dir`.
    pub fn start_with_tls(ports: &[u16], tls_dir: &std::path::Path) -> Engine2 {
        Engine2::start_inner(ports, Some(tls_dir), None)
    }

    /// [`Engine2::start`], also reached over `ssh://` (an sshd in its network namespace,
    /// key auth); `ssh_dir` gets the client's key, known_hosts, ssh_config and `bin/ssh`
    /// (ssh with that config: put `bin` first on `PATH` instead of editing
    /// `~/.ssh/config`, which ssh finds from the passwd entry, not `HOME`).
    pub fn start_with_ssh(ports: &[u16], ssh_dir: &std::path::Path) -> Engine2 {
        Engine2::start_inner(ports, None, Some(ssh_dir))
    }

    fn start_inner(
        ports: &[u16],
        tls_dir: Option<&std::path::Path>,
        ssh_dir: Option<&std::path::Path>,
    ) -> Engine2 {
        static ONE: Mutex<()> = Mutex::new(());
        let mut tools = vec![
            "dockerd", "socat", "unshare", "nsenter", "ip", "findmnt", "openssl",
        ];
        if ssh_dir.is_some() {
            tools.extend(["ssh", "ssh-keygen", "sshd"]);
        }
        super::require_all(&tools);
        // SAFETY-free check of root: the namespaces need it.
        let uid = Command::new("id").arg("-u").output().ok();
        let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            super::skip("needs root, for a second Docker engine's network and mount namespaces");
        }
        let guard = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let id = std::process::id();
        let _ = Command::new(script())
            .arg("sweep")
            .stdin(Stdio::null())
            .status();
        // This machine's test directories are hidden in the engine's mount namespace.
        let hide = std::env::temp_dir();
        let mut cmd = Command::new(script());
        cmd.arg("start")
            .arg(id.to_string())
            .args(ports.iter().map(u16::to_string))
            .env("ENGINE2_HIDE", &hide)
            .stdin(Stdio::null());
        if let Some(dir) = tls_dir {
            cmd.env("ENGINE2_TLS_DIR", dir);
        }
        if let Some(dir) = ssh_dir {
            cmd.env("ENGINE2_SSH_DIR", dir);
        }
        let out = cmd.output().expect("running scripts/engine2.sh");
        if !out.status.success() {
            panic!(
                "scripts/engine2.sh start {id} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let printed = String::from_utf8_lossy(&out.stdout);
        let line = |scheme: &str| {
            printed
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with(scheme))
                .map(str::to_string)
        };
        let host = line("unix://").unwrap_or_default();
        assert!(host.starts_with("unix:///run/wb-engine2-"), "{printed}");
        let tcp = line("tcp://");
        assert_eq!(tcp.is_some(), tls_dir.is_some(), "{printed}");
        let ssh = line("ssh://");
        assert_eq!(ssh.is_some(), ssh_dir.is_some(), "{printed}");
        Engine2 {
            host,
            tcp,
            ssh,
            id,
            _one_at_a_time: guard,
        }
    }

    /// Start the engine with the loopback registry of `base` forwarded into it.
    pub fn for_image(base: &super::fixtures::BaseImage) -> Engine2 {
        Engine2::start(&[registry_port(base)])
    }

    /// [`Engine2::for_image`], also on `tcp://` with TLS (client files in `tls_dir`).
    pub fn for_image_with_tls(
        base: &super::fixtures::BaseImage,
        tls_dir: &std::path::Path,
    ) -> Engine2 {
        Engine2::start_with_tls(&[registry_port(base)], tls_dir)
    }

    /// [`Engine2::for_image`], also over `ssh://` (client files in `ssh_dir`).
    pub fn for_image_with_ssh(
        base: &super::fixtures::BaseImage,
        ssh_dir: &std::path::Path,
    ) -> Engine2 {
        Engine2::start_with_ssh(&[registry_port(base)], ssh_dir)
    }

    /// The Docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(docker_path())
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .stdin(Stdio::null())
            .output()
            .expect("running docker")
    }

    /// The engine holds an image with manifest digest `digest` (it pulled it by digest).
    pub fn assert_has_image(&self, digest: &str) {
        let images = self.docker_ok(&["image", "ls", "--digests", "--format", "{{.Digest}}"]);
        assert!(
            images.lines().any(|d| d == digest),
            "{digest} not in {images}"
        );
    }

    /// [`Engine2::docker`] that must succeed: its trimmed stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} on {} failed: {}",
            self.host,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn registry_port(base: &super::fixtures::BaseImage) -> u16 {
    base.addr()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("registry address 127.0.0.1:PORT")
}

impl Drop for Engine2 {
    fn drop(&mut self) {
        let status = Command::new(script())
            .arg("stop")
            .arg(self.id.to_string())
            .stdin(Stdio::null())
            .status();
        if !status.as_ref().is_ok_and(|s| s.success()) && !std::thread::panicking() {
            panic!("scripts/engine2.sh stop {} failed: {status:?}", self.id);
        }
    }
}
