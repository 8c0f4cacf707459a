use std::sync::Arc;

use visualpath_sdk::core::{Event, EventPhase, Name, Observation, SyncSet, Values};

use super::*;

fn event(id: u64, rule: &str, phase: EventPhase, t: i64) -> Event {
    Event {
        id,
        rule: Name::new(rule).unwrap(),
        source: Name::from_static("cam1"),
        phase,
        seq: t as u64,
        capture_time_ns: t,
        since_ns: t - 10,
        until_ns: (phase == EventPhase::End).then_some(t - 1),
        values: Values::new().with("score", 0.5),
        clip: Default::default(),
    }
}

#[test]
fn topics_follow_the_documented_names() {
    let obs = Record::Observation(Arc::new(Observation {
        analyzer: Name::from_static("motion"),
        source: Name::from_static("cam1"),
        seq: 1,
        capture_time_ns: 2,
        arrival_ns: 0,
        frame_size: (0, 0),
        data: Default::default(),
        timing: Default::default(),
    }));
    assert_eq!(topic_for("vp", &obs), "vp/cam1/motion");
    let ev = Record::Event(Arc::new(event(1, "intrusion", EventPhase::Start, 100)));
    assert_eq!(topic_for("site/a", &ev), "site/a/cam1/events/intrusion");
    let sync = Record::Sync(Arc::new(SyncSet {
        group: Name::from_static("pair"),
        index: 0,
        reference_ns: 0,
        members: vec![],
        missing: vec![],
        skew_ns: 0,
        partial: false,
    }));
    assert_eq!(topic_for("vp", &sync), "vp/sync/pair");
    assert_eq!(state_topic("vp", "cam1"), "vp/cam1/state");
    assert_eq!(status_topic("vp"), "vp/status");
}

#[test]
fn urls_parse_with_credentials_defaults_and_errors() {
    let u = BrokerUrl::parse("mqtt://127.0.0.1").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.user.clone()),
        ("127.0.0.1", 1883, None)
    );
    let u = BrokerUrl::parse("mqtt://bob:p%40ss@broker:8883").unwrap();
    assert_eq!(u.host, "broker");
    assert_eq!(u.port, 8883);
    assert_eq!(u.user.as_deref(), Some("bob"));
    assert_eq!(u.password.as_deref(), Some("p@ss"));
    assert!(
        !format!("{u:?}").contains("p@ss"),
        "Debug hides credentials"
    );
    let u = BrokerUrl::parse("mqtt://[::1]:1884").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 1884));
    for bad in [
        "http://x",
        "mqtts://x",
        "mqtt://",
        "mqtt://x:0",
        "mqtt://x:99999",
        "mqtt://x/topic",
    ] {
        assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
    }
    let e = BrokerUrl::parse("mqtt://u:secret@x:nope").unwrap_err();
    assert!(!e.contains("secret") && e.contains("***@x:nope"), "{e}");
}

#[test]
fn cli_form_takes_the_path_as_the_topic_prefix() {
    let c = MqttConfig::from_cli("mqtt://127.0.0.1:1883/site/a").unwrap();
    assert_eq!(c.url, "mqtt://127.0.0.1:1883");
    assert_eq!(c.topic, "site/a");
    assert_eq!(c.qos, 1);
    let c = MqttConfig::from_cli("mqtt://h").unwrap();
    assert_eq!(
        (c.url.as_str(), c.topic.as_str()),
        ("mqtt://h", "visualpath")
    );
    let e = MqttConfig::from_cli("mqtt://u:pw@h/a/#").unwrap_err();
    assert!(
        e.message.contains("--mqtt") && e.message.contains("wildcard"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("pw"), "{}", e.message);
    assert!(MqttConfig::from_cli("127.0.0.1:1883").is_err());
}

#[test]
fn build_names_the_sink_and_field() {
    let s = SinkSettings::new(Name::from_static("out"));
    let mut c = MqttConfig::new("mqtt://127.0.0.1:1");
    c.qos = 2;
    let e = c.build(&s).unwrap_err().message;
    assert!(e.contains("sink `out`") && e.contains("`qos`"), "{e}");
    let mut c = MqttConfig::new("mqtt://127.0.0.1:1");
    c.keep_alive = HumanDuration::from_millis(500);
    assert!(c.build(&s).unwrap_err().message.contains("`keep_alive`"));
    let mut c = MqttConfig::new("mqtt://127.0.0.1:1");
    c.topic = "/x".into();
    assert!(c.build(&s).unwrap_err().message.contains("`topic`"));
    assert!(
        MqttConfig::new("redis://x")
            .build(&s)
            .unwrap_err()
            .message
            .contains("`url`")
    );
}

#[test]
fn yaml_defaults_and_unknown_fields() {
    let c: MqttConfig = serde_json::from_str(r#"{"url":"mqtt://h"}"#).unwrap();
    assert_eq!(c, MqttConfig::new("mqtt://h"));
    assert!(serde_json::from_str::<MqttConfig>(r#"{"url":"mqtt://h","qoss":1}"#).is_err());
}

#[test]
fn state_tracks_active_events_and_last_per_rule() {
    let mut st = CameraState::default();
    st.apply(&event(1, "a", EventPhase::Start, 100));
    st.apply(&event(2, "b", EventPhase::Start, 110));
    assert_eq!(st.active_count, 2);
    st.apply(&event(1, "a", EventPhase::End, 120));
    assert_eq!(st.active.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(st.last["a"].phase, EventPhase::End);
    assert_eq!(st.last["a"].until_ns, Some(119));
    let v: serde_json::Value = serde_json::to_value(&st).unwrap();
    assert_eq!(v["source"], "cam1");
    assert_eq!(v["capture_time_ns"], 120);
    assert_eq!(v["active"]["b"]["event_id"], 2);
    assert_eq!(v["active"]["b"]["values"]["score"], 0.5);
    assert_eq!(v["last"]["a"]["phase"], "end");
    // An end for an event that is not the active one leaves the active one alone.
    st.apply(&event(9, "b", EventPhase::End, 130));
    assert_eq!(st.active["b"].event_id, 2);
}
