//! HS256 JSON Web Tokens: signing our own, and verifying ours or an external identity
//! provider's. Only HS256 is accepted (never `alg: none`); the MAC is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// Tokens longer than this are refused without parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: i64 = 30;

/// A key with the issuer and audience its tokens must carry (when set).
#[derive(Clone)]
pub struct JwtKey {
    secret: Vec<u8>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Why a token was refused (for logs only; clients are told nothing more than "invalid token").
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is too large")]
    TooLarge,
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not HS256")]
    Algorithm,
    #[error("token signature does not match")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer does not match")]
    Issuer,
    #[error("token audience does not match")]
    Audience,
}

impl JwtKey {
    pub fn new(
        secret: impl Into<Vec<u8>>,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        JwtKey {
            secret: secret.into(),
            issuer,
            audience,
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    /// Signs `claims`, adding `iss` and `aud` when the key has them.
    pub fn sign(&self, mut claims: Map<String, Value>) -> String {
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), Value::String(issuer.clone()));
        }
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), Value::String(audience.clone()));
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The claims of a valid token: HS256, good signature, `exp` in the future, `nbf` passed,
    /// and `iss`/`aud` as configured.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Map<String, Value>, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Value = decode_json(header)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed)?;
        let mut mac = self.mac();
        mac.update(header_and_payload(token).as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| JwtError::Signature)?;
        let Value::Object(claims) = decode_json(payload)? else {
            return Err(JwtError::Malformed);
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(JwtError::Malformed)?;
        if exp + LEEWAY_SECS < now_secs {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
            && nbf - LEEWAY_SECS > now_secs
        {
            return Err(JwtError::NotYetValid);
        }
        if let Some(issuer) = &self.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(JwtError::Issuer);
        }
        if let Some(audience) = &self.audience {
            let matches = match claims.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(list)) => list
                    .iter()
                    .any(|aud| aud.as_str() == Some(audience.as_str())),
                _ => false,
            };
            if !matches {
                return Err(JwtError::Audience);
            }
        }
        Ok(claims)
    }
}

fn header_and_payload(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(signed, _)| signed)
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(exp: i64) -> Map<String, Value> {
        json!({"sub": "u1", "role": "PM", "iat": 1000, "exp": exp})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn round_trip_and_expiry() {
        let key = JwtKey::new("secret", Some("kasi".into()), None);
        let token = key.sign(claims(2000));
        let verified = key.verify(&token, 1500).unwrap();
        assert_eq!(verified["sub"], "u1");
        assert_eq!(verified["iss"], "kasi");
        assert_eq!(key.verify(&token, 2100), Err(JwtError::Expired));
    }

    #[test]
    fn tampering_other_keys_and_alg_none_are_refused() {
        let key = JwtKey::new("secret", None, None);
        let token = key.sign(claims(2000));
        assert_eq!(
            JwtKey::new("other", None, None).verify(&token, 1500),
            Err(JwtError::Signature)
        );

        let (signed, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = signed.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"u1","role":"ADMIN","exp":2000}"#);
        assert_eq!(
            key.verify(&format!("{header}.{forged_payload}.{signature}"), 1500),
            Err(JwtError::Signature)
        );

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = signed.split_once('.').unwrap().1;
        assert_eq!(
            key.verify(&format!("{none_header}.{payload}."), 1500),
            Err(JwtError::Algorithm)
        );
        assert_eq!(key.verify("a.b", 1500), Err(JwtError::Malformed));
        assert_eq!(
            key.verify(&"x".repeat(MAX_TOKEN_BYTES + 1), 1500),
            Err(JwtError::TooLarge)
        );
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let issuer = JwtKey::new("s", Some("a".into()), Some("api".into()));
        let token = issuer.sign(claims(2000));
        assert!(issuer.verify(&token, 1500).is_ok());
        let other_audience = JwtKey::new("s", Some("a".into()), Some("web".into()));
        assert_eq!(other_audience.verify(&token, 1500), Err(JwtError::Audience));
        let other_issuer = JwtKey::new("s", Some("b".into()), None);
        assert_eq!(other_issuer.verify(&token, 1500), Err(JwtError::Issuer));
    }
}
