//! Stage 2: resolve the config's mutable inputs (image tags, git refs) to pins, and fold
//! them into a new lock.
//!
//! Every resolution runs concurrently: images over one shared HTTP client, git refs with
//! one `ls-remote` per repository. A slow or failing input does not hold up the others,
//! and every failure is reported, not just the first.

pub(crate) mod environment;
pub(crate) mod git;
pub(crate) mod hook;
pub(crate) mod network;
pub(crate) mod pyproject;
pub(crate) mod registry;
pub mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::{Config, ConfigSettings, GitInput, ImageInput, Project, UnavailablePolicy};
use crate::diag::{Location, did_you_mean};
use crate::lock::{
    Change, Dependencies, DynamicRequires, EnvironmentInput, LockedEnvironment, LockedGit,
    LockedImage, Lockfile, ROOT_DIR, diff, distinct_environments,
};
use crate::wheel::normalize_name;
pub(crate) use git::{GitContext, GitError};
pub(crate) use network::{NetworkSettings, RetryPolicy, WaitEvent, WaitObserver};
pub(crate) use registry::{RegistryError, RegistryResolver};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("{what}: {source}")]
    Registry {
        what: String,
        location: Box<Location>,
        #[source]
        source: RegistryError,
    },
    #[error("{what}: {source}")]
    Git {
        what: String,
        location: Box<Location>,
        #[source]
        source: GitError,
    },
    #[error("{what}: {source}")]
    Environment {
        what: String,
        location: Box<Location>,
        #[source]
        source: environment::EnvError,
    },
    #[error("{what}: {source}")]
    BuildRequires {
        what: String,
        location: Box<Location>,
        #[source]
        source: Box<pyproject::PyprojectError>,
    },
    #[error("{what}: {source}")]
    Hook {
        what: String,
        location: Box<Location>,
        #[source]
        source: Box<hook::HookError>,
    },
    #[error("{} inputs could not be resolved", .0.len())]
    Many(Vec<ResolveError>),
    #[error("`{name}` is neither a project, an image nor a pip package of the config")]
    UnknownUpdate {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{what} is not pinned in the lock, and --offline forbids resolving it")]
    Offline { what: String },
    #[error(transparent)]
    Setup(RegistryError),
}

impl ResolveError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            ResolveError::Registry { source, .. } | ResolveError::Setup(source) => source.hint(),
            ResolveError::Git { source, .. } => source.hint(),
            ResolveError::Environment { source, .. } => source.hint(),
            ResolveError::BuildRequires { source, .. } => source.hint(),
            ResolveError::Hook { source, .. } => source.hint(),
            ResolveError::Many(_) => None,
            ResolveError::UnknownUpdate { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => {
                    "give a project name or an image reference/repository from the config".into()
                }
            }),
            ResolveError::Offline { .. } => {
                Some("run `wheelbuild lock` with network access first".into())
            }
        }
    }

    pub(crate) fn location(&self) -> Option<&Location> {
        match self {
            ResolveError::Registry { location, .. }
            | ResolveError::Git { location, .. }
            | ResolveError::Environment { location, .. }
            | ResolveError::BuildRequires { location, .. }
            | ResolveError::Hook { location, .. } => Some(location),
            _ => None,
        }
    }

    pub(crate) fn is_user_error(&self) -> bool {
        match self {
            ResolveError::Registry { source, .. } | ResolveError::Setup(source) => {
                source.is_user_error()
            }
            ResolveError::Git { source, .. } => source.is_user_error(),
            ResolveError::Environment { source, .. } => source.is_user_error(),
            ResolveError::BuildRequires { source, .. } => source.is_user_error(),
            ResolveError::Hook { source, .. } => source.is_user_error(),
            ResolveError::Many(all) => all.iter().any(ResolveError::is_user_error),
            ResolveError::UnknownUpdate { .. } | ResolveError::Offline { .. } => true,
        }
    }
}

/// How to reach things while resolving.
#[derive(Clone)]
pub(crate) struct ResolveSettings {
    /// Git's context; it carries `network` and `on_wait` too, for git commands.
    pub git: GitContext,
    /// Registries (host[:port]) to reach over plain HTTP beside loopback ones.
    pub insecure: BTreeSet<String>,
    pub retry: RetryPolicy,
    /// Concurrent registry requests.
    pub concurrency: usize,
    pub network: NetworkSettings,
    /// Told about requests still waiting for their answer.
    pub on_wait: Option<WaitObserver>,
}

