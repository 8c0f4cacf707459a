//! Lexer and recursive-descent parser for condition expressions.
//!
//! Columns are 0-based character (not byte) offsets, so that a caller can add them to the
//! column of the YAML scalar that holds the expression.

use std::fmt;

use visualpath_core::Name;

use super::{AnalyzerRef, CmpOp, MAX_DEPTH, Node, Num};

/// Why a condition does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 0-based character offset into the expression where the problem is (every character
    /// counts as one, including newlines of a multi-line condition).
    pub column: usize,
    /// What is wrong, for users (one line).
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        column,
        message: message.into(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Ident(&'a str),
    Path {
        analyzer: &'a str,
        value: &'a str,
    },
    Cmp(CmpOp),
    And,
    Or,
    Not,
    /// A run of operator characters that is no operator (`>>`, `=`, `&`).
    BadOp(&'a str),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    /// Character offset of the first character.
    col: usize,
    /// Byte range in the source.
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    col: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            self.col += 1;
        }
    }

    fn bump_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    fn bump_digits(&mut self) {
        self.bump_while(|c| c.is_ascii_digit());
    }

    fn tokens(mut self) -> Result<Vec<Token<'a>>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.bump_while(char::is_whitespace);
            let (start, col) = (self.pos, self.col);
            let Some(c) = self.peek() else {
                out.push(Token {
                    tok: Tok::End,
                    col,
                    start,
                    end: start,
                });
                return Ok(out);
            };
            let tok = match c {
                '(' | ')' | ',' => {
                    self.bump();
                    match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        _ => Tok::Comma,
                    }
                }
                '"' | '\'' => {
                    self.bump();
                    let body = self.pos;
                    self.bump_while(|x| x != c);
                    if self.peek().is_none() {
                        return err(col, format!("unterminated string: add the closing `{c}`"));
                    }
                    let s = &self.src[body..self.pos];
                    self.bump();
                    Tok::Str(s)
                }
                '0'..='9' => self.number(start, col)?,
                '-' if self.peek2().is_some_and(|d| d.is_ascii_digit()) => {
                    self.bump();
                    self.number(start, col)?
                }
                '-' => {
                    return err(
                        col,
                        "unexpected `-`: a negative number is written with the minus directly before its digits, e.g. `-1`",
                    );
                }
                '.' if self.peek2().is_some_and(|d| d.is_ascii_digit()) => {
                    return err(
                        col,
                        "a number must start with a digit: write `0.5`, not `.5`",
                    );
                }
                c if is_ident_start(c) => self.ident_or_path(start)?,
                '!' => {
                    self.bump();
                    if self.peek() == Some('=') {
                        self.bump();
                        Tok::Cmp(CmpOp::Ne)
                    } else {
                        Tok::Not
                    }
                }
                '<' | '>' | '=' | '&' | '|' => {
                    self.bump_while(|x| matches!(x, '<' | '>' | '=' | '&' | '|'));
                    match &self.src[start..self.pos] {
                        ">" => Tok::Cmp(CmpOp::Gt),
                        ">=" => Tok::Cmp(CmpOp::Ge),
                        "<" => Tok::Cmp(CmpOp::Lt),
                        "<=" => Tok::Cmp(CmpOp::Le),
                        "==" => Tok::Cmp(CmpOp::Eq),
                        "&&" => Tok::And,
                        "||" => Tok::Or,
                        other => Tok::BadOp(other),
                    }
                }
                other => return err(col, format!("unexpected character `{other}`")),
            };
            out.push(Token {
                tok,
                col,
                start,
                end: self.pos,
            });
        }
    }

    /// After an optional `-`: digits, fraction, exponent.
    fn number(&mut self, start: usize, col: usize) -> Result<Tok<'a>, ParseError> {
        self.bump_digits();
        if self.peek() == Some('.') && self.peek2().is_some_and(|d| d.is_ascii_digit()) {
            self.bump();
            self.bump_digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let mut it = self.src[self.pos..].chars().skip(1);
            let next = it.next();
            let ok = match next {
                Some(d) if d.is_ascii_digit() => true,
                Some('+' | '-') => it.next().is_some_and(|d| d.is_ascii_digit()),
                _ => false,
            };
            if ok {
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                self.bump_digits();
            }
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.bump_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            return err(
                col,
                format!("invalid number `{}`", &self.src[start..self.pos]),
            );
        }
        let text = &self.src[start..self.pos];
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Tok::Num(v)),
            _ => err(col, format!("number `{text}` is out of range")),
        }
    }

    fn ident_or_path(&mut self, start: usize) -> Result<Tok<'a>, ParseError> {
        self.bump_while(is_ident_char);
        let first = &self.src[start..self.pos];
        if self.peek() != Some('.') {
            return Ok(match first {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                _ => Tok::Ident(first),
            });
        }
        let value_start = self.pos + 1;
        while self.peek() == Some('.') {
            self.bump();
            if !self.peek().is_some_and(is_ident_start) {
                return err(
                    self.col,
                    format!(
                        "expected a value name after `{}` (a letter, then letters, digits, `_` or `-`)",
                        &self.src[start..self.pos]
                    ),
                );
            }
            self.bump_while(is_ident_char);
        }
        Ok(Tok::Path {
            analyzer: first,
            value: &self.src[value_start..self.pos],
        })
    }
}

