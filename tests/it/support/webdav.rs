//! A real HTTP cache server for ccache's `http://` remote storage: Debian's nginx
//! (`nginx-light`, built with `http_dav_module`) on a loopback port, taking `PUT` and
//! `DELETE` under `/cache/` into a temporary directory, as ccache's documentation sets
//! one up.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, file_tail, free_port, require_all, wait_until};

pub struct WebDav {
    pub port: u16,
    _child: ChildGuard,
    /// Its config, logs and stored files; removed with the server.
    dir: tempfile::TempDir,
}

impl WebDav {
    pub fn start() -> WebDav {
        require_all(&["nginx"]);
        let mut dir = super::tempdir("webdav-");
        for _attempt in 0..5 {
            let port = free_port();
            let root = dir.path();
            std::fs::create_dir_all(root.join("data/cache")).unwrap();
            std::fs::create_dir_all(root.join("tmp")).unwrap();
            // One process as this user (no master, no worker user to own the files).
            let conf = format!(
                "daemon off;\nmaster_process off;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\n\
                 events {{}}\nhttp {{\n  access_log {r}/access.log;\n\
                 client_body_temp_path {r}/tmp;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    root {r}/data;\n\
                 location /cache/ {{\n      dav_methods PUT DELETE;\n\
                 create_full_put_path on;\n      client_max_body_size 256m;\n    }}\n  }}\n}}\n",
                r = root.display()
            );
            std::fs::write(root.join("nginx.conf"), conf).unwrap();
            let child = Command::new("nginx")
                .arg("-c")
                .arg(root.join("nginx.conf"))
                .arg("-p")
                .arg(root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting nginx");
            let mut child = ChildGuard::new(child, "nginx");
            let up = wait_until(Duration::from_secs(10), || {
                if child.exited().is_some() {
                    return Some(false);
                }
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .is_ok()
                    .then_some(true)
            });
            if up == Some(true) {
                return WebDav {
                    port,
                    _child: child,
                    dir,
                };
            }
            drop(child);
            let log = file_tail(&root.join("error.log"), 20);
            if !log.contains("Address already in use") {
                panic!("nginx did not start: {log}");
            }
            dir = super::tempdir("webdav-");
        }
        panic!("nginx found no free port");
    }

    /// `http://127.0.0.1:PORT/cache`, ccache's `remote_storage` URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cache", self.port)
    }

    /// The files ccache stored, relative to `/cache/`.
    pub fn stored(&self) -> Vec<String> {
        let base = self.dir.path().join("data/cache");
        let mut out = Vec::new();
        let mut dirs = vec![base.clone()];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = e.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.push(path.strip_prefix(&base).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// The methods and statuses of the requests served so far (`PUT 201`, `GET 404`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                // `127.0.0.1 - - [date] "PUT /cache/x HTTP/1.1" 201 0 "-" "ccache/4.7.5"`
                let (_, rest) = l.split_once('"')?;
                let (request, rest) = rest.split_once('"')?;
                let status = rest.split_whitespace().next()?;
                Some(format!("{} {status}", request.split_whitespace().next()?))
            })
            .collect()
    }
}
