//! Every file in `nginx-conf/` passes `nginx -t` with the module under test.
//!
//! Each file names its context in a `# Context: main|http|server.` line near the top:
//! * `http` files (the site examples) are included inside `http { }` by the harness's
//!   [`Conf`], which loads the module;
//! * `server` files (`token-request.conf`, `jwks-request.conf`) are included in a server
//!   protected by a provider that names their location ([`SERVER_SNIPPETS`]);
//! * `main` files (`mod-http-authentik.conf`) load the module themselves: they are checked in
//!   a Debian-style `nginx.conf` (`include modules-enabled/*.conf;` at the top,
//!   `include conf.d/*.conf;` in `http { }`) with the module under test linked at
//!   `<prefix>/modules/ngx_http_authentik_module.so`, so the file's `load_module` line is
//!   checked verbatim;
//! * `http, of an nginx without the module` (`auth-request-front.conf`, a front end of the
//!   forward-auth endpoints) is checked by Debian's stock `/usr/sbin/nginx -t`, no module
//!   loaded;
//! * `traefik` (`traefik-dynamic.yml`) is parsed as YAML and its keys checked (Traefik is not in
//!   Debian); `caddy` (`Caddyfile`) is checked by `caddy validate` of Debian's caddy.
//!
//! Only the machine-specific parts are rewritten, and the rest of each file is checked as
//! written:
//! * `/etc/nginx/authentik/X` points into a temp dir holding a valid file for every `X` the
//!   configuration names: for `*.conf` the same-named file of `nginx-conf/` (itself
//!   rewritten), for `*.jwks` the RSA key of the JWKS fixture, and for any other name a
//!   64-byte secret of mode 0600;
//! * `ssl_certificate` / `ssl_certificate_key` point at a self-signed certificate made with
//!   the openssl CLI;
//! * `listen <port>` becomes `listen 127.0.0.1:<free port>` (no privileged ports, no clash
//!   with a running nginx);
//! * `proxy_pass` hosts that are not an `upstream` of the file become 127.0.0.1 (`nginx -t`
//!   resolves them, and `authentik.company` does not exist);
//! * `/var/log/nginx/` points into the temp dir.
//!
//! A check passes on exit status 0 with "test is successful", no `[emerg]`, and no `[warn]`
//! other than the ones listed in [`EXPECTED_WARNINGS`] (which must appear).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use authentik_core::fields::FIELDS;
use authentik_integration::conf_check::nginx_t_main;
use authentik_integration::front::{caddy_bin, stock_nginx_bin, stock_nginx_conf};
use authentik_integration::tmp::TempDir;
use authentik_integration::{env, free_port, provider, server, Conf, JWKS};

const CONF_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../nginx-conf");

/// Every file of nginx-conf/ has a test below; `every_file_is_checked` keeps this list honest.
const FILES: [&str; 12] = [
    "Caddyfile",
    "api-bearer.conf",
    "auth-request-front.conf",
    "domain-level.conf",
    "jwks-request.conf",
    "metrics.conf",
    "migration.conf",
    "mod-http-authentik.conf",
    "outpost.conf",
    "single-application.conf",
    "token-request.conf",
    "traefik-dynamic.yml",
];

/// The provider setting that names the location of each `server` file.
const SERVER_SNIPPETS: &[(&str, &str)] = &[
    ("token-request.conf", "token_request /_authentik_token;"),
    ("jwks-request.conf", "jwks_request /_authentik_jwks;"),
];

