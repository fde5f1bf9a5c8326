//! SLSA v1 provenance of a build, kept in its record, and the in-toto v1 Statement of each
//! wheel that the wheelhouse writes beside it (`<wheel>.intoto.json`).
//!
//! Everything in it comes from what the build key already covers (the lock's pins, the
//! expanded config) plus the wheels' and the log's digests: nothing is timed, so two
//! builds of one key state the same thing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{TestOutcome, TestRecord, WheelRecord};
use crate::config::{Project, Target};
use crate::key::{BuildKey, KeyInputs};
use crate::lock::{LockedEnvironment, LockedGit, LockedImage};

/// DSSE's payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// One DSSE signature: the signing key's name and the base64 of its ed25519 signature of
/// the envelope's PAE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DsseSignature {
    pub keyid: String,
    pub sig: String,
}

/// DSSE's pre-authentication encoding: what is signed, so that the payload type cannot be
/// swapped under a signature.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sign a statement (the bytes [`Provenance::statement_json`] gives) for its envelope.
pub fn sign(signer: &crate::sign::SecretKey, statement: &[u8]) -> DsseSignature {
    use base64::Engine as _;
    DsseSignature {
        keyid: signer.name.clone(),
        sig: base64::engine::general_purpose::STANDARD
            .encode(signer.sign_raw(&pae(PAYLOAD_TYPE, statement))),
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    payload: String,
    signatures: &'a [DsseSignature],
}

/// Versioned: a change of what the parameters mean is a new URI.
pub const BUILD_TYPE: &str = "https://wheelbuild.dev/provenance/wheel/v1";
/// The build type of a test's provenance (`<wheel>.test.intoto.json`).
pub const TEST_BUILD_TYPE: &str = "https://wheelbuild.dev/provenance/wheel-test/v1";
pub const BUILDER_ID: &str = "https://wheelbuild.dev/builder/v1";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// The SLSA v1 provenance predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    /// What the config asked for: the target, its cell and its build command.
    pub external_parameters: BTreeMap<String, serde_json::Value>,
    /// What wheelbuild adds: the build environment's variables (key inputs only), the
    /// repair and the build recipe's fingerprint.
    pub internal_parameters: BTreeMap<String, serde_json::Value>,
    /// The base image, the source commit, and every pinned package.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: Metadata,
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    pub id: String,
    pub version: BTreeMap<String, String>,
}

