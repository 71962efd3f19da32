//! Load generator for benchmarks (not tests): drives one scenario or several against a
//! running server on loopback, bounded by request count and duration, and prints req/s
//! with p50/p99/p999 latencies — and ratios between scenarios measured in the same run.
//! The task scenarios first build a fixture of PONs and tasks (`--fixture-pons`).

mod photo_uploads;
mod tasks_fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use kasi_fiber::proto::v1::auth_service_client::AuthServiceClient;
use kasi_fiber::proto::v1::pon_service_client::PonServiceClient;
use kasi_fiber::proto::v1::task_service_client::TaskServiceClient;
use kasi_fiber::proto::v1::{
    CreatePonRequest, GetPonRequest, ListTasksRequest, ListWorkQueueRequest, LoginRequest, Pon,
};
use prost::Message;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// grpc.health.v1 Check of "" over gRPC (the trivial RPC baseline).
    HealthGrpc,
    /// PonService.GetPon over gRPC.
    GetPonGrpc,
    /// GET /v1/pons/{id} over HTTP/1.1 (the transcoded REST surface).
    GetPonRest,
    /// PonService.GetPon as grpc-web (binary frames) over HTTP/1.1.
    GetPonGrpcWeb,
    /// TaskService.ListWorkQueue of the fixture's crew organization over gRPC (first page).
    WorkQueueGrpc,
    /// TaskService.ListTasks of one fixture PON (first page), PONs in turn.
    ListTasksGrpc,
    /// Signed Zabbix alerts to POST /webhooks/zabbix over HTTP/1.1, spread over
    /// `--alert-devices` event ids (the first of each opens an incident, the rest deduplicate).
    WebhookZabbix,
    /// A 4 MiB JPEG through PhotoService.UploadPhoto over gRPC (client stream of 64 KiB chunks).
    UploadGrpc,
    /// A 4 MiB JPEG through POST /photos/upload, multipart over HTTP/1.1.
    UploadMultipart,
    /// A 4 MiB JPEG presigned: POST /photos/upload-url, PUT of the bytes to the returned URL
    /// (S3's own, or the local store's signed /objects/ URL), POST /photos/register.
    UploadPresigned,
}

impl Scenario {
    fn needs_fixture(self) -> bool {
        matches!(self, Scenario::WorkQueueGrpc | Scenario::ListTasksGrpc)
    }
}

#[derive(Parser)]
#[command(about = "Kasi Fiber load generator (loopback only)")]
struct Args {
    /// Server address (host:port); must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: std::net::SocketAddr,
    /// Scenarios to run, in order, each with the same bounds.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "health-grpc,get-pon-grpc,get-pon-rest,get-pon-grpc-web"
    )]
    scenarios: Vec<Scenario>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections shared by the gRPC workers.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Most requests per scenario.
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Longest run per scenario, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured warm-up per scenario, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// Account to log in with (an ADMIN or PM, since the run creates a PON).
    #[arg(long, env = "LOADGEN_EMAIL")]
    email: String,
    #[arg(long, env = "LOADGEN_PASSWORD", hide_env_values = true)]
    password: String,
    /// PONs to create for the task scenarios (0: none; those scenarios then refuse to run).
    #[arg(long, default_value_t = 0)]
    fixture_pons: usize,
    /// Tasks created on each fixture PON.
    #[arg(long, default_value_t = 100)]
    fixture_tasks_per_pon: usize,
    /// Fixture PONs whose stringing the crew organization is assigned to.
    #[arg(long, default_value_t = 10)]
    fixture_queue_pons: usize,
    /// Page size the task scenarios ask for (0: the server's default of 50).
    #[arg(long, default_value_t = 0)]
    page_size: i32,
    /// HMAC secret of the webhook scenario (the server's NMS_HMAC_SECRET or WEBHOOK_HMAC_ZABBIX).
    #[arg(
        long,
        env = "LOADGEN_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    webhook_secret: String,
    /// Distinct alerts (event ids) the webhook scenario cycles through.
    #[arg(long, default_value_t = 50)]
    alert_devices: u64,
}

