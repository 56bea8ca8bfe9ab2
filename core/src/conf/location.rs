//! The http/server/location directives: `authentik`, `authentik_require_group`,
//! `authentik_require`, `authentik_unauthenticated`, `authentik_set_headers`,
//! `authentik_strip_identity_headers`. Each level inherits what it does not set.

use super::{on_off, once, one, SettingError};

/// What an unauthenticated request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unauthenticated {
    #[default]
    Auto,
    Redirect,
    Status401,
}

/// `authentik NAME | off` as written, with where it was written for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protection {
    Off,
    Provider {
        name: String,
        file: String,
        line: usize,
    },
}

/// One level's settings as written.
#[derive(Clone, Debug, Default)]
pub struct LocationSettings {
    protection: Option<Protection>,
    require_groups: Option<Vec<String>>,
    require_values: Option<usize>,
    unauthenticated: Option<Unauthenticated>,
    set_headers: Option<bool>,
    strip_identity_headers: Option<bool>,
}

/// A location's settings once inherited and resolved: what the access decision reads.
#[derive(Clone, Debug, Default)]
pub struct Location {
    /// Index of the provider that protects it; `None` for `authentik off` or unset.
    pub(crate) provider: Option<usize>,
    pub(crate) require_groups: Box<[String]>,
    pub(crate) unauthenticated: Unauthenticated,
    pub(crate) set_headers: bool,
    strip_identity_headers: bool,
    require_values: usize,
}

impl Location {
    pub fn provider(&self) -> Option<usize> {
        self.provider
    }

    /// Whether client-sent identity headers are removed here (the default wherever a
    /// provider is defined).
    pub fn strips_identity_headers(&self) -> bool {
        self.strip_identity_headers
    }

    /// Number of `authentik_require` values the glue evaluates for this location.
    pub fn require_values(&self) -> usize {
        self.require_values
    }

    pub fn set_headers(&self) -> bool {
        self.set_headers
    }
}

impl LocationSettings {
    /// Apply one directive. `origin` is the directive's file and line (for `authentik NAME`,
    /// whose provider is only resolved once every block has been read).
    pub fn set(
        &mut self,
        directive: &str,
        args: &[&str],
        origin: (&str, usize),
    ) -> Result<(), SettingError> {
        match directive {
            "authentik" => {
                let name = one("authentik", args)?;
                let protection = match name {
                    "off" => Protection::Off,
                    _ => Protection::Provider {
                        name: name.to_string(),
                        file: origin.0.to_string(),
                        line: origin.1,
                    },
                };
                once(&mut self.protection, "authentik", protection)
            }
            "authentik_require_group" => {
                if args.is_empty() {
                    return Err(SettingError::Arity("authentik_require_group"));
                }
                if args.iter().any(|g| g.is_empty()) {
                    return Err(SettingError::Invalid(
                        "authentik_require_group \"\" names no group: authentik group names are never empty".into(),
                    ));
                }
                let groups = args.iter().map(|g| g.to_string()).collect();
                once(&mut self.require_groups, "authentik_require_group", groups)
            }
            "authentik_require" => {
                if args.is_empty() {
                    return Err(SettingError::Arity("authentik_require"));
                }
                once(&mut self.require_values, "authentik_require", args.len())
            }
            "authentik_unauthenticated" => {
                let value = match one("authentik_unauthenticated", args)? {
                    "auto" => Unauthenticated::Auto,
                    "redirect" => Unauthenticated::Redirect,
                    "401" => Unauthenticated::Status401,
                    other => {
                        return Err(SettingError::Invalid(format!(
                            "invalid value \"{other}\", expected auto, redirect or 401"
                        )))
                    }
                };
                once(
                    &mut self.unauthenticated,
                    "authentik_unauthenticated",
                    value,
                )
            }
            "authentik_set_headers" => {
                let on = on_off("authentik_set_headers", args)?;
                once(&mut self.set_headers, "authentik_set_headers", on)
            }
            "authentik_strip_identity_headers" => {
                let on = on_off("authentik_strip_identity_headers", args)?;
                once(
                    &mut self.strip_identity_headers,
                    "authentik_strip_identity_headers",
                    on,
                )
            }
            other => Err(SettingError::Invalid(format!(
                "unknown directive \"{other}\""
            ))),
        }
    }

