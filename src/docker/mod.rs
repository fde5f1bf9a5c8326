//! The Docker Engine, through bollard: pinned images, containers (create, send files in,
//! run, stream output, wait, download, commit, remove), the containers a killed run left
//! behind, and volumes (the caches); `gc` lists images and volumes and removes them. Nothing
//! of this machine reaches a container through a host path: the engine may be another
//! machine. Files go in as a tar stream ([`upload`]); every container reaches the outside
//! as [`access`] says, and carries labels that say which process owns it ([`owner`]).
//! Resolving environments and building both run their containers here.
//!
//! bollard 0.21 sends requests without an API version prefix, so the daemon answers with
//! its own default version (Debian's 20.10 speaks 1.41); nothing here needs a newer one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::StreamExt;

use crate::lock::LockedImage;
use upload::Upload;

pub mod access;
mod gc;
pub(crate) mod owner;
mod pull;
pub mod upload;

pub use pull::PullProgress;

pub use gc::VolumeInfo;

/// Label on every container wheelbuild creates, so leftovers can be found.
pub const LABEL: &str = "org.wheelbuild";

/// The name of the container a label set was made for. Labels outlive their container:
/// `docker commit` copies them into the environment image, and every container made from
/// that image inherits them. Only a container whose own name this label gives is
/// wheelbuild's (to clean up, to remove on Ctrl-C).
const NAME_LABEL: &str = "org.wheelbuild.name";

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon at {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("image {reference} is not in the registry: {detail}")]
    ImageMissing { reference: String, detail: String },
    #[error("pulling {reference} failed: {detail}")]
    Pull { reference: String, detail: String },
    #[error("cannot pull {reference}: {detail}")]
    Credentials {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("the daemon's copy of {reference} does not have the locked digest (it has {found})")]
    DigestMismatch { reference: String, found: String },
    #[error("the Docker daemon has no GPU runtime: {detail}")]
    NoGpu { detail: String },
    #[error("sending {what} into container {container} failed: {detail}")]
    Upload {
        what: String,
        container: String,
        detail: String,
    },
    #[error("Docker API call `{call}` failed: {detail}")]
    Api { call: &'static str, detail: String },
    #[error("the engine cannot run {platform} programs: {detail}")]
    ExecFormat { platform: String, detail: String },
}

impl DockerError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DockerError::Unreachable { host, .. } if host.contains("ssh://") => {
                "the engine's machine must take `ssh` without a prompt (key auth, or an agent; its host key in known_hosts, as ~/.ssh/config says) and run `docker system dial-stdio`: check with `ssh HOST docker version`".into()
            }
            DockerError::Unreachable { .. } => {
                "start the daemon (`dockerd`), or point DOCKER_HOST (or the `[[engine]]` entry) at one (unix://, tcp://, ssh://); `build --engine` leaves an engine out of a run".into()
            }
            DockerError::ImageMissing { .. } => {
                "the lock pins a digest the registry no longer has: push it again, or re-pin with `wheelbuild lock --update <image>`".into()
            }
            DockerError::Pull { .. } => "check the registry and its credentials (same as `wheelbuild lock` uses)".into(),
            DockerError::Credentials { registry, .. } => {
                crate::oci::auth::credentials_hint(registry)
            }
            DockerError::DigestMismatch { .. } => "remove the local image (`docker rmi`) and build again".into(),
            DockerError::NoGpu { .. } => {
                "install the NVIDIA Container Toolkit on the daemon's host, or set `gpu = false` (compiling CUDA code needs no GPU)".into()
            }
            DockerError::Upload { .. } => {
                "check that the files named are readable here and that the engine's machine has free space for them".into()
            }
            DockerError::ExecFormat { platform, .. } => format!(
                "run it on an engine for {platform} (`[[engine]] platforms`), or let the engine's machine emulate it: `apt-get install qemu-user-static` registers qemu with binfmt_misc (check /proc/sys/fs/binfmt_misc/qemu-*; the F flag lets containers use it)"
            ),
            DockerError::Api { .. } => return None,
        })
    }
}

/// Containers this process created and has not removed yet (removed on Ctrl-C), and
/// whether the run was interrupted.
#[derive(Debug, Default, Clone)]
pub struct Live {
    ids: Arc<Mutex<BTreeSet<String>>>,
    interrupted: Arc<std::sync::atomic::AtomicBool>,
}

