//! `authentik_provider NAME { … }`: each setting is checked on its own line, the whole block
//! when it closes.

use std::ffi::{c_char, c_void};
use std::ptr;

use authentik_core::keys::{Algorithm, KeySet};
use authentik_core::provider::{
    check_cookie_secret, parse_seconds, read_secret_file, readable_by_others, Mode, ProviderConfig,
};
use authentik_core::skip::SkipPaths;
use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{ngx_command_t, ngx_conf_parse, ngx_conf_t, ngx_str_t, NGX_LOG_WARN};

use crate::conf::MainConf;
use crate::directives::{conf_error, on_off};
use crate::ffi::{arg_text, conf_args, directive, guard};

pub unsafe extern "C" fn authentik_provider(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let handle = |main: &mut MainConf, args: &[ngx_str_t]| {
        let name = match arg_text(&args[1]) {
            Ok(name) if !name.is_empty() && name != "off" => name.to_string(),
            _ => return conf_error(cf, "invalid provider name"),
        };
        if main.providers.iter().any(|p| p.name == name) {
            return conf_error(cf, &format!("duplicate authentik_provider \"{name}\""));
        }
        let mut settings = ProviderConfig::new(&name);
        // SAFETY: the block is parsed with our handler and `settings` as its context, then
        // the saved parser state is restored, as nginx's own `map {}` and `types {}` do.
        let parsed = unsafe {
            let saved = *cf;
            (*cf).handler = Some(provider_setting);
            (*cf).handler_conf = (&mut settings as *mut ProviderConfig).cast();
            let rv = ngx_conf_parse(cf, ptr::null_mut());
            *cf = saved;
            rv
        };
        if !parsed.is_null() {
            return parsed;
        }
        if settings.token_request.is_none() {
            ngx::ngx_conf_log_error!(
                NGX_LOG_WARN,
                cf,
                "authentik_provider \"{}\" has no token_request: nobody can log in, unauthenticated requests get 401",
                name
            );
        }
        let id = main.providers.len() as u32;
        match settings.build(id) {
            Ok(provider) => {
                main.providers.push(provider);
                ptr::null_mut()
            }
            Err(message) => conf_error(cf, &format!("authentik_provider \"{name}\": {message}")),
        }
    };
    // SAFETY: registered with NGX_HTTP_MAIN_CONF_OFFSET, so `conf` is this module's MainConf.
    unsafe { directive::<MainConf>(cf, conf, handle) }
}

unsafe extern "C" fn provider_setting(
    cf: *mut ngx_conf_t,
    _dummy: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `handler_conf` is the ProviderConfig set by `authentik_provider`, alive for
        // the duration of the block's parse; cf->args holds this line.
        let (Some(settings), args) = (
            unsafe { ((*cf).handler_conf as *mut ProviderConfig).as_mut() },
            unsafe { conf_args(cf) },
        ) else {
            return NGX_CONF_ERROR;
        };
        if let Err(message) = apply_setting(settings, args) {
            return conf_error(cf, &message);
        }
        warn_if_exposed(cf, args);
        ptr::null_mut()
    })
}

/// SECURITY.md: secrets should be readable by root (the master reads them) and not others.
fn warn_if_exposed(cf: *mut ngx_conf_t, args: &[ngx_str_t]) {
    let (Ok(name), Some(Ok(path))) = (arg_text(&args[0]), args.get(1).map(arg_text)) else {
        return;
    };
    if matches!(name, "client_secret_file" | "cookie_secret_file") && readable_by_others(path) {
        ngx::ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "{} \"{}\" is readable by other users; restrict it with chmod 600 (or 640 root:nginx)",
            name,
            path
        );
    }
}

