//! Splits an expression into tokens, and checks as it goes that each token may follow the one
//! before it and that brackets pair up. GitHub's lexical analyzer does both in one pass, and which
//! error an expression reports depends on that order, so this module does the same.
//!
//! Positions are UTF-16 code-unit offsets, as GitHub counts them in its error messages.

use super::number::{is_whitespace, parse_number};

/// An operator token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Not,
    NotEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Equal,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// `(` opening a group.
    StartGroup,
    /// `[`
    StartIndex,
    /// `(` after a function name.
    StartParameters,
    /// `)` closing a group.
    EndGroup,
    /// `]`
    EndIndex,
    /// `)` closing a function call.
    EndParameters,
    /// `,` between function arguments.
    Separator,
    /// `.` before a property name or `*`.
    Dereference,
    /// `*` after `[` or `.`.
    Wildcard,
    Operator(Operator),
    Null,
    Boolean(bool),
    Number(f64),
    String(String),
    /// An identifier after `.`.
    PropertyName,
    /// An identifier followed by `(`.
    Function,
    /// Any other identifier: a context such as `github`.
    NamedValue,
    /// A token that is malformed (`malformed`: a bad number, identifier, operator or unclosed
    /// string) or that may not stand where it is.
    Unexpected {
        malformed: bool,
    },
}

impl TokenKind {
    /// True for the tokens GitHub's parser treats as operators (they go on the operator stack).
    pub(crate) fn is_operator(&self) -> bool {
        matches!(
            self,
            TokenKind::StartGroup
                | TokenKind::StartIndex
                | TokenKind::StartParameters
                | TokenKind::EndGroup
                | TokenKind::EndIndex
                | TokenKind::EndParameters
                | TokenKind::Separator
                | TokenKind::Dereference
                | TokenKind::Operator(_)
        )
    }

    fn tag(&self) -> Tag {
        match self {
            TokenKind::StartGroup => Tag::StartGroup,
            TokenKind::StartIndex => Tag::StartIndex,
            TokenKind::StartParameters => Tag::StartParameters,
            TokenKind::EndGroup => Tag::EndGroup,
            TokenKind::EndIndex => Tag::EndIndex,
            TokenKind::EndParameters => Tag::EndParameters,
            TokenKind::Separator => Tag::Separator,
            TokenKind::Dereference => Tag::Dereference,
            TokenKind::Wildcard => Tag::Wildcard,
            TokenKind::Operator(_) => Tag::Op,
            TokenKind::Null
            | TokenKind::Boolean(_)
            | TokenKind::Number(_)
            | TokenKind::String(_) => Tag::Literal,
            TokenKind::PropertyName => Tag::PropertyName,
            TokenKind::Function => Tag::Function,
            TokenKind::NamedValue => Tag::NamedValue,
            TokenKind::Unexpected { .. } => Tag::Unexpected,
        }
    }
}

/// A token's kind without its payload, for the "may this follow that" checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    StartGroup,
    StartIndex,
    StartParameters,
    EndGroup,
    EndIndex,
    EndParameters,
    Separator,
    Dereference,
    Wildcard,
    Op,
    Literal,
    PropertyName,
    Function,
    NamedValue,
    Unexpected,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// The token's text as written (a string keeps its quotes).
    pub raw: String,
    /// 0-based UTF-16 offset of the token's first character.
    pub index: usize,
}

impl Token {
    /// 1-based position, as GitHub reports it.
    pub(crate) fn position(&self) -> usize {
        self.index + 1
    }
}

pub(crate) struct Lexer {
    chars: Vec<char>,
    /// `utf16[i]` is the UTF-16 offset of `chars[i]`; one extra entry for the end.
    utf16: Vec<usize>,
    pos: usize,
    last: Option<Tag>,
    unclosed: Vec<Tag>,
}

