//! Verification keys: the client secret for HS*, and a JWKS for RS*/PS*/ES*/EdDSA.
//!
//! JWK parsing and signature verification are `jsonwebtoken`'s (with its aws-lc-rs backend);
//! this module is the policy around them. A [`KeySet`] is parsed once, at configuration load
//! (or when a remote JWKS is fetched), and is immutable afterwards. Every key
//! carries exactly one [`Algorithm`]; a token can only be checked against a key of the algorithm
//! its header names, so the algorithm is pinned by the key, never chosen by the token
//! (docs/architecture.md §7). HS* tokens are checked only against the client secret, never against JWKS material.
//!
//! JWKS rules:
//! * the text must be a JSON object with a non-empty `keys` array;
//! * `kty` `RSA` (`n`, `e`), `EC` (`crv` `P-256` → ES256, `P-384` → ES384; `x`, `y`) and `OKP`
//!   (`crv` `Ed25519` → EdDSA; `x`) are used. A key's `alg`, when present, must agree with its
//!   type and curve (RSA: RS* or PS*); without `alg`, EC/OKP keys take the algorithm of their
//!   curve and RSA keys are RS256;
//! * keys that cannot be used for verifying signatures are skipped, as RFC 7517 asks: `use`
//!   other than `sig`, `key_ops` without `verify`, an unknown `kty`, an unsupported curve
//!   (P-521, secp256k1, Ed448, X25519 …) or an `alg` that is not a supported signature
//!   algorithm (RSA-OAEP-256, ES512 …). A JWKS in which every key is skipped is an error;
//! * a key holding private members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`) is a configuration
//!   error: a private key must not be copied onto the web tier. Symmetric (`oct`) keys are an
//!   error too, since HS* uses the client secret;
//! * RSA moduli must be 2048 to 8192 bits; EC points are checked to lie on their curve at load;
//! * `x5c`, `x5t` and other members are ignored. Base64url members may carry padding.

use std::fmt;

use aws_lc_rs::{hmac, signature};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

/// A JWS signature algorithm this module can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm with this exact JOSE name. `none` and unknown names give `None`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            _ => return None,
        })
    }

    /// The JOSE name (`"RS256"` …).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// HS256, HS384 or HS512.
    pub fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    /// RS* or PS*.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        )
    }

    /// `jsonwebtoken`'s name for it.
    fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key set could not be built, or why a signature was not accepted.
