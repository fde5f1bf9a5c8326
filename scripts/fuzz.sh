#!/usr/bin/env bash
# Fuzz wheelbuild's parsers with cargo-fuzz (libFuzzer), one target after another.
#
#   scripts/fuzz.sh [SECONDS]      # SECONDS per target, default 600
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). The toolchain is stable, so the
# nightly flags cargo-fuzz passes are allowed with RUSTC_BOOTSTRAP=1.
#
# Environment:
#   FUZZ_SANITIZER    address (default) or none
#   FUZZ_TARGETS      targets to run, space-separated (default: all of fuzz/fuzz_targets)
#   CARGO_TARGET_DIR  where the fuzz build goes (default: fuzz/target)
#
# The seed corpus in fuzz/corpus/<target>/ (gitignored) is recreated from the repository's
# own files on every run; inputs libFuzzer added to it earlier are kept. Crashes land in
# fuzz/artifacts/<target>/, each run's full output in fuzz/artifacts/logs/<target>.log.
# Exits 1 when any target found a crash (or a timeout, leak or out-of-memory input).
set -euo pipefail

seconds="${1:-600}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]   (a positive whole number of seconds per target)" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/fuzz"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in "$fuzz"/fuzz_targets/*.rs; do
    name="$(basename "$f" .rs)"
    targets+=("$name")
  done
fi

# --- Seed corpus ------------------------------------------------------------------------

# seed TARGET: a file from stdin into TARGET's corpus, named by its content (as libFuzzer
# names the inputs it adds), so that recreating the seeds never duplicates one.
seed() {
  local dir="$fuzz/corpus/$1" tmp sum
  mkdir -p "$dir"
  tmp="$(mktemp "$dir/.seed.XXXXXX")"
  cat >"$tmp"
  if [[ -s "$tmp" ]]; then
    sum="$(sha1sum "$tmp")"
    mv "$tmp" "$dir/${sum%% *}"
  else
    rm -f "$tmp"
  fi
}

# seed_lines TARGET: one seed per distinct non-empty line of stdin (without its newline).
seed_lines() {
  local line
  sort -u | while IFS= read -r line; do
    [[ -n "$line" ]] && printf '%s' "$line" | seed "$1"
  done
}

# The TOML files of the repository: its own config and lock, the examples, and any under
# tests/ (fixtures).
mapfile -t configs < <(cd "$root" && find . -name wheelbuild.toml -not -path './target/*' \
  -not -path './fuzz/*' -not -path './.wheelbuild/*' | sort)
mapfile -t locks < <(cd "$root" && find . -name wheelbuild.lock -not -path './target/*' \
  -not -path './fuzz/*' -not -path './.wheelbuild/*' | sort)

