//! A proxy in front of the module's nginx, for the forward-auth endpoints: Debian's stock nginx
//! (`/usr/sbin/nginx`, no module loaded; `AUTHENTIK_TEST_STOCK_NGINX` overrides it) or
//! Debian's caddy (`caddy` from `PATH`; `AUTHENTIK_TEST_CADDY` overrides it).
//!
//! Each runs from its own temporary directory on a free loopback port (`@PORT@` in its
//! configuration; `@PREFIX@` is the directory), leads its own process group, and is killed
//! with it on drop. Its logs are printed when the test fails.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Request, Response};
use crate::nginx::free_port;
use crate::tmp::TempDir;

pub const STOCK_NGINX_VAR: &str = "AUTHENTIK_TEST_STOCK_NGINX";
pub const CADDY_VAR: &str = "AUTHENTIK_TEST_CADDY";

/// Debian's nginx, which has no module loaded.
pub fn stock_nginx_bin() -> PathBuf {
    let bin = std::env::var_os(STOCK_NGINX_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        bin.is_file(),
        "{} is missing: apt-get install nginx (scripts/setup does it), or set {STOCK_NGINX_VAR}",
        bin.display()
    );
    bin
}

/// Debian's caddy.
pub fn caddy_bin() -> PathBuf {
    let bin = std::env::var_os(CADDY_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/caddy"));
    assert!(
        bin.is_file(),
        "{} is missing: apt-get install caddy (scripts/setup does it), or set {CADDY_VAR}",
        bin.display()
    );
    bin
}

/// A running front proxy.
pub struct Front {
    child: Option<Child>,
    pub port: u16,
    pub config: String,
    what: &'static str,
    dir: TempDir,
}

/// A whole nginx.conf for the stock nginx around `http` (the content of `http {}`).
pub fn stock_nginx_conf(prefix: &str, http: &str) -> String {
    format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         pid {prefix}/logs/nginx.pid;\n\
         lock_file {prefix}/logs/nginx.lock;\n\
         error_log {prefix}/logs/error.log info;\n\
         events {{\n    worker_connections 256;\n}}\n\
         http {{\n\
         access_log {prefix}/logs/access.log;\n\
         client_body_temp_path {prefix}/temp/client_body;\n\
         proxy_temp_path {prefix}/temp/proxy;\n\
         fastcgi_temp_path {prefix}/temp/fastcgi;\n\
         uwsgi_temp_path {prefix}/temp/uwsgi;\n\
         scgi_temp_path {prefix}/temp/scgi;\n\
         {http}\n\
         }}\n"
    )
}

impl Front {
    /// Debian's stock nginx with `http` as the content of `http {}`.
    pub fn stock_nginx(http: &str) -> Front {
        Front::stock_nginx_on(None, http)
    }

    /// [`Front::stock_nginx`] on `port` when given (a URL elsewhere names it), else on a free
    /// port.
    pub fn stock_nginx_on(port: Option<u16>, http: &str) -> Front {
        Front::start("stock nginx", port, |dir, port| {
            let prefix = dir.path().display().to_string();
            for sub in ["conf", "logs", "temp"] {
                dir.mkdir(sub);
            }
            let http = http
                .replace("@PORT@", &port.to_string())
                .replace("@PREFIX@", &prefix);
            let text = stock_nginx_conf(&prefix, &http);
            let conf = dir.write("conf/nginx.conf", text.as_bytes());
            let mut cmd = Command::new(stock_nginx_bin());
            cmd.arg("-p")
                .arg(format!("{prefix}/"))
                .arg("-c")
                .arg(conf)
                .arg("-e")
                .arg(dir.path().join("logs/error.log"))
                .env_remove("NGINX");
            (cmd, text)
        })
    }

    /// Debian's caddy with `caddyfile` (its admin endpoint off, no automatic HTTPS, its
    /// storage in the temporary directory).
    pub fn caddy(caddyfile: &str) -> Front {
        Front::start("caddy", None, |dir, port| {
            let text = caddyfile
                .replace("@PORT@", &port.to_string())
                .replace("@PREFIX@", &dir.path().display().to_string());
            let file = dir.write("Caddyfile", text.as_bytes());
            let mut cmd = Command::new(caddy_bin());
            cmd.args(["run", "--adapter", "caddyfile", "--config"])
                .arg(file)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"));
            (cmd, text)
        })
    }

    fn start(
        what: &'static str,
        fixed: Option<u16>,
        setup: impl Fn(&TempDir, u16) -> (Command, String),
    ) -> Front {
        let mut last = String::new();
        for _ in 0..5 {
            let dir = TempDir::new("front");
            let port = fixed.unwrap_or_else(free_port);
            let (mut cmd, config) = setup(&dir, port);
            let stderr = File::create(dir.path().join("stderr.log")).expect("front stderr log");
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
            let mut front = Front {
                child: Some(child),
                port,
                config,
                what,
                dir,
            };
            match front.wait_ready() {
                Ok(()) => return front,
                Err(msg) => {
                    front.kill();
                    let retry = msg.contains("address already in use")
                        || msg.contains("Address already in use");
                    last = msg;
                    if !retry || fixed.is_some() {
                        break;
                    }
                }
            }
        }
        panic!("{what} did not start:\n{last}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "{} exited with {status}\n{}",
                    self.what,
                    self.logs()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} never accepted on {addr}\n{}",
                    self.what,
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// stderr and, for nginx, the error log.
    pub fn logs(&self) -> String {
        let read =
            |rel: &str| std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default();
        format!(
            "configuration:\n{}\nstderr:\n{}\nerror.log:\n{}",
            self.config,
            read("stderr.log"),
            read("logs/error.log")
        )
    }

    pub fn send(&self, req: &Request) -> Response {
        req.send(self.port)
    }

    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        if let Ok(None) = child.try_wait() {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // SAFETY: the group id is our child's pid; the group holds only its processes.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- {} {} ---\n{}", self.what, self.port, self.logs());
        }
    }
}
