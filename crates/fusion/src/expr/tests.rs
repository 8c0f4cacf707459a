use std::sync::Arc;

use visualpath_core::{BBox, Detection, Observation, ObservationData, Values};

use super::*;

// ---------------------------------------------------------------------------------------
// Test environment

/// An environment given as lists. An analyzer not in `present` is missing.
#[derive(Default)]
struct ListEnv {
    present: Vec<&'static str>,
    values: Vec<(&'static str, &'static str, f64)>,
    counts: Vec<(&'static str, Option<&'static str>, usize)>,
    tags: Vec<(&'static str, &'static str)>,
}

impl Env for ListEnv {
    fn value(&self, analyzer: &str, name: &str) -> Option<f64> {
        if !self.present(analyzer) {
            return None;
        }
        self.values
            .iter()
            .find(|(a, n, _)| *a == analyzer && *n == name)
            .map(|v| v.2)
    }
    fn count(&self, analyzer: &str, class: Option<&str>) -> Option<usize> {
        if !self.present(analyzer) {
            return None;
        }
        Some(
            self.counts
                .iter()
                .find(|(a, c, _)| *a == analyzer && *c == class)
                .map_or(0, |v| v.2),
        )
    }
    fn has_tag(&self, analyzer: &str, tag: &str) -> Option<bool> {
        if !self.present(analyzer) {
            return None;
        }
        Some(self.tags.iter().any(|(a, t)| *a == analyzer && *t == tag))
    }
    fn present(&self, analyzer: &str) -> bool {
        self.present.contains(&analyzer)
    }
}

fn env() -> ListEnv {
    ListEnv {
        present: vec!["motion", "detect"],
        values: vec![
            ("motion", "score", 0.3),
            ("motion", "region.r1c2", 0.5),
            ("motion", "bad", f64::NAN),
            ("motion", "zero", 0.0),
        ],
        counts: vec![
            ("detect", None, 3),
            ("detect", Some("person"), 2),
            ("detect", Some("car"), 1),
        ],
        tags: vec![("detect", "cut")],
    }
}

fn p(s: &str) -> Expr {
    match Expr::parse(s) {
        Ok(e) => e,
        Err(e) => panic!("`{s}` should parse: {e}"),
    }
}

fn eval3(s: &str, env: &dyn Env) -> Option<bool> {
    p(s).eval3(env)
}

// ---------------------------------------------------------------------------------------
// Parsing: structure

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn val(a: &str, v: &str) -> Num {
    Num::Value {
        analyzer: name(a),
        name: v.into(),
    }
}

#[test]
fn parses_paths_with_dotted_value_names_and_dashed_analyzers() {
    assert_eq!(
        p("motion.region.r1c2 > 0.2").root,
        Node::CmpNum(val("motion", "region.r1c2"), CmpOp::Gt, Num::Const(0.2))
    );
    assert_eq!(
        p("cam-1.score>-1").root,
        Node::CmpNum(val("cam-1", "score"), CmpOp::Gt, Num::Const(-1.0))
    );
    assert_eq!(
        p("1e3 <= a.x").root,
        Node::CmpNum(Num::Const(1000.0), CmpOp::Le, val("a", "x"))
    );
}

#[test]
fn symbol_and_word_operators_are_the_same() {
    assert_eq!(
        p("a.x>=1&&b.y<=2||!c.z"),
        p("a.x >= 1 and b.y <= 2 or not c.z")
    );
    assert_eq!(
        p("a.x >= 1 and b.y <= 2 or not c.z").root,
        Node::Or(vec![
            Node::And(vec![
                Node::CmpNum(val("a", "x"), CmpOp::Ge, Num::Const(1.0)),
                Node::CmpNum(val("b", "y"), CmpOp::Le, Num::Const(2.0)),
            ]),
            Node::Not(Box::new(Node::NonZero(val("c", "z")))),
        ])
    );
}

