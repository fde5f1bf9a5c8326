//! Build keys: the content address of a target's resolved inputs.
//!
//! A target (project × matrix cell) is rebuilt exactly when its key changes. The key is
//! blake3 in derive-key mode (context [`KEY_CONTEXT`]) over the canonical encoding
//! ([`crate::canonical`]) of [`KeyInputs`]. Canonical because it is a struct with fixed
//! field order whose maps are sorted: no `serde_json::Value`, no `HashMap`, and nothing
//! re-serialized from a registry answer (digests are computed on the raw bytes received
//! and only their strings enter here).
//!
//! [`KeyInputs`] is the one source of truth: `plan` hashes it borrowed from the config and
//! lock (nothing copied per target), the store keeps it owned in each build record, and
//! [`KeyInputs::changes_from`] compares two of them. Both destructure it without `..`, so
//! a new input does not compile until it is hashed, compared and listed below (a unit test
//! checks the table names every field).
//!
//! # What is in a key
//!
//! | input | from | why |
//! |---|---|---|
//! | `format` | [`KEY_FORMAT`] | bumping it rebuilds everything when key semantics change |
//! | `image` | `image.platform` / select row, and the lock's platform manifest digest | the exact filesystem the build runs on (not the tag), so also the facts the lock probed in it (its glibc names repair's manylinux tag), and the platform it builds for |
//! | `source` | the lock's commit, `project.subdir` | the exact source tree and which project in it |
//! | `build` | `project.build` (expanded) | the command that makes the wheel |
//! | `toolchain-check` | `project.toolchain-check` / `image.toolchain-check` (expanded) | the toolchain the build was checked against |
//! | `env` | `env` + `project.env` (expanded), minus non-key names | compiler flags, arch lists |
//! | `pip` | the lock's environment: every pip distribution (name, version, file, sha256) | exactly what the build environment installs, transitive packages included (the requests in `project.pip` and the project's `[build-system] requires` only choose them; build requirements the base image already satisfies are covered by `image`) |
//! | `apt` | the lock's environment: every Debian package (name, version) | the same for apt |
//! | `axes` | the cell | python/cuda/torch/user axis values |
//! | `gpu` | `project.gpu` | whether the build saw a GPU |
//! | `repair` | `repair` / `project.repair`, and the excludes: the accelerator family's defaults plus `repair-exclude` | what auditwheel grafts into the wheel and the manylinux tag it gets (the tools themselves are `pip` pins; the tag follows from the image's glibc, covered by `image`) |
//! | `local-version` | `[output] local-version` (expanded, normalized) | the version the wheel is relabelled with (`1.2.0+cu118`); absent when unset, so keys without it are unchanged |
//! | `variant` | the project's `variant` (expanded), `[variants]` (`schema` included) | the PEP 825 label and the exact `variant.json` the wheel carries (its `$schema` URL, providers and priorities included); absent when unset |
//! | `config-settings` | `project.config-settings`, over a fixed build directory for a backend that would build in a random one (`crate::recipe::config_settings`; the backend read by the lock) | what the default build command passes to the backend (`--config-settings`); absent when empty, so keys of setuptools projects without settings are unchanged |
//! | `requires-check` | the backend the lock read, for a project with build isolation whose backend's hook the lock asks (all but setuptools': `crate::recipe::asks_hook`), and the fingerprint of the check (`requires.py`) | that the build first asks the backend's `get_requires_for_build_wheel` and fails, before compiling, on a requirement the lock does not hold; absent for other backends, so their keys are unchanged |
//! | `wheelbuild` | [`recipe`]: the build, repair and environment scripts and the variables wheelbuild sets | a wheelbuild release that changes how wheels are built rebuilds them |
//!
//! # The test key
//!
//! A target with a `test-command` also has a test key ([`TestKeyInputs`], context
//! [`TEST_KEY_CONTEXT`]): its test's outcome is stored under it, and the test runs again
//! exactly when it changes. A test-only change changes the test key, never the build key,
//! so it reruns the test and rebuilds nothing.
//!
//! | input | from | why |
//! |---|---|---|
//! | `build-key` | the build key above | the exact wheels tested |
//! | `test-image` | `test-image` / `project.test-image` (the cell's image by default): platform and the lock's manifest digest | the filesystem the test runs on |
//! | `test-pip` | the lock's test environment: every pip distribution (name, version, file, sha256) | exactly what the test environment installs, from `test-requires` |
//! | `test-command` | `test-command` / `project.test-command` (expanded) | what the test runs |
//! | `test-sources` | `test-sources` / `project.test-sources`, and the commit (in `build-key`) | the files copied next to it |
//! | `test-gpu` | `test-gpu` | whether the test needs (and gets) a GPU |
//! | `test-network` | `test-network` | what the test can reach |
//! | `test-script` | [`recipe`]'s test script | how wheelbuild installs and checks the wheels before the command |
//!
//! # What is not
//!
//! A build container is made of the key inputs and of what `exec`'s `NonKey` lists, each
//! with why it changes no byte (a test holds exec's container side to these two).
//! Everything that cannot change the wheel's bytes, so tuning it never forces a rebuild:
//! the project name and git URL (the commit identifies the tree), the image tag (the
//! digest identifies the image), the pip and apt requests and the `[pip]` index settings
//! (the pins identify what is installed), `[cache] ccache` (the compiler wrappers are
//! first on `PATH` and do not change command lines; `verify` checks the bytes with cold
//! caches), the CA bundle and proxies, env names in [`crate::config::NON_KEY_ENV`] and the
//! config's `non-key-env` (parallelism such as `MAX_JOBS`, cache locations, log level),
//! and the `cache`, `output` (but `local-version`), `store`, `build` and `registries` tables. Comments, table
//! order, whitespace and line endings of the config change nothing either: keys are
//! computed from parsed, expanded values, with CRLF normalized to LF.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::canonical::Context;
use crate::config::{Cell, Config, ConfigSettings, Target};
use crate::lock::{AptPin, LockedEnvironment, LockedGit, LockedImage, PipPin};