/// Adds the bearer token to every gRPC call.
#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// One scenario's result.
struct Outcome {
    scenario: Scenario,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Histogram<u64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn millis(&self, quantile: f64) -> f64 {
        self.latencies.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// What a worker needs to send one request of a scenario.
#[derive(Clone)]
enum Target {
    Health(HealthClient<Channel>),
    GrpcPon(PonServiceClient<Authed>, String),
    Rest(reqwest::Client, String),
    GrpcWeb(reqwest::Client, String, Vec<u8>),
    /// The organization and the page size.
    WorkQueue(TaskServiceClient<Authed>, String, i32),
    /// The PONs to list, which one is next, and the page size.
    PonTasks(TaskServiceClient<Authed>, Arc<Vec<String>>, usize, i32),
    Webhook(Arc<WebhookFeed>),
    PhotoUpload(photo_uploads::Upload),
}

/// Signed alerts for the webhook scenario; `sent` numbers them across workers.
struct WebhookFeed {
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
    devices: u64,
    run: String,
    sent: AtomicU64,
}

impl WebhookFeed {
    /// One alert of the storm, signed; `ok` when the server took it (opened or deduplicated).
    async fn send(&self) -> bool {
        use hmac::Mac;
        let n = self.sent.fetch_add(1, Ordering::Relaxed) % self.devices.max(1);
        let body = format!(
            r#"{{"host":"BENCH-{n}","severity":"High","event_id":"{}-{n}","problem":true,"name":"PON LOS","message":"loadgen"}}"#,
            self.run
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let sent = self
            .client
            .post(self.url.as_str())
            .header("content-type", "application/json")
            .header("x-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
            Err(_) => false,
        }
    }
}

impl Target {
    async fn send(&mut self) -> bool {
        match self {
            Target::Health(client) => client.check(HealthCheckRequest::default()).await.is_ok(),
            Target::GrpcPon(client, id) => client
                .get_pon(GetPonRequest { id: id.clone() })
                .await
                .is_ok(),
            Target::Rest(client, url) => match client.get(url.as_str()).send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            },
            Target::GrpcWeb(client, url, frame) => {
                let sent = client
                    .post(url.as_str())
                    .header("content-type", "application/grpc-web+proto")
                    .body(frame.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) => match response.bytes().await {
                        // A successful answer ends with the trailer frame carrying grpc-status:0.
                        Ok(body) => body.windows(13).any(|w| w == b"grpc-status:0"),
                        Err(_) => false,
                    },
                    Err(_) => false,
                }
            }
            Target::WorkQueue(client, organization_id, page_size) => client
                .list_work_queue(ListWorkQueueRequest {
                    organization_id: organization_id.clone(),
                    page_size: *page_size,
                    page_token: String::new(),
                })
                .await
                .is_ok(),
            Target::PonTasks(client, pon_ids, next, page_size) => {
                *next = (*next + 1) % pon_ids.len();
                client
                    .list_tasks(ListTasksRequest {
                        pon_id: pon_ids[*next].clone(),
                        page_size: *page_size,
                        ..Default::default()
                    })
                    .await
                    .is_ok()
            }
            Target::Webhook(feed) => feed.send().await,
            Target::PhotoUpload(upload) => upload.send().await,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.addr.ip().is_loopback(),
        "loadgen only targets loopback addresses"
    );
    let base = format!("http://{}", args.addr);
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(base.clone())?.connect().await?);
    }
    let token = AuthServiceClient::new(channels[0].clone())
        .login(LoginRequest {
            email: args.email.clone(),
            password: args.password.clone(),
        })
        .await?
        .into_inner()
        .token;
    let bearer = Bearer(format!("Bearer {token}").parse()?);
    let pon_id = create_pon(PonServiceClient::with_interceptor(
        channels[0].clone(),
        bearer.clone(),
    ))
    .await?;
    let mut auth_header = reqwest::header::HeaderMap::new();
    auth_header.insert("authorization", format!("Bearer {token}").parse()?);
    let http = reqwest::Client::builder()
        .default_headers(auth_header)
        .http1_only()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let grpc_web_frame = {
        let payload = GetPonRequest { id: pon_id.clone() }.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        frame
    };
    let fixture = if args
        .scenarios
        .iter()
        .any(|scenario| scenario.needs_fixture())
    {
        anyhow::ensure!(
            args.fixture_pons > 0,
            "the task scenarios need --fixture-pons"
        );
        let shape = tasks_fixture::Shape {
            pons: args.fixture_pons,
            tasks_per_pon: args.fixture_tasks_per_pon,
            queue_pons: args.fixture_queue_pons,
            concurrency: args.concurrency,
        };
        let fixture = match tasks_fixture::existing(channels[0].clone(), bearer.clone()).await? {
            Some(fixture) => {
                println!(
                    "fixture: reusing {} PONs and the crew organization of an earlier run",
                    fixture.pon_ids.len()
                );
                fixture
            }
            None => {
                let started = Instant::now();
                let fixture =
                    tasks_fixture::create(channels[0].clone(), bearer.clone(), shape).await?;
                println!(
                    "fixture: {} PONs x {} tasks, crew assigned to {} PONs' stringing, created in {:.1} s",
                    shape.pons,
                    shape.tasks_per_pon,
                    shape.queue_pons,
                    started.elapsed().as_secs_f64()
                );
                fixture
            }
        };
        Some(fixture)
    } else {
        None
    };
    let webhook_feed = Arc::new(WebhookFeed {
        client: reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(args.concurrency)
            .build()?,
        url: format!("{base}/webhooks/zabbix"),
        secret: args.webhook_secret.clone().into_bytes(),
        devices: args.alert_devices,
        run: uuid::Uuid::now_v7().simple().to_string(),
        sent: AtomicU64::new(0),
    });
    let photo_fixture = photo_uploads::fixture_for(
        &args.scenarios,
        channels[0].clone(),
        bearer.clone(),
        &base,
        http.clone(),
        args.concurrency,
    )
    .await?;
    println!(
        "loadgen: {} in flight, {} gRPC connections, at most {} requests or {} s per scenario (after {} s warm-up)",
        args.concurrency, args.connections, args.requests, args.seconds, args.warmup_seconds
    );
    let pon_list = fixture
        .as_ref()
        .map(|fixture| Arc::new(fixture.pon_ids.clone()));
    let mut outcomes = Vec::new();
    for scenario in &args.scenarios {
        let targets: Vec<Target> = (0..args.concurrency)
            .map(|worker| {
                let channel = channels[worker % channels.len()].clone();
                match scenario {
                    Scenario::HealthGrpc => Target::Health(HealthClient::new(channel)),
                    Scenario::GetPonGrpc => Target::GrpcPon(
                        PonServiceClient::with_interceptor(channel, bearer.clone()),
                        pon_id.clone(),
                    ),
                    Scenario::GetPonRest => {
                        Target::Rest(http.clone(), format!("{base}/v1/pons/{pon_id}"))
                    }
                    Scenario::GetPonGrpcWeb => Target::GrpcWeb(
                        http.clone(),
                        format!("{base}/kasi.fiber.v1.PonService/GetPon"),
                        grpc_web_frame.clone(),
                    ),
                    Scenario::WorkQueueGrpc => Target::WorkQueue(
                        tasks_fixture::task_client(channel, bearer.clone()),
                        fixture.as_ref().expect("fixture").organization_id.clone(),
                        args.page_size,
                    ),
                    Scenario::ListTasksGrpc => Target::PonTasks(
                        tasks_fixture::task_client(channel, bearer.clone()),
                        pon_list.clone().expect("fixture"),
                        worker,
                        args.page_size,
                    ),
                    Scenario::WebhookZabbix => Target::Webhook(webhook_feed.clone()),
                    Scenario::UploadGrpc
                    | Scenario::UploadMultipart
                    | Scenario::UploadPresigned => {
                        Target::PhotoUpload(photo_fixture.as_ref().expect("photo fixture").upload(
                            *scenario,
                            channel,
                            bearer.clone(),
                        ))
                    }
                }
            })
            .collect();
        if args.warmup_seconds > 0 {
            run(
                *scenario,
                &targets,
                u64::MAX,
                Duration::from_secs(args.warmup_seconds),
            )
            .await;
        }
        let outcome = run(
            *scenario,
            &targets,
            args.requests,
            Duration::from_secs(args.seconds),
        )
        .await;
        println!(
            "{:<18} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  p999 {:>7.3} ms  ({} requests, {} errors, {:.1} s)",
            format!("{:?}", outcome.scenario),
            outcome.rate(),
            outcome.millis(0.50),
            outcome.millis(0.99),
            outcome.millis(0.999),
            outcome.requests,
            outcome.errors,
            outcome.elapsed.as_secs_f64()
        );
        photo_uploads::print_throughput(&outcome);
        outcomes.push(outcome);
    }
    print_ratios(&outcomes);
    Ok(())
}

