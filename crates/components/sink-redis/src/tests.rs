use std::sync::Arc;

use visualpath_sdk::core::{EventPhase, Name, SyncSet, Values};

use super::*;

fn event() -> Record {
    Record::Event(Arc::new(visualpath_sdk::core::Event {
        id: 1,
        rule: Name::from_static("r"),
        source: Name::from_static("cam1"),
        phase: EventPhase::Start,
        seq: 7,
        capture_time_ns: 123,
        since_ns: 100,
        until_ns: None,
        values: Values::new(),
        clip: Default::default(),
    }))
}

fn args(c: &redis::Cmd) -> Vec<String> {
    c.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Arg::Cursor => "<cursor>".into(),
            _ => "<other>".into(),
        })
        .collect()
}

#[test]
fn stream_key_templates() {
    let r = event();
    assert_eq!(
        StreamKey::parse("visualpath:{source}").unwrap().key(&r),
        "visualpath:cam1"
    );
    assert_eq!(
        StreamKey::parse("{kind}s/{source}").unwrap().key(&r),
        "events/cam1"
    );
    assert_eq!(StreamKey::parse("fixed").unwrap().key(&r), "fixed");
    for bad in ["", "a{src}", "a{source", "a}b"] {
        assert!(StreamKey::parse(bad).is_err(), "{bad}");
    }
    let sync = Record::Sync(Arc::new(SyncSet {
        group: Name::from_static("pair"),
        index: 4,
        reference_ns: 99,
        members: vec![],
        missing: vec![],
        skew_ns: 0,
        partial: false,
    }));
    assert_eq!(
        StreamKey::parse("vp:{source}").unwrap().key(&sync),
        "vp:pair"
    );
    assert_eq!(seq_and_time(&sync), (4, 99));
}

#[test]
fn xadd_has_maxlen_policy_and_fields() {
    let r = event();
    let c = xadd("k", 100, true, &r, b"{}");
    assert_eq!(
        args(&c),
        [
            "XADD",
            "k",
            "MAXLEN",
            "~",
            "100",
            "*",
            "kind",
            "event",
            "source",
            "cam1",
            "seq",
            "7",
            "capture_time_ns",
            "123",
            "record",
            "{}"
        ]
    );
    assert_eq!(
        args(&xadd("k", 5, false, &r, b"{}"))[2..5],
        ["MAXLEN", "=", "5"]
    );
    assert_eq!(args(&xadd("k", 0, true, &r, b"{}"))[2], "*", "no trimming");
}

#[test]
fn cli_form_and_validation() {
    let c = RedisConfig::from_cli("redis://127.0.0.1:6390").unwrap();
    assert_eq!(c, RedisConfig::new("redis://127.0.0.1:6390"));
    let c = RedisConfig::from_cli("redis://127.0.0.1:6390/2").unwrap();
    assert_eq!(c.url, "redis://127.0.0.1:6390/2");
    let c = RedisConfig::from_cli("redis://:pw@h:1/cams:{source}").unwrap();
    assert_eq!(
        (c.url.as_str(), c.stream.as_str()),
        ("redis://:pw@h:1", "cams:{source}")
    );
    let e = RedisConfig::from_cli("redis://:secret@h/x{y}")
        .unwrap_err()
        .message;
    assert!(
        e.contains("--redis") && e.contains("placeholder") && !e.contains("secret"),
        "{e}"
    );
    assert!(RedisConfig::from_cli("h:6379").is_err());

    let s = SinkSettings::new(Name::from_static("out"));
    let e = RedisConfig::new("mqtt://h").build(&s).unwrap_err().message;
    assert!(e.contains("sink `out`") && e.contains("`url`"), "{e}");
    let mut c = RedisConfig::new("redis://h");
    c.stream = "{nope}".into();
    assert!(c.build(&s).unwrap_err().message.contains("`stream`"));
    let mut c = RedisConfig::new("redis://h");
    c.io_timeout = HumanDuration::from_millis(0);
    assert!(c.build(&s).unwrap_err().message.contains("`io_timeout`"));
    let c: RedisConfig = serde_json::from_str(r#"{"url":"redis://h"}"#).unwrap();
    assert_eq!(c, RedisConfig::new("redis://h"));
    assert!(serde_json::from_str::<RedisConfig>(r#"{"url":"redis://h","max_len":1}"#).is_err());
}
