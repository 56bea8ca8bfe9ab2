//! JWT verification (DESIGN §7).
//!
//! [`Verifier::verify`] checks a compact JWS in this order, and every failure is a
//! [`TokenError`] verdict, never a panic:
//!
//! 1. size: over [`MAX_TOKEN_BYTES`] is [`TokenError::TooLarge`];
//! 2. shape: exactly three base64url parts (no padding, canonical trailing bits), else
//!    [`TokenError::Malformed`];
//! 3. nesting: the decoded header and payload are scanned for `[`/`{` nesting outside strings;
//!    deeper than [`MAX_JSON_DEPTH`] is [`TokenError::TooDeep`];
//! 4. header: a JSON object with a string `alg` and an optional string `kid`, and no `crit`
//!    (no extension is understood). `none` and unknown algorithms are
//!    [`TokenError::AlgorithmNotAllowed`]. Embedded keys (`jwk`, `jku`, `x5c`, `x5u`) are
//!    ignored, never used;
//! 5. signature, through [`KeySet::verify`]. A `kid` whose key has another algorithm is
//!    reported as [`TokenError::AlgorithmNotAllowed`];
//! 6. the payload, parsed only now, must be a JSON object; then `iss`, `aud`, `exp`, `nbf`,
//!    `iat`. Times may be integers or floats; a non-numeric time is `Malformed`.
//!
//! Duplicate JSON member names resolve to the last one (serde_json), as RFC 7515 §5.2 allows.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::keys::{Algorithm, KeyError, KeySet};

/// The largest token accepted, in bytes (the whole compact serialization).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// The deepest JSON nesting accepted; the top-level object counts as 1.
pub const MAX_JSON_DEPTH: usize = 32;

/// Verified claims: the payload's top-level object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    pub fn new(map: Map<String, Value>) -> Claims {
        Claims(map)
    }

    /// `exp` in whole seconds, rounded down (a float `exp` gives an earlier time, never a
    /// later one). 0 if absent or negative; verified claims always have it.
    pub fn exp(&self) -> u64 {
        match self.0.get("exp").and_then(NumericDate::from_value) {
            Some(NumericDate::Int(v)) => u64::try_from(v).unwrap_or(0),
            // `as` saturates: negative to 0, huge to u64::MAX.
            Some(NumericDate::Float(v)) => v.floor() as u64,
            None => 0,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string claim.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// Why a token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
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
}

impl TokenError {
    pub fn is_expired(self) -> bool {
        self == TokenError::Expired
    }

    /// A short snake_case name, stable, for logs and counters.
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::TooLarge => "too_large",
            TokenError::Malformed => "malformed",
            TokenError::TooDeep => "too_deep",
            TokenError::AlgorithmNotAllowed => "algorithm_not_allowed",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::MissingExpiry => "missing_expiry",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "issued_in_future",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLarge => "token too large",
            TokenError::Malformed => "malformed token",
            TokenError::TooDeep => "token JSON nested too deeply",
            TokenError::AlgorithmNotAllowed => "token algorithm not allowed",
            TokenError::UnknownKey => "token kid names no known key",
            TokenError::BadSignature => "bad token signature",
            TokenError::WrongIssuer => "wrong token issuer",
            TokenError::WrongAudience => "wrong token audience",
            TokenError::MissingExpiry => "token has no expiry",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::IssuedInFuture => "token issued in the future",
        })
    }
}

impl std::error::Error for TokenError {}

impl From<KeyError> for TokenError {
    fn from(e: KeyError) -> TokenError {
        match e {
            KeyError::UnknownKey => TokenError::UnknownKey,
            KeyError::AlgorithmNotAllowed | KeyError::AlgorithmMismatch => {
                TokenError::AlgorithmNotAllowed
            }
            // BadSignature, and configuration errors that verification never returns.
            _ => TokenError::BadSignature,
        }
    }
}

