//! Wheels: their names (PEP 427), whether one fits a matrix cell, their integrity (RECORD),
//! safe extraction from a build container's output, and comparison of two builds.
//!
//! Everything here reads data that a build container produced, and a build container may be
//! malicious: nothing panics on bad input, nothing is written outside the destination, nothing
//! existing is replaced, and every refusal names the entry it refused.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// A RECORD larger than this is not a RECORD but an attempt to exhaust memory.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Longest file name most file systems accept.
const MAX_FILE_NAME: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("invalid wheel file name `{name}`: {reason}")]
    Name { name: String, reason: String },
    #[error("invalid Python version `{python}`: expected major.minor, e.g. `3.11`")]
    Python { python: String },
    #[error("wheel {wheel} does not fit {target}: {kind} tag `{found}`, expected {expected}")]
    Unfit {
        wheel: String,
        target: String,
        kind: &'static str,
        found: String,
        expected: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a readable zip archive: {detail}", path.display())]
    Zip { path: PathBuf, detail: String },
    #[error("wheel {}: unsafe entry `{entry}`: {reason}", path.display())]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("wheel {}: {detail}", path.display())]
    Layout { path: PathBuf, detail: String },
    #[error("wheel {}: RECORD line {line}: {detail}", path.display())]
    Record {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("wheel {}: `{entry}` does not match RECORD: {detail}", path.display())]
    Mismatch {
        path: PathBuf,
        entry: String,
        detail: String,
    },
    #[error("wheel {}: `{entry}` is not listed in RECORD", path.display())]
    NotInRecord { path: PathBuf, entry: String },
    #[error("wheel {}: RECORD lists `{entry}`, which is not a file in the archive", path.display())]
    MissingFile { path: PathBuf, entry: String },
    #[error("build output entry `{entry}` refused: {reason}")]
    TarEntry { entry: String, reason: String },
    #[error("build output entry `{entry}` is {size} bytes, over the limit of {max} bytes")]
    TooLarge { entry: String, size: u64, max: u64 },
    #[error("reading the build output archive: {source}")]
    Tar {
        #[source]
        source: io::Error,
    },
    #[error("{} already exists; not replacing it", path.display())]
    Exists { path: PathBuf },
}

impl WheelError {
    pub fn hint(&self) -> Option<String> {
        const TAMPERED: &str = "the wheel is corrupt or was altered after it was built; build it again, and if this \
             persists, check the project's build backend";
        match self {
            WheelError::Name { .. } => Some(
                "wheel file names are `{distribution}-{version}(-{build})?-{python}-{abi}-\
                 {platform}.whl` (PEP 427), with `_` in place of `-` inside each part"
                    .into(),
            ),
            WheelError::Python { .. } => {
                Some("write the Python version as major.minor, e.g. `3.11`".into())
            }
            WheelError::Unfit { kind, .. } => Some(format!(
                "the build made a wheel for another {}; check the build command and the \
                 image's Python",
                if *kind == "platform" {
                    "platform"
                } else {
                    "interpreter"
                }
            )),
            WheelError::Io { .. } => Some("check the path, its permissions and free space".into()),
            WheelError::Zip { .. }
            | WheelError::UnsafeEntry { .. }
            | WheelError::Layout { .. }
            | WheelError::Record { .. }
            | WheelError::Mismatch { .. }
            | WheelError::NotInRecord { .. }
            | WheelError::MissingFile { .. } => Some(TAMPERED.into()),
            WheelError::TarEntry { .. } => Some(
                "a build must leave only wheel files, directly in its output directory; \
                 nothing was kept from this build"
                    .into(),
            ),
            WheelError::TooLarge { .. } => Some(
                "a wheel this large is unexpected; if it is genuine, raise the size limit".into(),
            ),
            WheelError::Tar { .. } => {
                Some("the build output could not be read from the container; build again".into())
            }
            WheelError::Exists { .. } => {
                Some("collect wheels into an empty directory, or remove the file first".into())
            }
        }
    }
}

/// A parsed PEP 427 wheel file name:
/// `{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl`.
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
}

impl WheelName {
    /// Parse strictly: a name that a careful builder would not write is refused, since the
    /// name becomes a file name in the store and a word in messages.
    pub fn parse(file_name: &str) -> Result<WheelName, WheelError> {
        let bad = |reason: String| WheelError::Name {
            name: shown(file_name),
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
        let (distribution, version, build, python, abi, platform) = match parts.as_slice() {
            [d, v, p, a, pl] => (*d, *v, None, *p, *a, *pl),
            [d, v, b, p, a, pl] => (*d, *v, Some(*b), *p, *a, *pl),
            _ => {
                return Err(bad(format!(
                    "has {} `-`-separated parts, expected 5 (name, version, python, abi, \
                     platform) or 6 (with a build tag)",
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
                    shown(build)
                )));
            }
        }
        Ok(WheelName {
            distribution: distribution.into(),
            version: version.into(),
            build: build.map(String::from),
            python: split_tags("python", python).map_err(&bad)?,
            abi: split_tags("abi", abi).map_err(&bad)?,
            platform: split_tags("platform", platform).map_err(&bad)?,
        })
    }

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
            target: format!("CPython {python} on {}", shown(platform)),
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

impl fmt::Display for WheelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.distribution, self.version)?;
        if let Some(build) = &self.build {
            write!(f, "-{build}")?;
        }
        write!(
            f,
            "-{}-{}-{}.whl",
            self.python.join("."),
            self.abi.join("."),
            self.platform.join(".")
        )
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
            shown(value),
            shown(&c.to_string()),
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
            shown(value)
        ));
    }
    if value.contains("..") {
        return Err(format!("{kind} `{}` contains `..`", shown(value)));
    }
    Ok(())
}

fn split_tags(kind: &str, set: &str) -> Result<Vec<String>, String> {
    set.split('.')
        .map(|tag| {
            if tag.is_empty() {
                Err(format!("empty {kind} tag in `{}`", shown(set)))
            } else if !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                Err(format!(
                    "{kind} tag `{}` may hold only ASCII letters, digits and `_`",
                    shown(tag)
                ))
            } else {
                Ok(tag.to_string())
            }
        })
        .collect()
}

