//! `wheelbuild audit`: is every input pinned, and are the pins still what upstream says?

use std::collections::BTreeSet;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Config, GitInput, ImageInput};
use crate::lock::{
    EnvironmentInput, LockedGit, LockedImage, Lockfile, RefKind, build_requires, is_full_sha,
    short_digest,
};
use crate::oci::is_loopback;
use crate::plan::{Plan, Status, TestReason};
use crate::resolve::{self, GitError, RegistryError, ResolveSettings};
use crate::store::Store;

/// The kinds of findings; `--allow KIND` accepts one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// There is no lockfile.
    LockMissing,
    /// The lockfile does not match the config.
    LockStale,
    /// An input of the config has no digest/SHA in the lock.
    Unpinned,
    /// A git ref is a branch: it moves as commits land.
    MutableRef,
    /// Upstream now resolves a tag/branch differently than the lock.
    Moved,
    /// The config names a commit by a short SHA.
    ShortSha,
    /// A non-loopback registry is reached over plain HTTP.
    InsecureRegistry,
    /// A package index (`[pip]`) that is not on loopback is reached over plain HTTP.
    InsecureIndex,
    /// Re-resolving an input failed (so it could not be compared).
    Unresolvable,
    /// The index publishes nothing for an environment: its targets (cells) are not built.
    Unavailable,
    /// Wheels were placed untested: their test needs a GPU, and no GPU engine ran it.
    Untested,
}

impl FindingKind {
    pub const ALL: [FindingKind; 11] = [
        FindingKind::LockMissing,
        FindingKind::LockStale,
        FindingKind::Unpinned,
        FindingKind::MutableRef,
        FindingKind::Moved,
        FindingKind::ShortSha,
        FindingKind::InsecureRegistry,
        FindingKind::InsecureIndex,
        FindingKind::Unresolvable,
        FindingKind::Unavailable,
        FindingKind::Untested,
    ];
}

impl std::str::FromStr for FindingKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        FindingKind::ALL
            .into_iter()
            .find(|k| k.to_string() == s)
            .ok_or_else(|| {
                let names: Vec<String> = FindingKind::ALL.iter().map(ToString::to_string).collect();
                format!("unknown finding kind `{s}` (kinds: {})", names.join(", "))
            })
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).expect("kind serializes");
        f.write_str(s.as_str().unwrap_or("?"))
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Finding {
    pub kind: FindingKind,
    /// What it is about: an image reference, a git URL @ ref, a registry.
    pub subject: String,
    pub message: String,
    /// `file:line:col` in the config, when it comes from there.
    pub location: Option<String>,
}

/// One row of the pinned-input table.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PinnedInput {
    /// `image`, `git`, `env` (an environment), `pip` or `apt` (a package of the
    /// environment listed before it).
    pub input: &'static str,
    /// Image reference, `url @ ref`, the environment, or `name version`.
    pub subject: String,
    /// `tag`, `digest`, `branch`, `commit`; `facts` for environments (`unavailable` for one
    /// the index publishes nothing for); `sha256` for pip
    /// packages; `version` for apt packages.
    pub kind: String,
    /// The pin: manifest digest, commit SHA, the facts of an environment's image, a pip
    /// artifact's sha256 or an apt version; `null` when not pinned.
    pub pin: Option<String>,
    pub index_digest: Option<String>,
    /// Projects using it.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditReport {
    pub version: u32,
    pub findings: Vec<Finding>,
    pub allowed: Vec<Finding>,
    pub inputs: Vec<PinnedInput>,
    /// Whether upstream was re-resolved (false with `--offline`).
    pub checked_upstream: bool,
}

pub const AUDIT_JSON_VERSION: u32 = 1;

/// Audit `config` against `lock` and the outcomes of tests in `store` (and upstream
/// unless `offline`).
pub async fn audit(
    config: &Config,
    lock: Option<&Lockfile>,
    store: &Store,
    settings: &ResolveSettings,
    offline: bool,
    allow: &BTreeSet<FindingKind>,
) -> AuditReport {
    let mut audit = Audit {
        config,
        lock,
        findings: Vec::new(),
        inputs: Vec::new(),
    };
    audit.lockfile();
    audit.images();
    audit.git();
    audit.environments();
    audit.insecure_transports();
    audit.untested(store);
    if !offline && let Some(lock) = lock {
        audit.upstream(lock, settings).await;
    }
    let (allowed, findings): (Vec<_>, Vec<_>) = audit
        .findings
        .into_iter()
        .partition(|f| allow.contains(&f.kind));
    AuditReport {
        version: AUDIT_JSON_VERSION,
        findings,
        allowed,
        inputs: audit.inputs,
        checked_upstream: !offline && lock.is_some(),
    }
}

