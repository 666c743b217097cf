//! Builds an [`Expr`] from tokens with an operator-precedence (shunting-yard) parser, as GitHub's
//! parser does. It never recurses on input: operators and operands live on two explicit stacks,
//! and every node's height is known when it is built, so a tree deeper than `max_depth` is never
//! formed (the error is reported once the whole expression has been read, as GitHub reports it).
//!
//! Chains of `&&` (or `||`) count as one level, as GitHub flattens them; they become balanced
//! trees of [`ExprKind::Binary`] so that even thousands of operands nest only a few levels.

use super::ast::{BinaryOp, Expr, ExprKind};
use super::casing::eq_ignore_case;
use super::error::{ExprError, ExprErrorKind, ParseProblem};
use super::functions::builtin_arity;
use super::lexer::{Lexer, Operator, Token, TokenKind};
use super::ParseOptions;

/// GitHub refuses expressions longer than this many UTF-16 code units.
pub const MAX_EXPRESSION_LENGTH: usize = 21_000;

/// The nesting depth allowed when [`ParseOptions::max_depth`] is 0.
pub const DEFAULT_MAX_DEPTH: usize = 50;

/// The largest `max_depth` honoured: deeper trees could exhaust the stack while evaluating.
pub const MAX_DEPTH_LIMIT: usize = 500;

pub(crate) fn parse(source: &str, options: &ParseOptions) -> Result<Expr, ExprError> {
    if source.encode_utf16().count() > MAX_EXPRESSION_LENGTH {
        return Err(ExprError::max_length(MAX_EXPRESSION_LENGTH));
    }
    let max_depth = match options.max_depth {
        0 => DEFAULT_MAX_DEPTH,
        n => n.min(MAX_DEPTH_LIMIT),
    };
    Parser {
        source,
        options,
        max_depth,
        too_deep: false,
        operators: Vec::new(),
        operands: Vec::new(),
        previous: None,
    }
    .run()
}

/// A node under construction on the operand stack, with its height (a leaf is 1).
struct Operand {
    node: Node,
    height: usize,
}

enum Node {
    Done(Expr),
    /// `*` after `[` or `.`; anywhere else GitHub evaluates it to the string `*`.
    Star {
        pos: usize,
    },
    /// The name after `.`.
    PropertyName {
        name: String,
        pos: usize,
    },
    /// A flattened `&&` or `||` chain.
    Logical {
        op: BinaryOp,
        args: Vec<Operand>,
    },
    /// A function whose `)` has not been read yet.
    OpenCall {
        name: String,
        pos: usize,
    },
}

struct Parser<'s> {
    source: &'s str,
    options: &'s ParseOptions,
    max_depth: usize,
    too_deep: bool,
    operators: Vec<Token>,
    operands: Vec<Operand>,
    /// The token read before the current one (GitHub's `LastToken`).
    previous: Option<Token>,
}

