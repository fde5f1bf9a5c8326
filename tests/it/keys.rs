//! Property tests of build keys: an input change changes exactly the keys of the targets
//! that use it; formatting, non-key settings and unrelated projects change none.

use crate::support::test;
use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use wheelbuild::config::Config;
use wheelbuild::key::KeyInputs;
use wheelbuild::lock::{
    AptPin, EnvironmentInput, Facts, LockedEnvironment, LockedGit, LockedImage, Lockfile, PipPin,
    RefKind,
};

#[derive(Debug, Clone)]
struct Project {
    name: String,
    repo: usize,
    reference: String,
    subdir: Option<String>,
    build: Option<String>,
    pip: Vec<String>,
    apt: Vec<String>,
    env: BTreeMap<String, String>,
    max_jobs: Option<u8>,
    gpu: bool,
    toolchain_check: Option<String>,
}

#[derive(Debug, Clone)]
struct Model {
    python: Vec<&'static str>,
    cuda: Vec<&'static str>,
    projects: Vec<Project>,
}

/// Formatting choices that must not affect any key.
#[derive(Debug, Clone, Copy)]
struct Style {
    comments: bool,
    reversed_fields: bool,
    env_as_table: bool,
    crlf: bool,
    padding: bool,
}

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}"
}

fn project(index: usize) -> impl Strategy<Value = Project> {
    (
        0..3usize,
        prop_oneof![Just("main".to_string()), Just("v1.0".to_string()), word()],
        proptest::option::of(word()),
        proptest::option::of("[a-z ./-]{1,20}"),
        proptest::collection::vec(word(), 0..3),
        proptest::collection::vec(word(), 0..3),
        proptest::collection::btree_map("[A-Z][A-Z_]{0,5}", "[a-z0-9;.=-]{0,8}", 0..3),
        proptest::option::of(1u8..16),
        any::<bool>(),
        proptest::option::of("[a-z ]{1,12}"),
    )
        .prop_map(
            move |(
                repo,
                reference,
                subdir,
                build,
                pip,
                apt,
                mut env,
                max_jobs,
                gpu,
                toolchain_check,
            )| {
                // Names the config reserves or treats as non-key are generated separately.
                env.retain(|k, _| {
                    !wheelbuild::config::NON_KEY_ENV.contains(&k.as_str())
                        && !k.starts_with("WHEELBUILD_")
                });
                Project {
                    name: format!("p{index}"),
                    repo,
                    reference,
                    subdir,
                    build,
                    pip,
                    apt,
                    env,
                    max_jobs,
                    gpu,
                    toolchain_check,
                }
            },
        )
}

fn model() -> impl Strategy<Value = Model> {
    (
        proptest::sample::subsequence(vec!["3.10", "3.11", "3.12"], 1..=3),
        proptest::sample::subsequence(vec!["cpu", "cuda11.8", "cuda12.4"], 1..=3),
        (1..4usize).prop_flat_map(|n| (0..n).map(project).collect::<Vec<_>>()),
    )
        .prop_map(|(python, cuda, projects)| Model {
            python,
            cuda,
            projects,
        })
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(comments, reversed_fields, env_as_table, crlf, padding)| Style {
                comments,
                reversed_fields,
                env_as_table,
                crlf,
                padding,
            },
        )
}

fn q(s: &str) -> String {
    wheelbuild::lock::quote(s)
}

fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

fn render(m: &Model, s: Style) -> String {
    let eq = if s.padding { "   =   " } else { " = " };
    let comment = |text: &str| {
        if s.comments {
            format!("# {text}\n")
        } else {
            String::new()
        }
    };
    let mut out = comment("generated for a property test");
    out += "repair = \"none\"\n[matrix]\n";
    out += &format!(
        "python{eq}{}\n",
        list(&m.python.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    );
    out += &format!(
        "cuda{eq}{}\n\n",
        list(&m.cuda.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    );
    out += &comment("images");
    out += &format!("[image]\ntemplate{eq}\"reg.test/base:py{{python}}-{{variant}}\"\n\n");
    for p in &m.projects {
        out += &comment(&format!("project {}", p.name));
        out += "[[project]]\n";
        let mut fields = vec![
            format!("name{eq}{}", q(&p.name)),
            format!(
                "git{eq}{}",
                q(&format!("https://git.test/repo{}.git", p.repo))
            ),
            format!("ref{eq}{}", q(&p.reference)),
            format!("pip{eq}{}", list(&p.pip)),
            format!("apt{eq}{}", list(&p.apt)),
            format!("gpu{eq}{}", p.gpu),
        ];
        if let Some(d) = &p.subdir {
            fields.push(format!("subdir{eq}{}", q(d)));
        }
        if let Some(b) = &p.build {
            fields.push(format!("build{eq}{}", q(b)));
        }
        if let Some(v) = &p.toolchain_check {
            fields.push(format!("toolchain-check{eq}{}", q(v)));
        }
        let mut env: Vec<String> = p
            .env
            .iter()
            .map(|(k, v)| format!("{k}{eq}{}", q(v)))
            .collect();
        if let Some(j) = p.max_jobs {
            env.push(format!("MAX_JOBS{eq}\"{j}\""));
        }
        if s.reversed_fields {
            fields.reverse();
            env.reverse();
        }
        if !s.env_as_table {
            fields.push(format!("env{eq}{{ {} }}", env.join(", ")));
        }
        for f in &fields {
            out += f;
            out += "\n";
        }
        if s.env_as_table {
            out += &format!("[project.env]\n{}\n", env.join("\n"));
        }
        out += "\n";
    }
    if s.crlf {
        out.replace('\n', "\r\n")
    } else {
        out
    }
}

fn sha256(s: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(s.as_bytes())))
}