/// Version of the key derivation; part of every key.
pub(crate) const KEY_FORMAT: u32 = 3;

/// blake3 derive-key context for build keys.
pub(crate) const KEY_CONTEXT: &str = "wheelbuild 2026-11-21 build key";
static CONTEXT: Context = Context::new(KEY_CONTEXT);

/// Everything a build key covers; see the module docs for each input. Borrowed from the
/// config and lock in `plan` (`KeyInputs<'a>`), owned in build records
/// (`KeyInputs<'static>`); both encode to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct KeyInputs<'a> {
    pub format: u32,
    pub image: ImageKey<'a>,
    pub source: SourceKey<'a>,
    pub build: Cow<'a, str>,
    pub toolchain_check: Option<Cow<'a, str>>,
    pub env: Pairs<'a>,
    pub pip: Cow<'a, [PipPin]>,
    pub apt: Cow<'a, [AptPin]>,
    pub axes: Pairs<'a>,
    pub gpu: bool,
    /// `None`: wheels are kept as built (`repair = "none"`). Absent from records made
    /// before repair existed.
    #[serde(default)]
    pub repair: Option<RepairKey<'a>>,
    /// Skipped when `None`, so that adding it changed no existing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_version: Option<Cow<'a, str>>,
    /// Skipped when `None`, like `local_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantKey<'a>>,
    /// `None` when empty, and then skipped, like `local_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_settings: Option<Cow<'a, ConfigSettings>>,
    /// Skipped when `None`, like `local_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_check: Option<RequiresCheckKey<'a>>,
    pub wheelbuild: Cow<'a, str>,
}

/// The check a build of a hooked backend runs first: the backend, and the fingerprint of
/// the script that asks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RequiresCheckKey<'a> {
    pub backend: Cow<'a, str>,
    pub script: Cow<'a, str>,
}

/// The fingerprint of [`crate::recipe::REQUIRES_SCRIPT`], the `script` of a
/// [`RequiresCheckKey`].
fn requires_script() -> &'static str {
    static SCRIPT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        static SCRIPT_CONTEXT: Context = Context::new("wheelbuild 2026-12-07 requires check");
        let hash = SCRIPT_CONTEXT.hash(&crate::recipe::REQUIRES_SCRIPT);
        format!("blake3:{}", hash.to_hex())
    });
    &SCRIPT
}

/// The PEP 825 variant a target's wheels become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct VariantKey<'a> {
    pub label: Cow<'a, str>,
    /// The `variant.json` written into each wheel, byte for byte.
    pub json: Cow<'a, str>,
}

/// The manylinux repair a target's wheels get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RepairKey<'a> {
    pub tool: Cow<'a, str>,
    /// SONAME globs never grafted, sorted.
    pub exclude: Cow<'a, [String]>,
}

impl RequiresCheckKey<'_> {
    fn describe(&self) -> String {
        format!("{} ({})", self.backend, self.script)
    }
}

impl RepairKey<'_> {
    fn describe(&self) -> String {
        format!("{} (exclude {})", self.tool, self.exclude.join(", "))
    }
}

/// The fingerprint of wheelbuild's own part of every build: the scripts that set up the
/// environment, run the build and repair its wheels, and the rules of the variables it
/// sets (listed in `recipe::INJECTED`). Changing any of them changes every key.
pub fn recipe() -> &'static str {
    static RECIPE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        #[derive(Serialize)]
        struct Recipe {
            build: &'static str,
            repair: &'static str,
            environment: &'static str,
            injected: &'static str,
        }
        static RECIPE_CONTEXT: Context = Context::new("wheelbuild 2026-11-30 build recipe");
        let hash = RECIPE_CONTEXT.hash(&Recipe {
            build: crate::recipe::BUILD_SCRIPT,
            repair: crate::recipe::REPAIR_SCRIPT,
            environment: crate::recipe::ENV_SCRIPT,
            injected: crate::recipe::INJECTED,
        });
        format!("blake3:{}", hash.to_hex())
    });
    &RECIPE
}