seed_config() {
  local f
  for f in "${configs[@]}"; do
    seed config <"$root/$f"
  done
  # The TOML examples of the README and the docs, one seed per ```toml block.
  local doc
  for doc in "$root"/README.md "$root"/docs/*.md; do
    [[ -f "$doc" ]] || continue
    awk -v prefix="$fuzz/corpus/config/$(basename "$doc" .md)" '
      /^```toml/ { n++; file = sprintf("%s-%02d.toml", prefix, n); inside = 1; next }
      /^```/ && inside { inside = 0; close(file); next }
      inside { print > file }
    ' "$doc"
  done
}

seed_lock() {
  local f
  for f in "${locks[@]}"; do
    seed lock <"$root/$f"
  done
  # The fields the repository's lock does not use: an index digest, no tag, a branch and a
  # commit, a default-branch ref, a quoted URL (the shapes of src/lock's own tests).
  seed lock <<'EOF'
version = 1
inputs = "blake3:00"

[[image]]
reference = "python@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
platform = "linux/arm64/v8"
name = "docker.io/library/python"
index-digest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
manifest-digest = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
media-type = "application/vnd.docker.distribution.manifest.v2+json"

[[git]]
url = "file:///tmp/r \"q\""
ref = "main"
kind = "branch"
resolved = "refs/heads/main"
commit = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

[[git]]
url = "https://example.com/x.git"
ref = "0123456789abcdef0123456789abcdef01234567"
kind = "commit"
commit = "0123456789abcdef0123456789abcdef01234567"

[[git]]
url = "https://example.com/y.git"
kind = "branch"
resolved = "refs/heads/trunk"
commit = "cccccccccccccccccccccccccccccccccccccccc"
EOF
}

seed_reference() {
  local files=()
  local f
  for f in "${configs[@]}" "${locks[@]}"; do
    files+=("$root/$f")
  done
  {
    # Image references as the lock and the configs spell them (templates included: their
    # `{var}` parts are useful near-misses).
    grep -hoE '^[[:space:]]*(reference|name|template|ref)[[:space:]]*=[[:space:]]*"[^"]*"' \
      "${files[@]}" | sed -E 's/^[^"]*"//; s/"$//' || true
    # Pinned forms, `name@digest` and `reference@digest`, from the lock.
    for f in "${locks[@]}"; do
      awk -F'"' '
        /^\[\[/ { ref = ""; name = "" }
        /^reference *=/ { ref = $2 }
        /^name *=/ { name = $2 }
        /^manifest-digest *=/ { print name "@" $2; print ref "@" $2 }
      ' "$root/$f"
    done
    printf '%s\n' python:3.11 ubuntu localhost:5000/a/b:v1 '[::1]:5000/x/y:z' \
      'docker.io/library/busybox:latest@sha256:0000000000000000000000000000000000000000000000000000000000000000'
  } | seed_lines reference
}

seed_wheel_name() {
  {
    # Wheel file names quoted in the sources and tests (valid and invalid ones alike).
    grep -rhoE '"[A-Za-z0-9_.+!-]+\.whl"' "$root/src" "$root/tests" 2>/dev/null \
      | tr -d '"' || true
    printf '%s\n' six-1.16.0-py2.py3-none-any.whl \
      numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \
      torch-2.5.1+cu124-cp311-cp311-linux_x86_64.whl \
      flash_attn-2.5.8-1-cp310-cp310-linux_x86_64.whl
  } | seed_lines wheel_name
}

seed_record() {
  # RECORD of six 1.16.0 (six-1.16.0-py2.py3-none-any.whl from PyPI), verbatim.
  seed record <<'EOF'
six.py,sha256=TOOfQi7nFGfMrIvtdr6wX4wyHH8M7aknmuLfo2cBBrM,34549
six-1.16.0.dist-info/LICENSE,sha256=i7hQxWWqOJ_cFvOkaWWtI9gq3_YPI5P8J2K2MYXo5sk,1066
six-1.16.0.dist-info/METADATA,sha256=VQcGIFCAEmfZcl77E5riPCN4v2TIsc_qtacnjxKHJoI,1795
six-1.16.0.dist-info/WHEEL,sha256=Z-nyYpwrcSqxfdux5Mbn_DQ525iP7J2DG3JgGvOYyTQ,110
six-1.16.0.dist-info/top_level.txt,sha256=_iVH_iYEtEXnD8nYGQYpYFUvkUW9sEO1GYbkeKSAais,4
six-1.16.0.dist-info/RECORD,,
EOF
  # The odd rows Python's csv writes: a quoted path with a comma and quotes, CRLF ends.
  printf 'a.py,sha256=AAA,3\r\n\r\n"b,""c"".py",sha512=BBB==,\r\nd/RECORD,,\r\n' | seed record
  # A few small RECORDs of wheels installed on this machine, if Python is here.
  local site
  if site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)" \
    && [[ -d "$site" ]]; then
    find "$site" -maxdepth 2 -path '*.dist-info/RECORD' -size -8k 2>/dev/null | sort | head -n 5 \
      | while IFS= read -r f; do seed record <"$f"; done
  fi
}

# --- Build and run ----------------------------------------------------------------------

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer) into $CARGO_TARGET_DIR"
(cd "$fuzz" && cargo fuzz build --sanitizer "$sanitizer")
bin="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"

logs="$fuzz/artifacts/logs"
mkdir -p "$logs"
summary=()
failed=0
for t in "${targets[@]}"; do
  case "$t" in
    config) seed_config ;;
    lock) seed_lock ;;
    reference) seed_reference ;;
    wheel_name) seed_wheel_name ;;
    record) seed_record ;;
    *)
      echo "   (no seeds for $t: starting from its existing corpus)"
      mkdir -p "$fuzz/corpus/$t"
      ;;
  esac
  corpus="$fuzz/corpus/$t"
  inputs="$(find "$corpus" -maxdepth 1 -type f | wc -l)"
  log="$logs/$t.log"
  echo "== $t: ${seconds}s from $inputs inputs in fuzz/corpus/$t (log: ${log#"$root"/})"
  rc=0
  # The binaries built above, run directly rather than by `cargo fuzz run` (which rebuilds
  # first): every target then tests the same code, even while the sources change.
  # -jobs=1 -workers=1: one fuzzing process; libFuzzer writes its output to fuzz-0.log in
  # the working directory and copies it to stderr when the job ends, so run from $logs.
  mkdir -p "$fuzz/artifacts/$t"
  (cd "$logs" && ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}" "$bin/$t" \
    -artifact_prefix="$fuzz/artifacts/$t/" -max_total_time="$seconds" -timeout=30 \
    -print_final_stats=1 -jobs=1 -workers=1 "$corpus") >"$log" 2>&1 || rc=$?
  rm -f "$logs/fuzz-0.log"
  execs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 \
    | grep -oE '[0-9]+$' || true)"
  if [[ "$rc" -eq 0 ]]; then
    result="no crash"
  else
    failed=1
    found="$(grep -oE '(Test unit|artifact) written to [^ ]+' "$log" | awk '{print $NF}' \
      | sort -u | paste -sd ' ' - || true)"
    result="CRASH (exit $rc): ${found:-see the log}"
    # The panic message (the line after `panicked at`) or the sanitizer's report.
    grep -m 1 -A 1 'panicked at' "$log" || true
    grep -m 2 -E '^(==[0-9]+==ERROR|SUMMARY)' "$log" || true
    echo "   reproduce: (cd fuzz && cargo fuzz run --sanitizer $sanitizer $t ${found%% *});" \
      "minimize: cargo fuzz tmin --sanitizer $sanitizer $t ${found%% *}"
  fi
  echo "   $t: executions ${execs:-unknown}, $result"
  summary+=("$(printf '%-12s %14s  %s' "$t" "${execs:-unknown}" "$result")")
done

echo
echo "== summary: ${seconds}s per target, sanitizer $sanitizer"
printf '%-12s %14s  %s\n' target executions result
printf '%s\n' "${summary[@]}"
exit "$failed"
