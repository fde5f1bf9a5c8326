//! Stage 1 of the pipeline: read `wheelbuild.toml`, validate it, and expand the matrix into
//! targets (project × cell) whose templated fields are fully expanded.
//!
//! Its files, bottom first (each uses only those above it, and this file's error type):
//!
//! * [`syntax`]: the file's raw TOML types (the JSON schema is generated from them);
//! * `model`: what later stages read ([`Config`], [`Target`], [`Settings`]);
//! * `template`: `{name}` templates over a cell's variables;
//! * `validate`: the config text (`Ctx`, errors with file:line:col) and `Validator`, the
//!   checks of names, axes, filters and settings, and templates expanded with errors that
//!   point into the file;
//! * `engines`, `label`: the `[[engine]]` pool, local versions and PEP 825 variants;
//! * `expand`: the matrix into cells and targets, templates expanded, defaults applied.
//!
//! Everything downstream (lock, plan, build) works from [`Config`]; nothing re-reads the
//! file or sees its raw syntax.

mod engines;
pub use engines::host_platform;
mod expand;
mod label;
mod model;
pub(crate) mod syntax;
mod template;
mod validate;

use std::path::{Path, PathBuf};

use crate::diag::Location;
pub(crate) use model::Network;
pub use model::{
    Cell, ChannelPolicy, Config, ConfigSettings, ConfigWarning, EngineSpec, GitInput, ImageInput,
    PipIndex, Project, Runs, Target, TargetTest, TestNetwork,
};
pub(crate) use syntax::{ConfigFile, IndexSetting, UnavailablePolicy};
use validate::{Ctx, Validator};

pub(crate) use crate::recipe::DEFAULT_BUILD;

/// Environment variables that never change a wheel's bytes: parallelism, cache locations,
/// terminal and log settings. Changing them never forces a rebuild. `non-key-env` in the
/// config adds to this list.
pub const NON_KEY_ENV: &[&str] = &[
    "CCACHE_DIR",
    "CCACHE_LOGFILE",
    "CCACHE_MAXSIZE",
    "CMAKE_BUILD_PARALLEL_LEVEL",
    "FORCE_COLOR",
    "LOG_LEVEL",
    "MAKEFLAGS",
    "MAX_JOBS",
    "NO_COLOR",
    "NVCC_THREADS",
    "PIP_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "PIP_PROGRESS_BAR",
    "PYTHONUNBUFFERED",
    "TERM",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{message}")]
    Invalid {
        message: String,
        location: Option<Box<Location>>,
        hint: Option<String>,
    },
}

impl ConfigError {
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Invalid { location, .. } => location.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Invalid { hint, .. } => hint.clone(),
            ConfigError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Some("create a wheelbuild.toml (see README) or pass --config PATH".into())
            }
            ConfigError::Read { .. } => None,
        }
    }

    /// A usage mistake on the command line (no file location).
    pub(crate) fn usage(message: impl Into<String>, hint: Option<String>) -> ConfigError {
        ConfigError::Invalid {
            message: message.into(),
            location: None,
            hint,
        }
    }
}

/// Why `channel` cannot be a cache channel (it becomes a path component), if it cannot.
pub(crate) fn channel_problem(channel: &str) -> Option<String> {
    validate::token_problem(channel)
}

/// Why `id` cannot be a target id of any config (it becomes a path in the store), if it
/// cannot.
pub(crate) fn target_problem(id: &str) -> Option<String> {
    validate::target_problem(id)
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        match std::str::from_utf8(&bytes) {
            Ok(src) => Config::parse(path, src),
            Err(e) => Err(ConfigError::Invalid {
                message: "the config file is not UTF-8 text".into(),
                location: Some(Box::new(Location::of_invalid_utf8(path, &bytes, &e))),
                hint: Some("TOML files are UTF-8: re-save the file as UTF-8".into()),
            }),
        }
    }

    /// Validate config text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let ctx = Ctx::new(path, src);
        let file: ConfigFile = toml::from_str(src).map_err(|e| ctx.toml_error(&e))?;
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        expand::config(&Validator { ctx, file: &file }, path, root)
    }
}

#[cfg(test)]
mod tests;
