//! Small helpers at the FFI boundary: panic containment and strings.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ngx::ffi::ngx_str_t;

/// Run `body`; a panic becomes `fallback` instead of unwinding into nginx.
pub fn guard<R>(fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The bytes of an `ngx_str_t` (empty for a null pointer).
///
/// # Safety
/// `s` must describe `len` readable bytes that outlive the returned slice.
pub unsafe fn bytes<'a>(s: &ngx_str_t) -> &'a [u8] {
    if s.data.is_null() || s.len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `data` points at `len` live bytes.
        unsafe { std::slice::from_raw_parts(s.data, s.len) }
    }
}

/// An `ngx_str_t` that borrows `data`; nginx only reads through it.
pub fn borrowed_str(data: &[u8]) -> ngx_str_t {
    ngx_str_t {
        len: data.len(),
        data: data.as_ptr().cast_mut(),
    }
}