/// Warnings `nginx -t` must print for a file (and the only ones it may print).
const EXPECTED_WARNINGS: &[(&str, &str)] = &[
    (
        "api-bearer.conf",
        r#"authentik_provider "partner_api" has no token_request"#,
    ),
    // Checked with a provider that names only this snippet's location.
    (
        "jwks-request.conf",
        r#"authentik_provider "app" has no token_request"#,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Main,
    Http,
    Server,
    /// The http block of an nginx without the module.
    StockHttp,
    Traefik,
    Caddy,
}

fn read_example(name: &str) -> String {
    let path = Path::new(CONF_DIR).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The `# Context: …` line of a file's header comment.
fn context_of(name: &str, text: &str) -> Context {
    let line = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        .find_map(|l| l.trim_start_matches(['#', ' ']).strip_prefix("Context:"))
        .unwrap_or_else(|| panic!("{name}: no \"# Context: main|http|server.\" line at the top"));
    let word = line.trim().split(['.', ' ', ',', ';']).next().unwrap_or("");
    match word {
        "main" => Context::Main,
        "http" if line.contains("of an nginx without the module") => Context::StockHttp,
        "http" => Context::Http,
        "traefik" => Context::Traefik,
        "caddy" => Context::Caddy,
        "server" => Context::Server,
        other => panic!("{name}: unknown context {other:?}"),
    }
}

/// The machine-specific files the examples refer to, made real in a temp dir.
struct Etc {
    dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
    ports: HashMap<String, u16>,
}

impl Etc {
    fn new() -> Etc {
        let dir = TempDir::new("conf-etc");
        dir.mkdir("authentik");
        dir.mkdir("logs");
        let tls = dir.mkdir("tls");
        let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .arg("ec_paramgen_curve:prime256v1")
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=app.company",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl (the openssl CLI is needed for the TLS examples)");
        assert!(
            out.status.success(),
            "openssl req failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for file in [&cert, &key] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))
                .expect("chmod tls file");
        }
        Etc {
            dir,
            cert,
            key,
            ports: HashMap::new(),
        }
    }

    fn authentik_dir(&self) -> String {
        format!("{}/authentik/", self.dir.path().display())
    }

    /// `text` with the machine-specific parts replaced (see the file comment).
    fn localize(&mut self, text: &str) -> String {
        let upstreams: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("upstream "))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect();
        let mut out = String::with_capacity(text.len() + 256);
        for line in text.lines() {
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            let rewritten = if body.starts_with('#') {
                None
            } else if let Some(rest) = body.strip_prefix("ssl_certificate_key ") {
                Some(format!(
                    "ssl_certificate_key {};{}",
                    self.key.display(),
                    tail(rest)
                ))
            } else if let Some(rest) = body.strip_prefix("ssl_certificate ") {
                Some(format!(
                    "ssl_certificate {};{}",
                    self.cert.display(),
                    tail(rest)
                ))
            } else if let Some(rest) = body.strip_prefix("listen ") {
                Some(self.listen(rest))
            } else {
                body.strip_prefix("proxy_pass ")
                    .map(|rest| format!("proxy_pass {}", local_host(rest, &upstreams)))
            };
            out.push_str(indent);
            out.push_str(rewritten.as_deref().unwrap_or(body));
            out.push('\n');
        }
        out.replace("/etc/nginx/authentik/", &self.authentik_dir())
            .replace(
                "/var/log/nginx/",
                &format!("{}/logs/", self.dir.path().display()),
            )
    }

    /// `listen [addr:]port rest` → `listen 127.0.0.1:<free port for port> rest`.
    fn listen(&mut self, rest: &str) -> String {
        let (address, params) = rest.split_once([' ', ';']).unwrap_or((rest, ""));
        let port = address.rsplit(':').next().unwrap_or(address).to_string();
        assert!(
            port.bytes().all(|b| b.is_ascii_digit()),
            "unexpected listen address {address:?}"
        );
        let local = *self.ports.entry(port).or_insert_with(free_port);
        let sep = if rest[address.len()..].starts_with(';') {
            ";"
        } else {
            " "
        };
        format!("listen 127.0.0.1:{local}{sep}{params}")
    }

    /// Write every `/etc/nginx/authentik/…` file that `localized` refers to.
    fn provide(&mut self, localized: &str) {
        let dir = self.authentik_dir();
        let mut names: Vec<String> = localized
            .match_indices(&dir)
            .map(|(i, _)| {
                localized[i + dir.len()..]
                    .split(|c: char| c == ';' || c == '"' || c.is_whitespace())
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            assert!(
                !name.is_empty() && !name.contains('/'),
                "odd path {dir}{name}"
            );
            let target = format!("authentik/{name}");
            if self.dir.path().join(&target).exists() {
                continue;
            }
            if name.ends_with(".conf") {
                let snippet = self.localize(&read_example(&name));
                self.dir.write(&target, snippet.as_bytes());
                self.provide(&snippet);
            } else if name.ends_with(".jwks") {
                self.dir.write(&target, rsa_jwks().as_bytes());
            } else {
                // A client or cookie secret: 64 bytes, with the usual final newline, readable
                // by its owner only (the module warns about secrets others can read).
                let secret = format!("{}\n", "0123456789abcdef".repeat(4));
                let path = self.dir.write(&target, secret.as_bytes());
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod secret");
            }
        }
    }
}

/// What follows the first `;` of a directive (usually a trailing comment).
fn tail(rest: &str) -> &str {
    rest.split_once(';').map_or("", |(_, t)| t)
}

/// `scheme://host[:port]/path;` with a host that is not an upstream name or an address
/// replaced by 127.0.0.1.
fn local_host(rest: &str, upstreams: &[String]) -> String {
    let Some((scheme, after)) = rest.split_once("://") else {
        return rest.to_string();
    };
    let end = after.find(['/', ';', ' ']).unwrap_or(after.len());
    let (hostport, path) = after.split_at(end);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (hostport, None),
    };
    let keep = host.contains('$')
        || host.parse::<std::net::IpAddr>().is_ok()
        || host.starts_with('[')
        || upstreams.iter().any(|u| u == host);
    if keep {
        return rest.to_string();
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://127.0.0.1{port}{path}")
}

/// The RSA key of the JWKS fixture, alone: a valid RS256 JWKS.
fn rsa_jwks() -> String {
    let jwks: serde_json::Value = serde_json::from_str(JWKS).expect("JWKS fixture");
    let rsa: Vec<serde_json::Value> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["kty"] == "RSA")
        .cloned()
        .collect();
    assert!(!rsa.is_empty(), "no RSA key in the JWKS fixture");
    serde_json::json!({ "keys": rsa }).to_string()
}

