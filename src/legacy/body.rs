//! Reading Express JSON bodies field by field, collecting express-validator style errors
//! (`{type, value, msg, path, location}`) so that every bad field is reported at once.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{LegacyError, field_error, validation};

pub struct BodyReader<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<Value>,
}

impl<'a> BodyReader<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        BodyReader {
            body,
            errors: Vec::new(),
        }
    }

    /// Whether the key was sent (also as `null`).
    pub fn has(&self, key: &str) -> bool {
        self.body.contains_key(key)
    }

    fn fail(&mut self, key: &str, msg: &str) {
        self.errors.push(field_error(key, self.body.get(key), msg));
    }

    /// A string, trimmed; `required` refuses an absent or empty one.
    pub fn text(&mut self, key: &str, required: bool, msg: &str) -> Option<String> {
        match self.body.get(key) {
            Some(Value::String(text)) if !(required && text.trim().is_empty()) => {
                Some(text.trim().to_string())
            }
            None | Some(Value::Null) if !required => None,
            _ => {
                self.fail(key, msg);
                None
            }
        }
    }

    /// An integer of at least `min`, also as a numeric string (as `isInt` accepts).
    pub fn int(&mut self, key: &str, min: i64, msg: &str) -> Option<i64> {
        let value = self.body.get(key)?;
        let number = match value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        match number {
            Some(number) if number >= min => Some(number),
            _ => {
                self.fail(key, msg);
                None
            }
        }
    }

    /// A finite number; `null` is None.
    pub fn number(&mut self, key: &str, msg: &str) -> Option<f64> {
        match self.body.get(key)? {
            Value::Null => None,
            Value::Number(number) => number.as_f64(),
            _ => {
                self.fail(key, msg);
                None
            }
        }
    }

    pub fn flag(&mut self, key: &str, msg: &str) -> Option<bool> {
        match self.body.get(key)? {
            Value::Bool(flag) => Some(*flag),
            _ => {
                self.fail(key, msg);
                None
            }
        }
    }

    /// An ISO-8601 date or date-time, as its (UTC) day; `required` refuses an absent one.
    pub fn day(&mut self, key: &str, required: bool, msg: &str) -> Option<NaiveDate> {
        let parsed = match self.body.get(key) {
            None | Some(Value::Null) if !required => return None,
            Some(Value::String(text)) => parse_day(text.trim()),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(key, msg);
        }
        parsed
    }

    /// A due time as Mongo kept it: a date-time (ISO-8601 with offset) is the instant, a day
    /// alone stays a day (the service takes it as the end of that day in the tenant's zone).
    pub fn due(&mut self, key: &str, required: bool, msg: &str) -> Due {
        if let Some(Value::String(text)) = self.body.get(key)
            && let Ok(at) = DateTime::parse_from_rfc3339(text.trim())
        {
            return Due::At(at.to_utc());
        }
        self.day(key, required, msg).map_or(Due::None, Due::Day)
    }

    /// A record id; `null` or `""` is `Some(None)` (cleared), absent is None.
    pub fn id(&mut self, key: &str, msg: &str) -> Option<Option<Uuid>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            Value::String(text) if text.trim().is_empty() => Some(None),
            Value::String(text) => match Uuid::parse_str(text.trim()) {
                Ok(id) => Some(Some(id)),
                Err(_) => {
                    self.fail(key, msg);
                    None
                }
            },
            _ => {
                self.fail(key, msg);
                None
            }
        }
    }

    /// A record id that must be given.
    pub fn required_id(&mut self, key: &str, msg: &str) -> Option<Uuid> {
        match self.id(key, msg) {
            Some(Some(id)) => Some(id),
            // Reported by `id` already.
            None if self.has(key) => None,
            _ => {
                self.fail(key, msg);
                None
            }
        }
    }

    /// The raw value, for nested structures the caller checks itself.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.body.get(key)
    }

    /// Records an error found by the caller.
    pub fn reject(&mut self, key: &str, msg: &str) {
        self.fail(key, msg);
    }

    /// `value` when every field was fine, else the `{errors:[...]}` answer.
    pub fn finish<T>(self, value: T) -> Result<T, LegacyError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(validation(self.errors))
        }
    }
}

/// `2024-01-15`, or a date-time with offset (its UTC day).
/// A due time read by [`BodyReader::due`].
pub enum Due {
    None,
    Day(NaiveDate),
    At(DateTime<Utc>),
}

fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|time| time.to_utc().date_naive())
        })
}
