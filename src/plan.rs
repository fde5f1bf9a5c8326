//! Stage 4: targets with their keys, and whether each must be built (and why).
//!
//! The JSON form ([`PlanJson`]) is a stable interface for CI: `version` is bumped on any
//! incompatible change. `matrix.include` lists the targets to build in the shape GitHub
//! Actions' `strategy.matrix: ${{ fromJSON(...) }}` expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use crate::config::Config;
use crate::key::{BuildKey, InputChange, KeyInputs};
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
            Reason::PreviousUnreadable { detail } => format!("previous build unreadable ({detail})"),
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

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ImagePin {
    pub reference: String,
    pub platform: String,
    pub name: String,
    pub index_digest: Option<String>,
    pub manifest_digest: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SourcePin {
    pub url: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub kind: RefKind,
    pub commit: String,
    pub subdir: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedTarget {
    pub id: String,
    pub project: String,
    pub axes: BTreeMap<String, String>,
    pub image: ImagePin,
    pub source: SourcePin,
    pub key: BuildKey,
    pub status: Status,
    pub reason: Option<Reason>,
    /// Wheelhouse directory of this target's wheels, relative to the output directory.
    pub output: String,
    #[serde(skip)]
    pub inputs: KeyInputs,
    /// Index into `Config::targets`.
    #[serde(skip)]
    pub spec: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Plan {
    pub targets: Vec<PlannedTarget>,
}

impl Plan {
    /// Compute keys for every target from the lock, and check them against the store.
    pub fn new(config: &Config, lock: &Lockfile, store: &Store) -> Result<Plan, PlanError> {
        let mut targets = Vec::with_capacity(config.targets.len());
        // Many targets share one image and one commit: look each up once.
        let mut images: BTreeMap<&crate::config::ImageInput, &LockedImage> = BTreeMap::new();
        let mut sources: BTreeMap<&crate::config::GitInput, &LockedGit> = BTreeMap::new();
        for (spec_index, spec) in config.targets.iter().enumerate() {
            let project = &config.projects[spec.project];
            let image = match images.get(&spec.image) {
                Some(i) => *i,
                None => {
                    let i = lock.image(&spec.image).ok_or_else(|| LockError::Stale {
                        reason: format!(
                            "image `{}` ({}) is not pinned",
                            spec.image.reference, spec.image.platform
                        ),
                    })?;
                    images.insert(&spec.image, i);
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
            let inputs = KeyInputs::new(config, spec, image, git);
            let key = inputs.key();
            let (status, reason) = if store.has(&key) {
                (Status::Cached, None)
            } else {
                (Status::Build, Some(why(store, &spec.id, &key, &inputs)?))
            };
            targets.push(PlannedTarget {
                id: spec.id.clone(),
                project: project.name.clone(),
                axes: spec.cell.values.iter().cloned().collect(),
                image: ImagePin {
                    reference: image.reference.clone(),
                    platform: image.platform.clone(),
                    name: image.name.clone(),
                    index_digest: image.index_digest.clone(),
                    manifest_digest: image.manifest_digest.clone(),
                },
                source: SourcePin {
                    url: git.url.clone(),
                    reference: git.reference.clone(),
                    kind: git.kind,
                    commit: git.commit.clone(),
                    subdir: project.subdir.clone(),
                },
                key,
                status,
                reason,
                output: spec.output_subdir.clone(),
                inputs,
                spec: spec_index,
            });
        }
        Ok(Plan { targets })
    }

    pub fn to_build(&self) -> impl Iterator<Item = &PlannedTarget> {
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
            targets: &self.targets,
            matrix: GithubMatrix {
                include: self
                    .to_build()
                    .map(|t| MatrixEntry {
                        id: &t.id,
                        project: &t.project,
                        key: &t.key,
                        axes: &t.axes,
                    })
                    .collect(),
            },
        }
    }

    /// The human table.
    pub fn to_table(&self) -> String {
        let id_width = self.targets.iter().map(|t| t.id.len()).max().unwrap_or(6).max(6);
        let mut out = String::with_capacity(self.targets.len() * (id_width + 80));
        let _ = writeln!(
            out,
            "{:id_width$}  {:6}  {:12}  {:19}  {:12}  REASON",
            "TARGET", "STATUS", "KEY", "IMAGE", "COMMIT"
        );
        for t in &self.targets {
            let status = match t.status {
                Status::Cached => "cached",
                Status::Build => "build",
            };
            let reason = t.reason.as_ref().map(Reason::summary).unwrap_or_default();
            let _ = writeln!(
                out,
                "{:id_width$}  {status:6}  {}  {:19}  {}  {reason}",
                t.id,
                t.key.short(),
                short_digest(&t.image.manifest_digest),
                &t.source.commit[..12],
            );
        }
        let s = self.summary();
        let _ = writeln!(out, "{} targets: {} cached, {} to build", s.targets, s.cached, s.build);
        out
    }
}

fn why(store: &Store, id: &str, key: &BuildKey, inputs: &KeyInputs) -> Result<Reason, StoreError> {
    let last = match store.last_build(id) {
        Ok(Some(last)) => last,
        Ok(None) => return Ok(Reason::NewTarget),
        Err(StoreError::Corrupt { detail, .. }) => return Ok(Reason::PreviousUnreadable { detail }),
        Err(e) => return Err(e),
    };
    if &last.key == key {
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
    pub targets: &'a [PlannedTarget],
    pub matrix: GithubMatrix<'a>,
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
    pub axes: &'a BTreeMap<String, String>,
}