impl Lexer {
    pub(crate) fn new(source: &str) -> Self {
        let chars: Vec<char> = source.chars().collect();
        let mut utf16 = Vec::with_capacity(chars.len() + 1);
        let mut offset = 0;
        for c in &chars {
            utf16.push(offset);
            offset += c.len_utf16();
        }
        utf16.push(offset);
        Lexer {
            chars,
            utf16,
            pos: 0,
            last: None,
            unclosed: Vec::new(),
        }
    }

    /// True while a `(`, `[` or function call is open.
    pub(crate) fn has_unclosed(&self) -> bool {
        !self.unclosed.is_empty()
    }

    pub(crate) fn next_token(&mut self) -> Option<Token> {
        while self.pos < self.chars.len() && is_whitespace(self.chars[self.pos]) {
            self.pos += 1;
        }
        let c = *self.chars.get(self.pos)?;
        let token = match c {
            '(' if self.last == Some(Tag::Function) => self.punctuation(TokenKind::StartParameters),
            '(' => self.punctuation(TokenKind::StartGroup),
            '[' => self.punctuation(TokenKind::StartIndex),
            ')' if self.unclosed.last() == Some(&Tag::StartParameters) => {
                self.punctuation(TokenKind::EndParameters)
            }
            ')' => self.punctuation(TokenKind::EndGroup),
            ']' => self.punctuation(TokenKind::EndIndex),
            ',' => self.punctuation(TokenKind::Separator),
            '*' => self.punctuation(TokenKind::Wildcard),
            '\'' => self.read_string(),
            '!' | '>' | '<' | '=' | '&' | '|' => self.read_operator(),
            '.' if matches!(
                self.last,
                None | Some(
                    Tag::Separator
                        | Tag::StartGroup
                        | Tag::StartIndex
                        | Tag::StartParameters
                        | Tag::Op
                )
            ) =>
            {
                self.read_number()
            }
            '.' => self.punctuation(TokenKind::Dereference),
            '-' | '+' | '0'..='9' => self.read_number(),
            _ => self.read_keyword(),
        };
        self.last = Some(token.kind.tag());
        Some(token)
    }

    fn text(&self, start: usize) -> String {
        self.chars[start..self.pos].iter().collect()
    }

    fn punctuation(&mut self, kind: TokenKind) -> Token {
        let start = self.pos;
        self.pos += 1;
        let raw = self.text(start);
        self.create(kind, raw, start)
    }

    fn read_number(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.chars.len()
            && (!is_boundary(self.chars[self.pos]) || self.chars[self.pos] == '.')
        {
            self.pos += 1;
        }
        let raw = self.text(start);
        let value = parse_number(&raw);
        let kind = if value.is_nan() {
            TokenKind::Unexpected { malformed: true }
        } else {
            TokenKind::Number(value)
        };
        self.create(kind, raw, start)
    }

    fn read_keyword(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        while self.pos < self.chars.len() && !is_boundary(self.chars[self.pos]) {
            self.pos += 1;
        }
        let raw = self.text(start);
        let kind = if !is_legal_keyword(&raw) {
            TokenKind::Unexpected { malformed: true }
        } else if self.last == Some(Tag::Dereference) {
            TokenKind::PropertyName
        } else {
            match raw.as_str() {
                "null" => TokenKind::Null,
                "true" => TokenKind::Boolean(true),
                "false" => TokenKind::Boolean(false),
                "NaN" => TokenKind::Number(f64::NAN),
                "Infinity" => TokenKind::Number(f64::INFINITY),
                _ => {
                    let mut ahead = self.pos;
                    while ahead < self.chars.len() && is_whitespace(self.chars[ahead]) {
                        ahead += 1;
                    }
                    if self.chars.get(ahead) == Some(&'(') {
                        TokenKind::Function
                    } else {
                        TokenKind::NamedValue
                    }
                }
            }
        };
        self.create(kind, raw, start)
    }

