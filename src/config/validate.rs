//! Checks of the raw syntax, each error with the file, line and column of the offending
//! value and a hint. Names that become path components (project names, axis values, the
//! cache channel) are checked here once, so no later stage meets a name it cannot use as
//! a file name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::ConfigError;
use super::model::{
    Cell, ConfigSettings, ConfigWarning, GitInput, NetworkTimeouts, Project, ProjectRepair,
};
use super::syntax::{ConfigFile, ProjectTable, RepairTool, SettingValues};
use super::template::{self, TemplateError, Vars};
use crate::accel::Accel;
use crate::diag::{LineIndex, Location, did_you_mean, list};

/// Longest project name or axis value: they become path components (logs, store entries,
/// wheelhouse directories), and a file name has at most 255 bytes.
pub(crate) const MAX_NAME: usize = 64;

/// Longest cell name (`py3.11-cuda12.4-torch2.4.0-tier=1`), with room left in a 255-byte
/// file name for suffixes such as `.verify.log`.
pub(crate) const MAX_CELL_NAME: usize = 200;

/// Axes with built-in meaning, in the order they appear in target ids.
pub(super) const BUILTIN_AXES: [&str; 3] = ["python", "cuda", "torch"];

/// Template variables derived from axes; user axes may not reuse these names.
pub(super) const DERIVED_VARS: [&str; 6] =
    ["py", "accel", "variant", "rocm", "platform", "project"];

/// The config text, for turning spans into locations.
pub(super) struct Ctx<'a> {
    pub path: &'a Path,
    pub src: &'a str,
    lines: LineIndex,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(path: &'a Path, src: &'a str) -> Self {
        Ctx {
            path,
            src,
            lines: LineIndex::new(src),
        }
    }

    pub(crate) fn location(&self, span: Range<usize>) -> Location {
        self.lines.locate(self.path, self.src, span)
    }

    /// A warning at `span`: the config is valid, but likely not what was meant.
    pub(crate) fn warning(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ConfigWarning {
        ConfigWarning {
            message: message.into(),
            location: self.location(span),
            hint,
        }
    }

    pub(crate) fn err(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            message: message.into(),
            location: Some(Box::new(self.location(span))),
            hint,
        }
    }

    /// Turn a TOML/serde error into ours, adding a "did you mean" for unknown keys.
    pub(crate) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim().to_string();
        let hint = toml_hint(&message);
        let message = message
            .split_once(", expected")
            .map_or(message.as_str(), |(m, _)| m)
            .to_string();
        ConfigError::Invalid {
            message,
            location: e.span().map(|s| Box::new(self.location(s))),
            hint,
        }
    }
}

/// Hints for serde's messages: `unknown field `reff`, expected one of `a`, `b``.
fn toml_hint(message: &str) -> Option<String> {
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for what in ["unknown field", "unknown variant"] {
        if let Some(rest) = message.strip_prefix(what) {
            let names = ticked(rest);
            let (unknown, expected) = names.split_first()?;
            if unknown == "verify" && expected.iter().any(|e| e == "toolchain-check") {
                return Some(
                    "`verify` is now `toolchain-check` (`wheelbuild verify` is the reproducibility check)"
                        .into(),
                );
            }
            return Some(
                match did_you_mean(unknown, expected.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of {}", list(expected)),
                },
            );
        }
    }
    if let Some(rest) = message.strip_prefix("missing field") {
        let names = ticked(rest);
        return names
            .first()
            .map(|f| format!("add `{f} = ...` to this table"));
    }
    None
}

/// A user axis value, a project name or a channel: safe in ids and as a path component.
pub(crate) fn token_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        Some("it is empty".into())
    } else if s.len() > MAX_NAME {
        Some(format!(
            "it has {} characters; names become file names, at most {MAX_NAME}",
            s.chars().count()
        ))
    } else if s.starts_with(['.', '-']) {
        Some("it must not start with `.` or `-`".into())
    } else if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    {
        Some("use letters, digits, `.`, `_`, `+` and `-` only".into())
    } else {
        None
    }
}

