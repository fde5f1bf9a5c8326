//! Stage 4: targets with their keys ([`crate::key`]), and whether each must be built, and why
//! ([`Reason`]).
//!
//! The JSON form ([`PlanJson`]) is a stable interface for CI: `version` is bumped on any
//! incompatible change. `matrix.include` lists the targets to build in the shape GitHub
//! Actions' `strategy.matrix: ${{ fromJSON(...) }}` expects.

mod reason;
pub mod shard;

use schemars::JsonSchema;
use serde::Serialize;

use crate::config::{Cell, Config, Project, Target};
use crate::key::{BuildKey, KeyInputs, TestKey, TestKeyInputs};
use crate::lock::{LockError, LockedEnvironment, LockedGit, LockedImage, Lockfile, Pins, RefKind};
use crate::store::{Presence, Store, StoreError, TestRecord};
pub(crate) use reason::{Reason, TestReason};

pub(crate) const PLAN_JSON_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Status {
    /// The key is in the store: nothing to do.
    Cached,
    /// The key is not in the store.
    Build,
    /// The key is not in the store, but the remote cache has it (`--remote`): `build`
    /// pulls it (when a trusted key signed it) instead of building.
    Remote,
    /// The index publishes nothing for the target's environment: not built.
    Unavailable,
}

/// A target with its key and status. Borrows the config and lock: a plan of thousands of
/// targets copies nothing but keys.
#[derive(Debug, Clone)]
pub struct PlannedTarget<'a> {
    pub target: &'a Target,
    pub project: &'a Project,
    pub image: &'a LockedImage,
    pub git: &'a LockedGit,
    /// The project's build requirements, as the lock read them at the commit.
    pub build_requires: &'a [String],
    /// The resolved environment, when the target installs packages.
    pub env: Option<&'a LockedEnvironment>,
    pub key: BuildKey,
    pub(crate) status: Status,
    pub(crate) reason: Option<Reason>,
    /// Its wheels' test; `None`: the target has no `test-command`.
    pub test: Option<PlannedTest<'a>>,
}

/// A target's test, with its key and whether it must run.
#[derive(Debug, Clone)]
pub struct PlannedTest<'a> {
    pub key: TestKey,
    /// The pinned test image (`test-image`, else the target's image).
    pub image: &'a LockedImage,
    /// The resolved test environment, when the test installs packages.
    pub env: Option<&'a LockedEnvironment>,
    /// The outcome stored for the key, if any.
    pub(crate) stored: Option<TestRecord>,
    /// Why it must run; `None`: its outcome (passed or failed) is stored, or the remote
    /// cache holds its passed outcome (`on_remote`).
    pub(crate) pending: Option<TestReason>,
    /// The remote cache holds a passed outcome that `build` would pull (`--remote`).
    pub(crate) on_remote: bool,
}

impl PlannedTest<'_> {
    /// The test of `target` built as `key`, with the outcome the store has for it.
    fn of<'a>(
        store: &Store,
        target: &'a Target,
        key: &BuildKey,
        image: Option<&'a LockedImage>,
        env: Option<&'a LockedEnvironment>,
    ) -> Result<Option<PlannedTest<'a>>, StoreError> {
        let Some(image) = image else {
            return Ok(None);
        };
        let Some(inputs) = TestKeyInputs::of(target, key, image, env) else {
            return Ok(None);
        };
        let key = inputs.key();
        let stored = store.test_record(&key)?;
        let pending = match stored.as_ref().map(|r| &r.outcome) {
            None => Some(TestReason::NotTested),
            Some(crate::store::TestOutcome::NotRun { why }) => {
                Some(TestReason::NotRun { why: why.clone() })
            }
            Some(_) => None,
        };
        Ok(Some(PlannedTest {
            key,
            image,
            env,
            stored,
            pending,
            on_remote: false,
        }))
    }
}

impl<'a> PlannedTarget<'a> {
    pub fn id(&self) -> &'a str {
        &self.target.id
    }

    /// Everything the key covers, borrowed.
    pub fn inputs(&self, config: &'a Config) -> KeyInputs<'a> {
        KeyInputs::of(config, self.target, self.image, self.git, self.env)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Plan<'a> {
    pub targets: Vec<PlannedTarget<'a>>,
}

/// A target with its pins, before its key.
#[derive(Clone, Copy)]
struct Pinned<'a> {
    target: &'a Target,
    project: &'a Project,
    pins: Pins<'a>,
}

