//! Text cells of our CSV exports: RFC 4180 quoting (a field holding a comma, a quote, CR or LF is
//! put in quotes with its quotes doubled) and formula-injection neutralisation (OWASP).

/// First characters that make a spreadsheet read a cell as a formula (or, for tab and CR, let
/// one hide behind them).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text field, quoted only when it must be.
pub fn field(text: &str) -> String {
    let text = neutralised(text);
    if text.contains([',', '"', '\r', '\n']) {
        quoted(&text)
    } else {
        text
    }
}

/// A text field always in quotes, its quotes doubled.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", neutralised(text).replace('"', "\"\""))
}

/// The text with a single quote in front when it starts like a formula. Only user-controlled
/// text passes through here; the numbers and dates we write ourselves are not touched.
fn neutralised(text: &str) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_string()
    }
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

    #[test]
    fn formula_starts_are_neutralised() {
        assert_eq!(field("=1+2"), "'=1+2");
        assert_eq!(field("+27 11 555 0100"), "'+27 11 555 0100");
        assert_eq!(field("-2"), "'-2");
        assert_eq!(field("@SUM(A1:A2)"), "'@SUM(A1:A2)");
        assert_eq!(field("\tx"), "'\tx");
        assert_eq!(field("\rx"), "\"'\rx\"");
        assert_eq!(
            field("=HYPERLINK(\"http://x\",\"a,b\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"a,b\"\")\""
        );
        assert_eq!(quoted("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
        // Only the first character counts.
        assert_eq!(field("PON=1"), "PON=1");
        assert_eq!(quoted("a-b"), "\"a-b\"");
    }
}
