//! The serde `Deserializer` over [`Node`], and the span stack that positions errors.

use std::cell::RefCell;

use serde::de::value::{BorrowedStrDeserializer, U32Deserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Expected, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};

use crate::node::{Node, NodeKind, Resolved, ScalarStyle, resolve};
use crate::spanned;
use crate::{Error, Span};

thread_local! {
    /// Spans of the nodes being deserialized, innermost last.
    static SPANS: RefCell<Vec<Span>> = const { RefCell::new(Vec::new()) };
}

/// The span of the innermost node being deserialized on this thread.
pub(crate) fn current_span() -> Option<Span> {
    SPANS
        .try_with(|s| s.borrow().last().copied())
        .ok()
        .flatten()
        .filter(|s| !s.is_unknown())
}

/// Keeps a span on the stack while alive.
struct Enter;

impl Enter {
    fn span(span: Span) -> Enter {
        let _ = SPANS.try_with(|s| s.borrow_mut().push(span));
        Enter
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let _ = SPANS.try_with(|s| s.borrow_mut().pop());
    }
}

pub(crate) fn deserialize<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, Error> {
    let _enter = Enter::span(node.span);
    T::deserialize(NodeDe(node))
}

/// What a node looks like to serde's error messages.
fn unexpected(node: &Node) -> Unexpected<'_> {
    match &node.kind {
        NodeKind::Null => Unexpected::Unit,
        NodeKind::Scalar {
            value,
            style: ScalarStyle::Quoted,
        } => Unexpected::Str(value),
        NodeKind::Scalar { value, .. } => match resolve(value) {
            Resolved::Null => Unexpected::Unit,
            Resolved::Bool(b) => Unexpected::Bool(b),
            Resolved::Int(i) => match (u64::try_from(i), i64::try_from(i)) {
                (Ok(u), _) => Unexpected::Unsigned(u),
                (_, Ok(i)) => Unexpected::Signed(i),
                _ => Unexpected::Other("a 128-bit integer"),
            },
            Resolved::Float(f) => Unexpected::Float(f),
            Resolved::Str(s) => Unexpected::Str(s),
        },
        NodeKind::Seq(_) => Unexpected::Seq,
        NodeKind::Map(_) => Unexpected::Map,
    }
}

fn invalid_type(node: &Node, exp: &dyn Expected) -> Error {
    Error::at(
        node.span,
        <Error as de::Error>::invalid_type(unexpected(node), exp).message,
    )
}

/// Deserializes one node.
#[derive(Clone, Copy)]
struct NodeDe<'de>(&'de Node);

impl<'de> NodeDe<'de> {
    fn visit_int<V: Visitor<'de>>(i: i128, visitor: V) -> Result<V::Value, Error> {
        if let Ok(u) = u64::try_from(i) {
            visitor.visit_u64(u)
        } else if let Ok(s) = i64::try_from(i) {
            visitor.visit_i64(s)
        } else if let Ok(u) = u128::try_from(i) {
            visitor.visit_u128(u)
        } else {
            visitor.visit_i128(i)
        }
    }

    /// Null (or empty) counts as an empty collection.
    fn is_empty_collection(&self) -> bool {
        self.0.is_null()
    }
}

static EMPTY_SEQ: [Node; 0] = [];
static EMPTY_MAP: [(Node, Node); 0] = [];

