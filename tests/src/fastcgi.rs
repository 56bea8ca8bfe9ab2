//! The FastCGI echo responder of `tests/fixtures/fastcgi_echo.py` (Debian's python3, standard
//! library only), for tests of what an application behind `fastcgi_pass` reads: nginx passes
//! every request header to it as an `HTTP_*` param, the ones the module added included.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::client::Response;

/// A running responder on 127.0.0.1; killed on drop.
pub struct FastCgi {
    child: Child,
    pub port: u16,
}

impl FastCgi {
    pub fn start() -> FastCgi {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/fastcgi_echo.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .env_remove("NGINX")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the FastCGI echo responder (/usr/bin/python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("responder stdout"))
            .read_line(&mut line)
            .expect("responder port line");
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the FastCGI responder printed no port: {line:?}");
        };
        FastCgi { child, port }
    }

    /// `fastcgi_pass 127.0.0.1:<port>;` plus the params a PHP application reads.
    pub fn pass(&self) -> String {
        format!(
            "fastcgi_pass 127.0.0.1:{};\n\
             fastcgi_param REQUEST_METHOD $request_method;\n\
             fastcgi_param REQUEST_URI $request_uri;\n\
             fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n\
             fastcgi_param CONTENT_LENGTH $content_length;\n\
             fastcgi_param CONTENT_TYPE $content_type;\n",
            self.port
        )
    }
}

impl Drop for FastCgi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The params a FastCGI application received, in order, duplicates kept.
#[derive(Debug, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parse the responder's answer; panics when `r` is not from it.
    pub fn of(r: &Response) -> Params {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|_| {
            panic!(
                "not the FastCGI responder's answer: {} {:?} {}",
                r.status,
                r.headers,
                r.text()
            )
        });
        let params = v["params"]
            .as_array()
            .expect("params")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap_or_default().to_string(),
                    p[1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        Params(params)
    }

    /// Every value of the param an application reads as `name` (PHP's `$_SERVER[name]`):
    /// param names compared after PHP's mangling (`.` and space read as `_`), case-sensitive
    /// as PHP is.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| php_name(n) == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn one(&self, name: &str) -> &str {
        let all = self.all(name);
        assert_eq!(
            all.len(),
            1,
            "expected exactly one {name} param, got {all:?}; all params: {:#?}",
            self.0
        );
        all[0]
    }

    pub fn has(&self, name: &str) -> bool {
        !self.all(name).is_empty()
    }
}

/// A param name as PHP registers it in `$_SERVER`: `.` and ` ` become `_`.
pub fn php_name(name: &str) -> String {
    name.replace(['.', ' '], "_")
}
