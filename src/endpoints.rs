//! The outpost's endpoints under `/outpost.goauthentik.io/` and the login redirect
//! (DESIGN §5): start, callback (with the code exchange subrequest), sign_out and ping.

use std::ffi::c_void;
use std::ptr;

use authentik_core::cookie;
use authentik_core::login::{CallbackError, LoginState};
use authentik_core::provider::{Mode, Provider};
use authentik_core::url::query_arg;
use ngx::core::Pool;
use ngx::ffi::{
    ngx_http_post_subrequest_t, ngx_http_request_body_t, ngx_http_request_t, ngx_http_subrequest,
    ngx_int_t, ngx_str_t, ngx_time, NGX_AGAIN, NGX_ERROR, NGX_HTTP_BAD_REQUEST,
    NGX_HTTP_MOVED_TEMPORARILY, NGX_HTTP_NOT_FOUND, NGX_HTTP_NO_CONTENT,
    NGX_HTTP_SUBREQUEST_IN_MEMORY, NGX_HTTP_SUBREQUEST_WAITED, NGX_LOG_ERR, NGX_LOG_WARN, NGX_OK,
};

use crate::access::{RequestCtx, OUTPOST_PREFIX};
use crate::ffi::{bytes, guard};
use crate::headers::{add_pool_response_header, add_response_header, cookie_headers, pool_copy};

/// A code exchange in flight: the login it completes and, once done, the token response.
pub struct Exchange {
    login: LoginState,
    done: bool,
    status: u16,
    body: Vec<u8>,
}

fn now() -> u64 {
    u64::try_from(ngx_time()).unwrap_or(0)
}

/// Answer a request under `/outpost.goauthentik.io/`; it never reaches the upstream.
///
/// # Safety
/// `r` must be a live main request and `ctx` its context.
pub unsafe fn handle(
    r: *mut ngx_http_request_t,
    provider: &Provider,
    ctx: &mut RequestCtx,
) -> Result<ngx_int_t, &'static str> {
    // SAFETY: uri and args live in the request pool.
    let (endpoint, args) =
        unsafe { (&bytes(&(*r).uri)[OUTPOST_PREFIX.len()..], bytes(&(*r).args)) };
    // SAFETY: `r` is live.
    unsafe {
        match endpoint {
            b"ping" => Ok(NGX_HTTP_NO_CONTENT as ngx_int_t),
            b"start" => {
                let rd = query_arg(args, "rd").and_then(|v| String::from_utf8(v).ok());
                start_login(r, provider, provider.validate_rd(rd.as_deref()))
            }
            b"sign_out" => sign_out(r, provider),
            b"callback" => callback(r, provider, ctx),
            _ => Ok(NGX_HTTP_NOT_FOUND as ngx_int_t),
        }
    }
}

/// 302 to the authorize URL with a fresh login state returning to `rd`.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn start_login(
    r: *mut ngx_http_request_t,
    provider: &Provider,
    rd: String,
) -> Result<ngx_int_t, &'static str> {
    let (location, state_cookie) = provider
        .start_login(rd, now())
        .ok_or("cannot create a login state")?;
    // SAFETY: forwarded.
    unsafe { redirect(r, &location, &[state_cookie]) }
}

/// The URL of this request as `rd` for after the login: the app's own origin in single mode,
/// the request's host in domain mode (validated either way).
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn current_url(r: *mut ngx_http_request_t, provider: &Provider) -> String {
    // SAFETY: the request line and Host header live in the request pool.
    let (host, uri) = unsafe {
        let host = match (*r).headers_in.host.as_ref() {
            Some(host) => bytes(&host.value),
            None => bytes(&(*r).headers_in.server),
        };
        (
            String::from_utf8_lossy(host),
            String::from_utf8_lossy(bytes(&(*r).unparsed_uri)),
        )
    };
    let url = match provider.mode {
        Mode::Single => format!("{}{uri}", provider.external_host),
        Mode::Domain => {
            // SAFETY: `r` is live.
            let tls = unsafe { crate::access::is_tls(r) };
            let scheme = if tls || provider.secure_cookies {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}{uri}")
        }
    };
    provider.validate_rd(Some(&url))
}

