//! How the containers wheelbuild starts reach the outside: the network they are on, a CA
//! bundle for TLS-intercepting proxies, the proxies themselves and the package index.
//!
//! The same for every container of a command (resolving environments, building
//! environment images, builds, verify's rebuilds) and part of no key: the lock pins
//! every package by sha256, whichever index or proxy served it. Resolved once per command,
//! with `${VAR}` references in index URLs expanded from wheelbuild's own environment;
//! the expanded values exist only here and in the containers' environment, never in the
//! lock, a record, a log or an error.

use std::fmt;
use std::path::{Path, PathBuf};

use super::upload::Upload;
use crate::config::{Network, PipIndex};

/// Where the CA bundle is put in every container (sent through the engine's API).
pub const CA_PATH: &str = "/etc/wheelbuild/ca-certificates.crt";
/// The directory of [`CA_PATH`].
pub const CA_DIR: &str = "/etc/wheelbuild";

/// Proxy variables passed through when wheelbuild has them, in both spellings tools read.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

#[derive(Debug, thiserror::Error)]
#[error("{key} refers to `${{{var}}}`, which is not set in wheelbuild's environment")]
pub struct AccessError {
    pub key: &'static str,
    pub var: String,
}

impl AccessError {
    pub fn hint(&self) -> String {
        format!(
            "export {} before running wheelbuild (its value is passed to the containers only)",
            self.var
        )
    }
}

/// Which kind of container is being started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Resolving an environment or installing it: needs the index.
    Packages,
    /// The build itself: `build.network = "none"` applies here.
    Build,
}

#[derive(Clone, Default)]
pub struct Access {
    network: Option<Network>,
    ca_certificates: Option<PathBuf>,
    /// `NAME=value` entries: CA variables, proxies, pip's index options (may hold secrets).
    env: Vec<String>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The environment can carry index credentials: names only.
        let names: Vec<&str> = self
            .env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n))
            .collect();
        f.debug_struct("Access")
            .field("network", &self.network)
            .field("ca_certificates", &self.ca_certificates)
            .field("env", &names)
            .finish()
    }
}

impl Access {
    /// The access of a command, from the config's settings and wheelbuild's environment.
    pub fn new(
        network: Network,
        ca_certificates: Option<&Path>,
        pip: &PipIndex,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Access, AccessError> {
        let mut env = Vec::new();
        if ca_certificates.is_some() {
            for name in ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"] {
                env.push(format!("{name}={CA_PATH}"));
            }
        }
        for name in PROXY_VARS {
            if let Some(value) = lookup(name).filter(|v| !v.is_empty()) {
                env.push(format!("{name}={value}"));
            }
        }
        let expand = |key, url: &str| expand(key, url, &lookup);
        if let Some(url) = &pip.index_url {
            env.push(format!("PIP_INDEX_URL={}", expand("pip.index-url", url)?));
        }
        let extra = join(&pip.extra_index_url, |u| expand("pip.extra-index-url", u))?;
        if !extra.is_empty() {
            env.push(format!("PIP_EXTRA_INDEX_URL={extra}"));
        }
        let links = join(&pip.find_links, |u| expand("pip.find-links", u))?;
        if !links.is_empty() {
            env.push(format!("PIP_FIND_LINKS={links}"));
        }
        Ok(Access {
            network: Some(network),
            ca_certificates: ca_certificates.map(Path::to_path_buf),
            env,
        })
    }

    /// The files every container gets: the CA bundle at [`CA_PATH`], sent into the
    /// created container (a host path means nothing to an engine on another machine).
    pub fn upload(&self) -> Upload {
        let mut upload = Upload::default();
        if let Some(path) = &self.ca_certificates {
            upload.file(path, CA_PATH);
        }
        upload
    }

    /// The environment every container gets.
    pub fn env(&self) -> &[String] {
        &self.env
    }

    /// Docker's network mode for `step` (`None`: the daemon's default bridge).
    pub fn network_mode(&self, step: Step) -> Option<String> {
        match (self.network, step) {
            (Some(Network::Host), _) => Some("host".into()),
            (Some(Network::None), Step::Build) => Some("none".into()),
            _ => None,
        }
    }
}

fn join(
    urls: &[String],
    f: impl Fn(&str) -> Result<String, AccessError>,
) -> Result<String, AccessError> {
    Ok(urls
        .iter()
        .map(|u| f(u))
        .collect::<Result<Vec<_>, _>>()?
        .join(" "))
}

/// `${NAME}` references replaced by their values from `lookup`, percent-encoded (`key`
/// names the setting in the error for an unset one).
pub(crate) fn expand(
    key: &'static str,
    url: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, AccessError> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        let value = lookup(var).ok_or_else(|| AccessError {
            key,
            var: var.to_string(),
        })?;
        // Credentials go into the URL's userinfo: percent-encode what would break it.
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "USER" => Some("ci".into()),
            "TOKEN" => Some("p@ss:w/rd".into()),
            "HTTPS_PROXY" => Some("http://proxy:3128".into()),
            _ => None,
        }
    }

    #[test]
    fn index_credentials_come_from_the_environment_encoded() {
        let pip = PipIndex {
            index_url: Some("https://${USER}:${TOKEN}@idx.example/simple".into()),
            extra_index_url: vec!["https://a/x".into(), "https://b/y".into()],
            find_links: vec![],
        };
        let a = Access::new(Network::Default, None, &pip, vars).unwrap();
        assert_eq!(
            a.env(),
            [
                "HTTPS_PROXY=http://proxy:3128",
                "PIP_INDEX_URL=https://ci:p%40ss%3Aw%2Frd@idx.example/simple",
                "PIP_EXTRA_INDEX_URL=https://a/x https://b/y",
            ]
        );
        // Debug output (logs, panics) never shows the values.
        let shown = format!("{a:?}");
        assert!(!shown.contains("p%40ss") && shown.contains("PIP_INDEX_URL"));
    }

    #[test]
    fn an_unset_variable_is_an_error_naming_it() {
        let pip = PipIndex {
            index_url: Some("https://${NOPE}@idx/simple".into()),
            ..PipIndex::default()
        };
        let e = Access::new(Network::Default, None, &pip, vars).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pip.index-url refers to `${NOPE}`, which is not set in wheelbuild's environment"
        );
    }

    #[test]
    fn ca_bundle_is_sent_and_named_by_the_three_variables() {
        let a = Access::new(
            Network::None,
            Some(Path::new("/etc/ssl/certs/ca-certificates.crt")),
            &PipIndex::default(),
            |_| None,
        )
        .unwrap();
        let mut expected = Upload::default();
        expected.file(Path::new("/etc/ssl/certs/ca-certificates.crt"), CA_PATH);
        assert_eq!(a.upload(), expected);
        assert_eq!(a.env().len(), 3);
        assert!(a.env().iter().all(|e| e.ends_with(CA_PATH)));
        assert_eq!(a.network_mode(Step::Build).as_deref(), Some("none"));
        assert_eq!(a.network_mode(Step::Packages), None);
    }
}
