//! Running nginx with the module: configuration rendering, start, stop, `nginx -t`.
//!
//! A test writes the *content* of `http { }` and may use these placeholders:
//! `@PORT@` (the loopback port nginx listens on, picked free per instance), `@ECHO@`
//! (`127.0.0.1:<port>` of this instance's echo upstream) and `@PREFIX@` (the absolute prefix
//! directory, where [`Conf::file`] writes its files) and `@PROXY@` (short for
//! `proxy_pass http://@ECHO@;`).
//!
//! `AUTHENTIK_TEST_WRAPPER` (off by default) prefixes the command that starts nginx, e.g.
//! `valgrind --leak-check=full --log-file=/tmp/vg/%p.log` (split at whitespace). The workers are
//! forked, not executed, so they run under the same wrapper. With a wrapper, start-up and the
//! graceful stop get [`WRAPPED_WAIT`] instead of a few seconds (valgrind writes its leak report
//! while the processes exit). `nginx -t` is never wrapped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Request, Response};
use crate::echo::Echo;
use crate::env;
use crate::tmp::TempDir;

/// Environment variable with a command prefix for nginx (see the module documentation).
pub const WRAPPER_VAR: &str = "AUTHENTIK_TEST_WRAPPER";
/// How long start-up and the graceful stop may take when nginx runs under a wrapper.
pub const WRAPPED_WAIT: Duration = Duration::from_secs(180);

/// The words of `AUTHENTIK_TEST_WRAPPER`, empty when it is unset or blank.
pub fn wrapper() -> Vec<String> {
    std::env::var(WRAPPER_VAR)
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A configuration to start or to check with `nginx -t`.
#[derive(Debug, Clone)]
pub struct Conf {
    http: String,
    files: Vec<(String, Vec<u8>)>,
    workers: usize,
}

/// Ask the kernel for a free loopback port.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Check `http` (content of `http { }`) with `nginx -t`.
pub fn nginx_t(http: &str) -> NginxT {
    Conf::new(http).test()
}

impl Conf {
    pub fn new(http: impl Into<String>) -> Conf {
        Conf {
            http: http.into(),
            files: Vec::new(),
            workers: 1,
        }
    }

    /// Run `n` worker processes (default 1).
    pub fn workers(mut self, n: usize) -> Conf {
        self.workers = n;
        self
    }

    /// Write `contents` to `<prefix>/<rel>` (world-readable) before nginx starts.
    pub fn file(mut self, rel: &str, contents: impl AsRef<[u8]>) -> Conf {
        self.files
            .push((rel.to_string(), contents.as_ref().to_vec()));
        self
    }

    fn prepare(&self, dir: &TempDir, port: u16, echo: &str) -> (PathBuf, String) {
        let prefix = dir.path().display().to_string();
        for sub in ["conf", "logs", "temp"] {
            dir.mkdir(sub);
        }
        for (rel, contents) in &self.files {
            dir.write(rel, contents);
        }
        let http = self
            .http
            .replace("@PROXY@", crate::snippets::PROXY)
            .replace("@PREFIX@", &prefix)
            .replace("@PORT@", &port.to_string())
            .replace("@ECHO@", echo);
        let text = format!(
            "load_module {module};\n\
             daemon off;\n\
             master_process on;\n\
             worker_processes {workers};\n\
             pid {prefix}/logs/nginx.pid;\n\
             lock_file {prefix}/logs/nginx.lock;\n\
             error_log {prefix}/logs/error.log {level};\n\
             events {{\n    worker_connections 512;\n}}\n\
             http {{\n\
             access_log {prefix}/logs/access.log;\n\
             client_body_temp_path {prefix}/temp/client_body;\n\
             proxy_temp_path {prefix}/temp/proxy;\n\
             fastcgi_temp_path {prefix}/temp/fastcgi;\n\
             uwsgi_temp_path {prefix}/temp/uwsgi;\n\
             scgi_temp_path {prefix}/temp/scgi;\n\
             {http}\n\
             }}\n",
            module = env::module_path().display(),
            workers = self.workers,
            level = env::log_level(),
        );
        let conf = dir.write("conf/nginx.conf", text.as_bytes());
        (conf, text)
    }

    fn command(conf: &Path, dir: &TempDir) -> Command {
        Conf::wrapped_command(conf, dir, &[])
    }

    /// The nginx command line, prefixed by `wrapper` when it is not empty.
    fn wrapped_command(conf: &Path, dir: &TempDir, wrapper: &[String]) -> Command {
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(env::nginx_bin());
                cmd
            }
            None => Command::new(env::nginx_bin()),
        };
        cmd.arg("-p")
            .arg(format!("{}/", dir.path().display()))
            .arg("-c")
            .arg(conf)
            .arg("-e")
            .arg(dir.path().join("logs/error.log"))
            .env_remove("NGINX")
            .stdin(Stdio::null());
        cmd
    }

    /// Run `nginx -t` on this configuration.
    pub fn test(self) -> NginxT {
        let dir = TempDir::new("t");
        let (conf_path, conf_text) = self.prepare(&dir, free_port(), "127.0.0.1:9");
        let out = Conf::command(&conf_path, &dir)
            .arg("-t")
            .output()
            .expect("run nginx -t");
        NginxT {
            success: out.status.success(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            conf_path,
            conf_text,
            _dir: dir,
        }
    }

    /// Start nginx (and its echo upstream) and wait until it accepts connections.
    pub fn start(self) -> Nginx {
        let mut last = String::new();
        for _ in 0..5 {
            let echo = Echo::start();
            let dir = TempDir::new("run");
            let port = free_port();
            let (conf_path, conf_text) = self.prepare(&dir, port, &echo.addr());
            let stderr = File::create(dir.path().join("logs/stderr.log")).expect("stderr log");
            let mut cmd = Conf::wrapped_command(&conf_path, &dir, &wrapper());
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn nginx");
            let mut nginx = Nginx {
                child: Some(child),
                workers: self.workers,
                check: true,
                port,
                conf_path,
                conf_text,
                echo,
                dir,
            };
            match nginx.wait_ready() {
                Ok(()) => return nginx,
                Err(msg) => {
                    // Dropped without the log checks: the failure is reported below.
                    nginx.check = false;
                    let retry = msg.contains("Address already in use");
                    last = msg;
                    if !retry {
                        break;
                    }
                }
            }
        }
        panic!("nginx did not start:\n{last}");
    }
}

