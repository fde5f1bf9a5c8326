//! PEP 825 wheel variants: the `variant.json` a variant wheel carries in its `.dist-info`,
//! and the `{name}-{version}-variants.json` an index serves beside the wheels, which merges
//! them. The drafts differ, and installers track different ones, so the config names the
//! [`Schema`] it writes.
//!
//! Both are written as variantlib writes them (`json.dumps(indent=4, sort_keys=True)`, no
//! final newline): struct fields in alphabetical order and maps as `BTreeMap`s, so the same
//! variants give the same bytes as `variantlib generate-index-json` (a test compares them).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The draft of the variant metadata a config writes (`[variants] schema`). What differs is
/// the `$schema` URL an installer checks and whether the providers are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[schemars(rename = "VariantSchema")]
pub(crate) enum Schema {
    /// PEP 825 (format) with PEP 850 (providers), draft v0.2.0: what uv 0.13.8 reads,
    /// providers included, so that it can run the ones it vendors.
    #[default]
    #[serde(rename = "pep850-v0.2.0")]
    Pep850,
    /// PEP 825 alone, draft v0.1.1: no providers (PEP 850 adds them), so an installer can
    /// only tell that the null variant fits.
    #[serde(rename = "pep825-v0.1.1")]
    Pep825,
    /// variantlib 0.2's own schema, providers included: what `variantlib` 0.2.2 reads.
    #[serde(rename = "variantlib-0.2")]
    Variantlib,
}

impl Schema {
    const ALL: [Schema; 3] = [Schema::Pep850, Schema::Pep825, Schema::Variantlib];

    /// The `$schema` URL of the files it writes.
    pub(crate) fn url(self) -> &'static str {
        match self {
            Schema::Pep850 => "https://variants-schema.wheelnext.dev/peps/850/v0.2.0.json",
            Schema::Pep825 => "https://variants-schema.wheelnext.dev/peps/825/v0.1.1.json",
            Schema::Variantlib => "https://variants-schema.wheelnext.dev/v0.2.0.json",
        }
    }

    fn of_url(url: &str) -> Option<Schema> {
        Schema::ALL.into_iter().find(|s| s.url() == url)
    }

    fn has_providers(self) -> bool {
        self != Schema::Pep825
    }
}

/// The label of the variant with no properties.
pub(crate) const NULL_LABEL: &str = "null";

/// Largest `variant.json` read from a wheel.
pub(crate) const MAX_VARIANT_JSON: u64 = 1 << 20;

/// `variant.json` (one variant) or `*-variants.json` (all of a release's variants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VariantsJson {
    #[serde(rename = "$schema")]
    pub schema: String,
    #[serde(rename = "default-priorities")]
    pub default_priorities: Priorities,
    /// Absent in the PEP 825 draft alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<BTreeMap<String, Provider>>,
    /// label → namespace → feature → values (sorted).
    pub variants: BTreeMap<String, Properties>,
}

/// namespace → feature → values.
pub(crate) type Properties = BTreeMap<String, BTreeMap<String, Vec<String>>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Priorities {
    /// Namespaces, most important first: exactly the providers' namespaces.
    pub namespace: Vec<String>,
}

/// A variant provider plugin, as installers find it. Fields in alphabetical order, those
/// variantlib leaves out when unset skipped alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Provider {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_api: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

