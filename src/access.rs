//! The access-phase handler: read the request once, let core decide, apply the outcome.

use authentik_core::auth::Worker;
use authentik_core::conf::Location;
use authentik_core::decision::{Action, Level, Outcome, TokenResponse};
use authentik_core::provider::Provider;
use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_complex_value, ngx_http_handler_pt,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_request_t, ngx_int_t, ngx_str_t, NGX_AGAIN,
    NGX_DECLINED, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_LOG_CRIT, NGX_LOG_EMERG,
    NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_WARN, NGX_OK,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};

use crate::conf::{LocConf, MainConf};
use crate::ctx::{ctx_of, BodyState, ExchangeState, RequestCtx};
use crate::ffi::{bytes, guard};
use crate::request::HttpRequest;
use crate::Module;

/// Register the handler in the access phase, after checking that every `token_request`
/// names a location.
///
/// # Safety
/// `cf` must be the configuration in its postconfiguration callback.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: `cf` is valid during postconfiguration.
    let cf_ref = unsafe { &*cf };
    if let Some(main) = Module::main_conf(cf_ref) {
        if let Some(site) = main.token_requests.iter().find(|s| !s.found.get()) {
            ngx::ngx_log_error!(
                NGX_LOG_EMERG,
                cf_ref.log,
                "{} \"{}\" names no location: add \"location = {} {{ internal; … }}\" (nginx-conf/{}.conf) in {}:{}",
                site.directive,
                site.uri,
                site.uri,
                site.directive.replace('_', "-"),
                site.file,
                site.line
            );
            return NGX_ERROR as ngx_int_t;
        }
    }
    if let Some(main) = Module::main_conf(cf_ref).filter(|m| !m.providers.is_empty()) {
        // SAFETY: `cf` is valid during postconfiguration; `main` is its MainConf.
        if unsafe { crate::shared::add_metrics_zone(cf, main) }.is_err() {
            return NGX_ERROR as ngx_int_t;
        }
        // SAFETY: as above.
        if unsafe { crate::shared::add_revocation_zone(cf, main) }.is_err() {
            return NGX_ERROR as ngx_int_t;
        }
    }
    let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(cf_ref) else {
        return NGX_ERROR as ngx_int_t;
    };
    // SAFETY: the core module's phase arrays are nginx arrays of handler pointers.
    unsafe {
        let slot = ngx_array_push(
            &mut cmcf.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers,
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
        let mut request = unsafe { HttpRequest::from_raw(r) };
        match handle(&mut request) {
            Ok(rc) => rc,
            Err(what) => {
                ngx::ngx_log_error!(
                    NGX_LOG_ERR,
                    request.log(),
                    "authentik: internal error: {}",
                    what
                );
                NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
            }
        }
    })
}

