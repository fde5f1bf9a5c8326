//! Does a wheel carry GPU code? A wheel built in a CUDA or ROCm cell with none (no device
//! code, linking none of the variant's runtime libraries) is almost always a silent
//! CPU-only build: a `setup.py` that found no CUDA and fell back to a plain extension.

use std::path::Path;

use object::{Object, ObjectSection};

use super::archive::{self, Opened};
use super::{WheelError, elf, escaped};

/// Compiled files larger than this are not inspected (no extension module is).
const MAX_ELF_BYTES: u64 = 1 << 30;

/// The GPU families of the matrix's accelerator axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Cuda,
    Rocm,
}

impl Family {
    /// Sections that hold device code.
    fn sections(self) -> &'static [&'static str] {
        match self {
            Family::Cuda => &[".nv_fatbin", "__nv_relfatbin", ".nvFatBinSegment"],
            Family::Rocm => &[".hip_fatbin", ".hipFatBinSegment"],
        }
    }

    /// Prefixes of the runtime libraries a GPU extension links.
    fn libraries(self) -> &'static [&'static str] {
        match self {
            Family::Cuda => &[
                "libcudart.so",
                "libcuda.so",
                "libc10_cuda.so",
                "libtorch_cuda.so",
                "libcublas.so",
                "libcudnn.so",
                "libnvrtc.so",
            ],
            Family::Rocm => &[
                "libamdhip64.so",
                "libhiprtc.so",
                "libc10_hip.so",
                "libtorch_hip.so",
                "librocblas.so",
                "libMIOpen.so",
            ],
        }
    }
}

/// Where the wheel shows GPU code of `family`: `Some("pkg/_ext.so: section .nv_fatbin")`
/// or `Some("pkg/_ext.so links libcudart.so.11.0")`; `None` when no compiled file in it
/// does.
pub(crate) fn gpu_evidence(path: &Path, family: Family) -> Result<Option<String>, WheelError> {
    let Opened {
        mut zip, entries, ..
    } = archive::open(path)?;
    for entry in entries.iter().filter(|e| !e.is_dir) {
        let zip_err = |e: &dyn std::fmt::Display| WheelError::Zip {
            path: path.to_path_buf(),
            detail: format!("entry `{}`: {e}", escaped(&entry.name)),
        };
        let file = zip.by_index(entry.index).map_err(|e| zip_err(&e))?;
        if file.size() > MAX_ELF_BYTES {
            continue;
        }
        let Some(bytes) = elf::read_if_elf(file, MAX_ELF_BYTES).map_err(|e| zip_err(&e))? else {
            continue;
        };
        if let Some(found) = evidence_in(&bytes, family) {
            return Ok(Some(format!("{}{found}", escaped(&entry.name))));
        }
    }
    Ok(None)
}

/// GPU code in one ELF file: a device-code section, or a runtime library it links.
fn evidence_in(bytes: &[u8], family: Family) -> Option<String> {
    let file = object::File::parse(bytes).ok()?;
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        if family.sections().contains(&name) {
            return Some(format!(": section {name}"));
        }
        if name == ".dynstr"
            && let Ok(data) = section.data()
        {
            for s in data.split(|&b| b == 0) {
                let s = String::from_utf8_lossy(s);
                if family.libraries().iter().any(|lib| s.starts_with(lib)) {
                    return Some(format!(" links {s}"));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::fixtures::{files, options, shared_library, write_zip};

    #[test]
    fn a_cpu_only_extension_shows_no_gpu_code() {
        let dir = tempfile::tempdir().unwrap();
        let so = shared_library(dir.path(), "int f(void) { return 1; }\n", &[]);
        let wheel = dir.path().join("cpu-1.0-cp311-cp311-linux_x86_64.whl");
        write_zip(&wheel, &files(&[("cpu/_ext.so", &so)]), options(0));
        assert_eq!(gpu_evidence(&wheel, Family::Cuda).unwrap(), None);
        assert_eq!(gpu_evidence(&wheel, Family::Rocm).unwrap(), None);
    }

    #[test]
    fn an_extension_linking_the_runtime_is_gpu_code_of_that_family_only() {
        let dir = tempfile::tempdir().unwrap();
        let so = shared_library(
            dir.path(),
            "int stub(void); int f(void) { return stub(); }\n",
            &["libcudart.so.11.0"],
        );
        let wheel = dir.path().join("gpu-1.0-cp311-cp311-linux_x86_64.whl");
        write_zip(&wheel, &files(&[("gpu/_ext.so", &so)]), options(0));
        assert_eq!(
            gpu_evidence(&wheel, Family::Cuda).unwrap().as_deref(),
            Some("gpu/_ext.so links libcudart.so.11.0")
        );
        assert_eq!(gpu_evidence(&wheel, Family::Rocm).unwrap(), None);
    }
}
