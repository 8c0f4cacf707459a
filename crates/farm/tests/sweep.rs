//! Parameter sweeps: grid order, lists, merging over base, limits.

mod common;

use common::params;
use serde_json::json;
use visualpath_farm::sweep::{MAX_SWEEP_JOBS, Sweep, SweepError, expand};

#[test]
fn no_sweep_is_the_base() {
    let base = params(json!({"a": 1}));
    assert_eq!(expand(&base, None).unwrap(), vec![base]);
}

#[test]
fn grid_is_a_cartesian_product_last_key_fastest() {
    let base = params(json!({"prompt": "cat", "seed": 0}));
    let sweep: Sweep =
        serde_json::from_value(json!({"grid": {"seed": [1, 2, 3], "cfg": [5.0, 7.5]}})).unwrap();
    let sets = expand(&base, Some(&sweep)).unwrap();
    // Keys in name order: cfg, then seed (fastest).
    let got: Vec<(f64, i64)> = sets
        .iter()
        .map(|s| (s["cfg"].as_f64().unwrap(), s["seed"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![(5.0, 1), (5.0, 2), (5.0, 3), (7.5, 1), (7.5, 2), (7.5, 3)]
    );
    // Base parameters are kept, swept ones override them.
    assert!(
        sets.iter()
            .all(|s| s["prompt"] == json!("cat") && s.len() == 3)
    );
}

#[test]
fn list_sets_merge_over_base_in_order() {
    let base = params(json!({"prompt": "cat", "steps": 20}));
    let sweep: Sweep =
        serde_json::from_value(json!({"list": [{"steps": 10}, {"prompt": "dog", "w": 8}]}))
            .unwrap();
    assert_eq!(
        expand(&base, Some(&sweep)).unwrap(),
        vec![
            params(json!({"prompt": "cat", "steps": 10})),
            params(json!({"prompt": "dog", "steps": 20, "w": 8})),
        ]
    );
}

#[test]
fn limits_and_empty_sweeps() {
    let base = params(json!({}));
    let grid = |v| Sweep::Grid(serde_json::from_value(v).unwrap());
    assert_eq!(
        expand(&base, Some(&grid(json!({"a": [1], "b": []})))).unwrap_err(),
        SweepError::EmptyAxis { param: "b".into() }
    );
    assert_eq!(
        SweepError::EmptyAxis { param: "b".into() }.to_string(),
        "sweep grid parameter `b` has no values (give at least one)"
    );
    assert_eq!(
        expand(&base, Some(&grid(json!({})))).unwrap_err(),
        SweepError::EmptyGrid
    );
    assert_eq!(
        expand(&base, Some(&Sweep::List(vec![]))).unwrap_err(),
        SweepError::EmptyList
    );

    // 100 x 100 = 10,000 is the limit; 100 x 101 is over it.
    let axis = |n: usize| json!((0..n).collect::<Vec<_>>());
    let ok = expand(&base, Some(&grid(json!({"a": axis(100), "b": axis(100)})))).unwrap();
    assert_eq!(ok.len(), MAX_SWEEP_JOBS);
    let e = expand(&base, Some(&grid(json!({"a": axis(100), "b": axis(101)})))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sweep would create 10100 jobs, more than the limit of 10000"
    );
    // Huge products are refused without being built (and without overflow).
    let many: serde_json::Map<String, serde_json::Value> =
        (0..40).map(|i| (format!("p{i}"), axis(10))).collect();
    let e = expand(&base, Some(&grid(serde_json::Value::Object(many)))).unwrap_err();
    assert!(matches!(e, SweepError::TooMany { .. }), "{e}");
    let list = Sweep::List(vec![params(json!({"a": 1})); MAX_SWEEP_JOBS + 1]);
    assert_eq!(
        expand(&base, Some(&list)).unwrap_err().to_string(),
        "sweep would create 10001 jobs, more than the limit of 10000"
    );
}

#[test]
fn sweep_json_shapes() {
    let s: Sweep = serde_json::from_value(json!({"grid": {"x": [1, 2]}})).unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"grid": {"x": [1, 2]}})
    );
    let s: Sweep = serde_json::from_value(json!({"list": [{"x": 1}]})).unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"list": [{"x": 1}]})
    );
    assert!(serde_json::from_value::<Sweep>(json!({"grid": {}, "list": []})).is_err());
    assert!(serde_json::from_value::<Sweep>(json!({"cube": {}})).is_err());
}
