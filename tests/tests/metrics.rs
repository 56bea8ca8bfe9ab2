//! `authentik_metrics`: Prometheus counters in one shared zone, summed over workers, kept
//! across reloads, with no secrets, in a format a real parser accepts.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use authentik_integration::procs;
use authentik_integration::*;
use serde_json::json;

fn site(workers: usize) -> Nginx {
    let http = provider("app", "skip_path ^/public/; token_request /_t;")
        + &provider("other", "").replace(
            "cookie_secret ",
            "cookie_name other_session; cookie_secret ",
        )
        + &server(
            r#"
    authentik app;
    add_header X-Worker $pid always;
    location / { @PROXY@ }
    location /admin/ { authentik_require_group "authentik Admins"; @PROXY@ }
    location /other/ { authentik other; @PROXY@ }
    location = /metrics { authentik off; authentik_metrics; }
    location = /_t { internal; proxy_pass http://127.0.0.1:9/; }
"#,
        );
    Conf::new(http).workers(workers).start()
}

/// The samples of a scrape: `name{labels}` → value, parsed by the text's own rules.
fn scrape(ng: &Nginx) -> (String, HashMap<String, f64>) {
    let r = ng.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("sample line");
            (name.to_string(), value.parse::<f64>().expect("value"))
        })
        .collect();
    (text, samples)
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples
        .get(key)
        .copied()
        .unwrap_or_else(|| panic!("no sample {key}"))
}

fn requests(samples: &HashMap<String, f64>, status: &str) -> f64 {
    value(
        samples,
        &format!("authentik_requests_total{{provider=\"app\",status=\"{status}\"}}"),
    )
}

#[test]
fn counts_are_exact_across_two_workers() {
    let ng = site(2);
    let (_, before) = scrape(&ng);
    let valid = session(&token());
    let alice = session(&hs256(&claims_with(&[("groups", json!(["users"]))])));
    let (n, m, k, j, s) = (40, 30, 20, 10, 5);
    // Every request on its own connection: the kernel spreads them over both workers.
    let mut served_by = std::collections::HashSet::new();
    for i in 0..n {
        let cookies = if i % 2 == 0 { &valid } else { &alice };
        let r = ng.send(&Request::get("/x").cookies(cookies));
        assert_eq!(r.status, 200);
        served_by.insert(r.header("X-Worker").unwrap_or_default().to_string());
    }
    assert_eq!(
        served_by.len(),
        2,
        "both workers served requests: {served_by:?}"
    );
    for _ in 0..m {
        assert_eq!(ng.get("/x").status, 401);
    }
    for _ in 0..k {
        let r = ng.send(
            &Request::get("/x").cookies(&[(default_cookie_name(CLIENT_ID), "garbage".into())]),
        );
        assert_eq!(r.status, 401);
    }
    for _ in 0..j {
        assert_eq!(
            ng.send(&Request::get("/admin/").cookies(&alice)).status,
            403
        );
    }
    for _ in 0..s {
        assert_eq!(ng.get("/public/x").status, 200);
    }
    let workers = procs::worker_pids(&ng);
    assert_eq!(workers.len(), 2);
    let (text, after) = scrape(&ng);
    let delta = |status: &str| requests(&after, status) - requests(&before, status);
    assert_eq!(delta("ok"), f64::from(n), "{text}");
    assert_eq!(delta("missing"), f64::from(m), "{text}");
    assert_eq!(delta("invalid"), f64::from(k), "{text}");
    assert_eq!(delta("forbidden"), f64::from(j), "{text}");
    assert_eq!(delta("skipped"), f64::from(s), "{text}");
    // Two distinct sessions: each worker verifies each at most once, the rest are hits.
    let hits = value(&after, "authentik_cache_hits_total{provider=\"app\"}");
    let misses = value(&after, "authentik_cache_misses_total{provider=\"app\"}");
    assert!(
        misses >= 2.0 + f64::from(k) && misses <= 4.0 + f64::from(k),
        "misses {misses}\n{text}"
    );
    assert_eq!(hits + misses, f64::from(n + k + j), "{text}");
    // The other provider has its own, untouched counters.
    assert_eq!(
        value(
            &after,
            "authentik_requests_total{provider=\"other\",status=\"ok\"}"
        ),
        0.0
    );
    // Page loads start logins.
    let page = Request::get("/x")
        .header("Sec-Fetch-Mode", "navigate")
        .header("Accept", "text/html");
    assert_eq!(ng.send(&page).status, 302);
    let (_, after_login) = scrape(&ng);
    assert_eq!(
        value(
            &after_login,
            "authentik_logins_total{provider=\"app\",result=\"started\"}"
        ) - value(
            &after,
            "authentik_logins_total{provider=\"app\",result=\"started\"}"
        ),
        1.0
    );
}

