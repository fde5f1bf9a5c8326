//! Image references, parsed and normalized the way Docker does
//! (`distribution/reference`): `python:3.11` is `docker.io/library/python:3.11`.
//!
//! Hand-written rather than oci-spec's parser: that one compiles a Unicode regex on
//! first use, which costs more than resolving a dozen images on a warm registry.

use oci_client::Reference;

const DOCKER_HUB: &str = "docker.io";

/// Parse `reference` (`[domain[:port]/]path[:tag][@algo:hex]`) into a normalized
/// [`Reference`]; a reference with neither tag nor digest gets the tag `latest`.
pub fn parse(reference: &str) -> Result<Reference, String> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => {
            check_digest(digest)?;
            (rest, Some(digest.to_string()))
        }
        None => (reference, None),
    };
    // A tag is after the last `:` that comes after the last `/` (a port is before it).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let tag = &rest[last_slash + i + 1..];
            check_tag(tag)?;
            (&rest[..last_slash + i], Some(tag.to_string()))
        }
        None => (rest, None),
    };
    if name.len() > 255 {
        return Err("repository name is longer than 255 characters".into());
    }
    let (domain, path) = split_domain(name);
    check_domain(&domain)?;
    check_path(&path)?;
    let tag = match (tag, &digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag,
    };
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(domain, path, tag, digest),
        (Some(tag), None) => Reference::with_tag(domain, path, tag),
        (None, Some(digest)) => Reference::with_digest(domain, path, digest),
        (None, None) => unreachable!("defaulted to latest above"),
    })
}

/// Docker's rule: the first component is a registry if it has a `.` or `:` or is
/// `localhost`; Docker Hub's official images live under `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = DOCKER_HUB.to_string();
    }
    if domain == DOCKER_HUB && !path.contains('/') {
        path = format!("library/{path}");
    }
    (domain, path)
}

/// `host[:port]`, the host a DNS name, an IPv4 address or a bracketed IPv6 address.
fn check_domain(domain: &str) -> Result<(), String> {
    let invalid_port = || format!("invalid port in `{domain}`");
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = domain.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("invalid registry host `{domain}`"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 registry host `[{host}]`"));
        }
        return match after.strip_prefix(':') {
            None if after.is_empty() => Ok(()),
            Some(p) if port_ok(p) => Ok(()),
            _ => Err(invalid_port()),
        };
    }
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if port.is_some_and(|p| !port_ok(p)) {
        return Err(invalid_port());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("invalid registry host `{host}`"))
    }
}

/// Path components, as Docker's grammar has them: runs of lowercase alphanumerics joined
/// by one separator each, `.`, `_`, `__` or any number of `-`.
fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if !component_ok(component.as_bytes()) {
            return Err(format!(
                "invalid repository path component `{component}` (lowercase letters and digits, joined by `.`, `_`, `__` or dashes)"
            ));
        }
    }
    Ok(())
}

fn component_ok(c: &[u8]) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < c.len() && alnum(c[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < c.len() {
        match c[i] {
            b'.' => i += 1,
            b'_' => i += if c.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while c.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.starts_with('_'))
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag `{tag}`"))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algo, hex)) = digest.split_once(':') else {
        return Err(format!("invalid digest `{digest}`"));
    };
    let len = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm `{algo}`")),
    };
    if hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!("invalid {algo} digest `{hex}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, Option<String>, Option<String>) {
        let r = parse(s).unwrap();
        (
            r.registry().to_string(),
            r.repository().to_string(),
            r.tag().map(str::to_string),
            r.digest().map(str::to_string),
        )
    }

    #[test]
    fn agrees_with_oci_spec_on_well_formed_references() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        for s in [
            "busybox".to_string(),
            "test.com:tag".to_string(),
            "test.com:5000".to_string(),
            "test.com/repo:tag".to_string(),
            "test:5000/repo".to_string(),
            "test:5000/repo:tag".to_string(),
            "lowercase:Uppercase".to_string(),
            "sub-dom1.foo.com/bar/baz/quux".to_string(),
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag".to_string(),
            "b.gcr.io/test.example.com/my-app:test.example.com".to_string(),
            "xn--n3h.com/myimage:xn--n3h.com".to_string(),
            "foo_bar.com:8080".to_string(),
            "foo/foo_bar.com:8080".to_string(),
            "index.docker.io/library/ubuntu".to_string(),
            "localhost/a/b".to_string(),
            "localhost:5000/a__b/c-d.e:v1".to_string(),
            "127.0.0.1:5000/wb/base:py3.11".to_string(),
            format!("127.0.0.1:5000/wb/base@{digest}"),
            format!("127.0.0.1:5000/wb/base:py3.11@{digest}"),
            format!("python@{digest}"),
        ] {
            let theirs: Reference = s.parse().unwrap();
            let ours = parse(&s).unwrap();
            assert_eq!(
                (
                    ours.registry(),
                    ours.repository(),
                    ours.tag(),
                    ours.digest()
                ),
                (
                    theirs.registry(),
                    theirs.repository(),
                    theirs.tag(),
                    theirs.digest()
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn normalizes_docker_hub() {
        assert_eq!(
            parts("python:3.11"),
            (
                "docker.io".into(),
                "library/python".into(),
                Some("3.11".into()),
                None
            )
        );
        assert_eq!(parts("pytorch/pytorch").1, "pytorch/pytorch");
        assert_eq!(parts("pytorch/pytorch").2.as_deref(), Some("latest"));
    }

    #[test]
    fn rejects_malformed_references() {
        for s in [
            "",
            "a//b",
            "img:bad:tag:",
            "Upper/case",
            "a/-b",
            "host:port/x",
            "x:",
            "x@sha256:abc",
            "x@md5:0123",
            "repo:-tag",
            "a..b",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
    }

    /// Found by fuzzing against oci-client's parser: separators next to each other, and
    /// anything in brackets, passed as valid; a bracketed IPv6 host without a port did not.
    #[test]
    fn separators_and_ipv6_hosts_follow_docker_grammar() {
        for bad in [
            "p-.---.-.4",
            "a.-b",
            "a_-b",
            "a-_b",
            "b.-a:a_b1_",
            "a___b",
            "a._b",
            "[a b]:5/x",
            "[]:0/xonv1",
            "[::1]:/x",
            "[::1]x/y",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for good in [
            "a--b",
            "a---b/c__d",
            "a.b_c-d",
            "[::1]/x",
            "[::1]:5000/x:v1",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
        assert_eq!(parts("[::1]/x").0, "[::1]");
    }
}
