use super::*;
use crate::wheel::check_wheel;
use crate::wheel::fixtures::{DEMO, demo, files, write_wheel};

fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().unwrap().to_string(), bytes)
        })
        .collect()
}

fn text(entries: &[(String, Vec<u8>)], name: &str) -> String {
    let (_, bytes) = entries
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"));
    String::from_utf8(bytes.clone()).unwrap()
}

#[test]
fn a_local_version_renames_the_wheel_its_dist_info_and_metadata_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = demo();
    files.push(("demo-1.0.data/scripts/tool".into(), b"#!python\n".to_vec()));
    let path = write_wheel(dir.path(), DEMO, files, None);
    let spec = Relabel {
        local_version: Some("cu118"),
        variant: None,
    };
    let new = relabel(&path, &spec).unwrap();
    assert_eq!(
        new.file_name().unwrap(),
        "demo-1.0+cu118-py3-none-any.whl",
        "the version in the file name"
    );
    let info = check_wheel(&new).expect("an installer accepts the relabelled wheel");
    assert_eq!(info.name.version, "1.0+cu118");
    let got = entries(&new);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "demo/__init__.py",
            "demo/core.py",
            "demo-1.0+cu118.dist-info/METADATA",
            "demo-1.0+cu118.dist-info/WHEEL",
            "demo-1.0+cu118.data/scripts/tool",
            "demo-1.0+cu118.dist-info/RECORD",
        ],
        "same order, dist-info and data renamed"
    );
    assert_eq!(
        text(&got, "demo-1.0+cu118.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0+cu118\n"
    );
    let record = text(&got, "demo-1.0+cu118.dist-info/RECORD");
    assert!(
        record.ends_with("demo-1.0+cu118.dist-info/RECORD,,\n"),
        "{record}"
    );
    assert!(!record.contains("demo-1.0.dist-info"), "{record}");
    // Unchanged files keep their bytes; the original stays in place.
    assert_eq!(got[0].1, b"print('hello')\n");
    assert!(path.exists());

    // The same input gives the same bytes.
    let again = tempfile::tempdir().unwrap();
    let copy = again.path().join(DEMO);
    std::fs::copy(&path, &copy).unwrap();
    let new_again = relabel(&copy, &spec).unwrap();
    assert_eq!(
        std::fs::read(&new).unwrap(),
        std::fs::read(&new_again).unwrap()
    );
}

#[test]
fn a_variant_gets_its_label_and_variant_json_before_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_wheel(dir.path(), DEMO, demo(), None);
    let json = b"{\n    \"variants\": {}\n}";
    let new = relabel(
        &path,
        &Relabel {
            local_version: Some("cu118"),
            variant: Some(("cu118", json)),
        },
    )
    .unwrap();
    assert_eq!(
        new.file_name().unwrap(),
        "demo-1.0+cu118-py3-none-any-cu118.whl"
    );
    let info = check_wheel(&new).unwrap();
    assert_eq!(info.name.variant.as_deref(), Some("cu118"));
    let got = entries(&new);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[names.len() - 2..],
        [
            "demo-1.0+cu118.dist-info/variant.json",
            "demo-1.0+cu118.dist-info/RECORD"
        ]
    );
    assert_eq!(
        text(&got, "demo-1.0+cu118.dist-info/variant.json").as_bytes(),
        json
    );
}

#[test]
fn a_build_that_wrote_its_own_variant_json_gets_the_declared_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = demo();
    files.push(("demo-1.0.dist-info/variant.json".into(), b"{}".to_vec()));
    let path = write_wheel(dir.path(), DEMO, files, None);
    let new = relabel(
        &path,
        &Relabel {
            local_version: None,
            variant: Some(("null", b"{\"variants\": {\"null\": {}}}")),
        },
    )
    .unwrap();
    check_wheel(&new).unwrap();
    let got = entries(&new);
    assert_eq!(
        got.iter()
            .filter(|(n, _)| n.ends_with("variant.json"))
            .count(),
        1
    );
    assert_eq!(
        text(&got, "demo-1.0.dist-info/variant.json"),
        "{\"variants\": {\"null\": {}}}"
    );
}

#[test]
fn relabelling_refuses_what_it_cannot_do_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let local = Relabel {
        local_version: Some("cu118"),
        variant: None,
    };
    // Already a local version.
    let mut f = files(&[
        ("demo/__init__.py", b"\n"),
        (
            "demo-1.0+cpu.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0+cpu\n",
        ),
        (
            "demo-1.0+cpu.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ]);
    let path = write_wheel(dir.path(), "demo-1.0+cpu-py3-none-any.whl", f.clone(), None);
    let err = relabel(&path, &local).unwrap_err().to_string();
    assert!(err.contains("already has a local version label"), "{err}");

    // METADATA that disagrees with the file name.
    f = demo();
    f[2].1 = b"Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n".to_vec();
    let path = write_wheel(dir.path(), DEMO, f, None);
    let err = relabel(&path, &local).unwrap_err().to_string();
    assert!(err.contains("METADATA gives version `2.0`"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn only_the_version_header_changes_not_the_description() {
    let text =
        b"Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0\r\n\r\nVersion: 1.0 in the body\n";
    let out = set_version(text, "1.0", "1.0+cpu").unwrap();
    assert_eq!(
        out,
        b"Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0+cpu\r\n\r\nVersion: 1.0 in the body\n"
    );
    assert!(set_version(b"Name: demo\n\nVersion: 1.0\n", "1.0", "1.0+cpu").is_err());
}
