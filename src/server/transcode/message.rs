//! Building request messages from HTTP parts (JSON body, path variables, query
//! parameters) and rendering response messages as proto3 JSON, with every error naming
//! the field it is about.

use prost_reflect::{
    DeserializeOptions, DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, SerializeOptions, Value,
};

use crate::error::FieldViolation;

/// Proto3 JSON as the REST surface speaks it: proto field names, defaults emitted,
/// 64-bit integers as numbers, enums as names.
pub fn to_json(message: &DynamicMessage) -> Result<Vec<u8>, serde_json::Error> {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false)
        .use_enum_numbers(false);
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::new(&mut out);
    message.serialize_with_options(&mut serializer, &options)?;
    Ok(out)
}

/// Parses a JSON body into a message of type `desc`. `prefix` is the request field the
/// body fills (empty for `body: "*"`), used to name fields in errors.
pub fn from_json(
    desc: &MessageDescriptor,
    body: &[u8],
    prefix: &str,
) -> Result<DynamicMessage, FieldViolation> {
    let body_name = if prefix.is_empty() { "body" } else { prefix };
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| FieldViolation::new(body_name, format!("malformed JSON: {err}")))?;
    if !value.is_object() {
        return Err(FieldViolation::new(body_name, "must be a JSON object"));
    }
    normalize_enums(desc, &mut value);
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(&value, &mut track);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(desc.clone(), deserializer, &options).map_err(|err| {
        let path = track.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (_, "" | ".") => body_name.to_string(),
            (true, path) => path.to_string(),
            (false, path) => format!("{prefix}.{path}"),
        };
        FieldViolation::new(field, err.to_string())
    })
}

/// The JSON keys of a body object, as proto field names (for an implied update mask).
pub fn body_field_names(desc: &MessageDescriptor, body: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Vec::new();
    };
    object
        .keys()
        .filter_map(|key| field_by_any_name(desc, key).map(|field| field.name().to_string()))
        .collect()
}

fn field_by_any_name(desc: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_name(name)
        .or_else(|| desc.get_field_by_json_name(name))
}

/// Accepts the short enum spellings of the old APIs (`in_progress` for `PON_STATUS_IN_PROGRESS`)
/// by rewriting them to the full names before proto3 JSON parsing.
fn normalize_enums(desc: &MessageDescriptor, value: &mut serde_json::Value) {
    let serde_json::Value::Object(object) = value else {
        return;
    };
    for (key, item) in object.iter_mut() {
        let Some(field) = field_by_any_name(desc, key) else {
            continue;
        };
        if field.is_map() {
            continue;
        }
        let items: Vec<&mut serde_json::Value> = match item {
            serde_json::Value::Array(list) if field.is_list() => list.iter_mut().collect(),
            single => vec![single],
        };
        for element in items {
            match (field.kind(), &*element) {
                (Kind::Enum(enum_desc), serde_json::Value::String(text)) => {
                    if let Some(full) = enum_value_name(&enum_desc, text) {
                        *element = serde_json::Value::String(full);
                    }
                }
                (Kind::Message(message_desc), serde_json::Value::Object(_)) => {
                    normalize_enums(&message_desc, element);
                }
                _ => {}
            }
        }
    }
}

/// The enum value name that `text` means: the name itself, or the short form without the
/// enum's prefix, in any case (`in_progress` → `PON_STATUS_IN_PROGRESS`).
fn enum_value_name(desc: &EnumDescriptor, text: &str) -> Option<String> {
    if desc.get_value_by_name(text).is_some() {
        return Some(text.to_string());
    }
    let full = format!("{}{}", enum_prefix(desc.name()), text.to_ascii_uppercase());
    desc.get_value_by_name(&full)
        .map(|value| value.name().to_string())
}

/// `PonStatus` → `PON_STATUS_`.
fn enum_prefix(enum_name: &str) -> String {
    let mut prefix = String::new();
    for (index, ch) in enum_name.chars().enumerate() {
        if ch.is_ascii_uppercase() && index > 0 {
            prefix.push('_');
        }
        prefix.push(ch.to_ascii_uppercase());
    }
    prefix.push('_');
    prefix
}

/// Sets the (possibly nested) field at `path` from a path variable or query parameter.
pub fn set_from_text(
    message: &mut DynamicMessage,
    path: &[String],
    text: &str,
) -> Result<(), FieldViolation> {
    let name = path.join(".");
    let (leaf, parents) = path
        .split_last()
        .ok_or_else(|| FieldViolation::new("", "empty field path"))?;
    let mut target = message;
    for parent in parents {
        let field = target
            .descriptor()
            .get_field_by_name(parent)
            .ok_or_else(|| FieldViolation::new(name.as_str(), "unknown field"))?;
        let Kind::Message(_) = field.kind() else {
            return Err(FieldViolation::new(
                name.as_str(),
                format!("`{parent}` is not a message"),
            ));
        };
        if field.is_list() || field.is_map() {
            return Err(FieldViolation::new(
                name.as_str(),
                "cannot be set from a URL",
            ));
        }
        target = target
            .get_field_mut(&field)
            .as_message_mut()
            .ok_or_else(|| FieldViolation::new(name.as_str(), "unknown field"))?;
    }
    let field = target
        .descriptor()
        .get_field_by_name(leaf)
        .ok_or_else(|| FieldViolation::new(name.as_str(), "unknown field"))?;
    if field.is_map() {
        return Err(FieldViolation::new(
            name.as_str(),
            "maps cannot be set from a URL",
        ));
    }
    let value = parse_scalar(&field.kind(), text)
        .map_err(|description| FieldViolation::new(name.as_str(), description))?;
    if field.is_list() {
        if let Some(list) = target.get_field_mut(&field).as_list_mut() {
            list.push(value);
        }
    } else {
        target.set_field(&field, value);
    }
    Ok(())
}

