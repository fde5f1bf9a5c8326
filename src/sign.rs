//! Signed records (the Nix `trusted-public-keys` model): a record pushed to a remote
//! carries an ed25519 signature over what it vouches for (the build key, the digest of the
//! record's bytes and its wheels' digests); a record pulled from a remote is used only
//! when a trusted key signed exactly that.
//!
//! Keys are `NAME:BASE64`, as Nix writes them: the secret file holds 64 bytes, the secret
//! seed then its public key (so a secret key cannot be mistaken for a public one, and the
//! two halves are checked against each other); the config's `trusted-keys` hold the 32
//! bytes of a public key. A signature is `NAME:BASE64` too, so the verifier knows which
//! key to check it against.
//!
//! A secret file of 32 bytes (what wheelbuild wrote before secret keys held their public
//! half) is refused: it cannot be told from a public key, and accepting it would accept a
//! `.public` file as `sign-with`, signing every entry with a key nobody has.

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
    #[error("{} holds a public key (32 bytes), not a secret key", path.display())]
    Public { path: PathBuf },
}

impl KeyError {
    pub fn hint(&self) -> String {
        match self {
            KeyError::Public { .. } => {
                "give the `NAME.secret` file `wheelbuild key generate NAME` writes; \
                a secret key written before secret keys held their public half is 32 bytes too \
                and cannot be told from a public key: generate a new one and list its public \
                key in `[remote] trusted-keys`"
                    .into()
            }
            _ => "create one with `wheelbuild key generate NAME`".into(),
        }
    }
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

/// What a test outcome's signature covers (the remote cache's test entries): a header of
/// its own, so that no signature over a build entry is one over a test outcome, or back.
pub fn test_payload(
    test_key: &str,
    build_key: &str,
    record_digest: &str,
    log_digest: &str,
) -> Vec<u8> {
    format!(
        "wheelbuild test v1\ntest-key {test_key}\nbuild-key {build_key}\nrecord {record_digest}\nlog {log_digest}\n"
    )
    .into_bytes()
}

fn split(text: &str) -> Option<(&str, Vec<u8>)> {
    let (name, b64) = text.trim().split_once(':')?;
    let bytes = STANDARD.decode(b64).ok()?;
    (!name.is_empty()).then_some((name, bytes))
}

/// The name a signature (`NAME:BASE64`) gives its signer.
pub fn signer_name(signature: &str) -> &str {
    signature.split_once(':').map_or("", |(name, _)| name)
}

/// `NAME:BASE64…` with the secret part hidden, for messages.
fn redacted(text: &str) -> String {
    match text.split_once(':') {
        Some((name, _)) => format!("{name}:…"),
        None => "…".into(),
    }
}

/// The secret key a file holds, read the first time it signs: a job that signs nothing
/// (one that only pulls and places) runs without the file.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    key: std::sync::OnceLock<SecretKey>,
}

impl KeyFile {
    pub fn new(path: &Path) -> KeyFile {
        KeyFile {
            path: path.to_path_buf(),
            key: std::sync::OnceLock::new(),
        }
    }

