//! Merkle tree hashing, proof generation and proof verification as specified
//! in RFC 9162 §2.1 (Certificate Transparency v2; the tree is the same as in
//! RFC 6962).
//!
//! This module is pure: it performs no I/O. Stored tree nodes are obtained
//! through a caller-supplied *node source*, a closure
//! `FnMut(level, index) -> Result<Option<Hash>, E>` which returns the hash of
//! the perfect subtree covering leaves `[index << level, (index + 1) << level)`
//! when it is stored, `None` when it is not, or the source's own error.
//!
//! Every range that is a perfect, aligned block is looked up as a single node
//! (and only computed from its children when it is not stored), so roots and
//! proofs need O(log n) lookups on a source that stores all perfect nodes.

use std::convert::Infallible;

use openssl::sha::{sha256, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Hash of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// RFC 9162 leaf hash: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x00]);
    h.update(data);
    h.finish()
}

/// RFC 9162 interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    h.finish()
}

/// The perfect nodes a new leaf completes.
///
/// Stored perfect subtrees are addressed by `(level, index)`: the node covers
/// leaves `[index << level, (index + 1) << level)`. Level 0 is the leaf hash.
/// Appending leaf `n` (0-based) completes the nodes `(1, n >> 1)` if `n` is
/// odd, `(2, n >> 2)` if `n % 4 == 3`, ... The nodes are returned bottom-up;
/// the leaf itself, `(0, n)`, is not included.
pub fn completed_by(leaf_index: u64) -> Vec<(u32, u64)> {
    (1..=leaf_index.trailing_ones())
        .map(|level| (level, leaf_index.checked_shr(level).unwrap_or(0)))
        .collect()
}

/// Errors from computing roots and proofs over a node source.
#[derive(Debug, thiserror::Error)]
pub enum MerkleError<E> {
    /// The node source failed.
    #[error("node source failed: {0}")]
    Source(E),
    /// A node needed to compute the answer is not available `(level, index)`.
    #[error("tree node (level {0}, index {1}) is not available")]
    MissingNode(u32, u64),
    /// An index or size is out of range (with an explanatory message).
    #[error("out of range: {0}")]
    OutOfRange(String),
}

/// Largest power of two strictly less than `n`; requires `n >= 2`.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Hash of the perfect node `(level, index)`: the stored value if present,
/// otherwise computed from its two children.
fn perfect_node<E, F>(nodes: &mut F, level: u32, index: u64) -> Result<Hash, MerkleError<E>>
where
    F: FnMut(u32, u64) -> Result<Option<Hash>, E>,
{
    if let Some(h) = nodes(level, index).map_err(MerkleError::Source)? {
        return Ok(h);
    }
    if level == 0 {
        return Err(MerkleError::MissingNode(0, index));
    }
    let left_index = index.checked_mul(2).ok_or_else(|| {
        MerkleError::OutOfRange(format!("node (level {level}, index {index}) out of range"))
    })?;
    let left = perfect_node(nodes, level - 1, left_index)?;
    let right = perfect_node(nodes, level - 1, left_index + 1)?;
    Ok(node_hash(&left, &right))
}

