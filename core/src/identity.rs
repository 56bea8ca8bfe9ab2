//! A verified user: every header value built once from the token's claims (authentik §5).

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::sanitize::{is_authentik_header, is_header_name, sanitize};
use crate::token::Claims;

/// authentik's "Set HTTP-Basic Authentication" attribute names.
#[derive(Debug, Default, Clone)]
pub struct BasicAuthAttributes {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// The identity of one verified token. Values are sanitised: no control bytes.
#[derive(Debug)]
pub struct Identity {
    pub username: String,
    pub groups: String,
    pub entitlements: String,
    pub email: String,
    pub name: String,
    pub uid: String,
    pub jwt: String,
    /// Unix time after which the token is no longer accepted (`exp` plus leeway).
    pub valid_until: u64,
    /// `ak_proxy.user_attributes.additionalHeaders`, with valid names only.
    pub additional_headers: Vec<(String, String)>,
    /// `Basic …` for the upstream's `Authorization`, when configured and available.
    pub basic_authorization: Option<String>,
    group_names: Vec<String>,
    claims: RenderedClaims,
}

impl Identity {
    pub fn from_claims(
        claims: Claims,
        raw_token: &[u8],
        valid_until: u64,
        basic: &BasicAuthAttributes,
    ) -> Identity {
        let claims = claims.0;
        let group_names = string_list(claims.get("groups"));
        let user_attributes = claims
            .get("ak_proxy")
            .and_then(|p| p.get("user_attributes"))
            .and_then(Value::as_object);
        let email = string_claim(&claims, "email");
        Identity {
            username: string_claim(&claims, "preferred_username"),
            // The names are sanitised already, and `|` is no control byte.
            groups: group_names.join("|"),
            entitlements: string_list(claims.get("entitlements")).join("|"),
            name: string_claim(&claims, "name"),
            uid: string_claim(&claims, "sub"),
            jwt: token_text(raw_token),
            valid_until,
            additional_headers: user_attributes.map(additional_headers).unwrap_or_default(),
            basic_authorization: user_attributes
                .and_then(|attrs| basic_authorization(attrs, basic, &email)),
            email,
            group_names,
            claims: RenderedClaims::new(&claims),
        }
    }

    pub fn group_names(&self) -> &[String] {
        &self.group_names
    }

    /// `$authentik_claim_NAME`: strings raw, arrays of strings joined with `|`, anything else
    /// as compact JSON; `None` when the claim is absent.
    pub fn claim(&self, name: &str) -> Option<String> {
        self.claim_str(name).map(str::to_owned)
    }

    /// [`Identity::claim`] without a copy: every claim is rendered once, when the identity is
    /// built, so a variable only points at it.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name)
    }
}

/// Every top-level claim rendered once for `$authentik_claim_NAME`: the names and values in one
/// buffer, and their spans sorted by name. Two allocations instead of a JSON tree (a
/// `Map<String, Value>` of an authentik token takes about four times the bytes).
#[derive(Debug)]
struct RenderedClaims {
    text: String,
    /// (name start, value start, value end) in `text`; a name ends where its value starts.
    spans: Box<[(usize, usize, usize)]>,
}

impl RenderedClaims {
    fn new(claims: &Map<String, Value>) -> RenderedClaims {
        let estimate: usize = claims
            .iter()
            .map(|(name, value)| name.len() + value.as_str().map_or(16, str::len))
            .sum();
        let mut text = String::with_capacity(estimate + 64);
        let mut spans = Vec::with_capacity(claims.len());
        for (name, value) in claims {
            let start = text.len();
            text.push_str(name);
            let value_start = text.len();
            render_claim(&mut text, value);
            spans.push((start, value_start, text.len()));
        }
        // serde_json's map iterates in name order already; sort only if that ever changes.
        let name = |span: &(usize, usize, usize)| &text[span.0..span.1];
        if !spans.is_sorted_by(|a, b| name(a) <= name(b)) {
            spans.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        }
        text.shrink_to_fit();
        RenderedClaims {
            text,
            spans: spans.into_boxed_slice(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        let text = &self.text;
        let index = self
            .spans
            .binary_search_by(|&(start, value, _)| text[start..value].cmp(name))
            .ok()?;
        let (_, value, end) = self.spans[index];
        Some(&text[value..end])
    }
}

/// The raw token as a header value. A verified token is base64url parts joined by dots, so
/// this is one word-at-a-time check and one copy; anything else goes the general way.
fn token_text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(text) if surely_clean(raw) => text.to_owned(),
        _ => sanitize(&String::from_utf8_lossy(raw)).into_owned(),
    }
}

