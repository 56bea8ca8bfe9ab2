//! The access-phase handler (DESIGN §5 steps 1–6).

use std::rc::Rc;

use authentik_core::cookie;
use authentik_core::identity::Identity;
use authentik_core::policy::{group_requirement_met, require_values_pass};
use authentik_core::provider::{Failure, Provider};
use authentik_core::request::RequestKind;
use authentik_core::skip::SkipRequest;
use ngx::core::Pool;
use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_complex_value, ngx_http_complex_value_t,
    ngx_http_core_main_conf_t, ngx_http_handler_pt, ngx_http_phases_NGX_HTTP_ACCESS_PHASE,
    ngx_http_request_t, ngx_int_t, ngx_str_t, ngx_time, NGX_DECLINED, NGX_ERROR,
    NGX_HTTP_FORBIDDEN, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_UNAUTHORIZED, NGX_LOG_ERR, NGX_LOG_INFO, NGX_OK,
};
use ngx::http::{HttpModule, HttpModuleMainConf, NgxHttpCoreModule};

use crate::conf::{LocConf, MainConf, ProviderChoice, Unauthenticated};
use crate::endpoints::{self, Exchange};
use crate::ffi::{bytes, guard, request_confs};
use crate::headers::{
    add_identity_headers, add_pool_response_header, add_response_header, cookie_headers,
    request_header, strip_client_identity_headers,
};
use crate::Module;

/// Endpoints of the outpost that the module answers itself.
pub const OUTPOST_PREFIX: &[u8] = b"/outpost.goauthentik.io/";

/// What the access handler decided, kept for the variables.
pub struct RequestCtx {
    pub provider: *const Provider,
    pub identity: Option<Rc<Identity>>,
    pub status: &'static str,
    /// `$authentik_token_request_body` while a code exchange runs.
    pub token_request_body: Option<String>,
    pub exchange: Option<Exchange>,
}

/// Register the handler in the access phase.
///
/// # Safety
/// `cf` must be the configuration in its postconfiguration callback.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: the core module's main conf exists during postconfiguration; its phase arrays
    // are nginx arrays of handler pointers.
    unsafe {
        let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(&*cf) else {
            return NGX_ERROR as ngx_int_t;
        };
        let cmcf: *mut ngx_http_core_main_conf_t = cmcf;
        let slot = ngx_array_push(
            &mut (*cmcf).phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers,
        ) as *mut ngx_http_handler_pt;
        if slot.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        *slot = Some(access_handler);
    }
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || {
        // SAFETY: nginx calls the phase handler with a live request.
        match unsafe { handle(r) } {
            Ok(rc) => rc,
            Err(what) => {
                // SAFETY: as above.
                let log = unsafe { (*(*r).connection).log };
                ngx::ngx_log_error!(NGX_LOG_ERR, log, "authentik: internal error: {}", what);
                NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
            }
        }
    })
}

/// # Safety
/// `r` must be a live request.
unsafe fn handle(r: *mut ngx_http_request_t) -> Result<ngx_int_t, &'static str> {
    // SAFETY: `r` is live for the whole call; configuration outlives requests.
    unsafe {
        let Some((main, loc)) = request_confs(r) else {
            return Ok(NGX_DECLINED as ngx_int_t);
        };
        if loc.provider.is_none() {
            return Ok(NGX_DECLINED as ngx_int_t);
        }
        strip_client_identity_headers(r).map_err(|()| "cannot rebuild request headers")?;
        let Some(ProviderChoice::Named { index, .. }) = &loc.provider else {
            return Ok(NGX_DECLINED as ngx_int_t);
        };
        let provider = index
            .and_then(|i| main.providers.get(i))
            .ok_or("the location's provider was not resolved")?;
        let ctx = request_ctx(r, provider)?;
        if bytes(&(*r).uri).starts_with(OUTPOST_PREFIX) {
            return endpoints::handle(r, provider, ctx);
        }
        match authenticate(r, main, provider) {
            Ok(identity) => authorize(r, loc, provider, ctx, identity),
            Err(failure) => unauthenticated(r, loc, provider, ctx, failure),
        }
    }
}

