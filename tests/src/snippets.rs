//! Configuration blocks most tests share.

use crate::tokens::{CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, EXTERNAL_HOST, ISSUER};

/// Proxy to this instance's echo upstream.
pub const PROXY: &str = "proxy_pass http://@ECHO@;";

/// `authentik_provider NAME { … }` with the standard issuer, client id and secrets (see
/// [`crate::tokens`]) plus `extra` settings.
pub fn provider(name: &str, extra: &str) -> String {
    format!(
        "authentik_provider {name} {{\n\
         issuer {ISSUER};\n\
         client_id {CLIENT_ID};\n\
         client_secret {CLIENT_SECRET};\n\
         cookie_secret {COOKIE_SECRET};\n\
         external_host {EXTERNAL_HOST};\n\
         {extra}\n\
         }}\n"
    )
}

/// A server on `@PORT@` (server_name localhost) exposing `$authentik_status` as the response
/// header `X-Authentik-Status`, with `body` inside.
pub fn server(body: &str) -> String {
    format!(
        "server {{\n\
         listen 127.0.0.1:@PORT@;\n\
         server_name localhost;\n\
         add_header X-Authentik-Status $authentik_status always;\n\
         {body}\n\
         }}\n"
    )
}
