//! Image tag → digest, through the OCI Distribution API.
//!
//! The bearer-token flow is oci-client's; credentials come from the Docker config
//! (`$DOCKER_CONFIG/config.json`: `auths`, `credHelpers`, `credsStore`) via
//! docker_credential. An identity token there (what `docker login` stores for Azure ACR
//! and other token logins) is exchanged for an access token by the OAuth2
//! `refresh_token` grant, as the Docker CLI does ([`exchange_identity_token`]). Requests
//! are ours (one shared reqwest client), because a lock needs:
//!
//! * all four manifest media types in `Accept`, so a registry answers with the index when
//!   there is one, and both digests (index and platform manifest) are recorded;
//! * every digest computed on the bytes actually received and checked against the
//!   `Docker-Content-Digest` header and the requested digest;
//! * auth only when challenged, cached per repository (oci-client probes `/v2/` before
//!   every request of an anonymous registry);
//! * the platform checked: picked from an index, or read from a single manifest's config;
//! * bounded retries with exponential backoff on 429, 5xx, connection failures and
//!   deadlines, all within one deadline per input (twice the request timeout), so that
//!   retries never multiply the wait;
//! * every answer bounded: one deadline for a whole request (a per-read timeout never
//!   fires on a trickle), and bodies read chunk by chunk up to [`BODY_LIMIT`];
//! * plain HTTP only for loopback registries and those marked `insecure`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::ResolveSettings;
use super::network::{self, Deadline, NetworkSettings, WaitObserver};
use crate::config::ImageInput;
use crate::lock::LockedImage;
use crate::oci::auth::{
    CredentialsError, ExchangeError, Login, challenge_params, credentials_hint,
    exchange_identity_token, login_for,
};
use crate::oci::{BODY_LIMIT, BodyError, is_loopback, plain_http};
use crate::platform::Platform;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_ALL: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistryError {
    #[error("invalid image reference `{reference}`: {detail}")]
    InvalidReference { reference: String, detail: String },
    #[error("not found in registry {registry}")]
    NotFound { reference: String, registry: String },
    #[error("registry {registry} refused access ({detail})")]
    Unauthorized {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("registry {registry} is unavailable: {detail}")]
    Unavailable { registry: String, detail: String },
    #[error(
        "registry {registry} gave no complete answer for {what} within {} s (twice `[network] request-timeout`; {attempts} attempt(s))",
        limit.as_secs()
    )]
    TimedOut {
        registry: String,
        what: String,
        limit: Duration,
        attempts: u32,
    },
    #[error(
        "registry {registry} sent {what} over the {} MiB limit ({detail}); refusing it",
        BODY_LIMIT >> 20
    )]
    TooLarge {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("digest mismatch: {detail}; refusing to lock it")]
    DigestMismatch { reference: String, detail: String },
    #[error("no manifest for platform {platform} (the index has: {available})")]
    PlatformNotFound {
        reference: String,
        platform: String,
        available: String,
    },
    #[error("the image is for {found}, not {platform}")]
    PlatformMismatch {
        reference: String,
        platform: String,
        found: String,
    },
    #[error("registry {registry} answered with something that is not a usable manifest: {detail}")]
    Protocol {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("cannot get credentials for registry {registry}: {detail}")]
    Credentials { registry: String, detail: String },
}

impl From<CredentialsError> for RegistryError {
    fn from(e: CredentialsError) -> Self {
        RegistryError::Credentials {
            registry: e.registry,
            detail: e.detail,
        }
    }
}

