//! Validation against the catalogue: each error kind, several at once, and scope.

mod common;

use common::{catalog, image_workflow, params, sd_workflow, strings, wf};
use serde_json::{Value, json};
use visualpath_farm::catalog::Catalog;
use visualpath_farm::patch::patch;
use visualpath_farm::validate::{ValidationError, ValidationErrors, validate};

fn errors(v: Value) -> Vec<String> {
    errors_for(v, None)
}

fn errors_for(v: Value, targets: Option<&[String]>) -> Vec<String> {
    match validate(&wf(v), &catalog(), targets) {
        Ok(plan) => panic!("expected errors, got a plan {plan:?}"),
        Err(ValidationErrors(es)) => es.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn valid_workflows_give_their_plan() {
    let plan = validate(&wf(image_workflow()), &catalog(), None).unwrap();
    assert_eq!(plan.outputs, strings(&["4", "5"]));
    // After patching, the SD workflow is valid too.
    let w = patch(
        &wf(sd_workflow()),
        &params(json!({"seed": 7, "subject": "a cat", "name": "x"})),
        None,
    )
    .unwrap();
    let plan = validate(&w, &catalog(), None).unwrap();
    assert_eq!(plan.order, strings(&["1", "2", "3", "4", "5", "6", "7"]));
    // PreviewAny takes `*`: any output type links to it.
    let v = json!({
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "hello {prompt}"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
    });
    // A placeholder left in a STRING input is plain text to ComfyUI.
    assert!(validate(&wf(v), &catalog(), None).is_ok());
}

#[test]
fn unknown_class() {
    let mut v = image_workflow();
    v["6"] = json!({"class_type": "SaveImageWebsocket", "inputs": {"images": ["3", 0]}});
    let es = match validate(&wf(v), &catalog(), None) {
        Err(ValidationErrors(es)) => es,
        Ok(_) => panic!("unknown class accepted"),
    };
    assert_eq!(
        es,
        vec![ValidationError::UnknownClass {
            node: "6".into(),
            class: "SaveImageWebsocket".into()
        }]
    );
    assert_eq!(
        es[0].to_string(),
        "node 6: class `SaveImageWebsocket` is not known to any backend"
    );
    assert_eq!(es[0].node(), Some("6"));
    assert_eq!(es[0].error_type(), "invalid_prompt");
}

#[test]
fn link_errors() {
    let mut v = image_workflow();
    v["2"]["inputs"]["image"] = json!(["9", 0]);
    assert_eq!(
        errors(v),
        vec!["node 2 (ImageInvert) input `image`: links to node 9, which is not in the workflow"]
    );
    let mut v = image_workflow();
    v["2"]["inputs"]["image"] = json!(["1", 1]);
    assert_eq!(
        errors(v),
        vec![
            "node 2 (ImageInvert) input `image`: links to output 1 of node 1 (EmptyImage), which has 1 output(s)"
        ]
    );
    let mut v = image_workflow();
    v["7"] = json!({"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}});
    v["2"]["inputs"]["image"] = json!(["7", 0]);
    let es = match validate(&wf(v), &catalog(), None) {
        Err(ValidationErrors(es)) => es,
        Ok(_) => panic!("type mismatch accepted"),
    };
    assert_eq!(
        es.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "node 2 (ImageInvert) input `image`: expects IMAGE but output 0 of node 7 (EmptyLatentImage) is LATENT"
        ]
    );
    assert_eq!(es[0].error_type(), "return_type_mismatch");
}

#[test]
fn missing_inputs_and_bad_literals() {
    let v = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": "wide", "height": 0, "batch_size": 5000}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 3, "sigma": 12.5}},
        "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "bogus", "width": 64, "height": 64, "crop": "center"}},
        "4": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["3", 0], "filename_prefix": 5, "fps": 6.0, "lossless": "yes", "quality": 80, "method": "default"}}
    });
    assert_eq!(
        errors(v),
        vec![
            "node 1 (EmptyImage) input `width`: \"wide\" is not an integer (valid: an integer from 1 to 16384)",
            "node 1 (EmptyImage) input `height`: 0 is below the minimum (valid: an integer from 1 to 16384)",
            "node 1 (EmptyImage) input `batch_size`: 5000 is above the maximum (valid: an integer from 1 to 4096)",
            "node 1 (EmptyImage): required input `color` is missing",
            "node 2 (ImageBlur) input `sigma`: 12.5 is above the maximum (valid: a number from 0.1 to 10)",
            "node 3 (ImageScale) input `upscale_method`: \"bogus\" is not among the options (valid: nearest-exact, bilinear, area, bicubic, lanczos)",
            "node 4 (SaveAnimatedWEBP) input `filename_prefix`: 5 is not a string (valid: a string)",
            "node 4 (SaveAnimatedWEBP) input `lossless`: \"yes\" is not a boolean (valid: true or false)",
        ]
    );
}

