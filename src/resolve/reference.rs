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

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || domain.starts_with('[') => (h, Some(p)),
        _ => (domain, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("invalid port in `{domain}`"));
    }
    let ipv6 = host.starts_with('[') && host.ends_with(']');
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if ipv6 || host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("invalid registry host `{host}`"))
    }
}

/// Path components: lowercase alphanumerics separated by `.`, `_`, `__` or dashes.
fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let ok = !bytes.is_empty()
            && alnum(&bytes[0])
            && alnum(&bytes[bytes.len() - 1])
            && bytes
                .iter()
                .all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains("._")
            && !component.contains("_.");
        if !ok {
            return Err(format!(
                "invalid repository path component `{component}` (lowercase letters, digits, `.`, `_`, `-`)"
            ));
        }
    }
    Ok(())
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
}
