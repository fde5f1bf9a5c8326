use super::*;

#[test]
fn docker_hub_names_are_normalized() {
    let r = parse_reference("python:3.11").unwrap();
    assert_eq!(
        (r.registry(), r.repository(), r.tag()),
        ("docker.io", "library/python", Some("3.11"))
    );
    assert_eq!(r.resolve_registry(), "index.docker.io");
    let r = parse_reference("pytorch/pytorch:2.4.0-cuda12.4-cudnn9-devel").unwrap();
    assert_eq!(r.repository(), "pytorch/pytorch");
    let r = parse_reference("index.docker.io/library/ubuntu").unwrap();
    assert_eq!(
        (r.registry(), r.repository()),
        ("docker.io", "library/ubuntu")
    );
    let r = parse_reference("127.0.0.1:5000/wb/base:py3.11").unwrap();
    assert_eq!(
        (r.registry(), r.repository(), r.tag()),
        ("127.0.0.1:5000", "wb/base", Some("py3.11"))
    );
    let r = parse_reference("localhost/a/b").unwrap();
    assert_eq!(r.registry(), "localhost");
    assert!(parse_reference("a//b").is_err());
    assert!(parse_reference("img:bad:tag:").is_err());
}

fn index(json: &str) -> oci_spec::image::ImageIndex {
    serde_json::from_str(json).unwrap()
}

const INDEX: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1,
     "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
     "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1,
     "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1,
     "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
     "platform": {"architecture": "amd64", "os": "linux"}}
  ]
}"#;

#[test]
fn platform_selection_from_a_docker_manifest_list() {
    let idx = index(INDEX);
    let pick = |p: &str| {
        select_platform(&idx, &Platform::parse(p).unwrap()).map(|d| d.digest().to_string())
    };
    assert_eq!(
        pick("linux/amd64").unwrap(),
        format!("sha256:{}", "3".repeat(64))
    );
    // No variant asked: any variant of the architecture will do.
    assert_eq!(
        pick("linux/arm64").unwrap(),
        format!("sha256:{}", "2".repeat(64))
    );
    assert_eq!(
        pick("linux/arm/v7").unwrap(),
        format!("sha256:{}", "1".repeat(64))
    );
    assert_eq!(pick("linux/arm/v6"), None);
    assert_eq!(pick("windows/amd64"), None);
    assert_eq!(
        available_platforms(&idx),
        "linux/arm/v7, linux/arm64/v8, linux/amd64"
    );
}

#[test]
fn index_detection_by_media_type_or_shape() {
    let probe = |s: &str| serde_json::from_str::<Probe>(s).unwrap().is_index();
    assert!(probe(INDEX));
    assert!(probe(r#"{"schemaVersion":2,"manifests":[]}"#));
    assert!(!probe(
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#
    ));
    assert!(!probe(r#"{"schemaVersion":2,"config":{},"layers":[]}"#));
}

#[test]
fn an_oversized_answer_names_the_limit_and_is_not_a_user_error() {
    let e = RegistryError::from_failure(
        Failure::TooLarge {
            what: "manifest wb/app:v1".into(),
            detail: "Content-Length: 2147483648".into(),
        },
        "127.0.0.1:5000/wb/app:v1",
        "127.0.0.1:5000",
    );
    assert_eq!(
        e.to_string(),
        "registry 127.0.0.1:5000 sent manifest wb/app:v1 over the 4 MiB limit \
         (Content-Length: 2147483648); refusing it"
    );
    assert!(!e.is_user_error());
}