/// # Safety
/// `r` must be a live request.
unsafe fn sign_out(
    r: *mut ngx_http_request_t,
    provider: &Provider,
) -> Result<ngx_int_t, &'static str> {
    // SAFETY: forwarded.
    unsafe {
        redirect(
            r,
            &provider.end_session_url,
            &provider.clear_session_cookies(),
        )
    }
}

/// # Safety
/// `r` must be a live main request and `ctx` its context.
unsafe fn callback(
    r: *mut ngx_http_request_t,
    provider: &Provider,
    ctx: &mut RequestCtx,
) -> Result<ngx_int_t, &'static str> {
    if let Some(exchange) = &ctx.exchange {
        if !exchange.done {
            return Ok(NGX_AGAIN as ngx_int_t);
        }
        let now = now();
        let result = provider
            .finish_login(exchange.status, &exchange.body, &exchange.login, now)
            .and_then(|(token, exp)| {
                let cookies = provider.session_cookies(&token, exp, &exchange.login, now)?;
                Ok((exchange.login.rd.clone(), cookies))
            });
        ctx.exchange = None;
        ctx.token_request_body = None;
        // SAFETY: `r` is live.
        return unsafe {
            match result {
                Ok((rd, cookies)) => redirect(r, &rd, &cookies),
                Err(error) => Ok(callback_failed(r, provider, &error)),
            }
        };
    }
    // SAFETY: `r` is live; its args, headers and pool outlive this call.
    unsafe {
        match begin_exchange(r, provider, ctx) {
            Ok(()) => Ok(NGX_AGAIN as ngx_int_t),
            Err(error) => Ok(callback_failed(r, provider, &error)),
        }
    }
}

/// # Safety
/// `r` must be a live main request.
unsafe fn begin_exchange(
    r: *mut ngx_http_request_t,
    provider: &Provider,
    ctx: &mut RequestCtx,
) -> Result<(), CallbackError> {
    // SAFETY: args and cookie headers live in the request pool.
    let args = unsafe { bytes(&(*r).args) };
    if let Some(error) = query_arg(args, "error") {
        return Err(CallbackError::provider_error(&error));
    }
    let state = query_arg(args, "state")
        .and_then(|s| String::from_utf8(s).ok())
        .filter(|s| !s.is_empty())
        .ok_or(CallbackError::MissingState)?;
    let code = query_arg(args, "code")
        .and_then(|c| String::from_utf8(c).ok())
        .filter(|c| !c.is_empty())
        .ok_or(CallbackError::MissingCode)?;
    let cookie_name = provider.login_state_cookie_name(&state);
    // SAFETY: `r` is live.
    let login = unsafe {
        cookie_headers(r, |headers| {
            let value = cookie::find(headers, cookie_name.as_bytes());
            provider.open_login_state(&state, value, now())
        })
    }?;
    let Some(uri) = provider.token_request.as_deref() else {
        return Err(CallbackError::ExchangeFailed(0));
    };
    ctx.token_request_body = Some(provider.token_request_body(&code, &login));
    ctx.exchange = Some(Exchange {
        login,
        done: false,
        status: 0,
        body: Vec::new(),
    });
    // SAFETY: `r` is live; the subrequest's post handler gets the context, which lives in the
    // request pool until the request ends.
    unsafe { start_subrequest(r, uri, ctx) }.map_err(|()| CallbackError::ExchangeFailed(0))
}

