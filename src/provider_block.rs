//! `authentik_provider NAME { … }`: the block is read with a handler of its own for its
//! lines, as nginx's `map {}` and `types {}` are; core checks each line and the whole block.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::ptr;

use authentik_core::conf::{ProviderSettings, SettingError};
use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{ngx_command_t, ngx_conf_parse, ngx_conf_t};

use crate::conf::{MainConf, TokenRequestSite};
use crate::directives::{conf_error, conf_warning, with_conf, Directive, NginxUnits};
use crate::ffi::guard;

/// The block being read, and where its `token_request` and `jwks_request` lines were.
struct Block {
    settings: ProviderSettings,
    sites: Vec<TokenRequestSite>,
}

pub unsafe extern "C" fn authentik_provider(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let body = |main: &mut MainConf, d: &Directive<'_>| {
        let [name] = d.args.as_slice() else {
            return Err(SettingError::Arity("authentik_provider"));
        };
        if main.providers.iter().any(|p| p.name() == *name) {
            return Err(SettingError::Invalid(format!(
                "duplicate authentik_provider \"{name}\""
            )));
        }
        let mut block = Block {
            settings: ProviderSettings::new(name)?,
            sites: Vec::new(),
        };
        // SAFETY: the block is parsed with our handler and `block` as its context, then the
        // saved parser state is restored, as nginx's own `map {}` and `types {}` do.
        let parsed = unsafe {
            let saved = *cf;
            (*cf).handler = Some(provider_setting);
            (*cf).handler_conf = (&mut block as *mut Block).cast();
            let rv = ngx_conf_parse(cf, ptr::null_mut());
            *cf = saved;
            rv
        };
        if !parsed.is_null() {
            return Err(SettingError::Invalid(String::new()));
        }
        let id = main.providers.len() as u32;
        let (provider, warnings) = block
            .settings
            .build(id)
            .map_err(|e| SettingError::Invalid(format!("authentik_provider \"{name}\": {e}")))?;
        for warning in warnings {
            conf_warning(cf, &warning.0);
        }
        main.providers.push(provider);
        main.token_requests.extend(block.sites);
        Ok(())
    };
    // SAFETY: registered with NGX_HTTP_MAIN_CONF_OFFSET, so `conf` is this module's MainConf.
    unsafe { with_conf::<MainConf>(cf, conf, body) }
}

unsafe extern "C" fn provider_setting(
    cf: *mut ngx_conf_t,
    _dummy: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `handler_conf` is the Block set by `authentik_provider`, alive for the
        // duration of the block's parse.
        let Some(block) = (unsafe { ((*cf).handler_conf as *mut Block).as_mut() }) else {
            return NGX_CONF_ERROR;
        };
        // SAFETY: nginx calls the handler with this line in cf->args.
        let directive = match unsafe { Directive::read(cf) } {
            Ok(d) => d,
            Err(e) => return conf_error(cf, &e),
        };
        match block
            .settings
            .set(directive.name, &directive.args, &NginxUnits)
        {
            Ok(warnings) => {
                for warning in warnings {
                    conf_warning(cf, &warning.0);
                }
                let site = ["token_request", "jwks_request"]
                    .into_iter()
                    .find(|&name| name == directive.name);
                if let Some(site) = site {
                    let (file, line) = directive.origin();
                    block.sites.push(TokenRequestSite {
                        directive: site,
                        uri: directive.args[0].to_string(),
                        file,
                        line,
                        found: Cell::new(false),
                    });
                }
                ptr::null_mut()
            }
            Err(e) => conf_error(cf, &e),
        }
    })
}