/// A project name: a token, without `+`.
fn project_name_problem(name: &str) -> Option<String> {
    token_problem(name).or_else(|| {
        name.contains('+')
            .then(|| "use letters, digits, `.`, `_` and `-`".to_string())
    })
}

/// A target id as the config makes them, `<project>/<cell>` (a project name, then axis
/// values and `axis=value` pairs joined by `-`): a safe relative path wherever it names a
/// file (`targets/<project>/<cell>.json` in the store).
pub(crate) fn target_problem(id: &str) -> Option<String> {
    let Some((project, cell)) = id.split_once('/') else {
        return Some("it is not `project/cell`".into());
    };
    if let Some(problem) = project_name_problem(project) {
        return Some(format!("its project name: {problem}"));
    }
    if cell.is_empty() || cell.len() > MAX_CELL_NAME {
        Some(format!("its cell name has {} characters", cell.len()))
    } else if cell.starts_with(['.', '-']) {
        Some("its cell name starts with `.` or `-`".into())
    } else if !cell
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'='))
    {
        Some("its cell name has characters no axis value has".into())
    } else {
        None
    }
}

/// A matrix axis, its values in declaration order.
pub(super) struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// Checks over the raw file, and its templates expanded with errors that point into it.
pub(super) struct Validator<'a> {
    pub ctx: Ctx<'a>,
    pub file: &'a ConfigFile,
}

