//! `authentik_provider NAME { … }`: each setting checked on its own line, the whole block when
//! it closes.

use url::Url;

use super::{on_off, once, one, SettingError, Units, Warning};
use crate::cookie::CookieAttributes;
use crate::identity::BasicAuthAttributes;
use crate::keys::{Algorithm, KeySet};
use crate::provider::{
    default_cookie_name, Mode, Provider, DEFAULT_LEEWAY_SECS, DEFAULT_META_OUTPOST, DEFAULT_SCOPES,
    MAX_LEEWAY_SECS, MIN_COOKIE_SECRET_BYTES,
};
use crate::sanitize::is_cookie_name;
use crate::seal::SealKey;
use crate::skip::SkipPaths;
use crate::token::Verifier;

/// The settings of one block as written.
#[derive(Default)]
pub struct ProviderSettings {
    name: String,
    issuer: Option<String>,
    authorize_url: Option<String>,
    end_session_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Vec<u8>>,
    cookie_secret: Option<Vec<u8>>,
    external_host: Option<String>,
    mode: Option<Mode>,
    cookie_domain: Option<String>,
    cookie_name: Option<String>,
    scopes: Option<String>,
    token_request: Option<String>,
    jwks: Option<String>,
    algorithms: Option<Vec<Algorithm>>,
    leeway_secs: Option<u64>,
    skip_paths: SkipPaths,
    bearer: Option<bool>,
    refresh: Option<bool>,
    refresh_interval: Option<Option<u64>>,
    basic_user: Option<String>,
    basic_password: Option<String>,
    meta_outpost: Option<String>,
    meta_provider: Option<String>,
    meta_app: Option<String>,
}

/// Every setting of the block, for error messages that need a `'static` name.
const SETTINGS: [&str; 27] = [
    "issuer",
    "authorize_url",
    "end_session_url",
    "client_id",
    "client_secret",
    "client_secret_file",
    "cookie_secret",
    "cookie_secret_file",
    "external_host",
    "mode",
    "cookie_domain",
    "cookie_name",
    "scopes",
    "token_request",
    "jwks_file",
    "algorithms",
    "leeway",
    "skip_path",
    "bearer",
    "refresh",
    "refresh_interval",
    "basic_auth_user_attribute",
    "basic_auth_password_attribute",
    "meta_outpost",
    "meta_provider",
    "meta_app",
    "authentik_provider",
];

