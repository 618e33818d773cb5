use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;

use crate::{Error, Secret};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// AES-256-GCM for secrets at rest (n8n API keys, Git tokens).
///
/// Stored form: `v1:` + base64(nonce || ciphertext+tag). The version prefix leaves room for a
/// key rotation scheme without guessing the format of old rows. A fresh random 96-bit nonce per
/// encryption keeps two encryptions of the same secret unlinkable.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// Builds a cipher from the `ENCRYPTION_KEY` form (base64 of 32 bytes).
    pub fn from_base64(key: &str) -> Result<Self, Error> {
        parse_key(key).map(|k| Self::new(k.expose()))
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| Error::EncryptFailed)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", STANDARD.encode(blob)))
    }

    pub fn decrypt(&self, stored: &str) -> Result<Secret<Vec<u8>>, Error> {
        let body = stored
            .strip_prefix(PREFIX)
            .ok_or(Error::MalformedCiphertext {
                reason: "missing the `v1:` version prefix",
            })?;
        let blob = STANDARD
            .decode(body.trim())
            .map_err(|_| Error::MalformedCiphertext {
                reason: "not valid base64",
            })?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::MalformedCiphertext {
                reason: "too short to hold a nonce and an authentication tag",
            });
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        self.aead
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map(Secret::new)
            .map_err(|_| Error::DecryptFailed)
    }

    pub fn encrypt_str(&self, plaintext: &str) -> Result<String, Error> {
        self.encrypt(plaintext.as_bytes())
    }

    pub fn decrypt_str(&self, stored: &str) -> Result<Secret<String>, Error> {
        let bytes = self.decrypt(stored)?.into_inner();
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| Error::NotUtf8)
    }
}

/// Parses `ENCRYPTION_KEY`; errors never include the value.
pub(crate) fn parse_key(value: &str) -> Result<Secret<[u8; 32]>, Error> {
    let bytes = STANDARD.decode(value.trim()).map_err(|_| Error::Invalid {
        var: "ENCRYPTION_KEY",
        reason: "must be standard base64 of 32 random bytes (e.g. `openssl rand -base64 32`)"
            .into(),
    })?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| Error::Invalid {
        var: "ENCRYPTION_KEY",
        reason: format!("must decode to exactly 32 bytes, got {}", b.len()),
    })?;
    Ok(Secret::new(key))
}

/// A new random key in the `ENCRYPTION_KEY` form.
pub fn generate_key_base64() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    STANDARD.encode(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&[7u8; 32])
    }

    #[test]
    fn round_trips_and_uses_a_fresh_nonce() {
        let c = cipher();
        let a = c.encrypt_str("n8n-api-key-123").unwrap();
        let b = c.encrypt_str("n8n-api-key-123").unwrap();
        assert!(a.starts_with("v1:"));
        assert_ne!(a, b, "two encryptions must differ (random nonce)");
        assert!(!a.contains("n8n-api-key-123"));
        assert_eq!(c.decrypt_str(&a).unwrap().expose(), "n8n-api-key-123");
        assert_eq!(c.decrypt_str(&b).unwrap().expose(), "n8n-api-key-123");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let c = cipher();
        let e = c.encrypt(b"").unwrap();
        assert!(c.decrypt(&e).unwrap().expose().is_empty());
    }

    #[test]
    fn wrong_key_fails_without_leaking() {
        let e = cipher().encrypt_str("plaintext-secret").unwrap();
        let other = Cipher::new(&[8u8; 32]);
        let err = other.decrypt_str(&e).unwrap_err();
        assert!(matches!(err, Error::DecryptFailed));
        let msg = format!("{err} {err:?}");
        assert!(!msg.contains("plaintext-secret"));
        assert!(msg.contains("wrong ENCRYPTION_KEY"), "{msg}");
    }

    #[test]
    fn tampering_is_detected() {
        let c = cipher();
        let e = c.encrypt_str("value").unwrap();
        let mut blob = STANDARD.decode(&e[3..]).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(blob));
        assert!(matches!(c.decrypt(&tampered), Err(Error::DecryptFailed)));
    }

    #[test]
    fn malformed_inputs_name_the_problem() {
        let c = cipher();
        let cases = [
            ("plain", "version prefix"),
            ("v1:!!!not-base64", "base64"),
            ("v1:AAAA", "too short"),
        ];
        for (input, expected) in cases {
            let err = c.decrypt(input).unwrap_err();
            assert!(err.to_string().contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn key_parsing() {
        let k = generate_key_base64();
        assert!(Cipher::from_base64(&k).is_ok());
        let short = STANDARD.encode([1u8; 16]);
        let err = Cipher::from_base64(&short).unwrap_err().to_string();
        assert!(
            err.contains("ENCRYPTION_KEY") && err.contains("32 bytes, got 16"),
            "{err}"
        );
        let err = Cipher::from_base64("not base64 at all!")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ENCRYPTION_KEY") && !err.contains("not base64 at all"),
            "{err}"
        );
    }

    #[test]
    fn non_utf8_plaintext_is_reported() {
        let c = cipher();
        let e = c.encrypt(&[0xff, 0xfe]).unwrap();
        assert!(matches!(c.decrypt_str(&e), Err(Error::NotUtf8)));
        assert_eq!(format!("{c:?}"), "Cipher([redacted])");
    }
}
