//! Glob patterns as `hashFiles` reads them (GitHub's `@actions/glob` over minimatch): relative
//! patterns are rooted at the workspace, `!` negates, `*`, `?` and `[...]` match within one path
//! segment, a `**` segment matches any number of segments, braces and extglobs are literal, dot
//! files are matched, and a pattern that matches a directory also matches everything below it.
//!
//! Matching is a table over (pattern segment, path segment), never a backtracking search, so no
//! pattern can make it slow.

/// What a pattern matched: GitHub's `MatchKind` bits.
pub(super) const MATCH_DIRECTORY: u8 = 1;
pub(super) const MATCH_FILE: u8 = 2;
const MATCH_ALL: u8 = MATCH_DIRECTORY | MATCH_FILE;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Glob(Vec<Token>),
    GlobStar,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    AnyChar,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One line of the patterns, made absolute.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) negate: bool,
    /// Segments of the absolute pattern; the first is the root (`""`, before the leading `/`).
    segments: Vec<Segment>,
    /// The pattern ended with `/`: it matches directories only.
    trailing_separator: bool,
    /// Added by the globber to match a matched directory's descendants.
    implicit: bool,
    /// Refers to the home directory (`~`), which is never inside the workspace.
    outside: bool,
}

/// Why a pattern was refused (GitHub's glob library throws and `hashFiles` fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InvalidPattern;

impl Pattern {
    /// Reads one pattern line; `root` holds the workspace's path segments (without the leading
    /// empty root segment).
    pub(super) fn parse(line: &str, root: &[String]) -> Result<Pattern, InvalidPattern> {
        let mut text = line.trim();
        let mut negate = false;
        while let Some(rest) = text.strip_prefix('!') {
            negate = !negate;
            text = rest.trim();
        }
        if text.is_empty() {
            return Err(InvalidPattern);
        }
        let trailing_separator = text.ends_with('/');
        let absolute = text.starts_with('/');
        let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let literal = literal_of(part);
            if literal.as_deref() == Some("..")
                || (literal.as_deref() == Some(".") && (i > 0 || absolute))
            {
                return Err(InvalidPattern);
            }
        }
        let mut segments = vec![Segment::Literal(String::new())];
        let mut outside = false;
        let user_parts: &[&str] = if absolute {
            &parts
        } else {
            segments.extend(root.iter().cloned().map(Segment::Literal));
            match parts.first() {
                Some(&".") => &parts[1..],
                Some(&"~") => {
                    outside = true;
                    &parts[1..]
                }
                _ => &parts,
            }
        };
        segments.extend(user_parts.iter().map(|p| parse_segment(p)));
        Ok(Pattern {
            negate,
            segments,
            trailing_separator,
            implicit: false,
            outside,
        })
    }

    /// The pattern GitHub adds to match everything below what this pattern matches, if any.
    pub(super) fn descendants(&self) -> Option<Pattern> {
        if self.trailing_separator || self.segments.last() != Some(&Segment::GlobStar) {
            let mut segments = self.segments.clone();
            segments.push(Segment::GlobStar);
            Some(Pattern {
                negate: self.negate,
                segments,
                trailing_separator: false,
                implicit: true,
                outside: self.outside,
            })
        } else {
            None
        }
    }

    /// The literal directory before the first glob segment, as path segments after the root.
    pub(super) fn search_path(&self) -> Option<Vec<String>> {
        if self.outside {
            return None;
        }
        let mut out = Vec::new();
        for segment in self.segments.iter().skip(1) {
            match segment {
                Segment::Literal(s) => out.push(s.clone()),
                Segment::Glob(tokens) => match single_char(tokens) {
                    Some(s) => out.push(s),
                    None => break,
                },
                Segment::GlobStar => break,
            }
        }
        Some(out)
    }

    /// How this pattern matches the absolute path `path` (segments after the root).
    pub(super) fn matches(&self, path: &[String]) -> u8 {
        if self.outside {
            return 0;
        }
        let mut file: Vec<&str> = std::iter::once("")
            .chain(path.iter().map(String::as_str))
            .collect();
        if self.segments.last() == Some(&Segment::GlobStar) && !self.implicit {
            file.push("");
        }
        if match_segments(&self.segments, &file, false) {
            if self.trailing_separator {
                MATCH_DIRECTORY
            } else {
                MATCH_ALL
            }
        } else {
            0
        }
    }

    /// Whether something below `path` could match.
    pub(super) fn partial_match(&self, path: &[String]) -> bool {
        if self.outside {
            return false;
        }
        if path.is_empty() {
            return true;
        }
        let file: Vec<&str> = std::iter::once("")
            .chain(path.iter().map(String::as_str))
            .collect();
        match_segments(&self.segments, &file, true)
    }
}

