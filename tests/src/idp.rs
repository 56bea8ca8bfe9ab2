//! The authentik-shaped OpenID provider of `tests/idp/` (`authentik-idp.mjs`), run as a child
//! process on a free loopback port.
//!
//! [`Idp::start`] runs `node tests/idp/authentik-idp.mjs` with `IDP_PORT=0` and
//! `IDP_READY_FILE`, waits for the ready file and parses it. The process leads its own process
//! group and is stopped (SIGTERM, then SIGKILL) on drop. Its node_modules must be installed:
//! `cd tests/idp && npm ci` (scripts/test does it). `AUTHENTIK_TEST_NODE` overrides the `node`
//! binary.
//!
//! [`Idp::provider`], [`Idp::token_location`] and [`Idp::jwks_location`] give the nginx
//! configuration that logs in against it; [`Idp::token_requests`], [`Idp::token_mode`],
//! [`Idp::fail_token`], [`Idp::rotate_key`], [`Idp::jwks_mode`] and [`Idp::jwks_requests`]
//! drive its `/-/test/` switches.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Request, Response};
use crate::tmp::TempDir;
use crate::tokens::COOKIE_SECRET;

/// Environment variable naming the node binary (default `node` from `PATH`).
pub const NODE_VAR: &str = "AUTHENTIK_TEST_NODE";

/// How to start an IdP: extra `IDP_*` environment variables.
#[derive(Debug, Clone, Default)]
pub struct IdpBuilder {
    env: Vec<(String, String)>,
}

impl IdpBuilder {
    /// Set `IDP_<name>` (e.g. `env("AUTO_LOGIN", "akadmin")`), or any variable that already
    /// starts with `IDP_`.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> IdpBuilder {
        let name = if name.starts_with("IDP_") {
            name.to_string()
        } else {
            format!("IDP_{name}")
        };
        self.env.push((name, value.into()));
        self
    }

    /// `IDP_AUTO_LOGIN=user`: the login step completes as `user` with no form.
    pub fn auto_login(self, user: &str) -> IdpBuilder {
        self.env("AUTO_LOGIN", user)
    }

    pub fn start(self) -> Idp {
        Idp::start_with(self)
    }
}

/// A running IdP.
pub struct Idp {
    child: Option<Child>,
    /// The parsed ready line.
    pub info: Value,
    pub port: u16,
    /// `http://127.0.0.1:<port>/application/o/test-app/`
    pub issuer: String,
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    pub client_id: String,
    pub client_secret: String,
    dir: TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("idp/authentik-idp.mjs")
}

fn node() -> String {
    std::env::var(NODE_VAR)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "node".to_string())
}

impl Idp {
    pub fn builder() -> IdpBuilder {
        IdpBuilder::default()
    }

    /// An IdP with the default settings (the login form is shown: no auto login).
    pub fn start() -> Idp {
        IdpBuilder::default().start()
    }

