//! Whether a wheel fits a matrix cell's Python and platform.

use super::{WheelError, WheelName, escaped};

impl WheelName {
    /// Can this wheel be installed on CPython `python` (`3.11`) on the wheel platform
    /// `platform` (`linux_x86_64`)? Checked after a build, so that a build that silently made
    /// a wheel for the image's other Python, or for another architecture, is caught before the
    /// wheel is stored under this cell's key.
    ///
    /// Interpreter: some (python, abi) pair must fit: `cpXY` with abi `cpXY` or `none` where
    /// X.Y is the cell's version (`cpXYm` too before 3.8); `cp3Z` with `abi3` for Z up to the
    /// cell's minor; `pyX` or `pyXZ` with abi `none`, same major, Z up to the cell's minor.
    /// Platform: some tag must be `any`, the cell's tag, or, on the same architecture: on
    /// `linux_<arch>` (glibc, version unknown) any `manylinux*`; on `manylinux_A_B` a
    /// `manylinux` of at most glibc A.B; on `musllinux_A_B` a `musllinux` of at most musl A.B;
    /// and `linux_<arch>` anywhere on Linux of that arch. `musllinux` never fits glibc.
    pub fn fits(&self, python: &str, platform: &str) -> Result<(), WheelError> {
        let (major, minor) = parse_python(python)?;
        let unfit = |kind, found: String, expected: String| WheelError::Unfit {
            wheel: self.to_string(),
            target: format!("CPython {python} on {}", escaped(platform)),
            kind,
            found,
            expected,
        };
        let interpreter_ok = self.python.iter().any(|p| {
            self.abi
                .iter()
                .any(|a| interpreter_fits(p, a, major, minor))
        });
        if !interpreter_ok {
            return Err(unfit(
                "python/abi",
                format!("{}-{}", self.python.join("."), self.abi.join(".")),
                format!(
                    "`cp{major}{minor}-cp{major}{minor}`, `cp{major}{minor}-none`, \
                     `cp{major}Z-abi3` or `py{major}Z-none` with Z <= {minor}, or \
                     `py{major}-none`"
                ),
            ));
        }
        if !self.platform.iter().any(|t| platform_fits(t, platform)) {
            return Err(unfit(
                "platform",
                self.platform.join("."),
                platform_expectation(platform, &self.platform),
            ));
        }
        Ok(())
    }
}

fn parse_python(python: &str) -> Result<(u32, u32), WheelError> {
    let bad = || WheelError::Python {
        python: escaped(python),
    };
    let mut parts = python.split('.');
    let number = |p: Option<&str>| -> Option<u32> {
        let p = p?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let major = number(parts.next()).ok_or_else(bad)?;
    let minor = number(parts.next()).ok_or_else(bad)?;
    // A patch level is tolerated (`3.11.4`); nothing after it.
    match parts.next() {
        None => {}
        Some(patch) if number(Some(patch)).is_some() && parts.next().is_none() => {}
        Some(_) => return Err(bad()),
    }
    if !(1..10).contains(&major) {
        // Tags write the major version as one digit (`cp311`).
        return Err(bad());
    }
    Ok((major, minor))
}

/// `311` → (3, Some(11)), `3` → (3, None): the digits of a `cp`/`py` tag.
fn tag_version(digits: &str) -> Option<(u32, Option<u32>)> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let major = digits[..1].parse().ok()?;
    let minor = match &digits[1..] {
        "" => None,
        rest => Some(rest.parse().ok()?),
    };
    Some((major, minor))
}

fn interpreter_fits(python: &str, abi: &str, major: u32, minor: u32) -> bool {
    if let Some(digits) = python.strip_prefix("cp") {
        let Some((maj, Some(min))) = tag_version(digits) else {
            return false;
        };
        let exact = (maj, min) == (major, minor);
        match abi {
            "abi3" => maj == 3 && maj == major && min <= minor,
            "none" => exact,
            _ => exact && (abi == python || (minor < 8 && abi == format!("{python}m"))),
        }
    } else if let Some(digits) = python.strip_prefix("py") {
        match tag_version(digits) {
            Some((maj, min)) => abi == "none" && maj == major && min.is_none_or(|min| min <= minor),
            None => false,
        }
    } else {
        false
    }
}

/// The C library a Linux platform tag promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Libc {
    /// `linux_<arch>`: built on some Linux; says nothing about the C library.
    Unstated,
    /// `manylinux*`: glibc of at least this version.
    Glibc(u32, u32),
    /// `musllinux_*`: musl of at least this version.
    Musl(u32, u32),
}

/// `2_17_x86_64` → (2, 17, `x86_64`).
fn versioned_tag(rest: &str) -> Option<(u32, u32, &str)> {
    let mut it = rest.splitn(3, '_');
    let (major, minor, arch) = (it.next()?, it.next()?, it.next()?);
    let num = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    Some((num(major)?, num(minor)?, arch))
}

