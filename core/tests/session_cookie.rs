//! Session sealing, chunking and `Cookie` header parsing (docs/architecture.md §4).

use std::borrow::Cow;

use authentik_core::cookie::{self, CookieError};
use authentik_core::seal::{self, SealError, SealKey, MAX_SEALED_LEN};
use authentik_core::session::{
    self, chunk_names, open_session, seal_session, SessionError, CHUNK_LIMIT, MAX_CHUNKS,
    MAX_SEALED_SESSION,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-cookie-secret";
const NAME: &str = "authentik_nginx_1a2b3c4d";

fn key() -> SealKey {
    SealKey::derive(SECRET, "session")
}

/// A JWT-shaped token of exactly `len` bytes (base64url segments separated by dots).
fn token(len: usize) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    (0..len)
        .map(|i| {
            if i == 36 || i == len.saturating_sub(44) {
                return b'.';
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            alphabet[(state % 64) as usize]
        })
        .collect()
}

/// Largest token length whose sealed value is at most `limit` bytes.
fn largest_token_sealing_within(limit: usize) -> usize {
    let mut n = 0;
    while seal::sealed_len(n + 1) <= limit {
        n += 1;
    }
    n
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

// ---------------------------------------------------------------------------------------
// seal / open
// ---------------------------------------------------------------------------------------

#[test]
fn seal_open_round_trip() {
    let key = key();
    for len in [0, 1, 2, 3, 15, 16, 17, 100, 1000, 16 * 1024] {
        let plain = token(len);
        let sealed = seal::seal(&key, NAME, &plain).unwrap();
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(sealed.len(), seal::sealed_len(len));
        assert_eq!(seal::open(&key, NAME, sealed.as_bytes()).unwrap(), plain);
    }
}

#[test]
fn seal_uses_a_fresh_nonce_each_time() {
    let key = key();
    let a = seal::seal(&key, NAME, b"same token").unwrap();
    let b = seal::seal(&key, NAME, b"same token").unwrap();
    assert_ne!(a, b);
    assert_eq!(seal::open(&key, NAME, a.as_bytes()).unwrap(), b"same token");
    assert_eq!(seal::open(&key, NAME, b.as_bytes()).unwrap(), b"same token");
}

#[test]
fn seal_is_not_plaintext() {
    let key = key();
    let plain = b"eyJhbGciOiJIUzI1NiJ9.secret-user-attributes.sig";
    let sealed = seal::seal(&key, NAME, plain).unwrap();
    let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    assert!(!raw.windows(8).any(|w| w == &plain[..8]));
    assert!(!sealed.contains("eyJhbGci"));
}

#[test]
fn every_flipped_bit_of_the_text_is_rejected() {
    let key = key();
    let sealed = seal::seal(&key, NAME, b"short token").unwrap();
    let bytes = sealed.as_bytes();
    for pos in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.to_vec();
            bad[pos] ^= 1 << bit;
            assert!(
                seal::open(&key, NAME, &bad).is_err(),
                "flipping bit {bit} of character {pos} was accepted"
            );
        }
    }
}

#[test]
fn every_flipped_bit_of_the_decoded_value_is_rejected() {
    let key = key();
    let sealed = seal::seal(&key, NAME, b"short token").unwrap();
    let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    for pos in 0..raw.len() {
        for bit in 0..8 {
            let mut bad = raw.clone();
            bad[pos] ^= 1 << bit;
            let expected = if pos == 0 {
                SealError::UnknownVersion
            } else {
                SealError::Invalid
            };
            assert_eq!(
                seal::open(&key, NAME, URL_SAFE_NO_PAD.encode(&bad).as_bytes()),
                Err(expected),
                "flipping bit {bit} of byte {pos}"
            );
        }
    }
}

#[test]
fn wrong_version_byte_is_rejected_even_with_a_valid_tag() {
    // The version byte is not authenticated, so only the explicit check rejects it.
    let key = key();
    let sealed = seal::seal(&key, NAME, b"token").unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    assert_eq!(raw[0], seal::VERSION);
    for version in [0u8, 2, 0xff] {
        raw[0] = version;
        assert_eq!(
            seal::open(&key, NAME, URL_SAFE_NO_PAD.encode(&raw).as_bytes()),
            Err(SealError::UnknownVersion)
        );
    }
}