impl ResolveSettings {
    pub(crate) fn for_config(
        config: &Config,
        cache_dir: &std::path::Path,
        network: NetworkSettings,
        on_wait: Option<WaitObserver>,
    ) -> ResolveSettings {
        ResolveSettings {
            git: GitContext {
                root: config.root.clone(),
                mirrors: cache_dir.join("git"),
                network,
                on_wait: on_wait.clone(),
            },
            insecure: config.settings.insecure_registries.clone(),
            retry: RetryPolicy::default(),
            concurrency: 32,
            network,
            on_wait,
        }
    }
}

/// Pins for some inputs, each success or failure.
pub(crate) struct Resolved {
    pub images: Vec<(ImageInput, Result<LockedImage, RegistryError>)>,
    pub git: Vec<(GitInput, Result<LockedGit, GitError>)>,
}

/// Resolve images and git refs, all at once.
pub(crate) async fn resolve(
    settings: &ResolveSettings,
    images: Vec<ImageInput>,
    git: Vec<GitInput>,
) -> Result<Resolved, RegistryError> {
    let image_refs: Vec<&ImageInput> = images.iter().collect();
    let resolver = if images.is_empty() {
        None
    } else {
        Some(Arc::new(
            RegistryResolver::new(&image_refs, settings).await?,
        ))
    };
    let images_fut = async {
        match resolver {
            Some(r) => registry::resolve_all(r, images, settings.concurrency).await,
            None => Vec::new(),
        }
    };
    let git_fut = git::resolve_all(&settings.git, git);
    let (images, git) = tokio::join!(images_fut, git_fut);
    Ok(Resolved { images, git })
}

/// Which pins `lock` may replace.
#[derive(Debug, Clone, Default)]
pub(crate) enum Update {
    /// Keep every pin whose input the config still has.
    #[default]
    Keep,
    /// Re-resolve the inputs of these projects / images.
    Names(Vec<String>),
    /// Re-resolve everything.
    All,
}

/// What `lock` may replace, and how it reaches environments.
pub(crate) struct LockRequest<'a> {
    pub update: &'a Update,
    /// Re-resolve every environment (`--update-env`).
    pub update_env: bool,
    pub offline: bool,
    pub environments: &'a environment::EnvContext<'a>,
}

pub(crate) struct LockOutcome {
    pub lock: Lockfile,
    pub changes: Vec<Change>,
}

/// Compute the new lock for `config`: keep pins of unchanged inputs (unless updated),
/// resolve the rest.
pub(crate) async fn lock(
    config: &Config,
    old: Option<&Lockfile>,
    request: &LockRequest<'_>,
    settings: &ResolveSettings,
) -> Result<LockOutcome, ResolveError> {
    let offline = request.offline;
    let selected = selected_for_update(config, old, request.update)?;
    let (update_images, update_git) = (selected.images, selected.git);
    let mut images = Vec::new();
    let mut to_resolve_images = Vec::new();
    for input in config.distinct_images() {
        match old.and_then(|l| l.image(input)) {
            Some(pinned) if !update_images.contains(input) => images.push(pinned.clone()),
            _ => to_resolve_images.push(input.clone()),
        }
    }
    let mut git = Vec::new();
    let mut to_resolve_git = Vec::new();
    for input in config.distinct_git() {
        match old.and_then(|l| l.git(input)) {
            Some(pinned) if !update_git.contains(input) => git.push(pinned.clone()),
            _ => to_resolve_git.push(input.clone()),
        }
    }

    tracing::debug!(
        kept_images = images.len(),
        kept_git = git.len(),
        resolving_images = to_resolve_images.len(),
        resolving_git = to_resolve_git.len(),
        "lock inputs"
    );
    if offline {
        if let Some(i) = to_resolve_images.first() {
            return Err(ResolveError::Offline {
                what: format!("image `{}` ({})", i.reference, i.platform),
            });
        }
        if let Some(g) = to_resolve_git.first() {
            return Err(ResolveError::Offline {
                what: format!("git `{}` at `{}`", g.url, g.display_ref()),
            });
        }
    }

    let resolved = resolve(settings, to_resolve_images, to_resolve_git)
        .await
        .map_err(ResolveError::Setup)?;
    let mut failures = Vec::new();
    for (input, result) in resolved.images {
        match result {
            Ok(pinned) => images.push(pinned),
            Err(source) => failures.push(ResolveError::Registry {
                what: format!("image `{}` ({})", input.reference, input.platform),
                location: Box::new(config.image_origins[&input].clone()),
                source,
            }),
        }
    }
    for (input, result) in resolved.git {
        match result {
            Ok(mut pinned) => {
                // Same commit: what was read at it still holds. The hook is asked again:
                // this input is new, or updated.
                if let Some(old) = old.and_then(|l| l.git(&input))
                    && old.commit == pinned.commit
                {
                    pinned.build_requires = old.build_requires.clone();
                    pinned.build_backend = old.build_backend.clone();
                    pinned.dependencies = old.dependencies.clone();
                }
                git.push(pinned)
            }
            Err(source) => failures.push(ResolveError::Git {
                what: format!("git `{}` at `{}`", input.url, input.display_ref()),
                location: Box::new(config.git_origins[&input].clone()),
                source,
            }),
        }
    }
    fail(failures)?;
    read_build_requires(config, &mut git, settings, offline).await?;
    ask_dynamic_requires(config, &mut git, &images, request, settings).await?;
    let environments =
        lock_environments(config, old, &images, &git, request, &selected.packages).await?;
    let lock = Lockfile::new(crate::lock::lock_inputs(config), images, git, environments);
    let changes = diff(old, &lock);
    Ok(LockOutcome { lock, changes })
}

