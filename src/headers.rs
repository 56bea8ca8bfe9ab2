//! Request and response header I/O: removing client-sent `X-authentik-*` headers, adding the
//! identity headers for the upstream, and response headers.

use std::ptr;

use authentik_core::identity::Identity;
use authentik_core::provider::Provider;
use authentik_core::sanitize::is_authentik_header;
use ngx::core::Pool;
use ngx::ffi::{
    ngx_http_request_t, ngx_list_create, ngx_list_part_t, ngx_list_push, ngx_list_t, ngx_str_t,
    ngx_table_elt_t,
};

use crate::ffi::{borrowed_str, bytes};

/// nginx's `ngx_hash_key` over the lowercase name, so `proxy_set_header` of the same name
/// still replaces the header we add instead of duplicating it.
pub const fn header_hash(lowercase: &[u8]) -> usize {
    let mut hash: usize = 0;
    let mut i = 0;
    while i < lowercase.len() {
        hash = hash.wrapping_mul(31).wrapping_add(lowercase[i] as usize);
        i += 1;
    }
    hash
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

/// Keep only the request headers for which `keep` holds. The list is rebuilt (only when
/// something must go) so the pointers nginx keeps to known headers stay valid.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn retain_request_headers(
    r: *mut ngx_http_request_t,
    keep: impl Fn(&ngx_table_elt_t) -> bool,
) -> Result<(), ()> {
    // SAFETY: `r` is live; the new list is allocated from its pool and replaces the old one
    // only after every kept element has been copied.
    unsafe {
        let mut total = 0;
        let mut dropped = 0;
        for_each_header(&(*r).headers_in.headers, |h| {
            total += 1;
            if !keep(h) {
                dropped += 1;
            }
        });
        if dropped == 0 {
            return Ok(());
        }
        let capacity = (total - dropped + 20).max(1);
        let list = ngx_list_create((*r).pool, capacity, std::mem::size_of::<ngx_table_elt_t>());
        if list.is_null() {
            return Err(());
        }
        let mut failed = false;
        for_each_header(&(*r).headers_in.headers, |h| {
            if failed || !keep(h) {
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
        let headers = &mut (*r).headers_in.headers;
        *headers = *list;
        if ptr::eq((*list).last, &(*list).part) {
            headers.last = &mut headers.part;
        }
        Ok(())
    }
}

/// Remove client-sent `X-authentik-*` headers and their underscore variants (DESIGN §3).
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn strip_client_identity_headers(r: *mut ngx_http_request_t) -> Result<(), ()> {
    // SAFETY: forwarded from the caller; header names live in the request pool.
    unsafe { retain_request_headers(r, |h| !is_authentik_header(bytes(&h.key))) }
}

/// Append one request header whose bytes outlive the request.
///
/// # Safety
/// `r` must be a live request; `name`, `lowercase` and `value` must stay valid until the
/// request is finalised.
unsafe fn push_request_header(
    r: *mut ngx_http_request_t,
    name: &[u8],
    lowercase: &[u8],
    hash: usize,
    value: &[u8],
) -> Result<*mut ngx_table_elt_t, ()> {
    // SAFETY: ngx_list_push returns uninitialised space for one element or null.
    unsafe {
        let h = ngx_list_push(&mut (*r).headers_in.headers) as *mut ngx_table_elt_t;
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

struct IdentityHeader {
    name: &'static str,
    lowercase: &'static str,
    hash: usize,
}

macro_rules! identity_header {
    ($name:literal, $lower:literal) => {
        IdentityHeader {
            name: $name,
            lowercase: $lower,
            hash: header_hash($lower.as_bytes()),
        }
    };
}

const IDENTITY_HEADERS: [IdentityHeader; 12] = [
    identity_header!("X-authentik-username", "x-authentik-username"),
    identity_header!("X-authentik-groups", "x-authentik-groups"),
    identity_header!("X-authentik-entitlements", "x-authentik-entitlements"),
    identity_header!("X-authentik-email", "x-authentik-email"),
    identity_header!("X-authentik-name", "x-authentik-name"),
    identity_header!("X-authentik-uid", "x-authentik-uid"),
    identity_header!("X-authentik-jwt", "x-authentik-jwt"),
    identity_header!("X-authentik-meta-jwks", "x-authentik-meta-jwks"),
    identity_header!("X-authentik-meta-outpost", "x-authentik-meta-outpost"),
    identity_header!("X-authentik-meta-provider", "x-authentik-meta-provider"),
    identity_header!("X-authentik-meta-app", "x-authentik-meta-app"),
    identity_header!("X-authentik-meta-version", "x-authentik-meta-version"),
];

const AUTHORIZATION: IdentityHeader = identity_header!("Authorization", "authorization");

/// Add the identity headers, `additionalHeaders` and the Basic header for the upstream.
/// `identity` and `provider` must outlive the request (the request context holds the
/// identity; providers live as long as the configuration).
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn add_identity_headers(
    r: *mut ngx_http_request_t,
    provider: &Provider,
    identity: &Identity,
) -> Result<(), ()> {
    let values: [&str; 12] = [
        &identity.username,
        &identity.groups,
        &identity.entitlements,
        &identity.email,
        &identity.name,
        &identity.uid,
        &identity.jwt,
        &provider.meta_jwks,
        &provider.meta_outpost,
        &provider.meta_provider,
        &provider.meta_app,
        authentik_core::META_VERSION,
    ];
    let additional = &identity.additional_headers;
    let basic = identity.basic_authorization.as_deref();
    let is_authorization = |name: &[u8]| name.eq_ignore_ascii_case(AUTHORIZATION.name.as_bytes());
    // SAFETY: every byte added lives in the identity, the provider or static memory, and the
    // lowercase copies of additional header names are allocated in the request pool.
    unsafe {
        // One pass drops every client header that an additional header or the Basic header
        // replaces (a list rebuild only when there is one).
        if !additional.is_empty() || basic.is_some() {
            retain_request_headers(r, |h| {
                let key = bytes(&h.key);
                !(additional
                    .iter()
                    .any(|(name, _)| key.eq_ignore_ascii_case(name.as_bytes()))
                    || (basic.is_some() && is_authorization(key)))
            })?;
        }
        for (header, value) in IDENTITY_HEADERS.iter().zip(values) {
            push_request_header(
                r,
                header.name.as_bytes(),
                header.lowercase.as_bytes(),
                header.hash,
                value.as_bytes(),
            )?;
        }
        let pool = Pool::from_ngx_pool((*r).pool);
        for (i, (name, value)) in additional.iter().enumerate() {
            // A later header of the same name, or the Basic header, replaces this one.
            if additional[i + 1..]
                .iter()
                .any(|(later, _)| later.eq_ignore_ascii_case(name))
                || (basic.is_some() && is_authorization(name.as_bytes()))
            {
                continue;
            }
            let lowercase = pool.alloc_unaligned(name.len()) as *mut u8;
            if lowercase.is_null() {
                return Err(());
            }
            let lowercase = std::slice::from_raw_parts_mut(lowercase, name.len());
            for (dst, src) in lowercase.iter_mut().zip(name.bytes()) {
                *dst = src.to_ascii_lowercase();
            }
            let hash = header_hash(lowercase);
            push_request_header(r, name.as_bytes(), lowercase, hash, value.as_bytes())?;
        }
        if let Some(basic) = basic {
            let h = push_request_header(
                r,
                AUTHORIZATION.name.as_bytes(),
                AUTHORIZATION.lowercase.as_bytes(),
                AUTHORIZATION.hash,
                basic.as_bytes(),
            )?;
            (*r).headers_in.authorization = h;
        }
    }
    Ok(())
}

/// Add a response header whose bytes live in static memory or the request pool.
///
/// # Safety
/// `r` must be a live request; `name` and `value` must outlive it.
pub unsafe fn add_response_header(
    r: *mut ngx_http_request_t,
    name: &[u8],
    value: &[u8],
) -> Result<*mut ngx_table_elt_t, ()> {
    // SAFETY: as push_request_header, on the response list.
    unsafe {
        let h = ngx_list_push(&mut (*r).headers_out.headers) as *mut ngx_table_elt_t;
        if h.is_null() {
            return Err(());
        }
        h.write(ngx_table_elt_t {
            hash: 1,
            key: borrowed_str(name),
            value: borrowed_str(value),
            lowcase_key: ptr::null_mut(),
            #[cfg(nginx1_23)]
            next: ptr::null_mut(),
        });
        Ok(h)
    }
}

/// Add a response header whose value is copied into the request pool first.
///
/// # Safety
/// `r` must be a live request; `name` must be static.
pub unsafe fn add_pool_response_header(
    r: *mut ngx_http_request_t,
    name: &'static [u8],
    value: &[u8],
) -> Result<(), &'static str> {
    const OOM: &str = "out of memory for response headers";
    // SAFETY: the copy lives in the request pool as long as the response.
    unsafe {
        let copy = pool_copy(r, value).ok_or(OOM)?;
        add_response_header(r, name, bytes(&copy)).map_err(|()| OOM)?;
    }
    Ok(())
}

/// Copy `value` into the request pool.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn pool_copy(r: *mut ngx_http_request_t, value: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: the pool allocation is sized for `value` and lives as long as the request.
    unsafe {
        let pool = Pool::from_ngx_pool((*r).pool);
        let data = pool.alloc_unaligned(value.len().max(1)) as *mut u8;
        if data.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(value.as_ptr(), data, value.len());
        Some(ngx_str_t {
            len: value.len(),
            data,
        })
    }
}

/// Most `Cookie` headers read from one request.
const MAX_COOKIE_HEADERS: usize = 32;

/// Call `f` with the values of the request's `Cookie` headers (no allocation).
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn cookie_headers<R>(r: *mut ngx_http_request_t, f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let mut cookies: [&[u8]; MAX_COOKIE_HEADERS] = [&[]; MAX_COOKIE_HEADERS];
    let mut count = 0;
    // SAFETY: header names and values live in the request pool for the request's lifetime.
    unsafe {
        for_each_header(&(*r).headers_in.headers, |h| {
            if count < MAX_COOKIE_HEADERS && bytes(&h.key).eq_ignore_ascii_case(b"cookie") {
                cookies[count] = bytes(&h.value);
                count += 1;
            }
        });
    }
    f(&cookies[..count])
}

/// The first request header named `name` (case-insensitive).
///
/// # Safety
/// `r` must be a live request; the returned bytes live in its pool.
pub unsafe fn request_header<'a>(r: *mut ngx_http_request_t, name: &[u8]) -> Option<&'a [u8]> {
    let mut found = None;
    // SAFETY: as in cookie_headers.
    unsafe {
        for_each_header(&(*r).headers_in.headers, |h| {
            if found.is_none() && bytes(&h.key).eq_ignore_ascii_case(name) {
                found = Some(bytes(&h.value));
            }
        });
    }
    found
}
