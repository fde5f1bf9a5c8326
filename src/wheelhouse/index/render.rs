//! The pages of the index: PEP 503 HTML and PEP 691 JSON, byte for byte the same for the
//! same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{File, Projects};

/// PEP 691 / PEP 700 API version of the pages.
const API_VERSION: &str = "1.1";
const HTML: &str = "index.html";
const JSON: &str = "index.json";

/// Every page of the repositories `repos` (variant tag → its projects), by path relative
/// to the index root, rendered in parallel: each variant's root pages and each of its
/// projects' pages. `files` is how many files they list.
pub(super) fn repositories(
    repos: &BTreeMap<String, Projects>,
    files: usize,
) -> Vec<(PathBuf, Vec<u8>)> {
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
        crate::par::threads_for(files),
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
    rendered.into_iter().flatten().collect()
}

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

pub(super) fn root_html<'a>(projects: impl Iterator<Item = &'a String>) -> Vec<u8> {
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

pub(super) fn root_json<'a>(projects: impl Iterator<Item = &'a String>) -> Vec<u8> {
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

pub(super) fn project_html(project: &str, files: &[File]) -> Vec<u8> {
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

pub(super) fn project_json(project: &str, files: &[File]) -> Vec<u8> {
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
pub(super) fn push_escaped(out: &mut String, s: &str) {
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
pub(super) fn percent_encode_into(out: &mut String, segment: &str) {
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
