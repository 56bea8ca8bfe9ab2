//! A verified user: every header value built once from the token's claims (docs/architecture.md §3).

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::value::RawValue;
use serde_json::Value;
use smallvec::SmallVec;

use crate::claims::{members, render_claim, string_value, Claims, Members};
use crate::fields::Field;
use crate::headers::{refused_additional_header, DynamicName};
use crate::revocation::Marks;
use crate::sanitize::{clean, is_header_name, names_one_user, token_text};
use crate::token::payload_of;

/// authentik's "Set HTTP-Basic Authentication" attribute names.
#[derive(Debug, Default, Clone)]
pub struct BasicAuthAttributes {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Why a verified token still cannot be an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// A claim that names the user has a control character or surrounding whitespace, so
    /// that upstreams which trim or drop them would see another user.
    AmbiguousName(&'static str),
}

impl IdentityError {
    pub fn reason(self) -> &'static str {
        match self {
            IdentityError::AmbiguousName(_) => {
                "a claim naming the user has control characters or surrounding whitespace"
            }
        }
    }
}

/// A `$authentik_claim_*` rendered once: the claim's name and its value, if present.
type Rendered = (Box<str>, Option<Rc<str>>);

/// `additionalHeaders` kept (name, value), and the names refused.
type AdditionalHeaders = (Vec<(DynamicName, Box<str>)>, Vec<Box<str>>);

/// Where one value lies in an identity's text.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// An identity's values, written one after another into one buffer: one allocation for all.
struct Text(String);

impl Text {
    fn push(&mut self, value: &str) -> Span {
        let start = self.0.len() as u32;
        self.0.push_str(value);
        Span {
            start,
            end: self.0.len() as u32,
        }
    }

    /// `values` joined with `|`, and the span of each of them.
    fn push_joined<'v>(
        &mut self,
        values: impl Iterator<Item = &'v str>,
        mut each: impl FnMut(Span),
    ) -> Span {
        let start = self.0.len() as u32;
        for (index, value) in values.enumerate() {
            if index > 0 {
                self.0.push('|');
            }
            each(self.push(value));
        }
        Span {
            start,
            end: self.0.len() as u32,
        }
    }
}

/// The identity of one verified token. Values are sanitised: no control bytes.
#[derive(Debug)]
pub struct Identity {
    text: String,
    username: Span,
    groups: Span,
    entitlements: Span,
    email: Span,
    name: Span,
    uid: Span,
    jwt: Span,
    sid: Option<Span>,
    group_names: SmallVec<[Span; INLINE_GROUPS]>,
    /// Unix time after which the token is no longer accepted (`exp` plus leeway).
    pub valid_until: u64,
    /// The token's `exp`.
    pub expires: u64,
    /// The token's `iat`, when present.
    pub issued: Option<u64>,
    /// Its keys in the revocation list, computed on first use by [`Identity::marks`].
    marks: OnceCell<Marks>,
    additional: Box<[(DynamicName, Box<str>)]>,
    refused: Box<[Box<str>]>,
    basic: Option<Box<str>>,
    rendered: RefCell<Vec<Rendered>>,
}

/// Group names held without another allocation.
const INLINE_GROUPS: usize = 4;

