use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::render::{
    percent_encode_into, project_html, project_json, push_escaped, root_html, root_json,
};
use super::write::has_bytes;
use super::*;
use crate::config::Config;
use crate::key::BuildKey;
use crate::wheel::WheelName;
use crate::wheelhouse::stamps::Stamps;
use crate::wheelhouse::{Stamp, mtime_ns};

const CONFIG: &str = r#"
[matrix]
python = ["3.10", "3.11"]
cuda = ["cpu", "cuda11.8"]

[image]
template = "reg.example/base:py{python}-{variant}"

[[project]]
name = "hello"
git = "https://example.com/hello.git"
ref = "main"

[[project]]
name = "demo"
git = "https://example.com/demo.git"
ref = "main"
matrix = { cuda = ["cpu"], python = ["3.11"] }
"#;

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

struct Fixture {
    dir: tempfile::TempDir,
    config: Config,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(&dir.path().join("wheelbuild.toml"), CONFIG).unwrap();
        Fixture { dir, config }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("wheelhouse")
    }

    fn wheelhouse(&self) -> Wheelhouse {
        Wheelhouse::new(&self.out(), &self.dir.path().join("wheelhouse.lock"))
    }

    fn index(&self) -> IndexReport {
        self.wheelhouse()
            .index(&self.config.targets, false)
            .unwrap()
    }

    fn subdir(&self, target: &str) -> String {
        self.config
            .targets
            .iter()
            .find(|t| t.id == target)
            .unwrap_or_else(|| panic!("no target {target}"))
            .output_subdir
            .clone()
    }

    /// A wheel of `target` with `bytes`, stamped as `place` stamps it (with `sha256`).
    fn place(&self, target: &str, file: &str, bytes: &[u8], sha256: &str) -> PathBuf {
        let dir = self.out().join(self.subdir(target));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        std::fs::write(&path, bytes).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let stamp = Stamp {
            key: BuildKey("1".repeat(64)),
            target: target.into(),
            sha256: sha256.into(),
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
            record: "records/x.json".into(),
        };
        let mut stamps = Stamps::read(&dir).unwrap();
        stamps.wheels.insert(file.into(), stamp);
        stamps.write(&dir).unwrap();
        path
    }

    fn page(&self, rel: &str) -> String {
        let path = self.out().join("index").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn json(&self, rel: &str) -> Value {
        serde_json::from_str(&self.page(rel)).unwrap()
    }

    /// Every file under the index, relative to it, with its bytes.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let root = self.out().join("index");
        let mut out = Vec::new();
        walk(&root, &mut |p| {
            out.push((
                p.strip_prefix(&root).unwrap().to_path_buf(),
                std::fs::read(p).unwrap(),
            ))
        });
        out.sort();
        out
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    push_escaped(&mut out, s);
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    percent_encode_into(&mut out, s);
    out
}

#[test]
fn escapes_html_and_percent_encodes_urls() {
    assert_eq!(
        html_escape(r#"<a href="x">&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
    );
    assert_eq!(percent_encode("torch-2.0.1+cu118"), "torch-2.0.1%2Bcu118");
    assert_eq!(percent_encode("tier=0 x/é"), "tier%3D0%20x%2F%C3%A9");
    assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
    assert_eq!(html_escape("plain"), "plain");
    assert_eq!(html_escape("é&é"), "é&amp;é");
}

fn file(subdir: &str, filename: &str, sha256: &str) -> File {
    File {
        subdir: subdir.into(),
        filename: filename.into(),
        version: WheelName::parse(filename)
            .map(|n| n.version)
            .unwrap_or_else(|_| "1.0".into()),
        sha256: sha256.into(),
        size: 42,
        variant: None,
    }
}

#[test]
fn project_pages_escape_names_and_link_relatively_with_hashes() {
    let f = file(
        "py311/cu118/linux_x86_64/tier=0",
        "torch_ext-2.0.1+cu118-cp311-cp311-linux_x86_64.whl",
        SHA_A,
    );
    let url = "../../../../py311/cu118/linux_x86_64/tier%3D0/torch_ext-2.0.1%2Bcu118-cp311-cp311-linux_x86_64.whl";
    assert_eq!(f.url(), url);
    let html = String::from_utf8(project_html("a<b>&\"c'", std::slice::from_ref(&f))).unwrap();
    assert_eq!(
        html,
        format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    \
             <title>Links for a&lt;b&gt;&amp;&quot;c&#39;</title>\n  </head>\n  <body>\n    \
             <h1>Links for a&lt;b&gt;&amp;&quot;c&#39;</h1>\n    \
             <a href=\"{url}#sha256={SHA_A}\">torch_ext-2.0.1+cu118-cp311-cp311-linux_x86_64.whl</a><br>\n  \
             </body>\n</html>\n"
        )
    );
    // A file name with markup in it (not a valid wheel name, but the page must hold).
    let evil = file("d", "x\"><script>-1.0-py3-none-any.whl", SHA_A);
    let html = String::from_utf8(project_html("x", &[evil])).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("x%22%3E%3Cscript%3E-1.0"), "{html}");
    assert!(html.contains(">x&quot;&gt;&lt;script&gt;-1.0"), "{html}");
}