fn fail(mut failures: Vec<ResolveError>) -> Result<(), ResolveError> {
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.pop().expect("one failure")),
        _ => Err(ResolveError::Many(failures)),
    }
}

/// Read the build requirements of every project that builds with them, and the runtime
/// requirements of every project with a test, whose pin has not read them yet (a new
/// commit), all at once; drop what no project uses any more.
async fn read_build_requires(
    config: &Config,
    git: &mut [LockedGit],
    settings: &ResolveSettings,
    offline: bool,
) -> Result<(), ResolveError> {
    // (pin, directory) -> the first project that needs it (for messages), whether a
    // project builds it with its build requirements, and whether one tests it.
    let mut wanted: BTreeMap<(usize, String), (&Project, bool, bool)> = BTreeMap::new();
    let tested: BTreeSet<usize> = config
        .targets
        .iter()
        .filter(|t| t.test.is_some())
        .map(|t| t.project)
        .collect();
    for (index, project) in config.projects.iter().enumerate() {
        let (isolated, tested) = (project.build_isolation, tested.contains(&index));
        if !isolated && !tested {
            continue;
        }
        let dir = project
            .subdir
            .clone()
            .unwrap_or_else(|| ROOT_DIR.to_string());
        let entry = wanted
            .entry((pin_of(git, project), dir))
            .or_insert((project, false, false));
        entry.1 |= isolated;
        entry.2 |= tested;
    }
    for (i, pin) in git.iter_mut().enumerate() {
        let wants = |dir: &String| wanted.get(&(i, dir.clone()));
        pin.build_requires
            .retain(|dir, _| wants(dir).is_some_and(|w| w.1));
        pin.build_backend
            .retain(|dir, _| wants(dir).is_some_and(|w| w.1));
        pin.dependencies
            .retain(|dir, _| wants(dir).is_some_and(|w| w.2));
    }
    // Read by a wheelbuild that recorded no backend (lock version 3), or none of the
    // dependencies (version 5): read again, once.
    let to_read: Vec<_> = wanted
        .iter()
        .filter(|((i, dir), (_, isolated, tested))| {
            (*isolated && !git[*i].build_backend.contains_key(dir))
                || (*tested && !git[*i].dependencies.contains_key(dir))
        })
        .collect();
    if offline && let Some((_, (project, _, _))) = to_read.first() {
        return Err(ResolveError::Offline {
            what: format!("the build requirements of project `{}`", project.name),
        });
    }
    let reads = futures::future::join_all(to_read.iter().map(|((i, dir), _)| {
        let pin = &git[*i];
        let subdir = (dir != ROOT_DIR).then_some(dir.as_str());
        pyproject::build_system(&settings.git, &pin.url, &pin.commit, subdir)
    }))
    .await;
    let mut failures = Vec::new();
    let mut read = Vec::new();
    for (((i, dir), (project, isolated, tested)), result) in to_read.into_iter().zip(reads) {
        match result {
            Ok(system) => read.push((*i, dir.clone(), *isolated, *tested, system)),
            Err(source) => failures.push(ResolveError::BuildRequires {
                what: format!(
                    "reading the build requirements of project `{}` at {:.12}",
                    project.name, git[*i].commit
                ),
                location: Box::new(project.ref_location.clone()),
                source: Box::new(source),
            }),
        }
    }
    fail(failures)?;
    for (i, dir, isolated, tested, system) in read {
        if tested {
            let dependencies = Dependencies {
                declared: system.dependencies.is_some(),
                requires: system.dependencies.unwrap_or_default(),
            };
            git[i].dependencies.insert(dir.clone(), dependencies);
        }
        if isolated {
            git[i].build_requires.insert(dir.clone(), system.requires);
            git[i].build_backend.insert(dir, system.backend);
        }
    }
    Ok(())
}

