//! The shared build cache: store entries as OCI artifacts on a registry the team already
//! runs, tagged by build key, signed.
//!
//! One entry is an OCI image manifest with `artifactType` [`ARTIFACT_TYPE`]: its config
//! blob is the record's JSON (the bytes the store holds), its layers the wheels (titled by
//! file name) and the build log; its annotation [`SIGNATURE`] an ed25519 signature over
//! the key, the record's digest and the wheels' digests ([`sign`]). No referrers API.
//!
//! Pulling trusts nothing on the wire: the manifest must be signed by a trusted key
//! *before* any blob is fetched; the record must be the signed digest, name the key it is
//! tagged with and list exactly the signed wheels; every blob is bounded by its
//! descriptor's size and checked against its sha256; the entry is committed to the local
//! store only when all of that holds.
//!
//! Which keys a remote has comes from its tag listing (`/v2/<name>/tags/list`, up to
//! 10 000 keys a page, `Link: rel="next"` followed), asked straight away (oci-client would
//! probe `/v2/` first, a round trip more); or one `HEAD` per key where listing is refused.

pub mod sign;

use std::collections::BTreeSet;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::plan::key::BuildKey;
use crate::store::{BuildRecord, Store, StoreError, copy_hashing};
use sign::{KeyError, SecretKey, TrustedKeys};

pub const ARTIFACT_TYPE: &str = "application/vnd.wheelbuild.record.v1";
const RECORD_TYPE: &str = "application/vnd.wheelbuild.record.v1+json";
const WHEEL_TYPE: &str = "application/vnd.wheelbuild.wheel.v1";
const LOG_TYPE: &str = "application/vnd.wheelbuild.log.v1";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const SIGNATURE: &str = "org.wheelbuild.signature";
const TITLE: &str = "org.opencontainers.image.title";

/// Manifests and records are small; a wheel has its descriptor's size, up to this.
const MAX_MANIFEST: usize = 4 << 20;
const MAX_BLOB: i64 = 16 << 30;
/// Tags asked for per page of the listing: one request for most caches. Registries may
/// return fewer (some cap pages at 1000), and then say where the next page is.
const PAGE: usize = 10_000;
/// At most this many pages (100 million keys): a registry cannot keep us listing forever.
const MAX_PAGES: usize = 10_000;
/// The page size registries commonly cap at: a page of exactly this many may not be the
/// last even when fewer were asked for.
const COMMON_CAP: usize = 1000;

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
            RemoteError::Store(e) => return e.hint(),
            RemoteError::Key(_) => {
                "create one with `wheelbuild key generate NAME`".into()
            }
        })
    }

    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            RemoteError::Unauthorized { .. } | RemoteError::Url { .. } | RemoteError::Key(_)
        )
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

