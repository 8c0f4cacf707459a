//! Configuration types: defaults agree with serde, unknown fields are rejected, and the
//! generated schema carries the field documentation.

use serde::de::DeserializeOwned;
use visualpath_vision::{
    CenterFaceConfig, CropConfig, MovenetConfig, PreprocessConfig, SsdConfig, YoloConfig,
};

fn check<T>(name: &str)
where
    T: DeserializeOwned
        + serde::Serialize
        + schemars::JsonSchema
        + Default
        + PartialEq
        + std::fmt::Debug,
{
    let empty: T = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, T::default(), "{name}: `{{}}` is not the default");
    let round: T = serde_json::from_value(serde_json::to_value(T::default()).unwrap()).unwrap();
    assert_eq!(round, T::default(), "{name}: round trip");
    let e = serde_json::from_str::<T>(r#"{"no_such_field": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `no_such_field`"), "{name}: {e}");
    let schema = serde_json::to_string(&schemars::schema_for!(T)).unwrap();
    assert!(
        schema.contains("Default"),
        "{name}: field docs missing from the schema"
    );
}

#[test]
fn every_config_behaves() {
    check::<PreprocessConfig>("preprocess");
    check::<CropConfig>("crop");
    check::<SsdConfig>("ssd");
    check::<YoloConfig>("yolo");
    check::<CenterFaceConfig>("centerface");
    check::<MovenetConfig>("movenet");
}

#[test]
fn yaml_like_values_parse() {
    let y: YoloConfig = serde_json::from_str(
        r#"{"confidence": 0.4, "classes": ["person", 2], "nms_mode": "class_agnostic", "layout": "v5"}"#,
    )
    .unwrap();
    assert_eq!(y.classes.len(), 2);
    assert_eq!(y.layout, visualpath_vision::YoloLayout::V5);
    let s: SsdConfig = serde_json::from_str(r#"{"nms_iou": 0.6}"#).unwrap();
    assert_eq!(s.nms_iou, Some(0.6));
    let c: CropConfig = serde_json::from_str(r#"{"border": "clamp", "margin": 0.1}"#).unwrap();
    assert_eq!(c.border, visualpath_vision::CropBorder::Clamp);
}
