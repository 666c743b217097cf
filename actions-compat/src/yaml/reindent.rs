//! A workaround for lines of a flow collection written left of where YAML 1.2 allows them.
//!
//! YAML 1.2 wants every line of a flow collection (`[...]`, `{...}`) that sits inside a block
//! collection to be indented past that block collection. Real workflows often close a bracket
//! at the block's own column:
//!
//! ```yaml
//! matrix:
//!   python: [
//!     "3.12",
//!     "3.13",
//!   ]            # at the column of `python`, not past it
//! ```
//!
//! libyaml and YamlDotNet (GitHub's parser) accept this; `saphyr-parser` 0.3 refuses it with
//! "invalid indentation" (its fix, saphyr-rs/saphyr#101 and #108, is not released). Inside a
//! flow collection indentation means nothing, so moving such a line to the right changes no
//! value, only positions.
//!
//! So when `saphyr-parser` reports "invalid indentation" or "invalid indentation in flow
//! construct" (it reports both only inside flow collections: in block context it closes the
//! blocks a line leaves instead) at a token with nothing but spaces before it on its line,
//! [`Reindent::pad`] inserts the spaces missing to the column `saphyr-parser` requires, one past
//! the innermost enclosing block collection, and the document is parsed again.
//! [`Reindent::original`] maps every position on a padded line back to the text as written, so
//! nodes and errors point where the user wrote them.
//!
//! It never pads a line twice, never pads a line that has a tab or anything else before the
//! token, and pads at most [`MAX_PADDED_LINES`] lines and re-parses at most
//! [`MAX_REPARSED_BYTES`] per document, so a hostile document costs a few parses more, not
//! dozens of the largest. Remove this module when `saphyr-parser` accepts such lines.

use std::collections::BTreeMap;

/// Most lines padded in one document: each costs one more parse of the whole document.
pub(super) const MAX_PADDED_LINES: usize = 64;
/// Most text parsed again, in all, for one document: a workflow of 64 KiB may have every line
/// the workaround can pad padded; one of 1 MiB, four.
pub(super) const MAX_REPARSED_BYTES: usize = 4 * 1024 * 1024;

/// `saphyr-parser`'s messages for a line of a flow collection left of the column it requires.
pub(super) fn is_flow_indentation_error(info: &str) -> bool {
    matches!(
        info,
        "invalid indentation" | "invalid indentation in flow construct"
    )
}

/// The lines padded so far, and by how much.
#[derive(Debug, Default)]
pub(super) struct Reindent {
    /// 1-based line → spaces inserted at its start.
    padded: BTreeMap<usize, usize>,
    /// Bytes of padded text handed back to be parsed again so far.
    reparsed: usize,
}

impl Reindent {
    /// `text` with `required` − `col` spaces inserted at the start of `line` (1-based), so that
    /// the token at the 0-based column `col` moves to `required`; `None` when the workaround does
    /// not apply (nothing to move, not only spaces before the token, line already padded, too
    /// many lines padded or too much text parsed again).
    pub(super) fn pad(
        &mut self,
        text: &str,
        line: usize,
        col: usize,
        required: usize,
    ) -> Option<String> {
        let spaces = required.saturating_sub(col);
        let reparsed = self
            .reparsed
            .saturating_add(text.len())
            .saturating_add(spaces);
        if spaces == 0
            || self.padded.len() >= MAX_PADDED_LINES
            || reparsed > MAX_REPARSED_BYTES
            || self.padded.contains_key(&line)
        {
            return None;
        }
        let start = line_start(text, line)?;
        let prefix = text.get(start..)?.get(..col)?;
        if !prefix.bytes().all(|b| b == b' ') {
            return None;
        }
        let mut padded = String::with_capacity(text.len() + spaces);
        padded.push_str(text.get(..start)?);
        padded.extend(std::iter::repeat_n(' ', spaces));
        padded.push_str(text.get(start..)?);
        self.padded.insert(line, spaces);
        self.reparsed = reparsed;
        Some(padded)
    }

    /// A 1-based `(line, col)` in the padded text, as a position in the text as written.
    pub(super) fn original(&self, (line, col): (usize, usize)) -> (usize, usize) {
        match self.padded.get(&line) {
            Some(spaces) => (line, col.saturating_sub(*spaces).max(1)),
            None => (line, col),
        }
    }
}

/// The byte offset at which the 1-based `line` starts (`saphyr-parser` counts `\n`, `\r\n` and a
/// lone `\r` as line breaks).
fn line_start(text: &str, line: usize) -> Option<usize> {
    if line == 1 {
        return Some(0);
    }
    let bytes = text.as_bytes();
    let mut current = 1;
    let mut index = 0;
    while index < bytes.len() {
        let at_break = match bytes.get(index) {
            Some(b'\n') => true,
            Some(b'\r') => bytes.get(index + 1) != Some(&b'\n'),
            _ => false,
        };
        index += 1;
        if at_break {
            current += 1;
            if current == line {
                return Some(index);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_a_line_and_maps_its_positions_back() {
        let mut reindent = Reindent::default();
        let padded = reindent.pad("a:\n  b: [\n    1,\n  ]\n", 4, 2, 3).unwrap();
        assert_eq!(padded, "a:\n  b: [\n    1,\n   ]\n");
        assert_eq!(reindent.original((4, 4)), (4, 3));
        assert_eq!(reindent.original((3, 5)), (3, 5));
    }

    #[test]
    fn refuses_what_it_cannot_pad_safely() {
        let mut reindent = Reindent::default();
        // Already far enough right.
        assert_eq!(reindent.pad("a\n  ]\n", 2, 2, 2), None);
        // A tab before the token.
        assert_eq!(reindent.pad("a\n\t]\n", 2, 1, 3), None);
        // No such line.
        assert_eq!(reindent.pad("a\n", 5, 0, 3), None);
        // The same line twice.
        let text = reindent.pad("a\n ]\n", 2, 1, 3).unwrap();
        assert_eq!(reindent.pad(&text, 2, 3, 4), None);
    }

    #[test]
    fn stops_after_the_most_lines_it_pads() {
        let mut reindent = Reindent::default();
        let mut text = "]\n".repeat(MAX_PADDED_LINES + 1);
        for line in 1..=MAX_PADDED_LINES {
            text = reindent.pad(&text, line, 0, 1).unwrap();
        }
        assert_eq!(reindent.pad(&text, MAX_PADDED_LINES + 1, 0, 1), None);
    }

    #[test]
    fn stops_after_the_most_text_it_parses_again() {
        let mut reindent = Reindent::default();
        let mut text = format!("{}]\n]\n", " ".repeat(MAX_REPARSED_BYTES / 2));
        text = reindent
            .pad(&text, 1, MAX_REPARSED_BYTES / 2, MAX_REPARSED_BYTES / 2 + 1)
            .unwrap();
        assert_eq!(reindent.pad(&text, 2, 0, 1), None);
    }

    #[test]
    fn counts_every_kind_of_line_break() {
        assert_eq!(line_start("a\r\nb\rc\nd", 2), Some(3));
        assert_eq!(line_start("a\r\nb\rc\nd", 3), Some(5));
        assert_eq!(line_start("a\r\nb\rc\nd", 4), Some(7));
        assert_eq!(line_start("a", 2), None);
    }
}
