//! Percent escapes that workflow commands use to carry characters their syntax reserves.
//!
//! A command's message cannot hold a line break, and a property value cannot hold the `,` and `:`
//! that delimit properties, so writers (for example `@actions/core`) replace them by `%XX`
//! sequences. Only the exact upper-case sequences in each table are decoded; any other `%` stays as
//! it is, which is what GitHub's runner does. Decoding is a single left-to-right pass, so `%250A`
//! becomes `%0A` and not a line feed.

/// Which characters a piece of a command may carry escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EscapeTable {
    /// The message of a `::name::message` command: `%25`, `%0D`, `%0A`.
    Data,
    /// A property value of a `::name key=value::` command: as [`EscapeTable::Data`] plus `%3A`
    /// (`:`) and `%2C` (`,`).
    Property,
    /// Message and property values of the legacy `##[name key=value;]message` form: `%25`, `%0D`,
    /// `%0A`, `%3B` (`;`) and `%5D` (`]`).
    Legacy,
}

impl EscapeTable {
    fn decode(self, hex: [u8; 2]) -> Option<char> {
        let c = match &hex {
            b"25" => '%',
            b"0D" => '\r',
            b"0A" => '\n',
            b"3A" if self == EscapeTable::Property => ':',
            b"2C" if self == EscapeTable::Property => ',',
            b"3B" if self == EscapeTable::Legacy => ';',
            b"5D" if self == EscapeTable::Legacy => ']',
            _ => return None,
        };
        Some(c)
    }
}

/// Decodes the escapes of `table` in `text`.
pub(crate) fn unescape(text: &str, table: EscapeTable) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('%') {
        let (before, from_percent) = rest.split_at(pos);
        out.push_str(before);
        let bytes = from_percent.as_bytes();
        let decoded = match (bytes.get(1), bytes.get(2)) {
            (Some(&a), Some(&b)) => table.decode([a, b]),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                // The three bytes are ASCII, so index 3 is a character boundary.
                rest = from_percent.get(3..).unwrap_or("");
            }
            None => {
                out.push('%');
                rest = from_percent.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Encodes a command's message (`%`, `\r`, `\n`) so that the parser reads it back unchanged; what
/// `@actions/core` does before it prints a command.
pub fn escape_data(text: &str) -> String {
    escape(text, false)
}

/// Encodes a command's property value (`%`, `\r`, `\n`, `:`, `,`) so that the parser reads it
/// back unchanged.
pub fn escape_property(text: &str) -> String {
    escape(text, true)
}

/// The data escapes, and for a property value also `:` and `,`.
fn escape(text: &str, property: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_decodes_percent_and_line_breaks() {
        assert_eq!(unescape("a%25b%0Dc%0Ad", EscapeTable::Data), "a%b\rc\nd");
    }

    #[test]
    fn data_keeps_property_and_legacy_escapes() {
        assert_eq!(unescape("%3A%2C%3B%5D", EscapeTable::Data), "%3A%2C%3B%5D");
    }

    #[test]
    fn property_decodes_colon_and_comma_too() {
        assert_eq!(
            unescape("a%3Ab%2Cc%25%0A", EscapeTable::Property),
            "a:b,c%\n"
        );
    }

    #[test]
    fn legacy_decodes_semicolon_and_bracket() {
        assert_eq!(
            unescape("%3B%5D%25%0D%0A%3A", EscapeTable::Legacy),
            ";]%\r\n%3A"
        );
    }

    #[test]
    fn lower_case_escapes_stay_as_written() {
        assert_eq!(unescape("%0a%0d%2c", EscapeTable::Property), "%0a%0d%2c");
    }

    #[test]
    fn decoding_is_single_pass() {
        assert_eq!(unescape("%250A", EscapeTable::Data), "%0A");
        assert_eq!(unescape("%%0A", EscapeTable::Data), "%\n");
    }

    #[test]
    fn truncated_or_unknown_escapes_stay_as_written() {
        assert_eq!(unescape("100%", EscapeTable::Data), "100%");
        assert_eq!(unescape("%0", EscapeTable::Data), "%0");
        assert_eq!(unescape("%zz%", EscapeTable::Data), "%zz%");
    }

    #[test]
    fn multibyte_text_after_percent_is_kept_whole() {
        assert_eq!(unescape("%é%€x", EscapeTable::Data), "%é%€x");
    }

    #[test]
    fn escape_then_unescape_round_trips() {
        let text = "50% done:\r\n a, b";
        assert_eq!(unescape(&escape_data(text), EscapeTable::Data), text);
        assert_eq!(
            unescape(&escape_property(text), EscapeTable::Property),
            text
        );
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