impl<'a> Pinned<'a> {
    fn inputs(&self, config: &'a Config) -> KeyInputs<'a> {
        let Pins {
            image, git, env, ..
        } = self.pins;
        KeyInputs::of(config, self.target, image, git, env)
    }
}

impl<'a> Plan<'a> {
    /// Compute keys for every target from the lock, and check them against the store.
    pub fn new(
        config: &'a Config,
        lock: &'a Lockfile,
        store: &Store,
    ) -> Result<Plan<'a>, PlanError> {
        let mut pins = lock.pins(config);
        let pinned = config
            .targets
            .iter()
            .map(|target| {
                Ok(Pinned {
                    target,
                    project: config.project_of(target),
                    pins: pins.of(target)?,
                })
            })
            .collect::<Result<Vec<_>, LockError>>()?;

        // Keys are computed (on every core for big plans: a thread costs tens of
        // microseconds, so small plans stay on one) while another thread lists the store.
        let key_of = |p: &Pinned<'a>| p.inputs(config).key();
        let (snapshot, keys) = std::thread::scope(|scope| {
            let snapshot = scope.spawn(|| store.snapshot());
            let keys: Vec<BuildKey> =
                crate::par::map_each(&pinned, crate::par::threads_for(pinned.len()), key_of);
            let snapshot = snapshot.join().expect("listing the store does not panic");
            (snapshot, keys)
        });
        let snapshot = snapshot?;
        // Then the store check, with a read of the last build for each target to build.
        let check = |(p, key): (Pinned<'a>, BuildKey)| {
            let unavailable = p.pins.env.and_then(LockedEnvironment::unavailable_reason);
            let reason = match unavailable {
                Some(detail) => Some(Reason::Unavailable { detail }),
                None => match snapshot.presence(store, &key)? {
                    Presence::Present => None,
                    Presence::Absent => Some(why(store, &p.inputs(config), &key, &p.target.id)?),
                    Presence::Damaged(damage) => Some(Reason::Damaged {
                        path: damage.path,
                        problem: damage.problem.to_string(),
                    }),
                },
            };
            let Pinned {
                target,
                project,
                pins:
                    Pins {
                        image,
                        git,
                        build_requires,
                        env,
                        test_image,
                        test_env,
                    },
            } = p;
            let test = PlannedTest::of(store, target, &key, test_image, test_env)?;
            Ok::<_, StoreError>(PlannedTarget {
                target,
                project,
                image,
                git,
                build_requires,
                env,
                key,
                status: match reason {
                    Some(Reason::Unavailable { .. }) => Status::Unavailable,
                    Some(_) => Status::Build,
                    None => Status::Cached,
                },
                reason,
                test,
            })
        };
        let keyed: Vec<_> = pinned.into_iter().zip(keys).collect();
        let threads = crate::par::threads_for(keyed.len());
        let targets: Vec<PlannedTarget<'a>> = if threads == 1 {
            keyed.into_iter().map(check).collect::<Result<_, _>>()?
        } else {
            crate::par::map_each(&keyed, threads, |k| check(k.clone()))
                .into_iter()
                .collect::<Result<_, _>>()?
        };
        Ok(Plan { targets })
    }

    pub fn to_build(&self) -> impl Iterator<Item = &PlannedTarget<'a>> {
        self.targets.iter().filter(|t| t.status == Status::Build)
    }

    /// Targets to build whose key is in `remote`: [`Status::Remote`].
    pub(crate) fn mark_remote(&mut self, remote: &std::collections::BTreeSet<BuildKey>) {
        for t in &mut self.targets {
            if t.status == Status::Build && remote.contains(&t.key) {
                t.status = Status::Remote;
            }
        }
    }

    /// Keep only the targets to build that fall in `shard` (see [`shard`]). The split is
    /// over every target of the plan, whatever the store or the remote holds: runners that
    /// start at different times, after others pushed, still agree on it.
    pub(crate) fn keep_shard(&mut self, shard: shard::Shard) {
        let ids: Vec<&str> = self.targets.iter().map(|t| t.target.id.as_str()).collect();
        let parts = shard::assign(&ids, shard.count);
        let mine: std::collections::BTreeSet<String> = ids
            .iter()
            .zip(parts)
            .filter(|(_, p)| *p + 1 == shard.index)
            .map(|(id, _)| id.to_string())
            .collect();
        self.targets
            .retain(|t| t.status == Status::Build && mine.contains(&t.target.id));
    }

    /// The JSON plan with a GitHub Actions matrix of one entry per non-empty shard of
    /// `count` (`{"shard": "2/4", "targets": 5}`) instead of one per target.
    pub(crate) fn to_json_sharded(&self, count: usize) -> PlanJson<'_> {
        let ids: Vec<&str> = self.targets.iter().map(|t| t.target.id.as_str()).collect();
        let mut sizes = vec![0usize; count.max(1)];
        for (t, p) in self.targets.iter().zip(shard::assign(&ids, count)) {
            if t.status == Status::Build {
                sizes[p] += 1;
            }
        }
        let mut json = self.to_json();
        json.matrix.include = sizes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                MatrixItem::Shard(ShardEntry {
                    shard: shard::Shard {
                        index: i + 1,
                        count: sizes.len(),
                    }
                    .to_string(),
                    targets: *n,
                })
            })
            .collect();
        json
    }

    /// Targets whose environment is unavailable: never built.
    pub(crate) fn unavailable(&self) -> impl Iterator<Item = &PlannedTarget<'a>> {
        self.targets
            .iter()
            .filter(|t| t.status == Status::Unavailable)
    }

    /// Targets whose build is cached, here or on the remote, but whose test must run.
    pub(crate) fn to_test(&self) -> impl Iterator<Item = &PlannedTarget<'a>> {
        self.targets.iter().filter(|t| {
            matches!(t.status, Status::Cached | Status::Remote)
                && t.test.as_ref().is_some_and(|x| x.pending.is_some())
        })
    }

    /// Tests that must run of targets built or to pull, by test key and build key: those
    /// whose passed outcome the remote may hold.
    pub(crate) fn tests_to_ask(&self) -> Vec<(TestKey, BuildKey)> {
        self.targets
            .iter()
            .filter(|t| t.status != Status::Unavailable)
            .filter_map(|t| {
                let test = t.test.as_ref()?;
                test.pending.as_ref()?;
                Some((test.key.clone(), t.key.clone()))
            })
            .collect()
    }

    /// Tests whose passed outcome is on the remote (`keys`): not pending, `build` pulls it.
    pub(crate) fn mark_remote_tests(&mut self, keys: &std::collections::BTreeSet<TestKey>) {
        for test in self.targets.iter_mut().filter_map(|t| t.test.as_mut()) {
            if test.pending.is_some() && keys.contains(&test.key) {
                test.pending = None;
                test.on_remote = true;
            }
        }
    }

    pub(crate) fn summary(&self) -> Summary {
        let build = self.to_build().count();
        let unavailable = self.unavailable().count();
        Summary {
            targets: self.targets.len(),
            cached: self.targets.len() - build - unavailable,
            build,
            unavailable,
            test: self.to_test().count(),
        }
    }

    pub(crate) fn to_json(&self) -> PlanJson<'_> {
        PlanJson {
            version: PLAN_JSON_VERSION,
            summary: self.summary(),
            targets: self.targets.iter().map(TargetJson::from).collect(),
            matrix: GithubMatrix {
                include: self
                    .to_build()
                    .map(|t| {
                        MatrixItem::Target(MatrixEntry {
                            id: &t.target.id,
                            project: &t.project.name,
                            key: &t.key,
                            axes: Axes(&t.target.cell),
                        })
                    })
                    .collect(),
            },
        }
    }
}

