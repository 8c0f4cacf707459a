//! The node catalogue from /object_info, requirements and capability matching.

mod common;

use std::collections::BTreeSet;

use common::{catalog, fixture, image_workflow, sd_workflow, strings, wf};
use serde_json::json;
use visualpath_farm::catalog::{
    Catalog, CatalogError, Choice, InputKind, InputSpec, Missing, Requirements, requirements,
};

#[test]
fn reads_the_real_object_info_shapes() {
    let c = catalog();
    assert_eq!(c.len(), 18);
    assert!(!c.is_empty());
    assert!(c.class_names().any(|n| n == "KSampler"));
    assert!(c.class("Nope").is_none());

    let ks = c.class("KSampler").unwrap();
    assert_eq!(
        ks.input_order,
        strings(&[
            "model",
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "positive",
            "negative",
            "latent_image",
            "denoise"
        ])
    );
    assert_eq!(ks.outputs, strings(&["LATENT"]));
    assert!(!ks.output_node);
    // The seed's max is 0xffffffffffffffff: saturated, not an error.
    assert_eq!(
        ks.inputs["seed"],
        InputSpec {
            kind: InputKind::Int {
                min: Some(0),
                max: Some(i64::MAX)
            },
            required: true,
            control_after_generate: true,
            image_upload: false,
        }
    );
    assert_eq!(
        ks.inputs["cfg"].kind,
        InputKind::Float {
            min: Some(0.0),
            max: Some(100.0)
        }
    );
    assert_eq!(ks.inputs["model"].kind, InputKind::Link("MODEL".into()));
    match &ks.inputs["sampler_name"].kind {
        InputKind::Combo(o) => assert!(o.len() > 20 && o[0] == "euler", "{o:?}"),
        k => panic!("sampler_name is {k:?}"),
    }
    let widgets: Vec<&str> = ks.widget_inputs().map(|(n, _)| n).collect();
    assert_eq!(
        widgets,
        vec![
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "denoise"
        ]
    );

    let save = c.class("SaveImage").unwrap();
    assert!(save.output_node);
    assert!(save.outputs.is_empty());
    // Hidden inputs (prompt, extra_pnginfo) are ignored.
    assert_eq!(save.input_order, strings(&["images", "filename_prefix"]));
    assert_eq!(save.inputs["filename_prefix"].kind, InputKind::String);

    let load = c.class("LoadImage").unwrap();
    assert!(load.inputs["image"].image_upload);
    assert_eq!(load.outputs, strings(&["IMAGE", "MASK"]));
    assert_eq!(
        c.class("CheckpointLoaderSimple").unwrap().inputs["ckpt_name"].kind,
        InputKind::Combo(strings(&["sd15.safetensors", "sdxl_base.safetensors"]))
    );
    // The newer `["COMBO", {"options": [...]}]` form.
    assert_eq!(
        c.class("LatentConcat").unwrap().inputs["dim"].kind,
        InputKind::Combo(strings(&["x", "-x", "y", "-y", "t", "-t"]))
    );
    assert_eq!(
        c.class("PreviewAny").unwrap().inputs["source"].kind,
        InputKind::Link("*".into())
    );
    assert_eq!(
        c.class("SaveAnimatedWEBP").unwrap().inputs["lossless"].kind,
        InputKind::Boolean
    );
    let video = c.class("CreateVideo").unwrap();
    assert!(!video.inputs["audio"].required);
    assert_eq!(video.input_order, strings(&["images", "fps", "audio"]));
    // PrimitiveInt declares i64 bounds exactly.
    assert_eq!(
        c.class("PrimitiveInt").unwrap().inputs["value"].kind,
        InputKind::Int {
            min: Some(-9223372036854775807),
            max: Some(9223372036854775807)
        }
    );
}

#[test]
fn input_order_falls_back_to_required_then_optional() {
    let c = Catalog::from_object_info(&json!({
        "N": {"input": {"required": {"b": ["INT"], "a": ["STRING"]}, "optional": {"c": ["IMAGE"]}},
              "output": ["IMAGE", ["x", "y"]], "output_node": false}
    }))
    .unwrap();
    let n = c.class("N").unwrap();
    assert_eq!(n.input_order, strings(&["a", "b", "c"]));
    // A node returning a combo list has a COMBO output.
    assert_eq!(n.outputs, strings(&["IMAGE", "COMBO"]));
    // input_order wins over key order, and names it lists that do not exist are skipped.
    let c = Catalog::from_object_info(&json!({
        "N": {"input": {"required": {"b": ["INT"], "a": ["STRING"]}},
              "input_order": {"required": ["b", "ghost", "a"]}, "output": []}
    }))
    .unwrap();
    assert_eq!(c.class("N").unwrap().input_order, strings(&["b", "a"]));
}