/// [`sanitize`], with a branch-free check first: values are nearly always clean.
fn clean(value: &str) -> Cow<'_, str> {
    if surely_clean(value.as_bytes()) {
        Cow::Borrowed(value)
    } else {
        sanitize(value)
    }
}

/// True when `bytes` has no byte below 0x20 and no DEL, tested eight bytes at a time without
/// branches. TAB is below 0x20 too, so a value with a TAB is left to `sanitize`, which keeps it.
fn surely_clean(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const SPACE: u64 = LO * 0x20;
    const DEL: u64 = LO * 0x7f;
    let mut words = bytes.chunks_exact(8);
    let mut flags = 0u64;
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // Some byte below 0x20; some byte equal to DEL (a zero byte of w ^ DEL).
        flags |= (w.wrapping_sub(SPACE) & !w) | ((w ^ DEL).wrapping_sub(LO) & !(w ^ DEL));
    }
    flags & HI == 0 && words.remainder().iter().all(|&b| b >= 0x20 && b != 0x7f)
}

/// Append a claim as `$authentik_claim_NAME` shows it: strings raw, arrays of strings joined
/// with `|`, anything else as compact JSON; sanitised.
fn render_claim(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(&clean(s)),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            for (i, item) in items.iter().filter_map(Value::as_str).enumerate() {
                if i > 0 {
                    out.push('|');
                }
                out.push_str(&clean(item));
            }
        }
        // The serializer itself, not `Display` (which goes through `fmt::Write`); a `Value`
        // always serializes.
        other => out.push_str(&clean(&serde_json::to_string(other).unwrap_or_default())),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> String {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(|s| clean(s).into_owned())
        .unwrap_or_default()
}

/// The string members of a JSON array claim; authentik's `[]string` fields.
fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| clean(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// As authentik's Rust outpost: strings raw, null empty, anything else as JSON text. Names
/// that are not valid header names, contain `_`, or would shadow an `X-authentik-*` header are
/// dropped.
fn additional_headers(user_attributes: &Map<String, Value>) -> Vec<(String, String)> {
    let Some(headers) = user_attributes
        .get("additionalHeaders")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    headers
        .iter()
        .filter(|(name, _)| is_header_name(name) && !is_authentik_header(name.as_bytes()))
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => clean(s).into_owned(),
                Value::Null => String::new(),
                other => clean(&other.to_string()).into_owned(),
            };
            (name.clone(), text)
        })
        .collect()
}

