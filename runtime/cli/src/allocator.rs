//! The process's memory allocator: jemalloc, instead of the C library's malloc.
//!
//! Why (docs/benchmarks.md, session 18): with glibc's malloc a server's resident memory grew by
//! 80-180 MiB per million calls while its live heap stayed under 20 MiB (heaptrack): freed
//! memory stayed in per-thread arenas the runtime's many threads had each touched. jemalloc
//! returns it, and spends 20-30 % less CPU per call; the peak under 1000 concurrent calls is
//! within 10 % of glibc's.
//!
//! Its settings, read when it starts (before `main`); `_RJEM_MALLOC_CONF` in the environment
//! overrides them:
//! - `dirty_decay_ms:1000`: freed pages go back to the system after a second, not ten, so a
//!   burst of calls leaves the server at its steady size soon after;
//! - `muzzy_decay_ms:0`: and they go back whole, not only marked reusable.
//!
//! Its background threads, which give those pages back on time (without them only later
//! allocations do, and an idle server keeps what a burst left), are started by
//! [`start_background_threads`] once the process is confined: started from its settings, they
//! would exist before `main` and escape Landlock, which holds only for the thread that asks
//! and the threads it starts afterwards.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `malloc_conf` (a C string it reads once; its own definition is weak).
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

/// Starts jemalloc's background threads (one per arena in use, at most one per CPU). A
/// failure leaves memory to be returned on later allocations: logged, never fatal.
pub fn start_background_threads() {
    let mut on = true;
    // SAFETY: the name is a C string; `background_thread` takes a `bool` in `newp`, and no old
    // value is asked for.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"background_thread".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&raw mut on).cast(),
            size_of::<bool>(),
        )
    };
    if rc != 0 {
        tracing::warn!(
            error = rc,
            "cannot start the allocator's background threads; freed memory goes back to the system only as calls allocate"
        );
    }
}
