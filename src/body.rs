//! Reading a request body in the access phase (the back-channel logout form), as nginx's
//! mirror module does: read, and run the phases again once the body is in.

use ngx::ffi::{
    ngx_buf_t, ngx_http_core_run_phases, ngx_http_finalize_request,
    ngx_http_read_client_request_body, ngx_http_request_t, ngx_int_t, ngx_read_file, NGX_DONE,
    NGX_HTTP_SPECIAL_RESPONSE,
};

use crate::ctx::{existing_ctx, BodyState};
use crate::ffi::guard;
use crate::request::HttpRequest;

impl HttpRequest<'_> {
    /// Start reading the body; the access handler runs again when it is read, and finds it in
    /// `ctx.body`. Returns the access handler's code.
    pub fn read_body(&mut self) -> ngx_int_t {
        let r = self.raw();
        // SAFETY: `r` is a live main request in its access phase.
        unsafe {
            let rc = ngx_http_read_client_request_body(r, Some(body_read));
            if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
                return rc;
            }
            // Drop the reference ngx_http_read_client_request_body took; the body handler
            // continues the request.
            ngx_http_finalize_request(r, NGX_DONE as ngx_int_t);
        }
        NGX_DONE as ngx_int_t
    }
}

/// The body is read: keep it (or note that it was over the limit) and run the phases again.
unsafe extern "C" fn body_read(r: *mut ngx_http_request_t) {
    guard((), || {
        // SAFETY: nginx calls this with the live request whose body it read; the request
        // context was created before the read started.
        unsafe {
            if let Some(ctx) = existing_ctx(r) {
                let limit = match &*ctx.body.borrow() {
                    BodyState::Reading(limit) => *limit,
                    _ => 0,
                };
                *ctx.body.borrow_mut() = BodyState::Read(collect(r, limit));
            }
            (*r).write_event_handler = Some(ngx_http_core_run_phases);
            ngx_http_core_run_phases(r);
        }
    })
}

/// The body's bytes, from memory or from its temporary file; `None` beyond `limit`.
///
/// # Safety
/// `r` must be a live request whose body has been read.
unsafe fn collect(r: *mut ngx_http_request_t, limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    // SAFETY: the body's chain and buffers live in the request pool; a file buffer's file is
    // the open temporary file of the body.
    unsafe {
        let Some(body) = (*r).request_body.as_ref() else {
            return Some(out);
        };
        let mut chain = body.bufs;
        while let Some(link) = chain.as_ref() {
            let buf: &ngx_buf_t = &*link.buf;
            if buf.in_file() != 0 && !buf.file.is_null() {
                let len = usize::try_from(buf.file_last - buf.file_pos).ok()?;
                if out.len() + len > limit {
                    return None;
                }
                let start = out.len();
                out.resize(start + len, 0);
                let read = ngx_read_file(buf.file, out.as_mut_ptr().add(start), len, buf.file_pos);
                if usize::try_from(read).ok()? != len {
                    return None;
                }
            } else if !buf.pos.is_null() && buf.last >= buf.pos {
                let bytes =
                    std::slice::from_raw_parts(buf.pos, buf.last.offset_from(buf.pos) as usize);
                if out.len() + bytes.len() > limit {
                    return None;
                }
                out.extend_from_slice(bytes);
            }
            chain = link.next;
        }
    }
    Some(out)
}
