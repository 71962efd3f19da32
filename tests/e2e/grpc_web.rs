//! grpc-web over HTTP/1.1 with raw frames (binary and base64 text), compared with REST
//! and native gRPC for the same PON.

use base64::Engine;
use kasi_fiber::proto::v1::{CreatePonRequest, GetPonRequest, Pon};
use prost::Message;

use crate::harness::{FetchJson, TestServer, backend_sets};
use crate::pons_grpc::{client_as, sample_pon};

/// A length-prefixed message frame (flag 0).
fn frame(message: &impl Message) -> Vec<u8> {
    let payload = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Splits a grpc-web response body into its message payloads and its trailer block.
fn split_frames(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let mut messages = Vec::new();
    let mut trailers = String::new();
    while body.len() >= 5 {
        let flag = body[0];
        let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = &body[5..5 + length];
        if flag & 0x80 != 0 {
            trailers.push_str(std::str::from_utf8(payload).unwrap());
        } else {
            messages.push(payload.to_vec());
        }
        body = &body[5 + length..];
    }
    assert!(body.is_empty(), "trailing bytes after the last frame");
    (messages, trailers)
}

/// grpc-web-text bodies are base64 chunks that may each end with padding: decode 4 characters at a time.
fn decode_text(text: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    clean
        .chunks(4)
        .flat_map(|quantum| {
            base64::engine::general_purpose::STANDARD
                .decode(quantum)
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn grpc_web_binary_and_text_return_the_same_pon_as_grpc_and_rest() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let created = client_as(&server, &token)
            .await
            .create_pon(CreatePonRequest {
                pon: Some(sample_pon("PON-WEB")),
            })
            .await
            .unwrap()
            .into_inner();
        let mut auth = reqwest::header::HeaderMap::new();
        auth.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let http1 = reqwest::Client::builder()
            .http1_only()
            .default_headers(auth)
            .build()
            .unwrap();
        let request = GetPonRequest {
            id: created.id.clone(),
        };
        let url = server.url("/kasi.fiber.v1.PonService/GetPon");

        let binary = http1
            .post(&url)
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(frame(&request))
            .send()
            .await
            .unwrap();
        assert_eq!(binary.status(), 200);
        assert_eq!(binary.version(), reqwest::Version::HTTP_11);
        assert_eq!(
            binary.headers()["content-type"],
            "application/grpc-web+proto"
        );
        let (messages, trailers) = split_frames(&binary.bytes().await.unwrap());
        assert_eq!(messages.len(), 1);
        assert!(trailers.contains("grpc-status:0"), "trailers: {trailers}");
        let via_binary = Pon::decode(messages[0].as_slice()).unwrap();
        assert_eq!(via_binary, created, "{}", backends.label());

        let text = http1
            .post(&url)
            .header("content-type", "application/grpc-web-text")
            .header("accept", "application/grpc-web-text")
            .body(base64::engine::general_purpose::STANDARD.encode(frame(&request)))
            .send()
            .await
            .unwrap();
        assert_eq!(text.status(), 200);
        assert!(
            text.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/grpc-web-text")
        );
        let (messages, trailers) = split_frames(&decode_text(&text.bytes().await.unwrap()));
        assert!(trailers.contains("grpc-status:0"));
        assert_eq!(Pon::decode(messages[0].as_slice()).unwrap(), created);

        // The same PON over REST.
        let rest: serde_json::Value = http1
            .get(server.url(&format!("/v1/pons/{}", created.id)))
            .fetch_json()
            .await;
        assert_eq!(rest["id"], created.id.as_str());
        assert_eq!(rest["pon_code"], "PON-WEB");
        assert_eq!(rest["fiber_count"], created.fiber_count);
        assert_eq!(rest["lat"], created.lat.unwrap());

        // Errors travel in the trailers (or trailers-only headers).
        let missing = http1
            .post(&url)
            .header("content-type", "application/grpc-web+proto")
            .body(frame(&GetPonRequest {
                id: uuid::Uuid::now_v7().to_string(),
            }))
            .send()
            .await
            .unwrap();
        let header_status = missing
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string());
        let (_, trailers) = split_frames(&missing.bytes().await.unwrap());
        let status = header_status.unwrap_or_else(|| trailers.clone());
        assert!(
            status.contains('5'),
            "NOT_FOUND (5) expected, got {status:?} / {trailers:?}"
        );
        server.stop().await;
    }
}