/// blake3 derive-key context for test keys.
pub(crate) const TEST_KEY_CONTEXT: &str = "wheelbuild 2026-12-07 test key";
static TEST_CONTEXT: Context = Context::new(TEST_KEY_CONTEXT);

/// Everything a test key covers; see "The test key" in the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TestKeyInputs<'a> {
    pub build_key: Cow<'a, str>,
    pub test_image: ImageKey<'a>,
    pub test_pip: Cow<'a, [PipPin]>,
    pub test_command: Cow<'a, str>,
    pub test_sources: Cow<'a, [String]>,
    pub test_gpu: bool,
    pub test_network: crate::config::TestNetwork,
    pub test_script: Cow<'a, str>,
}

impl<'a> TestKeyInputs<'a> {
    /// The test inputs of `target` built as `key`, on `image` with the test environment
    /// `env` (`None`: the test installs nothing). `None` for a target without a test, or
    /// whose cell `test-skip` skips.
    pub fn of(
        target: &'a Target,
        key: &'a BuildKey,
        image: &'a LockedImage,
        env: Option<&'a LockedEnvironment>,
    ) -> Option<TestKeyInputs<'a>> {
        let test = target.test.as_deref().filter(|t| t.skip.is_none())?;
        Some(TestKeyInputs {
            build_key: Cow::Borrowed(&key.0),
            test_image: ImageKey::of(image),
            test_pip: Cow::Borrowed(env.map_or(&[][..], |e| &e.packages)),
            test_command: Cow::Borrowed(&test.command),
            test_sources: Cow::Borrowed(&test.sources),
            test_gpu: test.gpu,
            test_network: test.network,
            test_script: Cow::Borrowed(test_script()),
        })
    }

    pub fn key(&self) -> TestKey {
        TestKey(TEST_CONTEXT.hash(self).to_hex().to_string())
    }
}

/// The fingerprint of [`crate::recipe::TEST_SCRIPT`].
fn test_script() -> &'static str {
    static SCRIPT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        static SCRIPT_CONTEXT: Context = Context::new("wheelbuild 2026-12-07 test script");
        let hash = SCRIPT_CONTEXT.hash(&crate::recipe::TEST_SCRIPT);
        format!("blake3:{}", hash.to_hex())
    });
    &SCRIPT
}

/// A test key: 64 hex digits of blake3.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct TestKey(pub String);

impl TestKey {
    pub(crate) fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
}

impl fmt::Display for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ImageKey<'a> {
    pub platform: Cow<'a, str>,
    pub manifest_digest: Cow<'a, str>,
}

impl<'a> ImageKey<'a> {
    /// The key of the image the lock pins as `image`.
    pub fn of(image: &'a LockedImage) -> ImageKey<'a> {
        ImageKey {
            platform: Cow::Borrowed(&image.platform),
            manifest_digest: Cow::Borrowed(&image.manifest_digest),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SourceKey<'a> {
    pub commit: Cow<'a, str>,
    pub subdir: Option<Cow<'a, str>>,
}

/// A string map encoded in name order: borrowed from a target (sorted env entries minus
/// the non-key names, or a cell's axes) or owned (read back from a record).
#[derive(Debug, Clone)]
pub enum Pairs<'a> {
    /// Entries sorted by name; those named in `skip` are left out.
    Sorted {
        entries: &'a [(String, String)],
        skip: Option<&'a BTreeSet<String>>,
    },
    /// A cell's axis values (in axis order, not name order).
    Cell(&'a Cell),
    Owned(BTreeMap<String, String>),
}

impl Pairs<'_> {
    /// The pairs in name order.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        match self {
            Pairs::Sorted { entries, skip } => Box::new(
                entries
                    .iter()
                    .filter(move |(k, _)| !skip.is_some_and(|s| s.contains(k)))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            Pairs::Cell(cell) => {
                let mut pairs: Vec<(&str, &str)> = cell
                    .values
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                pairs.sort_unstable();
                Box::new(pairs.into_iter())
            }
            Pairs::Owned(map) => Box::new(map.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        }
    }

    /// The value of `name`, if there is one.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub(crate) fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl PartialEq for Pairs<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Pairs<'_> {}

impl Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Pairs<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(Pairs::Owned)
    }
}

impl JsonSchema for Pairs<'_> {
    fn schema_name() -> Cow<'static, str> {
        "StringMap".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        BTreeMap::<String, String>::json_schema(generator)
    }
}

