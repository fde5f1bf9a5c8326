//! One HTTP client for the registries of a run, shared by every request (its connections
//! and tokens with it). Requests are ours, not oci-client's, because a lock needs:
//!
//! * auth only when challenged, cached per repository (oci-client probes `/v2/` before
//!   every request of an anonymous registry): a `401`'s `WWW-Authenticate` asks for HTTP
//!   basic with the configured credentials, or a bearer token from oci-client's token flow
//!   (or, for an identity token, [`exchange_identity_token`]); so an open registry costs
//!   one request per manifest and an authenticated one a single token fetch per
//!   repository;
//! * every digest computed on the bytes actually received and checked against the
//!   `Docker-Content-Digest` header and the requested digest;
//! * every body read chunk by chunk up to [`BODY_LIMIT`];
//! * plain HTTP only for loopback registries and those marked `insecure`.
//!
//! Time is the caller's to bound: one deadline around a whole request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::auth::{ExchangeError, Login, challenge_params, exchange_identity_token};
use super::{BODY_LIMIT, BodyError, plain_http};

/// One registry host of a run.
struct Host {
    /// `http` for loopback and `insecure` registries, else `https`.
    scheme: &'static str,
    login: Login,
}

type AuthKey = (String, String);

/// Registry requests, authenticated as each registry's challenge asks.
pub(crate) struct RegistryClient {
    http: reqwest::Client,
    hosts: BTreeMap<String, Host>,
    /// For bearer challenges only; built on first need (it loads the system trust store).
    tokens: std::sync::OnceLock<Client>,
    http_hosts: Vec<String>,
    authz: tokio::sync::Mutex<BTreeMap<AuthKey, Arc<tokio::sync::OnceCell<String>>>>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl RegistryClient {
    /// A client for the registry hosts of `logins` (host[:port] as requests reach it, and
    /// its login), over plain HTTP where [`plain_http`] says. `request_timeout` bounds the
    /// token requests of oci-client's flow; every other request is the caller's to bound.
    pub(crate) fn new(
        logins: impl IntoIterator<Item = (String, Login)>,
        insecure: &BTreeSet<String>,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<RegistryClient, reqwest::Error> {
        let mut hosts = BTreeMap::new();
        for (host, login) in logins {
            let scheme = if plain_http(&host, insecure) {
                "http"
            } else {
                "https"
            };
            hosts.insert(host, Host { scheme, login });
        }
        // No read timeout: each request runs under a deadline for the whole exchange.
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("wheelbuild/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect_timeout);
        if hosts.values().all(|h| h.scheme == "http") {
            // Nothing to verify: skip loading the system trust store.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder.build()?;
        let http_hosts = hosts
            .iter()
            .filter(|(_, h)| h.scheme == "http")
            .map(|(n, _)| n.clone())
            .collect();
        Ok(RegistryClient {
            http,
            hosts,
            tokens: std::sync::OnceLock::new(),
            http_hosts,
            authz: tokio::sync::Mutex::new(BTreeMap::new()),
            connect_timeout,
            request_timeout,
        })
    }

    /// GET `/v2/<repo>/<kind>/<name>`, answering an auth challenge once. Returns the body
    /// and its digest, which is the sha256 of the bytes received and must equal both the
    /// `Docker-Content-Digest` header and `name` when that is a digest.
    pub(crate) async fn get(
        &self,
        reference: &Reference,
        kind: &str,
        name: &str,
        accept: &str,
        what: &str,
    ) -> Result<(Vec<u8>, String), Failure> {
        let host = reference.resolve_registry();
        let scheme = self.hosts.get(host).map_or("https", |h| h.scheme);
        let url = format!(
            "{scheme}://{host}/v2/{}/{kind}/{name}",
            reference.repository()
        );
        let key = (host.to_string(), reference.repository().to_string());
        let mut authorization = self.cached_authorization(&key).await;
        let mut challenged = false;
        let response = loop {
            let mut request = self.http.get(&url).header(reqwest::header::ACCEPT, accept);
            if let Some(a) = &authorization {
                request = request.header(reqwest::header::AUTHORIZATION, a);
            }
            let response = request
                .send()
                .await
                .map_err(|e| Failure::Transient(crate::diag::chain(&e)))?;
            if response.status() != reqwest::StatusCode::UNAUTHORIZED || challenged {
                break response;
            }
            challenged = true;
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            authorization = Some(
                self.authorize(reference, &key, &challenge, authorization.as_deref())
                    .await?,
            );
        };
        let status = response.status();
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_body(response, what).await;
        if !status.is_success() {
            // The status says what happened; the body, when it could be read, why.
            return Err(Failure::from_status(
                status.as_u16(),
                body.as_deref().unwrap_or_default(),
            ));
        }
        let body = body?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:"))
            && h != digest
        {
            return Err(Failure::Digest(format!(
                "the registry says {h}, the bytes received hash to {digest}"
            )));
        }
        if name.contains(':') && name != digest {
            return Err(Failure::Digest(format!(
                "asked for {name}, the bytes received hash to {digest}"
            )));
        }
        Ok((body, digest))
    }

    async fn cached_authorization(&self, key: &AuthKey) -> Option<String> {
        let cell = self.authz.lock().await.get(key).cloned();
        cell.and_then(|c| c.get().cloned())
    }

    /// The `Authorization` a challenge asks for, shared by every request to the repository
    /// (one token fetch however many requests were challenged at once). `stale` is the
    /// value that was just refused, if any: it is replaced.
    async fn authorize(
        &self,
        reference: &Reference,
        key: &AuthKey,
        challenge: &str,
        stale: Option<&str>,
    ) -> Result<String, Failure> {
        let cell = {
            let mut map = self.authz.lock().await;
            let entry = map.entry(key.clone()).or_default();
            if stale.is_some() && entry.get().map(String::as_str) == stale {
                *entry = Arc::default();
            }
            entry.clone()
        };
        cell.get_or_try_init(|| async {
            let login = self.hosts.get(&key.0).map_or(&Login::Anonymous, |h| &h.login);
            let scheme = challenge
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match (scheme.as_str(), login) {
                ("basic", Login::Basic(user, pass)) => Ok(format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{user}:{pass}")
                    )
                )),
                ("basic", Login::IdentityToken(_)) => Err(Failure::Unauthorized(
                    "the registry wants a user and password, and the Docker config has an identity token for it".into(),
                )),
                ("basic", Login::Anonymous) => Err(Failure::Unauthorized(
                    "the registry wants credentials and none are configured".into(),
                )),
                ("bearer", Login::IdentityToken(token)) => {
                    let scope = challenge_params(challenge)
                        .remove("scope")
                        .unwrap_or_else(|| format!("repository:{}:pull", reference.repository()));
                    match exchange_identity_token(&self.http, challenge, &scope, token).await {
                        Ok(access) => Ok(format!("Bearer {access}")),
                        Err(ExchangeError::Refused(d)) => Err(Failure::Unauthorized(d)),
                        Err(ExchangeError::Unreachable(d)) => Err(Failure::Transient(d)),
                    }
                }
                ("bearer", login) => {
                    let credentials = match login {
                        Login::Basic(user, pass) => RegistryAuth::Basic(user.clone(), pass.clone()),
                        _ => RegistryAuth::Anonymous,
                    };
                    let client = self.tokens.get_or_init(|| {
                        Client::new(ClientConfig {
                            protocol: ClientProtocol::HttpsExcept(self.http_hosts.clone()),
                            connect_timeout: Some(self.connect_timeout),
                            read_timeout: Some(self.request_timeout),
                            ..Default::default()
                        })
                    });
                    match client
                        .auth(reference, &credentials, RegistryOperation::Pull)
                        .await
                    {
                        Ok(Some(token)) => Ok(format!("Bearer {token}")),
                        Ok(None) => Err(Failure::Unauthorized("no token was issued".into())),
                        Err(e) => Err(match Failure::classify(e) {
                            Failure::Transient(d) => Failure::Transient(d),
                            other => Failure::Unauthorized(match other {
                                Failure::Unauthorized(d) | Failure::Protocol(d) => d,
                                f => format!("{f:?}"),
                            }),
                        }),
                    }
                }
                _ => Err(Failure::Unauthorized(format!(
                    "HTTP 401 with an unsupported challenge `{challenge}`"
                ))),
            }
        })
        .await
        .cloned()
    }
}

/// The body of `response` (a `what`), up to [`BODY_LIMIT`].
async fn read_body(response: reqwest::Response, what: &str) -> Result<Vec<u8>, Failure> {
    super::read_body(response, BODY_LIMIT)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(size) => Failure::TooLarge {
                what: what.to_string(),
                detail: size.to_string(),
            },
            BodyError::Transport(detail) => Failure::Transient(detail),
        })
}

