//! Labels a wheel gets after its build: `[output] local-version` (a PEP 440 local version
//! label per cell) and PEP 825 variants (`[variants]` providers, a project's `variant`
//! properties per cell). Both are checked here, at config time, with the location of the
//! value that is wrong; the wheel is rewritten by [`crate::wheel::relabel`].

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use toml::Spanned;

use super::ConfigError;
use super::model::{Cell, ConfigWarning, Project, ProjectVariant, Target, TargetVariant};
use super::syntax::{ProjectTable, VariantsTable};
use super::template::{self, TemplateError, Vars};
use super::validate::{Ctx, Validator, truncated};
use crate::diag::list;
use crate::wheel::variant::{self, Properties, Provider, VariantsJson};

/// `[variants]`, validated: what every variant wheel's `variant.json` says besides its own
/// variant.
#[derive(Debug, Clone)]
pub(crate) struct VariantSettings {
    label: Option<Spanned<String>>,
    schema: variant::Schema,
    priorities: Vec<String>,
    providers: BTreeMap<String, Provider>,
}

/// `[variants]`: provider namespaces and features are variantlib's `[a-z0-9_]+`,
/// `requires` are PEP 508 requirements, `priority` lists each provider once. A provider
/// that no known installer vendors is warned about in `warnings`.
pub(super) fn variant_settings(
    ctx: &Ctx<'_>,
    table: Option<&Spanned<VariantsTable>>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Option<VariantSettings>, ConfigError> {
    let Some(table) = table else {
        return Ok(None);
    };
    let VariantsTable {
        label,
        schema,
        priority,
        providers: declared,
    } = table.get_ref();
    let mut providers = BTreeMap::new();
    for (namespace, p) in declared {
        variant::check_name("namespace", namespace.get_ref())
            .map_err(|e| ctx.err(namespace.span(), e, None))?;
        if p.requires.get_ref().is_empty() {
            return Err(ctx.err(
                p.requires.span(),
                format!("provider `{}` has no `requires`", namespace.get_ref()),
                Some("give the requirement that installs the plugin, e.g. `[\"nvidia-variant-provider>=0.0.1,<1.0.0\"]`".into()),
            ));
        }
        let mut requires = Vec::new();
        for r in p.requires.get_ref() {
            if let Err(e) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(r.get_ref())
            {
                return Err(ctx.err(
                    r.span(),
                    format!("invalid requirement `{}`: {e}", truncated(r.get_ref())),
                    Some(
                        "a PEP 508 requirement, e.g. `nvidia-variant-provider>=0.0.1,<1.0.0`"
                            .into(),
                    ),
                ));
            }
            requires.push(r.get_ref().clone());
        }
        if let Some(api) = &p.plugin_api {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.split('.').all(|part| {
                        !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                    })
            };
            let valid = match api.get_ref().split_once(':') {
                Some((module, attr)) => ok(module) && ok(attr),
                None => ok(api.get_ref()),
            };
            if !valid {
                return Err(ctx.err(
                    api.span(),
                    format!("invalid plugin-api `{}`", truncated(api.get_ref())),
                    Some("`module:attribute`, e.g. `nvidia_variant_provider.plugin:NvidiaVariantPlugin`".into()),
                ));
            }
        }
        let provider = Provider {
            optional: p.optional,
            plugin_api: p.plugin_api.as_ref().map(|a| a.get_ref().clone()),
            requires,
        };
        if let Err(known) = variant::vendored(namespace.get_ref(), &provider) {
            let span = p
                .plugin_api
                .as_ref()
                .map_or_else(|| p.requires.span(), |a| a.span());
            warnings.push(unknown_provider(ctx, span, namespace.get_ref(), &known));
        }
        providers.insert(namespace.get_ref().clone(), provider);
    }
    let priorities = match priority {
        None => providers.keys().cloned().collect(),
        Some(list_) => {
            let names: Vec<String> = list_
                .get_ref()
                .iter()
                .map(|n| n.get_ref().clone())
                .collect();
            let mut sorted = names.clone();
            sorted.sort();
            if !sorted.iter().eq(providers.keys()) {
                return Err(ctx.err(
                    list_.span(),
                    "variants.priority must name every provider exactly once",
                    Some(format!("the providers are {}", list(providers.keys()))),
                ));
            }
            names
        }
    };
    Ok(Some(VariantSettings {
        label: label.clone(),
        schema: *schema,
        priorities,
        providers,
    }))
}