impl Live {
    fn add(&self, id: &str) {
        self.ids.lock().expect("poisoned").insert(id.to_string());
    }

    fn remove(&self, id: &str) {
        self.ids.lock().expect("poisoned").remove(id);
    }

    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().expect("poisoned").iter().cloned().collect()
    }

    /// Mark the run interrupted: builds that end now were stopped, not failed.
    pub fn interrupt(&self) {
        self.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What a container runs and with what.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    pub image: String,
    /// The image's platform (`os/arch[/variant]`): the daemon runs the image as that
    /// platform, and refuses an image of another one.
    pub platform: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub binds: Vec<String>,
    /// Docker's network mode; `None` is the daemon's default bridge.
    pub network: Option<String>,
    pub gpu: bool,
    pub labels: BTreeMap<String, String>,
    /// Mount points of anonymous volumes (removed with the container). Mounts of the
    /// host config, not volumes of the container's config: a commit would make those
    /// volumes of the image.
    pub volumes: Vec<String>,
    /// Files of this machine sent into the container before it starts (never bind
    /// mounts: the engine may be another machine).
    pub upload: Upload,
    /// Drop capabilities and forbid privilege gain (build containers); not for the root
    /// setup of environment images, which needs apt.
    pub hardened: bool,
}

/// A Docker engine, connected on first use: a run with nothing to build never contacts
/// it, and one that finds a damaged store entry mid-run can still build. `DOCKER_HOST`
/// names the default one; `[[engine]]` entries name others.
#[derive(Clone, Default)]
pub struct Engine {
    docker: Arc<tokio::sync::OnceCell<Docker>>,
    /// `None`: as `DOCKER_HOST` says.
    at: Option<Arc<EngineAt>>,
    pub live: Live,
}

/// Where a declared engine is.
#[derive(Debug, Clone)]
struct EngineAt {
    name: String,
    host: String,
    /// A directory with ca.pem, cert.pem and key.pem (tcp://).
    tls: Option<std::path::PathBuf>,
}

impl Engine {
    /// The engine `DOCKER_HOST` names, not contacted yet.
    pub fn lazy() -> Engine {
        Engine::default()
    }

    /// The engine `name` at `host` (`unix://`, `ssh://`, or `tcp://` with `tls`), not
    /// contacted yet.
    pub fn at(name: &str, host: &str, tls: Option<std::path::PathBuf>) -> Engine {
        Engine {
            at: Some(Arc::new(EngineAt {
                name: name.to_string(),
                host: host.to_string(),
                tls,
            })),
            ..Engine::default()
        }
    }

    /// Connect now (if not yet): fails early, with exit 3, when the daemon is down.
    pub async fn connect(&self) -> Result<(), DockerError> {
        self.docker().await.map(|_| ())
    }

    pub fn is_connected(&self) -> bool {
        self.docker.initialized()
    }

    /// Does the connected daemon still answer (within 10 s)?
    pub async fn answers(&self) -> bool {
        let Some(docker) = self.docker.get() else {
            return false;
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(10), docker.version()).await,
            Ok(Ok(_))
        )
    }

    async fn docker(&self) -> Result<&Docker, DockerError> {
        self.docker
            .get_or_try_init(|| connect(self.at.as_deref()))
            .await
    }
}

/// Connect to `at`, or as `DOCKER_HOST` says (unix, tcp, ssh), and check the daemon
/// answers.
async fn connect(at: Option<&EngineAt>) -> Result<Docker, DockerError> {
    {
        let host = match at {
            Some(at) => format!("{} ({})", at.name, at.host),
            None => std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        };
        let unreachable = |detail: String| DockerError::Unreachable {
            host: host.clone(),
            detail,
        };
        let docker = match at {
            None => Docker::connect_with_defaults(),
            Some(EngineAt {
                host,
                tls: Some(dir),
                ..
            }) => Docker::connect_with_ssl(
                host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                120,
                bollard::API_DEFAULT_VERSION,
            ),
            Some(EngineAt { host, .. }) => Docker::connect_with_host(host),
        };
        // Builds last long: the default 2-minute request timeout would cut `wait`.
        let docker = docker
            .map_err(|e| unreachable(crate::diag::chain(&e)))?
            .with_timeout(Duration::from_secs(7 * 24 * 3600));
        let version = tokio::time::timeout(Duration::from_secs(20), docker.version())
            .await
            .map_err(|_| unreachable("no answer within 20 s".into()))?
            .map_err(|e| unreachable(crate::diag::chain(&e)))?;
        tracing::debug!(version = ?version.version, api = ?version.api_version, "docker daemon");
        Ok(docker)
    }
}

