//! Resolve environments: in a short-lived container of the **pinned** base image (so that
//! its Python, platform, markers and Debian release decide), ask apt and pip what they
//! would install, without installing it, and probe facts of the image.
//!
//! pip's answer is its installation report (`pip install --dry-run --ignore-installed
//! --report`): every distribution, transitive ones included, with the artifact's URL and
//! sha256 as the index gave them. apt's is its simulation (`apt-get install --simulate`):
//! every package with its version. The script is [`RESOLVE_SCRIPT`].

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::docker::access::{Access, Step};
use crate::docker::{ContainerConfig, DockerError, Engine, pull_pinned};
use crate::lock::{
    AptPin, EnvironmentInput, Facts, ImagePackage, LockedEnvironment, LockedImage, PipPin,
    Unavailable,
};
use crate::recipe::{PIP_ENV, RESOLVE_SCRIPT};
use crate::wheel::normalize_name;

/// Lines of output kept for an error message.
const TAIL: usize = 20;

/// The most of pip's words an unavailable environment keeps in the lock.
const MAX_PIP_WORDS: usize = 4096;

/// The most files pip skipped that an unavailable environment names.
const MAX_SKIPPED: usize = 20;

/// The most output a resolution may print: pip's report for torch and its CUDA libraries
/// is about 100 KB, apt's simulation a few KB per package.
const MAX_OUTPUT: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("the image has no apt-get, but apt packages are requested")]
    NoApt,
    #[error("apt cannot install the requested packages:\n{detail}")]
    Apt { detail: String, unavailable: bool },
    #[error("pip cannot resolve the requirements:\n{detail}")]
    Pip { detail: String, unavailable: bool },
    #[error("build requirement `{requirement}` is not met: {}", found.as_ref().map_or("the environment does not have it".to_string(), |v| format!("the environment has {v}")))]
    UnmetBuildRequirement {
        requirement: String,
        found: Option<String>,
    },
    #[error("`{}` {}; pip said:\n{}", .0.requirement, .0.reason, .0.pip)]
    Unpublished(Box<Unavailable>),
    #[error("the resolution's output is unreadable: {0}")]
    Output(String),
    #[error("`{name}` {version} comes from {url}, which pip gave no sha256 for")]
    NoHash {
        name: String,
        version: String,
        url: String,
    },
}

impl EnvError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            EnvError::Docker(e) => e.hint(),
            EnvError::NoApt => Some("remove `apt` from the project, or use a Debian-based image".into()),
            EnvError::Pip { unavailable: true, detail } | EnvError::Apt { unavailable: true, detail }
                if detail.contains("SSL") || detail.contains("CERTIFICATE") =>
            {
                Some("behind a TLS-intercepting proxy, set `[build] ca-certificates` to the proxy's CA bundle".into())
            }
            EnvError::Pip { unavailable: true, .. } | EnvError::Apt { unavailable: true, .. } => {
                Some("check the index settings (`[pip]`) and the network (`[build] network`, proxies)".into())
            }
            EnvError::Unpublished(_) => Some(
                "the index publishes nothing for this cell: drop it with `[matrix] exclude`, or set `[matrix] unavailable = \"record\"` to lock it as unavailable".into(),
            ),
            EnvError::Pip { detail, .. } if detail.contains("Could not fetch URL") => Some(
                "the index did not serve a page pip asked for (the `Could not fetch URL` line): check its URL and credentials (`[pip]`)".into(),
            ),
            EnvError::Pip { .. } => Some("fix the project's `pip` list or its `[build-system] requires`; pip's words are above".into()),
            EnvError::Apt { .. } => Some("fix the project's `apt` list; apt's words are above".into()),
            EnvError::NoHash { .. } => Some(
                "pin packages from an index (not a direct URL or a local path), which gives sha256s".into(),
            ),
            EnvError::UnmetBuildRequirement { .. } => Some(
                "the `pip` list pins a version the project cannot build with: change the `pip` list, or add the build requirement to it".into(),
            ),
            EnvError::Output(_) => None,
        }
    }

    pub(crate) fn is_user_error(&self) -> bool {
        match self {
            EnvError::Docker(_) | EnvError::Output(_) => false,
            EnvError::Apt { unavailable, .. } | EnvError::Pip { unavailable, .. } => !unavailable,
            EnvError::NoApt
            | EnvError::NoHash { .. }
            | EnvError::UnmetBuildRequirement { .. }
            | EnvError::Unpublished(_) => true,
        }
    }
}

