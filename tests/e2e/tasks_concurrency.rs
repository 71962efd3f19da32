//! Concurrent task changes on one PON (the load a crew's phones put on it): creates and
//! completions racing each other all succeed and the PON's progress counts every one of them.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, backend_sets, call, id_of, ok, unique_name};

const TASKS: usize = 24;

#[tokio::test]
async fn concurrent_task_changes_on_one_pon_neither_deadlock_nor_lose_progress() {
    for backends in backend_sets() {
        let label = backends.label();
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let code = unique_name("PON");
        let pon = id_of(
            &ok(http.post(server.url("/v1/pons")).json(
                &json!({"pon_code": code, "name": code, "ward": "Ward 1", "fiber_count": 24}),
            ))
            .await,
        );

        let creates = (0..TASKS).map(|index| {
            call(http.post(server.url("/v1/tasks")).json(&json!({
                "pon_id": pon, "title": format!("Task {index}"), "step": "Stringing"
            })))
        });
        let mut ids = Vec::new();
        for (code, body) in join_all(creates).await {
            assert_eq!(code, StatusCode::OK, "[{label}] concurrent create: {body}");
            ids.push(id_of(&body));
        }

        let half = &ids[..TASKS / 2];
        for status in ["in_progress", "completed"] {
            let moves = half.iter().map(|id| {
                call(
                    http.post(server.url(&format!("/v1/tasks/{id}/transition")))
                        .json(&json!({"status": status})),
                )
            });
            for (code, body) in join_all(moves).await {
                assert_eq!(
                    code,
                    StatusCode::OK,
                    "[{label}] concurrent {status}: {body}"
                );
            }
        }

        let pon_now = ok(http.get(server.url(&format!("/v1/pons/{pon}")))).await;
        assert_eq!(pon_now["progress"], 50, "[{label}] {pon_now}");
        assert_eq!(
            pon_now["status"], "PON_STATUS_IN_PROGRESS",
            "[{label}] {pon_now}"
        );
        server.stop().await;
    }
}