/// Combines all patterns in order: later negations remove, later patterns add back.
pub(super) fn match_all(patterns: &[Pattern], path: &[String]) -> u8 {
    let mut result = 0;
    for pattern in patterns {
        let m = pattern.matches(path);
        if pattern.negate {
            result &= !m;
        } else {
            result |= m;
        }
    }
    result
}

pub(super) fn partial_match_any(patterns: &[Pattern], path: &[String]) -> bool {
    patterns.iter().any(|p| !p.negate && p.partial_match(path))
}

/// Minimatch's `matchOne`, as a table: `table[p][f]` says whether `pattern[p..]` matches
/// `file[f..]`.
fn match_segments(pattern: &[Segment], file: &[&str], partial: bool) -> bool {
    let (pl, fl) = (pattern.len(), file.len());
    let width = fl + 1;
    let mut table = vec![false; (pl + 1) * width];
    for f in 0..=fl {
        table[pl * width + f] = f == fl || (f + 1 == fl && file[f].is_empty());
    }
    for p in (0..pl).rev() {
        table[p * width + fl] = partial;
        for f in (0..fl).rev() {
            let value = match &pattern[p] {
                Segment::GlobStar if p + 1 == pl => {
                    file[f..].iter().all(|s| *s != "." && *s != "..")
                }
                Segment::GlobStar => {
                    let mut found = false;
                    let mut stopped = false;
                    for r in f..fl {
                        if table[(p + 1) * width + r] {
                            found = true;
                            break;
                        }
                        if file[r] == "." || file[r] == ".." {
                            stopped = true;
                            break;
                        }
                    }
                    found || (partial && !stopped)
                }
                segment => segment_matches(segment, file[f]) && table[(p + 1) * width + f + 1],
            };
            table[p * width + f] = value;
        }
    }
    table[0]
}

fn segment_matches(segment: &Segment, name: &str) -> bool {
    match segment {
        Segment::Literal(s) => s == name,
        Segment::GlobStar => true,
        Segment::Glob(tokens) => {
            if name == "." || name == ".." {
                return false;
            }
            let chars: Vec<char> = name.chars().collect();
            tokens_match(tokens, &chars)
        }
    }
}

/// Wildcard matching within a segment, by a table over (token, character).
fn tokens_match(tokens: &[Token], chars: &[char]) -> bool {
    let width = chars.len() + 1;
    let mut table = vec![false; (tokens.len() + 1) * width];
    table[tokens.len() * width + chars.len()] = true;
    for t in (0..tokens.len()).rev() {
        for c in (0..=chars.len()).rev() {
            let value = match &tokens[t] {
                Token::Star => {
                    table[(t + 1) * width + c] || (c < chars.len() && table[t * width + c + 1])
                }
                token => {
                    c < chars.len()
                        && token_matches(token, chars[c])
                        && table[(t + 1) * width + c + 1]
                }
            };
            table[t * width + c] = value;
        }
    }
    table[0]
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Char(x) => *x == c,
        Token::AnyChar => c != '/',
        Token::Star => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}

/// Parses one pattern segment as minimatch does (no braces, no extglobs).
fn parse_segment(text: &str) -> Segment {
    if text == "**" {
        return Segment::GlobStar;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut magic = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                tokens.push(Token::Char(chars[i + 1]));
                i += 2;
            }
            '*' => {
                magic = true;
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
                i += 1;
            }
            '?' => {
                magic = true;
                tokens.push(Token::AnyChar);
                i += 1;
            }
            '[' => match parse_class(&chars, i) {
                Some((token, next)) => {
                    magic = true;
                    tokens.push(token);
                    i = next;
                }
                None => {
                    tokens.push(Token::Char('['));
                    i += 1;
                }
            },
            c => {
                tokens.push(Token::Char(c));
                i += 1;
            }
        }
    }
    if magic {
        Segment::Glob(tokens)
    } else {
        Segment::Literal(
            tokens
                .into_iter()
                .map(|t| match t {
                    Token::Char(c) => c,
                    _ => '?',
                })
                .collect(),
        )
    }
}