/// A Linux platform tag split into C library and architecture; `None` for other tags.
fn linux_tag(tag: &str) -> Option<(Libc, &str)> {
    let (libc, arch) = if let Some(arch) = tag.strip_prefix("linux_") {
        (Libc::Unstated, arch)
    } else if let Some(arch) = tag.strip_prefix("manylinux1_") {
        (Libc::Glibc(2, 5), arch)
    } else if let Some(arch) = tag.strip_prefix("manylinux2010_") {
        (Libc::Glibc(2, 12), arch)
    } else if let Some(arch) = tag.strip_prefix("manylinux2014_") {
        (Libc::Glibc(2, 17), arch)
    } else if let Some(rest) = tag.strip_prefix("manylinux_") {
        let (a, b, arch) = versioned_tag(rest)?;
        (Libc::Glibc(a, b), arch)
    } else if let Some(rest) = tag.strip_prefix("musllinux_") {
        let (a, b, arch) = versioned_tag(rest)?;
        (Libc::Musl(a, b), arch)
    } else {
        return None;
    };
    (!arch.is_empty()).then_some((libc, arch))
}

fn platform_fits(tag: &str, platform: &str) -> bool {
    if tag == "any" || tag == platform {
        return true;
    }
    let (Some((wheel, wheel_arch)), Some((host, host_arch))) =
        (linux_tag(tag), linux_tag(platform))
    else {
        return false;
    };
    if wheel_arch != host_arch {
        return false;
    }
    match (wheel, host) {
        (Libc::Unstated, _) => true,
        (Libc::Glibc(..), Libc::Unstated) => true,
        (Libc::Glibc(a, b), Libc::Glibc(x, y)) => (a, b) <= (x, y),
        (Libc::Musl(a, b), Libc::Musl(x, y)) => (a, b) <= (x, y),
        _ => false,
    }
}

