//! Builds on a Docker engine whose filesystem is not this machine's (issue 10: with
//! `DOCKER_HOST=ssh://gpu1`, bind mounts of this machine's checkout and caches found
//! empty root-owned folders and the build failed with `ERROR: Directory '.' is not
//! installable`). The engine is `support::engine2`: a second dockerd in its own network
//! and mount namespaces, with this machine's temporary directories hidden, pulling the
//! base image by digest from the test's loopback registry.

use crate::common::*;
use crate::support::engine2::Engine2;
use crate::support::fixtures::{self, BaseImage, ImageKind, example_repo};
use crate::support::git::GitRepo;
use crate::support::test;

/// The CPU base image, the second engine (the image's loopback registry forwarded into
/// its namespace) and the C extension's repository.
fn setup() -> (BaseImage, Engine2, GitRepo) {
    let base = fixtures::base_image(ImageKind::Cpu);
    let engine = engine_for(&base);
    (base, engine, example_repo("hello-cext"))
}

/// The second engine, with `base`'s loopback registry forwarded into its namespace.
fn engine_for(base: &BaseImage) -> Engine2 {
    Engine2::for_image(base)
}

/// Regression (issue 10): the sources reach a build container through the Engine API,
/// not a host path, and the wheel is the one the main engine builds, byte for byte.
#[test]
fn a_build_on_an_engine_without_this_machines_files_gets_its_sources() {
    let (base, engine, cext) = setup();
    let config = config(
        &base.reference,
        "engine2-sources",
        "",
        &[project("hello-cext", &cext, "")],
    );
    let id = cpu("hello-cext");

    let here = new_project(&base, &config);
    ok(&here, &["lock"]);
    ok(&here, &["build"]);

    let there = new_project(&base, &config).with_env("DOCKER_HOST", &engine.host);
    ok(&there, &["lock"]);
    assert_eq!(key_of(&there, &id), key_of(&here, &id));
    let out = there.run(&["build", "--jobs", "1"]);
    insta::assert_snapshot!(snap(&there, &out), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TARGET                 STATUS       TIME  WHEELS
    hello-cext/py3.11-cpu  built [TIME]  wheelhouse/py311/cpu/linux_x86_64/hello_cext-0.1.0-cp311-cp311-linux_x86_64.whl
    1 target: 1 built, 0 cached, 0 failed in [TIME]

    ----- stderr -----
        Building hello-cext/py3.11-cpu
           Built hello-cext/py3.11-cpu in [TIME], ccache 0% hits (0/1): gcc 0/1
    ");
    assert_eq!(wheel_sha(&there, &id), wheel_sha(&here, &id));
    // It was built there: the engine pulled the base image by digest and made the cache
    // volumes, and this machine's checkout is not visible to it.
    engine.assert_has_image(&base.digest);
    let ccache = Project::cache_volume("ccache", &there.channel, "cpu");
    assert!(
        engine
            .docker(&["volume", "inspect", &ccache])
            .status
            .success()
    );
    let sources = there.file(".wheelbuild/cache/sources");
    assert!(sources.is_dir());
    let seen = engine.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/probe:ro", sources.display()),
        &base.pinned(),
        "sh",
        "-c",
        "ls -A /probe | wc -l",
    ]);
    assert_eq!(seen, "0", "the engine sees this machine's checkout");
}

/// The ccache volume of a channel and variant stays on the engine between builds: a
/// second key of the same sources compiles nothing, and the hit rate says so.
#[test]
fn the_ccache_volume_persists_on_the_engine_across_builds() {
    let (base, engine, cext) = setup();
    let with_salt = |salt: &str| {
        config(
            &base.reference,
            "engine2-ccache",
            "",
            &[project(
                "hello-cext",
                &cext,
                &format!("env = {{ WB_TEST_SALT = \"{salt}\" }}"),
            )],
        )
    };
    let id = cpu("hello-cext");
    let p = new_project(&base, &with_salt("1")).with_env("DOCKER_HOST", &engine.host);
    ok(&p, &["lock"]);
    let out = ok(&p, &["build"]);
    assert!(stderr(&out).contains("ccache 0% hits"), "{}", stderr(&out));
    let (hits, misses) = ccache_stats(&record(&p, &key_of(&p, &id)));
    assert_eq!((hits, misses > 0), (0, true));

    let volume = Project::cache_volume("ccache", &p.channel, "cpu");
    let files = volume_files(Some(&engine.host), &base.pinned(), &volume);
    assert!(
        !files.is_empty(),
        "nothing cached in {volume} on the engine"
    );
    // The build user owns the volume's root (a new volume's is root's).
    let owner = engine.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{volume}:/v:ro"),
        &base.pinned(),
        "stat",
        "-c",
        "%u:%g",
        "/v",
    ]);
    assert_eq!(owner, "1234:1234");

    p.write("wheelbuild.toml", &with_salt("2"));
    let out = ok(&p, &["build"]);
    assert_eq!(status_of(&out, &id), "built");
    let (hits, misses) = ccache_stats(&record(&p, &key_of(&p, &id)));
    assert!(hits > 0, "no ccache hit on the engine's volume");
    assert_eq!(misses, 0);
    assert!(
        stderr(&out).contains(&format!("ccache 100% hits ({hits}/{hits})")),
        "{}",
        stderr(&out)
    );
}

