//! Settings, resolved once per command: CLI flag > environment > config file > default.
//! Commands read these, never the raw arguments or the environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::{Config, ConfigError};
use crate::docker::Engine;
use crate::docker::access::Access;
use crate::exec::BuildSettings;
use crate::exec::compiler_cache::CompilerCache;
use crate::resolve::{NetworkSettings, ResolveSettings, WaitEvent, WaitObserver};
use crate::store::Store;

use super::args::{BuildArgs, ColorArg, GlobalArgs, VerifyArgs};
use super::printer::Printer;

pub(crate) const CONFIG_FILE: &str = "wheelbuild.toml";
pub(crate) const LOCK_FILE: &str = "wheelbuild.lock";

/// Settings every command has, before any file is read.
#[derive(Debug, Clone)]
pub(crate) struct GlobalSettings {
    pub color: anstream::ColorChoice,
    /// -q is negative, -v positive.
    pub verbosity: i8,
    pub offline: bool,
    pub locked: bool,
    /// `--remote` was given: `plan` and `check` consult the remote cache (`build` does
    /// whenever one is configured).
    pub use_remote: bool,
}

impl GlobalSettings {
    pub(crate) fn resolve(args: &GlobalArgs) -> GlobalSettings {
        let color = match args.color {
            ColorArg::Always => anstream::ColorChoice::Always,
            ColorArg::Never => anstream::ColorChoice::Never,
            ColorArg::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
                anstream::ColorChoice::Never
            }
            ColorArg::Auto => anstream::ColorChoice::Auto,
        };
        GlobalSettings {
            color,
            verbosity: args.verbose as i8 - args.quiet as i8,
            offline: args.offline,
            locked: args.locked,
            use_remote: args.remote.is_some(),
        }
    }
}

/// Settings of a command that works on a project.
pub(crate) struct ProjectSettings {
    pub config: Config,
    pub lock_path: PathBuf,
    pub store_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// The cache channel: `WHEELBUILD_CACHE_CHANNEL`, else the config's.
    pub channel: String,
    pub network: NetworkSettings,
    /// `--remote URL`, else `WHEELBUILD_REMOTE`, else `[remote] url`.
    pub remote_url: Option<String>,
}

impl ProjectSettings {
    pub(crate) fn load(args: &GlobalArgs) -> anyhow::Result<ProjectSettings> {
        let path = match &args.config {
            Some(p) => p.clone(),
            None => find_config()?,
        };
        let config = Config::load(&path).map_err(crate::Error::from)?;
        // Beside the config, spelled as the config path is (`wheelbuild.lock`, not `./wheelbuild.lock`).
        let lock_path = path.with_file_name(LOCK_FILE);
        let store_dir = match &args.store {
            Some(d) => d.clone(),
            None => config.settings.store_dir.clone(),
        };
        let cache_dir = match &args.cache_dir {
            Some(d) => d.clone(),
            None => config.settings.cache.dir.clone(),
        };
        let channel = match std::env::var("WHEELBUILD_CACHE_CHANNEL") {
            Ok(c) => match crate::config::channel_problem(&c) {
                None => c,
                Some(problem) => {
                    anyhow::bail!(crate::Error::from(crate::config::ConfigError::usage(
                        format!("invalid WHEELBUILD_CACHE_CHANNEL `{c}`: {problem}"),
                        Some("channels are names such as `ci`, `nightly`, `release`".into()),
                    )))
                }
            },
            Err(_) => config.settings.cache.channel.clone(),
        };
        let network = network_settings(&config)?;
        let remote_url = args
            .remote
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                std::env::var("WHEELBUILD_REMOTE")
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .or_else(|| config.settings.remote.url.clone());
        Ok(ProjectSettings {
            config,
            lock_path,
            store_dir,
            cache_dir,
            channel,
            network,
            remote_url,
        })
    }

    /// The remote cache, when one is configured.
    pub(crate) fn remote(&self) -> Result<Option<crate::remote::Remote>, crate::Error> {
        let Some(url) = &self.remote_url else {
            return Ok(None);
        };
        let r = &self.config.settings.remote;
        crate::remote::Remote::new(&crate::remote::RemoteOptions {
            url,
            insecure: &self.config.settings.insecure_registries,
            trusted_keys: &r.trusted_keys,
            sign_with: r.sign_with.as_deref(),
            connect_timeout: self.network.connect_timeout,
            request_timeout: self.network.request_timeout,
        })
        .map(Some)
        .map_err(Into::into)
    }

    /// How containers reach the network and the package index, with `${VAR}` references
    /// expanded: only for commands that start containers (`plan` needs no credentials).
    pub(crate) fn access(&self) -> Result<Access, crate::Error> {
        let s = &self.config.settings;
        Access::new(
            s.build.network,
            s.build.ca_certificates.as_deref(),
            &s.pip,
            |name| std::env::var(name).ok(),
        )
        .map_err(Into::into)
    }

    pub(crate) fn store(&self) -> Store {
        Store::new(&self.store_dir)
    }