fn platform_expectation(platform: &str, found: &[String]) -> String {
    let escaped_platform = escaped(platform);
    let mut out = match linux_tag(platform) {
        Some((Libc::Unstated, arch)) => {
            format!(
                "`any`, `{escaped_platform}` or `manylinux*_{}`",
                escaped(arch)
            )
        }
        Some((Libc::Glibc(a, b), arch)) => format!(
            "`any`, `linux_{arch}` or a manylinux tag of glibc <= {a}.{b} for {arch}",
            arch = escaped(arch)
        ),
        Some((Libc::Musl(a, b), arch)) => format!(
            "`any`, `linux_{arch}` or a musllinux tag of musl <= {a}.{b} for {arch}",
            arch = escaped(arch)
        ),
        None => format!("`any` or `{escaped_platform}`"),
    };
    let glibc_host = matches!(
        linux_tag(platform),
        Some((Libc::Unstated | Libc::Glibc(..), _))
    );
    if glibc_host && found.iter().any(|t| t.starts_with("musllinux_")) {
        out.push_str(" (musllinux wheels need musl libc; this platform has glibc)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(name: &str, python: &str, platform: &str) -> Result<(), WheelError> {
        WheelName::parse(name).unwrap().fits(python, platform)
    }

    #[test]
    fn fitting_interpreters() {
        for (name, python) in [
            ("a-1-cp311-cp311-linux_x86_64.whl", "3.11"),
            ("a-1-cp311-cp311-linux_x86_64.whl", "3.11.4"),
            ("a-1-cp311-none-linux_x86_64.whl", "3.11"),
            ("a-1-py3-none-any.whl", "3.11"),
            ("a-1-py3-none-any.whl", "3.8"),
            ("a-1-py2.py3-none-any.whl", "3.12"),
            ("a-1-py311-none-any.whl", "3.11"),
            ("a-1-py38-none-any.whl", "3.11"),
            ("a-1-cp38-abi3-manylinux_2_17_x86_64.whl", "3.11"),
            ("a-1-cp311-abi3-linux_x86_64.whl", "3.11"),
            ("a-1-cp37-cp37m-linux_x86_64.whl", "3.7"),
            ("a-1-cp310.cp311-cp310.cp311-linux_x86_64.whl", "3.11"),
        ] {
            fits(name, python, "linux_x86_64")
                .unwrap_or_else(|e| panic!("{name} on {python}: {e}"));
        }
    }

    #[test]
    fn unfitting_interpreters_say_what_was_expected() {
        for (name, python) in [
            ("a-1-cp311-cp311-linux_x86_64.whl", "3.10"),
            ("a-1-cp310-cp310-linux_x86_64.whl", "3.11"),
            ("a-1-cp312-abi3-linux_x86_64.whl", "3.11"),
            ("a-1-cp313-cp313t-linux_x86_64.whl", "3.13"),
            ("a-1-cp311-cp311m-linux_x86_64.whl", "3.11"),
            ("a-1-py312-none-any.whl", "3.11"),
            ("a-1-py2-none-any.whl", "3.11"),
            ("a-1-py3-abi3-any.whl", "3.11"),
            ("a-1-pp310-pypy310_pp73-linux_x86_64.whl", "3.10"),
        ] {
            match fits(name, python, "linux_x86_64") {
                Err(
                    e @ WheelError::Unfit {
                        kind: "python/abi", ..
                    },
                ) => {
                    let msg = e.to_string();
                    let (maj, min) = python.split_once('.').unwrap();
                    assert!(
                        msg.contains(&format!("`cp{maj}{min}-cp{maj}{min}`")),
                        "{msg}"
                    );
                    assert!(msg.contains(&format!("CPython {python}")), "{msg}");
                    assert!(msg.contains(name), "{msg}");
                }
                other => panic!("{name} on {python}: expected unfit, got {other:?}"),
            }
        }
    }

    #[test]
    fn fitting_platforms() {
        for (name, platform) in [
            ("a-1-py3-none-any.whl", "linux_x86_64"),
            ("a-1-py3-none-linux_x86_64.whl", "linux_x86_64"),
            ("a-1-py3-none-manylinux1_x86_64.whl", "linux_x86_64"),
            ("a-1-py3-none-manylinux2014_x86_64.whl", "linux_x86_64"),
            ("a-1-py3-none-manylinux_2_17_x86_64.whl", "linux_x86_64"),
            ("a-1-py3-none-manylinux_2_39_aarch64.whl", "linux_aarch64"),
            (
                "a-1-py3-none-manylinux2014_aarch64.manylinux_2_17_x86_64.whl",
                "linux_x86_64",
            ),
            (
                "a-1-py3-none-manylinux2014_x86_64.whl",
                "manylinux_2_28_x86_64",
            ),
            (
                "a-1-py3-none-manylinux_2_28_x86_64.whl",
                "manylinux_2_28_x86_64",
            ),
            ("a-1-py3-none-linux_x86_64.whl", "manylinux_2_28_x86_64"),
            (
                "a-1-py3-none-musllinux_1_1_x86_64.whl",
                "musllinux_1_2_x86_64",
            ),
            ("a-1-py3-none-macosx_11_0_arm64.whl", "macosx_11_0_arm64"),
        ] {
            fits(name, "3.11", platform).unwrap_or_else(|e| panic!("{name} on {platform}: {e}"));
        }
    }

    #[test]
    fn unfitting_platforms_say_what_was_expected() {
        for (name, platform, want) in [
            (
                "a-1-cp311-cp311-manylinux2014_aarch64.whl",
                "linux_x86_64",
                "`manylinux*_x86_64`",
            ),
            (
                "a-1-cp311-cp311-linux_aarch64.whl",
                "linux_x86_64",
                "`linux_x86_64`",
            ),
            (
                "a-1-cp311-cp311-linux_x86_64.whl",
                "linux_aarch64",
                "`manylinux*_aarch64`",
            ),
            (
                "a-1-cp311-cp311-musllinux_1_2_x86_64.whl",
                "linux_x86_64",
                "musllinux wheels need musl",
            ),
            (
                "a-1-cp311-cp311-macosx_11_0_arm64.whl",
                "linux_x86_64",
                "`any`",
            ),
            ("a-1-cp311-cp311-win_amd64.whl", "linux_x86_64", "`any`"),
            (
                "a-1-cp311-cp311-manylinux_2_28_x86_64.whl",
                "manylinux_2_17_x86_64",
                "glibc <= 2.17",
            ),
            (
                "a-1-cp311-cp311-manylinux_2_17_x86_64.whl",
                "musllinux_1_2_x86_64",
                "musl <= 1.2",
            ),
            (
                "a-1-cp311-cp311-musllinux_1_2_x86_64.whl",
                "musllinux_1_1_x86_64",
                "musl <= 1.1",
            ),
            (
                "a-1-cp311-cp311-manylinux_x_17_x86_64.whl",
                "linux_x86_64",
                "`manylinux*_x86_64`",
            ),
        ] {
            match fits(name, "3.11", platform) {
                Err(
                    e @ WheelError::Unfit {
                        kind: "platform", ..
                    },
                ) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{msg} lacks {want}");
                    assert!(e.hint().unwrap().contains("platform"));
                }
                other => panic!("{name} on {platform}: expected unfit, got {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_bad_python_versions() {
        for python in [
            "3", "three", "3.x", "3.11.x", "3.11.4.1", "", "3.", "12.0", "0.1",
        ] {
            assert!(
                matches!(
                    fits("a-1-py3-none-any.whl", python, "any"),
                    Err(WheelError::Python { .. })
                ),
                "{python:?}"
            );
        }
    }
}
