//! authentik-mint: authentik-shaped tokens, sealed session cookies and JWKS for the scripts
//! (scripts/bench, scripts/soak, scripts/valgrind, tests/deb). Tokens are signed like the
//! integration tests sign them (`jsonwebtoken`, the harness's claims), and cookies are sealed
//! by `authentik_core::session::seal_session`, the module's own code.
//!
//! ```text
//! authentik-mint token [--preset akadmin] [--claims JSON] [--set NAME=VALUE]...
//!                      (--secret S | --secret-file F | --key PEM [--kid KID]) [--alg ALG]
//!                      [--count N]
//! authentik-mint seal  (--cookie-secret S | --cookie-secret-file F) --name NAME
//!                      [--value | --header] [TOKEN]
//! authentik-mint jwks  [--kid KID] PEM...
//! ```
//!
//! * `token` prints one JWT per line. The claims start empty, or as akadmin's access token of
//!   the harness (`--preset akadmin`, issuer and client of `tests/src/tokens.rs`, valid an
//!   hour); `--claims` merges a JSON object over them and each `--set` sets one claim. A
//!   `--set` value is `now`, `now+SECS` or `now-SECS` (a Unix time), JSON, or else a string;
//!   `null` removes the claim. HS256 signs with the secret; a PKCS#8 PEM key signs RS256 (RSA),
//!   ES256 (P-256) or EdDSA (Ed25519) with the authentik-style `kid` of `jwks` (override with
//!   `--kid`). `--count N` prints N tokens, the i-th with `jti` = i as 32 hex digits and every
//!   `{n}` in a string claim replaced by i (six digits).
//! * `seal` seals each token (the argument, else one per line of standard input) for cookie
//!   `NAME` with the provider's cookie secret and prints `name=value` per cookie chunk; with
//!   `--header` one `Cookie:` value per token, with `--value` the sealed value alone (an error
//!   when the session needs more than one chunk). Secret files lose trailing whitespace, as
//!   the module reads them.
//! * `jwks` prints the public JWKS of PKCS#8 PEM keys, each with the `kid` authentik gives a
//!   certificate's key: base64url of SHA-512 of the PEM text.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use authentik_core::seal::SealKey;
use authentik_core::session::seal_session;
use authentik_integration::tokens;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};
use serde_json::{Map, Value};

const USAGE: &str = "usage:
  authentik-mint token [--preset akadmin] [--claims JSON] [--set NAME=VALUE]...
                       (--secret S | --secret-file F | --key PEM [--kid KID]) [--alg ALG] [--count N]
  authentik-mint seal  (--cookie-secret S | --cookie-secret-file F) --name NAME [--value | --header] [TOKEN]
  authentik-mint jwks  [--kid KID] PEM...";

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("token") => token(&args[1..]),
        Some("seal") => seal(&args[1..]),
        Some("jwks") => jwks(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authentik-mint: {e}");
            ExitCode::from(2)
        }
    }
}

