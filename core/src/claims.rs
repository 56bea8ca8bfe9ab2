//! The claims of a token, parsed once into the fields the checks and the identity read.
//!
//! The payload is parsed with serde into borrowed strings where it has no escapes, and every
//! other member is skipped without building a tree. `$authentik_claim_NAME` re-reads the
//! payload lazily ([`render_claim`]), on the first use of each name.
//!
//! Duplicate member names are refused at every depth, in the claims and in the JOSE header
//! (RFC 7515 §4 allows it, RFC 8725 recommends strictness): a parser that keeps the first
//! member would otherwise see another user than this one, which keeps the last.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;

/// Member names of one object checked for duplicates without a heap allocation: authentik's
/// access token has 26 top-level claims.
const INLINE_NAMES: usize = 32;

/// A JWT NumericDate as written: integer seconds (exact) or a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumericDate {
    Int(i128),
    Float(f64),
}

impl NumericDate {
    /// `self + leeway > now` (strict), the test for `exp`.
    pub fn after(self, now: u64, leeway: u64) -> bool {
        match self {
            NumericDate::Int(v) => v + i128::from(leeway) > i128::from(now),
            NumericDate::Float(v) => v + leeway as f64 > now as f64,
        }
    }

    /// `self > now + leeway`, the test for `nbf` and `iat`.
    pub fn exceeds(self, now: u64, leeway: u64) -> bool {
        match self {
            NumericDate::Int(v) => v > i128::from(now) + i128::from(leeway),
            NumericDate::Float(v) => v > now as f64 + leeway as f64,
        }
    }

    /// Whole seconds, rounded down and clamped to `u64` (a float gives an earlier time, never a
    /// later one).
    pub fn seconds(self) -> u64 {
        match self {
            NumericDate::Int(v) => u64::try_from(v.max(0)).unwrap_or(u64::MAX),
            // `as` saturates: negative to 0, huge to u64::MAX.
            NumericDate::Float(v) => v.floor() as u64,
        }
    }
}

/// A member that may have any JSON type: only strings and times are read.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Member<T> {
    #[default]
    Absent,
    Value(T),
    /// Present, with another JSON type.
    Other,
}

impl<T> Member<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Member::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_present(&self) -> bool {
        !matches!(self, Member::Absent)
    }
}

/// `aud`: one string, or a list whose string members count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Audience<'a> {
    pub present: bool,
    pub values: TextValues<'a>,
}

/// The members this module reads, from one parse of the payload.
#[derive(Debug, Default)]
pub struct Claims<'a> {
    pub iss: Member<Cow<'a, str>>,
    pub aud: Audience<'a>,
    pub exp: Member<NumericDate>,
    pub nbf: Member<NumericDate>,
    pub iat: Member<NumericDate>,
    pub sub: Member<Cow<'a, str>>,
    pub preferred_username: Member<Cow<'a, str>>,
    pub email: Member<Cow<'a, str>>,
    pub name: Member<Cow<'a, str>>,
    pub sid: Member<Cow<'a, str>>,
    pub jti: Member<Cow<'a, str>>,
    pub nonce: Member<Cow<'a, str>>,
    /// The string members of `groups`; `None` when it is absent or not a list.
    pub groups: Option<TextValues<'a>>,
    pub entitlements: Option<TextValues<'a>>,
    /// `ak_proxy`, unparsed (its members are checked for duplicates already).
    pub ak_proxy: Option<&'a RawValue>,
    /// `events`, unparsed (back-channel logout tokens).
    pub events: Option<&'a RawValue>,
}

/// Why a payload or header is not acceptable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON, not an object, or a time that is not a number.
    Malformed,
    /// A member name appears twice in one object.
    Duplicate,
}

const DUPLICATE: &str = "duplicate member name";

fn classify(e: &serde_json::Error) -> JsonError {
    if e.to_string().starts_with(DUPLICATE) {
        JsonError::Duplicate
    } else {
        JsonError::Malformed
    }
}

