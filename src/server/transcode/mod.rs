//! The REST transcoder: one generic engine that turns the `google.api.http` annotations
//! of our protos into HTTP/JSON routes, converts requests to protobuf, calls the gRPC
//! method in-process, and renders the answer (or error) as JSON. It also serves the
//! OpenAPI document built from the same routes.

mod dispatch;
pub mod message;
pub mod openapi;
pub mod template;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ReflectMessage,
};

use crate::error::{FieldViolation, Reason, clip, clip_detail, code_name, http_status_for};
use crate::proto::google::api::{HttpRule, http_rule::Pattern};
use template::PathTemplate;

/// Where the JSON body of a route goes.
#[derive(Clone, Debug)]
pub enum BodyTarget {
    /// No body (GET, DELETE, or `body` unset).
    None,
    /// `body: "*"`: the whole request message.
    Whole,
    /// `body: "field"`: one message field of the request.
    Field(String),
}

/// One HTTP route of one RPC.
#[derive(Clone, Debug)]
pub struct Route {
    pub http_method: Method,
    pub template: PathTemplate,
    pub body: BodyTarget,
    pub method: MethodDescriptor,
    /// `/package.Service/Method`.
    pub grpc_path: String,
}

/// The routes of every annotated unary RPC in the pool, and the router that runs them.
pub struct Transcoder {
    routes: Vec<Route>,
    grpc: axum::Router,
    max_body_bytes: usize,
}

impl Transcoder {
    /// Reads the annotations of every service in `pool`; `grpc` is the router of our gRPC services.
    pub fn new(
        pool: &DescriptorPool,
        grpc: axum::Router,
        max_body_bytes: usize,
    ) -> anyhow::Result<Self> {
        Ok(Transcoder {
            routes: routes(pool)?,
            grpc,
            max_body_bytes,
        })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// Every HTTP route declared by the `google.api.http` options in the pool.
pub fn routes(pool: &DescriptorPool) -> anyhow::Result<Vec<Route>> {
    let extension = pool
        .get_extension_by_name("google.api.http")
        .ok_or_else(|| anyhow::anyhow!("google.api.http is not in the descriptor pool"))?;
    let mut routes = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&extension) {
                continue;
            }
            anyhow::ensure!(
                !method.is_client_streaming() && !method.is_server_streaming(),
                "{} is streaming; only unary RPCs can carry google.api.http",
                method.full_name()
            );
            let rule: HttpRule = options
                .get_extension(&extension)
                .as_message()
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: bad google.api.http option", method.full_name())
                })?
                .transcode_to()?;
            let grpc_path = format!("/{}/{}", service.full_name(), method.name());
            for binding in std::iter::once(&rule).chain(rule.additional_bindings.iter()) {
                routes.push(route(&method, binding, &grpc_path)?);
            }
        }
    }
    Ok(routes)
}

fn route(method: &MethodDescriptor, rule: &HttpRule, grpc_path: &str) -> anyhow::Result<Route> {
    let (http_method, path) = match rule.pattern.as_ref() {
        Some(Pattern::Get(path)) => (Method::GET, path),
        Some(Pattern::Put(path)) => (Method::PUT, path),
        Some(Pattern::Post(path)) => (Method::POST, path),
        Some(Pattern::Delete(path)) => (Method::DELETE, path),
        Some(Pattern::Patch(path)) => (Method::PATCH, path),
        Some(Pattern::Custom(custom)) => {
            (Method::from_bytes(custom.kind.as_bytes())?, &custom.path)
        }
        None => anyhow::bail!("{}: google.api.http has no pattern", method.full_name()),
    };
    let template = PathTemplate::parse(path)
        .map_err(|err| anyhow::anyhow!("{}: {err}", method.full_name()))?;
    let body = match rule.body.as_str() {
        "" => BodyTarget::None,
        "*" => BodyTarget::Whole,
        field => {
            let found = method.input().get_field_by_name(field);
            anyhow::ensure!(
                found
                    .as_ref()
                    .is_some_and(|f| matches!(f.kind(), Kind::Message(_)) && !f.is_list()),
                "{}: body `{field}` must name a message field of the request",
                method.full_name()
            );
            BodyTarget::Field(field.to_string())
        }
    };
    Ok(Route {
        http_method,
        template,
        body,
        method: method.clone(),
        grpc_path: grpc_path.to_string(),
    })
}