/// A build key: 64 hex digits of blake3.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct BuildKey(pub String);

impl BuildKey {
    pub(crate) fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
}

impl fmt::Display for BuildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> KeyInputs<'a> {
    /// The inputs of `target`, borrowed from the config and the lock's pins.
    pub fn of(
        config: &'a Config,
        target: &'a Target,
        image: &'a LockedImage,
        git: &'a LockedGit,
        env: Option<&'a LockedEnvironment>,
    ) -> KeyInputs<'a> {
        let project = config.project_of(target);
        let backend = git.build_backend(project.subdir.as_deref());
        let config_settings = crate::recipe::config_settings(backend, &project.config_settings);
        KeyInputs {
            format: KEY_FORMAT,
            image: ImageKey {
                platform: Cow::Borrowed(&image.platform),
                manifest_digest: Cow::Borrowed(&image.manifest_digest),
            },
            source: SourceKey {
                commit: Cow::Borrowed(&git.commit),
                subdir: project.subdir.as_deref().map(Cow::Borrowed),
            },
            build: Cow::Borrowed(&target.build),
            toolchain_check: target.toolchain_check.as_deref().map(Cow::Borrowed),
            env: Pairs::Sorted {
                entries: &target.env,
                skip: Some(&config.non_key_env),
            },
            pip: Cow::Borrowed(env.map_or(&[][..], |e| &e.packages)),
            apt: Cow::Borrowed(env.map_or(&[][..], |e| &e.debs)),
            axes: Pairs::Cell(&target.cell),
            gpu: project.gpu,
            repair: target.repair.as_deref().map(|r| RepairKey {
                tool: Cow::Borrowed("auditwheel"),
                exclude: Cow::Borrowed(&r.exclude),
            }),
            local_version: target.local_version.as_deref().map(Cow::Borrowed),
            variant: target.variant.as_deref().map(|v| VariantKey {
                label: Cow::Borrowed(&v.label),
                json: Cow::Borrowed(&v.json),
            }),
            config_settings: (!config_settings.is_empty()).then_some(config_settings),
            requires_check: backend
                .filter(|b| project.build_isolation && crate::recipe::asks_hook(b))
                .map(|b| RequiresCheckKey {
                    backend: Cow::Borrowed(b),
                    script: Cow::Borrowed(requires_script()),
                }),
            wheelbuild: Cow::Borrowed(recipe()),
        }
    }

    pub fn key(&self) -> BuildKey {
        BuildKey(CONTEXT.hash(self).to_hex().to_string())
    }

    /// An owned copy, for a build record.
    pub fn into_owned(self) -> KeyInputs<'static> {
        let KeyInputs {
            format,
            image:
                ImageKey {
                    platform,
                    manifest_digest,
                },
            source: SourceKey { commit, subdir },
            build,
            toolchain_check,
            env,
            pip,
            apt,
            axes,
            gpu,
            repair,
            local_version,
            variant,
            config_settings,
            requires_check,
            wheelbuild,
        } = self;
        let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        KeyInputs {
            format,
            image: ImageKey {
                platform: owned(platform),
                manifest_digest: owned(manifest_digest),
            },
            source: SourceKey {
                commit: owned(commit),
                subdir: subdir.map(owned),
            },
            build: owned(build),
            toolchain_check: toolchain_check.map(owned),
            env: Pairs::Owned(env.to_map()),
            pip: Cow::Owned(pip.into_owned()),
            apt: Cow::Owned(apt.into_owned()),
            axes: Pairs::Owned(axes.to_map()),
            gpu,
            repair: repair.map(|r| RepairKey {
                tool: owned(r.tool),
                exclude: Cow::Owned(r.exclude.into_owned()),
            }),
            local_version: local_version.map(owned),
            variant: variant.map(|v| VariantKey {
                label: owned(v.label),
                json: owned(v.json),
            }),
            config_settings: config_settings.map(|c| Cow::Owned(c.into_owned())),
            requires_check: requires_check.map(|r| RequiresCheckKey {
                backend: owned(r.backend),
                script: owned(r.script),
            }),
            wheelbuild: owned(wheelbuild),
        }
    }

    /// Inputs that differ from `old`, in the order of the table in the module docs.
    pub(crate) fn changes_from(&self, old: &KeyInputs<'_>) -> Vec<InputChange> {
        let KeyInputs {
            format,
            image,
            source,
            build,
            toolchain_check,
            env,
            pip,
            apt,
            axes,
            gpu,
            repair,
            local_version,
            variant,
            config_settings,
            requires_check,
            wheelbuild,
        } = self;
        let KeyInputs {
            format: old_format,
            image: old_image,
            source: old_source,
            build: old_build,
            toolchain_check: old_toolchain_check,
            env: old_env,
            pip: old_pip,
            apt: old_apt,
            axes: old_axes,
            gpu: old_gpu,
            repair: old_repair,
            local_version: old_local_version,
            variant: old_variant,
            config_settings: old_config_settings,
            requires_check: old_requires_check,
            wheelbuild: old_wheelbuild,
        } = old;
        let mut out = Vec::new();
        let s = |c: &Cow<'_, str>| c.to_string();
        let o = |c: &Option<Cow<'_, str>>| c.as_ref().map(|c| c.to_string());
        diff(&mut out, format != old_format, || InputChange::Format {
            old: *old_format,
            new: *format,
        });
        diff(&mut out, image.platform != old_image.platform, || {
            InputChange::Platform {
                old: s(&old_image.platform),
                new: s(&image.platform),
            }
        });
        diff(
            &mut out,
            image.manifest_digest != old_image.manifest_digest,
            || InputChange::ImageDigest {
                old: s(&old_image.manifest_digest),
                new: s(&image.manifest_digest),
            },
        );
        diff(&mut out, source.commit != old_source.commit, || {
            InputChange::Commit {
                old: s(&old_source.commit),
                new: s(&source.commit),
            }
        });
        diff(&mut out, source.subdir != old_source.subdir, || {
            InputChange::Subdir {
                old: o(&old_source.subdir),
                new: o(&source.subdir),
            }
        });
        diff(&mut out, build != old_build, || InputChange::Build {
            old: s(old_build),
            new: s(build),
        });
        diff(&mut out, toolchain_check != old_toolchain_check, || {
            InputChange::ToolchainCheck {
                old: o(old_toolchain_check),
                new: o(toolchain_check),
            }
        });
        for (name, old, new) in map_changes(old_env, env) {
            out.push(InputChange::Env { name, old, new });
        }
        let pip_pins = |pins: &[PipPin]| -> BTreeMap<String, (String, String)> {
            pins.iter()
                .map(|p| (p.name.clone(), (p.version.clone(), p.sha256.clone())))
                .collect()
        };
        for (name, old, new) in pin_changes(&pip_pins(old_pip), &pip_pins(pip)) {
            out.push(InputChange::Pip { name, old, new });
        }
        let apt_pins = |pins: &[AptPin]| -> BTreeMap<String, (String, String)> {
            pins.iter()
                .map(|p| (p.name.clone(), (p.version.clone(), String::new())))
                .collect()
        };
        for (name, old, new) in pin_changes(&apt_pins(old_apt), &apt_pins(apt)) {
            out.push(InputChange::Apt { name, old, new });
        }
        for (name, old, new) in map_changes(old_axes, axes) {
            out.push(InputChange::Axis { name, old, new });
        }
        diff(&mut out, gpu != old_gpu, || InputChange::Gpu {
            old: *old_gpu,
            new: *gpu,
        });
        diff(&mut out, repair != old_repair, || InputChange::Repair {
            old: old_repair.as_ref().map(RepairKey::describe),
            new: repair.as_ref().map(RepairKey::describe),
        });
        diff(&mut out, local_version != old_local_version, || {
            InputChange::LocalVersion {
                old: o(old_local_version),
                new: o(local_version),
            }
        });
        diff(&mut out, variant != old_variant, || InputChange::Variant {
            old: old_variant.as_ref().map(|v| v.label.to_string()),
            new: variant.as_ref().map(|v| v.label.to_string()),
        });
        diff(&mut out, config_settings != old_config_settings, || {
            InputChange::ConfigSettings {
                old: old_config_settings.as_deref().map(describe_settings),
                new: config_settings.as_deref().map(describe_settings),
            }
        });
        diff(&mut out, requires_check != old_requires_check, || {
            InputChange::RequiresCheck {
                old: old_requires_check.as_ref().map(RequiresCheckKey::describe),
                new: requires_check.as_ref().map(RequiresCheckKey::describe),
            }
        });
        diff(&mut out, wheelbuild != old_wheelbuild, || {
            InputChange::Wheelbuild {
                old: s(old_wheelbuild),
                new: s(wheelbuild),
            }
        });
        out
    }
}

