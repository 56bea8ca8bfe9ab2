//! `nginx -t` on a complete `nginx.conf`, main context included.
//!
//! [`crate::Conf`] renders the content of `http { }` and loads the module itself. A
//! configuration that loads the module on its own (such as `nginx-conf/mod-http-authentik.conf`,
//! included the way Debian's `nginx.conf` includes `modules-enabled/*.conf`) needs the whole
//! file instead; [`nginx_t_main`] checks one.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::env;
use crate::tmp::TempDir;

/// Result of [`nginx_t_main`].
pub struct MainT {
    pub success: bool,
    pub stderr: String,
    pub conf_path: PathBuf,
    pub conf_text: String,
}

impl MainT {
    pub fn assert_ok(&self) {
        assert!(
            self.success && self.stderr.contains("test is successful"),
            "nginx -t failed\nstderr:\n{}\nconfiguration {}:\n{}",
            self.stderr,
            self.conf_path.display(),
            self.conf_text
        );
    }
}

/// Write `main_conf` to `<dir>/conf/nginx.conf` and run `nginx -t` with `dir` as the prefix
/// (`-p <dir>/`, so `load_module modules/…` resolves to `<dir>/modules/…`). `@PREFIX@` in the
/// text becomes the absolute path of `dir`. `logs/` and `temp/` exist under `dir`.
pub fn nginx_t_main(dir: &TempDir, main_conf: &str) -> MainT {
    let prefix = dir.path().display().to_string();
    dir.mkdir("logs");
    dir.mkdir("temp");
    let text = main_conf.replace("@PREFIX@", &prefix);
    let conf_path = dir.write("conf/nginx.conf", text.as_bytes());
    let out = Command::new(env::nginx_bin())
        .arg("-p")
        .arg(format!("{prefix}/"))
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.path().join("logs/error.log"))
        .arg("-t")
        .env_remove("NGINX")
        .stdin(Stdio::null())
        .output()
        .expect("run nginx -t");
    MainT {
        success: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        conf_path,
        conf_text: text,
    }
}
