//! Small synthetic images pushed over plain HTTP with the Distribution API
//! (`POST /v2/NAME/blobs/uploads/`, `PUT <location>?digest=`, `PUT
//! /v2/NAME/manifests/TAG`) to a no-auth [`Registry`]. Every digest is
//! computed on the exact bytes pushed and checked against the registry's
//! `Docker-Content-Digest`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::registry::{Auth, Registry};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `Accept` for manifest GETs: every manifest and index type.
pub const ACCEPT_ALL_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Oci,
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    OciIndex,
    DockerList,
}

/// What a push produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `ADDR/repo:tag` on the registry it was pushed to.
    pub reference: String,
    pub repo: String,
    pub tag: String,
    /// Digest of what the tag points to (the index for `push_index`).
    pub digest: String,
    /// `"os/arch[/variant]"` -> platform manifest digest (one entry for
    /// `push_single`).
    pub platforms: BTreeMap<String, String>,
    /// Media type of what the tag points to.
    pub media_type: String,
}

impl Pushed {
    /// The same tag as seen through `registry` (e.g. an auth registry
    /// sharing the storage): `REGADDR/repo:tag`.
    pub fn reference_on(&self, registry: &Registry) -> String {
        format!("{}/{}:{}", registry.addr, self.repo, self.tag)
    }

    /// `repo:tag` (what the skopeo helpers of [`Registry`] take).
    pub fn repo_tag(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }

    /// `ADDR/repo@digest`.
    pub fn pinned(&self) -> String {
        format!(
            "{}@{}",
            self.reference.rsplit_once(':').unwrap().0,
            self.digest
        )
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .max_redirects_will_error(false) // hand 3xx back to the caller as is
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A response read to the end.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn finish(url: &str, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> HttpResponse {
    let mut r = r.unwrap_or_else(|e| panic!("HTTP request to {url} failed: {e}"));
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = r
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .unwrap_or_default();
    HttpResponse {
        status: r.status().as_u16(),
        headers,
        body,
    }
}

/// Plain HTTP request (for tests poking at a registry directly).
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpResponse {
    let agent = agent();
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    match body {
        Some(body) => finish(url, agent.run(b.body(body).unwrap())),
        None => finish(url, agent.run(b.body(()).unwrap())),
    }
}

fn push_registry(registry: &Registry) -> &Registry {
    assert!(
        registry.auth == Auth::None,
        "images are pushed through a no-auth registry (got {:?} on {}); share its storage with auth ones",
        registry.auth,
        registry.addr
    );
    registry
}

fn fail(registry: &Registry, what: &str, r: &HttpResponse) -> ! {
    panic!(
        "{what}: HTTP {} {}\n--- registry {} log (tail) ---\n{}",
        r.status,
        String::from_utf8_lossy(&r.body),
        registry.addr,
        registry.log_tail(20)
    )
}

/// Uploads `bytes` as a blob of `repo` (POST + PUT); returns its digest.
pub fn push_blob(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let registry = push_registry(registry);
    let digest = sha256_digest(bytes);
    let url = format!("{}/v2/{repo}/blobs/uploads/", registry.url());
    let start = http("POST", &url, &[], Some(b""));
    if start.status != 202 {
        fail(registry, &format!("POST {url}"), &start);
    }
    let location = start
        .header("location")
        .unwrap_or_else(|| fail(registry, "upload without Location", &start));
    let mut put_url = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location.to_owned()
    };
    put_url.push(if put_url.contains('?') { '&' } else { '?' });
    put_url.push_str(&format!("digest={}", digest.replace(':', "%3A")));
    let put = http(
        "PUT",
        &put_url,
        &[("Content-Type", "application/octet-stream")],
        Some(bytes),
    );
    if put.status != 201 {
        fail(registry, &format!("PUT {put_url}"), &put);
    }
    assert_eq!(
        put.header("docker-content-digest"),
        Some(digest.as_str()),
        "blob digest from registry"
    );
    digest
}

/// PUTs a manifest/index under `reference` (tag or digest); returns its digest.
pub fn put_manifest(
    registry: &Registry,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> String {
    let registry = push_registry(registry);
    let digest = sha256_digest(bytes);
    let url = format!("{}/v2/{repo}/manifests/{reference}", registry.url());
    let r = http("PUT", &url, &[("Content-Type", media_type)], Some(bytes));
    if r.status != 201 {
        fail(registry, &format!("PUT {url}"), &r);
    }
    assert_eq!(
        r.header("docker-content-digest"),
        Some(digest.as_str()),
        "manifest digest from registry for {url}"
    );
    digest
}

/// GETs a manifest with every manifest type accepted: (media type, raw
/// bytes, digest). Works on any registry whose auth this harness can do
/// without tokens (none or basic).
pub fn get_manifest(registry: &Registry, repo: &str, reference: &str) -> (String, Vec<u8>, String) {
    let url = format!("{}/v2/{repo}/manifests/{reference}", registry.url());
    let mut headers = vec![("Accept", ACCEPT_ALL_MANIFESTS)];
    let basic;
    if let Auth::Basic { user, pass } = &registry.auth {
        use base64::Engine as _;
        basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        headers.push(("Authorization", &basic));
    }
    let r = http("GET", &url, &headers, None);
    if r.status != 200 {
        fail(registry, &format!("GET {url}"), &r);
    }
    let digest = sha256_digest(&r.body);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(digest.as_str()),
        "digest header of GET {url}"
    );
    let media_type = r.header("content-type").unwrap_or_default().to_owned();
    (media_type, r.body, digest)
}

/// Points `to_tag` at what `from_tag` points to (GET raw, PUT under the new
/// tag): "moves" a tag. Returns the digest.
pub fn retag(registry: &Registry, repo: &str, from_tag: &str, to_tag: &str) -> String {
    let (media_type, bytes, digest) = get_manifest(registry, repo, from_tag);
    let put = put_manifest(registry, repo, to_tag, &media_type, &bytes);
    assert_eq!(put, digest);
    digest
}

/// `(os, arch, variant)` of `"os/arch[/variant]"`.
pub fn parse_platform(platform: &str) -> (&str, &str, Option<&str>) {
    let mut it = platform.split('/');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => {
            (os, arch, variant)
        }
        _ => panic!("platform must be os/arch[/variant], got {platform:?}"),
    }
}

/// Deterministic gzip'd tar with one file whose content includes `seed`:
/// (compressed layer, uncompressed tar).
pub fn make_layer(seed: &str, platform: &str) -> (Vec<u8>, Vec<u8>) {
    make_layer_with(seed, platform, &[])
}

/// [`make_layer`] with `executables` (path, content) beside the seed file, mode 755.
fn make_layer_with(
    seed: &str,
    platform: &str,
    executables: &[(&str, &[u8])],
) -> (Vec<u8>, Vec<u8>) {
    let content = format!("wheelbuild test layer\nseed: {seed}\nplatform: {platform}\n");
    let mut tar = tar::Builder::new(Vec::new());
    let files = [("wbtest/seed.txt", content.as_bytes(), 0o644)]
        .into_iter()
        .chain(
            executables
                .iter()
                .map(|&(path, bytes)| (path, bytes, 0o755)),
        );
    for (path, bytes, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, bytes).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), tar)
}

/// Pushes layer + config + manifest for one platform, under `tag` if given
/// (else by digest). Returns (manifest digest, manifest size).
fn push_platform_manifest(
    registry: &Registry,
    repo: &str,
    tag: Option<&str>,
    platform: &str,
    kind: ManifestKind,
    seed: &str,
    executables: &[(&str, &[u8])],
) -> (String, usize) {
    let (os, arch, variant) = parse_platform(platform);
    let (layer_gz, layer_tar) = make_layer_with(seed, platform, executables);
    let layer_digest = push_blob(registry, repo, &layer_gz);
    let mut config = json!({
        "architecture": arch,
        "os": os,
        "config": { "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Labels": { "wbtest.seed": seed } },
        "rootfs": { "type": "layers", "diff_ids": [sha256_digest(&layer_tar)] },
        "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": format!("wbtest seed {seed}") }],
        "created": "1970-01-01T00:00:00Z",
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = push_blob(registry, repo, &config_bytes);
    let (mt, config_mt, layer_mt) = match kind {
        ManifestKind::Oci => (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP),
        ManifestKind::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP),
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": { "mediaType": config_mt, "digest": config_digest, "size": config_bytes.len() },
        "layers": [{ "mediaType": layer_mt, "digest": layer_digest, "size": layer_gz.len() }],
    });
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let digest = sha256_digest(&bytes);
    let put = put_manifest(registry, repo, tag.unwrap_or(&digest), mt, &bytes);
    assert_eq!(put, digest);
    (digest, bytes.len())
}

