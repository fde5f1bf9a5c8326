//! The validated configuration: what every later stage reads. Defaults are applied and
//! paths resolved against the config's directory; nothing here is raw TOML.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use crate::accel::Accel;
use crate::diag::Location;
use crate::platform::Platform;
pub use crate::recipe::ConfigSettings;

pub use super::syntax::ChannelPolicy;
pub(crate) use super::syntax::Network;
pub use super::syntax::TestNetwork;

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
    pub(crate) fn display_ref(&self) -> &str {
        self.reference.as_deref().unwrap_or("HEAD")
    }
}

/// One cell of the matrix: a value for each axis, in canonical axis order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub values: Vec<(String, String)>,
    /// The `cuda` axis value, parsed (validated when the config was read).
    pub accel: Accel,
}

impl Cell {
    pub(crate) fn get(&self, axis: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(a, _)| a == axis)
            .map(|(_, v)| v.as_str())
    }

    /// Short name used in target ids: `py3.11-cuda12.4-torch2.4.0-tier=1`.
    pub(crate) fn name(&self) -> String {
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
    pub(crate) fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(a, v)| format!("{a}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A project, validated.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub git: GitInput,
    pub subdir: Option<String>,
    pub gpu: bool,
    /// Build with the project's declared build requirements (`build-isolation`).
    pub build_isolation: bool,
    /// PEP 517 config settings for the backend (`config-settings`).
    pub config_settings: ConfigSettings,
    /// Where in the config the project's `ref` (or `git`, when no ref) is, for errors.
    pub ref_location: Location,
    /// Manylinux repair with auditwheel (`repair`), per accelerator family; `None`: off.
    pub repair: Option<ProjectRepair>,
    /// PEP 825 `variant` properties; `None`: plain wheels.
    pub variant: Option<ProjectVariant>,
}

/// A project's `variant` properties, as written (values are templates; `label` checks and
/// expands them).
#[derive(Debug, Clone)]
pub struct ProjectVariant {
    /// `(namespace, feature, value templates, span of the property)`, in config order.
    pub(super) properties: Vec<(String, String, Vec<String>, Range<usize>)>,
    pub(super) span: Range<usize>,
}

/// How a target's wheels are repaired (`repair = "auditwheel"`, `repair-exclude`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Every SONAME glob auditwheel must not graft: the accelerator's defaults and the
    /// config's, sorted and unique. A key input.
    pub exclude: Vec<String>,
    /// The config's own globs (top-level and project's): each should match a library the
    /// wheel links, or a warning says so (a typo would silently graft the library).
    pub declared: Vec<String>,
}

/// A project's [`Repair`] for each accelerator family, shared by its targets.
#[derive(Debug, Clone)]
pub struct ProjectRepair {
    pub(crate) cpu: Arc<Repair>,
    pub(crate) cuda: Arc<Repair>,
    pub(crate) rocm: Arc<Repair>,
}

impl ProjectRepair {
    pub(crate) fn new(declared: Vec<String>) -> ProjectRepair {
        let of = |accel: &Accel| {
            let mut exclude: Vec<String> = crate::wheel::repair::default_excludes(accel)
                .into_iter()
                .map(str::to_string)
                .chain(declared.iter().cloned())
                .collect();
            exclude.sort();
            exclude.dedup();
            Arc::new(Repair {
                exclude,
                declared: declared.clone(),
            })
        };
        ProjectRepair {
            cpu: of(&Accel::Cpu),
            cuda: of(&Accel::Cuda(String::new())),
            rocm: of(&Accel::Rocm(String::new())),
        }
    }

    pub(crate) fn for_accel(&self, accel: &Accel) -> &Arc<Repair> {
        match accel {
            Accel::Cpu => &self.cpu,
            Accel::Cuda(_) => &self.cuda,
            Accel::Rocm(_) => &self.rocm,
        }
    }
}

