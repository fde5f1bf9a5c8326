//! `[[engine]]`: the Docker engines builds run on, checked once. Where a target may build
//! (its platform, whether it needs a GPU) is checked against them at config time, so a
//! target no engine can build is an error before anything starts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::model::{Config, EngineSpec, Runs};
use super::syntax::EngineTable;
use super::validate::{Ctx, token_problem, truncated};
use crate::diag::list;
use crate::platform::Platform;

/// The declared engines; empty: the one engine `DOCKER_HOST` names.
pub(super) fn engines(
    ctx: &Ctx<'_>,
    declared: &[EngineTable],
    root: &Path,
    emulate: bool,
) -> Result<Vec<EngineSpec>, ConfigError> {
    let mut engines = Vec::new();
    let mut names = BTreeSet::new();
    for e in declared {
        let name = e.name.get_ref();
        if let Some(problem) = token_problem(name) {
            return Err(ctx.err(
                e.name.span(),
                format!("invalid engine name `{}`", truncated(name)),
                Some(format!("{problem}; e.g. `gpu1`")),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(ctx.err(
                e.name.span(),
                format!("engine `{name}` is declared twice"),
                Some("engine names must be unique".into()),
            ));
        }
        let host = e.host.get_ref();
        let scheme = host.split_once("://").map(|(s, _)| s);
        let tls = match (scheme, &e.tls) {
            (Some("tcp"), Some(dir)) => Some(tls_dir(ctx, root, dir)?),
            (Some("tcp"), None) => {
                return Err(ctx.err(
                    e.host.span(),
                    format!("engine `{name}` is reached over tcp:// without `tls`"),
                    Some("a Docker engine over plain TCP gives root to anyone who reaches it: give `tls = \"DIR\"` with ca.pem, cert.pem and key.pem, or use ssh://".into()),
                ));
            }
            (Some("ssh"), None) if ssh_port(host).is_some() => {
                return Err(ctx.err(
                    e.host.span(),
                    format!(
                        "engine `{name}`: ssh:// with a port (`{}`) does not reach ssh as one",
                        truncated(host)
                    ),
                    Some(format!(
                        "the ssh transport hands `user@host:port` to `ssh` as the host name: give the machine a `Host` entry in ~/.ssh/config with `Port {}` and name that (`ssh://builder@gpu1`)",
                        ssh_port(host).unwrap_or_default()
                    )),
                ));
            }
            (Some("unix" | "ssh"), None) => None,
            (Some("unix" | "ssh"), Some(dir)) => {
                return Err(ctx.err(
                    dir.span(),
                    format!(
                        "`tls` is for tcp:// engines, and `{name}` is {}",
                        truncated(host)
                    ),
                    None,
                ));
            }
            _ => {
                return Err(ctx.err(
                    e.host.span(),
                    format!("engine host `{}` is not unix://, ssh:// or tcp://", truncated(host)),
                    Some("e.g. `unix:///var/run/docker.sock`, `ssh://builder@gpu1`, `tcp://gpu1:2376`".into()),
                ));
            }
        };
        let jobs = match &e.jobs {
            Some(j) if *j.get_ref() == 0 => {
                return Err(ctx.err(j.span(), "jobs must be at least 1", None));
            }
            Some(j) => Some(*j.get_ref() as usize),
            None => None,
        };
        let platforms = match &e.platforms {
            None => vec![Platform::parse("linux/amd64").expect("a valid platform")],
            Some(list) => {
                let mut out = Vec::new();
                for p in list {
                    out.push(Platform::parse(p.get_ref()).map_err(|detail| {
                        ctx.err(
                            p.span(),
                            format!("invalid platform `{}`: {detail}", truncated(p.get_ref())),
                            Some("`os/arch[/variant]`, e.g. `linux/amd64`".into()),
                        )
                    })?);
                }
                out
            }
        };
        engines.push(EngineSpec {
            name: name.clone(),
            host: host.clone(),
            jobs,
            gpu: e.gpu,
            platforms,
            emulate: e.emulate.unwrap_or(emulate),
            tls,
            location: ctx.location(e.name.span()),
        });
    }
    Ok(engines)
}

/// A TLS directory: it must hold the three PEM files a client needs.
fn tls_dir(
    ctx: &Ctx<'_>,
    root: &Path,
    dir: &toml::Spanned<String>,
) -> Result<PathBuf, ConfigError> {
    let path = root.join(dir.get_ref());
    let missing: Vec<&str> = ["ca.pem", "cert.pem", "key.pem"]
        .into_iter()
        .filter(|f| !path.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(path);
    }
    Err(ctx.err(
        dir.span(),
        format!(
            "the TLS directory `{}` lacks {}",
            truncated(dir.get_ref()),
            list(&missing)
        ),
        Some("it holds the engine's CA (ca.pem) and this client's certificate and key (cert.pem, key.pem), as DOCKER_CERT_PATH does".into()),
    ))
}

/// Every target can be built by some engine of the pool: one serving its platform, with
/// a GPU when the project needs one.
pub(super) fn check_engines_serve(ctx: &Ctx<'_>, config: &Config) -> Result<(), ConfigError> {
    let engines = &config.settings.engines;
    if engines.is_empty() {
        return Ok(());
    }
    for t in &config.targets {
        let gpu = config.project_of(t).gpu;
        if engines.iter().any(|e| e.serves(&t.image.platform, gpu)) {
            continue;
        }
        // A GPU is the project's need, a platform the image's.
        let location = if gpu {
            config.project_of(t).ref_location.clone()
        } else {
            config
                .image_origins
                .get(&*t.image)
                .cloned()
                .unwrap_or_else(|| ctx.location(0..0))
        };
        let (what, remedy) = if gpu {
            (
                format!("a GPU engine for {}", t.image.platform),
                "add one (`[[engine]]` with `gpu = true` or `platforms`)",
            )
        } else {
            (
                format!("an engine for {}", t.image.platform),
                "add one (`[[engine]]` with `platforms`), let one run it under qemu-user-static (`emulate = true`)",
            )
        };
        return Err(ConfigError::Invalid {
            message: format!("no engine can build {}: it needs {what}", t.id),
            location: Some(Box::new(location)),
            hint: Some(format!(
                "the engines are {}; {remedy}, or restrict the project",
                engines
                    .iter()
                    .map(|e| format!(
                        "`{}` ({}{})",
                        e.name,
                        e.platforms
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if e.gpu { ", gpu" } else { "" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    Ok(())
}

/// The platform of this machine: the one the default engine (`DOCKER_HOST`, no
/// `[[engine]]`) is taken to run natively. An engine of another architecture is declared
/// with `[[engine]] platforms`.
pub fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "x86" => "386",
        other => other,
    };
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    }
}

impl Config {
    /// With no `[[engine]]`, every target's platform is one the default engine runs: this
    /// machine's, or any other with `[build] emulate`. Checked when planning, not when
    /// locking: a lock starts no container for a cell without an environment to resolve.
    pub fn check_default_engine(&self) -> Result<(), ConfigError> {
        if !self.settings.engines.is_empty() {
            return Ok(());
        }
        let host = host_platform();
        let Some(t) = self.targets.iter().find(|t| {
            Runs::of(
                std::slice::from_ref(&host),
                self.settings.build.emulate,
                &t.image.platform,
            )
            .is_none()
        }) else {
            return Ok(());
        };
        Err(ConfigError::Invalid {
            message: format!(
                "no engine can build {}: it needs an engine for {}, and the default engine runs {host}",
                t.id, t.image.platform
            ),
            location: self.image_origins.get(&*t.image).cloned().map(Box::new),
            hint: Some(format!(
                "set `[build] emulate = true` to run it under qemu-user-static (registered with binfmt_misc on the engine's machine: `apt-get install qemu-user-static`), or declare an `[[engine]]` with `platforms = [\"{}\"]`",
                t.image.platform
            )),
        })
    }
}

/// The port of an `ssh://[user@]host:port` URL, if it has one.
fn ssh_port(host: &str) -> Option<&str> {
    let rest = host.strip_prefix("ssh://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (_, port) = host.rsplit_once(':')?;
    // `[::1]` style addresses end in `]`, not a port.
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

#[cfg(test)]
mod tests {
    use super::ssh_port;

    #[test]
    fn ssh_port_is_found_after_the_host_only() {
        assert_eq!(ssh_port("ssh://builder@gpu1:2222"), Some("2222"));
        assert_eq!(ssh_port("ssh://gpu1:22"), Some("22"));
        assert_eq!(ssh_port("ssh://builder@gpu1"), None);
        assert_eq!(ssh_port("ssh://gpu1"), None);
        assert_eq!(ssh_port("ssh://[::1]"), None);
        assert_eq!(ssh_port("ssh://b@[fe80::1]:2200"), Some("2200"));
    }
}
