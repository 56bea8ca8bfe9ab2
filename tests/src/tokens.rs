//! authentik-shaped tokens and the key fixtures.
//!
//! A Proxy Provider signs HS256 with its client secret and no `kid`; the claims follow
//! authentik's OAuth2 provider (access token: id_token claims plus `azp`, `uid`, `scope`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// `iss` of every token and `issuer` of the standard provider.
pub const ISSUER: &str = "https://authentik.company/application/o/app/";
/// `client_id` of the standard provider, and the tokens' `aud` / `azp`.
pub const CLIENT_ID: &str = "vMA9a8ZpHxerNIEzVACsbDMToHVSM9Qle10XqxWl";
/// HS256 key of the standard provider (authentik: 128 random characters).
pub const CLIENT_SECRET: &str = "ZhcPOCahRS4HjUpr2D0JpSHHZzvLtTCfA2ZipuPTtxInyPvCW1s3wfbrGuNUMwLmA6cI73EGgAu34J3GPOJsoSpLREeb3xISTlVQfQiUS2lks5E3gkpsnO2ig6y9owZN";
/// `cookie_secret` of the standard provider (48 bytes).
pub const COOKIE_SECRET: &str = "KCC6C5C86LNKyJZQS5L9UlSbirUrqhnSywAqBxqfUxsikVpd";
/// `external_host` of the standard provider.
pub const EXTERNAL_HOST: &str = "http://app.company";
/// `sub` of akadmin: authentik's default hashed user id (64 hex).
pub const SUB: &str = "3944a1807a752510bdd77383390dc5f4c7802d97ca77464c1d5416e90dbb6dfe";
/// `{issuer}jwks/`, the value of `X-authentik-meta-jwks`.
pub const META_JWKS: &str = "https://authentik.company/application/o/app/jwks/";

/// The JWKS fixture: the public halves of [`AsymKey::Rsa`], [`AsymKey::Ec`], [`AsymKey::Ed`].
pub const JWKS: &str = include_str!("../fixtures/keys.jwks");
/// Public key of [`AsymKey::Rsa`] as PEM (for algorithm-confusion tokens).
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/rsa.pub.pem");

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The claims of akadmin's access token, valid for an hour.
pub fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "sub": SUB,
        "aud": CLIENT_ID,
        "exp": now + 3600,
        "iat": now - 5,
        "auth_time": now - 120,
        "acr": "goauthentik.io/providers/oauth2/default",
        "amr": ["pwd"],
        "sid": "f427888b284cd64852137a3413bace07b6b039695e91a900408fd5fa62296620",
        "jti": "25a1f2564487bd68fca3782200da2368",
        "azp": CLIENT_ID,
        "uid": "4b5124fae70fd93478b3be6afc361eb8",
        "scope": "openid profile email entitlements ak_proxy",
        "email": "admin@authentik.company",
        "email_verified": false,
        "name": "authentik Default Admin",
        "given_name": "authentik Default Admin",
        "preferred_username": "akadmin",
        "nickname": "akadmin",
        "groups": ["authentik Admins", "users"],
        "entitlements": ["app-admin", "billing"],
        "ak_proxy": {
            "user_attributes": {
                "additionalHeaders": {"X-Foo": "bar", "X-Team": "platform"},
                "basic_user": "akadmin",
                "basic_password": "s3cret"
            },
            "is_superuser": true
        }
    })
}

/// [`claims`] with some top-level claims replaced (or removed, with `Value::Null`).
pub fn claims_with(changes: &[(&str, Value)]) -> Value {
    let mut c = claims();
    for (k, v) in changes {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(*k);
        } else {
            c[*k] = v.clone();
        }
    }
    c
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    encode(header, claims, key).expect("sign token")
}

/// HS256 with the standard provider's client secret, no `kid` (what authentik issues).
pub fn hs256(claims: &Value) -> String {
    hs256_with(claims, CLIENT_SECRET.as_bytes())
}

/// HS256 with any secret.
pub fn hs256_with(claims: &Value, secret: &[u8]) -> String {
    sign(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// Akadmin's default token, signed HS256.
pub fn token() -> String {
    hs256(&claims())
}

/// Asymmetric key fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsymKey {
    /// RSA 2048, in [`JWKS`] as RS256.
    Rsa,
    /// RSA 2048, not in [`JWKS`].
    RsaOther,
    /// P-256, in [`JWKS`] as ES256.
    Ec,
    /// Ed25519, in [`JWKS`] as EdDSA.
    Ed,
}

impl AsymKey {
    fn encoding_key(self) -> EncodingKey {
        let r = match self {
            AsymKey::Rsa => EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa.pem")),
            AsymKey::RsaOther => {
                EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa-other.pem"))
            }
            AsymKey::Ec => EncodingKey::from_ec_pem(include_bytes!("../fixtures/ec.pem")),
            AsymKey::Ed => EncodingKey::from_ed_pem(include_bytes!("../fixtures/ed25519.pem")),
        };
        r.expect("fixture key")
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            AsymKey::Rsa | AsymKey::RsaOther => Algorithm::RS256,
            AsymKey::Ec => Algorithm::ES256,
            AsymKey::Ed => Algorithm::EdDSA,
        }
    }

    /// The key's `kid` in [`JWKS`] (for `RsaOther`, the kid of `Rsa`: a key swapped under
    /// a known kid).
    pub fn kid(self) -> String {
        let alg = match self {
            AsymKey::Rsa | AsymKey::RsaOther => "RS256",
            AsymKey::Ec => "ES256",
            AsymKey::Ed => "EdDSA",
        };
        let jwks: Value = serde_json::from_str(JWKS).expect("jwks fixture");
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["alg"] == alg)
            .and_then(|k| k["kid"].as_str())
            .expect("kid in fixture")
            .to_string()
    }
}

/// Sign with an asymmetric fixture key; `kid` goes in the header when given.
pub fn sign_asym(key: AsymKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm());
    header.kid = kid.map(str::to_string);
    sign(&header, claims, &key.encoding_key())
}

/// An unsigned token: `{"alg":"none"}` header and an empty signature.
pub fn alg_none(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The same token with its payload rewritten by `f` and the original signature kept.
pub fn tamper_payload(token: &str, f: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWS: {token}");
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload b64"))
            .expect("payload json");
    f(&mut payload);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    )
}

/// A JWS over exactly these JOSE header and payload texts (duplicate members, number
/// spellings such as `0e3`, anything serde_json would not write), HS256 with the standard
/// provider's client secret.
pub fn hs256_text(header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// akadmin's claims as JSON text with one more top-level member `"name":<json_text>`.
pub fn claims_text_plus(name: &str, json_text: &str) -> String {
    let mut c = claims();
    c.as_object_mut().expect("object").remove(name);
    let text = c.to_string();
    format!("{},\"{name}\":{json_text}}}", &text[..text.len() - 1])
}
