//! `[tool.cibuildwheel]`: what carries over to `wheelbuild.toml`, and what does not (each
//! with the wheelbuild way to do it). The `linux` sub-table overrides the top level, as
//! it does in cibuildwheel; wheelbuild builds Linux wheels, so the other platforms' tables
//! do not carry over.

use std::collections::BTreeMap;

/// What a `[tool.cibuildwheel]` table says, in wheelbuild's terms.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Carried {
    /// `build` selectors (`cp311-*`); empty: every build.
    pub build: Vec<String>,
    /// `skip` selectors.
    pub skip: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub config_settings: BTreeMap<String, Vec<String>>,
    pub test_command: Option<String>,
    pub test_requires: Vec<String>,
    pub test_sources: Vec<String>,
    /// `manylinux-x86_64-image`, as a reference.
    pub image_x86_64: Option<String>,
    /// `manylinux-aarch64-image`, as a reference.
    pub image_aarch64: Option<String>,
    /// `--exclude` of `auditwheel repair` in `repair-wheel-command`.
    pub repair_exclude: Vec<String>,
    pub unmapped: Vec<Unmapped>,
}

/// A setting with no wheelbuild equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unmapped {
    /// `before-all`, `linux.before-all`, `environment.PATH`.
    pub key: String,
    /// Its value, on one line.
    pub value: String,
    /// How to do it with wheelbuild.
    pub how: String,
}

/// Reads a `[tool.cibuildwheel]` table.
pub(crate) fn carry(table: &toml::Table) -> Carried {
    let mut carried = Carried::default();
    for (key, value) in table {
        if key != "linux" {
            carried.read(key, key, value);
        }
    }
    if let Some(toml::Value::Table(linux)) = table.get("linux") {
        for (key, value) in linux {
            carried.read(key, &format!("linux.{key}"), value);
        }
    }
    carried
}

impl Carried {
    /// One setting: `key` as cibuildwheel names it, `shown` as the comment names it.
    fn read(&mut self, key: &str, shown: &str, value: &toml::Value) {
        let unmapped = |how: &str| Unmapped {
            key: shown.to_string(),
            value: one_line(value),
            how: how.to_string(),
        };
        match key {
            "build" => self.build = words(value),
            "skip" => self.skip = words(value),
            "environment" => self.read_environment(shown, value),
            "config-settings" => self.config_settings = config_settings(value),
            "test-command" => self.test_command = Some(strings(value).join(" && ")),
            "test-requires" => self.test_requires = words(value),
            "test-sources" => self.test_sources = words(value),
            "manylinux-x86_64-image" => {
                self.image_x86_64 = value.as_str().map(|v| image(v, "x86_64"));
            }
            "manylinux-aarch64-image" => {
                self.image_aarch64 = value.as_str().map(|v| image(v, "aarch64"));
            }
            "repair-wheel-command" => {
                let (exclude, rest) = repair_excludes(&strings(value));
                self.repair_exclude = exclude;
                if !rest.is_empty() {
                    let u = unmapped(
                        "wheelbuild repairs with auditwheel itself (`repair`, the default); \
                         run other steps in the project's `build` command",
                    );
                    self.unmapped.push(u);
                }
            }
            "before-all" => {
                let mut how = "install system packages with the project's `apt` list (Debian \
                               names, pinned by `lock`); run other steps in its `build` command"
                    .to_string();
                let packages = installed_packages(&strings(value).join(" && "));
                if !packages.is_empty() {
                    how = format!("{how}. It installs: {}", packages.join(" "));
                }
                self.unmapped.push(unmapped(&how));
            }
            "linux" | "macos" | "windows" | "ios" | "pyodide" => {
                self.unmapped.push(unmapped(
                    "wheelbuild builds Linux wheels (the `linux` table is read)",
                ));
            }
            _ => {
                let how = match key {
                    "before-build" => "put it before the build command in the project's `build`",
                    "before-test" | "test-skip" | "test-extras" | "test-groups" => {
                        "not carried over: set it by hand in the test keys below \
                         (`test-command`, `test-requires`)"
                    }
                    "build-frontend" => {
                        "wheelbuild builds with `pip wheel`; the project's `build` command may \
                         run another frontend"
                    }
                    "dependency-versions" => "`lock` pins every build dependency by sha256",
                    "environment-pass" => {
                        "wheelbuild's environment is declared, not passed: give each value in \
                         `env`"
                    }
                    "archs" => {
                        "each cell builds for its image's platform (`[image] platform`, or \
                         `platform` of an `[[image.select]]` row)"
                    }
                    "overrides" => {
                        "conditional settings: `[[matrix.exclude]]`, `[[matrix.include]]`, or \
                         another `[[project]]` with its own `matrix`"
                    }
                    "container-engine" => {
                        "wheelbuild builds on a Docker Engine (`DOCKER_HOST`, `[[engine]]`)"
                    }
                    "build-verbosity" => "`wheelbuild build -v`",
                    k if k.ends_with("-image") => {
                        "a cell's image says its platform: add an `[[image.select]]` row"
                    }
                    _ => "no wheelbuild equivalent",
                };
                self.unmapped.push(unmapped(how));
            }
        }
    }

