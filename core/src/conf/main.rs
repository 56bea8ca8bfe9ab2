//! http-level directives: `authentik_cache`, `authentik_revocation_zone`.

use super::{once, SettingError, Units};

pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;
const MAX_CACHE_ENTRIES: usize = 10_000_000;

#[derive(Debug, Default)]
pub struct MainSettings {
    cache: Option<(usize, usize)>,
    revocation_zone: Option<usize>,
}

/// The revocation list's zone when `authentik_revocation_zone` is not set.
pub const DEFAULT_REVOCATION_ZONE_BYTES: usize = 1 << 20;
/// The smallest zone: room for a few hundred revocations.
pub const MIN_REVOCATION_ZONE_BYTES: usize = 16 << 10;

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
            "authentik_revocation_zone" => {
                let [size] = args else {
                    return Err(SettingError::Arity("authentik_revocation_zone"));
                };
                let bytes = units
                    .bytes(size)
                    .filter(|&b| b >= MIN_REVOCATION_ZONE_BYTES)
                    .ok_or_else(|| {
                        SettingError::Invalid(format!(
                            "invalid revocation zone size \"{size}\", expected a size of at least 16k"
                        ))
                    })?;
                once(
                    &mut self.revocation_zone,
                    "authentik_revocation_zone",
                    bytes,
                )
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

impl MainSettings {
    /// Bytes of the revocation list's shared zone.
    pub fn revocation_zone(&self) -> usize {
        self.revocation_zone
            .unwrap_or(DEFAULT_REVOCATION_ZONE_BYTES)
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

    #[test]
    fn revocation_zone_size() {
        let mut m = MainSettings::default();
        assert_eq!(m.revocation_zone(), 1 << 20);
        m.set("authentik_revocation_zone", &["4m"], &PlainUnits)
            .unwrap();
        assert_eq!(m.revocation_zone(), 4 << 20);
        assert!(m
            .set("authentik_revocation_zone", &["8m"], &PlainUnits)
            .is_err());
        let mut m = MainSettings::default();
        assert!(m
            .set("authentik_revocation_zone", &["1k"], &PlainUnits)
            .is_err());
        assert!(m
            .set("authentik_revocation_zone", &[], &PlainUnits)
            .is_err());
    }
}
