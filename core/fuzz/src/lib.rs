//! Shared fixtures and oracles for the fuzz targets of `authentik-core`.
//!
//! The oracles here are written independently of `core/`: they restate docs/architecture.md §4, §5 and §7
//! in the simplest possible code so that a target can compare the real decision against them.
//! Keys are the test fixtures of `core/tests/fixtures` (public, test-only keys).

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use authentik_core::conf::{PlainUnits, ProviderSettings};
use authentik_core::keys::{Algorithm, KeySet};
use authentik_core::provider::{Mode, Provider};
use authentik_core::token::Verifier;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Map, Number, Value};

pub const ISS: &str = "https://auth.example/application/o/app/";
pub const AUD: &str = "client";
pub const SECRET_A: &[u8] = b"client-secret-A-client-secret-A-client-secret-A";
pub const SECRET_B: &[u8] = b"client-secret-B-client-secret-B-client-secret-B";
pub const COOKIE_SECRET_A: &[u8] = b"cookie-secret-A-cookie-secret-A-cookie-secret-A";
pub const COOKIE_SECRET_B: &[u8] = b"cookie-secret-B-cookie-secret-B-cookie-secret-B";
/// The fixed "now" of the targets (2025-06-15).
pub const NOW: u64 = 1_750_000_000;
pub const LEEWAY: u64 = 60;

const JWKS_FIXTURE: &str = include_str!("../../tests/fixtures/keys_jwks.json");
const RSA1: &str = include_str!("../../tests/fixtures/keys_rsa1.pem");
const RSA1_PUB: &str = include_str!("../../tests/fixtures/keys_rsa1_pub.pem");
const RSA2: &str = include_str!("../../tests/fixtures/keys_rsa2.pem");
const EC256: &str = include_str!("../../tests/fixtures/keys_ec256.pem");
const EC384: &str = include_str!("../../tests/fixtures/keys_ec384.pem");
const ED25519: &str = include_str!("../../tests/fixtures/keys_ed25519.pem");

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM")
}

// ---------------------------------------------------------------------------------------------
// Signing keys

/// Who produced a signature.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    HmacA,
    HmacB,
    /// HMAC keyed with rsa1's public PEM: the RS256 -> HS256 confusion forgery.
    HmacRsa1Pub,
    Rsa1,
    Rsa2,
    Ec256,
    Ec384,
    Ed25519,
}

struct SigningKeys {
    rsa1: RsaKeyPair,
    rsa2: RsaKeyPair,
    ec256: EcdsaKeyPair,
    ec384: EcdsaKeyPair,
    ed25519: Ed25519KeyPair,
}

static SIGNING: LazyLock<SigningKeys> = LazyLock::new(|| {
    let rng = SystemRandom::new();
    SigningKeys {
        rsa1: RsaKeyPair::from_pkcs8(&pem_der(RSA1)).expect("rsa1"),
        rsa2: RsaKeyPair::from_pkcs8(&pem_der(RSA2)).expect("rsa2"),
        ec256: EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pem_der(EC256),
            &rng,
        )
        .expect("ec256"),
        ec384: EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &pem_der(EC384),
            &rng,
        )
        .expect("ec384"),
        ed25519: Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der(ED25519)).expect("ed25519"),
    }
});

/// Sign `message` as `signer` with algorithm `alg`; `None` when the pair does not go together
/// (an EC key with an RSA algorithm …).
pub fn sign(signer: Signer, alg: Algorithm, message: &[u8]) -> Option<Vec<u8>> {
    let keys = &*SIGNING;
    let rng = SystemRandom::new();
    let hmac = |secret: &[u8]| {
        let h = match alg {
            Algorithm::HS256 => ring::hmac::HMAC_SHA256,
            Algorithm::HS384 => ring::hmac::HMAC_SHA384,
            Algorithm::HS512 => ring::hmac::HMAC_SHA512,
            _ => return None,
        };
        Some(
            ring::hmac::sign(&ring::hmac::Key::new(h, secret), message)
                .as_ref()
                .to_vec(),
        )
    };
    let rsa = |key: &RsaKeyPair| {
        let padding: &'static dyn signature::RsaEncoding = match alg {
            Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_SHA512,
            _ => return None,
        };
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(padding, &rng, message, &mut sig).ok()?;
        Some(sig)
    };
    match signer {
        Signer::HmacA => hmac(SECRET_A),
        Signer::HmacB => hmac(SECRET_B),
        Signer::HmacRsa1Pub => hmac(RSA1_PUB.as_bytes()),
        Signer::Rsa1 => rsa(&keys.rsa1),
        Signer::Rsa2 => rsa(&keys.rsa2),
        Signer::Ec256 if alg == Algorithm::ES256 => {
            Some(keys.ec256.sign(&rng, message).ok()?.as_ref().to_vec())
        }
        Signer::Ec384 if alg == Algorithm::ES384 => {
            Some(keys.ec384.sign(&rng, message).ok()?.as_ref().to_vec())
        }
        Signer::Ed25519 if alg == Algorithm::EdDSA => {
            Some(keys.ed25519.sign(message).as_ref().to_vec())
        }
        _ => None,
    }
}

