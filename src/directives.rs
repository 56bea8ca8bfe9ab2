//! The directive table and the handlers of the http/server/location directives.

use std::ffi::{c_char, c_void};
use std::ptr;

use ngx::core::{Pool, NGX_CONF_ERROR};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_compile_complex_value, ngx_http_compile_complex_value_t,
    ngx_http_complex_value_t, ngx_str_t, NGX_CONF_1MORE, NGX_CONF_BLOCK, NGX_CONF_FLAG,
    NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF,
    NGX_HTTP_MAIN_CONF_OFFSET, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_OK,
};
use ngx::ngx_string;

use crate::conf::{LocConf, MainConf, ProviderChoice, Unauthenticated};
use crate::ffi::{arg_text, bytes, directive};
use crate::provider_block;

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

type Handler =
    unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

const fn command(name: ngx_str_t, type_: u32, set: Handler, conf: usize) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: type_ as _,
        set: Some(set),
        conf,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut NGX_HTTP_AUTHENTIK_COMMANDS: [ngx_command_t; 8] = [
    command(
        ngx_string!("authentik_provider"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_BLOCK | NGX_CONF_TAKE1,
        provider_block::authentik_provider,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        authentik,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_require_group"),
        ANY_LEVEL | NGX_CONF_1MORE,
        authentik_require_group,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_require"),
        ANY_LEVEL | NGX_CONF_1MORE,
        authentik_require,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_unauthenticated"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        authentik_unauthenticated,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_set_headers"),
        ANY_LEVEL | NGX_CONF_FLAG,
        authentik_set_headers,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_cache"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
        authentik_cache,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    ngx_command_t::empty(),
];

/// Report `message` at the directive's file and line and fail the configuration.
pub fn conf_error(cf: *mut ngx_conf_t, message: &str) -> *mut c_char {
    ngx::ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", message);
    NGX_CONF_ERROR
}

/// Run a location-level directive handler with errors reported at the directive's line.
fn with_loc_conf(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    body: impl FnOnce(&mut LocConf, &[ngx_str_t]) -> Result<(), String>,
) -> *mut c_char {
    // SAFETY: every caller is registered with NGX_HTTP_LOC_CONF_OFFSET, so `conf` is a LocConf.
    unsafe {
        directive::<LocConf>(cf, conf, |loc, args| match body(loc, &args[1..]) {
            Ok(()) => ptr::null_mut(),
            Err(message) if message == DUPLICATE => {
                let name = arg_text(&args[0]).unwrap_or("directive");
                conf_error(cf, &format!("\"{name}\" directive is duplicate"))
            }
            Err(message) => conf_error(cf, &message),
        })
    }
}

const DUPLICATE: &str = "is duplicate";

fn duplicate<T>(slot: &Option<T>) -> Result<(), String> {
    match slot {
        Some(_) => Err(DUPLICATE.to_string()),
        None => Ok(()),
    }
}

unsafe extern "C" fn authentik(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    with_loc_conf(cf, conf, |loc, args| {
        duplicate(&loc.provider)?;
        let name = arg_text(&args[0])?;
        loc.provider = Some(if name == "off" {
            ProviderChoice::Off
        } else {
            // SAFETY: during parsing cf->conf_file describes the file being read.
            let (file, line) = unsafe {
                let conf_file = &*(*cf).conf_file;
                (
                    String::from_utf8_lossy(bytes(&conf_file.file.name)).into_owned(),
                    conf_file.line,
                )
            };
            ProviderChoice::Named {
                name: name.to_string(),
                file,
                line,
                index: None,
            }
        });
        Ok(())
    })
}

unsafe extern "C" fn authentik_require_group(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    with_loc_conf(cf, conf, |loc, args| {
        duplicate(&loc.require_groups)?;
        let groups = args
            .iter()
            .map(|a| arg_text(a).map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?;
        loc.require_groups = Some(groups);
        Ok(())
    })
}

unsafe extern "C" fn authentik_require(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    with_loc_conf(cf, conf, |loc, args| {
        duplicate(&loc.require)?;
        let values = args
            .iter()
            // SAFETY: `cf` is the configuration being parsed.
            .map(|arg| unsafe { compile_complex_value(cf, arg) })
            .collect::<Result<Vec<_>, _>>()?;
        loc.require = Some(values);
        Ok(())
    })
}

/// Compile a value with variables, allocated in the configuration pool.
///
/// # Safety
/// `cf` must be the configuration being parsed.
unsafe fn compile_complex_value(
    cf: *mut ngx_conf_t,
    arg: &ngx_str_t,
) -> Result<*mut ngx_http_complex_value_t, String> {
    // SAFETY: the pool lives as long as the configuration; the compile call fills `cv`.
    unsafe {
        let pool = Pool::from_ngx_pool((*cf).pool);
        let cv = pool.calloc_type::<ngx_http_complex_value_t>();
        if cv.is_null() {
            return Err("out of memory".into());
        }
        let mut value = *arg;
        let mut ccv: ngx_http_compile_complex_value_t = std::mem::zeroed();
        ccv.cf = cf;
        ccv.value = &mut value;
        ccv.complex_value = cv;
        if ngx_http_compile_complex_value(&mut ccv) != NGX_OK as isize {
            return Err(format!(
                "invalid value \"{}\"",
                String::from_utf8_lossy(bytes(arg))
            ));
        }
        Ok(cv)
    }
}

unsafe extern "C" fn authentik_unauthenticated(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    with_loc_conf(cf, conf, |loc, args| {
        duplicate(&loc.unauthenticated)?;
        loc.unauthenticated = Some(match arg_text(&args[0])? {
            "auto" => Unauthenticated::Auto,
            "redirect" => Unauthenticated::Redirect,
            "401" => Unauthenticated::Status401,
            other => {
                return Err(format!(
                    "invalid value \"{other}\", expected auto, redirect or 401"
                ))
            }
        });
        Ok(())
    })
}

unsafe extern "C" fn authentik_set_headers(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    with_loc_conf(cf, conf, |loc, args| {
        duplicate(&loc.set_headers)?;
        loc.set_headers = Some(on_off(&args[0])?);
        Ok(())
    })
}

pub fn on_off(arg: &ngx_str_t) -> Result<bool, String> {
    match arg_text(arg)? {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!(
            "invalid value \"{other}\", it must be \"on\" or \"off\""
        )),
    }
}

unsafe extern "C" fn authentik_cache(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let handle = |main: &mut MainConf, args: &[ngx_str_t]| {
        if main.cache_entries.is_some() {
            return conf_error(cf, "\"authentik_cache\" directive is duplicate");
        }
        match arg_text(&args[1])
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
        {
            Some(entries) if entries <= 10_000_000 => {
                main.cache_entries = Some(entries);
                ptr::null_mut()
            }
            _ => conf_error(cf, "invalid number of entries, expected 0 … 10000000"),
        }
    };
    // SAFETY: registered with NGX_HTTP_MAIN_CONF_OFFSET, so `conf` is this module's MainConf.
    unsafe { directive::<MainConf>(cf, conf, handle) }
}
