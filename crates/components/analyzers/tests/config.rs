//! Config types: serde defaults, unknown fields, validation messages, descriptions,
//! factories and the generated JSON Schema.

mod support;

use serde_json::json;
use support::create;
use visualpath_analyzers::{FrameStatsConfig, MotionConfig, MotionZone, SceneCutConfig};
use visualpath_sdk::{Name, SourceInfo};

#[test]
fn empty_objects_give_the_documented_defaults() {
    let m: MotionConfig = serde_json::from_value(json!({})).unwrap();
    assert_eq!(m, MotionConfig::default());
    assert_eq!(
        (
            m.width,
            m.pixel_threshold,
            m.threshold,
            m.grid,
            m.blur,
            m.zones.len()
        ),
        (160, 25, 0.01, [4, 3], true, 0)
    );
    let f: FrameStatsConfig = serde_json::from_value(json!({})).unwrap();
    assert_eq!(f, FrameStatsConfig::default());
    assert_eq!((f.width, f.dark_below, f.blurry_below), (160, 0.15, 0.002));
    let s: SceneCutConfig = serde_json::from_value(json!({})).unwrap();
    assert_eq!(s, SceneCutConfig::default());
    assert_eq!((s.width, s.threshold, s.min_gap), (160, 0.4, 5));
}

#[test]
fn full_configs_round_trip() {
    let m: MotionConfig = serde_json::from_value(json!({
        "width": 320, "pixel_threshold": 10, "threshold": 0.2, "grid": [8, 6], "blur": false,
        "zones": [{"name": "door", "box": [0.1, 0.2, 0.3, 0.4]}]
    }))
    .unwrap();
    assert_eq!(m.zones[0].bbox, [0.1, 0.2, 0.3, 0.4]);
    assert_eq!(m.zones[0].name.as_str(), "door");
    let back: MotionConfig = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    assert!(m.validate().is_ok());
}