/// The JSON error body of the transcoded surface.
pub fn error_response(
    status: StatusCode,
    code: tonic::Code,
    detail: &str,
    violations: &[FieldViolation],
) -> Response {
    let violations: Vec<FieldViolation> = violations
        .iter()
        .map(|violation| FieldViolation {
            field: clip(&violation.field).into_owned(),
            description: clip(&violation.description).into_owned(),
        })
        .collect();
    let body = serde_json::json!({
        "detail": clip_detail(detail),
        "code": code_name(code),
        "field_violations": violations,
    });
    (status, axum::Json(body)).into_response()
}

fn invalid(violation: FieldViolation) -> Response {
    let detail = format!("{}: {}", violation.field, violation.description);
    error_response(
        StatusCode::BAD_REQUEST,
        tonic::Code::InvalidArgument,
        &detail,
        &[violation],
    )
}

fn status_response(status: &tonic::Status) -> Response {
    let violations: Vec<FieldViolation> = {
        use tonic_types::StatusExt;
        status
            .get_details_bad_request()
            .map(|bad| {
                bad.field_violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: v.field,
                        description: v.description,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // Our reasons (in `ErrorInfo`) name statuses a gRPC code cannot (413, 415).
    let http_status = Reason::of_status(status)
        .map_or_else(|| http_status_for(status.code()), Reason::http_status);
    let mut response = error_response(http_status, status.code(), status.message(), &violations);
    {
        use tonic_types::StatusExt;
        if let Some(delay) = status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay)
        {
            let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
    }
    response
}

/// Answers a gRPC (or grpc-web) call to a method no service has.
fn grpc_unimplemented(content_type: &str, path: &str) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        "grpc-status",
        HeaderValue::from(tonic::Code::Unimplemented as i32),
    );
    if let Ok(value) = HeaderValue::from_str(
        &format!("unknown method {path}").replace(|c: char| !c.is_ascii_graphic() && c != ' ', ""),
    ) {
        headers.insert("grpc-message", value);
    }
    response
}

/// The fallback handler: every request no other route took.
pub async fn handle(State(transcoder): State<Arc<Transcoder>>, request: Request) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = request.uri().path().to_string();
    if content_type.starts_with("application/grpc") {
        return grpc_unimplemented(&content_type, &path);
    }
    let mut allowed = Vec::new();
    let mut matched = None;
    for route in &transcoder.routes {
        if let Some(bindings) = route.template.matches(&path) {
            if route.http_method == request.method() {
                matched = Some((route, bindings));
                break;
            }
            allowed.push(route.http_method.as_str());
        }
    }
    let Some((route, bindings)) = matched else {
        if allowed.is_empty() {
            let detail = format!("no route for {} {path}", request.method());
            return error_response(StatusCode::NOT_FOUND, tonic::Code::NotFound, &detail, &[]);
        }
        let detail = format!("{} is not allowed on {path}", request.method());
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            tonic::Code::Unimplemented,
            &detail,
            &[],
        );
        if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    };
    let query = request.uri().query().unwrap_or("").to_string();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, transcoder.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            let detail = format!(
                "request body is larger than {} bytes",
                transcoder.max_body_bytes
            );
            let violation = FieldViolation {
                field: "body".into(),
                description: detail.clone(),
            };
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::InvalidArgument,
                &detail,
                &[violation],
            );
        }
    };
    let input = match build_request(route, &bindings, &query, &body) {
        Ok(input) => input,
        Err(violation) => return invalid(violation),
    };
    let answer = dispatch::call_unary(
        transcoder.grpc.clone(),
        &route.grpc_path,
        &parts.headers,
        parts.extensions,
        input.encode_to_vec(),
    )
    .await;
    match answer.and_then(|bytes| {
        let output = DynamicMessage::decode(route.method.output(), bytes)
            .map_err(|err| tonic::Status::internal(format!("undecodable response: {err}")))?;
        message::to_json(&output)
            .map_err(|err| tonic::Status::internal(format!("response to JSON: {err}")))
    }) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(status) => status_response(&status),
    }
}

