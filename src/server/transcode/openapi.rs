//! The OpenAPI 3 document of the transcoded REST surface, generated from the same
//! routes and message descriptors the transcoder runs on.

use std::collections::BTreeMap;

use prost_reflect::{ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Value, json};

use super::template::parameter_name;
use super::{BodyTarget, Route, update_mask_field};
use crate::auth::permissions::{Access, access_for};
use crate::proto::google::api::FieldBehavior;

const BEARER: &str = "bearerAuth";
const ERROR_SCHEMA: &str = "#/components/schemas/Error";
const ERROR_RESPONSE: &str = "#/components/responses/Error";

pub fn document(routes: &[Route]) -> Value {
    let mut builder = Builder {
        schemas: BTreeMap::new(),
        field_behavior: routes.first().and_then(|route| {
            route
                .method
                .parent_pool()
                .get_extension_by_name("google.api.field_behavior")
        }),
    };
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let operation = builder.operation(route);
        paths
            .entry(route.template.openapi_path())
            .or_default()
            .insert(route.http_method.as_str().to_ascii_lowercase(), operation);
    }
    builder.schemas.insert(
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
                        "required": ["field", "description"],
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
        "security": [{BEARER: []}],
        "paths": paths,
        "components": {
            "schemas": builder.schemas,
            "securitySchemes": {
                BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                         "description": "The token of POST /v1/auth/login."},
            },
            "responses": {
                "Error": {
                    "description": "Error: the HTTP status of the gRPC code",
                    "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA}}},
                },
            },
        },
    })
}

/// Collects the component schemas while the operations are written.
struct Builder {
    schemas: BTreeMap<String, Value>,
    /// `google.api.field_behavior`, when the protos import it.
    field_behavior: Option<ExtensionDescriptor>,
}

/// Whether a message schema lists its required fields: a partial update's body leaves them out,
/// as its update mask names what it changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Whole,
    Partial,
}

impl Builder {
    fn operation(&mut self, route: &Route) -> Value {
        let input = route.method.input();
        let path_fields: Vec<String> = route
            .template
            .field_paths()
            .map(|path| path.join("."))
            .collect();
        let mut parameters: Vec<Value> = route
            .template
            .field_paths()
            .map(|path| {
                json!({
                    "name": parameter_name(path),
                    "in": "path",
                    "required": true,
                    "schema": self.path_schema(&input, path),
                })
            })
            .collect();
        let mut operation = serde_json::Map::new();
        let service = route.method.parent_service().name().to_string();
        operation.insert(
            "operationId".into(),
            json!(format!("{service}_{}", route.method.name())),
        );
        operation.insert("tags".into(), json!([service]));
        if access_for(&route.grpc_path) == Some(Access::Public) {
            operation.insert("security".into(), json!([]));
        }
        let body_field = match &route.body {
            BodyTarget::Whole => {
                let schema = self.schema_ref(&input, Shape::Whole);
                operation.insert("requestBody".into(), request_body(schema));
                None
            }
            BodyTarget::Field(field) => {
                if let Some(field_desc) = input.get_field_by_name(field) {
                    let shape = match update_mask_field(&input) {
                        Some(_) => Shape::Partial,
                        None => Shape::Whole,
                    };
                    let schema = self.field_schema(&field_desc, shape);
                    operation.insert("requestBody".into(), request_body(schema));
                }
                Some(field.as_str())
            }
            BodyTarget::None => None,
        };
        if !matches!(route.body, BodyTarget::Whole) {
            parameters.extend(self.query_parameters(&input, &path_fields, body_field));
        }
        operation.insert("parameters".into(), Value::Array(parameters));
        let output = self.schema_ref(&route.method.output(), Shape::Whole);
        operation.insert(
            "responses".into(),
            json!({
                "200": {"description": "OK", "content": {"application/json": {"schema": output}}},
                "4XX": {"$ref": ERROR_RESPONSE},
                "5XX": {"$ref": ERROR_RESPONSE},
            }),
        );
        Value::Object(operation)
    }

