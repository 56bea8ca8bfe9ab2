//! http-level directives: `authentik_cache`.

use super::{once, SettingError, Units};

pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;
const MAX_CACHE_ENTRIES: usize = 10_000_000;

#[derive(Debug, Default)]
pub struct MainSettings {
    cache: Option<(usize, usize)>,
}

impl MainSettings {
    pub fn set(
        &mut self,
        directive: &str,
        args: &[&str],
        units: &dyn Units,
    ) -> Result<(), SettingError> {
        match directive {
            "authentik_cache" => {
                let (entries, bytes) = match args {
                    [entries] => (*entries, None),
                    [entries, bytes] => (*entries, Some(*bytes)),
                    _ => return Err(SettingError::Arity("authentik_cache")),
                };
                let entries = entries
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n <= MAX_CACHE_ENTRIES)
                    .ok_or_else(|| {
                        SettingError::Invalid(format!(
                            "invalid number of entries \"{entries}\", expected 0 … {MAX_CACHE_ENTRIES}"
                        ))
                    })?;
                let bytes = match bytes {
                    None => DEFAULT_CACHE_BYTES,
                    Some(text) => {
                        units
                            .bytes(text)
                            .filter(|&b| b >= 64 << 10)
                            .ok_or_else(|| {
                                SettingError::Invalid(format!(
                            "invalid cache size \"{text}\", expected a size of at least 64k"
                        ))
                            })?
                    }
                };
                once(&mut self.cache, "authentik_cache", (entries, bytes))
            }
            other => Err(SettingError::Invalid(format!(
                "unknown directive \"{other}\""
            ))),
        }
    }

    /// Entries and bytes of each worker's verified-credential cache.
    pub fn cache(&self) -> (usize, usize) {
        self.cache
            .unwrap_or((DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::super::PlainUnits;
    use super::*;

    #[test]
    fn cache_sizes() {
        let mut m = MainSettings::default();
        assert_eq!(m.cache(), (DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_BYTES));
        m.set("authentik_cache", &["500", "1m"], &PlainUnits)
            .unwrap();
        assert_eq!(m.cache(), (500, 1 << 20));
        assert!(m.set("authentik_cache", &["5"], &PlainUnits).is_err());
        let mut m = MainSettings::default();
        assert!(m.set("authentik_cache", &["-1"], &PlainUnits).is_err());
        assert!(m.set("authentik_cache", &["1", "1k"], &PlainUnits).is_err());
    }
}
