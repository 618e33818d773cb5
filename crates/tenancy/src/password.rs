//! Passwords for people: argon2id (memory-hard, the OWASP recommendation) in PHC string form,
//! so parameters can be raised later without invalidating stored hashes.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::Error;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Rejects passwords that are too short to resist guessing or long enough to be a denial of
/// service on the hasher.
pub fn validate_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::WeakPassword("must be at least 10 characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::WeakPassword("must be at most 1024 bytes"));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, Error> {
    validate_password(password)?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::PasswordHash)
}

/// `Ok(false)` for a wrong password; `Err` only when the stored hash itself is unusable.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, Error> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let parsed = PasswordHash::new(stored).map_err(|_| Error::MalformedPasswordHash)?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Spends the same time as a real verification. Login calls it when the email is unknown or
/// the user has no password, so response time does not reveal which accounts exist.
pub fn burn_verify(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("dummy-password-for-timing").unwrap_or_default());
    let _ = verify_password(password, hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse battery", &hash).unwrap());
        assert!(!verify_password("wrong horse battery", &hash).unwrap());
        let again = hash_password("correct horse battery").unwrap();
        assert_ne!(hash, again, "salts differ");
    }

    #[test]
    fn policy() {
        assert_eq!(
            hash_password("short").unwrap_err(),
            Error::WeakPassword("must be at least 10 characters")
        );
        assert!(validate_password(&"x".repeat(2000)).is_err());
        assert!(validate_password("ten chars!").is_ok());
        assert!(!verify_password(&"x".repeat(2000), "$argon2id$whatever").unwrap());
    }

    #[test]
    fn malformed_stored_hash() {
        assert_eq!(
            verify_password("some password", "not-a-phc-string").unwrap_err(),
            Error::MalformedPasswordHash
        );
        burn_verify("anything at all");
    }
}