#[test]
fn value_sealed_for_one_name_does_not_open_as_another() {
    let key = key();
    let sealed = seal::seal(&key, "NAME_A", b"token").unwrap();
    assert_eq!(
        seal::open(&key, "NAME_A", sealed.as_bytes()).unwrap(),
        b"token"
    );
    for other in ["NAME_B", "NAME_A_1", "name_a", "NAME_", ""] {
        assert_eq!(
            seal::open(&key, other, sealed.as_bytes()),
            Err(SealError::Invalid),
            "opened as {other:?}"
        );
    }
}

#[test]
fn other_purpose_or_secret_does_not_open() {
    let sealed = seal::seal(&key(), NAME, b"token").unwrap();
    let login = SealKey::derive(SECRET, "login-state");
    assert_eq!(
        seal::open(&login, NAME, sealed.as_bytes()),
        Err(SealError::Invalid)
    );
    let mut other_secret = SECRET.to_vec();
    other_secret[0] ^= 1;
    let other = SealKey::derive(&other_secret, "session");
    assert_eq!(
        seal::open(&other, NAME, sealed.as_bytes()),
        Err(SealError::Invalid)
    );
    // The same secret and purpose derive the same key.
    let again = SealKey::derive(SECRET, "session");
    assert_eq!(
        seal::open(&again, NAME, sealed.as_bytes()).unwrap(),
        b"token"
    );
}

#[test]
fn truncated_values_are_rejected() {
    let key = key();
    let sealed = seal::seal(&key, NAME, b"a token of some length").unwrap();
    let bytes = sealed.as_bytes();
    for len in 0..bytes.len() {
        assert!(
            seal::open(&key, NAME, &bytes[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
        assert!(
            seal::open(&key, NAME, &bytes[bytes.len() - len..]).is_err(),
            "suffix of {len} bytes accepted"
        );
    }
    // Cut at a clean base64 boundary: decodes fine, so only the tag or length checks reject it.
    let raw = URL_SAFE_NO_PAD.decode(bytes).unwrap();
    for cut in 1..raw.len() {
        let short = URL_SAFE_NO_PAD.encode(&raw[..raw.len() - cut]);
        let expected = if raw.len() - cut < 1 + 12 + 16 {
            SealError::TooShort
        } else {
            SealError::Invalid
        };
        assert_eq!(seal::open(&key, NAME, short.as_bytes()), Err(expected));
    }
}

#[test]
fn empty_and_too_short_values_are_rejected() {
    let key = key();
    assert_eq!(seal::open(&key, NAME, b""), Err(SealError::TooShort));
    // Version and nonce, but no room for a tag.
    let mut raw = vec![seal::VERSION];
    raw.extend_from_slice(&[0u8; 12]);
    raw.extend_from_slice(&[0u8; 15]);
    assert_eq!(
        seal::open(&key, NAME, URL_SAFE_NO_PAD.encode(&raw).as_bytes()),
        Err(SealError::TooShort)
    );
    // Exactly the minimum length (empty plaintext): passes the length check, fails the tag.
    raw.push(0);
    assert_eq!(
        seal::open(&key, NAME, URL_SAFE_NO_PAD.encode(&raw).as_bytes()),
        Err(SealError::Invalid)
    );
}

#[test]
fn garbage_is_rejected_without_panicking() {
    let key = key();
    let sealed = seal::seal(&key, NAME, b"token").unwrap();
    let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    assert_ne!(raw.len() % 3, 0, "the padded form below must differ");
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&raw);
    let fixed: Vec<Vec<u8>> = vec![
        b"....".to_vec(),
        b"not base64 at all!".to_vec(),
        b"AAAA+/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        format!("{sealed}=").into_bytes(),
        padded.into_bytes(),
        format!(" {sealed}").into_bytes(),
        format!("{sealed}\n").into_bytes(),
        format!("2.{sealed}").into_bytes(),
        vec![0u8; 64],
        vec![0xffu8; 64],
    ];
    for value in &fixed {
        assert!(
            seal::open(&key, NAME, value).is_err(),
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
    let mut state = 1u64;
    for round in 0..2000 {
        let len = (xorshift(&mut state) % 200) as usize;
        let value: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| xorshift(&mut state) as u8).collect()
        } else {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            (0..len)
                .map(|_| alphabet[(xorshift(&mut state) % 64) as usize])
                .collect()
        };
        assert!(seal::open(&key, NAME, &value).is_err());
    }
}

#[test]
fn oversized_input_is_rejected_before_decoding() {
    let key = key();
    // A length that decodes (multiple of 4), so only the size bound rejects it as TooLarge.
    let big = vec![b'A'; MAX_SEALED_LEN + 4];
    assert_eq!(seal::open(&key, NAME, &big), Err(SealError::TooLarge));
    let huge = vec![b'A'; 1 << 20];
    assert_eq!(seal::open(&key, NAME, &huge), Err(SealError::TooLarge));
    // Sealing refuses what opening would refuse.
    let too_big = vec![0u8; MAX_SEALED_LEN];
    assert_eq!(seal::seal(&key, NAME, &too_big), Err(SealError::TooLarge));
}

#[test]
fn seal_key_debug_does_not_leak() {
    let shown = format!("{:?}", key());
    assert!(!shown.contains("0123456789"));
}

// ---------------------------------------------------------------------------------------
// session sealing and chunking
// ---------------------------------------------------------------------------------------

/// A `Cookie` header with the session's cookies between unrelated ones, in shuffled order.
fn realistic_header(pairs: &[(String, String)]) -> String {
    let mut cookies: Vec<String> = vec![
        "_ga=GA1.2.1234567890.1700000000".into(),
        "csrftoken=abc.def".into(),
        format!("x{NAME}=prefixed"),
        format!("{NAME}x=suffixed"),
        "theme=dark".into(),
        "authentik_session=eyJ.not.ours".into(),
    ];
    for (i, (name, value)) in pairs.iter().rev().enumerate() {
        cookies.insert((i * 2) % (cookies.len() + 1), format!("{name}={value}"));
    }
    cookies.push("lang=en".into());
    cookies.join("; ")
}

fn open_from_headers(headers: &[&[u8]]) -> Vec<u8> {
    let joined = cookie::session_value(headers, NAME)
        .unwrap()
        .expect("session present");
    assert!(matches!(joined, Cow::Owned(_)), "chunked values are joined");
    open_session(&key(), NAME, &joined).unwrap()
}

#[test]
fn small_token_is_one_cookie() {
    let tok = token(900);
    let pairs = seal_session(&key(), NAME, &tok).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].0, NAME);
    assert!(pairs[0].1.len() <= CHUNK_LIMIT);
    assert!(!pairs[0].1.contains('.'));
    let header = realistic_header(&pairs);
    let headers = [header.as_bytes()];
    let value = cookie::session_value(&headers, NAME).unwrap().unwrap();
    assert!(
        matches!(value, Cow::Borrowed(_)),
        "unchunked value is borrowed"
    );
    assert_eq!(open_session(&key(), NAME, &value).unwrap(), tok);
}

