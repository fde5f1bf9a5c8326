/work/main/tests/macros/target/debug/deps/wheelbuild_test_macros-4ddcf8dd670f8d01.d: src/lib.rs Cargo.toml

/work/main/tests/macros/target/debug/deps/libwheelbuild_test_macros-4ddcf8dd670f8d01.rmeta: src/lib.rs Cargo.toml

src/lib.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
