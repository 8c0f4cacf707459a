//! No panics, no stack overflows, bounded alias expansion.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use visualpath_yaml::{Spanned, from_str_with_env, parse};

fn env(name: &str) -> Option<String> {
    (name == "A").then(|| "1".to_owned())
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Config {
    name: Option<Spanned<String>>,
    items: Option<Vec<Item>>,
    map: Option<BTreeMap<String, Option<u8>>>,
    kind: Option<Kind>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct Item {
    a: Option<(u32, char)>,
    b: Option<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Kind {
    A,
    B(i8),
    C { x: bool },
    D(u8, String),
}

/// Exercises every path; the results do not matter, only that nothing panics.
fn exercise(src: &str) {
    if let Ok(node) = parse(src, &env) {
        let _ = visualpath_yaml::from_node::<serde_json::Value>(&node);
        let _ = visualpath_yaml::from_node::<IgnoredAny>(&node);
        let _ = visualpath_yaml::from_node::<Config>(&node);
        let _ = visualpath_yaml::from_node::<Vec<Kind>>(&node);
        let _ = visualpath_yaml::from_node::<Spanned<BTreeMap<String, String>>>(&node);
    }
    let _ = from_str_with_env::<Config>(src, &env);
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "a",
    "b: ",
    "items",
    ": ",
    ":",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "  ",
    " ",
    "&x ",
    "*x",
    "&y ",
    "*y",
    "<<: ",
    "'",
    "\"",
    "|",
    ">-",
    "#",
    "${A}",
    "${B:-d}",
    "${",
    "$${",
    "}",
    "!!str ",
    "!t ",
    "? ",
    "---\n",
    "...\n",
    "\t",
    "1",
    "-1.5",
    "0x1F",
    "~",
    "null",
    "true",
    "é",
    "\\",
    "%YAML 1.2\n",
    "!",
    "@",
    "`",
    "kind",
    "C",
    "x",
    "B",
    "D",
    "name",
    "map",
    ".inf",
    "\r\n",
    "\u{feff}",
    "99999999999999999999999",
];

const SEEDS: &[&str] = &[
    "name: cam\nitems:\n  - a: [1, x]\n    b: [1.5, .nan]\n  - {b: [2]}\nmap: {k: 1, j: ~}\nkind: {C: {x: true}}\n",
    "base: &b {a: [1, y]}\nitems: [*b, {<<: *b, b: []}]\nkind: A\n",
    "name: \"${A} $${x}\"\nmap:\n  ? complex\n  : 2\nkind:\n  D: [3, s]\n",
    "items:\n- a: !!str 1\n  b: |\n    text\n- >\n  folded\n",
];

fn random_input(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        (0..rng.below(40))
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect()
    } else {
        let mut s: Vec<char> = SEEDS[rng.below(SEEDS.len())].chars().collect();
        for _ in 0..=rng.below(4) {
            let at = rng.below(s.len() + 1);
            let (end, insert): (usize, Vec<char>) = match rng.below(3) {
                0 => (at, PIECES[rng.below(PIECES.len())].chars().collect()),
                1 => ((at + rng.below(6)).min(s.len()), vec![]),
                _ => (at, vec![s.get(at).copied().unwrap_or(' ')]),
            };
            s.splice(at..end, insert);
        }
        s.into_iter().collect()
    }
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let cases: usize = std::env::var("YAML_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for seed in SEEDS {
        exercise(seed);
        assert!(parse(seed, &env).is_ok(), "{seed}");
    }
    for _ in 0..cases {
        exercise(&random_input(&mut rng));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let e = parse(&"[".repeat(10_000), &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:256: nesting too deep (flow collections nest at most 255 levels)"
    );
    let e = parse(&"{a: ".repeat(10_000), &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:1021: nesting too deep (flow collections nest at most 255 levels)"
    );
    let block: String = (0..300).map(|i| format!("{}-\n", " ".repeat(i))).collect();
    assert_eq!(
        parse(&block, &env).unwrap_err().to_string(),
        "257:257: nesting too deep (more than 256 levels)"
    );
    let mixed = format!("- - {}{}", "[".repeat(255), "]".repeat(255));
    assert_eq!(
        parse(&mixed, &env).unwrap_err().to_string(),
        "1:259: nesting too deep (more than 256 levels)"
    );

    // 256 levels are fine and deserialize without overflowing the stack.
    let ok = format!("- {}{}", "[".repeat(255), "]".repeat(255));
    let value: serde_json::Value = from_str_with_env(&ok, &env).unwrap();
    assert!(value.is_array());

    // Aliases cannot be used to nest deeper.
    let src = format!("a: &a {}{}\nb: [[*a]]\n", "[".repeat(255), "]".repeat(255));
    assert_eq!(
        parse(&src, &env).unwrap_err().to_string(),
        "2:6: nesting too deep (more than 256 levels)"
    );
}

#[test]
fn alias_expansion_is_bounded() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        src.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let e = parse(&src, &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "5:45: aliases expand to too many nodes (more than 100000)"
    );
}