/// A remote cache: a registry repository.
pub struct Remote {
    client: Client,
    /// For the tag listing, which goes straight to the registry (no auth probe first).
    http: reqwest::Client,
    scheme: &'static str,
    url: String,
    registry: String,
    repository: String,
    auth: RegistryAuth,
    trusted: TrustedKeys,
    signer: Option<SecretKey>,
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

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Remote {
    pub fn new(options: &RemoteOptions<'_>) -> Result<Remote, RemoteError> {
        let url = options.url.trim_end_matches('/').to_string();
        let reference =
            crate::resolve::reference::parse(&format!("{url}:probe")).map_err(|detail| {
                RemoteError::Url {
                    url: url.clone(),
                    detail,
                }
            })?;
        let registry = reference.resolve_registry().to_string();
        let plain = crate::resolve::registry::is_loopback(&registry)
            || options.insecure.contains(&registry);
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
        let auth =
            crate::resolve::registry::credentials_for(reference.registry()).map_err(|e| {
                RemoteError::Unauthorized {
                    url: url.clone(),
                    detail: e.to_string(),
                }
            })?;
        let trusted = TrustedKeys::parse(options.trusted_keys.iter().map(String::as_str))?;
        let signer = options.sign_with.map(SecretKey::read).transpose()?;
        Ok(Remote {
            client,
            http,
            scheme: if plain { "http" } else { "https" },
            url,
            registry,
            repository: reference.repository().to_string(),
            auth,
            trusted,
            signer,
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
        let detail = crate::error::chain(&e);
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

    /// Which of `keys` the remote has: from the tag listing, or one `HEAD` per key when
    /// the registry refuses to list.
    pub async fn contains(&self, keys: &[BuildKey]) -> Result<BTreeSet<BuildKey>, RemoteError> {
        let wanted: BTreeSet<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        match self.tags().await {
            Ok(tags) => Ok(keys
                .iter()
                .filter(|k| tags.contains(&k.0))
                .cloned()
                .collect()),
            Err(RemoteError::Unavailable { .. }) if !wanted.is_empty() => {
                let heads = futures::future::join_all(keys.iter().map(|k| async move {
                    match self
                        .client
                        .fetch_manifest_digest(&self.tagged(k), &self.auth)
                        .await
                    {
                        Ok(_) => Ok(Some(k.clone())),
                        Err(e) if is_not_found(&e) => Ok(None),
                        Err(e) => Err(self.error(e)),
                    }
                }))
                .await;
                heads.into_iter().filter_map(Result::transpose).collect()
            }
            Err(e) => Err(e),
        }
    }

    /// Every tag of the repository (an absent repository has none). Straight to the
    /// listing (with the configured basic credentials, if any), following `Link: rel="next"`;
    /// a bearer challenge goes through oci-client's token flow instead.
    async fn tags(&self) -> Result<BTreeSet<String>, RemoteError> {
        match self.tags_direct().await {
            Some(result) => result,
            None => self.tags_via_client().await,
        }
    }

    /// `None`: the registry wants a token (or answered something only the client's flow
    /// understands).
    async fn tags_direct(&self) -> Option<Result<BTreeSet<String>, RemoteError>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let unavailable = |detail: String| RemoteError::Unavailable {
            url: self.url.clone(),
            detail,
        };
        let origin = format!("{}://{}", self.scheme, self.registry);
        let mut url = format!("{origin}/v2/{}/tags/list?n={PAGE}", self.repository);
        let mut tags = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let mut request = self.http.get(&url);
            if let RegistryAuth::Basic(user, pass) = &self.auth {
                request = request.basic_auth(user, Some(pass));
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    return Some(Err(unavailable(crate::error::chain(&e))));
                }
            };
            match response.status().as_u16() {
                200 => {}
                404 => return Some(Ok(tags)),
                _ => return None,
            }
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = match response.bytes().await {
                Ok(b) if b.len() <= MAX_MANIFEST * 4 => b,
                Ok(b) => return Some(Err(unavailable(format!("a tag list of {} bytes", b.len())))),
                Err(e) => {
                    return Some(Err(unavailable(crate::error::chain(&e))));
                }
            };
            let page: Page = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(e) => return Some(Err(unavailable(format!("the tag list: {e}")))),
            };
            let before = tags.len();
            tags.extend(page.tags.unwrap_or_default());
            match next {
                // A page that brings nothing new ends it too (a registry ignoring `last`).
                Some(next) if tags.len() > before => {
                    url = if next.starts_with('/') {
                        format!("{origin}{next}")
                    } else {
                        next
                    };
                }
                _ => return Some(Ok(tags)),
            }
        }
        Some(Ok(tags))
    }