impl Parser<'_> {
    fn run(mut self) -> Result<Expr, ExprError> {
        let mut lexer = Lexer::new(self.source);
        while let Some(token) = lexer.next_token() {
            match token.kind {
                TokenKind::Unexpected { malformed } => {
                    let kind = if malformed {
                        ExprErrorKind::Lexing
                    } else {
                        ExprErrorKind::Parsing
                    };
                    return Err(self.error(kind, ParseProblem::UnexpectedSymbol, &token));
                }
                ref kind if kind.is_operator() => self.push_operator(token.clone())?,
                _ => self.push_operand(&token)?,
            }
            self.previous = Some(token);
        }
        let Some(last) = self.previous.take() else {
            return Ok(Expr {
                kind: ExprKind::Null,
                pos: 1,
            });
        };
        if !self.operators.is_empty() {
            let dangling = match last.kind {
                TokenKind::EndGroup | TokenKind::EndIndex | TokenKind::EndParameters => false,
                TokenKind::Function => true,
                ref kind => kind.is_operator(),
            };
            if dangling || lexer.has_unclosed() {
                return Err(self.parse_error(ParseProblem::UnexpectedEnd, &last));
            }
        }
        self.previous = Some(last.clone());
        while !self.operators.is_empty() {
            self.flush_top()?;
        }
        let root = match (self.operands.pop(), self.operands.is_empty()) {
            (Some(root), true) => root,
            _ => return Err(self.parse_error(ParseProblem::UnexpectedSymbol, &last)),
        };
        if self.too_deep {
            return Err(ExprError::max_depth(self.max_depth));
        }
        Ok(finish(root))
    }

    fn error(&self, kind: ExprErrorKind, problem: ParseProblem, token: &Token) -> ExprError {
        ExprError::at_token(kind, problem, &token.raw, token.position(), self.source)
    }

    fn parse_error(&self, problem: ParseProblem, token: &Token) -> ExprError {
        self.error(ExprErrorKind::Parsing, problem, token)
    }

    /// An error for a state GitHub's grammar rules out; reported rather than panicking.
    fn internal_error(&self) -> ExprError {
        match self.previous.as_ref() {
            Some(token) => self.parse_error(ParseProblem::UnexpectedSymbol, token),
            None => ExprError {
                kind: ExprErrorKind::Parsing,
                message: format!("Unexpected symbol within expression: {}", self.source),
                position: None,
            },
        }
    }

    fn push_operand(&mut self, token: &Token) -> Result<(), ExprError> {
        let pos = token.position();
        let node = match &token.kind {
            TokenKind::Function => {
                let known = builtin_arity(&token.raw).is_some()
                    || self
                        .options
                        .functions
                        .iter()
                        .any(|f| eq_ignore_case(&f.name, &token.raw));
                if !known {
                    return Err(self.parse_error(ParseProblem::UnrecognizedFunction, token));
                }
                Node::OpenCall {
                    name: token.raw.clone(),
                    pos,
                }
            }
            TokenKind::NamedValue => {
                let known = self
                    .options
                    .named_values
                    .iter()
                    .any(|n| eq_ignore_case(n, &token.raw));
                if !known {
                    return Err(self.parse_error(ParseProblem::UnrecognizedNamedValue, token));
                }
                Node::Done(Expr {
                    kind: ExprKind::NamedValue(token.raw.clone()),
                    pos,
                })
            }
            TokenKind::Null => leaf(ExprKind::Null, pos),
            TokenKind::Boolean(b) => leaf(ExprKind::Bool(*b), pos),
            TokenKind::Number(n) => leaf(ExprKind::Number(*n), pos),
            TokenKind::String(s) => leaf(ExprKind::String(s.clone()), pos),
            TokenKind::PropertyName => Node::PropertyName {
                name: token.raw.clone(),
                pos,
            },
            TokenKind::Wildcard => Node::Star { pos },
            _ => return Err(self.internal_error()),
        };
        self.operands.push(Operand { node, height: 1 });
        Ok(())
    }

    fn push_operator(&mut self, token: Token) -> Result<(), ExprError> {
        if left_to_right(&token.kind) {
            let precedence = precedence(&token.kind);
            while let Some(top) = self.operators.last() {
                let opens = matches!(
                    top.kind,
                    TokenKind::StartGroup
                        | TokenKind::StartIndex
                        | TokenKind::StartParameters
                        | TokenKind::Separator
                );
                if precedence <= self::precedence(&top.kind) && !opens {
                    self.flush_top()?;
                } else {
                    break;
                }
            }
        }
        let closes = matches!(
            token.kind,
            TokenKind::EndGroup | TokenKind::EndIndex | TokenKind::EndParameters
        );
        self.operators.push(token);
        if closes {
            self.flush_top()?;
        }
        Ok(())
    }

    fn pop_operand(&mut self) -> Result<Operand, ExprError> {
        self.operands.pop().ok_or_else(|| self.internal_error())
    }

    fn pop_operator(&mut self) -> Result<Token, ExprError> {
        self.operators.pop().ok_or_else(|| self.internal_error())
    }

    /// Builds the node for the operator on top of the stack.
    fn flush_top(&mut self) -> Result<(), ExprError> {
        let top = self.pop_operator()?;
        match top.kind {
            TokenKind::EndGroup => {
                self.pop_operator()?;
            }
            TokenKind::EndIndex => {
                self.pop_operator()?;
                let index = self.pop_operand()?;
                let target = self.pop_operand()?;
                let height = 1 + target.height.max(index.height);
                let target = finish(target);
                let pos = target.pos;
                let kind = match index.node {
                    Node::Star { .. } => ExprKind::Wildcard {
                        target: Box::new(target),
                    },
                    _ => ExprKind::Index {
                        target: Box::new(target),
                        index: Box::new(finish(index)),
                    },
                };
                self.push_built(Node::Done(Expr { kind, pos }), height);
            }
            TokenKind::EndParameters => self.finish_call()?,
            TokenKind::Dereference => {
                let member = self.pop_operand()?;
                let target = self.pop_operand()?;
                let height = 1 + target.height.max(member.height);
                let target = Box::new(finish(target));
                let pos = target.pos;
                let kind = match member.node {
                    Node::Star { .. } => ExprKind::Wildcard { target },
                    Node::PropertyName { name, .. } => ExprKind::Property { target, name },
                    _ => return Err(self.internal_error()),
                };
                self.push_built(Node::Done(Expr { kind, pos }), height);
            }
            TokenKind::Operator(Operator::Not) => {
                let operand = self.pop_operand()?;
                let height = 1 + operand.height;
                let expr = Expr {
                    kind: ExprKind::Not(Box::new(finish(operand))),
                    pos: top.position(),
                };
                self.push_built(Node::Done(expr), height);
            }
            TokenKind::Operator(op @ (Operator::And | Operator::Or)) => {
                let op = binary_op(op);
                let rhs = self.pop_operand()?;
                let lhs = self.pop_operand()?;
                let mut args = Vec::new();
                for operand in [lhs, rhs] {
                    match operand.node {
                        Node::Logical {
                            op: inner,
                            args: inner_args,
                        } if inner == op => args.extend(inner_args),
                        node => args.push(Operand {
                            node,
                            height: operand.height,
                        }),
                    }
                }
                let height = 1 + args.iter().map(|a| a.height).max().unwrap_or(0);
                self.push_built(Node::Logical { op, args }, height);
            }
            TokenKind::Operator(op) => {
                let rhs = self.pop_operand()?;
                let lhs = self.pop_operand()?;
                let height = 1 + lhs.height.max(rhs.height);
                let lhs = finish(lhs);
                let pos = lhs.pos;
                let expr = Expr {
                    kind: ExprKind::Binary {
                        op: binary_op(op),
                        lhs: Box::new(lhs),
                        rhs: Box::new(finish(rhs)),
                    },
                    pos,
                };
                self.push_built(Node::Done(expr), height);
            }
            _ => return Err(self.internal_error()),
        }
        Ok(())
    }

    /// Handles `)` closing a function call: gathers the arguments and checks their number.
    fn finish_call(&mut self) -> Result<(), ExprError> {
        let no_arguments = matches!(
            self.previous.as_ref().map(|t| &t.kind),
            Some(TokenKind::StartParameters)
        );
        let mut args = Vec::new();
        if !no_arguments {
            let mut count = 1;
            while matches!(
                self.operators.last().map(|t| &t.kind),
                Some(TokenKind::Separator)
            ) {
                self.operators.pop();
                count += 1;
            }
            for _ in 0..count {
                args.push(self.pop_operand()?);
            }
            args.reverse();
        }
        let opener = self.pop_operator()?;
        if opener.kind != TokenKind::StartParameters {
            return Err(self.internal_error());
        }
        let function = self.pop_operand()?;
        let Node::OpenCall { name, pos } = function.node else {
            return Err(self.internal_error());
        };
        let name_token = Token {
            kind: TokenKind::Function,
            raw: name.clone(),
            index: pos - 1,
        };
        if let Some((min, max)) = self.arity(&name) {
            if args.len() < min {
                return Err(self.parse_error(ParseProblem::TooFewParameters, &name_token));
            }
            if args.len() > max {
                return Err(self.parse_error(ParseProblem::TooManyParameters, &name_token));
            }
            if name.eq_ignore_ascii_case("case") && args.len() % 2 == 0 {
                return Err(self.parse_error(ParseProblem::EvenParameters, &name_token));
            }
        }
        let height = 1 + args.iter().map(|a| a.height).max().unwrap_or(0);
        let expr = Expr {
            kind: ExprKind::Call {
                name,
                args: args.into_iter().map(finish).collect(),
            },
            pos,
        };
        self.push_built(Node::Done(expr), height);
        Ok(())
    }

    fn arity(&self, name: &str) -> Option<(usize, usize)> {
        builtin_arity(name).or_else(|| {
            self.options
                .functions
                .iter()
                .find(|f| eq_ignore_case(&f.name, name))
                .map(|f| (f.min_args, f.max_args))
        })
    }

    /// Pushes a built node, or a placeholder when it is too deep (so no deep tree is ever held).
    fn push_built(&mut self, node: Node, height: usize) {
        if height > self.max_depth {
            self.too_deep = true;
            self.operands.push(Operand {
                node: leaf(ExprKind::Null, 1),
                height: self.max_depth + 1,
            });
        } else {
            self.operands.push(Operand { node, height });
        }
    }
}