/// An audit under way: its findings and its table of pinned inputs, each in report order.
struct Audit<'a> {
    config: &'a Config,
    lock: Option<&'a Lockfile>,
    findings: Vec<Finding>,
    inputs: Vec<PinnedInput>,
}

impl Audit<'_> {
    /// A finding, in report order.
    fn push(
        &mut self,
        kind: FindingKind,
        subject: String,
        message: String,
        location: Option<String>,
    ) {
        self.findings.push(Finding {
            kind,
            subject,
            message,
            location,
        });
    }

    /// Wheels in the store whose test did not run: a test that needs a GPU, built where
    /// no GPU engine was (the wheels were placed untested). Nothing to say without a
    /// current lock (that is a finding of its own).
    fn untested(&mut self, store: &Store) {
        let Some(plan) = self
            .lock
            .and_then(|lock| Plan::new(self.config, lock, store).ok())
        else {
            return;
        };
        let mut wheels = 0;
        let mut targets = Vec::new();
        for t in plan.targets.iter().filter(|t| t.status == Status::Cached) {
            let Some(TestReason::NotRun { .. }) = t.test.as_ref().and_then(|x| x.pending.as_ref())
            else {
                continue;
            };
            let record = store.record(&t.key).ok().flatten();
            wheels += record.map_or(0, |r| r.wheels.len());
            targets.push(t.target.id.clone());
        }
        if !targets.is_empty() {
            self.push(
                FindingKind::Untested,
                targets.join(", "),
                format!(
                    "{wheels} wheel(s) built but never tested on a GPU: their tests need a GPU \
                     engine; declare an `[[engine]]` with `gpu = true` and run `wheelbuild build`"
                ),
                None,
            );
        }
    }

    /// No lockfile, or one that does not match the config.
    fn lockfile(&mut self) {
        match self.lock {
            None => self.push(
                FindingKind::LockMissing,
                "wheelbuild.lock".into(),
                "no lockfile: nothing is pinned; run `wheelbuild lock`".into(),
                None,
            ),
            Some(l) => {
                if let Err(e) = l.check_fresh(self.config) {
                    self.push(
                        FindingKind::LockStale,
                        "wheelbuild.lock".into(),
                        e.to_string(),
                        None,
                    );
                }
            }
        }
    }

    /// Each image of the config and its pin; an image without one is a finding.
    fn images(&mut self) {
        let config = self.config;
        for image in config.images_in_config_order() {
            let pinned = self.lock.and_then(|l| l.image(image));
            let location = config.image_origins.get(image).map(ToString::to_string);
            let by_digest = image.reference.contains("@sha256:");
            if pinned.is_none() {
                self.push(
                    FindingKind::Unpinned,
                    image.reference.clone(),
                    format!("not pinned to a digest for {}", image.platform),
                    location,
                );
            }
            let projects = users(config, |i| *config.targets[i].image == *image);
            self.inputs.push(PinnedInput {
                input: "image",
                subject: format!("{} ({})", image.reference, image.platform),
                kind: if by_digest { "digest" } else { "tag" }.into(),
                pin: pinned.map(|p| p.manifest_digest.clone()),
                index_digest: pinned.and_then(|p| p.index_digest.clone()),
                projects,
            });
        }
    }

    /// Each git input and its pin; one without, a branch or a short SHA is a finding.
    fn git(&mut self) {
        let config = self.config;
        for git in config.git_in_config_order() {
            let pinned = self.lock.and_then(|l| l.git(git));
            let location = config.git_origins.get(git).map(ToString::to_string);
            let subject = format!("{} @ {}", git.url, git.display_ref());
            if pinned.is_none() {
                self.push(
                    FindingKind::Unpinned,
                    subject.clone(),
                    "not pinned to a commit".into(),
                    location.clone(),
                );
            }
            if let Some(p) = pinned {
                if p.kind == RefKind::Branch {
                    self.push(
                        FindingKind::MutableRef,
                        subject.clone(),
                        format!(
                            "`{}` is a branch: the pin is {}, but the ref will move",
                            p.resolved.as_deref().unwrap_or("HEAD"),
                            &p.commit[..12]
                        ),
                        location.clone(),
                    );
                }
                if p.kind == RefKind::Commit
                    && git.reference.as_deref().is_some_and(|r| !is_full_sha(r))
                {
                    self.push(
                        FindingKind::ShortSha,
                        subject.clone(),
                        format!("short SHA in the config; write the full {}", p.commit),
                        location.clone(),
                    );
                }
            }
            let projects = config
                .projects
                .iter()
                .filter(|p| p.git == *git)
                .map(|p| p.name.clone())
                .collect();
            self.inputs.push(PinnedInput {
                input: "git",
                subject,
                kind: pinned.map_or("?".to_string(), |p| p.kind.to_string()),
                pin: pinned.map(|p| p.commit.clone()),
                index_digest: None,
                projects,
            });
        }
    }

    /// Each environment (with its image's facts) and every package it pins; an environment
    /// the lock has not resolved is a finding.
    fn environments(&mut self) {
        let per_target = self.target_environments();
        let distinct: BTreeSet<&EnvironmentInput> = per_target.iter().flatten().collect();
        for input in distinct {
            let uses = |i: usize| per_target[i].as_ref() == Some(input);
            let projects = users(self.config, uses);
            self.environment(input, projects);
            self.unavailable(input, uses);
        }
    }

    /// An environment the lock records as unavailable: the targets it leaves unbuilt.
    fn unavailable(&mut self, input: &EnvironmentInput, uses: impl Fn(usize) -> bool) {
        let config = self.config;
        let Some(why) = self
            .lock
            .and_then(|l| l.current_environment(input, config))
            .and_then(|e| e.unavailable_reason())
        else {
            return;
        };
        let ids: Vec<&str> = (0..config.targets.len())
            .filter(|i| uses(*i))
            .map(|i| config.targets[i].id.as_str())
            .collect();
        self.push(
            FindingKind::Unavailable,
            ids.join(", "),
            format!(
                "not built: {why}, in the {} (every `wheelbuild lock` tries it again)",
                input.describe()
            ),
            config
                .image_origins
                .get(&input.image)
                .map(ToString::to_string),
        );
    }

    /// Each target's environment; build requirements the lock has not read are a finding
    /// (the environment is then shown without them).
    fn target_environments(&mut self) -> Vec<Option<EnvironmentInput>> {
        let (config, lock) = (self.config, self.lock);
        let git = lock.map_or(&[][..], |l| &l.git[..]);
        let mut unread = BTreeSet::new();
        let per_target: Vec<Option<EnvironmentInput>> = config
            .targets
            .iter()
            .map(|t| {
                let project = config.project_of(t);
                let pin = git
                    .iter()
                    .find(|g| g.url == project.git.url && g.reference == project.git.reference);
                let build = pin.and_then(|g| build_requires(project, g));
                if build.is_none() {
                    unread.insert(t.project);
                }
                EnvironmentInput::of(t, &build.unwrap_or_default())
            })
            .collect();
        for project in unread.into_iter().map(|i| &config.projects[i]) {
            self.push(
                FindingKind::Unpinned,
                format!("build requirements of project `{}`", project.name),
                "they are not read in the lock: run `wheelbuild lock`".into(),
                Some(project.ref_location.to_string()),
            );
        }
        per_target
    }

    /// One environment's row and a row per package it pins, for `projects`; one the lock
    /// has not resolved is a finding.
    fn environment(&mut self, input: &EnvironmentInput, projects: Vec<String>) {
        let config = self.config;
        let location = config
            .image_origins
            .get(&input.image)
            .map(ToString::to_string);
        let resolved = self.lock.and_then(|l| l.current_environment(input, config));
        if resolved.is_none() {
            self.push(
                FindingKind::Unpinned,
                input.describe(),
                "the packages it installs are not resolved in the lock: run `wheelbuild lock`"
                    .into(),
                location,
            );
        }
        self.inputs.push(PinnedInput {
            input: "env",
            subject: input
                .describe()
                .trim_start_matches("environment ")
                .to_string(),
            kind: match resolved.and_then(|e| e.unavailable.as_ref()) {
                Some(_) => "unavailable".into(),
                None => "facts".into(),
            },
            pin: resolved.map(|e| {
                e.facts
                    .0
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            index_digest: None,
            projects: projects.clone(),
        });
        let Some(env) = resolved else { return };
        for p in &env.packages {
            self.inputs.push(PinnedInput {
                input: "pip",
                subject: format!("{} {}", p.name, p.version),
                kind: "sha256".into(),
                pin: Some(p.sha256.clone()),
                index_digest: None,
                projects: projects.clone(),
            });
        }
        for p in &env.from_image {
            self.inputs.push(PinnedInput {
                input: "pip",
                subject: format!("{} {}", p.name, p.version),
                kind: "from-image".into(),
                pin: Some(input.image.reference.clone()),
                index_digest: None,
                projects: projects.clone(),
            });
        }
        for d in &env.debs {
            self.inputs.push(PinnedInput {
                input: "apt",
                subject: d.name.clone(),
                kind: "version".into(),
                pin: Some(d.version.clone()),
                index_digest: None,
                projects: projects.clone(),
            });
        }
    }

    /// Package indexes and registries reached over plain HTTP, loopback ones aside.
    fn insecure_transports(&mut self) {
        let config = self.config;
        for url in config.settings.pip.urls() {
            let host = url
                .strip_prefix("http://")
                .map(|rest| rest.split('/').next().unwrap_or_default());
            let host = host.map(|h| h.rsplit_once('@').map_or(h, |(_, h)| h));
            if let Some(host) = host
                && !is_loopback(host)
            {
                self.push(
                    FindingKind::InsecureIndex,
                    url.to_string(),
                    "a package index over plain HTTP: what it serves can be altered in transit \
                     (the lock's sha256s catch it at install, not at `lock`)"
                        .into(),
                    None,
                );
            }
        }
        for host in &config.settings.insecure_registries {
            if !is_loopback(host) {
                self.push(
                    FindingKind::InsecureRegistry,
                    host.clone(),
                    "reached over plain HTTP: pins can be forged in transit".into(),
                    None,
                );
            }
        }
    }

    /// Each pinned tag and ref that can move, resolved again: one that moved, or that
    /// cannot be resolved, is a finding.
    async fn upstream(&mut self, lock: &Lockfile, settings: &ResolveSettings) {
        let config = self.config;
        let images: Vec<_> = config
            .distinct_images()
            .filter(|i| lock.image(i).is_some())
            .cloned()
            .collect();
        let git: Vec<_> = config
            .distinct_git()
            .filter(|g| lock.git(g).is_some_and(|p| p.kind != RefKind::Commit))
            .cloned()
            .collect();
        match resolve::resolve(settings, images, git).await {
            Ok(resolved) => {
                self.moved_images(lock, resolved.images);
                self.moved_git(lock, resolved.git);
            }
            Err(e) => self.push(
                FindingKind::Unresolvable,
                "registries".into(),
                e.to_string(),
                None,
            ),
        }
    }

    /// Images whose tag now names other digests, or that no longer resolve.
    fn moved_images(
        &mut self,
        lock: &Lockfile,
        resolved: Vec<(ImageInput, Result<LockedImage, RegistryError>)>,
    ) {
        for (input, result) in resolved {
            let old = lock.image(&input).expect("filtered to pinned");
            match result {
                Ok(new)
                    if new.manifest_digest != old.manifest_digest
                        || new.index_digest != old.index_digest =>
                {
                    self.push(
                        FindingKind::Moved,
                        input.reference.clone(),
                        format!(
                            "tag moved upstream: locked {}, now {}",
                            short_digest(&old.manifest_digest),
                            short_digest(&new.manifest_digest)
                        ),
                        self.config
                            .image_origins
                            .get(&input)
                            .map(ToString::to_string),
                    )
                }
                Ok(_) => {}
                Err(e) => self.push(
                    FindingKind::Unresolvable,
                    input.reference.clone(),
                    e.to_string(),
                    None,
                ),
            }
        }
    }

    /// Git refs that now name another commit, or that no longer resolve.
    fn moved_git(
        &mut self,
        lock: &Lockfile,
        resolved: Vec<(GitInput, Result<LockedGit, GitError>)>,
    ) {
        for (input, result) in resolved {
            let old = lock.git(&input).expect("filtered to pinned");
            let subject = format!("{} @ {}", input.url, input.display_ref());
            match result {
                Ok(new) if new.commit != old.commit => self.push(
                    FindingKind::Moved,
                    subject,
                    format!(
                        "{} moved upstream: locked {}, now {}",
                        old.kind,
                        &old.commit[..12],
                        &new.commit[..12]
                    ),
                    self.config.git_origins.get(&input).map(ToString::to_string),
                ),
                Ok(_) => {}
                Err(e) => self.push(FindingKind::Unresolvable, subject, e.to_string(), None),
            }
        }
    }
}

/// Names of the projects of the targets (by index) `pred` selects.
fn users(config: &Config, pred: impl Fn(usize) -> bool) -> Vec<String> {
    let mut names: Vec<String> = config
        .targets
        .iter()
        .enumerate()
        .filter(|(i, _)| pred(*i))
        .map(|(_, t)| t)
        .map(|t| config.project_of(t).name.clone())
        .collect();
    names.dedup();
    names
}