///
/// The first group of variants comes from [`KeySet::new`] (configuration errors, reported by
/// `nginx -t`); the last four come from [`KeySet::verify`] and carry no data, so a rejected
/// token costs no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The JWKS text is not JSON, or not an object with a `keys` array.
    InvalidJwks(String),
    /// The JWKS `keys` array is missing or empty.
    EmptyJwks,
    /// Every key of the JWKS was skipped (encryption keys, unsupported types or curves).
    NoUsableKeys { skipped: usize },
    /// One key of the JWKS is invalid. `index` counts from 0 in the `keys` array.
    InvalidKey {
        index: usize,
        kid: Option<String>,
        reason: String,
    },
    /// `allowed` is an empty list.
    NoAlgorithms,
    /// An allowed algorithm has no key: HS* with an empty client secret, or an asymmetric
    /// algorithm with no JWKS key of that algorithm.
    NoKeyForAlgorithm(Algorithm),
    /// Verification: the algorithm is not in the allow-list.
    AlgorithmNotAllowed,
    /// Verification: the token's `kid` names no key in the set.
    UnknownKey,
    /// Verification: the key named by `kid` has a different algorithm from the token header.
    AlgorithmMismatch,
    /// Verification: the signature does not verify.
    BadSignature,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidJwks(why) => write!(f, "invalid JWKS: {why}"),
            KeyError::EmptyJwks => f.write_str(
                "the JWKS has no keys (authentik serves an empty JWKS for HS256 providers; \
                 those need no jwks_file)",
            ),
            KeyError::NoUsableKeys { skipped } => write!(
                f,
                "the JWKS has no usable signing key ({skipped} skipped: encryption keys, \
                 unsupported key types, curves or algorithms)"
            ),
            KeyError::InvalidKey { index, kid, reason } => {
                write!(f, "invalid JWKS key #{index}")?;
                if let Some(kid) = kid {
                    write!(f, " (kid {kid:?})")?;
                }
                write!(f, ": {reason}")
            }
            KeyError::NoAlgorithms => f.write_str("no algorithm is allowed"),
            KeyError::NoKeyForAlgorithm(alg) if alg.is_hmac() => write!(
                f,
                "algorithm {alg} is allowed but there is no client secret to verify it with"
            ),
            KeyError::NoKeyForAlgorithm(alg) => {
                write!(
                    f,
                    "algorithm {alg} is allowed but the JWKS has no {alg} key"
                )
            }
            KeyError::AlgorithmNotAllowed => f.write_str("algorithm not allowed"),
            KeyError::UnknownKey => f.write_str("no key with this kid"),
            KeyError::AlgorithmMismatch => {
                f.write_str("the token's algorithm differs from its key's algorithm")
            }
            KeyError::BadSignature => f.write_str("bad signature"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The public material of one JWKS key, ready for ring.
/// One JWKS key: its `kid`, the one algorithm it verifies, and jsonwebtoken's key.
#[derive(Clone)]
struct PublicKey {
    kid: Option<Box<str>>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The client secret keyed for HS256, HS384 and HS512 once, when the keys load.
/// jsonwebtoken keys HMAC again for every token, and the verifier it would keep is neither
/// `Send` nor `Sync` (BENCHMARKS.md, "What is still hand-written").
#[derive(Clone)]
struct HmacKeys {
    hs256: hmac::Key,
    hs384: hmac::Key,
    hs512: hmac::Key,
}

impl HmacKeys {
    fn new(secret: &[u8]) -> HmacKeys {
        HmacKeys {
            hs256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            hs384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            hs512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        }
    }

    /// Verify the base64url `signature` over `message`: aws-lc's constant-time check, as
    /// jsonwebtoken makes it. A signature that is not canonical base64url is a bad signature.
    fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> Result<(), KeyError> {
        let key = match alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::HS384 => &self.hs384,
            Algorithm::HS512 => &self.hs512,
            _ => return Err(KeyError::AlgorithmNotAllowed),
        };
        let encoded = signature.as_bytes();
        let mut tag = [0u8; HMAC_TAG_MAX];
        let tag = base64_simd::URL_SAFE_NO_PAD
            .decoded_length(encoded)
            .ok()
            .and_then(|len| tag.get_mut(..len))
            .ok_or(KeyError::BadSignature)?;
        let tag = base64_simd::URL_SAFE_NO_PAD
            .decode(encoded, base64_simd::Out::from_slice(tag))
            .map_err(|_| KeyError::BadSignature)?;
        hmac::verify(key, message, tag).map_err(|_| KeyError::BadSignature)
    }
}

/// The longest HMAC tag: HS512's 64 bytes.
const HMAC_TAG_MAX: usize = 64;

#[derive(Clone)]
pub struct KeySet {
    /// HMAC keys (HS256, HS384, HS512), present only when allowed and the secret is non-empty.
    secret: Option<HmacKeys>,
    keys: Vec<PublicKey>,
    allowed: Vec<Algorithm>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never prints key material.
        let keys: Vec<(Option<&str>, Algorithm)> = self
            .keys
            .iter()
            .map(|k| (k.kid.as_deref(), k.alg))
            .collect();
        f.debug_struct("KeySet")
            .field("allowed", &self.allowed)
            .field("jwks", &keys)
            .finish_non_exhaustive()
    }
}

/// Base64url for JWK members: padding tolerated (configuration is trusted, be liberal).
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Members that only a private JWK has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

impl KeySet {
    /// `client_secret` is the HMAC key for HS*. `jwks` is the text of a JWKS file.
    /// `allowed` is the `algorithms` directive (None = default: HS256 plus the algorithm
    /// of every key in the JWKS). Errors: invalid JSON/JWK, a key whose algorithm cannot be
    /// determined, an allowed algorithm with no key, an empty JWKS `keys` array.
    ///
    /// An empty `client_secret` is no key: HS* is then left out of the default list, and
    /// listing HS* explicitly is an error ([`KeyError::NoKeyForAlgorithm`]).
    pub fn new(
        client_secret: &[u8],
        jwks: Option<&str>,
        allowed: Option<&[Algorithm]>,
    ) -> Result<KeySet, KeyError> {
        KeySet::build(client_secret, jwks, allowed, true)
    }

    /// The configured keys of a provider whose JWKS is also fetched (`jwks_request`): like
    /// [`KeySet::new`], except that an allowed asymmetric algorithm may have no key yet (the
    /// fetched set must have one) and the set may be empty. Such a set verifies what it has
    /// keys for and refuses the rest.
    pub fn awaiting_fetch(
        client_secret: &[u8],
        jwks: Option<&str>,
        allowed: Option<&[Algorithm]>,
    ) -> Result<KeySet, KeyError> {
        KeySet::build(client_secret, jwks, allowed, false)
    }