fn apply_setting(settings: &mut ProviderConfig, args: &[ngx_str_t]) -> Result<(), String> {
    let name = arg_text(&args[0])?;
    let values = args[1..]
        .iter()
        .map(arg_text)
        .collect::<Result<Vec<&str>, String>>()?;
    let one = || match values.as_slice() {
        [value] => Ok(*value),
        _ => Err(format!("invalid number of arguments in \"{name}\"")),
    };
    let set = |slot: &mut Option<String>, value: &str| match slot {
        Some(_) => Err(format!("\"{name}\" is duplicate")),
        None => {
            *slot = Some(value.to_string());
            Ok(())
        }
    };
    match name {
        "issuer" => set(&mut settings.issuer, one()?),
        "authorize_url" => set(&mut settings.authorize_url, one()?),
        "end_session_url" => set(&mut settings.end_session_url, one()?),
        "client_id" => set(&mut settings.client_id, one()?),
        "external_host" => set(&mut settings.external_host, one()?),
        "cookie_domain" => set(&mut settings.cookie_domain, one()?.trim_start_matches('.')),
        "cookie_name" => {
            let value = one()?;
            if !authentik_core::sanitize::is_cookie_name(value) {
                return Err(format!("invalid cookie_name \"{value}\""));
            }
            set(&mut settings.cookie_name, value)
        }
        "scopes" => set(&mut settings.scopes, &values.join(" ")),
        "token_request" => {
            let value = one()?;
            if !value.starts_with('/') {
                return Err(format!(
                    "token_request must be a URI starting with \"/\": \"{value}\""
                ));
            }
            set(&mut settings.token_request, value)
        }
        "meta_outpost" => set(&mut settings.meta_outpost, one()?),
        "meta_provider" => set(&mut settings.meta_provider, one()?),
        "meta_app" => set(&mut settings.meta_app, one()?),
        "basic_auth_user_attribute" => set(&mut settings.basic_auth.user, one()?),
        "basic_auth_password_attribute" => set(&mut settings.basic_auth.password, one()?),
        "client_secret" => set_secret(
            &mut settings.client_secret,
            name,
            one()?.as_bytes().to_vec(),
        ),
        "client_secret_file" => {
            set_secret(&mut settings.client_secret, name, read_secret_file(one()?)?)
        }
        "cookie_secret" => {
            let secret = one()?.as_bytes().to_vec();
            check_cookie_secret(&secret)?;
            set_secret(&mut settings.cookie_secret, name, secret)
        }
        "cookie_secret_file" => {
            let secret = read_secret_file(one()?)?;
            check_cookie_secret(&secret)?;
            set_secret(&mut settings.cookie_secret, name, secret)
        }
        "jwks_file" => {
            let path = one()?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read jwks_file \"{path}\": {e}"))?;
            KeySet::new(b"", Some(&text), None)
                .map_err(|e| format!("invalid jwks_file \"{path}\": {e}"))?;
            set(&mut settings.jwks, &text)
        }
        "mode" => {
            if settings.mode.is_some() {
                return Err(format!("\"{name}\" is duplicate"));
            }
            settings.mode = Some(match one()? {
                "single" => Mode::Single,
                "domain" => Mode::Domain,
                other => {
                    return Err(format!(
                        "invalid mode \"{other}\", expected single or domain"
                    ))
                }
            });
            Ok(())
        }
        "algorithms" => {
            if settings.algorithms.is_some() {
                return Err(format!("\"{name}\" is duplicate"));
            }
            if values.is_empty() {
                return Err("\"algorithms\" needs at least one algorithm".into());
            }
            let algorithms = values
                .iter()
                .map(|alg| match Algorithm::from_name(alg) {
                    Some(alg) => Ok(alg),
                    None if alg.eq_ignore_ascii_case("none") => {
                        Err("algorithm \"none\" is never allowed".to_string())
                    }
                    None => Err(format!("unsupported algorithm \"{alg}\"")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            settings.algorithms = Some(algorithms);
            Ok(())
        }
        "leeway" => {
            if settings.leeway_secs.is_some() {
                return Err(format!("\"{name}\" is duplicate"));
            }
            let value = one()?;
            settings.leeway_secs =
                Some(parse_seconds(value).ok_or_else(|| format!("invalid leeway \"{value}\""))?);
            Ok(())
        }
        "skip_path" => {
            let pattern = one()?;
            match SkipPaths::compile(pattern) {
                Ok(Some(regex)) => settings.skip_paths.push(regex),
                Ok(None) => {}
                Err(e) => return Err(format!("invalid skip_path regex \"{pattern}\": {e}")),
            }
            Ok(())
        }
        "bearer" => {
            if settings.bearer.is_some() {
                return Err(format!("\"{name}\" is duplicate"));
            }
            let [value] = &args[1..] else {
                return Err("invalid number of arguments in \"bearer\"".into());
            };
            settings.bearer = Some(on_off(value)?);
            Ok(())
        }
        other => Err(format!("unknown authentik_provider setting \"{other}\"")),
    }
}

fn set_secret(slot: &mut Option<Vec<u8>>, name: &str, secret: Vec<u8>) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!(
            "\"{name}\" is duplicate (the value or the file may be set once)"
        ));
    }
    *slot = Some(secret);
    Ok(())
}