/// Verifies tokens for one provider.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: KeySet,
    issuer: Box<str>,
    audience: Box<str>,
    leeway: u64,
}

impl Verifier {
    pub fn new(keys: KeySet, issuer: &str, audience: &str, leeway_secs: u64) -> Verifier {
        Verifier {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: leeway_secs,
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Verify a compact JWS at unix time `now`: size and nesting limits first, header
    /// (`alg` must be allowed and not `none`; `kid` optional), signature through
    /// `KeySet::verify`, then claims: `iss` exact, `aud` equal to or containing the
    /// audience, `exp` required and `exp + leeway > now`, `nbf`/`iat` if present not
    /// later than `now + leeway`. Every error is a verdict, never a panic.
    pub fn verify(&self, token: &[u8], now: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let (header_b64, payload_b64, signature_b64) = split(token)?;
        // `header.payload`, exactly as sent, is the signed message.
        let message = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(TokenError::Malformed)?;

        // One allocation for the three decoded parts.
        let header_cap = base64::decoded_len_estimate(header_b64.len());
        let payload_cap = base64::decoded_len_estimate(payload_b64.len());
        let signature_cap = base64::decoded_len_estimate(signature_b64.len());
        let mut buf = vec![0u8; header_cap + payload_cap + signature_cap];
        let (header_buf, rest) = buf
            .split_at_mut_checked(header_cap)
            .ok_or(TokenError::Malformed)?;
        let (payload_buf, signature_buf) = rest
            .split_at_mut_checked(payload_cap)
            .ok_or(TokenError::Malformed)?;
        let header = decode(header_b64, header_buf)?;
        let payload = decode(payload_b64, payload_buf)?;
        let signature = decode(signature_b64, signature_buf)?;

        if !depth_within(header, MAX_JSON_DEPTH) || !depth_within(payload, MAX_JSON_DEPTH) {
            return Err(TokenError::TooDeep);
        }

        let header: Map<String, Value> =
            serde_json::from_slice(header).map_err(|_| TokenError::Malformed)?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => {
                Algorithm::from_name(name).ok_or(TokenError::AlgorithmNotAllowed)?
            }
            _ => return Err(TokenError::Malformed),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Malformed),
        };
        if header.contains_key("crit") {
            return Err(TokenError::Malformed);
        }

        self.keys.verify(alg, kid, message, signature)?;

        let claims: Map<String, Value> =
            serde_json::from_slice(payload).map_err(|_| TokenError::Malformed)?;
        self.check_claims(&claims, now)?;
        Ok(Claims(claims))
    }

    fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<(), TokenError> {
        match claims.get("iss") {
            Some(Value::String(iss)) if **iss == *self.issuer => {}
            _ => return Err(TokenError::WrongIssuer),
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => **aud == *self.audience,
            Some(Value::Array(list)) => {
                list.iter().any(|aud| aud.as_str() == Some(&*self.audience))
            }
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }

        let exp = claims.get("exp").ok_or(TokenError::MissingExpiry)?;
        let exp = NumericDate::from_value(exp).ok_or(TokenError::Malformed)?;
        // Expired when now >= exp + leeway.
        if !exp.after(now, self.leeway) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = NumericDate::from_value(nbf).ok_or(TokenError::Malformed)?;
            if nbf.exceeds(now, self.leeway) {
                return Err(TokenError::NotYetValid);
            }
        }
        if let Some(iat) = claims.get("iat") {
            let iat = NumericDate::from_value(iat).ok_or(TokenError::Malformed)?;
            if iat.exceeds(now, self.leeway) {
                return Err(TokenError::IssuedInFuture);
            }
        }
        Ok(())
    }
}

/// A JWT NumericDate: integer seconds (exact) or a float.
#[derive(Clone, Copy)]
enum NumericDate {
    Int(i128),
    Float(f64),
}