fn leaf(kind: ExprKind, pos: usize) -> Node {
    Node::Done(Expr { kind, pos })
}

/// Turns a finished operand into an expression.
fn finish(operand: Operand) -> Expr {
    match operand.node {
        Node::Done(expr) => expr,
        Node::Star { pos } => Expr {
            kind: ExprKind::String("*".into()),
            pos,
        },
        Node::PropertyName { name, pos } => Expr {
            kind: ExprKind::String(name),
            pos,
        },
        Node::OpenCall { name, pos } => Expr {
            kind: ExprKind::Call {
                name,
                args: Vec::new(),
            },
            pos,
        },
        Node::Logical { op, args } => balanced(op, args.into_iter().map(finish).collect()),
    }
}

/// `a && b && c && d` as `(a && b) && (c && d)`: the same value and short-circuit order, with
/// nesting that grows with the logarithm of the chain's length.
fn balanced(op: BinaryOp, mut args: Vec<Expr>) -> Expr {
    if args.len() <= 1 {
        return args.pop().unwrap_or(Expr {
            kind: ExprKind::Null,
            pos: 1,
        });
    }
    let right = args.split_off(args.len() / 2);
    let lhs = balanced(op, args);
    let rhs = balanced(op, right);
    let pos = lhs.pos;
    Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        pos,
    }
}