    /// Take what this level does not set from the enclosing level.
    pub fn inherit(&mut self, parent: &LocationSettings) {
        if self.protection.is_none() {
            self.protection.clone_from(&parent.protection);
        }
        if self.require_groups.is_none() {
            self.require_groups.clone_from(&parent.require_groups);
        }
        self.require_values = self.require_values.or(parent.require_values);
        self.unauthenticated = self.unauthenticated.or(parent.unauthenticated);
        self.set_headers = self.set_headers.or(parent.set_headers);
        self.strip_identity_headers = self
            .strip_identity_headers
            .or(parent.strip_identity_headers);
    }

    /// Whether `authentik_require` is set at this level (its values are the glue's).
    pub fn sets_require_here(&self, parent: &LocationSettings) -> bool {
        self.require_values.is_some() && parent.require_values.is_none()
    }

    /// Resolve `authentik NAME` against the provider names, in definition order.
    pub fn resolve(&self, providers: &[&str]) -> Result<Location, SettingError> {
        let provider = match &self.protection {
            None | Some(Protection::Off) => None,
            Some(Protection::Provider { name, file, line }) => {
                Some(providers.iter().position(|p| p == name).ok_or_else(|| {
                    SettingError::Invalid(format!(
                        "unknown authentik_provider \"{name}\" in {file}:{line}"
                    ))
                })?)
            }
        };
        Ok(Location {
            provider,
            require_groups: self.require_groups.clone().unwrap_or_default().into(),
            unauthenticated: self.unauthenticated.unwrap_or_default(),
            set_headers: self.set_headers.unwrap_or(true),
            strip_identity_headers: self.strip_identity_headers.unwrap_or(!providers.is_empty()),
            require_values: self.require_values.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: (&str, usize) = ("nginx.conf", 7);

    #[test]
    fn inherits_and_resolves() {
        let mut server = LocationSettings::default();
        server.set("authentik", &["app"], AT).unwrap();
        server
            .set("authentik_require_group", &["admins"], AT)
            .unwrap();
        let mut location = LocationSettings::default();
        location
            .set("authentik_unauthenticated", &["401"], AT)
            .unwrap();
        location.inherit(&server);
        let resolved = location.resolve(&["other", "app"]).unwrap();
        assert_eq!(resolved.provider(), Some(1));
        assert_eq!(&*resolved.require_groups, ["admins"]);
        assert_eq!(resolved.unauthenticated, Unauthenticated::Status401);
        assert!(resolved.set_headers() && resolved.strips_identity_headers());
    }

    #[test]
    fn unknown_provider_names_its_place() {
        let mut s = LocationSettings::default();
        s.set("authentik", &["nosuch"], AT).unwrap();
        let e = s.resolve(&["app"]).unwrap_err().to_string();
        assert_eq!(e, "unknown authentik_provider \"nosuch\" in nginx.conf:7");
    }

    #[test]
    fn mistakes() {
        let mut s = LocationSettings::default();
        assert!(s
            .set("authentik_require_group", &[""], AT)
            .unwrap_err()
            .to_string()
            .contains("names no group"));
        s.set("authentik", &["off"], AT).unwrap();
        assert_eq!(
            s.set("authentik", &["app"], AT).unwrap_err(),
            SettingError::Duplicate("authentik")
        );
        assert!(s.set("authentik_unauthenticated", &["never"], AT).is_err());
        assert!(s.set("authentik_set_headers", &["maybe"], AT).is_err());
    }

    #[test]
    fn stripping_defaults_to_on_once_a_provider_exists() {
        let s = LocationSettings::default();
        assert!(!s.resolve(&[]).unwrap().strips_identity_headers());
        assert!(s.resolve(&["app"]).unwrap().strips_identity_headers());
        let mut off = LocationSettings::default();
        off.set("authentik_strip_identity_headers", &["off"], AT)
            .unwrap();
        assert!(!off.resolve(&["app"]).unwrap().strips_identity_headers());
    }
}