#[test]
fn chunking_boundary() {
    let key = key();
    let fits = largest_token_sealing_within(CHUNK_LIMIT);
    let one = seal_session(&key, NAME, &token(fits)).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].1.len(), seal::sealed_len(fits));

    let two = seal_session(&key, NAME, &token(fits + 1)).unwrap();
    assert_eq!(two.len(), 2);
    assert!(two[0].1.starts_with("2."));
    for (_, value) in &two {
        assert!(value.len() <= CHUNK_LIMIT);
    }
    let header = realistic_header(&two);
    assert_eq!(open_from_headers(&[header.as_bytes()]), token(fits + 1));
}

fn check_chunked_round_trip(len: usize) {
    let tok = token(len);
    let pairs = seal_session(&key(), NAME, &tok).unwrap();
    let count = pairs.len();
    assert!((2..=MAX_CHUNKS).contains(&count), "{count} chunks");
    let names: Vec<String> = chunk_names(NAME).take(count).collect();
    assert_eq!(
        pairs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        names
    );
    assert!(pairs[0].1.starts_with(&format!("{count}.")));
    for (i, (_, value)) in pairs.iter().enumerate() {
        assert!(value.len() <= CHUNK_LIMIT, "chunk {i} has {}", value.len());
        if i > 0 {
            assert!(!value.contains('.'));
        }
    }

    // One Cookie header, session cookies mixed with others.
    let header = realistic_header(&pairs);
    assert_eq!(open_from_headers(&[header.as_bytes()]), tok);

    // Split across two Cookie headers (HTTP/2), at every pair boundary.
    let all: Vec<&str> = header.split("; ").collect();
    for split in 0..=all.len() {
        let a = all[..split].join("; ");
        let b = all[split..].join("; ");
        assert_eq!(open_from_headers(&[a.as_bytes(), b.as_bytes()]), tok);
    }

    // One Cookie header per cookie, as HTTP/2 clients may send them.
    let each: Vec<&[u8]> = all.iter().map(|c| c.as_bytes()).collect();
    assert_eq!(open_from_headers(&each), tok);
}