impl<'a> Claims<'a> {
    /// Parse a payload: a JSON object, no duplicate member names at any depth.
    pub fn parse(payload: &'a [u8]) -> Result<Claims<'a>, JsonError> {
        let mut de = serde_json::Deserializer::from_str(utf8(payload)?);
        let claims = Claims::deserialize(&mut de).map_err(|e| classify(&e))?;
        de.end().map_err(|_| JsonError::Malformed)?;
        Ok(claims)
    }
}

/// Names of one object seen so far: a linear scan while small (a token's objects have a few
/// dozen members at most, kept without a heap allocation up to [`INLINE_NAMES`]), a hash set
/// beyond.
#[derive(Default)]
struct SeenNames<'a> {
    small: SmallVec<[Cow<'a, str>; INLINE_NAMES]>,
    large: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> SeenNames<'a> {
    fn insert<E: de::Error>(&mut self, name: Cow<'a, str>) -> Result<(), E> {
        let fresh = match &mut self.large {
            Some(set) => set.insert(name),
            None if self.small.len() < 64 => {
                let fresh = !self.small.contains(&name);
                self.small.push(name);
                fresh
            }
            None => {
                let mut set: HashSet<Cow<'a, str>> = self.small.drain(..).collect();
                let fresh = set.insert(name);
                self.large = Some(set);
                fresh
            }
        };
        if fresh {
            Ok(())
        } else {
            Err(E::custom(DUPLICATE))
        }
    }
}

/// A member name, borrowed when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value, skipped, refusing duplicate member names at every depth.
pub struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = SeenNames::default();
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            seen.insert(name)?;
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

/// Check that `json` is a JSON value without duplicate member names.
pub fn check_unique(json: &[u8]) -> Result<(), JsonError> {
    check_unique_str(utf8(json)?)
}

fn check_unique_str(json: &str) -> Result<(), JsonError> {
    let mut de = serde_json::Deserializer::from_str(json);
    Unique::deserialize(&mut de).map_err(|e| classify(&e))?;
    de.end().map_err(|_| JsonError::Malformed)
}

/// JSON text is UTF-8. Checked once for the whole text, then parsed as a `str`: serde_json
/// would check every string on its own, which costs more.
fn utf8(json: &[u8]) -> Result<&str, JsonError> {
    std::str::from_utf8(json).map_err(|_| JsonError::Malformed)
}

/// The members of a JSON object, names borrowed when they have no escapes, values unparsed,
/// in document order; `None` when `json` is not an object.
pub fn members(json: &str) -> Option<Members<'_>> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Members<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Members::new();
            while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
                members.push((name, map.next_value::<&'de RawValue>()?));
            }
            Ok(members)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let members = de.deserialize_map(V).ok()?;
    de.end().ok()?;
    Some(members)
}

/// An object's members: name and unparsed value.
pub type Members<'a> = SmallVec<[(Cow<'a, str>, &'a RawValue); INLINE_MEMBERS]>;

/// Members held without a heap allocation: `ak_proxy`, `user_attributes` and
/// `additionalHeaders` are small objects.
const INLINE_MEMBERS: usize = 4;

/// The string a JSON value is, borrowed when it has no escapes; `None` for another type.
pub fn string_value(raw: &RawValue) -> Option<Cow<'_, str>> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    match Text::deserialize(&mut de) {
        Ok(Text(Member::Value(text))) => Some(text),
        _ => None,
    }
}

/// A string member, or any other JSON type (skipped, duplicates refused).
struct Text<'a>(Member<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Member::Value(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Member::Value(Cow::Owned(v.to_owned()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(Member::Other))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(Member::Other))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(Member::Other))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(Member::Other))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(Member::Other))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                UniqueVisitor.visit_seq(seq).map(|_| Text(Member::Other))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                UniqueVisitor.visit_map(map).map(|_| Text(Member::Other))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list whose string members are kept; `None` for any other JSON type.
struct TextList<'a>(Option<TextValues<'a>>);

