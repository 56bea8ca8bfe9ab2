//! Configuration: every directive's arguments are parsed and checked here, with typed errors.
//! The nginx glue is a command table that hands each directive's arguments to these parsers
//! and turns [`SettingError`] into an `nginx -t` message at the directive's file and line.

mod location;
mod main;
mod provider;

pub use location::{Location, LocationSettings, Protection, Unauthenticated};
pub use main::{MainSettings, DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES};
pub use provider::ProviderSettings;

use std::fmt;

/// Why a directive or a block is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingError {
    /// The directive (or setting) was already given at this level.
    Duplicate(&'static str),
    /// Wrong number of arguments.
    Arity(&'static str),
    /// An argument or the whole block is invalid; the text says why.
    Invalid(String),
    /// A setting this block does not know.
    Unknown(String),
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::Duplicate(name) => write!(f, "\"{name}\" directive is duplicate"),
            SettingError::Arity(name) => {
                write!(f, "invalid number of arguments in \"{name}\" directive")
            }
            SettingError::Invalid(why) => f.write_str(why),
            SettingError::Unknown(name) => {
                write!(f, "unknown authentik_provider setting \"{name}\"")
            }
        }
    }
}

impl std::error::Error for SettingError {}

/// nginx's own parsers for time and size values (`ngx_parse_time`, `ngx_parse_size`), so
/// `1m30s` and `16m` read exactly as in every other nginx directive. Configuration parsing is
/// the only place core calls out, once per directive, never while requests are served.
pub trait Units {
    /// Seconds of an nginx time value.
    fn seconds(&self, text: &str) -> Option<u64>;
    /// Bytes of an nginx size value.
    fn bytes(&self, text: &str) -> Option<usize>;
}

/// Something worth a `warn` line at the directive, without failing the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// `Some(value)` only if `slot` is still empty.
fn once<T>(slot: &mut Option<T>, directive: &'static str, value: T) -> Result<(), SettingError> {
    if slot.is_some() {
        return Err(SettingError::Duplicate(directive));
    }
    *slot = Some(value);
    Ok(())
}

/// The single argument of a one-argument directive.
fn one<'a>(directive: &'static str, args: &[&'a str]) -> Result<&'a str, SettingError> {
    match args {
        [value] => Ok(value),
        _ => Err(SettingError::Arity(directive)),
    }
}

fn on_off(directive: &'static str, args: &[&str]) -> Result<bool, SettingError> {
    match one(directive, args)? {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(SettingError::Invalid(format!(
            "invalid value \"{other}\" in \"{directive}\", it must be \"on\" or \"off\""
        ))),
    }
}

/// A simple `Units` for tests and tools: `90`, `30s`, `5m`, `1h`, `1d`, `1m30s`; `512`, `8k`,
/// `16m`, `1g`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainUnits;

impl Units for PlainUnits {
    fn seconds(&self, text: &str) -> Option<u64> {
        let mut total: u64 = 0;
        let mut number: Option<u64> = None;
        for c in text.chars() {
            if let Some(digit) = c.to_digit(10) {
                number = Some(
                    number
                        .unwrap_or(0)
                        .checked_mul(10)?
                        .checked_add(u64::from(digit))?,
                );
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return None,
            };
            total = total.checked_add(number.take()?.checked_mul(unit)?)?;
        }
        match number {
            Some(n) => total.checked_add(n),
            None if !text.is_empty() => Some(total),
            None => None,
        }
    }

    fn bytes(&self, text: &str) -> Option<usize> {
        let (digits, unit) = match text.as_bytes().last()? {
            b'k' | b'K' => (&text[..text.len() - 1], 1 << 10),
            b'm' | b'M' => (&text[..text.len() - 1], 1 << 20),
            b'g' | b'G' => (&text[..text.len() - 1], 1 << 30),
            _ => (text, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<usize>().ok()?.checked_mul(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_units() {
        let u = PlainUnits;
        assert_eq!(u.seconds("60s"), Some(60));
        assert_eq!(u.seconds("90"), Some(90));
        assert_eq!(u.seconds("1m30s"), Some(90));
        assert_eq!(u.seconds("2m"), Some(120));
        for bad in ["s", "-1", "1x", ""] {
            assert_eq!(u.seconds(bad), None, "{bad}");
        }
        assert_eq!(u.bytes("16m"), Some(16 << 20));
        assert_eq!(u.bytes("512"), Some(512));
        assert_eq!(u.bytes("m"), None);
    }

    #[test]
    fn messages_read_like_nginx() {
        assert_eq!(
            SettingError::Duplicate("mode").to_string(),
            "\"mode\" directive is duplicate"
        );
        assert_eq!(
            SettingError::Arity("issuer").to_string(),
            "invalid number of arguments in \"issuer\" directive"
        );
    }
}
