//! Manylinux repair (auditwheel): which libraries it must never graft into a wheel, and the
//! check of a repaired wheel that it did not.
//!
//! A GPU wheel that carries its own copy of `libcudart.so.12` or `libamdhip64.so.5`
//! breaks against the driver and the framework the user has: those come from the system
//! (or from torch's own wheels). The default lists are **versioned globs**, matched as
//! auditwheel matches `--exclude` (fnmatch against each SONAME): `libcudart.so` does not
//! match `libcudart.so.12`, `libcudart.so.*` does.

use std::path::Path;

use super::archive::{self, Opened};
use super::{WheelError, elf, escaped};
use crate::accel::Accel;

/// Libraries of PyTorch: an extension links them, `import torch` provides them.
const TORCH: &[&str] = &["libc10*.so", "libshm.so", "libtorch*.so"];

/// The CUDA runtime and libraries: the driver and the `nvidia-*` wheels provide them.
const CUDA: &[&str] = &[
    "libcublas*.so.*",
    "libcuda.so.*",
    "libcudart.so.*",
    "libcudnn*.so.*",
    "libcufft*.so.*",
    "libcupti.so.*",
    "libcurand.so.*",
    "libcusolver*.so.*",
    "libcusparse*.so.*",
    "libnccl.so.*",
    "libnvJitLink.so.*",
    "libnvToolsExt.so.*",
    "libnvidia-ml.so.*",
    "libnvrtc*.so.*",
];

/// The ROCm runtime and libraries.
const ROCM: &[&str] = &[
    "libMIOpen.so.*",
    "libamd_comgr.so.*",
    "libamdhip64.so.*",
    "libhipblas*.so.*",
    "libhipfft.so.*",
    "libhiprand.so.*",
    "libhiprtc.so.*",
    "libhipsparse.so.*",
    "libhsa-runtime64.so.*",
    "librccl.so.*",
    "librocblas.so.*",
    "librocfft.so.*",
    "librocrand.so.*",
    "librocsolver.so.*",
    "librocsparse.so.*",
    "libroctracer64.so.*",
    "libroctx64.so.*",
];

/// The default excludes of a cell's accelerator family, sorted.
pub fn default_excludes(accel: &Accel) -> Vec<&'static str> {
    let family: &[&str] = match accel {
        Accel::Cpu => &[],
        Accel::Cuda(_) => CUDA,
        Accel::Rocm(_) => ROCM,
    };
    let mut out: Vec<&str> = TORCH.iter().chain(family).copied().collect();
    out.sort_unstable();
    out
}

/// Is `pattern` a usable exclude: a SONAME glob (no path, no whitespace)? The error is a
/// hint.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.contains('/') || pattern.chars().any(char::is_whitespace) {
        return Err("an exclude is a SONAME glob such as `libfoo.so.*`, without a path".into());
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("not a valid glob: {e}"))
}

/// Does `soname` match `pattern` the way auditwheel's fnmatch does?
pub fn matches(pattern: &str, soname: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(soname))
}

/// The SONAME a grafted file had: auditwheel stores `libfoo.so.1` as
/// `<pkg>.libs/libfoo-<8 hex>.so.1`.
pub fn grafted_soname(file_name: &str) -> String {
    if let Some(dot) = file_name.find(".so")
        && let Some((stem, hash)) = file_name[..dot].rsplit_once('-')
        && hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("{stem}{}", &file_name[dot..]);
    }
    file_name.to_string()
}

/// What a repaired wheel holds: the libraries grafted into it (by their original SONAME)
/// and every library its ELF files still need from the system.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linked {
    pub grafted: Vec<String>,
    pub needed: Vec<String>,
}

/// The largest ELF file read whole for its `DT_NEEDED` entries (as `verify` reads them).
const MAX_ELF_BYTES: u64 = 1 << 30;

