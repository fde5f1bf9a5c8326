//! Image tag → digest, through the OCI Distribution API.
//!
//! Auth (anonymous, HTTP basic, bearer-token challenges) is oci-client's; credentials come
//! from the Docker config (`$DOCKER_CONFIG/config.json`: `auths`, `credHelpers`,
//! `credsStore`) via docker_credential. What this module adds is what a lock needs:
//!
//! * all four manifest media types in `Accept`, so a registry answers with the index when
//!   there is one, and both digests (index and platform manifest) are recorded;
//! * every digest checked against the sha256 of the bytes actually received (oci-client
//!   verifies body against the `Docker-Content-Digest` header and the requested digest);
//! * the platform checked: picked from an index, or read from a single manifest's config;
//! * bounded retries with exponential backoff on 429, 5xx and connection failures;
//! * plain HTTP only for loopback registries and those marked `insecure`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::config::{ImageInput, Platform};
use crate::lock::LockedImage;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_ALL: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
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

impl RegistryError {
    pub fn hint(&self) -> Option<String> {
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
            RegistryError::Unavailable { .. } => {
                "check that the registry is running and reachable; retry later for 429/5xx".into()
            }
            RegistryError::DigestMismatch { .. } => {
                "the registry served bytes that do not match their digest: a broken mirror or proxy, or tampering".into()
            }
            RegistryError::PlatformNotFound { .. } | RegistryError::PlatformMismatch { .. } => {
                "set `image.platform` (or the select row's `platform`) to one the image provides".into()
            }
            RegistryError::Protocol { .. } => return None,
            RegistryError::Credentials { .. } => {
                "check $DOCKER_CONFIG/config.json and its credential helpers".into()
            }
        })
    }

    /// Errors the user fixes (as opposed to an unreachable or misbehaving registry).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            RegistryError::Unavailable { .. }
                | RegistryError::DigestMismatch { .. }
                | RegistryError::Protocol { .. }
        )
    }
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
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
        self.base.mul_f64(f64::from(1u32 << attempt.min(10)) * jitter)
    }
}

/// Is `registry` (host[:port]) on the loopback interface?
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parse a config image reference the way Docker does (Docker Hub normalization).
pub fn parse_reference(reference: &str) -> Result<Reference, RegistryError> {
    reference
        .parse::<Reference>()
        .map_err(|e| RegistryError::InvalidReference {
            reference: reference.to_string(),
            detail: e.to_string(),
        })
}

/// Resolves image references; shares one HTTP client (and its connections and tokens)
/// across every resolution.
pub struct RegistryResolver {
    client: Client,
    auth: BTreeMap<String, RegistryAuth>,
    retry: RetryPolicy,
}

impl RegistryResolver {
    /// A resolver for `inputs`; reads credentials once per registry. `insecure` lists
    /// registries to reach over plain HTTP beside the loopback ones.
    pub async fn new(
        inputs: &[&ImageInput],
        insecure: &BTreeSet<String>,
        retry: RetryPolicy,
    ) -> Result<Self, RegistryError> {
        let mut registries = BTreeSet::new();
        for input in inputs {
            let r = parse_reference(&input.reference)?;
            registries.insert((r.registry().to_string(), r.resolve_registry().to_string()));
        }
        let http: Vec<String> = registries
            .iter()
            .map(|(_, resolved)| resolved.clone())
            .filter(|r| is_loopback(r) || insecure.contains(r))
            .collect();
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(http),
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        });
        let lookups = registries.into_iter().map(|(registry, resolved)| async move {
            let auth = tokio::task::spawn_blocking({
                let registry = registry.clone();
                move || credentials_for(&registry)
            })
            .await
            .map_err(|e| RegistryError::Credentials {
                registry: registry.clone(),
                detail: e.to_string(),
            })??;
            Ok::<_, RegistryError>((resolved, auth))
        });
        let auth = futures::future::try_join_all(lookups).await?.into_iter().collect();
        Ok(RegistryResolver {
            client,
            auth,
            retry,
        })
    }

    fn auth_for(&self, r: &Reference) -> RegistryAuth {
        self.auth
            .get(r.resolve_registry())
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }

    /// Resolve one input to its pinned digests.
    pub async fn resolve(&self, input: &ImageInput) -> Result<LockedImage, RegistryError> {
        let reference = parse_reference(&input.reference)?;
        let registry = reference.registry().to_string();
        let auth = self.auth_for(&reference);
        let err_ctx = |kind: Failure| kind.into_error(&input.reference, &registry);

        let (body, digest) = self
            .with_retries(|| self.client.pull_manifest_raw(&reference, &auth, &ACCEPT_ALL))
            .await
            .map_err(err_ctx)?;
        let probe: Probe = serde_json::from_slice(&body).map_err(|e| {
            err_ctx(Failure::Protocol(format!("manifest is not JSON: {e}")))
        })?;
        if probe.schema_version != Some(2) {
            return Err(err_ctx(Failure::Protocol(format!(
                "unsupported manifest schema version {:?}",
                probe.schema_version
            ))));
        }
        let name = format!("{}/{}", reference.registry(), reference.repository());
        let tag = reference
            .tag()
            .map(str::to_string)
            .or_else(|| reference.digest().is_none().then(|| "latest".to_string()));

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
            let by_digest = reference.clone_with_digest(manifest_digest.clone());
            let (body, _) = self
                .with_retries(|| {
                    self.client
                        .pull_manifest_raw(&by_digest, &auth, &[OCI_MANIFEST, DOCKER_MANIFEST])
                })
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
            self.check_config_platform(&reference, &auth, &manifest, input)
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
        reference: &Reference,
        auth: &RegistryAuth,
        manifest: &oci_spec::image::ImageManifest,
        input: &ImageInput,
    ) -> Result<(), RegistryError> {
        let registry = reference.registry().to_string();
        let descriptor = manifest.config();
        let expected = descriptor.digest().to_string();
        self.client
            .store_auth_if_needed(reference.resolve_registry(), auth)
            .await;
        let blob = self
            .with_retries(|| async {
                let mut out = Vec::new();
                self.client
                    .pull_blob(reference, expected.as_str(), &mut out)
                    .await
                    .map(|()| out)
            })
            .await
            .map_err(|f| f.into_error(&input.reference, &registry))?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
        if actual != expected {
            return Err(RegistryError::DigestMismatch {
                reference: input.reference.clone(),
                detail: format!("config blob {expected} hashed to {actual}"),
            });
        }
        #[derive(Deserialize)]
        struct ImageConfig {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
        }
        let config: ImageConfig = serde_json::from_slice(&blob).map_err(|e| {
            Failure::Protocol(format!("bad image config: {e}")).into_error(&input.reference, &registry)
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

    async fn with_retries<T, F, Fut>(&self, mut f: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let failure = Failure::classify(e);
                    attempt += 1;
                    if !failure.retryable() || attempt >= self.retry.attempts {
                        return Err(failure);
                    }
                    tracing::debug!(?failure, attempt, "registry request failed; retrying");
                    tokio::time::sleep(self.retry.delay(attempt - 1)).await;
                }
            }
        }
    }
}