async fn create_pon(mut client: PonServiceClient<Authed>) -> anyhow::Result<String> {
    let code = format!("BENCH-{}", uuid::Uuid::now_v7().simple());
    let pon = Pon {
        pon_code: code,
        name: "Benchmark PON".into(),
        location: "Loopback".into(),
        ward: "Ward 0".into(),
        lat: Some(-26.2),
        lng: Some(27.9),
        fiber_count: 48,
        ..Default::default()
    };
    let created = client
        .create_pon(CreatePonRequest { pon: Some(pon) })
        .await?
        .into_inner();
    Ok(created.id)
}

/// Runs `targets` concurrently until `max_requests` are done or `max_time` passed.
async fn run(
    scenario: Scenario,
    targets: &[Target],
    max_requests: u64,
    max_time: Duration,
) -> Outcome {
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let workers: Vec<_> = targets
        .iter()
        .cloned()
        .map(|mut target| {
            let issued = issued.clone();
            let errors = errors.clone();
            tokio::spawn(async move {
                let mut latencies =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                while issued.fetch_add(1, Ordering::Relaxed) < max_requests
                    && Instant::now() < deadline
                {
                    let sent = Instant::now();
                    if !target.send().await {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    let micros = sent.elapsed().as_micros().clamp(1, 60_000_000) as u64;
                    latencies.saturating_record(micros);
                }
                latencies
            })
        })
        .collect();
    let mut latencies =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    for worker in workers {
        if let Ok(histogram) = worker.await {
            let _ = latencies.add(histogram);
        }
    }
    Outcome {
        scenario,
        requests: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latencies,
    }
}

fn print_ratios(outcomes: &[Outcome]) {
    let find = |wanted: Scenario| outcomes.iter().find(|outcome| outcome.scenario == wanted);
    let pairs = [
        (
            Scenario::GetPonGrpc,
            Scenario::HealthGrpc,
            "GetPon gRPC / health Check",
        ),
        (
            Scenario::GetPonRest,
            Scenario::GetPonGrpc,
            "GetPon REST / GetPon gRPC",
        ),
        (
            Scenario::GetPonGrpcWeb,
            Scenario::GetPonGrpc,
            "GetPon grpc-web / GetPon gRPC",
        ),
    ];
    for (numerator, denominator, label) in pairs.into_iter().chain(photo_uploads::RATIOS) {
        if let (Some(top), Some(bottom)) = (find(numerator), find(denominator)) {
            println!("ratio {label}: {:.2}", top.rate() / bottom.rate());
        }
    }
}
