//! Condition expressions: the `when:` of analyzers and fusion rules.
//!
//! A condition is a small boolean expression over the latest observations of the analyzers
//! of one source, e.g.
//!
//! ```text
//! motion.score > 0.05 and count(detect, "person") >= 1
//! stats.brightness < 40 or has(scene, "cut")
//! not present(detect) && motion.region.r1c2 > 0.2
//! ```
//!
//! It is used in two places of a pipeline: on an analyzer (`when:`: the analyzer runs on a
//! frame only if the condition holds on the observations upstream analyzers made for that
//! frame) and on a fusion rule (see [`crate::rules`]).
//!
//! # Grammar
//!
//! ```text
//! expr   := or
//! or     := and ( ('or' | '||') and )*
//! and    := not ( ('and' | '&&') not )*
//! not    := ('not' | '!') not | cmp
//! cmp    := atom ( ('>' | '>=' | '<' | '<=' | '==' | '!=') atom )?
//! atom   := NUMBER | 'true' | 'false' | path | call | '(' expr ')'
//! path   := IDENT '.' IDENT ('.' IDENT)*
//! call   := 'count' '(' IDENT (',' STRING)? ')'
//!         | 'has' '(' IDENT ',' STRING ')'
//!         | 'present' '(' IDENT ')'
//! IDENT  := [A-Za-z][A-Za-z0-9_-]*
//! NUMBER := '-'? [0-9]+ ('.' [0-9]+)? ([eE] [+-]? [0-9]+)?
//! STRING := '"' any character but '"' '"'  |  "'" any character but "'" "'"
//! ```
//!
//! - `path` is `analyzer.value`: the first identifier names the analyzer, everything after
//!   the first dot names the value, which may itself contain dots (`motion.region.r1c2` is
//!   the value `region.r1c2` of the analyzer `motion`).
//! - `count(a)` is the number of detections in `a`'s observation, `count(a, "person")` the
//!   number of detections of class `person`; `has(a, "cut")` is whether `a`'s observation
//!   carries the tag `cut`; `present(a)` is whether `a` produced an observation.
//! - Keywords (`and`, `or`, `not`, `true`, `false`) and function names are lowercase.
//!   Analyzer names may contain `-` (`cam-1.score`); a `-` directly followed by a digit at the
//!   start of a token is a negative number (`x.y > -1`).
//! - Strings have no escapes; use single quotes for a text that contains `"` and vice versa.
//!   Strings are only valid as function arguments.
//! - Whitespace is free between tokens. Nesting (parentheses and `not`) is limited to
//!   [`MAX_DEPTH`] levels.
//!
//! # Types
//!
//! Every atom is a number (literals, values, `count`) or a boolean (`true`, `false`, `has`,
//! `present`, comparisons and the logical operators). The parser checks them, with an error
//! pointing at the offending operator:
//!
//! - `>`, `>=`, `<`, `<=` compare two numbers; `==` and `!=` compare two numbers or two
//!   booleans (`present(detect) == false`), never a number with a boolean.
//! - A number used where a boolean is expected (a bare path or call, an operand of
//!   `and`/`or`/`not`, the whole condition) means "is not 0": `has_motion.flag and
//!   count(detect)` is `has_motion.flag != 0 and count(detect) != 0`.
//! - Comparisons do not chain: `0 < a.x < 1` is an error; write `a.x > 0 and a.x < 1`.
//! - Numbers compare as `f64`; `==` is exact (meant for counts and flags).
//!
//! # Missing data: three-valued logic
//!
//! An analyzer may not have produced an observation (it was skipped by its own `when:`,
//! it failed, it is too slow, its observation is stale) or its observation may lack the value
//! (a NaN value counts as missing). The [`Env`] then answers `None` and the expression is
//! evaluated with Kleene's three-valued logic, UNKNOWN standing for "cannot tell":
//!
//! | expression                                     | result                      |
//! |------------------------------------------------|-----------------------------|
//! | a comparison with a missing operand            | UNKNOWN                     |
//! | `count(a)`, `has(a, "t")` when `a` is missing  | UNKNOWN                     |
//! | `present(a)`                                   | never UNKNOWN: false        |
//! | `not UNKNOWN`                                  | UNKNOWN                     |
//! | `false and UNKNOWN`, `UNKNOWN and false`       | false                       |
//! | `true and UNKNOWN`                             | UNKNOWN                     |
//! | `true or UNKNOWN`, `UNKNOWN or true`           | true                        |
//! | `false or UNKNOWN`                             | UNKNOWN                     |
//! | `UNKNOWN == true` (boolean comparison)         | UNKNOWN                     |
//!
//! [`Expr::eval3`] returns `None` for UNKNOWN; [`Expr::eval`] treats a top-level UNKNOWN as
//! false. Examples, with `motion` present (`score` = 0.3) and `detect` missing:
//!
//! - `count(detect, "person") > 0` is UNKNOWN, so false: nothing fires on missing data.
//! - `not (count(detect, "person") > 0)` is also UNKNOWN, so also false: negation does not
//!   turn "cannot tell" into "no person". Write `not present(detect) or count(detect) == 0`
//!   to mean "no detection or nobody detected".
//! - `motion.score > 0.1 or count(detect) > 0` is true (one true operand suffices).
//! - `motion.score > 0.5 and count(detect) > 0` is false (one false operand suffices).
//! - `motion.score > 0.1 and count(detect) > 0` is UNKNOWN, so false.
//!
//! # Canonical form
//!
//! [`Expr`]'s `Display` writes the canonical form: keywords spelled out (`and`, `or`,
//! `not`), one space around binary operators, `, ` between arguments, strings in double quotes
//! (single quotes if the string contains `"`), numbers in Rust's shortest round-trip form
//! (`0.05`, `1`, `-2.5`), and only the parentheses the structure needs (`a.x > 1 or (b.y > 1
//! and c.z > 1)` loses its parentheses, `(a.x > 1 or b.y > 1) and c.z > 1` keeps them).
//! Parsing the canonical form gives back an equal expression.
//!
//! # Cost
//!
//! Evaluation walks the tree and calls the [`Env`]; it never allocates. Parsing allocates
//! the tree once.