#[test]
fn not_binds_looser_than_comparison() {
    assert_eq!(
        p("not a.x > 1").root,
        Node::Not(Box::new(Node::CmpNum(
            val("a", "x"),
            CmpOp::Gt,
            Num::Const(1.0)
        )))
    );
}

#[test]
fn parses_calls_and_keywords_as_analyzer_names() {
    assert_eq!(
        p("count(detect, 'person') >= 1").root,
        Node::CmpNum(
            Num::Count {
                analyzer: name("detect"),
                class: Some("person".into())
            },
            CmpOp::Ge,
            Num::Const(1.0)
        )
    );
    assert_eq!(
        p("has(scene,\"cut\")").root,
        Node::Has {
            analyzer: name("scene"),
            tag: "cut".into()
        }
    );
    assert_eq!(p("present(not)").root, Node::Present(name("not")));
    assert_eq!(
        p("not.x").root,
        Node::NonZero(val("not", "x")),
        "`not.x` is a path"
    );
    assert_eq!(
        p("count(d)").root,
        Node::NonZero(Num::Count {
            analyzer: name("d"),
            class: None
        })
    );
}

#[test]
fn parenthesized_numbers_stay_numbers() {
    assert_eq!(
        p("(a.x) > 1").root,
        Node::CmpNum(val("a", "x"), CmpOp::Gt, Num::Const(1.0))
    );
    assert_eq!(p("((present(a))) == false"), p("present(a) == false"));
}

// ---------------------------------------------------------------------------------------
// Parsing: every error, with its column

#[track_caller]
fn fails(src: &str, column: usize, message: &str) {
    match Expr::parse(src) {
        Ok(e) => panic!("`{src}` should not parse, got {e}"),
        Err(e) => {
            assert_eq!(e.message, message, "message for `{src}`");
            assert_eq!(e.column, column, "column for `{src}` ({message})");
        }
    }
}

#[test]
fn error_empty() {
    fails("", 0, "the condition is empty");
    fails("   ", 0, "the condition is empty");
}

#[test]
fn error_unknown_operator_after_value() {
    fails(
        "motion.score >> 1",
        13,
        "expected a comparison operator or `and`/`or` after `motion.score`, found `>>`",
    );
    fails(
        "motion.score = 1",
        13,
        "expected a comparison operator or `and`/`or` after `motion.score`, found `=` (use `==` to compare)",
    );
    fails(
        "a.x ! b.y",
        4,
        "expected a comparison operator or `and`/`or` after `a.x`, found `!`",
    );
}

#[test]
fn error_after_comparison() {
    fails(
        "a.x > 1 & b.y > 1",
        8,
        "expected `and`/`or` after `a.x > 1`, found `&` (use `and` or `&&`)",
    );
    fails(
        "a.x > 1 | b.y",
        8,
        "expected `and`/`or` after `a.x > 1`, found `|` (use `or` or `||`)",
    );
    fails(
        "a.x > 1 c.y",
        8,
        "expected `and`/`or` after `a.x > 1`, found `c.y`",
    );
    fails(
        "a.x > 1 AND b.y > 1",
        8,
        "expected `and`/`or` after `a.x > 1`, found `AND` (keywords are lowercase: `and`)",
    );
    fails(
        "0 < a.x < 1",
        8,
        "comparisons cannot be chained: `0 < a.x` is already a comparison; combine comparisons with `and`",
    );
}

