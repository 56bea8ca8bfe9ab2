//! A raw HTTP/1.1 client over `TcpStream`: sends exactly the header bytes it is given
//! (underscores, duplicates, control bytes, huge values) with `Connection: close`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::echo::Seen;

/// One request. `Host: localhost` and `Connection: close` are added unless given.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    /// Add a header line `name: value`, raw bytes, no validation.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.headers
            .push((name.as_bytes().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// One `Cookie` header with every pair, as a browser sends them.
    pub fn cookies(self, pairs: &[(String, String)]) -> Request {
        let value = crate::session::cookie_header(pairs);
        self.header("Cookie", value)
    }

    /// One `Cookie` header per pair (what an HTTP/2 front end may produce).
    pub fn cookies_split(mut self, pairs: &[(String, String)]) -> Request {
        for (n, v) in pairs {
            self = self.header("Cookie", format!("{n}={v}"));
        }
        self
    }

    pub fn bearer(self, token: &str) -> Request {
        self.header("Authorization", format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl AsRef<[u8]>) -> Request {
        self.body = body.as_ref().to_vec();
        self
    }

    fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The bytes sent on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        if !self.has("host") {
            out.extend_from_slice(b"Host: localhost\r\n");
        }
        for (n, v) in &self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() && !self.has("content-length") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if !self.has("connection") {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Send to 127.0.0.1:`port` and read the whole response (until the server closes).
    pub fn send(&self, port: u16) -> Response {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to nginx on 127.0.0.1:{port}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(15)))
            .expect("write timeout");
        stream
            .write_all(&self.to_bytes())
            .unwrap_or_else(|e| panic!("send {} {}: {e}", self.method, self.target));
        let mut raw = Vec::new();
        if let Err(e) = stream.read_to_end(&mut raw) {
            // A reset after a complete response is fine; an incomplete one fails below.
            if raw.is_empty() {
                panic!("read response to {} {}: {e}", self.method, self.target);
            }
        }
        Response::parse(&raw, self.method == "HEAD").unwrap_or_else(|| {
            panic!(
                "unparsable response to {} {}: {:?}",
                self.method,
                self.target,
                String::from_utf8_lossy(&raw)
            )
        })
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Parse a whole response as read from the socket (`head_only`: the answer to a HEAD).
    pub fn parse(raw: &[u8], head_only: bool) -> Option<Response> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let rest = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let status = status_line.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .map(|l| match l.split_once(':') {
                Some((n, v)) => (n.to_string(), v.trim_start().to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let body = if head_only || status == 204 || status == 304 {
            Vec::new()
        } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            dechunk(rest)?
        } else if let Some(len) = get("content-length") {
            let len: usize = len.parse().ok()?;
            if rest.len() < len {
                return None;
            }
            rest[..len].to_vec()
        } else {
            rest.to_vec()
        };
        Some(Response {
            status,
            headers,
            body,
        })
    }

    /// First value of response header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `$authentik_status` as exposed by [`crate::snippets::server`]'s
    /// `add_header X-Authentik-Status $authentik_status always;`, or "" when absent.
    pub fn authentik_status(&self) -> &str {
        self.header("X-Authentik-Status").unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// What the echo upstream received; panics when the body is not the echo's JSON.
    pub fn upstream(&self) -> Seen {
        Seen::parse(&self.body).unwrap_or_else(|| {
            panic!(
                "response is not from the echo upstream: {} {:?} {}",
                self.status,
                self.headers,
                self.text()
            )
        })
    }
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