fn handle(request: &mut HttpRequest<'_>) -> Result<ngx_int_t, &'static str> {
    let Some((main, loc)) = request.confs() else {
        return Ok(NGX_DECLINED as ngx_int_t);
    };
    if main.providers.is_empty() || !request.is_main() {
        return Ok(NGX_DECLINED as ngx_int_t);
    }
    let location = &loc.location;
    let provider_index = location.provider();
    let ctx = match (provider_index, request.is_internal()) {
        (None, false) => None,
        // SAFETY: `request` wraps a live request.
        _ => Some(unsafe { ctx_of(request.raw()) }.ok_or("out of memory for the request context")?),
    };
    if let Some(ctx) = ctx {
        undo_injection(request, main, ctx)?;
    }
    let Some(index) = provider_index else {
        if location.strips_identity_headers() && request.with_facts(|_, identity| identity) {
            request
                .strip_identity_headers()
                .map_err(|()| "cannot rebuild request headers")?;
        }
        return Ok(NGX_DECLINED as ngx_int_t);
    };
    let provider = main
        .providers
        .get(index)
        .ok_or("the location's provider was not resolved")?;
    let ctx = ctx.ok_or("no request context")?;
    let now = HttpRequest::now();
    let finished = match ctx.exchange.borrow().as_ref() {
        Some(exchange) if !exchange.done => return Ok(NGX_AGAIN as ngx_int_t),
        Some(_) => true,
        None => false,
    };
    let body = match std::mem::take(&mut *ctx.body.borrow_mut()) {
        BodyState::Read(body) => Some(body),
        BodyState::Reading(limit) => {
            *ctx.body.borrow_mut() = BodyState::Reading(limit);
            return Ok(NGX_AGAIN as ngx_int_t);
        }
        BodyState::Unread => None,
    };
    let mut worker_state = main.worker.borrow_mut();
    let worker = worker_state.as_mut().ok_or("worker state missing")?;
    let outcome = if finished {
        resume(request, location, provider, worker, ctx, now, main, index)?
    } else if let Some(body) = body {
        request
            .with_facts(|facts, _| provider.backchannel_logout(facts, body.as_deref(), worker, now))
    } else {
        let (outcome, identity_header) = request.with_facts(|facts, identity| {
            (provider.decide(location, facts, worker, now), identity)
        });
        if identity_header && location.strips_identity_headers() {
            request
                .strip_identity_headers()
                .map_err(|()| "cannot rebuild request headers")?;
        }
        outcome
    };
    if let Action::ReadBody(read) = &outcome.action {
        // nginx may run the phases again before read_body returns, when the body is in
        // already: the worker state must not be borrowed then.
        drop(worker_state);
        *ctx.body.borrow_mut() = BodyState::Reading(read.limit);
        return Ok(request.read_body());
    }
    apply(
        request, main, provider, index, loc, ctx, worker, outcome, now,
    )
}

/// The `token_request` subrequest finished: give its answer to core.
#[allow(clippy::too_many_arguments)]
fn resume(
    request: &HttpRequest<'_>,
    location: &Location,
    provider: &Provider,
    worker: &mut Worker,
    ctx: &RequestCtx,
    now: u64,
    main: &MainConf,
    index: usize,
) -> Result<Outcome, &'static str> {
    let exchange = ctx.exchange.borrow_mut().take().ok_or("no exchange")?;
    let elapsed = current_msec().saturating_sub(exchange.started_ms);
    ctx.token_request_body.borrow_mut().take();
    let pending = exchange.pending.ok_or("exchange without a login")?;
    let answer = TokenResponse {
        status: exchange.status,
        body: &exchange.body,
    };
    let outcome = request
        .with_facts(|facts, _| provider.resume(location, facts, worker, pending, answer, now));
    crate::metrics::token_requests(main, index, &outcome, elapsed);
    Ok(outcome)
}

fn current_msec() -> u64 {
    // SAFETY: nginx's cached clock, written by the event loop of this single-threaded worker.
    unsafe { ngx::ffi::ngx_current_msec as u64 }
}