#[test]
fn error_types_mirror_comfyui() {
    let v = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": "wide", "height": 0, "batch_size": 5000}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bogus", "width": 64, "height": 64, "crop": "center"}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}
    });
    let Err(ValidationErrors(es)) = validate(&wf(v), &catalog(), None) else {
        panic!("invalid workflow accepted")
    };
    let types: Vec<(&str, Option<&str>)> = es.iter().map(|e| (e.error_type(), e.node())).collect();
    assert_eq!(
        types,
        vec![
            ("invalid_input_type", Some("1")),
            ("value_smaller_than_min", Some("1")),
            ("value_bigger_than_max", Some("1")),
            ("required_input_missing", Some("1")),
            ("value_not_in_list", Some("2")),
        ]
    );
}

#[test]
fn missing_model_file_is_not_in_list() {
    let mut v = sd_workflow();
    v["1"]["inputs"]["ckpt_name"] = json!("flux.safetensors");
    v["5"]["inputs"]["seed"] = json!(1);
    v["2"]["inputs"]["text"] = json!("x");
    v["7"]["inputs"]["filename_prefix"] = json!("x");
    assert_eq!(
        errors(v),
        vec![
            "node 1 (CheckpointLoaderSimple) input `ckpt_name`: \"flux.safetensors\" is not among the options (valid: sd15.safetensors, sdxl_base.safetensors)"
        ]
    );
}

#[test]
fn uploads_are_not_checked_against_the_backend_files() {
    let v = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": "orch/not-uploaded-yet.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    });
    assert!(validate(&wf(v), &catalog(), None).is_ok());
    let v = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": 3}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    });
    assert_eq!(
        errors(v),
        vec!["node 1 (LoadImage) input `image`: 3 is not a string (valid: a string)"]
    );
}

#[test]
fn leftover_placeholders_in_typed_inputs() {
    let v = wf(sd_workflow());
    let Err(ValidationErrors(es)) = validate(&v, &catalog(), None) else {
        panic!("unpatched workflow accepted")
    };
    // Only the INT input complains; STRING inputs may hold braces as text.
    assert_eq!(
        es.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "node 5 (KSampler) input `seed`: placeholder `{seed}` was not filled in (pass parameter `seed`)"
        ]
    );
    let v = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{model}.safetensors"}},
        "2": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["3", 0], "filename_prefix": "x", "fps": "{fps}", "lossless": "{l}", "quality": 80, "method": "default"}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
    });
    assert_eq!(
        errors(v),
        vec![
            "node 1 (CheckpointLoaderSimple) input `ckpt_name`: placeholder `{model}` was not filled in (pass parameter `model`)",
            "node 2 (SaveAnimatedWEBP) input `fps`: placeholder `{fps}` was not filled in (pass parameter `fps`)",
            "node 2 (SaveAnimatedWEBP) input `lossless`: placeholder `{l}` was not filled in (pass parameter `l`)",
        ]
    );
}

