//! UI-format (saved .json) to API-format conversion.

mod common;

use common::{catalog, fixture, params, strings, wf};
use serde_json::{Value, json};
use visualpath_farm::catalog::Catalog;
use visualpath_farm::patch::patch;
use visualpath_farm::ui::from_ui;
use visualpath_farm::validate::validate;
use visualpath_farm::workflow::{self, WorkflowError};

#[test]
fn converts_the_fixture_to_the_expected_api_graph() {
    let ui = fixture("ui_workflow.json");
    let got = from_ui(&ui, &catalog()).unwrap();
    // Reroute 11 resolved to node 1, PrimitiveNode 12's 768 put into node 4's width (over
    // the stale widget value), notes dropped, muted preview 9 dropped, bypassed blur 7
    // wired through (node 8 takes node 6's image), the seed's "randomize" skipped.
    assert_eq!(got, wf(fixture("ui_workflow.api.json")));
    assert_eq!(got.to_api(), fixture("ui_workflow.api.json"));
    // `load` recognises the format.
    assert_eq!(workflow::load(&ui, Some(&catalog())).unwrap(), got);

    // The result is a runnable workflow once its parameters are patched in.
    let patched = patch(
        &got,
        &params(json!({"subject": "a cat", "name": "ui"})),
        Some(&catalog()),
    )
    .unwrap();
    let plan = validate(&patched, &catalog(), None).unwrap();
    assert_eq!(plan.outputs, strings(&["8"]));
    assert_eq!(plan.order, strings(&["1", "2", "3", "4", "5", "6", "8"]));
}

/// A one-node-class catalogue for focused cases.
fn small_catalog() -> Catalog {
    let mut c = catalog();
    c.merge(
        &Catalog::from_object_info(&json!({
            "Crop": {"input": {"required": {"images": ["IMAGE"], "size": ["INT", {"min": 1}],
                                            "seed": ["INT", {"min": 0}], "mode": [["a", "b"]]}},
                     "input_order": {"required": ["images", "size", "seed", "mode"]},
                     "output": ["IMAGE", "MASK"], "output_node": false},
            "Pair": {"input": {"required": {"mask": ["MASK"], "image": ["IMAGE"]}},
                     "output": ["IMAGE"], "output_node": false}
        }))
        .unwrap(),
    );
    c
}

fn node(id: u64, ty: &str, mode: u64, inputs: Value, outputs: Value, widgets: Value) -> Value {
    json!({"id": id, "type": ty, "mode": mode, "inputs": inputs, "outputs": outputs, "widgets_values": widgets})
}

#[test]
fn seeds_by_name_get_a_control_value_only_when_present() {
    let ui = json!({
        "nodes": [
            node(1, "EmptyImage", 0, json!([]), json!([{"name": "IMAGE", "type": "IMAGE", "links": [1]}]), json!([8, 8, 1, 0])),
            node(2, "Crop", 0, json!([{"name": "images", "type": "IMAGE", "link": 1}]), json!([]), json!([4, 99, "increment", "b"])),
            node(3, "Crop", 0, json!([{"name": "images", "type": "IMAGE", "link": 1}]), json!([]), json!([4, 99, "b"]))
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 0, 3, 0, "IMAGE"]]
    });
    let got = from_ui(&ui, &small_catalog()).unwrap();
    let expect = json!({"images": ["1", 0], "size": 4, "seed": 99, "mode": "b"});
    assert_eq!(
        Value::Object(got.nodes["2"].inputs.clone().into_iter().collect()),
        expect
    );
    assert_eq!(
        Value::Object(got.nodes["3"].inputs.clone().into_iter().collect()),
        expect
    );
}

#[test]
fn bypass_passes_the_input_of_the_consumers_type() {
    // Pair (bypassed) has a MASK input first and an IMAGE input second; its IMAGE output
    // passes on the IMAGE input.
    let ui = json!({
        "nodes": [
            node(1, "LoadImage", 0, json!([]), json!([{"name": "IMAGE", "type": "IMAGE", "links": [2]}, {"name": "MASK", "type": "MASK", "links": [1]}]), json!(["example.png", "image"])),
            node(2, "Pair", 4, json!([{"name": "mask", "type": "MASK", "link": 1}, {"name": "image", "type": "IMAGE", "link": 2}]), json!([{"name": "IMAGE", "type": "IMAGE", "links": [3]}]), json!([])),
            node(3, "PreviewImage", 0, json!([{"name": "images", "type": "IMAGE", "link": 3}]), json!([]), json!([]))
        ],
        "links": [[1, 1, 1, 2, 0, "MASK"], [2, 1, 0, 2, 1, "IMAGE"], [3, 2, 0, 3, 0, "IMAGE"]]
    });
    let got = from_ui(&ui, &small_catalog()).unwrap();
    assert_eq!(
        got.to_api(),
        json!({
            "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
        })
    );
}