/// A Debian-style nginx.conf: modules-enabled at the top, conf.d inside http.
const DEBIAN_NGINX_CONF: &str = "\
include @PREFIX@/modules-enabled/*.conf;
pid @PREFIX@/logs/nginx.pid;
lock_file @PREFIX@/logs/nginx.lock;
error_log @PREFIX@/logs/error.log info;
events {
    worker_connections 64;
}
http {
    access_log @PREFIX@/logs/access.log;
    client_body_temp_path @PREFIX@/temp/client_body;
    proxy_temp_path @PREFIX@/temp/proxy;
    fastcgi_temp_path @PREFIX@/temp/fastcgi;
    uwsgi_temp_path @PREFIX@/temp/uwsgi;
    scgi_temp_path @PREFIX@/temp/scgi;
    include @PREFIX@/conf.d/*.conf;
}
";

/// The outcome of one `nginx -t`: Ok, or the reason with everything needed to see why.
fn verdict(name: &str, success: bool, stderr: &str, shown: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    if !success || !stderr.contains("test is successful") {
        problems.push("nginx -t did not succeed".to_string());
    }
    let expected: Vec<&str> = EXPECTED_WARNINGS
        .iter()
        .filter(|(file, _)| *file == name)
        .map(|(_, w)| *w)
        .collect();
    for line in stderr.lines() {
        if line.contains("[emerg]") || line.contains("[alert]") || line.contains("[crit]") {
            problems.push(format!("error: {line}"));
        } else if line.contains("[warn]") && !expected.iter().any(|w| line.contains(w)) {
            problems.push(format!("unexpected warning: {line}"));
        }
    }
    for w in expected {
        if !stderr.contains(w) {
            problems.push(format!("expected warning missing: {w}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: {}\nnginx -t stderr:\n{stderr}\nchecked configuration:\n{shown}",
            problems.join("\n")
        ))
    }
}

/// `nginx -t` on `text`, given as the content of nginx-conf/`name`.
fn check_text(name: &str, text: &str) -> Result<(), String> {
    let context = context_of(name, text);
    match context {
        Context::Main => {
            let (success, stderr, shown) = debian_layout(text, &[]);
            return verdict(name, success, &stderr, &shown);
        }
        Context::StockHttp => return stock_nginx_t(name, text),
        Context::Traefik => return traefik_keys(text).map_err(|e| format!("{name}: {e}")),
        Context::Caddy => return caddy_validate(name, text),
        _ => {}
    }
    let mut etc = Etc::new();
    let localized = etc.localize(text);
    etc.provide(&localized);
    let path = etc.dir.write(&format!("site/{name}"), localized.as_bytes());
    match context {
        Context::Http => {
            let site = localized;
            let t = Conf::new(format!("include {};", path.display())).test();
            verdict(
                name,
                t.success,
                &t.stderr,
                &format!("{}\n{site}", t.conf_text),
            )
        }
        Context::Server => {
            let snippet = localized;
            let setting = SERVER_SNIPPETS
                .iter()
                .find(|(file, _)| *file == name)
                .map(|(_, setting)| *setting)
                .unwrap_or_else(|| panic!("{name}: not in SERVER_SNIPPETS"));
            let http = provider("app", setting)
                + &server(&format!(
                    "authentik app;\nlocation / {{ @PROXY@ }}\ninclude {};",
                    path.display()
                ));
            let t = Conf::new(http).test();
            verdict(
                name,
                t.success,
                &t.stderr,
                &format!("{}\n{snippet}", t.conf_text),
            )
        }
        Context::Main | Context::StockHttp | Context::Traefik | Context::Caddy => {
            unreachable!("checked above")
        }
    }
}

/// `nginx -t` on a Debian-style prefix: `module_file` in modules-enabled/ (verbatim, the
/// module under test linked where its load_module line points), `sites` in conf.d/.
fn debian_layout(module_file: &str, sites: &[&str]) -> (bool, String, String) {
    let prefix = TempDir::new("conf-debian");
    prefix.mkdir("modules");
    std::os::unix::fs::symlink(
        env::module_path(),
        prefix.path().join("modules/ngx_http_authentik_module.so"),
    )
    .expect("link the module under test into <prefix>/modules/");
    prefix.write(
        "modules-enabled/50-mod-http-authentik.conf",
        module_file.as_bytes(),
    );
    prefix.mkdir("conf.d");
    let mut etc = Etc::new();
    let mut shown = format!("modules-enabled/50-mod-http-authentik.conf:\n{module_file}\n");
    for site in sites {
        let text = etc.localize(&read_example(site));
        etc.provide(&text);
        prefix.write(&format!("conf.d/{site}"), text.as_bytes());
        shown.push_str(&format!("conf.d/{site}:\n{text}\n"));
    }
    let t = nginx_t_main(&prefix, DEBIAN_NGINX_CONF);
    (t.success, t.stderr, format!("{}\n{shown}", t.conf_text))
}

fn check(name: &str) {
    assert!(FILES.contains(&name), "{name} is not in FILES");
    if let Err(report) = check_text(name, &read_example(name)) {
        panic!("{report}");
    }
}

#[test]
fn mod_http_authentik_conf() {
    check("mod-http-authentik.conf");
}

#[test]
fn token_request_conf() {
    check("token-request.conf");
}

#[test]
fn jwks_request_conf() {
    check("jwks-request.conf");
}

#[test]
fn single_application_conf() {
    check("single-application.conf");
}

#[test]
fn domain_level_conf() {
    check("domain-level.conf");
}

#[test]
fn api_bearer_conf() {
    check("api-bearer.conf");
}

#[test]
fn metrics_conf() {
    check("metrics.conf");
}

#[test]
fn migration_conf() {
    check("migration.conf");
}

#[test]
fn every_file_is_checked() {
    let mut found: Vec<String> = std::fs::read_dir(CONF_DIR)
        .expect("read nginx-conf/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    found.sort();
    assert_eq!(
        found, FILES,
        "nginx-conf/ and the FILES list of tests/tests/nginx_conf.rs differ: give every file a \
         test"
    );
    for name in FILES {
        context_of(name, &read_example(name));
    }
}

/// The Debian package's files together: modules-enabled loads the module, a site in conf.d
/// includes /etc/nginx/authentik/token-request.conf.
#[test]
fn debian_layout_with_a_site() {
    let (success, stderr, shown) = debian_layout(
        &read_example("mod-http-authentik.conf"),
        &["single-application.conf"],
    );
    if let Err(report) = verdict("debian layout", success, &stderr, &shown) {
        panic!("{report}");
    }
}

/// The check is not blind: a typo, an unknown directive, a bad provider setting or a bad
/// value in an example fails it, with nginx's own reason.
#[test]
fn broken_examples_fail() {
    let original = read_example("single-application.conf");
    let cases = [
        (
            "authentik app;",
            "authentik app;\n    authentik_frobnicate on;",
            r#"unknown directive "authentik_frobnicate""#,
        ),
        (
            "authentik app;",
            "authentik app",
            r#"invalid number of arguments in "authentik" directive"#,
        ),
        (
            "authentik app;",
            "authentik ap;",
            r#"unknown authentik_provider "ap""#,
        ),
        (
            "token_request      /_authentik_token;",
            "tokenrequest /_authentik_token;",
            r#"unknown authentik_provider setting "tokenrequest""#,
        ),
        (
            "skip_path          ^/public/;",
            "skip_path \"^/(public/\";",
            "invalid skip_path regex",
        ),
        (
            "large_client_header_buffers 4 32k;",
            "large_client_header_buffers 4 32k",
            r#"invalid number of arguments in "large_client_header_buffers" directive"#,
        ),
        ("location /admin/ {", "location /admin/ { {", "unexpected"),
    ];
    for (from, to, reason) in cases {
        assert!(
            original.contains(from),
            "{from:?} is not in single-application.conf"
        );
        let broken = original.replacen(from, to, 1);
        match check_text("single-application.conf", &broken) {
            Ok(()) => panic!("{to:?}: the broken example passed the check"),
            Err(report) => assert!(
                report.contains(reason),
                "{to:?}: the check failed, but not with {reason:?}:\n{report}"
            ),
        }
    }
    let module = read_example("mod-http-authentik.conf").replace(
        "ngx_http_authentik_module.so",
        "ngx_http_authentik_modul.so",
    );
    match check_text("mod-http-authentik.conf", &module) {
        Ok(()) => panic!("a load_module line naming a missing file passed the check"),
        Err(report) => assert!(report.contains("dlopen()"), "{report}"),
    }
}

/// `nginx -t` of Debian's stock nginx (no module) on `text` as the content of `http {}`.
fn stock_nginx_t(name: &str, text: &str) -> Result<(), String> {
    let mut etc = Etc::new();
    let localized = etc.localize(text);
    etc.provide(&localized);
    let prefix = TempDir::new("conf-stock");
    for sub in ["conf", "logs", "temp"] {
        prefix.mkdir(sub);
    }
    let site = prefix.write(&format!("conf/{name}"), localized.as_bytes());
    let main = stock_nginx_conf(
        &prefix.path().display().to_string(),
        &format!("include {};", site.display()),
    );
    let conf = prefix.write("conf/nginx.conf", main.as_bytes());
    let out = Command::new(stock_nginx_bin())
        .arg("-p")
        .arg(format!("{}/", prefix.path().display()))
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(prefix.path().join("logs/error.log"))
        .arg("-t")
        .env_remove("NGINX")
        .output()
        .expect("run the stock nginx -t");
    let stderr = String::from_utf8_lossy(&out.stderr);
    verdict(
        name,
        out.status.success(),
        &stderr,
        &format!("{main}\n{localized}"),
    )
}

/// The keys of Traefik's dynamic configuration that the forward-auth set-up needs, and no
/// misspelt one: the middleware's address is the outpost's auth/traefik endpoint on the
/// internal address outpost.conf listens on, it trusts Traefik's forwarded headers, copies
/// every identity header, and a router uses it.
fn traefik_keys(text: &str) -> Result<(), String> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("YAML: {e}"))?;
    let at = |path: &[&str]| {
        path.iter()
            .try_fold(&yaml, |v, key| v.get(key))
            .ok_or_else(|| format!("no {}", path.join(".")))
    };
    let middlewares = at(&["http", "middlewares"])?
        .as_mapping()
        .ok_or("http.middlewares is not a map")?;
    let (name, middleware) = middlewares
        .iter()
        .find(|(_, m)| m.get("forwardAuth").is_some())
        .ok_or("no forwardAuth middleware")?;
    let forward = middleware["forwardAuth"]
        .as_mapping()
        .ok_or("forwardAuth is not a map")?;
    const KNOWN: [&str; 11] = [
        "address",
        "trustForwardHeader",
        "authResponseHeaders",
        "authResponseHeadersRegex",
        "authRequestHeaders",
        "tls",
        "addAuthCookiesToResponse",
        "headerField",
        "forwardBody",
        "maxBodySize",
        "preserveLocationHeader",
    ];
    for key in forward.keys() {
        let key = key.as_str().unwrap_or("");
        if !KNOWN.contains(&key) {
            return Err(format!("forwardAuth has an unknown key {key:?}"));
        }
    }
    let address = forward
        .get("address")
        .and_then(|a| a.as_str())
        .ok_or("forwardAuth.address is not a string")?;
    let internal = outpost_address();
    if address != format!("http://{internal}/outpost.goauthentik.io/auth/traefik") {
        return Err(format!(
            "forwardAuth.address {address:?} is not the auth/traefik endpoint of outpost.conf ({internal})"
        ));
    }
    if forward.get("trustForwardHeader").and_then(|t| t.as_bool()) != Some(true) {
        return Err("forwardAuth.trustForwardHeader is not true".into());
    }
    let headers: Vec<&str> = forward
        .get("authResponseHeaders")
        .and_then(|h| h.as_sequence())
        .ok_or("forwardAuth.authResponseHeaders is not a list")?
        .iter()
        .map(|h| h.as_str().unwrap_or(""))
        .collect();
    same_headers("authResponseHeaders", &headers)?;
    let routers = at(&["http", "routers"])?
        .as_mapping()
        .ok_or("http.routers is not a map")?;
    let used = routers.values().any(|router| {
        router
            .get("middlewares")
            .and_then(|m| m.as_sequence())
            .is_some_and(|m| m.iter().any(|m| m == name))
    });
    if !used {
        return Err(format!("no router uses the middleware {name:?}"));
    }
    for router in routers.values() {
        let service = router["service"].as_str().unwrap_or("");
        at(&["http", "services", service, "loadBalancer", "servers"])?;
    }
    Ok(())
}

/// `names` are the identity headers of core's field table, in its order (case-insensitive).
fn same_headers(what: &str, names: &[&str]) -> Result<(), String> {
    let expected: Vec<String> = FIELDS
        .iter()
        .map(|f| f.header.name().to_ascii_lowercase())
        .collect();
    let got: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} {got:?} are not the identity headers {expected:?}"
        ))
    }
}

/// Where outpost.conf listens (its first `listen`): what the front ends point at.
fn outpost_address() -> String {
    read_example("outpost.conf")
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("listen "))
        .and_then(|rest| rest.split([' ', ';']).next())
        .expect("outpost.conf has a listen line")
        .to_string()
}

/// `caddy validate` of Debian's caddy, and the forward_auth block's endpoint and headers.
fn caddy_validate(name: &str, text: &str) -> Result<(), String> {
    let dir = TempDir::new("conf-caddy");
    let file = dir.write("Caddyfile", text.as_bytes());
    let out = Command::new(caddy_bin())
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .expect("run caddy validate");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !output.contains("Valid configuration") {
        return Err(format!("{name}: caddy validate failed:\n{output}\n{text}"));
    }
    let words = |directive: &str| -> Vec<&str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(directive))
            .map(|rest| rest.split_whitespace().collect())
            .unwrap_or_default()
    };
    let internal = outpost_address();
    if words("forward_auth ").first() != Some(&internal.as_str()) {
        return Err(format!("{name}: forward_auth does not point at {internal}"));
    }
    if words("uri ") != ["/outpost.goauthentik.io/auth/caddy"] {
        return Err(format!(
            "{name}: the forward_auth uri is not the auth/caddy endpoint"
        ));
    }
    same_headers("copy_headers", &words("copy_headers "))
}

#[test]
fn outpost_conf() {
    check("outpost.conf");
}

#[test]
fn auth_request_front_conf() {
    check("auth-request-front.conf");
}

#[test]
fn traefik_dynamic_yml() {
    check("traefik-dynamic.yml");
}

#[test]
fn caddyfile() {
    check("Caddyfile");
}

/// The front-end checks are not blind either.
#[test]
fn broken_front_ends_fail() {
    let cases = [
        (
            "traefik-dynamic.yml",
            "trustForwardHeader: true",
            "trustForwardHeaders: true",
            "unknown key",
        ),
        (
            "traefik-dynamic.yml",
            "trustForwardHeader: true",
            "trustForwardHeader: false",
            "not true",
        ),
        (
            "traefik-dynamic.yml",
            "          - X-authentik-jwt\n",
            "",
            "are not the identity headers",
        ),
        (
            "traefik-dynamic.yml",
            "auth/traefik",
            "auth/nginx",
            "not the auth/traefik endpoint",
        ),
        (
            "traefik-dynamic.yml",
            "        - authentik\n",
            "        - other\n",
            "no router uses",
        ),
        ("traefik-dynamic.yml", "  routers:", "routers:\n  :", "YAML"),
        (
            "Caddyfile",
            "\t\tcopy_headers",
            "\t\tcopy_headerz",
            "caddy validate failed",
        ),
        (
            "Caddyfile",
            "X-Authentik-Jwt ",
            "",
            "are not the identity headers",
        ),
        (
            "Caddyfile",
            "auth/caddy",
            "auth/traefik",
            "not the auth/caddy endpoint",
        ),
        (
            "auth-request-front.conf",
            "auth_request     /",
            "auth_requets /",
            "unknown directive",
        ),
    ];
    for (name, from, to, reason) in cases {
        let original = read_example(name);
        assert!(original.contains(from), "{from:?} is not in {name}");
        match check_text(name, &original.replacen(from, to, 1)) {
            Ok(()) => panic!("{name}: {to:?}: the broken example passed the check"),
            Err(report) => assert!(
                report.contains(reason),
                "{name}: {to:?}: failed, but not with {reason:?}:\n{report}"
            ),
        }
    }
}