fn parse_python(python: &str) -> Result<(u32, u32), WheelError> {
    let bad = || WheelError::Python {
        python: shown(python),
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
    let shown_platform = shown(platform);
    let mut out = match linux_tag(platform) {
        Some((Libc::Unstated, arch)) => {
            format!("`any`, `{shown_platform}` or `manylinux*_{}`", shown(arch))
        }
        Some((Libc::Glibc(a, b), arch)) => format!(
            "`any`, `linux_{arch}` or a manylinux tag of glibc <= {a}.{b} for {arch}",
            arch = shown(arch)
        ),
        Some((Libc::Musl(a, b), arch)) => format!(
            "`any`, `linux_{arch}` or a musllinux tag of musl <= {a}.{b} for {arch}",
            arch = shown(arch)
        ),
        None => format!("`any` or `{shown_platform}`"),
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

/// PEP 503 normalization of a distribution name: lowercase, each run of `-`, `_`, `.` → `-`.
pub fn normalize(name: &str) -> String {
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

/// What [`verify_wheel`] found in a sound wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WheelInfo {
    pub name: WheelName,
    /// Hex sha256 of the whole file.
    pub sha256: String,
    pub size: u64,
    /// Regular file entries in the archive, RECORD included.
    pub files: usize,
}

/// Check that the file at `path` is a wheel an installer would accept unchanged: a zip with
/// consistent headers and unique, safe entry names; exactly one `{name}-{version}.dist-info`
/// matching the file name; a `WHEEL` file; and a RECORD that lists every file (except itself and
/// its signatures) with a hash (sha256, sha384 or sha512) and size that match the content, and
/// nothing else.
pub fn verify_wheel(path: &Path) -> Result<WheelInfo, WheelError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| WheelError::Name {
            name: shown(&path.display().to_string()),
            reason: "not a UTF-8 file name".into(),
        })?;
    let name = WheelName::parse(file_name)?;
    let io_err = |source| WheelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let (digest, size) = hash_stream(&mut file, Hasher::Sha256(Sha256::new())).map_err(io_err)?;
    file.rewind().map_err(io_err)?;
    let mut zip = open_zip(path, file)?;
    let entries = list_entries(path, &mut zip)?;

    // The one top-level `.dist-info` directory, named after the wheel.
    let dist_infos: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.name.split('/').next())
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    let layout = |detail: String| WheelError::Layout {
        path: path.to_path_buf(),
        detail,
    };
    let dist_info = match dist_infos.len() {
        1 => dist_infos.first().copied().unwrap_or_default(),
        0 => return Err(layout("no top-level `.dist-info` directory".into())),
        _ => {
            return Err(layout(format!(
                "several `.dist-info` directories: {}",
                dist_infos
                    .iter()
                    .map(|d| format!("`{}`", shown(d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let stem = dist_info.strip_suffix(".dist-info").unwrap_or(dist_info);
    let matches_name = stem.rsplit_once('-').is_some_and(|(dist, version)| {
        normalize(dist) == normalize(&name.distribution)
            && normalize_version(version) == normalize_version(&name.version)
    });
    if !matches_name {
        return Err(layout(format!(
            "`{}` does not belong to {}-{} (the file name)",
            shown(dist_info),
            name.distribution,
            name.version
        )));
    }

    let files: HashMap<&str, usize> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| (e.name.as_str(), e.index))
        .collect();
    let wheel_meta = format!("{dist_info}/WHEEL");
    if !files.contains_key(wheel_meta.as_str()) {
        return Err(layout(format!("no `{}`", shown(&wheel_meta))));
    }
    let record_path = format!("{dist_info}/RECORD");
    let unhashed = [
        record_path.clone(),
        format!("{dist_info}/RECORD.jws"),
        format!("{dist_info}/RECORD.p7s"),
    ];
    let Some(&record_index) = files.get(record_path.as_str()) else {
        return Err(layout(format!("no `{}`", shown(&record_path))));
    };
    let record = read_record(path, &mut zip, record_index)?;
    let rows = parse_record(path, &record, &unhashed)?;

    for entry in entries.iter().filter(|e| !e.is_dir) {
        let listed = rows.get(entry.name.as_str());
        if unhashed.contains(&entry.name) {
            // RECORD cannot hold its own hash; signatures sign RECORD, so it cannot hold theirs.
            continue;
        }
        let Some(row) = listed else {
            return Err(WheelError::NotInRecord {
                path: path.to_path_buf(),
                entry: shown(&entry.name),
            });
        };
        let mismatch = |detail: String| WheelError::Mismatch {
            path: path.to_path_buf(),
            entry: shown(&entry.name),
            detail,
        };
        let Some((algorithm, expected)) = &row.hash else {
            // parse_record allows no hash only for the unhashed files.
            return Err(mismatch("RECORD gives no hash".into()));
        };
        let hasher = Hasher::new(algorithm).ok_or_else(|| {
            mismatch(format!("unsupported hash algorithm `{}`", shown(algorithm)))
        })?;
        let (actual, actual_size) = hash_entry(path, &mut zip, entry, hasher)?;
        let actual = URL_SAFE_NO_PAD.encode(actual);
        if actual != *expected {
            return Err(mismatch(format!(
                "RECORD has {algorithm}={}, the content has {algorithm}={actual}",
                shown(expected)
            )));
        }
        if let Some(listed_size) = row.size
            && listed_size != actual_size
        {
            return Err(mismatch(format!(
                "RECORD gives {listed_size} bytes, the content has {actual_size}"
            )));
        }
    }
    for listed in rows.keys() {
        if !files.contains_key(listed.as_str()) {
            return Err(WheelError::MissingFile {
                path: path.to_path_buf(),
                entry: shown(listed),
            });
        }
    }
    Ok(WheelInfo {
        name,
        sha256: hex::encode(digest),
        size,
        files: files.len(),
    })
}

/// Versions compare with `-`/`_` and case folded, as installers write dist-info names.
fn normalize_version(version: &str) -> String {
    version.to_ascii_lowercase().replace('-', "_")
}

/// One zip entry's name and kind, read once so later passes need not decode headers again.
struct ZipEntry {
    index: usize,
    name: String,
    is_dir: bool,
}

/// Open a zip and refuse the ambiguities that let two readers see different contents:
/// duplicate names and local headers that disagree with the central directory.
fn open_zip<R: Read + Seek>(path: &Path, reader: R) -> Result<zip::ZipArchive<R>, WheelError> {
    let bad = |detail: String| WheelError::Zip {
        path: path.to_path_buf(),
        detail,
    };
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| bad(e.to_string()))?;
    if zip.has_duplicate_names() {
        return Err(bad(
            "some entry names appear twice, so readers may disagree on the content".into(),
        ));
    }
    zip.validate_header_consistency()
        .map_err(|e| bad(e.to_string()))?;
    Ok(zip)
}

/// All entries, in archive order, with names checked to be safe relative paths.
fn list_entries<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
) -> Result<Vec<ZipEntry>, WheelError> {
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| WheelError::Zip {
            path: path.to_path_buf(),
            detail: format!("entry {index}: {e}"),
        })?;
        let name = entry
            .name()
            .map_err(|e| WheelError::Zip {
                path: path.to_path_buf(),
                detail: format!("entry {index}: {e}"),
            })?
            .into_owned();
        let unsafe_entry = |reason: &str| WheelError::UnsafeEntry {
            path: path.to_path_buf(),
            entry: shown(&name),
            reason: reason.into(),
        };
        if let Some(reason) = unsafe_path(&name) {
            return Err(unsafe_entry(reason));
        }
        if entry.is_symlink() {
            return Err(unsafe_entry("is a symbolic link"));
        }
        if entry.encrypted() {
            return Err(unsafe_entry("is encrypted"));
        }
        let is_dir = entry.is_dir();
        drop(entry);
        entries.push(ZipEntry {
            index,
            name,
            is_dir,
        });
    }
    Ok(entries)
}

/// Why a path from a wheel (a zip entry or a RECORD row) could escape or confuse an
/// installer's target directory; `None` when it is a plain relative path.
fn unsafe_path(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("has an empty name");
    }
    if name.contains('\\') {
        return Some("contains a backslash");
    }
    if name.starts_with('/') {
        return Some("is an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("starts with a drive letter");
    }
    if name.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    let relative = name.strip_suffix('/').unwrap_or(name);
    for component in relative.split('/') {
        match component {
            ".." => return Some("has a `..` component"),
            "" | "." => return Some("has an empty or `.` component"),
            _ => {}
        }
    }
    None
}

fn read_record<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    index: usize,
) -> Result<String, WheelError> {
    let zip_err = |e: &dyn fmt::Display| WheelError::Zip {
        path: path.to_path_buf(),
        detail: format!("RECORD: {e}"),
    };
    let entry = zip.by_index(index).map_err(|e| zip_err(&e))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| zip_err(&e))?;
    let layout = |detail: &str| WheelError::Layout {
        path: path.to_path_buf(),
        detail: detail.into(),
    };
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(layout("RECORD is larger than 64 MiB"));
    }
    String::from_utf8(bytes).map_err(|_| layout("RECORD is not UTF-8"))
}