/// `build-dir=build setup-args=-Dx=1`, for messages.
fn describe_settings(settings: &ConfigSettings) -> String {
    settings
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |v| format!("{name}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn diff(out: &mut Vec<InputChange>, differs: bool, change: impl FnOnce() -> InputChange) {
    if differs {
        out.push(change());
    }
}

/// `(name, old, new)` of every name whose value differs, in name order.
fn map_changes(old: &Pairs<'_>, new: &Pairs<'_>) -> Vec<(String, Option<String>, Option<String>)> {
    let (old, new) = (old.to_map(), new.to_map());
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| (n.clone(), old.get(n).cloned(), new.get(n).cloned()))
        .collect()
}

/// `(name, old, new)` of every pinned package that differs: its version, or (same
/// version, other artifact) `VERSION (sha256:0123456789ab)`.
fn pin_changes(
    old: &BTreeMap<String, (String, String)>,
    new: &BTreeMap<String, (String, String)>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let show = |pin: &(String, String), other: Option<&(String, String)>| match other {
        Some((v, sha)) if *v == pin.0 && *sha != pin.1 && !pin.1.is_empty() => {
            format!("{} (sha256:{})", pin.0, &pin.1[..12.min(pin.1.len())])
        }
        _ => pin.0.clone(),
    };
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| {
            let (o, w) = (old.get(n), new.get(n));
            (n.clone(), o.map(|p| show(p, w)), w.map(|p| show(p, o)))
        })
        .collect()
}

