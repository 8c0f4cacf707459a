//! `{placeholder}` patching: whole values, embedded text, escapes and type checks.

mod common;

use common::{catalog, params, sd_workflow, wf};
use serde_json::{Value, json};
use visualpath_farm::patch::{PatchError, patch, placeholders};
use visualpath_farm::workflow::Workflow;

fn one(class: &str, inputs: Value) -> Workflow {
    wf(json!({"1": {"class_type": class, "inputs": inputs}}))
}

fn patched(w: &Workflow, p: Value) -> Result<Workflow, PatchError> {
    patch(w, &params(p), Some(&catalog()))
}

#[test]
fn finds_placeholders_only_in_input_strings() {
    let w = wf(json!({
        "1": {"class_type": "{not_me}", "inputs": {"text": "a {subject} in {place}, {{escaped}} {red|blue} {9x}"}},
        "2": {"class_type": "X", "inputs": {"list": {"__value__": ["{inner}", 3]}, "link": ["1", 0], "n": 5}},
        "3": {"class_type": "Y", "inputs": {"seed": "{seed}"}, "_meta": {"title": "{title}"}}
    }));
    assert_eq!(
        placeholders(&w).into_iter().collect::<Vec<_>>(),
        vec!["inner", "place", "seed", "subject"]
    );
}

#[test]
fn whole_values_keep_their_json_type() {
    let w = wf(sd_workflow());
    let out = patched(
        &w,
        json!({"seed": 123456789012u64, "subject": "a cat", "name": "run1"}),
    )
    .unwrap();
    assert_eq!(out.nodes["5"].inputs["seed"], json!(123456789012u64));
    assert_eq!(out.nodes["2"].inputs["text"], json!("a photo of a cat"));
    assert_eq!(out.nodes["7"].inputs["filename_prefix"], json!("farm/run1"));
    // Everything else is untouched.
    assert_eq!(out.nodes["5"].inputs["model"], json!(["1", 0]));
    assert_eq!(out.nodes["5"].inputs["steps"], json!(20));
    assert_eq!(out.nodes.len(), w.nodes.len());
    // The input wasn't modified in place.
    assert_eq!(w.nodes["5"].inputs["seed"], json!("{seed}"));

    // The largest seed ComfyUI allows (u64::MAX) passes the saturated bound.
    let out = patched(&w, json!({"seed": u64::MAX, "subject": "x", "name": "y"})).unwrap();
    assert_eq!(out.nodes["5"].inputs["seed"], json!(u64::MAX));

    let w = one(
        "SaveAnimatedWEBP",
        json!({"fps": "{fps}", "lossless": "{l}", "quality": "{q}", "method": "{m}", "filename_prefix": "{p}"}),
    );
    let out = patched(
        &w,
        json!({"fps": 12.5, "l": false, "q": 90, "m": "slowest", "p": "anim"}),
    )
    .unwrap();
    assert_eq!(
        out.nodes["1"].inputs,
        params(
            json!({"fps": 12.5, "lossless": false, "quality": 90, "method": "slowest", "filename_prefix": "anim"})
        )
    );
}

#[test]
fn embedded_values_use_their_text_form() {
    let w = one(
        "PrimitiveString",
        json!({"value": "s={s} i={i} f={f} b={b} again {s}"}),
    );
    let out = patched(&w, json!({"s": "text", "i": 42, "f": 0.25, "b": true})).unwrap();
    assert_eq!(
        out.nodes["1"].inputs["value"],
        json!("s=text i=42 f=0.25 b=true again text")
    );
}

#[test]
fn escapes_and_non_placeholders_stay() {
    let w = one(
        "PrimitiveString",
        json!({"value": "{{literal}} {x} {red|blue} { \"k\": 1 } }}"}),
    );
    let out = patched(&w, json!({"x": "X"})).unwrap();
    assert_eq!(
        out.nodes["1"].inputs["value"],
        json!("{literal} X {red|blue} { \"k\": 1 } }")
    );
    // `{{name}}` alone is a literal `{name}`, not a placeholder.
    let w = one("PrimitiveString", json!({"value": "{{name}}"}));
    assert_eq!(
        patched(&w, json!({})).unwrap().nodes["1"].inputs["value"],
        json!("{name}")
    );
    // JSON text without placeholders passes through byte for byte.
    let w = one("PrimitiveString", json!({"value": "{\"a\": {\"b\": 1}}"}));
    assert_eq!(patched(&w, json!({})).unwrap(), w);
}

#[test]
fn strings_take_numbers_as_text_and_lists_are_wrapped() {
    let w = one("PrimitiveString", json!({"value": "{v}"}));
    assert_eq!(
        patched(&w, json!({"v": 5})).unwrap().nodes["1"].inputs["value"],
        json!("5")
    );
    assert_eq!(
        patched(&w, json!({"v": true})).unwrap().nodes["1"].inputs["value"],
        json!("true")
    );
    // Without a catalogue nothing is type-checked; a list is still wrapped, not a link.
    let w = one("Custom", json!({"sizes": "{v}", "steps": "{s}"}));
    let out = patch(&w, &params(json!({"v": ["1", 0], "s": "abc"})), None).unwrap();
    assert_eq!(
        out.nodes["1"].inputs["sizes"],
        json!({"__value__": ["1", 0]})
    );
    assert_eq!(out.nodes["1"].inputs["steps"], json!("abc"));
    assert_eq!(out.nodes["1"].links().count(), 0);
}