impl ProviderSettings {
    /// A new block named `name`: not empty and not `off`.
    pub fn new(name: &str) -> Result<ProviderSettings, SettingError> {
        if name.is_empty() || name == "off" {
            return Err(SettingError::Invalid(format!(
                "invalid provider name \"{name}\""
            )));
        }
        Ok(ProviderSettings {
            name: name.to_string(),
            ..Default::default()
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Apply one setting line.
    pub fn set(
        &mut self,
        setting: &str,
        args: &[&str],
        units: &dyn Units,
    ) -> Result<Vec<Warning>, SettingError> {
        let Some(&name) = SETTINGS[..SETTINGS.len() - 1]
            .iter()
            .find(|&&s| s == setting)
        else {
            return Err(SettingError::Unknown(setting.to_string()));
        };
        let mut warnings = Vec::new();
        let text = |args: &[&str]| one(name, args).map(str::to_string);
        match name {
            "issuer" => {
                let issuer = text(args)?;
                absolute_url(name, &issuer)?;
                if !issuer.ends_with('/') {
                    return Err(SettingError::Invalid(format!(
                        "\"issuer\" must end with \"/\", as authentik's issuers do: use \"{issuer}/\""
                    )));
                }
                once(&mut self.issuer, name, issuer)?
            }
            "authorize_url" => {
                let url = text(args)?;
                absolute_url(name, &url)?;
                once(&mut self.authorize_url, name, url)?
            }
            "end_session_url" => {
                let url = text(args)?;
                absolute_url(name, &url)?;
                once(&mut self.end_session_url, name, url)?
            }
            "client_id" => once(&mut self.client_id, name, text(args)?)?,
            "external_host" => {
                let host = text(args)?;
                let url = absolute_url(name, &host)?;
                if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                    return Err(SettingError::Invalid(format!(
                        "\"external_host\" must be an origin such as \"https://app.company\", without a path, query or fragment: \"{host}\""
                    )));
                }
                once(&mut self.external_host, name, host)?
            }
            "cookie_domain" => {
                let domain = one(name, args)?
                    .trim_start_matches('.')
                    .to_ascii_lowercase();
                let valid = !domain.is_empty()
                    && domain
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !valid {
                    return Err(SettingError::Invalid(format!(
                        "invalid cookie_domain \"{}\": a domain name such as \"company.tld\"",
                        one(name, args)?
                    )));
                }
                once(&mut self.cookie_domain, name, domain)?
            }
            "cookie_name" => {
                let value = one(name, args)?;
                if !is_cookie_name(value) {
                    return Err(SettingError::Invalid(format!(
                        "invalid cookie_name \"{value}\""
                    )));
                }
                once(&mut self.cookie_name, name, value.to_string())?
            }
            "scopes" => {
                if args.is_empty() {
                    return Err(SettingError::Arity(name));
                }
                once(&mut self.scopes, name, args.join(" "))?
            }
            "token_request" => {
                let uri = text(args)?;
                if !uri.starts_with('/') {
                    return Err(SettingError::Invalid(format!(
                        "token_request must be a URI starting with \"/\": \"{uri}\""
                    )));
                }
                once(&mut self.token_request, name, uri)?
            }
            "meta_outpost" => once(&mut self.meta_outpost, name, text(args)?)?,
            "meta_provider" => once(&mut self.meta_provider, name, text(args)?)?,
            "meta_app" => once(&mut self.meta_app, name, text(args)?)?,
            "basic_auth_user_attribute" => once(&mut self.basic_user, name, text(args)?)?,
            "basic_auth_password_attribute" => once(&mut self.basic_password, name, text(args)?)?,
            "client_secret" => {
                let secret = one(name, args)?.as_bytes().to_vec();
                self.set_client_secret(name, secret)?
            }
            "client_secret_file" => {
                let path = one(name, args)?;
                warnings.extend(exposed(name, path));
                let secret = read_secret_file(path)?;
                self.set_client_secret(name, secret)?
            }
            "cookie_secret" => {
                let secret = one(name, args)?.as_bytes().to_vec();
                self.set_cookie_secret(name, secret)?
            }
            "cookie_secret_file" => {
                let path = one(name, args)?;
                warnings.extend(exposed(name, path));
                let secret = read_secret_file(path)?;
                self.set_cookie_secret(name, secret)?
            }
            "jwks_file" => {
                let path = one(name, args)?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    SettingError::Invalid(format!("cannot read jwks_file \"{path}\": {e}"))
                })?;
                KeySet::new(b"", Some(&text), None).map_err(|e| {
                    SettingError::Invalid(format!("invalid jwks_file \"{path}\": {e}"))
                })?;
                once(&mut self.jwks, name, text)?
            }
            "mode" => {
                let mode = match one(name, args)? {
                    "single" => Mode::Single,
                    "domain" => Mode::Domain,
                    other => {
                        return Err(SettingError::Invalid(format!(
                            "invalid mode \"{other}\", expected single or domain"
                        )))
                    }
                };
                once(&mut self.mode, name, mode)?
            }
            "algorithms" => {
                if args.is_empty() {
                    return Err(SettingError::Invalid(
                        "\"algorithms\" needs at least one algorithm".into(),
                    ));
                }
                let algorithms = args
                    .iter()
                    .map(|alg| match Algorithm::from_name(alg) {
                        Some(alg) => Ok(alg),
                        None if alg.eq_ignore_ascii_case("none") => Err(SettingError::Invalid(
                            "algorithm \"none\" is never allowed".into(),
                        )),
                        None => Err(SettingError::Invalid(format!(
                            "unsupported algorithm \"{alg}\""
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                once(&mut self.algorithms, name, algorithms)?
            }
            "leeway" => {
                let value = one(name, args)?;
                let secs = units
                    .seconds(value)
                    .ok_or_else(|| SettingError::Invalid(format!("invalid leeway \"{value}\"")))?;
                if secs > MAX_LEEWAY_SECS {
                    return Err(SettingError::Invalid(format!(
                        "leeway \"{value}\" is more than {MAX_LEEWAY_SECS}s; a longer clock skew would accept expired tokens for that long"
                    )));
                }
                once(&mut self.leeway_secs, name, secs)?
            }
            "skip_path" => {
                let pattern = one(name, args)?;
                match SkipPaths::compile(pattern) {
                    Ok(Some(regex)) => self.skip_paths.push(regex),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(SettingError::Invalid(format!(
                            "invalid skip_path regex \"{pattern}\": {e}"
                        )))
                    }
                }
            }
            "bearer" => once(&mut self.bearer, name, on_off(name, args)?)?,
            "refresh" => once(&mut self.refresh, name, on_off(name, args)?)?,
            "refresh_interval" => {
                let value = one(name, args)?;
                let interval = match value {
                    "off" => None,
                    _ => Some(units.seconds(value).filter(|&s| s > 0).ok_or_else(|| {
                        SettingError::Invalid(format!(
                            "invalid refresh_interval \"{value}\", expected a time such as 5m, or off"
                        ))
                    })?),
                };
                once(&mut self.refresh_interval, name, interval)?
            }
            _ => return Err(SettingError::Unknown(setting.to_string())),
        }
        Ok(warnings)
    }

    fn set_client_secret(
        &mut self,
        name: &'static str,
        secret: Vec<u8>,
    ) -> Result<(), SettingError> {
        if self.client_secret.is_some() {
            return Err(SettingError::Invalid(format!(
                "\"{name}\" is duplicate (the value or the file may be set once)"
            )));
        }
        self.client_secret = Some(secret);
        Ok(())
    }

    fn set_cookie_secret(
        &mut self,
        name: &'static str,
        secret: Vec<u8>,
    ) -> Result<(), SettingError> {
        if secret.len() < MIN_COOKIE_SECRET_BYTES {
            return Err(SettingError::Invalid(format!(
                "cookie_secret must be at least {MIN_COOKIE_SECRET_BYTES} bytes, got {}",
                secret.len()
            )));
        }
        if self.cookie_secret.is_some() {
            return Err(SettingError::Invalid(format!(
                "\"{name}\" is duplicate (the value or the file may be set once)"
            )));
        }
        self.cookie_secret = Some(secret);
        Ok(())
    }

    /// Check the whole block. `id` tells providers apart in the shared cache.
    pub fn build(self, id: u32) -> Result<(Provider, Vec<Warning>), SettingError> {
        let required = |what: &str| SettingError::Invalid(format!("\"{what}\" is required"));
        let issuer = self.issuer.ok_or_else(|| required("issuer"))?;
        let client_id = self.client_id.ok_or_else(|| required("client_id"))?;
        let client_secret = self
            .client_secret
            .ok_or_else(|| required("client_secret\" or \"client_secret_file"))?;
        let cookie_secret = self
            .cookie_secret
            .ok_or_else(|| required("cookie_secret\" or \"cookie_secret_file"))?;
        let external_host = self
            .external_host
            .ok_or_else(|| required("external_host"))?;
        let external_url = absolute_url("external_host", &external_host)?;
        let external_host = external_host.trim_end_matches('/').to_string();
        let mode = self.mode.unwrap_or_default();
        let mut warnings = Vec::new();
        match (mode, &self.cookie_domain) {
            (Mode::Domain, None) => {
                return Err(SettingError::Invalid("mode domain requires cookie_domain".into()))
            }
            (Mode::Domain, Some(domain)) => {
                let host = external_url.host_str().unwrap_or_default();
                if host != domain && !host.ends_with(&format!(".{domain}")) {
                    return Err(SettingError::Invalid(format!(
                        "external_host \"{external_host}\" is outside cookie_domain \"{domain}\": the session cookie set at the callback would not reach the applications"
                    )));
                }
            }
            (Mode::Single, Some(domain)) => warnings.push(Warning(format!(
                "cookie_domain \"{domain}\" is ignored in single mode (authentik keeps it when a provider is switched from domain mode)"
            ))),
            (Mode::Single, None) => {}
        }
        if self.token_request.is_none() {
            warnings.push(Warning(format!(
                "authentik_provider \"{}\" has no token_request: nobody can log in, unauthenticated requests get 401",
                self.name
            )));
        }
        let keys = KeySet::new(
            &client_secret,
            self.jwks.as_deref(),
            self.algorithms.as_deref(),
        )
        .map_err(|e| SettingError::Invalid(format!("invalid jwks_file or algorithms: {e}")))?;
        let min_hmac = keys
            .algorithms()
            .iter()
            .filter_map(|alg| match alg {
                Algorithm::HS256 => Some((alg, 32)),
                Algorithm::HS384 => Some((alg, 48)),
                Algorithm::HS512 => Some((alg, 64)),
                _ => None,
            })
            .max_by_key(|(_, len)| *len);
        if let Some((alg, len)) = min_hmac {
            if client_secret.len() < len {
                return Err(SettingError::Invalid(format!(
                    "the client secret has {} bytes, but {alg} needs at least {len} (RFC 7518 §3.2); authentik's secrets have 128. With an asymmetric provider, set \"algorithms\" to its algorithms only",
                    client_secret.len()
                )));
            }
        }
        let leeway_secs = self.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
        let authorize_url = match self.authorize_url {
            Some(url) => url,
            None => format!("{}/application/o/authorize/", origin(&issuer)),
        };
        let cookie_domain = match mode {
            Mode::Domain => self.cookie_domain,
            Mode::Single => None,
        };
        let provider = Provider {
            id,
            verifier: Verifier::new(keys, &issuer, &client_id, leeway_secs),
            leeway_secs,
            end_session_url: self
                .end_session_url
                .unwrap_or_else(|| format!("{issuer}end-session/")),
            meta_jwks: format!("{issuer}jwks/"),
            authorize_url,
            cookie_name: self
                .cookie_name
                .unwrap_or_else(|| default_cookie_name(&client_id)),
            cookies: CookieAttributes {
                secure: external_url.scheme() == "https",
                domain: cookie_domain.clone(),
            },
            session_key: SealKey::derive(&cookie_secret, "session"),
            login_state_key: SealKey::derive(&cookie_secret, "login-state"),
            scopes: self.scopes.unwrap_or_else(|| DEFAULT_SCOPES.to_string()),
            token_request: self.token_request,
            skip_paths: self.skip_paths,
            bearer: self.bearer.unwrap_or(true),
            refresh: self.refresh.unwrap_or(true),
            refresh_interval: self.refresh_interval.flatten(),
            basic_auth: BasicAuthAttributes {
                user: self.basic_user,
                password: self.basic_password,
            },
            meta_outpost: self
                .meta_outpost
                .unwrap_or_else(|| DEFAULT_META_OUTPOST.to_string()),
            meta_provider: self.meta_provider.unwrap_or_else(|| self.name.clone()),
            meta_app: self.meta_app.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            client_id,
            client_secret,
            external_host,
            external_url,
            mode,
            cookie_domain,
        };
        Ok((provider, warnings))
    }
}

/// A warning when other users may read a secret file (SECURITY.md, "Secret files").
fn exposed(name: &str, path: &str) -> Option<Warning> {
    use std::os::unix::fs::PermissionsExt;
    let readable = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
    readable.then(|| {
        Warning(format!(
            "{name} \"{path}\" is readable by other users; restrict it with chmod 600 (or 640 root:nginx)"
        ))
    })
}

/// Read a secret file; trailing whitespace (the usual final newline) is not part of it.
fn read_secret_file(path: &str) -> Result<Vec<u8>, SettingError> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| SettingError::Invalid(format!("cannot read \"{path}\": {e}")))?;
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(SettingError::Invalid(format!("\"{path}\" is empty")));
    }
    Ok(bytes)
}

/// An absolute http(s) URL with a host, as browsers parse it.
fn absolute_url(setting: &str, text: &str) -> Result<Url, SettingError> {
    let bad = || {
        SettingError::Invalid(format!(
            "\"{setting}\" must be an absolute http or https URL: \"{text}\""
        ))
    };
    if text
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
    {
        return Err(bad());
    }
    let url = Url::parse(text).map_err(|_| bad())?;
    let http = matches!(url.scheme(), "http" | "https");
    if !http || url.host_str().is_none_or(str::is_empty) || !url.username().is_empty() {
        return Err(bad());
    }
    Ok(url)
}

/// `scheme://host[:port]` of a checked URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::super::PlainUnits;
    use super::*;

