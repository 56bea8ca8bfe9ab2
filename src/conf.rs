//! This module's configuration at each level, and its inheritance http → server → location.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::ptr;

use authentik_core::cache::TokenCache;
use authentik_core::provider::{CachedIdentity, Provider};
use ngx::core::{Pool, NGX_CONF_ERROR};
use ngx::ffi::{ngx_conf_t, ngx_http_complex_value_t, NGX_LOG_EMERG};

use crate::ffi::{as_conf, guard, main_conf_of};

pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

/// http-level state: the providers and each worker's verified-token cache.
#[derive(Default)]
pub struct MainConf {
    pub providers: Vec<Provider>,
    pub cache_entries: Option<usize>,
    pub cache: RefCell<Option<TokenCache<CachedIdentity>>>,
}

/// `authentik NAME|off`, remembered with its place for error messages until resolved.
#[derive(Clone, Debug)]
pub enum ProviderChoice {
    Off,
    Named {
        name: String,
        file: String,
        line: usize,
        index: Option<usize>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    Auto,
    Redirect,
    Status401,
}

#[derive(Default)]
pub struct LocConf {
    pub provider: Option<ProviderChoice>,
    pub require_groups: Option<Vec<String>>,
    pub require: Option<Vec<*mut ngx_http_complex_value_t>>,
    pub unauthenticated: Option<Unauthenticated>,
    pub set_headers: Option<bool>,
}

impl LocConf {
    pub fn set_headers(&self) -> bool {
        self.set_headers.unwrap_or(true)
    }

    pub fn unauthenticated(&self) -> Unauthenticated {
        self.unauthenticated.unwrap_or(Unauthenticated::Auto)
    }

    fn inherit(&mut self, parent: &LocConf) {
        if self.provider.is_none() {
            self.provider.clone_from(&parent.provider);
        }
        if self.require_groups.is_none() {
            self.require_groups.clone_from(&parent.require_groups);
        }
        if self.require.is_none() {
            self.require.clone_from(&parent.require);
        }
        self.unauthenticated = self.unauthenticated.or(parent.unauthenticated);
        self.set_headers = self.set_headers.or(parent.set_headers);
    }
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
        let Some(main) = (unsafe { as_conf::<MainConf>(conf) }) else {
            return NGX_CONF_ERROR;
        };
        let entries = main.cache_entries.unwrap_or(DEFAULT_CACHE_ENTRIES);
        *main.cache.borrow_mut() = Some(TokenCache::new(entries));
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
        // SAFETY: nginx passes the parent's and this level's LocConf.
        let (Some(parent), Some(this)) = (unsafe { as_conf::<LocConf>(prev) }, unsafe {
            as_conf::<LocConf>(conf)
        }) else {
            return NGX_CONF_ERROR;
        };
        this.inherit(parent);
        // SAFETY: merging happens inside `http {}`.
        let Some(main) = (unsafe { main_conf_of(cf) }) else {
            return NGX_CONF_ERROR;
        };
        match resolve(this, main) {
            Ok(()) => ptr::null_mut(),
            Err(message) => {
                ngx::ngx_log_error!(NGX_LOG_EMERG, (*cf).log, "{}", message);
                NGX_CONF_ERROR
            }
        }
    })
}

/// Turn `authentik NAME` into a provider index, after every provider block has been read.
fn resolve(conf: &mut LocConf, main: &MainConf) -> Result<(), String> {
    let Some(ProviderChoice::Named {
        name,
        file,
        line,
        index,
    }) = &mut conf.provider
    else {
        return Ok(());
    };
    if index.is_none() {
        let found = main.providers.iter().position(|p| p.name == *name);
        *index =
            Some(found.ok_or_else(|| {
                format!("unknown authentik_provider \"{name}\" in {file}:{line}")
            })?);
    }
    Ok(())
}
