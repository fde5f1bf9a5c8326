//! Stage 1 of the pipeline: read `wheelbuild.toml`, validate it, and expand the matrix into
//! targets (project × cell) whose templated fields are fully expanded.
//!
//! Everything downstream (lock, plan, build) works from [`Config`]; nothing re-reads the
//! file. Errors carry the file, line and column of the offending value and a hint.

pub mod spec;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use crate::diag::{Location, did_you_mean, list};
pub use spec::ConfigFile;
use template::{TemplateError, Vars};

/// Default build command: a wheel of the project, built by pip, into the output directory.
pub const DEFAULT_BUILD: &str =
    "python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .";

/// Default image platform.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

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

/// Axes with built-in meaning, in the order they appear in target ids.
const BUILTIN_AXES: [&str; 3] = ["python", "cuda", "torch"];

/// Template variables derived from axes; user axes may not reuse these names.
const DERIVED_VARS: [&str; 6] = ["py", "accel", "variant", "rocm", "platform", "project"];

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
}

/// The accelerator variant of a cell, parsed from the `cuda` axis.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Accel {
    Cpu,
    Cuda(String),
    Rocm(String),
}

impl Accel {
    pub fn parse(s: &str) -> Result<Accel, String> {
        let version_ok = |v: &str| {
            !v.is_empty()
                && v.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        if s == "cpu" {
            Ok(Accel::Cpu)
        } else if let Some(v) = s.strip_prefix("cuda").filter(|v| version_ok(v)) {
            Ok(Accel::Cuda(v.to_string()))
        } else if let Some(v) = s.strip_prefix("rocm").filter(|v| version_ok(v)) {
            Ok(Accel::Rocm(v.to_string()))
        } else if version_ok(s) {
            Err(format!("write `cuda{s}` (or `rocm{s}`)"))
        } else if let Some(v) = s.strip_prefix("cu").filter(|v| version_ok(v)) {
            let (major, minor) = v.split_at(v.len().saturating_sub(1));
            Err(format!("write `cuda{major}.{minor}`"))
        } else {
            Err("use `cpu`, `cudaX.Y` or `rocmX.Y[.Z]`, as PyTorch tags its images".into())
        }
    }

    /// PyTorch's wheel-index tag: `cpu`, `cu124`, `rocm6.2`.
    pub fn tag(&self) -> String {
        match self {
            Accel::Cpu => "cpu".into(),
            Accel::Cuda(v) => format!("cu{}", v.replace('.', "")),
            Accel::Rocm(v) => format!("rocm{v}"),
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accel::Cpu => f.write_str("cpu"),
            Accel::Cuda(v) => write!(f, "cuda{v}"),
            Accel::Rocm(v) => write!(f, "rocm{v}"),
        }
    }
}

/// An OCI platform, `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err("write the platform as `os/arch[/variant]`, e.g. `linux/amd64`".into()),
        }
    }

    /// The wheel platform tag of this platform (`linux_x86_64`), if wheels exist for it.
    pub fn wheel_tag(&self) -> Option<String> {
        let arch = match (self.architecture.as_str(), self.variant.as_deref()) {
            ("amd64", _) => "x86_64",
            ("arm64", _) => "aarch64",
            ("ppc64le", _) => "ppc64le",
            ("s390x", _) => "s390x",
            ("386", _) => "i686",
            ("arm", Some("v7")) => "armv7l",
            _ => return None,
        };
        (self.os == "linux").then(|| format!("linux_{arch}"))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One base-image input: a reference as the config spells it (after templating) and the
/// platform wanted from it. This is the identity of an image entry in the lock.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageInput {
    pub reference: String,
    pub platform: Platform,
}

/// One source input: a repository URL as the config spells it and the ref wanted from it
/// (`None` is the remote's default branch). The identity of a git entry in the lock.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GitInput {
    pub url: String,
    pub reference: Option<String>,
}

impl GitInput {
    pub fn display_ref(&self) -> &str {
        self.reference.as_deref().unwrap_or("HEAD")
    }
}

/// One cell of the matrix: a value for each axis, in canonical axis order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub values: Vec<(String, String)>,
}