impl RegistryError {
    pub(crate) fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::InvalidReference { .. } => {
                "references look like `registry.example.com/team/image:tag`".into()
            }
            RegistryError::NotFound { reference, .. } => format!(
                "check that the tag exists (`skopeo list-tags docker://{}`) and that the config's image template expands to it",
                reference.rsplit_once(':').map_or(reference.as_str(), |(r, _)| r)
            ),
            RegistryError::Unauthorized { registry, .. } => format!(
                "log in (`docker login {registry}`) or add credentials for {registry} to $DOCKER_CONFIG/config.json"
            ),
            RegistryError::Unavailable { registry, .. } if !is_loopback(registry) => format!(
                "check that the registry is running and reachable (retry later for 429/5xx); \
                 if {registry} speaks plain HTTP, set `[registries.\"{registry}\"] insecure = true`"
            ),
            RegistryError::Unavailable { .. } => {
                "check that the registry is running and reachable; retry later for 429/5xx".into()
            }
            RegistryError::TimedOut { .. } => {
                "check that the registry is reachable; for a slow registry or link, raise \
                 `[network] request-timeout` (or WHEELBUILD_REQUEST_TIMEOUT)"
                    .into()
            }
            RegistryError::TooLarge { registry, .. } => format!(
                "no image manifest or config is that big: check what {registry} serves for this \
                 reference (a proxy's error page, a misconfigured registry)"
            ),
            RegistryError::DigestMismatch { .. } => {
                "the registry served bytes that do not match their digest: a broken mirror or proxy, or tampering".into()
            }
            RegistryError::PlatformNotFound { .. } | RegistryError::PlatformMismatch { .. } => {
                "set `image.platform` (or the select row's `platform`) to one the image provides".into()
            }
            RegistryError::Protocol { .. } => return None,
            RegistryError::Credentials { registry, .. } => credentials_hint(registry),
        })
    }

    /// Errors the user fixes (as opposed to an unreachable or misbehaving registry).
    pub(crate) fn is_user_error(&self) -> bool {
        !matches!(
            self,
            RegistryError::Unavailable { .. }
                | RegistryError::TimedOut { .. }
                | RegistryError::TooLarge { .. }
                | RegistryError::DigestMismatch { .. }
                | RegistryError::Protocol { .. }
        )
    }
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Total attempts, including the first.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        // ±25% jitter so concurrent retries do not stampede; no RNG needed for that.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = 0.75 + f64::from(nanos % 1000) / 2000.0;
        self.base
            .mul_f64(f64::from(1u32 << attempt.min(10)) * jitter)
    }
}

/// Parse a config image reference the way Docker does (Docker Hub normalization).
pub(crate) fn parse_reference(reference: &str) -> Result<Reference, RegistryError> {
    crate::oci::reference::parse(reference).map_err(|detail| RegistryError::InvalidReference {
        reference: reference.to_string(),
        detail,
    })
}

/// One registry host of a run.
struct Host {
    /// `http` for loopback and `insecure` registries, else `https`.
    scheme: &'static str,
    login: Login,
}

type AuthKey = (String, String);

/// Resolves image references; shares one HTTP client (and its connections and tokens)
/// across every resolution.
///
/// Requests go straight to the manifest or blob; only a `401` starts the auth dance its
/// `WWW-Authenticate` challenge asks for: HTTP basic with the configured credentials, or
/// a bearer token obtained by oci-client's token flow (or, for an identity token, by
/// [`exchange_identity_token`]). The resulting `Authorization` is
/// kept per repository, so an open registry costs one request per manifest and an
/// authenticated one a single token fetch per repository.
pub(crate) struct RegistryResolver {
    http: reqwest::Client,
    hosts: BTreeMap<String, Host>,
    /// For bearer challenges only; built on first need (it loads the system trust store).
    tokens: std::sync::OnceLock<Client>,
    http_hosts: Vec<String>,
    authz: tokio::sync::Mutex<BTreeMap<AuthKey, Arc<tokio::sync::OnceCell<String>>>>,
    retry: RetryPolicy,
    network: NetworkSettings,
    on_wait: Option<WaitObserver>,
}

impl RegistryResolver {
    /// A resolver for `inputs`; reads credentials once per registry.
    pub(crate) async fn new(
        inputs: &[&ImageInput],
        settings: &ResolveSettings,
    ) -> Result<Self, RegistryError> {
        let mut registries = BTreeSet::new();
        for input in inputs {
            let r = parse_reference(&input.reference)?;
            registries.insert((r.registry().to_string(), r.resolve_registry().to_string()));
        }
        let lookups = registries.iter().map(|(registry, _)| async move {
            let registry = registry.clone();
            tokio::task::spawn_blocking({
                let registry = registry.clone();
                move || login_for(&registry).map_err(RegistryError::from)
            })
            .await
            .map_err(|e| RegistryError::Credentials {
                registry,
                detail: e.to_string(),
            })?
        });
        let logins = futures::future::try_join_all(lookups).await?;
        let mut hosts = BTreeMap::new();
        for ((_, resolved), login) in registries.into_iter().zip(logins) {
            let plain = plain_http(&resolved, &settings.insecure);
            hosts.insert(
                resolved,
                Host {
                    scheme: if plain { "http" } else { "https" },
                    login,
                },
            );
        }
        // No read timeout: each request runs under a deadline for the whole exchange.
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("wheelbuild/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.network.connect_timeout);
        if hosts.values().all(|h| h.scheme == "http") {
            // Nothing to verify: skip loading the system trust store.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder.build().map_err(|e| RegistryError::Unavailable {
            registry: "(all)".into(),
            detail: format!("cannot create an HTTP client: {e}"),
        })?;
        let http_hosts = hosts
            .iter()
            .filter(|(_, h)| h.scheme == "http")
            .map(|(n, _)| n.clone())
            .collect();
        Ok(RegistryResolver {
            http,
            hosts,
            tokens: std::sync::OnceLock::new(),
            http_hosts,
            authz: tokio::sync::Mutex::new(BTreeMap::new()),
            retry: settings.retry,
            network: settings.network,
            on_wait: settings.on_wait.clone(),
        })
    }