/// Failure of one request, before it is tied to a reference.
#[derive(Debug)]
pub(crate) enum Failure {
    NotFound,
    Unauthorized(String),
    /// Worth retrying: 429, 5xx, connection trouble.
    Transient(String),
    /// No complete answer within the caller's time limit (requests are not timed here):
    /// worth retrying while its deadline leaves time.
    Deadline {
        what: String,
        limit: Duration,
        attempts: u32,
    },
    TooLarge {
        what: String,
        detail: String,
    },
    Digest(String),
    Protocol(String),
}

impl Failure {
    /// A non-2xx answer, from its status and (OCI error) body.
    fn from_status(code: u16, body: &[u8]) -> Failure {
        #[derive(Deserialize)]
        struct Envelope {
            errors: Vec<ErrorEntry>,
        }
        #[derive(Deserialize)]
        struct ErrorEntry {
            code: String,
            #[serde(default)]
            message: String,
        }
        let envelope = serde_json::from_slice::<Envelope>(body).ok();
        let detail = match &envelope {
            Some(e) if !e.errors.is_empty() => e
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            _ => String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect(),
        };
        let has = |c: &str| {
            envelope
                .as_ref()
                .is_some_and(|e| e.errors.iter().any(|x| x.code == c))
        };
        match code {
            404 => Failure::NotFound,
            _ if has("MANIFEST_UNKNOWN") || has("NAME_UNKNOWN") || has("BLOB_UNKNOWN") => {
                Failure::NotFound
            }
            401 | 403 => Failure::Unauthorized(format!("HTTP {code}")),
            429 | 500..=599 => Failure::Transient(format!("HTTP {code}: {detail}")),
            _ if has("TOOMANYREQUESTS") => {
                Failure::Transient(format!("too many requests: {detail}"))
            }
            _ => Failure::Protocol(format!("HTTP {code}: {detail}")),
        }
    }