    /// The key, read from the file on the first call.
    pub fn get(&self) -> Result<&SecretKey, KeyError> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let key = SecretKey::read(&self.path)?;
        Ok(self.key.get_or_init(|| key))
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
        SecretKey::parse(&text, path)
    }

    /// The content of the secret file at `path` (named in errors, never the content).
    pub fn parse(text: &str, path: &Path) -> Result<SecretKey, KeyError> {
        let invalid = |detail: &str| KeyError::Invalid {
            shown: format!("{} (its content)", path.display()),
            detail: detail.into(),
        };
        let (name, bytes) = split(text).ok_or_else(|| invalid("expected NAME:BASE64"))?;
        if bytes.len() == 32 {
            return Err(KeyError::Public {
                path: path.to_path_buf(),
            });
        }
        let pair: [u8; 64] = bytes
            .try_into()
            .map_err(|_| invalid("a secret key is 64 bytes (the seed, then its public key)"))?;
        let key = SigningKey::from_keypair_bytes(&pair)
            .map_err(|_| invalid("its public half is not the public key of its seed"))?;
        Ok(SecretKey {
            name: name.to_string(),
            key,
        })
    }

    /// `NAME:BASE64` of the seed and the public key: the secret file's content.
    pub fn to_secret_string(&self) -> String {
        format!(
            "{}:{}",
            self.name,
            STANDARD.encode(self.key.to_keypair_bytes())
        )
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
                shown: redacted(text),
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

    /// Whether `signer`'s public key is trusted under its name.
    pub fn trusts(&self, signer: &SecretKey) -> bool {
        self.0.get(&signer.name) == Some(&signer.key.verifying_key())
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
    fn a_build_entrys_signature_never_vouches_for_a_test_outcome() {
        let key = SecretKey::generate("ci-1").unwrap();
        let trusted = TrustedKeys::parse([key.public().as_str()]).unwrap();
        // The same strings in both: only the header tells them apart.
        let build = payload("t", "sha256:r", &[]);
        let test = test_payload("t", "b", "sha256:r", "none");
        assert!(trusted.verify(&test, &key.sign(&build)).is_err());
        assert!(trusted.verify(&build, &key.sign(&test)).is_err());
        assert_eq!(trusted.verify(&test, &key.sign(&test)), Ok("ci-1".into()));
    }

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

    /// RFC 8032's first test key (its public key derived by `openssl pkey -pubout` too).
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn text(name: &str, hex_parts: &[&str]) -> String {
        let bytes: Vec<u8> = hex_parts
            .iter()
            .flat_map(|h| hex::decode(h).unwrap())
            .collect();
        format!("{name}:{}\n", STANDARD.encode(bytes))
    }

    #[test]
    fn a_secret_key_is_its_seed_then_its_public_key_as_nix_writes_it() {
        let key = SecretKey::parse(&text("rfc", &[SEED, PUBLIC]), Path::new("rfc.secret")).unwrap();
        assert_eq!(key.public(), text("rfc", &[PUBLIC]).trim());
        assert_eq!(key.to_secret_string(), text("rfc", &[SEED, PUBLIC]).trim());
        let generated = SecretKey::generate("ci-1").unwrap();
        let (_, pair) = split(&generated.to_secret_string()).unwrap();
        assert_eq!(pair.len(), 64);
        assert_eq!(
            pair[32..],
            generated.key.verifying_key().to_bytes(),
            "the public half follows the seed"
        );
    }

    #[test]
    fn a_public_key_or_a_secret_of_the_old_form_is_not_a_secret_key() {
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = SecretKey::generate("ci-1")
            .unwrap()
            .write(dir.path())
            .unwrap();
        let e = SecretKey::read(&public).unwrap_err();
        assert!(matches!(e, KeyError::Public { .. }), "{e}");
        assert!(
            e.to_string()
                .ends_with("ci-1.public holds a public key (32 bytes), not a secret key")
        );
        assert!(e.hint().contains("generate a new one"), "{}", e.hint());
        // The old secret form, the bare seed, is 32 bytes too.
        let e = SecretKey::parse(&text("old", &[SEED]), Path::new("old.secret")).unwrap_err();
        assert!(matches!(e, KeyError::Public { .. }), "{e}");
    }

    #[test]
    fn a_secret_key_whose_public_half_is_another_keys_is_refused() {
        let other = SecretKey::generate("other").unwrap();
        let other_public = hex::encode(other.key.verifying_key().to_bytes());
        let e = SecretKey::parse(
            &text("rfc", &[SEED, &other_public]),
            Path::new("rfc.secret"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`rfc.secret (its content)` is not a key: its public half is not the public key of its seed"
        );
        let e = SecretKey::parse(&text("rfc", &[SEED, SEED, SEED]), Path::new("rfc.secret"))
            .unwrap_err();
        assert!(e.to_string().contains("a secret key is 64 bytes"), "{e}");
    }

    #[test]
    fn trusted_keys_trust_a_signer_only_under_its_own_name() {
        let key = SecretKey::generate("ci-1").unwrap();
        let stranger = SecretKey::generate("ci-1").unwrap();
        let trusted = TrustedKeys::parse([key.public().as_str()]).unwrap();
        assert!(trusted.trusts(&key));
        assert!(!trusted.trusts(&stranger), "same name, another key");
        let renamed = format!("other:{}", key.public().split_once(':').unwrap().1);
        assert!(!TrustedKeys::parse([renamed.as_str()]).unwrap().trusts(&key));
    }
}
