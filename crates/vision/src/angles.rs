//! Joint angles from pose keypoints.
//!
//! The angle at joint `B` between the segments to `A` and `C` is the unsigned angle
//! between the vectors `A - B` and `C - B`, in degrees, `0..=180` (a straight limb is
//! 180, a right angle 90), computed as `atan2(|cross|, dot)` for stability near 0 and 180.
//! Angles are measured in source pixels, so they are 2-D image-plane angles.
//!
//! | value            | A          | B (joint)  | C          |
//! |------------------|------------|------------|------------|
//! | `*_elbow`        | shoulder   | elbow      | wrist      |
//! | `*_shoulder`     | elbow      | shoulder   | hip        |
//! | `*_hip`          | shoulder   | hip        | knee       |
//! | `*_knee`         | hip        | knee       | ankle      |
//!
//! for `left_` and `right_`. An angle is reported only when the three keypoints exist
//! (looked up by COCO name, so the keypoint order does not matter), their scores are all
//! `>= min_score`, their coordinates are finite, and neither segment has zero length.

use visualpath_core::{Keypoint, Values};

/// Default minimum keypoint score for an angle.
pub const DEFAULT_MIN_SCORE: f32 = 0.3;

/// The joints: `(value name, A, B (the joint), C)`, in output order.
pub const JOINTS: [(&str, &str, &str, &str); 8] = [
    ("left_elbow", "left_shoulder", "left_elbow", "left_wrist"),
    (
        "right_elbow",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
    ),
    ("left_shoulder", "left_elbow", "left_shoulder", "left_hip"),
    (
        "right_shoulder",
        "right_elbow",
        "right_shoulder",
        "right_hip",
    ),
    ("left_hip", "left_shoulder", "left_hip", "left_knee"),
    ("right_hip", "right_shoulder", "right_hip", "right_knee"),
    ("left_knee", "left_hip", "left_knee", "left_ankle"),
    ("right_knee", "right_hip", "right_knee", "right_ankle"),
];

/// The angle at `b` between `a - b` and `c - b` in degrees (`0..=180`), or `None` when a
/// segment has zero length or a coordinate is not finite.
pub fn angle_degrees(a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> Option<f64> {
    let (ux, uy) = (
        f64::from(a.0) - f64::from(b.0),
        f64::from(a.1) - f64::from(b.1),
    );
    let (vx, vy) = (
        f64::from(c.0) - f64::from(b.0),
        f64::from(c.1) - f64::from(b.1),
    );
    if ![ux, uy, vx, vy].iter().all(|v| v.is_finite())
        || (ux == 0.0 && uy == 0.0)
        || (vx == 0.0 && vy == 0.0)
    {
        return None;
    }
    let cross = ux * vy - uy * vx;
    let dot = ux * vx + uy * vy;
    Some(cross.abs().atan2(dot).to_degrees())
}

/// The joint angles of a pose (see the module docs).
pub fn joint_angles(keypoints: &[Keypoint], min_score: f32) -> Values {
    let find = |name: &str| {
        keypoints
            .iter()
            .find(|k| k.name == name)
            .filter(|k| k.score >= min_score)
            .map(|k| (k.x, k.y))
    };
    let mut values = Values::new();
    for (name, a, b, c) in JOINTS {
        if let (Some(a), Some(b), Some(c)) = (find(a), find(b), find(c))
            && let Some(deg) = angle_degrees(a, b, c)
        {
            values.set(name, deg);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(name: &'static str, x: f32, y: f32, score: f32) -> Keypoint {
        Keypoint {
            name: name.into(),
            x,
            y,
            score,
        }
    }

    #[test]
    fn known_geometry() {
        let near = |v: Option<f64>, e: f64| (v.unwrap() - e).abs() < 1e-5;
        assert!(near(
            angle_degrees((0.0, 0.0), (1.0, 0.0), (1.0, 5.0)),
            90.0
        ));
        assert!(near(
            angle_degrees((0.0, 0.0), (1.0, 0.0), (2.0, 0.0)),
            180.0
        ));
        assert!(near(
            angle_degrees((3.0, 0.0), (0.0, 0.0), (1.0, 1.0)),
            45.0
        ));
        assert!(near(
            angle_degrees((3.0, 0.0), (0.0, 0.0), (1.0, -1.0)),
            45.0
        ));
        assert!(near(angle_degrees((3.0, 0.0), (0.0, 0.0), (5.0, 0.0)), 0.0));
        assert!(near(
            angle_degrees((1.0, 0.0), (0.0, 0.0), (-1.0, 3f32.sqrt())),
            120.0
        ));
        assert_eq!(angle_degrees((1.0, 1.0), (1.0, 1.0), (2.0, 2.0)), None);
        assert_eq!(angle_degrees((f32::NAN, 1.0), (0.0, 0.0), (2.0, 2.0)), None);
    }

    #[test]
    fn joints_from_keypoints() {
        // Left leg bent at a right angle: hip above knee, ankle to the right of the knee.
        let kps = vec![
            kp("left_hip", 100.0, 100.0, 0.9),
            kp("left_knee", 100.0, 200.0, 0.9),
            kp("left_ankle", 180.0, 200.0, 0.9),
            kp("left_shoulder", 100.0, 0.0, 0.9),
            // right leg straight but the ankle is not confident
            kp("right_hip", 300.0, 100.0, 0.9),
            kp("right_knee", 300.0, 200.0, 0.9),
            kp("right_ankle", 300.0, 300.0, 0.2),
        ];
        let v = joint_angles(&kps, DEFAULT_MIN_SCORE);
        assert!((v.get("left_knee").unwrap() - 90.0).abs() < 1e-9);
        assert!((v.get("left_hip").unwrap() - 180.0).abs() < 1e-9);
        assert_eq!(v.get("right_knee"), None);
        assert_eq!(v.len(), 2);
        let names: Vec<&str> = v.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["left_hip", "left_knee"]);
        // A lower threshold admits the right knee (straight: 180).
        let v = joint_angles(&kps, 0.1);
        assert!((v.get("right_knee").unwrap() - 180.0).abs() < 1e-9);
        assert!(joint_angles(&[], 0.0).is_empty());
    }
}
