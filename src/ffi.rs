//! Small helpers at the FFI boundary: panic containment, strings, configuration access.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{ngx_conf_t, ngx_http_request_t, ngx_str_t};
use ngx::http::HttpModule;

use crate::conf::{LocConf, MainConf};
use crate::Module;

/// Run `body`; a panic becomes `fallback` instead of unwinding into nginx.
pub fn guard<R>(fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Run a directive handler on this level's configuration of type `T` and the directive's
/// arguments (name first), with panics contained.
///
/// # Safety
/// `cf` must be the configuration being parsed and `conf` null or the `T` that nginx passes
/// for the directive's configuration offset.
pub unsafe fn directive<T>(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    body: impl FnOnce(&mut T, &[ngx_str_t]) -> *mut c_char,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: guaranteed by the caller; nginx keeps cf->args valid during the handler.
        let (Some(conf), args) = (unsafe { as_conf::<T>(conf) }, unsafe { conf_args(cf) }) else {
            return NGX_CONF_ERROR;
        };
        body(conf, args)
    })
}

/// The bytes of an `ngx_str_t` (empty for a null pointer).
///
/// # Safety
/// `s` must describe `len` readable bytes that outlive the returned slice.
pub unsafe fn bytes<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.data.is_null() || s.len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `data` points at `len` live bytes.
        unsafe { std::slice::from_raw_parts(s.data, s.len) }
    }
}

/// An `ngx_str_t` that borrows `data`; nginx only reads through it.
pub fn borrowed_str(data: &[u8]) -> ngx_str_t {
    ngx_str_t {
        len: data.len(),
        data: data.as_ptr().cast_mut(),
    }
}

/// The configuration arguments of the directive being parsed (name first).
///
/// # Safety
/// `cf` must be a configuration being parsed, with `args` set by nginx.
pub unsafe fn conf_args<'a>(cf: *mut ngx_conf_t) -> &'a [ngx_str_t] {
    // SAFETY: nginx keeps `cf->args` valid while the directive handler runs.
    unsafe {
        let args = (*cf).args;
        std::slice::from_raw_parts((*args).elts as *const ngx_str_t, (*args).nelts)
    }
}

/// An argument as UTF-8 text, or an error naming it.
pub fn arg_text(arg: &ngx_str_t) -> Result<&str, String> {
    // SAFETY: configuration arguments live in the configuration pool for the whole parse.
    let raw = unsafe { bytes(arg) };
    std::str::from_utf8(raw).map_err(|_| "argument is not valid UTF-8".to_string())
}

/// This module's main configuration while parsing.
///
/// # Safety
/// `cf` must be inside the `http {}` block.
pub unsafe fn main_conf_of<'a>(cf: *mut ngx_conf_t) -> Option<&'a mut MainConf> {
    // SAFETY: within `http {}` the context is an `ngx_http_conf_ctx_t` whose main_conf slot
    // for this module holds the `MainConf` allocated by `create_main_conf`.
    unsafe {
        let ctx = (*cf).ctx as *mut ngx::ffi::ngx_http_conf_ctx_t;
        let slot = *(*ctx).main_conf.add(Module::module().ctx_index);
        (slot as *mut MainConf).as_mut()
    }
}

/// This module's main and location configuration for a request.
///
/// # Safety
/// `r` must be a live request of an `http {}` block in which this module is loaded.
pub unsafe fn request_confs<'a>(r: *mut ngx_http_request_t) -> Option<(&'a MainConf, &'a LocConf)> {
    let index = Module::module().ctx_index;
    // SAFETY: nginx sets main_conf/loc_conf for every request to arrays indexed by ctx_index.
    unsafe {
        let main = *(*r).main_conf.add(index) as *const MainConf;
        let loc = *(*r).loc_conf.add(index) as *const LocConf;
        Some((main.as_ref()?, loc.as_ref()?))
    }
}

/// A configuration pointer nginx hands to a callback, as our own type.
///
/// # Safety
/// `conf` must be null or the pointer our `create_*_conf` returned for type `T`.
pub unsafe fn as_conf<'a, T>(conf: *mut c_void) -> Option<&'a mut T> {
    // SAFETY: guaranteed by the caller.
    unsafe { (conf as *mut T).as_mut() }
}
