//! A simple repository per accelerator variant over the wheelhouse, as
//! download.pytorch.org/whl/cu118 is one: `<output.dir>/index/<accel tag>/simple/`, with
//! PEP 503 HTML pages and PEP 691 JSON pages (API version 1.1, PEP 700: `size`,
//! `versions`), so that `pip install --index-url file:///…/index/cu118/simple NAME`
//! installs the CUDA 11.8 wheel.
//!
//! * Which variant a wheel belongs to comes from the target that placed it (its stamp
//!   names it) and that target's cell, never from its path.
//! * The sha256 and size come from the stamps `Wheelhouse::place` wrote (one file per
//!   directory); a wheel is never hashed here. A wheel without a readable stamp, or
//!   whose size or mtime differ from its stamp's, or stamped by a target the config does
//!   not put in its directory, is left out and reported.
//! * Links are relative (`../../../../py311/cu118/linux_x86_64/x.whl#sha256=…`), so the
//!   wheelhouse can be served or copied anywhere as a whole.
//! * Pages are written atomically and only when their bytes change; pages, project and
//!   variant directories that no longer correspond to a wheel are removed. Everything is
//!   sorted: regenerating an unchanged wheelhouse gives identical bytes and writes nothing.
//! * All of it under the wheelhouse lock, so it never interleaves with a `place`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::stamps::{self, Stamps};
use super::{Stamp, Wheelhouse};
use crate::accel::Accel;
use crate::config::Target;
use crate::wheel::{WheelName, normalize_name};

/// The index's directory in the wheelhouse.
pub(crate) const INDEX_DIR: &str = "index";
/// PEP 691 / PEP 700 API version of the pages.
const API_VERSION: &str = "1.1";
const HTML: &str = "index.html";
const JSON: &str = "index.json";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "target `{target}` puts its wheels in `{subdir}` of {}, where the package index goes",
        dir.display()
    )]
    Overlap {
        target: String,
        subdir: String,
        dir: PathBuf,
    },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl IndexError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            IndexError::Overlap { .. } => format!(
                "`{INDEX_DIR}/` of the output directory belongs to the index: change `output.layout` so that no target's directory starts with `{INDEX_DIR}/`"
            ),
            IndexError::Io { .. } => {
                "check that the output directory (`[output] dir`) exists and is writable by this user".into()
            }
        })
    }

    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IndexError {
        let path = path.to_path_buf();
        move |source| IndexError::Io { what, path, source }
    }
}

/// What regenerating the index did.
#[derive(Debug, Default)]
pub struct IndexReport {
    /// Every variant of the config, by tag.
    pub variants: Vec<VariantIndex>,
    /// Pages whose bytes changed (or that are new), sorted.
    pub written: Vec<PathBuf>,
    /// Pages that already had their bytes.
    pub unchanged: usize,
    /// Pages and directories removed (no wheel corresponds to them any longer), sorted.
    pub removed: Vec<PathBuf>,
    /// Wheels in the wheelhouse that are not in the index, and why, sorted by path.
    pub left_out: Vec<LeftOut>,
}

/// One variant's repository.
#[derive(Debug, PartialEq, Eq)]
pub struct VariantIndex {
    /// `cpu`, `cu118`, `rocm5.2`.
    pub tag: String,
    /// `<output.dir>/index/<tag>/simple`: what `pip --index-url` takes.
    pub simple: PathBuf,
    pub projects: usize,
    pub files: usize,
}

/// A wheel the index does not list.
#[derive(Debug, PartialEq, Eq)]
pub struct LeftOut {
    pub wheel: PathBuf,
    pub reason: Reason,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reason {
    /// No stamp beside it, or one that does not parse.
    NoStamp,
    /// Its size or mtime is not what its stamp says: the stamp's sha256 is not known to
    /// hold.
    Changed,
    /// Stamped by a target that the config does not put in this directory.
    ForeignTarget(String),
    /// Not a PEP 427 name.
    BadName(String),
    /// Another wheel of the same name and variant, with other bytes, is listed (its path
    /// in the wheelhouse).
    Duplicate(PathBuf),
    /// A PEP 825 variant wheel whose `variant.json` cannot be read or merged with the
    /// others of its release.
    Variant(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoStamp => write!(
                f,
                "no valid stamp in its directory's `{}` (`wheelbuild build` places and stamps wheels)",
                stamps::FILE
            ),
            Reason::Changed => f.write_str(
                "its size or mtime differ from its stamp (`wheelbuild build` restores it from the store)",
            ),
            Reason::ForeignTarget(t) => write!(
                f,
                "stamped by target `{t}`, which the config does not put in this directory"
            ),
            Reason::BadName(e) => f.write_str(e),
            Reason::Duplicate(kept) => write!(
                f,
                "the wheelhouse's {} has the same name and other bytes, and is listed for this variant (pip could pick either: give the variant's targets wheels of their own names)",
                kept.display()
            ),
            Reason::Variant(detail) => write!(f, "variant wheel: {detail}"),
        }
    }
}