    /// `A=1 B="x y"` or `{ A = "1" }`; a value that refers to another variable does not
    /// carry over (env values are not expanded).
    fn read_environment(&mut self, shown: &str, value: &toml::Value) {
        let pairs: Vec<(String, String)> = match value {
            toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
            other => shell_words(&text_of(other))
                .into_iter()
                .filter_map(|w| w.split_once('=').map(|(k, v)| (k.into(), v.into())))
                .collect(),
        };
        for (name, value) in pairs {
            if value.contains('$') {
                self.unmapped.push(Unmapped {
                    key: format!("{shown}.{name}"),
                    value,
                    how: "env values are not expanded: write the value out in `env`".into(),
                });
            } else {
                self.env.insert(name, value);
            }
        }
    }

    /// Whether cibuildwheel would build CPython `python` (`3.11`) on manylinux x86_64.
    pub(crate) fn selects(&self, python: &str) -> bool {
        let id = format!("cp{}-manylinux_x86_64", python.replace('.', ""));
        let any = |patterns: &[String]| {
            patterns
                .iter()
                .flat_map(|p| expand_braces(p))
                .any(|p| glob(p.as_bytes(), id.as_bytes()))
        };
        (self.build.is_empty() || any(&self.build)) && !any(&self.skip)
    }
}

/// `manylinux2014` → `quay.io/pypa/manylinux2014_x86_64` (for `arch`); a reference stays
/// as it is.
fn image(value: &str, arch: &str) -> String {
    if value.starts_with("manylinux") && !value.contains(['/', ':']) {
        format!("quay.io/pypa/{value}_{arch}")
    } else {
        value.to_string()
    }
}

fn text_of(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn one_line(value: &toml::Value) -> String {
    strings(value).join(" && ").replace('\n', " ")
}

/// A string, or an array of strings.
fn strings(value: &toml::Value) -> Vec<String> {
    match value {
        toml::Value::Array(a) => a.iter().map(text_of).collect(),
        other => vec![text_of(other)],
    }
}

/// Space-separated words, or an array of them.
fn words(value: &toml::Value) -> Vec<String> {
    strings(value)
        .iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// `{ name = "v" | ["v", …] }`, or `"name=v name2=v2"`.
fn config_settings(value: &toml::Value) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                settings.insert(k.clone(), strings(v));
            }
        }
        other => {
            for word in shell_words(&text_of(other)) {
                if let Some((k, v)) = word.split_once('=') {
                    settings.entry(k.into()).or_default().push(v.into());
                }
            }
        }
    }
    settings
}

/// `--exclude` values of an `auditwheel repair` command, and the words of the command that
/// are not `auditwheel repair -w {dest_dir} {wheel}` with them.
fn repair_excludes(commands: &[String]) -> (Vec<String>, Vec<String>) {
    let mut exclude = Vec::new();
    let mut rest = Vec::new();
    for command in commands {
        let mut words = shell_words(command).into_iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "--exclude" => exclude.extend(words.next()),
                "auditwheel" | "repair" | "{wheel}" | "{dest_dir}" => {}
                "-w" | "--wheel-dir" => {
                    words.next();
                }
                w => match w.strip_prefix("--exclude=") {
                    Some(x) => exclude.push(x.to_string()),
                    None => rest.push(word),
                },
            }
        }
    }
    (exclude, rest)
}