/// authentik `setAuthorizationHeader`: the password attribute must be a non-empty string; the
/// user attribute falls back to the email.
fn basic_authorization(
    user_attributes: &Map<String, Value>,
    basic: &BasicAuthAttributes,
    email: &str,
) -> Option<String> {
    let password = user_attributes
        .get(basic.password.as_deref()?)
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())?;
    let user = basic
        .user
        .as_deref()
        .and_then(|attr| user_attributes.get(attr))
        .and_then(Value::as_str)
        .unwrap_or(email);
    let credentials = STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {credentials}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identity(payload: Value, basic: &BasicAuthAttributes) -> Identity {
        let Value::Object(map) = payload else {
            panic!("test payload must be an object")
        };
        Identity::from_claims(Claims(map), b"aaa.bbb.ccc", 100, basic)
    }

    fn authentik_payload() -> Value {
        json!({
            "sub": "f00d", "preferred_username": "akadmin", "email": "root@example.test",
            "name": "authentik Default Admin", "groups": ["authentik Admins", "users"],
            "entitlements": ["app-admin", "billing"], "is_admin": 1,
            "ak_proxy": {"user_attributes": {
                "additionalHeaders": {"X-Foo": "bar", "X-Num": 7, "X-Null": null,
                    "Bad_Name": "x", "X-authentik-username": "evil", "X-Ctl": "a\r\nb"},
                "basic_user": "svc", "basic_password": "s3cret"}}
        })
    }

    #[test]
    fn header_values_match_authentik() {
        let id = identity(authentik_payload(), &BasicAuthAttributes::default());
        assert_eq!(id.username, "akadmin");
        assert_eq!(id.groups, "authentik Admins|users");
        assert_eq!(id.entitlements, "app-admin|billing");
        assert_eq!(id.email, "root@example.test");
        assert_eq!(id.name, "authentik Default Admin");
        assert_eq!(id.uid, "f00d");
        assert_eq!(id.jwt, "aaa.bbb.ccc");
        assert_eq!(id.basic_authorization, None);
        let mut headers = id.additional_headers.clone();
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
    }

    #[test]
    fn missing_claims_are_empty() {
        let id = identity(
            json!({"sub": "x", "groups": "not-a-list"}),
            &Default::default(),
        );
        assert_eq!(id.username, "");
        assert_eq!(id.groups, "");
        assert!(id.group_names().is_empty());
        assert!(id.additional_headers.is_empty());
    }

    #[test]
    fn basic_authorization_follows_authentik() {
        let attrs = BasicAuthAttributes {
            user: Some("basic_user".into()),
            password: Some("basic_password".into()),
        };
        let id = identity(authentik_payload(), &attrs);
        assert_eq!(
            id.basic_authorization.as_deref(),
            Some("Basic c3ZjOnMzY3JldA==")
        );

        let email_fallback = BasicAuthAttributes {
            user: Some("nope".into()),
            ..attrs.clone()
        };
        let id = identity(authentik_payload(), &email_fallback);
        let expected = format!("Basic {}", STANDARD.encode("root@example.test:s3cret"));
        assert_eq!(id.basic_authorization, Some(expected));

        let no_password = BasicAuthAttributes {
            password: Some("missing".into()),
            ..attrs
        };
        assert_eq!(
            identity(authentik_payload(), &no_password).basic_authorization,
            None
        );
    }

    #[test]
    fn claims_render_for_variables() {
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
        assert_eq!(id.claim_str("sub"), Some("f00d"));
        assert_eq!(id.claim_str("entitlements"), Some("app-admin|billing"));
        assert_eq!(id.claim_str("email_"), None);
        assert_eq!(id.claim_str(""), None);
        let mixed = identity(
            json!({"a": [1, "x"], "b": null, "c": true, "d": 1.5, "e": ["p\nq", "r"], "f": {}}),
            &Default::default(),
        );
        assert_eq!(mixed.claim_str("a"), Some("[1,\"x\"]"));
        assert_eq!(mixed.claim_str("b"), Some("null"));
        assert_eq!(mixed.claim_str("c"), Some("true"));
        assert_eq!(mixed.claim_str("d"), Some("1.5"));
        assert_eq!(mixed.claim_str("e"), Some("p q|r"));
        assert_eq!(mixed.claim_str("f"), Some("{}"));
    }

    #[test]
    fn token_text_matches_sanitize() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"aaa.bbb.ccc".to_vec(),
            b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl".to_vec(),
            "zoë.tab\there".as_bytes().to_vec(),
            vec![0xff, b'a', 0xfe],
        ];
        for byte in 0u8..=0xff {
            for at in [0usize, 7, 8, 15, 20] {
                let mut raw = vec![b'x'; 21];
                raw[at] = byte;
                samples.push(raw);
            }
        }
        for raw in samples {
            let expected = sanitize(&String::from_utf8_lossy(&raw)).into_owned();
            assert_eq!(token_text(&raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn control_bytes_never_survive() {
        let id = identity(
            json!({"sub": "a\nb", "name": "x\r\nX-Injected: 1", "groups": ["g\0h"]}),
            &Default::default(),
        );
        assert_eq!(id.uid, "a b");
        assert_eq!(id.name, "x  X-Injected: 1");
        assert_eq!(id.groups, "g h");
        assert_eq!(id.group_names(), ["g h"]);
    }
}