/// One wheel as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct File {
    /// Wheelhouse sub-directory (`/`-separated, relative to `output.dir`).
    pub subdir: String,
    pub filename: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    /// `{distribution}-{version}` as the file name writes them, and the PEP 825 label, of
    /// a variant wheel.
    pub variant: Option<(String, String)>,
}

impl File {
    /// The wheel's URL relative to a project page (`<output.dir>/index/<tag>/simple/<name>/`),
    /// each path segment percent-encoded.
    fn url(&self) -> String {
        if self.subdir.is_empty() {
            // A file of the index itself, beside the project page.
            return percent_encode(&self.filename);
        }
        let mut url = String::from("../../../../");
        for segment in self
            .subdir
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
        {
            url.push_str(&percent_encode(segment));
            url.push('/');
        }
        url.push_str(&percent_encode(&self.filename));
        url
    }
}

impl Wheelhouse {
    /// Regenerate the index of every accelerator variant of `targets` from the wheels
    /// placed in the wheelhouse, under the wheelhouse lock.
    pub fn index(&self, targets: &[Target]) -> Result<IndexReport, IndexError> {
        let root = self.dir.join(INDEX_DIR);
        for t in targets {
            if t.output_subdir
                .split('/')
                .find(|c| !c.is_empty() && *c != ".")
                == Some(INDEX_DIR)
            {
                return Err(IndexError::Overlap {
                    target: t.id.clone(),
                    subdir: t.output_subdir.clone(),
                    dir: self.dir.clone(),
                });
            }
        }
        // Directory → (target id → its variant); every variant of the config gets a
        // repository, empty or not.
        let mut dirs: BTreeMap<&str, HashMap<&str, &Accel>> = BTreeMap::new();
        let mut tags: BTreeSet<String> = BTreeSet::new();
        for t in targets {
            dirs.entry(&t.output_subdir)
                .or_default()
                .insert(&t.id, &t.cell.accel);
            tags.insert(t.cell.accel.tag());
        }
        let dirs: Vec<_> = dirs.into_iter().collect();

        let _guard = self
            .lock()
            .map_err(IndexError::io("locking the wheelhouse", &self.lock))?;
        let scanned = crate::par::map_chunks(&dirs, crate::par::threads_for(dirs.len()), |part| {
            part.iter()
                .map(|(subdir, owners)| scan(&self.dir, subdir, owners))
                .collect::<Result<Vec<_>, _>>()
        });
        let mut left_out = Vec::new();
        // tag → project → files
        let mut repos: BTreeMap<String, BTreeMap<String, Vec<File>>> =
            tags.into_iter().map(|t| (t, BTreeMap::new())).collect();
        for part in scanned {
            for dir in part? {
                left_out.extend(dir.left_out);
                for (tag, project, file) in dir.listed {
                    repos
                        .entry(tag)
                        .or_default()
                        .entry(project)
                        .or_default()
                        .push(file);
                }
            }
        }
        let mut pages = Pages::default();
        let mut variants = Vec::new();
        for (tag, projects) in &mut repos {
            let mut files = 0;
            for list in projects.values_mut() {
                left_out.extend(dedupe(&self.dir, list));
                files += list.len();
            }
            let simple = PathBuf::from(tag).join("simple");
            pages.add(simple.join(HTML), root_html(projects.keys()));
            pages.add(simple.join(JSON), root_json(projects.keys()));
            for (project, list) in projects.iter_mut() {
                let dir = simple.join(project.as_str());
                for (file, bytes) in variants_files(&self.dir, list, &mut left_out) {
                    pages.add(dir.join(&file.filename), bytes);
                    list.push(file);
                }
                pages.add(dir.join(HTML), project_html(project, list));
                pages.add(dir.join(JSON), project_json(project, list));
            }
            variants.push(VariantIndex {
                tag: tag.clone(),
                simple: root.join(&simple),
                projects: projects.len(),
                files,
            });
        }
        left_out.sort_by(|a, b| a.wheel.cmp(&b.wheel));
        let mut report = pages.write(&root)?;
        report.variants = variants;
        report.left_out = left_out;
        Ok(report)
    }
}