/// The strings of a list claim (`groups`, `entitlements`), held inline when there are few.
pub type TextValues<'a> = SmallVec<[Cow<'a, str>; 4]>;

impl<'de> Deserialize<'de> for TextList<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = TextValues::new();
                while let Some(Text(item)) = seq.next_element::<Text<'de>>()? {
                    if let Member::Value(text) = item {
                        out.push(text);
                    }
                }
                Ok(TextList(Some(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                UniqueVisitor.visit_map(map).map(|_| TextList(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TextList(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TextList(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TextList(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TextList(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TextList(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TextList(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A NumericDate, or `Other` for any other JSON type.
struct Time(Member<NumericDate>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Time(Member::Value(NumericDate::Int(i128::from(v)))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Time(Member::Value(NumericDate::Int(i128::from(v)))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Time(match v.is_finite() {
                    true => Member::Value(NumericDate::Float(v)),
                    false => Member::Other,
                }))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Time(Member::Other))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Time(Member::Other))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Time(Member::Other))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                UniqueVisitor.visit_seq(seq).map(|_| Time(Member::Other))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                UniqueVisitor.visit_map(map).map(|_| Time(Member::Other))
            }
        }
        d.deserialize_any(V)
    }
}

/// `aud`: a string or a list of strings.
struct Aud<'a>(Audience<'a>);

impl<'de> Deserialize<'de> for Aud<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Aud<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: smallvec::smallvec![Cow::Borrowed(v)],
                }))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: smallvec::smallvec![Cow::Owned(v.to_owned())],
                }))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let TextList(values) =
                    TextList::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Aud(Audience {
                    present: true,
                    values: values.unwrap_or_default(),
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                UniqueVisitor.visit_map(map).map(|_| {
                    Aud(Audience {
                        present: true,
                        values: TextValues::new(),
                    })
                })
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: TextValues::new(),
                }))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: TextValues::new(),
                }))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: TextValues::new(),
                }))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: TextValues::new(),
                }))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Aud(Audience {
                    present: true,
                    values: TextValues::new(),
                }))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object member kept unparsed, after checking it has no duplicate names.
fn raw_unique<'de, A: MapAccess<'de>>(map: &mut A) -> Result<&'de RawValue, A::Error> {
    let raw: &'de RawValue = map.next_value()?;
    check_unique_str(raw.get()).map_err(|_| de::Error::custom(DUPLICATE))?;
    Ok(raw)
}

/// The claims [`Claims`] reads, in the order of its `match`.
const READ: [&str; 16] = [
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "sub",
    "preferred_username",
    "email",
    "name",
    "sid",
    "jti",
    "nonce",
    "groups",
    "entitlements",
    "ak_proxy",
    "events",
];

impl<'de> Deserialize<'de> for Claims<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Claims<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut claims = Claims::default();
                // The claims read are told apart by their index in READ; every other name
                // goes to `seen`.
                let mut read = 0u32;
                let mut seen = SeenNames::default();
                while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
                    let Some(index) = READ.iter().position(|n| *n == name.as_ref()) else {
                        map.next_value::<Unique>()?;
                        seen.insert(name)?;
                        continue;
                    };
                    if read & (1 << index) != 0 {
                        return Err(de::Error::custom(DUPLICATE));
                    }
                    read |= 1 << index;
                    match index {
                        0 => claims.iss = map.next_value::<Text>()?.0,
                        1 => claims.aud = map.next_value::<Aud>()?.0,
                        2 => claims.exp = map.next_value::<Time>()?.0,
                        3 => claims.nbf = map.next_value::<Time>()?.0,
                        4 => claims.iat = map.next_value::<Time>()?.0,
                        5 => claims.sub = map.next_value::<Text>()?.0,
                        6 => claims.preferred_username = map.next_value::<Text>()?.0,
                        7 => claims.email = map.next_value::<Text>()?.0,
                        8 => claims.name = map.next_value::<Text>()?.0,
                        9 => claims.sid = map.next_value::<Text>()?.0,
                        10 => claims.jti = map.next_value::<Text>()?.0,
                        11 => claims.nonce = map.next_value::<Text>()?.0,
                        12 => claims.groups = map.next_value::<TextList>()?.0,
                        13 => claims.entitlements = map.next_value::<TextList>()?.0,
                        14 => claims.ak_proxy = Some(raw_unique(&mut map)?),
                        _ => claims.events = Some(raw_unique(&mut map)?),
                    }
                }
                Ok(claims)
            }
        }
        d.deserialize_map(V)
    }
}

