//! Signed records (the Nix `trusted-public-keys` model): a record pushed to a remote
//! carries an ed25519 signature over what it vouches for (the build key, the digest of the
//! record's bytes and its wheels' digests); a record pulled from a remote is used only
//! when a trusted key signed exactly that.
//!
//! Keys are `NAME:BASE64`: 32 bytes of secret seed in the secret file, 32 bytes of public
//! key in the config's `trusted-keys`. A signature is `NAME:BASE64` too, so the verifier
//! knows which key to check it against.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the signing key {}: {detail}", path.display())]
    Read { path: PathBuf, detail: String },
    #[error("`{shown}` is not a key: {detail}")]
    Invalid { shown: String, detail: String },
    #[error("cannot write {}: {detail}", path.display())]
    Write { path: PathBuf, detail: String },
}

/// A secret key, named.
pub struct SecretKey {
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes.
        write!(f, "SecretKey({})", self.name)
    }
}

/// Public keys whose signatures are accepted, by name.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(BTreeMap<String, VerifyingKey>);

/// What a signature covers: one line per item, in a fixed order.
pub fn payload(key: &str, record_digest: &str, wheel_digests: &[String]) -> Vec<u8> {
    let mut wheels = wheel_digests.to_vec();
    wheels.sort();
    format!(
        "wheelbuild record v1\nkey {key}\nrecord {record_digest}\nwheels {}\n",
        wheels.join(" ")
    )
    .into_bytes()
}

fn split(text: &str) -> Option<(&str, Vec<u8>)> {
    let (name, b64) = text.trim().split_once(':')?;
    let bytes = STANDARD.decode(b64).ok()?;
    (!name.is_empty()).then_some((name, bytes))
}

/// `NAME:BASE64…` with the secret part hidden, for messages.
fn shown(text: &str) -> String {
    match text.split_once(':') {
        Some((name, _)) => format!("{name}:…"),
        None => "…".into(),
    }
}

impl SecretKey {
    /// A new key from the system's random source.
    pub fn generate(name: &str) -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .map_err(|e| KeyError::Read {
                path: "/dev/urandom".into(),
                detail: e.to_string(),
            })?;
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn read(path: &Path) -> Result<SecretKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let invalid = |detail: &str| KeyError::Invalid {
            shown: format!("{} (its content)", path.display()),
            detail: detail.into(),
        };
        let (name, bytes) = split(&text).ok_or_else(|| invalid("expected NAME:BASE64"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("a secret key is 32 bytes"))?;
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// `NAME:BASE64` of the secret seed: the secret file's content.
    pub fn to_secret_string(&self) -> String {
        format!("{}:{}", self.name, STANDARD.encode(self.key.to_bytes()))
    }

    /// `NAME:BASE64` of the public key: what `trusted-keys` lists.
    pub fn public(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            STANDARD.encode(self.key.verifying_key().to_bytes())
        )
    }

    /// The raw ed25519 signature of `payload` (for DSSE envelopes).
    pub fn sign_raw(&self, payload: &[u8]) -> [u8; 64] {
        self.key.sign(payload).to_bytes()
    }

    /// `NAME:BASE64` of the signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        format!(
            "{}:{}",
            self.name,
            STANDARD.encode(self.key.sign(payload).to_bytes())
        )
    }

    /// Write the secret (mode 0600, never replacing a file) and the public key beside it.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let secret = dir.join(format!("{}.secret", self.name));
        let public = dir.join(format!("{}.public", self.name));
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |e: std::io::Error| KeyError::Write {
                path,
                detail: e.to_string(),
            }
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret)
            .map_err(err(&secret))?;
        writeln!(file, "{}", self.to_secret_string()).map_err(err(&secret))?;
        std::fs::write(&public, format!("{}\n", self.public())).map_err(err(&public))?;
        Ok((secret, public))
    }
}

impl TrustedKeys {
    /// From `NAME:BASE64` public keys.
    pub fn parse<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<TrustedKeys, KeyError> {
        let mut out = BTreeMap::new();
        for text in keys {
            let invalid = |detail: &str| KeyError::Invalid {
                shown: shown(text),
                detail: detail.into(),
            };
            let (name, bytes) = split(text).ok_or_else(|| invalid("expected NAME:BASE64"))?;
            let bytes: [u8; 32] = bytes
                .try_into()
                .map_err(|_| invalid("a public key is 32 bytes"))?;
            let key =
                VerifyingKey::from_bytes(&bytes).map_err(|_| invalid("not an ed25519 key"))?;
            out.insert(name.to_string(), key);
        }
        Ok(TrustedKeys(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Which trusted key signed `payload` with `signature` (`NAME:BASE64`); the reason
    /// otherwise.
    pub fn verify(&self, payload: &[u8], signature: &str) -> Result<String, String> {
        let Some((name, bytes)) = split(signature) else {
            return Err("the signature is not NAME:BASE64".into());
        };
        let Some(key) = self.0.get(name) else {
            return Err(format!(
                "it is signed by `{name}`, which is not a trusted key"
            ));
        };
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|_| "the signature is not 64 bytes".to_string())?;
        key.verify(payload, &Signature::from_bytes(&bytes))
            .map(|()| name.to_string())
            .map_err(|_| format!("its signature by `{name}` does not match what it holds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_payload_and_a_trusted_key() {
        let key = SecretKey::generate("ci-1").unwrap();
        let trusted = TrustedKeys::parse([key.public().as_str()]).unwrap();
        let payload = payload("k", "sha256:r", &["sha256:b".into(), "sha256:a".into()]);
        let sig = key.sign(&payload);
        assert_eq!(trusted.verify(&payload, &sig), Ok("ci-1".into()));
        let other = payload_of_other();
        assert!(
            trusted
                .verify(&other, &sig)
                .unwrap_err()
                .contains("does not match")
        );
        let stranger = SecretKey::generate("stranger").unwrap();
        assert!(
            trusted
                .verify(&payload, &stranger.sign(&payload))
                .unwrap_err()
                .contains("not a trusted key")
        );
        // Wheel order does not matter.
        assert_eq!(
            super::payload("k", "sha256:r", &["sha256:a".into(), "sha256:b".into()]),
            payload
        );
    }

    fn payload_of_other() -> Vec<u8> {
        payload("k", "sha256:other", &["sha256:a".into(), "sha256:b".into()])
    }

    #[test]
    fn keys_round_trip_through_files_and_secrets_are_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate("team").unwrap();
        let (secret, public) = key.write(dir.path()).unwrap();
        let back = SecretKey::read(&secret).unwrap();
        assert_eq!(back.public(), key.public());
        assert_eq!(
            std::fs::read_to_string(public).unwrap().trim(),
            key.public()
        );
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            key.write(dir.path()).is_err(),
            "an existing key is not replaced"
        );
        assert_eq!(format!("{back:?}"), "SecretKey(team)");
        let e = TrustedKeys::parse(["team:AAAA"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`team:…` is not a key: a public key is 32 bytes"
        );
    }
}
