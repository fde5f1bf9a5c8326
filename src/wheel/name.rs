//! PEP 427 wheel file names.

use std::fmt;

use serde::Serialize;

use super::{WheelError, escaped};

/// Longest file name most file systems accept.
const MAX_FILE_NAME: usize = 255;

/// A parsed PEP 427 wheel file name, with PEP 825's variant label:
/// `{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}(-{variant label})?.whl`.
///
/// Six parts are a build tag when the third starts with a digit (build tags must), a variant
/// label otherwise; seven have both.
///
/// Tags are compressed tag sets (`py2.py3`), kept split: the wheel claims every combination.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct WheelName {
    pub distribution: String,
    pub version: String,
    pub build: Option<String>,
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
    /// PEP 825 variant label (`cu118`, `null`, or an 8-digit variant hash).
    pub variant: Option<String>,
}

impl WheelName {
    /// Parse strictly: a name that a careful builder would not write is refused, since the
    /// name becomes a file name in the store and a word in messages.
    pub fn parse(file_name: &str) -> Result<WheelName, WheelError> {
        let bad = |reason: String| WheelError::Name {
            name: escaped(file_name),
            reason,
        };
        if file_name.len() > MAX_FILE_NAME {
            return Err(bad(format!("longer than {MAX_FILE_NAME} bytes")));
        }
        if file_name.contains(['/', '\\']) {
            return Err(bad("contains a path separator".into()));
        }
        let Some(stem) = file_name.strip_suffix(".whl") else {
            return Err(bad("does not end in `.whl`".into()));
        };
        let parts: Vec<&str> = stem.split('-').collect();
        let digit_first = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
        let (distribution, version, build, python, abi, platform, variant) = match parts.as_slice()
        {
            [d, v, p, a, pl] => (*d, *v, None, *p, *a, *pl, None),
            [d, v, b, p, a, pl] if digit_first(b) => (*d, *v, Some(*b), *p, *a, *pl, None),
            [d, v, p, a, pl, l] => (*d, *v, None, *p, *a, *pl, Some(*l)),
            [d, v, b, p, a, pl, l] => (*d, *v, Some(*b), *p, *a, *pl, Some(*l)),
            _ => {
                return Err(bad(format!(
                    "has {} `-`-separated parts, expected 5 (name, version, python, abi, \
                     platform), 6 (with a build tag or a variant label) or 7 (with both)",
                    parts.len()
                )));
            }
        };
        check_part("distribution", distribution, &['_', '.'], true).map_err(&bad)?;
        check_part("version", version, &['_', '.', '+', '!'], true).map_err(&bad)?;
        if let Some(build) = build {
            check_part("build tag", build, &['_', '.'], false).map_err(&bad)?;
            if !build.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(bad(format!(
                    "build tag `{}` does not start with a digit",
                    escaped(build)
                )));
            }
        }
        if let Some(label) = variant {
            check_variant_label(label).map_err(&bad)?;
        }
        Ok(WheelName {
            distribution: distribution.into(),
            version: version.into(),
            build: build.map(String::from),
            python: split_tags("python", python).map_err(&bad)?,
            abi: split_tags("abi", abi).map_err(&bad)?,
            platform: split_tags("platform", platform).map_err(&bad)?,
            variant: variant.map(String::from),
        })
    }
}

/// A PEP 825 variant label: lowercase ASCII letters, digits, `_` and `.` (variantlib's
/// `[0-9a-z._]+`).
pub(crate) fn check_variant_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty variant label".into());
    }
    match label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.')))
    {
        Some(c) => Err(format!(
            "variant label `{}` contains `{}`; allowed are lowercase ASCII letters, digits, \
             `_` and `.`",
            escaped(label),
            escaped(&c.to_string())
        )),
        None => Ok(()),
    }
}

impl fmt::Display for WheelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.distribution, self.version)?;
        if let Some(build) = &self.build {
            write!(f, "-{build}")?;
        }
        write!(
            f,
            "-{}-{}-{}",
            self.python.join("."),
            self.abi.join("."),
            self.platform.join(".")
        )?;
        if let Some(variant) = &self.variant {
            write!(f, "-{variant}")?;
        }
        f.write_str(".whl")
    }
}