impl Cell {
    pub fn get(&self, axis: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(a, _)| a == axis)
            .map(|(_, v)| v.as_str())
    }

    pub fn accel(&self) -> Accel {
        self.get("cuda")
            .and_then(|v| Accel::parse(v).ok())
            .unwrap_or(Accel::Cpu)
    }

    /// Short name used in target ids: `py3.11-cuda12.4-torch2.4.0-tier=1`.
    pub fn name(&self) -> String {
        self.values
            .iter()
            .map(|(axis, value)| match axis.as_str() {
                "python" => format!("py{value}"),
                "cuda" => value.clone(),
                "torch" => format!("torch{value}"),
                _ => format!("{axis}={value}"),
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    /// `python=3.11, cuda=cpu`, for messages.
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(a, v)| format!("{a}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn matches(&self, filter: &BTreeMap<Spanned<String>, Spanned<String>>) -> bool {
        filter
            .iter()
            .all(|(axis, value)| self.get(axis.get_ref()) == Some(value.get_ref().as_str()))
    }
}

/// A project, validated.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub git: GitInput,
    pub subdir: Option<String>,
    pub gpu: bool,
    /// Where in the config the project's `ref` (or `git`, when no ref) is, for errors.
    pub ref_location: Location,
}

/// A project built in one cell, with every templated field expanded.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// `project/cell-name`, unique, stable, safe as a path.
    pub id: String,
    pub project: usize,
    pub cell: Arc<Cell>,
    pub image: Arc<ImageInput>,
    /// Borrowed when it is the default (no copy per target).
    pub build: std::borrow::Cow<'static, str>,
    pub verify: Option<String>,
    /// All build environment entries, key and non-key, sorted by name. A sorted `Vec`, not
    /// a map: targets number in the thousands and most have a handful of entries.
    pub env: Vec<(String, String)>,
    pub pip: Vec<String>,
    pub apt: Vec<String>,
    /// Wheelhouse sub-directory for this target's wheels.
    pub output_subdir: String,
}

/// A validated configuration with its matrix expanded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, as given (used in messages).
    pub path: PathBuf,
    /// The directory relative paths in the config are resolved against.
    pub root: PathBuf,
    pub file: ConfigFile,
    /// Axis names in canonical order.
    pub axes: Vec<String>,
    pub cells: Vec<Arc<Cell>>,
    pub projects: Vec<Project>,
    pub targets: Vec<TargetSpec>,
    /// Names of env variables that are not part of build keys.
    pub non_key_env: BTreeSet<String>,
    /// Where each distinct image input is first used, for error messages.
    pub image_origins: BTreeMap<ImageInput, Location>,
    /// Where each distinct git input is first used, for error messages.
    pub git_origins: BTreeMap<GitInput, Location>,
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &src)
    }

    /// Validate config text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let ctx = Ctx { path, src };
        let file: ConfigFile = toml::from_str(src).map_err(|e| ctx.toml_error(&e))?;
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Validator { ctx, file: &file }.run(path, root, file.clone())
    }

    /// The directory of a config-relative path setting.
    pub fn resolve_path(&self, setting: &str) -> PathBuf {
        self.root.join(setting)
    }

    pub fn is_key_env(&self, name: &str) -> bool {
        !self.non_key_env.contains(name)
    }

    pub fn distinct_images(&self) -> impl Iterator<Item = &ImageInput> {
        self.image_origins.keys()
    }

    pub fn distinct_git(&self) -> impl Iterator<Item = &GitInput> {
        self.git_origins.keys()
    }

    /// Distinct image inputs in the order the config first uses them (for reports).
    pub fn images_in_config_order(&self) -> Vec<&ImageInput> {
        let mut seen = BTreeSet::new();
        self.targets
            .iter()
            .map(|t| &*t.image)
            .filter(|i| seen.insert(*i))
            .collect()
    }

    /// Distinct git inputs in the order the config's projects name them (for reports).
    pub fn git_in_config_order(&self) -> Vec<&GitInput> {
        let mut seen = BTreeSet::new();
        self.projects
            .iter()
            .map(|p| &p.git)
            .filter(|g| seen.insert(*g))
            .collect()
    }
}

