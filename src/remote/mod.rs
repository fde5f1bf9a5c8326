//! The shared build cache: store entries as OCI artifacts on a registry the team already
//! runs, tagged by build key, signed.
//!
//! One entry is an OCI image manifest with `artifactType` [`ARTIFACT_TYPE`]: its config
//! blob is the record's JSON (the bytes the store holds), its layers the wheels (titled by
//! file name) and the build log; its annotation [`SIGNATURE`] an ed25519 signature over
//! the key, the record's digest and the wheels' digests (`sign`). No referrers API.
//!
//! Pulling trusts nothing on the wire: the manifest (read up to 4 MiB) must be signed by a
//! trusted key *before* any blob is fetched; the record must be the signed digest, name the
//! key it is tagged with and a valid target, and list exactly the signed wheels; every blob
//! is bounded by its descriptor's size and checked against its sha256; the build log is
//! taken only when it is the one the signed record's provenance names; the entry is
//! committed to the local store only when all of that holds.
//!
//! Which keys a remote can serve ([`Remote::holding`]) comes from its tag listing
//! (`/v2/<name>/tags/list`, up to 10 000 keys a page, `Link: rel="next"` followed on the
//! registry's own origin only), asked straight away (oci-client would probe `/v2/` first, a
//! round trip more), and then the manifests of the listed keys, checked as `pull` checks
//! them; every key's manifest where listing is refused.
//!
//! A passed test outcome travels as an entry of its own, tagged `test-<test key>` and
//! signed over a payload of its own ([`test_entry`]): a pulled entry tested elsewhere is not
//! tested again.
//!
//! Pushing never replaces an entry a trusted key signed with one no trusted key signed:
//! with `trusted-keys` set, a push must be signed ([`Remote::may_push`]).

use std::collections::BTreeSet;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::key::BuildKey;
use crate::oci::auth::Login;
use crate::oci::{BODY_LIMIT, BodyError, Oversize, read_body};
use crate::sign::{self, KeyError, KeyFile, SecretKey, TrustedKeys};
use crate::store::{BuildRecord, Store, StoreError, copy_hashing};

pub const ARTIFACT_TYPE: &str = "application/vnd.wheelbuild.record.v1";
const RECORD_TYPE: &str = "application/vnd.wheelbuild.record.v1+json";
const WHEEL_TYPE: &str = "application/vnd.wheelbuild.wheel.v1";
const LOG_TYPE: &str = "application/vnd.wheelbuild.log.v1";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const SIGNATURE: &str = "org.wheelbuild.signature";
const TITLE: &str = "org.opencontainers.image.title";

/// A page of the tag listing: 10 000 tags of 64 characters, with room to spare.
const MAX_TAG_PAGE: usize = 16 << 20;
const MAX_LOG: i64 = 64 << 20;
const MAX_BLOB: i64 = 16 << 30;
/// Tags asked for per page of the listing: one request for most caches. Registries may
/// return fewer (some cap pages at 1000), and then say where the next page is.
const PAGE: usize = 10_000;
/// At most this many pages (100 million keys): a registry cannot keep us listing forever.
const MAX_PAGES: usize = 10_000;
/// Manifests read at once to check which listed entries `pull` would accept. A fresh runner
/// checks every entry: 1000 took 2.2 s through 100 ms round trips (3.9 s 32 at once, 1.6 s
/// 128 at once); no more, to spare the registry.
const CHECK_AT_ONCE: usize = 64;
/// Why nothing is used from a remote when no key is trusted.
const NO_TRUST: &str = "no `[remote] trusted-keys` are configured, so no signature is trusted";

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote {url} cannot be reached: {detail}")]
    Unavailable { url: String, detail: String },
    #[error("remote {url} refused the credentials: {detail}")]
    Unauthorized { url: String, detail: String },
    #[error("remote entry {} is refused: {reason}", &key[..12.min(key.len())])]
    Refused { key: String, reason: String },
    #[error("remote url `{url}` is invalid: {detail}")]
    Url { url: String, detail: String },
    #[error(
        "pushing to {url} needs a signing key: `[remote] trusted-keys` is set and `sign-with` is not"
    )]
    NoSigner { url: String },
    #[error("remote entry {} is not replaced: {reason}", &key[..12.min(key.len())])]
    Kept { key: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl RemoteError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RemoteError::Unavailable { .. } => {
                "check the registry, or build without the remote (no `--remote`)".into()
            }
            RemoteError::Unauthorized { .. } => {
                "log in with `docker login` (wheelbuild reads the same Docker config)".into()
            }
            RemoteError::Refused { .. } => {
                "the entry is not used (`build` builds the target here instead); a signer you trust goes in `[remote] trusted-keys`".into()
            }
            RemoteError::Url { .. } => "give `registry[:port]/repository`".into(),
            RemoteError::NoSigner { .. } => {
                "set `[remote] sign-with` to the `.secret` file of a key in `trusted-keys` \
                 (`wheelbuild key generate NAME`): every machine that trusts keys refuses an \
                 unsigned entry"
                    .into()
            }
            RemoteError::Kept { .. } => {
                "push with `[remote] sign-with` set to a key in `trusted-keys`".into()
            }
            RemoteError::Store(e) => return e.hint(),
            RemoteError::Key(e) => e.hint(),
        })
    }

    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            RemoteError::Unauthorized { .. }
                | RemoteError::Url { .. }
                | RemoteError::NoSigner { .. }
                | RemoteError::Kept { .. }
                | RemoteError::Key(_)
        )
    }
}

