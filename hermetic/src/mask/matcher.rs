//! An Aho–Corasick automaton over every masked value, built to be driven one byte at a time.
//!
//! Written here rather than taken from the `aho-corasick` crate for two reasons: a stream masker
//! needs to know, after each byte, how long the longest unfinished match is (the bytes it must
//! hold back), which that crate does not expose; and every table that spells out a secret is
//! zeroed when the matcher is dropped.
//!
//! States are trie nodes; node 0 is the root. Missing transitions follow failure links, so a step
//! costs amortised O(1). Each node records the longest value ending there (its own or through
//! its failure links) and the longest suffix some value could still extend.

use zeroize::Zeroize;

/// Identifies a state of a [`SecretMatcher`].
pub(crate) type StateId = u32;

/// The compiled form of a set of masked values. Its `Debug` output shows only sizes.
pub struct SecretMatcher {
    /// Per node: where its outgoing edges start in `edge_label`/`edge_target` (one extra entry
    /// closes the last node's range). Edges are sorted by label.
    edge_start: Vec<u32>,
    edge_label: Vec<u8>,
    edge_target: Vec<StateId>,
    /// Transitions from the root for every byte (0 where there is none), the hottest state.
    root_next: Vec<StateId>,
    fail: Vec<StateId>,
    /// Length of the longest value that ends at this node, or 0.
    match_len: Vec<u32>,
    /// Length of the longest suffix of this node's bytes that some value extends further.
    live_len: Vec<u32>,
    max_len: usize,
    values: usize,
}

impl SecretMatcher {
    /// Builds the automaton for `values`; empty values are ignored.
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> SecretMatcher {
        let mut trie = Trie::default();
        let mut count = 0;
        for value in values {
            if !value.is_empty() {
                trie.insert(value);
                count += 1;
            }
        }
        let matcher = trie.compile(count);
        trie.zeroize();
        matcher
    }

    /// The state before any byte is read.
    pub(crate) fn start(&self) -> StateId {
        0
    }

    /// The longest masked value, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// How many distinct values (secrets and their encodings) are matched.
    pub fn value_count(&self) -> usize {
        self.values
    }

    /// The state after reading `byte` in `state`.
    pub(crate) fn next(&self, mut state: StateId, byte: u8) -> StateId {
        loop {
            if state == 0 {
                return self.root_next.get(usize::from(byte)).copied().unwrap_or(0);
            }
            if let Some(target) = self.edge(state, byte) {
                return target;
            }
            state = self.fail.get(state as usize).copied().unwrap_or(0);
        }
    }

    /// The length of the longest value that ends with the last byte read to reach `state`.
    pub(crate) fn match_len(&self, state: StateId) -> usize {
        self.match_len
            .get(state as usize)
            .map_or(0, |&l| l as usize)
    }

    /// How many of the last bytes read could still begin a value.
    pub(crate) fn live_len(&self, state: StateId) -> usize {
        self.live_len.get(state as usize).map_or(0, |&l| l as usize)
    }

    fn edge(&self, state: StateId, byte: u8) -> Option<StateId> {
        let i = state as usize;
        let start = *self.edge_start.get(i)? as usize;
        let end = *self.edge_start.get(i + 1)? as usize;
        let labels = self.edge_label.get(start..end)?;
        let k = labels.binary_search(&byte).ok()?;
        self.edge_target.get(start + k).copied()
    }
}

impl Drop for SecretMatcher {
    fn drop(&mut self) {
        self.edge_start.zeroize();
        self.edge_label.zeroize();
        self.edge_target.zeroize();
        self.root_next.zeroize();
        self.fail.zeroize();
        self.match_len.zeroize();
        self.live_len.zeroize();
    }
}

impl std::fmt::Debug for SecretMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretMatcher")
            .field("values", &self.values)
            .field("states", &self.fail.len())
            .finish()
    }
}

/// The trie a [`SecretMatcher`] is compiled from.
#[derive(Default)]
struct Trie {
    /// Per node: child labels and targets, kept sorted by label.
    labels: Vec<Vec<u8>>,
    targets: Vec<Vec<StateId>>,
    depth: Vec<u32>,
    terminal: Vec<bool>,
}

impl Trie {
    fn ensure_root(&mut self) {
        if self.labels.is_empty() {
            self.push_node(0);
        }
    }

    fn push_node(&mut self, depth: u32) -> StateId {
        self.labels.push(Vec::new());
        self.targets.push(Vec::new());
        self.depth.push(depth);
        self.terminal.push(false);
        // Node counts are bounded by the total length of the values, far below u32::MAX for any
        // set of secrets a job can hold; saturate rather than wrap if that were ever false.
        StateId::try_from(self.labels.len() - 1).unwrap_or(StateId::MAX)
    }

    fn child(&self, node: StateId, byte: u8) -> Option<StateId> {
        let labels = self.labels.get(node as usize)?;
        let k = labels.binary_search(&byte).ok()?;
        self.targets.get(node as usize)?.get(k).copied()
    }

    fn insert(&mut self, value: &[u8]) {
        self.ensure_root();
        let mut node: StateId = 0;
        for (i, &byte) in value.iter().enumerate() {
            node = match self.child(node, byte) {
                Some(next) => next,
                None => {
                    let depth = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let next = self.push_node(depth);
                    let (Some(labels), Some(targets)) = (
                        self.labels.get_mut(node as usize),
                        self.targets.get_mut(node as usize),
                    ) else {
                        return;
                    };
                    let k = labels.binary_search(&byte).unwrap_or_else(|k| k);
                    labels.insert(k, byte);
                    targets.insert(k, next);
                    next
                }
            };
        }
        if let Some(t) = self.terminal.get_mut(node as usize) {
            *t = true;
        }
    }

