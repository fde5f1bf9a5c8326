//! A real Redis server (Debian's `redis-server`) on a loopback port, for the remote
//! compiler cache: no persistence, a user `ci` with a password when asked, and
//! `redis-cli` to look at and tamper with what ccache stored.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, file_tail, free_port, require_all, wait_until};

/// The password of [`Redis::start_with_password`]'s user `ci`.
pub const PASSWORD: &str = "wbtest-cache-pass";

pub struct Redis {
    pub port: u16,
    password: Option<String>,
    child: Option<ChildGuard>,
    /// Its log; removed with the server.
    dir: tempfile::TempDir,
}

impl Redis {
    /// A server anyone on loopback may use.
    pub fn start() -> Redis {
        Redis::spawn(None)
    }

    /// A server whose only user is `ci` with [`PASSWORD`].
    pub fn start_with_password() -> Redis {
        Redis::spawn(Some(PASSWORD.to_string()))
    }

    fn spawn(password: Option<String>) -> Redis {
        require_all(&["redis-server", "redis-cli"]);
        let mut dir = super::tempdir("redis-");
        let log = dir.path().join("redis.log");
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log);
            if let Some(pass) = &password {
                cmd.args(["--user", "default", "off"]).args([
                    "--user",
                    "ci",
                    "on",
                    &format!(">{pass}"),
                    "~*",
                    "+@all",
                ]);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting redis-server");
            let mut redis = Redis {
                port,
                password: password.clone(),
                child: Some(ChildGuard::new(child, "redis-server")),
                dir,
            };
            let up = wait_until(Duration::from_secs(10), || {
                if redis.child.as_mut().is_some_and(|c| c.exited().is_some()) {
                    return Some(false);
                }
                (redis.cli(&["PING"]).trim() == "PONG").then_some(true)
            });
            if up == Some(true) {
                return redis;
            }
            dir = redis.dir;
        }
        panic!("redis-server did not start: {}", file_tail(&log, 20));
    }

    /// `redis://[ci:PASS@]127.0.0.1:PORT`, the password spelt `pass` (`${VAR}` or a wrong
    /// one) when the server has one.
    pub fn url(&self, pass: &str) -> String {
        match &self.password {
            Some(_) => format!("redis://ci:{pass}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// `redis-cli ARGS` as the server's user; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(pass) = &self.password {
            cmd.args(["--user", "ci", "--pass", pass, "--no-auth-warning"]);
        }
        let out = cmd.args(args).output().expect("running redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The keys ccache stored.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.cli(&["--scan"]).lines().map(str::to_string).collect();
        keys.sort();
        keys
    }

    /// Stop the server (a cache that goes down); its port stays closed.
    pub fn stop(&mut self) {
        self.child = None;
    }
}