/// One input that changed since the last build of a target: why it is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputChange {
    Format {
        old: u32,
        new: u32,
    },
    Platform {
        old: String,
        new: String,
    },
    ImageDigest {
        old: String,
        new: String,
    },
    Commit {
        old: String,
        new: String,
    },
    Subdir {
        old: Option<String>,
        new: Option<String>,
    },
    Build {
        old: String,
        new: String,
    },
    ToolchainCheck {
        old: Option<String>,
        new: Option<String>,
    },
    Env {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    Pip {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    Apt {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    Axis {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    Gpu {
        old: bool,
        new: bool,
    },
    Repair {
        old: Option<String>,
        new: Option<String>,
    },
    LocalVersion {
        old: Option<String>,
        new: Option<String>,
    },
    /// The label, or (same label) the properties or providers behind it.
    Variant {
        old: Option<String>,
        new: Option<String>,
    },
    ConfigSettings {
        old: Option<String>,
        new: Option<String>,
    },
    RequiresCheck {
        old: Option<String>,
        new: Option<String>,
    },
    Wheelbuild {
        old: String,
        new: String,
    },
}

impl InputChange {
    /// Dotted input name, as in the module docs: `source.commit`, `env.CFLAGS`, …
    pub(crate) fn input(&self) -> String {
        match self {
            InputChange::Format { .. } => "format".into(),
            InputChange::Platform { .. } => "image.platform".into(),
            InputChange::ImageDigest { .. } => "image.manifest-digest".into(),
            InputChange::Commit { .. } => "source.commit".into(),
            InputChange::Subdir { .. } => "source.subdir".into(),
            InputChange::Build { .. } => "build".into(),
            InputChange::ToolchainCheck { .. } => "toolchain-check".into(),
            InputChange::Env { name, .. } => format!("env.{name}"),
            InputChange::Pip { name, .. } => format!("pip.{name}"),
            InputChange::Apt { name, .. } => format!("apt.{name}"),
            InputChange::Axis { name, .. } => format!("axes.{name}"),
            InputChange::Gpu { .. } => "gpu".into(),
            InputChange::Repair { .. } => "repair".into(),
            InputChange::LocalVersion { .. } => "local-version".into(),
            InputChange::Variant { .. } => "variant".into(),
            InputChange::ConfigSettings { .. } => "config-settings".into(),
            InputChange::RequiresCheck { .. } => "requires-check".into(),
            InputChange::Wheelbuild { .. } => "wheelbuild".into(),
        }
    }

    /// Old and new values as text (`None`: not set).
    pub(crate) fn values(&self) -> (Option<String>, Option<String>) {
        match self {
            InputChange::Format { old, new } => (Some(old.to_string()), Some(new.to_string())),
            InputChange::Gpu { old, new } => (Some(old.to_string()), Some(new.to_string())),
            InputChange::Platform { old, new }
            | InputChange::ImageDigest { old, new }
            | InputChange::Commit { old, new }
            | InputChange::Build { old, new }
            | InputChange::Wheelbuild { old, new } => (Some(old.clone()), Some(new.clone())),
            InputChange::Subdir { old, new }
            | InputChange::ToolchainCheck { old, new }
            | InputChange::Repair { old, new }
            | InputChange::LocalVersion { old, new }
            | InputChange::Variant { old, new }
            | InputChange::ConfigSettings { old, new }
            | InputChange::RequiresCheck { old, new }
            | InputChange::Env { old, new, .. }
            | InputChange::Axis { old, new, .. }
            | InputChange::Pip { old, new, .. }
            | InputChange::Apt { old, new, .. } => (old.clone(), new.clone()),
        }
    }
}

/// The plan JSON's `{ "input": "source.commit", "old": "…", "new": "…" }`.
impl Serialize for InputChange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let (old, new) = self.values();
        let mut st = s.serialize_struct("InputChange", 3)?;
        st.serialize_field("input", &self.input())?;
        st.serialize_field("old", &old)?;
        st.serialize_field("new", &new)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> KeyInputs<'static> {
        KeyInputs {
            format: KEY_FORMAT,
            image: ImageKey {
                platform: "linux/amd64".into(),
                manifest_digest: format!("sha256:{}", "a".repeat(64)).into(),
            },
            source: SourceKey {
                commit: "b".repeat(40).into(),
                subdir: None,
            },
            build: "make".into(),
            toolchain_check: None,
            env: Pairs::Owned(BTreeMap::from([("CFLAGS".into(), "-O2".into())])),
            pip: Cow::Owned(vec![]),
            apt: Cow::Owned(vec![]),
            axes: Pairs::Owned(BTreeMap::from([("python".into(), "3.11".into())])),
            gpu: false,
            repair: None,
            local_version: None,
            variant: None,
            config_settings: None,
            requires_check: None,
            wheelbuild: "blake3:recipe".into(),
        }
    }

    #[test]
    fn key_is_stable_across_releases() {
        // Pinned: a change here means every user's store is invalidated. Bump KEY_FORMAT
        // (and update this value) only on purpose.
        assert_eq!(
            inputs().key().0,
            "37076f4e553bc597958da1b5030f65d32fd744d94389f99a59b81b46773eb312"
        );
    }

    #[test]
    fn borrowed_and_owned_inputs_encode_alike() {
        let entries = vec![
            ("A".to_string(), "1".to_string()),
            ("MAX_JOBS".to_string(), "8".to_string()),
            ("Z".to_string(), "2".to_string()),
        ];
        let skip = BTreeSet::from(["MAX_JOBS".to_string()]);
        let cell = Cell {
            values: vec![
                ("python".into(), "3.11".into()),
                ("cuda".into(), "cuda12.4".into()),
            ],
            accel: crate::accel::Accel::Cuda("12.4".into()),
        };
        let mut borrowed = inputs();
        borrowed.env = Pairs::Sorted {
            entries: &entries,
            skip: Some(&skip),
        };
        borrowed.axes = Pairs::Cell(&cell);
        let owned = borrowed.clone().into_owned();
        assert!(matches!(owned.env, Pairs::Owned(_)));
        assert_eq!(owned.env.to_map().len(), 2, "MAX_JOBS is not a key input");
        assert_eq!(
            owned.axes.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["cuda", "python"],
            "axes in name order"
        );
        assert_eq!(owned.key(), borrowed.key());
        // And through JSON, as the store keeps them.
        let json = serde_json::to_string(&owned).unwrap();
        let back: KeyInputs<'static> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, owned);
        assert_eq!(back.key(), borrowed.key());
    }

    #[test]
    fn changes_name_each_input() {
        let old = inputs();
        let mut new = inputs();
        new.source.commit = "c".repeat(40).into();
        new.env = Pairs::Owned(BTreeMap::from([("CFLAGS".into(), "-O3".into())]));
        let pin = |version: &str, sha: char| PipPin {
            name: "torch".into(),
            version: version.into(),
            file: format!("torch-{version}-cp311-cp311-linux_x86_64.whl"),
            sha256: sha.to_string().repeat(64),
        };
        new.pip = Cow::Owned(vec![pin("2.4.0", 'a')]);
        let changes = new.changes_from(&old);
        let names: Vec<_> = changes.iter().map(InputChange::input).collect();
        assert_eq!(names, ["source.commit", "env.CFLAGS", "pip.torch"]);
        assert_eq!(
            changes[1],
            InputChange::Env {
                name: "CFLAGS".into(),
                old: Some("-O2".into()),
                new: Some("-O3".into())
            }
        );
        assert_eq!(
            serde_json::to_value(&changes[2]).unwrap(),
            serde_json::json!({ "input": "pip.torch", "old": null, "new": "2.4.0" })
        );
        // A new version, or another artifact of the same version.
        let mut newer = new.clone();
        newer.pip = Cow::Owned(vec![pin("2.4.1", 'a')]);
        assert_eq!(
            newer.changes_from(&new)[0].values(),
            (Some("2.4.0".into()), Some("2.4.1".into()))
        );
        let mut rebuilt = new.clone();
        rebuilt.pip = Cow::Owned(vec![pin("2.4.0", 'b')]);
        assert_eq!(
            rebuilt.changes_from(&new)[0].values(),
            (
                Some("2.4.0 (sha256:aaaaaaaaaaaa)".into()),
                Some("2.4.0 (sha256:bbbbbbbbbbbb)".into())
            )
        );
        assert_ne!(new.key(), old.key());
        assert!(old.changes_from(&old).is_empty());
    }

    #[test]
    fn repair_and_each_exclude_are_in_the_key() {
        let off = inputs();
        let mut on = inputs();
        let excludes = |e: &[&str]| Cow::Owned(e.iter().map(|s| s.to_string()).collect());
        on.repair = Some(RepairKey {
            tool: "auditwheel".into(),
            exclude: excludes(&["libcudart.so.*"]),
        });
        let mut more = on.clone();
        more.repair.as_mut().unwrap().exclude = excludes(&["libcudart.so.*", "libfoo.so.*"]);
        assert_ne!(off.key(), on.key());
        assert_ne!(on.key(), more.key());
        assert_eq!(
            more.changes_from(&on)[0].values(),
            (
                Some("auditwheel (exclude libcudart.so.*)".into()),
                Some("auditwheel (exclude libcudart.so.*, libfoo.so.*)".into())
            )
        );
        assert_eq!(on.changes_from(&off)[0].input(), "repair");
    }

    #[test]
    fn config_settings_change_the_key_and_leave_keys_without_them_alone() {
        let plain = inputs();
        let mut fixed = inputs();
        let settings = |dir: &str| {
            Some(Cow::Owned(ConfigSettings::from([(
                "build-dir".to_string(),
                vec![dir.to_string()],
            )])))
        };
        fixed.config_settings = settings("build");
        let mut other = inputs();
        other.config_settings = settings("out");
        assert_eq!(
            plain.key().0,
            "37076f4e553bc597958da1b5030f65d32fd744d94389f99a59b81b46773eb312",
            "absent, the input changes no key"
        );
        assert_ne!(fixed.key(), plain.key());
        assert_ne!(fixed.key(), other.key());
        let change = &other.changes_from(&fixed)[0];
        assert_eq!(change.input(), "config-settings");
        assert_eq!(
            change.values(),
            (Some("build-dir=build".into()), Some("build-dir=out".into()))
        );
    }

    #[test]
    fn a_local_version_and_a_variant_change_the_key_and_leave_other_keys_alone() {
        let plain = inputs();
        let mut local = inputs();
        local.local_version = Some("cu118".into());
        let mut variant = local.clone();
        variant.variant = Some(VariantKey {
            label: "cu118".into(),
            json: "{\"variants\": {\"cu118\": {}}}".into(),
        });
        let mut other_json = variant.clone();
        other_json.variant.as_mut().unwrap().json = "{}".into();
        let keys = [&plain, &local, &variant, &other_json].map(|k| k.key());
        assert_eq!(
            keys.iter().collect::<BTreeSet<_>>().len(),
            4,
            "each distinct: {keys:?}"
        );
        // Unset, they encode to nothing: the pinned key above did not move.
        assert_eq!(local.changes_from(&plain)[0].input(), "local-version");
        assert_eq!(
            other_json.changes_from(&variant)[0].values(),
            (Some("cu118".into()), Some("cu118".into()))
        );
    }

    /// Every test key input is listed once in the module docs' table, like the build
    /// key's.
    #[test]
    fn every_test_key_input_is_documented() {
        let source = include_str!("key.rs");
        let target: crate::config::Target = crate::config::Config::parse(
            std::path::Path::new("wheelbuild.toml"),
            "test-command = \"pytest\"\n[matrix]\npython = [\"3.11\"]\n[image]\ntemplate = \"r.example/b\"\n[[project]]\nname = \"p\"\ngit = \"https://e.example/p.git\"\n",
        )
        .unwrap()
        .targets
        .remove(0);
        let image = crate::lock::LockedImage {
            reference: "r.example/b".into(),
            platform: "linux/amd64".into(),
            name: "r.example/b".into(),
            tag: None,
            index_digest: None,
            manifest_digest: format!("sha256:{}", "a".repeat(64)),
            media_type: String::new(),
        };
        let key = inputs().key();
        let test = TestKeyInputs::of(&target, &key, &image, None).unwrap();
        let json = serde_json::to_value(&test).unwrap();
        for field in json.as_object().unwrap().keys() {
            let row = format!("//! | `{field}` |");
            assert_eq!(source.matches(&row).count(), 1, "test key input `{field}`");
        }
    }

    /// Every key input is listed once in the module docs' table (the one place a reader
    /// learns what a key covers).
    #[test]
    fn every_key_input_is_documented() {
        let source = include_str!("key.rs");
        let docs: String = source
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .collect::<Vec<_>>()
            .join("\n");
        let mut all = inputs();
        all.local_version = Some("cu118".into());
        all.variant = Some(VariantKey {
            label: "cu118".into(),
            json: "{}".into(),
        });
        all.config_settings = Some(Cow::Owned(ConfigSettings::from([(
            "build-dir".into(),
            vec!["build".into()],
        )])));
        all.requires_check = Some(RequiresCheckKey {
            backend: "mesonpy".into(),
            script: requires_script().into(),
        });
        let json = serde_json::to_value(all).unwrap();
        for field in json.as_object().unwrap().keys() {
            let row = format!("| `{field}` |");
            assert_eq!(
                docs.matches(&row).count(),
                1,
                "key input `{field}` must have exactly one row in the table of src/key.rs"
            );
        }
    }
}