    fn read_string(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut closed = false;
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if c == '\'' {
                if self.chars.get(self.pos) != Some(&'\'') {
                    closed = true;
                    break;
                }
                self.pos += 1;
            }
            value.push(c);
        }
        let raw = self.text(start);
        let kind = if closed {
            TokenKind::String(value)
        } else {
            TokenKind::Unexpected { malformed: true }
        };
        self.create(kind, raw, start)
    }

    fn read_operator(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        if let Some(&second) = self.chars.get(self.pos) {
            let op = match (self.chars[start], second) {
                ('!', '=') => Some(Operator::NotEqual),
                ('>', '=') => Some(Operator::GreaterEqual),
                ('<', '=') => Some(Operator::LessEqual),
                ('=', '=') => Some(Operator::Equal),
                ('&', '&') => Some(Operator::And),
                ('|', '|') => Some(Operator::Or),
                _ => None,
            };
            if let Some(op) = op {
                self.pos += 1;
                let raw = self.text(start);
                return self.create(TokenKind::Operator(op), raw, start);
            }
        }
        let single = match self.chars[start] {
            '!' => Some(Operator::Not),
            '>' => Some(Operator::Greater),
            '<' => Some(Operator::Less),
            _ => None,
        };
        if let Some(op) = single {
            let raw = self.text(start);
            return self.create(TokenKind::Operator(op), raw, start);
        }
        while self.pos < self.chars.len() && !is_boundary(self.chars[self.pos]) {
            self.pos += 1;
        }
        let raw = self.text(start);
        self.create(TokenKind::Unexpected { malformed: true }, raw, start)
    }

    /// Checks that a token of `kind` may follow the previous token and tracks open brackets;
    /// returns an `Unexpected` token where it may not.
    fn create(&mut self, kind: TokenKind, raw: String, start: usize) -> Token {
        use Tag::*;
        const AFTER_OPERAND: &[Tag] = &[
            EndGroup,
            EndParameters,
            EndIndex,
            Wildcard,
            Literal,
            PropertyName,
            NamedValue,
        ];
        const AT_OPERAND_START: &[Option<Tag>] = &[
            None,
            Some(Separator),
            Some(StartIndex),
            Some(StartGroup),
            Some(StartParameters),
            Some(Op),
        ];
        let last = self.last;
        let follows = |allowed: &[Tag]| last.is_some_and(|l| allowed.contains(&l));
        let legal = match &kind {
            TokenKind::StartGroup => AT_OPERAND_START.contains(&last),
            TokenKind::StartIndex => follows(&[
                EndGroup,
                EndParameters,
                EndIndex,
                Wildcard,
                PropertyName,
                NamedValue,
            ]),
            TokenKind::StartParameters => last == Some(Function),
            TokenKind::EndGroup | TokenKind::EndIndex | TokenKind::Separator => {
                follows(AFTER_OPERAND)
            }
            TokenKind::EndParameters => last == Some(StartParameters) || follows(AFTER_OPERAND),
            TokenKind::Dereference => follows(&[
                EndGroup,
                EndParameters,
                EndIndex,
                Wildcard,
                PropertyName,
                NamedValue,
            ]),
            TokenKind::Wildcard => follows(&[StartIndex, Dereference]),
            TokenKind::Operator(Operator::Not) => AT_OPERAND_START.contains(&last),
            TokenKind::Operator(_) => follows(AFTER_OPERAND),
            TokenKind::Null
            | TokenKind::Boolean(_)
            | TokenKind::Number(_)
            | TokenKind::String(_)
            | TokenKind::Function
            | TokenKind::NamedValue => AT_OPERAND_START.contains(&last),
            TokenKind::PropertyName => last == Some(Dereference),
            TokenKind::Unexpected { .. } => false,
        };
        let index = self.utf16.get(start).copied().unwrap_or(0);
        let unexpected = |kind: &TokenKind| Token {
            kind: match kind {
                TokenKind::Unexpected { malformed } => TokenKind::Unexpected {
                    malformed: *malformed,
                },
                _ => TokenKind::Unexpected { malformed: false },
            },
            raw: raw.clone(),
            index,
        };
        if !legal {
            return unexpected(&kind);
        }
        match kind {
            TokenKind::StartGroup => self.unclosed.push(StartGroup),
            TokenKind::StartIndex => self.unclosed.push(StartIndex),
            TokenKind::StartParameters => self.unclosed.push(StartParameters),
            TokenKind::EndGroup | TokenKind::EndIndex | TokenKind::EndParameters => {
                let opener = match kind {
                    TokenKind::EndGroup => StartGroup,
                    TokenKind::EndIndex => StartIndex,
                    _ => StartParameters,
                };
                if self.unclosed.last() != Some(&opener) {
                    return unexpected(&kind);
                }
                self.unclosed.pop();
            }
            TokenKind::Separator if self.unclosed.last() != Some(&StartParameters) => {
                return unexpected(&kind);
            }
            _ => {}
        }
        Token { kind, raw, index }
    }
}