/// # Safety
/// `r` must be a live main request; `ctx` must live in its pool.
unsafe fn start_subrequest(
    r: *mut ngx_http_request_t,
    uri: &str,
    ctx: &mut RequestCtx,
) -> Result<(), ()> {
    // SAFETY: the post-subrequest record and the empty body are allocated in the request pool;
    // the URI lives in the configuration.
    unsafe {
        let pool = Pool::from_ngx_pool((*r).pool);
        let ps = pool.calloc_type::<ngx_http_post_subrequest_t>();
        if ps.is_null() {
            return Err(());
        }
        (*ps).handler = Some(token_response);
        (*ps).data = (ctx as *mut RequestCtx).cast();
        let mut uri = ngx_str_t {
            len: uri.len(),
            data: uri.as_ptr().cast_mut(),
        };
        let mut sr: *mut ngx_http_request_t = ptr::null_mut();
        let flags = NGX_HTTP_SUBREQUEST_IN_MEMORY | NGX_HTTP_SUBREQUEST_WAITED;
        if ngx_http_subrequest(r, &mut uri, ptr::null_mut(), &mut sr, ps, flags as _)
            != NGX_OK as ngx_int_t
            || sr.is_null()
        {
            return Err(());
        }
        let body = pool.calloc_type::<ngx_http_request_body_t>();
        if body.is_null() {
            return Err(());
        }
        (*sr).request_body = body;
        Ok(())
    }
}

/// Called when the code exchange subrequest finishes: keep its status and body.
unsafe extern "C" fn token_response(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    guard(rc, || {
        // SAFETY: `data` is the parent's RequestCtx (pool-allocated, alive while the parent
        // lives); `sr` is the finished in-memory subrequest whose output buffer holds the body.
        unsafe {
            let Some(ctx) = (data as *mut RequestCtx).as_mut() else {
                return rc;
            };
            let Some(exchange) = ctx.exchange.as_mut() else {
                return rc;
            };
            exchange.done = true;
            let status = (*sr).headers_out.status;
            exchange.status = u16::try_from(status).unwrap_or(0);
            let captured = (*sr).out.as_ref().is_some_and(|chain| !chain.buf.is_null());
            if rc == NGX_ERROR as ngx_int_t || (exchange.status == 200 && !captured) {
                // The exchange failed inside nginx, typically a token response larger than
                // subrequest_output_buffer_size. nginx then marks the shared connection as
                // failed and would close it without an answer; the callback answers 400.
                exchange.status = 0;
                (*(*sr).connection).set_error(0);
                return NGX_OK as ngx_int_t;
            }
            if let Some(buf) = (*sr).out.as_ref().and_then(|chain| chain.buf.as_ref()) {
                if !buf.pos.is_null() && buf.last >= buf.pos {
                    let len = buf.last.offset_from(buf.pos) as usize;
                    exchange.body = std::slice::from_raw_parts(buf.pos, len).to_vec();
                }
            }
        }
        rc
    })
}

/// # Safety
/// `r` must be a live request.
unsafe fn callback_failed(
    r: *mut ngx_http_request_t,
    provider: &Provider,
    error: &CallbackError,
) -> ngx_int_t {
    let level = match error {
        CallbackError::ExchangeFailed(_) | CallbackError::Seal => NGX_LOG_ERR,
        _ => NGX_LOG_WARN,
    };
    // SAFETY: `r` is live.
    let log = unsafe { (*(*r).connection).log };
    ngx::ngx_log_error!(
        level,
        log,
        "authentik: provider \"{}\": login callback failed: {}",
        provider.name,
        error
    );
    NGX_HTTP_BAD_REQUEST as ngx_int_t
}

/// A 302 to `location` that sets `cookies`.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn redirect(
    r: *mut ngx_http_request_t,
    location: &str,
    cookies: &[String],
) -> Result<ngx_int_t, &'static str> {
    const OOM: &str = "out of memory for response headers";
    // SAFETY: every value is copied into the request pool before nginx keeps a pointer to it.
    unsafe {
        for cookie in cookies {
            add_pool_response_header(r, b"Set-Cookie", cookie.as_bytes())?;
        }
        add_response_header(r, b"Cache-Control", b"no-store").map_err(|()| OOM)?;
        let value = pool_copy(r, location.as_bytes()).ok_or(OOM)?;
        let h = add_response_header(r, b"Location", bytes(&value)).map_err(|()| OOM)?;
        (*r).headers_out.location = h;
    }
    Ok(NGX_HTTP_MOVED_TEMPORARILY as ngx_int_t)
}