    fn start_with(builder: IdpBuilder) -> Idp {
        let script = script();
        let modules = script.with_file_name("node_modules");
        assert!(
            modules.join("oidc-provider").is_dir(),
            "{} is missing: run `cd tests/idp && npm ci` (scripts/test does it)",
            modules.display()
        );
        let dir = TempDir::new("idp");
        let ready = dir.path().join("ready.json");
        let stderr = File::create(dir.path().join("stderr.log")).expect("idp stderr log");
        let mut cmd = Command::new(node());
        cmd.arg(&script)
            .current_dir(script.parent().expect("tests/idp"))
            .env("IDP_PORT", "0")
            .env("IDP_HOST", "127.0.0.1")
            .env("IDP_READY_FILE", &ready)
            .env_remove("NGINX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in &builder.env {
            cmd.env(k, v);
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {}: {e}", node(), script.display()));
        let mut idp = Idp {
            child: Some(child),
            info: Value::Null,
            port: 0,
            issuer: String::new(),
            origin: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            dir,
        };
        let info = idp.wait_ready(&ready);
        let text = |k: &str| {
            info[k]
                .as_str()
                .unwrap_or_else(|| panic!("ready line lacks {k:?}: {info}"))
                .to_string()
        };
        idp.port = info["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("ready line lacks a port: {info}"));
        idp.issuer = text("issuer");
        idp.origin = text("origin");
        idp.client_id = text("client_id");
        idp.client_secret = text("client_secret");
        assert_eq!(info["ready"], Value::Bool(true), "{info}");
        idp.info = info;
        idp
    }

    fn wait_ready(&mut self, ready: &std::path::Path) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(text) = std::fs::read_to_string(ready) {
                if let Ok(v) = serde_json::from_str::<Value>(text.trim()) {
                    return v;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the IdP exited with {status} before it was ready\n{}",
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!("the IdP was not ready after 20 s\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the IdP wrote on stderr (with `IDP_LOG=1`, one line per request).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// `host:port` of the IdP, for a `Host` header.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `GET path` on the IdP.
    pub fn get(&self, path: &str) -> Response {
        Request::get(path)
            .header("Host", self.authority())
            .send(self.port)
    }

    fn admin(&self, path: &str) -> Value {
        let r = self.get(&format!("/-/test/{path}"));
        assert_eq!(r.status, 200, "IdP /-/test/{path}: {}", r.text());
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("IdP /-/test/{path} is not JSON ({e}): {}", r.text()))
    }

    /// The token requests the IdP has received (newest last).
    pub fn token_requests(&self) -> Vec<Value> {
        match self.admin("token-requests") {
            Value::Array(list) => list,
            other => panic!("token-requests is not a list: {other}"),
        }
    }

    /// Set the token-endpoint mode; with `once`, it goes back to `ok` after one request.
    pub fn token_mode(&self, mode: &str, once: bool) {
        let v = self.admin(&format!("token-mode?mode={mode}&once={}", u8::from(once)));
        assert_eq!(v["mode"], mode, "{v}");
    }

    /// Make the token endpoint answer `invalid_grant` (or stop doing so).
    pub fn fail_token(&self, on: bool) {
        self.admin(&format!("fail-token?on={}", u8::from(on)));
    }

    /// An `authentik_provider NAME { … }` block for this IdP: its issuer, client id and
    /// secret, the standard cookie secret, `external_host`, `token_request /_authentik_token`
    /// and `extra` settings.
    pub fn provider(&self, name: &str, external_host: &str, extra: &str) -> String {
        format!(
            "authentik_provider {name} {{\n\
             issuer {issuer};\n\
             client_id {client_id};\n\
             client_secret {secret};\n\
             cookie_secret {COOKIE_SECRET};\n\
             external_host {external_host};\n\
             token_request /_authentik_token;\n\
             {extra}\n\
             }}\n",
            issuer = self.issuer,
            client_id = self.client_id,
            secret = self.client_secret,
        )
    }

    /// The internal location `/_authentik_token` of docs/architecture.md §6 (the shipped snippet, minus
    /// TLS), proxying to this IdP's token endpoint. Goes in a server block.
    pub fn token_location(&self) -> String {
        format!(
            "location = /_authentik_token {{\n\
             internal;\n\
             proxy_method POST;\n\
             proxy_pass_request_headers off;\n\
             proxy_set_header Content-Type application/x-www-form-urlencoded;\n\
             proxy_set_body $authentik_token_request_body;\n\
             proxy_set_header Host {authority};\n\
             subrequest_output_buffer_size 64k;\n\
             proxy_connect_timeout 5s;\n\
             proxy_read_timeout 15s;\n\
             proxy_pass {origin}/application/o/token/;\n\
             }}\n",
            authority = self.authority(),
            origin = self.origin,
        )
    }

    /// The internal location `/_authentik_jwks` of nginx-conf/jwks-request.conf (minus TLS),
    /// proxying to this IdP's JWKS. Goes in a server block.
    pub fn jwks_location(&self) -> String {
        format!(
            "location = /_authentik_jwks {{\n\
             internal;\n\
             proxy_method GET;\n\
             proxy_pass_request_headers off;\n\
             proxy_pass_request_body off;\n\
             proxy_set_header Host {authority};\n\
             subrequest_output_buffer_size 64k;\n\
             proxy_connect_timeout 5s;\n\
             proxy_read_timeout 10s;\n\
             proxy_pass {issuer}jwks/;\n\
             }}\n",
            authority = self.authority(),
            issuer = self.issuer,
        )
    }

    /// RS/ES mode: sign with a new key from now on (the old ones stay published); its kid.
    pub fn rotate_key(&self) -> String {
        let v = self.admin("rotate-key");
        v["kid"].as_str().expect("rotate-key kid").to_string()
    }

    /// RS/ES mode: publish only the current signing key.
    pub fn drop_old_keys(&self) {
        self.admin("drop-old-keys");
    }

    /// What the JWKS endpoint answers (`ok`, `down`, `garbage`, `huge`, `private`, …).
    pub fn jwks_mode(&self, mode: &str) {
        let v = self.admin(&format!("jwks-mode?mode={mode}"));
        assert_eq!(v["mode"], mode, "{v}");
    }

    /// How many JWKS GETs the IdP has served.
    pub fn jwks_requests(&self) -> u64 {
        self.admin("jwks-requests")["count"]
            .as_u64()
            .expect("jwks-requests count")
    }

    /// The app password of `user` (from the ready line).
    pub fn app_password(&self, user: &str) -> String {
        self.info["users"]
            .as_array()
            .and_then(|users| users.iter().find(|u| u["username"] == user))
            .and_then(|u| u["app_password"].as_str())
            .unwrap_or_else(|| panic!("no app password for {user}: {}", self.info))
            .to_string()
    }

    /// The IdP's answer to authentik's app-password `client_credentials` grant, asked
    /// directly (not through nginx).
    pub fn client_credentials(&self, user: &str, password: &str) -> Response {
        let form = format!(
            "grant_type=client_credentials&client_id={}&username={}&password={}&scope=openid%20profile%20email%20ak_proxy",
            self.client_id,
            crate::navigate::encode(user),
            crate::navigate::encode(password),
        );
        Request::new("POST", "/application/o/token/")
            .header("Host", self.authority())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send(self.port)
    }

    /// The access token of `user`'s app password, signed with the IdP's current key.
    pub fn access_token(&self, user: &str) -> String {
        let r = self.client_credentials(user, &self.app_password(user));
        assert_eq!(r.status, 200, "client_credentials: {}", r.text());
        let v: Value = serde_json::from_slice(&r.body).expect("token answer");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// The token requests of `grant_type` the IdP has received.
    pub fn token_requests_of(&self, grant_type: &str) -> usize {
        self.token_requests()
            .iter()
            .filter(|r| r["grant_type"] == grant_type)
            .count()
    }

    /// Stop the IdP now (what drop does): authentik is down.
    pub fn stop(&mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: signalling our own child process, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: the child is still alive (not reaped), so its pid is still its process group
        // id; the group holds only the IdP.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = child.wait();
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.stderr();
            if !log.is_empty() {
                eprintln!("--- IdP {} stderr ---\n{log}", self.port);
            }
        }
    }
}
