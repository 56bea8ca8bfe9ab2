//! Seal under (name1, key1) and open: the round trip returns the plaintext; any other name,
//! secret or purpose, and any changed byte, fails. Then the same for a whole session: chunked
//! by `seal_session`, scattered over Cookie headers among other cookies, reassembled by
//! `cookie::session_value` and opened by `open_session`; a missing chunk is reported.
#![no_main]

use arbitrary::Arbitrary;
use authentik_core::cookie::{self, CookieError};
use authentik_core::seal::{self, SealKey};
use authentik_core::session::{self, CHUNK_LIMIT, MAX_CHUNKS};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Sealer {
    secret: Vec<u8>,
    purpose: u8,
    name: String,
}

#[derive(Arbitrary, Debug)]
struct Input {
    a: Sealer,
    b: Sealer,
    plaintext: Vec<u8>,
    tamper: Option<(u16, u8)>,
    // The session part.
    cookie_name: Vec<u8>,
    other_name: Vec<u8>,
    repeat: u8,
    noise: Vec<(Vec<u8>, Vec<u8>)>,
    order: Vec<u8>,
    headers: u8,
    drop_chunk: Option<u8>,
    quote: bool,
    spaces: bool,
}

const PURPOSES: &[&str] = &["session", "login-state", "", "Session"];
const NAME_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.!#$%&'*+^`|~";
const VALUE_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.=/+:%";

fn purpose(p: u8) -> &'static str {
    PURPOSES[p as usize % PURPOSES.len()]
}

fn from_alphabet(bytes: &[u8], alphabet: &[u8], min: usize) -> String {
    let mut s: String = bytes
        .iter()
        .take(40)
        .map(|&b| alphabet[b as usize % alphabet.len()] as char)
        .collect();
    while s.len() < min {
        s.push('c');
    }
    s
}

fuzz_target!(|input: Input| {
    let key_a = SealKey::derive(&input.a.secret, purpose(input.a.purpose));
    let key_b = SealKey::derive(&input.b.secret, purpose(input.b.purpose));
    let same_key =
        input.a.secret == input.b.secret && purpose(input.a.purpose) == purpose(input.b.purpose);

    // 1. seal / open.
    if let Ok(sealed) = seal::seal(&key_a, &input.a.name, &input.plaintext) {
        assert_eq!(sealed.len(), seal::sealed_len(input.plaintext.len()));
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            seal::open(&key_a, &input.a.name, sealed.as_bytes()).as_deref(),
            Ok(&input.plaintext[..])
        );
        let other = seal::open(&key_b, &input.b.name, sealed.as_bytes());
        if same_key && input.a.name == input.b.name {
            assert_eq!(other.as_deref(), Ok(&input.plaintext[..]));
        } else {
            assert!(other.is_err(), "opened under another name or key");
        }
        if let Some((at, xor)) = input.tamper {
            let mut bytes = sealed.clone().into_bytes();
            let at = at as usize % bytes.len();
            bytes[at] ^= xor;
            if bytes != sealed.as_bytes() {
                assert!(
                    seal::open(&key_a, &input.a.name, &bytes).is_err(),
                    "tampered value opened"
                );
            }
        }
    } else {
        assert!(seal::sealed_len(input.plaintext.len()) > seal::MAX_SEALED_LEN);
    }

    // 2. A whole session in cookies.
    let name = from_alphabet(&input.cookie_name, NAME_CHARS, 1);
    let other_name = from_alphabet(&input.other_name, NAME_CHARS, 1);
    let mut token = Vec::new();
    for _ in 0..=(input.repeat as usize) {
        token.extend_from_slice(&input.plaintext);
        if token.len() > 40_000 {
            break;
        }
    }
    let Ok(chunks) = session::seal_session(&key_a, &name, &token) else {
        assert!(token.len() > 16 * 1024, "a 16 KB token must fit");
        return;
    };
    assert!(!chunks.is_empty() && chunks.len() <= MAX_CHUNKS);
    let mut joined = String::new();
    for (i, (chunk_name, value)) in chunks.iter().enumerate() {
        assert_eq!(chunk_name, &session::chunk_name(&name, i));
        assert!(value.len() <= CHUNK_LIMIT);
        if chunks.len() > 1 && i == 0 {
            let (count, part) = value.split_once('.').expect("count prefix");
            assert_eq!(count, chunks.len().to_string());
            joined.push_str(part);
        } else {
            joined.push_str(value);
        }
    }

    // Other cookies, never named like a chunk of the session.
    let chunk_names: Vec<String> = session::chunk_names(&name).collect();
    let mut pairs: Vec<(String, String)> = input
        .noise
        .iter()
        .take(20)
        .map(|(n, v)| {
            let mut n = from_alphabet(n, NAME_CHARS, 1);
            if chunk_names.contains(&n) {
                n.insert(0, 'x');
            }
            (n, from_alphabet(v, VALUE_CHARS, 0))
        })
        .collect();
    let dropped = input.drop_chunk.map(|d| d as usize % chunks.len());
    for (i, (n, v)) in chunks.iter().enumerate() {
        if Some(i) != dropped {
            let v = if input.quote {
                format!("\"{v}\"")
            } else {
                v.clone()
            };
            let at = input
                .order
                .get(i)
                .map_or(pairs.len(), |&o| o as usize % (pairs.len() + 1));
            pairs.insert(at, (n.clone(), v));
        }
    }
    let per_header = pairs.len() / (input.headers as usize % 4 + 1) + 1;
    let sep = if input.spaces { " ;\t " } else { "; " };
    let eq = if input.spaces { " = " } else { "=" };
    let header_texts: Vec<String> = pairs
        .chunks(per_header)
        .map(|c| {
            c.iter()
                .map(|(n, v)| format!("{n}{eq}{v}"))
                .collect::<Vec<_>>()
                .join(sep)
        })
        .collect();
    let headers: Vec<&[u8]> = header_texts.iter().map(|h| h.as_bytes()).collect();

    let found = cookie::session_value(&headers, &name);
    match dropped {
        None => {
            let found = found
                .expect("intact chunks")
                .expect("session cookie present");
            assert_eq!(&*found, joined.as_bytes());
            assert_eq!(
                session::open_session(&key_a, &name, &found).as_deref(),
                Ok(&token[..])
            );
            if name != other_name || !same_key {
                assert!(session::open_session(&key_b, &other_name, &found).is_err());
            }
        }
        Some(0) => assert_eq!(found, Ok(None)),
        Some(i) => assert_eq!(found, Err(CookieError::MissingChunk(i))),
    }
    // Read under another name, the session never opens.
    if other_name != name {
        if let Ok(Some(v)) = cookie::session_value(&headers, &other_name) {
            assert!(session::open_session(&key_a, &other_name, &v).is_err());
        }
    }
});