/// One name part: ASCII letters, digits and `extra`; no empty or leading/trailing separators,
/// so `..` and names like `.hidden` never appear.
fn check_part(kind: &str, value: &str, extra: &[char], alnum_ends: bool) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("empty {kind}"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !extra.contains(c))
    {
        return Err(format!(
            "{kind} `{}` contains `{}`; allowed are ASCII letters, digits and {}",
            escaped(value),
            escaped(&c.to_string()),
            extra
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if alnum_ends && !(alnum(value.chars().next()) && alnum(value.chars().last())) {
        return Err(format!(
            "{kind} `{}` must start and end with a letter or digit",
            escaped(value)
        ));
    }
    if value.contains("..") {
        return Err(format!("{kind} `{}` contains `..`", escaped(value)));
    }
    Ok(())
}

fn split_tags(kind: &str, set: &str) -> Result<Vec<String>, String> {
    set.split('.')
        .map(|tag| {
            if tag.is_empty() {
                Err(format!("empty {kind} tag in `{}`", escaped(set)))
            } else if !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Err(format!(
                    "{kind} tag `{}` may hold only ASCII letters, digits and `_`",
                    escaped(tag)
                ))
            } else {
                Ok(tag.to_string())
            }
        })
        .collect()
}

/// PEP 503 normalization of a distribution name: lowercase, each run of `-`, `_`, `.` → `-`.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_names() {
        let n = WheelName::parse("demo-1.0-py3-none-any.whl").unwrap();
        assert_eq!(n.distribution, "demo");
        assert_eq!(n.version, "1.0");
        assert_eq!(n.build, None);
        assert_eq!(
            (n.python, n.abi, n.platform),
            (
                vec!["py3".to_string()],
                vec!["none".to_string()],
                vec!["any".to_string()]
            )
        );

        let n = WheelName::parse("Demo_Pkg-2.1.0+cu121-1_nightly-py2.py3-none-any.whl").unwrap();
        assert_eq!(n.distribution, "Demo_Pkg");
        assert_eq!(n.version, "2.1.0+cu121");
        assert_eq!(n.build.as_deref(), Some("1_nightly"));
        assert_eq!(n.python, ["py2", "py3"]);

        let name = "pyyaml-6.0.3-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl";
        let n = WheelName::parse(name).unwrap();
        assert_eq!(
            n.platform,
            ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]
        );
        assert_eq!(n.to_string(), name, "Display gives back the file name");
        let name = "torch-2.8.0-cp312-cp312-manylinux_2_28_x86_64-cu128.whl";
        let n = WheelName::parse(name).unwrap();
        assert_eq!(
            (n.build.as_deref(), n.variant.as_deref()),
            (None, Some("cu128"))
        );
        assert_eq!(n.to_string(), name);
        let name = "torch-2.8.0-1-cp312-cp312-manylinux_2_28_x86_64-6b4c8391.whl";
        let n = WheelName::parse(name).unwrap();
        assert_eq!(
            (n.build.as_deref(), n.variant.as_deref()),
            (Some("1"), Some("6b4c8391"))
        );
        assert_eq!(n.to_string(), name);
        let n = WheelName::parse("torch-1!2.1.0-7-cp311-abi3-linux_x86_64.whl").unwrap();
        assert_eq!(
            (n.version.as_str(), n.build.as_deref()),
            ("1!2.1.0", Some("7"))
        );
    }

    #[test]
    fn refuses_invalid_names() {
        let long = format!("{}-1.0-py3-none-any.whl", "a".repeat(250));
        let cases: &[(&str, &str)] = &[
            ("demo-1.0-py3-none.whl", "parts"),
            ("demo-1.0-x-y-z-py3-none-any.whl", "parts"),
            ("demo-1.0-x-py3-none-any-cu118.whl", "start with a digit"),
            (
                "demo-1.0-py3-none-any-CU118.whl",
                "variant label `CU118` contains `C`",
            ),
            ("demo-1.0-py3-none-any-cu-118.whl", "start with a digit"),
            ("demo-1.0-py3-none-any.zip", "`.whl`"),
            ("demo-1.0-py3-none-any", "`.whl`"),
            (
                "de mo-1.0-py3-none-any.whl",
                "distribution `de mo` contains ` `",
            ),
            ("../demo-1.0-py3-none-any.whl", "path separator"),
            ("sub/demo-1.0-py3-none-any.whl", "path separator"),
            ("sub\\demo-1.0-py3-none-any.whl", "path separator"),
            ("..-1.0-py3-none-any.whl", "start and end"),
            ("demo-1..0-py3-none-any.whl", "`..`"),
            ("-1.0-py3-none-any.whl", "empty distribution"),
            ("demo--py3-none-any.whl", "empty version"),
            ("demo-1.0-py3..py2-none-any.whl", "empty python tag"),
            ("demo-1.0-py3-none-.whl", "empty platform tag"),
            ("demo-1.0-py3-no+ne-any.whl", "abi tag `no+ne`"),
            ("démo-1.0-py3-none-any.whl", "contains `é`"),
            (&long, "longer than 255"),
        ];
        for (name, want) in cases {
            match WheelName::parse(name) {
                Err(e @ WheelError::Name { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{name}: {msg} lacks {want:?}");
                    assert!(e.hint().is_some());
                }
                other => panic!("{name}: expected a name error, got {other:?}"),
            }
        }
    }

    #[test]
    fn name_errors_escape_control_characters() {
        let err = WheelName::parse("demo-1.0-py3-none-any\u{1b}[2J.whl").unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\u{1b}'), "{msg:?}");
        assert!(msg.contains("\\u{1b}"), "{msg:?}");
    }

    #[test]
    fn normalizes_names_per_pep_503() {
        assert_eq!(normalize_name("Foo.Bar__baz-_-Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize_name("demo"), "demo");
        assert_eq!(normalize_name("Demo_Pkg"), normalize_name("demo.pkg"));
        assert_eq!(normalize_name("Friendly-Bard"), "friendly-bard");
        assert_eq!(normalize_name("FRIENDLY__bard"), "friendly-bard");
        assert_eq!(normalize_name("friendly.-_bard"), "friendly-bard");
        assert_eq!(normalize_name("python_dateutil"), "python-dateutil");
    }

    #[test]
    fn odd_names_are_refused() {
        let huge = "a".repeat(1 << 20);
        let many_dashes = format!("{}a.whl", "a-".repeat(100));
        let only_dashes = format!("{}.whl", "-".repeat(300));
        for name in [
            "",
            ".whl",
            "-.whl",
            "----.whl",
            "\0-1.0-py3-none-any.whl",
            "\u{feff}demo-1.0-py3-none-any.whl",
            "\u{fffd}-1.0-py3-none-any.whl",
            "demo-1.0-py3-none-any\u{202e}lhw..whl",
            "demo-1.0-py3-none-any.whl\0",
            &huge,
            &format!("{huge}.whl"),
            &many_dashes,
            &only_dashes,
        ] {
            assert!(
                matches!(WheelName::parse(name), Err(WheelError::Name { .. })),
                "{:?}",
                name.chars().take(40).collect::<String>()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_string_returns(name in "\\PC{0,300}") {
            let _ = WheelName::parse(&name);
        }

        /// Near-valid names, so that many parse: what parses prints back as it was written.
        #[test]
        fn parsed_names_print_back_unchanged(
            name in "[a-zA-Z0-9_.]{1,8}-[0-9a-z.+!]{1,6}(-[0-9a-z_]{1,3})?-[a-z0-9.]{1,6}-[a-z0-9.]{1,6}-[a-z0-9_.]{1,10}\\.whl"
        ) {
            if let Ok(parsed) = WheelName::parse(&name) {
                proptest::prop_assert_eq!(parsed.to_string(), name);
            }
        }
    }
}
