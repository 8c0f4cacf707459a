//! Durations as users write them in config files: `150ms`, `2s`, `1.5s`, `5m`, `1h`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), e.g. `250ms` or `1.5s`.
/// A bare number is read as seconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Whole nanoseconds, saturating at `i64::MAX`.
    pub fn as_nanos_i64(self) -> i64 {
        i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX)
    }

    /// From seconds.
    pub fn from_secs_f64(s: f64) -> Self {
        Self(Duration::from_secs_f64(s))
    }

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// Parses `250ms`, `1.5s`, `2m`, `1h`, `100us`, `10ns`, or a bare number of seconds.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let unit = unit.trim();
        let bad = || {
            format!(
                "invalid duration `{s}`: write a number with a unit (ns, us, ms, s, m, h), e.g. `250ms` or `1.5s`"
            )
        };
        let value: f64 = num.parse().map_err(|_| bad())?;
        if !value.is_finite() || value < 0.0 {
            return Err(bad());
        }
        let scale = match unit {
            "" | "s" | "sec" | "secs" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let secs = value * scale;
        if secs > 1e9 {
            return Err(format!("invalid duration `{s}`: longer than 31 years"));
        }
        Ok(Self(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            f.write_str("0s")
        } else if ns.is_multiple_of(3_600_000_000_000) {
            write!(f, "{}h", ns / 3_600_000_000_000)
        } else if ns.is_multiple_of(60_000_000_000) {
            write!(f, "{}m", ns / 60_000_000_000)
        } else if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `250ms`, `1.5s` or `2m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(HumanDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| HumanDuration(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.is_finite() && (0.0..1e9).contains(&v) {
                    Ok(HumanDuration::from_secs_f64(v))
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: must be 0 or more seconds"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration with a unit (ns, us, ms, s, m, h), e.g. `250ms` or `1.5s`; a bare number is seconds.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|sec|secs|m|min|h)?\\s*$"},
                {"type": "number", "minimum": 0}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(
            HumanDuration::parse("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            HumanDuration::parse("1.5s").unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            HumanDuration::parse("2m").unwrap().0,
            Duration::from_secs(120)
        );
        assert_eq!(HumanDuration::parse("3").unwrap().0, Duration::from_secs(3));
        assert_eq!(
            HumanDuration::parse("10 us").unwrap().0,
            Duration::from_micros(10)
        );
        assert!(HumanDuration::parse("fast").is_err());
        assert!(HumanDuration::parse("-1s").is_err());
        assert!(HumanDuration::parse("1parsec").is_err());
    }

    #[test]
    fn displays_round_units() {
        assert_eq!(
            HumanDuration::parse("1500ms").unwrap().to_string(),
            "1500ms"
        );
        assert_eq!(HumanDuration::parse("2s").unwrap().to_string(), "2s");
        assert_eq!(HumanDuration::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(HumanDuration::parse("120s").unwrap().to_string(), "2m");
    }
}