#[test]
fn unknown_fields_and_bad_names_are_rejected() {
    let e = serde_json::from_value::<MotionConfig>(json!({"treshold": 0.1})).unwrap_err();
    assert!(e.to_string().contains("unknown field `treshold`"), "{e}");
    let e = serde_json::from_value::<MotionConfig>(
        json!({"zones": [{"name": "door", "box": [0, 0, 1, 1], "colour": 1}]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    let e = serde_json::from_value::<MotionConfig>(
        json!({"zones": [{"name": "front door", "box": [0, 0, 1, 1]}]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("invalid name `front door`"), "{e}");
    assert!(serde_json::from_value::<FrameStatsConfig>(json!({"blur": true})).is_err());
    assert!(serde_json::from_value::<SceneCutConfig>(json!({"gap": 3})).is_err());
}

#[test]
fn validation_names_the_field_and_the_range() {
    let motion = |f: &dyn Fn(&mut MotionConfig)| {
        let mut c = MotionConfig::default();
        f(&mut c);
        c.validate().unwrap_err().message
    };
    assert_eq!(
        motion(&|c| c.width = 8),
        "motion: `width` must be between 16 and 1920, got 8"
    );
    assert_eq!(
        motion(&|c| c.pixel_threshold = 256),
        "motion: `pixel_threshold` must be between 0 and 255, got 256"
    );
    assert_eq!(
        motion(&|c| c.threshold = -0.1),
        "motion: `threshold` must be between 0 and 1, got -0.1"
    );
    assert!(motion(&|c| c.threshold = f64::NAN).contains("`threshold`"));
    assert_eq!(
        motion(&|c| c.grid = [0, 3]),
        "motion: `grid` [cols, rows] must have each between 1 and 64 and at most 256 cells in all, got [0, 3]"
    );
    assert!(motion(&|c| c.grid = [4, 65]).contains("got [4, 65]"));
    assert!(motion(&|c| c.grid = [32, 9]).contains("got [32, 9]"));
    assert!(
        MotionConfig {
            grid: [64, 4],
            ..MotionConfig::default()
        }
        .validate()
        .is_ok()
    );
    assert!(
        MotionConfig {
            grid: [16, 16],
            ..MotionConfig::default()
        }
        .validate()
        .is_ok()
    );
    let zone = |i: usize| MotionZone {
        name: Name::new(&format!("z{i}")).unwrap(),
        bbox: [0.0, 0.0, 1.0, 1.0],
    };
    assert_eq!(
        motion(&|c| c.zones = (0..65).map(zone).collect()),
        "motion: `zones` may list at most 64 zones, got 65"
    );
    assert_eq!(
        motion(&|c| c.zones = vec![MotionZone {
            name: Name::from_static("door"),
            bbox: [0.5, 0.0, 0.5, 1.0]
        }]),
        "motion: `zones[0]` (`door`) box [0.5, 0, 0.5, 1] must satisfy 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1"
    );
    assert!(
        motion(&|c| c.zones = vec![MotionZone {
            name: Name::from_static("a"),
            bbox: [0.0, 0.0, 1.0, 1.1]
        }])
        .contains("`zones[0]`")
    );
    let zone = |n| MotionZone {
        name: Name::from_static(n),
        bbox: [0.0, 0.0, 1.0, 1.0],
    };
    let c = MotionConfig {
        zones: vec![zone("a"), zone("b"), zone("a")],
        ..MotionConfig::default()
    };
    assert_eq!(
        c.validate().unwrap_err().message,
        "motion: `zones[2]` reuses the name `a`; zone names must be unique"
    );

    let stats = FrameStatsConfig {
        dark_below: 2.0,
        ..FrameStatsConfig::default()
    };
    assert_eq!(
        stats.validate().unwrap_err().message,
        "frame_stats: `dark_below` must be between 0 and 1, got 2"
    );
    let stats = FrameStatsConfig {
        blurry_below: -1.0,
        ..FrameStatsConfig::default()
    };
    assert_eq!(
        stats.validate().unwrap_err().message,
        "frame_stats: `blurry_below` must be between 0 and 16, got -1"
    );
    let cut = SceneCutConfig {
        threshold: 1.5,
        ..SceneCutConfig::default()
    };
    assert_eq!(
        cut.validate().unwrap_err().message,
        "scene_cut: `threshold` must be between 0 and 1, got 1.5"
    );
    let cut = SceneCutConfig {
        width: 4000,
        ..SceneCutConfig::default()
    };
    assert_eq!(
        cut.validate().unwrap_err().message,
        "scene_cut: `width` must be between 16 and 1920, got 4000"
    );
    // Every message is one line.
    for m in [
        motion(&|c| c.width = 0),
        cut.validate().unwrap_err().message,
    ] {
        assert!(!m.contains('\n'));
    }
}

#[test]
fn descriptions() {
    assert_eq!(
        MotionConfig::default().describe(),
        "motion (threshold 0.01, grid 4x3)"
    );
    let m = MotionConfig {
        zones: vec![MotionZone {
            name: Name::from_static("door"),
            bbox: [0.0, 0.0, 1.0, 1.0],
        }],
        ..MotionConfig::default()
    };
    assert_eq!(
        m.factory().describe(),
        "motion (threshold 0.01, grid 4x3, 1 zone)"
    );
    assert_eq!(
        FrameStatsConfig::default().factory().describe(),
        "frame_stats (width 160, dark below 0.15, blurry below 0.002)"
    );
    assert_eq!(
        SceneCutConfig::default().factory().describe(),
        "scene_cut (threshold 0.4, min gap 5)"
    );
}

#[test]
fn invalid_configs_fail_at_create_with_the_validation_message() {
    let info = SourceInfo::new(Name::from_static("cam"), "synthetic");
    let m = MotionConfig {
        grid: [0, 0],
        ..MotionConfig::default()
    };
    let e = m.factory().create(&info).unwrap_err();
    assert_eq!(e, m.validate().unwrap_err());
    assert!(!e.transient);
    let f = FrameStatsConfig {
        width: 1,
        ..FrameStatsConfig::default()
    };
    assert_eq!(
        f.factory().create(&info).unwrap_err(),
        f.validate().unwrap_err()
    );
    let s = SceneCutConfig {
        threshold: 2.0,
        ..SceneCutConfig::default()
    };
    assert_eq!(
        s.factory().create(&info).unwrap_err(),
        s.validate().unwrap_err()
    );
    // Valid ones create.
    let _ = create(&MotionConfig::default().factory());
}

/// Every field is documented in the schema with its default (the reference docs are
/// generated from it), and numeric ranges are in the schema.
#[test]
fn schemas_document_every_field() {
    let schemas = [
        serde_json::to_value(schemars::schema_for!(MotionConfig)).unwrap(),
        serde_json::to_value(schemars::schema_for!(FrameStatsConfig)).unwrap(),
        serde_json::to_value(schemars::schema_for!(SceneCutConfig)).unwrap(),
    ];
    for schema in &schemas {
        let props = schema["properties"].as_object().unwrap();
        assert!(!props.is_empty());
        for (name, p) in props {
            let d = p["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} undocumented"));
            assert!(d.contains("Default"), "{name}: {d}");
        }
        assert_eq!(schema["additionalProperties"], json!(false));
    }
    assert_eq!(schemas[0]["properties"]["threshold"]["maximum"], json!(1.0));
    assert_eq!(schemas[0]["properties"]["width"]["minimum"], json!(16));
    let zone = &schemas[0]["$defs"]["MotionZone"];
    assert!(
        zone["properties"]["box"]["description"]
            .as_str()
            .unwrap()
            .contains("normalised")
    );
    assert_eq!(zone["required"], json!(["name", "box"]));
}