/// The questions for one project directory's hook: each image its targets build on, with
/// the config settings they build with.
type Questions<'a> = BTreeSet<(&'a ImageInput, ConfigSettings)>;

/// Ask the PEP 517 hook `get_requires_for_build_wheel` of every project directory whose
/// backend has one asked ([`crate::recipe::asks_hook`]) and that has no answer for what
/// it is asked with now, all at once; drop answers no project uses any more. The hook
/// runs once per image and config settings, with the static requirements installed from
/// their pins, resolved first in that image.
async fn ask_dynamic_requires(
    config: &Config,
    git: &mut [LockedGit],
    images: &[LockedImage],
    request: &LockRequest<'_>,
    settings: &ResolveSettings,
) -> Result<(), ResolveError> {
    let locked = |input: &ImageInput| locked_image(images, input);
    // (pin, directory) -> the first project that needs it, for messages, and its questions.
    let mut wanted: BTreeMap<(usize, String), (&Project, Questions<'_>)> = BTreeMap::new();
    for target in &config.targets {
        let project = config.project_of(target);
        if !project.build_isolation {
            continue;
        }
        let i = pin_of(git, project);
        let Some(backend) = git[i]
            .build_backend(project.subdir.as_deref())
            .filter(|b| crate::recipe::asks_hook(b))
        else {
            continue;
        };
        let settings =
            crate::recipe::config_settings(Some(backend), &project.config_settings).into_owned();
        let dir = project
            .subdir
            .clone()
            .unwrap_or_else(|| ROOT_DIR.to_string());
        wanted
            .entry((i, dir))
            .or_insert_with(|| (project, BTreeSet::new()))
            .1
            .insert((&*target.image, settings));
    }
    for (i, pin) in git.iter_mut().enumerate() {
        pin.dynamic_requires
            .retain(|dir, _| wanted.contains_key(&(i, dir.clone())));
    }
    let asked_with = |i: usize, dir: &String, questions: &Questions<'_>| {
        let asked: Vec<(&str, &ConfigSettings)> = questions
            .iter()
            .map(|(image, settings)| (locked(image).manifest_digest.as_str(), settings))
            .collect();
        hook::asked_with(
            &git[i].build_requires[dir],
            &git[i].build_backend[dir],
            &asked,
        )
    };
    let to_ask: Vec<_> = wanted
        .iter()
        .map(|((i, dir), (project, questions))| {
            (*i, dir, *project, questions, asked_with(*i, dir, questions))
        })
        .filter(|(i, dir, _, _, fingerprint)| {
            git[*i].dynamic_requires.get(*dir).map(|d| &d.asked_with) != Some(fingerprint)
        })
        .collect();
    if request.offline
        && let Some((_, _, project, _, _)) = to_ask.first()
    {
        return Err(ResolveError::Offline {
            what: format!(
                "the dynamic build requirements of project `{}`",
                project.name
            ),
        });
    }
    if to_ask.is_empty() {
        return Ok(());
    }
    // The static requirements of a directory, in an image: resolved (each distinct set
    // once per image) to be installed from their pins.
    let static_of = |i: usize, dir: &String, image: &ImageInput| {
        let mut build = git[i].build_requires[dir].clone();
        build.sort();
        build.dedup();
        EnvironmentInput {
            image: image.clone(),
            pip: Vec::new(),
            apt: Vec::new(),
            build,
        }
    };
    let statics: BTreeSet<EnvironmentInput> = to_ask
        .iter()
        .flat_map(|(i, dir, _, questions, _)| {
            questions.iter().map(|(image, _)| static_of(*i, dir, image))
        })
        .collect();
    let pins = static_pins(config, statics, request, images).await?;
    let mut questions = Vec::new();
    for (i, dir, project, asked, _) in &to_ask {
        for (image, project_settings) in asked.iter() {
            let input = static_of(*i, dir, image);
            questions.push((
                *i,
                (*dir).clone(),
                *project,
                hook::Question {
                    image: locked(image),
                    pins: &pins[&input],
                    url: &git[*i].url,
                    commit: &git[*i].commit,
                    subdir: (*dir != ROOT_DIR).then_some(dir.as_str()),
                    backend: &git[*i].build_backend[*dir],
                    settings: project_settings,
                },
            ));
        }
    }
    let answers = futures::future::join_all(
        questions
            .iter()
            .map(|(_, _, _, question)| hook::ask(request.environments, &settings.git, question)),
    )
    .await;
    let mut failures = Vec::new();
    let mut union: BTreeMap<(usize, String), BTreeSet<String>> = BTreeMap::new();
    for ((i, dir, project, question), answer) in questions.iter().zip(answers) {
        match answer {
            Ok(requires) => union
                .entry((*i, dir.clone()))
                .or_default()
                .extend(requires),
            Err(source) => failures.push(ResolveError::Hook {
                what: format!(
                    "asking the build backend `{}` of project `{}` at {:.12} for its build requirements",
                    question.backend, project.name, question.commit
                ),
                location: Box::new(project.ref_location.clone()),
                source: Box::new(source),
            }),
        }
    }
    fail(failures)?;
    let fingerprints: Vec<((usize, String), String)> = to_ask
        .into_iter()
        .map(|(i, dir, _, _, fingerprint)| ((i, dir.clone()), fingerprint))
        .collect();
    for ((i, dir), asked_with) in fingerprints {
        let requires = union.remove(&(i, dir.clone())).unwrap_or_default();
        git[i].dynamic_requires.insert(
            dir,
            DynamicRequires {
                asked_with,
                requires: requires.into_iter().collect(),
            },
        );
    }
    Ok(())
}

