//! What one build container is made of: the target's key inputs, which decide its
//! wheels' bytes, and what does not ([`NonKey`]). The container side of exec
//! (`exec::container`) takes a [`BuildSpec`] and nothing else of a target: it names no
//! config, plan or pin type (a test checks), so a field a build reads comes either from
//! [`KeyInputs`], and is hashed into the key, or from [`NonKey`], where it says why it
//! changes no byte. [`BuildSpec::of`] is the one place that reads a planned target for a
//! container.

use std::path::Path;

use crate::accel::Accel;
use crate::config::Config;
use crate::key::{BuildKey, KeyInputs};
use crate::plan::PlannedTarget;
use crate::platform::Platform;

/// Everything one build container is made of.
pub(super) struct BuildSpec<'a> {
    pub key: &'a BuildKey,
    /// What the container runs: image, source, commands, variables, packages, repair,
    /// relabelling.
    pub inputs: KeyInputs<'a>,
    /// The image's glibc, which names the manylinux tag repair aims at: a fact the lock
    /// probed in the image whose digest `inputs.image` holds (an environment is current
    /// only for the digest it was resolved in), so the key covers it through that digest.
    /// `None` when the target has no environment, hence no probe.
    pub glibc: Option<&'a str>,
    pub non_key: NonKey<'a>,
}

/// What a build container gets besides its key inputs: nothing here may change a wheel's
/// bytes (each field says why), so none of it is hashed, and changing it rebuilds nothing.
pub(super) struct NonKey<'a> {
    /// The target's id: names its container's labels, its progress and its warnings.
    pub id: &'a str,
    /// The name of the target's project, for messages.
    pub in_project: &'a str,
    /// The repository the image is pulled from, by the digest in `inputs.image`: the
    /// digest is what runs, wherever it comes from.
    pub image_repository: &'a str,
    /// The URL the commit in `inputs.source` is fetched from: the commit is the tree,
    /// wherever it comes from.
    pub git_url: &'a str,
    /// The target's variables that are not key inputs (parallelism, cache locations, log
    /// settings: [`crate::config::NON_KEY_ENV`] and `non-key-env`), sorted by name.
    pub env: Vec<(&'a str, &'a str)>,
    /// `MAX_JOBS` of a build whose variables do not set it: the build's share of the
    /// engine's cores and memory.
    pub max_jobs: usize,
    /// The config's own `repair-exclude` globs, to warn about one that matches no library
    /// the wheels link (`inputs.repair` has every exclude, these included).
    pub declared_excludes: &'a [String],
    /// New, empty compiler and pip caches instead of the channel's (`verify`): a warm
    /// ccache would hide a compiler that does not produce the same bytes twice. Caches
    /// only make builds faster (`crate::key`'s docs say why ccache changes no byte).
    pub fresh_caches: bool,
    /// Where the build's output is logged.
    pub log: &'a Path,
}

impl<'a> BuildSpec<'a> {
    /// The spec of building `t`: on an engine whose builds get `max_jobs`, logging to
    /// `log`, with the channel's caches or (`fresh_caches`) new ones.
    pub fn of(
        config: &'a Config,
        t: &'a PlannedTarget<'_>,
        max_jobs: usize,
        log: &'a Path,
        fresh_caches: bool,
    ) -> BuildSpec<'a> {
        BuildSpec {
            key: &t.key,
            inputs: t.inputs(config),
            glibc: t
                .env
                .and_then(|e| e.facts.0.get("glibc"))
                .map(String::as_str),
            non_key: NonKey {
                id: &t.target.id,
                in_project: &t.project.name,
                image_repository: &t.image.name,
                git_url: &t.git.url,
                env: t
                    .target
                    .env
                    .iter()
                    .filter(|(name, _)| config.non_key_env.contains(name))
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect(),
                max_jobs,
                declared_excludes: t.target.repair.as_deref().map_or(&[], |r| &r.declared),
                fresh_caches,
                log,
            },
        }
    }

    /// The cell's accelerator: its `cuda` axis, `cpu` without one.
    pub fn accel(&self) -> Accel {
        let cuda = self.inputs.axes.get("cuda").unwrap_or("cpu");
        Accel::parse(cuda).expect("the config checked the cuda axis")
    }

    /// The wheel platform tag the image builds for (`linux_x86_64`), if it has one.
    pub fn wheel_platform(&self) -> Option<String> {
        Platform::parse(&self.inputs.image.platform)
            .ok()?
            .wheel_tag()
    }

    /// Every variable of the build's, key input or not, by name.
    pub fn env(&self) -> Vec<(&str, &str)> {
        let mut env: Vec<(&str, &str)> = self
            .inputs
            .env
            .iter()
            .chain(self.non_key.env.iter().copied())
            .collect();
        env.sort_unstable();
        env
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The types through which a target field reaches code: the config's targets and
    /// projects (and the config holding them), the plan's targets, the lock's pins.
    const TARGET_TYPES: &[&str] = &[
        "Config",
        "Target",
        "Project",
        "PlannedTarget",
        "Lockfile",
        "LockedImage",
        "LockedGit",
        "LockedEnvironment",
        "Pins",
        "PinLookup",
    ];

    fn rust_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Run what you hash: the container side of exec names none of the types that hold
    /// a target's fields, nor reads a `target` or `project` field of anything, so it cannot
    /// read one the key does not cover. What a build needs
    /// of its target goes through `BuildSpec::of`: into the key, or into `NonKey` with
    /// the reason it changes no byte.
    #[test]
    fn containers_are_made_from_the_build_spec_alone() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exec/container");
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        assert!(files.len() >= 4, "{files:?}");
        let mut found = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit tests may make settings from config types.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
                let named = words.filter(|w| TARGET_TYPES.contains(w));
                let paths = [
                    "crate::config",
                    "crate::plan",
                    "crate::lock::Locked",
                    ".target",
                    ".project",
                ]
                .into_iter()
                .filter(|p| line.contains(p));
                for name in named.chain(paths) {
                    found.push(format!("{}:{}: {name}", file.display(), n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "the container side reads targets only through BuildSpec:\n{}",
            found.join("\n")
        );
    }
}