/// Why a target whose key is not in the store must be built.
fn why(
    store: &Store,
    inputs: &KeyInputs<'_>,
    key: &BuildKey,
    id: &str,
) -> Result<Reason, StoreError> {
    let last = match store.last_build(id) {
        Ok(Some(last)) => last,
        Ok(None) => return Ok(Reason::NewTarget),
        Err(StoreError::Corrupt { detail, .. }) => {
            return Ok(Reason::PreviousUnreadable { detail });
        }
        Err(e) => return Err(e),
    };
    if last.key == *key {
        return Ok(Reason::RecordMissing);
    }
    Ok(Reason::InputsChanged {
        changes: inputs.changes_from(&last.inputs),
    })
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
pub(crate) struct Summary {
    pub targets: usize,
    pub cached: usize,
    pub build: usize,
    /// Targets not built: the index publishes nothing for their environment (left out
    /// when none, as before there were any).
    #[serde(skip_serializing_if = "is_zero")]
    pub unavailable: usize,
    /// Cached targets whose test must run (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub test: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `wheelbuild plan --format json`.
#[derive(Serialize)]
pub(crate) struct PlanJson<'a> {
    pub version: u32,
    pub summary: Summary,
    pub targets: Vec<TargetJson<'a>>,
    pub matrix: GithubMatrix<'a>,
}

/// One target in the JSON plan.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct TargetJson<'a> {
    pub id: &'a str,
    pub project: &'a str,
    pub axes: Axes<'a>,
    pub image: ImageJson<'a>,
    pub source: SourceJson<'a>,
    pub key: &'a BuildKey,
    pub status: Status,
    pub reason: Option<&'a Reason>,
    /// The test of its wheels: absent when the target has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<TestJson<'a>>,
    /// Wheelhouse directory of this target's wheels, relative to the output directory.
    pub output: &'a str,
    /// What the build installs, from the lock: absent when it installs nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentJson<'a>>,
    /// The manylinux repair of the target's wheels; `null` with `repair = "none"`.
    pub repair: Option<RepairJson<'a>>,
    /// `[output] local-version` in this cell (`cu118`): absent when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_version: Option<&'a str>,
    /// The PEP 825 variant of the target's wheels: absent when the project has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct TestJson<'a> {
    /// `null` when skipped.
    pub key: Option<&'a TestKey>,
    /// Why it must run; `null`: its outcome is stored, or it is skipped.
    pub pending: Option<&'a TestReason>,
    /// Why the cell's wheels are not tested (`test-skip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct VariantJson<'a> {
    pub label: &'a str,
    /// namespace → feature → values.
    pub properties: &'a crate::wheel::variant::Properties,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RepairJson<'a> {
    pub tool: &'static str,
    /// SONAME globs never grafted: the accelerator's defaults and the config's.
    pub exclude: &'a [String],
}

/// A target's environment in the plan JSON: the image's facts and the pins, as
/// `name==version` (pip) and `name=version` (apt).
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct EnvironmentJson<'a> {
    pub facts: &'a std::collections::BTreeMap<String, String>,
    pub pip: Vec<String>,
    pub apt: Vec<String>,
    /// The project's build requirements the environment was resolved with.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub build_requires: &'a [String],
    /// Build requirements met by the base image, `name==version`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_image: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ImageJson<'a> {
    pub reference: &'a str,
    pub platform: &'a str,
    pub name: &'a str,
    pub index_digest: Option<&'a str>,
    pub manifest_digest: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct SourceJson<'a> {
    pub url: &'a str,
    #[serde(rename = "ref")]
    pub reference: Option<&'a str>,
    pub kind: RefKind,
    pub commit: &'a str,
    pub subdir: Option<&'a str>,
}