/// A lock with synthetic pins derived from each input (and a salt per input to move it).
fn lock_for(config: &Config, salt: &BTreeMap<String, String>) -> Lockfile {
    let salt_of = |k: &str| salt.get(k).cloned().unwrap_or_default();
    let images = config
        .distinct_images()
        .map(|i| LockedImage {
            reference: i.reference.clone(),
            platform: i.platform.to_string(),
            name: "reg.test/base".into(),
            tag: None,
            index_digest: None,
            manifest_digest: sha256(&format!("{}{}", i.reference, salt_of(&i.reference))),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        })
        .collect();
    // Every project directory read, declaring no build requirements.
    let git: Vec<LockedGit> = config
        .distinct_git()
        .map(|g| LockedGit {
            url: g.url.clone(),
            reference: g.reference.clone(),
            kind: RefKind::Branch,
            resolved: None,
            commit: sha256(&format!("{}{:?}{}", g.url, g.reference, salt_of(&g.url)))[7..47]
                .to_string(),
            build_requires: config
                .projects
                .iter()
                .filter(|p| &p.git == g)
                .map(|p| {
                    let dir = p.subdir.as_deref().unwrap_or(wheelbuild::lock::ROOT_DIR);
                    (dir.to_string(), Vec::new())
                })
                .collect(),
            build_backend: Default::default(),
            dynamic_requires: Default::default(),
            dependencies: Default::default(),
        })
        .collect();
    // Synthetic resolutions: one pin per request, so that a new request is a new pin.
    let environments = wheelbuild::lock::distinct_environments(config, &git)
        .expect("every project directory is read")
        .into_iter()
        .map(|e| {
            let digest = sha256(&format!(
                "{}{}",
                e.image.reference,
                salt_of(&e.image.reference)
            ));
            LockedEnvironment {
                image: e.image.reference.clone(),
                platform: e.image.platform.to_string(),
                resolved_from: e.resolved_from(&digest, config.pip_index()),
                facts: Facts::default(),
                packages: e
                    .pip
                    .iter()
                    .map(|spec| PipPin {
                        name: spec.clone(),
                        version: "1".into(),
                        file: format!("{spec}.whl"),
                        sha256: sha256(spec)[7..].to_string(),
                    })
                    .collect(),
                debs: e
                    .apt
                    .iter()
                    .map(|name| AptPin {
                        name: name.clone(),
                        version: "1".into(),
                    })
                    .collect(),
                pip: e.pip,
                apt: e.apt,
                ..LockedEnvironment::default()
            }
        })
        .collect();
    Lockfile::new(
        wheelbuild::lock::lock_inputs(config),
        images,
        git,
        environments,
    )
}

fn keys(config: &Config, lock: &Lockfile) -> BTreeMap<String, String> {
    config
        .targets
        .iter()
        .map(|t| {
            let p = &config.projects[t.project];
            let (image, git) = (lock.image(&t.image).unwrap(), lock.git(&p.git).unwrap());
            let env = EnvironmentInput::of(t, &[]).map(|e| {
                lock.current_environment(&e, config)
                    .expect("lock_for resolves every environment")
            });
            let inputs = KeyInputs::of(config, t, image, git, env);
            let key = inputs.key();
            // `plan` hashes borrowed inputs; they must agree with the owned ones records keep.
            assert_eq!(inputs.into_owned().key(), key);
            (t.id.clone(), key.0)
        })
        .collect()
}

