//! This module's configuration at each level, and its inheritance http → server → location.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};
use std::ptr;

use authentik_core::auth::Worker;
use authentik_core::conf::{Location, LocationSettings, MainSettings};
use authentik_core::provider::Provider;
use ngx::core::{Pool, NGX_CONF_ERROR};
use ngx::ffi::{ngx_conf_t, ngx_http_complex_value_t, NGX_LOG_EMERG};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};

use crate::ffi::guard;
use crate::Module;

/// A `token_request` and where it was written, checked once every location is known.
pub struct TokenRequestSite {
    pub uri: String,
    pub file: String,
    pub line: usize,
    /// A location of exactly this name was merged.
    pub found: Cell<bool>,
}

/// http-level state: the providers and each worker's own state.
#[derive(Default)]
pub struct MainConf {
    pub settings: MainSettings,
    pub providers: Vec<Provider>,
    pub token_requests: Vec<TokenRequestSite>,
    pub worker: RefCell<Option<Worker>>,
    pub metrics: crate::shared::MetricsZone,
    pub revocations: crate::shared::RevocationZone,
}

impl MainConf {
    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.iter().map(Provider::name).collect()
    }
}

#[derive(Default)]
pub struct LocConf {
    pub settings: LocationSettings,
    pub location: Location,
    /// `authentik_require`'s values, compiled in the configuration pool.
    pub require: Vec<*mut ngx_http_complex_value_t>,
}

pub unsafe extern "C" fn create_main_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(ptr::null_mut(), || {
        // SAFETY: nginx passes a live configuration whose pool outlives the cycle's confs.
        let pool = unsafe { Pool::from_ngx_pool((*cf).pool) };
        pool.allocate(MainConf::default()) as *mut c_void
    })
}

pub unsafe extern "C" fn init_main_conf(_cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: `conf` is the MainConf from create_main_conf.
        let Some(main) = (unsafe { (conf as *mut MainConf).as_mut() }) else {
            return NGX_CONF_ERROR;
        };
        let (entries, bytes) = main.settings.cache();
        *main.worker.borrow_mut() = Some(Worker::new(entries, bytes));
        ptr::null_mut()
    })
}

pub unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    guard(ptr::null_mut(), || {
        // SAFETY: as in create_main_conf.
        let pool = unsafe { Pool::from_ngx_pool((*cf).pool) };
        pool.allocate(LocConf::default()) as *mut c_void
    })
}

pub unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: nginx passes the parent's and this level's LocConf, allocated by
        // create_loc_conf; they are distinct objects.
        let (Some(parent), Some(this)) = (unsafe { (prev as *const LocConf).as_ref() }, unsafe {
            (conf as *mut LocConf).as_mut()
        }) else {
            return NGX_CONF_ERROR;
        };
        this.settings.inherit(&parent.settings);
        if this.require.is_empty() {
            this.require.clone_from(&parent.require);
        }
        // SAFETY: merging happens inside `http {}`, where `cf` is valid and its context is
        // the level being merged.
        let cf_ref = unsafe { &*cf };
        let Some(main) = Module::main_conf(cf_ref) else {
            return NGX_CONF_ERROR;
        };
        if let Some(core) = NgxHttpCoreModule::location_conf(cf_ref) {
            // SAFETY: a location's name lives in the configuration pool.
            let name = unsafe { crate::ffi::bytes(&core.name) };
            for site in &main.token_requests {
                if site.uri.as_bytes() == name {
                    site.found.set(true);
                }
            }
        }
        match this.settings.resolve(&main.provider_names()) {
            Ok(location) => {
                this.location = location;
                ptr::null_mut()
            }
            Err(e) => {
                // SAFETY: `cf` is valid while merging.
                ngx::ngx_log_error!(NGX_LOG_EMERG, unsafe { (*cf).log }, "{}", e);
                NGX_CONF_ERROR
            }
        }
    })
}
