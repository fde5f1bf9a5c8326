//! The remote compiler cache (`[cache] remote`): ccache's remote storage, shared by every
//! engine and machine that builds a channel, so that a fresh CI runner compiles only the
//! units that changed.
//!
//! Entries are kept apart by ccache's `namespace` (hashed into every entry): the channel's
//! pool (`shared` for the `read-write` channels, the channel's own name for an `isolated`
//! one) and the accelerator variant. The URL, whose `${VAR}` references may expand to
//! credentials, reaches a build container only as a file of its upload readable by the
//! build user (never its environment, a key, a record, a log or an image), and messages
//! name the server without its user information.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::ChannelPolicy;
use crate::docker::access::{AccessError, expand};

/// Where a build container finds ccache's settings for the remote cache.
pub(crate) const SETTINGS_PATH: &str = "/wheelbuild/secret/ccache.conf";
/// ccache's limits per build: a server that is down or slow costs each compile at most
/// this long before the unit is compiled here.
const CONNECT_TIMEOUT_MS: u64 = 1000;
const OPERATION_TIMEOUT_MS: u64 = 5000;
/// The probe's limits before the first build, and the most it reads of a reply.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const PROBE_REPLY_MAX: usize = 1024;

/// A run's remote compiler cache.
#[derive(Clone)]
pub struct CompilerCache {
    /// Credentials expanded: shown nowhere.
    url: String,
    /// The namespace's pool: `shared`, or `channel.<name>`.
    pool: String,
}

impl std::fmt::Debug for CompilerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompilerCache")
            .field("server", &self.server())
            .field("pool", &self.pool)
            .finish()
    }
}

/// Why the remote compiler cache is not used for a run (builds go on without it).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("remote compiler cache {server} cannot be reached: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("remote compiler cache {server} refused wheelbuild's credentials: {reply}")]
    Credentials { server: String, reply: String },
    #[error("remote compiler cache {server} answered what a Redis server does not: {reply}")]
    Protocol { server: String, reply: String },
}

impl CompilerCache {
    /// The cache of `channel` under `policy` (`None`: `off`), its URL's `${VAR}`
    /// references expanded by `lookup`.
    pub fn new(
        url: &str,
        channel: &str,
        policy: ChannelPolicy,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<CompilerCache>, AccessError> {
        let pool = match policy {
            ChannelPolicy::Off => return Ok(None),
            ChannelPolicy::ReadWrite => "shared".to_string(),
            ChannelPolicy::Isolated => format!("channel.{channel}"),
        };
        Ok(Some(CompilerCache {
            url: expand("cache.remote", url, &lookup)?,
            pool,
        }))
    }

    /// The server, for messages: the URL without its user information.
    pub fn server(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        format!("{scheme}://{host}{path}")
    }

    /// ccache's namespace for builds of `variant`.
    pub fn namespace(&self, variant: &str) -> String {
        format!("wheelbuild.{}.{variant}", self.pool)
    }

    /// ccache's settings file for builds of `variant` (holds the credentials).
    pub fn settings_file(&self, variant: &str) -> Vec<u8> {
        format!(
            "remote_storage = {}|connect-timeout={CONNECT_TIMEOUT_MS}|operation-timeout={OPERATION_TIMEOUT_MS}\n\
             namespace = {}\n",
            self.url,
            self.namespace(variant)
        )
        .into_bytes()
    }

    /// Whether the server answers, and (Redis) accepts the credentials, from this machine:
    /// checked once per run, so that a server that is down or refuses costs a warning and
    /// no build waits on it.
    pub async fn probe(&self) -> Result<(), ProbeError> {
        let server = self.server();
        let unreachable = |reason: String| ProbeError::Unreachable {
            server: server.clone(),
            reason,
        };
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let default_port = if scheme == "redis" { 6379 } else { 80 };
        let addr = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:{default_port}")
        };
        let mut stream = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&addr))
            .await
            .map_err(|_| unreachable(format!("no connection within {}s", PROBE_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(e.to_string()))?;
        if scheme != "redis" {
            return Ok(());
        }
        let mut request = Vec::new();
        if let Some(userinfo) = userinfo {
            let mut auth = vec!["AUTH".to_string()];
            auth.extend(userinfo.splitn(2, ':').map(percent_decode));
            request.extend(resp_command(&auth));
        }
        request.extend(resp_command(&["PING".to_string()]));
        let exchange = async {
            stream.write_all(&request).await?;
            let mut reply = Vec::new();
            let mut buf = [0u8; 256];
            // The replies end in `+PONG` or at the first error.
            while !reply.ends_with(b"+PONG\r\n") && !reply.starts_with(b"-") {
                let n = stream.read(&mut buf).await?;
                if n == 0 || reply.len() + n > PROBE_REPLY_MAX {
                    break;
                }
                reply.extend_from_slice(&buf[..n]);
            }
            Ok::<_, std::io::Error>(reply)
        };
        let reply = tokio::time::timeout(PROBE_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(format!("no reply within {}s", PROBE_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(e.to_string()))?;
        if reply.ends_with(b"+PONG\r\n") {
            return Ok(());
        }
        // The server's own words (one line, printable), never the request.
        let line: String = String::from_utf8_lossy(&reply)
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let error = line.strip_prefix('-').unwrap_or(&line).to_string();
        Err(
            if [
                "WRONGPASS",
                "NOAUTH",
                "ERR AUTH",
                "NOPERM",
                "ERR invalid password",
            ]
            .iter()
            .any(|p| error.starts_with(p))
            {
                ProbeError::Credentials {
                    server,
                    reply: error,
                }
            } else {
                ProbeError::Protocol {
                    server,
                    reply: error,
                }
            },
        )
    }
}

/// A Redis command in RESP's array form.
fn resp_command(args: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n", a.len()).into_bytes());
        out.extend(a.as_bytes());
        out.extend(b"\r\n");
    }
    out
}

/// `%XX` escapes (as [`expand`] writes them) back to their bytes.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(policy: ChannelPolicy, channel: &str) -> Option<CompilerCache> {
        let lookup = |name: &str| (name == "PASS").then(|| "s3cr@t".to_string());
        CompilerCache::new("redis://ci:${PASS}@cache:6379/2", channel, policy, lookup).unwrap()
    }

    #[test]
    fn channels_get_their_pool_and_off_gets_none() {
        let shared = cache(ChannelPolicy::ReadWrite, "ci").unwrap();
        let nightly = cache(ChannelPolicy::Isolated, "nightly").unwrap();
        assert_eq!(shared.namespace("cuda11.8"), "wheelbuild.shared.cuda11.8");
        assert_eq!(nightly.namespace("cpu"), "wheelbuild.channel.nightly.cpu");
        assert!(cache(ChannelPolicy::Off, "release").is_none());
    }

    #[test]
    fn the_credentials_are_in_the_settings_file_only() {
        let c = cache(ChannelPolicy::ReadWrite, "ci").unwrap();
        let file = String::from_utf8(c.settings_file("cpu")).unwrap();
        assert!(file.starts_with("remote_storage = redis://ci:s3cr%40t@cache:6379/2|"));
        assert_eq!(c.server(), "redis://cache:6379/2");
        assert!(!format!("{c:?}").contains("s3cr"));
        assert_eq!(percent_decode("s3cr%40t"), "s3cr@t");
    }
}
