//! The hostile-token matrix for `keys` and `token` (docs/architecture.md §7; RFC 8725 §2).
//!
//! Tokens are minted by hand (header and payload JSON exactly as written, signed with
//! `jsonwebtoken::crypto::sign`), so that each hostile token differs from a valid one only in
//! the property under test. Key fixtures: `fixtures/keys_*` (see `keys_generate.sh`).

use authentik_core::keys::{Algorithm, KeyError, KeySet};
use authentik_core::token::{TokenError, Verifier, MAX_JSON_DEPTH, MAX_TOKEN_BYTES};

/// The verified payload as a JSON object, for assertions.
#[derive(Debug)]
struct Claims(serde_json::Map<String, Value>);

impl Claims {
    fn exp(&self) -> u64 {
        self.0
            .get("exp")
            .and_then(Value::as_f64)
            .map_or(0, |e| e.max(0.0).floor() as u64)
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
}

trait VerifyToMap {
    fn verify_map(&self, token: &[u8], now: u64) -> Result<Claims, TokenError>;
}

impl VerifyToMap for Verifier {
    fn verify_map(&self, token: &[u8], now: u64) -> Result<Claims, TokenError> {
        self.verify(token, now, |_, payload| {
            Claims(serde_json::from_slice(payload).expect("a verified payload is a JSON object"))
        })
    }
}
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::crypto::sign;
use jsonwebtoken::{Algorithm as Jalg, EncodingKey};
use serde_json::{json, Value};

const ISS: &str = "https://authentik.company/application/o/app/";
const AUD: &str = "3b5f2a9c0d1e4f60718293a4b5c6d7e8f9a0b1c2";
const SECRET: &[u8] = b"b2Tq7x9LmV4pZ8sK1rW6yH3nJ5cF0dG2aE7uI9oP4lS6kX1vB8mN3qR5tY0wU2zA\
                        7cD9eF1gH3iJ5kL7mN9oP1qR3sT5uV7wX9yZ1aB3cD5eF7gH9iJ1kL3mN5oP7qR9s";
const NOW: u64 = 1_750_000_000;
const LEEWAY: u64 = 60;

const JWKS: &str = include_str!("fixtures/keys_jwks.json");
const RSA1: &str = include_str!("fixtures/keys_rsa1.pem");
const RSA1_PUB: &str = include_str!("fixtures/keys_rsa1_pub.pem");
const RSA2: &str = include_str!("fixtures/keys_rsa2.pem");
const EC256: &str = include_str!("fixtures/keys_ec256.pem");
const EC384: &str = include_str!("fixtures/keys_ec384.pem");
const ED25519: &str = include_str!("fixtures/keys_ed25519.pem");

// ---------------------------------------------------------------------------------------------
// helpers

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac_key() -> EncodingKey {
    EncodingKey::from_secret(SECRET).unwrap()
}
fn rsa1() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap()
}
fn rsa2() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA2.as_bytes()).unwrap()
}
fn ec256() -> EncodingKey {
    EncodingKey::from_ec_pem(EC256.as_bytes()).unwrap()
}
fn ec384() -> EncodingKey {
    EncodingKey::from_ec_pem(EC384.as_bytes()).unwrap()
}
fn ed25519() -> EncodingKey {
    EncodingKey::from_ed_pem(ED25519.as_bytes()).unwrap()
}

/// `b64(header).b64(payload).sig`, with `sig` computed over the first two parts as written.
fn mint_raw(header: &str, payload: &str, alg: Jalg, key: &EncodingKey) -> String {
    sign_parts(&b64(header.as_bytes()), &b64(payload.as_bytes()), alg, key)
}

/// Signs already-encoded parts (for tokens whose encoding itself is the thing under test).
fn sign_parts(header_b64: &str, payload_b64: &str, alg: Jalg, key: &EncodingKey) -> String {
    let message = format!("{header_b64}.{payload_b64}");
    let sig = sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{sig}")
}

fn mint(header: &Value, payload: &Value, alg: Jalg, key: &EncodingKey) -> String {
    mint_raw(&header.to_string(), &payload.to_string(), alg, key)
}

fn header(alg: &str, kid: Option<&str>) -> Value {
    match kid {
        Some(kid) => json!({"alg": alg, "typ": "JWT", "kid": kid}),
        None => json!({"alg": alg, "typ": "JWT"}),
    }
}

/// authentik-shaped claims, valid at `NOW`.
fn claims() -> Value {
    json!({
        "iss": ISS,
        "sub": "8f3c6a2e1b0d",
        "aud": AUD,
        "exp": NOW + 300,
        "iat": NOW - 10,
        "auth_time": NOW - 10,
        "acr": "goauthentik.io/providers/oauth2/default",
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice",
        "preferred_username": "alice",
        "groups": ["authentik Admins", "users"],
        "ak_proxy": {"user_attributes": {}, "is_superuser": true}
    })
}

fn with(mut v: Value, name: &str, value: Value) -> Value {
    v.as_object_mut().unwrap().insert(name.to_owned(), value);
    v
}

fn without(mut v: Value, name: &str) -> Value {
    v.as_object_mut().unwrap().remove(name);
    v
}

fn hs256(payload: &Value) -> String {
    mint(&header("HS256", None), payload, Jalg::HS256, &hmac_key())
}

fn rs256(payload: &Value) -> String {
    mint(
        &header("RS256", Some("rsa1-rs256")),
        payload,
        Jalg::RS256,
        &rsa1(),
    )
}

/// Default allow-list: HS256 plus the algorithm of every JWKS key.
fn verifier() -> Verifier {
    Verifier::new(
        KeySet::new(SECRET, Some(JWKS), None).unwrap(),
        ISS,
        AUD,
        LEEWAY,
    )
}

fn verifier_allowing(allowed: &[Algorithm]) -> Verifier {
    Verifier::new(
        KeySet::new(SECRET, Some(JWKS), Some(allowed)).unwrap(),
        ISS,
        AUD,
        LEEWAY,
    )
}

fn verify(token: &str) -> Result<Claims, TokenError> {
    verifier().verify_map(token.as_bytes(), NOW)
}

fn err(token: &str) -> TokenError {
    match verify(token) {
        Ok(_) => panic!("accepted: {token}"),
        Err(e) => e,
    }
}

fn jwks_keys() -> Vec<Value> {
    serde_json::from_str::<Value>(JWKS).unwrap()["keys"]
        .as_array()
        .unwrap()
        .clone()
}

fn jwk(kid: &str) -> Value {
    jwks_keys().into_iter().find(|k| k["kid"] == kid).unwrap()
}

