//! Creates the S3 bucket when it is missing (`S3_CREATE_BUCKET=true`): one SigV4-signed
//! `PUT /{bucket}`, since `object_store` has no bucket operations.

use anyhow::{Context, bail};
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::S3Config;

type HmacSha256 = Hmac<Sha256>;

pub async fn ensure_bucket(config: &S3Config, endpoint: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(&format!(
        "{}/{}",
        endpoint.trim_end_matches('/'),
        config.s3_bucket
    ))
    .context("S3_ENDPOINT is not a valid URL")?;
    let body = if config.s3_region == "us-east-1" {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            config.s3_region
        )
    };
    let mut request = reqwest::Client::new().put(url.clone()).body(body.clone());
    if let (Some(key), Some(secret)) = (&config.s3_access_key, &config.s3_secret_key) {
        for (name, value) in sign_v4(
            "PUT",
            &url,
            body.as_bytes(),
            &config.s3_region,
            key,
            secret,
            Utc::now(),
        ) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.context("creating the S3 bucket")?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success()
        || text.contains("BucketAlreadyOwnedByYou")
        || text.contains("BucketAlreadyExists")
    {
        tracing::info!(bucket = %config.s3_bucket, "S3 bucket ready");
        Ok(())
    } else {
        bail!(
            "creating S3 bucket {} failed: HTTP {status}: {text}",
            config.s3_bucket
        )
    }
}

/// The headers (`x-amz-date`, `x-amz-content-sha256`, `authorization`) that sign a request with
/// no query string under AWS Signature Version 4.
fn sign_v4(
    method: &str,
    url: &url::Url,
    body: &[u8],
    region: &str,
    access_key: &str,
    secret_key: &str,
    now: chrono::DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let day = now.format("%Y%m%d").to_string();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let payload_hash = hex::encode(Sha256::digest(body));
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{}\n\nhost:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}",
        url.path()
    );
    let scope = format!("{day}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
    for part in [region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    vec![
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", payload_hash),
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
            ),
        ),
    ]
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// AWS's published SigV4 derived-key example: secret `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`,
    /// 20120215, us-east-1, iam → f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d.
    #[test]
    fn signing_key_matches_aws_example() {
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        for part in ["us-east-1", "iam", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn signature_covers_host_with_port_and_date() {
        let url = url::Url::parse("http://127.0.0.1:9000/bucket").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 1, 2, 3).unwrap();
        let headers = sign_v4("PUT", &url, b"", "us-east-1", "AK", "SK", now);
        assert_eq!(headers[0], ("x-amz-date", "20261127T010203Z".to_string()));
        assert!(
            headers[2]
                .1
                .starts_with("AWS4-HMAC-SHA256 Credential=AK/20261127/us-east-1/s3/aws4_request")
        );
        let again = sign_v4("PUT", &url, b"", "us-east-1", "AK", "SK", now);
        assert_eq!(headers, again);
        let other_host = sign_v4(
            "PUT",
            &url::Url::parse("http://127.0.0.1:9001/bucket").unwrap(),
            b"",
            "us-east-1",
            "AK",
            "SK",
            now,
        );
        assert_ne!(headers[2], other_host[2]);
    }
}