fn binary_op(op: Operator) -> BinaryOp {
    match op {
        Operator::And => BinaryOp::And,
        Operator::Or => BinaryOp::Or,
        Operator::Equal => BinaryOp::Eq,
        Operator::NotEqual => BinaryOp::Ne,
        Operator::Less => BinaryOp::Lt,
        Operator::LessEqual => BinaryOp::Le,
        Operator::Greater => BinaryOp::Gt,
        // `!` is unary and handled before this is called.
        Operator::GreaterEqual | Operator::Not => BinaryOp::Ge,
    }
}

fn precedence(kind: &TokenKind) -> u8 {
    match kind {
        TokenKind::StartGroup => 20,
        TokenKind::StartIndex | TokenKind::StartParameters | TokenKind::Dereference => 19,
        TokenKind::Operator(op) => match op {
            Operator::Not => 16,
            Operator::Greater | Operator::GreaterEqual | Operator::Less | Operator::LessEqual => 11,
            Operator::Equal | Operator::NotEqual => 10,
            Operator::And => 6,
            Operator::Or => 5,
        },
        TokenKind::EndGroup
        | TokenKind::EndIndex
        | TokenKind::EndParameters
        | TokenKind::Separator => 1,
        _ => 0,
    }
}

/// Left-to-right operators flush operators of higher or equal precedence before being pushed;
/// `(` and `!` do not.
fn left_to_right(kind: &TokenKind) -> bool {
    !matches!(
        kind,
        TokenKind::StartGroup | TokenKind::Operator(Operator::Not)
    )
}
