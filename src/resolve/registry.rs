//! Image tag → digest, through the OCI Distribution API. Requests go through
//! [`RegistryClient`] (credentials from the Docker config, auth only when challenged,
//! bodies up to [`BODY_LIMIT`], digests computed on the bytes received and checked, plain
//! HTTP only for loopback registries and those marked `insecure`); what a lock needs
//! besides is here:
//!
//! * all four manifest media types in `Accept`, so a registry answers with the index when
//!   there is one, and both digests (index and platform manifest) are recorded;
//! * the platform checked: picked from an index, or read from a single manifest's config;
//! * bounded retries with exponential backoff on 429, 5xx, connection failures and
//!   deadlines, all within one deadline per input (twice the request timeout), so that
//!   retries never multiply the wait;
//! * one deadline for a whole request: a per-read timeout never fires on a trickle.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use oci_client::Reference;
use serde::Deserialize;

use super::ResolveSettings;
use super::network::{self, Deadline, NetworkSettings, RetryPolicy, WaitObserver};
use crate::config::ImageInput;
use crate::lock::LockedImage;
use crate::oci::BODY_LIMIT;
use crate::oci::auth::{CredentialsError, credentials_hint, login_for};
use crate::oci::client::{Failure, RegistryClient};
use crate::oci::is_loopback;
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

    /// A request's failure, tied to the reference it was for.
    pub(crate) fn from_failure(failure: Failure, reference: &str, registry: &str) -> RegistryError {
        let (reference, registry) = (reference.to_string(), registry.to_string());
        match failure {
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

/// Parse a config image reference the way Docker does (Docker Hub normalization).
pub(crate) fn parse_reference(reference: &str) -> Result<Reference, RegistryError> {
    crate::oci::reference::parse(reference).map_err(|detail| RegistryError::InvalidReference {
        reference: reference.to_string(),
        detail,
    })
}

/// Resolves image references through one [`RegistryClient`], so that every resolution
/// shares its connections and tokens.
pub(crate) struct RegistryResolver {
    client: RegistryClient,
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
        let client = RegistryClient::new(
            registries
                .into_iter()
                .map(|(_, resolved)| resolved)
                .zip(logins),
            &settings.insecure,
            settings.network.connect_timeout,
            settings.network.request_timeout,
        )
        .map_err(|e| RegistryError::Unavailable {
            registry: "(all)".into(),
            detail: format!("cannot create an HTTP client: {e}"),
        })?;
        Ok(RegistryResolver {
            client,
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
        let err_ctx =
            |kind: Failure| RegistryError::from_failure(kind, &input.reference, &registry);
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
            .map_err(|f| RegistryError::from_failure(f, &input.reference, &registry))?;
        #[derive(Deserialize)]
        struct ImageConfig {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
        }
        let config: ImageConfig = serde_json::from_slice(&blob).map_err(|e| {
            let failure = Failure::Protocol(format!("bad image config: {e}"));
            RegistryError::from_failure(failure, &input.reference, &registry)
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

    /// [`RegistryClient::get`], retried while that is worth it and `deadline` leaves time for it;
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
            let get = self.client.get(reference, kind, name, accept, &what);
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
