//! wheelbuild's own part of the containers it starts: the scripts they run and the
//! variables it sets. The code that runs them and the fingerprints that cover them (the
//! build key's `wheelbuild` input, the environment image's key, an environment's
//! `resolved-from`) read these one definitions, so that changing a script changes what
//! depends on it.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Default build command: a wheel of the project, built by pip, into the output directory.
pub(crate) const DEFAULT_BUILD: &str =
    "python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" .";

/// PEP 517 config settings: each name with its values (one for a string; pip's
/// `--config-settings NAME=VALUE` given once per value).
pub type ConfigSettings = BTreeMap<String, Vec<String>>;

/// The build container's script (`build.sh`): `sh -c SCRIPT wheelbuild CHECK BUILD SUBDIR
/// [PLAT REPAIR_PY EXCLUDE...]`.
pub(crate) const BUILD_SCRIPT: &str = include_str!("recipe/scripts/build.sh");
/// The repair's Python side (`repair.py`), an argument of [`BUILD_SCRIPT`].
pub(crate) const REPAIR_SCRIPT: &str = include_str!("recipe/scripts/repair.py");

/// The environment image's setup script (`env.sh`), run as root:
/// `sh -c SCRIPT wheelbuild-env APT REQUIREMENTS SETTINGS`.
pub(crate) const ENV_SCRIPT: &str = include_str!("recipe/scripts/env.sh");

/// The script that resolves an environment inside its base image (see its header).
pub(crate) const RESOLVE_SCRIPT: &str = include_str!("recipe/scripts/resolve.sh");

/// The lock's container that asks a backend for its dynamic build requirements (see its
/// header): `sh -c SCRIPT wheelbuild-hook REQUIREMENTS SUBDIR REQUIRES_PY BACKEND SETTINGS`.
pub(crate) const HOOK_SCRIPT: &str = include_str!("recipe/scripts/hook.sh");
/// PEP 517's `get_requires_for_build_wheel`, asked by [`HOOK_SCRIPT`] and checked before
/// a build of a backend that [`asks_hook`] (`requires.py`).
pub(crate) const REQUIRES_SCRIPT: &str = include_str!("recipe/scripts/requires.py");
/// The test container's entry point: checks and installs the wheels, then runs the test
/// command (`exec::container::test`).
pub(crate) const TEST_SCRIPT: &str = include_str!("recipe/scripts/test.sh");
/// Where a test container has the project's sources, which `{project}` names in a test
/// command.
pub(crate) const TEST_PROJECT_DIR: &str = "/wheelbuild/project";
/// The variable that holds [`REQUIRES_SCRIPT`] in a build container that checks it.
pub(crate) const REQUIRES_VAR: &str = "WHEELBUILD_REQUIRES_PY";

/// Variables of the root containers that resolve or install packages (Debian's pip refuses
/// system installs without the first).
pub(crate) const PIP_ENV: [&str; 3] = [
    "PIP_BREAK_SYSTEM_PACKAGES=1",
    "PIP_DISABLE_PIP_VERSION_CHECK=1",
    "PIP_NO_INPUT=1",
];

/// What wheelbuild sets in a build container, and how; edit with the scripts.
pub(crate) const INJECTED: &str = "SOURCE_DATE_EPOCH=<committer time of the locked commit>\n\
    WHEELBUILD_OUT=/wheelbuild/out\nHOME=/wheelbuild/home\n\
    build in /wheelbuild/build (a copy of the read-only checkout)\n\
    compilers: wrappers first on PATH, PYTORCH_NVCC and CMAKE_{C,CXX,CUDA,HIP}_COMPILER_LAUNCHER run them\n\
    through ccache when WHEELBUILD_CCACHE is set (its remote settings in CCACHE_CONFIGPATH, a file),\n\
    except CMake's try-compiles\n\
    nvcc: --keep --keep-dir <object>.keep when WHEELBUILD_NVCC_KEEP is set and the build gives none\n\
    pip installs: --no-deps --require-hashes --ignore-installed\n";

/// Backends that build in a temporary directory of a random name unless told otherwise,
/// and the setting that fixes it: real projects write the build directory's path into
/// their wheels (meson-python's `_build_config.py`), so two builds would differ.
const FIXED_BUILD_DIRS: [(&str, &str, &str); 2] = [
    ("mesonpy", "build-dir", "build"),
    ("scikit_build_core.build", "build-dir", "build"),
];

/// The config settings a project's builds get: a fixed build directory for a backend of
/// [`FIXED_BUILD_DIRS`], then the project's own `config-settings` (which win). Borrowed
/// when wheelbuild adds nothing.
pub(crate) fn config_settings<'a>(
    backend: Option<&str>,
    project: &'a ConfigSettings,
) -> Cow<'a, ConfigSettings> {
    let fixed = FIXED_BUILD_DIRS
        .iter()
        .filter(|(b, name, _)| backend == Some(*b) && !project.contains_key(*name));
    let mut settings = Cow::Borrowed(project);
    for (_, name, value) in fixed {
        settings
            .to_mut()
            .insert((*name).to_string(), vec![(*value).to_string()]);
    }
    settings
}

