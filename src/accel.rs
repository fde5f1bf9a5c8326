//! Accelerator variants, as PyTorch tags its builds: `cpu`, `cudaX.Y`, `rocmX.Y[.Z]`.

use std::fmt;

/// The accelerator variant of a matrix cell, parsed from its `cuda` axis value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Accel {
    Cpu,
    Cuda(String),
    Rocm(String),
}

impl Accel {
    /// Parse an axis value; the error is a hint saying how to write it.
    pub fn parse(s: &str) -> Result<Accel, String> {
        let version_ok = |v: &str| {
            !v.is_empty()
                && v.len() <= 16
                && v.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        if s == "cpu" {
            Ok(Accel::Cpu)
        } else if let Some(v) = s.strip_prefix("cuda").filter(|v| version_ok(v)) {
            Ok(Accel::Cuda(v.to_string()))
        } else if let Some(v) = s.strip_prefix("rocm").filter(|v| version_ok(v)) {
            Ok(Accel::Rocm(v.to_string()))
        } else if version_ok(s) {
            Err(format!("write `cuda{s}` (or `rocm{s}`)"))
        } else if let Some(v) = s.strip_prefix("cu").filter(|v| version_ok(v)) {
            let (major, minor) = v.split_at(v.len().saturating_sub(1));
            Err(format!("write `cuda{major}.{minor}`"))
        } else {
            Err("use `cpu`, `cudaX.Y` or `rocmX.Y[.Z]`, as PyTorch tags its images".into())
        }
    }

    /// PyTorch's wheel-index tag: `cpu`, `cu124`, `rocm6.2`.
    pub fn tag(&self) -> String {
        match self {
            Accel::Cpu => "cpu".into(),
            Accel::Cuda(v) => format!("cu{}", v.replace('.', "")),
            Accel::Rocm(v) => format!("rocm{v}"),
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accel::Cpu => f.write_str("cpu"),
            Accel::Cuda(v) => write!(f, "cuda{v}"),
            Accel::Rocm(v) => write!(f, "rocm{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_and_hints() {
        assert_eq!(Accel::parse("cpu"), Ok(Accel::Cpu));
        assert_eq!(Accel::parse("cuda12.4").unwrap().tag(), "cu124");
        assert_eq!(Accel::parse("rocm6.2.4").unwrap().tag(), "rocm6.2.4");
        assert_eq!(Accel::parse("cuda11.8").unwrap().to_string(), "cuda11.8");
        assert!(Accel::parse("12.4").unwrap_err().contains("cuda12.4"));
        assert!(Accel::parse("cu124").unwrap_err().contains("cuda12.4"));
        assert!(Accel::parse("gpu").is_err());
        assert!(Accel::parse("cuda").is_err());
    }
}