fn refused(key: &BuildKey, reason: impl Into<String>) -> RemoteError {
    RemoteError::Refused {
        key: key.0.clone(),
        reason: reason.into(),
    }
}

/// What `pull` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pulled {
    /// The remote has no entry for the key.
    Absent,
    /// Committed to the local store.
    Stored,
}

/// What a remote holds for the keys a plan would build ([`Remote::holding`]).
#[derive(Debug, Default)]
pub struct Holding {
    /// Entries `pull` would accept: signed for their key by a trusted key.
    pub usable: BTreeSet<BuildKey>,
    /// Entries `pull` would refuse, with why, in the order asked.
    pub refused: Vec<(BuildKey, String)>,
}

/// A remote cache: a registry repository.
pub struct Remote {
    /// For blobs and pushes.
    client: Client,
    /// For tag listings and manifests, which go straight to the registry (no auth probe
    /// first) and are read up to a bound.
    http: reqwest::Client,
    /// `scheme://registry`: where the credentials may go.
    origin: String,
    url: String,
    registry: String,
    repository: String,
    /// Basic credentials, or none (an identity token login is anonymous here: `identity`).
    auth: RegistryAuth,
    /// The Docker identity token of a token login (Azure ACR, …), exchanged for an access
    /// token of the right scope whenever the registry challenges.
    identity: Option<String>,
    /// The bearer token of `http`'s requests, once a challenge asked for one.
    bearer: tokio::sync::Mutex<Option<String>>,
    trusted: TrustedKeys,
    /// `sign-with`, read on the first push ([`Remote::may_push`]): a machine that only
    /// plans or pulls needs no secret key.
    sign_with: Option<KeyFile>,
    pushing: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

/// How to reach a remote.
pub struct RemoteOptions<'a> {
    pub url: &'a str,
    /// Registries (host[:port]) reached over plain HTTP beside loopback ones.
    pub insecure: &'a BTreeSet<String>,
    pub trusted_keys: &'a [String],
    pub sign_with: Option<&'a Path>,
    pub connect_timeout: std::time::Duration,
    pub request_timeout: std::time::Duration,
}