impl<'a> From<&'a PlannedTarget<'a>> for TargetJson<'a> {
    fn from(t: &'a PlannedTarget<'a>) -> Self {
        TargetJson {
            id: &t.target.id,
            project: &t.project.name,
            axes: Axes(&t.target.cell),
            image: ImageJson {
                reference: &t.image.reference,
                platform: &t.image.platform,
                name: &t.image.name,
                index_digest: t.image.index_digest.as_deref(),
                manifest_digest: &t.image.manifest_digest,
            },
            source: SourceJson {
                url: &t.git.url,
                reference: t.git.reference.as_deref(),
                kind: t.git.kind,
                commit: &t.git.commit,
                subdir: t.project.subdir.as_deref(),
            },
            key: &t.key,
            status: t.status,
            reason: t.reason.as_ref(),
            test: t.target.test.as_deref().map(|declared| TestJson {
                key: t.test.as_ref().map(|x| &x.key),
                pending: t.test.as_ref().and_then(|x| x.pending.as_ref()),
                skipped: declared.skip.as_deref(),
            }),
            output: &t.target.output_subdir,
            repair: t.target.repair.as_deref().map(|r| RepairJson {
                tool: "auditwheel",
                exclude: &r.exclude,
            }),
            local_version: t.target.local_version.as_deref(),
            variant: t.target.variant.as_deref().map(|v| VariantJson {
                label: &v.label,
                properties: &v.properties,
            }),
            environment: t.env.map(|e| EnvironmentJson {
                facts: &e.facts.0,
                pip: e
                    .packages
                    .iter()
                    .map(|p| format!("{}=={}", p.name, p.version))
                    .collect(),
                apt: e
                    .debs
                    .iter()
                    .map(|d| format!("{}={}", d.name, d.version))
                    .collect(),
                build_requires: &e.build,
                from_image: e
                    .from_image
                    .iter()
                    .map(|p| format!("{}=={}", p.name, p.version))
                    .collect(),
            }),
        }
    }
}

/// A cell's axis values as a JSON object, in axis-name order.
pub(crate) struct Axes<'a>(pub &'a Cell);

impl Serialize for Axes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(&str, &str)> = self
            .0
            .values
            .iter()
            .map(|(a, v)| (a.as_str(), v.as_str()))
            .collect();
        pairs.sort_unstable();
        s.collect_map(pairs)
    }
}

#[derive(Serialize)]
pub(crate) struct GithubMatrix<'a> {
    /// One entry per target to build; or, with `--matrix-shards`, one per shard.
    pub include: Vec<MatrixItem<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum MatrixItem<'a> {
    Target(MatrixEntry<'a>),
    Shard(ShardEntry),
}

#[derive(Serialize)]
pub(crate) struct ShardEntry {
    /// `I/N`, for `build --shard`.
    pub shard: String,
    pub targets: usize,
}

#[derive(Serialize)]
pub(crate) struct MatrixEntry<'a> {
    pub id: &'a str,
    pub project: &'a str,
    pub key: &'a BuildKey,
    pub axes: Axes<'a>,
}
