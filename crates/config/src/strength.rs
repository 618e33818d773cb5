//! Refusing weak secrets at start-up.
//!
//! A production install that copies `JWT_SECRET=changeme` from a how-to would sign tokens anyone
//! can forge, and an all-zero `ENCRYPTION_KEY` protects nothing. These checks are heuristics for
//! the values people actually paste (short strings, placeholders, one repeated character or word),
//! not an entropy estimate. Errors name the variable and the rule, never the value.

use crate::Error;

/// HS256 wants a key at least as long as its 256-bit output.
const MIN_JWT_SECRET_LEN: usize = 32;
/// Fewer different characters than this in a 32+ character secret means it was typed, not
/// generated (a random hex string of 32 characters has about 14).
const MIN_DISTINCT_CHARS: usize = 8;
/// A 32-byte random key has about 30 different byte values; 8 is far below any real key.
const MIN_DISTINCT_KEY_BYTES: usize = 8;
/// A secret that is this unit repeated (`devdevdev…`, `abcabc…`) is a placeholder.
const MAX_REPEATED_UNIT: usize = 8;
/// Words of how-tos and sample files; a secret containing one was never generated.
const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "replaceme",
    "replace_me",
    "replace-me",
    "placeholder",
    "yoursecret",
    "your_secret",
    "your-secret",
    "example",
    "password",
];

/// Checks `JWT_SECRET`.
pub(crate) fn check_jwt_secret(value: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::Invalid {
        var: "JWT_SECRET",
        reason,
    };
    if value.len() < MIN_JWT_SECRET_LEN {
        return Err(invalid(format!(
            "must be at least {MIN_JWT_SECRET_LEN} bytes (got {}); generate one with \
             `openssl rand -base64 48`",
            value.len()
        )));
    }
    if let Some(reason) = weak_text(value) {
        return Err(invalid(format!(
            "{reason}; generate one with `openssl rand -base64 48`"
        )));
    }
    Ok(())
}

/// Checks the 32 bytes of `ENCRYPTION_KEY` (its length is checked when it is decoded).
pub(crate) fn check_encryption_key(key: &[u8; 32]) -> Result<(), Error> {
    let mut seen = [false; 256];
    for &b in key {
        seen[usize::from(b)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < MIN_DISTINCT_KEY_BYTES {
        return Err(Error::Invalid {
            var: "ENCRYPTION_KEY",
            reason: format!(
                "is not random (only {distinct} different byte values); generate one with \
                 `openssl rand -base64 32`"
            ),
        });
    }
    Ok(())
}

/// Why a long enough text secret is still weak, if it is.
fn weak_text(value: &str) -> Option<&'static str> {
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return Some("looks like a placeholder");
    }
    let bytes = lower.as_bytes();
    let repeated = (1..=MAX_REPEATED_UNIT.min(bytes.len() / 2))
        .any(|unit| bytes.iter().enumerate().all(|(i, b)| *b == bytes[i % unit]));
    if repeated {
        return Some("is one short text repeated");
    }
    let mut distinct: Vec<u8> = bytes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Some("has too few different characters to be random");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_units_are_found() {
        assert!(weak_text(&"dev".repeat(12)).is_some());
        assert!(weak_text(&"x".repeat(40)).is_some());
        assert!(weak_text(&"abcdefgh".repeat(5)).is_some());
        // a unit longer than the limit with enough distinct characters passes
        assert!(weak_text(&"0123456789abcdef".repeat(2)).is_none());
    }
}