#[test]
fn error_functions() {
    fails(
        "cnt(detect) > 1",
        0,
        "unknown function `cnt`; functions are count, has, present",
    );
    fails(
        "a.x > 1 or  max (a.y)",
        12,
        "unknown function `max`; functions are count, has, present",
    );
    let count_usage = "`count` takes an analyzer name and an optional class in quotes, e.g. count(detect) or count(detect, \"person\")";
    fails("count()", 6, &format!("{count_usage}; found `)`"));
    fails("count(d, 1)", 9, &format!("{count_usage}; found `1`"));
    fails(
        "count(motion.score)",
        6,
        &format!("{count_usage}; found `motion.score`"),
    );
    fails(
        "count(d, \"p\", \"q\")",
        12,
        &format!("{count_usage}; found `,`"),
    );
    fails(
        "count(d",
        7,
        "expected `)` after the arguments of `count`, found the end of the condition",
    );
    fails(
        "count(d \"p\")",
        8,
        "expected `)` after the arguments of `count`, found `\"p\"`",
    );
    fails("count > 1", 6, "expected `(` after `count`, found `>`");
    fails(
        "has(scene)",
        9,
        "`has` takes an analyzer name and a tag in quotes, e.g. has(scene, \"cut\"); found `)`",
    );
    fails(
        "present(a, \"x\")",
        9,
        "`present` takes one analyzer name, e.g. present(detect); found `,`",
    );
    fails(
        "present(1)",
        8,
        "`present` takes one analyzer name, e.g. present(detect); found `1`",
    );
}

#[test]
fn error_strings() {
    fails(
        "has(scene, \"cut) ",
        11,
        "unterminated string: add the closing `\"`",
    );
    fails("'abc", 0, "unterminated string: add the closing `'`");
    fails(
        "a.x > \"high\"",
        6,
        "a string is only allowed as an argument of `count` or `has`, e.g. count(detect, \"person\")",
    );
}

#[test]
fn error_bare_names_and_paths() {
    fails(
        "motion",
        0,
        "`motion` alone is not a value: write `motion.NAME` for one of its values, or use count(motion), has(motion, \"TAG\") or present(motion)",
    );
    fails(
        "NOT a.x",
        0,
        "`NOT` is not a keyword: keywords and functions are lowercase, write `not`",
    );
    let after = |s: &str| {
        format!("expected a value name after `{s}` (a letter, then letters, digits, `_` or `-`)")
    };
    fails("motion.", 7, &after("motion."));
    fails("motion..x", 7, &after("motion."));
    fails("motion.1 > 0", 7, &after("motion."));
    fails("a.b. > 1", 4, &after("a.b."));
    let long = "a".repeat(65);
    fails(
        &format!("{long}.x > 1"),
        0,
        &format!("analyzer name `{long}` is longer than 64 characters"),
    );
    fails(
        &format!("present(b) or present({long})"),
        22,
        &format!("analyzer name `{long}` is longer than 64 characters"),
    );
}

#[test]
fn error_missing_operands() {
    let op = "expected a number, a value such as `motion.score`, a function or `(`";
    fails(
        "a.x > ",
        6,
        &format!("{op} after `>`, found the end of the condition"),
    );
    fails("and a.x", 0, &format!("{op}, found `and`"));
    fails(
        "!",
        1,
        &format!("{op} after `!`, found the end of the condition"),
    );
    fails(
        "a.x > 1 or",
        10,
        &format!("{op} after `or`, found the end of the condition"),
    );
    fails("()", 1, &format!("{op} after `(`, found `)`"));
    fails("a.x >= , 1", 7, &format!("{op} after `>=`, found `,`"));
}

#[test]
fn error_parentheses() {
    fails("(a.x > 1", 8, "missing `)` to close the `(` at column 0");
    fails("a.x > (1", 8, "missing `)` to close the `(` at column 6");
    fails("a.x > 1)", 7, "unmatched `)`: there is no `(` before it");
    fails(
        "(a.x b.y)",
        5,
        "expected a comparison operator, `and`/`or` or `)` after `a.x`, found `b.y`",
    );
    fails(
        "(a.x > 1 b.y)",
        9,
        "expected `and`/`or` or `)` after `a.x > 1`, found `b.y`",
    );
    fails(
        "(a.x > 1) b.y",
        10,
        "expected a comparison operator or `and`/`or` after `(a.x > 1)`, found `b.y`",
    );
}