/// What resolving needs beside the lock: the engine (connected on first use: a relock
/// with nothing to resolve starts no container) and how containers reach the index.
pub(crate) struct EnvContext<'a> {
    pub engine: &'a Engine,
    pub access: &'a Access,
    /// Where checkouts are kept, for the hooks of dynamic build requirements.
    pub sources: &'a std::path::Path,
}

/// Resolve environments that share `image` (its pin in the new lock), in one container:
/// the image's facts are probed once, apt's package lists fetched once, and pip's modules
/// compiled once for all of them. One result per environment, in order; the outer error
/// is the container's own (or apt's package lists'), common to all of them.
pub(crate) async fn resolve_group(
    ctx: &EnvContext<'_>,
    image: &LockedImage,
    envs: &[(&EnvironmentInput, String)],
) -> Result<Vec<Result<LockedEnvironment, EnvError>>, EnvError> {
    let text = run_group(ctx, image, envs).await?;
    let sections = sections(&text);
    Ok(envs
        .iter()
        .enumerate()
        .map(|(i, (input, from))| read_environment(&sections, i + 1, input, from.clone()))
        .collect())
}

/// Run the resolution script for `envs` and return what it printed.
async fn run_group(
    ctx: &EnvContext<'_>,
    image: &LockedImage,
    envs: &[(&EnvironmentInput, String)],
) -> Result<String, EnvError> {
    let base = pull_pinned(ctx.engine, image).await?;
    let mut cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        RESOLVE_SCRIPT.into(),
        "wheelbuild-resolve".into(),
    ];
    for (input, _) in envs {
        cmd.push(input.apt.join(" "));
        cmd.push(input.pip.join("\n"));
        cmd.push(input.build.join("\n"));
    }
    let config = ContainerConfig {
        image: base,
        platform: image.platform.clone(),
        cmd,
        env: PIP_ENV
            .into_iter()
            .map(String::from)
            .chain(ctx.access.env().iter().cloned())
            .collect(),
        user: Some("0:0".into()),
        binds: Vec::new(),
        volumes: Vec::new(),
        // The CA bundle, sent (the engine may be another machine).
        upload: ctx.access.upload(),
        network: ctx.access.network_mode(Step::Packages),
        gpu: false,
        labels: crate::docker::owner::labels("lock", &image.manifest_digest),
        hardened: false,
    };
    let digest = image.manifest_digest.trim_start_matches("sha256:");
    let name = format!(
        "wheelbuild-resolve-{}-{}",
        &digest[..12.min(digest.len())],
        std::process::id()
    );
    let (output, exit, overflow) = ctx.engine.run_capturing(&name, &config, MAX_OUTPUT).await?;
    if overflow {
        return Err(EnvError::Output(format!(
            "the resolution printed more than {} MiB",
            MAX_OUTPUT >> 20
        )));
    }
    let text = String::from_utf8_lossy(&output).into_owned();
    match exit {
        0 => Ok(text),
        90 => Err(EnvError::NoApt),
        91 => Err(EnvError::Apt {
            unavailable: true,
            detail: tail(&text),
        }),
        code => Err(EnvError::Output(format!(
            "the resolution exited with status {code}:\n{}",
            tail(&text)
        ))),
    }
}