/// The warning for provider `namespace`, which no known installer vendors: how the ones
/// of its namespace (`known`) are declared, or which namespaces have one.
fn unknown_provider(
    ctx: &Ctx<'_>,
    span: std::ops::Range<usize>,
    namespace: &str,
    known: &[&variant::KnownProvider],
) -> ConfigWarning {
    let hint = if known.is_empty() {
        format!(
            "known installers vendor providers for {} only; a variant with `{namespace}` properties needs an installer that runs provider plugins",
            list(variant::KNOWN_PROVIDERS.iter().map(|k| k.namespace))
        )
    } else {
        known
            .iter()
            .map(|k| {
                format!(
                    "{} vendors it as `requires = [\"{}\"]`{}",
                    k.installer,
                    k.requirement,
                    k.plugin_api
                        .map(|api| format!(", `plugin-api = \"{api}\"`"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    ctx.warning(
        span,
        format!(
            "no known installer vendors this provider of `{namespace}`: they skip it, and install only variants without `{namespace}` properties"
        ),
        Some(hint),
    )
}

/// A project's `variant`: each key is `namespace :: feature` of a declared provider.
pub(super) fn project_variant(
    ctx: &Ctx<'_>,
    table: &ProjectTable,
    settings: Option<&VariantSettings>,
) -> Result<Option<ProjectVariant>, ConfigError> {
    let Some(declared) = &table.variant else {
        return Ok(None);
    };
    let Some(settings) = settings else {
        return Err(ctx.err(
            declared.span(),
            format!(
                "project `{}` declares variant properties but no provider is declared",
                table.name.get_ref()
            ),
            Some("add a `[variants.providers.NAMESPACE]` table with the plugin's `requires` (installers need it to choose a variant)".into()),
        ));
    };
    let mut properties = Vec::new();
    for (key, values) in declared.get_ref() {
        let bad = |message: String, hint: Option<String>| ctx.err(key.span(), message, hint);
        let Some((namespace, feature)) = key.get_ref().split_once("::") else {
            return Err(bad(
                format!(
                    "variant property `{}` is not `namespace :: feature`",
                    truncated(key.get_ref())
                ),
                Some("e.g. `\"nvidia :: cuda_version_lower_bound\" = \"{cuda}\"`".into()),
            ));
        };
        let (namespace, feature) = (namespace.trim(), feature.trim());
        variant::check_name("namespace", namespace).map_err(|e| bad(e, None))?;
        variant::check_name("feature", feature).map_err(|e| bad(e, None))?;
        if !settings.providers.contains_key(namespace) {
            return Err(bad(
                format!("variant namespace `{namespace}` has no provider"),
                Some(format!(
                    "declare `[variants.providers.{namespace}]`{}",
                    if settings.providers.is_empty() {
                        String::new()
                    } else {
                        format!("; declared: {}", list(settings.providers.keys()))
                    }
                )),
            ));
        }
        if values.get_ref().as_slice().is_empty() {
            return Err(ctx.err(
                values.span(),
                format!("variant property `{namespace} :: {feature}` has no value"),
                None,
            ));
        }
        properties.push((
            namespace.to_string(),
            feature.to_string(),
            values.get_ref().as_slice().to_vec(),
            key.span().start..values.span().end,
        ));
    }
    Ok(Some(ProjectVariant {
        properties,
        span: declared.span(),
    }))
}

/// `[output] local-version` in `cell`: a PEP 440 local version label, normalized
/// (lowercase, `.` between segments).
pub(super) fn local_version(
    validator: &Validator<'_>,
    vars: &impl Vars,
    cell: &Cell,
) -> Result<Option<String>, ConfigError> {
    let Some(template) = &validator.file.output.local_version else {
        return Ok(None);
    };
    let label = validator.expand("output.local-version", template, vars, cell)?;
    let parsed = pep508_rs::pep440_rs::Version::from_str(&format!("0+{label}"))
        .ok()
        .filter(|v| !label.is_empty() && !v.local().is_empty());
    match parsed {
        Some(v) => Ok(Some(
            v.to_string()
                .strip_prefix("0+")
                .unwrap_or_default()
                .to_string(),
        )),
        None => Err(validator.ctx.err(
            template.span(),
            format!(
                "output.local-version gives `{}` in cell {}, which is not a PEP 440 local version label",
                truncated(&label),
                cell.describe()
            ),
            Some("a local version label is ASCII letters and digits, in segments separated by `.`, e.g. `{accel}` → `cu118`".into()),
        )),
    }
}

/// A target's variant: the project's properties in `cell` (those using `{cuda}` or
/// `{rocm}` where the cell has none left out), its label and its `variant.json`.
pub(super) fn target_variant(
    validator: &Validator<'_>,
    declared: &ProjectVariant,
    settings: &VariantSettings,
    vars: &impl Vars,
    cell: &Cell,
) -> Result<Arc<TargetVariant>, ConfigError> {
    let mut properties = Properties::new();
    'property: for (namespace, feature, templates, span) in &declared.properties {
        let mut values = Vec::new();
        for t in templates {
            let value = match template::expand(t, vars) {
                Ok(v) => v,
                Err(TemplateError::Missing { name, .. }) if name == "cuda" || name == "rocm" => {
                    continue 'property;
                }
                // Report it as every template error is reported.
                Err(_) => validator.expand(
                    format_args!("variant property `{namespace} :: {feature}`"),
                    &Spanned::new(span.clone(), t.clone()),
                    vars,
                    cell,
                )?,
            };
            variant::check_value(&value).map_err(|e| {
                validator.ctx.err(
                    span.clone(),
                    format!(
                        "variant property `{namespace} :: {feature}` in cell {}: {e}",
                        cell.describe()
                    ),
                    None,
                )
            })?;
            values.push(value);
        }
        values.sort();
        values.dedup();
        properties
            .entry(namespace.clone())
            .or_default()
            .insert(feature.clone(), values);
    }
    let label = match &settings.label {
        Some(template) if !properties.is_empty() => {
            let label = validator.expand("variants.label", template, vars, cell)?;
            variant::check_label(&label, false).map_err(|e| {
                validator.ctx.err(
                    template.span(),
                    format!("variants.label in cell {}: {e}", cell.describe()),
                    None,
                )
            })?;
            label
        }
        _ => variant::hash_label(&properties),
    };
    let json = VariantsJson::single(
        settings.schema,
        settings.priorities.clone(),
        settings.providers.clone(),
        label.clone(),
        properties.clone(),
    )
    .to_bytes();
    Ok(Arc::new(TargetVariant {
        label,
        properties,
        json: String::from_utf8(json).expect("JSON is UTF-8"),
    }))
}

/// Within a project, one label means one set of properties and the other way round:
/// otherwise the index's `*-variants.json` could not describe the wheels.
pub(super) fn check_variant_labels(
    ctx: &Ctx<'_>,
    targets: &[Target],
    projects: &[Project],
) -> Result<(), ConfigError> {
    let mut by_label: BTreeMap<(usize, &str), &Target> = BTreeMap::new();
    let mut by_properties: BTreeMap<(usize, &Properties), &Target> = BTreeMap::new();
    for t in targets {
        let Some(v) = &t.variant else { continue };
        let span = projects[t.project]
            .variant
            .as_ref()
            .map_or(0..0, |d| d.span.clone());
        let clash = |other: &Target, what: String| {
            ctx.err(
                span.clone(),
                format!("{} and {} {what}", other.id, t.id),
                Some("make `variants.label` tell apart the cells whose properties differ (e.g. `{accel}`), or give them the same properties".into()),
            )
        };
        let other = *by_label.entry((t.project, v.label.as_str())).or_insert(t);
        if other
            .variant
            .as_ref()
            .is_some_and(|o| o.properties != v.properties)
        {
            return Err(clash(
                other,
                format!("get variant label `{}` for different properties", v.label),
            ));
        }
        let other = *by_properties.entry((t.project, &v.properties)).or_insert(t);
        if let Some(o) = other.variant.as_ref().filter(|o| o.label != v.label) {
            return Err(clash(
                other,
                format!(
                    "have the same variant properties but labels `{}` and `{}`",
                    o.label, v.label
                ),
            ));
        }
    }
    Ok(())
}