#[test]
fn json_pages_have_the_pep_691_shape() {
    let files = [
        file("py310/cpu", "demo-0.10.0-py3-none-any.whl", SHA_B),
        file("py310/cpu", "demo-0.9.0-py3-none-any.whl", SHA_A),
    ];
    let project: Value = serde_json::from_slice(&project_json("demo", &files)).unwrap();
    assert_eq!(
        project,
        json!({
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "files": [
                {
                    "filename": "demo-0.10.0-py3-none-any.whl",
                    "url": "../../../../py310/cpu/demo-0.10.0-py3-none-any.whl",
                    "hashes": {"sha256": SHA_B},
                    "size": 42
                },
                {
                    "filename": "demo-0.9.0-py3-none-any.whl",
                    "url": "../../../../py310/cpu/demo-0.9.0-py3-none-any.whl",
                    "hashes": {"sha256": SHA_A},
                    "size": 42
                }
            ],
            "versions": ["0.9.0", "0.10.0"]
        })
    );
    let names = ["demo".to_string(), "hello-world".to_string()];
    let root: Value = serde_json::from_slice(&root_json(names.iter())).unwrap();
    assert_eq!(
        root,
        json!({
            "meta": {"api-version": "1.1"},
            "projects": [{"name": "demo"}, {"name": "hello-world"}]
        })
    );
    let html = String::from_utf8(root_html(names.iter())).unwrap();
    assert!(
        html.contains(
            "<a href=\"demo/\">demo</a><br>\n    <a href=\"hello-world/\">hello-world</a><br>\n"
        ),
        "{html}"
    );
}

#[test]
fn one_repository_per_variant_with_normalized_names_and_working_links() {
    let f = Fixture::new();
    let cpu310 = f.place(
        "hello/py3.10-cpu",
        "Hello-1.0-cp310-cp310-linux_x86_64.whl",
        b"a",
        SHA_A,
    );
    f.place(
        "hello/py3.11-cuda11.8",
        "Hello-1.0-cp311-cp311-linux_x86_64.whl",
        b"b",
        SHA_B,
    );
    f.place(
        "demo/py3.11-cpu",
        "Demo_Pkg.x-2.0-py3-none-any.whl",
        b"c",
        SHA_B,
    );
    let report = f.index();
    assert_eq!(report.left_out, []);
    let tags: Vec<(&str, usize, usize)> = report
        .variants
        .iter()
        .map(|v| (v.tag.as_str(), v.projects, v.files))
        .collect();
    assert_eq!(tags, [("cpu", 2, 2), ("cu118", 1, 1)]);
    assert_eq!(report.variants[0].simple, f.out().join("index/cpu/simple"));

    // Names are PEP 503-normalized, in both formats.
    assert_eq!(
        f.json("cpu/simple/index.json")["projects"],
        json!([{"name": "demo-pkg-x"}, {"name": "hello"}])
    );
    let cpu_hello = f.json("cpu/simple/hello/index.json");
    assert_eq!(cpu_hello["name"], "hello");
    assert_eq!(
        cpu_hello["files"][0]["filename"],
        "Hello-1.0-cp310-cp310-linux_x86_64.whl"
    );
    assert_eq!(cpu_hello["files"][0]["size"], 1);
    assert_eq!(cpu_hello["files"][0]["hashes"]["sha256"], SHA_A);
    // The relative link, resolved from the page's directory, is the wheel.
    let page_dir = f.out().join("index/cpu/simple/hello");
    let url = cpu_hello["files"][0]["url"].as_str().unwrap();
    assert_eq!(
        std::fs::canonicalize(page_dir.join(url)).unwrap(),
        std::fs::canonicalize(&cpu310).unwrap()
    );
    assert!(
        f.page("cpu/simple/hello/index.html")
            .contains(&format!("href=\"{url}#sha256={SHA_A}\"")),
    );
    // The CUDA wheel is only in the CUDA repository.
    let cu = f.json("cu118/simple/hello/index.json");
    assert_eq!(cu["files"].as_array().unwrap().len(), 1);
    assert_eq!(
        cu["files"][0]["filename"],
        "Hello-1.0-cp311-cp311-linux_x86_64.whl"
    );
    assert!(!f.out().join("index/cu118/simple/demo-pkg-x").exists());
    // 3 + 2 pages of each format.
    assert_eq!(report.written.len(), 10);
}

