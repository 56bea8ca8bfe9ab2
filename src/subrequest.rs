//! The subrequests to authentik: an in-memory subrequest to the internal location that
//! proxies to authentik's token endpoint (`token_request`, with the form body in
//! `$authentik_token_request_body`) or to its JWKS (`jwks_request`, a GET). Its own
//! request body is empty: the client's body never goes to authentik.

use std::ffi::c_void;
use std::ptr;

use ngx::core::Pool;
use ngx::ffi::{
    ngx_http_post_subrequest_t, ngx_http_request_body_t, ngx_http_request_t, ngx_http_subrequest,
    ngx_int_t, NGX_ERROR, NGX_HTTP_SUBREQUEST_IN_MEMORY, NGX_HTTP_SUBREQUEST_WAITED, NGX_OK,
};

use crate::ctx::RequestCtx;
use crate::ffi::guard;
use crate::request::HttpRequest;

impl HttpRequest<'_> {
    /// Start the subrequest to `uri`; its answer lands in `ctx.exchange`.
    pub fn start_token_request(&mut self, uri: &str, ctx: &RequestCtx) -> Result<(), ()> {
        let r = self.raw();
        // SAFETY: `r` is a live main request; the post-subrequest record and the empty body
        // are allocated in its pool; the URI lives in the configuration; the handler's data
        // is the request context, which lives in the pool until the request ends.
        unsafe {
            let pool = Pool::from_ngx_pool((*r).pool);
            let ps = pool.calloc_type::<ngx_http_post_subrequest_t>();
            if ps.is_null() {
                return Err(());
            }
            (*ps).handler = Some(token_response);
            (*ps).data = (ctx as *const RequestCtx).cast_mut().cast();
            // nginx keeps the URI for the subrequest's lifetime: a copy in the request pool.
            let Some(mut uri) = crate::respond::pool_copy(&pool, uri.as_bytes()) else {
                return Err(());
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
        }
        Ok(())
    }
}

/// Called when the subrequest finishes: keep its status and body.
unsafe extern "C" fn token_response(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    guard(rc, || {
        // SAFETY: `data` is the parent's RequestCtx (alive while the parent lives); `sr` is
        // the finished in-memory subrequest whose output buffer holds the body.
        unsafe {
            let Some(ctx) = (data as *const RequestCtx).as_ref() else {
                return rc;
            };
            let mut exchange = ctx.exchange.borrow_mut();
            let Some(exchange) = exchange.as_mut() else {
                return rc;
            };
            exchange.done = true;
            exchange.status = u16::try_from((*sr).headers_out.status).unwrap_or(0);
            let buf = (*sr).out.as_ref().and_then(|chain| chain.buf.as_ref());
            if rc == NGX_ERROR as ngx_int_t || (exchange.status == 200 && buf.is_none()) {
                // The exchange failed inside nginx, typically an answer larger than
                // subrequest_output_buffer_size. nginx then marks the shared connection as
                // failed and would close it without an answer; the caller answers instead.
                exchange.status = 0;
                (*(*sr).connection).set_error(0);
                return NGX_OK as ngx_int_t;
            }
            if let Some(buf) = buf {
                if !buf.pos.is_null() && buf.last >= buf.pos {
                    let len = buf.last.offset_from(buf.pos) as usize;
                    exchange.body = std::slice::from_raw_parts(buf.pos, len).to_vec();
                }
            }
        }
        rc
    })
}
