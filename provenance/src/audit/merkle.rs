//! The audit log's Merkle tree: RFC 6962 / RFC 9162 hashing (`SHA-256(0x00 || leaf)` for a
//! leaf, `SHA-256(0x01 || left || right)` for a node), roots, inclusion and consistency proofs.
//!
//! The tree arithmetic and proof verification are `ct-merkle`'s (an RFC 6962 implementation
//! over the same `sha2` as the rest of the crate); this module only turns its types into ours
//! (digests, sizes) and bounds what it is given, since its functions panic on sizes no valid
//! tree has.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2::Sha256;

use crate::digest::Sha256Digest;

/// The largest tree we build or accept proofs for (2^40 leaves: far beyond any host's log).
pub const MAX_TREE_SIZE: u64 = 1 << 40;

/// The largest proof we accept, in hashes (2 · log2 of [`MAX_TREE_SIZE`]).
pub const MAX_PROOF_HASHES: usize = 80;

/// An in-memory Merkle tree over the log's record lines.
#[derive(Debug, Default, Clone)]
pub struct LogTree {
    tree: MemoryBackedTree<Sha256, Vec<u8>>,
}

/// A tree size with its root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Sha256Digest,
}

impl LogTree {
    /// An empty tree.
    pub fn new() -> LogTree {
        LogTree::default()
    }

    /// Appends one leaf (a record line without its newline); returns its index.
    pub fn push(&mut self, leaf: Vec<u8>) -> u64 {
        let index = self.tree.len();
        self.tree.push(leaf);
        index
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.tree.len()
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: u64) -> Option<&[u8]> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.tree.get(i))
            .map(Vec::as_slice)
    }

    /// The current size and root (`SHA-256("")` for an empty tree).
    pub fn head(&self) -> TreeHead {
        let root = self.tree.root();
        TreeHead {
            size: root.num_leaves(),
            root: to_digest(root.as_bytes()),
        }
    }

    /// The audit path of leaf `index` in the current tree, or `None` if there is no such leaf.
    pub fn inclusion_proof(&self, index: u64) -> Option<Vec<Sha256Digest>> {
        if index >= self.size() {
            return None;
        }
        let i = usize::try_from(index).ok()?;
        Some(split(self.tree.prove_inclusion(i).as_bytes()))
    }

    /// The proof that the tree of `old_size` leaves is a prefix of the current tree, or `None`
    /// unless `0 < old_size < size`.
    pub fn consistency_proof(&self, old_size: u64) -> Option<Vec<Sha256Digest>> {
        if old_size == 0 || old_size >= self.size() {
            return None;
        }
        let additions = usize::try_from(self.size() - old_size).ok()?;
        Some(split(self.tree.prove_consistency(additions).as_bytes()))
    }
}

/// Whether `proof` shows `leaf` at `index` in the tree with head `head`.
pub fn verify_inclusion(head: TreeHead, leaf: &[u8], index: u64, proof: &[Sha256Digest]) -> bool {
    if head.size == 0 || head.size > MAX_TREE_SIZE || index >= head.size {
        return false;
    }
    if proof.len() > MAX_PROOF_HASHES {
        return false;
    }
    let root = RootHash::<Sha256>::new(head.root.as_bytes().to_owned().into(), head.size);
    let proof = InclusionProof::<Sha256>::from_digests(
        proof
            .iter()
            .map(|d| d.as_bytes().to_owned().into())
            .collect::<Vec<_>>()
            .iter(),
    );
    root.verify_inclusion(&leaf, index, &proof).is_ok()
}

/// Whether `proof` shows the tree with head `old` is a prefix of the tree with head `new`.
pub fn verify_consistency(old: TreeHead, new: TreeHead, proof: &[Sha256Digest]) -> bool {
    if old.size == 0 || old.size > new.size || new.size > MAX_TREE_SIZE {
        return false;
    }
    if old.size == new.size {
        return proof.is_empty() && old.root == new.root;
    }
    if proof.len() > MAX_PROOF_HASHES {
        return false;
    }
    let old_root = RootHash::<Sha256>::new(old.root.as_bytes().to_owned().into(), old.size);
    let new_root = RootHash::<Sha256>::new(new.root.as_bytes().to_owned().into(), new.size);
    let proof = ConsistencyProof::<Sha256>::from_digests(
        proof
            .iter()
            .map(|d| d.as_bytes().to_owned().into())
            .collect::<Vec<_>>()
            .iter(),
    );
    new_root.verify_consistency(&old_root, &proof).is_ok()
}

fn to_digest(bytes: &[u8]) -> Sha256Digest {
    let mut out = [0u8; 32];
    if bytes.len() == 32 {
        out.copy_from_slice(bytes);
    }
    Sha256Digest::from_bytes(out)
}

fn split(bytes: &[u8]) -> Vec<Sha256Digest> {
    bytes.chunks_exact(32).map(to_digest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn tree(n: u64) -> LogTree {
        let mut t = LogTree::new();
        for i in 0..n {
            t.push(format!("leaf {i}").into_bytes());
        }
        t
    }

    #[test]
    fn hashes_leaves_and_nodes_as_rfc_6962_says() {
        let t = tree(2);
        let leaf = |b: &[u8]| {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(b);
            h.finalize()
        };
        let mut node = Sha256::new();
        node.update([1u8]);
        node.update(leaf(b"leaf 0"));
        node.update(leaf(b"leaf 1"));
        let expected: [u8; 32] = node.finalize().into();
        assert_eq!(t.head().root, Sha256Digest::from_bytes(expected));
        assert_eq!(
            LogTree::new().head().root,
            Sha256Digest::of(b""),
            "the empty tree's root is SHA-256 of nothing"
        );
    }

    #[test]
    fn every_leaf_has_a_verifying_inclusion_proof_and_others_fail() {
        for n in 1..=17 {
            let t = tree(n);
            let head = t.head();
            for i in 0..n {
                let proof = t.inclusion_proof(i).unwrap();
                let leaf = t.leaf(i).unwrap().to_vec();
                assert!(verify_inclusion(head, &leaf, i, &proof), "n={n} i={i}");
                assert!(!verify_inclusion(head, b"forged", i, &proof), "n={n} i={i}");
                if n > 1 {
                    assert!(
                        !verify_inclusion(head, &leaf, (i + 1) % n, &proof),
                        "n={n} i={i}"
                    );
                }
            }
            assert!(t.inclusion_proof(n).is_none());
        }
    }

    #[test]
    fn every_prefix_is_consistent_with_the_tree_and_a_fork_is_not() {
        let full = tree(13);
        for m in 1..13 {
            let old = tree(m).head();
            let proof = full.consistency_proof(m).unwrap();
            assert!(verify_consistency(old, full.head(), &proof), "m={m}");
            let mut forked = tree(m - 1);
            forked.push(b"other".to_vec());
            assert!(
                !verify_consistency(forked.head(), full.head(), &proof),
                "m={m}"
            );
        }
    }

    #[test]
    fn refuses_absurd_sizes_without_panicking() {
        let head = TreeHead {
            size: u64::MAX,
            root: Sha256Digest::of(b""),
        };
        assert!(!verify_inclusion(head, b"x", u64::MAX - 1, &[]));
        assert!(!verify_consistency(head, head, &[]));
        let zero = TreeHead { size: 0, ..head };
        assert!(!verify_inclusion(zero, b"x", 0, &[]));
    }
}
