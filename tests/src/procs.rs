//! nginx's processes as the kernel sees them: the master's pid (from its pid file), its
//! workers (children in /proc), their resident memory, and waiting for a new worker.

use std::time::{Duration, Instant};

use crate::nginx::Nginx;

/// The master's pid, read from `<prefix>/logs/nginx.pid`.
pub fn master_pid(ng: &Nginx) -> i32 {
    let file = ng.prefix().join("logs/nginx.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Field `index` (0-based, after the command name) of /proc/<pid>/stat.
fn stat_field(pid: i32, index: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(index).map(str::to_string)
}

/// Children of `parent` that are alive (not zombies).
pub fn children(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            stat_field(pid, 1).and_then(|p| p.parse::<i32>().ok()) == Some(parent)
                && stat_field(pid, 0).as_deref() != Some("Z")
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The worker processes of `ng` (the master's live children, cache processes included).
pub fn worker_pids(ng: &Nginx) -> Vec<i32> {
    children(master_pid(ng))
}

/// Wait until the master has `count` live children and none of them is in `not`.
pub fn wait_workers(ng: &Nginx, count: usize, not: &[i32], timeout: Duration) -> Vec<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let pids = worker_pids(ng);
        if pids.len() == count && pids.iter().all(|p| !not.contains(p)) {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "no new set of {count} worker(s) after {timeout:?}: have {pids:?}, old {not:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resident set size of `pid` in KiB (`VmRSS` of /proc/<pid>/status), 0 if it is gone.
pub fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The master logs `worker process N exited on signal 9` as an [alert] when a worker dies.
/// That is what this test causes on purpose: after checking the line, reword it so the
/// harness's crash check (run when nginx stops) still guards against any other death.
pub fn acknowledge_killed_worker(ng: &Nginx, pid: i32) {
    let path = ng.prefix().join("logs/error.log");
    let needle = format!("worker process {pid} exited on signal 9");
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.contains(&needle) {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "the master never logged {needle:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let rewritten: String = log
        .lines()
        .map(|l| {
            if l.contains(&needle) {
                format!("(test) worker process {pid} was killed by the test with SIGKILL\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, rewritten).expect("rewrite error.log");
}
