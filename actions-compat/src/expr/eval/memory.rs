//! The memory budget of one evaluation, accounted as GitHub's runner accounts it, so that the
//! same expressions hit "The maximum allowed memory size was exceeded".
//!
//! Two meters run. [`EvaluationMemory`] holds the size of every node's result, by depth in the
//! tree; when a node produces a value whose size is known in full (a literal, a computed string,
//! a boolean) the results below it are released. [`MemoryCounter`] meters what one function builds
//! (`format`, `toJSON`, `join`, a `*` filter) while it builds it.

/// The budget when [`crate::expr::EvalContext::max_memory`] is 0: GitHub's default for expressions.
pub const DEFAULT_MAX_MEMORY: usize = 1024 * 1024;

/// The budget GitHub gives expressions inside workflow templates (its 10 MB template result limit).
pub const TEMPLATE_MAX_MEMORY: usize = 10 * 1024 * 1024;

/// Size charged for any non-string value.
pub(crate) const MIN_OBJECT_SIZE: u64 = 24;
/// Size charged per item of a `*` filter's result (a reference).
pub(crate) const REFERENCE_SIZE: u64 = 8;
const STRING_OVERHEAD: u64 = 26;

/// Size charged for a string: a fixed overhead plus two bytes per UTF-16 code unit.
pub(crate) fn string_size(s: &str) -> u64 {
    let units: usize = s.chars().map(char::len_utf16).sum();
    STRING_OVERHEAD.saturating_add(2u64.saturating_mul(units as u64))
}

/// Result sizes held at each depth of the tree being evaluated.
#[derive(Debug)]
pub(crate) struct EvaluationMemory {
    max: u64,
    depths: Vec<u64>,
    /// Deepest depth holding anything, if any.
    max_active: Option<usize>,
    total: u64,
}

impl EvaluationMemory {
    pub(crate) fn new(max: usize) -> Self {
        EvaluationMemory {
            max: max as u64,
            depths: Vec::new(),
            max_active: None,
            total: 0,
        }
    }

    /// Adds `bytes` at `depth`, first releasing everything deeper when `trim` is set. Returns
    /// false when the total exceeds the budget.
    pub(crate) fn add(&mut self, depth: usize, bytes: u64, trim: bool) -> bool {
        if trim {
            while let Some(active) = self.max_active.filter(|a| *a > depth) {
                if let Some(amount) = self.depths.get_mut(active) {
                    self.total = self.total.saturating_sub(*amount);
                    *amount = 0;
                }
                self.max_active = active.checked_sub(1);
            }
        }
        if self.max_active.is_none_or(|a| depth > a) {
            if self.depths.len() <= depth {
                self.depths.resize(depth + 1, 0);
            }
            self.max_active = Some(depth);
        }
        if let Some(slot) = self.depths.get_mut(depth) {
            *slot = slot.saturating_add(bytes);
        }
        self.total = self.total.saturating_add(bytes);
        self.total <= self.max
    }
}

/// What one function has built so far.
#[derive(Debug)]
pub(crate) struct MemoryCounter {
    max: u64,
    current: u64,
}

impl MemoryCounter {
    pub(crate) fn new(max: usize) -> Self {
        MemoryCounter {
            max: max as u64,
            current: 0,
        }
    }

    /// Adds `bytes` unless that would exceed the budget; returns false then.
    pub(crate) fn add(&mut self, bytes: u64) -> bool {
        let total = self.current.saturating_add(bytes);
        if total > self.max {
            return false;
        }
        self.current = total;
        true
    }

    pub(crate) fn current(&self) -> u64 {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_cost_overhead_plus_two_bytes_per_unit() {
        assert_eq!(string_size(""), 26);
        assert_eq!(string_size("abc"), 32);
        assert_eq!(string_size("😊"), 30);
    }

    #[test]
    fn trimming_releases_deeper_results() {
        let mut memory = EvaluationMemory::new(100);
        assert!(memory.add(2, 60, false));
        assert!(memory.add(1, 30, false));
        assert!(!memory.add(1, 20, false), "60 + 30 + 20 is over budget");
        let mut memory = EvaluationMemory::new(100);
        assert!(memory.add(2, 60, false));
        assert!(memory.add(1, 30, true), "the 60 at depth 2 is released");
        assert!(memory.add(1, 60, false));
        assert_eq!(memory.total, 90);
    }

    #[test]
    fn counter_refuses_what_would_overflow_the_budget() {
        let mut counter = MemoryCounter::new(10);
        assert!(counter.add(6));
        assert!(!counter.add(6));
        assert_eq!(counter.current(), 6);
        assert!(counter.add(4));
    }
}
