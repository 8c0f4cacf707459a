//! Shared test helpers.
//!
//! `fixtures/object_info.json` holds real `/object_info` entries copied from ComfyUI 0.3.75
//! (`--cpu --disable-api-nodes`); only the option lists of `CheckpointLoaderSimple.ckpt_name`
//! and `LoadImage.image` were filled in by hand (the server had no models or inputs).

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use visualpath_farm::catalog::Catalog;
use visualpath_farm::workflow::Workflow;

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn catalog() -> Catalog {
    Catalog::from_object_info(&fixture("object_info.json")).expect("fixture catalogue parses")
}

pub fn wf(v: Value) -> Workflow {
    Workflow::from_api(&v).expect("test workflow parses")
}

pub fn params(v: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(v).expect("params are an object")
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A model-free workflow (built-in nodes only; without the custom `SaveImageWebsocket`).
pub fn image_workflow() -> Value {
    serde_json::json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 2, "color": 16744448}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "bilinear", "width": 128, "height": 128, "crop": "disabled"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "orch/test_%width%x%height%"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    })
}

/// A text-to-image graph with a checkpoint (a model file the backend must have).
pub fn sd_workflow() -> Value {
    serde_json::json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of {subject}", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": "{seed}", "steps": 20, "cfg": 7.5,
              "sampler_name": "euler", "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
              "latent_image": ["4", 0], "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "farm/{name}"}}
    })
}