impl Validator<'_> {
    pub(crate) fn axes(&self) -> Result<Vec<Axis>, ConfigError> {
        let m = self.file.matrix.get_ref();
        let mut axes = Vec::new();
        let builtin = [
            ("python", Some(&m.python)),
            ("cuda", m.cuda.as_ref()),
            ("torch", m.torch.as_ref()),
        ];
        for (name, values) in builtin {
            let Some(values) = values else {
                if name == "cuda" {
                    axes.push(Axis {
                        name: "cuda".into(),
                        values: vec!["cpu".into()],
                    });
                }
                continue;
            };
            axes.push(self.axis(name, values)?);
        }
        for (name, values) in &m.axes {
            let n = name.get_ref();
            if BUILTIN_AXES.contains(&n.as_str()) || DERIVED_VARS.contains(&n.as_str()) {
                return Err(self.ctx.err(
                    name.span(),
                    format!("`{n}` is reserved and cannot be a user axis"),
                    Some(if BUILTIN_AXES.contains(&n.as_str()) {
                        format!("declare it as `matrix.{n}` instead")
                    } else {
                        format!("`{{{n}}}` is a derived template variable; pick another name")
                    }),
                ));
            }
            if !n.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                || n.len() > MAX_NAME
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(self.ctx.err(
                    name.span(),
                    format!("invalid axis name `{n}`"),
                    Some(format!(
                        "axis names are lowercase letters, digits and `_` (at most {MAX_NAME}), e.g. `tier`"
                    )),
                ));
            }
            axes.push(self.axis(n, values)?);
        }
        Ok(axes)
    }

    fn axis(
        &self,
        name: &str,
        values: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<Axis, ConfigError> {
        if values.get_ref().is_empty() {
            return Err(self.ctx.err(
                values.span(),
                format!("axis `{name}` has no values"),
                Some("give at least one value, or remove the axis".into()),
            ));
        }
        let mut seen = BTreeSet::new();
        for v in values.get_ref() {
            self.check_axis_value(name, v)?;
            if !seen.insert(v.get_ref().clone()) {
                return Err(self.ctx.err(
                    v.span(),
                    format!("value `{}` appears twice in axis `{name}`", v.get_ref()),
                    None,
                ));
            }
        }
        Ok(Axis {
            name: name.to_string(),
            values: values
                .get_ref()
                .iter()
                .map(|v| v.get_ref().clone())
                .collect(),
        })
    }

    pub(crate) fn check_axis_value(
        &self,
        axis: &str,
        value: &Spanned<String>,
    ) -> Result<(), ConfigError> {
        let v = value.get_ref();
        let problem = match axis {
            "python" => {
                let ok = v.len() <= 16
                    && v.split_once('.').is_some_and(|(a, b)| {
                        !a.is_empty()
                            && !b.is_empty()
                            && a.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    });
                (!ok).then(|| {
                    let short: Vec<&str> = v.splitn(3, '.').take(2).collect();
                    format!(
                        "Python versions are `major.minor`, as in wheel tags (e.g. `{}`)",
                        if short.len() == 2 && short.iter().all(|p| p.len() <= 4) {
                            short.join(".")
                        } else {
                            "3.11".into()
                        }
                    )
                })
            }
            "cuda" => Accel::parse(v).err(),
            _ => token_problem(v),
        };
        match problem {
            Some(hint) => Err(self.ctx.err(
                value.span(),
                format!("invalid value `{}` for axis `{axis}`", truncated(v)),
                Some(hint),
            )),
            None => Ok(()),
        }
    }

    /// Check an `axis = value` filter (exclude, select, project exclude) against the axes
    /// and the values each axis takes.
    pub(crate) fn check_filter(
        &self,
        filter: &BTreeMap<Spanned<String>, Spanned<String>>,
        axes: &[Axis],
        known_values: &BTreeMap<&str, BTreeSet<&str>>,
    ) -> Result<(), ConfigError> {
        for (axis, value) in filter {
            let axis_name = axis.get_ref().as_str();
            let Some(values) = known_values.get(axis_name) else {
                return Err(self.unknown_axis(axis, axes));
            };
            if !values.contains(value.get_ref().as_str()) {
                return Err(self.not_a_value(value, axis_name, values));
            }
        }
        Ok(())
    }

    pub(crate) fn not_a_value(
        &self,
        value: &Spanned<String>,
        axis: &str,
        values: &BTreeSet<&str>,
    ) -> ConfigError {
        self.ctx.err(
            value.span(),
            format!(
                "`{}` is not a value of axis `{axis}`",
                truncated(value.get_ref())
            ),
            Some(
                match did_you_mean(value.get_ref(), values.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the axis has {}", list(values)),
                },
            ),
        )
    }

    pub(crate) fn unknown_axis(&self, axis: &Spanned<String>, axes: &[Axis]) -> ConfigError {
        let names = axes.iter().map(|a| a.name.as_str());
        self.ctx.err(
            axis.span(),
            format!("unknown axis `{}`", truncated(axis.get_ref())),
            Some(match did_you_mean(axis.get_ref(), names.clone()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the matrix has axes {}", list(names)),
            }),
        )
    }

    pub(crate) fn project(&self, table: &ProjectTable) -> Result<Project, ConfigError> {
        let name = table.name.get_ref();
        if let Some(problem) = project_name_problem(name) {
            return Err(self.ctx.err(
                table.name.span(),
                format!("invalid project name `{}`", truncated(name)),
                Some(problem),
            ));
        }
        let url = table.git.get_ref();
        if url.trim().is_empty() || url.trim() != url {
            return Err(self.ctx.err(
                table.git.span(),
                "invalid git URL",
                Some("give an https, ssh, git, file:// URL or a local path".into()),
            ));
        }
        if let Some(r) = &table.reference {
            let r_str = r.get_ref();
            if r_str.is_empty()
                || r_str.contains(char::is_whitespace)
                || r_str.contains("..")
                || r_str.starts_with('-')
            {
                return Err(self.ctx.err(
                    r.span(),
                    format!("invalid git ref `{}`", truncated(r_str)),
                    Some("give a branch, a tag, or a commit SHA".into()),
                ));
            }
        }
        let subdir = match &table.subdir {
            Some(s) => {
                let p = Path::new(s.get_ref());
                let bad = s.get_ref().is_empty()
                    || p.is_absolute()
                    || p.components()
                        .any(|c| !matches!(c, std::path::Component::Normal(_)));
                if bad {
                    return Err(self.ctx.err(
                        s.span(),
                        format!("invalid subdir `{}`", truncated(s.get_ref())),
                        Some("a relative path inside the repository, without `..`".into()),
                    ));
                }
                Some(s.get_ref().trim_end_matches('/').to_string())
            }
            None => None,
        };
        let ref_span = table
            .reference
            .as_ref()
            .map_or(table.git.span(), |r| r.span());
        Ok(Project {
            name: name.clone(),
            git: GitInput {
                url: url.clone(),
                reference: table.reference.as_ref().map(|r| r.get_ref().clone()),
            },
            subdir,
            gpu: table.gpu,
            build_isolation: table.build_isolation,
            config_settings: self.config_settings(table)?,
            ref_location: self.ctx.location(ref_span),
            repair: self.repair(table)?,
            variant: None,
        })
    }

    /// `config-settings`: names pip can pass (`NAME=VALUE`: no `=` in a name), values on
    /// one line, a list of at least one value.
    fn config_settings(&self, table: &ProjectTable) -> Result<ConfigSettings, ConfigError> {
        let mut settings = ConfigSettings::new();
        for (name, values) in &table.config_settings {
            let name_str = name.get_ref();
            if name_str.is_empty()
                || name_str.contains('=')
                || name_str
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(self.ctx.err(
                    name.span(),
                    format!("invalid config setting name `{}`", truncated(name_str)),
                    Some(
                        "a name without `=`, spaces or control characters, e.g. `build-dir`".into(),
                    ),
                ));
            }
            let list = match values.get_ref() {
                SettingValues::One(v) => vec![v.clone()],
                SettingValues::Many(v) => v.clone(),
            };
            if list.is_empty() || list.iter().any(|v| v.chars().any(char::is_control)) {
                return Err(self.ctx.err(
                    values.span(),
                    format!("invalid value of config setting `{name_str}`"),
                    Some("a string or a non-empty list of strings, each on one line".into()),
                ));
            }
            settings.insert(name_str.clone(), list);
        }
        Ok(settings)
    }

    /// `repair` and `repair-exclude`: the project's, else the top level's; auditwheel
    /// unless set to `none`. Excludes add up (top level, then the project's).
    fn repair(&self, table: &ProjectTable) -> Result<Option<ProjectRepair>, ConfigError> {
        let tool = table
            .repair
            .as_ref()
            .or(self.file.repair.as_ref())
            .map_or(RepairTool::Auditwheel, |t| *t.get_ref());
        let mut declared = Vec::new();
        for pattern in self.file.repair_exclude.iter().chain(&table.repair_exclude) {
            if let Err(hint) = crate::wheel::repair::check_pattern(pattern.get_ref()) {
                return Err(self.ctx.err(
                    pattern.span(),
                    format!("invalid repair-exclude `{}`", truncated(pattern.get_ref())),
                    Some(hint),
                ));
            }
            declared.push(pattern.get_ref().clone());
        }
        Ok(match tool {
            RepairTool::None => None,
            RepairTool::Auditwheel => Some(ProjectRepair::new(declared)),
        })
    }

    /// A `test-sources` entry: a relative path inside the repository, without `..`.
    pub(crate) fn test_source(&self, path: &Spanned<String>) -> Result<String, ConfigError> {
        let value = path.get_ref();
        let p = Path::new(value);
        let bad = value.is_empty()
            || p.is_absolute()
            || p.components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)));
        if bad {
            return Err(self.ctx.err(
                path.span(),
                format!("invalid test-sources entry `{}`", truncated(value)),
                Some("a relative path inside the repository, without `..`, e.g. `tests`".into()),
            ));
        }
        Ok(value.trim_end_matches('/').to_string())
    }

    /// A `test-skip` entry: a non-empty `reason` and at least one axis of the matrix;
    /// its reason.
    pub(crate) fn test_skip(
        &self,
        entry: &super::syntax::AxisValues,
        cell: &crate::config::Cell,
    ) -> Result<String, ConfigError> {
        let map = entry.get_ref();
        let reason = map
            .iter()
            .find(|(k, _)| *k.get_ref() == "reason")
            .map(|(_, v)| v.get_ref().trim())
            .filter(|r| !r.is_empty());
        let Some(reason) = reason else {
            return Err(self.ctx.err(
                entry.span(),
                "a test-skip entry without a `reason`",
                Some(
                    "say why, e.g. `{ python = \"3.13\", reason = \"no numpy wheel yet\" }`".into(),
                ),
            ));
        };
        for (axis, _) in map.iter().filter(|(k, _)| *k.get_ref() != "reason") {
            if !cell.values.iter().any(|(a, _)| a == axis.get_ref()) {
                return Err(self.ctx.err(
                    axis.span(),
                    format!("test-skip names `{}`, which is not an axis", truncated(axis.get_ref())),
                    Some("name matrix axes (`python`, `cuda`, `torch` or a user axis) and a `reason`".into()),
                ));
            }
        }
        if map.len() < 2 {
            return Err(self.ctx.err(
                entry.span(),
                "a test-skip entry that names no axis",
                Some("give the axis values of the cells to skip, e.g. `python = \"3.13\"`".into()),
            ));
        }
        Ok(reason.to_string())
    }

    /// The cache channel: a path component under the cache directory.
    pub(crate) fn channel(&self, channel: &Spanned<String>) -> Result<String, ConfigError> {
        let value = channel.get_ref();
        match token_problem(value) {
            None => Ok(value.clone()),
            Some(problem) => Err(self.ctx.err(
                channel.span(),
                format!("invalid cache channel `{}`", truncated(value)),
                Some(format!(
                    "{problem}; channels are names such as `ci`, `nightly`, `release`"
                )),
            )),
        }
    }

    /// `[cache] remote`: a URL of a kind ccache's remote storage reads, whose literal part
    /// can add nothing to the ccache settings it is written into (`|` starts ccache's own
    /// attributes, a line break another setting; `${VAR}` values are percent-encoded).
    pub(crate) fn compiler_cache(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = &self.file.cache.remote else {
            return Ok(None);
        };
        let value = url.get_ref();
        let scheme_ok = ["redis://", "http://"]
            .iter()
            .any(|s| value.starts_with(s) && value.len() > s.len());
        if !scheme_ok || value.contains(|c: char| c == '|' || c.is_whitespace() || c.is_control()) {
            return Err(self.ctx.err(
                url.span(),
                format!(
                    "cache.remote `{}` is not a compiler cache URL",
                    truncated(value)
                ),
                Some(
                    "e.g. `redis://${CACHE_USER}:${CACHE_PASSWORD}@cache.example:6379` or \
                     `http://cache.example/ccache` (no spaces, no `|`)"
                        .into(),
                ),
            ));
        }
        Ok(Some(value.clone()))
    }

    /// `[network]`: timeouts are at least a second (0 would give up before anything is
    /// sent).
    pub(crate) fn network(&self) -> Result<NetworkTimeouts, ConfigError> {
        let n = &self.file.network;
        let mut out = NetworkTimeouts::default();
        for (key, value, slot) in [
            ("connect-timeout", &n.connect_timeout, &mut out.connect),
            ("request-timeout", &n.request_timeout, &mut out.request),
            ("fetch-timeout", &n.fetch_timeout, &mut out.fetch),
        ] {
            let Some(v) = value else { continue };
            if *v.get_ref() == 0 {
                return Err(self.ctx.err(
                    v.span(),
                    format!("network.{key} must be at least 1 second"),
                    Some(format!("give whole seconds, e.g. `{key} = 60`")),
                ));
            }
            *slot = Some(std::time::Duration::from_secs(*v.get_ref()));
        }
        Ok(out)
    }

    /// `build.ca-certificates`: a file that exists now (a typo found at the first TLS
    /// handshake inside a container would be far from its cause).
    pub(crate) fn ca_certificates(
        &self,
        root: &std::path::Path,
    ) -> Result<Option<std::path::PathBuf>, ConfigError> {
        let Some(value) = &self.file.build.ca_certificates else {
            return Ok(None);
        };
        let path = root.join(value.get_ref());
        if path.is_file() {
            return Ok(Some(path));
        }
        Err(self.ctx.err(
            value.span(),
            format!(
                "the CA bundle `{}` is not a file on this machine",
                truncated(value.get_ref())
            ),
            Some("give a PEM bundle such as `/etc/ssl/certs/ca-certificates.crt`".into()),
        ))
    }

    /// `[pip]`: http(s) URLs without credentials (`${VAR}` references to the environment
    /// carry those, so they never reach the lock).
    /// `[remote]`: a `registry/repository` URL and keys that parse.
    pub(crate) fn remote(
        &self,
        root: &std::path::Path,
    ) -> Result<super::model::RemoteSettings, ConfigError> {
        let r = &self.file.remote;
        let url = match &r.url {
            Some(u) => {
                let url = u.get_ref().trim_end_matches('/');
                let bad = url.contains("://") || !url.contains('/') || url.contains('@');
                if bad || crate::oci::reference::parse(&format!("{url}:probe")).is_err() {
                    return Err(self.ctx.err(
                        u.span(),
                        format!(
                            "remote.url `{}` is not `registry[:port]/repository`",
                            truncated(url)
                        ),
                        Some(
                            "e.g. `registry.example.com/team/wheelbuild-cache` (no scheme, no tag)"
                                .into(),
                        ),
                    ));
                }
                Some(url.to_string())
            }
            None => None,
        };
        for key in &r.trusted_keys {
            if let Err(e) = crate::sign::TrustedKeys::parse([key.get_ref().as_str()]) {
                return Err(self.ctx.err(
                    key.span(),
                    format!("remote.trusted-keys: {e}"),
                    Some(
                        "list public keys as `wheelbuild key generate` prints them: `NAME:BASE64`"
                            .into(),
                    ),
                ));
            }
        }
        let sign_with = r.sign_with.as_ref().map(|p| (p, root.join(p.get_ref())));
        // Checked here when it is on this machine (a CI job that only plans or pulls has no
        // secret): a public key signs nothing anyone can verify.
        if let Some((value, path)) = &sign_with
            && let Ok(text) = std::fs::read_to_string(path)
            && let Err(e) = crate::sign::SecretKey::parse(&text, Path::new(value.get_ref()))
        {
            return Err(self.ctx.err(
                value.span(),
                format!("remote.sign-with: {e}"),
                Some(e.hint()),
            ));
        }
        Ok(super::model::RemoteSettings {
            url,
            push: r.push,
            sign_with: sign_with.map(|(_, path)| path),
            trusted_keys: r.trusted_keys.iter().map(|k| k.get_ref().clone()).collect(),
        })
    }

    pub(crate) fn pip_index(&self) -> Result<super::model::PipIndex, ConfigError> {
        let p = &self.file.pip;
        let check = |key: &str, v: &Spanned<String>| -> Result<String, ConfigError> {
            let url = v.get_ref();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let Some(rest) = rest.filter(|r| !r.is_empty()) else {
                return Err(self.ctx.err(
                    v.span(),
                    format!("pip.{key} `{}` is not an http(s) URL", truncated(url)),
                    Some("e.g. `https://download.pytorch.org/whl/cu118`".into()),
                ));
            };
            let authority = rest.split('/').next().unwrap_or_default();
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && !authority.contains("${")
            {
                let mut err = self.ctx.err(
                    v.span(),
                    format!("pip.{key} has credentials written into it"),
                    Some(
                        "refer to environment variables instead, e.g. \
                         `https://${INDEX_USER}:${INDEX_TOKEN}@host/simple`: they are \
                         expanded only inside the containers"
                            .into(),
                    ),
                );
                // The error quotes the config's line: not the secret in it.
                if let ConfigError::Invalid {
                    location: Some(location),
                    ..
                } = &mut err
                {
                    location.redact(userinfo);
                }
                return Err(err);
            }
            Ok(url.clone())
        };
        Ok(super::model::PipIndex {
            index_url: p
                .index_url
                .as_ref()
                .map(|v| check("index-url", v))
                .transpose()?,
            extra_index_url: p
                .extra_index_url
                .iter()
                .map(|v| check("extra-index-url", v))
                .collect::<Result<_, _>>()?,
            find_links: p
                .find_links
                .iter()
                .map(|v| check("find-links", v))
                .collect::<Result<_, _>>()?,
        })
    }

    pub(crate) fn env_name(&self, name: &str, value: &Spanned<String>) -> Result<(), ConfigError> {
        if name.is_empty()
            || name.len() > 128
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(self.ctx.err(
                value.span(),
                format!("invalid environment variable name `{}`", truncated(name)),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if name.starts_with("WHEELBUILD_") || name == "SOURCE_DATE_EPOCH" {
            return Err(self.ctx.err(
                value.span(),
                format!("`{name}` is set by wheelbuild and cannot be configured"),
                None,
            ));
        }
        Ok(())
    }

    pub(crate) fn apt_package(&self, a: &Spanned<String>) -> Result<(), ConfigError> {
        let name = a.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.:=~_".contains(&b));
        if ok {
            return Ok(());
        }
        Err(self.ctx.err(
            a.span(),
            format!("invalid apt package `{}`", truncated(name)),
            Some("give a Debian package name, optionally `name=version`".into()),
        ))
    }

    fn all_var_names(&self) -> Vec<String> {
        BUILTIN_AXES
            .iter()
            .chain(DERIVED_VARS.iter())
            .map(|s| s.to_string())
            .chain(
                self.file
                    .matrix
                    .get_ref()
                    .axes
                    .keys()
                    .map(|k| k.get_ref().clone()),
            )
            .collect()
    }

    /// `template` expanded with `vars` in `cell`; an error points at the placeholder when it
    /// can. `what` names the template in the message.
    pub(super) fn expand(
        &self,
        what: impl fmt::Display,
        template: &Spanned<String>,
        vars: &impl Vars,
        cell: &Cell,
    ) -> Result<String, ConfigError> {
        // Build commands and env values must not depend on the file's line endings.
        let text: std::borrow::Cow<str> = if template.get_ref().contains('\r') {
            template.get_ref().replace("\r\n", "\n").into()
        } else {
            template.get_ref().as_str().into()
        };
        if !text.contains(['{', '}']) {
            return Ok(text.into_owned());
        }
        template::expand(&text, vars).map_err(|e| {
            let span = template.span();
            // Point at the placeholder when the template is a plain one-line string.
            let at = |offset: usize| {
                let raw = self.ctx.src.get(span.clone()).unwrap_or_default();
                match raw.find(text.as_ref() as &str) {
                    Some(start) if !text.contains('\n') => {
                        let s = span.start + start + offset;
                        s..s + 1
                    }
                    _ => span.clone(),
                }
            };
            match e {
                TemplateError::Missing { name, offset } => self.ctx.err(
                    at(offset),
                    format!("{what} uses `{{{name}}}`, which cell {} does not define", cell.describe()),
                    Some(match name.as_str() {
                        "cuda" => "`{cuda}` exists only for `cudaX.Y` cells; restrict this with `[[image.select]]`, a project `matrix`, or use `{variant}`".into(),
                        "rocm" => "`{rocm}` exists only for `rocmX.Y` cells".into(),
                        "platform" => "the image platform has no wheel platform tag".into(),
                        "project" => "the image is chosen per cell, so `{project}` is not available there".into(),
                        _ => format!("give axis `{name}` a value in this cell (e.g. in its include entry)"),
                    }),
                ),
                TemplateError::Unknown { name, offset } => {
                    let names = self.all_var_names();
                    self.ctx.err(
                        at(offset),
                        format!("{what} uses unknown variable `{{{}}}`", truncated(&name)),
                        Some(match did_you_mean(&name, names.iter().map(String::as_str)) {
                            Some(s) => format!("did you mean `{{{s}}}`?"),
                            None => format!("known variables: {}", list(names.iter().map(|n| format!("{{{n}}}")))),
                        }),
                    )
                }
                TemplateError::Syntax { offset, message } => {
                    self.ctx.err(at(offset), format!("{what}: {message}"), None)
                }
            }
        })
    }
}

/// A value for a message: long ones are cut (a 64 KiB name must not fill the terminal).
pub(super) fn truncated(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        return s.into();
    }
    let cut: String = s.chars().take(MAX).collect();
    format!("{cut}…").into()
}