    fn build(
        client_secret: &[u8],
        jwks: Option<&str>,
        allowed: Option<&[Algorithm]>,
        complete: bool,
    ) -> Result<KeySet, KeyError> {
        let keys = match jwks {
            Some(text) => parse_jwks(text)?,
            None => Vec::new(),
        };

        let allowed: Vec<Algorithm> = match allowed {
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for &alg in list {
                    if !out.contains(&alg) {
                        out.push(alg);
                    }
                }
                if out.is_empty() {
                    return Err(KeyError::NoAlgorithms);
                }
                out
            }
            None => Algorithm::ALL
                .iter()
                .copied()
                .filter(|&alg| {
                    (alg == Algorithm::HS256 && !client_secret.is_empty())
                        || keys.iter().any(|k| k.alg == alg)
                })
                .collect(),
        };
        if allowed.is_empty() && complete {
            // Default list with neither a secret nor a JWKS.
            return Err(KeyError::NoKeyForAlgorithm(Algorithm::HS256));
        }

        for &alg in &allowed {
            let has_key = if alg.is_hmac() {
                !client_secret.is_empty()
            } else {
                !complete || keys.iter().any(|k| k.alg == alg)
            };
            if !has_key {
                return Err(KeyError::NoKeyForAlgorithm(alg));
            }
        }
        let secret = allowed
            .iter()
            .any(|alg| alg.is_hmac())
            .then(|| HmacKeys::new(client_secret));

        Ok(KeySet {
            secret,
            keys,
            allowed,
        })
    }

    /// The allow-list, without duplicates.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.allowed
    }

    /// Number of usable JWKS keys (skipped keys are not counted).
    pub fn jwks_len(&self) -> usize {
        self.keys.len()
    }

    /// Verify `signature` (raw bytes, already base64url-decoded) over `message`
    /// (`header.payload` as sent) for a token whose header says `alg` and `kid`.
    /// The algorithm is pinned by the key: HS* only against the client secret, never against
    /// JWKS material; asymmetric algorithms only against JWKS keys whose algorithm equals
    /// `alg`. A `kid` not in the set is rejected (never matched to another key). Without a
    /// `kid`, every key of algorithm `alg` is tried.
    ///
    /// For HS* the `kid` is ignored (there is one secret). A `kid` that exists but only with
    /// another algorithm gives [`KeyError::AlgorithmMismatch`].
    /// Verify `signature` (base64url, as in the token) over `message` with the key the token
    /// names: the client secret for HS*, else the JWKS key with this `kid` (or, without a
    /// `kid`, every key of this algorithm). A `kid` never falls back to another key.
    pub fn verify(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        message: &[u8],
        signature: &str,
    ) -> Result<(), KeyError> {
        if !self.allowed.contains(&alg) {
            return Err(KeyError::AlgorithmNotAllowed);
        }
        if alg.is_hmac() {
            let keys = self.secret.as_ref().ok_or(KeyError::AlgorithmNotAllowed)?;
            return keys.verify(alg, message, signature);
        }
        let mut kid_seen = false;
        let mut tried = false;
        for key in &self.keys {
            if let Some(kid) = kid {
                if key.kid.as_deref() != Some(kid) {
                    continue;
                }
                kid_seen = true;
            }
            if key.alg != alg {
                continue;
            }
            tried = true;
            if check(signature, message, &key.key, alg).is_ok() {
                return Ok(());
            }
        }
        if tried {
            Err(KeyError::BadSignature)
        } else if kid_seen {
            Err(KeyError::AlgorithmMismatch)
        } else {
            Err(KeyError::UnknownKey)
        }
    }

    /// The `kid`s of the JWKS keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Whether no key of this set has `kid`.
    pub fn misses_kid(&self, kid: &str) -> bool {
        !self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Whether a token signed with `alg` under `kid` names a public key this set does not
    /// have: a `kid` of no key, or without `kid` an algorithm no key has. HS* never misses
    /// (its key is the client secret).
    pub fn misses(&self, alg: Algorithm, kid: Option<&str>) -> bool {
        if alg.is_hmac() {
            return false;
        }
        match kid {
            Some(kid) => self.misses_kid(kid),
            None => !self.keys.iter().any(|k| k.alg == alg),
        }
    }
}