    /// Resolve settings whose slow requests are reported through `printer`.
    pub(crate) fn resolve_settings(&self, printer: Printer) -> ResolveSettings {
        let on_wait: WaitObserver = Arc::new(move |e: &WaitEvent<'_>| printer.waiting(e));
        let mut s =
            ResolveSettings::for_config(&self.config, &self.cache_dir, self.network, Some(on_wait));
        // Tests shorten backoff; users never need to.
        if let Some(ms) = std::env::var("WHEELBUILD_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            s.retry.base = std::time::Duration::from_millis(ms);
        }
        s
    }

    /// `build`'s settings: [`Self::run_settings`], the remote cache it pulls from and
    /// pushes to (with `--push` or `[remote] push`; a push with no remote is a usage error),
    /// and the channel's remote compiler cache (`verify`'s rebuilds have none: its
    /// credentials need not be set there).
    pub(crate) async fn build_settings(
        &self,
        engine: &Engine,
        args: &BuildArgs,
    ) -> anyhow::Result<BuildSettings> {
        let run = self
            .run_settings(engine, args.jobs, args.keep_going, args.rebuild_env)
            .await?;
        let remote = self.remote()?.map(Arc::new);
        let push = args.push || self.config.settings.remote.push;
        if push && remote.is_none() {
            anyhow::bail!(crate::Error::from(ConfigError::usage(
                "--push needs a remote cache: set `[remote] url`, or pass `--remote URL`",
                None,
            )));
        }
        let cache = &self.config.settings.cache;
        let compiler_cache = match &cache.remote {
            Some(url) => {
                CompilerCache::new(url, &self.channel, cache.policy(&self.channel), |name| {
                    std::env::var(name).ok()
                })
                .map_err(crate::Error::from)?
                .map(Arc::new)
            }
            None => None,
        };
        Ok(BuildSettings {
            remote,
            push,
            compiler_cache,
            retest: args.retest,
            ..run
        })
    }

    /// `verify`'s settings: [`Self::run_settings`]; every target is rebuilt whatever
    /// another's fails, in the environment images as they are, and nothing is pushed.
    pub(crate) async fn verify_settings(
        &self,
        engine: &Engine,
        args: &VerifyArgs,
    ) -> anyhow::Result<BuildSettings> {
        self.run_settings(engine, args.jobs, true, false).await
    }

    /// Settings of a run that builds in containers: the config's, the flags', then
    /// defaults from `engine`'s cores and memory. No remote cache, no remote compiler cache.
    async fn run_settings(
        &self,
        engine: &Engine,
        jobs: Option<usize>,
        keep_going: bool,
        rebuild_env: bool,
    ) -> anyhow::Result<BuildSettings> {
        let settings = &self.config.settings;
        let access = self.access()?;
        let (cpus, memory) = engine.resources().await;
        let (jobs, max_jobs) = crate::exec::default_parallelism(cpus, memory, jobs);
        Ok(BuildSettings {
            jobs,
            keep_going,
            rebuild_env,
            uid: settings.build.uid.unwrap_or(1000),
            gid: settings.build.gid.unwrap_or(1000),
            access,
            cache_dir: self.cache_dir.clone(),
            ccache: settings.cache.ccache,
            compiler_cache: None,
            pip_cache: settings.cache.pip,
            channel: self.channel.clone(),
            output_dir: settings.output_dir.clone(),
            max_jobs,
            log_dir: self.cache_dir.join("logs"),
            network: self.network,
            remote: None,
            push: false,
            retest: false,
            signer: settings
                .remote
                .sign_with
                .as_deref()
                .map(|path| Arc::new(crate::sign::KeyFile::new(path))),
        })
    }
}

/// Time limits: environment > `[network]` of the config > default.
fn network_settings(config: &Config) -> Result<NetworkSettings, crate::Error> {
    let configured = &config.settings.network;
    let default = NetworkSettings::default();
    let timeout = |env: &str, setting: Option<Duration>, default: Duration| {
        let Some(raw) = std::env::var_os(env).filter(|v| !v.is_empty()) else {
            return Ok(setting.unwrap_or(default));
        };
        match raw.to_str().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seconds) if seconds >= 1 => Ok(Duration::from_secs(seconds)),
            _ => Err(crate::Error::from(ConfigError::Invalid {
                message: format!(
                    "environment variable {env}={}: a timeout is whole seconds, at least 1",
                    raw.to_string_lossy()
                ),
                location: None,
                hint: Some(format!(
                    "e.g. {env}=60, or unset it for the config's `[network]` setting or the default"
                )),
            })),
        }
    };
    Ok(NetworkSettings {
        connect_timeout: timeout(
            "WHEELBUILD_CONNECT_TIMEOUT",
            configured.connect,
            default.connect_timeout,
        )?,
        request_timeout: timeout(
            "WHEELBUILD_REQUEST_TIMEOUT",
            configured.request,
            default.request_timeout,
        )?,
        fetch_timeout: timeout(
            "WHEELBUILD_FETCH_TIMEOUT",
            configured.fetch,
            default.fetch_timeout,
        )?,
    })
}

/// `wheelbuild.toml` in the current directory or the nearest parent that has one.
fn find_config() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut dir: Option<&Path> = Some(&cwd);
    while let Some(d) = dir {
        let candidate = d.join(CONFIG_FILE);
        if candidate.is_file() {
            // Relative when it is here, so messages show `wheelbuild.toml:3:1`.
            return Ok(if d == cwd {
                PathBuf::from(CONFIG_FILE)
            } else {
                candidate
            });
        }
        dir = d.parent();
    }
    Err(crate::Error::from(crate::config::ConfigError::Read {
        path: PathBuf::from(CONFIG_FILE),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not found in this directory or any parent",
        ),
    })
    .into())
}