struct Ctx<'a> {
    path: &'a Path,
    src: &'a str,
}

impl Ctx<'_> {
    fn location(&self, span: Range<usize>) -> Location {
        Location::from_span(self.path, self.src, span)
    }

    fn err(
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
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
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

struct Validator<'a> {
    ctx: Ctx<'a>,
    file: &'a ConfigFile,
}

/// A user axis name or value, or a project name: safe in ids and paths.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

impl Validator<'_> {
    fn run(self, path: &Path, root: PathBuf, file: ConfigFile) -> Result<Config, ConfigError> {
        self.network()?;
        let axes = self.axes()?;
        let cells = self.cells(&axes)?;
        let non_key_env: BTreeSet<String> = NON_KEY_ENV
            .iter()
            .map(|s| s.to_string())
            .chain(self.file.non_key_env.iter().cloned())
            .collect();

        let user_axes: Vec<&str> = axes
            .iter()
            .skip_while(|a| BUILTIN_AXES.contains(&a.name.as_str()))
            .map(|a| a.name.as_str())
            .collect();
        let cells: Vec<Arc<Cell>> = cells.into_iter().map(Arc::new).collect();
        // Every value each axis takes in some cell, for checking project restrictions.
        let mut known: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for cell in &cells {
            for (a, v) in &cell.values {
                known.entry(a.as_str()).or_default().insert(v.as_str());
            }
        }

        // First the cheap, ordered part: projects, which cells each uses, and the per-cell
        // image and variables (only for cells some project uses).
        let mut cell_info: Vec<Option<CellInfo>> = vec![None; cells.len()];
        let mut projects = Vec::new();
        let mut work: Vec<(usize, usize)> = Vec::new();
        let mut git_origins = BTreeMap::new();
        let mut names = BTreeSet::new();
        for (index, spec) in self.file.projects.iter().enumerate() {
            let project = self.project(spec)?;
            if !names.insert(project.name.clone()) {
                return Err(self.ctx.err(
                    spec.name.span(),
                    format!("project `{}` is declared twice", project.name),
                    Some("project names must be unique".into()),
                ));
            }
            if !git_origins.contains_key(&project.git) {
                git_origins.insert(project.git.clone(), project.ref_location.clone());
            }
            for cell_index in self.project_cells(spec, &axes, &cells, &known)? {
                if cell_info[cell_index].is_none() {
                    cell_info[cell_index] = Some(self.cell_info(&cells[cell_index], &user_axes)?);
                }
                work.push((index, cell_index));
            }
            projects.push(project);
        }

        // Then the targets, each independent of the others: expanded on every core for
        // big matrices. The first error in config order wins, as in a serial pass.
        let make = |&(index, cell_index): &(usize, usize)| {
            let info = cell_info[cell_index].as_ref().expect("filled above");
            self.target(
                index,
                &self.file.projects[index],
                &projects[index],
                &cells[cell_index],
                info,
            )
        };
        let threads = crate::par::threads_for(work.len());
        let targets: Vec<TargetSpec> = if threads == 1 {
            work.iter().map(make).collect::<Result<_, _>>()?
        } else {
            crate::par::map_chunks(&work, threads, |part| {
                part.iter().map(make).collect::<Result<Vec<_>, _>>()
            })
            .into_iter()
            .collect::<Result<Vec<Vec<_>>, _>>()?
            .into_iter()
            .flatten()
            .collect()
        };
        // `cell_info` is filled for used cells only.
        let mut image_origins = BTreeMap::new();
        for info in cell_info.iter().flatten() {
            if !image_origins.contains_key(&*info.image) {
                image_origins.insert(
                    (*info.image).clone(),
                    self.ctx.location(info.image_span.clone()),
                );
            }
        }

        Ok(Config {
            path: path.to_path_buf(),
            root,
            file,
            axes: axes.into_iter().map(|a| a.name).collect(),
            cells,
            projects,
            targets,
            non_key_env,
            image_origins,
            git_origins,
        })
    }

    fn axes(&self) -> Result<Vec<Axis>, ConfigError> {
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
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(self.ctx.err(
                    name.span(),
                    format!("invalid axis name `{n}`"),
                    Some("axis names are lowercase letters, digits and `_`, e.g. `tier`".into()),
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

    fn check_axis_value(&self, axis: &str, value: &Spanned<String>) -> Result<(), ConfigError> {
        let v = value.get_ref();
        let problem = match axis {
            "python" => {
                let ok = v.split_once('.').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                });
                (!ok).then(|| {
                    let short: Vec<&str> = v.splitn(3, '.').take(2).collect();
                    format!(
                        "Python versions are `major.minor`, as in wheel tags (e.g. `{}`)",
                        if short.len() == 2 {
                            short.join(".")
                        } else {
                            "3.11".into()
                        }
                    )
                })
            }
            "cuda" => Accel::parse(v).err(),
            _ => (!is_token(v))
                .then(|| "use letters, digits, `.`, `_`, `+` and `-` only".to_string()),
        };
        match problem {
            Some(hint) => Err(self.ctx.err(
                value.span(),
                format!("invalid value `{v}` for axis `{axis}`"),
                Some(hint),
            )),
            None => Ok(()),
        }
    }

    /// Check an `axis = value` filter (exclude, select, project matrix) against the axes.
    fn check_filter(
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
                return Err(self.ctx.err(
                    value.span(),
                    format!("`{}` is not a value of axis `{axis_name}`", value.get_ref()),
                    Some(
                        match did_you_mean(value.get_ref(), values.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("the axis has {}", list(values)),
                        },
                    ),
                ));
            }
        }
        Ok(())
    }

    fn unknown_axis(&self, axis: &Spanned<String>, axes: &[Axis]) -> ConfigError {
        let names = axes.iter().map(|a| a.name.as_str());
        self.ctx.err(
            axis.span(),
            format!("unknown axis `{}`", axis.get_ref()),
            Some(match did_you_mean(axis.get_ref(), names.clone()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the matrix has axes {}", list(names)),
            }),
        )
    }

    fn cells(&self, axes: &[Axis]) -> Result<Vec<Cell>, ConfigError> {
        let m = self.file.matrix.get_ref();
        let mut cells = vec![Cell { values: Vec::new() }];
        for axis in axes {
            cells = cells
                .into_iter()
                .flat_map(|cell| {
                    axis.values.iter().map(move |v| {
                        let mut c = cell.clone();
                        c.values.push((axis.name.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }

        let declared: BTreeMap<&str, BTreeSet<&str>> = axes
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.values.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        for exclude in &m.exclude {
            self.check_filter(exclude.get_ref(), axes, &declared)?;
            if exclude.get_ref().is_empty() {
                return Err(self.ctx.err(
                    exclude.span(),
                    "empty exclude entry would exclude every cell",
                    Some("name at least one `axis = value`".into()),
                ));
            }
            cells.retain(|c| !c.matches(exclude.get_ref()));
        }

        for include in &m.include {
            let entry = include.get_ref();
            for axis in entry.keys() {
                if !axes.iter().any(|a| &a.name == axis.get_ref()) {
                    return Err(self.unknown_axis(axis, axes));
                }
            }
            let mut values = Vec::new();
            for axis in axes {
                let Some(v) = entry.get(axis.name.as_str()) else {
                    return Err(self.ctx.err(
                        include.span(),
                        format!("include entry gives no value for axis `{}`", axis.name),
                        Some(format!(
                            "every include entry names a value for each axis: {}",
                            list(axes.iter().map(|a| &a.name))
                        )),
                    ));
                };
                self.check_axis_value(&axis.name, v)?;
                values.push((axis.name.clone(), v.get_ref().clone()));
            }
            let cell = Cell { values };
            if !cells.contains(&cell) {
                cells.push(cell);
            }
        }
        if cells.is_empty() {
            return Err(self.ctx.err(
                self.file.matrix.span(),
                "the matrix has no cells left after `exclude`",
                Some("remove an exclude entry or add an include entry".into()),
            ));
        }
        Ok(cells)
    }

    fn project(&self, spec: &spec::ProjectSpec) -> Result<Project, ConfigError> {
        let name = spec.name.get_ref();
        if !is_token(name) || name.contains('+') {
            return Err(self.ctx.err(
                spec.name.span(),
                format!("invalid project name `{name}`"),
                Some("use letters, digits, `.`, `_` and `-`".into()),
            ));
        }
        let url = spec.git.get_ref();
        if url.trim().is_empty() || url.trim() != url {
            return Err(self.ctx.err(
                spec.git.span(),
                "invalid git URL",
                Some("give an https, ssh, git, file:// URL or a local path".into()),
            ));
        }
        if let Some(r) = &spec.reference {
            let r_str = r.get_ref();
            if r_str.is_empty()
                || r_str.contains(char::is_whitespace)
                || r_str.contains("..")
                || r_str.starts_with('-')
            {
                return Err(self.ctx.err(
                    r.span(),
                    format!("invalid git ref `{r_str}`"),
                    Some("give a branch, a tag, or a commit SHA".into()),
                ));
            }
        }
        let subdir = match &spec.subdir {
            Some(s) => {
                let p = Path::new(s.get_ref());
                let bad = s.get_ref().is_empty()
                    || p.is_absolute()
                    || p.components()
                        .any(|c| !matches!(c, std::path::Component::Normal(_)));
                if bad {
                    return Err(self.ctx.err(
                        s.span(),
                        format!("invalid subdir `{}`", s.get_ref()),
                        Some("a relative path inside the repository, without `..`".into()),
                    ));
                }
                Some(s.get_ref().trim_end_matches('/').to_string())
            }
            None => None,
        };
        let ref_span = spec
            .reference
            .as_ref()
            .map_or(spec.git.span(), |r| r.span());
        Ok(Project {
            name: name.clone(),
            git: GitInput {
                url: url.clone(),
                reference: spec.reference.as_ref().map(|r| r.get_ref().clone()),
            },
            subdir,
            gpu: spec.gpu,
            ref_location: self.ctx.location(ref_span),
        })
    }

    fn project_cells(
        &self,
        spec: &spec::ProjectSpec,
        axes: &[Axis],
        cells: &[Arc<Cell>],
        known: &BTreeMap<&str, BTreeSet<&str>>,
    ) -> Result<Vec<usize>, ConfigError> {
        for (axis, values) in &spec.matrix {
            let Some(have) = known.get(axis.get_ref().as_str()) else {
                return Err(self.unknown_axis(axis, axes));
            };
            for v in values {
                if !have.contains(v.get_ref().as_str()) {
                    return Err(self.ctx.err(
                        v.span(),
                        format!(
                            "`{}` is not a value of axis `{}`",
                            v.get_ref(),
                            axis.get_ref()
                        ),
                        Some(format!("the matrix has {}", list(have))),
                    ));
                }
            }
        }
        for exclude in &spec.exclude {
            self.check_filter(exclude.get_ref(), axes, known)?;
        }
        let selected: Vec<usize> = cells
            .iter()
            .enumerate()
            .filter(|(_, cell)| {
                spec.matrix.iter().all(|(axis, values)| {
                    let v = cell.get(axis.get_ref());
                    values.iter().any(|w| Some(w.get_ref().as_str()) == v)
                })
            })
            .filter(|(_, cell)| !spec.exclude.iter().any(|e| cell.matches(e.get_ref())))
            .map(|(i, _)| i)
            .collect();
        if selected.is_empty() {
            return Err(self.ctx.err(
                spec.name.span(),
                format!(
                    "project `{}` matches no cell of the matrix",
                    spec.name.get_ref()
                ),
                Some("check the project's `matrix` and `exclude` settings".into()),
            ));
        }
        Ok(selected)
    }

    /// Image reference, platform and location of the rule that chose it, for one cell.
    fn image_for(
        &self,
        cell: &Cell,
    ) -> Result<(Spanned<String>, Platform, Range<usize>), ConfigError> {
        let image = self.file.image.get_ref();
        let platform_of = |p: Option<&Spanned<String>>| -> Result<Platform, ConfigError> {
            match p.or(image.platform.as_ref()) {
                Some(p) => Platform::parse(p.get_ref()).map_err(|hint| {
                    self.ctx.err(
                        p.span(),
                        format!("invalid platform `{}`", p.get_ref()),
                        Some(hint),
                    )
                }),
                None => Ok(Platform::parse(DEFAULT_PLATFORM).expect("default platform parses")),
            }
        };
        for select in &image.select {
            for axis in select.when.keys() {
                if !self.file_axes_contains(axis.get_ref()) {
                    let axes = self.axes()?;
                    return Err(self.unknown_axis(axis, &axes));
                }
            }
            if cell.matches(&select.when) {
                let platform = platform_of(select.platform.as_ref())?;
                return Ok((select.reference.clone(), platform, select.reference.span()));
            }
        }
        match &image.template {
            Some(t) => Ok((t.clone(), platform_of(None)?, t.span())),
            None => Err(self.ctx.err(
                self.file.image.span(),
                format!("no base image for cell {}", cell.describe()),
                Some(if image.select.is_empty() {
                    "set `image.template` or add `[[image.select]]` entries".into()
                } else {
                    "add an `[[image.select]]` entry matching this cell, or an `image.template`"
                        .into()
                }),
            )),
        }
    }

    fn file_axes_contains(&self, name: &str) -> bool {
        let m = self.file.matrix.get_ref();
        name == "python"
            || name == "cuda"
            || (name == "torch" && m.torch.is_some())
            || m.axes.keys().any(|k| k.get_ref() == name)
    }

    /// What every target of `cell` shares: its image (expanded) and template variables.
    fn cell_info(&self, cell: &Arc<Cell>, user_axes: &[&str]) -> Result<CellInfo, ConfigError> {
        let (template, platform, image_span) = self.image_for(cell)?;
        let accel = cell.accel();
        let (cuda, rocm) = match &accel {
            Accel::Cuda(v) => (Some(v.clone()), None),
            Accel::Rocm(v) => (None, Some(v.clone())),
            Accel::Cpu => (None, None),
        };
        let vars = CellVars {
            cell: cell.clone(),
            py: cell.get("python").map(|p| p.replace('.', "")),
            variant: accel.to_string(),
            accel: accel.tag(),
            cuda,
            rocm,
            platform: platform.wheel_tag(),
            user_axes: user_axes.iter().map(|a| a.to_string()).collect(),
        };
        let reference = self.expand("the image reference", &template, &vars, cell)?;
        if reference.is_empty() || reference.contains(char::is_whitespace) {
            return Err(self.ctx.err(
                template.span(),
                format!(
                    "invalid image reference `{reference}` for cell {}",
                    cell.describe()
                ),
                Some("e.g. `registry.example.com/team/image:tag`".into()),
            ));
        }
        Ok(CellInfo {
            name: cell.name(),
            image: Arc::new(ImageInput {
                reference,
                platform,
            }),
            image_span,
            vars,
        })
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

    fn expand(
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
                let raw = &self.ctx.src[span.clone()];
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
                        format!("{what} uses unknown variable `{{{name}}}`"),
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

    fn target(
        &self,
        index: usize,
        spec: &spec::ProjectSpec,
        project: &Project,
        cell: &Arc<Cell>,
        info: &CellInfo,
    ) -> Result<TargetSpec, ConfigError> {
        let vars = ProjectVars {
            cell: &info.vars,
            project: &project.name,
        };
        let build = match &spec.build {
            Some(b) => self.expand("the build command", b, &vars, cell)?.into(),
            None => DEFAULT_BUILD.into(),
        };
        let verify = match spec
            .verify
            .as_ref()
            .or(self.file.image.get_ref().verify.as_ref())
        {
            Some(v) => Some(self.expand("the verify command", v, &vars, cell)?),
            None => None,
        };
        let mut env: Vec<(String, String)> =
            Vec::with_capacity(self.file.env.len() + spec.env.len());
        for (name, value) in self.file.env.iter().chain(spec.env.iter()) {
            if name.is_empty()
                || name.starts_with(|c: char| c.is_ascii_digit())
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(self.ctx.err(
                    value.span(),
                    format!("invalid environment variable name `{name}`"),
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
            // The label is only formatted when there is an error to report.
            let what = format_args!("env `{name}`");
            let value = self.expand(what, value, &vars, cell)?;
            // Project entries come after global ones and replace them.
            match env.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                Ok(i) => env[i].1 = value,
                Err(i) => env.insert(i, (name.clone(), value)),
            }
        }
        let mut pip = Vec::new();
        for p in &spec.pip {
            pip.push(self.expand("a pip package", p, &vars, cell)?);
        }
        pip.sort();
        pip.dedup();
        let mut apt: Vec<String> = Vec::new();
        for a in &spec.apt {
            let name = a.get_ref();
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.:=~_".contains(&b));
            if !ok {
                return Err(self.ctx.err(
                    a.span(),
                    format!("invalid apt package `{name}`"),
                    Some("give a Debian package name, optionally `name=version`".into()),
                ));
            }
            apt.push(name.clone());
        }
        apt.sort();
        apt.dedup();
        let layout = &self.file.output.layout;
        let output_subdir = self.expand("output.layout", layout, &vars, cell)?;
        if Path::new(&output_subdir).is_absolute() || output_subdir.split('/').any(|c| c == "..") {
            return Err(self.ctx.err(
                layout.span(),
                "output.layout must stay inside the output directory",
                Some("use a relative layout without `..`".into()),
            ));
        }
        Ok(TargetSpec {
            id: [project.name.as_str(), "/", &info.name].concat(),
            project: index,
            cell: cell.clone(),
            image: info.image.clone(),
            build,
            verify,
            env,
            pip,
            apt,
            output_subdir,
        })
    }

    /// Timeouts are at least a second: 0 would give up before anything is sent.
    fn network(&self) -> Result<(), ConfigError> {
        let n = &self.file.network;
        for (key, value) in [
            ("connect-timeout", &n.connect_timeout),
            ("request-timeout", &n.request_timeout),
            ("fetch-timeout", &n.fetch_timeout),
        ] {
            if let Some(v) = value.as_ref().filter(|v| *v.get_ref() == 0) {
                return Err(self.ctx.err(
                    v.span(),
                    format!("network.{key} must be at least 1 second"),
                    Some(format!("give whole seconds, e.g. `{key} = 60`")),
                ));
            }
        }
        Ok(())
    }
}

struct Axis {
    name: String,
    values: Vec<String>,
}

#[derive(Clone)]
struct CellInfo {
    name: String,
    image: Arc<ImageInput>,
    image_span: Range<usize>,
    vars: CellVars,
}

/// Template variables of a cell, looked up by name (no map per target).
#[derive(Clone)]
struct CellVars {
    cell: Arc<Cell>,
    py: Option<String>,
    variant: String,
    accel: String,
    cuda: Option<String>,
    rocm: Option<String>,
    platform: Option<String>,
    user_axes: Vec<String>,
}

impl Vars for CellVars {
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        Some(match name {
            "python" | "torch" => self.cell.get(name),
            // `{cuda}`/`{rocm}` are toolkit versions; the raw axis value is `{variant}`.
            "cuda" => self.cuda.as_deref(),
            "rocm" => self.rocm.as_deref(),
            "py" => self.py.as_deref(),
            "variant" => Some(&self.variant),
            "accel" => Some(&self.accel),
            "platform" => self.platform.as_deref(),
            // Images are chosen per cell, before any project.
            "project" => None,
            _ if self.user_axes.iter().any(|a| a == name) => self.cell.get(name),
            _ => return None,
        })
    }
}

/// A cell's variables plus the project's name.
struct ProjectVars<'a> {
    cell: &'a CellVars,
    project: &'a str,
}

impl Vars for ProjectVars<'_> {
    fn lookup(&self, name: &str) -> Option<Option<&str>> {
        if name == "project" {
            Some(Some(self.project))
        } else {
            self.cell.lookup(name)
        }
    }
}

#[cfg(test)]
mod tests;
