//! The `Authorization: Basic` header (RFC 7617): `Basic base64(user-id ":" password)`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::token::MAX_TOKEN_BYTES;

/// authentik's username for a bearer token sent as Basic credentials.
pub const TOKEN_USERNAME: &str = "goauthentik.io/token";
/// The longest user-id, in bytes (authentik's usernames have at most 150 characters).
pub const MAX_USERNAME_BYTES: usize = 1024;
/// The longest app password, in bytes (authentik's are 60 characters): a longer one is never
/// sent to authentik.
pub const MAX_APP_PASSWORD_BYTES: usize = 1024;
/// The longest decoded credentials: a username and a bearer token as the password.
pub const MAX_CREDENTIALS_BYTES: usize = MAX_USERNAME_BYTES + 1 + MAX_TOKEN_BYTES;

/// What Basic credentials name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicCredentials {
    /// Username `goauthentik.io/token`: the password is a bearer token.
    Token(String),
    /// Any other username: the password is an app password, for the `client_credentials`
    /// grant.
    AppPassword { username: String, password: String },
}

/// Why Basic credentials are malformed. Each is answered 401 without asking authentik.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    Empty,
    TooLong,
    NotBase64,
    NotUtf8,
    NoColon,
    EmptyUsername,
    EmptyPassword,
    ControlCharacter,
}

impl BasicError {
    pub fn reason(self) -> &'static str {
        match self {
            BasicError::Empty => "Basic credentials are empty",
            BasicError::TooLong => "Basic credentials are too long",
            BasicError::NotBase64 => "Basic credentials are not base64",
            BasicError::NotUtf8 => "Basic credentials are not UTF-8",
            BasicError::NoColon => "Basic credentials have no \":\" between username and password",
            BasicError::EmptyUsername => "Basic credentials have an empty username",
            BasicError::EmptyPassword => "Basic credentials have an empty password",
            BasicError::ControlCharacter => "Basic credentials contain a control character",
        }
    }
}

/// The credentials of an `Authorization` value in the Basic scheme (case-insensitive, then
/// spaces or tabs); `None` for any other scheme.
pub fn basic_credentials(authorization: &[u8]) -> Option<Result<BasicCredentials, BasicError>> {
    const SCHEME: &[u8] = b"basic";
    let scheme = authorization.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &authorization[SCHEME.len()..];
    match rest.first() {
        None => Some(Err(BasicError::Empty)),
        Some(b' ' | b'\t') => Some(decode(rest.trim_ascii())),
        // `Basicfoo` is another scheme.
        Some(_) => None,
    }
}