/// Pushes a single-platform image (`platform` = `"linux/amd64"`,
/// `"linux/arm/v7"`, ...) as `repo:tag`. Different seeds give different
/// digests; the same arguments give the same digest.
pub fn push_single(
    registry: &Registry,
    repo: &str,
    tag: &str,
    platform: &str,
    kind: ManifestKind,
    seed: &str,
) -> Pushed {
    push_single_with(registry, repo, tag, platform, kind, seed, &[])
}

/// [`push_single`] whose layer also has `executables` (path, content; mode 755), e.g. a
/// `bin/sh` that is an ELF header of another machine.
pub fn push_single_with(
    registry: &Registry,
    repo: &str,
    tag: &str,
    platform: &str,
    kind: ManifestKind,
    seed: &str,
    executables: &[(&str, &[u8])],
) -> Pushed {
    let (digest, _) =
        push_platform_manifest(registry, repo, Some(tag), platform, kind, seed, executables);
    Pushed {
        reference: format!("{}/{repo}:{tag}", registry.addr),
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest: digest.clone(),
        platforms: BTreeMap::from([(platform.to_owned(), digest)]),
        media_type: match kind {
            ManifestKind::Oci => OCI_MANIFEST,
            ManifestKind::Docker => DOCKER_MANIFEST,
        }
        .to_owned(),
    }
}

/// Pushes one manifest per platform (by digest), then the OCI index or
/// Docker manifest list as `repo:tag`. Platform manifests are OCI for
/// `OciIndex` and Docker schema 2 for `DockerList`.
pub fn push_index(
    registry: &Registry,
    repo: &str,
    tag: &str,
    platforms: &[&str],
    kind: IndexKind,
    seed: &str,
) -> Pushed {
    assert!(!platforms.is_empty(), "push_index needs platforms");
    let (index_mt, manifest_kind) = match kind {
        IndexKind::OciIndex => (OCI_INDEX, ManifestKind::Oci),
        IndexKind::DockerList => (DOCKER_LIST, ManifestKind::Docker),
    };
    let manifest_mt = match manifest_kind {
        ManifestKind::Oci => OCI_MANIFEST,
        ManifestKind::Docker => DOCKER_MANIFEST,
    };
    let mut map = BTreeMap::new();
    let mut entries = Vec::new();
    for platform in platforms {
        let (digest, size) =
            push_platform_manifest(registry, repo, None, platform, manifest_kind, seed, &[]);
        let (os, arch, variant) = parse_platform(platform);
        let mut p = json!({ "architecture": arch, "os": os });
        if let Some(v) = variant {
            p["variant"] = json!(v);
        }
        entries.push(
            json!({ "mediaType": manifest_mt, "digest": digest, "size": size, "platform": p }),
        );
        assert!(
            map.insert((*platform).to_owned(), digest).is_none(),
            "duplicate platform {platform}"
        );
    }
    let index = json!({ "schemaVersion": 2, "mediaType": index_mt, "manifests": entries });
    let bytes = serde_json::to_vec_pretty(&index).unwrap();
    let digest = put_manifest(registry, repo, tag, index_mt, &bytes);
    Pushed {
        reference: format!("{}/{repo}:{tag}", registry.addr),
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest,
        platforms: map,
        media_type: index_mt.to_owned(),
    }
}
