//! Exact `line:col: message` outputs for typical config mistakes.

use std::collections::BTreeMap;

use serde::Deserialize;
use visualpath_yaml::{Error, Node, NodeKind, Span, Spanned, from_node, from_str_with_env, parse};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Config {
    sources: Vec<Source>,
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    analyzers: Vec<Analyzer>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Source {
    name: String,
    path: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Output {
    fps: u32,
    scale: Option<f64>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Analyzer {
    Passthrough,
    Threshold(f64),
    Face {
        model: String,
        #[serde(default)]
        after: Vec<Spanned<String>>,
    },
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(src: &str) -> Result<Config, Error> {
    from_str_with_env(src, &no_env)
}

/// The error a config produces, as displayed.
fn err(src: &str) -> String {
    match load(src) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn valid_config() {
    let src = "\
sources:
  - name: cam1
    path: a.mp4
  - {name: 123, path: 'b.mp4'}
output:
  fps: 30
  scale: 0.5
  tags: [x, y]
analyzers:
  - passthrough
  - threshold: 7
  - face:
      model: m.onnx
      after: [passthrough]
";
    let c = load(src).unwrap();
    assert_eq!(c.sources[1].name, "123");
    let out = c.output.unwrap();
    assert_eq!((out.fps, out.scale), (30, Some(0.5)));
    assert_eq!(out.tags[1].span, Span::new(8, 13));
    assert_eq!(c.analyzers[0], Analyzer::Passthrough);
    assert_eq!(c.analyzers[1], Analyzer::Threshold(7.0));
    let Analyzer::Face { model, after } = &c.analyzers[2] else {
        panic!("not a face analyzer")
    };
    assert_eq!(model, "m.onnx");
    assert_eq!(*after[0], "passthrough");
    assert_eq!(after[0].span, Span::new(14, 15));
}

#[test]
fn unknown_field_points_at_the_key() {
    let src = "sources:\n  - name: cam1\n    pathh: a.mp4\n";
    assert_eq!(
        err(src),
        "3:5: unknown field `pathh`, expected `name` or `path`"
    );
    assert_eq!(
        err("sources: []\noutputs: {}\n"),
        "2:1: unknown field `outputs`, expected one of `sources`, `output`, `analyzers`"
    );
}

#[test]
fn missing_field_points_at_the_mapping() {
    assert_eq!(
        err("sources:\n  - name: cam1\n"),
        "2:5: missing field `path`"
    );
    assert_eq!(
        err("sources:\n  - {name: cam1}\n"),
        "2:5: missing field `path`"
    );
    assert_eq!(err("output: {fps: 1}\n"), "1:1: missing field `sources`");
    assert_eq!(err(""), "1:1: missing field `sources`");
    assert_eq!(
        err("sources: []\noutput:\n  scale: 1\n"),
        "3:3: missing field `fps`"
    );
}

#[test]
fn wrong_types_point_at_the_value() {
    let base = "sources: []\noutput:\n  fps: ";
    let e = |v: &str| err(&format!("{base}{v}\n"));
    assert_eq!(e("abc"), "3:8: invalid type: string \"abc\", expected u32");
    assert_eq!(
        e("\"30\""),
        "3:8: invalid type: string \"30\", expected u32"
    );
    assert_eq!(
        e("5000000000"),
        "3:8: invalid value: integer `5000000000`, expected u32"
    );
    assert_eq!(e("-1"), "3:8: invalid value: integer `-1`, expected u32");
    assert_eq!(
        e("1.5"),
        "3:8: invalid type: floating point `1.5`, expected u32"
    );
    assert_eq!(e("[1]"), "3:8: invalid type: sequence, expected u32");
    assert_eq!(e("true"), "3:8: invalid type: boolean `true`, expected u32");
    assert_eq!(
        err("sources: []\noutput: {fps: 1, scale: abc}\n"),
        "2:25: invalid type: string \"abc\", expected f64"
    );
    assert_eq!(
        err("sources: [{name: [a], path: b}]\n"),
        "1:18: invalid type: sequence, expected a string"
    );
    assert_eq!(
        err("sources: {name: a}\n"),
        "1:10: invalid type: map, expected a sequence"
    );
    assert_eq!(
        err("sources:\n  - [a, b]\n"),
        "2:5: invalid type: sequence, expected struct Source"
    );
    assert_eq!(
        err("sources: []\noutput:\n  fps: 1\n  tags: [a, {b: c}]\n"),
        "4:13: invalid type: map, expected a string"
    );
}

#[test]
fn enums() {
    let e = |v: &str| err(&format!("sources: []\nanalyzers:\n  - {v}\n"));
    assert_eq!(
        e("passthru"),
        "3:5: unknown variant `passthru`, expected one of `passthrough`, `threshold`, `face`"
    );
    assert_eq!(
        e("hexagon: {}"),
        "3:5: unknown variant `hexagon`, expected one of `passthrough`, `threshold`, `face`"
    );
    assert_eq!(
        e("threshold: high"),
        "3:16: invalid type: string \"high\", expected f64"
    );
    assert_eq!(
        e("threshold"),
        "3:5: invalid type: unit variant, expected newtype variant"
    );
    assert_eq!(
        e("passthrough: 3"),
        "3:18: invalid type: integer `3`, expected unit variant"
    );
    assert_eq!(
        e("face: {model: m, aftr: []}"),
        "3:22: unknown field `aftr`, expected `model` or `after`"
    );
    assert_eq!(e("face: {}"), "3:11: missing field `model`");
    assert_eq!(e("face:"), "3:9: missing field `model`");
    assert_eq!(
        e("{face: {model: m}, threshold: 1}"),
        "3:5: expected enum Analyzer as a variant name or a mapping with one key `{variant: value}`, found a mapping with 2 keys"
    );
    assert_eq!(
        e("[face]"),
        "3:5: invalid type: sequence, expected enum Analyzer"
    );
    // Nulls are fine for a unit variant written as a mapping.
    let c = load("sources: []\nanalyzers: [{passthrough: ~}]\n").unwrap();
    assert_eq!(c.analyzers, vec![Analyzer::Passthrough]);
}

#[test]
fn nulls_options_and_empty_collections() {
    let c = load("sources:\noutput: ~\nanalyzers: null\n").unwrap();
    assert_eq!(c.sources, vec![]);
    assert_eq!(c.output, None);
    let c = load("sources: []\noutput: {fps: 0x10, scale:}\n").unwrap();
    assert_eq!(c.output.unwrap().scale, None);
    // A plain scalar is a string when a string is wanted, even `true` or empty.
    let c = load("sources: [{name: true, path: }]\n").unwrap();
    assert_eq!((&*c.sources[0].name, &*c.sources[0].path), ("true", ""));
}

#[test]
fn duplicate_keys() {
    assert_eq!(
        err("sources: []\noutput: {fps: 1}\nsources: []\n"),
        "3:1: duplicate key `sources` (first at 1:1)"
    );
    assert_eq!(
        err("sources:\n  - {name: a, path: b, name: c}\n"),
        "2:24: duplicate key `name` (first at 2:6)"
    );
}

#[test]
fn aliases_and_merge_keys() {
    let src = "\
base: &base {name: cam, path: a.mp4}
sources:
  - *base
  - <<: *base
    name: cam2
  - name: cam3
    <<: [{path: first.mp4}, {path: second.mp4, name: ignored}]
";
    #[derive(Deserialize)]
    struct Doc {
        sources: Vec<Source>,
    }
    let doc: Doc = from_str_with_env(src, &no_env).unwrap();
    let names: Vec<_> = doc.sources.iter().map(|s| (&*s.name, &*s.path)).collect();
    assert_eq!(
        names,
        [("cam", "a.mp4"), ("cam2", "a.mp4"), ("cam3", "first.mp4")]
    );
    // An error inside aliased content points at the anchor's definition; a missing field at
    // the alias.
    let src = "x: &s {name: a, pat: b}\nsources: [*s]\n";
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc2 {
        #[serde(rename = "x")]
        _x: serde::de::IgnoredAny,
        #[serde(rename = "sources")]
        _sources: Vec<Source>,
    }
    let e = from_str_with_env::<Doc2>(src, &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:17: unknown field `pat`, expected `name` or `path`"
    );
    let e = from_str_with_env::<Doc2>("x: &s {name: a}\nsources: [*s]\n", &no_env).unwrap_err();
    assert_eq!(e.to_string(), "2:11: missing field `path`");
    assert_eq!(
        err("sources:\n  - <<: 3\n"),
        "2:9: the merge key `<<` expects a mapping or a list of mappings"
    );
    assert_eq!(
        err("a: &a [*a]\n"),
        "1:8: recursive alias: an alias cannot refer to a node that contains it"
    );
    assert_eq!(
        err("sources: *nope\n"),
        "1:10: YAML syntax error: while parsing node, found unknown anchor"
    );
    // A quoted `<<` is an ordinary key.
    let node = parse("'<<': {a: 1}\n", &no_env).unwrap();
    assert!(node.get("<<").is_some());
}

#[test]
fn syntax_errors_and_documents() {
    assert_eq!(
        err("sources:\n  - name: a: b\n"),
        "2:12: YAML syntax error: mapping values are not allowed in this context"
    );
    assert_eq!(
        err("sources: [a, b\n"),
        "2:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"
    );
    assert_eq!(
        err("sources: []\n---\nsources: []\n"),
        "2:1: expected one YAML document, found another one (`---`)"
    );
    // One explicit document is fine.
    assert!(load("---\nsources: []\n...\n").is_ok());
}

fn env(name: &str) -> Option<String> {
    match name {
        "CAM" => Some("front".into()),
        "FPS" => Some("25".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

#[test]
fn environment_substitution() {
    let src = "\
sources:
  - name: ${CAM}-${EMPTY:-x}
    path: \"/videos/${CAM}/$${NOT_ME}.mp4\"
  - name: ${MISSING:-dflt}
    path: 'costs $5'
output:
  fps: ${FPS}
";
    let c: Config = from_str_with_env(src, &env).unwrap();
    assert_eq!(c.sources[0].name, "front-x");
    assert_eq!(c.sources[0].path, "/videos/front/${NOT_ME}.mp4");
    assert_eq!(c.sources[1].name, "dflt");
    assert_eq!(c.sources[1].path, "costs $5");
    assert_eq!(c.output.unwrap().fps, 25);

    let e = |src: &str| {
        from_str_with_env::<Config>(src, &env)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e("sources:\n  - name: ${NOPE}\n"),
        "2:11: environment variable `NOPE` is not set (write ${NOPE:-default} to give a default)"
    );
    assert_eq!(
        e("sources: [{name: 'a ${CAM', path: b}]\n"),
        "1:18: malformed environment reference: `${` without a closing `}` (write `$${` for a literal `${`)"
    );
    assert_eq!(
        e("sources:\n  - name: ${9x}\n"),
        "2:11: malformed environment reference `${9x}`: a variable name is [A-Za-z_][A-Za-z0-9_]*"
    );
    // Substituted text is never structure.
    let c: Config = from_str_with_env("sources: [{name: '${L}', path: x}]", &|_| {
        Some("[a, b]".into())
    })
    .unwrap();
    assert_eq!(c.sources[0].name, "[a, b]");
}

#[test]
fn node_tree() {
    let node = parse("a: {b: [1, 'two']}\n", &no_env).unwrap();
    let b = node.get("a").and_then(|a| a.get("b")).unwrap();
    assert_eq!(b.span, Span::new(1, 8));
    let items = b.as_seq().unwrap();
    assert_eq!(items[1].as_str(), Some("two"));
    assert_eq!(items[1].span, Span::new(1, 12));
    assert!(node.get("zz").is_none());
    let empty = parse("# nothing\n", &no_env).unwrap();
    assert_eq!(empty.kind, NodeKind::Null);
    assert!(empty.is_null());
    // Borrowing deserialization from a node.
    let node = parse("x: [1, 2]\n", &no_env).unwrap();
    let map: BTreeMap<&str, Vec<u8>> = from_node(&node).unwrap();
    assert_eq!(map["x"], [1, 2]);
    let _: Node = empty.clone();
}

#[test]
fn scalars_and_collections() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct S {
        t: (u8, char),
        ints: Vec<i64>,
        map: BTreeMap<u16, bool>,
        f: f32,
        unit: (),
        big: i128,
    }
    let s: S = from_str_with_env(
        "t: [1, x]\nints: [-1, 0o17, 0xff]\nmap: {1: true, 2: FALSE}\nf: -.inf\nunit: ~\nbig: -170141183460469231731687303715884105728\n",
        &no_env,
    )
    .unwrap();
    assert_eq!(s.t, (1, 'x'));
    assert_eq!(s.ints, [-1, 15, 255]);
    assert!(!s.map[&2]);
    assert_eq!(s.f, f32::NEG_INFINITY);
    assert_eq!(s.big, i128::MIN);
    let e = |src: &str| {
        from_str_with_env::<S>(src, &no_env)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e("t: [1, x, 3]\n"),
        "1:4: invalid length 3, expected 2 elements"
    );
    assert_eq!(
        e("t: [1]\n"),
        "1:4: invalid length 1, expected a tuple of size 2"
    );
    assert_eq!(
        e("t: [1, xy]\n"),
        "1:8: invalid value: string \"xy\", expected a character"
    );
    assert_eq!(
        e("t: [1, x]\nints: []\nmap: {a: true}\n"),
        "3:7: invalid type: string \"a\", expected u16"
    );
}

#[test]
fn error_api() {
    let e = Error::at(Span::new(4, 2), "unknown analyzer `x` in `after:`");
    assert_eq!(e.to_string(), "4:2: unknown analyzer `x` in `after:`");
    assert_eq!(e.span(), Some(Span::new(4, 2)));
    let e = e.with_file("p.yaml");
    assert_eq!(
        e.to_string(),
        "p.yaml:4:2: unknown analyzer `x` in `after:`"
    );
    assert_eq!(e.file(), Some(std::path::Path::new("p.yaml")));
    assert_eq!(e.message(), "unknown analyzer `x` in `after:`");
    let e = Error::at(Span::UNKNOWN, "no position").with_file("p.yaml");
    assert_eq!((e.to_string().as_str(), e.span()), ("no position", None));
}

#[test]
fn from_path_attaches_the_file() {
    let dir = std::env::temp_dir().join(format!("visualpath-yaml-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pipeline.yaml");
    std::fs::write(&path, "sources:\n  - name: a\n").unwrap();
    let e = visualpath_yaml::from_path::<Config>(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2:5: missing field `path`", path.display())
    );
    let missing = dir.join("missing.yaml");
    let e = visualpath_yaml::from_path::<Config>(&missing).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{e}"
    );
    assert_eq!(e.file(), Some(missing.as_path()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn positions_survive_newtypes_options_and_boxes() {
    #[derive(Debug, Deserialize)]
    struct Fps(#[allow(dead_code)] u32);
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Stage {
        #[allow(dead_code)]
        fps: Option<Fps>,
        #[allow(dead_code)]
        next: Option<Box<Stage>>,
    }
    #[derive(Debug, Deserialize)]
    struct Doc(#[allow(dead_code)] Vec<Option<Stage>>);
    let e = |src: &str| {
        from_str_with_env::<Doc>(src, &no_env)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e("- ~\n- next:\n    next:\n      fps: -3\n"),
        "4:12: invalid value: integer `-3`, expected u32"
    );
    assert_eq!(
        e("- next:\n    next: {fsp: 1}\n"),
        "2:12: unknown field `fsp`, expected `fps` or `next`"
    );
    assert_eq!(
        e("- next: 7\n"),
        "1:9: invalid type: integer `7`, expected struct Stage"
    );
}