/// What one wheelhouse directory holds for the index.
struct Scanned {
    /// `(variant tag, normalized project, file)`.
    listed: Vec<(String, String, File)>,
    left_out: Vec<LeftOut>,
}

/// Read the stamps of the wheels in `subdir` (owned by the targets `owners`). Files are
/// opened relative to the directory (no path walk per file): a wheelhouse of a thousand
/// cells is a thousand directories of a wheel or two.
fn scan(out: &Path, subdir: &str, owners: &HashMap<&str, &Accel>) -> Result<Scanned, IndexError> {
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
    let dir = out.join(subdir);
    let err = |e: rustix::io::Errno| IndexError::Io {
        what: "reading the wheelhouse directory",
        path: dir.clone(),
        source: e.into(),
    };
    let mut scanned = Scanned {
        listed: Vec::new(),
        left_out: Vec::new(),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(&dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(scanned),
        Err(e) => return Err(err(e)),
    };
    let mut listing = Dir::new(fd).map_err(err)?;
    let mut wheels = Vec::new();
    for entry in &mut listing {
        let entry = entry.map_err(err)?;
        if matches!(entry.file_type(), FileType::Directory) {
            continue;
        }
        if let Ok(name) = entry.file_name().to_str()
            && name.ends_with(".whl")
        {
            wheels.push(name.to_string());
        }
    }
    wheels.sort();
    let dirfd = listing.fd().map_err(err)?;
    // One file for the directory; a wheelhouse not placed into since it had one stamp
    // per wheel is read that way.
    let mut stamps = read_at(dirfd, stamps::FILE).map(|b| Stamps::parse(&b).unwrap_or_default());
    for name in wheels {
        let leave_out = |reason| LeftOut {
            wheel: dir.join(&name),
            reason,
        };
        // Gone since the listing, or not a file: nothing to list.
        let stat = match rustix::fs::statat(dirfd, name.as_str(), AtFlags::empty()) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => st,
            _ => continue,
        };
        let stamp: Option<Stamp> = match &mut stamps {
            Some(stamps) => stamps.wheels.remove(&name),
            None => read_at(dirfd, &format!("{name}{}", stamps::LEGACY_SUFFIX))
                .and_then(|b| serde_json::from_slice(&b).ok()),
        };
        let Some(stamp) = stamp.filter(|s| is_hex_sha256(&s.sha256)) else {
            scanned.left_out.push(leave_out(Reason::NoStamp));
            continue;
        };
        let mtime = u128::try_from(stat.st_mtime).unwrap_or(0) * 1_000_000_000
            + u128::from(stat.st_mtime_nsec);
        if stamp.size != stat.st_size as u64 || stamp.mtime_ns != mtime {
            scanned.left_out.push(leave_out(Reason::Changed));
            continue;
        }
        let Some(accel) = owners.get(stamp.target.as_str()) else {
            scanned
                .left_out
                .push(leave_out(Reason::ForeignTarget(stamp.target)));
            continue;
        };
        let parsed = match WheelName::parse(&name) {
            Ok(n) => n,
            Err(e) => {
                scanned
                    .left_out
                    .push(leave_out(Reason::BadName(e.to_string())));
                continue;
            }
        };
        scanned.listed.push((
            accel.tag(),
            normalize_name(&parsed.distribution),
            File {
                subdir: subdir.to_string(),
                variant: parsed
                    .variant
                    .map(|label| (format!("{}-{}", parsed.distribution, parsed.version), label)),
                filename: name,
                version: parsed.version,
                sha256: stamp.sha256,
                size: stamp.size,
            },
        ));
    }
    Ok(scanned)
}

