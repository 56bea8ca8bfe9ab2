//! Shared memory zones: slices of `AtomicU64` cells that every worker sees, whose layout
//! core owns (`authentik_core::metrics`). A zone is kept across `nginx -s reload` when its name
//! and size are unchanged, as nginx's own zones are.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::AtomicU64;

use authentik_core::metrics::{self, Metrics, Slot};
use authentik_core::revocation::{self, Revocations, WriteLock};
use ngx::ffi::{
    ngx_conf_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t, ngx_shmtx_lock, ngx_shmtx_t,
    ngx_shmtx_unlock, ngx_slab_alloc, ngx_slab_pool_t, ngx_str_t, NGX_ERROR, NGX_LOG_EMERG, NGX_OK,
};

use crate::conf::MainConf;
use crate::ffi::guard;

/// Cells of one zone, once nginx has mapped it.
#[derive(Default)]
pub struct Zone {
    cells: Cell<Option<(*const AtomicU64, usize)>>,
}

impl Zone {
    /// The cells, in every process once the zone is initialised.
    pub fn cells(&self) -> Option<&'static [AtomicU64]> {
        let (ptr, len) = self.cells.get()?;
        // SAFETY: the pointer is a zeroed allocation of `len` cells in a shared zone, mapped
        // for the lifetime of the cycle (and kept across reloads); only atomics touch it.
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// The metrics zone's state in the http configuration.
#[derive(Default)]
pub struct MetricsZone {
    pub zone: Zone,
    /// Each provider's slot, in definition order.
    pub slots: RefCell<Vec<Option<Slot>>>,
}

impl MetricsZone {
    pub fn metrics(&self) -> Option<Metrics<'static>> {
        Metrics::new(self.zone.cells()?)
    }

    pub fn slot(&self, provider: usize) -> Option<Slot> {
        self.slots.borrow().get(provider).copied().flatten()
    }
}

/// The revocation list's zone, and the slab pool mutex its writers hold.
#[derive(Default)]
pub struct RevocationZone {
    pub zone: Zone,
    lock: SlabLock,
}

/// The mutex of a zone's slab pool. nginx releases it when a worker dies holding it
/// (`ngx_unlock_mutexes`), so a `kill -9` during an insertion blocks no one.
#[derive(Default)]
struct SlabLock {
    mutex: Cell<Option<*mut ngx_shmtx_t>>,
}

impl WriteLock for SlabLock {
    fn lock(&self) {
        if let Some(mutex) = self.mutex.get() {
            // SAFETY: the mutex of a slab pool nginx initialised, mapped for the cycle.
            unsafe { ngx_shmtx_lock(mutex) }
        }
    }

    fn unlock(&self) {
        if let Some(mutex) = self.mutex.get() {
            // SAFETY: as in lock; this process holds it.
            unsafe { ngx_shmtx_unlock(mutex) }
        }
    }
}

/// Declare the revocation list's zone, of `authentik_revocation_zone` bytes.
///
/// # Safety
/// As [`add_metrics_zone`].
pub unsafe fn add_revocation_zone(cf: *mut ngx_conf_t, main: &MainConf) -> Result<(), ()> {
    let cells = revocation::cells_for(main.settings.revocation_zone());
    // SAFETY: guaranteed by the caller.
    unsafe { add(cf, "authentik_revocations", cells, main, init_revocations) }
}

unsafe extern "C" fn init_revocations(zone: *mut ngx_shm_zone_t, old: *mut c_void) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        // SAFETY: as in init_metrics.
        let (main, old) = unsafe {
            (
                &*((*zone).data as *const MainConf),
                (old as *const MainConf).as_ref(),
            )
        };
        let cells = revocation::cells_for(main.settings.revocation_zone());
        // SAFETY: as documented on attach.
        let Some(found) = (unsafe { attach(zone, old.map(|m| &m.revocations.zone), cells) }) else {
            return NGX_ERROR as ngx_int_t;
        };
        main.revocations.zone.cells.set(Some(found));
        // SAFETY: the zone starts with its slab pool, whose mutex nginx initialised.
        let mutex =
            unsafe { ptr::addr_of_mut!((*((*zone).shm.addr as *mut ngx_slab_pool_t)).mutex) };
        main.revocations.lock.mutex.set(Some(mutex));
        let Some(cells) = main.revocations.zone.cells() else {
            return NGX_ERROR as ngx_int_t;
        };
        // SAFETY: the lock lives in this MainConf, as long as the worker state that holds
        // the view (both go with the cycle's pool).
        let lock: &'static dyn WriteLock = unsafe { &*ptr::addr_of!(main.revocations.lock) };
        if let Some(worker) = main.worker.borrow_mut().as_mut() {
            worker.revocations = Revocations::new(cells, lock);
        }
        NGX_OK as ngx_int_t
    })
}