fn jwks_of(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn keyset_err(jwks: &str) -> KeyError {
    KeySet::new(SECRET, Some(jwks), None).unwrap_err()
}

fn nested(depth: usize) -> Value {
    // `depth` levels of arrays around 1.
    let mut v = json!(1);
    for _ in 0..depth {
        v = json!([v]);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// valid tokens, every algorithm

#[test]
fn valid_hmac_tokens() {
    let v = verifier_allowing(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
    for (name, alg) in [
        ("HS256", Jalg::HS256),
        ("HS384", Jalg::HS384),
        ("HS512", Jalg::HS512),
    ] {
        let token = mint(&header(name, None), &claims(), alg, &hmac_key());
        let got = v
            .verify_map(token.as_bytes(), NOW)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Value::Object(got.0.clone()), claims(), "{name}");
        assert_eq!(got.exp(), NOW + 300);
        assert_eq!(got.get("sub"), Some(&json!("8f3c6a2e1b0d")));
        // A kid on an HMAC token is irrelevant: there is one secret.
        let token = mint(&header(name, Some("whatever")), &claims(), alg, &hmac_key());
        assert!(
            v.verify_map(token.as_bytes(), NOW).is_ok(),
            "{name} with kid"
        );
    }
}

#[test]
fn valid_asymmetric_tokens_with_and_without_kid() {
    let cases: [(&str, Jalg, &str, EncodingKey); 9] = [
        ("RS256", Jalg::RS256, "rsa1-rs256", rsa1()),
        ("RS384", Jalg::RS384, "rsa1-rs384", rsa1()),
        ("RS512", Jalg::RS512, "rsa1-rs512", rsa1()),
        ("PS256", Jalg::PS256, "rsa1-ps256", rsa1()),
        ("PS384", Jalg::PS384, "rsa1-ps384", rsa1()),
        ("PS512", Jalg::PS512, "rsa1-ps512", rsa1()),
        ("ES256", Jalg::ES256, "ec256", ec256()),
        ("ES384", Jalg::ES384, "ec384", ec384()),
        ("EdDSA", Jalg::EdDSA, "ed25519", ed25519()),
    ];
    let v = verifier();
    for (name, alg, kid, key) in &cases {
        for kid in [Some(*kid), None] {
            let token = mint(&header(name, kid), &claims(), *alg, key);
            let got = v
                .verify_map(token.as_bytes(), NOW)
                .unwrap_or_else(|e| panic!("{name} kid {kid:?}: {e}"));
            assert_eq!(Value::Object(got.0), claims());
        }
    }
}

#[test]
fn default_allow_list_is_hs256_plus_jwks_algorithms() {
    use Algorithm::*;
    let ks = KeySet::new(SECRET, Some(JWKS), None).unwrap();
    assert_eq!(
        ks.algorithms(),
        &[HS256, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA]
    );
    assert_eq!(ks.jwks_len(), 10, "the use=enc key is skipped");
    let ks = KeySet::new(SECRET, None, None).unwrap();
    assert_eq!(ks.algorithms(), &[HS256]);
}

#[test]
fn without_kid_every_key_of_the_algorithm_is_tried() {
    // rsa2-rs256 comes after rsa1-rs256 in the JWKS.
    let token = mint(&header("RS256", None), &claims(), Jalg::RS256, &rsa2());
    assert!(verify(&token).is_ok());
}

#[test]
fn kid_selects_the_key_and_is_never_matched_to_another() {
    // Signed by rsa2, but names rsa1's kid: rsa2 must not be tried.
    let token = mint(
        &header("RS256", Some("rsa1-rs256")),
        &claims(),
        Jalg::RS256,
        &rsa2(),
    );
    assert_eq!(err(&token), TokenError::BadSignature);
    let token = mint(
        &header("RS256", Some("rsa2-rs256")),
        &claims(),
        Jalg::RS256,
        &rsa2(),
    );
    assert!(verify(&token).is_ok());
}

#[test]
fn tampered_payload_or_signature() {
    let token = hs256(&claims());
    let forged = hs256(&with(claims(), "sub", json!("admin")));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_parts: Vec<&str> = forged.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
    assert_eq!(err(&spliced), TokenError::BadSignature);

    for token in [hs256(&claims()), rs256(&claims())] {
        // Flip one bit of the signature (first char, so the encoding stays canonical).
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[0] ^= 1;
        assert_eq!(
            err(&format!("{head}.{}", b64(&raw))),
            TokenError::BadSignature
        );
        // Empty signature.
        assert_eq!(err(&format!("{head}.")), TokenError::BadSignature);
    }
}

// ---------------------------------------------------------------------------------------------
// time claims

#[test]
fn expired_and_leeway() {
    // Expired when now >= exp + leeway.
    let e = err(&hs256(&with(claims(), "exp", json!(NOW - LEEWAY))));
    assert_eq!(e, TokenError::Expired);
    assert!(e.is_expired());
    assert_eq!(
        err(&hs256(&with(claims(), "exp", json!(NOW - 3600)))),
        TokenError::Expired
    );
    // Expired, but within the leeway: accepted.
    assert!(verify(&hs256(&with(claims(), "exp", json!(NOW - 1)))).is_ok());
    assert!(verify(&hs256(&with(claims(), "exp", json!(NOW - LEEWAY + 1)))).is_ok());
    // No leeway at all.
    let strict = Verifier::new(KeySet::new(SECRET, None, None).unwrap(), ISS, AUD, 0);
    let token = hs256(&with(claims(), "exp", json!(NOW)));
    assert_eq!(
        strict.verify_map(token.as_bytes(), NOW).unwrap_err(),
        TokenError::Expired
    );
    assert!(strict.verify_map(token.as_bytes(), NOW - 1).is_ok());
}

#[test]
fn float_and_negative_times() {
    let c = verify(&hs256(&with(claims(), "exp", json!(NOW as f64 + 100.5)))).unwrap();
    assert_eq!(c.exp(), NOW + 100, "exp rounds down");
    assert_eq!(
        err(&hs256(&with(
            claims(),
            "exp",
            json!(NOW as f64 - LEEWAY as f64 - 0.5)
        ))),
        TokenError::Expired
    );
    assert!(verify(&hs256(&with(
        claims(),
        "exp",
        json!(NOW as f64 - LEEWAY as f64 + 0.5)
    )))
    .is_ok());
    assert_eq!(
        err(&hs256(&with(claims(), "exp", json!(-1)))),
        TokenError::Expired
    );
    assert_eq!(
        err(&hs256(&with(
            claims(),
            "nbf",
            json!(NOW as f64 + LEEWAY as f64 + 0.5)
        ))),
        TokenError::NotYetValid
    );
    assert!(verify(&hs256(&with(claims(), "nbf", json!(-5)))).is_ok());
    // Huge but valid numbers never overflow.
    assert!(verify(&hs256(&with(claims(), "exp", json!(u64::MAX)))).is_ok());
    assert!(verify(&hs256(&with(claims(), "exp", json!(1e300)))).is_ok());
    assert_eq!(
        err(&hs256(&with(claims(), "iat", json!(u64::MAX)))),
        TokenError::IssuedInFuture
    );
}

#[test]
fn not_before() {
    assert_eq!(
        err(&hs256(&with(claims(), "nbf", json!(NOW + LEEWAY + 1)))),
        TokenError::NotYetValid
    );
    assert_eq!(
        err(&hs256(&with(claims(), "nbf", json!(NOW + 600)))),
        TokenError::NotYetValid
    );
    // In the future, but within the leeway: accepted.
    assert!(verify(&hs256(&with(claims(), "nbf", json!(NOW + LEEWAY)))).is_ok());
    assert!(verify(&hs256(&with(claims(), "nbf", json!(NOW + 1)))).is_ok());
    assert!(verify(&hs256(&with(claims(), "nbf", json!(NOW)))).is_ok());
}

#[test]
fn issued_in_the_future() {
    assert_eq!(
        err(&hs256(&with(claims(), "iat", json!(NOW + LEEWAY + 1)))),
        TokenError::IssuedInFuture
    );
    assert!(verify(&hs256(&with(claims(), "iat", json!(NOW + LEEWAY)))).is_ok());
    assert!(
        verify(&hs256(&without(claims(), "iat"))).is_ok(),
        "iat is optional"
    );
}

#[test]
fn missing_expiry() {
    assert_eq!(
        err(&hs256(&without(claims(), "exp"))),
        TokenError::MissingExpiry
    );
    assert_eq!(
        err(&rs256(&without(claims(), "exp"))),
        TokenError::MissingExpiry
    );
}

#[test]
fn non_numeric_times_are_malformed() {
    let cases = [
        ("exp", json!((NOW + 300).to_string())),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!([NOW + 300])),
        ("exp", json!({"t": NOW + 300})),
        ("nbf", json!("0")),
        ("nbf", json!(null)),
        ("iat", json!("0")),
        ("iat", json!(false)),
    ];
    for (name, value) in cases {
        assert_eq!(
            err(&hs256(&with(claims(), name, value.clone()))),
            TokenError::Malformed,
            "{name} = {value}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// issuer and audience

#[test]
fn issuer_must_match_exactly() {
    let bad = [
        json!("https://evil.example/application/o/app/"),
        json!("https://authentik.company/application/o/app"), // no trailing slash
        json!("https://authentik.company/application/o/app//"),
        json!("https://AUTHENTIK.company/application/o/app/"),
        json!("http://authentik.company/application/o/app/"),
        json!(" https://authentik.company/application/o/app/"),
        json!(""),
        json!([ISS]),
        json!(null),
        json!(1),
    ];
    for iss in bad {
        assert_eq!(
            err(&hs256(&with(claims(), "iss", iss.clone()))),
            TokenError::WrongIssuer,
            "{iss}"
        );
    }
    assert_eq!(
        err(&hs256(&without(claims(), "iss"))),
        TokenError::WrongIssuer
    );
    // The configured issuer without the slash accepts exactly that form and nothing else.
    let v = Verifier::new(
        KeySet::new(SECRET, None, None).unwrap(),
        ISS.trim_end_matches('/'),
        AUD,
        LEEWAY,
    );
    assert_eq!(
        v.verify_map(hs256(&claims()).as_bytes(), NOW).unwrap_err(),
        TokenError::WrongIssuer
    );
}

#[test]
fn audience() {
    assert_eq!(
        err(&hs256(&with(claims(), "aud", json!("other-client")))),
        TokenError::WrongAudience
    );
    assert_eq!(
        err(&hs256(&without(claims(), "aud"))),
        TokenError::WrongAudience
    );
    // An array containing the client id is accepted, in any position.
    assert!(verify(&hs256(&with(claims(), "aud", json!([AUD])))).is_ok());
    assert!(verify(&hs256(&with(
        claims(),
        "aud",
        json!(["other", 7, null, AUD])
    )))
    .is_ok());
    for aud in [
        json!(["other", "another"]),
        json!([]),
        json!([[AUD]]),
        json!(&AUD[..AUD.len() - 1]),
        json!(format!("{AUD} ")),
        json!(AUD.to_uppercase()),
        json!(null),
        json!(7),
        json!({ "aud": AUD }),
    ] {
        assert_eq!(
            err(&hs256(&with(claims(), "aud", aud.clone()))),
            TokenError::WrongAudience,
            "{aud}"
        );
    }
}

/// RFC 7515 §4 allows refusing duplicate member names, RFC 8725 recommends it: a parser that
/// keeps the first `sub` would see another user than this one.
#[test]
fn duplicate_member_names_are_refused() {
    for payload in [
        format!(
            r#"{{"iss":"https://evil.example/","iss":"{ISS}","aud":"{AUD}","exp":{}}}"#,
            NOW + 300
        ),
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"sub":"a","sub":"b"}}"#,
            NOW + 300
        ),
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","aud":"other","exp":{}}}"#,
            NOW + 300
        ),
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"ak_proxy":{{"user_attributes":{{"a":1,"a":2}}}}}}"#,
            NOW + 300
        ),
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"x":[{{"k":1,"k":1}}]}}"#,
            NOW + 300
        ),
    ] {
        let token = mint_raw(r#"{"alg":"HS256"}"#, &payload, Jalg::HS256, &hmac_key());
        assert_eq!(err(&token), TokenError::DuplicateMember, "{payload}");
    }
    let payload = format!(r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{}}}"#, NOW + 300);
    let token = mint_raw(
        r#"{"alg":"HS256","alg":"HS256"}"#,
        &payload,
        Jalg::HS256,
        &hmac_key(),
    );
    assert_eq!(err(&token), TokenError::DuplicateMember);
    let token = mint_raw(r#"{"alg":"HS256"}"#, &payload, Jalg::HS256, &hmac_key());
    assert!(verify(&token).is_ok());
}