/// jsonwebtoken's JWS signature check; any error (bad base64, wrong key type) is a bad
/// signature.
fn check(
    signature: &str,
    message: &[u8],
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<(), KeyError> {
    match jsonwebtoken::crypto::verify(signature, message, key, alg.jwt()) {
        Ok(true) => Ok(()),
        _ => Err(KeyError::BadSignature),
    }
}

fn parse_jwks(text: &str) -> Result<Vec<PublicKey>, KeyError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| KeyError::InvalidJwks(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| KeyError::InvalidJwks("not a JSON object".to_owned()))?;
    let list = match object.get("keys") {
        None => return Err(KeyError::EmptyJwks),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(KeyError::InvalidJwks("\"keys\" is not an array".to_owned())),
    };
    if list.is_empty() {
        return Err(KeyError::EmptyJwks);
    }
    let mut keys = Vec::with_capacity(list.len());
    let mut skipped = 0;
    for (index, jwk) in list.iter().enumerate() {
        let kid = jwk
            .as_object()
            .and_then(|o| o.get("kid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let invalid = |reason: String| KeyError::InvalidKey {
            index,
            kid: kid.clone(),
            reason,
        };
        match parse_jwk(jwk).map_err(invalid)? {
            Some(key) => keys.push(key),
            None => skipped += 1,
        }
    }
    if keys.is_empty() {
        return Err(KeyError::NoUsableKeys { skipped });
    }
    Ok(keys)
}

/// One JWK: `Ok(None)` when the key is to be skipped, `Err(reason)` when it is invalid.
fn parse_jwk(jwk: &Value) -> Result<Option<PublicKey>, String> {
    let jwk = jwk.as_object().ok_or("not a JSON object")?;

    for member in PRIVATE_MEMBERS {
        if jwk.contains_key(member) {
            return Err(format!(
                "contains the private member {member:?}; put only public keys in the JWKS"
            ));
        }
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str().into()),
        Some(_) => return Err("\"kid\" is not a string".into()),
    };
    let kty = opt_str(jwk, "kty")?.ok_or("no \"kty\"")?;
    if kty == "oct" {
        return Err(
            "symmetric (oct) keys are not accepted; HS* tokens are verified with the \
                    client secret"
                .into(),
        );
    }
    match opt_str(jwk, "use")? {
        None | Some("sig") => {}
        Some(_) => return Ok(None),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or("\"key_ops\" is not an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let alg = match opt_str(jwk, "alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            // An encryption algorithm or an unsupported signature algorithm.
            None => return Ok(None),
        },
    };

    let alg = match kty {
        "RSA" => {
            let alg = alg.unwrap_or(Algorithm::RS256);
            if !alg.is_rsa() {
                return Err(format!("an RSA key cannot have \"alg\" {alg}"));
            }
            check_rsa_components(jwk)?;
            alg
        }
        "EC" => {
            let (curve_alg, coord_len, ecdsa): (
                _,
                _,
                &'static signature::EcdsaVerificationAlgorithm,
            ) = match opt_str(jwk, "crv")? {
                Some("P-256") => (Algorithm::ES256, 32, &signature::ECDSA_P256_SHA256_FIXED),
                Some("P-384") => (Algorithm::ES384, 48, &signature::ECDSA_P384_SHA384_FIXED),
                Some(_) => return Ok(None),
                None => return Err("an EC key without \"crv\"".into()),
            };
            let alg = consistent(alg, curve_alg)?;
            let mut point = Vec::with_capacity(1 + 2 * coord_len);
            point.push(4u8);
            push_coordinate(&mut point, &b64_member(jwk, "x")?, coord_len, "x")?;
            push_coordinate(&mut point, &b64_member(jwk, "y")?, coord_len, "y")?;
            signature::UnparsedPublicKey::new(ecdsa, &point)
                .parse()
                .map_err(|_| "the EC point (\"x\", \"y\") is not on the curve".to_owned())?;
            alg
        }
        "OKP" => {
            match opt_str(jwk, "crv")? {
                Some("Ed25519") => {}
                Some(_) => return Ok(None),
                None => return Err("an OKP key without \"crv\"".into()),
            }
            let alg = consistent(alg, Algorithm::EdDSA)?;
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err(format!(
                    "an Ed25519 \"x\" must be 32 bytes, not {}",
                    x.len()
                ));
            }
            alg
        }
        _ => return Ok(None),
    };
    let key = decoding_key(jwk)?;
    Ok(Some(PublicKey { kid, alg, key }))
}

