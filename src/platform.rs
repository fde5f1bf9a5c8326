//! OCI platforms (`os/arch[/variant]`) and the wheel platform tags they build for.

use std::fmt;

/// An OCI platform, `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// The platform of images when the config names none.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty() && p.len() <= 32 && p.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err("write the platform as `os/arch[/variant]`, e.g. `linux/amd64`".into()),
        }
    }

    /// The wheel platform tag of this platform (`linux_x86_64`), if wheels exist for it.
    pub fn wheel_tag(&self) -> Option<String> {
        let arch = match (self.architecture.as_str(), self.variant.as_deref()) {
            ("amd64", _) => "x86_64",
            ("arm64", _) => "aarch64",
            ("ppc64le", _) => "ppc64le",
            ("s390x", _) => "s390x",
            ("386", _) => "i686",
            ("arm", Some("v7")) => "armv7l",
            _ => return None,
        };
        (self.os == "linux").then(|| format!("linux_{arch}"))
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform::parse(DEFAULT_PLATFORM).expect("the default platform parses")
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_tags() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert_eq!(p.wheel_tag().as_deref(), Some("linux_armv7l"));
        assert_eq!(
            Platform::default().wheel_tag().as_deref(),
            Some("linux_x86_64")
        );
        assert_eq!(Platform::parse("windows/amd64").unwrap().wheel_tag(), None);
        for bad in ["", "linux", "linux/", "linux/amd64/v1/x", "linux/am d64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
