//! Execution plans: order, output groups, unused nodes, targets.

mod common;

use common::{catalog, image_workflow, strings, wf};
use serde_json::json;
use visualpath_farm::plan::{OutputGroup, Plan, plan};
use visualpath_farm::validate::ValidationError;

#[test]
fn order_groups_and_unused() {
    let mut v = image_workflow();
    // An independent chain, and a node nothing runs.
    v["10"] = json!({"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}});
    v["11"] = json!({"class_type": "ImageBlur", "inputs": {"image": ["10", 0], "blur_radius": 1, "sigma": 1.0}});
    v["9"] = json!({"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}});
    v["20"] = json!({"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}});
    let p = plan(&wf(v), &catalog(), None).unwrap();
    assert_eq!(
        p,
        Plan {
            // Ready nodes go smallest id first ("9" before "10": ids compare as numbers).
            order: strings(&["1", "2", "3", "4", "5", "10", "11", "9"]),
            outputs: strings(&["4", "5", "9"]),
            groups: vec![
                // 4 and 5 share node 1.
                OutputGroup {
                    outputs: strings(&["4", "5"]),
                    nodes: strings(&["1", "2", "3", "4", "5"]),
                },
                OutputGroup {
                    outputs: strings(&["9"]),
                    nodes: strings(&["10", "11", "9"]),
                },
            ],
            unused: strings(&["20"]),
        }
    );
    // Plans serialize (the store keeps them).
    let back: Plan = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn order_is_topological_not_by_id() {
    let v = json!({
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["5", 0]}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
        "5": {"class_type": "ImageInvert", "inputs": {"image": ["7", 0]}},
        "7": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}}
    });
    let p = plan(&wf(v), &catalog(), None).unwrap();
    assert_eq!(p.order, strings(&["7", "3", "5", "1", "2"]));
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups[0].nodes, p.order);
    assert!(p.unused.is_empty());
}

#[test]
fn targets_restrict_the_run() {
    let t = strings(&["4"]);
    let p = plan(&wf(image_workflow()), &catalog(), Some(&t)).unwrap();
    assert_eq!(p.order, strings(&["1", "2", "3", "4"]));
    assert_eq!(p.outputs, strings(&["4"]));
    assert_eq!(p.unused, strings(&["5"]));
    assert_eq!(
        p.groups,
        vec![OutputGroup {
            outputs: strings(&["4"]),
            nodes: strings(&["1", "2", "3", "4"])
        }]
    );
    // Duplicates collapse; the order of the targets does not matter.
    let t = strings(&["5", "4", "5"]);
    let p = plan(&wf(image_workflow()), &catalog(), Some(&t)).unwrap();
    assert_eq!(p.outputs, strings(&["4", "5"]));
}

#[test]
fn plan_errors() {
    let t = strings(&["3"]);
    assert_eq!(
        plan(&wf(image_workflow()), &catalog(), Some(&t)).unwrap_err(),
        ValidationError::TargetNotOutput {
            target: "3".into(),
            class: "ImageScale".into()
        }
    );
    let t = strings(&["33"]);
    assert_eq!(
        plan(&wf(image_workflow()), &catalog(), Some(&t)).unwrap_err(),
        ValidationError::TargetNotInWorkflow {
            target: "33".into()
        }
    );
    let v = json!({"1": {"class_type": "Mystery", "inputs": {}}});
    assert_eq!(
        plan(&wf(v.clone()), &catalog(), None).unwrap_err(),
        ValidationError::NoOutputs
    );
    assert_eq!(
        plan(&wf(v), &catalog(), Some(&strings(&["1"]))).unwrap_err(),
        ValidationError::UnknownClass {
            node: "1".into(),
            class: "Mystery".into()
        }
    );
    let v = json!({
        "a": {"class_type": "ImageInvert", "inputs": {"image": ["b", 0]}},
        "b": {"class_type": "ImageInvert", "inputs": {"image": ["a", 0]}},
        "c": {"class_type": "PreviewImage", "inputs": {"images": ["b", 0]}}
    });
    assert_eq!(
        plan(&wf(v), &catalog(), None).unwrap_err(),
        ValidationError::Cycle {
            nodes: strings(&["a", "b"])
        }
    );
}
