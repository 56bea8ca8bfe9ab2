//! A token built from parts, signed by one of several keys, optionally mutated, then verified
//! by two verifiers with different keys. The verdict must equal the oracle's:
//! accepted iff the header names an allowed algorithm and a key of the verifier's set (by
//! `kid`, or any key of that algorithm), that key made the signature with that algorithm,
//! nothing was changed after signing, and the claims are valid (docs/architecture.md §7).
#![no_main]

use arbitrary::Arbitrary;
use authentik_core::keys::Algorithm;
use authentik_core::token::MAX_JSON_DEPTH;
use fuzz_support::{
    b64, claims_valid, json_depth, sign, JsonGen, KeyGen, Signer, AUD, ISS, LEEWAY, NOW,
};
use fuzz_support::{VERIFIER_A, VERIFIER_B};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum AlgName {
    Index(u8),
    None,
    Odd(u8),
    Missing,
    NotAString,
}

#[derive(Arbitrary, Debug)]
enum Kid {
    Missing,
    Of(u8),
    Other(String),
    NotAString,
}

#[derive(Arbitrary, Debug)]
struct HeaderGen {
    alg: AlgName,
    kid: Kid,
    crit: bool,
    /// Embedded keys are to be ignored, never used.
    embedded_jwk: bool,
    extra: Vec<(KeyGen, JsonGen)>,
}

#[derive(Arbitrary, Debug)]
enum Text {
    Right,
    Wrong(String),
    Missing,
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Right,
    Wrong(String),
    Missing,
    List(Vec<bool>, Vec<String>),
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
enum Time {
    Missing,
    Rel(i32),
    RelF(i32, u16),
    Abs(u64),
    Neg(i64),
    Float(f64),
    Json(JsonGen),
}

#[derive(Arbitrary, Debug)]
struct ClaimsGen {
    iss: Text,
    aud: Aud,
    exp: Time,
    nbf: Time,
    iat: Time,
    extra: Vec<(KeyGen, JsonGen)>,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    None,
    Xor { part: u8, at: u16, with: u8 },
    Truncate(u16),
    Insert { at: u16, byte: u8 },
    SwapSignatureFrom(Signer),
}

#[derive(Arbitrary, Debug)]
struct Input {
    header: HeaderGen,
    claims: ClaimsGen,
    signer: Signer,
    sig_alg: u8,
    mutation: Mutation,
}

const ODD_NAMES: &[&str] = &[
    "none",
    "None",
    "NONE",
    "",
    "hs256",
    "HS256 ",
    "ES512",
    "Ed25519",
    "RSA-OAEP-256",
    "HS1",
];
const KIDS: &[&str] = &[
    "rsa1-rs256",
    "rsa1-rs384",
    "rsa1-rs512",
    "rsa1-ps256",
    "rsa1-ps384",
    "rsa1-ps512",
    "rsa2-rs256",
    "ec256",
    "ec384",
    "ed25519",
    "rsa1-enc",
    "",
];

fn time(t: &Time) -> Option<Value> {
    Some(match t {
        Time::Missing => return None,
        Time::Rel(d) => json!(NOW as i64 + i64::from(*d)),
        Time::RelF(d, frac) => json!(NOW as f64 + f64::from(*d) + f64::from(*frac) / 65536.0),
        Time::Abs(v) => json!(v),
        Time::Neg(v) => json!(v),
        Time::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Time::Json(j) => j.to_value(),
    })
}

fn build_claims(c: &ClaimsGen) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in &c.extra {
        m.insert(k.name(), v.to_value());
    }
    match &c.iss {
        Text::Right => drop(m.insert("iss".into(), json!(ISS))),
        Text::Wrong(s) => drop(m.insert("iss".into(), json!(s))),
        Text::Missing => drop(m.remove("iss")),
        Text::Json(j) => drop(m.insert("iss".into(), j.to_value())),
    }
    match &c.aud {
        Aud::Right => drop(m.insert("aud".into(), json!(AUD))),
        Aud::Wrong(s) => drop(m.insert("aud".into(), json!(s))),
        Aud::Missing => drop(m.remove("aud")),
        Aud::List(right, others) => {
            let mut list: Vec<Value> = others.iter().map(|s| json!(s)).collect();
            for (i, r) in right.iter().enumerate() {
                if *r {
                    list.insert(i.min(list.len()), json!(AUD));
                }
            }
            m.insert("aud".into(), Value::Array(list));
        }
        Aud::Json(j) => drop(m.insert("aud".into(), j.to_value())),
    }
    for (name, t) in [("exp", &c.exp), ("nbf", &c.nbf), ("iat", &c.iat)] {
        match time(t) {
            Some(v) => drop(m.insert(name.into(), v)),
            None => drop(m.remove(name)),
        }
    }
    m
}