    /// Resolve one input to its pinned digests.
    pub(crate) async fn resolve(&self, input: &ImageInput) -> Result<LockedImage, RegistryError> {
        let resolved = self.resolve_inner(input).await;
        match &resolved {
            Ok(l) => {
                tracing::debug!(reference = %input.reference, platform = %input.platform, digest = %l.manifest_digest, index = ?l.index_digest, "image resolved")
            }
            Err(e) => {
                tracing::debug!(reference = %input.reference, error = %e, "image not resolved")
            }
        }
        resolved
    }

    async fn resolve_inner(&self, input: &ImageInput) -> Result<LockedImage, RegistryError> {
        let reference = parse_reference(&input.reference)?;
        let registry = reference.registry().to_string();
        let err_ctx = |kind: Failure| kind.into_error(&input.reference, &registry);
        let tag_or_digest = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();

        // Every request of this input, retries included, fits in one deadline.
        let deadline = Deadline::start(self.network.request_timeout * 2);
        let accept = ACCEPT_ALL.join(", ");
        let (body, digest) = self
            .fetch(&deadline, &reference, "manifests", &tag_or_digest, &accept)
            .await
            .map_err(err_ctx)?;
        let probe: Probe = serde_json::from_slice(&body)
            .map_err(|e| err_ctx(Failure::Protocol(format!("manifest is not JSON: {e}"))))?;
        if probe.schema_version != Some(2) {
            return Err(err_ctx(Failure::Protocol(format!(
                "unsupported manifest schema version {:?}",
                probe.schema_version
            ))));
        }
        let name = format!("{}/{}", reference.registry(), reference.repository());
        let tag = reference.tag().map(str::to_string);

        if probe.is_index() {
            let index: oci_spec::image::ImageIndex = serde_json::from_slice(&body)
                .map_err(|e| err_ctx(Failure::Protocol(format!("bad image index: {e}"))))?;
            let chosen = select_platform(&index, &input.platform).ok_or_else(|| {
                RegistryError::PlatformNotFound {
                    reference: input.reference.clone(),
                    platform: input.platform.to_string(),
                    available: available_platforms(&index),
                }
            })?;
            let manifest_digest = chosen.digest().to_string();
            // Fetch the platform manifest by digest so its bytes are verified too.
            let accept = format!("{OCI_MANIFEST}, {DOCKER_MANIFEST}");
            let (body, _) = self
                .fetch(
                    &deadline,
                    &reference,
                    "manifests",
                    &manifest_digest,
                    &accept,
                )
                .await
                .map_err(err_ctx)?;
            let media_type = media_type_of(&body, chosen.media_type().as_ref());
            Ok(LockedImage {
                reference: input.reference.clone(),
                platform: input.platform.to_string(),
                name,
                tag,
                index_digest: Some(digest),
                manifest_digest,
                media_type,
            })
        } else {
            let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&body)
                .map_err(|e| err_ctx(Failure::Protocol(format!("bad image manifest: {e}"))))?;
            self.check_config_platform(&deadline, &reference, &manifest, input)
                .await?;
            Ok(LockedImage {
                reference: input.reference.clone(),
                platform: input.platform.to_string(),
                name,
                tag,
                index_digest: None,
                manifest_digest: digest,
                media_type: media_type_of(&body, OCI_MANIFEST),
            })
        }
    }

    /// A single-platform manifest says nothing about its platform; its config does.
    async fn check_config_platform(
        &self,
        deadline: &Deadline,
        reference: &Reference,
        manifest: &oci_spec::image::ImageManifest,
        input: &ImageInput,
    ) -> Result<(), RegistryError> {
        let registry = reference.registry().to_string();
        let expected = manifest.config().digest().to_string();
        let (blob, _) = self
            .fetch(deadline, reference, "blobs", &expected, "*/*")
            .await
            .map_err(|f| f.into_error(&input.reference, &registry))?;
        #[derive(Deserialize)]
        struct ImageConfig {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
        }
        let config: ImageConfig = serde_json::from_slice(&blob).map_err(|e| {
            Failure::Protocol(format!("bad image config: {e}"))
                .into_error(&input.reference, &registry)
        })?;
        let (Some(os), Some(architecture)) = (config.os, config.architecture) else {
            return Ok(());
        };
        let want = &input.platform;
        let variant_ok = want.variant.is_none() || config.variant == want.variant;
        if os != want.os || architecture != want.architecture || !variant_ok {
            let found = Platform {
                os,
                architecture,
                variant: config.variant,
            };
            return Err(RegistryError::PlatformMismatch {
                reference: input.reference.clone(),
                platform: want.to_string(),
                found: found.to_string(),
            });
        }
        Ok(())
    }

    /// [`Self::get`], retried while that is worth it and `deadline` leaves time for it;
    /// each attempt within the request timeout, and reported to `on_wait` while it waits.
    async fn fetch(
        &self,
        deadline: &Deadline,
        reference: &Reference,
        kind: &str,
        name: &str,
        accept: &str,
    ) -> Result<(Vec<u8>, String), Failure> {
        let separator = if name.contains(':') { '@' } else { ':' };
        let subject = format!("{}{separator}{name}", reference.repository());
        let what = match kind {
            "manifests" => format!("manifest {subject}"),
            _ => format!("image config {subject}"),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let waiting = format!(
                "{what} from {} (attempt {attempt})",
                reference.resolve_registry()
            );
            let get = self.get(reference, kind, name, accept, &what);
            let failure = match network::within_deadline(
                deadline,
                self.network.request_timeout,
                &waiting,
                self.on_wait.as_ref(),
                get,
            )
            .await
            {
                Some(Ok(answer)) => return Ok(answer),
                Some(Err(failure)) => failure,
                None => Failure::Deadline {
                    what: what.clone(),
                    limit: deadline.limit(),
                    attempts: attempt,
                },
            };
            let delay = self.retry.delay(attempt - 1);
            if !failure.retryable()
                || attempt >= self.retry.attempts
                || delay >= deadline.remaining()
            {
                return Err(failure);
            }
            tracing::debug!(?failure, attempt, "registry request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// GET `/v2/<repo>/<kind>/<name>`, answering an auth challenge once. Returns the body
    /// and its digest, which is the sha256 of the bytes received and must equal both the
    /// `Docker-Content-Digest` header and `name` when that is a digest.
    async fn get(
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
                            connect_timeout: Some(self.network.connect_timeout),
                            read_timeout: Some(self.network.request_timeout),
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
    crate::oci::read_body(response, BODY_LIMIT)
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
enum Failure {
    NotFound,
    Unauthorized(String),
    /// Worth retrying: 429, 5xx, connection trouble.
    Transient(String),
    /// No complete answer within the request timeout, or the input's deadline: worth
    /// retrying while the deadline leaves time.
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

    fn retryable(&self) -> bool {
        matches!(self, Failure::Transient(_) | Failure::Deadline { .. })
    }

    fn into_error(self, reference: &str, registry: &str) -> RegistryError {
        let (reference, registry) = (reference.to_string(), registry.to_string());
        match self {
            Failure::NotFound => RegistryError::NotFound {
                reference,
                registry,
            },
            Failure::Unauthorized(detail) => RegistryError::Unauthorized {
                reference,
                registry,
                detail,
            },
            Failure::Transient(detail) => RegistryError::Unavailable { registry, detail },
            Failure::Deadline {
                what,
                limit,
                attempts,
            } => RegistryError::TimedOut {
                registry,
                what,
                limit,
                attempts,
            },
            Failure::TooLarge { what, detail } => RegistryError::TooLarge {
                registry,
                what,
                detail,
            },
            Failure::Digest(detail) => RegistryError::DigestMismatch { reference, detail },
            Failure::Protocol(detail) => RegistryError::Protocol {
                reference,
                registry,
                detail,
            },
        }
    }
}

/// Just enough of a manifest to tell what it is.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
}

impl Probe {
    fn is_index(&self) -> bool {
        match self.media_type.as_deref() {
            Some(OCI_INDEX | DOCKER_LIST) => true,
            Some(_) => false,
            None => self.manifests.is_some(),
        }
    }
}

fn media_type_of(body: &[u8], fallback: &str) -> String {
    serde_json::from_slice::<Probe>(body)
        .ok()
        .and_then(|p| p.media_type)
        .unwrap_or_else(|| fallback.to_string())
}

fn select_platform<'a>(
    index: &'a oci_spec::image::ImageIndex,
    want: &Platform,
) -> Option<&'a oci_spec::image::Descriptor> {
    index.manifests().iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == want.os
                && p.architecture().to_string() == want.architecture
                && (want.variant.is_none() || p.variant().as_deref() == want.variant.as_deref())
        })
    })
}

fn available_platforms(index: &oci_spec::image::ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Resolve many inputs concurrently over one client; results in input order.
pub(crate) async fn resolve_all(
    resolver: Arc<RegistryResolver>,
    inputs: Vec<ImageInput>,
    concurrency: usize,
) -> Vec<(ImageInput, Result<LockedImage, RegistryError>)> {
    use futures::StreamExt;
    futures::stream::iter(inputs.into_iter().map(|input| {
        let resolver = resolver.clone();
        async move {
            let result = resolver.resolve(&input).await;
            (input, result)
        }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}

#[cfg(test)]
mod tests;