/// The bytes of the file `name` in the directory `dirfd`; `None` when it cannot be read.
fn read_at(dirfd: rustix::fd::BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let flags =
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOFOLLOW;
    let fd = rustix::fs::openat(dirfd, name, flags, rustix::fs::Mode::empty()).ok()?;
    let mut file = std::fs::File::from(fd);
    // A stamps file of a directory of a few wheels takes one read: a short read of a
    // regular file is its end (std's `read_to_end` probes and grows: four reads).
    let mut buf = [0u8; 16 * 1024];
    let mut bytes = Vec::new();
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(bytes),
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    return Some(bytes);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Sort a project's files (by name, then directory) and keep one per file name: the same
/// bytes in two directories (a pure-Python wheel of two Python cells) are listed once;
/// other bytes under the same name are left out, since pip could pick either.
fn dedupe(out: &Path, files: &mut Vec<File>) -> Vec<LeftOut> {
    files.sort_by(|a, b| (&a.filename, &a.subdir).cmp(&(&b.filename, &b.subdir)));
    let mut left_out = Vec::new();
    let mut kept: Vec<File> = Vec::with_capacity(files.len());
    for f in files.drain(..) {
        match kept.last() {
            Some(k) if k.filename == f.filename => {
                if k.sha256 != f.sha256 {
                    left_out.push(LeftOut {
                        wheel: out.join(&f.subdir).join(&f.filename),
                        reason: Reason::Duplicate(Path::new(&k.subdir).join(&k.filename)),
                    });
                }
            }
            _ => kept.push(f),
        }
    }
    *files = kept;
    left_out
}

/// PEP 825: beside a release's variant wheels, `{name}-{version}-variants.json` merges
/// their `variant.json` files (as `variantlib generate-index-json` does). A wheel whose
/// file cannot be read or merged is taken out of `files`. Returns each file's listing
/// (in the project's own directory) and bytes.
fn variants_files(
    out: &Path,
    files: &mut Vec<File>,
    left_out: &mut Vec<LeftOut>,
) -> Vec<(File, Vec<u8>)> {
    use crate::wheel::variant::{VariantsJson, read_from_wheel};
    let mut merged: BTreeMap<String, (String, VariantsJson)> = BTreeMap::new();
    files.retain(|f| {
        let Some((namever, label)) = &f.variant else {
            return true;
        };
        let path = out.join(&f.subdir).join(&f.filename);
        let result = read_from_wheel(&path).and_then(|json| {
            json.only(label)?;
            match merged.get_mut(namever) {
                Some((_, all)) => all.merge(&json),
                None => {
                    merged.insert(namever.clone(), (f.version.clone(), json));
                    Ok(())
                }
            }
        });
        match result {
            Ok(()) => true,
            Err(detail) => {
                left_out.push(LeftOut {
                    wheel: path,
                    reason: Reason::Variant(detail),
                });
                false
            }
        }
    });
    merged
        .into_iter()
        .map(|(namever, (version, json))| {
            let bytes = json.to_bytes();
            let file = File {
                // The project's page directory: a link without `../`.
                subdir: String::new(),
                filename: format!("{namever}-variants.json"),
                version,
                sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                size: bytes.len() as u64,
                variant: None,
            };
            (file, bytes)
        })
        .collect()
}

// ----- pages ---------------------------------------------------------------------------

fn html_page(title: &str, links: impl Iterator<Item = (String, String)>) -> Vec<u8> {
    let title = html_escape(title);
    let mut page = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
    );
    for (href, text) in links {
        page.push_str(&format!(
            "    <a href=\"{}\">{}</a><br>\n",
            html_escape(&href),
            html_escape(&text)
        ));
    }
    page.push_str("  </body>\n</html>\n");
    page.into_bytes()
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

const META: Meta = Meta {
    api_version: API_VERSION,
};

fn json_page(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("index pages serialize");
    bytes.push(b'\n');
    bytes
}

pub(crate) fn root_html<'a>(projects: impl Iterator<Item = &'a String>) -> Vec<u8> {
    html_page(
        "Simple index",
        projects.map(|p| (format!("{}/", percent_encode(p)), p.clone())),
    )
}

pub(crate) fn root_json<'a>(projects: impl Iterator<Item = &'a String>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Root<'a> {
        meta: Meta,
        projects: Vec<Name<'a>>,
    }
    #[derive(Serialize)]
    struct Name<'a> {
        name: &'a str,
    }
    json_page(&Root {
        meta: META,
        projects: projects.map(|p| Name { name: p }).collect(),
    })
}

