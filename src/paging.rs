//! Keyset pagination shared by every List RPC: page sizes and opaque page tokens that
//! carry the last id of the previous page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

/// Rows to fetch for a requested page size: 0 means the default, larger sizes are capped.
pub fn page_limit(page_size: i32) -> AppResult<u64> {
    match page_size {
        size if size < 0 => Err(AppError::invalid("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        size => Ok((size as u64).min(MAX_PAGE_SIZE)),
    }
}

/// A token for the page after `last`, valid only for listings of `kind`.
pub fn encode_token(kind: &str, last: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{last}"))
}

pub fn decode_token(kind: &str, token: &str) -> AppResult<Option<Uuid>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || AppError::invalid("page_token", "is not a token from this listing");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let id = text
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or_else(invalid)?;
    Uuid::parse_str(id).map(Some).map_err(|_| invalid())
}

/// Cuts a fetch of `limit + 1` rows down to a page and the token for the next one.
pub fn into_page<T>(
    kind: &str,
    mut rows: Vec<T>,
    limit: u64,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<String>) {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|last| encode_token(kind, id(last)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_listing() {
        let id = Uuid::now_v7();
        assert_eq!(
            decode_token("pon", &encode_token("pon", id)).unwrap(),
            Some(id)
        );
        assert!(decode_token("user", &encode_token("pon", id)).is_err());
        assert_eq!(decode_token("pon", "").unwrap(), None);
        assert!(decode_token("pon", "not-a-token").is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(page_limit(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_limit(7).unwrap(), 7);
        assert_eq!(page_limit(10_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_limit(-1).is_err());
        let (page, next) = into_page("x", vec![1, 2, 3], 2, |_| Uuid::nil());
        assert_eq!(page, vec![1, 2]);
        assert!(next.is_some());
        let (page, next) = into_page("x", vec![1, 2], 2, |_| Uuid::nil());
        assert_eq!(page.len(), 2);
        assert!(next.is_none());
    }
}