#[test]
fn error_numbers_and_characters() {
    fails("a.x > 1.2.3", 6, "invalid number `1.2.3`");
    fails("a.x > 10ms", 6, "invalid number `10ms`");
    fails("a.x > 1.", 6, "invalid number `1.`");
    fails("a.x > 1e999", 6, "number `1e999` is out of range");
    fails(
        "a.x > .5",
        6,
        "a number must start with a digit: write `0.5`, not `.5`",
    );
    fails(
        "a.x > - 1",
        6,
        "unexpected `-`: a negative number is written with the minus directly before its digits, e.g. `-1`",
    );
    fails("a.x # 1", 4, "unexpected character `#`");
    fails("a.x > 1 and é.y", 12, "unexpected character `é`");
}

#[test]
fn error_types() {
    fails(
        "present(a) > 1",
        11,
        "`>` compares numbers, but `present(a)` is true/false",
    );
    fails(
        "1 < has(a, 'x')",
        2,
        "`<` compares numbers, but `has(a, 'x')` is true/false",
    );
    fails(
        "present(a) > present(b)",
        11,
        "`>` compares numbers, but `present(a)` and `present(b)` are true/false; use `==` or `!=`",
    );
    fails(
        "count(d) == true",
        9,
        "cannot compare the number `count(d)` with the true/false `true`",
    );
    fails(
        "true != a.x",
        5,
        "cannot compare the number `a.x` with the true/false `true`",
    );
    fails(
        "(a.x > 1) >= 2",
        10,
        "`>=` compares numbers, but `(a.x > 1)` is true/false",
    );
}

#[test]
fn error_columns_count_characters_not_bytes() {
    // `ü` is two bytes in UTF-8 but one column.
    fails(
        "has(a, \"ü\") and a.x >> 1",
        20,
        "expected a comparison operator or `and`/`or` after `a.x`, found `>>`",
    );
}