/// Characters that end a number, identifier or bad operator.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '(' | '[' | ')' | ']' | ',' | '.' | '!' | '>' | '<' | '=' | '&' | '|'
    ) || is_whitespace(c)
}

/// `[A-Za-z_][A-Za-z0-9_-]*`: the identifiers GitHub accepts for contexts, functions and
/// property names.
pub(crate) fn is_legal_keyword(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(source);
        std::iter::from_fn(|| lexer.next_token())
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn reads_literals_and_identifiers() {
        assert_eq!(
            kinds("github.sha == 'a''b' && !x[1]"),
            vec![
                TokenKind::NamedValue,
                TokenKind::Dereference,
                TokenKind::PropertyName,
                TokenKind::Operator(Operator::Equal),
                TokenKind::String("a'b".into()),
                TokenKind::Operator(Operator::And),
                TokenKind::Operator(Operator::Not),
                TokenKind::NamedValue,
                TokenKind::StartIndex,
                TokenKind::Number(1.0),
                TokenKind::EndIndex,
            ]
        );
    }

    #[test]
    fn keywords_after_a_dot_are_property_names() {
        assert_eq!(
            kinds("foo.true"),
            vec![
                TokenKind::NamedValue,
                TokenKind::Dereference,
                TokenKind::PropertyName
            ]
        );
    }

    #[test]
    fn an_identifier_before_a_parenthesis_is_a_function() {
        assert_eq!(
            kinds("format ('x')"),
            vec![
                TokenKind::Function,
                TokenKind::StartParameters,
                TokenKind::String("x".into()),
                TokenKind::EndParameters
            ]
        );
    }

    #[test]
    fn a_leading_dot_starts_a_number() {
        assert_eq!(kinds(".5"), vec![TokenKind::Number(0.5)]);
        assert_eq!(
            kinds(".github/workflow.md"),
            vec![TokenKind::Unexpected { malformed: true }]
        );
    }

    #[test]
    fn marks_tokens_that_cannot_follow_the_previous_one() {
        let mut lexer = Lexer::new("1 2");
        assert_eq!(
            lexer.next_token().map(|t| t.kind),
            Some(TokenKind::Number(1.0))
        );
        let second = lexer.next_token();
        assert_eq!(
            second.as_ref().map(|t| &t.kind),
            Some(&TokenKind::Unexpected { malformed: false })
        );
        assert_eq!(second.map(|t| t.position()), Some(3));
    }

    #[test]
    fn counts_positions_in_utf16_units() {
        let mut lexer = Lexer::new("'😊' x");
        lexer.next_token();
        let x = lexer.next_token();
        assert_eq!(x.map(|t| t.index), Some(5));
    }

    #[test]
    fn legal_keywords() {
        assert!(is_legal_keyword("b-ar_1"));
        assert!(is_legal_keyword("_"));
        assert!(!is_legal_keyword("1a"));
        assert!(!is_legal_keyword("b@r"));
        assert!(!is_legal_keyword(""));
    }
}
