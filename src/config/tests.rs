use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::accel::Accel;
use crate::platform::Platform;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("wheelbuild.toml"), src)
}

fn err(src: &str) -> (String, Option<(usize, usize)>, Option<String>) {
    match parse(src) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => {
            let loc = e.location().map(|l| (l.line, l.col));
            (e.to_string(), loc, e.hint())
        }
    }
}

const BASE: &str = r#"
[matrix]
python = ["3.10", "3.11"]
cuda = ["cpu", "cuda12.4"]

[image]
template = "reg.example/base:py{python}-{variant}"

[[project]]
name = "hello"
git = "https://example.com/hello.git"
ref = "main"
"#;

#[test]
fn expands_the_matrix_in_canonical_order() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.axes, ["python", "cuda"]);
    let ids: Vec<_> = c.targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "hello/py3.10-cpu",
            "hello/py3.10-cuda12.4",
            "hello/py3.11-cpu",
            "hello/py3.11-cuda12.4"
        ]
    );
    let t = &c.targets[3];
    assert_eq!(t.image.reference, "reg.example/base:py3.11-cuda12.4");
    assert_eq!(t.image.platform.to_string(), "linux/amd64");
    assert_eq!(t.output_subdir, "py311/cu124/linux_x86_64");
    assert_eq!(c.targets[0].output_subdir, "py310/cpu/linux_x86_64");
    assert_eq!(t.build, DEFAULT_BUILD);
    assert_eq!(c.distinct_images().count(), 4);
    assert_eq!(c.distinct_git().count(), 1);
}

#[test]
fn cuda_defaults_to_cpu_and_user_axes_follow_builtins() {
    let c = parse(
        r#"
[matrix]
python = ["3.11"]
torch = ["2.4.0"]
axes = { tier = ["0", "2"], materials = ["off"] }
[image]
template = "img:{torch}-{tier}"
[[project]]
name = "p"
git = "."
"#,
    )
    .unwrap();
    assert_eq!(c.axes, ["python", "cuda", "torch", "materials", "tier"]);
    assert_eq!(
        c.targets[0].id,
        "p/py3.11-cpu-torch2.4.0-materials=off-tier=0"
    );
    assert_eq!(c.targets[1].image.reference, "img:2.4.0-2");
}

#[test]
fn unknown_key_names_location_and_suggests() {
    let src = BASE.replace("ref = \"main\"", "reff = \"main\"");
    let (msg, loc, hint) = err(&src);
    assert_eq!(msg, "unknown field `reff`");
    assert_eq!(loc, Some((12, 1)));
    assert_eq!(hint.as_deref(), Some("did you mean `ref`?"));

    let (msg, _, hint) = err(&BASE.replace("[matrix]", "[matirx]"));
    assert_eq!(msg, "unknown field `matirx`");
    assert_eq!(hint.as_deref(), Some("did you mean `matrix`?"));

    let (msg, _, hint) = err(&BASE.replace("python =", "pyhton ="));
    assert_eq!(msg, "unknown field `pyhton`");
    assert_eq!(hint.as_deref(), Some("did you mean `python`?"));
}

#[test]
fn missing_field_hint() {
    let (msg, loc, hint) = err(&BASE.replace("git = \"https://example.com/hello.git\"\n", ""));
    assert!(msg.contains("missing field `git`"), "{msg}");
    assert!(loc.is_some());
    assert_eq!(hint.as_deref(), Some("add `git = ...` to this table"));
}

#[test]
fn template_variable_missing_in_a_cell_names_the_cell() {
    let src = BASE.replace("py{python}-{variant}", "cuda{cuda}");
    let (msg, loc, hint) = err(&src);
    assert_eq!(
        msg,
        "the image reference uses `{cuda}`, which cell python=3.10, cuda=cpu does not define"
    );
    // Points at the placeholder inside the string.
    assert_eq!(loc, Some((7, 34)));
    assert!(hint.unwrap().contains("cudaX.Y"));
}