    const SECRET: &str = "client-secret-client-secret-0123456789";

    fn settings(lines: &[(&str, &[&str])]) -> Result<ProviderSettings, SettingError> {
        let mut s = ProviderSettings::new("app")?;
        for (name, args) in lines {
            s.set(name, args, &PlainUnits)?;
        }
        Ok(s)
    }

    fn base() -> Vec<(&'static str, &'static [&'static str])> {
        vec![
            ("issuer", &["https://auth.example/application/o/app/"]),
            ("client_id", &["client"]),
            ("client_secret", &[SECRET]),
            ("cookie_secret", &["kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"]),
            ("external_host", &["https://app.example/"]),
            ("token_request", &["/_t"]),
        ]
    }

    fn build(extra: &[(&str, &[&str])]) -> Result<(Provider, Vec<Warning>), SettingError> {
        let mut lines = base();
        lines.extend_from_slice(extra);
        settings(&lines)?.build(0)
    }

    fn error(extra: &[(&str, &[&str])]) -> String {
        build(extra)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn build_fills_defaults() {
        let (p, warnings) = build(&[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            p.authorize_url,
            "https://auth.example/application/o/authorize/"
        );
        assert_eq!(
            p.end_session_url,
            "https://auth.example/application/o/app/end-session/"
        );
        assert_eq!(p.meta_jwks, "https://auth.example/application/o/app/jwks/");
        assert_eq!(p.external_host, "https://app.example");
        assert!(p.cookies.secure);
        assert_eq!((p.meta_provider(), p.meta_outpost()), ("app", "nginx"));
        assert!(p.bearer);
    }

    #[test]
    fn duplicates_are_errors() {
        for (name, value) in [
            ("mode", "single"),
            ("algorithms", "HS256"),
            ("leeway", "30s"),
            ("bearer", "on"),
            ("issuer", "https://auth.example/application/o/app/"),
        ] {
            let e = settings(&[(name, &[value]), (name, &[value])])
                .err()
                .unwrap();
            assert_eq!(e, SettingError::Duplicate(name), "{name}");
        }
    }

    #[test]
    fn every_mistake_fails_with_a_reason() {
        let cases: Vec<(&str, Vec<&str>, &str)> = vec![
            ("cookie_domain", vec!["a.tld;x=1"], "invalid cookie_domain"),
            ("cookie_domain", vec!["a tld"], "invalid cookie_domain"),
            ("cookie_domain", vec!["a\u{7}tld"], "invalid cookie_domain"),
            ("end_session_url", vec!["foo"], "absolute http or https URL"),
            (
                "authorize_url",
                vec!["javascript:alert(1)"],
                "absolute http or https URL",
            ),
            (
                "authorize_url",
                vec!["https://u@auth/"],
                "absolute http or https URL",
            ),
            (
                "external_host",
                vec!["https://app.example/x"],
                "without a path",
            ),
            (
                "external_host",
                vec!["https://app.example/?q"],
                "without a path",
            ),
            (
                "external_host",
                vec!["https://app.example/#f"],
                "without a path",
            ),
            (
                "issuer",
                vec!["https://auth.example/application/o/app"],
                "must end with \"/\"",
            ),
            ("leeway", vec!["1h"], "more than 300s"),
            ("leeway", vec!["x"], "invalid leeway"),
            ("skip_path", vec!["(unclosed"], "invalid skip_path regex"),
            ("bearer", vec!["yes"], "must be \"on\" or \"off\""),
            (
                "issuerr",
                vec!["x"],
                "unknown authentik_provider setting \"issuerr\"",
            ),
        ];
        for (name, args, message) in cases {
            let mut s = ProviderSettings::new("app").unwrap();
            let e = s.set(name, &args, &PlainUnits).err().unwrap().to_string();
            assert!(e.contains(message), "{name} {args:?}: {e}");
        }
    }

    #[test]
    fn whole_block_checks() {
        assert!(error(&[("mode", &["domain"])]).contains("requires cookie_domain"));
        assert!(
            error(&[("mode", &["domain"]), ("cookie_domain", &["other.tld"])])
                .contains("outside cookie_domain")
        );
        let (p, _) = build(&[("mode", &["domain"]), ("cookie_domain", &[".Example"])]).unwrap();
        assert_eq!(p.cookie_domain.as_deref(), Some("example"));
        let (_, warnings) = build(&[("cookie_domain", &["example"])]).unwrap();
        assert!(warnings[0].0.contains("ignored in single mode"));
        let mut short = base();
        short[2] = ("client_secret", &["short-secret"]);
        let e = settings(&short)
            .unwrap()
            .build(0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("needs at least 32"), "{e}");
    }

    #[test]
    fn time_values_use_the_units_parser() {
        let (p, _) = build(&[("leeway", &["1m30s"])]).unwrap();
        assert_eq!(p.leeway_secs, 90);
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://a.example:8443/application/o/app/"),
            "https://a.example:8443"
        );
    }
}