// ---------------------------------------------------------------------------------------------
// algorithms and keys

#[test]
fn alg_none_is_always_rejected() {
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let h = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
        // Empty signature.
        assert_eq!(
            err(&format!("{h}.{payload}.")),
            TokenError::AlgorithmNotAllowed,
            "{alg:?}, empty signature"
        );
        // With a signature: a genuine HS256 MAC of the same message.
        let signed = sign_parts(&h, &payload, Jalg::HS256, &hmac_key());
        assert_eq!(
            err(&signed),
            TokenError::AlgorithmNotAllowed,
            "{alg:?}, signed"
        );
    }
    // Even when every algorithm is allowed.
    let v = verifier_allowing(&Algorithm::ALL);
    let h = b64(br#"{"alg":"none"}"#);
    let signed = sign_parts(&h, &payload, Jalg::HS256, &hmac_key());
    assert_eq!(
        v.verify_map(signed.as_bytes(), NOW).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
}

#[test]
fn unknown_algorithms_are_rejected() {
    let payload = b64(claims().to_string().as_bytes());
    for alg in [
        "HS1024",
        "ES512",
        "RS1",
        "Ed25519",
        "hs256",
        "HS256 ",
        "RSA-OAEP-256",
    ] {
        let h = b64(json!({ "alg": alg }).to_string().as_bytes());
        let signed = sign_parts(&h, &payload, Jalg::HS256, &hmac_key());
        assert_eq!(err(&signed), TokenError::AlgorithmNotAllowed, "{alg:?}");
    }
}

#[test]
fn algorithm_must_be_in_the_allow_list() {
    // RS256-only provider: a genuine HS256 token (right secret) is refused.
    let v = verifier_allowing(&[Algorithm::RS256]);
    assert_eq!(
        v.verify_map(hs256(&claims()).as_bytes(), NOW).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    assert!(v.verify_map(rs256(&claims()).as_bytes(), NOW).is_ok());
    // Another RSA algorithm with a key in the JWKS, but not listed.
    let token = mint(
        &header("PS256", Some("rsa1-ps256")),
        &claims(),
        Jalg::PS256,
        &rsa1(),
    );
    assert_eq!(
        v.verify_map(token.as_bytes(), NOW).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    // Default list has HS256 only among the HMACs.
    let token = mint(&header("HS512", None), &claims(), Jalg::HS512, &hmac_key());
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
    // No JWKS: RS256 is not allowed.
    let v = Verifier::new(KeySet::new(SECRET, None, None).unwrap(), ISS, AUD, LEEWAY);
    assert_eq!(
        v.verify_map(rs256(&claims()).as_bytes(), NOW).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
}

/// Algorithm confusion (RFC 8725 §2.1): HS256 keyed with the byte-exact PEM text of the RSA public key.
#[test]
fn rs256_to_hs256_confusion_is_rejected() {
    let pem_key = EncodingKey::from_secret(RSA1_PUB.as_bytes()).unwrap();
    let pem_no_newline = EncodingKey::from_secret(RSA1_PUB.trim_end().as_bytes()).unwrap();
    let n_key =
        EncodingKey::from_secret(jwk("rsa1-rs256")["n"].as_str().unwrap().as_bytes()).unwrap();
    let n_raw = EncodingKey::from_secret(
        &URL_SAFE_NO_PAD
            .decode(jwk("rsa1-rs256")["n"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let jwks_text = EncodingKey::from_secret(JWKS.as_bytes()).unwrap();
    let forged_claims = with(claims(), "sub", json!("admin"));

    let default = verifier(); // HS256 allowed (client secret) and RS256 from the JWKS
    let rs_only = verifier_allowing(&[Algorithm::RS256]);
    for key in [&pem_key, &pem_no_newline, &n_key, &n_raw, &jwks_text] {
        for kid in [Some("rsa1-rs256"), None] {
            let token = mint(&header("HS256", kid), &forged_claims, Jalg::HS256, key);
            assert_eq!(
                default.verify_map(token.as_bytes(), NOW).unwrap_err(),
                TokenError::BadSignature,
                "kid {kid:?}"
            );
            assert_eq!(
                rs_only.verify_map(token.as_bytes(), NOW).unwrap_err(),
                TokenError::AlgorithmNotAllowed
            );
        }
    }
    // Also with the only JWKS key being the RSA key, and the EC/Ed keys' encodings.
    let only_rsa = KeySet::new(SECRET, Some(&jwks_of(&[jwk("rsa1-rs256")])), None).unwrap();
    let v = Verifier::new(only_rsa, ISS, AUD, LEEWAY);
    let token = mint(
        &header("HS256", Some("rsa1-rs256")),
        &forged_claims,
        Jalg::HS256,
        &pem_key,
    );
    assert_eq!(
        v.verify_map(token.as_bytes(), NOW).unwrap_err(),
        TokenError::BadSignature
    );
    for kid in ["ec256", "ed25519"] {
        let x = EncodingKey::from_secret(jwk(kid)["x"].as_str().unwrap().as_bytes()).unwrap();
        let token = mint(&header("HS256", Some(kid)), &forged_claims, Jalg::HS256, &x);
        assert_eq!(err(&token), TokenError::BadSignature, "{kid}");
    }
}

#[test]
fn unknown_kid() {
    for kid in ["nope", "", "RSA1-RS256", "rsa1-rs256 ", "rsa1-enc"] {
        let token = mint(&header("RS256", Some(kid)), &claims(), Jalg::RS256, &rsa1());
        assert_eq!(err(&token), TokenError::UnknownKey, "{kid:?}");
    }
    let token = mint(
        &header("ES256", Some("nope")),
        &claims(),
        Jalg::ES256,
        &ec256(),
    );
    assert_eq!(err(&token), TokenError::UnknownKey);
}

#[test]
fn kid_of_one_family_with_alg_of_another() {
    // kid of the EC key, RS256 header, genuinely signed with the RSA key.
    let token = mint(
        &header("RS256", Some("ec256")),
        &claims(),
        Jalg::RS256,
        &rsa1(),
    );
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
    // kid of an RSA key, ES256 header, signed with the EC key.
    let token = mint(
        &header("ES256", Some("rsa1-rs256")),
        &claims(),
        Jalg::ES256,
        &ec256(),
    );
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
    // kid of the Ed25519 key with ES384.
    let token = mint(
        &header("ES384", Some("ed25519")),
        &claims(),
        Jalg::ES384,
        &ec384(),
    );
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
}

#[test]
fn header_alg_must_equal_the_keys_alg() {
    // The RSA material under kid rsa1-rs256 is pinned to RS256: a genuine PS256 signature by
    // the same private key is refused, and the other way round.
    let token = mint(
        &header("PS256", Some("rsa1-rs256")),
        &claims(),
        Jalg::PS256,
        &rsa1(),
    );
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
    let token = mint(
        &header("RS256", Some("rsa1-ps256")),
        &claims(),
        Jalg::RS256,
        &rsa1(),
    );
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
    let token = mint(
        &header("RS512", Some("rsa1-rs256")),
        &claims(),
        Jalg::RS512,
        &rsa1(),
    );
    assert_eq!(err(&token), TokenError::AlgorithmNotAllowed);
    // Through KeySet::verify directly, the mismatch has its own error.
    let ks = KeySet::new(SECRET, Some(JWKS), None).unwrap();
    let token = mint(
        &header("PS256", Some("rsa1-rs256")),
        &claims(),
        Jalg::PS256,
        &rsa1(),
    );
    let (message, sig) = token.rsplit_once('.').unwrap();

    assert_eq!(
        ks.verify(
            Algorithm::PS256,
            Some("rsa1-rs256"),
            message.as_bytes(),
            sig
        ),
        Err(KeyError::AlgorithmMismatch)
    );
    assert_eq!(
        ks.verify(
            Algorithm::PS256,
            Some("rsa1-ps256"),
            message.as_bytes(),
            sig
        ),
        Ok(())
    );
}

#[test]
fn keys_embedded_in_the_header_are_never_used() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let attacker_jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]),
                              "y": b64(&point[33..65]), "kid": "attacker"});
    let attacker = EncodingKey::from_ec_der(pkcs8.as_ref());
    let hdr = json!({"alg": "ES256", "jwk": attacker_jwk, "jku": "https://evil.example/jwks",
                     "x5u": "https://evil.example/cert"});
    assert_eq!(
        err(&mint(&hdr, &claims(), Jalg::ES256, &attacker)),
        TokenError::BadSignature
    );
    let hdr = with(hdr, "kid", json!("attacker"));
    assert_eq!(
        err(&mint(&hdr, &claims(), Jalg::ES256, &attacker)),
        TokenError::UnknownKey
    );
    // The same headers on a genuine token are harmless.
    let hdr = with(hdr, "kid", json!("ec256"));
    assert!(verify(&mint(&hdr, &claims(), Jalg::ES256, &ec256())).is_ok());
}

#[test]
fn header_shape() {
    let p = claims().to_string();
    let bad_headers = [
        r#"{"typ":"JWT"}"#,                  // no alg
        r#"{"alg":["HS256"]}"#,              // alg not a string
        r#"{"alg":null}"#,                   // alg null
        r#"{"alg":"HS256","kid":7}"#,        // kid not a string
        r#"{"alg":"HS256","kid":null}"#,     // kid null
        r#"{"alg":"HS256","crit":["exp"]}"#, // unknown critical extension
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        r#"["HS256"]"#, // not an object
        r#""HS256""#,
        r#"{"alg":"HS256"} x"#, // trailing garbage
        r#"{"alg":"HS256""#,    // truncated JSON
        "hello",
        "",
    ];
    for h in bad_headers {
        let token = mint_raw(h, &p, Jalg::HS256, &hmac_key());
        assert_eq!(err(&token), TokenError::Malformed, "{h}");
    }
    // Whitespace and unknown members are fine.
    let token = mint_raw(
        " {\n\"alg\" : \"HS256\", \"typ\":\"at+jwt\", \"x\":{}} ",
        &p,
        Jalg::HS256,
        &hmac_key(),
    );
    assert!(verify(&token).is_ok());
}

// ---------------------------------------------------------------------------------------------
// structure and encoding

#[test]
fn structural_garbage() {
    let valid = hs256(&claims());
    let (h, rest) = valid.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("garbage".into(), "garbage"),
        ("not a token at all".into(), "spaces"),
        (".".into(), "one dot"),
        ("..".into(), "two dots"),
        ("...".into(), "three dots"),
        (format!("{h}.{p}"), "two parts"),
        (format!("{h}.{p}.{s}.{s}"), "four parts"),
        (format!("{h}.{p}.{s}."), "trailing dot"),
        (format!(".{h}.{p}.{s}"), "leading dot"),
        (format!("{h}..{p}.{s}"), "empty middle part"),
        (format!(" {valid}"), "leading space"),
        (format!("{valid}\n"), "trailing newline"),
        (format!("Bearer {valid}"), "scheme included"),
        (
            valid[..valid.len() / 2].to_string(),
            "truncated in the middle",
        ),
        (valid[..h.len()].to_string(), "header only"),
        (format!("{h}.{p}.{s}\0"), "NUL"),
    ];
    for (token, what) in &cases {
        assert_eq!(err(token), TokenError::Malformed, "{what}");
    }
    // Non-UTF-8 bytes.
    let v = verifier();
    for raw in [
        &b"\xff\xfe.\x80.\x00"[..],
        b"\xc3\x28.e30.",
        &[0u8; 100],
        &[b'.'; 1000],
    ] {
        assert_eq!(v.verify_map(raw, NOW).unwrap_err(), TokenError::Malformed);
    }
}

#[test]
fn truncated_tokens() {
    for token in [hs256(&claims()), rs256(&claims())] {
        for cut in 1..=8 {
            let t = &token[..token.len() - cut];
            let e = err(t);
            assert!(
                matches!(e, TokenError::BadSignature | TokenError::Malformed),
                "cut {cut}: {e:?}"
            );
        }
        // A signature shortened by whole bytes (still canonical base64): checked, and refused.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        for keep in [0, 1, raw.len() / 2, raw.len() - 1] {
            let short = b64(&raw[..keep]);
            assert_eq!(err(&format!("{head}.{short}")), TokenError::BadSignature);
        }
        // Cutting the signature off entirely.
        assert_eq!(err(&format!("{head}.")), TokenError::BadSignature);
    }
}