#[test]
fn regenerating_is_byte_identical_and_writes_nothing() {
    let f = Fixture::new();
    f.place(
        "hello/py3.10-cpu",
        "hello-1.0-cp310-cp310-linux_x86_64.whl",
        b"a",
        SHA_A,
    );
    f.place(
        "hello/py3.11-cpu",
        "hello-1.0-cp311-cp311-linux_x86_64.whl",
        b"b",
        SHA_B,
    );
    f.index();
    let before = f.snapshot();
    let mtimes: Vec<_> = before
        .iter()
        .map(|(p, _)| {
            std::fs::metadata(f.out().join("index").join(p))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let again = f.index();
    assert_eq!(again.written, Vec::<PathBuf>::new());
    assert_eq!(again.removed, Vec::<PathBuf>::new());
    assert_eq!(again.unchanged, before.len());
    assert_eq!(f.snapshot(), before);
    for ((p, _), m) in before.iter().zip(mtimes) {
        let now = std::fs::metadata(f.out().join("index").join(p))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(now, m, "{} rewritten", p.display());
    }
    // Another wheelhouse with the same wheels placed in another order: same bytes.
    let g = Fixture::new();
    g.place(
        "hello/py3.11-cpu",
        "hello-1.0-cp311-cp311-linux_x86_64.whl",
        b"b",
        SHA_B,
    );
    g.place(
        "hello/py3.10-cpu",
        "hello-1.0-cp310-cp310-linux_x86_64.whl",
        b"a",
        SHA_A,
    );
    g.index();
    assert_eq!(g.snapshot(), before);
}

#[test]
fn stale_pages_go_and_unstamped_or_foreign_wheels_are_left_out() {
    let f = Fixture::new();
    let demo = f.place(
        "demo/py3.11-cpu",
        "demo-1.0-py3-none-any.whl",
        b"demo",
        SHA_A,
    );
    f.place(
        "hello/py3.10-cpu",
        "hello-1.0-cp310-cp310-linux_x86_64.whl",
        b"a",
        SHA_A,
    );
    f.index();
    assert!(f.out().join("index/cpu/simple/demo/index.html").is_file());
    // Leftovers of an earlier run: a variant and a stray file.
    std::fs::create_dir_all(f.out().join("index/rocm5.2/simple/x")).unwrap();
    std::fs::write(f.out().join("index/cpu/simple/stray.html"), "x").unwrap();

    // The demo wheel goes (its stamp stays behind): its pages go with it.
    std::fs::remove_file(&demo).unwrap();
    // A wheel without a stamp, one whose bytes changed since stamped, one stamped by a
    // target that does not live in its directory.
    let hello_dir = f.out().join(f.subdir("hello/py3.10-cpu"));
    std::fs::write(hello_dir.join("loose-1.0-py3-none-any.whl"), "x").unwrap();
    let changed = f.place(
        "hello/py3.10-cpu",
        "hello-1.1-cp310-cp310-linux_x86_64.whl",
        b"a",
        SHA_A,
    );
    std::fs::write(&changed, b"longer").unwrap();
    let foreign = f.place(
        "hello/py3.10-cpu",
        "other-1.0-py3-none-any.whl",
        b"o",
        SHA_B,
    );
    let dir = foreign.parent().unwrap();
    let mut stamps = Stamps::read(dir).unwrap();
    stamps
        .wheels
        .get_mut("other-1.0-py3-none-any.whl")
        .unwrap()
        .target = "hello/py3.11-cpu".into();
    stamps.write(dir).unwrap();

    let report = f.index();
    let index = f.out().join("index");
    assert_eq!(
        report.removed,
        [
            index.join("cpu/simple/demo"),
            index.join("cpu/simple/stray.html"),
            index.join("rocm5.2"),
        ]
    );
    assert!(!index.join("cpu/simple/demo").exists());
    assert_eq!(
        f.json("cpu/simple/index.json")["projects"],
        json!([{"name": "hello"}])
    );
    let reasons: Vec<(String, &WhyLeftOut)> = report
        .left_out
        .iter()
        .map(|l| {
            (
                l.wheel.file_name().unwrap().to_string_lossy().into_owned(),
                &l.reason,
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "hello-1.1-cp310-cp310-linux_x86_64.whl".to_string(),
                &WhyLeftOut::Changed
            ),
            (
                "loose-1.0-py3-none-any.whl".to_string(),
                &WhyLeftOut::NoStamp
            ),
            (
                "other-1.0-py3-none-any.whl".to_string(),
                &WhyLeftOut::ForeignTarget("hello/py3.11-cpu".into())
            ),
        ]
    );
    let files = f.json("cpu/simple/hello/index.json")["files"].clone();
    assert_eq!(files.as_array().unwrap().len(), 1, "{files:#}");
}

/// A wheelhouse last placed into by a wheelbuild that kept one stamp beside each wheel
/// (`<wheel>.wheelbuild.json`) is indexed from those.
#[test]
fn a_wheelhouse_with_a_stamp_beside_each_wheel_is_indexed_from_them() {
    let f = Fixture::new();
    let wheel = f.place(
        "demo/py3.11-cpu",
        "demo-1.0-py3-none-any.whl",
        b"demo",
        SHA_A,
    );
    let dir = wheel.parent().unwrap();
    let stamps = Stamps::read(dir).unwrap();
    std::fs::write(
        dir.join(format!(
            "demo-1.0-py3-none-any.whl{}",
            stamps::LEGACY_SUFFIX
        )),
        serde_json::to_vec(&stamps.wheels["demo-1.0-py3-none-any.whl"]).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(dir.join(stamps::FILE)).unwrap();

    let report = f.index();
    assert!(report.left_out.is_empty(), "{:?}", report.left_out);
    let files = &f.json("cpu/simple/demo/index.json")["files"];
    assert_eq!(files[0]["hashes"]["sha256"], SHA_A, "{files:#}");
}

#[test]
fn a_file_name_twice_in_a_variant_is_listed_once() {
    let f = Fixture::new();
    // A pure-Python wheel of both CPU cells: the same name; the same bytes are listed
    // once, other bytes under the name are left out.
    f.place(
        "hello/py3.10-cpu",
        "hello-1.0-py3-none-any.whl",
        b"same",
        SHA_A,
    );
    f.place(
        "hello/py3.11-cpu",
        "hello-1.0-py3-none-any.whl",
        b"same",
        SHA_A,
    );
    let report = f.index();
    assert_eq!(report.left_out, []);
    let files = f.json("cpu/simple/hello/index.json")["files"].clone();
    assert_eq!(files.as_array().unwrap().len(), 1);
    assert!(
        files[0]["url"]
            .as_str()
            .unwrap()
            .contains(&f.subdir("hello/py3.10-cpu"))
    );

    f.place(
        "hello/py3.11-cpu",
        "hello-1.0-py3-none-any.whl",
        b"diff",
        SHA_B,
    );
    let report = f.index();
    assert_eq!(report.left_out.len(), 1);
    assert_eq!(
        report.left_out[0].reason,
        WhyLeftOut::Duplicate {
            kept: Path::new(&f.subdir("hello/py3.10-cpu")).join("hello-1.0-py3-none-any.whl"),
            index: "cpu".into(),
        }
    );
}

#[test]
fn a_layout_into_the_index_directory_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &dir.path().join("wheelbuild.toml"),
        "[matrix]\npython = [\"3.11\"]\n[image]\ntemplate = \"x\"\n[[project]]\nname = \"a\"\n\
         git = \"https://e.x/a.git\"\n[output]\nlayout = \"index/{accel}\"\n",
    )
    .unwrap();
    let wh = Wheelhouse::new(&dir.path().join("wh"), &dir.path().join("lock"));
    let err = wh.index(&config.targets, false).unwrap_err();
    assert!(matches!(err, IndexError::Overlap { .. }), "{err}");
    assert!(err.to_string().contains("`index/cpu`"), "{err}");
    assert!(err.hint().unwrap().contains("output.layout"));
}

#[test]
fn a_page_is_read_back_as_equal_only_with_exactly_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("index.html");
    assert!(!has_bytes(&page, b"page"), "a missing file");
    for (on_disk, equal) in [
        (&b"page"[..], true),
        (b"pag", false),
        (b"pages", false),
        (b"pagE", false),
        (b"", false),
    ] {
        std::fs::write(&page, on_disk).unwrap();
        assert_eq!(has_bytes(&page, b"page"), equal, "{on_disk:?}");
    }
    std::fs::write(&page, b"").unwrap();
    assert!(has_bytes(&page, b""));
    let big = vec![7u8; 100_000];
    std::fs::write(&page, &big).unwrap();
    assert!(has_bytes(&page, &big));
    assert!(!has_bytes(&page, &big[1..]));
}