/// A project built in one cell, with every templated field expanded.
#[derive(Debug, Clone)]
pub struct Target {
    /// `project/cell-name`, unique, stable, safe as a path.
    pub id: String,
    /// Index into [`Config::projects`].
    pub project: usize,
    pub cell: Arc<Cell>,
    pub image: Arc<ImageInput>,
    /// Borrowed when it is the default (no copy per target).
    pub build: Cow<'static, str>,
    pub toolchain_check: Option<String>,
    /// All build environment entries, key and non-key, sorted by name. A sorted `Vec`, not
    /// a map: targets number in the thousands and most have a handful of entries.
    pub env: Vec<(String, String)>,
    pub pip: Vec<String>,
    pub apt: Vec<String>,
    /// Wheelhouse sub-directory for this target's wheels.
    pub output_subdir: String,
    /// Manylinux repair of this target's wheels; `None`: kept as built.
    pub repair: Option<Arc<Repair>>,
    /// `[output] local-version` in this cell, normalized (`cu118`).
    pub local_version: Option<String>,
    /// The PEP 825 variant this target's wheels become.
    pub variant: Option<Arc<TargetVariant>>,
    /// The test of its wheels; `None`: no test step.
    pub test: Option<Arc<TargetTest>>,
}

/// How a target's wheels are tested (`test-command` and the other `test-*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTest {
    /// Run with `sh -c` in a scratch directory; `{project}` expanded to the sources' copy.
    pub command: String,
    /// `test-image`, expanded on the cell's platform; the cell's image by default.
    pub image: Arc<ImageInput>,
    /// `test-requires`, expanded, sorted and unique.
    pub requires: Vec<String>,
    /// Paths in the repository copied into the scratch directory, sorted and unique.
    pub sources: Vec<String>,
    pub gpu: bool,
    pub network: TestNetwork,
    /// Why the cell's wheels are not tested (`test-skip`); `None`: they are.
    pub skip: Option<String>,
}

/// A target's PEP 825 variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVariant {
    pub label: String,
    pub properties: crate::wheel::variant::Properties,
    /// The `variant.json` its wheels carry (a key input).
    pub json: String,
}

/// Settings that are not part of any build key, with defaults applied and paths resolved
/// against the config's directory.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Registries (host[:port]) reached over plain HTTP beside loopback ones.
    pub insecure_registries: BTreeSet<String>,
    pub cache: CacheSettings,
    /// The wheelhouse.
    pub output_dir: PathBuf,
    /// `[output] index`: regenerate the simple index per variant (and the one over every
    /// cell) after each `build`.
    pub output_index: super::syntax::IndexSetting,
    pub store_dir: PathBuf,
    pub build: BuildOptions,
    pub network: NetworkTimeouts,
    pub pip: PipIndex,
    /// `[matrix] unavailable`, and where the config says it (its `[matrix]` when unset).
    pub unavailable: super::syntax::UnavailablePolicy,
    pub unavailable_origin: Location,
    pub remote: RemoteSettings,
    /// `[[engine]]`; empty: the one engine `DOCKER_HOST` names.
    pub engines: Vec<EngineSpec>,
    /// `[test] require`: an untested wheel fails `build`.
    pub test_require: bool,
}

/// One `[[engine]]`, validated.
#[derive(Debug, Clone)]
pub struct EngineSpec {
    pub name: String,
    pub host: String,
    /// `None`: from the engine's CPUs and memory.
    pub jobs: Option<usize>,
    pub gpu: bool,
    pub platforms: Vec<crate::platform::Platform>,
    /// It may emulate other platforms (its own `emulate`, or `[build] emulate`).
    pub emulate: bool,
    /// The directory with ca.pem, cert.pem and key.pem (tcp:// only).
    pub tls: Option<PathBuf>,
    /// Where it is declared, for messages.
    pub location: Location,
}

/// How an engine runs the images of a platform. Ordered: a native engine comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Runs {
    Native,
    /// Through qemu-user-static (binfmt_misc) on the engine's machine.
    Emulated,
}

impl Runs {
    /// How an engine with `platforms` that may `emulate` runs `platform`.
    pub fn of(
        platforms: &[crate::platform::Platform],
        emulate: bool,
        platform: &crate::platform::Platform,
    ) -> Option<Runs> {
        if platforms.contains(platform) {
            Some(Runs::Native)
        } else {
            emulate.then_some(Runs::Emulated)
        }
    }
}

impl EngineSpec {
    /// How this engine runs targets for `platform` (with a GPU when `gpu`), if it can.
    pub fn runs(&self, platform: &crate::platform::Platform, gpu: bool) -> Option<Runs> {
        (self.gpu || !gpu)
            .then(|| Runs::of(&self.platforms, self.emulate, platform))
            .flatten()
    }

    /// Can this engine build for `platform` (with a GPU when `gpu`)?
    pub fn serves(&self, platform: &crate::platform::Platform, gpu: bool) -> bool {
        self.runs(platform, gpu).is_some()
    }
}

