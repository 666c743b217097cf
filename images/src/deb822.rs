//! Debian's control-file format (deb822): paragraphs of `Field: value` lines separated by blank
//! lines, as in dpkg's status file, `apt-cache show` and apt's `.sources` files.
//!
//! Only what this crate reads is supported: continuation lines (starting with a space or tab) are
//! joined to their field with a newline, `#` comment lines are skipped, field names compare
//! without regard to case. Anything else is taken leniently, never with a panic.

/// One paragraph: its fields in the order they appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of `name` (case-insensitive), if the paragraph has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The paragraphs of `text`; lines that are neither a field nor a continuation are ignored.
pub fn parse(text: &str) -> Vec<Paragraph> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current
                .fields
                .push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !current.fields.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paragraphs_on_blank_lines_and_joins_continuations() {
        let text = "Package: a\nVersion: 1\nDescription: short\n long line\n\n\nPackage: b\n";
        let paragraphs = parse(text);
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(paragraphs[0].get("package"), Some("a"));
        assert_eq!(paragraphs[0].get("Description"), Some("short\nlong line"));
        assert_eq!(paragraphs[1].get("Package"), Some("b"));
        assert_eq!(paragraphs[1].get("Version"), None);
    }

    #[test]
    fn skips_comments_and_lines_without_a_colon() {
        let paragraphs = parse("# a comment\nTypes: deb\nnonsense\nURIs: http://x/debian\n");
        assert_eq!(paragraphs.len(), 1);
        assert_eq!(paragraphs[0].get("URIs"), Some("http://x/debian"));
    }

    #[test]
    fn tolerates_arbitrary_bytes_without_panicking() {
        for text in ["", ":", " \n\t:\n", "\u{0}:\u{0}\n \n", "a:b\n c\n:\n"] {
            let _ = parse(text);
        }
    }
}