    async fn tags_via_client(&self) -> Result<BTreeSet<String>, RemoteError> {
        let probe = self.tagged(&BuildKey("probe".into()));
        let mut tags = BTreeSet::new();
        let mut last: Option<String> = None;
        loop {
            let page = match self
                .client
                .list_tags(&probe, &self.auth, Some(PAGE), last.as_deref())
                .await
            {
                Ok(page) => page,
                Err(e) if is_not_found(&e) => return Ok(tags),
                Err(e) => return Err(self.error(e)),
            };
            let n = page.tags.len();
            let next = page.tags.iter().max().cloned();
            let before = tags.len();
            tags.extend(page.tags);
            // A short page is the last (shorter than a cap the registry might apply, or
            // longer than that cap and shorter than asked); so is one that brings nothing
            // new (a registry that ignores `last` would otherwise be asked forever).
            let short = n < COMMON_CAP || (n > COMMON_CAP && n < PAGE);
            if short || tags.len() == before || next <= last {
                return Ok(tags);
            }
            last = next;
        }
    }

    /// Push the store's entry for `key`, signed when a signing key is configured. Blobs
    /// the registry has already are not sent again. Returns the manifest's digest.
    pub async fn push(&self, store: &Store, key: &BuildKey) -> Result<String, RemoteError> {
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
        let reference = self.tagged(key);
        self.pushing
            .get_or_try_init(|| async {
                self.client
                    .auth(&reference, &self.auth, RegistryOperation::Push)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error(e))
            })
            .await?;
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
        let wheel_digests: Vec<String> = record
            .wheels
            .iter()
            .map(|w| format!("sha256:{}", w.sha256))
            .collect();
        let mut annotations = std::collections::BTreeMap::new();
        if let Some(signer) = &self.signer {
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
        let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
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
        let refuse = |reason: String| RemoteError::Refused {
            key: key.0.clone(),
            reason,
        };
        let reference = self.tagged(key);
        let (bytes, _) = match self
            .client
            .pull_manifest_raw(&reference, &self.auth, &[MANIFEST_TYPE])
            .await
        {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => return Ok(Pulled::Absent),
            Err(e) => return Err(self.error(e)),
        };
        if bytes.len() > MAX_MANIFEST {
            return Err(refuse(format!("its manifest is {} bytes", bytes.len())));
        }
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| refuse(format!("its manifest is unreadable: {e}")))?;
        if manifest.artifact_type != ARTIFACT_TYPE {
            return Err(refuse(format!(
                "it is a `{}`, not a wheelbuild record",
                manifest.artifact_type
            )));
        }
        let wheels: Vec<&OciDescriptor> = manifest
            .layers
            .iter()
            .filter(|l| l.media_type == WHEEL_TYPE)
            .collect();
        let wheel_digests: Vec<String> = wheels.iter().map(|w| w.digest.clone()).collect();
        // The signature first: nothing unsigned is even downloaded.
        let Some(signature) = manifest.annotations.get(SIGNATURE) else {
            return Err(refuse("it is not signed".into()));
        };
        if self.trusted.is_empty() {
            return Err(refuse(
                "no `[remote] trusted-keys` are configured, so no signature is trusted".into(),
            ));
        }
        let payload = sign::payload(&key.0, &manifest.config.digest, &wheel_digests);
        self.trusted.verify(&payload, signature).map_err(refuse)?;

        let record_bytes = self
            .fetch(&manifest.config, MAX_MANIFEST as i64)
            .await?
            .map_err(refuse)?;
        let record: BuildRecord = serde_json::from_slice(&record_bytes)
            .map_err(|e| refuse(format!("its record is unreadable: {e}")))?;
        if record.key != *key {
            return Err(refuse(format!("its record is for key {}", record.key)));
        }
        let mut listed: Vec<String> = record
            .wheels
            .iter()
            .map(|w| format!("sha256:{}", w.sha256))
            .collect();
        let mut signed = wheel_digests.clone();
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
        if let Some(log) = manifest.layers.iter().find(|l| l.media_type == LOG_TYPE)
            && let Ok(Ok(bytes)) = self.fetch(log, MAX_MANIFEST as i64 * 16).await
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

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code: 404, .. } => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                oci_client::errors::OciErrorCode::ManifestUnknown
                    | oci_client::errors::OciErrorCode::NameUnknown
                    | oci_client::errors::OciErrorCode::NotFound
            )
        }),
        _ => false,
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
