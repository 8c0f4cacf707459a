//! `Spanned<T>` with our deserializer, with serde_json, and as a JSON schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use visualpath_yaml::{Span, Spanned, from_str_with_env};

#[derive(Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Analyzer {
    name: Spanned<String>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    threshold: Option<Spanned<f32>>,
    labels: Spanned<BTreeMap<Spanned<String>, u32>>,
}

const YAML: &str = "\
name: face
after:
  - detect
  - 'track'
threshold: 0.5
labels:
  person: 1
";

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn spans_from_yaml() {
    let a: Analyzer = from_str_with_env(YAML, &no_env).unwrap();
    assert_eq!(a.name.span, Span::new(1, 7));
    assert_eq!(*a.name, "face");
    let after: Vec<_> = a.after.iter().map(|s| (s.as_str(), s.span)).collect();
    assert_eq!(
        after,
        [("detect", Span::new(3, 5)), ("track", Span::new(4, 5))]
    );
    assert_eq!(a.threshold.map(|t| t.span), Some(Span::new(5, 12)));
    assert_eq!(a.labels.span, Span::new(7, 3));
    let (key, value) = a.labels.iter().next().unwrap();
    assert_eq!(
        (key.as_str(), key.span, *value),
        ("person", Span::new(7, 3), 1)
    );
}

#[test]
fn errors_inside_spanned_keep_their_position() {
    let e = from_str_with_env::<Analyzer>("name: [x]\nlabels: {}\n", &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:7: invalid type: sequence, expected a string"
    );
    let e = from_str_with_env::<Analyzer>("name: x\nlabels: {a: -1}\n", &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:13: invalid value: integer `-1`, expected u32"
    );
    let e =
        from_str_with_env::<Analyzer>("name: x\nthreshold: y\nlabels: {}\n", &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:12: invalid type: string \"y\", expected f32"
    );
}

#[test]
fn spanned_from_json_has_unknown_spans() {
    let json =
        r#"{"name": "face", "after": ["detect"], "threshold": null, "labels": {"person": 1}}"#;
    let a: Analyzer = serde_json::from_str(json).unwrap();
    assert_eq!((a.name.as_str(), a.name.span), ("face", Span::UNKNOWN));
    assert_eq!(*a.after[0], "detect");
    assert_eq!(a.threshold, None);
    // Through serde_json::Value too, and back out as plain values.
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let b: Analyzer = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(a, b);
    assert_eq!(serde_json::to_value(&b).unwrap(), value);
    // Comparison ignores spans.
    let y: Analyzer = from_str_with_env(YAML, &no_env).unwrap();
    assert_eq!(y.name, b.name);
    assert_ne!(y.name.span, b.name.span);
}

#[test]
fn schema_is_the_inner_types() {
    let schema = schemars::schema_for!(Analyzer);
    let props = &schema.as_value()["properties"];
    assert_eq!(props["name"], serde_json::json!({"type": "string"}));
    assert_eq!(
        props["after"]["items"],
        serde_json::json!({"type": "string"})
    );
    assert_eq!(
        <Spanned<u32> as schemars::JsonSchema>::schema_name(),
        <u32 as schemars::JsonSchema>::schema_name()
    );
}
