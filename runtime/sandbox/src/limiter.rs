//! The per-call [`ResourceLimiter`]: caps linear memory (summed over every memory of the
//! instance), table elements and instance counts, and remembers whether it refused anything so a
//! trap that follows a refusal is reported as `memory_exceeded`, not as a generic trap.

use wasmtime::ResourceLimiter;

/// Most memories and tables a component may hold. Rust components use one memory and one or two
/// tables; interpreters a few more. These only bound bookkeeping, the byte limits are below.
const MAX_MEMORIES: usize = 8;
const MAX_TABLES: usize = 16;

#[derive(Debug)]
pub(crate) struct CallLimiter {
    /// Budget for the sum of all linear memories, in bytes.
    memory_limit: usize,
    /// Budget for the sum of all table elements.
    table_limit: usize,
    /// Core instances the component may create.
    instance_limit: usize,
    /// Current sum of linear memory sizes (grows only: wasm memories never shrink).
    memory_total: usize,
    /// Current sum of table sizes.
    table_total: usize,
    /// Largest `memory_total` seen, for the usage report.
    pub(crate) peak_memory: usize,
    /// Set when a memory or table growth was refused; a later trap is then a limit kill.
    pub(crate) refused: bool,
}

impl CallLimiter {
    pub(crate) fn new(memory_limit: u64, table_limit: u64, instance_limit: u64) -> Self {
        let clamp = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        CallLimiter {
            memory_limit: clamp(memory_limit),
            table_limit: clamp(table_limit),
            instance_limit: clamp(instance_limit),
            memory_total: 0,
            table_total: 0,
            peak_memory: 0,
            refused: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    /// `Ok(false)` refuses the growth: `memory.grow` returns -1 to the guest, which may handle
    /// it; most guests abort, and the abort is then classified as `memory_exceeded`.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let new_total = self
            .memory_total
            .saturating_add(desired.saturating_sub(current));
        if new_total > self.memory_limit {
            self.refused = true;
            return Ok(false);
        }
        self.memory_total = new_total;
        self.peak_memory = self.peak_memory.max(new_total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let new_total = self
            .table_total
            .saturating_add(desired.saturating_sub(current));
        if new_total > self.table_limit {
            self.refused = true;
            return Ok(false);
        }
        self.table_total = new_total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instance_limit
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_memories_and_records_refusal_and_peak() {
        let mut l = CallLimiter::new(100, 10, 4);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert_eq!(l.peak_memory, 90);
        assert!(!l.refused);
        // A second memory growing by 20 would bring the total to 110.
        assert!(!l.memory_growing(30, 50, None).unwrap());
        assert!(l.refused);
        assert_eq!(l.peak_memory, 90);
        assert!(!l.table_growing(0, 11, None).unwrap());
        assert!(l.table_growing(0, 10, None).unwrap());
    }
}
