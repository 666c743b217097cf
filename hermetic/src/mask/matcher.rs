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
        let mut values: Vec<&[u8]> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.sort_unstable();
        values.dedup();
        compile(&values)
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

/// Marks a node without children while the trie is built.
const NO_CHILD: StateId = StateId::MAX;

/// Builds the trie with no allocation per node: values are inserted in sorted order, so a value
/// shares its prefix with the one before it along each node's most recent child, and every node's
/// children are created in increasing byte order. All buffers are sized up front (a value adds at
/// most one node per byte), so none is moved while it holds secret bytes.
fn compile(values: &[&[u8]]) -> SecretMatcher {
    let total: usize = values.iter().map(|v| v.len()).sum();
    let mut depth: Vec<u32> = Vec::with_capacity(total + 1);
    let mut terminal: Vec<bool> = Vec::with_capacity(total + 1);
    let mut last_child: Vec<StateId> = Vec::with_capacity(total + 1);
    let mut last_label: Vec<u8> = Vec::with_capacity(total + 1);
    let mut edge_parent: Vec<StateId> = Vec::with_capacity(total);
    let mut edge_label_by_birth: Vec<u8> = Vec::with_capacity(total);
    depth.push(0);
    terminal.push(false);
    last_child.push(NO_CHILD);
    last_label.push(0);

    for value in values {
        let mut node: usize = 0;
        for (i, &byte) in value.iter().enumerate() {
            let child = last_child.get(node).copied().unwrap_or(NO_CHILD);
            if child != NO_CHILD && last_label.get(node) == Some(&byte) {
                node = child as usize;
                continue;
            }
            let new = StateId::try_from(depth.len()).unwrap_or(NO_CHILD);
            depth.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            terminal.push(false);
            last_child.push(NO_CHILD);
            last_label.push(0);
            if let (Some(c), Some(l)) = (last_child.get_mut(node), last_label.get_mut(node)) {
                *c = new;
                *l = byte;
            }
            edge_parent.push(node as StateId);
            edge_label_by_birth.push(byte);
            node = new as usize;
        }
        if let Some(t) = terminal.get_mut(node) {
            *t = true;
        }
    }
    let n = depth.len();

    // Group edges by parent (a counting sort); a node's children were born in byte order and
    // node ids grow with birth, so the child of the k-th edge is node k + 1.
    let mut edge_start = vec![0u32; n + 1];
    for &p in &edge_parent {
        if let Some(c) = edge_start.get_mut(p as usize + 1) {
            *c += 1;
        }
    }
    for i in 1..=n {
        let prev = edge_start.get(i - 1).copied().unwrap_or(0);
        if let Some(c) = edge_start.get_mut(i) {
            *c += prev;
        }
    }
    let mut next_slot: Vec<u32> = edge_start.clone();
    let mut edge_label = vec![0u8; edge_parent.len()];
    let mut edge_target = vec![0 as StateId; edge_parent.len()];
    for (k, (&p, &byte)) in edge_parent.iter().zip(&edge_label_by_birth).enumerate() {
        let Some(slot) = next_slot.get_mut(p as usize) else {
            continue;
        };
        let at = *slot as usize;
        *slot += 1;
        if let (Some(l), Some(t)) = (edge_label.get_mut(at), edge_target.get_mut(at)) {
            *l = byte;
            *t = StateId::try_from(k + 1).unwrap_or(NO_CHILD);
        }
    }
    edge_label_by_birth.zeroize();
    last_label.zeroize();
    next_slot.zeroize();
    edge_parent.zeroize();
    last_child.zeroize();

    let mut root_next = vec![0 as StateId; 256];
    let root_edges = edge_start.get(1).copied().unwrap_or(0) as usize;
    for (byte, target) in edge_label.iter().zip(&edge_target).take(root_edges) {
        if let Some(slot) = root_next.get_mut(usize::from(*byte)) {
            *slot = *target;
        }
    }

    let mut matcher = SecretMatcher {
        edge_start,
        edge_label,
        edge_target,
        root_next,
        fail: vec![0; n],
        match_len: vec![0; n],
        live_len: vec![0; n],
        max_len: depth.iter().copied().max().unwrap_or(0) as usize,
        values: values.len(),
    };
    link_failures(&mut matcher, &depth, &terminal);
    depth.zeroize();
    terminal.iter_mut().for_each(|t| *t = false);
    matcher
}

/// Fills failure links, match lengths and live lengths breadth-first, so that a node's failure
/// target (which is shallower) is finished before the node.
fn link_failures(m: &mut SecretMatcher, depth: &[u32], terminal: &[bool]) {
    let mut queue = std::collections::VecDeque::with_capacity(depth.len());
    queue.push_back(0 as StateId);
    while let Some(node) = queue.pop_front() {
        let u = node as usize;
        let f = m.fail.get(u).copied().unwrap_or(0) as usize;
        let own_depth = depth.get(u).copied().unwrap_or(0);
        let edges = m.edge_start.get(u).copied().unwrap_or(0) as usize
            ..m.edge_start.get(u + 1).copied().unwrap_or(0) as usize;
        let has_children = !edges.is_empty();
        let (inherited_match, inherited_live) = if u == 0 {
            (0, 0)
        } else {
            (
                m.match_len.get(f).copied().unwrap_or(0),
                m.live_len.get(f).copied().unwrap_or(0),
            )
        };
        let own_match = if terminal.get(u).copied().unwrap_or(false) {
            own_depth
        } else {
            0
        };
        if let Some(slot) = m.match_len.get_mut(u) {
            *slot = own_match.max(inherited_match);
        }
        if let Some(slot) = m.live_len.get_mut(u) {
            *slot = if has_children {
                own_depth
            } else {
                inherited_live
            };
        }
        for k in edges {
            let (Some(&byte), Some(&child)) = (m.edge_label.get(k), m.edge_target.get(k)) else {
                continue;
            };
            let child_fail = if u == 0 {
                0
            } else {
                m.next(f as StateId, byte)
            };
            if let Some(slot) = m.fail.get_mut(child as usize) {
                *slot = child_fail;
            }
            queue.push_back(child);
        }
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
    fn values_in_any_order_and_repeated_build_the_same_matcher() {
        let a = matcher(&["abc", "ab", "b", "abc", "zz"]);
        let b = matcher(&["zz", "b", "ab", "abc"]);
        assert_eq!(a.value_count(), 4);
        assert_eq!(trace(&a, "xabcbzzab"), trace(&b, "xabcbzzab"));
        let lens: Vec<usize> = trace(&a, "xabcbzzab").iter().map(|t| t.0).collect();
        assert_eq!(lens, [0, 0, 2, 3, 1, 0, 2, 0, 2]);
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
