//! Which pins a target builds with: its image, its source, its project's build
//! requirements and its environment. One answer ([`Lockfile::pins`]) for `plan`, which
//! hands the pins on to `exec`, and for the freshness check, so that both ask the lock
//! the same questions and say the same thing when it lacks an answer.

use std::collections::BTreeMap;

use super::{
    EnvironmentInput, LockError, LockedEnvironment, LockedGit, LockedImage, Lockfile,
    build_requires, dependencies,
};
use crate::config::{Config, GitInput, ImageInput, Project, Target, UnavailablePolicy};

/// The pins one target builds with.
#[derive(Debug, Clone, Copy)]
pub struct Pins<'a> {
    pub image: &'a LockedImage,
    pub git: &'a LockedGit,
    /// The project's build requirements, static and dynamic, as the environment has them
    /// (empty: none, or `build-isolation = false`).
    pub build_requires: &'a [String],
    /// The resolved environment, when the target installs packages.
    pub env: Option<&'a LockedEnvironment>,
    /// The test image, when the target's wheels are tested (not `test-skip`).
    pub test_image: Option<&'a LockedImage>,
    /// The resolved test environment, when the target's test installs packages.
    pub test_env: Option<&'a LockedEnvironment>,
}

/// What makes an environment: its image, pip and apt requests and build requirements.
type EnvironmentId<'a> = (&'a ImageInput, &'a [String], &'a [String], Vec<String>);

/// Looks up the pins of a config's targets, each distinct image, source and environment
/// once: thousands of targets share a few, and checking an environment is current
/// hashes what it was resolved from.
pub struct PinLookup<'a> {
    lock: &'a Lockfile,
    config: &'a Config,
    images: BTreeMap<&'a ImageInput, &'a LockedImage>,
    git: BTreeMap<&'a GitInput, &'a LockedGit>,
    environments: BTreeMap<EnvironmentId<'a>, &'a LockedEnvironment>,
}

impl Lockfile {
    /// The pins of `config`'s targets, target by target ([`PinLookup::of`]).
    pub fn pins<'a>(&'a self, config: &'a Config) -> PinLookup<'a> {
        PinLookup {
            lock: self,
            config,
            images: BTreeMap::new(),
            git: BTreeMap::new(),
            environments: BTreeMap::new(),
        }
    }
}

impl<'a> PinLookup<'a> {
    /// The pins `target` builds with; `Err` (a stale lock) names the first one the lock
    /// lacks: its image, its source, its project's build requirements, or its current
    /// environment.
    pub fn of(&mut self, target: &'a Target) -> Result<Pins<'a>, LockError> {
        let (lock, config) = (self.lock, self.config);
        let project = config.project_of(target);
        let image = self.image(&target.image)?;
        let git = match self.git.get(&project.git) {
            Some(g) => *g,
            None => {
                let g = lock.git(&project.git).ok_or_else(|| {
                    stale(format!(
                        "git `{}` at `{}` is not pinned",
                        project.git.url,
                        project.git.display_ref()
                    ))
                })?;
                self.git.insert(&project.git, g);
                g
            }
        };
        let build = build_requires(project, git).ok_or_else(|| unread(project))?;
        let env =
            match self
                .environments
                .get(&(&target.image, &target.pip, &target.apt, build.clone()))
            {
                Some(e) => Some(*e),
                None => match EnvironmentInput::of(target, &build) {
                    None => None,
                    Some(input) => {
                        let e = self.current(input)?;
                        self.environments
                            .insert((&target.image, &target.pip, &target.apt, build), e);
                        Some(e)
                    }
                },
            };
        let test = target.test.as_deref().filter(|t| t.skip.is_none());
        let test_image = match test {
            Some(test) => Some(self.image(&test.image)?),
            None => None,
        };
        let test_env = match &target.test {
            Some(_) => {
                let runtime = dependencies(project, git).ok_or_else(|| unread(project))?;
                match EnvironmentInput::of_test(target, runtime) {
                    Some(input) => Some(self.current(input)?),
                    None => None,
                }
            }
            None => None,
        };
        Ok(Pins {
            image,
            git,
            build_requires: env.map_or(&[], |e| e.build.as_slice()),
            env,
            test_image,
            test_env,
        })
    }

    /// The pin of `input`; `Err` (a stale lock) when the lock lacks it.
    fn image(&mut self, input: &'a ImageInput) -> Result<&'a LockedImage, LockError> {
        if let Some(i) = self.images.get(input) {
            return Ok(i);
        }
        let i = self.lock.image(input).ok_or_else(|| {
            stale(format!(
                "image `{}` ({}) is not pinned",
                input.reference, input.platform
            ))
        })?;
        self.images.insert(input, i);
        Ok(i)
    }

    /// The current resolution of `input`; `Err` (a stale lock) says why there is none.
    fn current(&self, input: EnvironmentInput) -> Result<&'a LockedEnvironment, LockError> {
        let (lock, config) = (self.lock, self.config);
        let e = lock.current_environment(&input, config).ok_or_else(|| {
            stale(match lock.environment(&input) {
                None => format!("the {} is not resolved", input.describe()),
                Some(_) => format!(
                    "the {} was resolved with another base image or index",
                    input.describe()
                ),
            })
        })?;
        if e.unavailable.is_some() && config.settings.unavailable == UnavailablePolicy::Error {
            return Err(stale(format!(
                "the {} is unavailable, and `[matrix] unavailable = \"error\"`",
                input.describe()
            )));
        }
        Ok(e)
    }
}

/// A lock without the build (or, for a tested project, runtime) requirements of
/// `project`.
pub(super) fn unread(project: &Project) -> LockError {
    stale(format!(
        "the build requirements of project `{}` are not read",
        project.name
    ))
}

fn stale(reason: String) -> LockError {
    LockError::Stale { reason }
}