fn parse(text: &str) -> Config {
    Config::parse(Path::new("wheelbuild.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn keys_of(m: &Model, s: Style) -> BTreeMap<String, String> {
    let c = parse(&render(m, s));
    keys(&c, &lock_for(&c, &BTreeMap::new()))
}

/// Ids of targets whose key differs (or which exist in only one map).
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut ids: Vec<String> = a
        .iter()
        .filter(|(id, k)| b.get(*id) != Some(k))
        .map(|(id, _)| id.clone())
        .collect();
    ids.extend(b.keys().filter(|id| !a.contains_key(*id)).cloned());
    ids.sort();
    ids
}

fn ids_of_project(keys: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    keys.keys()
        .filter(|id| id.starts_with(&format!("{name}/")))
        .cloned()
        .collect()
}

const PLAIN: Style = Style {
    comments: false,
    reversed_fields: false,
    env_as_table: false,
    crlf: false,
    padding: false,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn formatting_changes_no_key(m in model(), s in style()) {
        prop_assert_eq!(keys_of(&m, PLAIN), keys_of(&m, s));
    }

    #[test]
    fn non_key_env_changes_no_key(m in model(), which in any::<prop::sample::Index>(), jobs in 1u8..64) {
        let mut m2 = m.clone();
        let i = which.index(m2.projects.len());
        m2.projects[i].max_jobs = Some(jobs);
        prop_assert_eq!(keys_of(&m, PLAIN), keys_of(&m2, PLAIN));
    }

    #[test]
    fn a_project_field_change_changes_exactly_that_projects_keys(
        m in model(),
        which in any::<prop::sample::Index>(),
        field in 0..8usize,
    ) {
        let mut m2 = m.clone();
        let i = which.index(m2.projects.len());
        let p = &mut m2.projects[i];
        match field {
            0 => p.build = Some(format!("{} --changed", p.build.clone().unwrap_or_default())),
            1 => p.pip.push("zz-extra".into()),
            2 => p.apt.push("zz-extra".into()),
            3 => { p.env.insert("CFLAGS_X".into(), "changed".into()); }
            4 => p.gpu = !p.gpu,
            5 => p.toolchain_check = Some(format!("{} changed", p.toolchain_check.clone().unwrap_or_default())),
            6 => p.subdir = Some(format!("{}x", p.subdir.clone().unwrap_or_default())),
            _ => { p.env.insert("TORCH_CUDA_ARCH_LIST".into(), "9.0".into()); }
        }
        // Every mutation above yields a value the generators cannot produce, so it is a
        // real change.
        let (before, after) = (keys_of(&m, PLAIN), keys_of(&m2, PLAIN));
        prop_assert_eq!(changed(&before, &after), ids_of_project(&before, &m.projects[i].name));
    }

    #[test]
    fn a_moved_git_ref_changes_exactly_its_users(m in model(), repo in 0..3usize) {
        let c = parse(&render(&m, PLAIN));
        let before = keys(&c, &lock_for(&c, &BTreeMap::new()));
        let url = format!("https://git.test/repo{repo}.git");
        let after = keys(&c, &lock_for(&c, &BTreeMap::from([(url.clone(), "moved".to_string())])));
        let mut expected: Vec<String> = c
            .targets
            .iter()
            .filter(|t| c.projects[t.project].git.url == url)
            .map(|t| t.id.clone())
            .collect();
        expected.sort();
        prop_assert_eq!(changed(&before, &after), expected);
    }

    #[test]
    fn a_new_image_digest_changes_exactly_its_users(m in model(), which in any::<prop::sample::Index>()) {
        let c = parse(&render(&m, PLAIN));
        let images: Vec<_> = c.distinct_images().cloned().collect();
        let image = images[which.index(images.len())].clone();
        let before = keys(&c, &lock_for(&c, &BTreeMap::new()));
        let after = keys(&c, &lock_for(&c, &BTreeMap::from([(image.reference.clone(), "new".to_string())])));
        let mut expected: Vec<String> = c.targets.iter().filter(|t| *t.image == image).map(|t| t.id.clone()).collect();
        expected.sort();
        prop_assert_eq!(changed(&before, &after), expected);
    }

    #[test]
    fn adding_a_project_changes_no_existing_key(m in model(), extra in project(9)) {
        let mut m2 = m.clone();
        m2.projects.push(extra);
        let (before, after) = (keys_of(&m, PLAIN), keys_of(&m2, PLAIN));
        prop_assert_eq!(changed(&before, &after), ids_of_project(&after, "p9"));
    }

    #[test]
    fn every_target_key_is_distinct_per_cell(m in model()) {
        // Cells of one project differ in their axes, so their keys must too.
        let k = keys_of(&m, PLAIN);
        for p in &m.projects {
            let ids = ids_of_project(&k, &p.name);
            let mut values: Vec<_> = ids.iter().map(|id| &k[id]).collect();
            values.sort();
            values.dedup();
            prop_assert_eq!(values.len(), ids.len());
        }
    }
}