/// Packages a shell line installs with yum, dnf, microdnf, apk or apt-get.
fn installed_packages(script: &str) -> Vec<String> {
    let mut packages = Vec::new();
    for command in script.split(['&', ';', '|', '\n']) {
        let words = shell_words(command);
        let Some(at) = words
            .iter()
            .position(|w| matches!(w.as_str(), "yum" | "dnf" | "microdnf" | "apk" | "apt-get"))
        else {
            continue;
        };
        let rest = &words[at + 1..];
        let Some(verb) = rest.iter().position(|w| w == "install" || w == "add") else {
            continue;
        };
        packages.extend(
            rest[verb + 1..]
                .iter()
                .filter(|w| !w.starts_with('-'))
                .cloned(),
        );
    }
    packages
}

/// Words of a shell line: whitespace-separated, with `'…'`, `"…"` and `\` quoting.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `cp3{10,11}-*` → `cp310-*`, `cp311-*` (cibuildwheel expands braces in selectors).
fn expand_braces(pattern: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) else {
        return vec![pattern.to_string()];
    };
    if close < open {
        return vec![pattern.to_string()];
    }
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close]
        .split(',')
        .flat_map(|alt| expand_braces(&format!("{head}{alt}{tail}")))
        .collect()
}

/// fnmatch's `*`, `?` and `[…]` (`[!…]` negated), as cibuildwheel matches selectors.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().skip(1).position(|&b| b == b']').map(|e| e + 1) else {
                return text.first() == Some(&b'[') && glob(rest, &text[1..]);
            };
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let (negated, set) = match rest[..end].split_first() {
                Some((b'!', set)) => (true, set),
                _ => (false, &rest[..end]),
            };
            set.contains(&c) != negated && glob(&rest[end + 1..], text_rest)
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Carried {
        let t: toml::Table = toml::from_str(text).unwrap();
        carry(&t)
    }

    #[test]
    fn selectors_pick_pythons_as_cibuildwheel_does() {
        let c = table("build = \"cp3{10,11,12}-*\"\nskip = [\"*-musllinux*\", \"cp312-*\"]\n");
        let picked: Vec<&str> = ["3.9", "3.10", "3.11", "3.12", "3.13"]
            .into_iter()
            .filter(|p| c.selects(p))
            .collect();
        assert_eq!(picked, ["3.10", "3.11"]);
        assert!(table("skip = \"cp3[!1]*\"").selects("3.11"));
        assert!(!table("skip = \"cp3?-*\"").selects("3.9"));
        assert!(table("").selects("3.13"));
    }

    #[test]
    fn linux_settings_override_and_the_rest_is_listed_with_the_wheelbuild_way() {
        let c = table(
            r#"
environment = 'MAX_JOBS=4 CFLAGS="-O2 -g0" PATH=$PATH:/opt/x'
repair-wheel-command = "auditwheel repair --exclude libcuda.so.1 --exclude=libtorch.so -w {dest_dir} {wheel}"
manylinux-x86_64-image = "manylinux_2_28"
config-settings = { "cmake.define.X" = "1" }
before-build = "rm -rf build"

[linux]
before-all = "yum install -y openblas-devel && make deps"
environment = { MAX_JOBS = "8" }
"#,
        );
        assert_eq!(c.env["MAX_JOBS"], "8");
        assert_eq!(c.env["CFLAGS"], "-O2 -g0");
        assert_eq!(c.repair_exclude, ["libcuda.so.1", "libtorch.so"]);
        assert_eq!(
            c.image_x86_64.as_deref(),
            Some("quay.io/pypa/manylinux_2_28_x86_64")
        );
        assert_eq!(c.config_settings["cmake.define.X"], ["1"]);
        let keys: Vec<&str> = c.unmapped.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            keys,
            ["before-build", "environment.PATH", "linux.before-all"]
        );
        assert!(
            c.unmapped[2].how.ends_with("It installs: openblas-devel"),
            "{:?}",
            c.unmapped[2]
        );
    }

    #[test]
    fn a_repair_command_with_other_steps_is_listed() {
        let c = table(
            "repair-wheel-command = \"auditwheel repair -w {dest_dir} {wheel} && pipx run abi3audit {wheel}\"",
        );
        assert_eq!(c.unmapped.len(), 1, "{c:?}");
        assert!(
            table("repair-wheel-command = \"auditwheel repair -w {dest_dir} {wheel}\"")
                .unmapped
                .is_empty()
        );
    }
}
