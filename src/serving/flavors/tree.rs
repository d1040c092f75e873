//! Flattened decision trees shared by every tree model: nodes in one contiguous array, leaf
//! outputs in another. Construction checks every index so evaluation cannot fail or loop:
//! children must come after their parent (true of sklearn, HistGradientBoosting, XGBoost and
//! LightGBM trees alike), which rules out cycles and bounds a walk by the node count.

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::MAX_TREE_NODES;

pub(crate) const LEAF: u8 = 1;
pub(crate) const DEFAULT_LEFT: u8 = 2;
/// LightGBM: missing type Zero (bit 2) or NaN (bit 3); categorical split (bit 4).
pub(crate) const MISSING_ZERO: u8 = 4;
pub(crate) const MISSING_NAN: u8 = 8;
pub(crate) const CATEGORICAL: u8 = 16;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub thr: f64,
    pub feature: u32,
    /// For a leaf: the index of its output row in `values`.
    pub left: u32,
    pub right: u32,
    pub flags: u8,
}

#[derive(Debug, Clone)]
pub(crate) struct FlatTree {
    pub nodes: Vec<Node>,
    /// `width` numbers per leaf.
    pub values: Vec<f64>,
    pub width: usize,
}

/// A node as read from a file, before checking.
pub(crate) struct RawNode {
    pub leaf: bool,
    pub feature: i64,
    pub thr: f64,
    pub left: i64,
    pub right: i64,
    pub flags: u8,
}

impl FlatTree {
    /// Checks and flattens `raw` (node ids are positions in `raw`). `leaf_values(i)` gives
    /// the `width` outputs of node `i` when it is a leaf.
    pub fn build(
        raw: &[RawNode],
        n_features: usize,
        width: usize,
        mut leaf_values: impl FnMut(usize) -> LoadResult<Vec<f64>>,
    ) -> LoadResult<FlatTree> {
        let n = raw.len();
        if n == 0 {
            return Err(LoadError::invalid("a tree has no nodes"));
        }
        if n > MAX_TREE_NODES {
            return Err(LoadError::invalid(format!(
                "a tree has {n} nodes (limit {MAX_TREE_NODES})"
            )));
        }
        let mut nodes = Vec::with_capacity(n);
        let mut values = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            if r.leaf {
                let v = leaf_values(i)?;
                if v.len() != width {
                    return Err(LoadError::invalid(format!(
                        "tree leaf {i} has {} outputs, expected {width}",
                        v.len()
                    )));
                }
                let slot = u32::try_from(values.len() / width.max(1))
                    .map_err(|_| LoadError::invalid("tree too large"))?;
                values.extend(v);
                nodes.push(Node {
                    thr: 0.0,
                    feature: 0,
                    left: slot,
                    right: slot,
                    flags: LEAF | r.flags,
                });
                continue;
            }
            let child = |c: i64, side: &str| -> LoadResult<u32> {
                let ok = usize::try_from(c).ok().filter(|&c| c > i && c < n);
                ok.and_then(|c| u32::try_from(c).ok()).ok_or_else(|| {
                    LoadError::invalid(format!(
                        "tree node {i} has {side} child {c}, which is out of range or not after its parent (a cycle)"
                    ))
                })
            };
            let left = child(r.left, "left")?;
            let right = child(r.right, "right")?;
            let feature = usize::try_from(r.feature)
                .ok()
                .filter(|&f| f < n_features)
                .and_then(|f| u32::try_from(f).ok())
                .ok_or_else(|| {
                    LoadError::invalid(format!(
                        "tree node {i} splits on feature {}, but the model has {n_features} features",
                        r.feature
                    ))
                })?;
            nodes.push(Node {
                thr: r.thr,
                feature,
                left,
                right,
                flags: r.flags,
            });
        }
        Ok(FlatTree {
            nodes,
            values,
            width,
        })
    }

    /// Walks to a leaf with `go_left(node, x[feature])` and returns its outputs.
    #[inline]
    pub fn leaf<F: Fn(&Node, f64) -> bool>(&self, row: &[f64], go_left: F) -> &[f64] {
        let mut i = 0usize;
        // Children are always after their parent, so this ends within nodes.len() steps.
        while let Some(node) = self.nodes.get(i) {
            if node.flags & LEAF != 0 {
                let s = node.left as usize * self.width;
                return self.values.get(s..s + self.width).unwrap_or(&[]);
            }
            let x = row.get(node.feature as usize).copied().unwrap_or(f64::NAN);
            i = if go_left(node, x) {
                node.left as usize
            } else {
                node.right as usize
            };
        }
        &[]
    }
}

/// scikit-learn `Tree`: `float32(x) <= threshold`; NaN follows `missing_go_to_left`.
#[inline]
pub(crate) fn sk_rule(n: &Node, x: f64) -> bool {
    if x.is_nan() {
        n.flags & DEFAULT_LEFT != 0
    } else {
        f64::from(x as f32) <= n.thr
    }
}

/// HistGradientBoosting predictors: `x <= num_threshold` on float64; NaN follows
/// `missing_go_to_left`.
#[inline]
pub(crate) fn hgb_rule(n: &Node, x: f64) -> bool {
    if x.is_nan() {
        n.flags & DEFAULT_LEFT != 0
    } else {
        x <= n.thr
    }
}
