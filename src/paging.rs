//! Keyset pagination shared by every List RPC: page sizes and opaque page tokens that
//! carry the sort key (usually the id) of the last row of the previous page.

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

/// One page of rows and the token of the next page (None on the last).
pub type Page<T> = (Vec<T>, Option<String>);

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
    encode_key(kind, &last.to_string())
}

pub fn decode_token(kind: &str, token: &str) -> AppResult<Option<Uuid>> {
    match decode_key(kind, token)? {
        None => Ok(None),
        Some(id) => Uuid::parse_str(&id).map(Some).map_err(|_| invalid_token()),
    }
}

/// A token carrying the sort key `key` of the last row, for listings not ordered by id alone.
pub fn encode_key(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// The sort key of an [`encode_key`] token of `kind` (None for the empty token of a first page).
pub fn decode_key(kind: &str, token: &str) -> AppResult<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid_token())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_token())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(|key| Some(key.to_string()))
        .ok_or_else(invalid_token)
}

pub fn invalid_token() -> AppError {
    AppError::invalid("page_token", "is not a token from this listing")
}

/// Every row of a listing, fetching it page by page (`fetch` gets each page's token).
pub async fn collect_pages<T, F, Fut>(fetch: F) -> AppResult<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = AppResult<Page<T>>>,
{
    collect_pages_up_to(usize::MAX, fetch).await
}

/// [`collect_pages`], stopping after the page that brings the rows to `max_rows` or more.
pub async fn collect_pages_up_to<T, F, Fut>(max_rows: usize, mut fetch: F) -> AppResult<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = AppResult<Page<T>>>,
{
    let mut rows = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = fetch(token).await?;
        rows.extend(page);
        match next {
            Some(next) if rows.len() < max_rows => token = next,
            _ => return Ok(rows),
        }
    }
}

/// Cuts a fetch of `limit + 1` rows down to a page and the token for the next one.
pub fn into_page<T>(kind: &str, rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Page<T> {
    into_keyed_page(kind, rows, limit, |row| id(row).to_string())
}

/// [`into_page`] for listings whose token carries a sort key built by `key`.
pub fn into_keyed_page<T>(
    kind: &str,
    mut rows: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> String,
) -> Page<T> {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|last| encode_key(kind, &key(last)));
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
