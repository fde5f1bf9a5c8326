//! User-facing errors of the CLI: what, where, hint, and the exit code.

use crate::common::Project;
use crate::support::test;
use crate::wb_snapshot;

const CONFIG: &str = r#"[matrix]
python = ["3.11"]
cuda = ["cpu"]

[image]
template = "127.0.0.1:1/wb/base:py{python}"

[[project]]
name = "hello"
git = "repo"
ref = "main"
"#;

#[test]
fn unknown_key_points_at_it_and_suggests() {
    let p = Project::new(&CONFIG.replace("ref = ", "reff = "));
    wb_snapshot!(p, ["lock"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: unknown field `reff`
      --> wheelbuild.toml:11:1
       |
    11 | reff = "main"
       | ^^^^
      hint: did you mean `ref`?
    "#);
}

#[test]
fn template_axis_missing_in_a_cell_names_the_cell() {
    let p = Project::new(&CONFIG.replace("py{python}", "cuda{cuda}"));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: the image reference uses `{cuda}`, which cell python=3.11, cuda=cpu does not define
     --> wheelbuild.toml:6:37
      |
    6 | template = "127.0.0.1:1/wb/base:cuda{cuda}"
      |                                     ^
      hint: `{cuda}` exists only for `cudaX.Y` cells; restrict this with `[[image.select]]`, a project `matrix`, or use `{variant}`
    "#);
}

#[test]
fn missing_config_has_a_hint() {
    let p = Project::new(CONFIG);
    std::fs::remove_file(p.file("wheelbuild.toml")).unwrap();
    let out = p.run(&["plan"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read config file wheelbuild.toml"),
        "{err}"
    );
    assert!(err.contains("hint: create a wheelbuild.toml"), "{err}");
}

#[test]
fn config_is_found_in_a_parent_directory() {
    let p = Project::new(&CONFIG.replace("ref = ", "reff = "));
    std::fs::create_dir(p.file("sub")).unwrap();
    let out = p
        .cmd()
        .current_dir(p.file("sub"))
        .arg("plan")
        .output()
        .unwrap();
    let err = p.filter(&String::from_utf8_lossy(&out.stderr));
    assert!(err.contains("--> [PROJECT]/wheelbuild.toml:11:1"), "{err}");
}

#[test]
fn plan_without_a_lock_exits_12_with_a_hint() {
    let p = Project::new(CONFIG);
    wb_snapshot!(p, ["plan"], @r"
    success: false
    exit_code: 12
    ----- stdout -----

    ----- stderr -----
    error: no lockfile at wheelbuild.lock
      hint: run `wheelbuild lock` to create it
    ");
    let out = p.run(&["--locked", "check"]);
    assert_eq!(out.status.code(), Some(12));
}

#[test]
fn corrupt_lock_is_a_clear_error_not_a_panic() {
    let p = Project::new(CONFIG);
    p.write(
        "wheelbuild.lock",
        "version = 1\ninputs = \"blake3:00\"\n\n[[image]]\nreference = 3\n",
    );
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: wheelbuild.lock is corrupt: invalid type: integer `3`, expected a string
     --> wheelbuild.lock:5:13
      |
    5 | reference = 3
      |             ^
      hint: the lock is generated: restore it from version control, or delete it and run `wheelbuild lock`
    "#);
    p.write("wheelbuild.lock", "\u{0}\u{1}garbage[[[");
    let out = p.run(&["lock", "--offline"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is corrupt"));
    p.write("wheelbuild.lock", "version = 99\n");
    let out = p.run(&["lock", "--offline"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("written by a newer wheelbuild"));
}

#[test]
fn offline_lock_refuses_to_resolve() {
    let p = Project::new(CONFIG);
    wb_snapshot!(p, ["lock", "--offline"], @r"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: image `127.0.0.1:1/wb/base:py3.11` (linux/amd64) is not pinned in the lock, and --offline forbids resolving it
      hint: run `wheelbuild lock` with network access first
    ");
    assert!(!p.file("wheelbuild.lock").exists());
}

#[test]
fn registry_down_is_unavailable_and_names_the_config_line() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let p = Project::new(&CONFIG.replace("git = \"repo\"", "git = \"/nonexistent/repo\""));
    let out = p.run(&["lock"]);
    let text = p.snapshot(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad repo path is the user's to fix\n{text}"
    );
    assert!(
        text.contains("error: 2 inputs could not be resolved"),
        "{text}"
    );
    assert!(
        text.contains("error: image `127.0.0.1:1/wb/base:py3.11` (linux/amd64): registry 127.0.0.1:1 is unavailable"),
        "{text}"
    );
    assert!(text.contains("--> wheelbuild.toml:6:12"), "{text}");
    assert!(
        text.contains("hint: check that the registry is running"),
        "{text}"
    );
    assert!(
        text.contains("error: git `/nonexistent/repo` at `main`: cannot read git repository"),
        "{text}"
    );
    assert!(
        !p.file("wheelbuild.lock").exists(),
        "nothing written on failure"
    );
}

#[test]
fn registry_down_alone_exits_3() {
    let repo = crate::support::git::GitRepo::new();
    repo.commit("a.txt", "a", "init");
    let p =
        Project::new(&CONFIG.replace("git = \"repo\"", &format!("git = \"{}\"", repo.file_url())));
    let out = p.run(&["lock"]);
    assert_eq!(out.status.code(), Some(3), "{}", p.snapshot(&out));
}

#[test]
fn update_of_an_unknown_name_suggests() {
    let p = Project::new(CONFIG);
    wb_snapshot!(p, ["lock", "--update", "helo"], @r"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: `helo` is neither a project, an image nor a pip package of the config
      hint: did you mean `hello`?
    ");
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::new(CONFIG);
    let out = p.run(&["plan", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = p.run(&["--locked", "lock", "--update", "hello"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--locked cannot be combined with --update")
    );
    let out = p.run(&["audit", "--allow", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kinds: lock-missing"));
}

/// Regression: a config that is not UTF-8 failed without saying where.
#[test]
fn a_non_utf8_config_names_the_line() {
    let p = Project::new(CONFIG);
    let mut bytes = CONFIG.as_bytes().to_vec();
    let at = CONFIG.find("hello").unwrap() + 2;
    bytes[at] = 0xff;
    std::fs::write(p.file("wheelbuild.toml"), bytes).unwrap();
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: the config file is not UTF-8 text
     --> wheelbuild.toml:9:11
      |
    9 | name = "he�lo"
      |           ^
      hint: TOML files are UTF-8: re-save the file as UTF-8
    "#);
}

/// Regression: binary garbage in the lock was exit 3 ("unavailable") without a hint.
#[test]
fn a_lock_of_binary_garbage_is_a_user_error_with_a_hint() {
    let p = Project::new(CONFIG);
    std::fs::write(
        p.file("wheelbuild.lock"),
        b"version = 1\n\x9f\x92\x96garbage",
    )
    .unwrap();
    wb_snapshot!(p, ["plan"], @"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: wheelbuild.lock is corrupt: not UTF-8 text
     --> wheelbuild.lock:2:1
      |
    2 | ���garbage
      | ^
      hint: the lock is generated: restore it from version control, or delete it and run `wheelbuild lock`
    ");
}

/// Regression: a project name of 65,536+ characters panicked (exit 70).
#[test]
fn a_65536_character_project_name_is_a_config_error_not_a_panic() {
    let name = "p".repeat(65_536);
    let p = Project::new(&CONFIG.replace("name = \"hello\"", &format!("name = \"{name}\"")));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid project name `pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp…`
     --> wheelbuild.toml:9:8
      |
    9 | name = "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp…
      |        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: it has 65536 characters; names become file names, at most 64
    "#);
}

#[test]
fn network_timeouts_are_whole_seconds() {
    let p = Project::new(&format!("[network]\nrequest-timeout = 0\n\n{CONFIG}"));
    wb_snapshot!(p, ["plan"], @r"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: network.request-timeout must be at least 1 second
     --> wheelbuild.toml:2:19
      |
    2 | request-timeout = 0
      |                   ^
      hint: give whole seconds, e.g. `request-timeout = 60`
    ");

    let p = Project::new(CONFIG);
    let out = p
        .cmd()
        .env("WHEELBUILD_CONNECT_TIMEOUT", "soon")
        .arg("lock")
        .output()
        .unwrap();
    insta::assert_snapshot!(p.snapshot(&out), @r"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: environment variable WHEELBUILD_CONNECT_TIMEOUT=soon: a timeout is whole seconds, at least 1
      hint: e.g. WHEELBUILD_CONNECT_TIMEOUT=60, or unset it for the config's `[network]` setting or the default
    ");
}

#[test]
fn a_ca_bundle_that_does_not_exist_is_a_config_error_at_its_line() {
    let p = Project::new(&format!(
        "{CONFIG}\n[build]\nca-certificates = \"/nonexistent/proxy-ca.pem\"\n"
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: the CA bundle `/nonexistent/proxy-ca.pem` is not a file on this machine
      --> wheelbuild.toml:14:19
       |
    14 | ca-certificates = "/nonexistent/proxy-ca.pem"
       |                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: give a PEM bundle such as `/etc/ssl/certs/ca-certificates.crt`
    "#);
}

#[test]
fn index_credentials_written_into_the_config_are_refused_without_quoting_them() {
    let p = Project::new(&format!(
        "{CONFIG}\n[pip]\nindex-url = \"https://ci:s3cret@idx.example/simple\"\n"
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: pip.index-url has credentials written into it
      --> wheelbuild.toml:14:13
       |
    14 | index-url = "https://*********@idx.example/simple"
       |             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: refer to environment variables instead, e.g. `https://${INDEX_USER}:${INDEX_TOKEN}@host/simple`: they are expanded only inside the containers
    "#);
    let out = p.run(&["plan"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn an_index_url_naming_an_unset_variable_fails_lock_naming_it() {
    let p = Project::new(&format!(
        "{CONFIG}\n[pip]\nindex-url = \"https://${{WB_TEST_UNSET_TOKEN}}@idx.example/simple\"\n"
    ));
    // `plan` starts no container: it needs no credentials.
    let out = p.run(&["plan"]);
    assert_ne!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    wb_snapshot!(p, ["lock", "--offline"], @"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: pip.index-url refers to `${WB_TEST_UNSET_TOKEN}`, which is not set in wheelbuild's environment
      hint: export WB_TEST_UNSET_TOKEN before running wheelbuild (its value is passed to the containers only)
    ");
}

#[test]
fn a_remote_url_with_a_scheme_or_a_bad_trusted_key_is_refused_with_its_location() {
    let p = Project::new(&format!(
        "{CONFIG}\n[remote]\nurl = \"https://registry.example.com/team/cache\"\n"
    ));
    let out = p.run(&["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("remote.url `https://registry.example.com/team/cache` is not `registry[:port]/repository`")
            && err.contains("wheelbuild.toml:14:7"),
        "{err}"
    );
    let p = Project::new(&format!(
        "{CONFIG}\n[remote]\nurl = \"registry.example.com/team/cache\"\ntrusted-keys = [\"ci:c2hvcnQ=\"]\n"
    ));
    let out = p.run(&["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("remote.trusted-keys: `ci:…` is not a key: a public key is 32 bytes"),
        "{err}"
    );
}

#[test]
fn a_repair_exclude_with_a_path_points_at_it() {
    let p = Project::new(&CONFIG.replace(
        "ref = \"main\"\n",
        "ref = \"main\"\nrepair-exclude = [\"libfoo.so.*\", \"/usr/lib/libbar.so.1\"]\n",
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid repair-exclude `/usr/lib/libbar.so.1`
      --> wheelbuild.toml:12:34
       |
    12 | repair-exclude = ["libfoo.so.*", "/usr/lib/libbar.so.1"]
       |                                  ^^^^^^^^^^^^^^^^^^^^^^
      hint: an exclude is a SONAME glob such as `libfoo.so.*`, without a path
    "#);
}

#[test]
fn an_unknown_repair_tool_lists_the_known_ones() {
    let p = Project::new(&format!("repair = \"patchelf\"\n{CONFIG}"));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: unknown variant `patchelf`
     --> wheelbuild.toml:1:10
      |
    1 | repair = "patchelf"
      |          ^^^^^^^^^^
      hint: expected one of `auditwheel`, `none`
    "#);
}

#[test]
fn a_local_version_template_giving_an_invalid_label_points_at_it() {
    let p = Project::new(&format!(
        "{CONFIG}\n[output]\nlocal-version = \"{{accel}}!{{python}}\"\n"
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: output.local-version gives `cpu!3.11` in cell python=3.11, cuda=cpu, which is not a PEP 440 local version label
      --> wheelbuild.toml:14:17
       |
    14 | local-version = "{accel}!{python}"
       |                 ^^^^^^^^^^^^^^^^^^
      hint: a local version label is ASCII letters and digits, in segments separated by `.`, e.g. `{accel}` → `cu118`
    "#);
}

#[test]
fn a_variant_property_of_an_undeclared_namespace_names_the_providers() {
    let p = Project::new(&format!(
        "{}\n[variants.providers.nvidia]\nrequires = [\"nvidia-variant-provider>=0.0.1,<1.0.0\"]\n",
        CONFIG.replace(
            "ref = \"main\"\n",
            "ref = \"main\"\nvariant = { \"amd :: gfx_arch\" = \"gfx90a\" }\n"
        )
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: variant namespace `amd` has no provider
      --> wheelbuild.toml:12:13
       |
    12 | variant = { "amd :: gfx_arch" = "gfx90a" }
       |             ^^^^^^^^^^^^^^^^^
      hint: declare `[variants.providers.amd]`; declared: `nvidia`
    "#);
}

#[test]
fn a_misspelt_output_index_suggests_variants() {
    let p = Project::new(&format!("{CONFIG}\n[output]\nindex = \"varients\"\n"));
    wb_snapshot!(p, ["index"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: unknown variant `varients`
      --> wheelbuild.toml:14:9
       |
    14 | index = "varients"
       |         ^^^^^^^^^^
      hint: did you mean `variants`?
    "#);
}

/// The NVIDIA provider under the name variantlib's docs gave: uv 0.13.8 skips it, so no
/// CUDA variant ever fits. The config is valid; the warning says how uv names it.
#[test]
fn a_provider_name_no_installer_knows_is_warned_about() {
    let p = Project::new(&format!(
        "{}\n[variants.providers.nvidia]\nrequires = [\"nvidia-variant-provider>=0.0.1,<1.0.0\"]\n\
         plugin-api = \"nvidia_variant_provider.plugin:NVIDIAVariantPlugin\"\n\
         [variants.providers.blas]\nrequires = [\"blas-variant-provider\"]\n",
        CONFIG.replace(
            "ref = \"main\"\n",
            "ref = \"main\"\nvariant = { \"nvidia :: cuda_version_lower_bound\" = \"{cuda}\" }\n"
        )
    ));
    wb_snapshot!(p, ["index"], @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    VARIANT  PROJECTS  WHEELS  INDEX
    cpu             0       0  wheelhouse/index/cpu/simple
    2 page(s) written, 0 unchanged, 0 removed; 0 wheel(s) left out

    ----- stderr -----
    warning: no known installer vendors this provider of `blas`: they skip it, and install only variants without `blas` properties
      --> wheelbuild.toml:18:12
       |
    18 | requires = ["blas-variant-provider"]
       |            ^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: known installers vendor providers for `aarch64`, `nvidia`, `tpu`, `x86_64` only; a variant with `blas` properties needs an installer that runs provider plugins
    warning: no known installer vendors this provider of `nvidia`: they skip it, and install only variants without `nvidia` properties
      --> wheelbuild.toml:16:14
       |
    16 | plugin-api = "nvidia_variant_provider.plugin:NVIDIAVariantPlugin"
       |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: uv 0.13.8 vendors it as `requires = ["nvidia-variant-provider>=0.0.1,<1.0.0"]`, `plugin-api = "nvidia_variant_provider.plugin:NvidiaVariantPlugin"`
         Indexed cpu: 0 project(s), 0 wheel(s) in wheelhouse/index/cpu/simple (2 page(s) written)
    "#);
}

#[test]
fn variant_labels_that_hide_different_properties_are_refused() {
    let p = Project::new(&format!(
        "{}\n[variants]\nlabel = \"gpu\"\n[variants.providers.x86_64]\nrequires = [\"provider-variant-x86-64\"]\n",
        CONFIG
            .replace("python = [\"3.11\"]", "python = [\"3.10\", \"3.11\"]")
            .replace(
                "ref = \"main\"\n",
                "ref = \"main\"\nvariant = { \"x86_64 :: level\" = \"v{py}\" }\n"
            )
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: hello/py3.10-cpu and hello/py3.11-cpu get variant label `gpu` for different properties
      --> wheelbuild.toml:12:11
       |
    12 | variant = { "x86_64 :: level" = "v{py}" }
       |           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: make `variants.label` tell apart the cells whose properties differ (e.g. `{accel}`), or give them the same properties
    "#);
}

#[test]
fn an_engine_over_tcp_without_tls_is_refused() {
    let p = Project::new(&format!(
        "{CONFIG}\n[[engine]]\nname = \"gpu1\"\nhost = \"tcp://10.0.0.7:2375\"\n"
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: engine `gpu1` is reached over tcp:// without `tls`
      --> wheelbuild.toml:15:8
       |
    15 | host = "tcp://10.0.0.7:2375"
       |        ^^^^^^^^^^^^^^^^^^^^^
      hint: a Docker engine over plain TCP gives root to anyone who reaches it: give `tls = "DIR"` with ca.pem, cert.pem and key.pem, or use ssh://
    "#);
}

/// bollard's ssh transport passes `user@host:port` to `ssh` as the destination, which
/// ssh takes as a host name: refused when the config is read, not as exit 3 at build.
#[test]
fn an_ssh_engine_with_a_port_is_refused_with_the_ssh_config_way() {
    let p = Project::new(&format!(
        "{CONFIG}\n[[engine]]\nname = \"gpu1\"\nhost = \"ssh://builder@gpu1:2222\"\n"
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: engine `gpu1`: ssh:// with a port (`ssh://builder@gpu1:2222`) does not reach ssh as one
      --> wheelbuild.toml:15:8
       |
    15 | host = "ssh://builder@gpu1:2222"
       |        ^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: the ssh transport hands `user@host:port` to `ssh` as the host name: give the machine a `Host` entry in ~/.ssh/config with `Port 2222` and name that (`ssh://builder@gpu1`)
    "#);
}

#[test]
fn a_tls_directory_without_the_client_certificate_names_what_is_missing() {
    let p = Project::new(&format!(
        "{CONFIG}\n[[engine]]\nname = \"gpu1\"\nhost = \"tcp://10.0.0.7:2376\"\ntls = \"certs\"\n"
    ));
    std::fs::create_dir(p.file("certs")).unwrap();
    p.write("certs/ca.pem", "not checked here\n");
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: the TLS directory `certs` lacks `cert.pem`, `key.pem`
      --> wheelbuild.toml:16:7
       |
    16 | tls = "certs"
       |       ^^^^^^^
      hint: it holds the engine's CA (ca.pem) and this client's certificate and key (cert.pem, key.pem), as DOCKER_CERT_PATH does
    "#);
}

#[test]
fn a_gpu_target_with_no_gpu_engine_in_the_pool_is_a_plan_time_error() {
    let p = Project::new(&format!(
        "{}\n[[engine]]\nname = \"cpu1\"\nhost = \"unix:///run/cpu1.sock\"\n\n[[engine]]\nname = \"arm\"\nhost = \"ssh://builder@arm1\"\nplatforms = [\"linux/arm64\"]\n",
        CONFIG.replace("ref = \"main\"\n", "ref = \"main\"\ngpu = true\n")
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: no engine can build hello/py3.11-cpu: it needs a GPU engine for linux/amd64
      --> wheelbuild.toml:11:7
       |
    11 | ref = "main"
       |       ^^^^^^
      hint: the engines are `cpu1` (linux/amd64), `arm` (linux/arm64); add one (`[[engine]]` with `gpu = true` or `platforms`), or restrict the project
    "#);
}

#[test]
fn an_arm64_cell_with_neither_an_arm64_engine_nor_emulation_is_a_plan_time_error() {
    let arm64 = CONFIG.replace("template = ", "platform = \"linux/arm64\"\ntemplate = ");
    // The default engine runs this machine's platform: before any lock or container.
    let p = Project::new(&arm64);
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: no engine can build hello/py3.11-cpu: it needs an engine for linux/arm64, and the default engine runs linux/amd64
     --> wheelbuild.toml:7:12
      |
    7 | template = "127.0.0.1:1/wb/base:py{python}"
      |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: set `[build] emulate = true` to run it under qemu-user-static (registered with binfmt_misc on the engine's machine: `apt-get install qemu-user-static`), or declare an `[[engine]]` with `platforms = ["linux/arm64"]`
    "#);
    let out = p.run(&["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", p.snapshot(&out));
    assert!(!p.file("wheelbuild.lock").exists());
    // A pool without an arm64 engine, none of which may emulate.
    let p = Project::new(&format!(
        "{arm64}\n[[engine]]\nname = \"cpu1\"\nhost = \"unix:///run/cpu1.sock\"\n"
    ));
    wb_snapshot!(p, ["plan"], @r#"
    success: false
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: no engine can build hello/py3.11-cpu: it needs an engine for linux/arm64
     --> wheelbuild.toml:7:12
      |
    7 | template = "127.0.0.1:1/wb/base:py{python}"
      |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: the engines are `cpu1` (linux/amd64); add one (`[[engine]]` with `platforms`), let one run it under qemu-user-static (`emulate = true`), or restrict the project
    "#);
}
