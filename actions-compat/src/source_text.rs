//! Positions in a file's text: byte offsets to line and column, and a line's text back, for
//! error positions and for the human report's quoted line.

/// The 1-based line and character column of a byte offset. An offset past the end, or inside a
/// character, is clamped to the nearest earlier character boundary.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, col)
}

/// The text of a 1-based line, without its line ending.
pub fn line_text(text: &str, line: usize) -> Option<&str> {
    let index = line.checked_sub(1)?;
    text.split('\n')
        .nth(index)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// The white space that puts a caret under the 1-based character `col` of `line`: tabs are kept
/// so the caret lines up however the terminal shows them; a column past the end puts the caret
/// just after the line.
pub fn caret_pad(line: &str, col: usize) -> String {
    line.chars()
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_characters_from_one() {
        let text = "ab\nçd\r\nef";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2)); // after the two-byte ç
        assert_eq!(line_col(text, 4), (2, 1)); // inside ç: clamped back
        assert_eq!(line_col(text, 999), (3, 3));
    }

    #[test]
    fn returns_lines_without_their_endings() {
        let text = "ab\r\ncd\n";
        assert_eq!(line_text(text, 1), Some("ab"));
        assert_eq!(line_text(text, 2), Some("cd"));
        assert_eq!(line_text(text, 3), Some(""));
        assert_eq!(line_text(text, 4), None);
        assert_eq!(line_text(text, 0), None);
    }
}