#[test]
fn template_variable_unknown_suggests() {
    let src = BASE.replace("py{python}-{variant}", "py{pyhton}");
    let (msg, _, hint) = err(&src);
    assert_eq!(msg, "the image reference uses unknown variable `{pyhton}`");
    assert_eq!(hint.as_deref(), Some("did you mean `{python}`?"));
}

#[test]
fn axis_values_are_validated_with_hints() {
    let (msg, loc, hint) = err(&BASE.replace("\"cuda12.4\"", "\"12.4\""));
    assert_eq!(msg, "invalid value `12.4` for axis `cuda`");
    assert_eq!(loc, Some((4, 16)));
    assert_eq!(hint.as_deref(), Some("write `cuda12.4` (or `rocm12.4`)"));
    let (_, _, hint) = err(&BASE.replace("\"cuda12.4\"", "\"cu124\""));
    assert_eq!(hint.as_deref(), Some("write `cuda12.4`"));
    let (msg, _, hint) = err(&BASE.replace("\"3.10\"", "\"3.10.4\""));
    assert_eq!(msg, "invalid value `3.10.4` for axis `python`");
    assert!(hint.unwrap().contains("`3.10`"));
    let (msg, _, _) = err(&BASE.replace("\"3.10\", ", "\"3.11\", "));
    assert!(msg.contains("appears twice"), "{msg}");
}

#[test]
fn accel_variants() {
    assert_eq!(Accel::parse("rocm6.2.4"), Ok(Accel::Rocm("6.2.4".into())));
    assert_eq!(Accel::parse("rocm6.2.4").unwrap().tag(), "rocm6.2.4");
    assert_eq!(Accel::parse("cuda11.8").unwrap().tag(), "cu118");
    assert_eq!(Accel::parse("cpu").unwrap().tag(), "cpu");
    assert!(Accel::parse("gpu").is_err());
}

#[test]
fn exclude_and_include() {
    let src = BASE.replace(
        "[[project]]",
        "[[matrix.exclude]]\npython = \"3.10\"\ncuda = \"cuda12.4\"\n\
         [[matrix.exclude]]\npython = \"3.11\"\ncuda = \"cpu\"\n\
         [[matrix.include]]\npython = \"3.12\"\ncuda = \"rocm6.2\"\n\n[[project]]",
    );
    let c = parse(&src).unwrap();
    let cells: Vec<_> = c.cells.iter().map(|c| c.name()).collect();
    assert_eq!(cells, ["py3.10-cpu", "py3.11-cuda12.4", "py3.12-rocm6.2"]);
    assert_eq!(c.targets[2].output_subdir, "py312/rocm6.2/linux_x86_64");
}

#[test]
fn exclude_must_name_real_axes_and_values() {
    let src = BASE.replace(
        "[[project]]",
        "[[matrix.exclude]]\ncuda = \"cuda12.8\"\n\n[[project]]",
    );
    let (msg, _, hint) = err(&src);
    assert_eq!(msg, "`cuda12.8` is not a value of axis `cuda`");
    assert_eq!(hint.as_deref(), Some("did you mean `cuda12.4`?"));
    let src = BASE.replace(
        "[[project]]",
        "[[matrix.exclude]]\ncdua = \"cpu\"\n\n[[project]]",
    );
    let (msg, _, hint) = err(&src);
    assert_eq!(msg, "unknown axis `cdua`");
    assert_eq!(hint.as_deref(), Some("did you mean `cuda`?"));
}

#[test]
fn include_must_give_every_axis() {
    let src = BASE.replace(
        "[[project]]",
        "[[matrix.include]]\npython = \"3.12\"\n\n[[project]]",
    );
    let (msg, loc, _) = err(&src);
    assert_eq!(msg, "include entry gives no value for axis `cuda`");
    assert!(loc.is_some());
}

