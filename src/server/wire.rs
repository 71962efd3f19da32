//! The conversions every gRPC adapter shares between proto wire values and domain values:
//! the verified caller of a request, timestamps, and the empty-string forms of optional ids and
//! dates.

use chrono::NaiveDate;
use prost_types::Timestamp;
use uuid::Uuid;

use crate::context::RequestContext;

/// The caller of a gRPC request, as the guard verified it.
pub fn context<T>(request: &tonic::Request<T>) -> RequestContext {
    RequestContext::from_extensions(request.extensions())
}

pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// `YYYY-MM-DD` (chrono's `Display`, the same text as `%Y-%m-%d` without parsing a format).
pub fn date_text(date: Option<NaiveDate>) -> String {
    date.map(|d| d.to_string()).unwrap_or_default()
}

/// An optional id as proto3 carries it: the empty string for none.
pub fn id_text(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_they_are_read() {
        for text in ["2026-11-27", "0987-03-04", "9999-12-31"] {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
            assert_eq!(date_text(Some(date)), text);
        }
        assert_eq!(date_text(None), "");
    }
}
