//! What every inbound webhook passes first: the per-IP, per-route limiter, the IP allowlist
//! (behind trusted proxies) and the HMAC-SHA256 signature of the raw body. Reused by every
//! webhook route (NMS, config backups).

use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use http::{Extensions, HeaderMap};
use sha2::Sha256;

use crate::client_addr::{TrustedProxies, client_ip};
use crate::config::WebhookConfig;
use crate::error::AppResult;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct WebhookGate {
    limiter: RateLimiter,
    limit: u64,
    window: Duration,
    allow_ips: Vec<IpAddr>,
    trusted_proxies: TrustedProxies,
}

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Invalid,
}

impl SignatureError {
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Missing => "Missing signature",
            SignatureError::Invalid => "Invalid signature",
        }
    }
}

impl WebhookGate {
    pub fn new(
        limiter: RateLimiter,
        config: &WebhookConfig,
        trusted_proxies: TrustedProxies,
    ) -> Self {
        WebhookGate {
            limiter,
            limit: config.webhook_ip_limit.max(1),
            window: Duration::from_secs(config.webhook_ip_window.max(1)),
            allow_ips: config.nms_allow_ips.clone(),
            trusted_proxies,
        }
    }

    /// The caller's address (the first forwarded hop only behind a trusted proxy).
    pub fn client(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        client_ip(extensions, headers, &self.trusted_proxies)
    }

    /// Counts one request of `ip` on `route` (each route has its own bucket); refused with a
    /// retry delay once over `WEBHOOK_IP_LIMIT` in `WEBHOOK_IP_WINDOW`.
    pub async fn limit(&self, route: &str, ip: Option<IpAddr>) -> AppResult<()> {
        let who = ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        self.limiter
            .check(&format!("webhook:{route}:{who}"), self.limit, self.window)
            .await
    }

    /// Whether `NMS_ALLOW_IPS` lets `ip` in (an empty list lets everyone in).
    pub fn allowed(&self, ip: Option<IpAddr>) -> bool {
        self.allow_ips.is_empty() || ip.is_some_and(|ip| self.allow_ips.contains(&ip))
    }
}

/// Checks `X-Signature` (else `X-Hub-Signature`): the hex HMAC-SHA256 of `body` under `secret`,
/// with or without a `sha256=` prefix, any case, compared in constant time.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    headers: &HeaderMap,
) -> Result<(), SignatureError> {
    let given = ["x-signature", "x-hub-signature"]
        .into_iter()
        .find_map(|name| headers.get(name))
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(SignatureError::Missing)?;
    let hex_text = given
        .strip_prefix("sha256=")
        .or_else(|| given.strip_prefix("SHA256="))
        .unwrap_or(given);
    let bytes = hex::decode(hex_text).map_err(|_| SignatureError::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&bytes)
        .map_err(|_| SignatureError::Invalid)
}

/// Constant-time equality of two secrets (for plain shared-secret headers).
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"kasi-secret-compare").expect("any key length");
    mac.update(expected);
    let expected = mac.finalize().into_bytes();
    let mut check = Hmac::<Sha256>::new_from_slice(b"kasi-secret-compare").expect("any key length");
    check.update(given);
    check.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_with_and_without_prefix() {
        let body = br#"{"event":"ping"}"#;
        let hex = signed("s3cret", body);
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-signature", value.parse().unwrap());
            headers
        };
        assert_eq!(verify_signature(b"s3cret", body, &headers(&hex)), Ok(()));
        assert_eq!(
            verify_signature(b"s3cret", body, &headers(&format!("sha256={hex}"))),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"s3cret", body, &headers(&hex.to_uppercase())),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"other", body, &headers(&hex)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_signature(b"s3cret", body, &headers("zz")),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_signature(b"s3cret", body, &HeaderMap::new()),
            Err(SignatureError::Missing)
        );
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
    }
}
