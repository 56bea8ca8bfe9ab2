//! What the access handler keeps for a request: the decision for the variables, a code
//! exchange in flight, and the headers it added. It lives in a pool cleanup of the request,
//! so it survives internal redirects (which clear the module context), found again the way
//! nginx's realip module finds its own.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use authentik_core::decision::{Grant, Pending, Status};
use ngx::ffi::{ngx_http_request_t, ngx_pool_cleanup_add, ngx_table_elt_t};
use ngx::http::HttpModule;

use crate::Module;

/// A `token_request` subrequest in flight, and its answer once done.
pub struct ExchangeState {
    pub pending: Option<Pending>,
    /// `ngx_current_msec` when the subrequest started.
    pub started_ms: u64,
    pub done: bool,
    pub status: u16,
    pub body: Vec<u8>,
}

/// A request body the access handler asked for.
#[derive(Default)]
pub enum BodyState {
    #[default]
    Unread,
    /// Being read; longer than this is not kept.
    Reading(usize),
    /// Read: the bytes, or `None` when the body was over the limit.
    Read(Option<Vec<u8>>),
}

/// What the access handler changed in the request headers, to undo it when an internal
/// redirect runs the access phase again in another location.
pub struct Injected {
    /// Client headers removed because an injected one replaces them.
    pub removed: Vec<ngx_table_elt_t>,
    /// `headers_in.authorization` before the Basic header replaced it.
    pub authorization: *mut ngx_table_elt_t,
}

/// Shared by the access handler, the subrequest callback and the variables, which nginx calls
/// while the handler runs: every field is a cell, so only shared references exist.
#[derive(Default)]
pub struct RequestCtx {
    /// Index of the provider of the last decision.
    pub provider: Cell<Option<usize>>,
    pub grant: RefCell<Option<Grant>>,
    pub status: Cell<Option<Status>>,
    /// `$authentik_token_request_body` while an exchange runs.
    pub token_request_body: RefCell<Option<String>>,
    pub exchange: RefCell<Option<ExchangeState>>,
    pub body: RefCell<BodyState>,
    pub injected: RefCell<Option<Injected>>,
    /// Values variables point at: rendered `$authentik_claim_*` values and identities of
    /// earlier decisions, alive until the request ends.
    pub keep: RefCell<Vec<Rc<str>>>,
    pub kept_grants: RefCell<Vec<Grant>>,
}

unsafe extern "C" fn drop_ctx(data: *mut std::ffi::c_void) {
    // SAFETY: `data` is the RequestCtx written by `ctx_of`, dropped once, when the pool goes.
    crate::ffi::guard((), || unsafe {
        std::ptr::drop_in_place(data.cast::<RequestCtx>())
    });
}

/// The context of `r`: the module's slot, or after an internal redirect the pool cleanup
/// that holds it; created on first use.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn ctx_of<'a>(r: *mut ngx_http_request_t) -> Option<&'a RequestCtx> {
    let index = Module::module().ctx_index;
    // SAFETY: r->ctx has a slot per module; ours is null or a RequestCtx in a pool cleanup of
    // this request, whose list we only read.
    unsafe {
        let slot = (*r).ctx.add(index);
        if let Some(ctx) = (*slot as *const RequestCtx).as_ref() {
            return Some(ctx);
        }
        if (*r).internal() != 0 || (*r).filter_finalize() != 0 {
            let mut cleanup = (*(*r).pool).cleanup;
            while let Some(c) = cleanup.as_ref() {
                // drop_ctx is a plain (not generic, not inline) function of this crate: one
                // definition, one address, as nginx's modules rely on in C.
                let ours = c.handler.is_some_and(|h| {
                    std::ptr::fn_addr_eq(h, drop_ctx as unsafe extern "C" fn(*mut std::ffi::c_void))
                });
                if ours {
                    *slot = c.data;
                    return (c.data as *const RequestCtx).as_ref();
                }
                cleanup = c.next;
            }
        }
        let cleanup = ngx_pool_cleanup_add((*r).pool, std::mem::size_of::<RequestCtx>());
        if cleanup.is_null() {
            return None;
        }
        let ctx = (*cleanup).data.cast::<RequestCtx>();
        ctx.write(RequestCtx::default());
        (*cleanup).handler = Some(drop_ctx);
        *slot = ctx.cast();
        ctx.as_ref()
    }
}

/// The context the access handler left for `r`'s main request, if any (variables of
/// subrequests read their main request's).
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn existing_ctx<'a>(r: *mut ngx_http_request_t) -> Option<&'a RequestCtx> {
    // SAFETY: as in ctx_of; only the slot is read.
    unsafe {
        let main = (*r).main;
        let slot = (*main).ctx.add(Module::module().ctx_index);
        (*slot as *const RequestCtx).as_ref()
    }
}