fuzz_target!(|input: Input| {
    let sig_alg = Algorithm::ALL[input.sig_alg as usize % Algorithm::ALL.len()];

    // Header.
    let mut header = Map::new();
    for (k, v) in &input.header.extra {
        header.insert(k.name(), v.to_value());
    }
    let alg: Option<Algorithm> = match &input.header.alg {
        AlgName::Index(i) => {
            let alg = Algorithm::ALL[*i as usize % Algorithm::ALL.len()];
            header.insert("alg".into(), json!(alg.name()));
            Some(alg)
        }
        AlgName::None => {
            header.insert("alg".into(), json!("none"));
            None
        }
        AlgName::Odd(i) => {
            header.insert(
                "alg".into(),
                json!(ODD_NAMES[*i as usize % ODD_NAMES.len()]),
            );
            None
        }
        AlgName::Missing => {
            header.remove("alg");
            None
        }
        AlgName::NotAString => {
            header.insert("alg".into(), json!(["HS256"]));
            None
        }
    };
    let (kid, kid_ok): (Option<String>, bool) = match &input.header.kid {
        Kid::Missing => {
            header.remove("kid");
            (None, true)
        }
        Kid::Of(i) => {
            let kid = KIDS[*i as usize % KIDS.len()].to_string();
            header.insert("kid".into(), json!(kid));
            (Some(kid), true)
        }
        Kid::Other(s) => {
            header.insert("kid".into(), json!(s));
            (Some(s.clone()), true)
        }
        Kid::NotAString => {
            header.insert("kid".into(), json!(7));
            (None, false)
        }
    };
    if input.header.crit {
        header.insert("crit".into(), json!(["exp"]));
    } else {
        header.remove("crit");
    }
    if input.header.embedded_jwk {
        header.insert(
            "jwk".into(),
            json!({"kty": "oct", "k": b64(b"attacker"), "alg": "HS256"}),
        );
    }
    let payload_text = Value::Object(build_claims(&input.claims)).to_string();
    // The oracle judges the claims as the verifier will see them: re-parsed (serde_json's
    // default float parsing is not an exact round trip of its printing, off by one ULP at
    // times; that is a property of the JSON library, not of the module).
    let claims: Map<String, Value> = serde_json::from_str(&payload_text).expect("own JSON");

    let shallow = json_depth(&Value::Object(header.clone())) <= MAX_JSON_DEPTH
        && json_depth(&Value::Object(claims.clone())) <= MAX_JSON_DEPTH;
    let header_b64 = b64(Value::Object(header).to_string().as_bytes());
    let payload_b64 = b64(payload_text.as_bytes());
    let message = format!("{header_b64}.{payload_b64}");
    let signature = sign(input.signer, sig_alg, message.as_bytes());
    let sig_real = signature.is_some();
    let signature = signature.unwrap_or_else(|| vec![0x5a; 64]);
    let original = format!("{message}.{}", b64(&signature));

    let mut token = original.clone().into_bytes();
    // Who made the signature now in the token, and whether the token is still exactly what
    // was signed. Changed bytes can never verify: base64url is canonical and the signature
    // covers the header and payload exactly as sent.
    let mut signer = input.signer;
    let mut swapped = false;
    match &input.mutation {
        Mutation::None => {}
        Mutation::Xor { part, at, with } => {
            let bounds = [
                (0, header_b64.len()),
                (header_b64.len() + 1, message.len()),
                (message.len() + 1, token.len()),
            ];
            let (start, end) = bounds[*part as usize % 3];
            if end > start {
                token[start + *at as usize % (end - start)] ^= with;
            }
        }
        Mutation::Truncate(n) => token.truncate(token.len().saturating_sub(*n as usize)),
        Mutation::Insert { at, byte } => {
            let at = *at as usize % (token.len() + 1);
            token.insert(at, *byte);
        }
        Mutation::SwapSignatureFrom(other) => {
            if let Some(sig) = sign(*other, sig_alg, message.as_bytes()) {
                token = format!("{message}.{}", b64(&sig)).into_bytes();
                signer = *other;
                swapped = true;
            }
        }
    }
    let genuine = swapped || (sig_real && token == original.as_bytes());

    for (name, keyed) in [("A", &*VERIFIER_A), ("B", &*VERIFIER_B)] {
        let verdict = keyed.verifier.verify(&token, NOW, |_, payload| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
                .expect("a verified payload")
        });
        let expected = shallow
            && kid_ok
            && !input.header.crit
            && genuine
            && alg
                .is_some_and(|alg| keyed.signature_accepted(alg, kid.as_deref(), signer, sig_alg))
            && claims_valid(&claims, NOW, LEEWAY);
        assert_eq!(
            verdict.is_ok(),
            expected,
            "verifier {name}: verdict {verdict:?}, oracle {expected}; token {}",
            String::from_utf8_lossy(&token)
        );
        if let Ok(c) = verdict {
            assert_eq!(c, claims);
        }
    }
});