    /// Top-level request fields that the path and body leave to the query string.
    fn query_parameters(
        &mut self,
        input: &MessageDescriptor,
        path_fields: &[String],
        body_field: Option<&str>,
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
                    "required": self.is_required(&field),
                    "schema": self.field_schema(&field, Shape::Whole),
                })
            })
            .collect()
    }

    /// The schema of a path variable: the field it binds; a string named like an id is a UUID
    /// (a path names one resource).
    fn path_schema(&mut self, input: &MessageDescriptor, path: &[String]) -> Value {
        let mut desc = input.clone();
        let mut parts = path.iter().peekable();
        while let Some(part) = parts.next() {
            let Some(field) = desc.get_field_by_name(part) else {
                break;
            };
            if parts.peek().is_none() {
                let names_id = field.name() == "id" || field.name().ends_with("_id");
                return match field.kind() {
                    Kind::String if names_id => json!({"type": "string", "format": "uuid"}),
                    _ => self.field_schema(&field, Shape::Whole),
                };
            }
            match field.kind() {
                Kind::Message(next) => desc = next,
                _ => break,
            }
        }
        json!({"type": "string"})
    }

    fn is_required(&self, field: &FieldDescriptor) -> bool {
        let Some(extension) = &self.field_behavior else {
            return false;
        };
        let options = field.options();
        options.has_extension(extension)
            && options
                .get_extension(extension)
                .as_list()
                .is_some_and(|behaviors| {
                    behaviors
                        .iter()
                        .any(|b| b.as_enum_number() == Some(FieldBehavior::Required as i32))
                })
    }

    fn field_schema(&mut self, field: &FieldDescriptor, shape: Shape) -> Value {
        if field.is_map() {
            let value_schema = match field.kind() {
                Kind::Message(entry) => entry
                    .get_field_by_name("value")
                    .map(|value| self.kind_schema(&value.kind(), Shape::Whole))
                    .unwrap_or_else(|| json!({})),
                _ => json!({}),
            };
            return json!({"type": "object", "additionalProperties": value_schema});
        }
        let single = match field.kind() {
            // Resource ids are UUIDs assigned by the server.
            Kind::String if field.name() == "id" => json!({"type": "string", "format": "uuid"}),
            kind => self.kind_schema(&kind, shape),
        };
        if field.is_list() {
            json!({"type": "array", "items": single})
        } else {
            single
        }
    }

    fn kind_schema(&mut self, kind: &Kind, shape: Shape) -> Value {
        match kind {
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": 0})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "integer", "format": "int64"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Enum(desc) => json!({
                "type": "string",
                "enum": desc.values().map(|value| value.name().to_string()).collect::<Vec<_>>(),
            }),
            Kind::Message(desc) => self.schema_ref(desc, shape),
        }
    }

    /// A `$ref` to the message's schema (added on first use), or the inline form of a
    /// well-known type. The partial shape of `pkg.Msg` is the component `pkg.Msg.update`.
    fn schema_ref(&mut self, desc: &MessageDescriptor, shape: Shape) -> Value {
        match desc.full_name() {
            "google.protobuf.Timestamp" => return json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => return json!({"type": "string", "example": "1.5s"}),
            "google.protobuf.FieldMask" => return json!({"type": "string", "example": "name,ward"}),
            "google.protobuf.Empty" | "google.protobuf.Struct" => return json!({"type": "object"}),
            _ => {}
        }
        let name = match shape {
            Shape::Whole => desc.full_name().to_string(),
            Shape::Partial => format!("{}.update", desc.full_name()),
        };
        if !self.schemas.contains_key(&name) {
            self.schemas.insert(name.clone(), Value::Null);
            let mut properties = serde_json::Map::new();
            let mut required = Vec::new();
            for field in desc.fields() {
                if shape == Shape::Whole && self.is_required(&field) {
                    required.push(field.name().to_string());
                }
                let schema = self.field_schema(&field, Shape::Whole);
                properties.insert(field.name().to_string(), schema);
            }
            let mut schema = json!({"type": "object", "properties": properties});
            if !required.is_empty() {
                schema["required"] = json!(required);
            }
            self.schemas.insert(name.clone(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

fn request_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost_reflect::DescriptorPool;

    use super::*;

    fn served_document() -> Value {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        document(&super::super::routes(&pool).unwrap())
    }

    #[test]
    fn one_path_per_resource_and_every_variable_declared() {
        let doc = served_document();
        let paths = doc["paths"].as_object().unwrap();
        let mut shapes = BTreeSet::new();
        for (path, operations) in paths {
            let shape: String = path
                .split('{')
                .map(|piece| piece.split_once('}').map_or(piece, |(_, rest)| rest))
                .collect::<Vec<_>>()
                .join("{}");
            assert!(shapes.insert(shape), "{path} has a sibling template");
            let variables: BTreeSet<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|piece| piece.split_once('}').map(|(name, _)| name))
                .collect();
            for (method, operation) in operations.as_object().unwrap() {
                let declared: Vec<&str> = operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    declared.iter().copied().collect::<BTreeSet<_>>(),
                    variables,
                    "{method} {path}"
                );
                assert_eq!(declared.len(), variables.len(), "{method} {path}");
            }
        }
        assert!(paths.contains_key("/v1/pons/{id}"));
        assert!(!paths.keys().any(|path| path.contains('.')));
    }

    #[test]
    fn bearer_security_except_on_public_operations() {
        let doc = served_document();
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER],
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "The token of POST /v1/auth/login."})
        );
        assert_eq!(doc["security"], json!([{BEARER: []}]));
        let paths = &doc["paths"];
        assert_eq!(paths["/v1/auth/login"]["post"]["security"], json!([]));
        assert_eq!(paths["/v1/auth/register"]["post"]["security"], json!([]));
        assert_eq!(paths["/v1/auth/me"]["get"].get("security"), None);
        assert_eq!(paths["/v1/pons/{id}"]["get"].get("security"), None);
    }

    #[test]
    fn required_formats_and_error_responses() {
        let doc = served_document();
        let schemas = &doc["components"]["schemas"];
        let pon = &schemas["kasi.fiber.v1.Pon"];
        assert_eq!(pon["required"], json!(["pon_code", "name"]));
        assert_eq!(
            pon["properties"]["id"],
            json!({"type": "string", "format": "uuid"})
        );
        assert_eq!(
            pon["properties"]["created_at"],
            json!({"type": "string", "format": "date-time"})
        );
        // A partial update leaves the required fields out.
        let update = &doc["paths"]["/v1/pons/{id}"]["patch"];
        assert_eq!(
            update["requestBody"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/kasi.fiber.v1.Pon.update"})
        );
        assert_eq!(schemas["kasi.fiber.v1.Pon.update"].get("required"), None);
        assert_eq!(
            schemas["kasi.fiber.v1.LoginRequest"]["required"],
            json!(["email", "password"])
        );
        assert_eq!(
            update["parameters"][0],
            json!({"name": "id", "in": "path", "required": true,
                   "schema": {"type": "string", "format": "uuid"}})
        );
        for status in ["4XX", "5XX"] {
            assert_eq!(update["responses"][status], json!({"$ref": ERROR_RESPONSE}));
        }
        assert_eq!(
            schemas["Error"]["required"],
            json!(["detail", "code", "field_violations"])
        );
    }
}
