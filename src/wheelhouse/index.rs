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
use std::ffi::OsStr;
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
    pub reason: WhyLeftOut,
}

/// Why a wheel is left out of the index.
#[derive(Debug, PartialEq, Eq)]
pub enum WhyLeftOut {
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

impl fmt::Display for WhyLeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhyLeftOut::NoStamp => write!(
                f,
                "no valid stamp in its directory's `{}` (`wheelbuild build` places and stamps wheels)",
                stamps::FILE
            ),
            WhyLeftOut::Changed => f.write_str(
                "its size or mtime differ from its stamp (`wheelbuild build` restores it from the store)",
            ),
            WhyLeftOut::ForeignTarget(t) => write!(
                f,
                "stamped by target `{t}`, which the config does not put in this directory"
            ),
            WhyLeftOut::BadName(e) => f.write_str(e),
            WhyLeftOut::Duplicate(kept) => write!(
                f,
                "the wheelhouse's {} has the same name and other bytes, and is listed for this variant (pip could pick either: give the variant's targets wheels of their own names)",
                kept.display()
            ),
            WhyLeftOut::Variant(detail) => write!(f, "variant wheel: {detail}"),
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
        let mut url = String::new();
        self.push_url(&mut url);
        url
    }

    fn push_url(&self, url: &mut String) {
        if self.subdir.is_empty() {
            // A file of the index itself, beside the project page.
            return percent_encode_into(url, &self.filename);
        }
        url.push_str("../../../../");
        for segment in self
            .subdir
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
        {
            percent_encode_into(url, segment);
            url.push('/');
        }
        percent_encode_into(url, &self.filename);
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
        let mut tag_of: BTreeMap<&Accel, String> = BTreeMap::new();
        for t in targets {
            tag_of
                .entry(&t.cell.accel)
                .or_insert_with(|| t.cell.accel.tag());
        }
        let mut dirs: BTreeMap<&str, HashMap<&str, &str>> = BTreeMap::new();
        for t in targets {
            dirs.entry(&t.output_subdir)
                .or_default()
                .insert(&t.id, &tag_of[&t.cell.accel]);
        }
        let tags: BTreeSet<&String> = tag_of.values().collect();
        let dirs: Vec<_> = dirs.into_iter().collect();

        let _guard = self
            .lock()
            .map_err(IndexError::io("locking the wheelhouse", &self.lock))?;
        let scanned = crate::par::map_each(
            &dirs,
            crate::par::threads_for(targets.len()),
            |(subdir, owners)| scan(&self.dir, subdir, owners),
        );
        let mut left_out = Vec::new();
        // tag → project → files
        let mut repos: BTreeMap<String, Projects> = tags
            .into_iter()
            .map(|t| (t.clone(), BTreeMap::new()))
            .collect();
        for dir in scanned {
            let dir = dir?;
            left_out.extend(dir.left_out);
            for (tag, project, file) in dir.listed {
                repos
                    .get_mut(tag)
                    .expect("every target's tag has a repository")
                    .entry(project)
                    .or_default()
                    .push(file);
            }
        }
        // The lists are settled first (duplicates and unreadable variant wheels left out,
        // each release's `-variants.json` added), then the pages rendered in parallel.
        let mut pages = Pages::default();
        let mut variants = Vec::new();
        let mut listed = 0;
        for (tag, projects) in &mut repos {
            let mut files = 0;
            for list in projects.values_mut() {
                left_out.extend(dedupe(&self.dir, list));
                files += list.len();
            }
            let simple = PathBuf::from(tag).join("simple");
            for (project, list) in projects.iter_mut() {
                let dir = simple.join(project.as_str());
                for (file, bytes) in variants_files(&self.dir, list, &mut left_out) {
                    pages.add(dir.join(&file.filename), bytes);
                    list.push(file);
                }
            }
            listed += files;
            variants.push(VariantIndex {
                tag: tag.clone(),
                simple: root.join(&simple),
                projects: projects.len(),
                files,
            });
        }
        // A variant's root pages (`None`) and each of its project's pages.
        let units: Vec<(&String, &Projects, Option<&String>)> = repos
            .iter()
            .flat_map(|(tag, projects)| {
                std::iter::once((tag, projects, None))
                    .chain(projects.keys().map(move |p| (tag, projects, Some(p))))
            })
            .collect();
        let rendered = crate::par::map_each(
            &units,
            crate::par::threads_for(listed),
            |(tag, projects, project)| {
                let simple = Path::new(tag.as_str()).join("simple");
                match project {
                    None => [
                        (simple.join(HTML), root_html(projects.keys())),
                        (simple.join(JSON), root_json(projects.keys())),
                    ],
                    Some(project) => {
                        let (dir, list) = (simple.join(project.as_str()), &projects[*project]);
                        [
                            (dir.join(HTML), project_html(project, list)),
                            (dir.join(JSON), project_json(project, list)),
                        ]
                    }
                }
            },
        );
        for (path, bytes) in rendered.into_iter().flatten() {
            pages.add(path, bytes);
        }
        left_out.sort_by(|a, b| a.wheel.cmp(&b.wheel));
        let mut report = pages.write(&root)?;
        report.variants = variants;
        report.left_out = left_out;
        Ok(report)
    }
}

