//! A streaming `multipart/form-data` reader for photo uploads: parts are read one at a time
//! and a file part's bytes are handed on as they arrive, never gathered in memory.

use axum::body::{Body, BodyDataStream};
use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use http::HeaderMap;

use super::service::ChunkSource;
use crate::error::{AppError, AppResult};

/// Largest header block of one part.
const MAX_PART_HEADER: usize = 8 * 1024;
/// Largest text field kept.
const MAX_TEXT_FIELD: usize = 64 * 1024;

/// The headers of one part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
}

pub struct Multipart {
    body: BodyDataStream,
    buffer: BytesMut,
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    /// Whether the current part's data is finished (the next delimiter was reached).
    in_part: bool,
    finished: bool,
    started: bool,
}

fn malformed(why: &str) -> AppError {
    AppError::invalid("body", format!("malformed multipart body: {why}"))
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(headers: &HeaderMap) -> AppResult<String> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(AppError::invalid(
            "content-type",
            "must be multipart/form-data",
        ));
    }
    params
        .split(';')
        .filter_map(|param| param.trim().split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| AppError::invalid("content-type", "has no multipart boundary"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut start = 0;
    while let Some(offset) = haystack[start..=haystack.len() - needle.len()]
        .iter()
        .position(|b| *b == first)
    {
        let at = start + offset;
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

/// `name` and `filename` of a `Content-Disposition: form-data` header block.
fn parse_headers(block: &[u8]) -> AppResult<Part> {
    let text = std::str::from_utf8(block).map_err(|_| malformed("part headers are not UTF-8"))?;
    let mut part = Part::default();
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        for (key, value) in parameters(value) {
            match key.to_ascii_lowercase().as_str() {
                "name" => part.name = value,
                "filename" => part.filename = Some(value),
                _ => {}
            }
        }
    }
    if part.name.is_empty() {
        return Err(malformed("a part has no form-data name"));
    }
    Ok(part)
}

/// The `key=value` parameters after a header's first `;`. A value is a token or a quoted string,
/// which may hold `;` and, escaped with a backslash, `"` and `\\` (any other backslash is
/// kept as it is, so a Windows path survives).
fn parameters(header: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Some((_, mut rest)) = header.split_once(';') else {
        return found;
    };
    loop {
        rest = rest.trim_start_matches([';', ' ', '\t']);
        if rest.is_empty() {
            return found;
        }
        let key_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let key = rest[..key_end].trim().to_string();
        rest = &rest[key_end..];
        let Some(after_equals) = rest.strip_prefix('=') else {
            continue;
        };
        let after_equals = after_equals.trim_start();
        let value = if let Some(quoted) = after_equals.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            rest = "";
            while let Some((index, c)) = chars.next() {
                match c {
                    '"' => {
                        rest = &quoted[index + 1..];
                        break;
                    }
                    '\\' if quoted[index + 1..].starts_with(['"', '\\']) => {
                        value.extend(chars.next().map(|(_, escaped)| escaped));
                    }
                    c => value.push(c),
                }
            }
            value
        } else {
            let end = after_equals.find(';').unwrap_or(after_equals.len());
            rest = &after_equals[end..];
            after_equals[..end].trim().to_string()
        };
        found.push((key, value));
    }
}

impl Multipart {
    pub fn new(body: Body, boundary: &str) -> Self {
        Multipart {
            body: body.into_data_stream(),
            buffer: BytesMut::new(),
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            in_part: false,
            finished: false,
            started: false,
        }
    }

    /// Reads more of the body; false at its end.
    async fn fill(&mut self) -> AppResult<bool> {
        match self.body.next().await {
            Some(Ok(bytes)) => {
                self.buffer.extend_from_slice(&bytes);
                Ok(true)
            }
            Some(Err(err)) => Err(AppError::invalid(
                "body",
                format!("could not be read: {err}"),
            )),
            None => Ok(false),
        }
    }

    /// The next part's headers, skipping whatever is left of the current part.
    pub async fn next_part(&mut self) -> AppResult<Option<Part>> {
        while self.in_part {
            self.next_chunk().await?;
        }
        if self.finished {
            return Ok(None);
        }
        if !self.started {
            // The body starts with `--boundary` (the delimiter without its CRLF).
            let opening = self.delimiter[2..].to_vec();
            loop {
                if let Some(at) = find(&self.buffer, &opening) {
                    self.buffer.advance(at + opening.len());
                    break;
                }
                if self.buffer.len() > MAX_PART_HEADER || !self.fill().await? {
                    return Err(malformed("no opening boundary"));
                }
            }
            self.started = true;
        }
        // After a delimiter: `--` ends the body, CRLF starts a part.
        while self.buffer.len() < 2 {
            if !self.fill().await? {
                return Err(malformed("the body ends inside a delimiter"));
            }
        }
        if self.buffer.starts_with(b"--") {
            self.finished = true;
            return Ok(None);
        }
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let block = self.buffer.split_to(end + 4);
                let part = parse_headers(&block[..end])?;
                self.in_part = true;
                return Ok(Some(part));
            }
            if self.buffer.len() > MAX_PART_HEADER {
                return Err(malformed("part headers are too long"));
            }
            if !self.fill().await? {
                return Err(malformed("the body ends inside part headers"));
            }
        }
    }

    /// The next bytes of the current part, or `None` at its end.
    pub async fn next_chunk(&mut self) -> AppResult<Option<Bytes>> {
        if !self.in_part {
            return Ok(None);
        }
        loop {
            if let Some(at) = find(&self.buffer, &self.delimiter) {
                let data = self.buffer.split_to(at).freeze();
                self.buffer.advance(self.delimiter.len());
                self.in_part = false;
                return Ok(if data.is_empty() { None } else { Some(data) });
            }
            // Everything but a possible start of the delimiter can go out now.
            let safe = self.buffer.len().saturating_sub(self.delimiter.len() - 1);
            if safe > 0 {
                return Ok(Some(self.buffer.split_to(safe).freeze()));
            }
            if !self.fill().await? {
                return Err(malformed("the body ends inside a part"));
            }
        }
    }

    /// The whole current part as text (for small form fields).
    pub async fn text(&mut self) -> AppResult<String> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_TEXT_FIELD {
                return Err(malformed("a text field is too long"));
            }
        }
        String::from_utf8(bytes).map_err(|_| malformed("a text field is not UTF-8"))
    }
}