impl Builder {
    /// This wheelbuild.
    fn wheelbuild() -> Builder {
        Builder {
            id: BUILDER_ID.into(),
            version: BTreeMap::from([(
                "wheelbuild".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The build key.
    pub invocation_id: String,
}

/// An in-toto ResourceDescriptor: at least one of `uri`, `name`, `digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An in-toto v1 Statement about one wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement<'a> {
    #[serde(rename = "_type")]
    pub statement_type: &'a str,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: &'a str,
    pub predicate: &'a Provenance,
}

fn descriptor(
    uri: Option<String>,
    name: Option<String>,
    digest: &[(&str, &str)],
) -> ResourceDescriptor {
    ResourceDescriptor {
        uri,
        name,
        digest: digest
            .iter()
            .map(|(a, d)| (a.to_string(), d.to_string()))
            .collect(),
        annotations: BTreeMap::new(),
    }
}

/// The build a provenance is about: its key, and the target with its project and pins.
pub(crate) struct Build<'a> {
    pub key: &'a BuildKey,
    pub target: &'a Target,
    pub project: &'a Project,
    pub image: &'a LockedImage,
    pub git: &'a LockedGit,
    pub env: Option<&'a LockedEnvironment>,
}

impl Provenance {
    /// The provenance of building `t` with `inputs`; `log_sha256` is the build log's.
    pub(crate) fn of(
        t: &Build<'_>,
        inputs: &KeyInputs<'_>,
        log_sha256: Option<&str>,
    ) -> Provenance {
        use serde_json::json;
        let mut external = BTreeMap::new();
        external.insert("target".into(), json!(t.target.id));
        external.insert("project".into(), json!(t.project.name));
        external.insert("axes".into(), json!(inputs.axes.to_map()));
        external.insert("build".into(), json!(t.target.build));
        external.insert(
            "source".into(),
            json!({ "url": t.git.url, "ref": t.git.reference, "subdir": t.project.subdir }),
        );
        external.insert(
            "image".into(),
            json!({ "reference": t.image.reference, "platform": t.image.platform }),
        );
        let mut internal = BTreeMap::new();
        internal.insert("env".into(), json!(inputs.env.to_map()));
        internal.insert("toolchainCheck".into(), json!(inputs.toolchain_check));
        internal.insert("gpu".into(), json!(inputs.gpu));
        internal.insert(
            "repair".into(),
            json!(
                inputs
                    .repair
                    .as_ref()
                    .map(|r| json!({ "tool": r.tool, "exclude": r.exclude }))
            ),
        );
        if let Some(local) = &inputs.local_version {
            external.insert("localVersion".into(), json!(local));
        }
        if let Some(v) = t.target.variant.as_deref() {
            external.insert(
                "variant".into(),
                json!({ "label": v.label, "properties": v.properties }),
            );
        }
        internal.insert("recipe".into(), json!(inputs.wheelbuild));

        let sha = |d: &str| d.strip_prefix("sha256:").unwrap_or(d).to_string();
        let mut deps = vec![descriptor(
            Some(format!(
                "oci://{}@{}",
                t.image.name, t.image.manifest_digest
            )),
            Some(t.image.reference.clone()),
            &[("sha256", &sha(&t.image.manifest_digest))],
        )];
        deps.push(descriptor(
            Some(format!(
                "git+{}{}",
                t.git.url,
                t.git
                    .reference
                    .as_deref()
                    .map(|r| format!("@{r}"))
                    .unwrap_or_default()
            )),
            None,
            &[("gitCommit", &t.git.commit)],
        ));
        if let Some(env) = t.env {
            for p in &env.packages {
                deps.push(descriptor(
                    Some(format!("pkg:pypi/{}@{}", p.name, p.version)),
                    Some(p.file.clone()),
                    &[("sha256", &p.sha256)],
                ));
            }
            for d in &env.debs {
                // apt pins have no digest: the mirror's signed Release file vouches for them.
                deps.push(descriptor(
                    Some(format!("pkg:deb/debian/{}@{}", d.name, d.version)),
                    None,
                    &[],
                ));
            }
            for p in &env.from_image {
                let mut d = descriptor(
                    Some(format!("pkg:pypi/{}@{}", p.name, p.version)),
                    None,
                    &[],
                );
                d.annotations
                    .insert("installedIn".into(), t.image.manifest_digest.clone());
                deps.push(d);
            }
        }
        let byproducts = log_sha256
            .map(|s| vec![descriptor(None, Some("build.log".into()), &[("sha256", s)])])
            .unwrap_or_default();
        Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.into(),
                external_parameters: external,
                internal_parameters: internal,
                resolved_dependencies: deps,
            },
            run_details: RunDetails {
                builder: Builder::wheelbuild(),
                metadata: Metadata {
                    invocation_id: t.key.0.clone(),
                },
                byproducts,
            },
        }
    }

    /// The provenance of the test `record` of `target`'s wheels: its byproducts are the
    /// test (its key as a blake3 digest; outcome, why, engine, GPUs and duration as
    /// annotations) and its log. Its own statement, not the build's: the build's is
    /// signed and stored with the build, and a test runs again without a rebuild.
    pub(crate) fn of_test(target: &str, record: &TestRecord) -> Provenance {
        use serde_json::json;
        let mut test = descriptor(None, Some("test".into()), &[("blake3", &record.key.0)]);
        let (outcome, why) = match &record.outcome {
            TestOutcome::Passed => ("passed", None),
            TestOutcome::Failed { detail } => ("failed", Some(detail)),
            TestOutcome::NotRun { why } => ("not run", Some(why)),
        };
        let notes = &mut test.annotations;
        notes.insert("outcome".into(), outcome.into());
        if let Some(why) = why {
            notes.insert("why".into(), why.clone());
        }
        // The engine it ran on; a test not run ran on none.
        if record.outcome.settled() {
            let engine = record.engine.as_deref().unwrap_or("default");
            notes.insert("engine".into(), engine.into());
        }
        // The GPUs a GPU test saw, one per line.
        if !record.gpus.is_empty() {
            notes.insert("gpus".into(), record.gpus.join("\n"));
        }
        notes.insert(
            "duration".into(),
            format!("{:.1}s", record.duration_ms as f64 / 1000.0),
        );
        let mut byproducts = vec![test];
        byproducts.extend(
            record
                .log_sha256
                .as_deref()
                .map(|s| descriptor(None, Some("test.log".into()), &[("sha256", s)])),
        );
        Provenance {
            build_definition: BuildDefinition {
                build_type: TEST_BUILD_TYPE.into(),
                external_parameters: BTreeMap::from([
                    ("target".into(), json!(target)),
                    ("buildKey".into(), json!(record.build_key.0)),
                ]),
                internal_parameters: BTreeMap::new(),
                resolved_dependencies: Vec::new(),
            },
            run_details: RunDetails {
                builder: Builder::wheelbuild(),
                metadata: Metadata {
                    invocation_id: record.key.0.clone(),
                },
                byproducts,
            },
        }
    }

    /// What `<wheel>.intoto.json` holds: the statement, or with `signatures` the DSSE
    /// envelope whose payload is the statement.
    pub fn file_json(&self, wheel: &WheelRecord, signatures: &[DsseSignature]) -> Vec<u8> {
        use base64::Engine as _;
        let statement = self.statement_json(wheel);
        if signatures.is_empty() {
            return statement;
        }
        let envelope = Envelope {
            payload_type: PAYLOAD_TYPE,
            payload: base64::engine::general_purpose::STANDARD.encode(&statement),
            signatures,
        };
        let mut out = serde_json::to_vec_pretty(&envelope).expect("an envelope serializes");
        out.push(b'\n');
        out
    }

    /// The Statement of `wheel`, as the bytes of `<wheel>.intoto.json` (pretty, one
    /// trailing newline: stable bytes for stable inputs).
    pub fn statement_json(&self, wheel: &WheelRecord) -> Vec<u8> {
        let statement = Statement {
            statement_type: STATEMENT_TYPE,
            subject: vec![descriptor(
                None,
                Some(wheel.file.clone()),
                &[("sha256", &wheel.sha256)],
            )],
            predicate_type: PREDICATE_TYPE,
            predicate: self,
        };
        let mut out = serde_json::to_vec_pretty(&statement).expect("a statement serializes");
        out.push(b'\n');
        out
    }
}