/// Result of `nginx -t`.
pub struct NginxT {
    pub success: bool,
    pub stderr: String,
    pub conf_path: PathBuf,
    pub conf_text: String,
    _dir: TempDir,
}

impl NginxT {
    /// 1-based line of the first configuration line containing `needle`.
    pub fn line_of(&self, needle: &str) -> usize {
        self.conf_text
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "{needle:?} is not in the configuration:\n{}",
                    self.conf_text
                )
            })
            + 1
    }

    fn context(&self) -> String {
        let numbered: Vec<String> = self
            .conf_text
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{:3} {l}", i + 1))
            .collect();
        format!(
            "nginx -t stderr:\n{}\nconfiguration {}:\n{}",
            self.stderr,
            self.conf_path.display(),
            numbered.join("\n")
        )
    }

    pub fn assert_ok(&self) {
        assert!(self.success, "nginx -t failed\n{}", self.context());
    }

    /// `nginx -t` failed, stderr has `message` and ` in <conf>:<line of needle>`.
    pub fn assert_error_at(&self, message: &str, needle: &str) {
        assert!(!self.success, "nginx -t succeeded\n{}", self.context());
        assert!(
            self.stderr.contains(message),
            "stderr lacks {message:?}\n{}",
            self.context()
        );
        let at = format!(" in {}:{}", self.conf_path.display(), self.line_of(needle));
        let entry = self.entry(message);
        let exact = entry
            .match_indices(&at)
            .any(|(i, _)| !entry[i + at.len()..].starts_with(|c: char| c.is_ascii_digit()));
        assert!(
            exact,
            "the error {message:?} is not reported {at:?}\n{}",
            self.context()
        );
    }

    /// `nginx -t` failed, stderr has `message` and ` in <conf>:<some line>`.
    pub fn assert_error(&self, message: &str) {
        assert!(!self.success, "nginx -t succeeded\n{}", self.context());
        let entry = self.entry(message);
        let at = format!(" in {}:", self.conf_path.display());
        let has_line = entry
            .find(&at)
            .is_some_and(|i| entry[i + at.len()..].starts_with(|c: char| c.is_ascii_digit()));
        assert!(
            has_line,
            "the error {message:?} lacks {at:?}<line>\n{}",
            self.context()
        );
    }

    /// The stderr entry holding `message`: from there to the next `nginx: ` line (an entry
    /// may span lines when the reason has newlines in it).
    fn entry(&self, message: &str) -> &str {
        let start = self
            .stderr
            .find(message)
            .unwrap_or_else(|| panic!("stderr lacks {message:?}\n{}", self.context()));
        let rest = &self.stderr[start..];
        let end = rest.find("\nnginx: ").unwrap_or(rest.len());
        &rest[..end]
    }
}