/// The current part of a multipart body as an upload source.
#[async_trait::async_trait]
impl ChunkSource for Multipart {
    async fn next_chunk(&mut self) -> AppResult<Option<Bytes>> {
        Multipart::next_chunk(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<&'static [u8]>) -> Body {
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn parts_are_read_across_chunk_edges() {
        let raw: Vec<&'static [u8]> = vec![
            b"--XyZ\r\nContent-Disposition: form-data; name=\"gpsLat\"\r\n\r\n-26.2\r",
            b"\n--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
            b"\xFF\xD8\r\n--Xy",
            b"not the end\r\n--XyZ--\r\n",
        ];
        let mut form = Multipart::new(body(raw), "XyZ");
        let first = form.next_part().await.unwrap().unwrap();
        assert_eq!(first.name, "gpsLat");
        assert_eq!(form.text().await.unwrap(), "-26.2");
        let photo = form.next_part().await.unwrap().unwrap();
        assert_eq!(photo.filename.as_deref(), Some("a.jpg"));
        let mut data = Vec::new();
        while let Some(chunk) = form.next_chunk().await.unwrap() {
            data.extend_from_slice(&chunk);
        }
        assert_eq!(data, b"\xFF\xD8\r\n--Xynot the end");
        assert_eq!(form.next_part().await.unwrap(), None);
    }

    #[tokio::test]
    async fn skipped_parts_and_broken_bodies() {
        let raw: Vec<&'static [u8]> = vec![
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nskip me\r\n--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\nx\r\n--b--",
        ];
        let mut form = Multipart::new(body(raw), "b");
        assert_eq!(form.next_part().await.unwrap().unwrap().name, "a");
        assert_eq!(form.next_part().await.unwrap().unwrap().name, "c");
        assert_eq!(form.next_part().await.unwrap(), None);
        let mut broken = Multipart::new(
            body(vec![
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            ]),
            "b",
        );
        broken.next_part().await.unwrap();
        assert!(broken.text().await.is_err());
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=\"q1\"".parse().unwrap(),
        );
        assert_eq!(boundary(&headers).unwrap(), "q1");
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        assert!(boundary(&headers).is_err());
    }

    #[test]
    fn quoted_parameters_keep_semicolons_quotes_and_windows_paths() {
        let part = parse_headers(
            b"Content-Disposition: form-data; name=\"a;b\"; filename=\"say \\\"hi\\\"; x=1.jpg\"",
        )
        .unwrap();
        assert_eq!(part.name, "a;b");
        assert_eq!(part.filename.as_deref(), Some("say \"hi\"; x=1.jpg"));
        let part = parse_headers(
            b"content-disposition: form-data; filename=\"C:\\tmp\\a.jpg\"; name=photo",
        )
        .unwrap();
        assert_eq!(part.name, "photo");
        assert_eq!(part.filename.as_deref(), Some("C:\\tmp\\a.jpg"));
    }

    mod properties {
        //! Arbitrary bodies and boundaries never panic the reader; a well-formed body built
        //! from arbitrary names, filenames and contents reads back as it was written.
        use futures::executor::block_on;
        use proptest::prelude::*;

        use super::*;

        /// `bytes` as a body arriving in pieces cut at `cuts`.
        fn chunked(bytes: Vec<u8>, cuts: &[prop::sample::Index]) -> Body {
            let mut points: Vec<usize> =
                cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
            points.push(0);
            points.push(bytes.len());
            points.sort_unstable();
            let chunks: Vec<Result<Bytes, std::io::Error>> = points
                .windows(2)
                .map(|pair| Ok(Bytes::copy_from_slice(&bytes[pair[0]..pair[1]])))
                .collect();
            Body::from_stream(futures::stream::iter(chunks))
        }

        /// Every part as (name, filename, content), or the first error.
        async fn read_all(form: &mut Multipart) -> AppResult<Vec<(Part, Vec<u8>)>> {
            let mut parts = Vec::new();
            while let Some(part) = form.next_part().await? {
                let mut content = Vec::new();
                while let Some(chunk) = form.next_chunk().await? {
                    content.extend_from_slice(&chunk);
                }
                parts.push((part, content));
            }
            Ok(parts)
        }

        /// A quoted-string parameter value, `"` and `\\` escaped.
        fn quote(text: &str) -> String {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        }

        fn encode(boundary: &str, parts: &[(Part, Vec<u8>)]) -> Vec<u8> {
            let mut body = Vec::new();
            for (part, content) in parts {
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name={}",
                        quote(&part.name)
                    )
                    .as_bytes(),
                );
                if let Some(filename) = &part.filename {
                    body.extend_from_slice(format!("; filename={}", quote(filename)).as_bytes());
                }
                body.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
                body.extend_from_slice(content);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            body
        }

        /// Names and filenames: any text without CR or LF (browsers escape those).
        fn parts() -> impl Strategy<Value = Vec<(Part, Vec<u8>)>> {
            let text = "[^\\r\\n]{1,24}";
            prop::collection::vec(
                (
                    text,
                    prop::option::of(text),
                    prop::collection::vec(any::<u8>(), 0..300),
                )
                    .prop_map(|(name, filename, content)| (Part { name, filename }, content)),
                0..5,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bodies_never_panic(
                boundary in "\\PC{1,12}",
                bytes in prop::collection::vec(any::<u8>(), 0..600),
                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            ) {
                let mut form = Multipart::new(chunked(bytes, &cuts), &boundary);
                let _ = block_on(read_all(&mut form));
            }

            #[test]
            fn arbitrary_content_types_never_panic(content_type in "\\PC{0,80}") {
                let mut headers = HeaderMap::new();
                if let Ok(value) = content_type.parse() {
                    headers.insert(http::header::CONTENT_TYPE, value);
                    let _ = boundary(&headers);
                }
            }

            #[test]
            fn well_formed_bodies_round_trip(
                boundary in "[A-Za-z0-9'()+_,./:=?-]{1,40}",
                parts in parts(),
                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            ) {
                let body = encode(&boundary, &parts);
                let delimiter = format!("\r\n--{boundary}").into_bytes();
                prop_assume!(parts.iter().all(|(_, content)| find(content, &delimiter).is_none()));
                let mut form = Multipart::new(chunked(body, &cuts), &boundary);
                prop_assert_eq!(block_on(read_all(&mut form)).unwrap(), parts);
            }
        }
    }
}