/// Environment `n` (from 1) of a group's output.
fn read_environment(
    sections: &BTreeMap<&str, String>,
    n: usize,
    input: &EnvironmentInput,
    resolved_from: String,
) -> Result<LockedEnvironment, EnvError> {
    let part = |name: &str| sections.get(format!("{name}.{n}").as_str());
    if let Some(words) = part("apt-failed") {
        return Err(EnvError::Apt {
            unavailable: looks_unavailable(words),
            detail: tail(words),
        });
    }
    let facts = sections
        .get("facts")
        .map(|s| parse_facts(s))
        .unwrap_or_default();
    if let Some(words) = part("pip-failed") {
        let platform = input.image.platform.to_string();
        let skipped = part("pip-skipped").map_or("", String::as_str);
        let abi = facts.0.get("abi").unwrap_or(&platform);
        let Some(unavailable) = unpublished(words, skipped, abi, &input.pip) else {
            // The pages pip could not fetch say why (`401 Client Error: Unauthorized`).
            let refused: String = skipped
                .lines()
                .filter(|l| l.contains("Could not fetch URL"))
                .map(|l| format!("\n  {}", l.trim()))
                .collect();
            return Err(EnvError::Pip {
                unavailable: looks_unavailable(words),
                detail: tail(words) + &refused,
            });
        };
        return Ok(LockedEnvironment {
            unavailable: Some(unavailable),
            ..entry(input, resolved_from, facts)
        });
    }
    let debs = match part("apt") {
        Some(s) => parse_apt(s),
        None if input.apt.is_empty() => Vec::new(),
        None => return Err(EnvError::Output("no apt simulation".into())),
    };
    // Without pip requests, there is no report when the image satisfies every build
    // requirement.
    let packages = match part("pip") {
        Some(s) => parse_pip_report(s)?,
        None if input.pip.is_empty() => Vec::new(),
        None => return Err(EnvError::Output("no pip report".into())),
    };
    // What pip installs replaces the image's own copy.
    let mut from_image = part("image").map(|s| parse_image(s)).unwrap_or_default();
    from_image.retain(|i| !packages.iter().any(|p| p.name == i.name));
    let env = LockedEnvironment {
        packages,
        from_image,
        debs,
        ..entry(input, resolved_from, facts)
    };
    // A package the pip requests pin can still miss a build requirement the image met.
    if let Some(unmet) = crate::lock::requires::unmet(&input.build, &env, &env.platform) {
        return Err(EnvError::UnmetBuildRequirement {
            requirement: unmet.requirement,
            found: unmet.found,
        });
    }
    Ok(env)
}

/// The entry of `input` with nothing pinned yet.
fn entry(input: &EnvironmentInput, resolved_from: String, facts: Facts) -> LockedEnvironment {
    LockedEnvironment {
        image: input.image.reference.clone(),
        platform: input.image.platform.to_string(),
        pip: input.pip.clone(),
        apt: input.apt.clone(),
        build: input.build.clone(),
        resolved_from,
        facts,
        ..LockedEnvironment::default()
    }
}