/// Is `backend`'s `get_requires_for_build_wheel` asked at lock time? All but setuptools':
/// its hook runs `setup.py`, which may import what only the build environment has (the
/// demo's imports torch), and it asks for nothing beyond `wheel` when it does not fail.
pub(crate) fn asks_hook(backend: &str) -> bool {
    !matches!(
        backend,
        "setuptools.build_meta" | "setuptools.build_meta:__legacy__"
    )
}

/// `settings` as the hook takes them (JSON): a name with one value maps to it, with more
/// to their list, as pip passes `--config-settings`.
pub(crate) fn settings_json(settings: &ConfigSettings) -> String {
    let map: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(name, values)| {
            let value = match values.as_slice() {
                [one] => serde_json::Value::from(one.as_str()),
                many => serde_json::Value::from(many.to_vec()),
            };
            (name.clone(), value)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// `command` after the check that `backend`, asked with `settings`, wants nothing the
/// environment lacks ([`REQUIRES_SCRIPT`] from [`REQUIRES_VAR`]); a failed check ends the
/// build with its status, before the command starts.
pub(crate) fn checked_command(command: &str, backend: &str, settings: &ConfigSettings) -> String {
    format!(
        "python3 -c \"${REQUIRES_VAR}\" check {} {} || exit; {command}",
        shell_quote(backend),
        shell_quote(&settings_json(settings))
    )
}

/// The command a build runs: the default command gets `--config-settings NAME=VALUE` for
/// each value of `settings` (shell-quoted); another command is the project's own, as
/// written.
pub(crate) fn build_command<'a>(build: &'a str, settings: &ConfigSettings) -> Cow<'a, str> {
    match build.strip_suffix(" .") {
        Some(head) if build == DEFAULT_BUILD && !settings.is_empty() => {
            let mut command = head.to_string();
            for (name, values) in settings {
                for value in values {
                    command.push_str(" --config-settings ");
                    command.push_str(&shell_quote(&format!("{name}={value}")));
                }
            }
            command.push_str(" .");
            Cow::Owned(command)
        }
        _ => Cow::Borrowed(build),
    }
}

/// `'text'` for `sh`, single quotes escaped.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_backends_get_a_fixed_build_dir_unless_the_project_sets_one() {
        let none = ConfigSettings::new();
        assert!(
            matches!(config_settings(Some("setuptools.build_meta"), &none), Cow::Borrowed(s) if s.is_empty())
        );
        let meson = config_settings(Some("mesonpy"), &none);
        assert_eq!(meson["build-dir"], ["build"]);
        let own = ConfigSettings::from([("build-dir".to_string(), vec!["out".to_string()])]);
        assert_eq!(
            config_settings(Some("scikit_build_core.build"), &own)["build-dir"],
            ["out"]
        );
    }

    #[test]
    fn every_backend_but_setuptools_is_asked_and_checked_with_its_settings() {
        assert!(asks_hook("mesonpy") && asks_hook("backend"));
        assert!(!asks_hook("setuptools.build_meta"));
        assert!(!asks_hook("setuptools.build_meta:__legacy__"));
        let settings = ConfigSettings::from([
            ("build-dir".to_string(), vec!["build".to_string()]),
            ("x".to_string(), vec!["it's".to_string(), "b".to_string()]),
        ]);
        assert_eq!(
            settings_json(&settings),
            r#"{"build-dir":"build","x":["it's","b"]}"#,
            "one value a string, more a list, as pip passes them"
        );
        assert_eq!(
            checked_command("make; make install", "mesonpy", &settings),
            "python3 -c \"$WHEELBUILD_REQUIRES_PY\" check 'mesonpy' \
             '{\"build-dir\":\"build\",\"x\":[\"it'\\''s\",\"b\"]}' || exit; make; make install",
            "a failed check ends the build with its status before any of the command"
        );
    }

    #[test]
    fn the_default_command_gets_each_setting_quoted_and_others_none() {
        let settings = ConfigSettings::from([
            ("build-dir".to_string(), vec!["build".to_string()]),
            (
                "setup-args".to_string(),
                vec!["-Dx=it's".to_string(), "-Dy=1".to_string()],
            ),
        ]);
        assert_eq!(
            build_command(DEFAULT_BUILD, &settings),
            "python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir \"$WHEELBUILD_OUT\" \
             --config-settings 'build-dir=build' --config-settings 'setup-args=-Dx=it'\\''s' \
             --config-settings 'setup-args=-Dy=1' ."
        );
        assert_eq!(
            build_command(DEFAULT_BUILD, &ConfigSettings::new()),
            DEFAULT_BUILD
        );
        assert_eq!(build_command("make wheel .", &settings), "make wheel .");
    }
}