mod condition;
mod env;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use visualpath_core::Name;

pub use condition::{Condition, ConditionError};
pub use env::{Env, ObservationEnv};
pub use parse::ParseError;

/// Maximum nesting of parentheses and `not` in a condition.
pub const MAX_DEPTH: usize = 64;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    fn is_equality(self) -> bool {
        matches!(self, Self::Eq | Self::Ne)
    }

    fn apply_num(self, a: f64, b: f64) -> bool {
        match self {
            Self::Gt => a > b,
            Self::Ge => a >= b,
            Self::Lt => a < b,
            Self::Le => a <= b,
            Self::Eq => a == b,
            Self::Ne => a != b,
        }
    }
}

/// A numeric operand.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Num {
    /// A literal (always finite).
    Const(f64),
    /// `analyzer.name`.
    Value { analyzer: Name, name: Box<str> },
    /// `count(analyzer)` or `count(analyzer, "class")`.
    Count {
        analyzer: Name,
        class: Option<Box<str>>,
    },
}

/// A boolean node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// `true` / `false`.
    Const(bool),
    /// A number used as a boolean: "is not 0".
    NonZero(Num),
    /// A comparison of two numbers.
    CmpNum(Num, CmpOp, Num),
    /// `==` / `!=` of two booleans.
    CmpBool(Box<Node>, CmpOp, Box<Node>),
    /// `has(analyzer, "tag")`.
    Has { analyzer: Name, tag: Box<str> },
    /// `present(analyzer)`.
    Present(Name),
    /// `not x`.
    Not(Box<Node>),
    /// `a and b and ...` (at least two operands).
    And(Vec<Node>),
    /// `a or b or ...` (at least two operands).
    Or(Vec<Node>),
}

/// Something an expression reads from its [`Env`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ref<'a> {
    Value(&'a Name, &'a str),
    Count(&'a Name, Option<&'a str>),
    Has(&'a Name, &'a str),
    Present(&'a Name),
}