#[test]
fn error_nesting_depth() {
    let ok = format!("{}a.x{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(Expr::parse(&ok).is_ok());
    let deep = format!(
        "{}a.x{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let msg = "the condition is nested too deeply (more than 64 levels of parentheses and `not`)";
    fails(&deep, MAX_DEPTH, msg);
    let nots = format!("{}a.x", "not ".repeat(MAX_DEPTH + 1));
    fails(&nots, 4 * MAX_DEPTH, msg);
    // Deep input never overflows the stack.
    let huge = "(".repeat(100_000);
    assert!(Expr::parse(&huge).is_err());
}

// ---------------------------------------------------------------------------------------
// Evaluation

#[test]
fn evaluates_values_counts_tags_presence() {
    let env = env();
    assert_eq!(eval3("motion.score > 0.1", &env), Some(true));
    assert_eq!(
        eval3("motion.score >= 0.3 and motion.score <= 0.3", &env),
        Some(true)
    );
    assert_eq!(eval3("motion.score < 0.3", &env), Some(false));
    assert_eq!(eval3("motion.region.r1c2 == 0.5", &env), Some(true));
    assert_eq!(eval3("motion.score != 0.3", &env), Some(false));
    assert_eq!(eval3("count(detect) == 3", &env), Some(true));
    assert_eq!(eval3("count(detect, 'person') == 2", &env), Some(true));
    assert_eq!(eval3("count(detect, 'dog') == 0", &env), Some(true));
    assert_eq!(eval3("has(detect, 'cut')", &env), Some(true));
    assert_eq!(eval3("has(detect, 'uncut')", &env), Some(false));
    assert_eq!(eval3("present(detect)", &env), Some(true));
    assert_eq!(eval3("present(scene)", &env), Some(false));
    assert_eq!(eval3("present(scene) == false", &env), Some(true));
    assert_eq!(eval3("true", &env), Some(true));
    assert_eq!(eval3("false == false", &env), Some(true));
}

#[test]
fn numbers_as_booleans_mean_not_zero() {
    let env = env();
    assert_eq!(eval3("motion.score", &env), Some(true));
    assert_eq!(eval3("motion.zero", &env), Some(false));
    assert_eq!(eval3("count(detect, 'dog')", &env), Some(false));
    assert_eq!(eval3("count(detect)", &env), Some(true));
    assert_eq!(eval3("0", &env), Some(false));
    assert_eq!(eval3("not -2", &env), Some(false));
    assert_eq!(eval3("scene.x", &env), None);
}

#[test]
fn missing_data_is_unknown() {
    let env = env();
    assert_eq!(eval3("motion.missing > 0", &env), None);
    assert_eq!(eval3("motion.bad > 0", &env), None, "NaN is missing");
    assert_eq!(eval3("motion.bad != 0", &env), None, "NaN is missing");
    assert_eq!(eval3("scene.x > 0", &env), None);
    assert_eq!(eval3("count(scene) == 0", &env), None);
    assert_eq!(eval3("has(scene, 'cut')", &env), None);
    assert!(!p("scene.x > 0").eval(&env), "top-level unknown is false");
    assert!(!p("not scene.x > 0").eval(&env), "negation keeps unknown");
}

#[test]
fn kleene_truth_tables() {
    let env = env();
    let u = "scene.x > 0";
    let cases: &[(String, Option<bool>)] = &[
        (format!("false and {u}"), Some(false)),
        (format!("{u} and false"), Some(false)),
        (format!("true and {u}"), None),
        (format!("{u} and true"), None),
        (format!("{u} and {u}"), None),
        (format!("true or {u}"), Some(true)),
        (format!("{u} or true"), Some(true)),
        (format!("false or {u}"), None),
        (format!("{u} or false"), None),
        (format!("not {u}"), None),
        (format!("not not {u}"), None),
        (format!("({u}) == true"), None),
        (format!("({u}) != false"), None),
        (format!("true and true and {u} and false"), Some(false)),
        (format!("false or {u} or true"), Some(true)),
    ];
    for (src, want) in cases {
        assert_eq!(eval3(src, &env), *want, "{src}");
    }
}

#[test]
fn module_doc_examples_hold() {
    let env = ListEnv {
        present: vec!["motion"],
        values: vec![("motion", "score", 0.3)],
        ..ListEnv::default()
    };
    assert!(!p("count(detect, \"person\") > 0").eval(&env));
    assert_eq!(eval3("not (count(detect, \"person\") > 0)", &env), None);
    assert_eq!(
        eval3("not present(detect) or count(detect) == 0", &env),
        Some(true)
    );
    assert_eq!(
        eval3("motion.score > 0.1 or count(detect) > 0", &env),
        Some(true)
    );
    assert_eq!(
        eval3("motion.score > 0.5 and count(detect) > 0", &env),
        Some(false)
    );
    assert_eq!(
        eval3("motion.score > 0.1 and count(detect) > 0", &env),
        None
    );
}

fn observation(
    analyzer: &str,
    values: Values,
    classes: &[&'static str],
    tags: &[&'static str],
) -> Observation {
    Observation {
        analyzer: name(analyzer),
        source: name("cam1"),
        seq: 0,
        capture_time_ns: 0,
        arrival_ns: 0,
        frame_size: (0, 0),
        data: ObservationData {
            values,
            detections: classes
                .iter()
                .map(|c| Detection {
                    class: (*c).into(),
                    class_id: 1,
                    score: 0.9,
                    bbox: BBox::new(0.0, 0.0, 1.0, 1.0),
                })
                .collect(),
            regions: Vec::new(),
            tags: tags.iter().map(|t| (*t).into()).collect(),
            ..Default::default()
        },
        timing: Default::default(),
    }
}

#[test]
fn observation_env_reads_observations() {
    let obs = vec![
        observation("motion", Values::new().with("score", 0.1), &[], &[]),
        observation(
            "detect",
            Values::new(),
            &["person", "person", "car"],
            &["night"],
        ),
        // A later observation of the same analyzer wins.
        observation(
            "motion",
            Values::new().with("score", 0.7).with("nan", f64::NAN),
            &[],
            &[],
        ),
    ];
    let e = p(
        "motion.score > 0.5 and count(detect, 'person') == 2 and count(detect) == 3 and has(detect, 'night') and not present(scene)",
    );
    assert!(e.eval(&ObservationEnv::new(&obs)));
    let refs: Vec<&Observation> = obs.iter().collect();
    assert!(e.eval(&ObservationEnv::new(&refs)));
    let arcs: Vec<Arc<Observation>> = obs.iter().cloned().map(Arc::new).collect();
    assert!(e.eval(&ObservationEnv::new(&arcs)));
    let env = ObservationEnv::new(&obs);
    assert_eq!(env.value("motion", "nan"), None);
    assert_eq!(env.value("motion", "other"), None);
    assert_eq!(env.count("scene", None), None);
    assert_eq!(env.has_tag("scene", "x"), None);
    assert!(!p("motion.score > 0.5").eval(&ObservationEnv::new(&obs[..2])));
}

// ---------------------------------------------------------------------------------------
// References

#[test]
fn reports_analyzers_values_counts_and_columns() {
    let src = "motion.score > 0.1 and count(detect, 'person') >= 1 or has(scene, 'cut') and motion.score < 5 and count(detect) > 0 and not present(x) and count(detect, 'person') < 9";
    let e = p(src);
    assert_eq!(
        e.analyzers().into_iter().collect::<Vec<_>>(),
        ["detect", "motion", "scene", "x"]
    );
    assert_eq!(e.value_paths(), [("motion", "score")]);
    assert_eq!(
        e.count_paths(),
        [("detect", Some("person")), ("detect", None)]
    );
    let refs: Vec<(&str, usize)> = e
        .analyzer_refs()
        .iter()
        .map(|r| (r.analyzer.as_str(), r.column))
        .collect();
    let col = |pat: &str, nth: usize| src.match_indices(pat).nth(nth).unwrap().0;
    assert_eq!(
        refs,
        [
            ("motion", 0),
            ("detect", col("detect", 0)),
            ("scene", col("scene", 0)),
            ("motion", col("motion", 1)),
            ("detect", col("detect", 1)),
            ("x", col("present(x)", 0) + 8),
            ("detect", col("detect", 2)),
        ]
    );
    let unknown = e.unknown_analyzer(|a| a != "scene").unwrap();
    assert_eq!(
        (unknown.analyzer.as_str(), unknown.column),
        ("scene", col("scene", 0))
    );
    assert!(e.unknown_analyzer(|_| true).is_none());
}

// ---------------------------------------------------------------------------------------
// Display

#[track_caller]
fn canonical(src: &str, want: &str) {
    let e = p(src);
    assert_eq!(e.to_string(), want, "canonical form of `{src}`");
    assert_eq!(p(want), e, "`{want}` parses back");
}

#[test]
fn display_is_canonical_with_minimal_parentheses() {
    canonical(
        "a.x>1 or (b.y>1 and c.z>1)",
        "a.x > 1 or b.y > 1 and c.z > 1",
    );
    canonical(
        "(a.x > 1 or b.y > 1) and c.z > 1",
        "(a.x > 1 or b.y > 1) and c.z > 1",
    );
    canonical("((a.x or b.y) or c.z)", "(a.x or b.y) or c.z");
    canonical("a.x && (b.y && c.z)", "a.x and (b.y and c.z)");
    canonical("!!a.x", "not not a.x");
    canonical("!(a.x || b.y)", "not (a.x or b.y)");
    canonical("not (a.x > 1)", "not a.x > 1");
    canonical("(not a.x) == (b.y > 1)", "(not a.x) == (b.y > 1)");
    canonical("has(a, 'say \"hi\"')", "has(a, 'say \"hi\"')");
    canonical("count(d,'p')>=1", "count(d, \"p\") >= 1");
    canonical("a.x > 1e3", "a.x > 1000");
    canonical("a.x > 0.050", "a.x > 0.05");
    canonical("a.x > -0.5e-7", "a.x > -0.00000005");
    canonical("(a.x)", "a.x");
    canonical("TRUE_.x!=0", "TRUE_.x != 0");
}

// ---------------------------------------------------------------------------------------
// Round trip over random expressions

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const ANALYZERS: &[&str] = &[
    "motion", "detect", "cam-1", "and", "not", "x_y", "true", "present", "A9",
];
const VALUE_NAMES: &[&str] = &["score", "region.r1c2", "a-b", "x_1", "or", "count"];
const STRINGS: &[&str] = &["person", "a b", "it's", "say \"hi\"", "", "(", "and", "ü"];

fn gen_num(r: &mut Rng) -> Num {
    match r.below(4) {
        0 => Num::Const(match r.below(3) {
            0 => *r.pick(&[
                0.0, 1.0, -1.0, 0.05, 1e20, 1.5e-7, 123456.789, -0.5, 2.5e-300,
            ]),
            1 => (r.below(2001) as f64 - 1000.0) / 8.0,
            _ => f64::from_bits(r.next() >> 2), // arbitrary positive finite doubles
        }),
        1 => Num::Value {
            analyzer: name(r.pick::<&str>(ANALYZERS)),
            name: (*r.pick(VALUE_NAMES)).into(),
        },
        _ => Num::Count {
            analyzer: name(r.pick::<&str>(ANALYZERS)),
            class: (r.below(2) == 0).then(|| (*r.pick(STRINGS)).into()),
        },
    }
}

fn gen_op(r: &mut Rng) -> CmpOp {
    *r.pick(&[
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Eq,
        CmpOp::Ne,
    ])
}

fn gen_node(r: &mut Rng, depth: usize) -> Node {
    let kinds = if depth == 0 { 5 } else { 9 };
    match r.below(kinds) {
        0 => Node::Const(r.below(2) == 0),
        1 => Node::NonZero(gen_num(r)),
        2 => Node::CmpNum(gen_num(r), gen_op(r), gen_num(r)),
        3 => Node::Has {
            analyzer: name(r.pick::<&str>(ANALYZERS)),
            tag: (*r.pick(STRINGS)).into(),
        },
        4 => Node::Present(name(r.pick::<&str>(ANALYZERS))),
        5 => Node::Not(Box::new(gen_node(r, depth - 1))),
        6 => {
            // A boolean operand written alone in a comparison: never a bare number.
            let mut operand = || match gen_node(r, depth - 1) {
                Node::NonZero(_) => Node::Present(name("motion")),
                n => n,
            };
            let a = operand();
            let b = operand();
            let op = if r.below(2) == 0 {
                CmpOp::Eq
            } else {
                CmpOp::Ne
            };
            Node::CmpBool(Box::new(a), op, Box::new(b))
        }
        k => {
            let n = 2 + r.below(3);
            let xs = (0..n).map(|_| gen_node(r, depth - 1)).collect();
            if k == 7 { Node::And(xs) } else { Node::Or(xs) }
        }
    }
}

#[test]
fn display_round_trips_on_random_expressions() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..3000 {
        let e = Expr::from_node(gen_node(&mut r, 1 + i % 5));
        let text = e.to_string();
        let back = match Expr::parse(&text) {
            Ok(b) => b,
            Err(err) => panic!("#{i}: `{text}` does not parse: {err}"),
        };
        assert_eq!(back, e, "#{i}: `{text}`");
        assert_eq!(back.to_string(), text, "#{i}: display is stable");
    }
}

/// A random environment over the generator's analyzers, values and strings.
fn gen_env(r: &mut Rng) -> ListEnv {
    let mut env = ListEnv::default();
    for &a in ANALYZERS {
        if r.below(3) != 0 {
            env.present.push(a);
        }
        for &v in VALUE_NAMES {
            if r.below(3) != 0 {
                env.values.push((a, v, (r.below(5) as f64) - 2.0));
            }
        }
        for &s in STRINGS {
            if r.below(2) == 0 {
                env.tags.push((a, s));
            }
            env.counts.push((a, Some(s), r.below(3)));
        }
        env.counts.push((a, None, r.below(3)));
    }
    env
}

#[test]
fn kleene_laws_hold_on_random_expressions() {
    let mut r = Rng(42);
    for i in 0..2000 {
        let a = gen_node(&mut r, 2);
        let b = gen_node(&mut r, 2);
        let env = gen_env(&mut r);
        let ea = a.eval(&env);
        let eb = b.eval(&env);
        let not = |x: Node| Node::Not(Box::new(x));
        // De Morgan in both directions, double negation, commutativity.
        let lhs = not(Node::And(vec![a.clone(), b.clone()])).eval(&env);
        let rhs = Node::Or(vec![not(a.clone()), not(b.clone())]).eval(&env);
        assert_eq!(lhs, rhs, "#{i} de Morgan (and)");
        let lhs = not(Node::Or(vec![a.clone(), b.clone()])).eval(&env);
        let rhs = Node::And(vec![not(a.clone()), not(b.clone())]).eval(&env);
        assert_eq!(lhs, rhs, "#{i} de Morgan (or)");
        assert_eq!(not(not(a.clone())).eval(&env), ea, "#{i} double negation");
        assert_eq!(
            Node::And(vec![a.clone(), b.clone()]).eval(&env),
            Node::And(vec![b.clone(), a.clone()]).eval(&env),
            "#{i} and commutes"
        );
        // The tables themselves.
        let and = Node::And(vec![a.clone(), b.clone()]).eval(&env);
        let want = match (ea, eb) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        };
        assert_eq!(and, want, "#{i} and table");
        let or = Node::Or(vec![a, b]).eval(&env);
        let want = match (ea, eb) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        };
        assert_eq!(or, want, "#{i} or table");
    }
}

// ---------------------------------------------------------------------------------------
// Condition

#[test]
fn condition_deserializes_and_serializes_as_text() {
    let c: Condition = serde_json::from_str("\"motion.score>0.05\"").unwrap();
    assert_eq!(c.text(), "motion.score>0.05");
    assert_eq!(c.expr().to_string(), "motion.score > 0.05");
    assert_eq!(c.to_string(), "motion.score>0.05");
    assert_eq!(serde_json::to_string(&c).unwrap(), "\"motion.score>0.05\"");
    assert!(serde_json::from_str::<Condition>("3").is_err());
}

#[test]
fn condition_error_names_text_column_and_message() {
    let e = serde_json::from_str::<Condition>("\"a.x > \"")
        .unwrap_err()
        .to_string();
    let want = "invalid condition `a.x > `: column 6: expected a number, a value such as `motion.score`, a function or `(` after `>`, found the end of the condition";
    assert!(e.starts_with(want), "{e}");
    assert_eq!(ConditionError::column_in_message(want), Some(6));
    let err = Condition::parse("motion.score >> 1").unwrap_err();
    assert_eq!(err.column(), 13);
    assert_eq!(
        ConditionError::column_in_message(&err.to_string()),
        Some(13)
    );
    assert_eq!(ConditionError::column_in_message("something else"), None);
}

#[test]
fn condition_error_column_survives_tricky_text() {
    // The text contains the separator the message uses.
    let err = Condition::parse("has(a, '`: column 1: x') >> 1").unwrap_err();
    assert_eq!(err.column(), 25);
    assert_eq!(
        ConditionError::column_in_message(&err.to_string()),
        Some(25)
    );
}

#[test]
fn condition_schema_is_a_described_string() {
    let schema = schemars::schema_for!(Condition);
    let json = serde_json::to_value(&schema).unwrap();
    assert_eq!(json["type"], "string");
    let d = json["description"].as_str().unwrap();
    assert!(
        d.contains("count(ANALYZER, \\\"CLASS\\\")") || d.contains("count(ANALYZER, \"CLASS\")"),
        "{d}"
    );
    assert!(d.contains("unknown"), "{d}");
}