#[test]
fn non_base64_parts() {
    let p = b64(claims().to_string().as_bytes());
    let h = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let std_alphabet = base64::engine::general_purpose::STANDARD_NO_PAD;
    let padded_h = URL_SAFE.encode(br#"{"alg":"HS256","typ":"JW"}"#); // ends in '='
    assert!(padded_h.ends_with('='));
    let mut pj = claims().to_string();
    while !matches!(pj.len() % 3, 1 | 2) {
        pj.push(' ');
    }
    let padded_p = URL_SAFE.encode(pj.as_bytes());
    assert!(padded_p.ends_with('='));
    let std_h = std_alphabet.encode(br#"{"alg":"HS256","typ":"JWT","x":"???>>>"}"#);
    assert!(std_h.contains('/') && std_h.contains('+'), "{std_h}");
    let cases = [
        (format!("{h}*"), p.clone(), "bad char in header"),
        (h.clone(), format!("{p}!"), "bad char in payload"),
        (padded_h, p.clone(), "padded header"),
        (h.clone(), padded_p, "padded payload"),
        (std_h, p.clone(), "standard alphabet (+ /)"),
        (format!("{h}A"), p.clone(), "impossible length (4n+1)"),
    ];
    for (h, p, what) in cases {
        // Properly signed over the text as sent: only the encoding is wrong.
        let token = sign_parts(&h, &p, Jalg::HS256, &hmac_key());
        assert_eq!(err(&token), TokenError::Malformed, "{what}");
    }
    // Signature: padding, bad characters, non-canonical trailing bits.
    let valid = hs256(&claims());
    let (head, sig) = valid.rsplit_once('.').unwrap();
    assert_eq!(err(&format!("{head}.{sig}=")), TokenError::Malformed);
    assert_eq!(err(&format!("{head}.{sig}*")), TokenError::Malformed);
    let mut tweaked = sig.as_bytes().to_vec();
    // 32 bytes → 43 characters, the last one carries 2 spare bits: set one of them.
    let last = tweaked.last_mut().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.iter().position(|c| c == last).unwrap();
    *last = alphabet[idx | 1];
    assert_ne!(tweaked, sig.as_bytes());
    let tweaked = String::from_utf8(tweaked).unwrap();
    assert_eq!(err(&format!("{head}.{tweaked}")), TokenError::Malformed);
}

#[test]
fn payload_must_be_a_json_object() {
    let h = r#"{"alg":"HS256"}"#;
    for p in [
        "[1,2,3]",
        &format!("[{}]", claims()),
        "\"string\"",
        "42",
        "null",
        "",
        "{",
        "not json",
        &format!("{} {{}}", claims()),
        "{\"iss\":\"\\ud800\"}",
    ] {
        let token = mint_raw(h, p, Jalg::HS256, &hmac_key());
        assert_eq!(err(&token), TokenError::Malformed, "{p}");
    }
    // Invalid UTF-8 inside a JSON string.
    let token = sign_parts(
        &b64(h.as_bytes()),
        &b64(b"{\"iss\":\"\xff\"}"),
        Jalg::HS256,
        &hmac_key(),
    );
    assert_eq!(err(&token), TokenError::Malformed);
}

#[test]
fn payload_parsed_only_after_the_signature() {
    // Unsigned garbage payload: the verdict is the signature, not the JSON.
    let valid = hs256(&claims());
    let (h, rest) = valid.split_once('.').unwrap();
    let s = rest.split_once('.').unwrap().1;
    let p = b64(b"[not json");
    assert_eq!(err(&format!("{h}.{p}.{s}")), TokenError::BadSignature);
}

// ---------------------------------------------------------------------------------------------
// size and depth limits

#[test]
fn too_large() {
    // ~70 KB and otherwise valid.
    let big = with(claims(), "pad", json!("x".repeat(70 * 1024)));
    let token = hs256(&big);
    assert!(token.len() > 70 * 1024);
    assert_eq!(err(&token), TokenError::TooLarge);
    // Garbage of the same size is judged on size first.
    assert_eq!(
        verifier()
            .verify_map(&vec![b'A'; MAX_TOKEN_BYTES + 1], NOW)
            .unwrap_err(),
        TokenError::TooLarge
    );
}

#[test]
fn size_limit_boundary() {
    // Build tokens of exactly MAX_TOKEN_BYTES and one byte more by padding a claim and,
    // where base64 lengths skip a value, the header.
    let mut exact = None;
    let mut over = None;
    'search: for typ_len in 0..4 {
        let hdr = json!({"alg": "HS256", "typ": "J".repeat(typ_len)});
        for pad in (MAX_TOKEN_BYTES * 3 / 4 - 1000)..(MAX_TOKEN_BYTES * 3 / 4) {
            let token = mint(
                &hdr,
                &with(claims(), "pad", json!("x".repeat(pad))),
                Jalg::HS256,
                &hmac_key(),
            );
            if token.len() == MAX_TOKEN_BYTES {
                exact = Some(token);
            } else if token.len() == MAX_TOKEN_BYTES + 1 {
                over = Some(token);
            }
            if exact.is_some() && over.is_some() {
                break 'search;
            }
        }
    }
    let (exact, over) = (exact.unwrap(), over.unwrap());
    assert!(verify(&exact).is_ok());
    assert_eq!(err(&over), TokenError::TooLarge);
}

/// Decoded header and payload of about 3 KB, where the verifier moves its buffer from the
/// stack to the heap: every size verifies, with its claims intact.
#[test]
fn decoded_size_around_the_stack_buffer() {
    for pad in 2500..3100 {
        let token = hs256(&with(claims(), "pad", json!("x".repeat(pad))));
        let claims = verify(&token).unwrap();
        assert_eq!(
            claims.get("pad").and_then(Value::as_str).map(str::len),
            Some(pad)
        );
    }
}

#[test]
fn nesting_depth() {
    assert_eq!(MAX_JSON_DEPTH, 32);
    // The top-level object is level 1, so a claim of n arrays gives depth n + 1.
    let token = |depth: usize| hs256(&with(claims(), "deep", nested(depth - 1)));
    assert_eq!(err(&token(40)), TokenError::TooDeep);
    assert_eq!(err(&token(MAX_JSON_DEPTH + 1)), TokenError::TooDeep);
    assert!(verify(&token(30)).is_ok());
    let c = verify(&token(MAX_JSON_DEPTH)).unwrap();
    assert!(c.get("deep").is_some());
    // Objects count too.
    let mut obj = json!(1);
    for _ in 0..39 {
        obj = json!({ "a": obj });
    }
    assert_eq!(
        err(&hs256(&with(claims(), "deep", obj))),
        TokenError::TooDeep
    );
    // Hostile nesting far beyond serde_json's own limit: still a verdict.
    let p = format!("{}{}", "[".repeat(100_000 / 3), "]".repeat(100_000 / 3));
    let huge = mint_raw(r#"{"alg":"HS256"}"#, &p, Jalg::HS256, &hmac_key());
    assert!(matches!(
        err(&huge),
        TokenError::TooDeep | TokenError::TooLarge
    ));
    let p = "[".repeat(40_000);
    let huge = mint_raw(r#"{"alg":"HS256"}"#, &p, Jalg::HS256, &hmac_key());
    assert_eq!(err(&huge), TokenError::TooDeep);
}

#[test]
fn nesting_in_the_header() {
    let hdr = json!({"alg": "HS256", "x": nested(40)});
    assert_eq!(
        err(&mint(&hdr, &claims(), Jalg::HS256, &hmac_key())),
        TokenError::TooDeep
    );
    let hdr = json!({"alg": "HS256", "x": nested(20)});
    assert!(verify(&mint(&hdr, &claims(), Jalg::HS256, &hmac_key())).is_ok());
}

#[test]
fn brackets_inside_strings_do_not_count() {
    let deep_text = format!("{}{}", "[{".repeat(50), "}]".repeat(50));
    assert!(verify(&hs256(&with(claims(), "text", json!(deep_text)))).is_ok());
    // An escaped quote does not end the string: the brackets after it are still inside.
    let tricky = format!("\"{}", "[".repeat(40));
    assert!(verify(&hs256(&with(claims(), "text", json!(tricky)))).is_ok());
    let tricky = format!("\\\"{}", "{".repeat(40));
    assert!(verify(&hs256(&with(claims(), "text", json!(tricky)))).is_ok());
    // An escaped backslash does end before the quote: real nesting after it counts.
    let payload = with(
        with(claims(), "a", json!("\\")),
        "deep",
        nested(MAX_JSON_DEPTH),
    );
    let text = payload.to_string();
    assert!(text.contains(r#""\\""#));
    assert_eq!(err(&hs256(&payload)), TokenError::TooDeep);
}

// ---------------------------------------------------------------------------------------------
// content that other modules sanitise

#[test]
fn claims_with_cr_lf_verify() {
    let evil = "alice\r\nX-authentik-groups: admins\r\n\r\n";
    let payload = with(
        with(claims(), "name", json!(evil)),
        "groups",
        json!(["users\nadmins", "a\u{0}b"]),
    );
    let c = verify(&hs256(&payload)).unwrap();
    assert_eq!(c.get_str("name"), Some(evil));
    assert_eq!(c.get("groups"), Some(&json!(["users\nadmins", "a\u{0}b"])));
}

// ---------------------------------------------------------------------------------------------
// KeySet construction

#[test]
fn keyset_invalid_jwks_json() {
    for text in [
        "",
        "{",
        "not json",
        "{\"keys\":[}",
        "[]",
        "\"keys\"",
        "null",
    ] {
        assert!(
            matches!(keyset_err(text), KeyError::InvalidJwks(_)),
            "{text:?}"
        );
    }
    assert!(matches!(
        keyset_err(r#"{"keys":{}}"#),
        KeyError::InvalidJwks(_)
    ));
}

#[test]
fn keyset_empty_jwks() {
    assert_eq!(keyset_err(r#"{"keys":[]}"#), KeyError::EmptyJwks);
    // authentik serves `{}` for HS256 providers.
    assert_eq!(keyset_err("{}"), KeyError::EmptyJwks);
    // Only keys that are not for signing.
    assert_eq!(
        keyset_err(&jwks_of(&[jwk("rsa1-enc")])),
        KeyError::NoUsableKeys { skipped: 1 }
    );
}

#[test]
fn keyset_allowed_algorithm_without_key() {
    assert_eq!(
        KeySet::new(SECRET, None, Some(&[Algorithm::RS256])).unwrap_err(),
        KeyError::NoKeyForAlgorithm(Algorithm::RS256)
    );
    let only_rsa = jwks_of(&[jwk("rsa1-rs256")]);
    assert_eq!(
        KeySet::new(
            SECRET,
            Some(&only_rsa),
            Some(&[Algorithm::RS256, Algorithm::ES384])
        )
        .unwrap_err(),
        KeyError::NoKeyForAlgorithm(Algorithm::ES384)
    );
    // PS256 needs a key whose alg is PS256; an RS256 key of the same material is not one.
    assert_eq!(
        KeySet::new(SECRET, Some(&only_rsa), Some(&[Algorithm::PS256])).unwrap_err(),
        KeyError::NoKeyForAlgorithm(Algorithm::PS256)
    );
    // An empty secret is no HMAC key.
    assert_eq!(
        KeySet::new(b"", Some(&only_rsa), Some(&[Algorithm::HS256])).unwrap_err(),
        KeyError::NoKeyForAlgorithm(Algorithm::HS256)
    );
    let ks = KeySet::new(b"", Some(&only_rsa), None).unwrap();
    assert_eq!(ks.algorithms(), &[Algorithm::RS256]);
    assert_eq!(
        KeySet::new(SECRET, None, Some(&[])).unwrap_err(),
        KeyError::NoAlgorithms
    );
}

fn invalid_key(jwk: Value) -> String {
    match keyset_err(&jwks_of(std::slice::from_ref(&jwk))) {
        KeyError::InvalidKey { reason, .. } => reason,
        other => panic!("{jwk}: {other:?}"),
    }
}

#[test]
fn keyset_invalid_keys() {
    let rsa = jwk("rsa1-rs256");
    let ec = jwk("ec256");
    let ed = jwk("ed25519");
    // Private members.
    for m in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
        assert!(invalid_key(with(rsa.clone(), m, json!("AQAB"))).contains("private"));
    }
    assert!(invalid_key(with(ec.clone(), "d", json!("AQAB"))).contains("private"));
    assert!(invalid_key(with(ed.clone(), "d", json!("AQAB"))).contains("private"));
    // Symmetric keys.
    invalid_key(json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}));
    invalid_key(json!({"kty": "oct", "alg": "HS256"}));
    // alg inconsistent with kty / crv.
    for alg in ["ES256", "HS256", "EdDSA"] {
        invalid_key(with(rsa.clone(), "alg", json!(alg)));
    }
    for alg in ["ES384", "RS256", "HS256", "EdDSA"] {
        invalid_key(with(ec.clone(), "alg", json!(alg)));
    }
    invalid_key(with(ed.clone(), "alg", json!("ES256")));
    // Missing or broken members.
    invalid_key(without(rsa.clone(), "n"));
    invalid_key(without(rsa.clone(), "e"));
    invalid_key(without(rsa.clone(), "kty"));
    invalid_key(with(rsa.clone(), "n", json!("***")));
    invalid_key(with(rsa.clone(), "n", json!(7)));
    invalid_key(with(rsa.clone(), "kid", json!(7)));
    invalid_key(with(rsa.clone(), "alg", json!(["RS256"])));
    invalid_key(with(rsa.clone(), "key_ops", json!("verify")));
    invalid_key(without(ec.clone(), "y"));
    invalid_key(without(ec.clone(), "crv"));
    invalid_key(without(ed.clone(), "x"));
    invalid_key(json!("a string"));
    // RSA modulus of 1024 bits, even modulus, bad exponents.
    let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
    assert!(invalid_key(with(rsa.clone(), "n", json!(b64(&n[128..])))).contains("bits"));
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(invalid_key(with(rsa.clone(), "n", json!(b64(&even)))).contains("even"));
    for e in [&[1u8][..], &[2], &[], &[1, 0, 0, 0, 0, 1]] {
        invalid_key(with(rsa.clone(), "e", json!(b64(e))));
    }
    // EC point not on the curve, coordinate too long.
    let mut y = URL_SAFE_NO_PAD.decode(ec["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    assert!(invalid_key(with(ec.clone(), "y", json!(b64(&y)))).contains("curve"));
    invalid_key(with(ec.clone(), "y", json!(b64(&[1u8; 33]))));
    // Ed25519 key of the wrong size.
    invalid_key(with(ed.clone(), "x", json!(b64(&[1u8; 31]))));
}

#[test]
fn keyset_error_names_the_key() {
    let mut keys = jwks_keys();
    keys.insert(2, with(jwk("ec256"), "alg", json!("RS256")));
    match keyset_err(&jwks_of(&keys)) {
        KeyError::InvalidKey { index, kid, reason } => {
            assert_eq!(index, 2);
            assert_eq!(kid.as_deref(), Some("ec256"));
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let shown = keyset_err(&jwks_of(&keys)).to_string();
    assert!(shown.contains("#2") && shown.contains("ec256"), "{shown}");
}

#[test]
fn keyset_skipped_keys() {
    let base = jwk("rsa1-rs256");
    let skipped = [
        jwk("rsa1-enc"),
        with(base.clone(), "use", json!("enc")),
        with(base.clone(), "use", json!("other")),
        with(base.clone(), "key_ops", json!(["encrypt"])),
        with(base.clone(), "alg", json!("RSA-OAEP-256")),
        with(base.clone(), "alg", json!("none")),
        with(jwk("ec256"), "crv", json!("P-521")),
        with(without(jwk("ec256"), "alg"), "crv", json!("secp256k1")),
        with(jwk("ed25519"), "crv", json!("X25519")),
        json!({"kty": "XYZ", "kid": "future"}),
    ];
    assert_eq!(
        keyset_err(&jwks_of(&skipped)),
        KeyError::NoUsableKeys {
            skipped: skipped.len()
        }
    );
    // Mixed with a usable key: fine, and the skipped kids are unknown.
    let mut keys = skipped.to_vec();
    keys.push(jwk("rsa1-rs256"));
    let ks = KeySet::new(SECRET, Some(&jwks_of(&keys)), None).unwrap();
    assert_eq!(ks.jwks_len(), 1);
    assert_eq!(ks.algorithms(), &[Algorithm::HS256, Algorithm::RS256]);
    let token = mint(
        &header("RS256", Some("rsa1-enc")),
        &claims(),
        Jalg::RS256,
        &rsa1(),
    );
    let v = Verifier::new(ks, ISS, AUD, LEEWAY);
    assert_eq!(
        v.verify_map(token.as_bytes(), NOW).unwrap_err(),
        TokenError::UnknownKey
    );
    // key_ops containing verify is used.
    let ks = KeySet::new(
        SECRET,
        Some(&jwks_of(&[with(base, "key_ops", json!(["verify"]))])),
        None,
    )
    .unwrap();
    assert_eq!(ks.jwks_len(), 1);
}

#[test]
fn keyset_algorithm_defaults_and_leniency() {
    // RSA without alg is RS256; EC/OKP without alg take their curve's algorithm.
    let rsa_no_alg = without(jwk("rsa1-rs256"), "alg");
    let ec_no_alg = without(jwk("ec256"), "alg");
    let ks = KeySet::new(
        SECRET,
        Some(&jwks_of(&[rsa_no_alg, ec_no_alg, jwk("ed25519")])),
        None,
    )
    .unwrap();
    use Algorithm::*;
    assert_eq!(ks.algorithms(), &[HS256, RS256, ES256, EdDSA]);
    let v = Verifier::new(ks, ISS, AUD, LEEWAY);
    assert!(v.verify_map(rs256(&claims()).as_bytes(), NOW).is_ok());
    let token = mint(
        &header("ES256", Some("ec256")),
        &claims(),
        Jalg::ES256,
        &ec256(),
    );
    assert!(v.verify_map(token.as_bytes(), NOW).is_ok());

    // Leading zeros on n and e, padded base64, no kid, no use: still the same key.
    let rsa = jwk("rsa1-rs256");
    let mut n = vec![0u8, 0];
    n.extend(URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap());
    let lenient =
        json!({"kty": "RSA", "n": URL_SAFE.encode(&n), "e": URL_SAFE.encode([0, 1, 0, 1])});
    let ks = KeySet::new(SECRET, Some(&jwks_of(&[lenient])), None).unwrap();
    let v = Verifier::new(ks, ISS, AUD, LEEWAY);
    let token = mint(&header("RS256", None), &claims(), Jalg::RS256, &rsa1());
    assert!(v.verify_map(token.as_bytes(), NOW).is_ok());
    // A kid in the token never matches a key without kid.
    assert_eq!(
        v.verify_map(rs256(&claims()).as_bytes(), NOW).unwrap_err(),
        TokenError::UnknownKey
    );

    // Duplicate kid with different algorithms: the kid+alg pair picks the key.
    let dup = jwks_of(&[
        with(jwk("ec256"), "kid", json!("same")),
        with(jwk("rsa1-rs256"), "kid", json!("same")),
    ]);
    let v = Verifier::new(
        KeySet::new(SECRET, Some(&dup), None).unwrap(),
        ISS,
        AUD,
        LEEWAY,
    );
    let token = mint(
        &header("RS256", Some("same")),
        &claims(),
        Jalg::RS256,
        &rsa1(),
    );
    assert!(v.verify_map(token.as_bytes(), NOW).is_ok());
    let token = mint(
        &header("ES256", Some("same")),
        &claims(),
        Jalg::ES256,
        &ec256(),
    );
    assert!(v.verify_map(token.as_bytes(), NOW).is_ok());
}

#[test]
fn keyset_verify_direct() {
    let ks = KeySet::new(SECRET, Some(JWKS), None).unwrap();
    let token = hs256(&claims());
    let (message, sig) = token.rsplit_once('.').unwrap();

    assert_eq!(
        ks.verify(Algorithm::HS256, None, message.as_bytes(), sig),
        Ok(())
    );
    assert_eq!(
        ks.verify(
            Algorithm::HS256,
            Some("rsa1-rs256"),
            message.as_bytes(),
            sig
        ),
        Ok(()),
        "kid is irrelevant for HMAC"
    );
    assert_eq!(
        ks.verify(Algorithm::HS384, None, message.as_bytes(), sig),
        Err(KeyError::AlgorithmNotAllowed)
    );
    assert_eq!(
        ks.verify(Algorithm::HS256, None, b"other", sig),
        Err(KeyError::BadSignature)
    );
    assert_eq!(
        ks.verify(Algorithm::RS256, Some("zzz"), message.as_bytes(), sig),
        Err(KeyError::UnknownKey)
    );
    assert_eq!(
        ks.verify(Algorithm::RS256, None, message.as_bytes(), sig),
        Err(KeyError::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------------
// errors, robustness

#[test]
fn error_display_and_reasons() {
    use TokenError::*;
    let all = [
        TooLarge,
        Malformed,
        TooDeep,
        AlgorithmNotAllowed,
        UnknownKey,
        BadSignature,
        WrongIssuer,
        WrongAudience,
        MissingExpiry,
        Expired,
        NotYetValid,
        IssuedInFuture,
    ];
    let mut reasons: Vec<&str> = all.iter().map(|e| e.reason()).collect();
    for e in all {
        assert!(!e.to_string().is_empty());
        assert_eq!(e.is_expired(), e == Expired);
        assert!(e
            .reason()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_'));
    }
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), all.len());

    let shown = KeySet::new(SECRET, None, Some(&[Algorithm::ES256]))
        .unwrap_err()
        .to_string();
    assert!(shown.contains("ES256"), "{shown}");
    assert!(keyset_err("{").to_string().contains("JWKS"));
}

/// Every single-byte mutation of a valid token is rejected, and nothing panics.
#[test]
fn mutations_never_accept_and_never_panic() {
    let v = verifier();
    let tokens = [hs256(&claims()), rs256(&claims())];
    let replacements = [b'A', b'.', b'=', b'_', b'-', b'*', 0u8, 0xff];
    // xorshift, deterministic.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (i, token) in tokens.iter().enumerate() {
        let rounds = if i == 0 { 3000 } else { 300 };
        for _ in 0..rounds {
            let mut t = token.as_bytes().to_vec();
            let pos = (next() % t.len() as u64) as usize;
            let with = replacements[(next() % replacements.len() as u64) as usize];
            if t[pos] == with {
                continue;
            }
            t[pos] = with;
            assert!(
                v.verify_map(&t, NOW).is_err(),
                "mutation at {pos} accepted: {}",
                String::from_utf8_lossy(&t)
            );
        }
        for cut in 0..token.len() {
            assert!(v.verify_map(&token.as_bytes()[..cut], NOW).is_err());
        }
    }
}