/// After an internal redirect, take out what an earlier location added to the headers.
fn undo_injection(
    request: &mut HttpRequest<'_>,
    main: &MainConf,
    ctx: &RequestCtx,
) -> Result<(), &'static str> {
    let Some(injected) = ctx.injected.borrow_mut().take() else {
        return Ok(());
    };
    let grant = ctx.grant.borrow_mut().take();
    let provider = ctx.provider.get().and_then(|i| main.providers.get(i));
    if let (Some(grant), Some(provider)) = (grant, provider) {
        request
            .undo(&grant, provider, injected)
            .map_err(|()| "cannot rebuild request headers")?;
        ctx.kept_grants.borrow_mut().push(grant);
    }
    ctx.status.set(None);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply(
    request: &mut HttpRequest<'_>,
    main: &MainConf,
    provider: &Provider,
    index: usize,
    loc: &LocConf,
    ctx: &RequestCtx,
    worker: &mut Worker,
    outcome: Outcome,
    now: u64,
) -> Result<ngx_int_t, &'static str> {
    ngx::ngx_log_debug!(
        mask: ngx::log::DebugMask::Http,
        request.log(),
        "authentik: provider \"{}\": {} ({})",
        provider.name(),
        outcome.status.as_str(),
        action_name(&outcome.action)
    );
    log_line(request, &outcome);
    ctx.provider.set(Some(index));
    ctx.status.set(Some(outcome.status));
    if let Action::Allow(grant) | Action::Answer(grant) = &outcome.action {
        if let Some(old) = ctx.grant.borrow_mut().replace(grant.clone()) {
            ctx.kept_grants.borrow_mut().push(old);
        }
        if !loc.require.is_empty() {
            let values = require_values(request, loc);
            let forbidden = provider.enforce_require(&outcome, values.iter().map(Vec::as_slice));
            if let Some(forbidden) = forbidden {
                return apply(
                    request, main, provider, index, loc, ctx, worker, forbidden, now,
                );
            }
        }
    }
    crate::metrics::record(main, index, &outcome);
    if !outcome.cookies.is_empty() {
        request
            .set_cookies(&outcome.cookies)
            .map_err(|()| "cannot add Set-Cookie")?;
    }
    match outcome.action {
        Action::Allow(grant) => {
            let headers = loc.location.set_headers();
            // The module's identity replaces any client-sent one, also where stripping is
            // off (it was stripped already where it is on).
            if headers && !loc.location.strips_identity_headers() {
                request
                    .strip_identity_headers()
                    .map_err(|()| "cannot rebuild request headers")?;
            }
            if headers || grant.strip_authorization {
                let injected = request
                    .inject(&grant, provider, headers)
                    .map_err(|()| "cannot add identity headers")?;
                *ctx.injected.borrow_mut() = Some(injected);
            }
            Ok(NGX_OK as ngx_int_t)
        }
        Action::Pass => Ok(NGX_OK as ngx_int_t),
        Action::Respond(response) => Ok(request.respond(&response)),
        Action::Answer(grant) => Ok(request.answer(&grant, provider)),
        Action::Exchange(exchange) => {
            *ctx.token_request_body.borrow_mut() = Some(exchange.body);
            *ctx.exchange.borrow_mut() = Some(ExchangeState {
                pending: Some(exchange.pending),
                started_ms: current_msec(),
                done: false,
                status: 0,
                body: Vec::new(),
            });
            if request.start_token_request(&exchange.uri, ctx).is_ok() {
                return Ok(NGX_AGAIN as ngx_int_t);
            }
            // Could not start: answer as an exchange that failed inside nginx.
            let failed = resume(
                request,
                &loc.location,
                provider,
                worker,
                ctx,
                now,
                main,
                index,
            )?;
            apply(
                request, main, provider, index, loc, ctx, worker, failed, now,
            )
        }
        // The caller reads bodies, with the worker state released.
        Action::ReadBody(_) => Err("a body read inside apply"),
    }
}

/// `authentik_require`'s values, evaluated now that the identity is in the request context
/// (they may read it). A value that does not evaluate is empty, which fails.
fn require_values(request: &mut HttpRequest<'_>, loc: &LocConf) -> Vec<Vec<u8>> {
    let r = request.raw();
    loc.require
        .iter()
        .map(|&cv| {
            let mut out = ngx_str_t {
                len: 0,
                data: std::ptr::null_mut(),
            };
            // SAFETY: `cv` was compiled for this configuration; `r` is live and the result
            // lives in its pool.
            unsafe {
                if ngx_http_complex_value(r, cv, &mut out) == NGX_OK as ngx_int_t {
                    bytes(&out).to_vec()
                } else {
                    Vec::new()
                }
            }
        })
        .collect()
}

fn log_line(request: &HttpRequest<'_>, outcome: &Outcome) {
    for line in outcome.notes.iter().chain(&outcome.log) {
        let level = match line.level {
            Level::Crit => NGX_LOG_CRIT,
            Level::Error => NGX_LOG_ERR,
            Level::Warn => NGX_LOG_WARN,
            Level::Info => NGX_LOG_INFO,
        };
        ngx::ngx_log_error!(level, request.log(), "{}", line.message);
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Allow(_) => "allow",
        Action::Pass => "pass",
        Action::Respond(_) => "respond",
        Action::Answer(_) => "answer",
        Action::Exchange(_) => "token request",
        Action::ReadBody(_) => "read body",
    }
}
