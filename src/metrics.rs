//! Counting decisions in the metrics zone, and `authentik_metrics;`: a content handler that
//! answers the Prometheus text exposition format.

use std::ffi::{c_char, c_void};
use std::ptr;

use authentik_core::decision::{Action, Body, Event, Outcome, Response};
use authentik_core::metrics::Slot;
use authentik_core::revocation;
use ngx::core::NGX_CONF_ERROR;
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_discard_request_body, ngx_http_request_t, ngx_int_t,
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule};

use crate::conf::MainConf;
use crate::directives::conf_error;
use crate::ffi::guard;
use crate::request::HttpRequest;

/// Count one decision (an exchange in flight is counted when it resumes).
pub fn record(main: &MainConf, provider: usize, outcome: &Outcome) {
    let (Some(m), Some(slot)) = (main.metrics.metrics(), main.metrics.slot(provider)) else {
        return;
    };
    if !matches!(outcome.action, Action::Exchange(_)) {
        m.request(slot, outcome.status, outcome.cache);
    }
    for event in &outcome.events {
        match *event {
            Event::Login(result) => m.login(slot, result),
            Event::Extra(extra) => m.extra(slot, extra),
            // Counted with its duration by `token_requests`.
            Event::TokenRequest(..) => {}
        }
    }
}

/// Count the token requests an outcome reports, `millis` after the subrequest started.
pub fn token_requests(main: &MainConf, provider: usize, outcome: &Outcome, millis: u64) {
    let (Some(m), Some(slot)) = (main.metrics.metrics(), main.metrics.slot(provider)) else {
        return;
    };
    for event in &outcome.events {
        if let Event::TokenRequest(grant, result) = *event {
            m.token_request(slot, grant, result, millis);
        }
    }
}

/// `authentik_metrics;` in a location.
pub unsafe extern "C" fn authentik_metrics(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: nginx calls directive handlers with the configuration being parsed.
        let Some(core) = NgxHttpCoreModule::location_conf_mut(unsafe { &*cf }) else {
            return conf_error(cf, &"authentik_metrics: no location configuration");
        };
        if core.handler.is_some() {
            return conf_error(cf, &"\"authentik_metrics\" directive is duplicate");
        }
        core.handler = Some(metrics_handler);
        ptr::null_mut()
    })
}

unsafe extern "C" fn metrics_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    guard(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || {
        // SAFETY: nginx calls content handlers with a live request.
        let mut request = unsafe { HttpRequest::from_raw(r) };
        // SAFETY: as above.
        let method = unsafe { (*r).method } as u32;
        if method != NGX_HTTP_GET && method != NGX_HTTP_HEAD {
            return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
        }
        // SAFETY: as above.
        let rc = unsafe { ngx_http_discard_request_body(r) };
        if rc != NGX_OK as ngx_int_t {
            return rc;
        }
        let Some((main, _)) = request.confs() else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        };
        let Some(text) = scrape(main) else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        };
        let response = Response {
            status: 200,
            headers: vec![("Cache-Control", "no-store".into())],
            body: Some(Body {
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                bytes: text.into_bytes(),
            }),
            ..Default::default()
        };
        request.send(&response)
    })
}

fn scrape(main: &MainConf) -> Option<String> {
    let m = main.metrics.metrics()?;
    let providers: Vec<(&str, Slot)> = main
        .providers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p.name(), main.metrics.slot(i)?)))
        .collect();
    let gauges: Vec<(&str, &str, u64)> = match main.revocations.zone.cells() {
        Some(cells) => vec![
            (
                "authentik_revocation_entries",
                "Entries in the revocation zone that may still be live (revoked sessions, users and used logout tokens).",
                revocation::live_entries(cells),
            ),
            (
                "authentik_revocation_capacity",
                "Entries the revocation zone holds.",
                revocation::capacity_of(cells) as u64,
            ),
        ],
        None => Vec::new(),
    };
    Some(m.render(&providers, &gauges))
}
