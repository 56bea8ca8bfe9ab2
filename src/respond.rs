//! Sending a core [`Response`]: status, `Location`, `Set-Cookie` and other headers, and a body
//! of the module's own when it has one.

use std::ptr;

use authentik_core::decision::{Grant, Response};
use authentik_core::provider::Provider;
use ngx::core::{Buffer, Pool};
use ngx::ffi::{
    ngx_chain_t, ngx_http_finalize_request, ngx_http_output_filter, ngx_http_send_header,
    ngx_http_send_special, ngx_int_t, ngx_list_push, ngx_str_t, ngx_table_elt_t, ngx_uint_t,
    NGX_DONE, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LAST,
};

use crate::ffi::borrowed_str;
use crate::request::HttpRequest;

impl HttpRequest<'_> {
    /// Answer with `response` from the access phase. Without a body the status goes back to
    /// nginx, which sends its own page for it; with one the module sends it and finalizes
    /// the request.
    pub fn respond(&mut self, response: &Response) -> ngx_int_t {
        let has_body = response.body.is_some() || response.status < 300;
        match self.send_inner(response) {
            Ok(rc) if has_body => {
                let r = self.raw();
                // SAFETY: `r` is live; the response is sent, so the request is finished here.
                unsafe { ngx_http_finalize_request(r, rc) };
                NGX_DONE as ngx_int_t
            }
            Ok(rc) => rc,
            Err(()) => NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        }
    }

    /// A forward-auth endpoint's "allowed": 200, `grant`'s identity headers, no body.
    pub fn answer(&mut self, grant: &Grant, provider: &Provider) -> ngx_int_t {
        for header in grant.upstream_headers(provider) {
            let name = header.name.as_bytes();
            if self
                .add_copied_header(name, header.value.as_bytes())
                .is_err()
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
            }
        }
        self.respond(&Response::status(200))
    }

    /// Send `response` from a content handler: nginx finalizes with the returned code.
    pub fn send(&mut self, response: &Response) -> ngx_int_t {
        self.send_inner(response)
            .unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
    }

    fn send_inner(&mut self, response: &Response) -> Result<ngx_int_t, ()> {
        for cookie in &response.cookies {
            self.add_response_header(b"Set-Cookie", cookie.as_bytes())?;
        }
        for (name, value) in &response.headers {
            self.add_response_header(name.as_bytes(), value.as_bytes())?;
        }
        if let Some(location) = &response.location {
            let h = self.add_response_header(b"Location", location.as_bytes())?;
            self.raw_headers_out().location = h;
        }
        // nginx makes error pages from a returned status; a success is sent, empty if need be.
        let (content_type, bytes): (&str, &[u8]) = match &response.body {
            Some(body) => (body.content_type, &body.bytes),
            None if response.status < 300 => ("", b""),
            None => return Ok(response.status as ngx_int_t),
        };
        let r = self.raw();
        // SAFETY: `r` is live; the body buffer is allocated from its pool and holds a copy.
        unsafe {
            let pool = Pool::from_ngx_pool((*r).pool);
            (*r).headers_out.status = usize::from(response.status);
            (*r).headers_out.content_length_n = bytes.len() as _;
            let content_type = pool_copy(&pool, content_type.as_bytes()).ok_or(())?;
            (*r).headers_out.content_type_len = content_type.len;
            (*r).headers_out.content_type = content_type;
            let rc = ngx_http_send_header(r);
            if rc == NGX_ERROR as ngx_int_t || rc > 0 || (*r).header_only() != 0 {
                return Ok(rc);
            }
            if bytes.is_empty() {
                return Ok(ngx_http_send_special(r, NGX_HTTP_LAST as ngx_uint_t));
            }
            let mut buf = pool.create_buffer(bytes.len()).ok_or(())?;
            let b = buf.as_ngx_buf_mut();
            ptr::copy_nonoverlapping(bytes.as_ptr(), (*b).last, bytes.len());
            (*b).last = (*b).last.add(bytes.len());
            (*b).set_last_buf(1);
            (*b).set_last_in_chain(1);
            let mut chain = ngx_chain_t {
                buf: b,
                next: ptr::null_mut(),
            };
            Ok(ngx_http_output_filter(r, &mut chain))
        }
    }

    /// Add `Set-Cookie` headers to whatever answers the request (a renewed session on the
    /// upstream's response).
    pub fn set_cookies(&mut self, cookies: &[String]) -> Result<(), ()> {
        for cookie in cookies {
            self.add_response_header(b"Set-Cookie", cookie.as_bytes())?;
        }
        Ok(())
    }

    fn raw_headers_out(&mut self) -> &mut ngx::ffi::ngx_http_headers_out_t {
        let r = self.raw();
        // SAFETY: `r` is live and exclusively borrowed through `self`.
        unsafe { &mut (*r).headers_out }
    }

    /// Add a response header; the value is copied into the request pool.
    fn add_response_header(
        &mut self,
        name: &'static [u8],
        value: &[u8],
    ) -> Result<*mut ngx_table_elt_t, ()> {
        self.push_response_header(borrowed_str(name), value)
    }

    /// Add a response header whose name and value are both copied into the request pool.
    fn add_copied_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), ()> {
        let r = self.raw();
        // SAFETY: `r` is live; the copy lives in its pool as long as the response.
        let name = unsafe { pool_copy(&Pool::from_ngx_pool((*r).pool), name) }.ok_or(())?;
        self.push_response_header(name, value).map(|_| ())
    }

    fn push_response_header(
        &mut self,
        key: ngx_str_t,
        value: &[u8],
    ) -> Result<*mut ngx_table_elt_t, ()> {
        let r = self.raw();
        // SAFETY: `r` is live; the value's copy lives in its pool as long as the response,
        // `key` is static or in the pool, and ngx_list_push returns space for one element or
        // null.
        unsafe {
            let pool = Pool::from_ngx_pool((*r).pool);
            let value = pool_copy(&pool, value).ok_or(())?;
            let h = ngx_list_push(&mut (*r).headers_out.headers) as *mut ngx_table_elt_t;
            if h.is_null() {
                return Err(());
            }
            h.write(ngx_table_elt_t {
                hash: 1,
                key,
                value,
                lowcase_key: ptr::null_mut(),
                #[cfg(nginx1_23)]
                next: ptr::null_mut(),
            });
            Ok(h)
        }
    }
}

/// Copy `value` into `pool`.
pub fn pool_copy(pool: &Pool, value: &[u8]) -> Option<ngx_str_t> {
    let data = pool.alloc_unaligned(value.len().max(1)) as *mut u8;
    if data.is_null() {
        return None;
    }
    // SAFETY: the allocation holds `value.len()` bytes and does not overlap `value`.
    unsafe { ptr::copy_nonoverlapping(value.as_ptr(), data, value.len()) };
    Some(ngx_str_t {
        len: value.len(),
        data,
    })
}
