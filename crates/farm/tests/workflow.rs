//! API-format parsing, links, serialization and format detection.

mod common;

use common::{catalog, image_workflow};
use serde_json::json;
use visualpath_farm::workflow::{self, Input, Workflow, WorkflowError};

#[test]
fn parses_nodes_inputs_links_and_titles() {
    let wf = Workflow::from_api(&json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "Flip it"}},
        "3": {"class_type": "X", "inputs": {"sizes": {"__value__": [1, 2, 3]}, "other": [2, 1]}}
    }))
    .unwrap();
    assert_eq!(wf.nodes.len(), 3);
    assert_eq!(wf.nodes["1"].class_type, "EmptyImage");
    assert_eq!(wf.nodes["1"].title, None);
    assert_eq!(wf.nodes["2"].title.as_deref(), Some("Flip it"));
    assert_eq!(
        wf.nodes["2"].input("image"),
        Some(Input::Link {
            node: "1",
            output: 0
        })
    );
    assert_eq!(wf.nodes["1"].input("width"), Some(Input::Value(&json!(64))));
    assert_eq!(wf.nodes["1"].input("nope"), None);
    // A wrapped literal list stays wrapped and is not a link.
    assert_eq!(
        wf.nodes["3"].input("sizes"),
        Some(Input::Value(&json!({"__value__": [1, 2, 3]})))
    );
    // A numeric source id is converted to its string form at parse time.
    assert_eq!(wf.nodes["3"].inputs["other"], json!(["2", 1]));
    let links: Vec<_> = wf.nodes["3"].links().collect();
    assert_eq!(links, vec![("other", "2", 1)]);
    assert_eq!(wf.nodes["1"].links().count(), 0);
    assert_eq!(
        wf.class_types().into_iter().collect::<Vec<_>>(),
        vec!["EmptyImage", "ImageInvert", "X"]
    );
}

#[test]
fn to_api_round_trips_and_keeps_titles() {
    let v = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "T"}}
    });
    let wf = Workflow::from_api(&v).unwrap();
    assert_eq!(wf.to_api(), v);
    assert_eq!(Workflow::from_api(&wf.to_api()).unwrap(), wf);
    // Numeric link ids come out as strings; absent inputs come out as {}.
    let wf = Workflow::from_api(
        &json!({"7": {"class_type": "A"}, "8": {"class_type": "B", "inputs": {"x": [7, 2]}}}),
    )
    .unwrap();
    assert_eq!(
        wf.to_api(),
        json!({"7": {"class_type": "A", "inputs": {}}, "8": {"class_type": "B", "inputs": {"x": ["7", 2]}}})
    );
}

#[test]
fn structural_errors_name_the_node() {
    let err = |v| Workflow::from_api(&v).unwrap_err();
    assert_eq!(err(json!([1, 2])), WorkflowError::NotObject);
    assert_eq!(err(json!({})), WorkflowError::Empty);
    assert_eq!(err(json!({})).to_string(), "the workflow has no nodes");
    assert_eq!(
        err(json!({"4": 5})),
        WorkflowError::NodeNotObject { node: "4".into() }
    );
    let e = err(json!({"4": {"inputs": {}}}));
    assert_eq!(e, WorkflowError::MissingClassType { node: "4".into() });
    assert!(
        e.to_string().starts_with("node 4: missing class_type"),
        "{e}"
    );
    let e = err(json!({"4": {"class_type": 3, "inputs": {}}}));
    assert_eq!(
        e.to_string(),
        "node 4: class_type is not a string (found 3)"
    );
    let e = err(json!({"4": {"class_type": "SaveImage", "inputs": [1]}}));
    assert_eq!(
        e.to_string(),
        "node 4 (SaveImage): inputs is not an object of input name -> value"
    );
}

#[test]
fn bad_links_are_bad_linked_input() {
    let err = |input: serde_json::Value| {
        Workflow::from_api(&json!({"9": {"class_type": "ImageInvert", "inputs": {"image": input}}}))
            .unwrap_err()
    };
    for (input, reason) in [
        (
            json!(["1", 0, 2]),
            "a list of 3 element(s) is neither a link nor a literal",
        ),
        (
            json!([]),
            "a list of 0 element(s) is neither a link nor a literal",
        ),
        (
            json!(["1", -1]),
            "link output index -1 is not a non-negative integer",
        ),
        (
            json!(["1", 0.5]),
            "link output index 0.5 is not a non-negative integer",
        ),
        (
            json!(["1", "0"]),
            "link output index \"0\" is not a non-negative integer",
        ),
        (json!([null, 0]), "link source null is not a node id"),
        (json!([-3, 0]), "link source -3 is not a node id"),
    ] {
        let e = err(input.clone());
        assert_eq!(
            e,
            WorkflowError::BadLink {
                node: "9".into(),
                class: "ImageInvert".into(),
                input: "image".into(),
                reason: reason.into()
            },
            "{input}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("node 9 (ImageInvert) input `image`: "),
            "{msg}"
        );
        assert!(msg.contains("bad_linked_input"), "{msg}");
        assert!(msg.contains("__value__"), "{msg}");
    }
}

#[test]
fn detects_ui_format_and_loads_either() {
    let ui = json!({"nodes": [], "links": [], "version": 0.4});
    assert!(Workflow::is_ui_format(&ui));
    assert!(!Workflow::is_ui_format(&image_workflow()));
    assert!(!Workflow::is_ui_format(
        &json!({"nodes": {"class_type": "X"}, "links": []})
    ));

    let api = workflow::load(&image_workflow(), None).unwrap();
    assert_eq!(api.nodes.len(), 5);
    assert_eq!(
        workflow::load(&ui, None).unwrap_err(),
        WorkflowError::NeedsCatalog
    );
    assert!(
        WorkflowError::NeedsCatalog
            .to_string()
            .contains("needs a node catalogue"),
        "{}",
        WorkflowError::NeedsCatalog
    );
    // With a catalogue the UI format is converted (an empty graph is still an error).
    assert_eq!(
        workflow::load(&ui, Some(&catalog())).unwrap_err(),
        WorkflowError::Empty
    );
}

#[test]
fn ids_sorted_numerically() {
    let wf = Workflow::from_api(&json!({
        "10": {"class_type": "A"}, "9": {"class_type": "A"}, "x": {"class_type": "A"}, "57:3": {"class_type": "A"}
    }))
    .unwrap();
    assert_eq!(wf.ids_sorted(), vec!["9", "10", "57:3", "x"]);
}