/// The public half of the Ed25519 fixture, for seeds.
pub fn ed25519_public() -> Vec<u8> {
    SIGNING.ed25519.public_key().as_ref().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Verifiers and the oracle of which key verifies what

/// One JWKS entry as the oracle sees it.
pub struct KeyEntry {
    pub kid: &'static str,
    pub alg: Algorithm,
    pub signer: Signer,
}

/// A verifier plus the oracle's description of it.
pub struct KeyedVerifier {
    pub verifier: Verifier,
    pub hmac: Signer,
    pub allowed: Vec<Algorithm>,
    pub entries: Vec<KeyEntry>,
}

fn jwks_fixture_keys() -> Vec<Value> {
    let v: Value = serde_json::from_str(JWKS_FIXTURE).expect("fixture JWKS");
    v["keys"].as_array().expect("keys").clone()
}

/// Verifier A: client secret A, every fixture key except rsa2, all 12 algorithms allowed.
pub static VERIFIER_A: LazyLock<KeyedVerifier> = LazyLock::new(|| {
    let keys: Vec<Value> = jwks_fixture_keys()
        .into_iter()
        .filter(|k| k["kid"] != "rsa2-rs256")
        .collect();
    let jwks = serde_json::json!({ "keys": keys }).to_string();
    let allowed = Algorithm::ALL.to_vec();
    let ks = KeySet::new(SECRET_A, Some(&jwks), Some(&allowed)).expect("key set A");
    let mut entries = Vec::new();
    for (kid, alg) in [
        ("rsa1-rs256", Algorithm::RS256),
        ("rsa1-rs384", Algorithm::RS384),
        ("rsa1-rs512", Algorithm::RS512),
        ("rsa1-ps256", Algorithm::PS256),
        ("rsa1-ps384", Algorithm::PS384),
        ("rsa1-ps512", Algorithm::PS512),
    ] {
        entries.push(KeyEntry {
            kid,
            alg,
            signer: Signer::Rsa1,
        });
    }
    entries.push(KeyEntry {
        kid: "ec256",
        alg: Algorithm::ES256,
        signer: Signer::Ec256,
    });
    entries.push(KeyEntry {
        kid: "ec384",
        alg: Algorithm::ES384,
        signer: Signer::Ec384,
    });
    entries.push(KeyEntry {
        kid: "ed25519",
        alg: Algorithm::EdDSA,
        signer: Signer::Ed25519,
    });
    KeyedVerifier {
        verifier: Verifier::new(ks, ISS, AUD, LEEWAY),
        hmac: Signer::HmacA,
        allowed,
        entries,
    }
});

/// Verifier B: client secret B and only rsa2, published under rsa1's kid "rsa1-rs256" (a kid
/// names a key only within its own set). Default allow-list: HS256 and RS256.
pub static VERIFIER_B: LazyLock<KeyedVerifier> = LazyLock::new(|| {
    let mut rsa2 = jwks_fixture_keys()
        .into_iter()
        .find(|k| k["kid"] == "rsa2-rs256")
        .expect("rsa2");
    rsa2["kid"] = "rsa1-rs256".into();
    let jwks = serde_json::json!({ "keys": [rsa2] }).to_string();
    let ks = KeySet::new(SECRET_B, Some(&jwks), None).expect("key set B");
    KeyedVerifier {
        verifier: Verifier::new(ks, ISS, AUD, LEEWAY),
        hmac: Signer::HmacB,
        allowed: vec![Algorithm::HS256, Algorithm::RS256],
        entries: vec![KeyEntry {
            kid: "rsa1-rs256",
            alg: Algorithm::RS256,
            signer: Signer::Rsa2,
        }],
    }
});

impl KeyedVerifier {
    /// Whether an intact signature made by `signer` with `sig_alg` is accepted for a token
    /// whose header names `alg` and `kid` (docs/architecture.md §7, restated).
    pub fn signature_accepted(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        signer: Signer,
        sig_alg: Algorithm,
    ) -> bool {
        if !self.allowed.contains(&alg) || sig_alg != alg {
            return false;
        }
        if alg.is_hmac() {
            return signer == self.hmac;
        }
        self.entries
            .iter()
            .filter(|e| kid.is_none_or(|k| k == e.kid))
            .any(|e| e.alg == alg && e.signer == signer)
    }
}

/// docs/architecture.md §7 claim rules, restated: `iss` exact, `aud` equal or containing, `exp` required,
/// `nbf`/`iat` if present. Times are integers (exact) or finite floats.
pub fn claims_valid(claims: &Map<String, Value>, now: u64, leeway: u64) -> bool {
    if claims.get("iss").and_then(Value::as_str) != Some(ISS) {
        return false;
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(s)) => s == AUD,
        Some(Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(AUD)),
        _ => false,
    };
    if !aud_ok {
        return false;
    }
    enum T {
        I(i128),
        F(f64),
    }
    let time = |v: &Value| -> Option<T> {
        let n = v.as_number()?;
        if let Some(u) = n.as_u64() {
            Some(T::I(u as i128))
        } else if let Some(i) = n.as_i64() {
            Some(T::I(i as i128))
        } else {
            n.as_f64().filter(|f| f.is_finite()).map(T::F)
        }
    };
    let (now_i, lee_i) = (now as i128, leeway as i128);
    let Some(exp) = claims.get("exp") else {
        return false;
    };
    let live = match time(exp) {
        Some(T::I(v)) => v + lee_i > now_i,
        Some(T::F(v)) => v + leeway as f64 > now as f64,
        None => return false,
    };
    if !live {
        return false;
    }
    for name in ["nbf", "iat"] {
        if let Some(v) = claims.get(name) {
            let ok = match time(v) {
                Some(T::I(v)) => v <= now_i + lee_i,
                Some(T::F(v)) => v <= now as f64 + leeway as f64,
                None => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// Nesting depth of a parsed JSON value (a scalar is 0, `{}` is 1).
pub fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary JSON, biased towards the claim names the module reads

pub const KNOWN_KEYS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "sub",
    "nonce",
    "preferred_username",
    "email",
    "name",
    "groups",
    "entitlements",
    "ak_proxy",
    "user_attributes",
    "additionalHeaders",
    "basic_user",
    "basic_password",
    "X-Foo",
    "X-authentik-username",
    "x_authentik_groups",
    "Bad_Name",
    "X-Ctl\r\n",
    "alg",
    "kid",
    "crit",
    "access_token",
    "id_token",
    "token_type",
    "s",
    "n",
    "v",
    "r",
    "t",
];

#[derive(Arbitrary, Debug)]
pub enum KeyGen {
    Known(u8),
    Any(String),
}

impl KeyGen {
    pub fn name(&self) -> String {
        match self {
            KeyGen::Known(i) => KNOWN_KEYS[*i as usize % KNOWN_KEYS.len()].to_string(),
            KeyGen::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum JsonGen {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// A string made of control bytes and friends: header-injection material.
    Nasty(Vec<u8>),
    Arr(Vec<JsonGen>),
    Obj(Vec<(KeyGen, JsonGen)>),
}

impl JsonGen {
    pub fn to_value(&self) -> Value {
        self.to_value_at(0)
    }

    fn to_value_at(&self, depth: usize) -> Value {
        if depth > 40 {
            return Value::Null;
        }
        match self {
            JsonGen::Null => Value::Null,
            JsonGen::Bool(b) => Value::Bool(*b),
            JsonGen::Int(i) => Value::Number((*i).into()),
            JsonGen::UInt(u) => Value::Number((*u).into()),
            JsonGen::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            JsonGen::Str(s) => Value::String(s.clone()),
            JsonGen::Nasty(bytes) => Value::String(
                bytes
                    .iter()
                    .map(|b| match b % 8 {
                        0 => '\r',
                        1 => '\n',
                        2 => '\0',
                        3 => '\u{7f}',
                        4 => '\t',
                        5 => char::from(b & 0x1f),
                        6 => '\u{85}',
                        _ => char::from(0x20 + (b & 0x3f)),
                    })
                    .collect(),
            ),
            JsonGen::Arr(items) => {
                Value::Array(items.iter().map(|v| v.to_value_at(depth + 1)).collect())
            }
            JsonGen::Obj(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.name(), v.to_value_at(depth + 1)))
                    .collect(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Providers

pub const EXTERNAL_SINGLE: &str = "https://app.example";
pub const EXTERNAL_SINGLE_PORT: &str = "http://app.example:8080";
pub const EXTERNAL_DOMAIN: &str = "https://auth.company.tld";
pub const COOKIE_DOMAIN: &str = "company.tld";

/// A provider as an `authentik_provider` block with these settings would build it.
pub fn provider_with(
    mode: Mode,
    external_host: &str,
    cookie_domain: Option<&str>,
    cookie_secret: &[u8],
    id: u32,
) -> Provider {
    let mut settings = ProviderSettings::new("app").expect("name");
    let secret = String::from_utf8_lossy(SECRET_A).into_owned();
    let cookie_secret = String::from_utf8_lossy(cookie_secret).into_owned();
    let leeway = format!("{LEEWAY}s");
    let mut lines = vec![
        ("issuer", ISS),
        ("client_id", AUD),
        ("client_secret", secret.as_str()),
        ("cookie_secret", cookie_secret.as_str()),
        ("external_host", external_host),
        ("token_request", "/_authentik_token"),
        ("leeway", leeway.as_str()),
    ];
    if mode == Mode::Domain {
        lines.push(("mode", "domain"));
    }
    if let Some(domain) = cookie_domain {
        lines.push(("cookie_domain", domain));
    }
    for (name, value) in lines {
        settings.set(name, &[value], &PlainUnits).expect(name);
    }
    settings.build(id).expect("fuzz provider").0
}

pub fn provider(mode: Mode, external_host: &str, cookie_domain: Option<&str>) -> Provider {
    provider_with(mode, external_host, cookie_domain, COOKIE_SECRET_A, 0)
}

// ---------------------------------------------------------------------------------------------
// Duplicate member names

/// Whether `json` holds an object with a member name twice, at any depth: a JSON tree kept
/// with every member (serde_json's own `Value` keeps only the last), then a sorted
/// comparison of each object's names. `None` when it is not JSON.
pub fn has_duplicate_names(json: &[u8]) -> Option<bool> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

    enum Tree {
        Leaf,
        List(Vec<Tree>),
        Object(Vec<(String, Tree)>),
    }

    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Tree;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }
        fn visit_str<E>(self, _: &str) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }
        fn visit_unit<E>(self) -> Result<Tree, E> {
            Ok(Tree::Leaf)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Seed)? {
                items.push(item);
            }
            Ok(Tree::List(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
            let mut members = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                members.push((key, map.next_value_seed(Seed)?));
            }
            Ok(Tree::Object(members))
        }
    }
    struct Seed;
    impl<'de> serde::de::DeserializeSeed<'de> for Seed {
        type Value = Tree;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
            d.deserialize_any(V)
        }
    }
    fn duplicates(tree: &Tree) -> bool {
        match tree {
            Tree::Leaf => false,
            Tree::List(items) => items.iter().any(duplicates),
            Tree::Object(members) => {
                let mut names: Vec<&String> = members.iter().map(|(n, _)| n).collect();
                names.sort();
                names.windows(2).any(|w| w[0] == w[1]) || members.iter().any(|(_, v)| duplicates(v))
            }
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let tree = serde::de::DeserializeSeed::deserialize(Seed, &mut de).ok()?;
    de.end().ok()?;
    Some(duplicates(&tree))
}
