#![doc = include_str!("../../../../docs/ref/conditions.md")]
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
