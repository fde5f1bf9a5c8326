//! Real OCI registries: Debian's `docker-registry` (distribution v2.8) on a
//! loopback port, with no auth, HTTP basic auth (bcrypt htpasswd), or bearer
//! token auth backed by a tiny in-process token issuer; plus `skopeo` as the
//! reference client for digests.
//!
//! # What skopeo reports (skopeo 1.9.3, checked by `harness::skopeo_*` tests)
//! For a tag that points at an OCI image index or a Docker manifest list,
//! `skopeo inspect --format '{{.Digest}}'` prints the digest of the **index /
//! list itself** (sha256 of the raw bytes the registry serves for the tag),
//! not the digest of the platform manifest it picked; the other fields
//! (`Architecture`, `Os`, `Layers`, ...) describe the platform image that was
//! picked (host platform, or `--override-os/--override-arch/--override-variant`).
//! So `--override-*` does not change `.Digest`; for a platform manifest
//! digest use [`Registry::skopeo_platform_digest`], which parses
//! `skopeo inspect --raw` and cross-checks the chosen manifest's config
//! (`.Architecture`/`.Os`/`.Layers`) against the `--override-*` inspection.
//!
//! # Token auth against distribution v2.8 (pitfalls)
//! - `aud` must be a JSON **string** (v2.8's `ClaimSet.Audience` is a
//!   `string`; an array makes every token fail to parse -> 401 loop).
//! - The JWT header carries `x5c: [base64(DER cert)]` (standard base64, not
//!   URL-safe); the cert is self-signed and is the whole `rootcertbundle`.
//! - RS256 via `openssl dgst -sha256 -sign` gives the PKCS#1 v1.5 signature
//!   JWS wants as is (ES256 from openssl would be DER, not JWS's raw r||s).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use super::fake::{FakeServer, Request, Response};
use super::{ChildGuard, file_tail, free_port, http_status, wait_until};

/// How a [`Registry`] authenticates clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// HTTP basic auth against a bcrypt htpasswd file.
    Basic {
        user: String,
        pass: String,
    },
    /// Bearer tokens from an in-process token issuer that itself wants HTTP
    /// basic credentials (anonymous token requests get 401), or, as a registry's OAuth2
    /// endpoint does, a `POST` of the `refresh_token` grant with the registry's
    /// [`Registry::identity_token`] (what `docker login` stores for token logins).
    Token {
        user: String,
        pass: String,
    },
}

impl Auth {
    pub fn basic(user: &str, pass: &str) -> Auth {
        Auth::Basic {
            user: user.into(),
            pass: pass.into(),
        }
    }

    pub fn token(user: &str, pass: &str) -> Auth {
        Auth::Token {
            user: user.into(),
            pass: pass.into(),
        }
    }

    /// `(user, pass)` for the auth modes that have credentials.
    pub fn creds(&self) -> Option<(&str, &str)> {
        match self {
            Auth::None => None,
            Auth::Basic { user, pass } | Auth::Token { user, pass } => Some((user, pass)),
        }
    }
}

/// Token issuer/service names in the registry config and in the JWTs.
pub const TOKEN_SERVICE: &str = "wbtest-registry";
pub const TOKEN_ISSUER: &str = "wbtest-issuer";

/// A running `docker-registry serve`; killed and reaped on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub auth: Auth,
    // Field order = drop order: the registry process goes first.
    child: ChildGuard,
    issuer: Option<FakeServer>,
    /// The refresh token the issuer takes (token auth only).
    identity_token: String,
    storage: PathBuf,
    log: PathBuf,
    // Dropped last: holds config, log, htpasswd/cert, and (for `start`) storage.
    dir: tempfile::TempDir,
}

impl Registry {
    /// A registry with its own fresh storage.
    pub fn start(auth: Auth) -> Registry {
        let dir = super::tempdir("registry-");
        let storage = dir.path().join("storage");
        Registry::spawn(dir, storage, auth, "127.0.0.1")
    }

    /// A no-auth registry listening on `host` (e.g. a non-loopback address of this
    /// machine), serving `storage`.
    pub fn start_on(host: &str, storage: &Path) -> Registry {
        Registry::spawn(
            super::tempdir("registry-"),
            storage.to_owned(),
            Auth::None,
            host,
        )
    }