#[test]
fn counters_survive_a_reload() {
    let ng = site(1);
    for _ in 0..7 {
        assert_eq!(ng.get("/x").status, 401);
    }
    let (_, before) = scrape(&ng);
    let missing = requests(&before, "missing");
    assert!(missing >= 7.0);
    ng.reload();
    let (text, after) = scrape(&ng);
    assert_eq!(requests(&after, "missing"), missing, "{text}");
    assert_eq!(ng.get("/x").status, 401);
    let (_, later) = scrape(&ng);
    assert_eq!(requests(&later, "missing"), missing + 1.0);
}

#[test]
fn a_scrape_has_no_secret_no_token_no_user() {
    let ng = site(1);
    let jwt = token();
    let cookies = session(&jwt);
    assert_eq!(ng.send(&Request::get("/x").cookies(&cookies)).status, 200);
    assert_eq!(ng.send(&Request::get("/x").bearer(&jwt)).status, 200);
    let (text, _) = scrape(&ng);
    for secret in [
        CLIENT_SECRET,
        COOKIE_SECRET,
        jwt.as_str(),
        &cookies[0].1,
        "akadmin",
        CLIENT_ID,
    ] {
        assert!(!text.contains(secret), "the scrape contains {secret:?}");
    }
    let labels: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split(['{', '}', ',']).skip(1))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, _)| k)
        .collect();
    assert!(
        labels
            .iter()
            .all(|k| ["provider", "status", "result", "grant", "le"].contains(k)),
        "{labels:?}"
    );
}

#[test]
fn a_real_prometheus_parser_accepts_the_scrape() {
    let ng = site(1);
    assert_eq!(ng.get("/x").status, 401);
    let (text, _) = scrape(&ng);
    // Debian's python3-prometheus-client: the reference implementation's parser.
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
names = {f.name for f in families}
for f in families:
    assert f.documentation, f.name
    for s in f.samples:
        assert s.value >= 0, s
print(len(families), len(names), sum(len(f.samples) for f in families))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (Debian's python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    let families: usize = summary.split_whitespace().next().unwrap().parse().unwrap();
    assert!(families >= 10, "{summary}");
}

#[test]
fn only_get_and_head() {
    let ng = site(1);
    assert_eq!(
        ng.send(&Request::new("POST", "/metrics").body("x")).status,
        405
    );
    assert_eq!(ng.send(&Request::new("HEAD", "/metrics")).status, 200);
}

/// contrib/grafana-dashboard.json: every query names only metrics the module exports, and
/// the four views operators asked for are there.
#[test]
fn the_dashboard_queries_exported_metrics() {
    let ng = site(1);
    let (text, _) = scrape(&ng);
    let exported: std::collections::HashSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/grafana-dashboard.json"
    )))
    .expect("the dashboard is JSON");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect();
    exprs.extend(
        dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["definition"].as_str().map(str::to_string)),
    );
    assert!(exprs.len() >= 6);
    for expr in &exprs {
        let names: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("authentik_"))
            .collect();
        assert!(!names.is_empty(), "{expr}");
        for name in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| exported.contains(*f)))
                .unwrap_or(name);
            assert!(
                exported.contains(family),
                "{name} in {expr:?} is not exported"
            );
        }
    }
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Verdicts",
        "Cache hit ratio",
        "Login success",
        "Token-request latency",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "no {want} panel: {titles:?}"
        );
    }
}
