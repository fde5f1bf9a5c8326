//! Registry logins: credentials from the Docker config (`$DOCKER_CONFIG/config.json`:
//! `auths`, `credHelpers`, `credsStore`) via docker_credential, and the exchange of an
//! identity token there (what `docker login` stores for Azure ACR and other token logins)
//! for an access token by the OAuth2 `refresh_token` grant, as the Docker CLI does
//! ([`exchange_identity_token`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{BODY_LIMIT, BodyError, read_body};

/// A registry login from the Docker config.
pub(crate) enum Login {
    Anonymous,
    Basic(String, String),
    /// What `docker login` stores for Azure ACR and other token logins: an OAuth2 refresh
    /// token, exchanged per repository by [`exchange_identity_token`].
    IdentityToken(String),
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        match self {
            Login::Anonymous => f.write_str("Anonymous"),
            Login::Basic(user, _) => f.debug_tuple("Basic").field(user).finish(),
            Login::IdentityToken(_) => f.write_str("IdentityToken"),
        }
    }
}

/// A credential lookup that failed: the Docker config is unreadable, or its credential
/// helper failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot get credentials for registry {registry}: {detail}")]
pub(crate) struct CredentialsError {
    pub registry: String,
    pub detail: String,
}

/// The login for a registry from the Docker config; anonymous when none is configured
/// (a credential helper that has none for it included). A helper that fails is an error
/// that says what it said: pulling anonymously instead would hide it behind a refusal.
pub(crate) fn login_for(registry: &str) -> Result<Login, CredentialsError> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let server = if registry == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let failed = |detail: String| CredentialsError {
        registry: registry.to_string(),
        detail,
    };
    match docker_credential::get_credential(server) {
        Ok(DockerCredential::UsernamePassword(user, pass)) => Ok(Login::Basic(user, pass)),
        Ok(DockerCredential::IdentityToken(token)) => Ok(Login::IdentityToken(token)),
        Err(E::ConfigNotFound | E::NoCredentialConfigured) => Ok(Login::Anonymous),
        // The crate reports a missing file and an unparsable one alike; only the latter is ours.
        Err(E::ConfigReadError) => {
            let dir = std::env::var_os("DOCKER_CONFIG")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker"))
                });
            match dir.map(|d| d.join("config.json")).filter(|p| p.exists()) {
                Some(path) => Err(failed(format!("{} is not valid JSON", path.display()))),
                None => Ok(Login::Anonymous),
            }
        }
        Err(E::HelperFailure {
            helper,
            stdout,
            stderr,
        }) => {
            let said = [stderr.trim(), stdout.trim()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            if said.contains("credentials not found") {
                tracing::debug!(registry, helper, "no credentials in helper; anonymous");
                return Ok(Login::Anonymous);
            }
            Err(failed(format!("`{helper} get` failed: {said}")))
        }
        Err(E::HelperCommunicationError) => Err(failed(
            "its credential helper (`docker-credential-…`, named in the Docker config) cannot be run".into(),
        )),
        Err(e) => Err(failed(e.to_string())),
    }
}

/// The hint of a failed credential lookup for `registry`.
pub(crate) fn credentials_hint(registry: &str) -> String {
    format!(
        "check $DOCKER_CONFIG/config.json and the credential helper it names for {registry} \
         (`echo {registry} | docker-credential-NAME get` shows what it says), or log in again \
         (`docker login {registry}`)"
    )
}

/// Why an identity token was not exchanged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// The token server refused it, or the registry named none: the login must change.
    #[error("{0}")]
    Refused(String),
    /// No (usable) answer: worth retrying.
    #[error("{0}")]
    Unreachable(String),
}

/// An access token for `scope` (`repository:NAME:pull`, `…:pull,push`) from the token
/// server of a registry's bearer `challenge` (its `WWW-Authenticate`), in exchange for
/// the Docker identity token `identity_token`: the OAuth2 `refresh_token` grant, as the
/// Docker CLI sends it. Time is the caller's to bound (`http`'s timeout, or a deadline
/// around the call); the answer is read up to [`BODY_LIMIT`].
pub(crate) async fn exchange_identity_token(
    http: &reqwest::Client,
    challenge: &str,
    scope: &str,
    identity_token: &str,
) -> Result<String, ExchangeError> {
    let mut params = challenge_params(challenge);
    let realm = params.remove("realm").ok_or_else(|| {
        ExchangeError::Refused(format!(
            "the registry's challenge `{challenge}` names no token server (realm)"
        ))
    })?;
    let service = params.remove("service").unwrap_or_default();
    // application/x-www-form-urlencoded is a URL query's encoding.
    let mut form = reqwest::Url::parse("http://form/").expect("a valid URL");
    form.query_pairs_mut().extend_pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", identity_token),
        ("service", service.as_str()),
        ("scope", scope),
        ("client_id", "wheelbuild"),
    ]);
    let response = http
        .post(&realm)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form.query().unwrap_or_default().to_string())
        .send()
        .await
        .map_err(|e| {
            ExchangeError::Unreachable(format!("token server {realm}: {}", crate::diag::chain(&e)))
        })?;
    let status = response.status();
    let body = read_body(response, BODY_LIMIT).await.map_err(|e| {
        let detail = match e {
            BodyError::TooLarge(detail) => format!("an answer over the limit ({detail})"),
            BodyError::Transport(detail) => detail,
        };
        ExchangeError::Unreachable(format!("token server {realm}: {detail}"))
    })?;
    if !status.is_success() {
        let said: String = String::from_utf8_lossy(&body)
            .trim()
            .chars()
            .take(200)
            .collect();
        let detail =
            format!("token server {realm} refused the identity token (HTTP {status}: {said})");
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            ExchangeError::Unreachable(detail)
        } else {
            ExchangeError::Refused(detail)
        });
    }
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<String>,
        token: Option<String>,
    }
    serde_json::from_slice::<Answer>(&body)
        .ok()
        .and_then(|a| a.access_token.or(a.token))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ExchangeError::Refused(format!(
                "token server {realm} answered the identity token without an access token"
            ))
        })
}

/// The parameters of a `WWW-Authenticate` challenge (`Bearer realm="…",service="…"`), by
/// lower-case name.
pub(crate) fn challenge_params(challenge: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = challenge
        .trim_start()
        .split_once(char::is_whitespace)
        .map_or("", |(_, r)| r);
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            return params;
        };
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        params.insert(name.trim().to_ascii_lowercase(), value);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_read_quoted_or_not() {
        let params = challenge_params(
            r#"Bearer realm="https://auth.example/token",service=registry.example,scope="repository:team/app:pull,push",error="a \"quoted\" word""#,
        );
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("error", r#"a "quoted" word"#),
                ("realm", "https://auth.example/token"),
                ("scope", "repository:team/app:pull,push"),
                ("service", "registry.example"),
            ]
        );
        assert!(challenge_params("Basic").is_empty());
    }
}
