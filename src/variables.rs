//! `$authentik_*` variables (DESIGN §3).

use authentik_core::identity::Identity;
use authentik_core::provider::Provider;
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t,
    ngx_str_t, NGX_ERROR, NGX_HTTP_VAR_NOCACHEABLE, NGX_HTTP_VAR_PREFIX, NGX_OK,
};

use crate::access::{existing_ctx, RequestCtx};
use crate::ffi::{bytes, guard};

#[derive(Clone, Copy)]
enum Field {
    Username,
    Groups,
    Entitlements,
    Email,
    Name,
    Uid,
    Jwt,
    MetaJwks,
    MetaOutpost,
    MetaProvider,
    MetaApp,
    MetaVersion,
    Status,
    TokenRequestBody,
}

const VARIABLES: [(&str, Field); 14] = [
    ("authentik_username", Field::Username),
    ("authentik_groups", Field::Groups),
    ("authentik_entitlements", Field::Entitlements),
    ("authentik_email", Field::Email),
    ("authentik_name", Field::Name),
    ("authentik_uid", Field::Uid),
    ("authentik_jwt", Field::Jwt),
    ("authentik_meta_jwks", Field::MetaJwks),
    ("authentik_meta_outpost", Field::MetaOutpost),
    ("authentik_meta_provider", Field::MetaProvider),
    ("authentik_meta_app", Field::MetaApp),
    ("authentik_meta_version", Field::MetaVersion),
    ("authentik_status", Field::Status),
    ("authentik_token_request_body", Field::TokenRequestBody),
];

const CLAIM_PREFIX: &str = "authentik_claim_";

/// Register every variable.
///
/// # Safety
/// `cf` must be the configuration in its preconfiguration callback.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    let flags = NGX_HTTP_VAR_NOCACHEABLE as usize;
    for (index, (name, _)) in VARIABLES.iter().enumerate() {
        // SAFETY: `cf` is live; nginx copies the name.
        if unsafe { add(cf, name, flags, field_variable, index) }.is_err() {
            return NGX_ERROR as ngx_int_t;
        }
    }
    let prefix_flags = flags | NGX_HTTP_VAR_PREFIX as usize;
    // SAFETY: as above.
    if unsafe { add(cf, CLAIM_PREFIX, prefix_flags, claim_variable, 0) }.is_err() {
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

fn field_value(field: Field, ctx: &RequestCtx) -> Option<&str> {
    match field {
        Field::Status => return Some(ctx.status),
        Field::TokenRequestBody => return ctx.token_request_body.as_deref(),
        _ => {}
    }
    // SAFETY: providers live in the configuration, which outlives every request.
    let provider: &Provider = unsafe { ctx.provider.as_ref() }?;
    let identity: &Identity = ctx.identity.as_deref()?;
    Some(match field {
        Field::Username => &identity.username,
        Field::Groups => &identity.groups,
        Field::Entitlements => &identity.entitlements,
        Field::Email => &identity.email,
        Field::Name => &identity.name,
        Field::Uid => &identity.uid,
        Field::Jwt => &identity.jwt,
        Field::MetaJwks => &provider.meta_jwks,
        Field::MetaOutpost => &provider.meta_outpost,
        Field::MetaProvider => &provider.meta_provider,
        Field::MetaApp => &provider.meta_app,
        Field::MetaVersion => authentik_core::META_VERSION,
        Field::Status | Field::TokenRequestBody => return None,
    })
}

/// Point `v` at `value`, which must outlive the request.
fn set_value(v: &mut ngx_http_variable_value_t, value: Option<&[u8]>) {
    match value {
        Some(value) => {
            v.set_len(value.len() as u32);
            v.set_valid(1);
            v.set_no_cacheable(0);
            v.set_not_found(0);
            v.data = value.as_ptr().cast_mut();
        }
        None => {
            v.set_len(0);
            v.set_valid(1);
            v.set_no_cacheable(0);
            v.set_not_found(0);
            v.data = c"".as_ptr().cast_mut().cast();
        }
    }
}

unsafe extern "C" fn field_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        let Some(&(_, field)) = VARIABLES.get(data) else {
            return NGX_ERROR as ngx_int_t;
        };
        // SAFETY: nginx passes a live request and a value slot; the context, its identity and
        // the provider outlive the request.
        unsafe {
            let ctx = existing_ctx(r);
            let value = ctx.and_then(|ctx| field_value(field, ctx));
            let Some(v) = v.as_mut() else {
                return NGX_ERROR as ngx_int_t;
            };
            set_value(v, value.map(str::as_bytes));
        }
        NGX_OK as ngx_int_t
    })
}

unsafe extern "C" fn claim_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        // SAFETY: for prefix variables nginx passes the full variable name as `data`.
        unsafe {
            let Some(v) = v.as_mut() else {
                return NGX_ERROR as ngx_int_t;
            };
            let full = (data as *const ngx_str_t).as_ref().map(|s| bytes(s));
            let claim = full
                .and_then(|name| name.get(CLAIM_PREFIX.len()..))
                .and_then(|name| std::str::from_utf8(name).ok());
            let identity = existing_ctx(r).and_then(|ctx| ctx.identity.as_deref());
            // Rendered once per identity (so once per cached entry); the request context
            // holds the identity until the request ends, as for the other variables.
            let rendered = match (claim, identity) {
                (Some(claim), Some(identity)) => identity.claim_str(claim),
                _ => None,
            };
            set_value(v, rendered.map(str::as_bytes));
        }
        NGX_OK as ngx_int_t
    })
}