/// A RECORD row: `(algorithm, urlsafe-base64 digest)` and size, each optional.
struct RecordRow {
    hash: Option<(String, String)>,
    size: Option<u64>,
}

/// Parse RECORD into path → row, refusing unsafe or repeated paths, and rows without a hash
/// other than those in `unhashed`.
fn parse_record(
    path: &Path,
    text: &str,
    unhashed: &[String],
) -> Result<BTreeMap<String, RecordRow>, WheelError> {
    let record_err = |line: usize, detail: String| WheelError::Record {
        path: path.to_path_buf(),
        line,
        detail,
    };
    let mut rows = BTreeMap::new();
    for (line, fields) in parse_csv(text).map_err(|(line, detail)| record_err(line, detail))? {
        let [file, hash, size] = fields.as_slice() else {
            return Err(record_err(
                line,
                format!(
                    "expected 3 fields (path, hash, size), found {}",
                    fields.len()
                ),
            ));
        };
        if let Some(reason) = unsafe_path(file) {
            return Err(record_err(line, format!("path `{}` {reason}", shown(file))));
        }
        let hash = if hash.is_empty() {
            if !unhashed.contains(file) {
                return Err(record_err(line, format!("`{}` has no hash", shown(file))));
            }
            None
        } else {
            let Some((algorithm, digest)) = hash.split_once('=') else {
                return Err(record_err(
                    line,
                    format!("hash `{}` is not `algorithm=digest`", shown(hash)),
                ));
            };
            // Python's writers strip the padding; tolerate it the way pip does.
            Some((
                algorithm.to_string(),
                digest.trim_end_matches('=').to_string(),
            ))
        };
        let size =
            if size.is_empty() {
                None
            } else if size.bytes().all(|b| b.is_ascii_digit()) {
                Some(size.parse().map_err(|_| {
                    record_err(line, format!("size `{}` is out of range", shown(size)))
                })?)
            } else {
                return Err(record_err(
                    line,
                    format!("size `{}` is not a number", shown(size)),
                ));
            };
        if rows
            .insert(file.clone(), RecordRow { hash, size })
            .is_some()
        {
            return Err(record_err(line, format!("lists `{}` twice", shown(file))));
        }
    }
    Ok(rows)
}

/// A CSV row's 1-based starting line and its fields.
type CsvRow = (usize, Vec<String>);

/// Rows of a CSV text as Python's `csv` module writes it (`,` separated, `"` quoted, `""` for a
/// quote inside quotes), each with its 1-based starting line; blank lines are skipped.
fn parse_csv(text: &str) -> Result<Vec<CsvRow>, (usize, String)> {
    let mut rows = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut row_line = 1;
    let mut chars = text.chars().peekable();
    // Whether the current field was quoted and its closing quote seen.
    let mut closed = false;
    let mut row_empty = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() && !closed => {
                // A quoted field: read up to the closing quote.
                row_empty = false;
                loop {
                    match chars.next() {
                        None => return Err((row_line, "unterminated quoted field".into())),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                closed = true;
            }
            ',' => {
                row_empty = false;
                fields.push(std::mem::take(&mut field));
                closed = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if !row_empty || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    rows.push((row_line, std::mem::take(&mut fields)));
                }
                closed = false;
                row_empty = true;
                line += 1;
                row_line = line;
            }
            _ if closed => {
                return Err((row_line, "text after a closing quote".into()));
            }
            c => {
                row_empty = false;
                field.push(c);
            }
        }
    }
    if !row_empty || !field.is_empty() {
        fields.push(field);
        rows.push((row_line, fields));
    }
    Ok(rows)
}

/// The hash algorithms RECORD may use (PEP 427: sha256 or stronger).
enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algorithm: &str) -> Option<Hasher> {
        match algorithm {
            "sha256" => Some(Hasher::Sha256(Sha256::new())),
            "sha384" => Some(Hasher::Sha384(Sha384::new())),
            "sha512" => Some(Hasher::Sha512(Sha512::new())),
            _ => None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Digest and length of everything `reader` yields, in constant memory.
fn hash_stream(reader: &mut impl Read, mut hasher: Hasher) -> io::Result<(Vec<u8>, u64)> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}

/// Digest and size of one entry's decompressed content (the zip crate checks its CRC).
fn hash_entry<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    entry: &ZipEntry,
    hasher: Hasher,
) -> Result<(Vec<u8>, u64), WheelError> {
    let zip_err = |e: &dyn fmt::Display| WheelError::Zip {
        path: path.to_path_buf(),
        detail: format!("entry `{}`: {e}", shown(&entry.name)),
    };
    let mut file = zip.by_index(entry.index).map_err(|e| zip_err(&e))?;
    hash_stream(&mut file, hasher).map_err(|e| zip_err(&e))
}

