//! Tenant API keys: `wfo_<prefix>_<secret>`.
//!
//! The prefix (12 base62 characters) is stored in clear and indexed, so a key is found with one
//! lookup; only the hex SHA-256 of the secret (32 base62 characters, ~190 bits) is stored, so a
//! database leak does not leak usable keys. A fast hash is enough here because the secret is
//! random, not a human password.

use std::fmt;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;

pub const KEY_PREFIX: &str = "wfo_";
pub const PREFIX_LEN: usize = 12;
pub const SECRET_LEN: usize = 32;

/// A freshly generated key. The plaintext is shown to the user once and then dropped; only
/// `prefix` and `secret_hash` are stored.
pub struct GeneratedApiKey {
    pub prefix: String,
    pub secret_hash: String,
    plaintext: String,
}

impl GeneratedApiKey {
    /// The full key, to be returned exactly once in the creation response.
    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }
}

impl fmt::Debug for GeneratedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedApiKey")
            .field("prefix", &self.prefix)
            .field("plaintext", &"[redacted]")
            .finish()
    }
}

/// A key presented by a client, split into its parts.
pub struct ParsedApiKey {
    pub prefix: String,
    secret: String,
}

impl fmt::Debug for ParsedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedApiKey")
            .field("prefix", &self.prefix)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl ParsedApiKey {
    /// Compares against a stored hash in constant time (the hash of a guess must not leak how
    /// many leading characters matched).
    pub fn verify(&self, stored_hash: &str) -> bool {
        let computed = hash_secret(&self.secret);
        computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }
}

fn random_base62(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub fn generate() -> GeneratedApiKey {
    let prefix = random_base62(PREFIX_LEN);
    let secret = random_base62(SECRET_LEN);
    GeneratedApiKey {
        secret_hash: hash_secret(&secret),
        plaintext: format!("{KEY_PREFIX}{prefix}_{secret}"),
        prefix,
    }
}

/// Hex SHA-256 of the secret part, as stored in `api_keys.secret_hash`.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a bearer token is meant to be an API key (rather than a JWT), so the caller can
/// report a malformed key as such instead of as a malformed JWT.
pub fn looks_like_api_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

pub fn parse(key: &str) -> Result<ParsedApiKey, Error> {
    let rest = key
        .strip_prefix(KEY_PREFIX)
        .ok_or(Error::MalformedApiKey("must start with `wfo_`"))?;
    let (prefix, secret) = rest
        .split_once('_')
        .ok_or(Error::MalformedApiKey("expected `wfo_<prefix>_<secret>`"))?;
    if prefix.len() != PREFIX_LEN || !is_base62(prefix) {
        return Err(Error::MalformedApiKey(
            "the prefix must be 12 letters or digits",
        ));
    }
    if secret.len() != SECRET_LEN || !is_base62(secret) {
        return Err(Error::MalformedApiKey(
            "the secret must be 32 letters or digits",
        ));
    }
    Ok(ParsedApiKey {
        prefix: prefix.to_string(),
        secret: secret.to_string(),
    })
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let key = generate();
        let text = key.plaintext();
        assert!(text.starts_with("wfo_"));
        assert_eq!(text.len(), 4 + PREFIX_LEN + 1 + SECRET_LEN);
        assert!(looks_like_api_key(text));
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.prefix, key.prefix);
        assert!(parsed.verify(&key.secret_hash));
        assert_eq!(key.secret_hash.len(), 64);
        assert!(!key.secret_hash.contains(&text[17..]));
    }

    #[test]
    fn keys_are_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a.prefix, b.prefix);
        assert_ne!(a.plaintext(), b.plaintext());
    }

    #[test]
    fn a_wrong_secret_does_not_verify() {
        let key = generate();
        let other = generate();
        let forged = format!("wfo_{}_{}", key.prefix, &other.plaintext()[17..]);
        assert!(!parse(&forged).unwrap().verify(&key.secret_hash));
        assert!(!parse(key.plaintext()).unwrap().verify(""));
        assert!(!parse(key.plaintext()).unwrap().verify("zz"));
    }

    #[test]
    fn hash_is_hex_sha256() {
        // sha256("abc")
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_keys_say_why() {
        let p = "A".repeat(12);
        let s = "b".repeat(32);
        let cases = [
            ("abc".to_string(), "must start with"),
            ("wfo_nounderscore".to_string(), "expected"),
            (format!("wfo_short_{s}"), "prefix"),
            (format!("wfo_{p}_short"), "secret"),
            (format!("wfo_{}_{s}", "A-".repeat(6)), "prefix"),
            (format!("wfo_{p}_{}", "b_".repeat(16)), "secret"),
            (format!("wfo_{p}_{s}x"), "secret"),
        ];
        for (input, expected) in cases {
            let err = parse(&input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
            assert!(!err.contains(&s), "error must not echo the key");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let key = generate();
        let shown = format!("{key:?} {:?}", parse(key.plaintext()).unwrap());
        assert!(!shown.contains(&key.plaintext()[17..]), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