/// The request message from the body, the path variables and the query parameters.
fn build_request(
    route: &Route,
    bindings: &[template::Binding],
    query: &str,
    body: &[u8],
) -> Result<DynamicMessage, FieldViolation> {
    let input_desc = route.method.input();
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    let mut input = match (&route.body, has_body) {
        (BodyTarget::Whole, true) => message::from_json(&input_desc, body, "")?,
        (BodyTarget::Field(field_name), true) => {
            let field = input_desc
                .get_field_by_name(field_name)
                .ok_or_else(|| FieldViolation::new(field_name, "unknown body field"))?;
            let Kind::Message(field_desc) = field.kind() else {
                return Err(FieldViolation::new(
                    field_name,
                    "body field is not a message",
                ));
            };
            let mut input = DynamicMessage::new(input_desc.clone());
            input.set_field(
                &field,
                prost_reflect::Value::Message(message::from_json(&field_desc, body, field_name)?),
            );
            let path_bound: Vec<String> = route
                .template
                .field_paths()
                .filter_map(|path| path.split_first())
                .filter(|(first, _)| *first == field_name)
                .map(|(_, rest)| rest.join("."))
                .collect();
            imply_update_mask(&mut input, &field_desc, body, &path_bound);
            input
        }
        (BodyTarget::None, true) => {
            return Err(FieldViolation::new(
                "body",
                "this route takes no request body",
            ));
        }
        (_, false) => DynamicMessage::new(input_desc.clone()),
    };
    for binding in bindings {
        message::set_from_text(&mut input, &binding.field_path, &binding.value)?;
    }
    let bound: Vec<String> = route
        .template
        .field_paths()
        .map(|path| path.join("."))
        .chain(match &route.body {
            BodyTarget::Field(field) => Some(field.clone()),
            _ => None,
        })
        .collect();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if matches!(route.body, BodyTarget::Whole) {
            return Err(FieldViolation::new(
                key.as_ref(),
                "query parameters are not accepted when the body is the whole request",
            ));
        }
        if bound
            .iter()
            .any(|prefix| key == *prefix || key.starts_with(&format!("{prefix}.")))
        {
            return Err(FieldViolation::new(
                key.as_ref(),
                "is already set by the path or the body",
            ));
        }
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        message::set_from_text(&mut input, &path, &value).map_err(|mut v| {
            if v.description == "unknown field" {
                v.description = "unknown query parameter".into();
            }
            v
        })?;
    }
    Ok(input)
}

/// The `google.protobuf.FieldMask update_mask` of a request, which makes its body a partial update.
pub fn update_mask_field(input: &MessageDescriptor) -> Option<FieldDescriptor> {
    input.get_field_by_name("update_mask").filter(|field| {
        matches!(field.kind(), Kind::Message(desc) if desc.full_name() == "google.protobuf.FieldMask")
    })
}

/// A PATCH-style request with a `google.protobuf.FieldMask update_mask` that the client left out
/// changes exactly the fields present in the JSON body.
/// Fields already named by the path (such as `id`) are left out.
fn imply_update_mask(
    input: &mut DynamicMessage,
    body_desc: &MessageDescriptor,
    body: &[u8],
    path_bound: &[String],
) {
    let Some(mask_field) = update_mask_field(&input.descriptor()) else {
        return;
    };
    let paths: Vec<String> = message::body_field_names(body_desc, body)
        .into_iter()
        .filter(|name| !path_bound.contains(name))
        .collect();
    let Some(mask) = input.get_field_mut(&mask_field).as_message_mut() else {
        return;
    };
    mask.set_field_by_name(
        "paths",
        prost_reflect::Value::List(
            paths
                .into_iter()
                .map(prost_reflect::Value::String)
                .collect(),
        ),
    );
}
