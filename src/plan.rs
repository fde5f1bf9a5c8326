//! Stage 4: targets with their keys, and whether each must be built (and why).
//!
//! The JSON form ([`PlanJson`]) is a stable interface for CI: `version` is bumped on any
//! incompatible change. `matrix.include` lists the targets to build in the shape GitHub
//! Actions' `strategy.matrix: ${{ fromJSON(...) }}` expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use crate::config::{Cell, Config, GitInput, ImageInput, Project, TargetSpec};
use crate::key::{self, BuildKey, InputChange, KeyInputs};
use crate::lock::{LockError, LockedGit, LockedImage, Lockfile, RefKind, short_digest};
use crate::store::{Store, StoreError};

pub const PLAN_JSON_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The key is in the store: nothing to do.
    Cached,
    /// The key is not in the store.
    Build,
}

/// Why a target must be built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// The store has never built this target.
    NewTarget,
    /// These inputs differ from the last build of this target.
    InputsChanged { changes: Vec<InputChange> },
    /// The last build had this very key, but its record is gone from the store.
    RecordMissing,
    /// The last build's record cannot be compared (written by another key format).
    PreviousUnreadable { detail: String },
}

impl Reason {
    pub fn summary(&self) -> String {
        match self {
            Reason::NewTarget => "new target".into(),
            Reason::RecordMissing => "build record missing from the store".into(),
            Reason::PreviousUnreadable { detail } => {
                format!("previous build unreadable ({detail})")
            }
            Reason::InputsChanged { changes } => {
                let mut s = String::new();
                for (i, c) in changes.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    let short = |v: &Option<String>| match v {
                        None => "(none)".to_string(),
                        Some(v) if v.starts_with("sha256:") => short_digest(v),
                        Some(v) if crate::lock::is_full_sha(v) => v[..12].to_string(),
                        Some(v) => v.clone(),
                    };
                    let _ = write!(s, "{} {} -> {}", c.input, short(&c.old), short(&c.new));
                }
                s
            }
        }
    }
}

/// A target with its key and status. Borrows the config and lock: a plan of thousands of
/// targets copies nothing but keys.
#[derive(Debug, Clone)]
pub struct PlannedTarget<'a> {
    pub spec: &'a TargetSpec,
    pub project: &'a Project,
    pub image: &'a LockedImage,
    pub git: &'a LockedGit,
    pub key: BuildKey,
    pub status: Status,
    pub reason: Option<Reason>,
}