/// Command-line options: `--flag VALUE` pairs, bare `--switch`es and positional arguments.
struct Opts {
    pairs: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

impl Opts {
    fn parse(args: &[String], with_value: &[&str], switches: &[&str]) -> Result<Opts> {
        let mut opts = Opts {
            pairs: Vec::new(),
            switches: Vec::new(),
            positional: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if with_value.contains(&arg.as_str()) {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                opts.pairs.push((arg.clone(), value.clone()));
            } else if switches.contains(&arg.as_str()) {
                opts.switches.push(arg.clone());
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}\n{USAGE}"));
            } else {
                opts.positional.push(arg.clone());
            }
        }
        Ok(opts)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

/// A secret given inline or as a file (trailing whitespace removed, as the module does).
fn secret(inline: Option<&str>, file: Option<&str>, what: &str) -> Result<Vec<u8>> {
    match (inline, file) {
        (Some(s), None) => Ok(s.as_bytes().to_vec()),
        (None, Some(path)) => {
            let mut bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
            while bytes.last().is_some_and(u8::is_ascii_whitespace) {
                bytes.pop();
            }
            if bytes.is_empty() {
                return Err(format!("{what} {path} is empty"));
            }
            Ok(bytes)
        }
        _ => Err(format!("give exactly one of --{what} and --{what}-file")),
    }
}

// ---------------------------------------------------------------------------------------------
// token
// ---------------------------------------------------------------------------------------------

/// How a token is signed.
enum Signer {
    Hmac(Algorithm, Vec<u8>),
    Pem(Algorithm, EncodingKey, String),
}

fn token(args: &[String]) -> Result<()> {
    let opts = Opts::parse(
        args,
        &[
            "--preset",
            "--claims",
            "--set",
            "--secret",
            "--secret-file",
            "--key",
            "--kid",
            "--alg",
            "--count",
        ],
        &[],
    )?;
    if let Some(extra) = opts.positional.first() {
        return Err(format!("unexpected argument {extra}"));
    }
    let mut claims = match opts.get("--preset") {
        None => Value::Object(Map::new()),
        Some("akadmin") => tokens::claims(),
        Some(other) => return Err(format!("unknown preset {other} (known: akadmin)")),
    };
    if let Some(json) = opts.get("--claims") {
        let extra: Value =
            serde_json::from_str(json).map_err(|e| format!("--claims is not JSON: {e}"))?;
        let Value::Object(extra) = extra else {
            return Err("--claims must be a JSON object".into());
        };
        for (k, v) in extra {
            claims[k] = v;
        }
    }
    let now = tokens::now();
    for assignment in opts.all("--set") {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set {assignment}: expected NAME=VALUE"))?;
        let object = claims.as_object_mut().expect("claims are an object");
        match claim_value(value, now)? {
            Value::Null => object.remove(name),
            v => object.insert(name.to_owned(), v),
        };
    }
    let signer = signer(&opts)?;
    let count = match opts.get("--count") {
        None => None,
        Some(n) => Some(
            n.parse::<u64>()
                .map_err(|_| format!("--count {n}: not a number"))?,
        ),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match count {
        None => writeln_token(&mut out, &sign(&signer, &claims)?)?,
        Some(n) => {
            for i in 0..n {
                writeln_token(&mut out, &sign(&signer, &numbered(&claims, i))?)?;
            }
        }
    }
    out.flush().map_err(|e| e.to_string())
}

fn writeln_token(out: &mut impl std::io::Write, token: &str) -> Result<()> {
    writeln!(out, "{token}").map_err(|e| e.to_string())
}

/// `now`, `now+SECS`, `now-SECS`, JSON, or else the text as a string.
fn claim_value(text: &str, now: i64) -> Result<Value> {
    if let Some(rest) = text.strip_prefix("now") {
        let offset = match rest.as_bytes().first() {
            None => 0,
            Some(b'+' | b'-') => rest
                .parse::<i64>()
                .map_err(|_| format!("{text}: expected now, now+SECS or now-SECS"))?,
            Some(_) => return Ok(Value::String(text.to_owned())),
        };
        return Ok(Value::from(now + offset));
    }
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// The `i`-th of `--count` tokens: its own `jti`, and `{n}` in string claims replaced.
fn numbered(claims: &Value, i: u64) -> Value {
    let mut c = claims.clone();
    let object = c.as_object_mut().expect("claims are an object");
    for v in object.values_mut() {
        if let Value::String(s) = v {
            if s.contains("{n}") {
                *s = s.replace("{n}", &format!("{i:06}"));
            }
        }
    }
    object.insert("jti".into(), Value::String(format!("{i:032x}")));
    c
}

fn signer(opts: &Opts) -> Result<Signer> {
    let alg = opts
        .get("--alg")
        .map(|a| {
            a.parse::<Algorithm>()
                .map_err(|_| format!("unknown --alg {a}"))
        })
        .transpose()?;
    if let Some(path) = opts.get("--key") {
        if opts.get("--secret").is_some() || opts.get("--secret-file").is_some() {
            return Err("give either a secret or --key".into());
        }
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let key = PemKey::parse(&pem).map_err(|e| format!("{path}: {e}"))?;
        let alg = alg.unwrap_or(key.default_alg());
        let encoding = match key {
            PemKey::Rsa(_) => EncodingKey::from_rsa_pem(&pem),
            PemKey::Ec(_) => EncodingKey::from_ec_pem(&pem),
            PemKey::Ed(_) => EncodingKey::from_ed_pem(&pem),
        }
        .map_err(|e| format!("{path}: {e}"))?;
        let kid = opts
            .get("--kid")
            .map_or_else(|| authentik_kid(&pem), str::to_owned);
        return Ok(Signer::Pem(alg, encoding, kid));
    }
    let key = secret(opts.get("--secret"), opts.get("--secret-file"), "secret")?;
    let alg = alg.unwrap_or(Algorithm::HS256);
    if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(format!("{alg:?} needs --key"));
    }
    Ok(Signer::Hmac(alg, key))
}

fn sign(signer: &Signer, claims: &Value) -> Result<String> {
    let (header, key) = match signer {
        Signer::Hmac(alg, secret) => (Header::new(*alg), EncodingKey::from_secret(secret)),
        Signer::Pem(alg, key, kid) => {
            let mut header = Header::new(*alg);
            header.kid = Some(kid.clone());
            (header, key.clone())
        }
    };
    jsonwebtoken::encode(&header, claims, &key).map_err(|e| format!("signing failed: {e}"))
}

// ---------------------------------------------------------------------------------------------
// seal
// ---------------------------------------------------------------------------------------------

fn seal(args: &[String]) -> Result<()> {
    let opts = Opts::parse(
        args,
        &["--cookie-secret", "--cookie-secret-file", "--name"],
        &["--value", "--header"],
    )?;
    let secret = secret(
        opts.get("--cookie-secret"),
        opts.get("--cookie-secret-file"),
        "cookie-secret",
    )?;
    let name = opts.get("--name").ok_or("seal needs --name")?;
    if opts.has("--value") && opts.has("--header") {
        return Err("--value and --header exclude each other".into());
    }
    let key = SealKey::derive(&secret, "session");
    let tokens: Vec<String> = match opts.positional.as_slice() {
        [] => {
            let mut input = String::new();
            std::io::stdin()
                .lock()
                .read_to_string(&mut input)
                .map_err(|e| format!("reading standard input: {e}"))?;
            input
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        }
        [token] => vec![token.trim().to_owned()],
        _ => return Err("seal takes one TOKEN (or tokens on standard input)".into()),
    };
    if tokens.is_empty() {
        return Err("no token to seal".into());
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for token in &tokens {
        let chunks = seal_session(&key, name, token.as_bytes())
            .map_err(|e| format!("sealing a {}-byte token: {e}", token.len()))?;
        let lines = if opts.has("--value") {
            match chunks.as_slice() {
                [(_, value)] => vec![value.clone()],
                _ => {
                    return Err(format!(
                        "--value: the session needs {} chunks",
                        chunks.len()
                    ))
                }
            }
        } else if opts.has("--header") {
            vec![authentik_integration::cookie_header(&chunks)]
        } else {
            chunks.iter().map(|(n, v)| format!("{n}={v}")).collect()
        };
        for line in lines {
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// jwks
// ---------------------------------------------------------------------------------------------

/// A PKCS#8 private key, parsed by ring.
enum PemKey {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

impl PemKey {
    fn parse(pem: &[u8]) -> Result<PemKey> {
        let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file")?;
        let body: String = text
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        if body.is_empty() {
            return Err("no \"BEGIN PRIVATE KEY\" (PKCS#8) block".into());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| format!("bad PEM base64: {e}"))?;
        if let Ok(k) = signature::RsaKeyPair::from_pkcs8(&der) {
            return Ok(PemKey::Rsa(k));
        }
        let rng = SystemRandom::new();
        if let Ok(k) = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &rng,
        ) {
            return Ok(PemKey::Ec(k));
        }
        if let Ok(k) = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            return Ok(PemKey::Ed(k));
        }
        Err("not an RSA, P-256 or Ed25519 PKCS#8 key".into())
    }

    fn default_alg(&self) -> Algorithm {
        match self {
            PemKey::Rsa(_) => Algorithm::RS256,
            PemKey::Ec(_) => Algorithm::ES256,
            PemKey::Ed(_) => Algorithm::EdDSA,
        }
    }

    /// The public JWK members, in the order authentik writes them.
    fn jwk(&self, kid: &str) -> Vec<(&'static str, String)> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            PemKey::Rsa(k) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                vec![
                    ("kty", "RSA".into()),
                    ("alg", "RS256".into()),
                    ("use", "sig".into()),
                    ("kid", kid.into()),
                    ("n", b64(&c.n)),
                    ("e", b64(&c.e)),
                ]
            }
            PemKey::Ec(k) => {
                let point = k.public_key().as_ref(); // 0x04 || x || y
                vec![
                    ("kty", "EC".into()),
                    ("alg", "ES256".into()),
                    ("use", "sig".into()),
                    ("kid", kid.into()),
                    ("crv", "P-256".into()),
                    ("x", b64(&point[1..33])),
                    ("y", b64(&point[33..65])),
                ]
            }
            PemKey::Ed(k) => vec![
                ("kty", "OKP".into()),
                ("alg", "EdDSA".into()),
                ("use", "sig".into()),
                ("kid", kid.into()),
                ("crv", "Ed25519".into()),
                ("x", b64(k.public_key().as_ref())),
            ],
        }
    }
}

/// authentik's `kid` of a certificate's key: base64url (no padding) of SHA-512 of the PEM.
fn authentik_kid(pem: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA512, pem))
}

fn jwks(args: &[String]) -> Result<()> {
    let opts = Opts::parse(args, &["--kid"], &[])?;
    if opts.positional.is_empty() {
        return Err("jwks needs at least one PEM file".into());
    }
    if opts.get("--kid").is_some() && opts.positional.len() > 1 {
        return Err("--kid names one key: give one PEM file".into());
    }
    let mut keys = Vec::new();
    for path in &opts.positional {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let key = PemKey::parse(&pem).map_err(|e| format!("{path}: {e}"))?;
        let kid = opts
            .get("--kid")
            .map_or_else(|| authentik_kid(&pem), str::to_owned);
        let members: Vec<String> = key
            .jwk(&kid)
            .into_iter()
            .map(|(k, v)| format!("      \"{k}\": {}", Value::String(v)))
            .collect();
        keys.push(format!("    {{\n{}\n    }}", members.join(",\n")));
    }
    println!("{{\n  \"keys\": [\n{}\n  ]\n}}", keys.join(",\n"));
    Ok(())
}