impl Identity {
    /// Build the identity of a verified token from its claims. `$authentik_claim_*` values are
    /// read later from the token's own payload.
    pub fn from_claims(
        claims: &Claims<'_>,
        raw_token: &[u8],
        valid_until: u64,
        basic: &BasicAuthAttributes,
    ) -> Result<Identity, IdentityError> {
        fn text<'c>(member: &'c crate::claims::Member<std::borrow::Cow<'_, str>>) -> &'c str {
            member.value().map(|s| &**s).unwrap_or("")
        }
        let username = text(&claims.preferred_username);
        let uid = text(&claims.sub);
        let email = text(&claims.email);
        for (claim, value) in [
            ("preferred_username", username),
            ("sub", uid),
            ("email", email),
        ] {
            if !names_one_user(value) {
                return Err(IdentityError::AmbiguousName(claim));
            }
        }
        let groups = claims.groups.as_deref().unwrap_or_default();
        if !groups.iter().all(|g| names_one_user(g)) {
            return Err(IdentityError::AmbiguousName("groups"));
        }
        let entitlements: SmallVec<[Cow<'_, str>; INLINE_GROUPS]> = claims
            .entitlements
            .iter()
            .flatten()
            .map(|e| clean(e))
            .collect();
        let name = clean(text(&claims.name));
        let jwt = token_text(raw_token);
        let sid = claims.sid.value().map(|s| &**s);
        let joined =
            |values: &mut dyn Iterator<Item = usize>| values.fold(0, |sum, len| sum + len + 1);
        let mut buffer = Text(String::with_capacity(
            username.len()
                + uid.len()
                + email.len()
                + name.len()
                + jwt.len()
                + sid.map_or(0, str::len)
                + joined(&mut groups.iter().map(|g| g.len()))
                + joined(&mut entitlements.iter().map(|e| e.len())),
        ));
        let mut group_names = SmallVec::new();
        let groups_span =
            buffer.push_joined(groups.iter().map(|g| &**g), |span| group_names.push(span));
        let user_attributes = claims
            .ak_proxy
            .and_then(|proxy| members(proxy.get()))
            .and_then(|proxy| member(&proxy, "user_attributes"))
            .and_then(|attributes| members(attributes.get()));
        let (additional, refused) = user_attributes
            .as_ref()
            .map(additional_headers)
            .unwrap_or_default();
        let basic = user_attributes
            .as_ref()
            .and_then(|attrs| basic_authorization(attrs, basic, email));
        Ok(Identity {
            username: buffer.push(username),
            groups: groups_span,
            entitlements: buffer.push_joined(entitlements.iter().map(|e| &**e), |_| {}),
            email: buffer.push(email),
            name: buffer.push(&name),
            uid: buffer.push(uid),
            jwt: buffer.push(&jwt),
            sid: sid.map(|sid| buffer.push(sid)),
            text: buffer.0,
            group_names,
            valid_until,
            expires: claims.exp.value().map_or(0, |t| t.seconds()),
            issued: claims.iat.value().map(|t| t.seconds()),
            marks: OnceCell::new(),
            additional: additional.into(),
            refused: refused.into(),
            basic: basic.map(Into::into),
            rendered: RefCell::new(Vec::new()),
        })
    }

    fn get(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }

    /// The token's `sid` (authentik's hashed session key), when present.
    pub fn sid(&self) -> Option<&str> {
        self.sid.map(|span| self.get(span))
    }

    /// Its keys in the revocation list of `provider` (the one that verified it), computed
    /// once: only a list with live entries asks.
    pub fn marks(&self, provider: &str) -> &Marks {
        self.marks
            .get_or_init(|| Marks::new(provider, self.sid(), self.subject(), self.issued))
    }

    /// The value of an identity field; `None` for the provider's meta fields.
    pub fn field(&self, field: Field) -> Option<&str> {
        let span = match field {
            Field::Username => self.username,
            Field::Groups => self.groups,
            Field::Entitlements => self.entitlements,
            Field::Email => self.email,
            Field::Name => self.name,
            Field::Uid => self.uid,
            Field::Jwt => self.jwt,
            _ => return None,
        };
        Some(self.get(span))
    }

    pub fn username(&self) -> &str {
        self.get(self.username)
    }

    pub fn subject(&self) -> &str {
        self.get(self.uid)
    }

    /// Each group name, in the token's order.
    pub fn group_names(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.group_names.iter().map(|&span| self.get(span))
    }

    /// `ak_proxy.user_attributes.additionalHeaders` that may be set upstream.
    pub fn additional_headers(&self) -> &[(DynamicName, Box<str>)] {
        &self.additional
    }

    /// `additionalHeaders` names refused because they would change how the request is read.
    pub fn refused_headers(&self) -> &[Box<str>] {
        &self.refused
    }

    /// `Basic …` for the upstream's `Authorization`, when configured and available.
    pub fn basic_authorization(&self) -> Option<&str> {
        self.basic.as_deref()
    }

    /// `$authentik_claim_NAME`, rendered on its first use for this identity (see
    /// [`render_claim`]) and sanitised.
    pub fn claim(&self, name: &str) -> Option<Rc<str>> {
        let mut rendered = self.rendered.borrow_mut();
        if let Some((_, value)) = rendered.iter().find(|(n, _)| &**n == name) {
            return value.clone();
        }
        let value: Option<Rc<str>> = payload_of(self.get(self.jwt).as_bytes())
            .and_then(|payload| render_claim(&payload, name))
            .map(|v| Rc::from(clean(&v).as_ref()));
        rendered.push((name.into(), value.clone()));
        value
    }

    /// Heap bytes of the group-name spans, when there are too many to hold inline.
    fn spilled_group_names(&self) -> usize {
        if self.group_names.spilled() {
            self.group_names.capacity() * std::mem::size_of::<Span>()
        } else {
            0
        }
    }

    /// Heap bytes this identity holds, for the cache's byte bound.
    pub fn cost(&self) -> usize {
        let additional: usize = self
            .additional
            .iter()
            .map(|(n, v)| n.name.len() + n.lowercase.len() + v.len() + 64)
            .sum();
        std::mem::size_of::<Identity>()
            + self.text.capacity()
            + self.spilled_group_names()
            + additional
            + self.basic.as_deref().map_or(0, str::len)
            + 256
    }
}

/// As authentik's Rust outpost: strings raw, null empty, anything else as JSON text. Names
/// that are not header names or contain `_` are dropped; names that would change how the
/// request is read are refused (and reported).
fn additional_headers(attrs: &Members<'_>) -> AdditionalHeaders {
    let Some(mut headers) = member(attrs, "additionalHeaders").and_then(|h| members(h.get()))
    else {
        return Default::default();
    };
    // In name order, as authentik's outpost reads them from a sorted map.
    headers.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    let mut kept = Vec::with_capacity(headers.len());
    let mut refused = Vec::new();
    for (name, value) in &headers {
        if !is_header_name(name) {
            continue;
        }
        if refused_additional_header(name) {
            refused.push(clean(name).into());
            continue;
        }
        let text: Box<str> = match string_value(value) {
            Some(s) => clean(&s).into(),
            None => match serde_json::from_str::<Value>(value.get()) {
                Ok(Value::Null) | Err(_) => "".into(),
                Ok(other) => clean(&other.to_string()).into(),
            },
        };
        kept.push((DynamicName::new(name), text));
    }
    (kept, refused)
}

/// The value of the member `name` (names are unique: the claims parser refuses duplicates).
fn member<'a>(members: &Members<'a>, name: &str) -> Option<&'a RawValue> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| *value)
}

