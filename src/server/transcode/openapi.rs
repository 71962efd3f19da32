//! The OpenAPI 3 document of the transcoded REST surface, generated from the same
//! routes and message descriptors the transcoder runs on.

use std::collections::BTreeMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Value, json};

use super::{BodyTarget, Route};

pub fn document(routes: &[Route]) -> Value {
    let mut schemas = BTreeMap::new();
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let input = route.method.input();
        let path_fields: Vec<String> = route
            .template
            .field_paths()
            .map(|path| path.join("."))
            .collect();
        let mut parameters: Vec<Value> = path_fields
            .iter()
            .map(|name| {
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": leaf_schema(&input, name, &mut schemas),
                })
            })
            .collect();
        let mut operation = serde_json::Map::new();
        operation.insert(
            "operationId".into(),
            json!(format!(
                "{}_{}",
                route.method.parent_service().name(),
                route.method.name()
            )),
        );
        operation.insert("tags".into(), json!([route.method.parent_service().name()]));
        match &route.body {
            BodyTarget::Whole => {
                operation.insert(
                    "requestBody".into(),
                    request_body(schema_ref(&input, &mut schemas)),
                );
            }
            BodyTarget::Field(field) => {
                if let Some(field_desc) = input.get_field_by_name(field) {
                    operation.insert(
                        "requestBody".into(),
                        request_body(field_schema(&field_desc, &mut schemas)),
                    );
                }
                parameters.extend(query_parameters(
                    &input,
                    &path_fields,
                    Some(field),
                    &mut schemas,
                ));
            }
            BodyTarget::None => {
                parameters.extend(query_parameters(&input, &path_fields, None, &mut schemas))
            }
        }
        operation.insert("parameters".into(), Value::Array(parameters));
        operation.insert(
            "responses".into(),
            json!({
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": schema_ref(&route.method.output(), &mut schemas)}},
                },
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            }),
        );
        paths
            .entry(route.template.openapi_path())
            .or_default()
            .insert(
                route.http_method.as_str().to_ascii_lowercase(),
                Value::Object(operation),
            );
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["detail", "code", "field_violations"],
            "properties": {
                "detail": {"type": "string"},
                "code": {"type": "string", "description": "gRPC status code name, e.g. NOT_FOUND"},
                "field_violations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
                    },
                },
            },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Kasi Fiber API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "REST/JSON transcoding of the Kasi Fiber gRPC services (proto3 JSON, proto field names).",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn request_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// Top-level request fields that the path and body leave to the query string.
fn query_parameters(
    input: &MessageDescriptor,
    path_fields: &[String],
    body_field: Option<&str>,
    schemas: &mut BTreeMap<String, Value>,
) -> Vec<Value> {
    input
        .fields()
        .filter(|field| !path_fields.iter().any(|path| path == field.name()))
        .filter(|field| Some(field.name()) != body_field)
        .filter(|field| !field.is_map())
        .filter(|field| match field.kind() {
            Kind::Message(desc) => desc.full_name().starts_with("google.protobuf."),
            _ => true,
        })
        .map(|field| {
            json!({
                "name": field.name(),
                "in": "query",
                "required": false,
                "schema": field_schema(&field, schemas),
            })
        })
        .collect()
}

fn leaf_schema(
    input: &MessageDescriptor,
    dotted: &str,
    schemas: &mut BTreeMap<String, Value>,
) -> Value {
    let mut desc = input.clone();
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(field) = desc.get_field_by_name(part) else {
            break;
        };
        if parts.peek().is_none() {
            return field_schema(&field, schemas);
        }
        match field.kind() {
            Kind::Message(next) => desc = next,
            _ => break,
        }
    }
    json!({"type": "string"})
}

fn field_schema(field: &FieldDescriptor, schemas: &mut BTreeMap<String, Value>) -> Value {
    let single = kind_schema(&field.kind(), schemas);
    if field.is_map() {
        let value_schema = match field.kind() {
            Kind::Message(entry) => entry
                .get_field_by_name("value")
                .map(|value| kind_schema(&value.kind(), schemas))
                .unwrap_or_else(|| json!({})),
            _ => json!({}),
        };
        json!({"type": "object", "additionalProperties": value_schema})
    } else if field.is_list() {
        json!({"type": "array", "items": single})
    } else {
        single
    }
}

fn kind_schema(kind: &Kind, schemas: &mut BTreeMap<String, Value>) -> Value {
    match kind {
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int32", "minimum": 0}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": "integer", "format": "int64"})
        }
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "integer", "format": "int64", "minimum": 0}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Enum(desc) => json!({
            "type": "string",
            "enum": desc.values().map(|value| value.name().to_string()).collect::<Vec<_>>(),
        }),
        Kind::Message(desc) => schema_ref(desc, schemas),
    }
}

/// A `$ref` to the message's schema (added on first use), or the inline form of a well-known type.
fn schema_ref(desc: &MessageDescriptor, schemas: &mut BTreeMap<String, Value>) -> Value {
    match desc.full_name() {
        "google.protobuf.Timestamp" => return json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => return json!({"type": "string", "example": "1.5s"}),
        "google.protobuf.FieldMask" => return json!({"type": "string", "example": "name,ward"}),
        "google.protobuf.Empty" => return json!({"type": "object"}),
        "google.protobuf.Struct" => return json!({"type": "object"}),
        _ => {}
    }
    let name = desc.full_name().to_string();
    if !schemas.contains_key(&name) {
        schemas.insert(name.clone(), Value::Null);
        let properties: serde_json::Map<String, Value> = desc
            .fields()
            .map(|field| (field.name().to_string(), field_schema(&field, schemas)))
            .collect();
        schemas.insert(
            name.clone(),
            json!({"type": "object", "properties": properties}),
        );
    }
    json!({"$ref": format!("#/components/schemas/{name}")})
}
