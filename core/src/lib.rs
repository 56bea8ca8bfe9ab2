//! Every decision of ngx_http_authentik_module, with no knowledge of nginx.
//!
//! The nginx glue in the module crate moves bytes between nginx and these functions:
//! tokens and keys ([`keys`], [`token`]), session sealing and cookies ([`seal`], [`session`],
//! [`cookie`]), identities and header values ([`identity`], [`sanitize`]), policies
//! ([`policy`], [`skip`]), request classification ([`request`]), the verified-token cache
//! ([`cache`]) and the assembled provider ([`provider`]).

pub mod cache;
pub mod cookie;
pub mod identity;
pub mod keys;
pub mod login;
pub mod policy;
pub mod provider;
pub mod request;
pub mod sanitize;
pub mod seal;
pub mod session;
pub mod skip;
pub mod token;
pub mod url;

/// `ngx_http_authentik_module/<version>`, the value of `$authentik_meta_version`.
pub const META_VERSION: &str = concat!("ngx_http_authentik_module/", env!("CARGO_PKG_VERSION"));
