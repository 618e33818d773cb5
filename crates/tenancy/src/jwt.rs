//! Login tokens: HS256 JWTs with the tenant, the user, the role and a `jti` for revocation.

use std::fmt;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Token id; logout puts it on the revocation list until `exp`.
    pub jti: Uuid,
}

impl Claims {
    pub fn new(
        user_id: Uuid,
        tenant_id: Uuid,
        role: Role,
        issued_at: DateTime<Utc>,
        ttl_seconds: u64,
    ) -> Self {
        let iat = issued_at.timestamp();
        let ttl = i64::try_from(ttl_seconds).unwrap_or(i64::MAX);
        Self {
            sub: user_id,
            tenant_id,
            role,
            iat,
            exp: iat.saturating_add(ttl),
            jti: Uuid::new_v4(),
        }
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Signing and verification keys derived from `JWT_SECRET`.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // No leeway: an expired session must stop working at its stated expiry.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn encode(&self, claims: &Claims) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| Error::TokenIssue)
    }

    /// Verifies the signature, the algorithm and the expiry. Revocation is the caller's job
    /// (it needs the database).
    pub fn decode(&self, token: &str) -> Result<Claims, Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Error::TokenExpired,
                ErrorKind::InvalidSignature => Error::TokenInvalid("signature does not verify"),
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    Error::TokenInvalid("algorithm not accepted (HS256 only)")
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    Error::TokenInvalid("a required claim is missing")
                }
                ErrorKind::Json(_) => Error::TokenInvalid("claims are not the expected shape"),
                ErrorKind::ImmatureSignature => Error::TokenInvalid("token is not valid yet"),
                _ => Error::TokenInvalid("not a well-formed JWT"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const SECRET: &[u8] = b"a-test-secret-that-is-long-enough-123";

    fn claims_at(issued: DateTime<Utc>, ttl: u64) -> Claims {
        Claims::new(Uuid::new_v4(), Uuid::new_v4(), Role::Developer, issued, ttl)
    }

    #[test]
    fn round_trip() {
        let keys = JwtKeys::new(SECRET);
        let claims = claims_at(Utc::now(), 3600);
        let token = keys.encode(&claims).unwrap();
        assert_eq!(keys.decode(&token).unwrap(), claims);
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.expires_at().timestamp(), claims.exp);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = JwtKeys::new(SECRET);
        let token = keys
            .encode(&claims_at(Utc::now() - Duration::seconds(7200), 3600))
            .unwrap();
        assert_eq!(keys.decode(&token).unwrap_err(), Error::TokenExpired);
    }

    #[test]
    fn another_secret_does_not_verify() {
        let token = JwtKeys::new(SECRET)
            .encode(&claims_at(Utc::now(), 60))
            .unwrap();
        let err = JwtKeys::new(b"another-secret-another-secret-another")
            .decode(&token)
            .unwrap_err();
        assert_eq!(err, Error::TokenInvalid("signature does not verify"));
    }

    #[test]
    fn garbage_and_wrong_algorithms_are_refused() {
        let keys = JwtKeys::new(SECRET);
        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert!(
                matches!(keys.decode(garbage), Err(Error::TokenInvalid(_))),
                "{garbage}"
            );
        }
        // alg=none with the same claims
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let claims = claims_at(Utc::now(), 60);
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json_bytes(&claims));
        let unsigned = format!("{header}.{body}.");
        assert!(matches!(
            keys.decode(&unsigned),
            Err(Error::TokenInvalid(_))
        ));
        // HS384 signed with the right secret is still refused: HS256 only
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            keys.decode(&hs384).unwrap_err(),
            Error::TokenInvalid("algorithm not accepted (HS256 only)")
        );
    }

    #[test]
    fn a_missing_claim_is_refused() {
        #[derive(Serialize)]
        struct NoTenant {
            sub: Uuid,
            exp: i64,
            iat: i64,
        }
        let now = Utc::now().timestamp();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &NoTenant {
                sub: Uuid::new_v4(),
                exp: now + 60,
                iat: now,
            },
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(matches!(
            JwtKeys::new(SECRET).decode(&token),
            Err(Error::TokenInvalid(_))
        ));
    }

    fn serde_json_bytes(claims: &Claims) -> Vec<u8> {
        // jsonwebtoken re-exports no JSON encoder; build the claims JSON by hand.
        format!(
            r#"{{"sub":"{}","tenant_id":"{}","role":"{}","exp":{},"iat":{},"jti":"{}"}}"#,
            claims.sub, claims.tenant_id, claims.role, claims.exp, claims.iat, claims.jti
        )
        .into_bytes()
    }
}
