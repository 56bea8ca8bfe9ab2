//! Per-test temporary directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory under the system temp dir, mode 0755 (nginx workers run as `nobody` when the
/// tests run as root), removed on drop unless `AUTHENTIK_TEST_KEEP` is set.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "authentik-it-{label}-{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `contents` to `rel` (parents created 0755, file 0644).
    pub fn write(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let file = self.path.join(rel);
        if let Some(parent) = file.parent() {
            mkdir_755(parent);
        }
        std::fs::write(&file, contents).expect("write temp file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .expect("chmod temp file");
        file
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let dir = self.path.join(rel);
        mkdir_755(&dir);
        dir
    }
}

/// Create `dir` and every missing parent with mode 0755, whatever the umask.
fn mkdir_755(dir: &Path) {
    if dir.is_dir() {
        return;
    }
    if let Some(parent) = dir.parent() {
        mkdir_755(parent);
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("create dir {}: {e}", dir.display()),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if crate::env::keep_dirs() {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