#[test]
fn ten_kilobyte_token_round_trips_through_chunks() {
    check_chunked_round_trip(10 * 1024);
}

#[test]
fn sixteen_kilobyte_token_round_trips_through_chunks() {
    assert!(seal::sealed_len(16 * 1024) <= MAX_CHUNKS * CHUNK_LIMIT - 2);
    check_chunked_round_trip(16 * 1024);
}

#[test]
fn largest_session_fills_every_chunk_and_one_more_byte_is_refused() {
    let key = key();
    let max = largest_token_sealing_within(MAX_SEALED_SESSION);
    let pairs = seal_session(&key, NAME, &token(max)).unwrap();
    assert_eq!(pairs.len(), MAX_CHUNKS);
    let header = realistic_header(&pairs);
    assert_eq!(open_from_headers(&[header.as_bytes()]), token(max));
    assert_eq!(
        seal_session(&key, NAME, &token(max + 1)),
        Err(SessionError::TooLarge)
    );
    assert_eq!(
        seal_session(&key, NAME, &vec![0u8; 200 * 1024]),
        Err(SessionError::TooLarge)
    );
}

#[test]
fn open_session_bounds_its_input() {
    let big = vec![b'A'; MAX_SEALED_SESSION + 2];
    assert_eq!(
        open_session(&key(), NAME, &big),
        Err(SessionError::TooLarge)
    );
}

#[test]
fn session_is_bound_to_its_cookie_name() {
    let pairs = seal_session(&key(), "NAME_A", b"token").unwrap();
    assert_eq!(
        open_session(&key(), "NAME_B", pairs[0].1.as_bytes()),
        Err(SessionError::Seal(SealError::Invalid))
    );
    assert_eq!(
        open_session(&key(), "NAME_A", pairs[0].1.as_bytes()).unwrap(),
        b"token"
    );
}

#[test]
fn chunks_of_two_sessions_do_not_mix() {
    let tok = token(10 * 1024);
    let a = seal_session(&key(), NAME, &tok).unwrap();
    let b = seal_session(&key(), NAME, &tok).unwrap();
    assert_eq!(a.len(), b.len());
    let mut mixed = a.clone();
    mixed[1] = b[1].clone();
    let header = realistic_header(&mixed);
    let headers = [header.as_bytes()];
    let joined = cookie::session_value(&headers, NAME).unwrap().unwrap();
    assert_eq!(
        open_session(&key(), NAME, &joined),
        Err(SessionError::Seal(SealError::Invalid))
    );
}

#[test]
fn chunk_names_cover_every_chunk() {
    let names: Vec<String> = chunk_names(NAME).collect();
    assert_eq!(names.len(), MAX_CHUNKS);
    assert_eq!(names[0], NAME);
    for (i, name) in names.iter().enumerate().skip(1) {
        assert_eq!(name, &format!("{NAME}_{i}"));
        assert_eq!(name, &session::chunk_name(NAME, i));
    }
}

// ---------------------------------------------------------------------------------------
// broken chunk sequences
// ---------------------------------------------------------------------------------------

fn session_err(header: &str) -> CookieError {
    cookie::session_value(&[header.as_bytes()], NAME).unwrap_err()
}

#[test]
fn missing_middle_chunk_is_an_error() {
    let pairs = seal_session(&key(), NAME, &token(16 * 1024)).unwrap();
    assert!(pairs.len() >= 4);
    for missing in 1..pairs.len() {
        let mut without = pairs.clone();
        without.remove(missing);
        assert_eq!(
            session_err(&realistic_header(&without)),
            CookieError::MissingChunk(missing)
        );
    }
}

#[test]
fn bad_counts_are_errors() {
    // Every chunk cookie up to NAME_9 is present, so only the count check can refuse.
    let tail: String = (1..=9).map(|i| format!("; {NAME}_{i}=BBBB")).collect();
    for prefix in [
        "9",
        "1",
        "0",
        "x",
        "",
        "2x",
        "-2",
        "10",
        "99999999999999999999",
        "2 ",
    ] {
        let header = format!("{NAME}={prefix}.AAAA{tail}");
        assert_eq!(session_err(&header), CookieError::BadCount, "{prefix:?}");
    }
    let ok = format!("{NAME}=3.AAAA{tail}");
    let joined = cookie::session_value(&[ok.as_bytes()], NAME)
        .unwrap()
        .unwrap();
    assert_eq!(&joined[..], b"AAAABBBBBBBB");
    let ok = format!("{NAME}={MAX_CHUNKS}.AAAA{tail}");
    let joined = cookie::session_value(&[ok.as_bytes()], NAME)
        .unwrap()
        .unwrap();
    assert_eq!(joined.len(), 4 * MAX_CHUNKS);
}