/// Extract the wheels from a tar stream of one directory, as Docker's archive API returns it
/// (`out/`, `out/a-1.0-py3-none-any.whl`, ...), into the existing directory `dest`.
///
/// Only regular files with valid wheel names directly inside the archived directory are
/// written; the directory's own entry is skipped. Anything else is refused, with nothing kept
/// from the stream: links, devices, FIFOs, other files, deeper paths, `..`, absolute or
/// non-UTF-8 names, entries outside the directory, repeated names, and files over `max_bytes`.
/// Files are created with `create_new`, so an existing file (or a planted symlink) is never
/// followed or replaced. Returns the extracted file names in archive order.
pub fn extract_wheels<R: Read>(
    tar: R,
    dest: &Path,
    max_bytes: u64,
) -> Result<Vec<String>, WheelError> {
    let mut created = Vec::new();
    let result = extract_into(tar, dest, max_bytes, &mut created);
    if result.is_err() {
        // All or nothing: a refused stream leaves no wheels behind. Only files this call
        // created (create_new succeeded) are removed.
        for path in &created {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

fn extract_into<R: Read>(
    tar: R,
    dest: &Path,
    max_bytes: u64,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<String>, WheelError> {
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|source| WheelError::Tar { source })?;
    let mut top: Option<String> = None;
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|source| WheelError::Tar { source })?;
        let raw = entry.path_bytes().into_owned();
        let Ok(path) = std::str::from_utf8(&raw) else {
            return Err(WheelError::TarEntry {
                entry: raw.escape_ascii().to_string(),
                reason: "name is not UTF-8".into(),
            });
        };
        let refuse = |reason: String| WheelError::TarEntry {
            entry: shown(path),
            reason,
        };
        if path.contains('\0') {
            return Err(refuse("name contains a NUL byte".into()));
        }
        if path.starts_with('/') {
            return Err(refuse("is an absolute path".into()));
        }
        let parts: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(refuse("has a `..` component".into()));
        }
        let kind = entry.header().entry_type();
        let (dir, file) = match parts.as_slice() {
            [] => return Err(refuse("has an empty path".into())),
            [dir] => {
                if !kind.is_dir() {
                    return Err(refuse(
                        "is not inside the output directory; a build should leave only wheel \
                         files in its output directory"
                            .into(),
                    ));
                }
                (*dir, None)
            }
            [dir, file] => (*dir, Some(*file)),
            _ => {
                return Err(refuse(
                    "is nested below the output directory; only wheels directly inside it are \
                     collected"
                        .into(),
                ));
            }
        };
        match &top {
            None => top = Some(dir.to_string()),
            Some(top) if top == dir => {}
            Some(top) => {
                return Err(refuse(format!(
                    "is outside the output directory `{}`",
                    shown(top)
                )));
            }
        }
        let Some(file) = file else {
            continue; // the output directory's own entry
        };
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "a symbolic link".to_string()
            } else if kind.is_hard_link() {
                "a hard link".to_string()
            } else if kind.is_dir() {
                "a directory".to_string()
            } else if kind.is_character_special() || kind.is_block_special() {
                "a device".to_string()
            } else if kind.is_fifo() {
                "a FIFO".to_string()
            } else {
                format!("of tar type `{}`", kind.as_byte().escape_ascii())
            };
            return Err(refuse(format!(
                "is {what}, not a regular file; a build should leave only wheel files in its \
                 output directory"
            )));
        }
        if !file.ends_with(".whl") {
            return Err(refuse(
                "is not a wheel; a build should leave only `.whl` files in its output directory"
                    .into(),
            ));
        }
        if let Err(e) = WheelName::parse(file) {
            let reason = match e {
                WheelError::Name { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(refuse(format!("is not a valid wheel file name: {reason}")));
        }
        let size = entry.size();
        if size > max_bytes {
            return Err(WheelError::TooLarge {
                entry: shown(path),
                size,
                max: max_bytes,
            });
        }
        if !seen.insert(file.to_string()) {
            return Err(refuse("appears twice in the archive".into()));
        }
        let target = dest.join(file);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|source| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    WheelError::Exists {
                        path: target.clone(),
                    }
                } else {
                    WheelError::Io {
                        path: target.clone(),
                        source,
                    }
                }
            })?;
        created.push(target.clone());
        let copied = copy_limited(&mut entry, &mut out, max_bytes, &target)?;
        if copied != size {
            return Err(refuse(format!(
                "holds {copied} bytes but its header says {size}"
            )));
        }
        names.push(file.to_string());
    }
    Ok(names)
}

/// Copy at most `max + 1` bytes, telling read errors (the stream) from write errors (`target`).
fn copy_limited(
    from: &mut impl Read,
    to: &mut File,
    max: u64,
    target: &Path,
) -> Result<u64, WheelError> {
    let mut from = from.take(max.saturating_add(1));
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(WheelError::Tar { source }),
        };
        to.write_all(&buf[..n]).map_err(|source| WheelError::Io {
            path: target.to_path_buf(),
            source,
        })?;
        total += n as u64;
    }
    Ok(total)
}

/// How two wheels differ, entry by entry (name and content sha256).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WheelDiff {
    /// In the second wheel only.
    pub added: Vec<String>,
    /// In the first wheel only.
    pub removed: Vec<String>,
    /// In both, with different content.
    pub changed: Vec<String>,
    /// Every entry is the same, yet the files differ: only zip metadata (timestamps, order,
    /// compression, permissions) does. False for byte-identical files.
    pub metadata_only: bool,
}

impl WheelDiff {
    /// Whether both wheels hold the same entries with the same contents.
    pub fn same_contents(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compare two wheels for `wheelbuild verify`, so that a rebuild that differs only in zip
/// metadata is told apart from one whose contents changed. Directory entries count as
/// entries (with empty content). Names are sorted.
pub fn diff_wheels(a: &Path, b: &Path) -> Result<WheelDiff, WheelError> {
    let (file_a, entries_a) = zip_contents(a)?;
    let (file_b, entries_b) = zip_contents(b)?;
    let mut diff = WheelDiff::default();
    for (name, hash) in &entries_a {
        match entries_b.get(name) {
            None => diff.removed.push(name.clone()),
            Some(other) if other != hash => diff.changed.push(name.clone()),
            Some(_) => {}
        }
    }
    diff.added = entries_b
        .keys()
        .filter(|name| !entries_a.contains_key(*name))
        .cloned()
        .collect();
    diff.metadata_only = diff.same_contents() && file_a != file_b;
    Ok(diff)
}

/// Entry name → content sha256.
type Contents = BTreeMap<String, Vec<u8>>;

/// The whole file's sha256 and each entry's content sha256.
fn zip_contents(path: &Path) -> Result<(Vec<u8>, Contents), WheelError> {
    let io_err = |source| WheelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let (whole, _) = hash_stream(&mut file, Hasher::Sha256(Sha256::new())).map_err(io_err)?;
    file.rewind().map_err(io_err)?;
    let mut zip = open_zip(path, file)?;
    let entries = list_entries(path, &mut zip)?;
    let mut contents = BTreeMap::new();
    for entry in &entries {
        let (digest, _) = hash_entry(path, &mut zip, entry, Hasher::Sha256(Sha256::new()))?;
        contents.insert(entry.name.clone(), digest);
    }
    Ok((whole, contents))
}

/// An untrusted name made safe to print: control and bidirectional-formatting characters
/// escaped, so a malicious name cannot rewrite the terminal or disguise itself.
fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, DateTime, ZipWriter};