    /// Errors of oci-client's token flow.
    fn classify(e: OciDistributionError) -> Failure {
        use OciDistributionError as O;
        match e {
            O::ServerError { code, message, .. } => Failure::from_status(code, message.as_bytes()),
            O::UnauthorizedError { .. } => Failure::Unauthorized("HTTP 401".into()),
            O::AuthenticationFailure(reason) => {
                Failure::Unauthorized(format!("token request failed: {}", reason.trim()))
            }
            O::RequestError(e) => Failure::Transient(crate::diag::chain(&e)),
            other => Failure::Protocol(other.to_string()),
        }
    }

    pub(crate) fn retryable(&self) -> bool {
        matches!(self, Failure::Transient(_) | Failure::Deadline { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(len: usize) -> Result<Vec<u8>, Failure> {
        let response = reqwest::Response::from(http::Response::new(vec![b'x'; len]));
        read_body(response, "manifest wb/app:v1").await
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit_and_refused_past_it() {
        assert_eq!(read(BODY_LIMIT).await.unwrap().len(), BODY_LIMIT);
        match read(BODY_LIMIT + 1).await {
            Err(Failure::TooLarge { what, detail }) => {
                assert_eq!(what, "manifest wb/app:v1");
                assert_eq!(detail, format!("Content-Length: {}", BODY_LIMIT + 1));
            }
            other => panic!("{other:?}"),
        }
    }
}