/// Resolve `statics` (static build requirements, each in an image), one container per
/// image, all images at once.
async fn static_pins(
    config: &Config,
    statics: BTreeSet<EnvironmentInput>,
    request: &LockRequest<'_>,
    images: &[LockedImage],
) -> Result<BTreeMap<EnvironmentInput, LockedEnvironment>, ResolveError> {
    let mut groups: BTreeMap<&ImageInput, Vec<(&EnvironmentInput, String)>> = BTreeMap::new();
    for input in &statics {
        groups
            .entry(&input.image)
            .or_default()
            .push((input, String::new()));
    }
    let results = futures::future::join_all(groups.iter().map(|(image, envs)| {
        environment::resolve_group(request.environments, locked_image(images, image), envs)
    }))
    .await;
    let mut failures = Vec::new();
    let mut pins = BTreeMap::new();
    for ((image, envs), result) in groups.iter().zip(results) {
        let what = |input: &EnvironmentInput| {
            format!(
                "resolving the build requirements {} in `{}` to ask a backend",
                input.build.join(", "),
                image.reference
            )
        };
        match result {
            Ok(each) => {
                for ((input, _), env) in envs.iter().zip(each) {
                    match env.and_then(strict) {
                        Ok(env) => {
                            pins.insert((*input).clone(), env);
                        }
                        Err(source) => failures.push(ResolveError::Environment {
                            what: what(input),
                            location: Box::new(config.image_origins[*image].clone()),
                            source,
                        }),
                    }
                }
            }
            Err(source) => failures.push(ResolveError::Environment {
                what: what(envs[0].0),
                location: Box::new(config.image_origins[*image].clone()),
                source,
            }),
        }
    }
    fail(failures)?;
    Ok(pins)
}