#[test]
fn inputs_fed_by_muted_nodes_are_left_out() {
    let ui = json!({
        "nodes": [
            node(1, "EmptyImage", 2, json!([]), json!([{"name": "IMAGE", "type": "IMAGE", "links": [1]}]), json!([8, 8, 1, 0])),
            node(2, "ImageInvert", 0, json!([{"name": "image", "type": "IMAGE", "link": 1}]), json!([]), json!([]))
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"]]
    });
    let got = from_ui(&ui, &catalog()).unwrap();
    assert_eq!(
        got.to_api(),
        json!({"2": {"class_type": "ImageInvert", "inputs": {}}})
    );
}

#[test]
fn object_links_and_named_widgets_and_list_values() {
    // Newer frontends may write links as objects; some nodes save widgets by name.
    let ui = json!({
        "nodes": [
            {"id": "a", "type": "EmptyImage", "mode": 0, "inputs": [], "outputs": [],
             "widgets_values": {"width": 8, "height": 16, "batch_size": 1, "color": [1, 2]}},
            {"id": "b", "type": "ImageInvert", "mode": 0, "inputs": [{"name": "image", "type": "IMAGE", "link": 7}]}
        ],
        "links": [{"id": 7, "origin_id": "a", "origin_slot": 0, "target_id": "b", "target_slot": 0, "type": "IMAGE"}]
    });
    let got = from_ui(&ui, &catalog()).unwrap();
    assert_eq!(
        got.to_api(),
        json!({
            "a": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 16, "batch_size": 1, "color": {"__value__": [1, 2]}}},
            "b": {"class_type": "ImageInvert", "inputs": {"image": ["a", 0]}}
        })
    );
}

#[test]
fn conversion_errors() {
    let c = catalog();
    let ui =
        json!({"nodes": [node(4, "GetNode", 0, json!([]), json!([]), json!([]))], "links": []});
    let e = from_ui(&ui, &c).unwrap_err();
    assert_eq!(
        e,
        WorkflowError::UiUnknownClass {
            node: "4".into(),
            class: "GetNode".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "UI workflow node 4: class `GetNode` is not in the node catalogue of any backend"
    );
    // A muted or bypassed node of an unknown class is simply dropped.
    let ui = json!({"nodes": [
        node(4, "GetNode", 2, json!([]), json!([]), json!([])),
        node(5, "PreviewImage", 0, json!([]), json!([]), json!([]))
    ], "links": []});
    assert_eq!(from_ui(&ui, &c).unwrap().nodes.len(), 1);

    let ui = json!({"nodes": [], "links": [], "definitions": {"subgraphs": [{"id": "x"}]}});
    let e = from_ui(&ui, &c).unwrap_err();
    assert_eq!(e, WorkflowError::UiSubgraphs { count: 1 });
    assert!(e.to_string().contains("not supported"), "{e}");

    let ui = json!({"nodes": [{"type": "PreviewImage"}], "links": []});
    assert_eq!(
        from_ui(&ui, &c).unwrap_err().to_string(),
        "UI workflow: node #0 has no id"
    );
    let ui = json!({"nodes": [{"id": 1, "type": "PreviewImage"}], "links": [[1, 2]]});
    assert_eq!(
        from_ui(&ui, &c).unwrap_err().to_string(),
        "UI workflow: link #0 is not [id, from node, from slot, to node, to slot, type]"
    );
    let ui = json!({"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}], "links": []});
    assert_eq!(
        from_ui(&ui, &c).unwrap_err().to_string(),
        "UI workflow: node id 1 appears twice"
    );

    // Two reroutes feeding each other.
    let ui = json!({
        "nodes": [
            node(1, "Reroute", 0, json!([{"name": "", "type": "*", "link": 2}]), json!([]), json!([])),
            node(2, "Reroute", 0, json!([{"name": "", "type": "*", "link": 1}]), json!([]), json!([])),
            node(3, "PreviewImage", 0, json!([{"name": "images", "type": "IMAGE", "link": 1}]), json!([]), json!([]))
        ],
        "links": [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"]]
    });
    assert!(matches!(
        from_ui(&ui, &c).unwrap_err(),
        WorkflowError::UiLoop { .. }
    ));
}
