//! The directive table: each handler hands its arguments to core's parsers and reports their
//! errors at the directive's file and line.

use std::ffi::{c_char, c_void};
use std::ptr;

use authentik_core::conf::{SettingError, Units};
use ngx::core::{Pool, NGX_CONF_ERROR};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_compile_complex_value, ngx_http_compile_complex_value_t,
    ngx_http_complex_value_t, ngx_parse_size, ngx_parse_time, ngx_str_t, NGX_CONF_1MORE,
    NGX_CONF_BLOCK, NGX_CONF_FLAG, NGX_CONF_TAKE1, NGX_CONF_TAKE12, NGX_ERROR, NGX_HTTP_LOC_CONF,
    NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_MAIN_CONF_OFFSET, NGX_HTTP_SRV_CONF,
    NGX_LOG_EMERG, NGX_LOG_WARN, NGX_OK,
};
use ngx::ngx_string;

use crate::conf::{LocConf, MainConf};
use crate::ffi::{bytes, guard};
use crate::provider_block;

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

type Handler =
    unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

const fn command(name: ngx_str_t, type_: u32, set: Handler, conf: usize) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: type_ as _,
        set: Some(set),
        conf,
        offset: 0,
        post: ptr::null_mut(),
    }
}

const fn location(name: ngx_str_t, arity: u32) -> ngx_command_t {
    command(
        name,
        ANY_LEVEL | arity,
        location_directive,
        NGX_HTTP_LOC_CONF_OFFSET,
    )
}

