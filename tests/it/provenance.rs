//! Provenance: every wheel in the wheelhouse has `<wheel>.intoto.json`, an in-toto v1
//! Statement with an SLSA v1 provenance predicate, checked here against the lock, the
//! store and the wheel, and read by the in-toto attestation framework's own Python
//! bindings (the `intoto` fixture) as an independent implementation.

use crate::support::test;
use serde_json::Value;

use crate::common::*;
use crate::support::fixtures::{self, ImageKind, intoto_python};
use crate::support::pypi::PypiServer;

/// Parses a statement with in-toto-attestation's protobuf messages, refusing unknown
/// fields: the Statement (validated by its wrapper) and the SLSA v1 predicate.
const VALIDATE: &str = r#"
import json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
doc = json.load(open(sys.argv[1]))
stmt = json_format.ParseDict(doc, statement_pb2.Statement(), ignore_unknown_fields=False)
Statement.copy_from_pb(stmt).validate()
assert stmt.predicate_type == "https://slsa.dev/provenance/v1", stmt.predicate_type
prov = json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance(), ignore_unknown_fields=False)
assert prov.build_definition.build_type, "no buildType"
assert prov.run_details.builder.id, "no builder id"
print("valid", stmt.subject[0].name, stmt.subject[0].digest["sha256"], len(prov.build_definition.resolved_dependencies))
"#;

pub fn validate(python: &std::path::Path, statement: &std::path::Path) -> std::process::Output {
    std::process::Command::new(python)
        .args(["-c", VALIDATE])
        .arg(statement)
        .output()
        .unwrap()
}

#[test]
fn every_wheel_has_a_provenance_statement_that_in_toto_reads() {
    let python = intoto_python();
    let base = fixtures::base_image(ImageKind::Cpu);
    let server = PypiServer::start(&["six-1.16.0-py2.py3-none-any.whl"]);
    let repo = pure_repo("provpkg", None);
    let extra = format!(
        "network = \"host\"\n\n[pip]\nindex-url = \"{}\"\n",
        server.url()
    );
    let p = locked_project(
        &base,
        "provenance",
        &extra,
        &[project("provpkg", &repo, "pip = [\"six==1.16.0\"]")],
    );
    ok(&p, &["build"]);
    let wheel = "provpkg-0.1.0-py3-none-any.whl";
    let wheel_path = wheelhouse(&p).join(wheel);
    let statement_path = wheelhouse(&p).join(format!("{wheel}.intoto.json"));
    let text = std::fs::read(&statement_path).unwrap();
    let doc: Value = serde_json::from_slice(&text).unwrap();

    // About this wheel, made by this key, from exactly what the lock pins.
    let lock = lock_of(&p);
    let key = key_of(&p, &cpu("provpkg"));
    assert_eq!(doc["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(doc["subject"][0]["name"], wheel);
    assert_eq!(
        doc["subject"][0]["digest"]["sha256"],
        sha256_file(&wheel_path)
    );
    let predicate = &doc["predicate"];
    assert_eq!(
        predicate["runDetails"]["metadata"]["invocationId"],
        key.as_str()
    );
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"]["target"],
        cpu("provpkg")
    );
    let deps = predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let digest_of = |uri_prefix: &str, algorithm: &str| -> String {
        let d = deps
            .iter()
            .find(|d| d["uri"].as_str().is_some_and(|u| u.starts_with(uri_prefix)))
            .unwrap_or_else(|| panic!("no {uri_prefix} in {deps:#?}"));
        d["digest"][algorithm].as_str().unwrap().to_string()
    };
    let image = &lock.images[0];
    assert_eq!(
        format!("sha256:{}", digest_of("oci://", "sha256")),
        image.manifest_digest
    );
    assert_eq!(digest_of("git+", "gitCommit"), lock.git[0].commit);
    let six = &lock.environments[0].packages[0];
    assert_eq!(digest_of("pkg:pypi/six@1.16.0", "sha256"), six.sha256);
    let log = store_dir(&p).join("logs").join(format!("{key}.log"));
    assert_eq!(
        predicate["runDetails"]["byproducts"][0]["digest"]["sha256"],
        sha256_file(&log)
    );

    // The in-toto framework's own bindings read it, and refuse it once it is altered.
    let out = validate(&python, &statement_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("valid {wheel} ")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let altered = p.file("altered.intoto.json");
    std::fs::write(
        &altered,
        String::from_utf8_lossy(&text).replace("\"buildType\"", "\"buildKind\""),
    )
    .unwrap();
    assert!(!validate(&python, &altered).status.success());

    // Stable bytes: a no-op build leaves it as it is, and writes it back when it is gone.
    ok(&p, &["build"]);
    assert_eq!(std::fs::read(&statement_path).unwrap(), text);
    std::fs::remove_file(&statement_path).unwrap();
    ok(&p, &["build"]);
    assert_eq!(std::fs::read(&statement_path).unwrap(), text);
}

/// `openssl pkeyutl -verify` of an ed25519 `signature` of `message` by the raw 32-byte
/// `public` key: an implementation of ed25519 that is not ours.
pub fn openssl_verifies(
    dir: &std::path::Path,
    public: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    // SubjectPublicKeyInfo of an Ed25519 key: a fixed prefix, then the key (RFC 8410).
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public);
    for (name, bytes) in [
        ("pub.der", &der[..]),
        ("msg.bin", message),
        ("sig.bin", signature),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::process::Command::new("openssl")
        .args([
            "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der",
        ])
        .args(["-rawin", "-in", "msg.bin", "-sigfile", "sig.bin"])
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn with_a_signing_key_the_statement_comes_in_a_dsse_envelope_openssl_verifies() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let python = intoto_python();
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("signedpkg", None);
    let p = new_project(
        &base,
        &format!(
            "{}\n[remote]\nsign-with = \"ci-1.secret\"\n",
            config(
                &base.reference,
                "provenance-dsse",
                "",
                &[project("signedpkg", &repo, "")]
            )
        ),
    );
    let public = stdout(&ok(&p, &["key", "generate", "ci-1"]))
        .trim()
        .to_string();
    ok(&p, &["lock"]);
    ok(&p, &["build"]);
    let path = wheelhouse(&p).join("signedpkg-0.1.0-py3-none-any.whl.intoto.json");
    let envelope: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let signature = &envelope["signatures"][0];
    assert_eq!(signature["keyid"], "ci-1");

    // The payload is the statement, which in-toto reads.
    let statement = p.file("statement.json");
    std::fs::write(&statement, &payload).unwrap();
    let out = validate(&python, &statement);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The signature is over DSSE's PAE of it, by the key `key generate` printed.
    let key = b64.decode(public.split_once(':').unwrap().1).unwrap();
    let sig = b64.decode(signature["sig"].as_str().unwrap()).unwrap();
    let pae = |body: &[u8]| {
        let mut m = format!("DSSEv1 28 application/vnd.in-toto+json {} ", body.len()).into_bytes();
        m.extend_from_slice(body);
        m
    };
    let dir = tempfile::tempdir().unwrap();
    assert!(openssl_verifies(dir.path(), &key, &pae(&payload), &sig));
    let mut altered = payload.clone();
    altered[10] ^= 1;
    assert!(!openssl_verifies(dir.path(), &key, &pae(&altered), &sig));
}