/// An operand as parsed: a number or a boolean.
enum Operand {
    Num(Num),
    Bool(Node),
}

impl Operand {
    fn into_bool(self) -> Node {
        match self {
            Self::Num(n) => Node::NonZero(n),
            Self::Bool(b) => b,
        }
    }
}

/// An operand with its byte range in the source (for messages).
struct Parsed {
    op: Operand,
    start: usize,
    end: usize,
}

/// The last complete operand, for "expected ... after `X`" messages.
#[derive(Clone, Copy)]
enum Last {
    None,
    /// An atom not (yet) part of a comparison.
    Atom(usize, usize),
    /// A comparison.
    Cmp(usize, usize),
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token<'a>>,
    i: usize,
    depth: usize,
    refs: Vec<AnalyzerRef>,
    last: Last,
}

const OPERAND: &str = "a number, a value such as `motion.score`, a function or `(`";
const FUNCTIONS: &str = "functions are count, has, present";

pub(super) fn parse(src: &str) -> Result<(Node, Vec<AnalyzerRef>), ParseError> {
    let toks = Lexer {
        src,
        pos: 0,
        col: 0,
    }
    .tokens()?;
    if toks[0].tok == Tok::End {
        return err(0, "the condition is empty");
    }
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
        refs: Vec::new(),
        last: Last::None,
    };
    let root = p.parse_or()?;
    let t = p.peek();
    match t.tok {
        Tok::End => Ok((root, p.refs)),
        Tok::RParen => err(t.col, "unmatched `)`: there is no `(` before it"),
        _ => Err(p.unexpected_after_operand(false)),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Token<'a> {
        self.toks[self.i]
    }

    fn peek_at(&self, ahead: usize) -> Token<'a> {
        self.toks[(self.i + ahead).min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.toks[self.i];
        if t.tok != Tok::End {
            self.i += 1;
        }
        t
    }

    fn text(&self, t: Token<'a>) -> &'a str {
        &self.src[t.start..t.end]
    }

    fn describe(&self, t: Token<'a>) -> String {
        match t.tok {
            Tok::End => "the end of the condition".to_owned(),
            _ => format!("`{}`", self.text(t)),
        }
    }

    fn enter(&mut self, col: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                col,
                format!(
                    "the condition is nested too deeply (more than {MAX_DEPTH} levels of parentheses and `not`)"
                ),
            );
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Node, ParseError> {
        let first = self.parse_and()?;
        if self.peek().tok != Tok::Or {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.peek().tok == Tok::Or {
            self.next();
            all.push(self.parse_and()?);
        }
        Ok(Node::Or(all))
    }

    fn parse_and(&mut self) -> Result<Node, ParseError> {
        let first = self.parse_not()?;
        if self.peek().tok != Tok::And {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.peek().tok == Tok::And {
            self.next();
            all.push(self.parse_not()?);
        }
        Ok(Node::And(all))
    }

    fn parse_not(&mut self) -> Result<Node, ParseError> {
        if self.peek().tok == Tok::Not {
            let t = self.next();
            self.enter(t.col)?;
            let inner = self.parse_not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        Ok(self.parse_cmp()?.into_bool())
    }

    fn parse_cmp(&mut self) -> Result<Operand, ParseError> {
        let left = self.parse_atom()?;
        let Tok::Cmp(op) = self.peek().tok else {
            self.last = Last::Atom(left.start, left.end);
            return Ok(left.op);
        };
        let op_tok = self.next();
        let right = self.parse_atom()?;
        let (lt, rt) = (
            &self.src[left.start..left.end],
            &self.src[right.start..right.end],
        );
        let sym = op.symbol();
        let node = match (left.op, right.op) {
            (Operand::Num(a), Operand::Num(b)) => Node::CmpNum(a, op, b),
            (Operand::Bool(a), Operand::Bool(b)) if op.is_equality() => {
                Node::CmpBool(Box::new(a), op, Box::new(b))
            }
            (Operand::Bool(_), Operand::Bool(_)) => {
                return err(
                    op_tok.col,
                    format!(
                        "`{sym}` compares numbers, but `{lt}` and `{rt}` are true/false; use `==` or `!=`"
                    ),
                );
            }
            (l, _) if !op.is_equality() => {
                let b = if matches!(l, Operand::Bool(_)) {
                    lt
                } else {
                    rt
                };
                return err(
                    op_tok.col,
                    format!("`{sym}` compares numbers, but `{b}` is true/false"),
                );
            }
            (l, _) => {
                let (n, b) = if matches!(l, Operand::Num(_)) {
                    (lt, rt)
                } else {
                    (rt, lt)
                };
                return err(
                    op_tok.col,
                    format!("cannot compare the number `{n}` with the true/false `{b}`"),
                );
            }
        };
        self.last = Last::Cmp(left.start, right.end);
        Ok(Operand::Bool(node))
    }

    fn analyzer(&mut self, t: Token<'a>, name: &str) -> Result<Name, ParseError> {
        match Name::new(name) {
            Ok(n) => {
                self.refs.push(AnalyzerRef {
                    analyzer: n.clone(),
                    column: t.col,
                });
                Ok(n)
            }
            Err(_) => err(
                t.col,
                format!("analyzer name `{name}` is longer than 64 characters"),
            ),
        }
    }

    fn parse_atom(&mut self) -> Result<Parsed, ParseError> {
        let t = self.peek();
        let op = match t.tok {
            Tok::Num(v) => {
                self.next();
                Operand::Num(Num::Const(v))
            }
            Tok::Bool(b) => {
                self.next();
                Operand::Bool(Node::Const(b))
            }
            Tok::Path { analyzer, value } => {
                self.next();
                let analyzer = self.analyzer(t, analyzer)?;
                Operand::Num(Num::Value {
                    analyzer,
                    name: value.into(),
                })
            }
            Tok::Ident(id) => return self.parse_ident(t, id),
            Tok::LParen => {
                self.next();
                self.enter(t.col)?;
                let inner = self.parse_or()?;
                self.depth -= 1;
                let close = self.peek();
                match close.tok {
                    Tok::RParen => {
                        self.next();
                    }
                    Tok::End => {
                        return err(
                            close.col,
                            format!("missing `)` to close the `(` at column {}", t.col),
                        );
                    }
                    _ => return Err(self.unexpected_after_operand(true)),
                }
                let op = match inner {
                    Node::NonZero(n) => Operand::Num(n),
                    b => Operand::Bool(b),
                };
                return Ok(Parsed {
                    op,
                    start: t.start,
                    end: close.end,
                });
            }
            Tok::Str(_) => {
                return err(
                    t.col,
                    "a string is only allowed as an argument of `count` or `has`, e.g. count(detect, \"person\")",
                );
            }
            _ => {
                let after = match self.i.checked_sub(1) {
                    Some(p) => format!(" after `{}`", self.text(self.toks[p])),
                    None => String::new(),
                };
                return err(
                    t.col,
                    format!("expected {OPERAND}{after}, found {}", self.describe(t)),
                );
            }
        };
        Ok(Parsed {
            op,
            start: t.start,
            end: t.end,
        })
    }

    fn parse_ident(&mut self, t: Token<'a>, id: &'a str) -> Result<Parsed, ParseError> {
        let is_fn = matches!(id, "count" | "has" | "present");
        let open = self.peek_at(1);
        if open.tok == Tok::LParen {
            if !is_fn {
                return err(t.col, format!("unknown function `{id}`; {FUNCTIONS}"));
            }
            return self.parse_call(t, id);
        }
        if is_fn {
            return err(
                open.col,
                format!("expected `(` after `{id}`, found {}", self.describe(open)),
            );
        }
        let lower = id.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "and" | "or" | "not" | "true" | "false" | "count" | "has" | "present"
        ) {
            return err(
                t.col,
                format!(
                    "`{id}` is not a keyword: keywords and functions are lowercase, write `{lower}`"
                ),
            );
        }
        err(
            t.col,
            format!(
                "`{id}` alone is not a value: write `{id}.NAME` for one of its values, or use count({id}), has({id}, \"TAG\") or present({id})"
            ),
        )
    }

    /// The analyzer-name argument: an identifier (keywords are accepted as names here).
    fn ident_arg(&self, t: Token<'a>) -> Option<&'a str> {
        match t.tok {
            Tok::Ident(_) | Tok::And | Tok::Or | Tok::Not | Tok::Bool(_) => Some(self.text(t)),
            _ => None,
        }
    }

    fn parse_call(&mut self, name_tok: Token<'a>, func: &'a str) -> Result<Parsed, ParseError> {
        self.next(); // name
        self.next(); // (
        let usage = match func {
            "count" => {
                "`count` takes an analyzer name and an optional class in quotes, e.g. count(detect) or count(detect, \"person\")"
            }
            "has" => "`has` takes an analyzer name and a tag in quotes, e.g. has(scene, \"cut\")",
            _ => "`present` takes one analyzer name, e.g. present(detect)",
        };
        let bad = |p: &Self, t: Token<'a>| err(t.col, format!("{usage}; found {}", p.describe(t)));
        let a = self.peek();
        let Some(a_text) = self.ident_arg(a) else {
            return bad(self, a);
        };
        self.next();
        let analyzer = self.analyzer(a, a_text)?;
        let wants_string = match func {
            "has" => true,
            "count" => self.peek().tok == Tok::Comma,
            _ => false,
        };
        let mut string = None;
        if wants_string {
            let comma = self.peek();
            if comma.tok != Tok::Comma {
                return bad(self, comma);
            }
            self.next();
            let s = self.peek();
            let Tok::Str(text) = s.tok else {
                return bad(self, s);
            };
            self.next();
            string = Some(text);
        }
        let close = self.peek();
        if close.tok != Tok::RParen {
            if matches!(close.tok, Tok::Comma) {
                return bad(self, close);
            }
            return err(
                close.col,
                format!(
                    "expected `)` after the arguments of `{func}`, found {}",
                    self.describe(close)
                ),
            );
        }
        self.next();
        let op = match func {
            "count" => Operand::Num(Num::Count {
                analyzer,
                class: string.map(Into::into),
            }),
            "has" => Operand::Bool(Node::Has {
                analyzer,
                tag: string.unwrap_or_default().into(),
            }),
            _ => Operand::Bool(Node::Present(analyzer)),
        };
        Ok(Parsed {
            op,
            start: name_tok.start,
            end: close.end,
        })
    }

    /// The error for an unexpected token after a complete operand (at the top level or, with
    /// `in_paren`, before the `)` of a group).
    fn unexpected_after_operand(&self, in_paren: bool) -> ParseError {
        let t = self.peek();
        let found = self.describe(t);
        let hint = match t.tok {
            Tok::BadOp("=") => " (use `==` to compare)".to_owned(),
            Tok::BadOp("&") => " (use `and` or `&&`)".to_owned(),
            Tok::BadOp("|") => " (use `or` or `||`)".to_owned(),
            Tok::Ident(id) if matches!(id.to_ascii_lowercase().as_str(), "and" | "or") => {
                format!(" (keywords are lowercase: `{}`)", id.to_ascii_lowercase())
            }
            _ => String::new(),
        };
        let message = match self.last {
            Last::Cmp(s, e) if matches!(t.tok, Tok::Cmp(_)) => format!(
                "comparisons cannot be chained: `{}` is already a comparison; combine comparisons with `and`",
                &self.src[s..e]
            ),
            Last::Cmp(s, e) => {
                let expected = if in_paren {
                    "`and`/`or` or `)`"
                } else {
                    "`and`/`or`"
                };
                format!(
                    "expected {expected} after `{}`, found {found}{hint}",
                    &self.src[s..e]
                )
            }
            Last::Atom(s, e) => {
                let expected = if in_paren {
                    "a comparison operator, `and`/`or` or `)`"
                } else {
                    "a comparison operator or `and`/`or`"
                };
                format!(
                    "expected {expected} after `{}`, found {found}{hint}",
                    &self.src[s..e]
                )
            }
            Last::None => format!("unexpected {found}"),
        };
        ParseError {
            column: t.col,
            message,
        }
    }
}