/// Declare the metrics zone.
///
/// # Safety
/// `cf` must be the configuration in its postconfiguration callback; `main` its MainConf.
pub unsafe fn add_metrics_zone(cf: *mut ngx_conf_t, main: &MainConf) -> Result<(), ()> {
    // SAFETY: guaranteed by the caller.
    unsafe { add(cf, "authentik_metrics", metrics::CELLS, main, init_metrics) }
}

type Init = unsafe extern "C" fn(*mut ngx_shm_zone_t, *mut c_void) -> ngx_int_t;

/// # Safety
/// As [`add_metrics_zone`].
unsafe fn add(
    cf: *mut ngx_conf_t,
    name: &'static str,
    cells: usize,
    main: &MainConf,
    init: Init,
) -> Result<(), ()> {
    let mut name = ngx_str_t {
        len: name.len(),
        data: name.as_ptr().cast_mut(),
    };
    // Room for nginx's slab pool header and page alignment next to the cells.
    let size = cells * 8 + 64 * 1024;
    let tag = ptr::addr_of!(crate::ngx_http_authentik_module)
        .cast_mut()
        .cast();
    // SAFETY: `cf` is valid; nginx copies nothing, so the name must be static (it is).
    let zone = unsafe { ngx_shared_memory_add(cf, &mut name, size, tag) };
    // SAFETY: a non-null zone is nginx's, alive for the cycle.
    let Some(zone) = (unsafe { zone.as_mut() }) else {
        return Err(());
    };
    zone.init = Some(init);
    zone.data = (main as *const MainConf).cast_mut().cast();
    Ok(())
}

/// The cells of `zone`: the previous cycle's (`old` is its MainConf) after a reload, else a
/// new zeroed allocation from the zone's slab pool.
///
/// # Safety
/// `zone` must be a zone this module declared, being initialised by nginx; `old` null or the
/// previous cycle's MainConf.
unsafe fn attach(
    zone: *mut ngx_shm_zone_t,
    old: Option<&Zone>,
    cells: usize,
) -> Option<(*const AtomicU64, usize)> {
    if let Some(found) = old.and_then(|z| z.cells.get()) {
        return Some(found);
    }
    // SAFETY: nginx initialised a slab pool at the start of the zone before calling init;
    // `data` of the pool is ours, set below, and survives in the mapping.
    unsafe {
        let pool = (*zone).shm.addr as *mut ngx_slab_pool_t;
        if (*zone).shm.exists != 0 && !(*pool).data.is_null() {
            return Some(((*pool).data as *const AtomicU64, cells));
        }
        let memory = ngx_slab_alloc(pool, cells * 8) as *mut u8;
        if memory.is_null() {
            return None;
        }
        ptr::write_bytes(memory, 0, cells * 8);
        (*pool).data = memory.cast();
        Some((memory as *const AtomicU64, cells))
    }
}

unsafe extern "C" fn init_metrics(zone: *mut ngx_shm_zone_t, old: *mut c_void) -> ngx_int_t {
    guard(NGX_ERROR as ngx_int_t, || {
        // SAFETY: `data` is the MainConf set by `add`, alive for its cycle; `old` is null or
        // the previous cycle's, still alive while the new cycle initialises.
        let (main, old) = unsafe {
            (
                &*((*zone).data as *const MainConf),
                (old as *const MainConf).as_ref(),
            )
        };
        // SAFETY: as documented on attach.
        let Some(cells) = (unsafe { attach(zone, old.map(|m| &m.metrics.zone), metrics::CELLS) })
        else {
            return NGX_ERROR as ngx_int_t;
        };
        main.metrics.zone.cells.set(Some(cells));
        let Some(m) = main.metrics.metrics() else {
            return NGX_ERROR as ngx_int_t;
        };
        let slots: Vec<Option<Slot>> = main.providers.iter().map(|p| m.slot(p.name())).collect();
        if slots.iter().any(Option::is_none) {
            // SAFETY: the zone's log is the cycle's.
            let log = unsafe { (*zone).shm.log };
            ngx::ngx_log_error!(
                NGX_LOG_EMERG,
                log,
                "authentik: the metrics zone holds {} providers at most",
                metrics::MAX_PROVIDERS
            );
            return NGX_ERROR as ngx_int_t;
        }
        *main.metrics.slots.borrow_mut() = slots;
        NGX_OK as ngx_int_t
    })
}