    // ---- names -----------------------------------------------------------------------------

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
            ("demo-1.0-x-y-py3-none-any.whl", "parts"),
            ("demo-1.0-py3-none-any.zip", "`.whl`"),
            ("demo-1.0-py3-none-any", "`.whl`"),
            (
                "de mo-1.0-py3-none-any.whl",
                "distribution `de mo` contains ` `",
            ),
            ("demo-1.0-beta-py3-none-any.whl", "start with a digit"),
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
        assert_eq!(normalize("Foo.Bar__baz-_-Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize("demo"), "demo");
        assert_eq!(normalize("Demo_Pkg"), normalize("demo.pkg"));
    }

    // ---- fits ------------------------------------------------------------------------------

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

    // ---- zip fixtures ----------------------------------------------------------------------

    type Files = Vec<(String, Vec<u8>)>;

    fn files(list: &[(&str, &[u8])]) -> Files {
        list.iter()
            .map(|(n, c)| (n.to_string(), c.to_vec()))
            .collect()
    }

    /// The content files of a sound `demo-1.0` wheel (RECORD is added by [`write_wheel`]).
    fn demo() -> Files {
        files(&[
            ("demo/__init__.py", b"print('hello')\n"),
            ("demo/core.py", b"X = 1\n"),
            (
                "demo-1.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
            ),
            (
                "demo-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            ),
        ])
    }

    fn b64_sha256(content: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(content))
    }

    fn record_of(files: &Files, dist_info: &str) -> String {
        let mut record: String = files
            .iter()
            .map(|(n, c)| format!("{n},sha256={},{}\n", b64_sha256(c), c.len()))
            .collect();
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        record
    }

    fn options(minute: u8) -> SimpleFileOptions {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::from_date_and_time(2024, 1, 2, 3, minute, 0).unwrap())
    }

    fn write_zip(path: &Path, entries: &Files, options: SimpleFileOptions) {
        let mut zip = ZipWriter::new(File::create(path).unwrap());
        for (name, content) in entries {
            if let Some(dir) = name.strip_suffix('/') {
                zip.add_directory(dir, options).unwrap();
            } else {
                zip.start_file(name.as_str(), options).unwrap();
                zip.write_all(content).unwrap();
            }
        }
        zip.finish().unwrap();
    }

    /// `files` plus a RECORD (the right one unless `record` is given), as `dir/file_name`.
    fn write_wheel(
        dir: &Path,
        file_name: &str,
        mut files: Files,
        record: Option<String>,
    ) -> PathBuf {
        let dist_info = files
            .iter()
            .filter_map(|(n, _)| n.split('/').next())
            .find(|d| d.ends_with(".dist-info"))
            .unwrap_or("demo-1.0.dist-info")
            .to_string();
        let record = record.unwrap_or_else(|| record_of(&files, &dist_info));
        files.push((format!("{dist_info}/RECORD"), record.into_bytes()));
        let path = dir.join(file_name);
        write_zip(&path, &files, options(4));
        path
    }

    const DEMO: &str = "demo-1.0-py3-none-any.whl";

    // ---- verify_wheel ----------------------------------------------------------------------

