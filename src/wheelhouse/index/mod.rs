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
//!
//! With `[output] index = "variants"`, one more repository, `<output.dir>/index/variants/
//! simple/`, lists the wheels of every cell: PEP 825 variant wheels are told apart by
//! their labels, and the installer picks (each project page's `*-variants.json` describes
//! every label on it, `null` included).

mod render;
mod scan;
mod variants;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Wheelhouse, stamps};
use crate::config::Target;
use render::percent_encode_into;
use write::Pages;

/// The index's directory in the wheelhouse.
pub(crate) const INDEX_DIR: &str = "index";

/// The tag of the repository over every cell: no accelerator's tag.
pub(crate) const VARIANTS_TAG: &str = "variants";

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
    /// Every variant of the config, by tag, and the repository over them all
    /// ([`VARIANTS_TAG`]) when asked for.
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
    /// `cpu`, `cu118`, `rocm5.2`; [`VARIANTS_TAG`] for the one over every cell.
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
    /// Another wheel of the same name, with other bytes, is listed in the repository of
    /// tag `index` (`kept`: its path in the wheelhouse).
    Duplicate { kept: PathBuf, index: String },
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
            WhyLeftOut::Duplicate { kept, index } => write!(
                f,
                "the wheelhouse's {} has the same name and other bytes, and is listed in index `{index}` (pip could pick either: give these targets wheels of their own names, e.g. with `[output] local-version` or a project `variant`)",
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
    /// placed in the wheelhouse, and with `all_variants` the one over them all, under the
    /// wheelhouse lock.
    pub fn index(&self, targets: &[Target], all_variants: bool) -> Result<IndexReport, IndexError> {
        let root = self.dir.join(INDEX_DIR);
        refuse_overlap(&self.dir, targets)?;
        let _guard = self
            .lock()
            .map_err(IndexError::io("locking the wheelhouse", &self.lock))?;
        let mut listing = scan::wheelhouse(&self.dir, targets)?;
        if all_variants {
            let mut all = Projects::new();
            for projects in listing.repos.values() {
                for (project, files) in projects {
                    all.entry(project.clone())
                        .or_default()
                        .extend(files.iter().cloned());
                }
            }
            listing.repos.insert(VARIANTS_TAG.to_string(), all);
        }
        // The lists are settled first, then the pages rendered in parallel.
        let mut pages = Pages::default();
        let (variants, listed) = settle(&self.dir, &root, &mut listing, &mut pages);
        for (path, bytes) in render::repositories(&listing.repos, listed) {
            pages.add(path, bytes);
        }
        // Sorted by path; a wheel two repositories leave out for one reason (a variant
        // wheel that cannot be read) is said once.
        listing.left_out.sort_by(|a, b| a.wheel.cmp(&b.wheel));
        listing.left_out.dedup();
        let mut report = pages.write(&root)?;
        report.variants = variants;
        report.left_out = listing.left_out;
        Ok(report)
    }
}

/// Refuse targets that would place wheels in the index's own directory.
fn refuse_overlap(out: &Path, targets: &[Target]) -> Result<(), IndexError> {
    for t in targets {
        if t.output_subdir
            .split('/')
            .find(|c| !c.is_empty() && *c != ".")
            == Some(INDEX_DIR)
        {
            return Err(IndexError::Overlap {
                target: t.id.clone(),
                subdir: t.output_subdir.clone(),
                dir: out.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Settle each variant's lists: duplicates and unreadable variant wheels left out, each
/// release's `-variants.json` added to `pages` and listed. Returns every variant's summary
/// and how many wheels are listed.
fn settle(
    out: &Path,
    root: &Path,
    listing: &mut scan::Listing,
    pages: &mut Pages,
) -> (Vec<VariantIndex>, usize) {
    let mut variants = Vec::new();
    let mut listed = 0;
    for (tag, projects) in &mut listing.repos {
        let mut files = 0;
        for list in projects.values_mut() {
            listing.left_out.extend(dedupe(out, tag, list));
            files += list.len();
        }
        let simple = PathBuf::from(tag).join("simple");
        for (project, list) in projects.iter_mut() {
            let dir = simple.join(project.as_str());
            for (file, bytes) in variants::variants_files(out, list, &mut listing.left_out) {
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
    (variants, listed)
}

/// A variant's projects (normalized names) and their files.
type Projects = BTreeMap<String, Vec<File>>;

/// Sort a project's files in the repository `tag` (by name, then directory) and keep one
/// per file name: the same bytes in two directories (a pure-Python wheel of two Python
/// cells) are listed once; other bytes under the same name are left out, since pip could
/// pick either.
fn dedupe(out: &Path, tag: &str, files: &mut Vec<File>) -> Vec<LeftOut> {
    files.sort_by(|a, b| (&a.filename, &a.subdir).cmp(&(&b.filename, &b.subdir)));
    let mut left_out = Vec::new();
    let mut kept: Vec<File> = Vec::with_capacity(files.len());
    for f in files.drain(..) {
        match kept.last() {
            Some(k) if k.filename == f.filename => {
                if k.sha256 != f.sha256 {
                    left_out.push(LeftOut {
                        wheel: out.join(&f.subdir).join(&f.filename),
                        reason: WhyLeftOut::Duplicate {
                            kept: Path::new(&k.subdir).join(&k.filename),
                            index: tag.to_string(),
                        },
                    });
                }
            }
            _ => kept.push(f),
        }
    }
    *files = kept;
    left_out
}

#[cfg(test)]
mod tests;