/// authentik `setAuthorizationHeader`: the password attribute must be a non-empty string; the
/// user attribute falls back to the email.
fn basic_authorization(
    attrs: &Members<'_>,
    basic: &BasicAuthAttributes,
    email: &str,
) -> Option<String> {
    let password = member(attrs, basic.password.as_deref()?)
        .and_then(string_value)
        .filter(|p| !p.is_empty())?;
    let user = basic
        .user
        .as_deref()
        .and_then(|attr| member(attrs, attr))
        .and_then(string_value);
    let user = user.as_deref().unwrap_or(email);
    Some(format!(
        "Basic {}",
        STANDARD.encode(format!("{user}:{password}"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn build(payload: Value, basic: &BasicAuthAttributes) -> Result<Identity, IdentityError> {
        let bytes = serde_json::to_vec(&payload).unwrap();
        let claims = Claims::parse(&bytes).unwrap();
        let token = format!("aaa.{}.ccc", URL_SAFE_NO_PAD.encode(&bytes));
        Identity::from_claims(&claims, token.as_bytes(), 100, basic)
    }

    fn identity(payload: Value, basic: &BasicAuthAttributes) -> Identity {
        build(payload, basic).unwrap()
    }

    fn authentik_payload() -> Value {
        json!({
            "sub": "f00d", "preferred_username": "akadmin", "email": "root@example.test",
            "name": "authentik Default Admin", "groups": ["authentik Admins", "users"],
            "entitlements": ["app-admin", "billing"], "is_admin": 1, "exp": 50, "iat": 10,
            "sid": "s1",
            "ak_proxy": {"user_attributes": {
                "additionalHeaders": {"X-Foo": "bar", "X-Num": 7, "X-Null": null,
                    "Bad_Name": "x", "X-authentik-username": "evil", "X-Ctl": "a\r\nb",
                    "Host": "evil.example", "X-Forwarded-For": "1.2.3.4"},
                "basic_user": "svc", "basic_password": "s3cret"}}
        })
    }

    #[test]
    fn header_values_match_authentik() {
        let id = identity(authentik_payload(), &BasicAuthAttributes::default());
        assert_eq!(id.field(Field::Username), Some("akadmin"));
        assert_eq!(id.field(Field::Groups), Some("authentik Admins|users"));
        assert_eq!(id.field(Field::Entitlements), Some("app-admin|billing"));
        assert_eq!(id.field(Field::Email), Some("root@example.test"));
        assert_eq!(id.field(Field::Name), Some("authentik Default Admin"));
        assert_eq!(id.field(Field::Uid), Some("f00d"));
        let jwt = id.field(Field::Jwt).unwrap();
        assert!(jwt.starts_with("aaa.eyJ") && jwt.ends_with(".ccc"), "{jwt}");
        assert_eq!(id.field(Field::MetaApp), None);
        assert_eq!(
            (id.expires, id.issued, id.sid()),
            (50, Some(10), Some("s1"))
        );
        assert_eq!(id.basic_authorization(), None);
        let mut headers: Vec<(String, String)> = id
            .additional_headers()
            .iter()
            .map(|(n, v)| (n.name.to_string(), v.to_string()))
            .collect();
        headers.sort();
        assert_eq!(
            headers,
            [
                ("X-Ctl".to_string(), "a  b".to_string()),
                ("X-Foo".to_string(), "bar".to_string()),
                ("X-Null".to_string(), String::new()),
                ("X-Num".to_string(), "7".to_string()),
            ]
        );
        let mut refused: Vec<&str> = id.refused_headers().iter().map(|s| &**s).collect();
        refused.sort();
        assert_eq!(refused, ["Host", "X-Forwarded-For", "X-authentik-username"]);
    }

    #[test]
    fn missing_claims_are_empty() {
        let id = identity(
            json!({"sub": "x", "groups": "not-a-list"}),
            &Default::default(),
        );
        assert_eq!(id.username(), "");
        assert_eq!(id.field(Field::Groups), Some(""));
        assert_eq!(id.group_names().len(), 0);
        assert!(id.additional_headers().is_empty());
    }

    #[test]
    fn basic_authorization_follows_authentik() {
        let attrs = BasicAuthAttributes {
            user: Some("basic_user".into()),
            password: Some("basic_password".into()),
        };
        let id = identity(authentik_payload(), &attrs);
        assert_eq!(id.basic_authorization(), Some("Basic c3ZjOnMzY3JldA=="));
        let email_fallback = BasicAuthAttributes {
            user: Some("nope".into()),
            ..attrs.clone()
        };
        let id = identity(authentik_payload(), &email_fallback);
        let expected = format!("Basic {}", STANDARD.encode("root@example.test:s3cret"));
        assert_eq!(id.basic_authorization(), Some(expected.as_str()));
        let no_password = BasicAuthAttributes {
            password: Some("missing".into()),
            ..attrs
        };
        assert_eq!(
            identity(authentik_payload(), &no_password).basic_authorization(),
            None
        );
    }

    #[test]
    fn claims_render_lazily_for_variables() {
        let id = identity(authentik_payload(), &Default::default());
        assert_eq!(id.claim("preferred_username").as_deref(), Some("akadmin"));
        assert_eq!(
            id.claim("groups").as_deref(),
            Some("authentik Admins|users")
        );
        assert_eq!(id.claim("is_admin").as_deref(), Some("1"));
        assert!(id
            .claim("ak_proxy")
            .unwrap()
            .starts_with("{\"user_attributes\""));
        assert_eq!(id.claim("absent"), None);
        assert_eq!(id.claim("absent"), None);
        let mixed = identity(
            json!({"a": [1, "x"], "b": null, "c": true, "d": 1.5, "e": ["p\nq", "r"], "f": {}}),
            &Default::default(),
        );
        assert_eq!(mixed.claim("a").as_deref(), Some("[1,\"x\"]"));
        assert_eq!(mixed.claim("b").as_deref(), Some("null"));
        assert_eq!(mixed.claim("c").as_deref(), Some("true"));
        assert_eq!(mixed.claim("d").as_deref(), Some("1.5"));
        assert_eq!(mixed.claim("e").as_deref(), Some("p q|r"));
        assert_eq!(mixed.claim("f").as_deref(), Some("{}"));
    }

    #[test]
    fn names_that_could_read_as_another_user_are_refused() {
        for (claim, value) in [
            ("preferred_username", json!("akadmin\r\n")),
            ("preferred_username", json!(" akadmin")),
            ("preferred_username", json!("akadmin\t")),
            ("preferred_username", json!("akadmin\u{0}")),
            ("sub", json!("f00d ")),
            ("email", json!("\u{85}root@example.test")),
            ("groups", json!(["admins", "users\n"])),
        ] {
            let mut payload = authentik_payload();
            payload[claim] = value.clone();
            assert!(
                build(payload, &Default::default()).is_err(),
                "{claim} {value}"
            );
        }
    }

    #[test]
    fn display_names_keep_the_replacement() {
        let id = identity(
            json!({"sub": "a", "name": "x\r\nX-Injected: 1"}),
            &Default::default(),
        );
        assert_eq!(id.field(Field::Name), Some("x  X-Injected: 1"));
    }
}