impl VariantsJson {
    /// The `variant.json` of one wheel.
    pub(crate) fn single(
        schema: Schema,
        priorities: Vec<String>,
        providers: BTreeMap<String, Provider>,
        label: String,
        properties: Properties,
    ) -> VariantsJson {
        VariantsJson {
            schema: schema.url().into(),
            default_priorities: Priorities {
                namespace: priorities,
            },
            providers: schema.has_providers().then_some(providers),
            variants: BTreeMap::from([(label, properties)]),
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Strings, vectors and maps of strings: serializing cannot fail.
        self.serialize(&mut ser)
            .expect("serializing variants JSON to memory");
        out
    }

    /// Read a `variant.json` or `*-variants.json`, refusing what variantlib would refuse.
    pub(crate) fn parse(bytes: &[u8]) -> Result<VariantsJson, String> {
        let json: VariantsJson = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let Some(schema) = Schema::of_url(&json.schema) else {
            return Err(format!(
                "schema `{}` is none of those wheelbuild writes ({})",
                json.schema,
                crate::diag::list(Schema::ALL.map(Schema::url))
            ));
        };
        match &json.providers {
            Some(providers) if schema.has_providers() => {
                let mut namespaces = json.default_priorities.namespace.clone();
                namespaces.sort();
                if !namespaces.iter().eq(providers.keys()) {
                    return Err(
                        "`default-priorities.namespace` does not list exactly the providers".into(),
                    );
                }
            }
            Some(_) => return Err(format!("schema `{}` has no `providers`", json.schema)),
            None if schema.has_providers() => {
                return Err(format!("schema `{}` needs `providers`", json.schema));
            }
            None => {}
        }
        for (label, properties) in &json.variants {
            check_label(label, properties.is_empty())?;
            for (namespace, features) in properties {
                check_name("namespace", namespace)?;
                for (feature, values) in features {
                    check_name("feature", feature)?;
                    for value in values {
                        check_value(value)?;
                    }
                }
            }
        }
        Ok(json)
    }

    /// The one variant of a wheel's `variant.json`, which must carry `label`.
    pub(crate) fn only(&self, label: &str) -> Result<&Properties, String> {
        match (self.variants.len(), self.variants.get(label)) {
            (1, Some(properties)) => Ok(properties),
            (1, None) => Err(format!(
                "it describes variant `{}`, the file name says `{label}`",
                self.variants.keys().next().map_or("", String::as_str)
            )),
            (n, _) => Err(format!("it describes {n} variants, expected exactly one")),
        }
    }

    /// Merge another wheel's variants, as `variantlib generate-index-json` does: the same
    /// label must mean the same properties and the providers must agree; the longer of
    /// two priority lists wins when one starts the other.
    pub(crate) fn merge(&mut self, other: &VariantsJson) -> Result<(), String> {
        if self.schema != other.schema {
            return Err(format!(
                "it is written in schema `{}`, another wheel in `{}`",
                other.schema, self.schema
            ));
        }
        for (label, properties) in &other.variants {
            match self.variants.get(label) {
                Some(mine) if mine != properties => {
                    return Err(format!(
                        "variant `{label}` has other properties in another wheel"
                    ));
                }
                _ => {}
            }
        }
        let (short, long) = if self.default_priorities.namespace.len()
            <= other.default_priorities.namespace.len()
        {
            (&self.default_priorities, &other.default_priorities)
        } else {
            (&other.default_priorities, &self.default_priorities)
        };
        if !long.namespace.starts_with(&short.namespace) {
            return Err("the namespace priorities differ from another wheel's".into());
        }
        let priorities = long.clone();
        if let (Some(mine), Some(theirs)) = (&mut self.providers, &other.providers) {
            for (namespace, provider) in theirs {
                if mine.get(namespace).is_some_and(|p| p != provider) {
                    return Err(format!(
                        "provider `{namespace}` is declared otherwise in another wheel"
                    ));
                }
            }
            for (namespace, provider) in theirs {
                mine.entry(namespace.clone())
                    .or_insert_with(|| provider.clone());
            }
        }
        self.default_priorities = priorities;
        for (label, properties) in &other.variants {
            self.variants
                .entry(label.clone())
                .or_insert_with(|| properties.clone());
        }
        Ok(())
    }
}

/// A provider an installer vendors: it runs it without installing anything. uv 0.13.8
/// (`--preview-features wheel-variants`) runs no other, and skips any other's namespace,
/// so that only variants without its properties fit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KnownProvider {
    pub installer: &'static str,
    pub namespace: &'static str,
    /// The one requirement `requires` must hold, as the config writes it.
    pub requirement: &'static str,
    /// The version vendored, when the requirement's specifiers must allow it.
    version: Option<&'static str>,
    /// `plugin-api`; `None`: the package's module, which `plugin-api` may leave out.
    pub plugin_api: Option<&'static str>,
}

