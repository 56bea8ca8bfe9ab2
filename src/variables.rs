//! `$authentik_*` variables: one per row of core's identity field table, plus
//! `$authentik_status`, `$authentik_token_request_body` and `$authentik_claim_NAME`.

use authentik_core::fields::{CLAIM_VARIABLE_PREFIX, FIELDS};
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t,
    ngx_str_t, NGX_ERROR, NGX_HTTP_VAR_NOCACHEABLE, NGX_HTTP_VAR_PREFIX, NGX_OK,
};

use crate::ctx::existing_ctx;
use crate::ffi::{bytes, guard};
use crate::request::HttpRequest;

/// `data` of the variables that are not identity fields.
const STATUS: usize = FIELDS.len();
const TOKEN_REQUEST_BODY: usize = FIELDS.len() + 1;

/// Register every variable.
///
/// # Safety
/// `cf` must be the configuration in its preconfiguration callback.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    let flags = NGX_HTTP_VAR_NOCACHEABLE as usize;
    let named = FIELDS
        .iter()
        .map(|spec| spec.variable)
        .chain(["authentik_status", "authentik_token_request_body"]);
    for (index, name) in named.enumerate() {
        // SAFETY: `cf` is live; nginx copies the name.
        if unsafe { add(cf, name, flags, field_variable, index) }.is_err() {
            return NGX_ERROR as ngx_int_t;
        }
    }
    let prefix_flags = flags | NGX_HTTP_VAR_PREFIX as usize;
    // SAFETY: as above.
    if unsafe { add(cf, CLAIM_VARIABLE_PREFIX, prefix_flags, claim_variable, 0) }.is_err() {
        return NGX_ERROR as ngx_int_t;
    }
    NGX_OK as ngx_int_t
}

type GetHandler = unsafe extern "C" fn(
    *mut ngx_http_request_t,
    *mut ngx_http_variable_value_t,
    usize,
) -> ngx_int_t;

/// # Safety
/// `cf` must be a live configuration.
unsafe fn add(
    cf: *mut ngx_conf_t,
    name: &'static str,
    flags: usize,
    handler: GetHandler,
    data: usize,
) -> Result<(), ()> {
    let mut name = ngx_str_t {
        len: name.len(),
        data: name.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_http_add_variable copies the name into the configuration pool.
    unsafe {
        let var = ngx_http_add_variable(cf, &mut name, flags as _);
        if var.is_null() {
            return Err(());
        }
        (*var).get_handler = Some(handler);
        (*var).data = data;
    }
    Ok(())
}

/// Point `v` at `value`, which must outlive the request; empty when there is none.
fn set_value(v: &mut ngx_http_variable_value_t, value: Option<&[u8]>) {
    let value = value.unwrap_or_default();
    v.set_len(value.len() as u32);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
    v.data = if value.is_empty() {
        c"".as_ptr().cast_mut().cast()
    } else {
        value.as_ptr().cast_mut()
    };
}

unsafe extern "C" fn field_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        // SAFETY: nginx passes a live request and a value slot; the context, its grant and the
        // providers outlive the request.
        let (Some(v), ctx) = (unsafe { v.as_mut() }, unsafe { existing_ctx(r) }) else {
            return NGX_ERROR as ngx_int_t;
        };
        let value: Option<&[u8]> = ctx.and_then(|ctx| match data {
            STATUS => ctx.status.get().map(|s| s.as_str().as_bytes()),
            TOKEN_REQUEST_BODY => {
                let body = ctx.token_request_body.borrow();
                // SAFETY: the body stays in the context, unchanged, until the exchange ends.
                body.as_deref().map(|b| unsafe { extend(b.as_bytes()) })
            }
            _ => {
                let spec = FIELDS.get(data)?;
                let grant = ctx.grant.borrow();
                let grant = grant.as_ref()?;
                // SAFETY: `r` is live.
                let main = unsafe { HttpRequest::from_raw(r) }.confs()?.0;
                let provider = main.providers.get(ctx.provider.get()?)?;
                // SAFETY: the identity stays in the context (replaced ones are kept) until the
                // request ends; meta values live in the configuration.
                Some(unsafe { extend(grant.value(spec.field, provider).as_bytes()) })
            }
        });
        set_value(v, value);
        NGX_OK as ngx_int_t
    })
}

/// The bytes of a value the request context keeps alive until the request ends, for nginx,
/// which reads a variable's value after the getter returns.
///
/// # Safety
/// `value` must be owned by the request context (an identity it holds, a rendered claim it
/// keeps, or the token request body while the exchange runs).
unsafe fn extend<'a>(value: &[u8]) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(value.as_ptr(), value.len()) }
}

unsafe extern "C" fn claim_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        // SAFETY: for prefix variables nginx passes the full variable name as `data`; the
        // context keeps each rendered value alive until the request ends.
        unsafe {
            let Some(v) = v.as_mut() else {
                return NGX_ERROR as ngx_int_t;
            };
            let full = (data as *const ngx_str_t).as_ref().map(|s| bytes(s));
            let claim = full
                .and_then(|name| name.get(CLAIM_VARIABLE_PREFIX.len()..))
                .and_then(|name| std::str::from_utf8(name).ok());
            let rendered = match (claim, existing_ctx(r)) {
                (Some(claim), Some(ctx)) => {
                    let value = ctx
                        .grant
                        .borrow()
                        .as_ref()
                        .and_then(|g| g.identity.claim(claim));
                    value.map(|value| {
                        let bytes = extend(value.as_bytes());
                        ctx.keep.borrow_mut().push(value);
                        bytes
                    })
                }
                _ => None,
            };
            set_value(v, rendered);
        }
        NGX_OK as ngx_int_t
    })
}