/// The JOSE header members this module reads.
#[derive(Debug, Default)]
pub struct Header<'a> {
    pub alg: Member<Cow<'a, str>>,
    pub kid: Member<Cow<'a, str>>,
    pub crit: bool,
}

impl<'a> Header<'a> {
    pub fn parse(json: &'a [u8]) -> Result<Header<'a>, JsonError> {
        let mut de = serde_json::Deserializer::from_str(utf8(json)?);
        let header = Header::deserialize(&mut de).map_err(|e| classify(&e))?;
        de.end().map_err(|_| JsonError::Malformed)?;
        Ok(header)
    }
}

impl<'de> Deserialize<'de> for Header<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Header<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JOSE header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut header = Header::default();
                let mut seen = SeenNames::default();
                while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
                    match &*name {
                        "alg" => header.alg = map.next_value::<Text>()?.0,
                        "kid" => header.kid = map.next_value::<Text>()?.0,
                        "crit" => {
                            header.crit = true;
                            map.next_value::<Unique>()?;
                        }
                        _ => {
                            map.next_value::<Unique>()?;
                        }
                    }
                    seen.insert(name)?;
                }
                Ok(header)
            }
        }
        d.deserialize_map(V)
    }
}

/// `$authentik_claim_NAME` for the payload `payload` (already verified): strings raw, lists of
/// strings joined with `|`, anything else (numbers, `true`, `false`, `null`, objects, mixed
/// lists) as compact JSON text. `None` when the claim is absent.
pub fn render_claim(payload: &[u8], name: &str) -> Option<String> {
    struct Find<'n>(&'n str);
    impl<'de> DeserializeSeed<'de> for Find<'_> {
        type Value = Option<String>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(Name(key)) = map.next_key::<Name<'de>>()? {
                if key == self.0 {
                    let value: serde_json::Value = map.next_value()?;
                    found = Some(render_value(&value));
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    Find(name).deserialize(&mut de).ok().flatten()
}