/// `[remote]`, validated (the command line may override the URL and `push`).
#[derive(Debug, Clone, Default)]
pub struct RemoteSettings {
    pub url: Option<String>,
    pub push: bool,
    /// Resolved against the config's directory.
    pub sign_with: Option<PathBuf>,
    /// `NAME:BASE64` public keys, checked to parse.
    pub trusted_keys: Vec<String>,
}

/// `[pip]`: the index settings, as written (`${VAR}` references are expanded from the
/// environment only when a container is started, so secrets stay out of every file).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipIndex {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_index_url: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub find_links: Vec<String>,
}

impl PipIndex {
    pub fn is_default(&self) -> bool {
        self == &PipIndex::default()
    }

    /// Every URL, for checks (`audit`'s plain-HTTP finding).
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.index_url
            .iter()
            .chain(&self.extra_index_url)
            .chain(&self.find_links)
            .map(String::as_str)
    }
}

/// `[network]`: time limits the config sets (the command layer applies environment
/// overrides and defaults).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NetworkTimeouts {
    pub connect: Option<std::time::Duration>,
    pub request: Option<std::time::Duration>,
    pub fetch: Option<std::time::Duration>,
}

#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    /// Git mirrors, sources, compiler and pip caches, logs.
    pub dir: PathBuf,
    pub ccache: bool,
    pub pip: bool,
    /// Release channel: caches never cross one (a path component, validated).
    pub channel: String,
    /// `[cache] remote` as written (`${VAR}` not expanded: it may name credentials).
    pub remote: Option<String>,
    /// `[cache.channels]`: the channels the config names.
    pub channels: BTreeMap<String, ChannelPolicy>,
}

impl CacheSettings {
    /// The remote compiler cache's policy for `channel`.
    pub fn policy(&self, channel: &str) -> ChannelPolicy {
        self.channels
            .get(channel)
            .copied()
            .unwrap_or_else(|| ChannelPolicy::default_for(channel))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct BuildOptions {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub network: Network,
    /// `ca-certificates`, resolved against the config's directory (checked to exist).
    pub ca_certificates: Option<PathBuf>,
    /// Whether the default engine may emulate other platforms than this machine's.
    pub emulate: bool,
}

/// A validated configuration with its matrix expanded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, as given (used in messages).
    pub path: PathBuf,
    /// The directory relative paths in the config are resolved against.
    pub root: PathBuf,
    /// Axis names in canonical order.
    pub axes: Vec<String>,
    pub cells: Vec<Arc<Cell>>,
    pub projects: Vec<Project>,
    pub targets: Vec<Target>,
    /// Names of env variables that are not part of build keys.
    pub non_key_env: BTreeSet<String>,
    /// Where each distinct image input is first used, for error messages.
    pub image_origins: BTreeMap<ImageInput, Location>,
    /// Where each distinct git input is first used, for error messages.
    pub git_origins: BTreeMap<GitInput, Location>,
    /// What is valid but likely not meant, for the commands to say.
    pub warnings: Vec<ConfigWarning>,
    pub(crate) settings: Settings,
}

/// A config setting that is valid but likely not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub message: String,
    pub location: Location,
    pub hint: Option<String>,
}

impl Config {
    /// `[pip]`, the index settings.
    pub fn pip_index(&self) -> &PipIndex {
        &self.settings.pip
    }

    pub fn project_of(&self, target: &Target) -> &Project {
        &self.projects[target.project]
    }

    pub fn distinct_images(&self) -> impl Iterator<Item = &ImageInput> {
        self.image_origins.keys()
    }

    pub fn distinct_git(&self) -> impl Iterator<Item = &GitInput> {
        self.git_origins.keys()
    }

    /// Distinct image inputs in the order the config first uses them (for reports).
    pub(crate) fn images_in_config_order(&self) -> Vec<&ImageInput> {
        let mut seen = BTreeSet::new();
        self.targets
            .iter()
            .map(|t| &*t.image)
            .filter(|i| seen.insert(*i))
            .collect()
    }

    /// Distinct git inputs in the order the config's projects name them (for reports).
    pub(crate) fn git_in_config_order(&self) -> Vec<&GitInput> {
        let mut seen = BTreeSet::new();
        self.projects
            .iter()
            .map(|p| &p.git)
            .filter(|g| seen.insert(*g))
            .collect()
    }
}
