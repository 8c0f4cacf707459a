//! Loading a model for an analyzer: resolve, load (shared), check its family, warm up.

use std::sync::Arc;
use std::time::Instant;

use visualpath_infer::{ElementType, Input, InputData, LoadOptions, Model, ModelInfo};
use visualpath_sdk::ComponentError;

use crate::registry::{Family, Resolved, resolve};

/// A loaded, checked model.
#[derive(Clone)]
pub struct Loaded {
    /// The session, shared by every camera.
    pub model: Arc<dyn Model>,
    /// Where it came from.
    pub resolved: Resolved,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({})",
            self.resolved.path.display(),
            self.model.describe()
        )
    }
}

/// Resolves, loads and checks a model for an analyzer that takes `families`.
pub fn load(
    analyzer: &str,
    model: &str,
    declared: Option<Family>,
    families: &[Family],
    opts: &LoadOptions,
) -> Result<Loaded, ComponentError> {
    let err = |m: String| ComponentError::new(format!("{analyzer}: {m}"));
    let resolved = resolve(model, declared, families).map_err(err)?;
    let m = visualpath_infer_ort::load(&resolved.path, opts).map_err(|e| err(e.to_string()))?;
    check_family(resolved.family, m.info()).map_err(|why| {
        err(format!(
            "model `{}` does not look like a `{}` model: {why} (it has {}); set `family:` to the model's family",
            resolved.path.display(),
            resolved.family,
            m.info()
        ))
    })?;
    tracing::info!(analyzer, model, path = %resolved.path.display(), runtime = %m.describe(), "model ready");
    Ok(Loaded { model: m, resolved })
}

fn rank4_with_3_channels(info: &ModelInfo, last: bool) -> bool {
    info.inputs.len() == 1 && {
        let s = &info.inputs[0].shape;
        s.len() == 4 && {
            let c = if last { s[3] } else { s[1] };
            c.is_none() || c == Some(3)
        }
    }
}

/// Checks declared inputs and outputs against what the family's decoder needs.
pub fn check_family(family: Family, info: &ModelInfo) -> Result<(), String> {
    match family {
        Family::Ssd => {
            if !rank4_with_3_channels(info, true) {
                return Err("expected one input [1, H, W, 3]".into());
            }
            for part in ["boxes", "scores", "classes"] {
                if !info.outputs.iter().any(|o| o.name.contains(part)) {
                    return Err(format!(
                        "expected outputs named detection_boxes, detection_scores, detection_classes (no `{part}` output)"
                    ));
                }
            }
            Ok(())
        }
        Family::Yolo => {
            if !rank4_with_3_channels(info, false) || info.inputs[0].element != ElementType::F32 {
                return Err("expected one float32 input [1, 3, H, W]".into());
            }
            if info.outputs.len() != 1 || info.outputs[0].shape.len() != 3 {
                return Err("expected one output [1, 4+nc, N] or [1, N, 5+nc]".into());
            }
            Ok(())
        }
        Family::Centerface => {
            if !rank4_with_3_channels(info, false) || info.inputs[0].element != ElementType::F32 {
                return Err("expected one float32 input [B, 3, H, W]".into());
            }
            if info.outputs.len() < 3 || info.outputs.iter().any(|o| o.shape.len() != 4) {
                return Err("expected outputs heatmap, scale, offset (and landmarks), each [B, C, H/4, W/4]".into());
            }
            Ok(())
        }
        Family::Movenet => {
            if !rank4_with_3_channels(info, true) {
                return Err("expected one input [1, 192, 192, 3]".into());
            }
            let ok = info.outputs.len() == 1 && {
                let s = &info.outputs[0].shape;
                s.len() == 4 && s[2].is_none_or(|d| d == 17) && s[3].is_none_or(|d| d == 3)
            };
            if !ok {
                return Err("expected one output [1, 1, 17, 3]".into());
            }
            Ok(())
        }
    }
}

/// Runs the model once on zeros so the first frame does not pay for lazy initialisation.
pub fn warm_up(loaded: &Loaded, shape: &[usize]) -> Result<(), ComponentError> {
    let t = Instant::now();
    let n: usize = shape.iter().product();
    let mut out = Vec::new();
    let info = loaded.model.info();
    let run = match info.inputs.first().map(|i| &i.element) {
        Some(ElementType::U8) => loaded.model.run(
            &[Input {
                shape,
                data: InputData::U8(&vec![0u8; n]),
            }],
            &mut out,
        ),
        Some(ElementType::I32) => loaded.model.run(
            &[Input {
                shape,
                data: InputData::I32(&vec![0i32; n]),
            }],
            &mut out,
        ),
        _ => loaded.model.run(
            &[Input {
                shape,
                data: InputData::F32(&vec![0f32; n]),
            }],
            &mut out,
        ),
    };
    run.map_err(|e| {
        ComponentError::new(format!(
            "model `{}`: warm-up failed: {e}",
            loaded.resolved.path.display()
        ))
    })?;
    tracing::debug!(model = %loaded.resolved.path.display(), ms = t.elapsed().as_secs_f64() * 1e3, "warm-up");
    Ok(())
}
