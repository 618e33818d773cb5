//! Signatures of Git push webhooks (docs/drift.md#git-push-webhook): HMAC-SHA256 of the body
//! with the environment's webhook secret, in GitHub's `X-Hub-Signature-256` format or in a
//! generic format with a timestamp against replay. Constant-time comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

fn matches(expected: &[u8; 32], given_hex: &str) -> bool {
    match hex::decode(given_hex.trim()) {
        Ok(given) if given.len() == 32 => expected.ct_eq(given.as_slice()).into(),
        _ => false,
    }
}

/// GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body.
pub fn verify_github(secret: &[u8], body: &[u8], header: &str) -> bool {
    header
        .strip_prefix("sha256=")
        .is_some_and(|hex| matches(&hmac_sha256(secret, body), hex))
}

/// How far a generic signature's timestamp may be from now (either way), in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a generic signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenericSignatureError {
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("the signature's timestamp is more than {MAX_SKEW_SECS} s from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// The generic format, `X-WorkflowOps-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
/// HMAC-SHA256 of `"<t>.<body>"`: the timestamp is signed with the body, so a captured request
/// can not be replayed after [`MAX_SKEW_SECS`].
pub fn verify_generic(
    secret: &[u8],
    body: &[u8],
    header: &str,
    now_unix: i64,
) -> Result<(), GenericSignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(GenericSignatureError::Malformed);
    };
    if (now_unix - t).abs() > MAX_SKEW_SECS {
        return Err(GenericSignatureError::Stale);
    }
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    if matches(&hmac_sha256(secret, &signed), v1) {
        Ok(())
    } else {
        Err(GenericSignatureError::Mismatch)
    }
}

/// The header value [`verify_generic`] accepts, for senders and tests.
pub fn sign_generic(secret: &[u8], body: &[u8], now_unix: i64) -> String {
    let mut signed = format!("{now_unix}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={now_unix},v1={}",
        hex::encode(hmac_sha256(secret, &signed))
    )
}

/// GitHub's header value for `body`.
pub fn sign_github(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn long_keys_are_hashed_first() {
        // RFC 4231 test case 6: a 131-byte key
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn github_signatures() {
        // GitHub's documented example
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_github(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            header
        ));
        assert!(!verify_github(b"another secret", b"Hello, World!", header));
        assert!(!verify_github(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            header
        ));
        assert!(!verify_github(b"s", b"b", "sha1=00"));
        assert!(!verify_github(b"s", b"b", "sha256=zz"));
        assert!(verify_github(b"s", b"body", &sign_github(b"s", b"body")));
    }

    #[test]
    fn generic_signatures_carry_a_timestamp_against_replay() {
        let now = 1_800_000_000;
        let h = sign_generic(b"secret", b"{}", now);
        assert_eq!(verify_generic(b"secret", b"{}", &h, now), Ok(()));
        assert_eq!(verify_generic(b"secret", b"{}", &h, now + 300), Ok(()));
        assert_eq!(
            verify_generic(b"secret", b"{}", &h, now + 301),
            Err(GenericSignatureError::Stale)
        );
        assert_eq!(
            verify_generic(b"secret", b"{ }", &h, now),
            Err(GenericSignatureError::Mismatch)
        );
        assert_eq!(
            verify_generic(b"other", b"{}", &h, now),
            Err(GenericSignatureError::Mismatch)
        );
        // a timestamp changed by the sender breaks the signature
        let moved = h.replace(&format!("t={now}"), &format!("t={}", now + 1));
        assert_eq!(
            verify_generic(b"secret", b"{}", &moved, now),
            Err(GenericSignatureError::Mismatch)
        );
        for bad in ["", "v1=00", "t=x,v1=00", "t=1"] {
            assert_eq!(
                verify_generic(b"secret", b"{}", bad, now),
                Err(GenericSignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
