//! Harness for the integration tests of ngx_http_authentik_module.
//!
//! Every test starts its own nginx (own prefix directory, own loopback port) with the module
//! loaded, plus its own echo upstream, so tests run in parallel. The nginx binary and the
//! module come from `AUTHENTIK_TEST_NGINX` and `AUTHENTIK_TEST_MODULE` (see [`env`]).
//!
//! * [`nginx`]: configuration rendering, start/stop, `nginx -t`.
//! * [`echo`]: the upstream that reports what nginx passed on.
//! * [`client`]: a raw HTTP/1.1 client that can send hostile headers.
//! * [`tokens`]: authentik-shaped JWTs and the key fixtures.
//! * [`session`]: sealed session cookies, through `authentik-core`.
//! * [`snippets`]: the configuration blocks most tests share.
//! * [`idp`]: the authentik-shaped OpenID provider of `tests/idp/`, as a child process
//!   (needs `cd tests/idp && npm ci`).
//! * [`fastcgi`]: a FastCGI responder that echoes the params it received.
//! * [`navigate`]: a scripted browser (cookie jar, redirects across nginx and the IdP).
//! * [`front`]: a proxy in front of the module's nginx for the forward-auth endpoints:
//!   Debian's stock nginx (no module) or Debian's caddy.
//!
//! Run: `scripts/build vendored` (prints `module=…` and `nginx=…`), then
//! `AUTHENTIK_TEST_MODULE=<module> AUTHENTIK_TEST_NGINX=<nginx> cargo test -p
//! authentik-integration`. `AUTHENTIK_TEST_DEBUG_LOG=1` logs at `debug`;
//! `AUTHENTIK_TEST_KEEP=1` keeps every prefix directory (configuration and logs).

pub mod client;
pub mod conf_check;
pub mod echo;
pub mod env;
pub mod fastcgi;
pub mod front;
pub mod idp;
pub mod navigate;
pub mod nginx;
pub mod procs;
pub mod session;
pub mod snippets;
pub mod tmp;
pub mod tokens;

pub use client::{Request, Response};
pub use echo::{Echo, Seen};
pub use nginx::{free_port, nginx_t, Conf, Nginx, NginxT};
pub use session::{cookie_header, default_cookie_name, seal_for, session, tamper_value};
pub use snippets::{provider, server, PROXY};
pub use tokens::*;
