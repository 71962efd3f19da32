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

/// The value at a dotted path, if every step is there.
fn at<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(body, |value, key| value.get(key))
}

/// Each of the (dotted) fields is a string, number or boolean when present.
fn scalars(body: &Value, fields: &[&'static str]) -> Result<(), FieldError> {
    for field in fields {
        if let Some(Value::Object(_) | Value::Array(_)) = at(body, field) {
            return Err((field, "must be a string or a number".into()));
        }
    }
    Ok(())
}

/// Each of the fields is an object when present (the nested payload forms).
fn objects(body: &Value, fields: &[&'static str]) -> Result<(), FieldError> {
    for field in fields {
        match body.get(*field) {
            None | Some(Value::Null | Value::Object(_)) => {}
            Some(_) => return Err((field, "must be an object".into())),
        }
    }
    Ok(())
}

/// An alert must say what failed: a host, an IP, a serial or a trigger (rule) name; a clear
/// may name only the event it clears.
fn identified(parsed: &Parsed, trigger: bool, host_field: &'static str) -> Result<(), FieldError> {
    let named = parsed.host.is_some() || parsed.ip.is_some() || parsed.serial.is_some();
    if named || trigger || (parsed.recovery && parsed.event_id.is_some()) {
        Ok(())
    } else {
        Err((
            host_field,
            "the alert names no host, IP, serial or trigger; send at least one".into(),
        ))
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
    objects(body, &["device", "alert"])?;
    scalars(
        body,
        &[
            "hostname",
            "severity",
            "rule",
            "alert_id",
            "msg",
            "state",
            "host",
            "ip",
            "serial",
            "name",
            "message",
            "id",
            "device.hostname",
            "device.ip",
            "device.serial",
            "alert.rule",
            "alert.name",
            "alert.state",
            "alert.severity",
            "alert.msg",
            "alert.id",
        ],
    )?;
    let host = text(body, &["hostname", "device.hostname", "host"]);
    let named_rule = text(body, &["rule", "alert.rule", "alert.name", "name"]);
    let trigger = named_rule.is_some();
    let rule = named_rule.unwrap_or_else(|| "LibreNMS Alert".into());
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
    let parsed = Parsed {
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
    };
    identified(&parsed, trigger, "hostname")?;
    Ok(parsed)
}

/// Zabbix: `host` (or `host{host,ip}`), `severity` (any case), `event_id`/`eventid`, `problem`
/// (a real boolean), `name`, `message`.
pub fn zabbix(body: &Value) -> Result<Parsed, FieldError> {
    objects(body, &["trigger"])?;
    scalars(
        body,
        &[
            "severity",
            "event_id",
            "eventid",
            "name",
            "message",
            "hostname",
            "ip",
            "serial",
            "host.host",
            "host.ip",
            "trigger.name",
            "trigger.severity",
        ],
    )?;
    let host = text(body, &["host", "host.host", "hostname"]);
    let host_names_something = match body.get("host") {
        None | Some(Value::Null) => true,
        Some(Value::Object(_)) => host.is_some() || text(body, &["host.ip"]).is_some(),
        Some(Value::Array(_)) => false,
        Some(_) => true,
    };
    if !host_names_something {
        return Err((
            "host",
            "must be a string or an object with `host` or `ip`".into(),
        ));
    }
    let problem = match body.get("problem") {
        None | Some(Value::Null) => true,
        Some(value) => boolean(value).ok_or((
            "problem",
            "must be a boolean (true/false, 1/0, \"true\"/\"false\")".to_string(),
        ))?,
    };
    let named = text(body, &["name", "trigger.name"]);
    let trigger = named.is_some();
    let name = named.unwrap_or_else(|| "Zabbix Alert".into());
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
    let parsed = Parsed {
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
    };
    identified(&parsed, trigger, "host")?;
    Ok(parsed)
}

/// The legacy hook: its own keys (`source`, `event_id`, `category`/`rule`/`trigger`, `ip`,
/// `serial`, `pon`, `title`, `message`, ...) and also the example payloads' names (`hostname`,
/// `alert_id`, `eventid`, `msg`, `name`); `problem: false` or a recovery `state` clears.
pub fn legacy(body: &Value) -> Result<Parsed, FieldError> {
    scalars(
        body,
        &[
            "title", "host", "message", "rule", "category", "event_id", "ip", "serial",
        ],
    )?;
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

    #[test]
    fn wrong_types_and_anonymous_alerts_name_the_field() {
        let field = |result: Result<Parsed, FieldError>| result.unwrap_err().0;
        assert_eq!(
            field(zabbix(&json!({"host": {"nested": true}, "event_id": 5}))),
            "host"
        );
        assert_eq!(
            field(zabbix(&json!({"host": ["a"], "event_id": 5}))),
            "host"
        );
        assert_eq!(
            field(zabbix(&json!({"host": "OLT-1", "ip": {"v": 4}}))),
            "ip"
        );
        assert_eq!(
            field(zabbix(&json!({"host": {"host": ["x"]}}))),
            "host.host"
        );
        assert_eq!(
            field(zabbix(&json!({"trigger": "x", "host": "OLT-1"}))),
            "trigger"
        );
        assert_eq!(field(zabbix(&json!({}))), "host");
        assert_eq!(field(zabbix(&json!({"event_id": 5}))), "host");
        assert!(
            zabbix(&json!({"event_id": 5, "problem": false})).is_ok(),
            "a clear by event"
        );
        assert!(zabbix(&json!({"name": "PON1 LOS"})).is_ok());
        assert_eq!(field(librenms(&json!({}))), "hostname");
        assert_eq!(field(librenms(&json!({"device": "OLT-1"}))), "device");
        assert_eq!(
            field(librenms(&json!({"device": {"hostname": {"a": 1}}}))),
            "device.hostname"
        );
        assert_eq!(field(librenms(&json!({"alert_id": 3}))), "hostname");
        assert!(librenms(&json!({"alert_id": 3, "state": "recovery"})).is_ok());
        assert!(librenms(&json!({"device": {"ip": "10.0.0.9"}})).is_ok());
    }

    fn legacy_source(body: &Value) -> (&'static str, bool) {
        let parsed = legacy(body).unwrap();
        (parsed.source, parsed.recovery)
    }
}