/// A running nginx. Stopped (SIGQUIT, then SIGKILL) on drop; then its error log is checked.
pub struct Nginx {
    workers: usize,
    child: Option<Child>,
    check: bool,
    pub port: u16,
    pub conf_path: PathBuf,
    pub conf_text: String,
    pub echo: Echo,
    dir: TempDir,
}

impl Nginx {
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + patience(Duration::from_secs(10));
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "nginx exited with {status}\n{}\nconfiguration:\n{}",
                    self.logs(),
                    self.conf_text
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("nginx never accepted on {addr}\n{}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        let stderr =
            std::fs::read_to_string(self.dir.path().join("logs/stderr.log")).unwrap_or_default();
        format!("stderr:\n{stderr}\nerror.log:\n{}", self.error_log())
    }

    /// Send `req` to this nginx.
    pub fn send(&self, req: &Request) -> Response {
        req.send(self.port)
    }

    /// `GET path` with no credentials.
    pub fn get(&self, path: &str) -> Response {
        Request::get(path).send(self.port)
    }

    /// `nginx -s reload`, then wait until a new set of workers runs.
    pub fn reload(&self) {
        let old = crate::procs::wait_workers(self, self.workers, &[], Duration::from_secs(10));
        let out = Conf::command(&self.conf_path, &self.dir)
            .args(["-s", "reload"])
            .output()
            .expect("nginx -s reload");
        assert!(
            out.status.success(),
            "reload: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        crate::procs::wait_workers(self, self.workers, &old, Duration::from_secs(10));
    }

    /// Number of requests the echo upstream has received.
    pub fn upstream_count(&self) -> usize {
        self.echo.count()
    }

    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        if let Ok(None) = child.try_wait() {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            let deadline = Instant::now() + patience(Duration::from_secs(5));
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The master led its own process group: make sure no worker outlives it.
        // SAFETY: the group id is our child's pid; it only contains nginx processes.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stop nginx now and check its error log (what drop does).
    pub fn stop(self) {
        drop(self);
    }

    fn check_log(&self) {
        let log = self.error_log();
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("exited on signal") || l.contains("[alert]") || l.contains("panicked")
            })
            .collect();
        assert!(
            bad.is_empty(),
            "nginx error log has crashes, alerts or panics:\n{}\n\nfull log:\n{log}",
            bad.join("\n")
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
        if !self.check {
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "--- nginx {} (prefix {}) ---\n{}",
                self.port,
                self.dir.path().display(),
                tail(&self.logs(), 12000)
            );
        } else {
            self.check_log();
        }
    }
}

/// `normal`, or [`WRAPPED_WAIT`] when nginx runs under a wrapper.
fn patience(normal: Duration) -> Duration {
    if wrapper().is_empty() {
        normal
    } else {
        WRAPPED_WAIT
    }
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
