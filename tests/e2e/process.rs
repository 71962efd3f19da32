//! The binary as operators run it: `healthcheck` like grpc_health_probe, `migrate`, and
//! graceful shutdown on SIGTERM completing a request that is in flight.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::harness::{
    Backends, FetchJson, TEST_PASSWORD, TestServer, backend_sets, drop_database, fresh_database,
    real_services,
};

const BINARY: &str = env!("CARGO_BIN_EXE_kasi-fiber");

async fn healthcheck(args: &[&str]) -> (i32, String) {
    let output = Command::new(BINARY)
        .arg("healthcheck")
        .args(args)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn healthcheck_subcommand_exits_zero_only_when_serving() {
    let server = TestServer::start(&Backends::Embedded).await;
    server.wait_ready().await;
    let addr = server.addr.to_string();
    let (code, text) = healthcheck(&["--addr", &addr, "--timeout", "5"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("SERVING"), "{text}");
    let (code, _) = healthcheck(&["--addr", &addr, "--service", "kasi.fiber.v1.PonService"]).await;
    assert_eq!(code, 0);
    let (code, text) = healthcheck(&["--addr", &addr, "--service", "no.such.Service"]).await;
    assert_eq!(code, 3, "unknown service is an RPC failure: {text}");
    server.stop().await;
    let (code, text) = healthcheck(&["--addr", &addr, "--timeout", "1"]).await;
    assert_eq!(code, 2, "nothing listens any more: {text}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the real binary on embedded backends with only the given environment.
fn spawn_server(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(BINARY)
        .env_clear()
        .env("DATA_DIR", data_dir)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_LEVEL", "info")
        .env("READINESS_INTERVAL_MS", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Creates an admin in the data directory with the binary's `seed` command.
async fn seed_admin(data_dir: &std::path::Path) {
    let status = Command::new(BINARY)
        .args([
            "seed",
            "--admin-email",
            "ops@example.test",
            "--admin-password",
            TEST_PASSWORD,
        ])
        .env_clear()
        .env("DATA_DIR", data_dir)
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

async fn login(http: &reqwest::Client, port: u16) -> String {
    let body: serde_json::Value = http
        .post(format!("http://127.0.0.1:{port}/v1/auth/login"))
        .json(&serde_json::json!({"email": "ops@example.test", "password": TEST_PASSWORD}))
        .fetch_json()
        .await;
    body["token"].as_str().unwrap().to_string()
}

async fn wait_healthy(http: &reqwest::Client, port: u16) {
    for _ in 0..200 {
        if http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("binary never became ready");
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_then_exits() {
    let data_dir = tempfile::tempdir().unwrap();
    seed_admin(data_dir.path()).await;
    let port = free_port();
    let mut child = spawn_server(data_dir.path(), port);
    let http = reqwest::Client::new();
    wait_healthy(&http, port).await;
    let token = login(&http, port).await;

    // A request whose body is still arriving when the signal comes.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let in_flight = tokio::spawn(
        http.post(format!("http://127.0.0.1:{port}/v1/pons"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send(),
    );
    sender
        .send(Ok(br#"{"pon_code":"PON-DRAIN","name":"Dr"#.to_vec()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Draining: readiness is gone, new connections are not served.
    assert!(
        reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err(),
        "no new connections while draining"
    );

    sender
        .send(Ok(br#"ain test","fiber_count":12}"#.to_vec()))
        .await
        .unwrap();
    drop(sender);
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    let pon: serde_json::Value = response.json().await.unwrap();
    assert_eq!(pon["pon_code"], "PON-DRAIN");

    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the server exits after draining")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let output = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("NOT_SERVING"), "shutdown is logged: {log}");

    // The drained request's write is durable: a new server on the same data sees it.
    let port = free_port();
    let mut again = spawn_server(data_dir.path(), port);
    wait_healthy(&http, port).await;
    let token = login(&http, port).await;
    let list: serde_json::Value = http
        .get(format!("http://127.0.0.1:{port}/v1/pons"))
        .bearer_auth(&token)
        .fetch_json()
        .await;
    assert_eq!(list["pons"][0]["pon_code"], "PON-DRAIN");
    again.kill().await.unwrap();
}

#[tokio::test]
async fn migrate_subcommand_builds_the_schema() {
    let data_dir = tempfile::tempdir().unwrap();
    let status = Command::new(BINARY)
        .arg("migrate")
        .env_clear()
        .env("DATA_DIR", data_dir.path())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert!(data_dir.path().join("kasi.db").exists());

    let Some(real) = real_services() else { return };
    let url = fresh_database(&real.postgres_admin_url).await;
    let old_spelling = url.replacen("postgres://", "postgresql+psycopg://", 1);
    for _ in 0..2 {
        // Twice: migrations are idempotent.
        let status = Command::new(BINARY)
            .arg("migrate")
            .env_clear()
            .env("DATABASE_URL", &old_spelling)
            .env("DATA_DIR", data_dir.path())
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(&url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT postgis_version() AS v",
        ))
        .await
        .unwrap()
        .expect("PostGIS answers");
    let version: String = row.try_get("", "v").unwrap();
    assert!(!version.is_empty());
    db.close().await.unwrap();
    drop_database(&real.postgres_admin_url, &url).await;
}

/// On PostgreSQL the PON's position is also a PostGIS point (SRID 4326) kept in step by the database.
#[tokio::test]
async fn postgis_point_follows_lat_lng() {
    for backends in backend_sets() {
        let Backends::Real(_) = backends else {
            continue;
        };
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let created: serde_json::Value = http
            .post(server.url("/v1/pons"))
            .json(&serde_json::json!({"pon_code": "PON-GIS", "name": "Geo", "fiber_count": 2, "lat": -26.1, "lng": 28.05}))
            .fetch_json()
            .await;
        use sea_orm::{ConnectionTrait, Database, Statement};
        let db = Database::connect(server.config.database.database_url.clone().unwrap())
            .await
            .unwrap();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT ST_X(geom) AS x, ST_Y(geom) AS y, ST_SRID(geom) AS srid FROM pons WHERE id = $1::uuid",
                [created["id"].as_str().unwrap().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<f64>("", "x").unwrap(), 28.05);
        assert_eq!(row.try_get::<f64>("", "y").unwrap(), -26.1);
        assert_eq!(row.try_get::<i32>("", "srid").unwrap(), 4326);
        db.close().await.unwrap();
        server.stop().await;
    }
}