impl<'de> Deserializer<'de> for NodeDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let _enter = Enter::span(self.0.span);
        match &self.0.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Scalar {
                value,
                style: ScalarStyle::Quoted,
            } => visitor.visit_borrowed_str(value),
            NodeKind::Scalar { value, .. } => match resolve(value) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => Self::visit_int(i, visitor),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(_) => visitor.visit_borrowed_str(value),
            },
            NodeKind::Seq(items) => visit_seq(items, visitor),
            NodeKind::Map(entries) => visit_map(entries, visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0.kind {
            NodeKind::Scalar { value, .. } => {
                let _enter = Enter::span(self.0.span);
                visitor.visit_borrowed_str(value)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let _enter = Enter::span(self.0.span);
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let _enter = Enter::span(self.0.span);
        if name == spanned::NAME {
            visitor.visit_map(SpannedAccess {
                node: self.0,
                next: 0,
            })
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_empty_collection() {
            let _enter = Enter::span(self.0.span);
            return visit_seq(&EMPTY_SEQ, visitor);
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_empty_collection() {
            let _enter = Enter::span(self.0.span);
            return visit_map(&EMPTY_MAP, visitor);
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if let NodeKind::Seq(_) = self.0.kind {
            // serde-derived structs also accept sequences; configs must name their fields.
            return Err(invalid_type(self.0, &visitor));
        }
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let _enter = Enter::span(self.0.span);
        match &self.0.kind {
            NodeKind::Scalar { .. } => visitor.visit_enum(Enum {
                variant: self.0,
                value: None,
            }),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (variant, value) = &entries[0];
                visitor.visit_enum(Enum {
                    variant,
                    value: Some(value),
                })
            }
            NodeKind::Map(entries) => Err(Error::at(
                self.0.span,
                format!(
                    "expected {} as a variant name or a mapping with one key `{{variant: value}}`, found a mapping with {} keys",
                    &visitor as &dyn Expected,
                    entries.len()
                ),
            )),
            _ => Err(invalid_type(self.0, &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 unit unit_struct tuple tuple_struct
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: &'de [Node], visitor: V) -> Result<V::Value, Error> {
    let mut access = Seq {
        iter: items.iter(),
        count: 0,
    };
    let value = visitor.visit_seq(&mut access)?;
    let rest = access.iter.len();
    if rest > 0 {
        return Err(de::Error::invalid_length(
            access.count + rest,
            &format!("{} elements", access.count).as_str(),
        ));
    }
    Ok(value)
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: &'de [(Node, Node)],
    visitor: V,
) -> Result<V::Value, Error> {
    let mut access = Map {
        iter: entries.iter(),
        value: None,
    };
    let value = visitor.visit_map(&mut access)?;
    if let Some((key, _)) = access.iter.next() {
        return Err(Error::at(key.span, "unexpected key"));
    }
    Ok(value)
}

struct Seq<'de> {
    iter: std::slice::Iter<'de, Node>,
    count: usize,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.iter.next() else {
            return Ok(None);
        };
        self.count += 1;
        // Entered here too, so errors a seed raises after buffering (untagged enums) point here.
        let _enter = Enter::span(item.span);
        seed.deserialize(NodeDe(item)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Map<'de> {
    iter: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let _enter = Enter::span(key.span);
        seed.deserialize(NodeDe(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some(value) = self.value.take() else {
            return Err(de::Error::custom("value requested before its key"));
        };
        let _enter = Enter::span(value.span);
        seed.deserialize(NodeDe(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Hands a [`crate::Spanned`] its position: keys line, col, value (see `spanned.rs`).
struct SpannedAccess<'de> {
    node: &'de Node,
    next: usize,
}

impl<'de> MapAccess<'de> for SpannedAccess<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(key) = spanned::FIELDS.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let span = self.node.span;
        self.next += 1;
        match self.next {
            1 => seed.deserialize(U32Deserializer::new(span.line)),
            2 => seed.deserialize(U32Deserializer::new(span.col)),
            _ => seed.deserialize(NodeDe(self.node)),
        }
    }
}

/// An enum written as `variant` or `{variant: value}`.
struct Enum<'de> {
    variant: &'de Node,
    value: Option<&'de Node>,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Error> {
        let _enter = Enter::span(self.variant.span);
        let variant = seed.deserialize(NodeDe(self.variant))?;
        Ok((variant, self))
    }
}

impl<'de> Enum<'de> {
    fn value(&self, exp: &dyn Expected) -> Result<NodeDe<'de>, Error> {
        match self.value {
            Some(value) => Ok(NodeDe(value)),
            None => Err(Error::at(
                self.variant.span,
                <Error as de::Error>::invalid_type(Unexpected::UnitVariant, exp).message,
            )),
        }
    }
}

impl<'de> VariantAccess<'de> for Enum<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            Some(value) if !value.is_null() => Err(invalid_type(value, &"unit variant")),
            _ => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let value = self.value(&"newtype variant")?;
        let _enter = Enter::span(value.0.span);
        seed.deserialize(value)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.value(&visitor)?.deserialize_tuple(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.value(&visitor)?
            .deserialize_struct("", fields, visitor)
    }
}
