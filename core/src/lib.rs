//! Every decision of ngx_http_authentik_module, with no knowledge of nginx.
//!
//! The nginx glue reads a request once into [`request::RequestFacts`], asks
//! [`provider::Provider::decide`] for one [`decision::Outcome`], and applies it. Configuration
//! is parsed and checked here too ([`conf`]). docs/architecture.md describes the whole flow.
#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod basic;
pub mod cache;
pub mod claims;
pub mod conf;
pub mod cookie;
pub mod decision;
mod endpoints;
pub mod fields;
pub mod forward;
pub mod headers;
pub mod identity;
pub mod keys;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod policy;
pub mod provider;
pub mod redirect;
pub mod remote_jwks;
pub mod renewal;
pub mod request;
pub mod revocation;
pub mod sanitize;
pub mod seal;
pub mod session;
pub mod skip;
pub mod token;

/// `ngx_http_authentik_module/<version>`, the value of `$authentik_meta_version`.
pub const META_VERSION: &str = concat!("ngx_http_authentik_module/", env!("CARGO_PKG_VERSION"));
