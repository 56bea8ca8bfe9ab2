//! ngx_http_authentik_module: nginx authenticates authentik sessions in the access phase.
//!
//! This crate is the thin nginx glue and the only place with `unsafe`: it reads a request
//! once, asks `authentik-core` for the decision, and applies it (docs/architecture.md).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod access;
mod body;
mod conf;
mod ctx;
mod directives;
mod ffi;
mod metrics;
mod provider_block;
mod request;
mod respond;
mod shared;
mod subrequest;
mod variables;

use std::ffi::c_void;
use std::ptr::{addr_of, addr_of_mut};

use ngx::ffi::{ngx_conf_t, ngx_http_module_t, ngx_int_t, ngx_module_t, NGX_HTTP_MODULE};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf};

pub struct Module;

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the module static is only written by nginx while loading configuration, on
        // the single configuration thread; a shared reference here never aliases a write.
        unsafe { &*addr_of!(ngx_http_authentik_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        ffi::guard(ngx::ffi::NGX_ERROR as ngx_int_t, || {
            // SAFETY: nginx passes a valid configuration during the preconfiguration callback.
            unsafe { variables::register(cf) }
        })
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        ffi::guard(ngx::ffi::NGX_ERROR as ngx_int_t, || {
            // SAFETY: nginx passes a valid configuration during the postconfiguration callback.
            unsafe { access::register(cf) }
        })
    }
}

// SAFETY: the types match what `ngx_http_authentik_module_ctx` allocates for each level.
unsafe impl HttpModuleMainConf for Module {
    type MainConf = conf::MainConf;
}

// SAFETY: as above, for the location level.
unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = conf::LocConf;
}

static NGX_HTTP_AUTHENTIK_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(Module::preconfiguration),
    postconfiguration: Some(Module::postconfiguration),
    create_main_conf: Some(conf::create_main_conf),
    init_main_conf: Some(conf::init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(conf::create_loc_conf),
    merge_loc_conf: Some(conf::merge_loc_conf),
};

ngx::ngx_modules!(ngx_http_authentik_module);

#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_authentik_module: ngx_module_t = ngx_module_t {
    ctx: addr_of!(NGX_HTTP_AUTHENTIK_MODULE_CTX) as *mut c_void,
    // SAFETY: taking the address of the command table does not create a reference.
    commands: unsafe { addr_of_mut!(directives::NGX_HTTP_AUTHENTIK_COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as _,
    ..ngx_module_t::default()
};
