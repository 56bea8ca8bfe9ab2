//! The one wrapper around an nginx request: reading it into core's facts, and the request
//! header list operations (strip, add, undo). Every raw pointer access of a request lives here
//! or in `respond.rs`.

use std::ptr;

use authentik_core::decision::Grant;
use authentik_core::forward::reads_forwarded_headers;
use authentik_core::provider::Provider;
use authentik_core::request::{Method, RequestFacts};
use authentik_core::sanitize::is_authentik_header;
use ngx::ffi::{
    ngx_http_request_t, ngx_list_create, ngx_list_part_t, ngx_list_push, ngx_list_t,
    ngx_table_elt_t, ngx_time, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, Request};

use crate::conf::{LocConf, MainConf};
use crate::ctx::Injected;
use crate::ffi::{borrowed_str, bytes};
use crate::Module;

/// Most `Cookie` headers read from one request.
const MAX_COOKIE_HEADERS: usize = 32;

pub struct HttpRequest<'r> {
    request: &'r mut Request,
}

impl<'r> HttpRequest<'r> {
    /// # Safety
    /// `r` must be a live request for the lifetime `'r`.
    pub unsafe fn from_raw(r: *mut ngx_http_request_t) -> HttpRequest<'r> {
        HttpRequest {
            // SAFETY: guaranteed by the caller; `Request` is a transparent wrapper.
            request: unsafe { Request::from_ngx_http_request(r) },
        }
    }

    pub fn raw(&mut self) -> *mut ngx_http_request_t {
        (&mut *self.request).into()
    }

    fn r(&self) -> &ngx_http_request_t {
        self.request.as_ref()
    }

    pub fn log(&self) -> *mut ngx::ffi::ngx_log_t {
        self.request.log()
    }

    pub fn is_main(&self) -> bool {
        self.request.is_main()
    }

    /// Whether the request went through an internal redirect.
    pub fn is_internal(&self) -> bool {
        self.r().internal() != 0
    }

    /// This module's http-level and location configuration.
    pub fn confs(&self) -> Option<(&'static MainConf, &'static LocConf)> {
        Some((
            Module::main_conf(&*self.request)?,
            Module::location_conf(&*self.request)?,
        ))
    }

    pub fn now() -> u64 {
        u64::try_from(ngx_time()).unwrap_or(0)
    }

    /// Read the request into core's facts, in one pass over its headers, and call `decide`
    /// with them and whether the client sent an identity header.
    pub fn with_facts<T>(&self, decide: impl FnOnce(&RequestFacts<'_>, bool) -> T) -> T {
        let r = self.r();
        let mut cookies: [&[u8]; MAX_COOKIE_HEADERS] = [&[]; MAX_COOKIE_HEADERS];
        let mut count = 0;
        let mut facts = RequestFacts {
            method: match r.method as u32 {
                NGX_HTTP_GET => Method::Get,
                NGX_HTTP_HEAD => Method::Head,
                NGX_HTTP_POST => Method::Post,
                _ => Method::Other,
            },
            tls: self.is_tls(),
            ..Default::default()
        };
        let mut identity_header = false;
        // SAFETY: header names and values live in the request pool for the request's
        // lifetime; the known-header pointers are null or point into the header list.
        unsafe {
            facts.server = bytes(&r.headers_in.server);
            facts.host = match r.headers_in.host.as_ref() {
                Some(host) => bytes(&host.value),
                None => facts.server,
            };
            facts.uri = bytes(&r.uri);
            let forward = reads_forwarded_headers(facts.uri);
            facts.args = bytes(&r.args);
            facts.request_uri = bytes(&r.unparsed_uri);
            facts.authorization = r.headers_in.authorization.as_ref().map(|h| bytes(&h.value));
            facts.content_type = r.headers_in.content_type.as_ref().map(|h| bytes(&h.value));
            facts.content_length = u64::try_from(r.headers_in.content_length_n).ok();
            for_each_header(&r.headers_in.headers, |h| {
                let (key, value) = (bytes(&h.key), bytes(&h.value));
                match key.len() {
                    6 if key.eq_ignore_ascii_case(b"cookie") => {
                        if count < MAX_COOKIE_HEADERS {
                            cookies[count] = value;
                            count += 1;
                        }
                    }
                    6 if key.eq_ignore_ascii_case(b"accept") => {
                        facts.accept.get_or_insert(value);
                    }
                    7 if key.eq_ignore_ascii_case(b"upgrade") => facts.upgrade = true,
                    10 if key.eq_ignore_ascii_case(b"user-agent") => {
                        facts.user_agent.get_or_insert(value);
                    }
                    14 if key.eq_ignore_ascii_case(b"sec-fetch-mode") => {
                        facts.sec_fetch_mode.get_or_insert(value);
                    }
                    16 if key.eq_ignore_ascii_case(b"x-requested-with") => {
                        facts.x_requested_with = true
                    }
                    _ if forward && facts.forwarded.read(key, value) => {}
                    _ => identity_header |= is_authentik_header(key),
                }
            });
        }
        facts.cookies = &cookies[..count];
        decide(&facts, identity_header)
    }

    fn is_tls(&self) -> bool {
        #[cfg(ngx_feature = "ssl")]
        // SAFETY: the connection is live with the request.
        if unsafe { !(*self.r().connection).ssl.is_null() } {
            return true;
        }
        false
    }

    /// Remove client-sent identity headers (`X-authentik-*` with `-`, `_` or `.`).
    pub fn strip_identity_headers(&mut self) -> Result<(), ()> {
        self.retain_headers(|h| {
            // SAFETY: header names live in the request pool.
            !is_authentik_header(unsafe { bytes(&h.key) })
        })
    }

    /// Add `grant`'s headers for the upstream (with `headers`), replacing the client's of the
    /// same names; take out the client's `Authorization` when it carried the credentials.
    pub fn inject(
        &mut self,
        grant: &Grant,
        provider: &Provider,
        headers: bool,
    ) -> Result<Injected, ()> {
        let mut removed = Vec::new();
        let authorization = self.r().headers_in.authorization;
        let replacing = headers
            && (grant.identity.basic_authorization().is_some()
                || !grant.identity.additional_headers().is_empty());
        if replacing || grant.strip_authorization {
            self.retain_headers(|h| {
                // SAFETY: header names live in the request pool.
                let name = unsafe { bytes(&h.key) };
                let replaced = match headers {
                    true => grant.replaces(name),
                    false => name.eq_ignore_ascii_case(b"authorization"),
                };
                if replaced {
                    removed.push(*h);
                }
                !replaced
            })?;
        }
        if grant.strip_authorization {
            self.request.as_mut().headers_in.authorization = ptr::null_mut();
        }
        for header in grant.upstream_headers(provider).filter(|_| headers) {
            let h = self.push_header(
                header.name.as_bytes(),
                header.lowercase,
                header.hash,
                header.value.as_bytes(),
            )?;
            if header.authorization {
                self.request.as_mut().headers_in.authorization = h;
            }
        }
        Ok(Injected {
            removed,
            authorization,
        })
    }

    /// Undo [`HttpRequest::inject`]: drop the headers that point at `grant`'s or static
    /// memory, give back the client headers it replaced.
    pub fn undo(
        &mut self,
        grant: &Grant,
        provider: &Provider,
        injected: Injected,
    ) -> Result<(), ()> {
        let ours: Vec<*const u8> = grant
            .upstream_headers(provider)
            .map(|h| h.name.as_ptr())
            .collect();
        self.retain_headers(|h| !ours.contains(&h.key.data.cast_const()))?;
        for h in &injected.removed {
            // SAFETY: the removed element's strings still live in the request pool.
            let (key, value) = unsafe { (bytes(&h.key), bytes(&h.value)) };
            let lowercase: &[u8] = if h.lowcase_key.is_null() {
                &[]
            } else {
                // SAFETY: nginx sets lowcase_key to `key.len` bytes for request headers.
                unsafe { std::slice::from_raw_parts(h.lowcase_key, h.key.len) }
            };
            self.push_header(key, lowercase, h.hash, value)?;
        }
        self.request.as_mut().headers_in.authorization = injected.authorization;
        Ok(())
    }

    /// Keep only the request headers for which `keep` holds. The list is rebuilt (only when
    /// something must go), so the pointers nginx keeps to known headers stay valid.
    fn retain_headers(&mut self, mut keep: impl FnMut(&ngx_table_elt_t) -> bool) -> Result<(), ()> {
        let pool = self.r().pool;
        let headers = &mut self.request.as_mut().headers_in.headers;
        let mut verdicts: smallvec::SmallVec<[bool; 64]> = smallvec::SmallVec::new();
        // SAFETY: the list is a valid nginx list of ngx_table_elt_t.
        unsafe { for_each_header(headers, |h| verdicts.push(keep(h))) };
        if verdicts.iter().all(|&k| k) {
            return Ok(());
        }
        let kept = verdicts.iter().filter(|&&k| k).count();
        // SAFETY: the new list is allocated from the request pool and replaces the old one
        // only after every kept element has been copied into it.
        unsafe {
            let list = ngx_list_create(pool, kept + 20, std::mem::size_of::<ngx_table_elt_t>());
            if list.is_null() {
                return Err(());
            }
            let mut index = 0;
            let mut failed = false;
            for_each_header(headers, |h| {
                let keep = verdicts[index];
                index += 1;
                if !keep || failed {
                    return;
                }
                let slot = ngx_list_push(list) as *mut ngx_table_elt_t;
                if slot.is_null() {
                    failed = true;
                } else {
                    *slot = *h;
                }
            });
            if failed {
                return Err(());
            }
            *headers = *list;
            if ptr::eq((*list).last, &(*list).part) {
                headers.last = &mut headers.part;
            }
        }
        Ok(())
    }

    /// Append one request header whose bytes outlive the request.
    fn push_header(
        &mut self,
        name: &[u8],
        lowercase: &[u8],
        hash: usize,
        value: &[u8],
    ) -> Result<*mut ngx_table_elt_t, ()> {
        let headers = &mut self.request.as_mut().headers_in.headers;
        // SAFETY: ngx_list_push returns uninitialised space for one element or null; the
        // strings live in static memory, the identity held by the request context, or the pool.
        unsafe {
            let h = ngx_list_push(headers) as *mut ngx_table_elt_t;
            if h.is_null() {
                return Err(());
            }
            h.write(ngx_table_elt_t {
                hash,
                key: borrowed_str(name),
                value: borrowed_str(value),
                lowcase_key: lowercase.as_ptr().cast_mut(),
                #[cfg(nginx1_23)]
                next: ptr::null_mut(),
            });
            Ok(h)
        }
    }
}

/// Visit every element of an nginx list of `ngx_table_elt_t`.
///
/// # Safety
/// `list` must be a valid list of `ngx_table_elt_t`.
pub unsafe fn for_each_header(list: &ngx_list_t, mut visit: impl FnMut(&ngx_table_elt_t)) {
    let mut part: *const ngx_list_part_t = &list.part;
    // SAFETY: nginx lists are a chain of parts, each with `nelts` initialised elements.
    unsafe {
        while !part.is_null() {
            let elts = (*part).elts as *const ngx_table_elt_t;
            for i in 0..(*part).nelts {
                visit(&*elts.add(i));
            }
            part = (*part).next;
        }
    }
}