/// Read `wheel`'s grafted libraries (`*.libs/` entries, as auditwheel names them) and the
/// `DT_NEEDED` entries of its ELF files.
pub fn linked(wheel: &Path) -> Result<Linked, WheelError> {
    let Opened {
        mut zip, entries, ..
    } = archive::open(wheel)?;
    let mut out = Linked::default();
    for entry in entries.iter().filter(|e| !e.is_dir) {
        let (dir, file_name) = entry.name.rsplit_once('/').unwrap_or(("", &entry.name));
        if dir.ends_with(".libs") {
            out.grafted.push(grafted_soname(file_name));
        }
        let zip_err = |e: &dyn std::fmt::Display| WheelError::Zip {
            path: wheel.to_path_buf(),
            detail: format!("entry `{}`: {e}", escaped(&entry.name)),
        };
        let file = zip.by_index(entry.index).map_err(|e| zip_err(&e))?;
        if file.size() > MAX_ELF_BYTES {
            continue;
        }
        if let Some(bytes) = elf::read_if_elf(file, MAX_ELF_BYTES).map_err(|e| zip_err(&e))? {
            out.needed.extend(elf::needed(&bytes));
        }
    }
    for list in [&mut out.grafted, &mut out.needed] {
        list.sort();
        list.dedup();
    }
    // A grafted library is needed under its new name; keep the system's ones.
    out.needed.retain(|n| grafted_soname(n) == *n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_globs_match_real_sonames_and_bare_names_do_not() {
        // The pitfall the issue names (ROCm/aiter#5318): fnmatch against versioned SONAMEs.
        assert!(!matches("librocblas.so", "librocblas.so.5"));
        assert!(matches("librocblas.so.*", "librocblas.so.5"));
        assert!(matches("libcublas*.so.*", "libcublasLt.so.12"));
        assert!(matches("libtorch*.so", "libtorch_cuda.so"));
        assert!(!matches("libcudart.so.*", "libcudart_static.a"));
    }

    #[test]
    fn every_default_matches_a_soname_of_its_family() {
        for (accel, soname) in [
            (Accel::Cuda("11.8".into()), "libcudart.so.11.0"),
            (Accel::Cuda("12.4".into()), "libnvJitLink.so.12"),
            (Accel::Rocm("5.2".into()), "libamdhip64.so.5"),
            (Accel::Rocm("5.2".into()), "libhsa-runtime64.so.1"),
            (Accel::Cpu, "libc10.so"),
        ] {
            let defaults = default_excludes(&accel);
            assert!(
                defaults.iter().any(|p| matches(p, soname)),
                "{accel}: {soname}"
            );
            assert!(defaults.iter().all(|p| check_pattern(p).is_ok()));
        }
        assert!(
            !default_excludes(&Accel::Cpu)
                .iter()
                .any(|p| matches(p, "libcudart.so.11.0"))
        );
    }

    #[test]
    fn grafted_names_map_back_to_their_soname() {
        assert_eq!(
            grafted_soname("libyaml-0-5e3b2a1f.so.2.0.9"),
            "libyaml-0.so.2.0.9"
        );
        assert_eq!(grafted_soname("libz-ab12cd34.so.1"), "libz.so.1");
        // Not auditwheel's naming: left alone.
        assert_eq!(grafted_soname("libfoo-bar.so.1"), "libfoo-bar.so.1");
        assert_eq!(grafted_soname("README"), "README");
    }

    #[test]
    fn linked_reads_grafted_sonames_and_what_the_extensions_still_need() {
        use crate::wheel::fixtures::{files, options, shared_library, write_zip};
        let dir = tempfile::tempdir().unwrap();
        let so = shared_library(
            dir.path(),
            "int stub(void); int f(void) { return stub(); }\n",
            &["libcudart.so.11.0"],
        );
        let wheel = dir
            .path()
            .join("gpu-1.0-cp311-cp311-manylinux_2_36_x86_64.whl");
        write_zip(
            &wheel,
            &files(&[
                ("gpu/_ext.so", &so),
                ("gpu.libs/libyaml-0-8ec1a697.so.2.0.9", b"not read as ELF"),
            ]),
            options(0),
        );
        let linked = linked(&wheel).unwrap();
        assert_eq!(linked.grafted, ["libyaml-0.so.2.0.9"]);
        assert_eq!(linked.needed, ["libcudart.so.11.0"]);
    }

    #[test]
    fn patterns_with_paths_or_spaces_are_refused() {
        assert!(check_pattern("/usr/lib/libfoo.so").is_err());
        assert!(check_pattern("libfoo .so").is_err());
        assert!(check_pattern("").is_err());
        assert!(check_pattern("libfoo[.so").is_err());
        assert!(check_pattern("libfoo.so.*").is_ok());
    }
}