#[test]
fn project_matrix_restriction_and_exclude() {
    let src = format!(
        "{BASE}matrix = {{ cuda = [\"cuda12.4\"] }}\n\n[[project]]\nname = \"other\"\ngit = \"x\"\n\
         exclude = [{{ python = \"3.10\" }}]\n"
    );
    let c = parse(&src).unwrap();
    let ids: Vec<_> = c.targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "hello/py3.10-cuda12.4",
            "hello/py3.11-cuda12.4",
            "other/py3.11-cpu",
            "other/py3.11-cuda12.4"
        ]
    );
    let (msg, _, _) = err(&format!("{BASE}matrix = {{ cuda = [\"cuda9.0\"] }}\n"));
    assert_eq!(msg, "`cuda9.0` is not a value of axis `cuda`");
    let (msg, _, _) = err(&format!(
        "{BASE}matrix = {{ cuda = [\"cuda12.4\"], python = [] }}\n"
    ));
    assert_eq!(msg, "project `hello` matches no cell of the matrix");
}

#[test]
fn explicit_image_mapping_first_match_wins() {
    let src = r#"
[matrix]
python = ["3.10"]
cuda = ["cuda11.8", "cuda12.1"]
torch = ["2.3.0"]

[image]
platform = "linux/arm64"

[[image.select]]
when = { torch = "2.3.0", cuda = "cuda12.1" }
ref = "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-devel"
platform = "linux/amd64"

[[image.select]]
when = { torch = "2.3.0" }
ref = "pytorch/pytorch:{torch}-cuda{cuda}-cudnn8-devel"

[[project]]
name = "p"
git = "."
"#;
    let c = parse(src).unwrap();
    let images: Vec<_> = c
        .targets
        .iter()
        .map(|t| format!("{} {}", t.image.reference, t.image.platform))
        .collect();
    assert_eq!(
        images,
        [
            "pytorch/pytorch:2.3.0-cuda11.8-cudnn8-devel linux/arm64",
            "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-devel linux/amd64"
        ]
    );
    assert_eq!(c.targets[0].output_subdir, "py310/cu118/linux_aarch64");

    let (msg, _, hint) = err(&src.replace("torch = [\"2.3.0\"]", "torch = [\"2.3.0\", \"2.4.0\"]"));
    assert_eq!(
        msg,
        "no base image for cell python=3.10, cuda=cuda11.8, torch=2.4.0"
    );
    assert!(hint.unwrap().contains("[[image.select]]"));
}