    fn compile(&mut self, values: usize) -> SecretMatcher {
        self.ensure_root();
        let n = self.labels.len();
        let mut fail = vec![0 as StateId; n];
        let mut match_len = vec![0u32; n];
        let mut live_len = vec![0u32; n];
        // Breadth-first, so a node's failure target (shallower) is finished before the node.
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(0 as StateId);
        while let Some(node) = queue.pop_front() {
            let u = node as usize;
            let depth = self.depth.get(u).copied().unwrap_or(0);
            let f = fail.get(u).copied().unwrap_or(0) as usize;
            let terminal = self.terminal.get(u).copied().unwrap_or(false);
            let has_children = self.labels.get(u).is_some_and(|l| !l.is_empty());
            let own_match = if terminal { depth } else { 0 };
            let inherited_match = if u == 0 {
                0
            } else {
                match_len.get(f).copied().unwrap_or(0)
            };
            let inherited_live = if u == 0 {
                0
            } else {
                live_len.get(f).copied().unwrap_or(0)
            };
            if let Some(m) = match_len.get_mut(u) {
                *m = own_match.max(inherited_match);
            }
            if let Some(l) = live_len.get_mut(u) {
                *l = if has_children { depth } else { inherited_live };
            }
            let children: Vec<(u8, StateId)> = match (self.labels.get(u), self.targets.get(u)) {
                (Some(l), Some(t)) => l.iter().copied().zip(t.iter().copied()).collect(),
                _ => Vec::new(),
            };
            for (byte, child) in children {
                let child_fail = if u == 0 {
                    0
                } else {
                    let mut g = f as StateId;
                    loop {
                        if let Some(next) = self.child(g, byte) {
                            break next;
                        }
                        if g == 0 {
                            break 0;
                        }
                        g = fail.get(g as usize).copied().unwrap_or(0);
                    }
                };
                if let Some(slot) = fail.get_mut(child as usize) {
                    *slot = child_fail;
                }
                queue.push_back(child);
            }
        }

        let mut edge_start = Vec::with_capacity(n + 1);
        let mut edge_label = Vec::new();
        let mut edge_target = Vec::new();
        for (labels, targets) in self.labels.iter().zip(&self.targets) {
            edge_start.push(u32::try_from(edge_label.len()).unwrap_or(u32::MAX));
            edge_label.extend_from_slice(labels);
            edge_target.extend_from_slice(targets);
        }
        edge_start.push(u32::try_from(edge_label.len()).unwrap_or(u32::MAX));
        let mut root_next = vec![0 as StateId; 256];
        if let (Some(labels), Some(targets)) = (self.labels.first(), self.targets.first()) {
            for (&byte, &target) in labels.iter().zip(targets) {
                if let Some(slot) = root_next.get_mut(usize::from(byte)) {
                    *slot = target;
                }
            }
        }
        let max_len = self.depth.iter().copied().max().unwrap_or(0) as usize;
        SecretMatcher {
            edge_start,
            edge_label,
            edge_target,
            root_next,
            fail,
            match_len,
            live_len,
            max_len,
            values,
        }
    }
}

impl Zeroize for Trie {
    fn zeroize(&mut self) {
        self.labels.iter_mut().for_each(Zeroize::zeroize);
        self.targets.iter_mut().for_each(Zeroize::zeroize);
        self.labels.clear();
        self.targets.clear();
        self.depth.zeroize();
        self.terminal.iter_mut().for_each(|t| *t = false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(values: &[&str]) -> SecretMatcher {
        SecretMatcher::new(values.iter().map(|v| v.as_bytes()))
    }

    /// (longest match length, live length) after each byte.
    fn trace(m: &SecretMatcher, text: &str) -> Vec<(usize, usize)> {
        let mut s = m.start();
        text.bytes()
            .map(|b| {
                s = m.next(s, b);
                (m.match_len(s), m.live_len(s))
            })
            .collect()
    }

    #[test]
    fn reports_the_longest_value_ending_at_each_byte() {
        let m = matcher(&["he", "she", "hers"]);
        let got: Vec<usize> = trace(&m, "ushers").iter().map(|t| t.0).collect();
        assert_eq!(got, [0, 0, 0, 3, 0, 4]);
    }

    #[test]
    fn live_length_counts_bytes_a_value_could_still_extend() {
        let m = matcher(&["abcd"]);
        let got: Vec<usize> = trace(&m, "xabcab").iter().map(|t| t.1).collect();
        assert_eq!(got, [0, 1, 2, 3, 1, 2]);
    }

    #[test]
    fn a_finished_value_that_nothing_extends_is_not_live() {
        let m = matcher(&["ab", "bc"]);
        // After "ab" the value "bc" could still start at "b".
        assert_eq!(trace(&m, "ab"), [(0, 1), (2, 1)]);
        assert_eq!(trace(&m, "abc"), [(0, 1), (2, 1), (2, 0)]);
    }

    #[test]
    fn empty_values_and_no_values_match_nothing() {
        let m = SecretMatcher::new([&b""[..]]);
        assert_eq!(m.value_count(), 0);
        assert_eq!(m.max_len(), 0);
        assert!(trace(&m, "abc").iter().all(|&t| t == (0, 0)));
    }

    #[test]
    fn debug_shows_no_bytes() {
        let m = matcher(&["hunter2"]);
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(m.value_count(), 1);
        assert_eq!(m.max_len(), 7);
    }
}
