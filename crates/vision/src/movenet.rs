//! Decoder for MoveNet single-pose (Lightning 192x192, Thunder 256x256).
//!
//! Output `[1, 1, 17, 3]`: for each of the 17 COCO keypoints ([`KEYPOINT_NAMES`], in
//! that order) `(y, x, score)`, with `y` and `x` fractions of the model input (the
//! crop). Keypoints are mapped to source pixels through the crop's
//! `image_from_model_input` transform (clamped to the image).
//!
//! - The pose score is the mean of the 17 keypoint scores.
//! - Scores are clamped to 0-1 and a non-finite score counts as 0; a keypoint with a non-finite coordinate is reported
//!   at the crop's top-left corner with score 0 (so a pose always has 17 keypoints).
//! - The pose box is the person box passed in (the box the crop was made from) or, when
//!   there is none, the model input's area mapped to the image (clamped).
//! - Joint angles ([`crate::angles`]) are filled in when enabled.

use visualpath_core::{BBox, Keypoint, Pose, Values};

use crate::angles::joint_angles;
use crate::error::{ConfigError, DecodeError};
use crate::tensor::TensorRef;
use crate::transform::Transform;
use crate::util::{check_fraction, check_shape};

const NAME: &str = "movenet";

/// The 17 COCO keypoint names, in model order.
pub const KEYPOINT_NAMES: [&str; 17] = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
];

/// Settings of the MoveNet decoder.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MovenetConfig {
    /// Whether to compute joint angles (`left_knee`, `right_elbow`, ...). Default `true`.
    #[serde(default = "default_true")]
    pub angles: bool,
    /// Minimum score (0-1) of each of the three keypoints of an angle. Default `0.3`.
    #[serde(default = "default_angle_min_score")]
    pub angle_min_score: f32,
}

fn default_true() -> bool {
    true
}

fn default_angle_min_score() -> f32 {
    crate::angles::DEFAULT_MIN_SCORE
}

impl Default for MovenetConfig {
    fn default() -> Self {
        Self {
            angles: default_true(),
            angle_min_score: default_angle_min_score(),
        }
    }
}

/// Decodes MoveNet single-pose output into a [`Pose`] in source pixels.
#[derive(Debug, Clone)]
pub struct MovenetDecoder {
    config: MovenetConfig,
}

impl MovenetDecoder {
    /// Validates the settings.
    pub fn new(config: MovenetConfig) -> Result<Self, ConfigError> {
        check_fraction(NAME, "angle_min_score", config.angle_min_score)?;
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &MovenetConfig {
        &self.config
    }

    /// Decodes one crop's output. `transform` is the crop's `image_from_model_input`;
    /// `person` the box the crop was made from, if any.
    pub fn decode(
        &self,
        output: &TensorRef<'_>,
        transform: &Transform,
        person: Option<BBox>,
    ) -> Result<Pose, DecodeError> {
        check_shape(NAME, "output 0", output, "[1, 1, 17, 3]", |s| {
            s == [1, 1, 17, 3]
        })?;
        let mut keypoints = Vec::with_capacity(17);
        let mut total = 0.0f32;
        for (name, v) in KEYPOINT_NAMES.iter().zip(output.data.chunks_exact(3)) {
            let (ny, nx) = (v[0], v[1]);
            let mut score = if v[2].is_finite() {
                v[2].clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (x, y) = if nx.is_finite() && ny.is_finite() {
                transform.map_normalized_point(nx, ny)
            } else {
                score = 0.0;
                transform.map_point(0.0, 0.0)
            };
            total += score;
            keypoints.push(Keypoint {
                name: (*name).into(),
                x,
                y,
                score,
            });
        }
        let bbox = person.unwrap_or_else(|| {
            transform.map_box(&BBox::new(
                0.0,
                0.0,
                transform.from_width as f32,
                transform.from_height as f32,
            ))
        });
        let angles = if self.config.angles {
            joint_angles(&keypoints, self.config.angle_min_score)
        } else {
            Values::new()
        };
        Ok(Pose {
            bbox,
            score: total / 17.0,
            keypoints,
            angles,
            track_id: None,
        })
    }
}