/// Regression: a `when` value that is no value of its axis (a typo) silently matched
/// nothing, and the cell fell through to `image.template`: a wrong base image.
#[test]
fn an_image_select_value_that_is_not_an_axis_value_is_refused() {
    let (msg, loc, hint) = err(r#"
[matrix]
python = ["3.11"]
cuda = ["cpu", "cuda12.4"]

[image]
template = "fallback:{python}"

[[image.select]]
when = { cuda = "cuda12.04" }
ref = "cuda-image:{python}"

[[project]]
name = "p"
git = "."
"#);
    assert_eq!(msg, "`cuda12.04` is not a value of axis `cuda`");
    assert_eq!(loc, Some((10, 17)));
    assert_eq!(hint.as_deref(), Some("did you mean `cuda12.4`?"));
}

#[test]
fn env_is_merged_and_validated() {
    let src = BASE.replace(
        "[matrix]",
        "env = { CFLAGS = \"-O2\", MAX_JOBS = \"4\" }\nnon-key-env = [\"MY_LOG\"]\n\n[matrix]",
    ) + "env = { CFLAGS = \"-O3\", TORCH_CUDA_ARCH_LIST = \"{cuda}\", MY_LOG = \"x\" }\nmatrix = { cuda = [\"cuda12.4\"] }\n";
    let c = parse(&src).unwrap();
    let env: BTreeMap<_, _> = c.targets[0].env.iter().cloned().collect();
    assert_eq!(env["CFLAGS"], "-O3");
    assert_eq!(env["MAX_JOBS"], "4");
    assert_eq!(env["TORCH_CUDA_ARCH_LIST"], "12.4");
    assert!(c.non_key_env.contains("MAX_JOBS"));
    assert!(c.non_key_env.contains("MY_LOG"));
    assert!(!c.non_key_env.contains("CFLAGS"));

    let (msg, _, _) = err(&(BASE.to_string() + "env = { WHEELBUILD_OUT = \"/x\" }\n"));
    assert_eq!(
        msg,
        "`WHEELBUILD_OUT` is set by wheelbuild and cannot be configured"
    );
    let (msg, _, _) = err(&(BASE.to_string() + "env = { \"1X\" = \"y\" }\n"));
    assert_eq!(msg, "invalid environment variable name `1X`");
}

#[test]
fn crlf_does_not_leak_into_commands() {
    let src = BASE.to_string() + "build = \"\"\"\nmake\nmake install\n\"\"\"\n";
    let lf = parse(&src).unwrap();
    let crlf = parse(&src.replace('\n', "\r\n")).unwrap();
    assert_eq!(lf.targets[0].build, "make\nmake install\n");
    assert_eq!(crlf.targets[0].build, lf.targets[0].build);
}

#[test]
fn names_and_paths_are_checked() {
    let (msg, _, _) = err(&BASE.replace("name = \"hello\"", "name = \"he llo\""));
    assert_eq!(msg, "invalid project name `he llo`");
    let src = BASE.to_string() + "subdir = \"../up\"\n";
    let (msg, _, _) = err(&src);
    assert_eq!(msg, "invalid subdir `../up`");
    let src = format!("{BASE}\n[[project]]\nname = \"hello\"\ngit = \"y\"\n");
    let (msg, loc, _) = err(&src);
    assert_eq!(msg, "project `hello` is declared twice");
    assert_eq!(loc.map(|l| l.0), Some(15));
    let src = BASE.replace("cuda = [\"cpu\", \"cuda12.4\"]", "axes = { py = [\"x\"] }");
    let (msg, _, _) = err(&src);
    assert_eq!(msg, "`py` is reserved and cannot be a user axis");
}

#[test]
fn platform_is_validated() {
    let src = BASE.replace("[image]", "[image]\nplatform = \"amd64\"");
    let (msg, loc, hint) = err(&src);
    assert_eq!(msg, "invalid platform `amd64`");
    assert_eq!(loc, Some((7, 12)));
    assert!(hint.unwrap().contains("os/arch"));
}

#[test]
fn read_error_has_a_hint() {
    let e = Config::load(Path::new("/nonexistent/wheelbuild.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read config file /nonexistent/wheelbuild.toml")
    );
    assert!(e.hint().unwrap().contains("--config"));
}

/// Regression: a 65,536-character name panicked later (a format width) and a 250+
/// character one failed at build time with "File name too long" and a permissions hint.
#[test]
fn overlong_names_are_config_errors() {
    for n in [65, 250, 70_000] {
        let long = "p".repeat(n);
        let (msg, loc, hint) =
            err(&BASE.replace("name = \"hello\"", &format!("name = \"{long}\"")));
        assert!(msg.starts_with("invalid project name `ppp"), "{msg}");
        assert!(
            msg.len() < 200,
            "long names are cut in messages: {}",
            msg.len()
        );
        assert_eq!(loc, Some((10, 8)));
        assert!(hint.unwrap().contains("at most 64"));
    }
    let (msg, loc, _) = err(&BASE.replace("\"cpu\", \"cuda12.4\"]", "\"cpu\"]\naxes = { tier = [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"] }"));
    assert!(msg.starts_with("invalid value `xxxx"), "{msg}");
    assert_eq!(loc.map(|l| l.0), Some(5));
    // Many axes of legal length can still make a cell name too long for a file name.
    let axes: Vec<String> = (0..5)
        .map(|i| format!("a{i} = [\"{}\"]", "v".repeat(60)))
        .collect();
    let (msg, _, hint) = err(&BASE.replace(
        "\"cpu\", \"cuda12.4\"]",
        &format!("\"cpu\"]\naxes = {{ {} }}", axes.join(", ")),
    ));
    assert!(msg.contains("more than 200"), "{msg}");
    assert!(hint.unwrap().contains("file names"));
}

/// Regression: `cache.channel = "../../x"` put build caches outside the cache directory.
#[test]
fn a_cache_channel_must_be_a_plain_name() {
    for bad in ["../../x", "a/b", "", ".hidden"] {
        let (msg, loc, _) = err(&format!("{BASE}\n[cache]\nchannel = \"{bad}\"\n"));
        assert_eq!(msg, format!("invalid cache channel `{bad}`"));
        assert_eq!(loc.map(|l| l.0), Some(15), "{bad}");
    }
    let c = parse(&format!("{BASE}\n[cache]\nchannel = \"nightly\"\n")).unwrap();
    assert_eq!(c.settings.cache.channel, "nightly");
}

/// Regression: targets that differ only in an axis the layout does not name wrote the same
/// wheelhouse path, last writer winning. The default layout names every axis with more
/// than one value; an explicit layout that merges two targets is an error.
#[test]
fn wheelhouse_directories_never_hold_two_targets_of_one_project() {
    let src = r#"
[matrix]
python = ["3.11"]
torch = ["2.4.0"]
axes = { tier = ["0", "2"], flags = ["on"] }

[image]
template = "img:{python}"

[[project]]
name = "atlas"
git = "."
"#;
    let c = parse(src).unwrap();
    let dirs: Vec<_> = c.targets.iter().map(|t| t.output_subdir.as_str()).collect();
    assert_eq!(
        dirs,
        [
            "py311/cpu/linux_x86_64/tier-0",
            "py311/cpu/linux_x86_64/tier-2"
        ],
        "single-valued axes (torch, flags) stay out of the default"
    );

    let (msg, loc, hint) = err(&format!(
        "{src}\n[output]\nlayout = \"py{{py}}/{{accel}}\"\n"
    ));
    assert_eq!(
        msg,
        "targets `atlas/py3.11-cpu-torch2.4.0-flags=on-tier=0` and `atlas/py3.11-cpu-torch2.4.0-flags=on-tier=2` would put their wheels in the same wheelhouse directory `py311/cpu`"
    );
    assert_eq!(loc, Some((15, 10)));
    assert_eq!(
        hint.as_deref(),
        Some(
            "add {tier} to `output.layout` so that each target of project `atlas` gets its own directory"
        )
    );
    // Two projects may share a directory: their wheels have different names.
    let two = format!("{src}\n[[project]]\nname = \"other\"\ngit = \".\"\n");
    assert!(parse(&two).is_ok());
}

/// Regression: an unparsable `cuda` value fell back to CPU silently wherever the
/// accelerator was needed; every cell now carries its parsed accelerator.
#[test]
fn every_cell_carries_its_parsed_accelerator() {
    let c = parse(&format!(
        "{BASE}\n[[matrix.include]]\npython = \"3.12\"\ncuda = \"rocm6.2\"\n"
    ))
    .unwrap();
    let accels: Vec<String> = c.cells.iter().map(|c| c.accel.to_string()).collect();
    assert_eq!(accels, ["cpu", "cuda12.4", "cpu", "cuda12.4", "rocm6.2"]);
}

#[test]
fn the_old_verify_key_says_what_it_became() {
    let (msg, _, hint) = err(&BASE.replace("ref = \"main\"", "ref = \"main\"\nverify = \"true\""));
    assert!(msg.starts_with("unknown field `verify`"), "{msg}");
    assert!(hint.unwrap().contains("`toolchain-check`"));
}

#[test]
fn network_timeouts_are_whole_seconds_of_at_least_one() {
    let c = parse(&format!("{BASE}\n[network]\nrequest-timeout = 5\n")).unwrap();
    let n = &c.settings.network;
    assert_eq!(n.request, Some(std::time::Duration::from_secs(5)));
    assert!(n.connect.is_none() && n.fetch.is_none());

    let (msg, loc, hint) = err(&format!("{BASE}\n[network]\nconnect-timeout = 0\n"));
    assert_eq!(msg, "network.connect-timeout must be at least 1 second");
    assert_eq!(loc, Some((15, 19)));
    assert_eq!(
        hint.as_deref(),
        Some("give whole seconds, e.g. `connect-timeout = 60`")
    );

    let (_, _, hint) = err(&format!("{BASE}\n[network]\nrequest-timout = 5\n"));
    assert_eq!(hint.as_deref(), Some("did you mean `request-timeout`?"));
}

/// Found by fuzzing: ten axes of ten values were expanded into ten billion cells, until
/// the process ran out of memory.
#[test]
fn a_matrix_of_ten_billion_cells_is_refused_not_built() {
    let axes: Vec<String> = "abcdefghij"
        .chars()
        .map(|a| format!("{a} = [\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]"))
        .collect();
    let src = format!(
        "[matrix]\npython = [\"3.11\"]\n\n[matrix.axes]\n{}\n\n[image]\ntemplate = \"python:{{python}}\"\n\n[[project]]\nname = \"x\"\ngit = \"https://example.com/x.git\"\nref = \"v1\"\n",
        axes.join("\n")
    );
    let (msg, loc, hint) = err(&src);
    assert_eq!(
        msg,
        "the matrix has 1 × 1 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 cells, more than 100000"
    );
    assert_eq!(loc, Some((1, 1)));
    assert!(hint.unwrap().contains("[[matrix.include]]"));
}

/// A record pulled from a remote names its target, which becomes a path in the store: every
/// id a config makes passes the rule, and nothing that leaves `targets/` does.
#[test]
fn target_ids_a_config_makes_pass_the_target_rule_and_paths_out_do_not() {
    let c = parse(
        r#"
[matrix]
python = ["3.10", "3.11"]
cuda = ["cpu", "cuda12.4", "rocm6.2.4"]
torch = ["2.4.0+cu124", "2.5.1"]
axes = { tier = ["0", "x_1.2"] }
[image]
template = "img:{torch}-{tier}"
[[project]]
name = "p.q_r-s"
git = "."
"#,
    )
    .unwrap();
    assert_eq!(c.targets.len(), 24);
    for t in &c.targets {
        assert_eq!(target_problem(&t.id), None, "{}", t.id);
    }
    for bad in [
        "../../../outside",
        "p/../../outside",
        "p/.hidden",
        "p/a/b",
        "/etc/p",
        "p",
        "p/",
        "../p",
        "p+q/py3.11-cpu",
        "p/py3.11-cpu\n",
    ] {
        assert!(target_problem(bad).is_some(), "{bad:?} passed");
    }
}

#[test]
fn config_settings_take_a_string_or_a_list_and_names_pip_can_pass() {
    let c = parse(
        &(BASE.to_string()
            + "config-settings = { build-dir = \"out\", \"setup-args\" = [\"-Da=1\", \"-Db=2\"] }\n"),
    )
    .unwrap();
    assert_eq!(c.projects[0].config_settings["build-dir"], ["out"]);
    assert_eq!(
        c.projects[0].config_settings["setup-args"],
        ["-Da=1", "-Db=2"]
    );

    let (msg, loc, hint) = err(&(BASE.to_string() + "config-settings = { \"a=b\" = \"c\" }\n"));
    assert_eq!(msg, "invalid config setting name `a=b`");
    assert_eq!(loc, Some((13, 21)));
    assert!(hint.unwrap().contains("without `=`"));
    let (msg, _, _) = err(&(BASE.to_string() + "config-settings = { x = [] }\n"));
    assert_eq!(msg, "invalid value of config setting `x`");
}

#[test]
fn channel_policies_default_by_name_and_the_config_overrides_them() {
    let c = parse(&format!(
        "{BASE}\n[cache]\nremote = \"redis://ci:${{PASS}}@cache:6379\"\n\n[cache.channels]\nrelease = \"isolated\"\npr = \"off\"\n"
    ))
    .unwrap();
    let cache = &c.settings.cache;
    assert_eq!(
        cache.remote.as_deref(),
        Some("redis://ci:${PASS}@cache:6379")
    );
    assert_eq!(cache.policy("ci"), ChannelPolicy::ReadWrite);
    assert_eq!(cache.policy("nightly"), ChannelPolicy::Isolated);
    assert_eq!(cache.policy("release"), ChannelPolicy::Isolated);
    assert_eq!(cache.policy("pr"), ChannelPolicy::Off);
    assert_eq!(cache.policy("other"), ChannelPolicy::Isolated);
    assert_eq!(ChannelPolicy::default_for("release"), ChannelPolicy::Off);
}

#[test]
fn a_compiler_cache_url_that_could_add_ccache_settings_is_refused() {
    for url in [
        "redis://cache|read-only=true",
        "ftp://cache",
        "redis://",
        "http://a b",
    ] {
        let (msg, loc, hint) = err(&format!("{BASE}\n[cache]\nremote = \"{url}\"\n"));
        assert_eq!(
            msg,
            format!("cache.remote `{url}` is not a compiler cache URL")
        );
        assert_eq!(loc.map(|l| l.0), Some(15), "{url}");
        assert!(hint.unwrap().contains("no spaces, no `|`"));
    }
}

#[test]
fn nvcc_keeps_its_files_in_accelerator_cells_unless_the_project_opts_out() {
    let keep = |c: &Config| -> Vec<bool> {
        c.targets
            .iter()
            .map(|t| {
                t.env
                    .iter()
                    .any(|(n, v)| n == "WHEELBUILD_NVCC_KEEP" && v == "1")
            })
            .collect()
    };
    assert_eq!(keep(&parse(BASE).unwrap()), [false, true, false, true]);
    let opted_out = parse(&format!("{BASE}deterministic-nvcc = false\n")).unwrap();
    assert_eq!(keep(&opted_out), [false; 4]);
}

#[test]
fn an_engine_emulates_as_build_emulate_says_unless_it_says_otherwise() {
    let arm = Platform::parse("linux/arm64").unwrap();
    let src = |build: &str| {
        format!(
            "{BASE}\n[build]\n{build}\n\n[[engine]]\nname = \"a\"\nhost = \"unix:///a.sock\"\n\n\
             [[engine]]\nname = \"b\"\nhost = \"unix:///b.sock\"\nemulate = false\n\n\
             [[engine]]\nname = \"c\"\nhost = \"unix:///c.sock\"\nplatforms = [\"linux/arm64\"]\n"
        )
    };
    let runs = |build: &str| -> Vec<Option<Runs>> {
        let c = parse(&src(build)).unwrap();
        c.settings
            .engines
            .iter()
            .map(|e| e.runs(&arm, false))
            .collect()
    };
    assert_eq!(runs(""), [None, None, Some(Runs::Native)]);
    assert_eq!(
        runs("emulate = true"),
        [Some(Runs::Emulated), None, Some(Runs::Native)]
    );
    // The default engine: this machine's platform, others only with `[build] emulate`.
    let arm64 = BASE.replace("[image]\n", "[image]\nplatform = \"linux/arm64\"\n");
    let e = parse(&arm64).unwrap().check_default_engine().unwrap_err();
    assert!(
        e.to_string().contains("it needs an engine for linux/arm64"),
        "{e}"
    );
    let emulated = arm64.replace("[[project]]", "[build]\nemulate = true\n\n[[project]]");
    parse(&emulated).unwrap().check_default_engine().unwrap();
}

#[test]
fn test_keys_expand_per_cell_and_test_skip_needs_a_reason_and_axes() {
    let c = parse(&format!(
        "test-command = \"pytest {{project}}/tests -k py{{python}}\"\ntest-requires = [\"numpy=={{python}}\"]\n\
         test-skip = [{{ cuda = \"cuda12.4\", reason = \"no GPU runner\" }}]\n{BASE}"
    ))
    .unwrap();
    let test = c.targets[0].test.as_deref().unwrap();
    assert_eq!(test.command, "pytest /wheelbuild/project/tests -k py3.10");
    assert_eq!(test.requires, ["numpy==3.10"]);
    let skipped: Vec<Option<&str>> = c
        .targets
        .iter()
        .map(|t| t.test.as_deref().unwrap().skip.as_deref())
        .collect();
    assert_eq!(
        skipped,
        [None, Some("no GPU runner"), None, Some("no GPU runner")]
    );

    let (msg, _, hint) = err(&format!(
        "test-command = \"true\"\ntest-skip = [{{ python = \"3.10\" }}]\n{BASE}"
    ));
    assert_eq!(msg, "a test-skip entry without a `reason`");
    assert!(hint.unwrap().contains("reason = "));
    let (msg, _, _) = err(&format!(
        "test-command = \"true\"\ntest-skip = [{{ pyhton = \"3.10\", reason = \"x\" }}]\n{BASE}"
    ));
    assert_eq!(msg, "test-skip names `pyhton`, which is not an axis");
}

#[test]
fn test_image_expands_per_cell_like_the_image_and_defaults_to_the_cells() {
    let c = parse(&format!("test-command = \"true\"\n{BASE}")).unwrap();
    let t = &c.targets[0];
    assert_eq!(t.test.as_deref().unwrap().image, t.image);
    assert_eq!(c.distinct_images().count(), 4);

    let slim = "test-image = \"reg.example/slim:py{python}\"\n";
    let c = parse(&format!("test-command = \"true\"\n{slim}{BASE}")).unwrap();
    let images: BTreeSet<&str> = c
        .targets
        .iter()
        .map(|t| t.test.as_deref().unwrap().image.reference.as_str())
        .collect();
    assert_eq!(
        images,
        ["reg.example/slim:py3.10", "reg.example/slim:py3.11"].into()
    );
    // Pinned in the lock beside the base images, on the cell's platform.
    assert_eq!(c.distinct_images().count(), 6);
    // A project's replaces the top level's.
    let own = BASE.replace(
        "ref = \"main\"",
        "ref = \"main\"\ntest-image = \"reg.example/own\"",
    );
    let c = parse(&format!("test-command = \"true\"\n{slim}{own}")).unwrap();
    let t = c.targets[0].test.as_deref().unwrap();
    assert_eq!(t.image.reference, "reg.example/own");

    let (msg, loc, hint) = err(&format!(
        "test-command = \"true\"\ntest-image = \"slim:py{{pyhton}}\"\n{BASE}"
    ));
    assert_eq!(msg, "the image reference uses unknown variable `{pyhton}`");
    assert_eq!(loc, Some((2, 22)));
    assert_eq!(hint.as_deref(), Some("did you mean `{python}`?"));
    let (msg, loc, _) = err(&format!(
        "test-command = \"true\"\ntest-image = \"slim py{{python}}\"\n{BASE}"
    ));
    assert_eq!(
        msg,
        "invalid image reference `slim py3.10` for cell python=3.10, cuda=cpu"
    );
    assert_eq!(loc, Some((2, 14)));
}
