//! The one wasmtime [`Engine`] a process uses, how it is configured, and the epoch ticker that
//! drives wall-clock deadlines.

use cordon_core::Limits;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

/// How often the engine's epoch advances. Deadlines are checked (and CPU-bound guests yield to
/// the async runtime) at this granularity: 2 ms keeps both the overshoot past a deadline and the
/// cost of the checks small.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Wasm stack a guest may use. 1 MiB is wasmtime's default order of magnitude; recursion beyond
/// it is a `trap` (stack overflow), never a host crash.
const MAX_WASM_STACK: usize = 1024 * 1024;

/// Native stack for each async call: must exceed the wasm stack plus what host calls need.
const ASYNC_STACK: usize = 2 * 1024 * 1024;

/// Bytes of each pooled linear memory kept resident between calls (see `build_engine`).
const KEEP_RESIDENT: usize = 2 * 1024 * 1024;

/// Settings that shape the engine. Changing any of them changes the engine fingerprint, which
/// invalidates compiled-component cache entries made under other settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Calls that may run at the same time; sizes the pooling allocator's slots.
    pub max_concurrent_calls: u32,
    /// The most any policy may grant; sizes memory and table slots.
    pub caps: Limits,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            // 1000 concurrent calls: enough for a busy node; every slot is address space only
            // until used.
            max_concurrent_calls: 1000,
            caps: Limits::server_caps(),
        }
    }
}

pub(crate) fn build_engine(settings: &EngineSettings) -> wasmtime::Result<Engine> {
    let n = settings.max_concurrent_calls.max(1);
    let caps = &settings.caps;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        // Each component holds a few core instances, memories and tables; the per-component
        // maxima come from the caps, the totals assume typical tools use far fewer.
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_core_instances_per_component(caps.instances.try_into().unwrap_or(u32::MAX))
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_memory_size(caps.memory_bytes.try_into().unwrap_or(usize::MAX))
        .table_elements(caps.table_elements.try_into().unwrap_or(usize::MAX))
        // Resetting a slot with madvise costs a TLB shootdown on every core and page faults on
        // the next call; keeping the first 2 MiB resident and resetting only the pages the call
        // dirtied (PAGEMAP_SCAN, Linux 6.7+, ignored elsewhere) makes a warm echo call 3x
        // cheaper. The cost is at most this much resident memory per slot that has been used,
        // and only pages a call actually dirtied stay resident.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT / 16)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// A hex digest that changes whenever compiled code from this engine would not be valid for
/// another: wasmtime's own compatibility hash plus its version.
pub(crate) fn fingerprint(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Sha(Sha256::new());
    h.write(b"wasmtime-48.0.8\0");
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..16])
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread until dropped, while
/// at least one call runs: an idle server's ticker sleeps instead of waking 500 times a second
/// (each wake costs CPU and, on a virtual machine, an exit), and a call's first tick comes one
/// tick after it starts, as before.
pub(crate) struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: std::thread::Thread,
}

struct TickerShared {
    stop: AtomicBool,
    /// Calls running now.
    active: AtomicUsize,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Self> {
        let shared = Arc::new(TickerShared {
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
        });
        let weak = engine.weak();
        let ticking = shared.clone();
        let handle = std::thread::Builder::new()
            .name("cordon-epoch".into())
            .spawn(move || {
                while !ticking.stop.load(Ordering::Acquire) {
                    if ticking.active.load(Ordering::Acquire) == 0 {
                        // Woken by the next call (an unpark before this park is not lost).
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(EpochTicker {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Keeps the epoch advancing while the returned guard lives (one per running call).
    pub(crate) fn running(&self) -> Running<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Running(self)
    }
}

/// A call running: the ticker ticks until every such guard is dropped.
pub(crate) struct Running<'a>(&'a EpochTicker);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}