/// Keep each environment's resolution while it is current (same base image digest and
/// index settings) and not updated; resolve the others, all at once.
async fn lock_environments(
    config: &Config,
    old: Option<&Lockfile>,
    images: &[LockedImage],
    git: &[LockedGit],
    request: &LockRequest<'_>,
    packages: &BTreeSet<String>,
) -> Result<Vec<LockedEnvironment>, ResolveError> {
    let mut kept = Vec::new();
    let mut to_resolve = Vec::new();
    let inputs = distinct_environments(config, git)
        .expect("build requirements are read before environments");
    for input in inputs {
        let image = locked_image(images, &input.image);
        let from = input.resolved_from(&image.manifest_digest, &config.settings.pip);
        let updated = matches!(request.update, Update::All)
            || request.update_env
            || old
                .and_then(|l| l.environment(&input))
                .is_some_and(|e| e.packages.iter().any(|p| packages.contains(&p.name)))
            || input
                .pip
                .iter()
                .chain(&input.build)
                .any(|spec| packages.contains(&normalize_name(requirement_name(spec))));
        // An unavailable environment is tried again by every `lock` that may reach the
        // index: upstream may have published since.
        match old.and_then(|l| l.environment(&input)) {
            Some(e)
                if e.resolved_from == from
                    && !updated
                    && (e.unavailable.is_none() || request.offline) =>
            {
                kept.push(e.clone())
            }
            _ => to_resolve.push((input, image, from)),
        }
    }
    if request.offline
        && let Some((input, _, _)) = to_resolve.first()
    {
        return Err(ResolveError::Offline {
            what: format!("the {}", input.describe()),
        });
    }
    tracing::debug!(
        kept = kept.len(),
        resolving = to_resolve.len(),
        "environments"
    );
    // One container per base image, all images at once.
    type Group<'a> = (&'a LockedImage, Vec<(&'a EnvironmentInput, String)>);
    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    for (input, image, from) in &to_resolve {
        groups
            .entry(image.manifest_digest.as_str())
            .or_insert_with(|| (image, Vec::new()))
            .1
            .push((input, from.clone()));
    }
    let results = futures::future::join_all(
        groups
            .values()
            .map(|(image, envs)| environment::resolve_group(request.environments, image, envs)),
    )
    .await;
    let mut failures = Vec::new();
    let mut resolved = Vec::new();
    for ((_, envs), result) in groups.values().zip(results) {
        match result {
            Ok(each) => resolved.extend(envs.iter().map(|(input, _)| *input).zip(each)),
            Err(source) => failures.push(ResolveError::Environment {
                what: format!(
                    "resolving the {} environment(s) of `{}`",
                    envs.len(),
                    envs[0].0.image.reference
                ),
                location: Box::new(config.image_origins[&envs[0].0.image].clone()),
                source,
            }),
        }
    }
    for (input, result) in resolved {
        match result {
            Ok(env) => kept.push(env),
            Err(source) => failures.push(ResolveError::Environment {
                what: format!("resolving the {}", input.describe()),
                location: Box::new(config.image_origins[&input.image].clone()),
                source,
            }),
        }
    }
    if config.settings.unavailable == UnavailablePolicy::Error {
        for env in &kept {
            if let Some(u) = &env.unavailable {
                let source = environment::EnvError::Unpublished(Box::new(u.clone()));
                failures.push(ResolveError::Environment {
                    what: format!(
                        "the environment of {} ({})",
                        cells_of(config, git, env),
                        env.describe()
                    ),
                    location: Box::new(config.settings.unavailable_origin.clone()),
                    source,
                });
            }
        }
    }
    fail(failures)?;
    Ok(kept)
}

/// `env`, or the error that it is unavailable: for the static requirements a hook runs
/// with, which it cannot do without.
fn strict(env: LockedEnvironment) -> Result<LockedEnvironment, environment::EnvError> {
    match env.unavailable {
        Some(u) => Err(environment::EnvError::Unpublished(Box::new(u))),
        None => Ok(env),
    }
}

/// The targets that build in `env`, for messages: ``target `a` `` or ``targets `a`, `b` ``.
fn cells_of(config: &Config, git: &[LockedGit], env: &LockedEnvironment) -> String {
    let ids: Vec<String> = config
        .targets
        .iter()
        .filter(|t| {
            let project = config.project_of(t);
            git.iter()
                .find(|g| g.url == project.git.url && g.reference == project.git.reference)
                .and_then(|g| crate::lock::build_requires(project, g))
                .and_then(|build| EnvironmentInput::of(t, &build))
                .is_some_and(|input| env.matches(&input))
        })
        .map(|t| format!("`{}`", t.id))
        .collect();
    match ids.len() {
        1 => format!("target {}", ids[0]),
        _ => format!("targets {}", ids.join(", ")),
    }
}

/// The pin of `input` in `images`.
fn locked_image<'a>(images: &'a [LockedImage], input: &ImageInput) -> &'a LockedImage {
    let platform = input.platform.to_string();
    images
        .iter()
        .find(|i| i.reference == input.reference && i.platform == platform)
        .expect("every image of the config is pinned before its environments and hooks")
}