fn render_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_members_it_needs() {
        let payload = br#"{"iss":"https://i/","aud":["a","b",3],"exp":10,"nbf":1.5,"iat":"x",
            "sub":"s","preferred_username":"u\u0041","groups":["g1",2,"g2"],"entitlements":"no",
            "ak_proxy":{"user_attributes":{"k":[1,{"a":1}]}},"other":{"deep":[{"x":null}]}}"#;
        let c = Claims::parse(payload).unwrap();
        assert_eq!(c.iss.value().map(|s| &**s), Some("https://i/"));
        assert_eq!(&c.aud.values[..], ["a", "b"]);
        assert_eq!(c.exp, Member::Value(NumericDate::Int(10)));
        assert_eq!(c.nbf, Member::Value(NumericDate::Float(1.5)));
        assert_eq!(c.iat, Member::Other);
        assert_eq!(c.preferred_username.value().map(|s| &**s), Some("uA"));
        assert!(matches!(c.preferred_username.value(), Some(Cow::Owned(_))));
        assert!(matches!(c.sub.value(), Some(Cow::Borrowed(_))));
        assert_eq!(c.groups.as_deref().unwrap(), ["g1", "g2"]);
        assert_eq!(c.entitlements, None);
        assert!(c.ak_proxy.is_some());
    }

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        for json in [
            &br#"{"sub":"a","sub":"b"}"#[..],
            br#"{"x":1,"x":1}"#,
            br#"{"ak_proxy":{"user_attributes":{"a":1,"a":2}}}"#,
            br#"{"deep":[{"a":{"b":1,"b":1}}]}"#,
            br#"{"groups":[{"a":1,"a":1}]}"#,
            br#"{"s\u0075b":"a","sub":"b"}"#,
        ] {
            assert_eq!(
                Claims::parse(json).unwrap_err(),
                JsonError::Duplicate,
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        let many: String = (0..40).map(|i| format!("\"k{i}\":1,")).collect();
        let json = format!("{{{many}\"k7\":2}}");
        assert_eq!(
            Claims::parse(json.as_bytes()).unwrap_err(),
            JsonError::Duplicate
        );
        assert_eq!(
            Header::parse(br#"{"alg":"HS256","alg":"none"}"#).unwrap_err(),
            JsonError::Duplicate
        );
        assert!(check_unique(br#"{"a":{"b":1},"c":{"b":1}}"#).is_ok());
    }

    #[test]
    fn not_an_object_is_malformed() {
        for json in [&b"[]"[..], b"1", b"\"x\"", b"{", b"{}x", b""] {
            assert_eq!(Claims::parse(json).unwrap_err(), JsonError::Malformed);
        }
    }

    #[test]
    fn header_members() {
        let h = Header::parse(br#"{"alg":"RS256","kid":"k","crit":["b64"],"jwk":{}}"#).unwrap();
        assert_eq!(h.alg.value().map(|s| &**s), Some("RS256"));
        assert_eq!(h.kid.value().map(|s| &**s), Some("k"));
        assert!(h.crit);
        let h = Header::parse(br#"{"alg":1,"kid":null}"#).unwrap();
        assert_eq!(h.alg, Member::Other);
        assert_eq!(h.kid, Member::Other);
    }

    #[test]
    fn claims_render_like_nginx_plus_variables() {
        let payload = br#"{"s":"x","l":["a","b"],"m":[1,"x"],"t":true,"f":false,"n":null,
            "i":7,"d":1.5,"o":{"k":"v"},"e":[]}"#;
        let r = |name: &str| render_claim(payload, name);
        assert_eq!(r("s").as_deref(), Some("x"));
        assert_eq!(r("l").as_deref(), Some("a|b"));
        assert_eq!(r("m").as_deref(), Some("[1,\"x\"]"));
        assert_eq!(r("t").as_deref(), Some("true"));
        assert_eq!(r("f").as_deref(), Some("false"));
        assert_eq!(r("n").as_deref(), Some("null"));
        assert_eq!(r("i").as_deref(), Some("7"));
        assert_eq!(r("d").as_deref(), Some("1.5"));
        assert_eq!(r("o").as_deref(), Some("{\"k\":\"v\"}"));
        assert_eq!(r("e").as_deref(), Some(""));
        assert_eq!(r("absent"), None);
    }

    #[test]
    fn numeric_dates() {
        let exp = NumericDate::Int(100);
        assert!(exp.after(99, 0));
        assert!(!exp.after(100, 0));
        assert!(exp.after(100, 1));
        let exp = NumericDate::Float(100.5);
        assert!(exp.after(100, 0));
        assert!(!exp.after(101, 0));
        assert!(NumericDate::Int(61).exceeds(0, 60));
        assert!(!NumericDate::Int(60).exceeds(0, 60));
        assert!(NumericDate::Int(i128::from(u64::MAX)).after(u64::MAX, u64::MAX));
        assert_eq!(NumericDate::Float(5.9).seconds(), 5);
        assert_eq!(NumericDate::Int(-5).seconds(), 0);
    }
}