/// Parses `[...]` starting at `start`; `None` when it is not closed (then `[` is literal).
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let first = i;
    loop {
        let mut c = *chars.get(i)?;
        if c == ']' && i > first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        if c == '\\' {
            i += 1;
            c = *chars.get(i)?;
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            let mut end = chars[i + 2];
            let mut next = i + 3;
            if end == '\\' {
                end = *chars.get(i + 3)?;
                next = i + 4;
            }
            ranges.push((c, end));
            i = next;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

/// The literal text of a segment if it has no wildcard (single-character classes count as
/// literal, as GitHub's glob library reads them); `None` otherwise.
fn literal_of(text: &str) -> Option<String> {
    match parse_segment(text) {
        Segment::Literal(s) => Some(s),
        Segment::Glob(tokens) => single_char(&tokens),
        Segment::GlobStar => None,
    }
}

/// A segment of plain characters and one-character classes, as literal text.
fn single_char(tokens: &[Token]) -> Option<String> {
    tokens
        .iter()
        .map(|t| match t {
            Token::Char(c) => Some(*c),
            Token::Class {
                negated: false,
                ranges,
            } if ranges.len() == 1 && ranges[0].0 == ranges[0].1 => Some(ranges[0].0),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Vec<String> {
        vec!["ws".to_string()]
    }

    fn path(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn matches(pattern: &str, p: &str) -> bool {
        let pattern = Pattern::parse(pattern, &root()).expect("valid pattern");
        pattern.matches(&path(p)) & MATCH_FILE != 0
    }

    #[test]
    fn stars_stay_within_a_segment() {
        assert!(matches("*.txt", "/ws/a.txt"));
        assert!(matches("*.txt", "/ws/.hidden.txt"));
        assert!(!matches("*.txt", "/ws/dir/a.txt"));
        assert!(matches("a?c", "/ws/abc"));
        assert!(matches("[ab]c", "/ws/bc"));
        assert!(!matches("[!ab]c", "/ws/bc"));
        assert!(matches("[a-c]x", "/ws/bx"));
    }

    #[test]
    fn globstar_spans_segments() {
        assert!(matches("**/*.lock", "/ws/Cargo.lock"));
        assert!(matches("**/*.lock", "/ws/a/b/c.lock"));
        assert!(matches("src/**", "/ws/src/a/b.rs"));
        assert!(!matches("src/**/x", "/ws/other/x"));
        assert!(matches("/ws/**/x", "/ws/q/x"));
    }

    #[test]
    fn braces_are_literal() {
        assert!(matches("{a,b}.txt", "/ws/{a,b}.txt"));
        assert!(!matches("{a,b}.txt", "/ws/a.txt"));
    }

    #[test]
    fn directory_patterns_match_descendants_through_the_implicit_pattern() {
        let p = Pattern::parse("src", &root()).expect("valid");
        let implicit = p.descendants().expect("implicit");
        assert!(implicit.matches(&path("/ws/src/a/b")) & MATCH_FILE != 0);
        assert_eq!(implicit.matches(&path("/ws/src")), 0);
        let dir_only = Pattern::parse("src/", &root()).expect("valid");
        assert_eq!(dir_only.matches(&path("/ws/src")), MATCH_DIRECTORY);
    }

    #[test]
    fn negation_removes_later() {
        let patterns: Vec<Pattern> = ["**/*.txt", "!b.txt"]
            .iter()
            .map(|p| Pattern::parse(p, &root()).expect("valid"))
            .collect();
        assert_ne!(match_all(&patterns, &path("/ws/a.txt")), 0);
        assert_eq!(match_all(&patterns, &path("/ws/b.txt")), 0);
    }

    #[test]
    fn relative_segments_are_refused_except_a_leading_dot() {
        assert!(Pattern::parse("../x", &root()).is_err());
        assert!(Pattern::parse("a/../x", &root()).is_err());
        assert!(Pattern::parse("a/./x", &root()).is_err());
        assert!(matches("./a.txt", "/ws/a.txt"));
    }

    #[test]
    fn search_path_is_the_literal_prefix() {
        let p = Pattern::parse("src/[a]b/*.rs", &root()).expect("valid");
        assert_eq!(p.search_path(), Some(path("/ws/src/ab")));
    }

    #[test]
    fn partial_match_lets_the_walk_descend() {
        let p = Pattern::parse("src/*/x.rs", &root()).expect("valid");
        assert!(p.partial_match(&path("/ws/src")));
        assert!(p.partial_match(&path("/ws/src/a")));
        assert!(!p.partial_match(&path("/ws/other")));
    }

    #[test]
    fn many_globstars_stay_fast() {
        let pattern = "**/".repeat(200) + "x";
        let long_path = format!("/ws/{}y", "a/".repeat(200));
        assert!(!matches(&pattern, &long_path));
    }
}