/// The index of `project`'s pin in `git`.
fn pin_of(git: &[LockedGit], project: &Project) -> usize {
    git.iter()
        .position(|g| g.url == project.git.url && g.reference == project.git.reference)
        .expect("every git input of the config is pinned before its build requirements")
}

/// The distribution name a pip requirement starts with (`torch==2.0.1` → `torch`).
fn requirement_name(spec: &str) -> &str {
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    &spec[..end]
}

/// What `--update NAME…` selects.
pub(crate) struct Selected {
    pub images: BTreeSet<ImageInput>,
    pub git: BTreeSet<GitInput>,
    /// Normalized pip package names: environments that install one are resolved again.
    pub packages: BTreeSet<String>,
}

/// The inputs `--update NAME…` selects. A name is a project (its git input), an image
/// reference as the config expands it, an image repository (all its tags), or a pip
/// package that an environment installs (requested or pinned).
pub(crate) fn selected_for_update(
    config: &Config,
    old: Option<&Lockfile>,
    update: &Update,
) -> Result<Selected, ResolveError> {
    let mut images = BTreeSet::new();
    let mut git = BTreeSet::new();
    let mut packages = BTreeSet::new();
    let known_packages: BTreeSet<String> = config
        .targets
        .iter()
        .flat_map(|t| &t.pip)
        .chain(
            old.into_iter()
                .flat_map(|l| &l.environments)
                .flat_map(|e| &e.build),
        )
        .map(|s| normalize_name(requirement_name(s)))
        .chain(
            old.into_iter()
                .flat_map(|l| &l.environments)
                .flat_map(|e| e.packages.iter().map(|p| p.name.clone())),
        )
        .collect();
    match update {
        Update::Keep => {}
        Update::All => {
            images.extend(config.distinct_images().cloned());
            git.extend(config.distinct_git().cloned());
        }
        Update::Names(names) => {
            for name in names {
                let mut found = false;
                for p in config.projects.iter().filter(|p| &p.name == name) {
                    git.insert(p.git.clone());
                    found = true;
                }
                for i in config.distinct_images() {
                    let repo = repository_of(&i.reference);
                    if &i.reference == name
                        || repo.as_deref() == Some(name.as_str())
                        || normalized(name) == repo
                    {
                        images.insert(i.clone());
                        found = true;
                    }
                }
                let package = normalize_name(name);
                if known_packages.contains(&package) {
                    packages.insert(package);
                    found = true;
                }
                if !found {
                    let candidates: Vec<String> = config
                        .projects
                        .iter()
                        .map(|p| p.name.clone())
                        .chain(config.distinct_images().map(|i| i.reference.clone()))
                        .chain(known_packages.iter().cloned())
                        .collect();
                    return Err(ResolveError::UnknownUpdate {
                        name: name.clone(),
                        suggestion: did_you_mean(name, candidates.iter().map(String::as_str))
                            .map(str::to_string),
                    });
                }
            }
        }
    }
    Ok(Selected {
        images,
        git,
        packages,
    })
}

/// The fully qualified repository of a reference (`docker.io/library/python`).
fn repository_of(reference: &str) -> Option<String> {
    registry::parse_reference(reference)
        .ok()
        .map(|r| format!("{}/{}", r.registry(), r.repository()))
}

/// A bare repository name as Docker would qualify it (`python` → `docker.io/library/python`).
fn normalized(name: &str) -> Option<String> {
    repository_of(&format!("{name}:latest"))
}