#[test]
fn stale_chunks_beyond_count_are_ignored() {
    let tok = token(5000);
    let mut pairs = seal_session(&key(), NAME, &tok).unwrap();
    assert_eq!(pairs.len(), 2);
    // Left over from an earlier, longer session.
    pairs.push((format!("{NAME}_2"), "c3RhbGU".into()));
    pairs.push((format!("{NAME}_7"), "c3RhbGU".into()));
    let header = realistic_header(&pairs);
    assert_eq!(open_from_headers(&[header.as_bytes()]), tok);
}

#[test]
fn chunk_values_cannot_come_from_look_alike_names() {
    let tok = token(5000);
    let pairs = seal_session(&key(), NAME, &tok).unwrap();
    assert_eq!(pairs.len(), 2);
    // NAME_1 exists only under look-alike names.
    let header = format!(
        "{NAME}={}; x{NAME}_1={v}; {NAME}_10={v}; {NAME}_1x={v}; {NAME}_01={v}",
        pairs[0].1,
        v = pairs[1].1
    );
    assert_eq!(session_err(&header), CookieError::MissingChunk(1));
}

// ---------------------------------------------------------------------------------------
// Cookie header parsing
// ---------------------------------------------------------------------------------------

fn find(headers: &[&str], name: &str) -> Option<String> {
    let headers: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
    cookie::find(&headers, name).map(|v| v.into_owned())
}

#[test]
fn finds_cookies_anywhere_in_the_header() {
    let h = "a=1; b=2; c=3";
    assert_eq!(find(&[h], "a").as_deref(), Some("1"));
    assert_eq!(find(&[h], "b").as_deref(), Some("2"));
    assert_eq!(find(&[h], "c").as_deref(), Some("3"));
    assert_eq!(find(&[h], "d").as_deref(), None);
    assert_eq!(find(&[], "a").as_deref(), None);
    assert_eq!(find(&[""], "a").as_deref(), None);
}

#[test]
fn tolerates_whitespace_variants() {
    assert_eq!(find(&["a=1;b=2"], "b").as_deref(), Some("2"));
    assert_eq!(find(&["  a=1 ;  b=2  "], "a").as_deref(), Some("1"));
    assert_eq!(find(&["  a=1 ;  b=2  "], "b").as_deref(), Some("2"));
    assert_eq!(find(&["a=1;\tb=2\t"], "b").as_deref(), Some("2"));
    assert_eq!(find(&["a = 1; b= 2"], "a").as_deref(), Some("1"));
    assert_eq!(find(&["a = 1; b= 2"], "b").as_deref(), Some("2"));
    assert_eq!(find(&[";;a=1;;"], "a").as_deref(), Some("1"));
    assert_eq!(find(&["a=1;"], "a").as_deref(), Some("1"));
}

#[test]
fn strips_double_quotes() {
    assert_eq!(find(&["a=\"quoted\"; b=2"], "a").as_deref(), Some("quoted"));
    assert_eq!(
        find(&["a= \"quoted\" ; b=2"], "a").as_deref(),
        Some("quoted")
    );
    assert_eq!(find(&["a=\"\""], "a").as_deref(), Some(""));
    // A lone or unbalanced quote is kept as is.
    assert_eq!(find(&["a=\""], "a").as_deref(), Some("\""));
    assert_eq!(find(&["a=\"x"], "a").as_deref(), Some("\"x"));
    assert_eq!(find(&["a=x\""], "a").as_deref(), Some("x\""));

    // A quoted session value, chunked or not.
    let small = seal_session(&key(), NAME, b"tok").unwrap();
    let h = format!("{NAME}=\"{}\"", small[0].1);
    let v = cookie::session_value(&[h.as_bytes()], NAME)
        .unwrap()
        .unwrap();
    assert!(matches!(v, Cow::Borrowed(_)));
    assert_eq!(open_session(&key(), NAME, &v).unwrap(), b"tok");

    let tok = token(9000);
    let pairs = seal_session(&key(), NAME, &tok).unwrap();
    let quoted: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.clone(), format!("\"{v}\"")))
        .collect();
    let header = realistic_header(&quoted);
    assert_eq!(open_from_headers(&[header.as_bytes()]), tok);
}