fn decode(encoded: &[u8]) -> Result<BasicCredentials, BasicError> {
    if encoded.is_empty() {
        return Err(BasicError::Empty);
    }
    let longest = base64::encoded_len(MAX_CREDENTIALS_BYTES, true).unwrap_or(usize::MAX);
    if encoded.len() > longest {
        return Err(BasicError::TooLong);
    }
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| BasicError::NotBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| BasicError::NotUtf8)?;
    let (username, password) = text.split_once(':').ok_or(BasicError::NoColon)?;
    if text.chars().any(char::is_control) {
        return Err(BasicError::ControlCharacter);
    }
    if username.is_empty() {
        return Err(BasicError::EmptyUsername);
    }
    if password.is_empty() {
        return Err(BasicError::EmptyPassword);
    }
    if username.len() > MAX_USERNAME_BYTES {
        return Err(BasicError::TooLong);
    }
    Ok(if username == TOKEN_USERNAME {
        BasicCredentials::Token(password.to_string())
    } else if password.len() > MAX_APP_PASSWORD_BYTES {
        return Err(BasicError::TooLong);
    } else {
        BasicCredentials::AppPassword {
            username: username.to_string(),
            password: password.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(plain: &[u8]) -> Vec<u8> {
        let mut header = b"Basic ".to_vec();
        header.extend(STANDARD.encode(plain).into_bytes());
        header
    }

    fn parse(header: &[u8]) -> Option<Result<BasicCredentials, BasicError>> {
        basic_credentials(header)
    }

    #[test]
    fn app_passwords_and_tokens() {
        assert_eq!(
            parse(&basic(b"alice:alice-app-password")),
            Some(Ok(BasicCredentials::AppPassword {
                username: "alice".into(),
                password: "alice-app-password".into()
            }))
        );
        // The password may hold colons; the username may not.
        assert_eq!(
            parse(&basic(b"alice:a:b")),
            Some(Ok(BasicCredentials::AppPassword {
                username: "alice".into(),
                password: "a:b".into()
            }))
        );
        assert_eq!(
            parse(&basic(b"goauthentik.io/token:aaa.bbb.ccc")),
            Some(Ok(BasicCredentials::Token("aaa.bbb.ccc".into())))
        );
        assert_eq!(
            parse(&basic("jörg:pässword".as_bytes())),
            Some(Ok(BasicCredentials::AppPassword {
                username: "jörg".into(),
                password: "pässword".into()
            }))
        );
    }

    #[test]
    fn scheme_is_case_insensitive_and_needs_a_space() {
        let encoded = STANDARD.encode("alice:pw");
        for header in [
            format!("basic {encoded}"),
            format!("BASIC  {encoded} "),
            format!("Basic\t{encoded}"),
        ] {
            assert!(
                matches!(parse(header.as_bytes()), Some(Ok(_))),
                "{header:?}"
            );
        }
        for other in [
            format!("Basicx {encoded}"),
            format!("Bearer {encoded}"),
            "Bas".to_string(),
            String::new(),
        ] {
            assert_eq!(parse(other.as_bytes()), None, "{other:?}");
        }
    }

    #[test]
    fn malformed_credentials_are_errors() {
        let cases: Vec<(Vec<u8>, BasicError)> = vec![
            (b"Basic".to_vec(), BasicError::Empty),
            (b"Basic   ".to_vec(), BasicError::Empty),
            (b"Basic !!!!".to_vec(), BasicError::NotBase64),
            (b"Basic YWxpY2U6cHc".to_vec(), BasicError::NotBase64),
            (b"Basic YWxpY2U6cHc=x".to_vec(), BasicError::NotBase64),
            (basic(b"alicepw"), BasicError::NoColon),
            (basic(b":pw"), BasicError::EmptyUsername),
            (basic(b"alice:"), BasicError::EmptyPassword),
            (basic(b"al\0ice:pw"), BasicError::ControlCharacter),
            (basic(b"alice:p\nw"), BasicError::ControlCharacter),
            (basic(b"alice:p\x7fw"), BasicError::ControlCharacter),
            (basic(b"\xff\xfe:pw"), BasicError::NotUtf8),
            (basic(&[b'a'; MAX_USERNAME_BYTES + 1]), BasicError::NoColon),
            (
                basic(&[vec![b'a'; MAX_USERNAME_BYTES + 1], b":pw".to_vec()].concat()),
                BasicError::TooLong,
            ),
            (
                basic(&vec![b'a'; MAX_CREDENTIALS_BYTES + 1]),
                BasicError::TooLong,
            ),
            (
                basic(format!("alice:{}", "p".repeat(MAX_APP_PASSWORD_BYTES + 1)).as_bytes()),
                BasicError::TooLong,
            ),
        ];
        for (header, error) in cases {
            assert_eq!(
                parse(&header),
                Some(Err(error)),
                "{}",
                String::from_utf8_lossy(&header[..header.len().min(40)])
            );
        }
    }

    #[test]
    fn longest_token_fits() {
        let token = "a".repeat(MAX_TOKEN_BYTES);
        let header = basic(format!("{TOKEN_USERNAME}:{token}").as_bytes());
        assert_eq!(parse(&header), Some(Ok(BasicCredentials::Token(token))));
    }
}