/// The providers uv 0.13.8 vendors (found in its source and checked by running it).
pub(crate) const KNOWN_PROVIDERS: &[KnownProvider] = &[
    KnownProvider {
        installer: "uv 0.13.8",
        namespace: "aarch64",
        requirement: "aarch64-variant-provider",
        version: None,
        plugin_api: None,
    },
    KnownProvider {
        installer: "uv 0.13.8",
        namespace: "nvidia",
        requirement: "nvidia-variant-provider>=0.0.1,<1.0.0",
        version: Some("0.0.1"),
        plugin_api: Some("nvidia_variant_provider.plugin:NvidiaVariantPlugin"),
    },
    KnownProvider {
        installer: "uv 0.13.8",
        namespace: "tpu",
        requirement: "tpu-variant-provider",
        version: None,
        plugin_api: Some("tpu_variant_provider.plugin:TpuVariantPlugin"),
    },
    KnownProvider {
        installer: "uv 0.13.8",
        namespace: "x86_64",
        requirement: "x86-64-variant-provider",
        version: None,
        plugin_api: None,
    },
];

impl KnownProvider {
    /// Whether an installer that vendors this provider runs `provider` for `namespace`:
    /// one requirement of its package (no extras, no marker) that allows the vendored
    /// version, and its plugin object (the package's module when `plugin-api` is unset).
    fn serves(&self, namespace: &str, provider: &Provider) -> bool {
        use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
        use std::str::FromStr as _;
        let [requirement] = provider.requires.as_slice() else {
            return false;
        };
        let (Ok(theirs), Ok(mine)) = (
            Requirement::<VerbatimUrl>::from_str(requirement),
            Requirement::<VerbatimUrl>::from_str(self.requirement),
        ) else {
            return false;
        };
        let module = theirs.name.as_dist_info_name();
        let version_fits = match (&theirs.version_or_url, self.version) {
            (None, _) | (Some(VersionOrUrl::VersionSpecifier(_)), None) => true,
            (Some(VersionOrUrl::VersionSpecifier(specifiers)), Some(version)) => {
                pep508_rs::pep440_rs::Version::from_str(version)
                    .is_ok_and(|v| specifiers.contains(&v))
            }
            (Some(VersionOrUrl::Url(_)), _) => false,
        };
        namespace == self.namespace
            && theirs.name == mine.name
            && theirs.extras.is_empty()
            && theirs.marker.is_true()
            && version_fits
            && provider.plugin_api.as_deref().unwrap_or(&module)
                == self.plugin_api.unwrap_or(&module)
    }
}

/// `Ok` when a known installer vendors `provider` for `namespace`; otherwise the known
/// providers of that namespace (none when no installer vendors one).
pub(crate) fn vendored(
    namespace: &str,
    provider: &Provider,
) -> Result<(), Vec<&'static KnownProvider>> {
    if KNOWN_PROVIDERS
        .iter()
        .any(|k| k.serves(namespace, provider))
    {
        return Ok(());
    }
    Err(KNOWN_PROVIDERS
        .iter()
        .filter(|k| k.namespace == namespace)
        .collect())
}

/// The `variant.json` in the wheel at `path` (its top-level `.dist-info`), parsed.
pub(crate) fn read_from_wheel(path: &std::path::Path) -> Result<VariantsJson, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
    let name = zip
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| {
            n.split_once('/').is_some_and(|(top, rest)| {
                top.ends_with(".dist-info") && rest == super::VARIANT_FILE
            })
        })
        .map(|n| n.to_string())
        .ok_or_else(|| format!("no `.dist-info/{}` in it", super::VARIANT_FILE))?;
    let entry = zip.by_name(&name).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_VARIANT_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_VARIANT_JSON {
        return Err(format!("its `{name}` is over 1 MiB"));
    }
    VariantsJson::parse(&bytes).map_err(|e| format!("its `{name}`: {e}"))
}

/// The default label of a variant: the first 8 hex digits of the sha256 of its properties,
/// one `namespace :: feature :: value` line each in sorted order; `null` without any.
pub(crate) fn hash_label(properties: &Properties) -> String {
    if properties.is_empty() {
        return NULL_LABEL.into();
    }
    let mut hasher = Sha256::new();
    for (namespace, features) in properties {
        for (feature, values) in features {
            for value in values {
                hasher.update(format!("{namespace} :: {feature} :: {value}\n"));
            }
        }
    }
    hex::encode(hasher.finalize())[..8].to_string()
}