/// Credentials for a registry from the Docker config; anonymous when none are configured.
fn credentials_for(registry: &str) -> Result<RegistryAuth, RegistryError> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let server = if registry == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    match docker_credential::get_credential(server) {
        Ok(DockerCredential::UsernamePassword(user, pass)) => Ok(RegistryAuth::Basic(user, pass)),
        Ok(DockerCredential::IdentityToken(_)) => {
            tracing::warn!(registry, "identity tokens are not supported; pulling anonymously");
            Ok(RegistryAuth::Anonymous)
        }
        Err(E::ConfigNotFound | E::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        // The crate reports a missing file and an unparsable one alike; only the latter is ours.
        Err(E::ConfigReadError) => {
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")));
            match dir.map(|d| d.join("config.json")).filter(|p| p.exists()) {
                Some(path) => Err(RegistryError::Credentials {
                    registry: registry.to_string(),
                    detail: format!("{} is not valid JSON", path.display()),
                }),
                None => Ok(RegistryAuth::Anonymous),
            }
        }
        Err(E::HelperFailure { helper, stdout, stderr })
            if format!("{stdout}{stderr}").contains("credentials not found") =>
        {
            tracing::debug!(registry, helper, "no credentials in helper; pulling anonymously");
            Ok(RegistryAuth::Anonymous)
        }
        Err(e) => Err(RegistryError::Credentials {
            registry: registry.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// Failure of one request, before it is tied to a reference.
#[derive(Debug)]
enum Failure {
    NotFound,
    Unauthorized(String),
    /// Worth retrying: 429, 5xx, connection trouble.
    Transient(String),
    Digest(String),
    Protocol(String),
}

impl Failure {
    fn classify(e: OciDistributionError) -> Failure {
        use OciDistributionError as O;
        match e {
            O::ServerError { code, message, .. } => match code {
                404 => Failure::NotFound,
                401 | 403 => Failure::Unauthorized(format!("HTTP {code}")),
                429 | 500..=599 => Failure::Transient(format!("HTTP {code}: {}", message.trim())),
                _ => Failure::Protocol(format!("HTTP {code}: {}", message.trim())),
            },
            O::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let detail = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    Failure::NotFound
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    Failure::Unauthorized(detail)
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::Toomanyrequests)) {
                    Failure::Transient(format!("too many requests: {detail}"))
                } else {
                    Failure::Protocol(detail)
                }
            }
            O::UnauthorizedError { .. } => Failure::Unauthorized("HTTP 401".into()),
            O::AuthenticationFailure(reason) => {
                Failure::Unauthorized(format!("token request failed: {}", reason.trim()))
            }
            O::RequestError(e) => {
                let mut detail = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    detail = format!("{detail}: {s}");
                    source = s.source();
                }
                Failure::Transient(detail)
            }
            O::DigestError(e) => Failure::Digest(e.to_string()),
            other => Failure::Protocol(other.to_string()),
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, Failure::Transient(_))
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
pub async fn resolve_all(
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