impl PlannedTarget<'_> {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Everything the key covers, owned (for build records and diffs).
    pub fn inputs(&self, config: &Config) -> KeyInputs {
        KeyInputs::new(config, self.spec, self.image, self.git)
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

impl<'a> Plan<'a> {
    /// Compute keys for every target from the lock, and check them against the store.
    pub fn new(
        config: &'a Config,
        lock: &'a Lockfile,
        store: &Store,
    ) -> Result<Plan<'a>, PlanError> {
        // Many targets share one image and one commit: look each up once.
        let mut images: BTreeMap<&ImageInput, &LockedImage> = BTreeMap::new();
        let mut sources: BTreeMap<&GitInput, &LockedGit> = BTreeMap::new();
        let mut pinned = Vec::with_capacity(config.targets.len());
        for spec in &config.targets {
            let project = &config.projects[spec.project];
            let image = match images.get(&*spec.image) {
                Some(i) => *i,
                None => {
                    let i = lock.image(&spec.image).ok_or_else(|| LockError::Stale {
                        reason: format!(
                            "image `{}` ({}) is not pinned",
                            spec.image.reference, spec.image.platform
                        ),
                    })?;
                    images.insert(&*spec.image, i);
                    i
                }
            };
            let git = match sources.get(&project.git) {
                Some(g) => *g,
                None => {
                    let g = lock.git(&project.git).ok_or_else(|| LockError::Stale {
                        reason: format!(
                            "git `{}` at `{}` is not pinned",
                            project.git.url,
                            project.git.display_ref()
                        ),
                    })?;
                    sources.insert(&project.git, g);
                    g
                }
            };
            pinned.push((spec, project, image, git));
        }

        // Big plans list the store once; small ones check each key.
        let listed = if pinned.len() >= 64 {
            Some(store.keys()?)
        } else {
            None
        };
        let present = |key: &BuildKey| match &listed {
            Some(keys) => keys.contains(key),
            None => store.has(key),
        };
        // Hashing and the store lookup are independent per target: spread big plans over
        // the cores (a thread costs tens of microseconds, so small plans stay on one).
        let plan_one = |&(spec, project, image, git): &(
            &'a TargetSpec,
            &'a Project,
            &'a LockedImage,
            &'a LockedGit,
        )| {
            let mut target = PlannedTarget {
                spec,
                project,
                image,
                git,
                key: key::target_key(config, spec, image, git),
                status: Status::Cached,
                reason: None,
            };
            if !present(&target.key) {
                target.status = Status::Build;
                target.reason = Some(why(store, &target.inputs(config), &target)?);
            }
            Ok::<_, StoreError>(target)
        };
        let threads = crate::par::threads_for(pinned.len());
        let targets: Vec<PlannedTarget<'a>> = if threads == 1 {
            pinned.iter().map(plan_one).collect::<Result<_, _>>()?
        } else {
            crate::par::map_chunks(&pinned, threads, |part| {
                part.iter().map(plan_one).collect::<Result<Vec<_>, _>>()
            })
            .into_iter()
            .collect::<Result<Vec<Vec<_>>, _>>()?
            .into_iter()
            .flatten()
            .collect()
        };
        Ok(Plan { targets })
    }

    pub fn to_build(&self) -> impl Iterator<Item = &PlannedTarget<'a>> {
        self.targets.iter().filter(|t| t.status == Status::Build)
    }

    pub fn summary(&self) -> Summary {
        let build = self.to_build().count();
        Summary {
            targets: self.targets.len(),
            cached: self.targets.len() - build,
            build,
        }
    }

    pub fn to_json(&self) -> PlanJson<'_> {
        PlanJson {
            version: PLAN_JSON_VERSION,
            summary: self.summary(),
            targets: self.targets.iter().map(TargetJson::from).collect(),
            matrix: GithubMatrix {
                include: self
                    .to_build()
                    .map(|t| MatrixEntry {
                        id: &t.spec.id,
                        project: &t.project.name,
                        key: &t.key,
                        axes: Axes(&t.spec.cell),
                    })
                    .collect(),
            },
        }
    }

    /// The human table.
    pub fn to_table(&self) -> String {
        let mut out = Vec::new();
        self.write_table(&mut out)
            .expect("writing to memory cannot fail");
        String::from_utf8(out).expect("the table is UTF-8")
    }

    /// Write the human table, row by row (no copy of the whole table in memory).
    pub fn write_table(&self, out: &mut (impl std::io::Write + ?Sized)) -> std::io::Result<()> {
        let id_width = self
            .targets
            .iter()
            .map(|t| t.spec.id.len())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            out,
            "{:id_width$}  {:6}  {:12}  {:19}  {:12}  REASON",
            "TARGET", "STATUS", "KEY", "IMAGE", "COMMIT"
        )?;
        let mut row = String::with_capacity(id_width + 120);
        for t in &self.targets {
            let status = match t.status {
                Status::Cached => "cached",
                Status::Build => "build ",
            };
            // Plain pushes: this runs once per target, and `format!` padding is slow.
            row.clear();
            row.push_str(&t.spec.id);
            row.extend(std::iter::repeat_n(' ', id_width - t.spec.id.len() + 2));
            row.push_str(status);
            row.push_str("  ");
            row.push_str(t.key.short());
            row.push_str("  ");
            let digest = &t.image.manifest_digest;
            row.push_str(&digest[..19.min(digest.len())]);
            row.push_str("  ");
            row.push_str(&t.git.commit[..12]);
            row.push_str("  ");
            if let Some(r) = &t.reason {
                row.push_str(&r.summary());
            }
            // No trailing spaces on cached rows.
            row.truncate(row.trim_end_matches(' ').len());
            row.push('\n');
            out.write_all(row.as_bytes())?;
        }
        let s = self.summary();
        writeln!(
            out,
            "{} targets: {} cached, {} to build",
            s.targets, s.cached, s.build
        )
    }
}

fn why(
    store: &Store,
    inputs: &KeyInputs,
    target: &PlannedTarget<'_>,
) -> Result<Reason, StoreError> {
    let last = match store.last_build(&target.spec.id) {
        Ok(Some(last)) => last,
        Ok(None) => return Ok(Reason::NewTarget),
        Err(StoreError::Corrupt { detail, .. }) => {
            return Ok(Reason::PreviousUnreadable { detail });
        }
        Err(e) => return Err(e),
    };
    if last.key == target.key {
        return Ok(Reason::RecordMissing);
    }
    Ok(Reason::InputsChanged {
        changes: inputs.changes_from(&last.inputs),
    })
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
pub struct Summary {
    pub targets: usize,
    pub cached: usize,
    pub build: usize,
}

/// `wheelbuild plan --format json`.
#[derive(Serialize)]
pub struct PlanJson<'a> {
    pub version: u32,
    pub summary: Summary,
    pub targets: Vec<TargetJson<'a>>,
    pub matrix: GithubMatrix<'a>,
}

/// One target in the JSON plan.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TargetJson<'a> {
    pub id: &'a str,
    pub project: &'a str,
    pub axes: Axes<'a>,
    pub image: ImageJson<'a>,
    pub source: SourceJson<'a>,
    pub key: &'a BuildKey,
    pub status: Status,
    pub reason: Option<&'a Reason>,
    /// Wheelhouse directory of this target's wheels, relative to the output directory.
    pub output: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageJson<'a> {
    pub reference: &'a str,
    pub platform: &'a str,
    pub name: &'a str,
    pub index_digest: Option<&'a str>,
    pub manifest_digest: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SourceJson<'a> {
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
            id: &t.spec.id,
            project: &t.project.name,
            axes: Axes(&t.spec.cell),
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
            output: &t.spec.output_subdir,
        }
    }
}

/// A cell's axis values as a JSON object, in axis-name order.
pub struct Axes<'a>(pub &'a Cell);

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
pub struct GithubMatrix<'a> {
    pub include: Vec<MatrixEntry<'a>>,
}

#[derive(Serialize)]
pub struct MatrixEntry<'a> {
    pub id: &'a str,
    pub project: &'a str,
    pub key: &'a BuildKey,
    pub axes: Axes<'a>,
}