/// A namespace or feature name: `[a-z0-9_]+`.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "{kind} `{}` must be lowercase ASCII letters, digits and `_`",
            super::escaped(name)
        ))
    }
}

/// A property value: `[a-z0-9_.]+`.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        Ok(())
    } else {
        Err(format!(
            "value `{}` must be lowercase ASCII letters, digits, `_` and `.`",
            super::escaped(value)
        ))
    }
}

/// A label: `[a-z0-9_.]+`, `null` exactly for the variant without properties.
pub(crate) fn check_label(label: &str, null_variant: bool) -> Result<(), String> {
    super::check_variant_label(label)?;
    match (label == NULL_LABEL, null_variant) {
        (true, false) => Err("label `null` is only for the variant without properties".into()),
        (false, true) => Err(format!(
            "the variant without properties must be labelled `null`, not `{label}`"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(list: &[(&str, &str, &[&str])]) -> Properties {
        let mut p = Properties::new();
        for (n, f, vs) in list {
            p.entry(n.to_string())
                .or_default()
                .insert(f.to_string(), vs.iter().map(|v| v.to_string()).collect());
        }
        p
    }

    fn nvidia() -> BTreeMap<String, Provider> {
        BTreeMap::from([(
            "nvidia".to_string(),
            Provider {
                optional: false,
                plugin_api: Some("nvidia_variant_provider.plugin:NvidiaVariantPlugin".into()),
                requires: vec!["nvidia-variant-provider>=0.0.1,<1.0.0".into()],
            },
        )])
    }

    #[test]
    fn writes_as_variantlib_does_and_reads_back() {
        let json = VariantsJson::single(
            Schema::Variantlib,
            vec!["nvidia".into()],
            nvidia(),
            "cu118".into(),
            props(&[("nvidia", "cuda_version_lower_bound", &["11.8"])]),
        );
        let text = String::from_utf8(json.to_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{
    "$schema": "https://variants-schema.wheelnext.dev/v0.2.0.json",
    "default-priorities": {
        "namespace": [
            "nvidia"
        ]
    },
    "providers": {
        "nvidia": {
            "plugin-api": "nvidia_variant_provider.plugin:NvidiaVariantPlugin",
            "requires": [
                "nvidia-variant-provider>=0.0.1,<1.0.0"
            ]
        }
    },
    "variants": {
        "cu118": {
            "nvidia": {
                "cuda_version_lower_bound": [
                    "11.8"
                ]
            }
        }
    }
}"#
        );
        assert_eq!(VariantsJson::parse(text.as_bytes()).unwrap(), json);
    }

    #[test]
    fn each_schema_writes_its_url_and_only_the_pep825_draft_leaves_out_the_providers() {
        let cu118 = props(&[("nvidia", "cuda_version_lower_bound", &["11.8"])]);
        for schema in Schema::ALL {
            let json = VariantsJson::single(
                schema,
                vec!["nvidia".into()],
                nvidia(),
                "cu118".into(),
                cu118.clone(),
            );
            let value: serde_json::Value = serde_json::from_slice(&json.to_bytes()).unwrap();
            assert_eq!(value["$schema"], schema.url());
            assert_eq!(
                value.get("providers").is_some(),
                schema != Schema::Pep825,
                "{value}"
            );
            assert_eq!(VariantsJson::parse(&json.to_bytes()).unwrap(), json);
        }
        // A file whose providers contradict its schema is refused.
        let mut no_providers = VariantsJson::single(
            Schema::Pep850,
            vec!["nvidia".into()],
            nvidia(),
            "null".into(),
            Properties::new(),
        );
        no_providers.providers = None;
        assert!(VariantsJson::parse(&no_providers.to_bytes()).is_err());
        // Wheels of two schemas do not merge into one file.
        let mut pep850 = VariantsJson::single(
            Schema::Pep850,
            vec!["nvidia".into()],
            nvidia(),
            "cu118".into(),
            cu118,
        );
        let pep825 = VariantsJson::single(
            Schema::Pep825,
            vec!["nvidia".into()],
            nvidia(),
            "null".into(),
            Properties::new(),
        );
        let err = pep850.merge(&pep825).unwrap_err();
        assert!(err.contains("schema"), "{err}");
    }

    #[test]
    fn merging_keeps_every_label_and_refuses_a_conflict() {
        let one = |label: &str, p: Properties| {
            VariantsJson::single(
                Schema::Pep850,
                vec!["nvidia".into()],
                nvidia(),
                label.into(),
                p,
            )
        };
        let mut all = one(
            "cu118",
            props(&[("nvidia", "cuda_version_lower_bound", &["11.8"])]),
        );
        all.merge(&one(
            "cu124",
            props(&[("nvidia", "cuda_version_lower_bound", &["12.4"])]),
        ))
        .unwrap();
        all.merge(&one("null", Properties::new())).unwrap();
        assert_eq!(
            all.variants.keys().collect::<Vec<_>>(),
            ["cu118", "cu124", "null"]
        );
        let err = all
            .merge(&one(
                "cu118",
                props(&[("nvidia", "cuda_version_lower_bound", &["11.7"])]),
            ))
            .unwrap_err();
        assert!(err.contains("variant `cu118`"), "{err}");
    }

    #[test]
    fn providers_are_known_by_package_plugin_object_and_version() {
        let nvidia = |requires: &str, api: Option<&str>| Provider {
            optional: false,
            plugin_api: api.map(str::to_string),
            requires: vec![requires.into()],
        };
        let right = "nvidia_variant_provider.plugin:NvidiaVariantPlugin";
        assert_eq!(
            vendored(
                "nvidia",
                &nvidia("nvidia-variant-provider>=0.0.1,<1.0.0", Some(right))
            ),
            Ok(())
        );
        assert_eq!(
            vendored("nvidia", &nvidia("nvidia_variant_provider", Some(right))),
            Ok(())
        );
        let known = Err(vec![&KNOWN_PROVIDERS[1]]);
        // The name variantlib's docs used, no plugin-api, a version it does not vendor,
        // another namespace.
        for (namespace, provider) in [
            (
                "nvidia",
                nvidia(
                    "nvidia-variant-provider",
                    Some("nvidia_variant_provider.plugin:NVIDIAVariantPlugin"),
                ),
            ),
            ("nvidia", nvidia("nvidia-variant-provider", None)),
            ("nvidia", nvidia("nvidia-variant-provider>=1", Some(right))),
            (
                "nvidia",
                nvidia("nvidia-variant-provider; python_version > '3'", Some(right)),
            ),
        ] {
            assert_eq!(vendored(namespace, &provider), known, "{provider:?}");
        }
        assert_eq!(
            vendored("cuda", &nvidia("nvidia-variant-provider", Some(right))),
            Err(vec![])
        );
        // A package's module is its plugin object when plugin-api is unset.
        let x86 = |api: Option<&str>| Provider {
            optional: false,
            plugin_api: api.map(str::to_string),
            requires: vec!["x86-64-variant-provider".into()],
        };
        assert_eq!(vendored("x86_64", &x86(None)), Ok(()));
        assert_eq!(
            vendored("x86_64", &x86(Some("x86_64_variant_provider"))),
            Ok(())
        );
        assert!(vendored("x86_64", &x86(Some("x86_64_variant_provider.plugin:X"))).is_err());
    }

    #[test]
    fn labels_and_names_follow_the_schema() {
        assert_eq!(hash_label(&Properties::new()), "null");
        assert_eq!(
            hash_label(&props(&[("a", "b", &["c"])])),
            hex::encode(Sha256::digest(b"a :: b :: c\n"))[..8]
        );
        assert!(check_label("null", false).is_err());
        assert!(check_label("cu118", true).is_err());
        assert!(check_label("rocm5.2", false).is_ok());
        assert!(check_name("namespace", "Nvidia").is_err());
        assert!(check_value("8.0").is_ok());
        assert!(check_value("8,0").is_err());
        let bad = br#"{"$schema": "https://variants-schema.wheelnext.dev/v0.2.0.json",
            "default-priorities": {"namespace": ["x"]}, "providers": {}, "variants": {}}"#;
        assert!(VariantsJson::parse(bad).is_err());
    }
}
