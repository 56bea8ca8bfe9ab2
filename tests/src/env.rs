//! Where the nginx binary and the module under test come from.

use std::path::PathBuf;

/// Environment variable holding the absolute path of the nginx binary.
pub const NGINX_VAR: &str = "AUTHENTIK_TEST_NGINX";
/// Environment variable holding the absolute path of `libngx_http_authentik_module.so`.
pub const MODULE_VAR: &str = "AUTHENTIK_TEST_MODULE";

fn required(var: &str) -> PathBuf {
    let hint = format!(
        "the integration tests need {NGINX_VAR} (absolute path of the nginx binary) and \
         {MODULE_VAR} (absolute path of libngx_http_authentik_module.so). Run `scripts/build \
         vendored` (or `scripts/build debian`): its last two lines are module=… and nginx=…; \
         then e.g. `{MODULE_VAR}=<module> {NGINX_VAR}=<nginx> cargo test -p \
         authentik-integration`, or run scripts/test"
    );
    let value = match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!("{var} is not set: {hint}"),
    };
    assert!(
        value.is_absolute(),
        "{var}={} is not an absolute path: {hint}",
        value.display()
    );
    assert!(
        value.is_file(),
        "{var}={} does not exist: {hint}",
        value.display()
    );
    value
}

/// The nginx binary under test. Panics with instructions when unset.
pub fn nginx_bin() -> PathBuf {
    required(NGINX_VAR)
}

/// The module under test. Panics with instructions when unset.
pub fn module_path() -> PathBuf {
    required(MODULE_VAR)
}

/// Error-log level of the nginx instances: `info`, or `debug` when
/// `AUTHENTIK_TEST_DEBUG_LOG` is set (nginx must be built `--with-debug` for debug lines).
pub fn log_level() -> &'static str {
    if std::env::var_os("AUTHENTIK_TEST_DEBUG_LOG").is_some() {
        "debug"
    } else {
        "info"
    }
}

/// Keep every prefix directory after the test (its path is printed) when
/// `AUTHENTIK_TEST_KEEP` is set.
pub fn keep_dirs() -> bool {
    std::env::var_os("AUTHENTIK_TEST_KEEP").is_some()
}