#[test]
fn cycles_name_their_nodes() {
    let v = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["4", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}},
        "5": {"class_type": "ImageInvert", "inputs": {"image": ["4", 0]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "x"}},
        "7": {"class_type": "ImageInvert", "inputs": {"image": ["7", 0]}},
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    });
    let Err(ValidationErrors(es)) = validate(&wf(v), &catalog(), None) else {
        panic!("cycle accepted")
    };
    assert_eq!(
        es,
        vec![
            ValidationError::Cycle {
                nodes: strings(&["2", "3", "4"])
            },
            ValidationError::Cycle {
                nodes: strings(&["7"])
            },
        ]
    );
    assert_eq!(es[0].to_string(), "nodes 2, 3, 4 form a cycle");
}

#[test]
fn outputs_and_targets() {
    let v = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}
    });
    let Err(ValidationErrors(es)) = validate(&wf(v.clone()), &catalog(), None) else {
        panic!("no outputs accepted")
    };
    assert_eq!(es, vec![ValidationError::NoOutputs]);
    assert_eq!(es[0].error_type(), "prompt_no_outputs");
    assert!(es[0].to_string().contains("no output node"), "{}", es[0]);

    let t = strings(&["4", "2", "9"]);
    assert_eq!(
        errors_for(image_workflow(), Some(&t)),
        vec![
            "output target 2 (ImageInvert) is not an output node (prompt_no_outputs)",
            "output target 9 is not a node of the workflow",
        ]
    );
    assert_eq!(
        errors_for(image_workflow(), Some(&[])),
        vec!["the list of output nodes to run is empty (prompt_no_outputs)"]
    );
    let t = strings(&["5"]);
    let plan = validate(&wf(image_workflow()), &catalog(), Some(&t)).unwrap();
    assert_eq!(plan.outputs, strings(&["5"]));
}

#[test]
fn nodes_no_output_needs_are_checked_only_for_their_class() {
    let mut v = image_workflow();
    // Unused and broken: ComfyUI would not look at it, neither do we.
    v["8"] = json!({"class_type": "ImageBlur", "inputs": {"image": ["99", 0], "blur_radius": 100}});
    let plan = validate(&wf(v.clone()), &catalog(), None).unwrap();
    assert_eq!(plan.unused, strings(&["8"]));
    // Node 3 is not needed when only node 5 runs.
    v["3"]["inputs"]["width"] = json!(-5);
    assert!(validate(&wf(v.clone()), &catalog(), Some(&strings(&["5"]))).is_ok());
    assert_eq!(
        errors(v),
        vec![
            "node 3 (ImageScale) input `width`: -5 is below the minimum (valid: an integer from 0 to 16384)"
        ]
    );
}

#[test]
fn reports_every_problem_at_once() {
    let v = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "Mystery", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "ImageScale", "inputs": {"image": ["1", 3], "upscale_method": "area", "width": 8, "height": 8}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}
    });
    let e = validate(&wf(v), &catalog(), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        [
            "node 1 (EmptyImage) input `width`: 0 is below the minimum (valid: an integer from 1 to 16384)",
            "node 2: class `Mystery` is not known to any backend",
            "node 4 (ImageScale) input `image`: links to output 3 of node 1 (EmptyImage), which has 1 output(s)",
            "node 4 (ImageScale): required input `crop` is missing",
            "node 5 (SaveImage): required input `filename_prefix` is missing",
        ]
        .join("; ")
    );
}

#[test]
fn a_merged_catalogue_accepts_what_any_backend_has() {
    let mut v = sd_workflow();
    v["1"]["inputs"]["ckpt_name"] = json!("flux.safetensors");
    v["5"]["inputs"]["seed"] = json!(1);
    let w = wf(v);
    let mut other = common::fixture("object_info.json");
    other["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] =
        json!(["flux.safetensors"]);
    let other = Catalog::from_object_info(&other).unwrap();
    assert!(validate(&w, &catalog(), None).is_err());
    let mut any = catalog();
    any.merge(&other);
    assert!(validate(&w, &any, None).is_ok());
}