/// # Safety
/// `r` must be a live request.
unsafe fn authenticate(
    r: *mut ngx_http_request_t,
    main: &MainConf,
    provider: &Provider,
) -> Result<Rc<Identity>, Failure> {
    let mut cache = main.cache.borrow_mut();
    let Some(cache) = cache.as_mut() else {
        return Err(Failure::Invalid("verified-token cache missing"));
    };
    let now = u64::try_from(ngx_time()).unwrap_or(0);
    // SAFETY: header values live in the request pool for the request's lifetime.
    unsafe {
        let authorization = (*r)
            .headers_in
            .authorization
            .as_ref()
            .map(|h| bytes(&h.value));
        cookie_headers(r, |cookies| {
            provider.authenticate(cache, cookies, authorization, now)
        })
    }
}

/// # Safety
/// `r` must be a live request and `ctx` its context.
unsafe fn authorize(
    r: *mut ngx_http_request_t,
    loc: &LocConf,
    provider: &Provider,
    ctx: &mut RequestCtx,
    identity: Rc<Identity>,
) -> Result<ngx_int_t, &'static str> {
    ctx.identity = Some(identity.clone());
    ctx.status = "ok";
    let groups_ok = loc
        .require_groups
        .as_deref()
        .is_none_or(|groups| group_requirement_met(identity.group_names(), groups));
    // SAFETY: complex values were compiled at configuration time; `r` is live.
    let values_ok = groups_ok
        && loc
            .require
            .as_deref()
            .is_none_or(|values| unsafe { require_values_met(r, values) });
    if !values_ok {
        ctx.status = "forbidden";
        // SAFETY: `r` is live.
        let log = unsafe { (*(*r).connection).log };
        ngx::ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "authentik: provider \"{}\": user \"{}\" denied by policy",
            provider.name,
            identity.username
        );
        return Ok(NGX_HTTP_FORBIDDEN as ngx_int_t);
    }
    if loc.set_headers() {
        // SAFETY: the identity lives in the request context until the request ends.
        unsafe { add_identity_headers(r, provider, &identity) }
            .map_err(|()| "cannot add identity headers")?;
    }
    Ok(NGX_OK as ngx_int_t)
}

/// # Safety
/// `r` must be a live request; `values` compiled complex values.
unsafe fn require_values_met(
    r: *mut ngx_http_request_t,
    values: &[*mut ngx_http_complex_value_t],
) -> bool {
    values.iter().all(|&cv| {
        let mut out = ngx_str_t {
            len: 0,
            data: std::ptr::null_mut(),
        };
        // SAFETY: `cv` was compiled for this configuration; the result lives in the pool.
        unsafe {
            ngx_http_complex_value(r, cv, &mut out) == NGX_OK as ngx_int_t
                && require_values_pass([bytes(&out)])
        }
    })
}

/// # Safety
/// `r` must be a live request and `ctx` its context.
unsafe fn unauthenticated(
    r: *mut ngx_http_request_t,
    loc: &LocConf,
    provider: &Provider,
    ctx: &mut RequestCtx,
    failure: Failure,
) -> Result<ngx_int_t, &'static str> {
    // SAFETY: `r` is live; uri, args, host and headers live in its pool.
    unsafe {
        let skip = SkipRequest {
            scheme: scheme(r),
            host: bytes(&(*r).headers_in.server),
            uri: bytes(&(*r).uri),
            args: bytes(&(*r).args),
            request_uri: bytes(&(*r).unparsed_uri),
        };
        if provider.skips(&skip) {
            ctx.status = "skipped";
            return Ok(NGX_OK as ngx_int_t);
        }
        ctx.status = failure.status();
        if failure != Failure::Missing {
            let log = (*(*r).connection).log;
            ngx::ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "authentik: provider \"{}\": {}",
                provider.name,
                failure.reason()
            );
        }
        if failure != Failure::Missing && has_session_cookie(r, provider) {
            for cookie in provider.clear_session_cookies() {
                add_pool_response_header(r, b"Set-Cookie", cookie.as_bytes())?;
            }
        }
        let redirect = provider.token_request.is_some()
            && match loc.unauthenticated() {
                Unauthenticated::Redirect => true,
                Unauthenticated::Status401 => false,
                Unauthenticated::Auto => request_kind(r).is_navigational(),
            };
        if redirect {
            let rd = endpoints::current_url(r, provider);
            return endpoints::start_login(r, provider, rd);
        }
        add_response_header(r, b"WWW-Authenticate", b"Bearer realm=\"authentik\"")
            .map_err(|()| "cannot add WWW-Authenticate")?;
        Ok(NGX_HTTP_UNAUTHORIZED as ngx_int_t)
    }
}