fn parse_scalar(kind: &Kind, text: &str) -> Result<Value, String> {
    fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
        text.parse().map_err(|_| format!("`{text}` is not {what}"))
    }
    Ok(match kind {
        Kind::String => Value::String(text.to_string()),
        Kind::Bool => Value::Bool(match text {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(format!("`{text}` is not true or false")),
        }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(number(text, "a 32-bit integer")?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(number(text, "a 64-bit integer")?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(number(text, "an unsigned 32-bit integer")?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(number(text, "an unsigned 64-bit integer")?),
        Kind::Float => Value::F32(number(text, "a number")?),
        Kind::Double => Value::F64(number(text, "a number")?),
        Kind::Bytes => {
            use base64::Engine;
            let engine = base64::engine::general_purpose::STANDARD;
            Value::Bytes(
                engine
                    .decode(text)
                    .map_err(|_| format!("`{text}` is not base64"))?
                    .into(),
            )
        }
        Kind::Enum(desc) => {
            if let Some(name) = enum_value_name(desc, text) {
                Value::EnumNumber(
                    desc.get_value_by_name(&name)
                        .map(|v| v.number())
                        .unwrap_or_default(),
                )
            } else if let Some(value) = text.parse::<i32>().ok().and_then(|n| desc.get_value(n)) {
                Value::EnumNumber(value.number())
            } else {
                let names: Vec<String> = desc
                    .values()
                    .map(|value| value.name().to_string())
                    .collect();
                return Err(format!("`{text}` is not one of {}", names.join(", ")));
            }
        }
        Kind::Message(desc) => {
            // Well-known types have a string form in proto3 JSON (Timestamp, FieldMask, wrappers...).
            let json = match desc.full_name() {
                name if name.ends_with("Value")
                    && name.starts_with("google.protobuf.")
                    && name != "google.protobuf.Value" =>
                {
                    match text.parse::<serde_json::Value>() {
                        Ok(parsed)
                            if !parsed.is_string() && !parsed.is_object() && !parsed.is_array() =>
                        {
                            parsed
                        }
                        _ => serde_json::Value::String(text.to_string()),
                    }
                }
                _ => serde_json::Value::String(text.to_string()),
            };
            let message =
                DynamicMessage::deserialize(desc.clone(), json).map_err(|err| err.to_string())?;
            Value::Message(message)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn enum_prefixes() {
        assert_eq!(enum_prefix("PonStatus"), "PON_STATUS_");
        assert_eq!(enum_prefix("Kind"), "KIND_");
    }

    #[test]
    fn short_enum_names_and_field_errors() {
        let pool = pool();
        let pon = pool.get_message_by_name("kasi.fiber.v1.Pon").unwrap();
        let message =
            from_json(&pon, br#"{"status":"in_progress","fiber_count":4}"#, "pon").unwrap();
        assert_eq!(
            message
                .get_field_by_name("status")
                .unwrap()
                .as_enum_number(),
            Some(2)
        );

        let err = from_json(&pon, br#"{"fiber_count":"many"}"#, "pon").unwrap_err();
        assert_eq!(err.field, "pon.fiber_count");
        let err = from_json(&pon, br#"{"status":"exploded"}"#, "pon").unwrap_err();
        assert_eq!(err.field, "pon.status");
        let err = from_json(&pon, br#"{"nope":1}"#, "pon").unwrap_err();
        assert!(err.description.contains("nope"), "{err:?}");
        let err =
            from_json(&pon, br#"{"equipment":[{"name":"x","status":7.5}]}"#, "pon").unwrap_err();
        assert_eq!(err.field, "pon.equipment[0].status");
        let err = from_json(&pon, b"{not json", "pon").unwrap_err();
        assert_eq!(err.field, "pon");
        assert!(err.description.starts_with("malformed JSON"));
    }

    #[test]
    fn text_values_into_nested_fields() {
        let pool = pool();
        let desc = pool
            .get_message_by_name("kasi.fiber.v1.UpdatePonRequest")
            .unwrap();
        let mut message = DynamicMessage::new(desc);
        set_from_text(&mut message, &["pon".into(), "id".into()], "abc").unwrap();
        set_from_text(&mut message, &["update_mask".into()], "name,ward").unwrap();
        let pon = message.get_field_by_name("pon").unwrap();
        assert_eq!(
            pon.as_message()
                .unwrap()
                .get_field_by_name("id")
                .unwrap()
                .as_str(),
            Some("abc")
        );
        let list_desc = pool
            .get_message_by_name("kasi.fiber.v1.ListPonsRequest")
            .unwrap();
        let mut list = DynamicMessage::new(list_desc);
        set_from_text(&mut list, &["status".into()], "testing").unwrap();
        set_from_text(&mut list, &["page_size".into()], "20").unwrap();
        let err = set_from_text(&mut list, &["page_size".into()], "lots").unwrap_err();
        assert_eq!(err.field, "page_size");
        let err = set_from_text(&mut list, &["status".into()], "sideways").unwrap_err();
        assert!(err.description.contains("PON_STATUS_PLANNED"));
        let json = String::from_utf8(to_json(&list).unwrap()).unwrap();
        assert!(json.contains(r#""status":"PON_STATUS_TESTING""#), "{json}");
        assert!(json.contains(r#""page_size":20"#), "{json}");
    }
}
