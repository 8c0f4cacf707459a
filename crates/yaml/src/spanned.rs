//! [`Spanned<T>`]: a value with the position it was read from.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::Span;

/// The newtype-struct name by which [`Spanned`] asks our deserializer for its position.
pub(crate) const NAME: &str = "$__visualpath_yaml_private_Spanned";
/// The keys our deserializer then hands over, in this order.
pub(crate) const FIELDS: [&str; 3] = [
    "$__visualpath_yaml_private_line",
    "$__visualpath_yaml_private_col",
    "$__visualpath_yaml_private_value",
];

/// A value and the position it was read from, for errors found after deserialization:
/// `Error::at(name.span, format!("unknown analyzer `{}`", *name))`.
///
/// With this crate's deserializer the span is the value's position. Any other deserializer
/// (e.g. `serde_json`) reads just the `T` and the span is [`Span::UNKNOWN`], so the same
/// config types load from JSON. It serializes as `T` and its JSON schema is `T`'s.
///
/// `PartialEq`, `Eq`, `Ord` and `Hash` look at the value only: two `Spanned` with equal values
/// from different places are equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// A value with a span.
    pub const fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> From<T> for Spanned<T> {
    /// A value with an unknown span.
    fn from(value: T) -> Spanned<T> {
        Spanned::new(value, Span::UNKNOWN)
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Spanned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> AsRef<T> for Spanned<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: PartialOrd> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: Hash> Hash for Spanned<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// Handshake: we ask for a newtype struct named [`NAME`]. Our deserializer answers with a map
/// of [`FIELDS`]; other deserializers call `visit_newtype_struct` with themselves (serde's
/// usual behaviour), and we read a plain `T`.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(NAME, SpannedVisitor(PhantomData))
    }
}

struct SpannedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Spanned<T>, D::Error> {
        T::deserialize(d).map(Spanned::from)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
        let mut span = Span::UNKNOWN;
        let mut value = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == FIELDS[0] {
                span.line = map.next_value()?;
            } else if key == FIELDS[1] {
                span.col = map.next_value()?;
            } else if key == FIELDS[2] {
                value = Some(map.next_value()?);
            } else {
                return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
            }
        }
        match value {
            Some(value) => Ok(Spanned { value, span }),
            None => Err(de::Error::missing_field(FIELDS[2])),
        }
    }
}
