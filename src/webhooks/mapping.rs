//! Reading NMS payloads: the LibreNMS and Zabbix examples (flat, or nested as in the curl
//! samples) and the legacy hook's field names, mapped onto one parsed alert. Keywords are
//! matched as words, so `closed` is not `los`.

use serde_json::Value;
use uuid::Uuid;

use crate::incidents::model::{Category, Severity};

/// An alert as read from a payload, before the device is looked up.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub source: &'static str,
    pub host: Option<String>,
    pub ip: Option<String>,
    pub serial: Option<String>,
    pub pon_id: Option<Uuid>,
    pub severity: Severity,
    pub category: Category,
    pub title: String,
    pub description: String,
    pub event_id: Option<String>,
    /// A clear/recovery of an earlier alert rather than a problem.
    pub recovery: bool,
}

/// A bad payload field and what is wrong with it.
pub type FieldError = (&'static str, String);

/// The first of `paths` (dotted) holding a string, number or boolean, as trimmed text.
fn text(body: &Value, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|path| {
        let value = path
            .split('.')
            .try_fold(body, |value, key| value.get(key))?;
        let text = match value {
            Value::String(text) => text.trim().to_string(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => return None,
        };
        Some(text).filter(|text| !text.is_empty())
    })
}

/// The field is a scalar when present.
fn scalar(body: &Value, field: &'static str) -> Result<(), FieldError> {
    match body.get(field) {
        Some(Value::Object(_) | Value::Array(_)) => {
            Err((field, "must be a string or a number".into()))
        }
        _ => Ok(()),
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|ch: char| !ch.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// The fault a free-text alert name describes, with its natural severity.
pub fn classify(text: &str) -> Option<(Category, Severity)> {
    let words = words(text);
    let joined = format!(" {} ", words.join(" "));
    let has = |phrase: &str| joined.contains(&format!(" {phrase} "));
    let starts = |prefix: &str| words.iter().any(|word| word.starts_with(prefix));
    if has("device down") || has("host down") || has("unreachable") {
        Some((Category::DeviceDown, Severity::P1))
    } else if has("los")
        || has("lof")
        || has("lop")
        || has("loss of signal")
        || has("olt card down")
    {
        Some((Category::Los, Severity::P1))
    } else if has("uplink down") || has("link down") || has("port down") {
        Some((Category::UplinkDown, Severity::P1))
    } else if has("power loss") || has("power failure") || has("mains") || has("on battery") {
        Some((Category::PowerLoss, Severity::P2))
    } else if has("low power") || has("optical") || has("rx power") || has("dbm") {
        Some((Category::OpticalLowPower, Severity::P2))
    } else if starts("flap") {
        Some((Category::InterfaceFlaps, Severity::P3))
    } else if has("cpu") || has("memory") {
        Some((Category::HighCpu, Severity::P3))
    } else if has("temperature") || has("humidity") {
        Some((Category::Environmental, Severity::P3))
    } else if has("config") {
        Some((Category::ConfigDrift, Severity::P3))
    } else {
        None
    }
}

/// A boolean as sent by NMS templates: `true`/`false`, 1/0, "true"/"false", "1"/"0", "yes"/"no",
/// "problem"/"ok"; never truthiness of arbitrary text.
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "problem" => Some(true),
            "false" | "0" | "no" | "ok" | "resolved" | "recovery" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn is_recovery_state(state: &str) -> bool {
    matches!(
        state.to_ascii_lowercase().as_str(),
        "recovery" | "recovered" | "ok" | "resolved" | "cleared" | "0"
    )
}

/// LibreNMS: `hostname`, `severity`, `rule`, `alert_id`, `msg`, `state` (or the nested
/// `alert{...}`/`device{hostname}` form). Recovery/ok states clear.
pub fn librenms(body: &Value) -> Result<Parsed, FieldError> {
    for field in ["hostname", "severity", "rule", "alert_id", "msg", "state"] {
        scalar(body, field)?;
    }
    let host = text(body, &["hostname", "device.hostname", "host"]);
    let rule = text(body, &["rule", "alert.rule", "alert.name", "name"])
        .unwrap_or_else(|| "LibreNMS Alert".into());
    let state = text(body, &["state", "alert.state"]).unwrap_or_else(|| "alert".into());
    let severity = match text(body, &["severity", "alert.severity"])
        .unwrap_or_else(|| "critical".into())
        .to_ascii_lowercase()
        .as_str()
    {
        "critical" => Severity::P1,
        "major" => Severity::P2,
        "minor" | "warning" => Severity::P3,
        "info" | "ok" => Severity::P4,
        _ => Severity::P3,
    };
    let category = classify(&rule).map_or(Category::DeviceDown, |(category, _)| category);
    Ok(Parsed {
        source: "LibreNMS",
        title: format!("{} {rule} {state}", host.as_deref().unwrap_or("unknown")),
        host,
        ip: text(body, &["ip", "device.ip"]),
        serial: text(body, &["serial", "device.serial"]),
        pon_id: None,
        severity,
        category,
        description: text(body, &["msg", "alert.msg", "message"]).unwrap_or_default(),
        event_id: text(body, &["alert_id", "alert.id", "id"]),
        recovery: is_recovery_state(&state),
    })
}

/// Zabbix: `host` (or `host{host,ip}`), `severity` (any case), `event_id`/`eventid`, `problem`
/// (a real boolean), `name`, `message`.
pub fn zabbix(body: &Value) -> Result<Parsed, FieldError> {
    for field in ["severity", "event_id", "eventid", "name", "message"] {
        scalar(body, field)?;
    }
    let host = text(body, &["host", "host.host", "hostname"]);
    if host.is_none() && matches!(body.get("host"), Some(Value::Array(_))) {
        return Err(("host", "must be a string or an object with `host`".into()));
    }
    let problem = match body.get("problem") {
        None | Some(Value::Null) => true,
        Some(value) => boolean(value).ok_or((
            "problem",
            "must be a boolean (true/false, 1/0, \"true\"/\"false\")".to_string(),
        ))?,
    };
    let name = text(body, &["name", "trigger.name"]).unwrap_or_else(|| "Zabbix Alert".into());
    let severity = match text(body, &["severity", "trigger.severity"])
        .unwrap_or_else(|| "average".into())
        .to_ascii_lowercase()
        .as_str()
    {
        "disaster" => Severity::P1,
        "high" => Severity::P2,
        "average" | "warning" => Severity::P3,
        "info" | "information" | "not classified" => Severity::P4,
        _ => Severity::P3,
    };
    let category = classify(&name).map_or(Category::DeviceDown, |(category, _)| category);
    Ok(Parsed {
        source: "Zabbix",
        title: format!("{} {name}", host.as_deref().unwrap_or("unknown")),
        host,
        ip: text(body, &["ip", "host.ip"]),
        serial: text(body, &["serial"]),
        pon_id: None,
        severity,
        category,
        description: text(body, &["message"]).unwrap_or_default(),
        event_id: text(body, &["event_id", "eventid"]),
        recovery: !problem,
    })
}

/// The legacy hook: its own keys (`source`, `event_id`, `category`/`rule`/`trigger`, `ip`,
/// `serial`, `pon`, `title`, `message`, ...) and also the example payloads' names (`hostname`,
/// `alert_id`, `eventid`, `msg`, `name`); `problem: false` or a recovery `state` clears.
pub fn legacy(body: &Value) -> Result<Parsed, FieldError> {
    for field in [
        "title", "host", "message", "rule", "category", "event_id", "ip", "serial",
    ] {
        scalar(body, field)?;
    }
    let source = match text(body, &["source", "nms"]).map(|s| s.to_ascii_lowercase()) {
        Some(name) if name.contains("zabbix") => "Zabbix",
        Some(_) => "LibreNMS",
        None if body.get("problem").is_some() || body.get("eventid").is_some() => "Zabbix",
        None => "LibreNMS",
    };
    let raw = text(
        body,
        &["category", "rule", "trigger", "name", "alert", "event"],
    )
    .unwrap_or_else(|| "other".into());
    let classified = classify(&raw);
    let category = text(body, &["category"])
        .and_then(|name| Category::parse(&name))
        .or(classified.map(|(category, _)| category))
        .unwrap_or(Category::Other);
    let severity = text(body, &["priority", "severity"])
        .and_then(|name| Severity::parse(&name))
        .or(classified.map(|(_, severity)| severity))
        .unwrap_or(Severity::P3);
    let host = text(body, &["host", "hostname", "device_name"]);
    let ip = text(body, &["ip", "mgmt_ip", "device.ip"]);
    let title = text(body, &["title"])
        .or_else(|| host.clone())
        .unwrap_or_else(|| format!("{raw} on {}", ip.as_deref().unwrap_or("unknown")));
    let recovery = match body.get("problem") {
        Some(value) if !value.is_null() => !boolean(value).ok_or((
            "problem",
            "must be a boolean (true/false, 1/0, \"true\"/\"false\")".to_string(),
        ))?,
        _ => text(body, &["state"]).is_some_and(|state| is_recovery_state(&state)),
    };
    Ok(Parsed {
        source,
        host,
        ip,
        serial: text(body, &["serial", "device.serial"]),
        pon_id: text(body, &["pon", "pon_id"]).and_then(|id| Uuid::parse_str(&id).ok()),
        severity,
        category,
        title,
        description: text(body, &["message", "alert_message", "msg"]).unwrap_or_default(),
        event_id: text(body, &["event_id", "eventid", "alert_id", "alertid", "id"]),
        recovery,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn librenms_example() {
        let parsed = librenms(&json!({"hostname":"OLT-01","severity":"critical","rule":"Device Down","alert_id":12345,"state":"alert","msg":"OLT-01 no response"})).unwrap();
        assert_eq!(parsed.title, "OLT-01 Device Down alert");
        assert_eq!(parsed.severity, Severity::P1);
        assert_eq!(parsed.category, Category::DeviceDown);
        assert_eq!(parsed.event_id.as_deref(), Some("12345"));
        assert!(!parsed.recovery);
        let recovered =
            librenms(&json!({"hostname":"OLT-01","alert_id":12345,"state":"recovery"})).unwrap();
        assert!(recovered.recovery);
        assert!(librenms(&json!({"severity": {"x": 1}})).is_err());
    }

    #[test]
    fn zabbix_problem_is_a_boolean_not_truthiness() {
        let base = json!({"host":"OLT-01","severity":"High","event_id":"8888","name":"PON1 LOS","message":"ONU flaps on PON1"});
        let parsed = zabbix(&base).unwrap();
        assert_eq!(parsed.title, "OLT-01 PON1 LOS");
        assert_eq!(parsed.severity, Severity::P2);
        assert_eq!(parsed.category, Category::Los);
        for (value, recovery) in [
            (json!(true), false),
            (json!("true"), false),
            (json!(1), false),
            (json!(false), true),
            (json!("false"), true),
            (json!(0), true),
            (json!("0"), true),
        ] {
            let mut body = base.clone();
            body["problem"] = value.clone();
            assert_eq!(zabbix(&body).unwrap().recovery, recovery, "{value}");
        }
        let mut body = base.clone();
        body["problem"] = json!("maybe");
        assert_eq!(zabbix(&body).unwrap_err().0, "problem");
        let nested =
            zabbix(&json!({"eventid": "9", "host": {"host": "OLT-02", "ip": "10.0.0.2"}})).unwrap();
        assert_eq!(nested.host.as_deref(), Some("OLT-02"));
        assert_eq!(nested.ip.as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn keywords_are_words() {
        assert_eq!(classify("Port closed"), None);
        assert_eq!(classify("PON1 LOS").unwrap().0, Category::Los);
        assert_eq!(
            classify("Optical low power").unwrap(),
            (Category::OpticalLowPower, Severity::P2)
        );
        let legacy = legacy(&json!({"rule": "Device Down", "ip": "10.0.0.1"})).unwrap();
        assert_eq!(legacy.title, "Device Down on 10.0.0.1");
        assert_eq!(legacy.severity, Severity::P1);
        let zabbix_like = legacy_source(&json!({"eventid": "1", "problem": "false"}));
        assert_eq!(zabbix_like, ("Zabbix", true));
    }

    fn legacy_source(body: &Value) -> (&'static str, bool) {
        let parsed = legacy(body).unwrap();
        (parsed.source, parsed.recovery)
    }
}
