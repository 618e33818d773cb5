//! The signature of an outgoing webhook, and how a receiver checks it.
//!
//! Header `X-WorkflowOps-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
//! `HMAC-SHA256(key = the channel's secret as UTF-8 bytes, message = "<t>.<raw body>")`. The
//! timestamp is inside the signed message, so a captured request can not be replayed with a
//! fresh `t`; a receiver refuses a `t` further than its tolerance from its own clock
//! ([`DEFAULT_TOLERANCE_SECONDS`]) and may keep the delivery id to refuse exact replays inside
//! the window. Several `v1=` entries may appear (a receiver accepts any that matches), which
//! leaves room for sending under an old and a new secret at once.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header holding the signature.
pub const SIGNATURE_HEADER: &str = "X-WorkflowOps-Signature";
/// The header holding the event type.
pub const EVENT_HEADER: &str = "X-WorkflowOps-Event";
/// The header holding the delivery id: the same on every attempt of one delivery, so that a
/// receiver can ignore a repeat.
pub const DELIVERY_HEADER: &str = "X-WorkflowOps-Delivery";
/// How far from the receiver's clock a timestamp may be (seconds) before the request is
/// refused: five minutes, which covers clock skew and a slow network but not a replay hours
/// later.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;
/// Every secret the server generates starts with this, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: new_from_slice does not fail for it
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable_key(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cold]
fn unreachable_key() -> HmacSha256 {
    // HMAC accepts every key length; this arm exists only because the API returns a Result
    #[allow(clippy::unwrap_used)]
    HmacSha256::new_from_slice(b"").unwrap()
}

/// The hex HMAC of `"<timestamp>.<body>"` under `secret`.
pub fn compute(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp`.
pub fn header_value(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", compute(secret, timestamp, body))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed (expected t=<unix seconds>,v1=<hex>)")]
    Malformed,
    #[error("the timestamp is {skew} s away from now, more than the tolerance of {tolerance} s")]
    OutsideTolerance { skew: i64, tolerance: i64 },
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Checks a received [`SIGNATURE_HEADER`] against the raw body, the channel's secret and the
/// receiver's clock (`now`, unix seconds). The comparison is constant-time.
pub fn verify(
    header: &str,
    secret: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| VerifyError::Malformed)?)
            }
            Some(("v1", hex_sig)) => {
                signatures.push(hex::decode(hex_sig).map_err(|_| VerifyError::Malformed)?)
            }
            // other schemes are ignored, so that new ones can be added without breaking
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let skew = (now - timestamp).abs();
    if skew > tolerance_seconds {
        return Err(VerifyError::OutsideTolerance {
            skew,
            tolerance: tolerance_seconds,
        });
    }
    let expected = mac(secret, timestamp, body);
    if signatures
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// A new signing secret from 32 random bytes (the caller's CSPRNG): `whsec_` and 64 hex digits.
pub fn new_secret(random: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // key "Jefe", data "what do ya want for nothing?": split as "<t>.<body>" is not
        // possible, so check the primitive through a timestamp-free MAC
        let mut m = HmacSha256::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signed_message_is_timestamp_dot_body() {
        let mut m = HmacSha256::new_from_slice(b"whsec_k").unwrap();
        m.update(b"1700000000.{\"a\":1}");
        let expected = hex::encode(m.finalize().into_bytes());
        assert_eq!(compute("whsec_k", 1_700_000_000, br#"{"a":1}"#), expected);
        assert_eq!(
            header_value("whsec_k", 1_700_000_000, br#"{"a":1}"#),
            format!("t=1700000000,v1={expected}")
        );
    }

    #[test]
    fn verify_accepts_the_right_signature_and_refuses_the_rest() {
        let body = br#"{"id":"x"}"#;
        let t = 1_700_000_000;
        let h = header_value("whsec_s", t, body);
        assert_eq!(verify(&h, "whsec_s", body, t + 10, 300), Ok(()));
        assert_eq!(
            verify(&h, "whsec_other", body, t, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&h, "whsec_s", br#"{"id":"y"}"#, t, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&h, "whsec_s", body, t + 301, 300),
            Err(VerifyError::OutsideTolerance {
                skew: 301,
                tolerance: 300
            })
        );
        // a replay with a fresh timestamp but the old signature does not match
        let replay = h.replace(&format!("t={t}"), &format!("t={}", t + 1000));
        assert_eq!(
            verify(&replay, "whsec_s", body, t + 1000, 300),
            Err(VerifyError::Mismatch)
        );
        // any matching v1 is enough; unknown schemes are ignored
        let two = format!(
            "t={t},v0=abc,v1={},v1={}",
            "00".repeat(32),
            compute("whsec_s", t, body)
        );
        assert_eq!(verify(&two, "whsec_s", body, t, 300), Ok(()));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(bad, "whsec_s", body, t, 300),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_are_prefixed_hex() {
        let s = new_secret([7u8; 32]);
        assert!(s.starts_with("whsec_"));
        assert_eq!(s.len(), 6 + 64);
    }
}