fn opt_str<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name:?} is not a string")),
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = opt_str(jwk, name)?.ok_or_else(|| format!("no {name:?}"))?;
    JWK_B64
        .decode(text)
        .map_err(|e| format!("{name:?} is not base64url: {e}"))
}

fn consistent(alg: Option<Algorithm>, from_curve: Algorithm) -> Result<Algorithm, String> {
    match alg {
        Some(alg) if alg != from_curve => Err(format!(
            "\"alg\" {alg} does not match the curve, which needs {from_curve}"
        )),
        _ => Ok(from_curve),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// `n` and `e`, checked the way ring checks them at verification time, so that a key ring
/// would refuse fails at configuration load instead of on every request.
fn check_rsa_components(jwk: &Map<String, Value>) -> Result<(), String> {
    let n = b64_member(jwk, "n")?;
    let e = b64_member(jwk, "e")?;
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);

    let bits = match n.first() {
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if !(2048..=8192).contains(&bits) {
        return Err(format!(
            "the RSA modulus has {bits} bits; 2048 to 8192 are accepted"
        ));
    }
    if n.last().is_some_and(|&b| b & 1 == 0) {
        return Err("the RSA modulus is even".into());
    }
    if e.is_empty() || e.len() > 5 {
        return Err("the RSA exponent must be between 3 and 2^33 - 1".into());
    }
    let value = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if !(3..=(1u64 << 33) - 1).contains(&value) || value & 1 == 0 {
        return Err(format!(
            "the RSA exponent {value} is not an odd number between 3 and 2^33 - 1"
        ));
    }
    Ok(())
}

/// Appends a curve coordinate, left-padded with zeros to `len` bytes.
fn push_coordinate(out: &mut Vec<u8>, coord: &[u8], len: usize, name: &str) -> Result<(), String> {
    let coord = strip_leading_zeros(coord);
    if coord.len() > len {
        return Err(format!(
            "{name:?} is {} bytes; the curve needs {len}",
            coord.len()
        ));
    }
    out.resize(out.len() + (len - coord.len()), 0);
    out.extend_from_slice(coord);
    Ok(())
}

/// jsonwebtoken's key for a JWK that passed the checks above. Only the key members go in
/// (`x5c`, `x5t` and the like are ignored, as documented), with base64url padding removed.
fn decoding_key(jwk: &Map<String, Value>) -> Result<DecodingKey, String> {
    if opt_str(jwk, "kty")? == Some("RSA") {
        // Leading zero bytes are allowed in a JWK; the key itself has none.
        let (n, e) = (b64_member(jwk, "n")?, b64_member(jwk, "e")?);
        return Ok(DecodingKey::from_rsa_raw_components(
            strip_leading_zeros(&n),
            strip_leading_zeros(&e),
        ));
    }
    let mut members = Map::new();
    for name in ["kty", "crv", "n", "e", "x", "y"] {
        if let Some(Value::String(text)) = jwk.get(name) {
            members.insert(
                name.to_owned(),
                Value::String(text.trim_end_matches('=').to_owned()),
            );
        }
    }
    let parsed: Jwk = serde_json::from_value(Value::Object(members))
        .map_err(|e| format!("not a usable JWK: {e}"))?;
    DecodingKey::from_jwk(&parsed).map_err(|e| format!("not a usable JWK: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_set_is_shareable() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<KeySet>();
        send_sync::<KeyError>();
    }

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for bad in [
            "none", "None", "NONE", "", "hs256", "ES512", "Ed25519", "HS256 ",
        ] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn empty_secret_is_no_hmac_key() {
        assert_eq!(
            KeySet::new(b"", None, None).unwrap_err(),
            KeyError::NoKeyForAlgorithm(Algorithm::HS256)
        );
        assert_eq!(
            KeySet::new(b"", None, Some(&[Algorithm::HS256])).unwrap_err(),
            KeyError::NoKeyForAlgorithm(Algorithm::HS256)
        );
    }

    #[test]
    fn duplicates_removed_and_empty_list_rejected() {
        let ks = KeySet::new(b"s", None, Some(&[Algorithm::HS256, Algorithm::HS256])).unwrap();
        assert_eq!(ks.algorithms(), &[Algorithm::HS256]);
        assert_eq!(
            KeySet::new(b"s", None, Some(&[])).unwrap_err(),
            KeyError::NoAlgorithms
        );
    }
}