#[test]
fn catalogue_errors_name_class_and_input() {
    assert_eq!(
        Catalog::from_object_info(&json!([])).unwrap_err(),
        CatalogError::NotObject
    );
    assert_eq!(
        Catalog::from_object_info(&json!({"Foo": 3}))
            .unwrap_err()
            .to_string(),
        "object_info class `Foo`: not an object"
    );
    assert_eq!(
        Catalog::from_object_info(&json!({"Foo": {"input": {"required": []}}}))
            .unwrap_err()
            .to_string(),
        "object_info class `Foo`: `input.required` is not an object"
    );
    assert_eq!(
        Catalog::from_object_info(&json!({"Foo": {"input": {"required": {"x": 7}}}}))
            .unwrap_err()
            .to_string(),
        "object_info class `Foo` input `x`: input spec 7 is neither a list nor a type name"
    );
    assert_eq!(
        Catalog::from_object_info(&json!({"Foo": {"input": {}, "output": "IMAGE"}}))
            .unwrap_err()
            .to_string(),
        "object_info class `Foo`: `output` is not a list"
    );
}

#[test]
fn requirements_are_classes_and_combo_choices() {
    let c = catalog();
    let mut v = sd_workflow();
    // An uploaded image is a file, not a model: not a choice.
    v["8"] = json!({"class_type": "LoadImage", "inputs": {"image": "orch/upload.png"}});
    let req = requirements(&wf(v), &c);
    assert_eq!(
        req.classes,
        [
            "CLIPTextEncode",
            "CheckpointLoaderSimple",
            "EmptyLatentImage",
            "KSampler",
            "LoadImage",
            "SaveImage",
            "VAEDecode"
        ]
        .into_iter()
        .map(String::from)
        .collect::<BTreeSet<_>>()
    );
    let choice = |class: &str, input: &str, value: &str| Choice {
        class: class.into(),
        input: input.into(),
        value: value.into(),
    };
    assert_eq!(
        req.choices,
        [
            choice("CheckpointLoaderSimple", "ckpt_name", "sd15.safetensors"),
            choice("KSampler", "sampler_name", "euler"),
            choice("KSampler", "scheduler", "normal"),
        ]
        .into_iter()
        .collect::<BTreeSet<_>>()
    );
    // Requirements serialize for the store.
    let back: Requirements = serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
    assert_eq!(back, req);
}

#[test]
fn missing_lists_classes_and_model_files() {
    let full = catalog();
    let req = requirements(&wf(sd_workflow()), &full);
    assert_eq!(full.missing(&req), vec![]);

    // A backend with another checkpoint and no VAEDecode.
    let mut oi = fixture("object_info.json");
    oi["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = json!(["other.ckpt"]);
    oi.as_object_mut().unwrap().remove("VAEDecode");
    let other = Catalog::from_object_info(&oi).unwrap();
    let missing = other.missing(&req);
    assert_eq!(
        missing,
        vec![
            Missing::Class("VAEDecode".into()),
            Missing::Choice(Choice {
                class: "CheckpointLoaderSimple".into(),
                input: "ckpt_name".into(),
                value: "sd15.safetensors".into()
            })
        ]
    );
    assert_eq!(missing[0].to_string(), "node class `VAEDecode`");
    assert_eq!(
        missing[1].to_string(),
        "`sd15.safetensors` for CheckpointLoaderSimple.ckpt_name"
    );
    // The image workflow needs no model file at all.
    assert_eq!(
        other.missing(&requirements(&wf(image_workflow()), &other)),
        vec![]
    );
}

#[test]
fn merge_unions_classes_and_combo_options() {
    let a = Catalog::from_object_info(&json!({
        "Loader": {"input": {"required": {"ckpt_name": [["a.safetensors"]]}}, "output": ["MODEL"]},
        "OnlyA": {"input": {}, "output": []}
    }))
    .unwrap();
    let b = Catalog::from_object_info(&json!({
        "Loader": {"input": {"required": {"ckpt_name": [["b.safetensors", "a.safetensors"]]},
                             "optional": {"extra": ["INT"]}}, "output": ["MODEL"]},
        "OnlyB": {"input": {}, "output": [], "output_node": true}
    }))
    .unwrap();
    let mut any = a.clone();
    any.merge(&b);
    assert_eq!(
        any.class_names().collect::<Vec<_>>(),
        vec!["Loader", "OnlyA", "OnlyB"]
    );
    let loader = any.class("Loader").unwrap();
    assert_eq!(
        loader.inputs["ckpt_name"].kind,
        InputKind::Combo(strings(&["a.safetensors", "b.safetensors"]))
    );
    assert_eq!(loader.input_order, strings(&["ckpt_name", "extra"]));
    assert!(any.class("OnlyB").unwrap().output_node);
    // What neither backend has alone, "any backend" has.
    let req = Requirements {
        classes: ["Loader", "OnlyB"].into_iter().map(String::from).collect(),
        choices: [Choice {
            class: "Loader".into(),
            input: "ckpt_name".into(),
            value: "b.safetensors".into(),
        }]
        .into_iter()
        .collect(),
    };
    assert_eq!(a.missing(&req).len(), 2);
    assert_eq!(any.missing(&req), vec![]);
}
