//! The echo upstream: answers every request 200 with a JSON description of what it received.
//!
//! Body: `{"method":…,"uri":…,"headers":[[name,value],…],"body":…}`. Names and values are the
//! raw bytes as received (lossy UTF-8, so CR, LF, NUL stay visible as JSON escapes). The head
//! is split into lines at every LF (a trailing CR is dropped), the way a lenient backend
//! would read it, so a header split by an injected CR/LF shows up as its own entry. The value
//! is everything after the colon, minus exactly one leading space (nginx writes `Name: value`);
//! nothing else is trimmed. A line without a colon is reported as `[line, ""]`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// A running echo upstream on 127.0.0.1 (random port). Stops accepting on drop.
pub struct Echo {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo upstream");
        let addr = listener.local_addr().expect("echo address");
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        thread::Builder::new()
            .name(format!("echo-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let c = c.clone();
                    thread::spawn(move || serve(stream, &c));
                }
            })
            .expect("spawn echo thread");
        Echo { addr, count, stop }
    }

    /// `127.0.0.1:<port>`, for `proxy_pass http://…;`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Number of requests received so far (counted before the response is written).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn serve(mut stream: TcpStream, count: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = buf[..head_end].to_vec();
    let mut body = buf[head_end + 4..].to_vec();

    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.splitn(3, |&b| b == b' ');
    let method = lossy(parts.next().unwrap_or_default());
    let uri = lossy(parts.next().unwrap_or_default());
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    for line in lines {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = lossy(value).trim().parse().unwrap_or(0);
        }
        headers.push(json!([lossy(name), lossy(value)]));
    }
    while body.len() < content_length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let out = json!({
        "method": method,
        "uri": uri,
        "headers": headers,
        "body": lossy(&body),
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{out}",
        out.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

/// What the echo upstream received, parsed from its JSON answer.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn parse(body: &[u8]) -> Option<Seen> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let headers = v["headers"]
            .as_array()?
            .iter()
            .map(|h| {
                Some((
                    h.get(0)?.as_str()?.to_string(),
                    h.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Seen {
            method: v["method"].as_str()?.to_string(),
            uri: v["uri"].as_str()?.to_string(),
            headers,
            body: v["body"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Every value of header `name` (ASCII case-insensitive, exact name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of header `name`; panics if it is absent or repeated.
    pub fn one(&self, name: &str) -> &str {
        let all = self.all(name);
        assert_eq!(
            all.len(),
            1,
            "expected exactly one {name:?} header upstream, got {all:?}; all headers: {:#?}",
            self.headers
        );
        all[0]
    }

    pub fn has(&self, name: &str) -> bool {
        !self.all(name).is_empty()
    }

    /// Headers whose name, lowercased with `_` read as `-`, starts with `x-authentik`.
    pub fn authentik_headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .filter(|(n, _)| {
                n.to_ascii_lowercase()
                    .replace('_', "-")
                    .starts_with("x-authentik")
            })
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}