/// The issue's setup: a pure wheel of a `cpu` and a `cuda11.8` cell, labelled `{accel}`.
/// Each accelerator's repository describes only its own label, so an installer reading
/// the `cu118` one never considers the `-null` wheel; the variant index lists both and
/// describes both.
#[test]
fn variants_json_lists_the_null_variant() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &dir.path().join("wheelbuild.toml"),
        "[matrix]\npython = [\"3.11\"]\ncuda = [\"cpu\", \"cuda11.8\"]\n[image]\ntemplate = \"x\"\n\
         [[project]]\nname = \"hello\"\ngit = \"https://e.x/h.git\"\n\
         variant = { \"nvidia :: cuda_version_lower_bound\" = \"{cuda}\" }\n\
         [variants]\nlabel = \"{accel}\"\n[variants.providers.nvidia]\n\
         requires = [\"nvidia-variant-provider>=0.0.1,<1.0.0\"]\n\
         plugin-api = \"nvidia_variant_provider.plugin:NvidiaVariantPlugin\"\n",
    )
    .unwrap();
    let f = Fixture { dir, config };
    for (target, label) in [
        ("hello/py3.11-cpu", "null"),
        ("hello/py3.11-cuda11.8", "cu118"),
    ] {
        let json = &f.config.targets.iter().find(|t| t.id == target).unwrap();
        let json = &json.variant.as_ref().unwrap().json;
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut bytes);
        zip.start_file(
            "hello-1.0.dist-info/variant.json",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, json.as_bytes()).unwrap();
        zip.finish().unwrap();
        let bytes = bytes.into_inner();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        f.place(
            target,
            &format!("hello-1.0-py3-none-any-{label}.whl"),
            &bytes,
            &sha,
        );
    }
    let labels = |repo: &str| {
        let json = f.json(&format!("{repo}/simple/hello/hello-1.0-variants.json"));
        json["variants"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };

    let report = f.wheelhouse().index(&f.config.targets, true).unwrap();
    assert_eq!(report.left_out, []);
    let tags: Vec<(&str, usize)> = report
        .variants
        .iter()
        .map(|v| (v.tag.as_str(), v.files))
        .collect();
    assert_eq!(tags, [("cpu", 1), ("cu118", 1), ("variants", 2)]);
    assert_eq!(labels("cu118"), ["cu118"]);
    assert_eq!(labels("variants"), ["cu118", "null"]);
    let page = f.json("variants/simple/hello/index.json");
    let files: Vec<&str> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "hello-1.0-py3-none-any-cu118.whl",
            "hello-1.0-py3-none-any-null.whl",
            "hello-1.0-variants.json"
        ]
    );

    // Without `"variants"`, its directory goes.
    let report = f.wheelhouse().index(&f.config.targets, false).unwrap();
    assert_eq!(report.variants.len(), 2);
    assert!(!f.out().join("index/variants").exists());
}
