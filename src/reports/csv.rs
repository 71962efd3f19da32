//! RFC 4180 field quoting: a field holding a comma, a quote, CR or LF is put in quotes with
//! its quotes doubled (the old export did not double them, which broke rows).

/// A field, quoted only when it must be.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        quoted(text)
    } else {
        text.to_string()
    }
}

/// A field always in quotes, its quotes doubled.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_special_fields_quoted() {
        assert_eq!(field("PON-001"), "PON-001");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("Soweto"), "\"Soweto\"");
    }
}
