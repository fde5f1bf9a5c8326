//! OCI registries, as every stage that talks to one reaches them: image references parsed
//! the way Docker does ([`mod@reference`]), logins from the Docker config and
//! identity-token exchanges (`auth`), which registries speak plain HTTP, and answers read
//! up to a limit. Resolving pins tags with these, the Docker engine client pulls with
//! them, and the remote cache shares the store through them.

pub(crate) mod auth;
pub(crate) mod client;
pub mod reference;

use std::collections::BTreeSet;
use std::fmt;

/// Largest body read: registries refuse manifests over 4 MiB, and image configs, the remote
/// cache's records and token answers are kilobytes. Anything bigger is refused before it
/// is held in memory.
pub(crate) const BODY_LIMIT: usize = 4 << 20;

/// Is `registry` (host[:port]) on the loopback interface?
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `registry` (host[:port]) is reached over plain HTTP: a loopback one, or one the
/// config lists as `insecure`; every other over HTTPS.
pub(crate) fn plain_http(registry: &str, insecure: &BTreeSet<String>) -> bool {
    is_loopback(registry) || insecure.contains(registry)
}

/// A body not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over the limit; the rest is not read.
    TooLarge(Oversize),
    /// The connection failed: the error with its causes.
    Transport(String),
}

/// What is known of the size of a body over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// Its `Content-Length`.
    Announced(u64),
    /// More than `limit` bytes arrived.
    Received { limit: usize },
}

impl fmt::Display for Oversize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Oversize::Announced(length) => write!(f, "Content-Length: {length}"),
            Oversize::Received { limit } => write!(f, "more than {limit} bytes received"),
        }
    }
}

/// The body of `response`, refused as soon as it is known to be over `limit`: from its
/// `Content-Length`, or else from the bytes received so far.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(BodyError::TooLarge(Oversize::Announced(announced)));
    }
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(crate::diag::chain(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(Oversize::Received { limit }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for host in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "10.0.0.1:5000",
            "registry.example.com",
            "index.docker.io",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn plain_http_is_for_loopback_and_listed_registries_only() {
        let insecure = BTreeSet::from(["registry.internal:5000".to_string()]);
        assert!(plain_http("127.0.0.1:5000", &insecure));
        assert!(plain_http("registry.internal:5000", &insecure));
        assert!(!plain_http("registry.internal", &insecure));
        assert!(!plain_http("registry.example.com", &insecure));
    }
}