impl NumericDate {
    fn from_value(v: &Value) -> Option<NumericDate> {
        let n = match v {
            Value::Number(n) => n,
            _ => return None,
        };
        if let Some(u) = n.as_u64() {
            Some(NumericDate::Int(i128::from(u)))
        } else if let Some(i) = n.as_i64() {
            Some(NumericDate::Int(i128::from(i)))
        } else {
            n.as_f64().filter(|f| f.is_finite()).map(NumericDate::Float)
        }
    }

    /// `self + leeway > now` (strict), the test for `exp`.
    fn after(self, now: u64, leeway: u64) -> bool {
        match self {
            NumericDate::Int(v) => v + i128::from(leeway) > i128::from(now),
            NumericDate::Float(v) => v + leeway as f64 > now as f64,
        }
    }

    /// `self > now + leeway`, the test for `nbf` and `iat`.
    fn exceeds(self, now: u64, leeway: u64) -> bool {
        match self {
            NumericDate::Int(v) => v > i128::from(now) + i128::from(leeway),
            NumericDate::Float(v) => v > now as f64 + leeway as f64,
        }
    }
}

/// The three base64url parts of a compact JWS: header, payload, signature.
type Parts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Splits a compact JWS into its three parts; anything but exactly two dots is malformed.
fn split(token: &[u8]) -> Result<Parts<'_>, TokenError> {
    let mut parts = token.splitn(4, |&b| b == b'.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok((h, p, s)),
        _ => Err(TokenError::Malformed),
    }
}

/// Strict base64url: no padding, canonical trailing bits.
fn decode<'a>(input: &[u8], out: &'a mut [u8]) -> Result<&'a [u8], TokenError> {
    let n = URL_SAFE_NO_PAD
        .decode_slice(input, out)
        .map_err(|_| TokenError::Malformed)?;
    out.get(..n).ok_or(TokenError::Malformed)
}

/// Whether the `[`/`{` nesting outside JSON strings stays within `max`. A byte scan that
/// tolerates invalid JSON (the parser rejects that later); it only bounds the depth the
/// parser will see. Strings are skipped in a tight inner loop, escapes included.
fn depth_within(json: &[u8], max: usize) -> bool {
    // Fewer opening brackets in all than the limit cannot nest deeper: the usual case, and a
    // count the compiler vectorises.
    let openers = json.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openers <= max {
        return true;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        i += 1;
        match b {
            b'"' => loop {
                match json.get(i) {
                    None => return true,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => i += 2,
                    Some(_) => i += 1,
                }
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan() {
        assert!(depth_within(b"{}", 1));
        assert!(!depth_within(b"{[]}", 1));
        assert!(depth_within(br#"{"a":"[[[[{{{{"}"#, 1));
        assert!(depth_within(br#"{"a":"\"[[[[{{{{"}"#, 1));
        assert!(depth_within(br#"{"a":"\\"}"#, 1));
        assert!(!depth_within(br#"{"a":"\\",[]}"#, 1));
        assert!(depth_within(b"]]]]{", 1));
    }

    #[test]
    fn split_needs_exactly_three_parts() {
        assert!(split(b"a.b.c").is_ok());
        assert!(split(b"..").is_ok());
        assert!(split(b"a.b").is_err());
        assert!(split(b"a.b.c.d").is_err());
        assert!(split(b"").is_err());
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
    }

    #[test]
    fn claims_exp() {
        let claims = |v: Value| Claims(serde_json::from_value(v).unwrap());
        assert_eq!(claims(serde_json::json!({"exp": 5})).exp(), 5);
        assert_eq!(claims(serde_json::json!({"exp": 5.9})).exp(), 5);
        assert_eq!(claims(serde_json::json!({"exp": -5})).exp(), 0);
        assert_eq!(claims(serde_json::json!({"exp": "5"})).exp(), 0);
        assert_eq!(claims(serde_json::json!({})).exp(), 0);
    }
}
