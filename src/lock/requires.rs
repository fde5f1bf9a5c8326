//! Does an environment meet a project's build requirements? Checked when `lock` resolves
//! the environment and again before each build: every requirement (as the lock read it
//! at the commit) is met by a pinned package or, failing that, a package of the base
//! image, so that a missing one is an error naming it rather than a confusing failure
//! inside the build.

use std::str::FromStr;

use pep508_rs::pep440_rs::Version;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VerbatimUrl};

use super::LockedEnvironment;
use crate::wheel::normalize_name;

/// A build requirement the environment does not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub requirement: String,
    /// The version the environment has, if any.
    pub found: Option<String>,
}

/// The first of `requires` that `env` (of an image for `platform`, `os/arch`) does not
/// meet.
pub fn unmet(requires: &[String], env: &LockedEnvironment, platform: &str) -> Option<Unmet> {
    let markers = marker_environment(env, platform);
    requires
        .iter()
        .find_map(|r| check(r, env, markers.as_ref()))
}

fn check(
    requirement: &str,
    env: &LockedEnvironment,
    markers: Option<&MarkerEnvironment>,
) -> Option<Unmet> {
    let unmet = |found: Option<&str>| Unmet {
        requirement: requirement.to_string(),
        found: found.map(str::to_string),
    };
    // The lock only holds requirements that parsed when they were read.
    let Ok(req) = Requirement::<VerbatimUrl>::from_str(requirement) else {
        return Some(unmet(None));
    };
    if let Some(markers) = markers
        && !req.evaluate_markers(markers, &[])
    {
        return None;
    }
    let name = normalize_name(req.name.as_ref());
    let found = env
        .packages
        .iter()
        .map(|p| (&p.name, &p.version))
        .chain(env.from_image.iter().map(|p| (&p.name, &p.version)))
        .find(|(n, _)| **n == name)
        .map(|(_, v)| v.as_str());
    let Some(found) = found else {
        return Some(unmet(None));
    };
    let satisfied = match &req.version_or_url {
        None => true,
        Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => {
            Version::from_str(found).is_ok_and(|v| specifiers.contains(&v))
        }
        // A direct reference cannot be pinned by hash, so it never resolves into a lock.
        Some(pep508_rs::VersionOrUrl::Url(_)) => false,
    };
    (!satisfied).then(|| unmet(Some(found)))
}

/// Markers of a Linux CPython of the image's facts; `None` (markers not evaluated, every
/// requirement checked) when the facts have no Python version.
fn marker_environment(env: &LockedEnvironment, platform: &str) -> Option<MarkerEnvironment> {
    let full = env.facts.0.get("python")?;
    let short: String = full.split('.').take(2).collect::<Vec<_>>().join(".");
    let arch = platform.split('/').nth(1).unwrap_or("amd64");
    let machine = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i686",
        other => other,
    };
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: full,
        os_name: "posix",
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: full,
        python_version: &short,
        sys_platform: "linux",
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{Facts, ImagePackage, PipPin};

    fn env() -> LockedEnvironment {
        LockedEnvironment {
            facts: Facts([("python".to_string(), "3.11.2".to_string())].into()),
            packages: vec![PipPin {
                name: "six".into(),
                version: "1.16.0".into(),
                file: "six-1.16.0-py2.py3-none-any.whl".into(),
                sha256: "0".repeat(64),
            }],
            from_image: vec![ImagePackage {
                name: "setuptools".into(),
                version: "66.1.1".into(),
            }],
            ..LockedEnvironment::default()
        }
    }

    fn checked(requirement: &str) -> Option<Unmet> {
        let env = env();
        let markers = marker_environment(&env, "linux/amd64");
        check(requirement, &env, markers.as_ref())
    }

    #[test]
    fn requirements_met_by_pins_or_the_image_pass() {
        assert_eq!(checked("six==1.16.0"), None);
        assert_eq!(checked("Six>=1.10"), None, "names compare normalized");
        assert_eq!(checked("setuptools>=61"), None);
        assert_eq!(
            checked("tomli; python_version < '3.11'"),
            None,
            "marker is false"
        );
    }

    #[test]
    fn a_missing_or_too_old_requirement_is_named_with_what_was_found() {
        assert_eq!(
            checked("setuptools>=70.1"),
            Some(Unmet {
                requirement: "setuptools>=70.1".into(),
                found: Some("66.1.1".into())
            })
        );
        assert_eq!(
            checked("cython>=3"),
            Some(Unmet {
                requirement: "cython>=3".into(),
                found: None
            })
        );
        assert!(checked("tomli; python_version >= '3.11'").is_some());
    }
}
