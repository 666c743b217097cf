//! The two textual forms of a workflow command, split into name, properties and message.
//!
//! - `::name key=value,key=value::message`, which must open the line (after leading white space);
//!   properties are separated by `,` and decoded with the property escapes.
//! - The legacy `##[name key=value;key=value]message`, which GitHub's runner still honours
//!   anywhere in a line; properties are separated by `;`.
//!
//! A line is a command only if its name is one the caller recognises (compared ignoring ASCII
//! case); anything else is left to be printed as output. Properties follow .NET's
//! `Split('=', 2, RemoveEmptyEntries)` as GitHub's runner uses it: a piece without both a key and a
//! value is dropped, `=`s around the first separator are skipped (`k==v` is `k` = `v`), and keys
//! are compared ignoring case, the last one written winning.

use super::escape::{unescape, EscapeTable};

/// A command line split into its parts, before any command-specific meaning is given to them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RawCommand {
    /// The name as written in the line.
    pub name: String,
    /// Properties in the order written, values decoded.
    pub properties: Vec<(String, String)>,
    /// The message after the command, decoded.
    pub data: String,
}

impl RawCommand {
    /// The value of a property, looked up ignoring ASCII case; the last one written wins.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

// Deliberately prints no values: an `add-mask` command's message is a secret.
impl std::fmt::Debug for RawCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawCommand")
            .field("name", &self.name)
            .field("properties", &self.properties.len())
            .field("data_len", &self.data.len())
            .finish()
    }
}

const V2_MARKER: &str = "::";
const LEGACY_PREFIX: &str = "##[";

/// Parses the `::name props::message` form; `None` if the line is not such a command or its name
/// is not recognised by `is_known`.
pub(crate) fn parse_v2(line: &str, is_known: impl Fn(&str) -> bool) -> Option<RawCommand> {
    let after_marker = line.trim_start().strip_prefix(V2_MARKER)?;
    let end = after_marker.find(V2_MARKER)?;
    let info = after_marker.get(..end)?;
    let message = after_marker.get(end + V2_MARKER.len()..)?;
    let (name, props) = split_name(info);
    if !is_known(name) {
        return None;
    }
    let properties = match props {
        Some(props) => split_properties(props.trim(), ',', EscapeTable::Property),
        None => Vec::new(),
    };
    Some(RawCommand {
        name: name.to_owned(),
        properties,
        data: unescape(message, EscapeTable::Data),
    })
}

/// Parses the legacy `##[name props]message` form, found anywhere in the line.
pub(crate) fn parse_legacy(line: &str, is_known: impl Fn(&str) -> bool) -> Option<RawCommand> {
    let start = line.find(LEGACY_PREFIX)?;
    let after_prefix = line.get(start + LEGACY_PREFIX.len()..)?;
    let end = after_prefix.find(']')?;
    let info = after_prefix.get(..end)?;
    let message = after_prefix.get(end + 1..)?;
    let (name, props) = split_name(info);
    if !is_known(name) {
        return None;
    }
    let properties = match props {
        Some(props) => split_properties(props, ';', EscapeTable::Legacy),
        None => Vec::new(),
    };
    Some(RawCommand {
        name: name.to_owned(),
        properties,
        data: unescape(message, EscapeTable::Legacy),
    })
}

/// Splits `name props` at the first space.
fn split_name(info: &str) -> (&str, Option<&str>) {
    match info.split_once(' ') {
        Some((name, props)) => (name, Some(props)),
        None => (info, None),
    }
}

fn split_properties(props: &str, separator: char, table: EscapeTable) -> Vec<(String, String)> {
    props
        .split(separator)
        .filter(|piece| !piece.is_empty())
        .filter_map(|piece| {
            let piece = piece.trim_start_matches('=');
            let (key, value) = piece.split_once('=')?;
            let value = value.trim_start_matches('=');
            if key.is_empty() || value.is_empty() {
                return None;
            }
            Some((key.to_owned(), unescape(value, table)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: &str) -> bool {
        true
    }

    fn props(raw: &RawCommand) -> Vec<(&str, &str)> {
        raw.properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn v2_splits_name_properties_and_message() {
        let raw = parse_v2("::error file=a.rs,line=3::boom", any).unwrap();
        assert_eq!(raw.name, "error");
        assert_eq!(props(&raw), [("file", "a.rs"), ("line", "3")]);
        assert_eq!(raw.data, "boom");
    }

    #[test]
    fn v2_allows_leading_white_space_but_nothing_else_before() {
        assert!(parse_v2("  \t::debug::x", any).is_some());
        assert!(parse_v2("x ::debug::x", any).is_none());
    }

    #[test]
    fn v2_needs_the_closing_marker() {
        assert!(parse_v2("::debug", any).is_none());
        assert!(parse_v2("::debug:x", any).is_none());
    }

    #[test]
    fn v2_message_may_be_empty_and_keeps_later_markers() {
        assert_eq!(parse_v2("::endgroup::", any).unwrap().data, "");
        assert_eq!(parse_v2("::debug::a::b", any).unwrap().data, "a::b");
    }

    #[test]
    fn v2_rejects_names_the_caller_does_not_know() {
        assert!(parse_v2("::frobnicate::x", |n| n == "debug").is_none());
        assert!(parse_v2("::::x", any).is_some_and(|raw| raw.name.is_empty()));
    }

    #[test]
    fn v2_decodes_message_and_property_escapes() {
        let raw = parse_v2("::error title=a%3Ab%2Cc%25::l1%0Al2%3A", any).unwrap();
        assert_eq!(raw.property("title"), Some("a:b,c%"));
        assert_eq!(raw.data, "l1\nl2%3A");
    }

    #[test]
    fn v2_property_separators_follow_dotnet_split() {
        let raw = parse_v2("::x  a=1,,b==2,=c=3,d=,=,e,f=g=h ::", any).unwrap();
        assert_eq!(
            props(&raw),
            [("a", "1"), ("b", "2"), ("c", "3"), ("f", "g=h")]
        );
    }

    #[test]
    fn v2_property_keys_keep_inner_spaces() {
        let raw = parse_v2("::error file=a, line=3::m", any).unwrap();
        assert_eq!(raw.property("line"), None);
        assert_eq!(raw.property(" line"), Some("3"));
    }

    #[test]
    fn property_lookup_ignores_case_and_last_wins() {
        let raw = parse_v2("::x Name=a,NAME=b::", any).unwrap();
        assert_eq!(raw.property("name"), Some("b"));
    }

    #[test]
    fn legacy_form_is_found_anywhere_in_the_line() {
        let raw = parse_legacy("prefix ##[warning file=a;line=2]careful", any).unwrap();
        assert_eq!(raw.name, "warning");
        assert_eq!(props(&raw), [("file", "a"), ("line", "2")]);
        assert_eq!(raw.data, "careful");
    }

    #[test]
    fn legacy_form_uses_its_own_escapes() {
        let raw = parse_legacy("##[error title=a%3Bb%5D]x%5Dy%0A", any).unwrap();
        assert_eq!(raw.property("title"), Some("a;b]"));
        assert_eq!(raw.data, "x]y\n");
    }

    #[test]
    fn legacy_form_needs_closing_bracket_and_known_name() {
        assert!(parse_legacy("##[error", any).is_none());
        assert!(parse_legacy("##[nope]x", |n| n == "error").is_none());
    }

    #[test]
    fn debug_output_hides_values() {
        let raw = parse_v2("::add-mask k=hunter2::hunter2", any).unwrap();
        let shown = format!("{raw:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