impl Engine {
    /// CPUs and memory (bytes) of the daemon's machine, which runs the builds; (1, 0) when
    /// not connected (nothing will be built).
    pub async fn resources(&self) -> (usize, u64) {
        let Some(docker) = self.docker.get() else {
            return (1, 0);
        };
        match docker.info().await {
            Ok(info) => (
                info.ncpu.map_or(1, |n| n.max(1) as usize),
                info.mem_total.map_or(0, |m| m.max(0) as u64),
            ),
            Err(_) => (1, 0),
        }
    }

    /// Make sure `name@digest` is in the daemon, pulling it by digest (never by tag) for
    /// `platform` with `credentials` (awaited only for a pull, which may do without:
    /// `None`), and that the daemon's image really has that digest. `progress` sees the
    /// pull advance.
    pub async fn ensure_image(
        &self,
        name: &str,
        digest: &str,
        platform: &str,
        credentials: impl Future<Output = Result<Option<DockerCredentials>, DockerError>>,
        progress: &(dyn Fn(&PullProgress) + Send + Sync),
    ) -> Result<String, DockerError> {
        let pinned = format!("{name}@{digest}");
        let docker = self.docker().await?;
        if let Ok(image) = docker.inspect_image(&pinned).await {
            return self.check_digest(&pinned, name, digest, image);
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(&pinned)
            .platform(platform)
            .build();
        let mut stream = docker.create_image(Some(options), None, credentials.await?);
        let mut pulled = PullProgress::default();
        while let Some(item) = stream.next().await {
            if let Ok(info) = &item
                && pulled.update(info)
            {
                progress(&pulled);
            }
            if let Err(e) = item {
                let detail = e.to_string();
                return Err(
                    if detail.contains("manifest unknown") || detail.contains("not found") {
                        DockerError::ImageMissing {
                            reference: pinned,
                            detail,
                        }
                    } else {
                        DockerError::Pull {
                            reference: pinned,
                            detail,
                        }
                    },
                );
            }
        }
        let image = docker
            .inspect_image(&pinned)
            .await
            .map_err(|e| DockerError::Api {
                call: "inspect image",
                detail: e.to_string(),
            })?;
        self.check_digest(&pinned, name, digest, image)
    }

    fn check_digest(
        &self,
        pinned: &str,
        name: &str,
        digest: &str,
        image: bollard::models::ImageInspect,
    ) -> Result<String, DockerError> {
        let repo_digests = image.repo_digests.unwrap_or_default();
        // Docker keeps Docker Hub names short (`python@…`); compare digests per repository.
        let short = name
            .strip_prefix("docker.io/library/")
            .or_else(|| name.strip_prefix("docker.io/"))
            .unwrap_or(name);
        let ok = repo_digests.iter().any(|d| match d.split_once('@') {
            Some((repo, dg)) => dg == digest && (repo == name || repo == short),
            None => false,
        });
        if !ok {
            return Err(DockerError::DigestMismatch {
                reference: pinned.to_string(),
                found: repo_digests.join(", "),
            });
        }
        Ok(image.id.unwrap_or_else(|| pinned.to_string()))
    }

    pub async fn image_exists(&self, reference: &str) -> Result<bool, DockerError> {
        Ok(self.docker().await?.inspect_image(reference).await.is_ok())
    }

    /// [`Engine::run`] a container to its end, keeping at most `max` bytes of its output,
    /// and remove it: its output, exit code, and whether it printed more than `max`.
    pub async fn run_capturing(
        &self,
        name: &str,
        config: &ContainerConfig,
        max: usize,
    ) -> Result<(Vec<u8>, i64, bool), DockerError> {
        let mut output = Vec::new();
        let mut overflow = false;
        let (container, exit) = self
            .run(name, config, |chunk| {
                if output.len() + chunk.len() <= max {
                    output.extend_from_slice(chunk);
                } else {
                    overflow = true;
                }
            })
            .await?;
        self.remove(&container).await?;
        Ok((output, exit, overflow))
    }

    /// Create and start a container, stream its output to `on_output`, wait for it to
    /// end; returns its id and exit status. The container is left in place (for
    /// `download`) and must be `remove`d; one that fails to start, or whose image's
    /// programs the kernel cannot execute, is removed here.
    pub async fn run(
        &self,
        name: &str,
        config: &ContainerConfig,
        mut on_output: impl FnMut(&[u8]),
    ) -> Result<(String, i64), DockerError> {
        let id = self.create(name, config).await?;
        let started = async {
            self.send_files(&id, name, &config.upload).await?;
            self.start(&id).await
        };
        if let Err(e) = started.await {
            let _ = self.remove(&id).await;
            return Err(e);
        }
        // The start of the output, for the runtime's own words when exec fails.
        let mut head = Vec::new();
        self.stream_output(&id, |chunk| {
            if head.len() <= EXEC_FAILURE_MAX {
                head.extend_from_slice(
                    &chunk[..chunk.len().min(EXEC_FAILURE_MAX + 1 - head.len())],
                );
            }
            on_output(chunk)
        })
        .await?;
        let code = self.exit_status(&id).await?;
        if code != 0
            && let Some(detail) = exec_format_failure(&head)
        {
            let _ = self.remove(&id).await;
            return Err(DockerError::ExecFormat {
                platform: config.platform.clone(),
                detail,
            });
        }
        Ok((id, code))
    }

    /// Create the container `name` (not started), known to [`Live`] from then on.
    async fn create(&self, name: &str, config: &ContainerConfig) -> Result<String, DockerError> {
        let docker = self.docker().await?;
        let options = CreateContainerOptionsBuilder::default()
            .name(name)
            .platform(&config.platform)
            .build();
        let created = docker
            .create_container(Some(options), container_body(name, config))
            .await
            .map_err(|e| DockerError::Api {
                call: "create container",
                detail: e.to_string(),
            })?;
        let id = created.id;
        self.live.add(&id);
        // Ctrl-C while the daemon was creating it: the interrupt handler may have listed
        // this process's containers already.
        if self.live.interrupted() {
            let _ = self.remove(&id).await;
            return Err(DockerError::Api {
                call: "create container",
                detail: "interrupted".into(),
            });
        }
        Ok(id)
    }

    /// Send `upload`'s files into the created container `id` (named `name`).
    async fn send_files(&self, id: &str, name: &str, upload: &Upload) -> Result<(), DockerError> {
        if upload.is_empty() {
            return Ok(());
        }
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        let (stream, failure) = upload.clone().stream();
        let sent = self
            .docker()
            .await?
            .upload_to_container(id, Some(options), bollard::body_try_stream(stream))
            .await;
        // A file that could not be read is the cause, whatever the daemon saw.
        let failed = failure.take();
        if sent.is_err() || failed.is_some() {
            return Err(DockerError::Upload {
                what: upload.describe(),
                container: name.to_string(),
                detail: failed
                    .or(sent.err().map(|e| e.to_string()))
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }

    async fn start(&self, id: &str) -> Result<(), DockerError> {
        let Err(e) = self.docker().await?.start_container(id, None).await else {
            return Ok(());
        };
        let detail = e.to_string();
        Err(
            if detail.contains("capabilities: [[gpu]]") || detail.contains("nvidia") {
                DockerError::NoGpu { detail }
            } else {
                DockerError::Api {
                    call: "start container",
                    detail,
                }
            },
        )
    }

    /// Hand the container's output to `on_output` until it ends.
    async fn stream_output(
        &self,
        id: &str,
        mut on_output: impl FnMut(&[u8]),
    ) -> Result<(), DockerError> {
        let docker = self.docker().await?;
        // bollard's LogsOptions default to neither stream nor follow: ask for all three.
        let logs = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = docker.logs(id, Some(logs));
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => on_output(&output.into_bytes()),
                Err(e) => {
                    tracing::debug!(error = %e, "log stream ended");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Wait for the container to end: its exit status.
    async fn exit_status(&self, id: &str) -> Result<i64, DockerError> {
        let docker = self.docker().await?;
        let mut wait = docker.wait_container(id, None);
        let mut code = None;
        while let Some(item) = wait.next().await {
            match item {
                Ok(r) => code = Some(r.status_code),
                // bollard turns a non-zero exit into an error: that is a failed build,
                // not a daemon problem.
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => {
                    code = Some(c)
                }
                Err(e) => {
                    return Err(DockerError::Api {
                        call: "wait container",
                        detail: e.to_string(),
                    });
                }
            }
        }
        Ok(match code {
            Some(c) => c,
            // The wait stream can end without a status when the container is already
            // gone from under us; ask the daemon.
            None => docker
                .inspect_container(id, None)
                .await
                .ok()
                .and_then(|c| c.state)
                .and_then(|s| s.exit_code)
                .unwrap_or(-1),
        })
    }

    /// The tar stream of `path` inside a (stopped) container.
    pub async fn download(
        &self,
        id: &str,
        path: &str,
    ) -> Result<impl futures::Stream<Item = Result<bytes::Bytes, DockerError>> + use<>, DockerError>
    {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        Ok(self
            .docker()
            .await?
            .download_from_container(id, Some(options))
            .map(|r| {
                r.map_err(|e| DockerError::Api {
                    call: "download from container",
                    detail: e.to_string(),
                })
            }))
    }

    /// Commit a container as `repo:tag`, with the environment, command, user and working
    /// directory of the image `like` (the container's own would stay in the image: an
    /// empty config lets Docker keep them). The container's labels are the image's.
    pub async fn commit(
        &self,
        id: &str,
        repo: &str,
        tag: &str,
        like: &str,
    ) -> Result<(), DockerError> {
        let docker = self.docker().await?;
        let base = docker
            .inspect_image(like)
            .await
            .map_err(|e| DockerError::Api {
                call: "inspect image",
                detail: e.to_string(),
            })?
            .config
            .unwrap_or_default();
        let config = bollard::models::ContainerConfig {
            env: base.env,
            cmd: base.cmd,
            entrypoint: base.entrypoint,
            user: base.user,
            working_dir: base.working_dir,
            ..Default::default()
        };
        let options = CommitContainerOptionsBuilder::default()
            .container(id)
            .repo(repo)
            .tag(tag)
            .comment("wheelbuild environment image")
            .build();
        docker
            .commit_container(options, config)
            .await
            .map_err(|e| DockerError::Api {
                call: "commit container",
                detail: e.to_string(),
            })?;
        Ok(())
    }

    /// Remove a container, running or not (with its anonymous volumes); when this returns
    /// `Ok`, it is gone.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let docker = self.docker().await?;
        let result = docker.remove_container(id, Some(options)).await;
        let outcome = match result {
            Ok(()) => Ok(()),
            // Another removal (this run's build task and its Ctrl-C handler, or another
            // run's cleanup) is under way: done when the container is gone, so that a
            // run that exits right after leaves nothing behind.
            Err(e) if removed_elsewhere(&e) => {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while docker.inspect_container(id, None).await.is_ok()
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(())
            }
            Err(e) => Err(DockerError::Api {
                call: "remove container",
                detail: e.to_string(),
            }),
        };
        self.live.remove(id);
        outcome
    }

    /// wheelbuild's containers on this engine (running or not), with their labels: those
    /// it created, not those that inherited its labels from an environment image.
    pub async fn labelled_containers(
        &self,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, DockerError> {
        let filters = std::collections::HashMap::from([("label", vec![LABEL])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker()
            .await?
            .list_containers(Some(options))
            .await
            .map_err(|e| DockerError::Api {
                call: "list containers",
                detail: e.to_string(),
            })?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels: BTreeMap<String, String> =
                    c.labels.unwrap_or_default().into_iter().collect();
                let own = labels.get(NAME_LABEL).is_some_and(|name| {
                    c.names
                        .iter()
                        .flatten()
                        .any(|n| n.trim_start_matches('/') == name)
                });
                own.then_some((c.id?, labels))
            })
            .collect())
    }

    /// Remove every container this process still has (on Ctrl-C): those it knows of, and
    /// any the daemon lists with `owner`'s labels (one whose creation was under way when
    /// the signal came is not known yet).
    pub async fn remove_all(&self, owner: &BTreeMap<String, String>) {
        let ids = self.live.ids();
        futures::future::join_all(ids.iter().map(|id| self.remove(id))).await;
        if let Ok(all) = self.labelled_containers().await {
            let mine = all
                .iter()
                .filter(|(_, labels)| owner.iter().all(|(k, v)| labels.get(k) == Some(v)));
            futures::future::join_all(mine.map(|(id, _)| self.remove(id))).await;
        }
    }
}

impl Engine {
    /// Create the named volume `name` with `labels` unless it exists (Docker answers a
    /// create of an existing name with that volume).
    pub async fn ensure_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), DockerError> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            ..Default::default()
        };
        self.docker()
            .await?
            .create_volume(request)
            .await
            .map_err(|e| DockerError::Api {
                call: "create volume",
                detail: e.to_string(),
            })?;
        Ok(())
    }
}

/// What Docker creates for `config`: the container `name`, with `name` in its labels
/// (see [`NAME_LABEL`]).
fn container_body(name: &str, config: &ContainerConfig) -> ContainerCreateBody {
    let host_config = HostConfig {
        binds: Some(config.binds.clone()),
        network_mode: config.network.clone(),
        security_opt: config
            .hardened
            .then(|| vec!["no-new-privileges".to_string()]),
        cap_drop: config.hardened.then(|| vec!["ALL".to_string()]),
        init: Some(true),
        mounts: (!config.volumes.is_empty()).then(|| {
            config
                .volumes
                .iter()
                .map(|at| Mount {
                    target: Some(at.clone()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                })
                .collect()
        }),
        device_requests: config.gpu.then(|| {
            vec![DeviceRequest {
                driver: Some(String::new()),
                count: Some(-1),
                capabilities: Some(vec![vec!["gpu".to_string()]]),
                ..Default::default()
            }]
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(config.image.clone()),
        cmd: Some(config.cmd.clone()),
        env: Some(config.env.clone()),
        user: config.user.clone(),
        labels: Some(
            config
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain([(NAME_LABEL.to_string(), name.to_string())])
                .collect(),
        ),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// The longest line the runtime prints when the container's first program does not run.
const EXEC_FAILURE_MAX: usize = 512;

/// The line of the container's init when the kernel cannot execute the container's first
/// program (an image of another architecture, and no binfmt_misc handler for it): the
/// container's only output, e.g. `[FATAL tini (6)] exec sh failed: Exec format error`
/// (Docker's init, which wheelbuild's containers run under), `exec /bin/sh: exec format
/// error` (runc ≥ 1.1).
fn exec_format_failure(output: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(output).ok()?.trim();
    (output.len() <= EXEC_FAILURE_MAX
        && !text.contains('\n')
        && text.to_ascii_lowercase().ends_with("exec format error"))
    .then(|| text.to_string())
}

/// Docker's credential payload for pulling `reference` from `registry`, from the same
/// Docker config `lock` reads; `None` for an anonymous pull. An identity token goes as
/// it is: the daemon exchanges it, as for the Docker CLI's pulls. A credential helper
/// that fails stops the pull with what it said.
pub fn credentials(
    reference: &str,
    registry: &str,
) -> Result<Option<DockerCredentials>, DockerError> {
    use crate::oci::auth::{Login, login_for};
    let credentials = |c: DockerCredentials| DockerCredentials {
        serveraddress: Some(registry.to_string()),
        ..c
    };
    match login_for(registry) {
        Ok(Login::Anonymous) => Ok(None),
        Ok(Login::Basic(user, pass)) => Ok(Some(credentials(DockerCredentials {
            username: Some(user),
            password: Some(pass),
            ..Default::default()
        }))),
        Ok(Login::IdentityToken(token)) => Ok(Some(credentials(DockerCredentials {
            identitytoken: Some(token),
            ..Default::default()
        }))),
        Err(e) => Err(DockerError::Credentials {
            reference: reference.to_string(),
            registry: registry.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// Pull `image` by its digest (never the tag): see [`pull_by_digest`].
pub(crate) async fn pull_pinned(
    engine: &Engine,
    image: &LockedImage,
) -> Result<String, DockerError> {
    pull_by_digest(
        engine,
        &image.name,
        &image.manifest_digest,
        &image.platform,
        &|_| {},
    )
    .await
}

/// Pull `name@digest` for `platform` with the Docker credentials of its registry (looked
/// up only when it must be pulled), checked to carry that digest; returns the image id.
pub(crate) async fn pull_by_digest(
    engine: &Engine,
    name: &str,
    digest: &str,
    platform: &str,
    progress: &(dyn Fn(&PullProgress) + Send + Sync),
) -> Result<String, DockerError> {
    let reference = format!("{name}@{digest}");
    let registry = registry_of(name).to_string();
    // A credential helper is a program: run off the runtime's threads, and only when
    // awaited (a spawned task would start at once).
    let credentials = async move {
        tokio::task::spawn_blocking(move || credentials(&reference, &registry))
            .await
            .map_err(|e| DockerError::Api {
                call: "look up credentials",
                detail: e.to_string(),
            })?
    };
    engine
        .ensure_image(name, digest, platform, credentials, progress)
        .await
}

/// The registry part of a fully qualified repository name.
pub fn registry_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// Is this failure to remove a container one where it is gone, or going, anyway: already
/// removed (404), or being removed by another client (409 "removal … is already in
/// progress": two runs cleaning up after the same killed one on a shared daemon)?
fn removed_elsewhere(e: &bollard::errors::Error) -> bool {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => true,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        } => message.contains("already in progress"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_container_is_hardened_and_names_itself_in_its_labels() {
        let config = ContainerConfig {
            image: "sha256:0123".into(),
            platform: "linux/arm64".into(),
            cmd: vec!["sh".into()],
            env: vec!["A=1".into()],
            user: Some("1000:1000".into()),
            binds: vec!["wheelbuild-ccache-ci-cpu:/wheelbuild/cache/ccache".into()],
            network: Some("none".into()),
            gpu: true,
            labels: BTreeMap::from([(LABEL.to_string(), "1".to_string())]),
            volumes: vec!["/wheelbuild/cache/pip".into()],
            upload: Upload::default(),
            hardened: true,
        };
        let body = container_body("wheelbuild-0123-1-0", &config);
        let labels = body.labels.unwrap();
        assert_eq!(labels[NAME_LABEL], "wheelbuild-0123-1-0");
        assert_eq!(labels[LABEL], "1");
        let host = body.host_config.unwrap();
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        assert_eq!(host.binds, Some(config.binds.clone()));
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some("/wheelbuild/cache/pip"));
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(host.device_requests.unwrap().len(), 1, "every GPU");

        // The root setup of an environment image: neither hardened nor with a GPU.
        let setup = ContainerConfig {
            hardened: false,
            gpu: false,
            volumes: Vec::new(),
            ..config
        };
        let host = container_body("wheelbuild-env-0123-1", &setup)
            .host_config
            .unwrap();
        assert_eq!((host.cap_drop, host.security_opt), (None, None));
        assert_eq!((host.mounts, host.device_requests), (None, None));
    }

    #[test]
    fn only_the_runtimes_lone_exec_format_line_is_a_foreign_platform() {
        for line in [
            "[FATAL tini (6)] exec sh failed: Exec format error\n",
            "exec /bin/sh: exec format error\r\n",
        ] {
            assert_eq!(
                exec_format_failure(line.as_bytes()).as_deref(),
                Some(line.trim())
            );
        }
        // A build that printed more (its own tools failing) is a failed build.
        let build = b"running build\n./tool: cannot execute: exec format error\n";
        assert_eq!(exec_format_failure(build), None);
        assert_eq!(exec_format_failure(b"error: no such file"), None);
        let long = format!("{} exec format error", "x".repeat(EXEC_FAILURE_MAX));
        assert_eq!(exec_format_failure(long.as_bytes()), None);
    }

    /// Regression (a flaky cleanup test): two runs removing one orphaned container at once.
    #[test]
    fn a_removal_already_in_progress_elsewhere_is_not_a_failure() {
        let err =
            |status_code: u16, message: &str| bollard::errors::Error::DockerResponseServerError {
                status_code,
                message: message.into(),
            };
        assert!(removed_elsewhere(&err(404, "No such container: x")));
        assert!(removed_elsewhere(&err(
            409,
            "removal of container x is already in progress"
        )));
        assert!(!removed_elsewhere(&err(
            409,
            "container x is running: stop the container before removing"
        )));
        assert!(!removed_elsewhere(&err(500, "driver failed")));
    }
}