#[test]
fn combo_values_are_checked_after_substitution() {
    let w = one(
        "CheckpointLoaderSimple",
        json!({"ckpt_name": "{family}.safetensors"}),
    );
    let out = patched(&w, json!({"family": "sd15"})).unwrap();
    assert_eq!(
        out.nodes["1"].inputs["ckpt_name"],
        json!("sd15.safetensors")
    );
    let e = patched(&w, json!({"family": "flux"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 1 (CheckpointLoaderSimple) input `ckpt_name`: parameter `family` gives \"flux.safetensors\", not among the options (valid: sd15.safetensors, sdxl_base.safetensors)"
    );
}

#[test]
fn type_errors_name_node_input_parameter_value_and_what_is_valid() {
    let ks = wf(sd_workflow());
    let base = json!({"subject": "s", "name": "n"});
    let with = |k: &str, v: Value| {
        let mut p = base.clone();
        p[k] = v;
        p
    };
    let e = patched(&ks, with("seed", json!("abc"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 5 (KSampler) input `seed`: parameter `seed` gives \"abc\", not an integer (valid: an integer >= 0)"
    );
    let e = patched(&ks, with("seed", json!(1.5))).unwrap_err();
    assert!(e.to_string().contains("gives 1.5, not an integer"), "{e}");
    let e = patched(&ks, with("seed", json!(-1))).unwrap_err();
    assert!(
        e.to_string()
            .contains("gives -1, below the minimum (valid: an integer >= 0)"),
        "{e}"
    );

    let img = one(
        "EmptyImage",
        json!({"width": "{w}", "height": 64, "batch_size": 1, "color": 0}),
    );
    let e = patched(&img, json!({"w": 20000})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 1 (EmptyImage) input `width`: parameter `w` gives 20000, above the maximum (valid: an integer from 1 to 16384)"
    );
    assert!(patched(&img, json!({"w": 16384})).is_ok());
    assert!(patched(&img, json!({"w": 64.0})).is_ok());

    let blur = one(
        "ImageBlur",
        json!({"image": ["9", 0], "blur_radius": 3, "sigma": "{s}"}),
    );
    let e = patched(&blur, json!({"s": "x"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 1 (ImageBlur) input `sigma`: parameter `s` gives \"x\", not a number (valid: a number from 0.1 to 10)"
    );
    let e = patched(&blur, json!({"s": 0.05})).unwrap_err();
    assert!(
        e.to_string().contains("gives 0.05, below the minimum"),
        "{e}"
    );
    assert!(patched(&blur, json!({"s": 10})).is_ok());

    let webp = one(
        "SaveAnimatedWEBP",
        json!({"lossless": "{l}", "method": "{m}"}),
    );
    let e = patched(&webp, json!({"l": "yes", "m": "default"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 1 (SaveAnimatedWEBP) input `lossless`: parameter `l` gives \"yes\", not a boolean (valid: true or false)"
    );
    let e = patched(&webp, json!({"l": true, "m": "best"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 1 (SaveAnimatedWEBP) input `method`: parameter `m` gives \"best\", not among the options (valid: default, fastest, slowest)"
    );
    let e = patched(&webp, json!({"l": true, "m": 3})).unwrap_err();
    assert!(
        e.to_string().contains("gives 3, not among the options"),
        "{e}"
    );

    let text = one("PrimitiveString", json!({"value": "{v}"}));
    let e = patched(&text, json!({"v": {"a": 1}})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 1 (PrimitiveString) input `value`: parameter `v` gives {\"a\":1}, not a string (valid: a string)"
    );
    // Long combos are summarised.
    let e = patched(
        &one("KSampler", json!({"sampler_name": "{s}"})),
        json!({"s": "nope"}),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("(valid: one of 42 options, e.g. euler, euler_cfg_pp, euler_ancestral)"),
        "{e}"
    );
}

#[test]
fn structured_values_cannot_be_embedded_in_text() {
    let w = one("PrimitiveString", json!({"value": "hello {v}"}));
    for v in [json!(null), json!([1]), json!({"a": 1})] {
        let e = patched(&w, json!({"v": v.clone()})).unwrap_err();
        assert!(matches!(e, PatchError::NotText { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "node 1 (PrimitiveString) input `value`: parameter `v` = {v} cannot be put into text (use a string, number or boolean)"
            )
        );
    }
}

#[test]
fn every_placeholder_needs_a_parameter_and_every_parameter_a_placeholder() {
    let w = wf(sd_workflow());
    let e = patched(&w, json!({"seed": 1, "subject": "x"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node 7 (SaveImage) input `filename_prefix`: placeholder `{name}` has no parameter (given: seed, subject)"
    );
    let e = patched(
        &w,
        json!({"seed": 1, "subject": "x", "name": "n", "sed": 2}),
    )
    .unwrap_err();
    assert_eq!(
        e,
        PatchError::UnusedParam {
            param: "sed".into(),
            placeholders: vec!["name".into(), "seed".into(), "subject".into()]
        }
    );
    assert_eq!(
        e.to_string(),
        "parameter `sed` is not used by any placeholder (the workflow's placeholders: name, seed, subject)"
    );
    let plain = one("PrimitiveString", json!({"value": "x"}));
    assert_eq!(
        patched(&plain, json!({"a": 1})).unwrap_err().to_string(),
        "parameter `a` is not used by any placeholder (the workflow's placeholders: none)"
    );
    assert_eq!(
        patched(&one("PrimitiveString", json!({"value": "{a}"})), json!({}))
            .unwrap_err()
            .to_string(),
        "node 1 (PrimitiveString) input `value`: placeholder `{a}` has no parameter (given: none)"
    );
    // No placeholders and no parameters: the workflow comes back as it was.
    assert_eq!(patched(&plain, json!({})).unwrap(), plain);
}