/// MTH(D[lo..hi]) for `lo < hi`.
fn range_root<E, F>(nodes: &mut F, lo: u64, hi: u64) -> Result<Hash, MerkleError<E>>
where
    F: FnMut(u32, u64) -> Result<Option<Hash>, E>,
{
    let n = hi - lo;
    if n.is_power_of_two() && lo & (n - 1) == 0 {
        let level = n.trailing_zeros();
        return perfect_node(nodes, level, lo >> level);
    }
    let k = split_point(n);
    let left = range_root(nodes, lo, lo + k)?;
    let right = range_root(nodes, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// MTH(D[lo..hi]) per RFC 9162, computed from a node source.
///
/// `nodes(level, index)` returns `Ok(Some(hash))` when that perfect subtree is
/// stored and `Ok(None)` when it is not. A range that is a perfect aligned
/// block is looked up directly; when it is not stored it is computed from its
/// two children (recursively, down to level 0 where a missing leaf is
/// [`MerkleError::MissingNode`]). Other ranges are computed by the RFC split
/// (k = largest power of two < n), so a right-border incomplete range uses the
/// perfect aligned blocks of its decomposition. An empty range (`lo == hi`)
/// yields [`empty_root`].
pub fn subtree_root<E>(
    nodes: &mut impl FnMut(u32, u64) -> Result<Option<Hash>, E>,
    lo: u64,
    hi: u64,
) -> Result<Hash, MerkleError<E>> {
    match lo.cmp(&hi) {
        std::cmp::Ordering::Less => range_root(nodes, lo, hi),
        std::cmp::Ordering::Equal => Ok(empty_root()),
        std::cmp::Ordering::Greater => Err(MerkleError::OutOfRange(format!(
            "range start {lo} is after range end {hi}"
        ))),
    }
}

/// Root of the tree of `size` leaves ([`empty_root`] for 0).
pub fn root<E>(
    nodes: &mut impl FnMut(u32, u64) -> Result<Option<Hash>, E>,
    size: u64,
) -> Result<Hash, MerkleError<E>> {
    subtree_root(nodes, 0, size)
}

/// RFC 9162 §2.1.3.1 inclusion proof (PATH) of leaf `index` in the tree of
/// `size` leaves, ordered from the leaf's sibling up to the root's child.
///
/// Fails with [`MerkleError::OutOfRange`] unless `index < size`.
pub fn inclusion_proof<E>(
    nodes: &mut impl FnMut(u32, u64) -> Result<Option<Hash>, E>,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError<E>> {
    if index >= size {
        return Err(MerkleError::OutOfRange(format!(
            "leaf index {index} is not less than tree size {size}"
        )));
    }
    // Walk down from the root; siblings are collected top-down.
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            path.push(range_root(nodes, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_root(nodes, lo, lo + k)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1 consistency proof (PROOF / SUBPROOF) between the trees of
/// sizes `old` and `new`.
///
/// Requires `0 < old <= new` (otherwise [`MerkleError::OutOfRange`]);
/// `old == new` gives an empty proof.
pub fn consistency_proof<E>(
    nodes: &mut impl FnMut(u32, u64) -> Result<Option<Hash>, E>,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, MerkleError<E>> {
    if old == 0 || old > new {
        return Err(MerkleError::OutOfRange(format!(
            "consistency proof needs 0 < old <= new, got old {old}, new {new}"
        )));
    }
    // Walk down SUBPROOF(old - lo, D[lo..hi], complete); `outer` collects the
    // hashes appended after the recursive sub-proof, outermost first.
    let (mut lo, mut hi) = (0u64, new);
    let mut complete = true;
    let mut outer = Vec::new();
    let mut head = None;
    while old != hi {
        let k = split_point(hi - lo);
        if old - lo <= k {
            outer.push(range_root(nodes, lo + k, hi)?);
            hi = lo + k;
        } else {
            outer.push(range_root(nodes, lo, lo + k)?);
            lo += k;
            complete = false;
        }
    }
    if !complete {
        head = Some(range_root(nodes, lo, hi)?);
    }
    Ok(head.into_iter().chain(outer.into_iter().rev()).collect())
}

/// Errors from proof verification.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The proof or its parameters are malformed (with an explanatory message).
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof is well-formed but the computed root does not match.
    #[error("computed root does not match the expected root")]
    RootMismatch,
}

/// Right-shift `fn_` and `sn` equally until either LSB(fn_) is set or `fn_` is 0.
fn shift_to_set_bit(fn_: &mut u64, sn: &mut u64) {
    while *fn_ != 0 && *fn_ & 1 == 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// RFC 9162 §2.1.3.2 verification of the inclusion proof of the leaf hash
/// `leaf` at `index` in the tree of `size` leaves with root `root` (the
/// iterative algorithm with fn/sn/r).
///
/// Returns [`VerifyError::Malformed`] when `index >= size` or the proof has
/// the wrong length, and [`VerifyError::RootMismatch`] when the computed root
/// differs from `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if root_from_inclusion(leaf, index, size, proof)? == *root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// The root that the inclusion proof `proof` of the leaf hash `leaf` at
/// `index` in a tree of `size` leaves leads to (RFC 9162 §2.1.3.2, without
/// the final comparison): what a signature over that root must cover.
///
/// Returns [`VerifyError::Malformed`] when `index >= size` or the proof has
/// the wrong length.
pub fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::Malformed(format!(
            "leaf index {index} is not less than tree size {size}"
        )));
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(VerifyError::Malformed(format!(
                "inclusion proof too long for index {index} in size {size}"
            )));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            shift_to_set_bit(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::Malformed(format!(
            "inclusion proof too short for index {index} in size {size}"
        )));
    }
    Ok(r)
}

/// RFC 9162 §2.1.4.2 verification of the consistency proof between the tree
/// of `old` leaves with root `old_root` and the tree of `new` leaves with root
/// `new_root`.
///
/// `old == new` requires an empty proof and equal roots; `old == 0` is
/// accepted with an empty proof (any tree extends the empty tree). Returns
/// [`VerifyError::Malformed`] for invalid sizes or a proof of the wrong shape,
/// and [`VerifyError::RootMismatch`] when a computed root differs.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old > new {
        return Err(VerifyError::Malformed(format!(
            "old size {old} is greater than new size {new}"
        )));
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::Malformed(format!(
                "proof between sizes {old} and {new} must be empty"
            )));
        }
        if old == new && old_root != new_root {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    // Step 1: a proof between 0 < old < new is never empty.
    let Some((first, rest)) = proof.split_first() else {
        return Err(VerifyError::Malformed(format!(
            "empty consistency proof between sizes {old} and {new}"
        )));
    };
    // Step 2: if old is a power of two, the proof starts implicitly with old_root.
    let (seed, path) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    // Steps 3-4.
    let mut fn_ = old - 1;
    let mut sn = new - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Steps 5-6.
    let mut fr = *seed;
    let mut sr = *seed;
    for c in path {
        if sn == 0 {
            return Err(VerifyError::Malformed(format!(
                "consistency proof too long for sizes {old} and {new}"
            )));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_to_set_bit(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(VerifyError::Malformed(format!(
            "consistency proof too short for sizes {old} and {new}"
        )));
    }
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// An in-memory node source over leaf hashes, for tests and offline
/// verification. Every perfect interior node is computed as leaves are pushed.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the perfect node `(l, i)`; level 0 holds leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// Creates an empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and stores every perfect node
    /// it completes.
    pub fn push(&mut self, leaf: Hash) {
        let n = self.len();
        self.level_mut(0).push(leaf);
        let mut current = leaf;
        for (level, _) in completed_by(n) {
            // The completed node's right child is `current`, its left child the
            // node just before it on the level below.
            let below = self.levels.get((level - 1) as usize).map(Vec::as_slice);
            let Some(&[left, _]) = below.and_then(|b| b.last_chunk::<2>()) else {
                break;
            };
            current = node_hash(&left, &current);
            self.level_mut(level).push(current);
        }
    }

    fn level_mut(&mut self, level: u32) -> &mut Vec<Hash> {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        &mut self.levels[level]
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored perfect node `(level, index)`, if it exists.
    pub fn node(&self, level: u32, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.get(level as usize)?.get(index).copied()
    }

    /// A node source over this tree, for [`subtree_root`], [`root`],
    /// [`inclusion_proof`] and [`consistency_proof`].
    pub fn source(&self) -> impl FnMut(u32, u64) -> Result<Option<Hash>, Infallible> + '_ {
        move |level, index| Ok(self.node(level, index))
    }

    /// Root of the tree at its current size.
    pub fn root(&self) -> Hash {
        // Every perfect node of the current tree is stored, so this cannot fail.
        self.root_at(self.len()).unwrap_or_else(empty_root)
    }

    /// Root of the tree of the first `size` leaves, or `None` if `size`
    /// exceeds the number of leaves.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.len() {
            return None;
        }
        root(&mut self.source(), size).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const MAX: u64 = 70;

    fn hx(s: &str) -> Hash {
        assert_eq!(s.len(), 64);
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn flip(h: &Hash) -> Hash {
        let mut out = *h;
        out[0] ^= 0x10;
        out
    }

    fn leaf_data(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf #{i}").into_bytes()).collect()
    }

    fn tree_of(d: &[Vec<u8>]) -> MemoryTree {
        let mut t = MemoryTree::new();
        for x in d {
            t.push(leaf_hash(x));
        }
        t
    }

    fn k_of(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// Naive recursive MTH straight from RFC 9162 §2.1.1.
    fn ref_mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => leaf_hash(&d[0]),
            n => {
                let k = k_of(n);
                node_hash(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
            }
        }
    }

    /// Naive recursive PATH from RFC 9162 §2.1.3.1.
    fn ref_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return vec![];
        }
        let k = k_of(n);
        if m < k {
            let mut p = ref_path(m, &d[..k]);
            p.push(ref_mth(&d[k..]));
            p
        } else {
            let mut p = ref_path(m - k, &d[k..]);
            p.push(ref_mth(&d[..k]));
            p
        }
    }

    /// Naive recursive SUBPROOF from RFC 9162 §2.1.4.1.
    fn ref_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![ref_mth(d)] };
        }
        let k = k_of(n);
        if m <= k {
            let mut p = ref_subproof(m, &d[..k], b);
            p.push(ref_mth(&d[k..]));
            p
        } else {
            let mut p = ref_subproof(m - k, &d[k..], false);
            p.push(ref_mth(&d[..k]));
            p
        }
    }

    /// A source exposing only the given levels of `t`.
    fn levels_source<'a>(
        t: &'a MemoryTree,
        levels: &'a [u32],
    ) -> impl FnMut(u32, u64) -> Result<Option<Hash>, Infallible> + 'a {
        move |l, i| {
            Ok(if levels.contains(&l) {
                t.node(l, i)
            } else {
                None
            })
        }
    }

    #[test]
    fn rfc6962_test_vectors() {
        // transparency-dev/merkle testonly/constants.go and proof/verify_test.go
        // (originally certificate-transparency's merkle tests).
        let inputs = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaf_hashes = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ];
        let level1 = [
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ];
        let level2 = [
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ];

        let mut t = MemoryTree::new();
        assert_eq!(t.root(), hx(roots[0]));
        for (i, input) in inputs.iter().enumerate() {
            let lh = leaf_hash(&unhex(input));
            assert_eq!(lh, hx(leaf_hashes[i]));
            t.push(lh);
            assert_eq!(t.root(), hx(roots[i + 1]), "root of size {}", i + 1);
        }
        for (size, r) in roots.iter().enumerate() {
            assert_eq!(t.root_at(size as u64), Some(hx(r)));
        }
        for (i, h) in level1.iter().enumerate() {
            assert_eq!(t.node(1, i as u64), Some(hx(h)));
        }
        for (i, h) in level2.iter().enumerate() {
            assert_eq!(t.node(2, i as u64), Some(hx(h)));
        }
        assert_eq!(t.node(3, 0), Some(hx(roots[8])));

        // Inclusion proofs: (0-based index, size, path).
        let inclusion: [(u64, u64, &[&str]); 4] = [
            (0, 8, &[leaf_hashes[1], level1[1], level2[1]]),
            (5, 8, &[leaf_hashes[4], level1[3], level2[0]]),
            (2, 3, &[level1[0]]),
            (1, 5, &[leaf_hashes[0], level1[1], leaf_hashes[4]]),
        ];
        for (index, size, want) in inclusion {
            let want: Vec<Hash> = want.iter().map(|s| hx(s)).collect();
            let got = inclusion_proof(&mut t.source(), index, size).unwrap();
            assert_eq!(got, want, "inclusion {index} in {size}");
            let leaf = hx(leaf_hashes[index as usize]);
            verify_inclusion(&leaf, index, size, &got, &hx(roots[size as usize])).unwrap();
        }

        // Consistency proofs: (old, new, proof).
        let consistency: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (1, 8, &[leaf_hashes[1], level1[1], level2[1]]),
            (6, 8, &[level1[2], level1[3], level2[0]]),
            (2, 5, &[level1[1], leaf_hashes[4]]),
            (6, 7, &[level1[2], leaf_hashes[6], level2[0]]),
        ];
        for (old, new, want) in consistency {
            let want: Vec<Hash> = want.iter().map(|s| hx(s)).collect();
            let got = consistency_proof(&mut t.source(), old, new).unwrap();
            assert_eq!(got, want, "consistency {old} -> {new}");
            let (r1, r2) = (hx(roots[old as usize]), hx(roots[new as usize]));
            verify_consistency(old, new, &r1, &r2, &got).unwrap();
        }
    }

    #[test]
    fn roots_match_reference() {
        let d = leaf_data(MAX);
        let t = tree_of(&d);
        for size in 0..=MAX {
            let want = ref_mth(&d[..size as usize]);
            assert_eq!(root(&mut t.source(), size).unwrap(), want, "size {size}");
            assert_eq!(t.root_at(size), Some(want));
            assert_eq!(tree_of(&d[..size as usize]).root(), want);
        }
        assert_eq!(t.root_at(MAX + 1), None);
        // Arbitrary (also unaligned) ranges.
        for hi in 0..=MAX {
            for lo in 0..=hi {
                let want = ref_mth(&d[lo as usize..hi as usize]);
                let got = subtree_root(&mut t.source(), lo, hi).unwrap();
                assert_eq!(got, want, "range {lo}..{hi}");
            }
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_detect_tampering() {
        let d = leaf_data(MAX);
        let t = tree_of(&d);
        for size in 1..=MAX {
            let r = t.root_at(size).unwrap();
            for index in 0..size {
                let leaf = leaf_hash(&d[index as usize]);
                let proof = inclusion_proof(&mut t.source(), index, size).unwrap();
                assert_eq!(proof, ref_path(index as usize, &d[..size as usize]));
                assert_eq!(verify_inclusion(&leaf, index, size, &proof, &r), Ok(()));

                let bad = |res: Result<(), VerifyError>, what: &str| {
                    assert!(res.is_err(), "{what} accepted: index {index} size {size}");
                };
                bad(
                    verify_inclusion(&flip(&leaf), index, size, &proof, &r),
                    "wrong leaf",
                );
                bad(
                    verify_inclusion(&leaf, index, size, &proof, &flip(&r)),
                    "wrong root",
                );
                bad(
                    verify_inclusion(&leaf, index + 1, size, &proof, &r),
                    "index + 1",
                );
                if index > 0 {
                    bad(
                        verify_inclusion(&leaf, index - 1, size, &proof, &r),
                        "index - 1",
                    );
                }
                if index ^ 2 < size {
                    bad(
                        verify_inclusion(&leaf, index ^ 2, size, &proof, &r),
                        "index ^ 2",
                    );
                }
                for i in 0..proof.len() {
                    let mut p = proof.clone();
                    p[i] = flip(&p[i]);
                    bad(verify_inclusion(&leaf, index, size, &p, &r), "proof hash");
                }
                let mut longer = proof.clone();
                longer.push(r);
                assert!(matches!(
                    verify_inclusion(&leaf, index, size, &longer, &r),
                    Err(VerifyError::Malformed(_))
                ));
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(matches!(
                        verify_inclusion(&leaf, index, size, shorter, &r),
                        Err(VerifyError::Malformed(_))
                    ));
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_detect_tampering() {
        let d = leaf_data(MAX);
        let t = tree_of(&d);
        for new in 1..=MAX {
            let r2 = t.root_at(new).unwrap();
            for old in 1..=new {
                let r1 = t.root_at(old).unwrap();
                let proof = consistency_proof(&mut t.source(), old, new).unwrap();
                assert_eq!(
                    proof,
                    ref_subproof(old as usize, &d[..new as usize], true),
                    "{old} -> {new}"
                );
                assert_eq!(verify_consistency(old, new, &r1, &r2, &proof), Ok(()));

                let bad = |res: Result<(), VerifyError>, what: &str| {
                    assert!(res.is_err(), "{what} accepted: {old} -> {new}");
                };
                bad(
                    verify_consistency(old, new, &flip(&r1), &r2, &proof),
                    "wrong old root",
                );
                bad(
                    verify_consistency(old, new, &r1, &flip(&r2), &proof),
                    "wrong new root",
                );
                for i in 0..proof.len() {
                    let mut p = proof.clone();
                    p[i] = flip(&p[i]);
                    bad(verify_consistency(old, new, &r1, &r2, &p), "proof hash");
                }
                if old < new {
                    bad(verify_consistency(old, new, &r2, &r1, &proof), "swapped");
                    bad(verify_consistency(old, new, &r1, &r2, &[]), "empty proof");
                    let mut longer = proof.clone();
                    longer.push(r2);
                    bad(verify_consistency(old, new, &r1, &r2, &longer), "longer");
                    bad(
                        verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]),
                        "truncated",
                    );
                    bad(verify_consistency(old + 1, new, &r1, &r2, &proof), "old+1");
                    bad(verify_consistency(old - 1, new, &r1, &r2, &proof), "old-1");
                }
            }
        }
    }

    #[test]
    fn verify_edge_cases() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        // Inclusion.
        assert!(matches!(
            verify_inclusion(&a, 0, 0, &[], &a),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            verify_inclusion(&a, 1, 1, &[], &a),
            Err(VerifyError::Malformed(_))
        ));
        assert_eq!(verify_inclusion(&a, 0, 1, &[], &a), Ok(()));
        assert_eq!(
            verify_inclusion(&a, 0, 1, &[], &b),
            Err(VerifyError::RootMismatch)
        );
        assert!(matches!(
            verify_inclusion(&a, 0, 1, &[b], &a),
            Err(VerifyError::Malformed(_))
        ));
        // Consistency.
        assert_eq!(verify_consistency(0, 0, &a, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 5, &a, &b, &[]), Ok(()));
        assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
        assert_eq!(
            verify_consistency(3, 3, &a, &b, &[]),
            Err(VerifyError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 0, &a, &b, &[]),
            Err(VerifyError::RootMismatch)
        );
        for (old, new) in [(0, 0), (0, 1), (3, 3)] {
            assert!(matches!(
                verify_consistency(old, new, &a, &a, &[a]),
                Err(VerifyError::Malformed(_))
            ));
        }
        assert!(matches!(
            verify_consistency(2, 1, &a, &b, &[]),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            verify_consistency(1, 2, &a, &b, &[]),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn partial_sources_give_identical_results() {
        let d = leaf_data(MAX);
        let t = tree_of(&d);
        let layouts: [&[u32]; 4] = [&[0], &[0, 3], &[0, 2, 5], &[0, 1, 4, 6]];
        for levels in layouts {
            let mut src = levels_source(&t, levels);
            for size in 0..=MAX {
                assert_eq!(root(&mut src, size).unwrap(), t.root_at(size).unwrap());
                for index in 0..size {
                    assert_eq!(
                        inclusion_proof(&mut src, index, size).unwrap(),
                        inclusion_proof(&mut t.source(), index, size).unwrap()
                    );
                }
                for old in 1..=size {
                    assert_eq!(
                        consistency_proof(&mut src, old, size).unwrap(),
                        consistency_proof(&mut t.source(), old, size).unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn missing_nodes_and_source_errors() {
        let d = leaf_data(16);
        let t = tree_of(&d);
        // Leaves only, leaf 5 missing.
        let mut leaves_but_5 = |l: u32, i: u64| {
            Ok::<_, Infallible>(if l == 0 && i != 5 { t.node(l, i) } else { None })
        };
        assert!(matches!(
            root(&mut leaves_but_5, 8),
            Err(MerkleError::MissingNode(0, 5))
        ));
        assert!(matches!(
            inclusion_proof(&mut leaves_but_5, 0, 16),
            Err(MerkleError::MissingNode(0, 5))
        ));
        assert!(matches!(
            consistency_proof(&mut leaves_but_5, 3, 16),
            Err(MerkleError::MissingNode(0, 5))
        ));
        // Not needed when the leaf is not involved, or covered by a stored node.
        assert_eq!(root(&mut leaves_but_5, 5).unwrap(), t.root_at(5).unwrap());
        let mut all_but_5 = |l: u32, i: u64| {
            Ok::<_, Infallible>(if (l, i) == (0, 5) { None } else { t.node(l, i) })
        };
        assert_eq!(root(&mut all_but_5, 16).unwrap(), t.root());
        assert_eq!(
            inclusion_proof(&mut all_but_5, 0, 13).unwrap(),
            inclusion_proof(&mut t.source(), 0, 13).unwrap()
        );
        assert!(matches!(
            inclusion_proof(&mut all_but_5, 4, 16),
            Err(MerkleError::MissingNode(0, 5))
        ));
        assert!(matches!(
            subtree_root(&mut all_but_5, 5, 7),
            Err(MerkleError::MissingNode(0, 5))
        ));
        // Source errors are propagated.
        let mut failing = |_: u32, _: u64| Err::<Option<Hash>, _>("db down");
        assert!(matches!(
            root(&mut failing, 3),
            Err(MerkleError::Source("db down"))
        ));
        assert!(matches!(root(&mut failing, 0), Ok(h) if h == empty_root()));
        let err = root(&mut failing, 3).unwrap_err();
        assert_eq!(err.to_string(), "node source failed: db down");
    }

    #[test]
    fn out_of_range_arguments() {
        let t = tree_of(&leaf_data(4));
        let mut src = t.source();
        assert!(matches!(
            subtree_root(&mut src, 3, 2),
            Err(MerkleError::OutOfRange(_))
        ));
        assert!(matches!(
            inclusion_proof(&mut src, 4, 4),
            Err(MerkleError::OutOfRange(_))
        ));
        assert!(matches!(
            inclusion_proof(&mut src, 0, 0),
            Err(MerkleError::OutOfRange(_))
        ));
        assert!(matches!(
            consistency_proof(&mut src, 0, 4),
            Err(MerkleError::OutOfRange(_))
        ));
        assert!(matches!(
            consistency_proof(&mut src, 3, 2),
            Err(MerkleError::OutOfRange(_))
        ));
        assert_eq!(
            consistency_proof(&mut src, 4, 4).unwrap(),
            Vec::<Hash>::new()
        );
        // Beyond the stored leaves the source answers None: MissingNode.
        assert!(matches!(
            root(&mut src, 5),
            Err(MerkleError::MissingNode(0, 4))
        ));
    }

    #[test]
    fn completed_by_nodes() {
        assert_eq!(completed_by(0), vec![]);
        assert_eq!(completed_by(1), vec![(1, 0)]);
        assert_eq!(completed_by(2), vec![]);
        assert_eq!(completed_by(3), vec![(1, 1), (2, 0)]);
        assert_eq!(completed_by(5), vec![(1, 2)]);
        assert_eq!(completed_by(7), vec![(1, 3), (2, 1), (3, 0)]);
        assert_eq!(completed_by(11), vec![(1, 5), (2, 2)]);
        assert_eq!(completed_by(23), vec![(1, 11), (2, 5), (3, 2)]);
        let all = completed_by(u64::MAX);
        assert_eq!(all.len(), 64);
        assert_eq!(all.last(), Some(&(64, 0)));
        // Against the memory tree: after pushing leaf n, exactly the nodes
        // completed_by(n) are new.
        let d = leaf_data(MAX);
        let mut t = MemoryTree::new();
        for (n, x) in d.iter().enumerate() {
            let n = n as u64;
            t.push(leaf_hash(x));
            for (level, index) in completed_by(n) {
                assert_eq!(index, n >> level);
                assert!(t.node(level, index).is_some());
                assert!(t.node(level, index + 1).is_none());
                let lo = index << level;
                let want = ref_mth(&d[lo as usize..(lo + (1 << level)) as usize]);
                assert_eq!(t.node(level, index), Some(want));
            }
            let next = completed_by(n).len() as u32 + 1;
            assert!(t.node(next, n >> next).is_none());
        }
    }

    #[test]
    fn errors_implement_std_error() {
        fn is_error<T: std::error::Error + Send + Sync + 'static>() {}
        is_error::<MerkleError<std::io::Error>>();
        is_error::<MerkleError<Infallible>>();
        is_error::<VerifyError>();
    }

    #[test]
    fn memory_tree_basics() {
        let mut t = MemoryTree::new();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.root(), empty_root());
        assert_eq!(t.root_at(0), Some(empty_root()));
        assert_eq!(t.root_at(1), None);
        assert_eq!(t.node(0, 0), None);
        let h = leaf_hash(b"x");
        t.push(h);
        assert!(!t.is_empty());
        assert_eq!(t.len(), 1);
        assert_eq!(t.root(), h);
        assert_eq!(t.node(0, 0), Some(h));
        assert_eq!(t.node(1, 0), None);
        assert_eq!(t.node(40, u64::MAX), None);
        assert_eq!(
            empty_root(),
            hx("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn lookups_are_logarithmic() {
        // A fake fully-stored source over a 1,000,000-leaf log: counts lookups.
        const SIZE: u64 = 1_000_000;
        let count = Cell::new(0u64);
        let mut src = |l: u32, i: u64| {
            count.set(count.get() + 1);
            let lo = i.checked_shl(l).unwrap();
            assert!(lo + (1 << l) <= SIZE, "lookup beyond the tree");
            Ok::<_, Infallible>(Some([l as u8; 32]))
        };
        let log2 = 64 - (SIZE - 1).leading_zeros() as u64; // 20
        root(&mut src, SIZE).unwrap();
        assert_eq!(count.get(), u64::from(SIZE.count_ones()));
        for index in [0, 1, 12_345, 524_287, 524_288, 999_935, 999_998, 999_999] {
            count.set(0);
            let p = inclusion_proof(&mut src, index, SIZE).unwrap();
            assert!(p.len() as u64 <= log2);
            assert!(count.get() <= 2 * log2, "index {index}: {}", count.get());
        }
        for old in [1, 2, 3, 1000, 65_536, 524_288, 700_001, 999_999, SIZE] {
            count.set(0);
            let p = consistency_proof(&mut src, old, SIZE).unwrap();
            assert!(p.len() as u64 <= 2 * log2);
            assert!(count.get() <= 2 * log2, "old {old}: {}", count.get());
        }
        // Subtree ranges on the right border use the aligned decomposition.
        count.set(0);
        subtree_root(&mut src, 524_288, SIZE).unwrap();
        assert_eq!(count.get(), u64::from((SIZE - 524_288).count_ones()));
    }
}