    #[test]
    fn verifies_a_sound_wheel() {
        let tmp = tempfile::tempdir().unwrap();
        let path = write_wheel(tmp.path(), DEMO, demo(), None);
        let info = verify_wheel(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(info.name, WheelName::parse(DEMO).unwrap());
        assert_eq!(info.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(info.files, 5);
    }

    #[test]
    fn verifies_what_real_builders_write() {
        // Directory entries, stored entries, sha512 rows, a quoted path with a comma and a
        // doubled quote, CRLF line ends, a padded digest, a signature not listed in RECORD, and
        // a dist-info named with a different spelling of the distribution.
        let tmp = tempfile::tempdir().unwrap();
        let body = b"x = 2\n";
        let odd = b"odd\n";
        let meta = b"Name: Demo.Pkg\n";
        let record = format!(
            "demo_pkg/core.py,sha512={},{}\r\n\"demo_pkg/a,\"\"b\"\".py\",sha256={}=,\r\n\
             demo_pkg-1.0.dist-info/METADATA,sha256={},{}\r\n\
             demo_pkg-1.0.dist-info/WHEEL,sha256={},0\r\n\r\ndemo_pkg-1.0.dist-info/RECORD,,\r\n",
            URL_SAFE_NO_PAD.encode(Sha512::digest(body)),
            body.len(),
            b64_sha256(odd),
            b64_sha256(meta),
            meta.len(),
            b64_sha256(b""),
        );
        let entries = files(&[
            ("demo_pkg/", b""),
            ("demo_pkg/core.py", body),
            ("demo_pkg/a,\"b\".py", odd),
            ("demo_pkg-1.0.dist-info/", b""),
            ("demo_pkg-1.0.dist-info/METADATA", meta),
            ("demo_pkg-1.0.dist-info/WHEEL", b""),
            ("demo_pkg-1.0.dist-info/RECORD", record.as_bytes()),
            ("demo_pkg-1.0.dist-info/RECORD.jws", b"{}"),
        ]);
        let path = tmp.path().join("Demo.Pkg-1.0-py3-none-any.whl");
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        write_zip(&path, &entries, stored);
        let info = verify_wheel(&path).unwrap();
        assert_eq!(info.files, 6);
    }

    #[test]
    fn names_the_file_whose_hash_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let files = demo();
        let record = record_of(&files, "demo-1.0.dist-info")
            .replace(&b64_sha256(b"X = 1\n"), &b64_sha256(b"X = 2\n"));
        let path = write_wheel(tmp.path(), DEMO, files, Some(record));
        match verify_wheel(&path) {
            Err(e @ WheelError::Mismatch { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("`demo/core.py`"), "{msg}");
                assert!(msg.contains(&b64_sha256(b"X = 1\n")), "{msg}");
                assert!(msg.contains(DEMO), "{msg}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn names_the_file_whose_size_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let files = demo();
        let record = record_of(&files, "demo-1.0.dist-info").replace(
            &format!("{},6\n", b64_sha256(b"X = 1\n")),
            &format!("{},7\n", b64_sha256(b"X = 1\n")),
        );
        let path = write_wheel(tmp.path(), DEMO, files, Some(record));
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Mismatch { entry, detail, .. } if entry == "demo/core.py" && detail.contains("7 bytes")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_a_file_missing_from_record() {
        let tmp = tempfile::tempdir().unwrap();
        let record = record_of(&demo(), "demo-1.0.dist-info");
        let mut files = demo();
        files.push(("demo/extra.py".into(), b"import os\n".to_vec()));
        let path = write_wheel(tmp.path(), DEMO, files, Some(record));
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::NotInRecord { entry, .. } if entry == "demo/extra.py"),
            "{err:?}"
        );
        assert!(err.to_string().contains("demo/extra.py"));
    }

    #[test]
    fn refuses_a_record_entry_missing_from_the_zip() {
        let tmp = tempfile::tempdir().unwrap();
        let mut listed = demo();
        listed.push(("demo/gone.py".into(), b"gone\n".to_vec()));
        let record = record_of(&listed, "demo-1.0.dist-info");
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::MissingFile { entry, .. } if entry == "demo/gone.py"),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_unsafe_entry_names() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, want) in [
            ("../evil.py", "`..`"),
            ("demo/../../evil.py", "`..`"),
            ("/etc/evil.py", "absolute"),
            ("demo\\evil.py", "backslash"),
            ("C:/evil.py", "drive letter"),
            ("demo//evil.py", "empty or `.`"),
            ("demo/./evil.py", "empty or `.`"),
            ("demo/evil\u{7}.py", "control"),
        ] {
            let mut files = demo();
            files.push((name.into(), b"pwned\n".to_vec()));
            // RECORD is right about the entry, so only its name can be refused.
            let path = write_wheel(tmp.path(), DEMO, files, None);
            match verify_wheel(&path) {
                Err(e @ WheelError::UnsafeEntry { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{name}: {msg}");
                    assert!(msg.contains(&shown(name)), "{name}: {msg}");
                }
                other => panic!("{name}: expected an unsafe entry, got {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_unsafe_record_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let mut record = record_of(&demo(), "demo-1.0.dist-info");
        record.push_str(&format!(
            "../../etc/cron.d/x,sha256={},1\n",
            b64_sha256(b"x")
        ));
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Record { line: 6, detail, .. } if detail.contains("`..`")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_malformed_records() {
        let tmp = tempfile::tempdir().unwrap();
        let good = record_of(&demo(), "demo-1.0.dist-info");
        let first = good.lines().next().unwrap().to_string();
        for (record, want) in [
            (
                good.replacen(&first, "demo/__init__.py,,", 1),
                "has no hash",
            ),
            (
                good.replacen(&first, "demo/__init__.py,sha256", 1),
                "expected 3 fields",
            ),
            (
                good.replacen(&first, "demo/__init__.py,abc,1", 1),
                "algorithm=digest",
            ),
            (
                good.replacen(&first, "demo/__init__.py,sha256=x,one", 1),
                "not a number",
            ),
            (
                good.replacen(&first, "\"demo/__init__.py,sha256=x,1", 1),
                "unterminated",
            ),
            (
                good.replacen(&first, "\"demo/__init__.py\"x,sha256=x,1", 1),
                "closing quote",
            ),
            (format!("{good}{first}\n"), "twice"),
        ] {
            let path = write_wheel(tmp.path(), DEMO, demo(), Some(record.clone()));
            match verify_wheel(&path) {
                Err(WheelError::Record { detail, .. }) => {
                    assert!(detail.contains(want), "{record:?}: {detail}")
                }
                other => panic!("{record:?}: expected a RECORD error, got {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_weak_hash_algorithms() {
        let tmp = tempfile::tempdir().unwrap();
        let record = record_of(&demo(), "demo-1.0.dist-info").replacen("sha256=", "md5=", 1);
        let path = write_wheel(tmp.path(), DEMO, demo(), Some(record));
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Mismatch { entry, detail, .. } if entry == "demo/__init__.py" && detail.contains("unsupported hash algorithm `md5`")),
            "{err:?}"
        );
    }

    #[test]
    fn checks_the_dist_info_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let no_wheel: Files = demo()
            .into_iter()
            .filter(|(n, _)| !n.ends_with("/WHEEL"))
            .collect();
        let mut two = demo();
        two.push(("other-1.0.dist-info/METADATA".into(), b"".to_vec()));
        for (file_name, files, want) in [
            (DEMO, no_wheel, "no `demo-1.0.dist-info/WHEEL`"),
            (
                "other-1.0-py3-none-any.whl",
                demo(),
                "does not belong to other-1.0",
            ),
            (
                "demo-1.1-py3-none-any.whl",
                demo(),
                "does not belong to demo-1.1",
            ),
            (DEMO, two, "several `.dist-info` directories"),
        ] {
            let path = write_wheel(tmp.path(), file_name, files, None);
            match verify_wheel(&path) {
                Err(WheelError::Layout { detail, .. }) => {
                    assert!(detail.contains(want), "{file_name}: {detail}")
                }
                other => panic!("{file_name}: expected a layout error, got {other:?}"),
            }
        }
        let bare = tmp.path().join(DEMO);
        write_zip(&bare, &files(&[("demo/__init__.py", b"")]), options(0));
        let err = verify_wheel(&bare).unwrap_err();
        assert!(
            matches!(&err, WheelError::Layout { detail, .. } if detail.contains("no top-level `.dist-info`")),
            "{err:?}"
        );
        // Spelling differences that installers normalize away are fine.
        let renamed: Files = demo()
            .into_iter()
            .map(|(n, c)| (n.replace("demo-1.0.dist-info", "DEMO-1.0.dist-info"), c))
            .collect();
        let path = write_wheel(tmp.path(), "Demo-1.0-py3-none-any.whl", renamed, None);
        verify_wheel(&path).unwrap();
    }

    #[test]
    fn refuses_a_missing_record() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DEMO);
        write_zip(&path, &demo(), options(0));
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Layout { detail, .. } if detail.contains("RECORD")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_what_is_not_a_zip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DEMO);
        std::fs::write(&path, b"#!/bin/sh\necho not a zip\n").unwrap();
        let err = verify_wheel(&path).unwrap_err();
        assert!(matches!(err, WheelError::Zip { .. }), "{err:?}");
        assert!(err.to_string().contains(DEMO));
        let err = verify_wheel(&tmp.path().join("absent-1.0-py3-none-any.whl")).unwrap_err();
        assert!(matches!(err, WheelError::Io { .. }), "{err:?}");
        let err = verify_wheel(&tmp.path().join("not-a-wheel.zip")).unwrap_err();
        assert!(matches!(err, WheelError::Name { .. }), "{err:?}");
    }

    /// Replace the first occurrence of `from` in the file with `to` (same length).
    fn patch_first(path: &Path, from: &[u8], to: &[u8]) {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        bytes[at..at + to.len()].copy_from_slice(to);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn refuses_local_headers_that_disagree_with_the_central_directory() {
        // An installer that trusts local headers would unpack `demo/evil.py`; a verifier that
        // trusts the central directory would check `demo/core.py`.
        let tmp = tempfile::tempdir().unwrap();
        let path = write_wheel(tmp.path(), DEMO, demo(), None);
        patch_first(&path, b"demo/core.py", b"demo/evil.py");
        let err = verify_wheel(&path).unwrap_err();
        assert!(matches!(err, WheelError::Zip { .. }), "{err:?}");
    }

    #[test]
    fn refuses_duplicate_entry_names() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(DEMO);
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        write_zip(
            &path,
            &files(&[("demo/a.py", b"a"), ("demo/b.py", b"b")]),
            stored,
        );
        let mut bytes = std::fs::read(&path).unwrap();
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(9).position(|w| w == b"demo/b.py") {
            bytes[at + i..at + i + 9].copy_from_slice(b"demo/a.py");
            at += i + 9;
        }
        std::fs::write(&path, bytes).unwrap();
        let err = verify_wheel(&path).unwrap_err();
        assert!(
            matches!(&err, WheelError::Zip { detail, .. } if detail.contains("twice")),
            "{err:?}"
        );
    }

    // ---- extract_wheels --------------------------------------------------------------------

    /// Append an entry with a hand-written header, so names and types that `tar::Builder`
    /// would refuse (`..`, absolute paths, links) can be produced.
    fn raw_entry(
        tar: &mut tar::Builder<Vec<u8>>,
        path: &[u8],
        kind: tar::EntryType,
        data: &[u8],
        link: &[u8],
    ) {
        let mut header = tar::Header::new_gnu();
        if path.len() > 100 {
            let mut long = tar::Header::new_gnu();
            long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            long.set_entry_type(tar::EntryType::GNULongName);
            long.set_size(path.len() as u64 + 1);
            long.set_mode(0o644);
            long.set_cksum();
            tar.append(&long, [path, b"\0"].concat().as_slice())
                .unwrap();
        }
        let short = &path[..path.len().min(100)];
        header.as_old_mut().name[..short.len()].copy_from_slice(short);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o4755);
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }

    enum E<'a> {
        Dir(&'a str),
        File(&'a [u8], &'a [u8]),
        Link(tar::EntryType, &'a str, &'a str),
    }

    fn tar_of(entries: &[E]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for entry in entries {
            match entry {
                E::Dir(p) => raw_entry(&mut tar, p.as_bytes(), tar::EntryType::Directory, b"", b""),
                E::File(p, data) => raw_entry(&mut tar, p, tar::EntryType::Regular, data, b""),
                E::Link(kind, p, to) => {
                    raw_entry(&mut tar, p.as_bytes(), *kind, b"", to.as_bytes())
                }
            }
        }
        tar.into_inner().unwrap()
    }

    const A: &[u8] = b"out/a-1.0-py3-none-any.whl";
    const B: &[u8] = b"out/b-2.0-cp311-cp311-linux_x86_64.whl";

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn extracts_the_wheels_of_an_output_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(B, b"bbb"), E::File(A, b"aaaa")]);
        let names = extract_wheels(stream.as_slice(), tmp.path(), 4).unwrap();
        assert_eq!(
            names,
            [
                "b-2.0-cp311-cp311-linux_x86_64.whl",
                "a-1.0-py3-none-any.whl"
            ]
        );
        assert_eq!(
            std::fs::read(tmp.path().join("a-1.0-py3-none-any.whl")).unwrap(),
            b"aaaa"
        );
        assert_eq!(
            std::fs::read(tmp.path().join("b-2.0-cp311-cp311-linux_x86_64.whl")).unwrap(),
            b"bbb"
        );
        assert_eq!(listing(tmp.path()).len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("a-1.0-py3-none-any.whl"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o7000, 0, "no setuid from the archive: {mode:o}");
        }
        // `./out/` spellings and an empty output directory are fine too.
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[
            E::Dir("./out"),
            E::File(b"./out/a-1.0-py3-none-any.whl", b"a"),
        ]);
        assert_eq!(
            extract_wheels(stream.as_slice(), tmp.path(), 4).unwrap(),
            ["a-1.0-py3-none-any.whl"]
        );
        let stream = tar_of(&[E::Dir("out/")]);
        assert!(
            extract_wheels(stream.as_slice(), tmp.path(), 4)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn refuses_malicious_entries_and_keeps_nothing() {
        use tar::EntryType::{Block, Char, Fifo, Link, Symlink};
        let long_escape = format!("out/{}/../../../evil-1.0-py3-none-any.whl", "d".repeat(120));
        let cases: Vec<(&str, Vec<E>, &str)> = vec![
            (
                "dotdot",
                vec![E::File(b"../evil-1.0-py3-none-any.whl", b"x")],
                "`..`",
            ),
            (
                "inner dotdot",
                vec![
                    E::Dir("out/"),
                    E::File(b"out/../../evil-1.0-py3-none-any.whl", b"x"),
                ],
                "`..`",
            ),
            (
                "long dotdot",
                vec![E::Dir("out/"), E::File(long_escape.as_bytes(), b"x")],
                "`..`",
            ),
            (
                "absolute",
                vec![E::File(b"/abs-1.0-py3-none-any.whl", b"x")],
                "absolute",
            ),
            (
                "symlink",
                vec![
                    E::Dir("out/"),
                    E::Link(Symlink, "out/link-1.0-py3-none-any.whl", "/etc/passwd"),
                ],
                "symbolic link",
            ),
            (
                "hardlink",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::Link(Link, "out/hard-1.0-py3-none-any.whl", "/etc/shadow"),
                ],
                "hard link",
            ),
            (
                "char device",
                vec![
                    E::Dir("out/"),
                    E::Link(Char, "out/tty-1.0-py3-none-any.whl", ""),
                ],
                "device",
            ),
            (
                "block device",
                vec![
                    E::Dir("out/"),
                    E::Link(Block, "out/sda-1.0-py3-none-any.whl", ""),
                ],
                "device",
            ),
            (
                "fifo",
                vec![
                    E::Dir("out/"),
                    E::Link(Fifo, "out/pipe-1.0-py3-none-any.whl", ""),
                ],
                "FIFO",
            ),
            (
                "nested file",
                vec![
                    E::Dir("out/"),
                    E::File(b"out/sub/x-1.0-py3-none-any.whl", b"x"),
                ],
                "nested",
            ),
            (
                "nested dir",
                vec![E::Dir("out/"), E::Dir("out/sub/")],
                "directory",
            ),
            (
                "deep dir",
                vec![E::Dir("out/"), E::Dir("out/sub/deeper/")],
                "nested",
            ),
            (
                "not a wheel",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::File(b"out/notes.txt", b"hi"),
                ],
                "only `.whl` files",
            ),
            (
                "bad wheel name",
                vec![E::Dir("out/"), E::File(b"out/evil.whl", b"x")],
                "not a valid wheel file name",
            ),
            (
                "top-level file",
                vec![E::File(b"a-1.0-py3-none-any.whl", b"x")],
                "not inside the output directory",
            ),
            (
                "top-level symlink",
                vec![E::Link(Symlink, "out", "/etc")],
                "not inside the output directory",
            ),
            (
                "two directories",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::File(b"other/b-1.0-py3-none-any.whl", b"b"),
                ],
                "outside the output directory `out`",
            ),
            (
                "non-utf8",
                vec![
                    E::Dir("out/"),
                    E::File(b"out/\xff-1.0-py3-none-any.whl", b"x"),
                ],
                "not UTF-8",
            ),
            (
                "duplicate",
                vec![E::Dir("out/"), E::File(A, b"a"), E::File(A, b"evil")],
                "twice",
            ),
            (
                "duplicate via dot",
                vec![
                    E::Dir("out/"),
                    E::File(A, b"a"),
                    E::File(b"out/./a-1.0-py3-none-any.whl", b"evil"),
                ],
                "twice",
            ),
            ("empty path", vec![E::Dir("./")], "empty path"),
        ];
        for (what, entries, want) in cases {
            let root = tempfile::tempdir().unwrap();
            let dest = root.path().join("dest");
            std::fs::create_dir(&dest).unwrap();
            match extract_wheels(tar_of(&entries).as_slice(), &dest, 1 << 20) {
                Err(e @ WheelError::TarEntry { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{what}: {msg} lacks {want:?}");
                    assert!(e.hint().is_some());
                }
                other => panic!("{what}: expected a refusal, got {other:?}"),
            }
            assert!(
                listing(&dest).is_empty(),
                "{what}: left {:?}",
                listing(&dest)
            );
            assert_eq!(listing(root.path()), ["dest"], "{what}: wrote outside dest");
        }
    }

    #[test]
    fn refuses_oversize_files() {
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"0123456789")]);
        assert_eq!(
            extract_wheels(stream.as_slice(), tmp.path(), 10)
                .unwrap()
                .len(),
            1
        );
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"0123456789!")]);
        let err = extract_wheels(stream.as_slice(), tmp.path(), 10).unwrap_err();
        assert!(
            matches!(&err, WheelError::TooLarge { entry, size: 11, max: 10 } if entry == "out/a-1.0-py3-none-any.whl"),
            "{err:?}"
        );
        assert!(listing(tmp.path()).is_empty());
    }

    #[test]
    fn refuses_a_truncated_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let mut stream = tar_of(&[E::Dir("out/"), E::File(A, &[7u8; 2000])]);
        stream.truncate(512 * 2 + 700);
        let err = extract_wheels(stream.as_slice(), tmp.path(), 1 << 20).unwrap_err();
        assert!(
            matches!(err, WheelError::TarEntry { .. } | WheelError::Tar { .. }),
            "{err:?}"
        );
        assert!(listing(tmp.path()).is_empty());
    }

    #[test]
    fn never_replaces_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let existing = tmp.path().join("a-1.0-py3-none-any.whl");
        std::fs::write(&existing, b"old").unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(B, b"b"), E::File(A, b"new")]);
        let err = extract_wheels(stream.as_slice(), tmp.path(), 100).unwrap_err();
        assert!(
            matches!(&err, WheelError::Exists { path } if *path == existing),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&existing).unwrap(), b"old");
        assert_eq!(
            listing(tmp.path()),
            ["a-1.0-py3-none-any.whl"],
            "b is removed again"
        );
    }

    #[cfg(unix)]
    #[test]
    fn never_follows_a_planted_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dest.join("a-1.0-py3-none-any.whl")).unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"evil")]);
        let err = extract_wheels(stream.as_slice(), &dest, 100).unwrap_err();
        assert!(matches!(err, WheelError::Exists { .. }), "{err:?}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            dest.join("a-1.0-py3-none-any.whl").is_symlink(),
            "the link itself is left alone"
        );
    }

    #[test]
    fn reports_a_missing_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let stream = tar_of(&[E::Dir("out/"), E::File(A, b"a")]);
        let err = extract_wheels(stream.as_slice(), &tmp.path().join("nope"), 100).unwrap_err();
        assert!(matches!(err, WheelError::Io { .. }), "{err:?}");
    }

    // ---- diff_wheels -----------------------------------------------------------------------

    #[test]
    fn same_contents_with_other_zip_metadata_is_metadata_only() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.whl");
        let b = tmp.path().join("b.whl");
        let c = tmp.path().join("c.whl");
        let files = demo();
        write_zip(&a, &files, options(0));
        write_zip(&b, &files, options(30));
        let mut reordered = files.clone();
        reordered.reverse();
        write_zip(
            &c,
            &reordered,
            options(0).compression_method(CompressionMethod::Stored),
        );
        for other in [&b, &c] {
            let diff = diff_wheels(&a, other).unwrap();
            assert!(diff.same_contents(), "{diff:?}");
            assert!(diff.metadata_only, "{diff:?}");
        }
        // Byte-identical files differ in nothing, metadata included.
        let copy = tmp.path().join("copy.whl");
        std::fs::copy(&a, &copy).unwrap();
        let diff = diff_wheels(&a, &copy).unwrap();
        assert_eq!(diff, WheelDiff::default());
    }

    #[test]
    fn lists_added_removed_and_changed_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.whl");
        let b = tmp.path().join("b.whl");
        write_zip(
            &a,
            &files(&[
                ("k.py", b"same"),
                ("c.py", b"1"),
                ("gone.py", b"x"),
                ("z/", b""),
            ]),
            options(0),
        );
        write_zip(
            &b,
            &files(&[
                ("k.py", b"same"),
                ("c.py", b"2"),
                ("new.py", b"y"),
                ("a/", b""),
            ]),
            options(0),
        );
        let diff = diff_wheels(&a, &b).unwrap();
        assert_eq!(diff.added, ["a/", "new.py"]);
        assert_eq!(diff.removed, ["gone.py", "z/"]);
        assert_eq!(diff.changed, ["c.py"]);
        assert!(!diff.metadata_only);
        assert!(!diff.same_contents());
    }

    #[test]
    fn diff_refuses_unreadable_wheels() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.whl");
        write_zip(&a, &demo(), options(0));
        let bad = tmp.path().join("bad.whl");
        std::fs::write(&bad, b"nope").unwrap();
        assert!(matches!(diff_wheels(&a, &bad), Err(WheelError::Zip { .. })));
        let slip = tmp.path().join("slip.whl");
        write_zip(&slip, &files(&[("../x.py", b"x")]), options(0));
        assert!(matches!(
            diff_wheels(&slip, &a),
            Err(WheelError::UnsafeEntry { .. })
        ));
    }
}