/// # Safety
/// `r` must be a live request.
unsafe fn has_session_cookie(r: *mut ngx_http_request_t, provider: &Provider) -> bool {
    // SAFETY: forwarded.
    unsafe {
        cookie_headers(r, |headers| {
            cookie::find(headers, provider.cookie_name.as_bytes()).is_some()
        })
    }
}

/// # Safety
/// `r` must be a live request.
unsafe fn request_kind<'a>(r: *mut ngx_http_request_t) -> RequestKind<'a> {
    // SAFETY: header values live in the request pool.
    unsafe {
        let method = (*r).method as u32;
        RequestKind {
            method_is_get_or_head: method == NGX_HTTP_GET || method == NGX_HTTP_HEAD,
            sec_fetch_mode: request_header(r, b"sec-fetch-mode"),
            accept: request_header(r, b"accept"),
            has_x_requested_with: request_header(r, b"x-requested-with").is_some(),
            has_upgrade: request_header(r, b"upgrade").is_some(),
        }
    }
}

/// # Safety
/// `r` must be a live request.
unsafe fn scheme(r: *mut ngx_http_request_t) -> &'static [u8] {
    // SAFETY: forwarded.
    if unsafe { is_tls(r) } {
        b"https"
    } else {
        b"http"
    }
}

/// Whether the client connection uses TLS.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn is_tls(r: *mut ngx_http_request_t) -> bool {
    #[cfg(ngx_feature = "ssl")]
    // SAFETY: the connection is live with the request.
    if unsafe { !(*(*r).connection).ssl.is_null() } {
        return true;
    }
    let _ = r;
    false
}

/// This request's context, created on first use (internal redirects reset it).
///
/// # Safety
/// `r` must be a live request.
unsafe fn request_ctx<'a>(
    r: *mut ngx_http_request_t,
    provider: &Provider,
) -> Result<&'a mut RequestCtx, &'static str> {
    let index = Module::module().ctx_index;
    // SAFETY: r->ctx is an array with a slot per module; ours holds a RequestCtx allocated in
    // the request pool (whose cleanup drops it) or null.
    unsafe {
        let slot = (*r).ctx.add(index);
        if let Some(ctx) = (*slot as *mut RequestCtx).as_mut() {
            ctx.provider = provider;
            return Ok(ctx);
        }
        let pool = Pool::from_ngx_pool((*r).pool);
        let ctx = pool.allocate(RequestCtx {
            provider,
            identity: None,
            status: "missing",
            token_request_body: None,
            exchange: None,
        });
        if ctx.is_null() {
            return Err("out of memory for the request context");
        }
        *slot = ctx.cast();
        Ok(&mut *ctx)
    }
}

/// The context the access handler left for `r`, if any.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn existing_ctx<'a>(r: *mut ngx_http_request_t) -> Option<&'a RequestCtx> {
    // SAFETY: see request_ctx; variables of subrequests read the main request's context.
    unsafe {
        let main = (*r).main;
        let slot = (*main).ctx.add(Module::module().ctx_index);
        (*slot as *const RequestCtx).as_ref()
    }
}