mod test_entry;

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        assert_eq!(
            super::next_link(r#"</v2/team/cache/tags/list?last=ab&n=1000>; rel="next""#),
            Some("/v2/team/cache/tags/list?last=ab&n=1000".into())
        );
        assert_eq!(super::next_link(r#"<https://x/y>; rel="prev""#), None);
    }

    #[test]
    fn the_next_page_is_followed_on_the_registrys_own_origin_only() {
        let page = "https://reg.example/v2/team/cache/tags/list?n=10000";
        let next = |link| super::same_origin("https://reg.example", page, link);
        let expected = "https://reg.example/v2/team/cache/tags/list?last=ab";
        assert_eq!(next("/v2/team/cache/tags/list?last=ab").unwrap(), expected);
        assert_eq!(next("list?last=ab").unwrap(), expected);
        assert_eq!(
            next("https://reg.example:443/v2/team/cache/tags/list?last=ab").unwrap(),
            expected
        );
        for elsewhere in [
            "https://other.example/v2/team/cache/tags/list",
            "http://reg.example/v2/team/cache/tags/list",
            "https://reg.example:8443/v2/team/cache/tags/list",
            "//other.example/v2/x",
        ] {
            let e = next(elsewhere).unwrap_err();
            assert!(e.contains("another origin"), "{elsewhere}: {e}");
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u8,
    media_type: String,
    artifact_type: String,
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

impl Manifest {
    fn wheels(&self) -> impl Iterator<Item = &OciDescriptor> {
        self.layers.iter().filter(|l| l.media_type == WHEEL_TYPE)
    }

    /// What its signature must cover when it is tagged `key`.
    fn payload(&self, key: &BuildKey) -> Vec<u8> {
        let wheels: Vec<String> = self.wheels().map(|w| w.digest.clone()).collect();
        sign::payload(&key.0, &self.config.digest, &wheels)
    }
}

/// What a GET of [`Remote::get`] found.
enum Answer {
    /// 200: the body, and the `Link: rel="next"` target if any.
    Found {
        body: Vec<u8>,
        next: Option<String>,
    },
    NotFound,
    /// A body over the limit (what is known of its size), not read further.
    TooLarge(String),
    /// Another refusal than of the credentials: its status.
    Status(u16),
}

/// The `WWW-Authenticate` of a 401 that asks for a bearer token.
fn bearer_challenge(response: &reqwest::Response) -> Option<String> {
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)?
        .to_str()
        .ok()?
        .trim_start();
    challenge
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .then(|| challenge.to_string())
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Remote {
    pub fn new(options: &RemoteOptions<'_>) -> Result<Remote, RemoteError> {
        let url = options.url.trim_end_matches('/').to_string();
        let reference =
            crate::oci::reference::parse(&format!("{url}:probe")).map_err(|detail| {
                RemoteError::Url {
                    url: url.clone(),
                    detail,
                }
            })?;
        let registry = reference.resolve_registry().to_string();
        let plain = crate::oci::plain_http(&registry, options.insecure);
        let client = Client::new(ClientConfig {
            protocol: if plain {
                ClientProtocol::HttpsExcept(vec![registry.clone()])
            } else {
                ClientProtocol::Https
            },
            use_monolithic_push: true,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.request_timeout),
            ..Default::default()
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("wheelbuild/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| RemoteError::Unavailable {
                url: url.clone(),
                detail: format!("cannot create an HTTP client: {e}"),
            })?;
        let login = crate::oci::auth::login_for(reference.registry()).map_err(|e| {
            RemoteError::Unauthorized {
                url: url.clone(),
                detail: e.to_string(),
            }
        })?;
        let (auth, identity) = match login {
            Login::Anonymous => (RegistryAuth::Anonymous, None),
            Login::Basic(user, pass) => (RegistryAuth::Basic(user, pass), None),
            Login::IdentityToken(token) => (RegistryAuth::Anonymous, Some(token)),
        };
        let trusted = TrustedKeys::parse(options.trusted_keys.iter().map(String::as_str))?;
        Ok(Remote {
            client,
            http,
            origin: format!("{}://{registry}", if plain { "http" } else { "https" }),
            url,
            registry,
            repository: reference.repository().to_string(),
            auth,
            identity,
            bearer: tokio::sync::Mutex::new(None),
            trusted,
            sign_with: options.sign_with.map(KeyFile::new),
            pushing: tokio::sync::OnceCell::new(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn tagged(&self, key: &BuildKey) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            key.0.clone(),
        )
    }

    fn blob(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }

    fn error(&self, e: OciDistributionError) -> RemoteError {
        let detail = crate::diag::chain(&e);
        match e {
            OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::UnauthorizedError { .. } => RemoteError::Unauthorized {
                url: self.url.clone(),
                detail,
            },
            OciDistributionError::RequestError(ref r)
                if matches!(r.status().map(|s| s.as_u16()), Some(401 | 403)) =>
            {
                RemoteError::Unauthorized {
                    url: self.url.clone(),
                    detail,
                }
            }
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => RemoteError::Unauthorized {
                url: self.url.clone(),
                detail,
            },
            _ => RemoteError::Unavailable {
                url: self.url.clone(),
                detail,
            },
        }
    }

    fn unavailable(&self, detail: String) -> RemoteError {
        RemoteError::Unavailable {
            url: self.url.clone(),
            detail,
        }
    }

    /// What the remote holds for `keys`: the entries `pull` would accept (checked as it
    /// checks them before fetching any blob: a wheelbuild record, signed for its key by a
    /// trusted key) and those it would refuse. One tag listing says which keys are absent;
    /// only the manifests of the listed ones are read (of every key where the registry
    /// does not list).
    pub async fn holding(&self, keys: &[BuildKey]) -> Result<Holding, RemoteError> {
        let mut holding = Holding::default();
        let listed = self.tags().await?;
        let present: Vec<&BuildKey> = match &listed {
            Some(tags) => keys.iter().filter(|k| tags.contains(&k.0)).collect(),
            // Nothing could be used: not worth a request per key to say what is refused.
            None if self.trusted.is_empty() => return Ok(holding),
            None => keys.iter().collect(),
        };
        if self.trusted.is_empty() {
            holding.refused = present
                .into_iter()
                .map(|k| (k.clone(), NO_TRUST.to_string()))
                .collect();
            return Ok(holding);
        }
        let mut checked = futures::stream::iter(present)
            .map(|k| async move { (k, self.signed_manifest(k).await) })
            .buffered(CHECK_AT_ONCE);
        while let Some((key, result)) = checked.next().await {
            match result {
                Ok(Some(_)) => {
                    holding.usable.insert(key.clone());
                }
                Ok(None) => {}
                Err(RemoteError::Refused { reason, .. }) => {
                    holding.refused.push((key.clone(), reason));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(holding)
    }

    /// Every tag of the repository (an absent repository has none), following
    /// `Link: rel="next"` on the registry's own origin; `None` when the registry refuses
    /// to list (other than for the credentials).
    async fn tags(&self) -> Result<Option<BTreeSet<String>>, RemoteError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = format!("{}/v2/{}/tags/list?n={PAGE}", self.origin, self.repository);
        let mut tags = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let (body, next) = match self.get(&url, "application/json", MAX_TAG_PAGE).await? {
                Answer::Found { body, next } => (body, next),
                Answer::NotFound => return Ok(Some(tags)),
                Answer::TooLarge(size) => {
                    return Err(self.unavailable(format!("a page of its tag list is {size}")));
                }
                Answer::Status(_) => return Ok(None),
            };
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| self.unavailable(format!("its tag list: {e}")))?;
            let before = tags.len();
            tags.extend(page.tags.unwrap_or_default());
            match next {
                // A page that brings nothing new ends it too (a registry ignoring `last`).
                Some(next) if tags.len() > before => {
                    url = same_origin(&self.origin, &url, &next)
                        .map_err(|detail| self.unavailable(detail))?;
                }
                _ => return Ok(Some(tags)),
            }
        }
        Ok(Some(tags))
    }

    /// GET `url` on the registry's origin with the configured credentials (basic ones
    /// straight away; a bearer token once the registry challenges for one, renewed when
    /// refused), reading at most `limit` bytes of the body.
    async fn get(&self, url: &str, accept: &str, limit: usize) -> Result<Answer, RemoteError> {
        let mut renewed = false;
        let response = loop {
            let token = self.bearer.lock().await.clone();
            let request = self.http.get(url).header(reqwest::header::ACCEPT, accept);
            let request = match (&token, &self.auth) {
                (Some(token), _) => request.bearer_auth(token),
                (None, RegistryAuth::Basic(user, pass)) => request.basic_auth(user, Some(pass)),
                (None, _) => request,
            };
            let response = request
                .send()
                .await
                .map_err(|e| self.unavailable(crate::diag::chain(&e)))?;
            let challenge = bearer_challenge(&response);
            let Some(challenge) = challenge.filter(|_| !renewed) else {
                break response;
            };
            renewed = true;
            self.renew_token(token, &challenge).await?;
        };
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(Answer::NotFound),
            code @ (401 | 403) => {
                return Err(RemoteError::Unauthorized {
                    url: self.url.clone(),
                    detail: format!("HTTP {code} for {}", response.url().path()),
                });
            }
            code => return Ok(Answer::Status(code)),
        }
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        match read_body(response, limit).await {
            Ok(body) => Ok(Answer::Found { body, next }),
            Err(BodyError::TooLarge(size)) => {
                let size = match size {
                    Oversize::Announced(length) => format!("{length} bytes"),
                    Oversize::Received { .. } => format!("more than {limit} bytes"),
                };
                Ok(Answer::TooLarge(format!(
                    "{size}, over the {} MiB limit",
                    limit >> 20
                )))
            }
            Err(BodyError::Transport(detail)) => Err(self.unavailable(detail)),
        }
    }

    /// A bearer token for reading the repository in place of `refused` (the one just
    /// refused, if any), unless another request has renewed it meanwhile. `challenge` is
    /// the registry's `WWW-Authenticate` that asked for it.
    async fn renew_token(
        &self,
        refused: Option<String>,
        challenge: &str,
    ) -> Result<(), RemoteError> {
        let mut token = self.bearer.lock().await;
        if *token == refused {
            *token = match &self.identity {
                Some(identity) => Some(self.exchange(challenge, identity, "pull").await?),
                None => self
                    .client
                    .auth(
                        &self.tagged(&BuildKey("probe".into())),
                        &self.auth,
                        RegistryOperation::Pull,
                    )
                    .await
                    .map_err(|e| self.error(e))?,
            };
        }
        Ok(())
    }

    /// An access token for `actions` (`pull`, `pull,push`) on the repository, for the
    /// identity token of a token login, from the token server `challenge` names.
    async fn exchange(
        &self,
        challenge: &str,
        identity: &str,
        actions: &str,
    ) -> Result<String, RemoteError> {
        use crate::oci::auth::ExchangeError;
        let scope = format!("repository:{}:{actions}", self.repository);
        crate::oci::auth::exchange_identity_token(&self.http, challenge, &scope, identity)
            .await
            .map_err(|e| match e {
                ExchangeError::Refused(detail) => RemoteError::Unauthorized {
                    url: self.url.clone(),
                    detail,
                },
                ExchangeError::Unreachable(detail) => self.unavailable(detail),
            })
    }

    /// How oci-client authenticates for `operation`: the configured credentials, or for an
    /// identity token, a bearer token exchanged for the operation's scope (the registry's
    /// challenge is asked for at `/v2/`, as the Docker CLI does).
    async fn client_auth(&self, operation: RegistryOperation) -> Result<RegistryAuth, RemoteError> {
        let Some(identity) = &self.identity else {
            return Ok(self.auth.clone());
        };
        if operation == RegistryOperation::Pull
            && let Some(token) = self.bearer.lock().await.clone()
        {
            return Ok(RegistryAuth::Bearer(token));
        }
        let response = self
            .http
            .get(format!("{}/v2/", self.origin))
            .send()
            .await
            .map_err(|e| self.unavailable(crate::diag::chain(&e)))?;
        let challenge = bearer_challenge(&response).ok_or_else(|| RemoteError::Unauthorized {
            url: self.url.clone(),
            detail: format!(
                "the Docker config holds an identity token for {}, but the registry asks for no \
                 bearer token (HTTP {} for /v2/)",
                self.registry,
                response.status().as_u16()
            ),
        })?;
        let actions = match operation {
            RegistryOperation::Pull => "pull",
            RegistryOperation::Push => "pull,push",
        };
        Ok(RegistryAuth::Bearer(
            self.exchange(&challenge, identity, actions).await?,
        ))
    }

    /// The manifest tagged `key`, read up to [`BODY_LIMIT`] bytes; `None` when there is
    /// none.
    async fn manifest(&self, key: &BuildKey) -> Result<Option<Manifest>, RemoteError> {
        self.manifest_tagged(&key.0, &key.0).await
    }

    /// The manifest tagged `tag` (the entry of `key`, as refusals name it).
    async fn manifest_tagged(&self, tag: &str, key: &str) -> Result<Option<Manifest>, RemoteError> {
        let refuse = |reason: String| RemoteError::Refused {
            key: key.to_string(),
            reason,
        };
        let url = format!("{}/v2/{}/manifests/{tag}", self.origin, self.repository);
        match self.get(&url, MANIFEST_TYPE, BODY_LIMIT).await? {
            Answer::Found { body, .. } => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| refuse(format!("its manifest is unreadable: {e}"))),
            Answer::NotFound => Ok(None),
            Answer::TooLarge(size) => Err(refuse(format!("its manifest is {size}"))),
            Answer::Status(code) => Err(self.unavailable(format!(
                "HTTP {code} for the manifest of {}",
                &key[..12.min(key.len())]
            ))),
        }
    }

    /// The entry tagged `key`, if the remote has one whose manifest says it is a wheelbuild
    /// record signed by a trusted key over this key, its record's digest and its wheels'.
    /// Nothing more is fetched than the manifest: no blob of an entry refused here.
    async fn signed_manifest(&self, key: &BuildKey) -> Result<Option<Manifest>, RemoteError> {
        let Some(manifest) = self.manifest(key).await? else {
            return Ok(None);
        };
        if manifest.artifact_type != ARTIFACT_TYPE {
            return Err(refused(
                key,
                format!(
                    "it is a `{}`, not a wheelbuild record",
                    manifest.artifact_type
                ),
            ));
        }
        let Some(signature) = manifest.annotations.get(SIGNATURE) else {
            return Err(refused(key, "it is not signed"));
        };
        if self.trusted.is_empty() {
            return Err(refused(key, NO_TRUST));
        }
        self.trusted
            .verify(&manifest.payload(key), signature)
            .map_err(|reason| refused(key, reason))?;
        Ok(Some(manifest))
    }

    /// Whether this remote may push at all: with `trusted-keys` set, only signed (every
    /// machine that trusts keys refuses an unsigned entry, and it would replace a signed one).
    pub fn may_push(&self) -> Result<(), RemoteError> {
        if self.sign_with.is_none() && !self.trusted.is_empty() {
            return Err(RemoteError::NoSigner {
                url: self.url.clone(),
            });
        }
        self.signer()?;
        Ok(())
    }

    /// The `sign-with` key, read the first time it is asked for.
    fn signer(&self) -> Result<Option<&SecretKey>, RemoteError> {
        Ok(self.sign_with.as_ref().map(KeyFile::get).transpose()?)
    }

    /// The signing key's name when `trusted-keys` does not hold its public key: what it
    /// pushes, pulls with this very config refuse.
    pub fn untrusted_signer(&self) -> Result<Option<&str>, RemoteError> {
        Ok(self
            .signer()?
            .filter(|s| !self.trusted.trusts(s))
            .map(|s| s.name.as_str()))
    }

    /// Refuse to replace the remote's entry for `key` when a trusted key signed it and no
    /// trusted key signs this push, or when it is signed and this push is not.
    async fn keep_signed_entry(&self, key: &BuildKey) -> Result<(), RemoteError> {
        let signer = self.signer()?;
        if signer.is_some_and(|s| self.trusted.trusts(s)) {
            return Ok(());
        }
        let existing = match self.manifest(key).await {
            Ok(Some(m)) => m,
            // Nothing there, or nothing readable as an entry: nothing signed is replaced.
            Ok(None) | Err(RemoteError::Refused { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(signature) = existing.annotations.get(SIGNATURE) else {
            return Ok(());
        };
        let kept = |reason: String| {
            Err(RemoteError::Kept {
                key: key.0.clone(),
                reason,
            })
        };
        match (
            signer,
            self.trusted.verify(&existing.payload(key), signature),
        ) {
            (None, _) => kept(format!(
                "the remote's entry is signed by `{}`, and this push would not be",
                sign::signer_name(signature)
            )),
            (Some(signer), Ok(name)) => kept(format!(
                "the remote's entry is signed by `{name}`, a trusted key, and this push by \
                 `{}`, which is not in `trusted-keys`",
                signer.name
            )),
            (Some(_), Err(_)) => Ok(()),
        }
    }

    /// Push the store's entry for `key`, signed when a signing key is configured. Blobs
    /// the registry has already are not sent again. Returns the manifest's digest.
    pub async fn push(&self, store: &Store, key: &BuildKey) -> Result<String, RemoteError> {
        self.may_push()?;
        let record_bytes = store
            .record_bytes(key)?
            .ok_or_else(|| RemoteError::Refused {
                key: key.0.clone(),
                reason: "it is not in the local store".into(),
            })?;
        let record: BuildRecord =
            serde_json::from_slice(&record_bytes).map_err(|e| StoreError::Corrupt {
                path: store.record_path(key),
                detail: e.to_string(),
            })?;
        self.push_auth().await?;
        self.keep_signed_entry(key).await?;
        let record_digest = sha256_digest(&record_bytes);
        let mut layers = Vec::new();
        let record_size = record_bytes.len() as u64;
        // Wheels and the log go from their files in chunks: a 2 GiB CUDA wheel is never
        // held in memory.
        let mut blobs: Vec<(String, Blob)> =
            vec![(record_digest.clone(), Blob::Bytes(record_bytes))];
        for w in &record.wheels {
            // Checked against the record as it is read: a damaged wheel is not pushed (and
            // the registry checks the digest of what it receives).
            if let Some(damage) = store.check_wheel(w) {
                return Err(RemoteError::Refused {
                    key: key.0.clone(),
                    reason: damage.to_string(),
                });
            }
            let digest = format!("sha256:{}", w.sha256);
            layers.push(descriptor(WHEEL_TYPE, &digest, w.size, Some(&w.file)));
            blobs.push((digest, Blob::File(store.wheel_path(&w.sha256), w.size)));
        }
        let log = store.log_path(key);
        if let Ok((sha256, size)) =
            std::fs::File::open(&log).and_then(|mut f| copy_hashing(&mut f, &mut std::io::sink()))
        {
            let digest = format!("sha256:{sha256}");
            layers.push(descriptor(LOG_TYPE, &digest, size, Some("build.log")));
            blobs.push((digest, Blob::File(log, size)));
        }
        let wheel_digests: Vec<String> = record
            .wheels
            .iter()
            .map(|w| format!("sha256:{}", w.sha256))
            .collect();
        let mut annotations = std::collections::BTreeMap::new();
        if let Some(signer) = self.signer()? {
            let payload = sign::payload(&key.0, &record_digest, &wheel_digests);
            annotations.insert(SIGNATURE.to_string(), signer.sign(&payload));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_TYPE.into(),
            artifact_type: ARTIFACT_TYPE.into(),
            config: descriptor(RECORD_TYPE, &record_digest, record_size, None),
            layers,
            annotations,
        };
        self.push_entry(&key.0, blobs, &manifest).await
    }

    /// Logs in for pushing, once per run.
    async fn push_auth(&self) -> Result<(), RemoteError> {
        let reference = self.tagged(&BuildKey("probe".into()));
        self.pushing
            .get_or_try_init(|| async {
                let auth = self.client_auth(RegistryOperation::Push).await?;
                self.client
                    .auth(&reference, &auth, RegistryOperation::Push)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error(e))
            })
            .await?;
        Ok(())
    }

    /// Sends `blobs` the registry lacks, then `manifest` tagged `tag`; returns the
    /// manifest's digest.
    async fn push_entry(
        &self,
        tag: &str,
        blobs: Vec<(String, Blob)>,
        manifest: &Manifest,
    ) -> Result<String, RemoteError> {
        self.push_auth().await?;
        let reference = Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        );
        for (digest, blob) in blobs {
            let exists = self
                .client
                .blob_exists(&self.blob(&digest), &digest)
                .await
                .map_err(|e| self.error(e))?;
            if exists {
                continue;
            }
            let pushed = match blob {
                Blob::Bytes(bytes) => self.client.push_blob(&reference, bytes, &digest).await,
                Blob::File(path, size) => {
                    let file = tokio::fs::File::open(&path)
                        .await
                        .map_err(StoreError::io(&path))?;
                    self.client
                        .push_blob_stream(&reference, file_chunks(file), &digest, Some(size))
                        .await
                }
            };
            pushed.map_err(|e| self.error(e))?;
        }
        let bytes = serde_json::to_vec(manifest).expect("a manifest serializes");
        self.client
            .push_manifest_raw(
                &reference,
                bytes.clone(),
                reqwest::header::HeaderValue::from_static(MANIFEST_TYPE),
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(sha256_digest(&bytes))
    }

    /// Pull the entry for `key` into `store`, if the remote has one that a trusted key
    /// signed and whose every byte checks out.
    pub async fn pull(&self, store: &Store, key: &BuildKey) -> Result<Pulled, RemoteError> {
        let refuse = |reason: String| refused(key, reason);
        let Some(manifest) = self.signed_manifest(key).await? else {
            return Ok(Pulled::Absent);
        };
        let wheels: Vec<&OciDescriptor> = manifest.wheels().collect();
        let record_bytes = self
            .fetch(&manifest.config, BODY_LIMIT as i64)
            .await?
            .map_err(refuse)?;
        let record: BuildRecord = serde_json::from_slice(&record_bytes)
            .map_err(|e| refuse(format!("its record is unreadable: {e}")))?;
        if record.key != *key {
            return Err(refuse(format!("its record is for key {}", record.key)));
        }
        // It becomes a path in the store (`targets/<target>.json`).
        if let Some(problem) = crate::config::target_problem(&record.target) {
            return Err(refuse(format!(
                "its record names target `{}`, which is not a target id: {problem}",
                record.target.escape_debug()
            )));
        }
        let mut listed: Vec<String> = record
            .wheels
            .iter()
            .map(|w| format!("sha256:{}", w.sha256))
            .collect();
        let mut signed: Vec<String> = wheels.iter().map(|w| w.digest.clone()).collect();
        listed.sort();
        signed.sort();
        if listed != signed {
            return Err(refuse(
                "its record lists other wheels than its signature covers".into(),
            ));
        }
        let staging = store.stage()?;
        for w in &record.wheels {
            let digest = format!("sha256:{}", w.sha256);
            let layer = wheels
                .iter()
                .find(|l| l.digest == digest)
                .expect("the record's wheels are the manifest's");
            if u64::try_from(layer.size).ok() != Some(w.size) {
                return Err(refuse(format!("wheel {} has another size", w.file)));
            }
            let name = Path::new(&w.file)
                .file_name()
                .filter(|n| n.to_str() == Some(w.file.as_str()))
                .ok_or_else(|| refuse(format!("wheel name `{}` is not a file name", w.file)))?;
            let dest = staging.wheels_dir().join(name);
            self.fetch_to(layer, MAX_BLOB, &dest)
                .await?
                .map_err(refuse)?;
        }
        // The log only when it is the one the signed record's provenance names: the
        // signature covers the record's digest, not the log layer's.
        if let Some(digest) = log_digest(&record)
            && let Some(log) = manifest
                .layers
                .iter()
                .find(|l| l.media_type == LOG_TYPE && l.digest == digest)
            && let Ok(Ok(bytes)) = self.fetch(log, MAX_LOG).await
        {
            let _ = std::fs::write(staging.log_path(), bytes);
        }
        store.commit(staging, &record)?;
        Ok(Pulled::Stored)
    }

    /// A blob into memory, checked; `Ok(Err(reason))` when its bytes are wrong.
    async fn fetch(
        &self,
        layer: &OciDescriptor,
        limit: i64,
    ) -> Result<Result<Vec<u8>, String>, RemoteError> {
        let mut out = Vec::new();
        Ok(self.fetch_into(layer, limit, &mut out).await?.map(|()| out))
    }

    /// A blob into a file as it arrives, checked as it is written and again read back from
    /// the file (as the store trusts it).
    async fn fetch_to(
        &self,
        layer: &OciDescriptor,
        limit: i64,
        dest: &Path,
    ) -> Result<Result<(), String>, RemoteError> {
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(StoreError::io(dest))?;
        if let Err(reason) = self.fetch_into(layer, limit, &mut file).await? {
            return Ok(Err(reason));
        }
        use tokio::io::AsyncWriteExt as _;
        file.flush().await.map_err(StoreError::io(dest))?;
        file.sync_all().await.map_err(StoreError::io(dest))?;
        drop(file);
        let (sha256, _) = std::fs::File::open(dest)
            .and_then(|mut f| copy_hashing(&mut f, &mut std::io::sink()))
            .map_err(StoreError::io(dest))?;
        if format!("sha256:{sha256}") != layer.digest {
            return Ok(Err(format!("{} changed on disk", dest.display())));
        }
        Ok(Ok(()))
    }

    /// A blob into `out`, refusing bytes past the descriptor's size and checking the digest
    /// of what was received; `Ok(Err(reason))` when its bytes are wrong.
    async fn fetch_into<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        layer: &OciDescriptor,
        limit: i64,
        out: W,
    ) -> Result<Result<(), String>, RemoteError> {
        if layer.size > limit || layer.size < 0 {
            return Ok(Err(format!(
                "blob {} is {} bytes",
                layer.digest, layer.size
            )));
        }
        let mut sink = Bounded {
            inner: out,
            hasher: Sha256::new(),
            left: layer.size as u64,
            over: false,
        };
        // The client authenticates its blob requests with these (a token when challenged).
        let auth = self.client_auth(RegistryOperation::Pull).await?;
        self.client
            .store_auth_if_needed(&self.registry, &auth)
            .await;
        let pulled = self
            .client
            .pull_blob(&self.blob(&layer.digest), layer, &mut sink)
            .await;
        match pulled {
            Ok(()) => {}
            Err(_) if sink.over => {
                return Ok(Err(format!(
                    "blob {} is longer than its {} bytes",
                    layer.digest, layer.size
                )));
            }
            Err(OciDistributionError::DigestError(e)) => {
                return Ok(Err(format!("blob {}: {e}", layer.digest)));
            }
            Err(e) => return Err(self.error(e)),
        }
        let received = layer.size as u64 - sink.left;
        let digest = format!("sha256:{}", hex::encode(sink.hasher.finalize()));
        if digest != layer.digest || sink.left != 0 {
            return Ok(Err(format!(
                "blob {} has other bytes (sha256 {digest}, {received} bytes)",
                layer.digest,
            )));
        }
        Ok(Ok(()))
    }
}

/// What a push sends: the record from memory, wheels and logs from their files.
enum Blob {
    Bytes(Vec<u8>),
    File(std::path::PathBuf, u64),
}

/// A file as a stream of chunks, for a streamed (monolithic) blob upload.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    futures::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = bytes::BytesMut::with_capacity(1 << 20);
        while buf.len() < buf.capacity() {
            if file.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        Ok((!buf.is_empty()).then(|| (buf.freeze(), file)))
    })
}

/// The digest of the build log the record's provenance names, as descriptors write it.
fn log_digest(record: &BuildRecord) -> Option<String> {
    let provenance = record.provenance.as_ref()?;
    let log = provenance
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some("build.log"))?;
    Some(format!("sha256:{}", log.digest.get("sha256")?))
}

/// The URL of `next` (a `Link` target, relative to `page`) when it is on `origin` (same
/// scheme, host and port): the credentials go to no other. Another origin is an error, not
/// a listing cut short: an incomplete listing would have every key it misses built again.
fn same_origin(origin: &str, page: &str, next: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(page)
        .and_then(|p| p.join(next))
        .map_err(|e| format!("its tag list's next page `{next}`: {e}"))?;
    if reqwest::Url::parse(origin).map(|o| o.origin()) != Ok(url.origin()) {
        return Err(format!(
            "its tag list continues on another origin ({}): not followed, the credentials \
             are for {origin} only",
            url.origin().ascii_serialization()
        ));
    }
    Ok(url.into())
}

/// The target of `Link: <URL>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn descriptor(media_type: &str, digest: &str, size: u64, title: Option<&str>) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        annotations: title.map(|t| [(TITLE.to_string(), t.to_string())].into()),
        ..Default::default()
    }
}

/// A sink that hashes what passes and refuses bytes past `left` (a registry sending more
/// than the descriptor says).
struct Bounded<W> {
    inner: W,
    hasher: Sha256,
    left: u64,
    over: bool,
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Bounded<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.len() as u64 > self.left {
            self.over = true;
            return Poll::Ready(Err(std::io::Error::other(
                "more bytes than the descriptor says",
            )));
        }
        let this = &mut *self;
        let n = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.hasher.update(&buf[..n]);
        this.left -= n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