impl Num {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(Ref<'a>)) {
        match self {
            Self::Const(_) => {}
            Self::Value { analyzer, name } => f(Ref::Value(analyzer, name)),
            Self::Count { analyzer, class } => f(Ref::Count(analyzer, class.as_deref())),
        }
    }

    fn eval(&self, env: &dyn Env) -> Option<f64> {
        match self {
            Self::Const(v) => Some(*v),
            Self::Value { analyzer, name } => {
                env.value(analyzer.as_str(), name).filter(|v| !v.is_nan())
            }
            Self::Count { analyzer, class } => env
                .count(analyzer.as_str(), class.as_deref())
                .map(|c| c as f64),
        }
    }
}

impl Node {
    fn visit<'a>(&'a self, f: &mut dyn FnMut(Ref<'a>)) {
        match self {
            Self::Const(_) => {}
            Self::NonZero(n) => n.visit(f),
            Self::CmpNum(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
            Self::CmpBool(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
            Self::Has { analyzer, tag } => f(Ref::Has(analyzer, tag)),
            Self::Present(a) => f(Ref::Present(a)),
            Self::Not(x) => x.visit(f),
            Self::And(xs) | Self::Or(xs) => xs.iter().for_each(|x| x.visit(f)),
        }
    }

    fn eval(&self, env: &dyn Env) -> Option<bool> {
        match self {
            Self::Const(b) => Some(*b),
            Self::NonZero(n) => n.eval(env).map(|v| v != 0.0),
            Self::CmpNum(a, op, b) => {
                let a = a.eval(env)?;
                let b = b.eval(env)?;
                Some(op.apply_num(a, b))
            }
            Self::CmpBool(a, op, b) => {
                let a = a.eval(env)?;
                let b = b.eval(env)?;
                Some((a == b) == (*op == CmpOp::Eq))
            }
            Self::Has { analyzer, tag } => env.has_tag(analyzer.as_str(), tag),
            Self::Present(a) => Some(env.present(a.as_str())),
            Self::Not(x) => x.eval(env).map(|b| !b),
            Self::And(xs) => {
                let mut unknown = false;
                for x in xs {
                    match x.eval(env) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Self::Or(xs) => {
                let mut unknown = false;
                for x in xs {
                    match x.eval(env) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
        }
    }
}

/// Where an expression names an analyzer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzerRef {
    /// The analyzer.
    pub analyzer: Name,
    /// 0-based character offset of the name in the expression's text.
    pub column: usize,
}

/// A parsed condition expression (see the [module docs](self) for the grammar and the
/// semantics).
///
/// Two expressions are equal when they have the same structure; where their analyzer names
/// appear in the text ([`Expr::analyzer_refs`]) does not matter.
#[derive(Clone, Debug)]
pub struct Expr {
    root: Node,
    refs: Vec<AnalyzerRef>,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Expr {
    /// Parses a condition. The error's `column` is a 0-based character offset into `src`.
    pub fn parse(src: &str) -> Result<Expr, ParseError> {
        let (root, refs) = parse::parse(src)?;
        Ok(Expr { root, refs })
    }

    #[cfg(test)]
    pub(crate) fn from_node(root: Node) -> Expr {
        Expr {
            root,
            refs: Vec::new(),
        }
    }

    /// Evaluates the condition; UNKNOWN (missing data) counts as false.
    pub fn eval(&self, env: &dyn Env) -> bool {
        self.eval3(env) == Some(true)
    }

    /// Evaluates the condition with three-valued logic: `None` is UNKNOWN.
    pub fn eval3(&self, env: &dyn Env) -> Option<bool> {
        self.root.eval(env)
    }

    /// The analyzers the expression reads, sorted.
    pub fn analyzers(&self) -> BTreeSet<&str> {
        let mut set = BTreeSet::new();
        self.visit(&mut |r| {
            let a = match r {
                Ref::Value(a, _) | Ref::Count(a, _) | Ref::Has(a, _) | Ref::Present(a) => a,
            };
            set.insert(a.as_str());
        });
        set
    }

    /// Every place the text names an analyzer, in text order (for error messages such as
    /// "unknown analyzer `x`" positioned at the name). Empty for an expression that was not
    /// parsed from text.
    pub fn analyzer_refs(&self) -> &[AnalyzerRef] {
        &self.refs
    }

    /// The first analyzer reference for which `is_known` is false, if any.
    pub fn unknown_analyzer(&self, is_known: impl Fn(&str) -> bool) -> Option<&AnalyzerRef> {
        self.refs.iter().find(|r| !is_known(r.analyzer.as_str()))
    }

    /// The `(analyzer, value)` pairs the expression reads, without duplicates, in order of
    /// first appearance.
    pub fn value_paths(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        self.visit(&mut |r| {
            if let Ref::Value(a, v) = r
                && !out.contains(&(a.as_str(), v))
            {
                out.push((a.as_str(), v));
            }
        });
        out
    }

    /// The `(analyzer, class)` pairs of the `count(...)` calls, without duplicates, in order
    /// of first appearance.
    pub fn count_paths(&self) -> Vec<(&str, Option<&str>)> {
        let mut out: Vec<(&str, Option<&str>)> = Vec::new();
        self.visit(&mut |r| {
            if let Ref::Count(a, c) = r
                && !out.contains(&(a.as_str(), c))
            {
                out.push((a.as_str(), c));
            }
        });
        out
    }

    /// Calls `f` with everything the expression reads, in text order.
    pub(crate) fn visit<'a>(&'a self, f: &mut dyn FnMut(Ref<'a>)) {
        self.root.visit(f);
    }
}

impl std::str::FromStr for Expr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expr::parse(s)
    }
}

/// Where a node is written, to decide on parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    OrOperand,
    AndOperand,
    NotOperand,
    CmpOperand,
}

fn needs_parens(n: &Node, ctx: Ctx) -> bool {
    match n {
        Node::Or(_) => ctx != Ctx::Top,
        Node::And(_) => matches!(ctx, Ctx::AndOperand | Ctx::NotOperand | Ctx::CmpOperand),
        Node::Not(_) | Node::CmpNum(..) | Node::CmpBool(..) => ctx == Ctx::CmpOperand,
        _ => false,
    }
}

fn write_str_lit(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if s.contains('"') {
        write!(f, "'{s}'")
    } else {
        write!(f, "\"{s}\"")
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Const(v) => write!(f, "{v}"),
            Self::Value { analyzer, name } => write!(f, "{analyzer}.{name}"),
            Self::Count { analyzer, class } => {
                write!(f, "count({analyzer}")?;
                if let Some(c) = class {
                    f.write_str(", ")?;
                    write_str_lit(f, c)?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_node(f: &mut fmt::Formatter<'_>, n: &Node, ctx: Ctx) -> fmt::Result {
    if needs_parens(n, ctx) {
        f.write_str("(")?;
        write_node(f, n, Ctx::Top)?;
        return f.write_str(")");
    }
    match n {
        Node::Const(b) => write!(f, "{b}"),
        Node::NonZero(x) => write!(f, "{x}"),
        Node::CmpNum(a, op, b) => write!(f, "{a} {} {b}", op.symbol()),
        Node::CmpBool(a, op, b) => {
            write_node(f, a, Ctx::CmpOperand)?;
            write!(f, " {} ", op.symbol())?;
            write_node(f, b, Ctx::CmpOperand)
        }
        Node::Has { analyzer, tag } => {
            write!(f, "has({analyzer}, ")?;
            write_str_lit(f, tag)?;
            f.write_str(")")
        }
        Node::Present(a) => write!(f, "present({a})"),
        Node::Not(x) => {
            f.write_str("not ")?;
            write_node(f, x, Ctx::NotOperand)
        }
        Node::And(xs) | Node::Or(xs) => {
            let (sep, ctx) = if matches!(n, Node::And(_)) {
                (" and ", Ctx::AndOperand)
            } else {
                (" or ", Ctx::OrOperand)
            };
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write_node(f, x, ctx)?;
            }
            Ok(())
        }
    }
}

impl fmt::Display for Expr {
    /// The canonical form (see the [module docs](self#canonical-form)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, &self.root, Ctx::Top)
    }
}