/// A variant's projects (normalized names) and their files.
type Projects = BTreeMap<String, Vec<File>>;

/// What one wheelhouse directory holds for the index.
struct Scanned<'a> {
    /// `(variant tag, normalized project, file)`.
    listed: Vec<(&'a str, String, File)>,
    left_out: Vec<LeftOut>,
}

/// Read the stamps of the wheels in `subdir` (owned by the targets `owners`). Files are
/// opened relative to the directory (no path walk per file): a wheelhouse of a thousand
/// cells is a thousand directories of a wheel or two.
fn scan<'a>(
    out: &Path,
    subdir: &str,
    owners: &HashMap<&str, &'a str>,
) -> Result<Scanned<'a>, IndexError> {
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
            scanned.left_out.push(leave_out(WhyLeftOut::NoStamp));
            continue;
        };
        let mtime = u128::try_from(stat.st_mtime).unwrap_or(0) * 1_000_000_000
            + u128::from(stat.st_mtime_nsec);
        if stamp.size != stat.st_size as u64 || stamp.mtime_ns != mtime {
            scanned.left_out.push(leave_out(WhyLeftOut::Changed));
            continue;
        }
        let Some(&tag) = owners.get(stamp.target.as_str()) else {
            scanned
                .left_out
                .push(leave_out(WhyLeftOut::ForeignTarget(stamp.target)));
            continue;
        };
        let parsed = match WheelName::parse(&name) {
            Ok(n) => n,
            Err(e) => {
                scanned
                    .left_out
                    .push(leave_out(WhyLeftOut::BadName(e.to_string())));
                continue;
            }
        };
        scanned.listed.push((
            tag,
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
                        reason: WhyLeftOut::Duplicate(Path::new(&k.subdir).join(&k.filename)),
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
                    reason: WhyLeftOut::Variant(detail),
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

/// A PEP 503 page of `(href, text)` links, written by `links` through `link`.
fn html_page(title: &str, links: impl FnOnce(&mut String)) -> Vec<u8> {
    let mut page = String::with_capacity(4096);
    page.push_str(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"",
    );
    page.push_str(API_VERSION);
    page.push_str("\">\n    <title>");
    push_escaped(&mut page, title);
    page.push_str("</title>\n  </head>\n  <body>\n    <h1>");
    push_escaped(&mut page, title);
    page.push_str("</h1>\n");
    links(&mut page);
    page.push_str("  </body>\n</html>\n");
    page.into_bytes()
}

fn link(page: &mut String, href: &str, text: &str) {
    page.push_str("    <a href=\"");
    push_escaped(page, href);
    page.push_str("\">");
    push_escaped(page, text);
    page.push_str("</a><br>\n");
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
    html_page("Simple index", |page| {
        let mut href = String::new();
        for p in projects {
            href.clear();
            percent_encode_into(&mut href, p);
            href.push('/');
            link(page, &href, p);
        }
    })
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
    html_page(&format!("Links for {project}"), |page| {
        let mut href = String::new();
        for f in files {
            href.clear();
            f.push_url(&mut href);
            href.push_str("#sha256=");
            href.push_str(&f.sha256);
            link(page, &href, &f.filename);
        }
    })
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
fn push_escaped(out: &mut String, s: &str) {
    let mut done = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // ASCII: `i` is a char boundary.
        out.push_str(&s[done..i]);
        out.push_str(entity);
        done = i + 1;
    }
    out.push_str(&s[done..]);
}

/// Percent-encode one URL path segment: everything but RFC 3986's unreserved characters
/// (so `+` of a local version is `%2B`, as download.pytorch.org writes it).
fn percent_encode_into(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The pages an index consists of, by path relative to the index root.
#[derive(Default)]
struct Pages {
    pages: BTreeMap<PathBuf, Vec<u8>>,
}

/// One directory of the index as it should be: its pages and its sub-directories.
#[derive(Default)]
struct PageDir<'a> {
    pages: BTreeMap<&'a OsStr, &'a [u8]>,
    subdirs: BTreeSet<&'a OsStr>,
}

/// What one directory of the index holds that it should not, and the pages it lacks.
struct DirSync<'a> {
    stale: Vec<(PathBuf, bool)>,
    to_write: Vec<(PathBuf, &'a [u8])>,
    unchanged: usize,
}

impl Pages {
    fn add(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.pages.insert(path, bytes);
    }

    /// Bring `root` to exactly these pages: each directory listed once and its pages read
    /// back (in parallel, a directory at a time), then whatever should not be there
    /// removed and every page whose bytes differ written, atomically.
    fn write(self, root: &Path) -> Result<IndexReport, IndexError> {
        let mut dirs: BTreeMap<&Path, PageDir<'_>> = BTreeMap::new();
        dirs.entry(Path::new("")).or_default();
        for (rel, bytes) in &self.pages {
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                continue;
            };
            dirs.entry(parent).or_default().pages.insert(name, bytes);
            let mut dir = parent;
            while let (Some(up), Some(name)) = (dir.parent(), dir.file_name()) {
                if !dirs.entry(up).or_default().subdirs.insert(name) {
                    break;
                }
                dir = up;
            }
        }
        let dirs: Vec<(&Path, PageDir<'_>)> = dirs.into_iter().collect();
        // Listing a directory and reading its pages back takes some 25 µs here (measured),
        // what the expansion of about 16 targets takes; writing a page takes longer.
        let threads = crate::par::threads_for(16 * dirs.len());
        let synced =
            crate::par::map_each(&dirs, threads, |(rel, dir)| sync_dir(&root.join(rel), dir));
        let mut report = IndexReport::default();
        let mut to_write = Vec::new();
        for dir in synced {
            let dir = dir?;
            {
                report.unchanged += dir.unchanged;
                to_write.extend(dir.to_write);
                // Not followed: a link is removed as the file it is.
                for (path, is_dir) in dir.stale {
                    let result = if is_dir {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    match result {
                        Ok(()) => report.removed.push(path),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(IndexError::io("removing a stale index entry", &path)(e));
                        }
                    }
                }
            }
        }
        report.removed.sort();
        let threads = crate::par::threads_for(16 * to_write.len());
        let written = crate::par::map_each(&to_write, threads, |(path, bytes)| {
            crate::fsutil::write_atomic(path, bytes)
                .map_err(IndexError::io("writing the index page", path))
        });
        written.into_iter().collect::<Result<Vec<()>, _>>()?;
        report.written = to_write.into_iter().map(|(path, _)| path).collect();
        report.written.sort();
        Ok(report)
    }
}

/// List the index directory `path` and read its pages back: what is there that `want`
/// does not have, and the pages missing or with other bytes.
fn sync_dir<'a>(path: &Path, want: &PageDir<'a>) -> Result<DirSync<'a>, IndexError> {
    let mut sync = DirSync {
        stale: Vec::new(),
        to_write: Vec::new(),
        unchanged: 0,
    };
    let mut files: BTreeSet<std::ffi::OsString> = BTreeSet::new();
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(IndexError::io("reading the index directory", path))?;
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let name = entry.file_name();
                let wanted = if is_dir {
                    want.subdirs.contains(name.as_os_str())
                } else {
                    want.pages.contains_key(name.as_os_str())
                };
                if !wanted {
                    sync.stale.push((path.join(&name), is_dir));
                } else if !is_dir {
                    files.insert(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IndexError::io("reading the index directory", path)(e)),
    }
    for (name, bytes) in &want.pages {
        let page = path.join(name);
        if files.contains(*name) && has_bytes(&page, bytes) {
            sync.unchanged += 1;
        } else {
            sync.to_write.push((page, bytes));
        }
    }
    Ok(sync)
}

/// Whether the file at `path` holds exactly `bytes`: one open and one read (asking for a
/// byte more than `bytes` has, so that a longer file shows), where `fs::read` takes five
/// system calls.
fn has_bytes(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = vec![0u8; bytes.len() + 1];
    let mut filled = 0;
    loop {
        match file.read(&mut buf[filled..]) {
            Ok(0) => return filled == bytes.len() && buf[..filled] == *bytes,
            Ok(n) => {
                filled += n;
                if filled == buf.len() {
                    return false;
                }
                // A regular file reads short only at its end.
                if buf[..filled] != bytes[..filled.min(bytes.len())] {
                    return false;
                }
                if filled == bytes.len() {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests;