/// A CUDA extension (nvcc 11.8, no GPU needed to compile) builds on the second engine from
/// the CUDA fixture image, pulled there by digest, into the wheel the main engine builds.
#[test]
fn a_cuda_extension_builds_on_an_engine_without_this_machines_files() {
    let base = fixtures::base_image(ImageKind::Cuda);
    let engine = engine_for(&base);
    let cuda = example_repo("hello-cuda");
    let config = accel_config(
        &base.reference,
        "engine2-cuda",
        "cuda11.8",
        Some("nvcc --version | grep 'release {cuda}'"),
        &[project("hello-cuda", &cuda, "")],
    );
    let id = "hello-cuda/py3.11-cuda11.8";
    let here = new_project(&base, &config);
    ok(&here, &["lock"]);
    ok(&here, &["build"]);

    let there = new_project(&base, &config).with_env("DOCKER_HOST", &engine.host);
    ok(&there, &["lock"]);
    let out = ok(&there, &["build"]);
    assert_eq!(status_of(&out, id), "built");
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));
    assert!(
        read_log(&there, id).contains("Cuda compilation tools, release 11.8,"),
        "{}",
        read_log(&there, id)
    );
    assert_eq!(wheel_sha(&there, id), wheel_sha(&here, id));
}

/// `gc` lists the engine's cache volumes, and removes those of other channels and
/// variants only with `--prune-caches` (on the second engine: nobody else's caches are
/// there to lose).
#[test]
fn gc_lists_the_engines_cache_volumes_and_prunes_other_channels_only_when_asked() {
    let (base, engine, cext) = setup();
    let p = new_project(
        &base,
        &config(
            &base.reference,
            "engine2-gc",
            "",
            &[project("hello-cext", &cext, "")],
        ),
    )
    .with_env("DOCKER_HOST", &engine.host);
    ok(&p, &["lock"]);
    // As builds make them, and one of another channel (ended with this project's, so its
    // drop would find it too).
    let old_channel = format!("old.{}", p.channel);
    let volume = |kind: &str, channel: &str, variant: &str| {
        let name = Project::cache_volume(kind, channel, variant);
        engine.docker_ok(&[
            "volume",
            "create",
            "--label",
            &format!("org.wheelbuild.cache={kind}"),
            "--label",
            &format!("org.wheelbuild.channel={channel}"),
            "--label",
            &format!("org.wheelbuild.variant={variant}"),
            &name,
        ]);
        name
    };
    let ccache = volume("ccache", &p.channel, "cpu");
    let pip = volume("pip", &p.channel, "cpu");
    let old = volume("ccache", &old_channel, "cpu");
    let exists = |name: &str| engine.docker(&["volume", "inspect", name]).status.success();

    let filtered = |out: &std::process::Output| {
        p.filter(&stderr(out))
            .replace(&p.channel, "[CHANNEL]")
            .lines()
            .filter(|l| l.contains("cache volume"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let out = ok(&p, &["gc"]);
    insta::assert_snapshot!(filtered(&out), @"
    kept 2 cache volume(s) of this channel and its variants: wheelbuild-ccache-[CHANNEL]-cpu, wheelbuild-pip-[CHANNEL]-cpu
    1 cache volume(s) of other channels or variants (`--prune-caches` removes them): wheelbuild-ccache-old.[CHANNEL]-cpu
    ");
    assert!(exists(&old));

    let out = ok(&p, &["gc", "--prune-caches", "--dry-run"]);
    assert!(
        filtered(&out)
            .contains("Would remove 1 cache volume(s): wheelbuild-ccache-old.[CHANNEL]-cpu"),
        "{}",
        filtered(&out)
    );
    assert!(exists(&old));

    let out = ok(&p, &["gc", "--prune-caches"]);
    assert!(
        filtered(&out).contains("Removed 1 cache volume(s): wheelbuild-ccache-old.[CHANNEL]-cpu"),
        "{}",
        filtered(&out)
    );
    assert!(!exists(&old));
    assert!(exists(&ccache) && exists(&pip));
}

/// What cannot be sent into a container (here a FIFO in the shared checkout, which git
/// does not list) fails the build naming the file, before the container starts.
#[test]
fn a_checkout_holding_what_cannot_be_sent_fails_naming_it() {
    let base = fixtures::base_image(ImageKind::Cpu);
    let repo = pure_repo("unsendable", None);
    let config = |salt: &str| {
        config(
            &base.reference,
            "unsendable",
            "",
            &[project(
                "unsendable",
                &repo,
                &format!("env = {{ WB_TEST_SALT = \"{salt}\" }}"),
            )],
        )
    };
    let p = new_project(&base, &config("1"));
    ok(&p, &["lock"]);
    ok(&p, &["build"]);
    let sources = p.file(".wheelbuild/cache/sources");
    let checkout = std::fs::read_dir(&sources)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap();
    let fifo = checkout.join("a.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    p.write("wheelbuild.toml", &config("2"));
    let out = p.run(&["build"]);
    assert!(!out.status.success());
    let text = p.filter(&stderr(&out));
    assert!(
        text.contains(
            "into container wheelbuild-[SHORT]-"
        ) && text.contains(
            "failed: ./.wheelbuild/cache/sources/[SHA]/a.fifo: not a file, directory or symlink; it cannot be sent to the engine"
        ),
        "{text}"
    );
    assert!(
        text.contains("hint: check that the files named are readable here"),
        "{text}"
    );
}