#[test]
fn empty_values_are_values() {
    assert_eq!(find(&["a=; b=2"], "a").as_deref(), Some(""));
    assert_eq!(find(&["b=2; a="], "a").as_deref(), Some(""));
    let h = format!("{NAME}=; other=1");
    let v = cookie::session_value(&[h.as_bytes()], NAME).unwrap();
    assert_eq!(v.as_deref(), Some(&b""[..]));
}

#[test]
fn pairs_without_equals_are_skipped() {
    assert_eq!(find(&["a; b=2"], "a").as_deref(), None);
    assert_eq!(find(&["a; b=2"], "b").as_deref(), Some("2"));
    assert_eq!(find(&["a; a=1"], "a").as_deref(), Some("1"));
    assert_eq!(find(&["junk;a;=x; a=1"], "a").as_deref(), Some("1"));
    assert_eq!(find(&["a"], "a").as_deref(), None);
    assert_eq!(find(&["=x"], "").as_deref(), None);
}

#[test]
fn values_may_contain_equals_and_dots() {
    assert_eq!(find(&["a=b=c; d=1"], "a").as_deref(), Some("b=c"));
    assert_eq!(find(&["x=a=1; a=2"], "a").as_deref(), Some("2"));
    assert_eq!(find(&["x=1.2.3; a=2"], "x").as_deref(), Some("1.2.3"));
}

#[test]
fn names_match_exactly() {
    let v = "SECRET";
    // Prefix, suffix, case and look-alikes never match.
    let h = format!(
        "x{NAME}={v}; {NAME}x={v}; {NAME}_1={v}; {}={v}",
        NAME.to_uppercase()
    );
    assert_eq!(find(&[&h], NAME).as_deref(), None);
    assert_eq!(cookie::session_value(&[h.as_bytes()], NAME), Ok(None));
    // The real one is found after look-alikes.
    let h2 = format!("{h}; {NAME}=real");
    assert_eq!(find(&[&h2], NAME).as_deref(), Some("real"));
    // A value that contains "NAME=" is not a cookie named NAME.
    let h3 = format!("other={NAME}=evil; foo= {NAME}=evil2");
    assert_eq!(find(&[&h3], NAME).as_deref(), None);
    // Short names inside longer ones.
    assert_eq!(find(&["ab=1; b=2"], "b").as_deref(), Some("2"));
    assert_eq!(find(&["ab=1; ba=2"], "b").as_deref(), None);
}

#[test]
fn first_occurrence_wins() {
    assert_eq!(find(&["a=1; a=2"], "a").as_deref(), Some("1"));
    assert_eq!(find(&["b=0", "a=1; a=2", "a=3"], "a").as_deref(), Some("1"));
    assert_eq!(find(&["b=0", "c=1", "a=3"], "a").as_deref(), Some("3"));
}

#[test]
fn many_unrelated_cookies() {
    let mut cookies: Vec<String> = (0..500)
        .map(|i| format!("cookie{i}=value{i}.{}", "v".repeat(i % 37)))
        .collect();
    let without = cookies.join("; ");
    assert_eq!(find(&[&without], NAME).as_deref(), None);
    assert_eq!(cookie::session_value(&[without.as_bytes()], NAME), Ok(None));
    assert_eq!(
        find(&[&without], "cookie499").as_deref(),
        Some(&*format!("value499.{}", "v".repeat(499 % 37)))
    );

    let small = seal_session(&key(), NAME, b"tok").unwrap();
    cookies.insert(250, format!("{NAME}={}", small[0].1));
    let with = cookies.join("; ");
    let v = cookie::session_value(&[with.as_bytes()], NAME)
        .unwrap()
        .unwrap();
    assert!(matches!(v, Cow::Borrowed(_)));
    assert_eq!(open_session(&key(), NAME, &v).unwrap(), b"tok");

    let tok = token(12 * 1024);
    let pairs = seal_session(&key(), NAME, &tok).unwrap();
    let mut cookies: Vec<String> = (0..500).map(|i| format!("c{i}=v{i}")).collect();
    for (i, (n, v)) in pairs.iter().enumerate() {
        cookies.insert(i * 97 % cookies.len(), format!("{n}={v}"));
    }
    let header = cookies.join(";");
    assert_eq!(open_from_headers(&[header.as_bytes()]), tok);
}