pub static mut NGX_HTTP_AUTHENTIK_COMMANDS: [ngx_command_t; 11] = [
    command(
        ngx_string!("authentik_provider"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_BLOCK | NGX_CONF_TAKE1,
        provider_block::authentik_provider,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    location(ngx_string!("authentik"), NGX_CONF_TAKE1),
    location(ngx_string!("authentik_require_group"), NGX_CONF_1MORE),
    command(
        ngx_string!("authentik_require"),
        ANY_LEVEL | NGX_CONF_1MORE,
        authentik_require,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    location(ngx_string!("authentik_unauthenticated"), NGX_CONF_TAKE1),
    location(ngx_string!("authentik_set_headers"), NGX_CONF_FLAG),
    location(
        ngx_string!("authentik_strip_identity_headers"),
        NGX_CONF_FLAG,
    ),
    command(
        ngx_string!("authentik_metrics"),
        NGX_HTTP_LOC_CONF | ngx::ffi::NGX_CONF_NOARGS,
        crate::metrics::authentik_metrics,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_cache"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12,
        main_directive,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    command(
        ngx_string!("authentik_revocation_zone"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
        main_directive,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    ngx_command_t::empty(),
];

/// One directive as nginx hands it over: its configuration, name and arguments.
pub struct Directive<'a> {
    pub cf: *mut ngx_conf_t,
    pub name: &'a str,
    pub args: Vec<&'a str>,
    pub raw_args: &'a [ngx_str_t],
}

impl Directive<'_> {
    /// The directive being parsed.
    ///
    /// # Safety
    /// `cf` must be a configuration being parsed, with `args` set by nginx.
    pub unsafe fn read<'a>(cf: *mut ngx_conf_t) -> Result<Directive<'a>, SettingError> {
        // SAFETY: nginx keeps `cf->args` and its strings valid while the handler runs.
        let all = unsafe {
            let args = (*cf).args;
            std::slice::from_raw_parts((*args).elts as *const ngx_str_t, (*args).nelts)
        };
        let text = |s: &ngx_str_t| {
            // SAFETY: as above.
            std::str::from_utf8(unsafe { bytes(s) })
                .map_err(|_| SettingError::Invalid("argument is not valid UTF-8".into()))
        };
        let (first, rest) = all.split_first().ok_or(SettingError::Arity("directive"))?;
        Ok(Directive {
            cf,
            name: text(first)?,
            args: rest.iter().map(text).collect::<Result<_, _>>()?,
            raw_args: rest,
        })
    }

    /// `(file, line)` of the directive.
    pub fn origin(&self) -> (String, usize) {
        // SAFETY: during parsing cf->conf_file describes the file being read.
        unsafe {
            let conf_file = &*(*self.cf).conf_file;
            (
                String::from_utf8_lossy(bytes(&conf_file.file.name)).into_owned(),
                conf_file.line,
            )
        }
    }
}

/// Report `message` at the directive's file and line and fail the configuration.
pub fn conf_error(cf: *mut ngx_conf_t, message: &dyn std::fmt::Display) -> *mut c_char {
    ngx::ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", message);
    NGX_CONF_ERROR
}

pub fn conf_warning(cf: *mut ngx_conf_t, message: &str) {
    ngx::ngx_conf_log_error!(NGX_LOG_WARN, cf, "{}", message);
}

/// Run a directive handler on its configuration of type `T`, with panics contained and
/// errors reported.
///
/// # Safety
/// `cf` must be the configuration being parsed and `conf` null or the `T` nginx passes for
/// the directive's configuration offset.
pub unsafe fn with_conf<T>(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    body: impl FnOnce(&mut T, &Directive<'_>) -> Result<(), SettingError>,
) -> *mut c_char {
    guard(NGX_CONF_ERROR, || {
        // SAFETY: guaranteed by the caller.
        let Some(conf) = (unsafe { (conf as *mut T).as_mut() }) else {
            return NGX_CONF_ERROR;
        };
        // SAFETY: guaranteed by the caller.
        match unsafe { Directive::read(cf) }.and_then(|d| body(conf, &d)) {
            Ok(()) => ptr::null_mut(),
            // Already reported where it happened (a line of a block).
            Err(SettingError::Invalid(why)) if why.is_empty() => NGX_CONF_ERROR,
            Err(e) => conf_error(cf, &e),
        }
    })
}

unsafe extern "C" fn location_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: registered with NGX_HTTP_LOC_CONF_OFFSET, so `conf` is this module's LocConf.
    unsafe {
        with_conf::<LocConf>(cf, conf, |loc, d| {
            let (file, line) = d.origin();
            loc.settings.set(d.name, &d.args, (&file, line))
        })
    }
}

unsafe extern "C" fn authentik_require(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: registered with NGX_HTTP_LOC_CONF_OFFSET, so `conf` is this module's LocConf.
    unsafe {
        with_conf::<LocConf>(cf, conf, |loc, d| {
            loc.settings
                .set(d.name, &d.args, (&d.origin().0, d.origin().1))?;
            loc.require = d
                .raw_args
                .iter()
                .map(|arg| compile_complex_value(cf, arg))
                .collect::<Result<_, _>>()?;
            Ok(())
        })
    }
}

unsafe extern "C" fn main_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: registered with NGX_HTTP_MAIN_CONF_OFFSET, so `conf` is this module's MainConf.
    unsafe {
        with_conf::<MainConf>(cf, conf, |main, d| {
            main.settings.set(d.name, &d.args, &NginxUnits)
        })
    }
}

/// Compile a value with variables, allocated in the configuration pool.
fn compile_complex_value(
    cf: *mut ngx_conf_t,
    arg: &ngx_str_t,
) -> Result<*mut ngx_http_complex_value_t, SettingError> {
    // SAFETY: `cf` is the configuration being parsed; its pool lives as long as the
    // configuration, and the compile call fills `cv`.
    unsafe {
        let pool = Pool::from_ngx_pool((*cf).pool);
        let cv = pool.calloc_type::<ngx_http_complex_value_t>();
        if cv.is_null() {
            return Err(SettingError::Invalid("out of memory".into()));
        }
        let mut value = *arg;
        let mut ccv: ngx_http_compile_complex_value_t = std::mem::zeroed();
        ccv.cf = cf;
        ccv.value = &mut value;
        ccv.complex_value = cv;
        if ngx_http_compile_complex_value(&mut ccv) != NGX_OK as isize {
            return Err(SettingError::Invalid(format!(
                "invalid value \"{}\"",
                String::from_utf8_lossy(bytes(arg))
            )));
        }
        Ok(cv)
    }
}

/// Time and size values read by nginx's own parsers.
pub struct NginxUnits;

impl Units for NginxUnits {
    fn seconds(&self, text: &str) -> Option<u64> {
        let mut copy = text.as_bytes().to_vec();
        let mut value = ngx_str_t {
            len: copy.len(),
            data: copy.as_mut_ptr(),
        };
        // SAFETY: the parser only reads `len` bytes of the copy.
        let secs = unsafe { ngx_parse_time(&mut value, 1) };
        (secs != NGX_ERROR as isize)
            .then(|| u64::try_from(secs).ok())
            .flatten()
    }

    fn bytes(&self, text: &str) -> Option<usize> {
        let mut copy = text.as_bytes().to_vec();
        let mut value = ngx_str_t {
            len: copy.len(),
            data: copy.as_mut_ptr(),
        };
        // SAFETY: the parser only reads `len` bytes of the copy.
        let size = unsafe { ngx_parse_size(&mut value) };
        (size != NGX_ERROR as isize)
            .then(|| usize::try_from(size).ok())
            .flatten()
    }
}