/// Did pip fail because the index publishes nothing that fits the image (`for_tag`, its
/// ABI) rather than for any other reason? Yes when it found no distribution of a project
/// whose files it skipped for their tags or Requires-Python, or of one of the cell's own
/// `requests` (`torch==2.6.0` of `torch=={torch}`) in a version the index lacks, or when
/// it says the requests conflict. No when the index did not answer (the network, a page it
/// could not fetch: 401, 403, a server error), has no file of the project at all (a misspelt name), or
/// lacks a version the project itself asks for (its build requirements): those fail the
/// lock as before. `skipped` is pip's verbose `Skipping link: WHY: URL` and `Could not
/// fetch URL` lines.
fn unpublished(
    words: &str,
    skipped: &str,
    for_tag: &str,
    requests: &[String],
) -> Option<Unavailable> {
    // A 404 only says that one index has no such project (beside an extra index that has).
    let refused = skipped
        .lines()
        .any(|l| l.contains("Could not fetch URL") && !l.contains("404 Client Error"));
    if looks_unavailable(words) || looks_unavailable(skipped) || refused {
        return None;
    }
    let last = |marker: &str| {
        words.lines().rev().find_map(|l| {
            l.split_once(marker)
                .map(|(_, rest)| rest.trim().to_string())
        })
    };
    let files: Vec<String> = skipped
        .lines()
        .filter_map(skipped_file)
        .take(MAX_SKIPPED)
        .collect();
    let pip = |words: &str| {
        let mut text = tail(words);
        if !files.is_empty() {
            text.push_str("\n  pip skipped:\n");
            text.push_str(
                &files
                    .iter()
                    .map(|f| format!("    {f}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        bounded(text, MAX_PIP_WORDS)
    };
    if words.contains("ResolutionImpossible") {
        let causes: Vec<&str> = words
            .lines()
            .skip_while(|l| !l.contains("The conflict is caused by:"))
            .skip(1)
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect();
        return Some(Unavailable {
            requirement: bounded(causes.join("; "), 200),
            reason: format!("cannot be installed together in {for_tag}"),
            pip: pip(words),
        });
    }
    let requirement = last("No matching distribution found for ")?;
    let versions = last("(from versions: ")
        .map(|v| v.trim_end_matches(')').to_string())
        .filter(|v| v != "none");
    let ignored = words.contains("Ignored the following versions");
    let spelt = |r: &str| r.replace(' ', "").to_ascii_lowercase();
    let requested = requests.iter().any(|r| spelt(r) == spelt(&requirement));
    if !(ignored || !files.is_empty() || (versions.is_some() && requested)) {
        return None;
    }
    let reason = match versions {
        Some(v) => format!("has no wheel for {for_tag} (pip found {})", bounded(v, 200)),
        None => format!("has no wheel for {for_tag}"),
    };
    Some(Unavailable {
        requirement: bounded(requirement, 200),
        reason,
        pip: pip(words),
    })
}

/// `FILE: WHY` of pip's `Skipping link: WHY: URL`, for a distribution's file.
fn skipped_file(line: &str) -> Option<String> {
    let rest = line.split_once("Skipping link: ")?.1;
    let (why, url) = rest.match_indices(": ").find_map(|(i, _)| {
        let url = &rest[i + 2..];
        ["http://", "https://", "file:"]
            .iter()
            .any(|s| url.starts_with(s))
            .then_some((&rest[..i], url))
    })?;
    // Index pages (`not a file`) are no distributions.
    let file = url
        .split(['#', '?', ' '])
        .next()?
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty())?;
    Some(format!("{}: {why}", percent_decode(file)))
}

/// `text`, cut to at most `max` bytes (on a character boundary), marked when cut.
fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Does this failure come from the network rather than from the requests?
pub(super) fn looks_unavailable(text: &str) -> bool {
    [
        "NewConnectionError",
        "Connection refused",
        "Max retries exceeded",
        "Temporary failure in name resolution",
        "SSLError",
        "ProxyError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "Failed to fetch",
        "Could not resolve",
        "Unable to connect",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// The last lines of a container's output, markers left out.
pub(super) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("::wheelbuild"))
        .collect();
    lines[lines.len().saturating_sub(TAIL)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `::wheelbuild-begin:: NAME` … `::wheelbuild-end::` blocks, by name.
pub(super) fn sections(text: &str) -> BTreeMap<&str, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(&str, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("::wheelbuild-begin:: ") {
            current = Some((name.trim(), String::new()));
        } else if line.trim_end() == "::wheelbuild-end::" {
            if let Some((name, body)) = current.take() {
                out.insert(name, body);
            }
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

fn parse_facts(text: &str) -> Facts {
    Facts(
        text.lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// `name version` lines: build requirements the image satisfies.
fn parse_image(text: &str) -> Vec<ImagePackage> {
    let mut pins: Vec<ImagePackage> = text
        .lines()
        .filter_map(|l| {
            let (name, version) = l.trim().split_once(' ')?;
            Some(ImagePackage {
                name: normalize_name(name),
                version: version.trim().to_string(),
            })
        })
        .collect();
    pins.sort();
    pins.dedup();
    pins
}

/// `Inst NAME [OLD] (VERSION RELEASE [ARCH])` lines of `apt-get --simulate`.
fn parse_apt(text: &str) -> Vec<AptPin> {
    let mut pins: Vec<AptPin> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Inst ")?;
            let name = rest.split_whitespace().next()?;
            let version = rest.split_once('(')?.1.split_whitespace().next()?;
            Some(AptPin {
                name: name.to_string(),
                version: version.to_string(),
            })
        })
        .collect();
    pins.sort();
    pins.dedup();
    pins
}

/// pip's installation report (format version 1): one pin per distribution.
fn parse_pip_report(text: &str) -> Result<Vec<PipPin>, EnvError> {
    #[derive(Deserialize)]
    struct Report {
        version: String,
        install: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        metadata: Metadata,
        download_info: DownloadInfo,
    }
    #[derive(Deserialize)]
    struct Metadata {
        name: String,
        version: String,
    }
    #[derive(Deserialize)]
    struct DownloadInfo {
        url: String,
        #[serde(default)]
        archive_info: Option<ArchiveInfo>,
    }
    #[derive(Deserialize)]
    struct ArchiveInfo {
        #[serde(default)]
        hashes: BTreeMap<String, String>,
        #[serde(default)]
        hash: Option<String>,
    }
    let report: Report = serde_json::from_str(text.trim())
        .map_err(|e| EnvError::Output(format!("pip's report: {e}")))?;
    if report.version != "1" {
        return Err(EnvError::Output(format!(
            "pip's report has format version {}, this wheelbuild reads 1",
            report.version
        )));
    }
    let mut pins = Vec::with_capacity(report.install.len());
    for item in report.install {
        let sha256 = item.download_info.archive_info.as_ref().and_then(|a| {
            a.hashes.get("sha256").cloned().or_else(|| {
                a.hash
                    .as_deref()
                    .and_then(|h| h.strip_prefix("sha256="))
                    .map(str::to_string)
            })
        });
        let valid = |h: &String| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        let Some(sha256) = sha256.filter(valid) else {
            return Err(EnvError::NoHash {
                name: item.metadata.name,
                version: item.metadata.version,
                url: item.download_info.url,
            });
        };
        let url = item.download_info.url;
        let file = url
            .split(['#', '?'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default();
        let file = percent_decode(file);
        pins.push(PipPin {
            name: normalize_name(&item.metadata.name),
            version: item.metadata.version,
            file,
            sha256: sha256.to_ascii_lowercase(),
        });
    }
    pins.sort();
    Ok(pins)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_simulation_gives_every_package_with_its_version() {
        let text = "Reading package lists...\n\
            Inst libfoo1 (1.2-3 Debian:12.15/oldstable [amd64])\n\
            Inst ninja-build [1.10-1] (1.11.1-2~deb12u1 Debian:12.15/oldstable [amd64])\n\
            Conf ninja-build (1.11.1-2~deb12u1 Debian:12.15/oldstable [amd64])\n";
        assert_eq!(
            parse_apt(text),
            [
                AptPin {
                    name: "libfoo1".into(),
                    version: "1.2-3".into()
                },
                AptPin {
                    name: "ninja-build".into(),
                    version: "1.11.1-2~deb12u1".into()
                },
            ]
        );
    }

    #[test]
    fn pip_report_pins_name_version_file_and_sha256() {
        let report = r#"{"version": "1", "pip_version": "23.0.1", "install": [
          {"metadata": {"name": "Python_Dateutil", "version": "2.9.0.post0"},
           "download_info": {"url": "http://127.0.0.1:1/packages/python_dateutil-2.9.0.post0-py2.py3-none-any.whl#sha256=AB",
             "archive_info": {"hash": "sha256=a1a2a3a4a5a6a7a8a9b0b1b2b3b4b5b6b7b8b9c0c1c2c3c4c5c6c7c8c9d0d1d2"}}},
          {"metadata": {"name": "six", "version": "1.16.0"},
           "download_info": {"url": "https://files/six-1.16.0-py2.py3-none-any.whl",
             "archive_info": {"hashes": {"sha256": "1111111111111111111111111111111111111111111111111111111111111111"}}}}
        ]}"#;
        let pins = parse_pip_report(report).unwrap();
        assert_eq!(pins[0].name, "python-dateutil");
        assert_eq!(
            pins[0].file,
            "python_dateutil-2.9.0.post0-py2.py3-none-any.whl"
        );
        assert_eq!(pins[1].sha256, "1".repeat(64));
    }

    #[test]
    fn a_direct_reference_without_a_hash_cannot_be_pinned() {
        let report = r#"{"version": "1", "install": [
          {"metadata": {"name": "x", "version": "1"},
           "download_info": {"url": "file:///src/x", "dir_info": {}}}]}"#;
        let e = parse_pip_report(report).unwrap_err();
        assert!(matches!(e, EnvError::NoHash { .. }), "{e}");
    }

    const NO_SIX_17: &str = "ERROR: Could not find a version that satisfies the requirement six==1.17.0 (from versions: 1.16.0)\n\
        ERROR: No matching distribution found for six==1.17.0\n";

    #[test]
    fn no_distribution_for_the_image_is_unavailable_with_the_files_pip_skipped() {
        let skipped = "  Skipping link: not a file: http://127.0.0.1:1/simple/six/\n  \
            Skipping link: none of the wheel's tags (cp313-cp313-manylinux_2_17_x86_64) are compatible (run pip debug --verbose to show compatible tags): http://127.0.0.1:1/packages/six-1.17.0-cp313-cp313-manylinux_2_17_x86_64.whl#sha256=00\n";
        let u = unpublished(NO_SIX_17, skipped, "cp311", &[]).unwrap();
        assert_eq!(u.requirement, "six==1.17.0");
        assert_eq!(u.reason, "has no wheel for cp311 (pip found 1.16.0)");
        assert!(
            u.pip.ends_with(
                "\n  pip skipped:\n    six-1.17.0-cp313-cp313-manylinux_2_17_x86_64.whl: none of the wheel's tags (cp313-cp313-manylinux_2_17_x86_64) are compatible (run pip debug --verbose to show compatible tags)"
            ),
            "index pages are no files: {}",
            u.pip
        );
    }

    #[test]
    fn a_version_the_index_lacks_is_unavailable_for_the_cells_request_only() {
        let requests = ["six==1.17.0".to_string()];
        let u = unpublished(NO_SIX_17, "", "cp311", &requests).unwrap();
        assert_eq!(u.reason, "has no wheel for cp311 (pip found 1.16.0)");
        assert!(
            u.pip
                .ends_with("No matching distribution found for six==1.17.0"),
            "{}",
            u.pip
        );
        // A build requirement (or any other request) of a version nobody publishes is the
        // project's mistake, in every cell.
        assert_eq!(unpublished(NO_SIX_17, "", "cp311", &[]), None);
    }

    #[test]
    fn versions_for_another_python_only_are_unavailable() {
        let words = "ERROR: Ignored the following versions that require a different python version: 2.0 Requires-Python >=3.12\n\
            ERROR: Could not find a version that satisfies the requirement x==2.0 (from versions: none)\n\
            ERROR: No matching distribution found for x==2.0\n";
        let u = unpublished(words, "", "cp311", &[]).unwrap();
        assert_eq!(
            (u.requirement.as_str(), u.reason.as_str()),
            ("x==2.0", "has no wheel for cp311")
        );
    }

    #[test]
    fn requests_that_conflict_are_unavailable() {
        let words = "ERROR: Cannot install a==1 and b==2 because these package versions have conflicting dependencies.\n\n\
            The conflict is caused by:\n    The user requested a==1\n    b 2 depends on a>=2\n\n\
            To fix this you could try to:\n1. loosen the range of package versions you've specified\n\n\
            ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/\n";
        let u = unpublished(words, "", "cp311", &[]).unwrap();
        assert_eq!(
            u.requirement,
            "The user requested a==1; b 2 depends on a>=2"
        );
        assert_eq!(u.reason, "cannot be installed together in cp311");
    }

    #[test]
    fn what_the_index_did_not_answer_or_never_had_is_not_unavailable() {
        let none = "ERROR: Could not find a version that satisfies the requirement sixx (from versions: none)\n\
            ERROR: No matching distribution found for sixx\n";
        assert_eq!(unpublished(none, "", "cp311", &[]), None, "a misspelt name");
        let refused = "  Could not fetch URL http://127.0.0.1:1/simple/six/: 401 Client Error: Unauthorized for url: http://127.0.0.1:1/simple/six/ - skipping\n";
        assert_eq!(unpublished(none, refused, "cp311", &[]), None, "a 401");
        let skipped = "  Skipping link: none of the wheel's tags (cp313-cp313-linux_x86_64) are compatible: http://127.0.0.1:1/packages/six-1.17.0-cp313-cp313-linux_x86_64.whl\n";
        assert_eq!(
            unpublished(NO_SIX_17, &format!("{refused}{skipped}"), "cp311", &[]),
            None,
            "a 401 from one index while another skipped files"
        );
        let absent = refused.replace(
            "401 Client Error: Unauthorized",
            "404 Client Error: Not Found",
        );
        assert!(
            unpublished(NO_SIX_17, &format!("{absent}{skipped}"), "cp311", &[]).is_some(),
            "an extra index without the project"
        );
        let requests = ["six==1.17.0".to_string()];
        let down = format!(
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError('...: Connection refused')': /simple/six/\n{NO_SIX_17}"
        );
        assert_eq!(
            unpublished(&down, "", "cp311", &requests),
            None,
            "the network"
        );
        let other = "ERROR: Invalid requirement: 'six=='\n";
        assert_eq!(unpublished(other, "", "cp311", &[]), None);
    }

    #[test]
    fn bounded_cuts_on_a_character_boundary() {
        assert_eq!(bounded("héllo".into(), 2), "h…");
        assert_eq!(bounded("hello".into(), 5), "hello");
    }

    #[test]
    fn sections_are_read_between_markers() {
        let text =
            "noise\n::wheelbuild-begin:: facts\npython=3.11.2\ngcc=\n::wheelbuild-end::\nmore\n";
        let s = sections(text);
        let facts = parse_facts(&s["facts"]);
        assert_eq!(facts.0.len(), 1, "empty values are left out");
        assert_eq!(facts.0["python"], "3.11.2");
    }
}