pub(crate) fn project_html(project: &str, files: &[File]) -> Vec<u8> {
    html_page(
        &format!("Links for {project}"),
        files.iter().map(|f| {
            (
                format!("{}#sha256={}", f.url(), f.sha256),
                f.filename.clone(),
            )
        }),
    )
}

pub(crate) fn project_json(project: &str, files: &[File]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Project<'a> {
        meta: Meta,
        name: &'a str,
        files: Vec<FileJson<'a>>,
        versions: Vec<&'a str>,
    }
    #[derive(Serialize)]
    struct FileJson<'a> {
        filename: &'a str,
        url: String,
        hashes: Hashes<'a>,
        size: u64,
    }
    #[derive(Serialize)]
    struct Hashes<'a> {
        sha256: &'a str,
    }
    let mut versions: Vec<&str> = files.iter().map(|f| f.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    versions.sort_by_cached_key(|v| version_key(v));
    json_page(&Project {
        meta: META,
        name: project,
        files: files
            .iter()
            .map(|f| FileJson {
                filename: &f.filename,
                url: f.url(),
                hashes: Hashes { sha256: &f.sha256 },
                size: f.size,
            })
            .collect(),
        versions,
    })
}

/// A sort key that orders release numbers numerically (`0.9` < `0.10`), then by the text:
/// total and deterministic, not all of PEP 440, which the index does not need
/// (`versions` is a set).
fn version_key(v: &str) -> (Vec<(u64, &str)>, &str) {
    let parts = v
        .split(['.', '+', '!', '-', '_'])
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (n, ""),
            Err(_) => (u64::MAX, p),
        })
        .collect();
    (parts, v)
}

/// Escape text for HTML content and double- or single-quoted attributes.
pub(crate) fn html_escape(s: &str) -> String {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode one URL path segment: everything but RFC 3986's unreserved characters
/// (so `+` of a local version is `%2B`, as download.pytorch.org writes it).
pub(crate) fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The pages an index consists of, by path relative to the index root.
#[derive(Default)]
struct Pages {
    pages: BTreeMap<PathBuf, Vec<u8>>,
}

impl Pages {
    fn add(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.pages.insert(path, bytes);
    }

    /// Write every page whose bytes differ (atomically), then remove whatever else is under
    /// `root`.
    fn write(self, root: &Path) -> Result<IndexReport, IndexError> {
        let mut report = IndexReport::default();
        let mut keep_dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for (rel, bytes) in &self.pages {
            let path = root.join(rel);
            let mut dir = rel.parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                if !keep_dirs.insert(d.to_path_buf()) {
                    break;
                }
                dir = d.parent();
            }
            if std::fs::read(&path).is_ok_and(|old| old == *bytes) {
                report.unchanged += 1;
                continue;
            }
            crate::fsutil::write_atomic(&path, bytes)
                .map_err(IndexError::io("writing the index page", &path))?;
            report.written.push(path);
        }
        remove_others(
            root,
            Path::new(""),
            &self.pages,
            &keep_dirs,
            &mut report.removed,
        )?;
        Ok(report)
    }
}

/// Remove every entry under `root/rel` that is neither a page nor a directory of one.
fn remove_others(
    root: &Path,
    rel: &Path,
    pages: &BTreeMap<PathBuf, Vec<u8>>,
    keep_dirs: &BTreeSet<PathBuf>,
    removed: &mut Vec<PathBuf>,
) -> Result<(), IndexError> {
    let dir = root.join(rel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IndexError::io("reading the index directory", &dir)(e)),
    };
    let mut names: Vec<(std::ffi::OsString, bool)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(IndexError::io("reading the index directory", &dir))?;
        // Not followed: a link is removed as the file it is.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        names.push((entry.file_name(), is_dir));
    }
    names.sort();
    for (name, is_dir) in names {
        let child = rel.join(&name);
        let path = root.join(&child);
        if is_dir && keep_dirs.contains(&child) {
            remove_others(root, &child, pages, keep_dirs, removed)?;
        } else if !is_dir && pages.contains_key(&child) {
        } else {
            let result = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IndexError::io("removing a stale index entry", &path)(e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