    /// A registry serving the filesystem storage at `storage` (created if
    /// missing). Several registries may share one storage dir: content
    /// pushed through a no-auth one is visible through the auth ones (no
    /// blob descriptor cache is configured, so every lookup reads storage).
    pub fn start_with_storage(storage: &Path, auth: Auth) -> Registry {
        Registry::spawn(
            super::tempdir("registry-"),
            storage.to_owned(),
            auth,
            "127.0.0.1",
        )
    }

    fn spawn(dir: tempfile::TempDir, storage: PathBuf, auth: Auth, host: &str) -> Registry {
        std::fs::create_dir_all(&storage).expect("creating registry storage");
        let log = dir.path().join("registry.log");
        let identity_token = format!("wbtest-identity-{}-{}", std::process::id(), unique());
        let (auth_yaml, issuer) = match &auth {
            Auth::None => (String::new(), None),
            Auth::Basic { user, pass } => {
                let file = dir.path().join("htpasswd");
                write_htpasswd(&file, "-B", user, pass);
                let yaml = format!(
                    "auth:\n  htpasswd:\n    realm: wbtest-basic-realm\n    path: {}\n",
                    file.display()
                );
                (yaml, None)
            }
            Auth::Token { user, pass } => {
                let (server, cert) = start_token_issuer(dir.path(), user, pass, &identity_token);
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    server.url(),
                    cert.display()
                );
                (yaml, Some(server))
            }
        };
        let expected = if auth == Auth::None { 200 } else { 401 };

        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let addr = format!("{host}:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                     maintenance:\n    uploadpurging:\n      enabled: false\n\
                     http:\n  addr: {addr}\n  secret: wbtest-not-a-secret\n  headers:\n    X-Content-Type-Options: [nosniff]\n\
                     {auth_yaml}",
                    storage.display()
                ),
            )
            .unwrap();
            let logf = std::fs::File::create(&log).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(logf.try_clone().unwrap())
                .stderr(logf)
                .spawn()
                .expect("spawning docker-registry");
            let mut child = ChildGuard::new(child, format!("docker-registry on {addr}"));
            // Up = our process logged that it listens AND the port answers /v2/.
            let up = wait_until(Duration::from_secs(30), || {
                if let Some(status) = child.exited() {
                    return Some(Err(format!("docker-registry exited with {status}")));
                }
                let listening =
                    std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"));
                match http_status(&format!("http://{addr}/v2/")) {
                    Some(s) if listening => Some(Ok(s)),
                    _ => None,
                }
            });
            match up {
                Some(Ok(s)) if s == expected => {
                    return Registry {
                        addr,
                        auth,
                        storage,
                        log,
                        issuer,
                        identity_token,
                        child,
                        dir,
                    };
                }
                Some(Ok(s)) => panic!(
                    "docker-registry on {addr} answered /v2/ with {s}, expected {expected}\n--- log ---\n{}",
                    file_tail(&log, 40)
                ),
                Some(Err(e)) => {
                    last_err = format!("{e}\n--- log ---\n{}", file_tail(&log, 40));
                    if std::fs::read_to_string(&log)
                        .is_ok_and(|l| l.contains("address already in use"))
                    {
                        continue; // lost the port race; try another port
                    }
                    break;
                }
                None => {
                    last_err = format!(
                        "docker-registry on {addr} not up after 30s\n--- log ---\n{}",
                        file_tail(&log, 40)
                    );
                    break;
                }
            }
        }
        panic!("starting docker-registry failed: {last_err}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The filesystem storage dir this registry serves.
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// Flips one bit of the stored bytes of blob `sha256` (hex), `from_end` bytes before its
    /// end (the registry serves them as they are, under the old digest).
    pub fn tamper_blob(&self, sha256: &str, from_end: usize) {
        let data = self
            .storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&sha256[..2])
            .join(sha256)
            .join("data");
        let mut bytes = std::fs::read(&data).unwrap();
        let at = bytes.len() - 1 - from_end;
        bytes[at] ^= 0x01;
        std::fs::write(&data, bytes).unwrap();
    }

    /// `ADDR/reference`, e.g. `reference("app:v1")` -> `127.0.0.1:5000/app:v1`.
    pub fn reference(&self, reference_without_host: &str) -> String {
        format!("{}/{reference_without_host}", self.addr)
    }

    /// Last `lines` lines of the registry log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }

    /// Requests received by the token issuer (token auth only; else empty).
    pub fn token_requests(&self) -> Vec<Request> {
        self.issuer
            .as_ref()
            .map(|i| i.requests())
            .unwrap_or_default()
    }

    /// The identity token (an OAuth2 refresh token) the issuer exchanges for access
    /// tokens: token auth only.
    pub fn identity_token(&self) -> &str {
        if self.issuer.is_none() {
            self.fail("identity tokens need a token-auth registry");
        }
        &self.identity_token
    }

    /// The `refresh_token` grants the token issuer received (token auth only; else
    /// empty), each as its form's fields.
    pub fn refresh_grants(&self) -> Vec<BTreeMap<String, String>> {
        self.token_requests()
            .iter()
            .filter(|r| r.method == "POST")
            .map(form_fields)
            .filter(|f| f.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .collect()
    }

    /// `http://127.0.0.1:PORT/token` for token auth.
    pub fn token_realm(&self) -> Option<String> {
        self.issuer.as_ref().map(|i| format!("{}/token", i.url()))
    }

    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- registry {} log (tail) ---\n{}",
            self.addr,
            self.log_tail(30)
        )
    }

    // ----- docker config files --------------------------------------------

    /// Writes (or merges into) `dir/config.json` an `auths` entry for this
    /// registry: `{"auths": {"ADDR": {"auth": base64(user:pass)}}}`. For
    /// `Auth::None` no entry is added (the file still exists). Point the tool
    /// at it with `DOCKER_CONFIG=dir`. Returns the file's path.
    pub fn write_docker_config(&self, dir: &Path) -> PathBuf {
        let entry = self
            .auth
            .creds()
            .map(|(u, p)| json!({ "auth": STANDARD.encode(format!("{u}:{p}")) }));
        self.write_auths_entry(dir, entry)
    }

    /// Merges `entry`, if any, into `dir/config.json` as this registry's `auths` entry.
    fn write_auths_entry(&self, dir: &Path, entry: Option<serde_json::Value>) -> PathBuf {
        let mut cfg = read_docker_config(dir);
        let auths = cfg
            .as_object_mut()
            .unwrap()
            .entry("auths")
            .or_insert_with(|| json!({}));
        if let Some(entry) = entry {
            auths[&self.addr] = entry;
        }
        write_docker_config_file(dir, &cfg)
    }

    /// Writes (or merges into) `dir/config.json` a `credHelpers` entry
    /// `{"ADDR": "wbtest"}` and generates the helper
    /// `dir/bin/docker-credential-wbtest`, which answers `get` for this
    /// registry (and any other registry configured through the same `dir`)
    /// with `{"ServerURL","Username","Secret"}` and says "credentials not
    /// found in native keychain" (exit 1) for other servers. Prepend
    /// [`CredHelper::bin_dir`] to `PATH` (see [`CredHelper::path_env`]).
    pub fn write_docker_config_with_cred_helper(&self, dir: &Path) -> CredHelper {
        let (user, pass) = self
            .auth
            .creds()
            .unwrap_or_else(|| self.fail("cred helper needs an auth registry"));
        let bin_dir = dir.join("bin");
        let creds_dir = bin_dir.join("wbtest-creds");
        std::fs::create_dir_all(&creds_dir).unwrap();
        std::fs::write(
            creds_dir.join(format!("{}.json", self.addr)),
            json!({ "ServerURL": self.addr, "Username": user, "Secret": pass }).to_string(),
        )
        .unwrap();
        let helper = bin_dir.join("docker-credential-wbtest");
        std::fs::write(&helper, CRED_HELPER_SCRIPT).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut cfg = read_docker_config(dir);
        let helpers = cfg
            .as_object_mut()
            .unwrap()
            .entry("credHelpers")
            .or_insert_with(|| json!({}));
        helpers[&self.addr] = json!("wbtest");
        write_docker_config_file(dir, &cfg);
        CredHelper {
            config_dir: dir.to_owned(),
            log: bin_dir.join("wbtest-helper.log"),
            bin_dir,
        }
    }

    /// Writes (or merges into) `dir/config.json` an `auths` entry for this token-auth
    /// registry holding only its [`Registry::identity_token`], as `docker login` leaves
    /// it for a token login: `{"auths": {"ADDR": {"identitytoken": "…"}}}`.
    pub fn write_docker_config_with_identity_token(&self, dir: &Path) -> PathBuf {
        let entry = json!({ "identitytoken": self.identity_token() });
        self.write_auths_entry(dir, Some(entry))
    }

    // ----- skopeo, the reference client ------------------------------------

    /// Runs `skopeo [global] inspect --tls-verify=false <auth> <args> docker://ADDR/reference`
    /// with `creds` (`None` = `--no-creds`). Ok(stdout) or Err(exit status + stderr).
    pub fn try_skopeo_inspect(
        &self,
        global: &[&str],
        args: &[&str],
        reference_without_host: &str,
        creds: Option<(&str, &str)>,
    ) -> Result<Vec<u8>, String> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--command-timeout", "60s"])
            .args(global)
            .args(["inspect", "--tls-verify=false"]);
        match creds {
            Some((u, p)) => cmd.arg("--creds").arg(format!("{u}:{p}")),
            None => cmd.arg("--no-creds"),
        };
        cmd.args(args)
            .arg(format!("docker://{}/{reference_without_host}", self.addr));
        // Never pick up the user's auth files.
        cmd.env(
            "REGISTRY_AUTH_FILE",
            self.dir.path().join("no-such-auth.json"),
        )
        .env(
            "DOCKER_CONFIG",
            self.dir.path().join("no-such-docker-config"),
        );
        let out = cmd.output().expect("running skopeo");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "{cmd:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// `skopeo inspect` with this registry's own credentials; panics (with
    /// the registry log) on failure.
    pub fn skopeo_inspect(
        &self,
        global: &[&str],
        args: &[&str],
        reference_without_host: &str,
    ) -> Vec<u8> {
        self.try_skopeo_inspect(global, args, reference_without_host, self.auth.creds())
            .unwrap_or_else(|e| self.fail(&e))
    }

    /// `skopeo inspect --format '{{.Digest}}'`: for an index / manifest list
    /// this is the digest of the index itself (see module docs).
    pub fn skopeo_digest(&self, reference_without_host: &str) -> String {
        let out = self.skopeo_inspect(&[], &["--format", "{{.Digest}}"], reference_without_host);
        String::from_utf8(out).unwrap().trim().to_owned()
    }

    /// The raw manifest (or index) bytes as served: `skopeo inspect --raw`.
    pub fn skopeo_raw(&self, reference_without_host: &str) -> Vec<u8> {
        self.skopeo_inspect(&[], &["--raw"], reference_without_host)
    }

    /// Digest of the raw manifest computed by skopeo itself
    /// (`skopeo manifest-digest` over `skopeo inspect --raw`). Works for
    /// indexes without an entry for the host platform, where
    /// [`Registry::skopeo_digest`] fails.
    pub fn skopeo_raw_digest(&self, reference_without_host: &str) -> String {
        let raw = self.skopeo_raw(reference_without_host);
        let file = self.dir.path().join(format!("raw-{}.json", unique()));
        std::fs::write(&file, &raw).unwrap();
        let out = Command::new("skopeo")
            .arg("manifest-digest")
            .arg(&file)
            .output()
            .expect("running skopeo");
        let _ = std::fs::remove_file(&file);
        if !out.status.success() {
            self.fail(&format!(
                "skopeo manifest-digest failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Digest of the platform manifest for `os`/`arch` (`arch` may carry a
    /// variant: `"arm/v7"`) that the index/list at `reference` points to.
    ///
    /// Taken from the index as skopeo reads it (`--raw`), then cross-checked:
    /// the manifest at that digest has a config whose os/arch match, and
    /// `skopeo --override-os/--override-arch[/--override-variant] inspect`
    /// of the tag picks an image with the same layers.
    pub fn skopeo_platform_digest(
        &self,
        reference_without_host: &str,
        os: &str,
        arch: &str,
    ) -> String {
        let (arch, variant) = match arch.split_once('/') {
            Some((a, v)) => (a, Some(v)),
            None => (arch, None),
        };
        let raw = self.skopeo_raw(reference_without_host);
        let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let Some(manifests) = index["manifests"].as_array() else {
            self.fail(&format!(
                "{reference_without_host} is not an index/list: {index}"
            ));
        };
        let matching: Vec<&serde_json::Value> = manifests
            .iter()
            .filter(|m| {
                let p = &m["platform"];
                p["os"] == os
                    && p["architecture"] == arch
                    && variant.is_none_or(|v| p["variant"] == v)
            })
            .collect();
        if matching.len() != 1 {
            self.fail(&format!(
                "{} entries for {os}/{arch} {variant:?} in {index}",
                matching.len()
            ));
        }
        let digest = matching[0]["digest"].as_str().unwrap().to_owned();

        let repo = repo_of(reference_without_host);
        let by_digest: serde_json::Value =
            serde_json::from_slice(&self.skopeo_inspect(&[], &[], &format!("{repo}@{digest}")))
                .unwrap();
        let mut global = vec!["--override-os", os, "--override-arch", arch];
        if let Some(v) = variant {
            global.extend(["--override-variant", v]);
        }
        let by_override: serde_json::Value =
            serde_json::from_slice(&self.skopeo_inspect(&global, &[], reference_without_host))
                .unwrap();
        for (what, v) in [("by digest", &by_digest), ("by --override-*", &by_override)] {
            if v["Os"] != os || v["Architecture"] != arch {
                self.fail(&format!(
                    "skopeo inspect {what} of {reference_without_host} for {os}/{arch}: {v}"
                ));
            }
        }
        if by_digest["Layers"] != by_override["Layers"] {
            self.fail(&format!(
                "platform {os}/{arch}: manifest {digest} has layers {} but skopeo --override-* picked {}",
                by_digest["Layers"], by_override["Layers"]
            ));
        }
        digest
    }
}

/// `repo` of `repo:tag` / `repo@sha256:...` (repo may contain `/`).
fn repo_of(reference: &str) -> &str {
    if let Some((r, _)) = reference.split_once('@') {
        return r;
    }
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

/// An htpasswd file at `path` with the one entry `user`:`pass`, hashed as `hash` says
/// (`-B` bcrypt, `-m` MD5), by `htpasswd` of apache2-utils.
pub fn write_htpasswd(path: &Path, hash: &str, user: &str, pass: &str) {
    let out = Command::new("htpasswd")
        .args([&format!("{hash}bn"), user, pass])
        .output()
        .expect("running htpasswd (apache2-utils)");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(path, &out.stdout).unwrap();
}

fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn read_docker_config(dir: &Path) -> serde_json::Value {
    std::fs::create_dir_all(dir).unwrap();
    match std::fs::read(dir.join("config.json")) {
        Ok(b) => serde_json::from_slice(&b).expect("existing config.json is not JSON"),
        Err(_) => json!({}),
    }
}

fn write_docker_config_file(dir: &Path, cfg: &serde_json::Value) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(cfg).unwrap()).unwrap();
    path
}

const CRED_HELPER_SCRIPT: &str = r#"#!/bin/sh
# docker-credential-wbtest: generated by the wheelbuild test harness.
# Protocol: `docker-credential-wbtest get`, server URL on stdin.
here=$(dirname "$0")
op=$1
input=$(cat)
printf '%s %s\n' "$op" "$input" >> "$here/wbtest-helper.log"
case "$op" in
  get)
    host=${input#http://}; host=${host#https://}; host=${host%%/*}
    f="$here/wbtest-creds/$host.json"
    if [ -n "$host" ] && [ -f "$f" ]; then cat "$f"; exit 0; fi
    echo "credentials not found in native keychain"
    exit 1 ;;
  *)
    echo "docker-credential-wbtest: unsupported operation: $op" >&2
    exit 1 ;;
esac
"#;

/// A generated `docker-credential-wbtest` helper and the docker config dir
/// that names it.
#[derive(Debug, Clone)]
pub struct CredHelper {
    /// Use as `DOCKER_CONFIG`.
    pub config_dir: PathBuf,
    /// Holds `docker-credential-wbtest`; prepend to `PATH`.
    pub bin_dir: PathBuf,
    log: PathBuf,
}

impl CredHelper {
    /// `PATH` with [`CredHelper::bin_dir`] first.
    pub fn path_env(&self) -> OsString {
        let mut dirs = vec![self.bin_dir.clone()];
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(dirs).unwrap()
    }

    /// One `"<op> <stdin>"` line per helper invocation so far.
    pub fn invocations(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

// ----- token issuer ----------------------------------------------------------

/// The fields of a form (`application/x-www-form-urlencoded`) body, decoded: the same
/// encoding as a query string.
fn form_fields(req: &Request) -> BTreeMap<String, String> {
    let body = String::from_utf8_lossy(&req.body);
    let as_query = Request {
        path: format!("/?{body}"),
        ..req.clone()
    };
    body.split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .filter_map(|k| Some((k.to_owned(), as_query.query(k)?)))
        .collect()
}

/// Starts the token issuer for a token-auth registry: tokens for `user`:`pass` (a `GET`
/// with HTTP basic auth; pulls only), or for `identity_token` (a `POST` of the OAuth2
/// `refresh_token` grant; pulls and pushes). Returns the server and the path of the PEM cert to use as
/// `rootcertbundle`.
fn start_token_issuer(
    dir: &Path,
    user: &str,
    pass: &str,
    identity_token: &str,
) -> (FakeServer, PathBuf) {
    let key = dir.join("token-key.pem");
    let cert = dir.join("token-cert.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=wbtest-token-issuer",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .output()
        .expect("running openssl");
    assert!(
        der.status.success() && !der.stdout.is_empty(),
        "openssl x509 -outform DER failed"
    );
    let header = json!({ "typ": "JWT", "alg": "RS256", "x5c": [STANDARD.encode(&der.stdout)] });
    let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());

    let (user, pass, identity_token) =
        (user.to_owned(), pass.to_owned(), identity_token.to_owned());
    let jti = AtomicU64::new(0);
    let server = FakeServer::start(move |req: &Request| {
        if req.path_only() != "/token" {
            return Response::new(404).body("not found");
        }
        // What is asked for: the query of a GET, the form of a POST. An identity token is a
        // login that may push (what CI pushes a cache with); user and password pull only.
        let (service, scopes, may_push) = match req.method.as_str() {
            "GET" => {
                match req.basic_auth() {
                    Some((u, p)) if u == user && p == pass => {}
                    _ => {
                        return Response::new(401)
                            .header("WWW-Authenticate", "Basic realm=\"wbtest-token-issuer\"")
                            .json(&json!({ "errors": [{ "code": "UNAUTHORIZED", "message": "bad or missing credentials" }] }));
                    }
                }
                (req.query("service"), req.query_all("scope"), false)
            }
            "POST" => {
                let form = form_fields(req);
                let grant = (form.get("grant_type"), form.get("refresh_token"));
                if grant != (Some(&"refresh_token".to_owned()), Some(&identity_token)) {
                    // RFC 6749 5.2.
                    return Response::new(400).json(&json!({ "error": "invalid_grant" }));
                }
                (
                    form.get("service").cloned(),
                    form.get("scope").into_iter().cloned().collect(),
                    true,
                )
            }
            _ => return Response::new(405).body("GET or POST"),
        };
        if service.as_deref() != Some(TOKEN_SERVICE) {
            return Response::new(400).body(format!("unknown service {service:?}"));
        }
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|scope| {
                // repository:NAME:ACTIONS (NAME has no ':').
                let mut it = scope.splitn(3, ':');
                let (typ, name, actions) = (it.next()?, it.next()?, it.next()?);
                let granted: Vec<&str> = actions
                    .split(',')
                    .filter(|a| *a == "pull" || (may_push && *a == "push"))
                    .collect();
                Some(json!({ "type": typ, "name": name, "actions": granted }))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": TOKEN_ISSUER,
            "sub": user,
            "aud": TOKEN_SERVICE, // a string: distribution v2.8 rejects an array
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("wbtest-{}", jti.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{header_b64}.{}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        match rs256_sign(&key, signing_input.as_bytes()) {
            Ok(sig) => {
                let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
                Response::ok()
                    .json(&json!({ "token": jwt, "access_token": jwt, "expires_in": 300 }))
            }
            Err(e) => Response::new(500).body(e),
        }
    });
    (server, cert)
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`) via the openssl CLI.
fn rs256_sign(key: &Path, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning openssl: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data)
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!(
            "openssl dgst -sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Parsed `key=value` pairs of a `WWW-Authenticate` challenge (for tests
/// that check what a registry asks for).
pub fn parse_challenge(header: &str) -> (String, BTreeMap<String, String>) {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_owned();
        let (val, tail) = if let Some(v) = v.strip_prefix('"') {
            let end = v.find('"').unwrap_or(v.len());
            (v[..end].to_owned(), v.get(end + 1..).unwrap_or(""))
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].to_owned(), &v[end..])
        };
        params.insert(k, val);
        rest = tail.trim();
    }
    (scheme.to_owned(), params)
}
