//! A set of byte ranges: the parts of a mapping that were unmapped.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent half-open ranges `start -> end`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RangeSet(BTreeMap<u64, u64>);

impl RangeSet {
    /// Adds `[start, end)`, merging with the ranges it overlaps or touches.
    pub fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        if let Some((&s, &e)) = self.0.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        let swallowed: Vec<(u64, u64)> = self.0.range(start..=end).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in swallowed {
            self.0.remove(&s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    /// Whether any byte of `[start, end)` is in the set.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        start < end
            && self
                .0
                .range(..end)
                .next_back()
                .is_some_and(|(_, &e)| e > start)
    }

    /// Whether every byte of `[start, end)` is in the set.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        start >= end
            || self
                .0
                .range(..=start)
                .next_back()
                .is_some_and(|(_, &e)| e >= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_overlapping_and_touching_ranges() {
        let mut r = RangeSet::default();
        r.insert(10, 20);
        r.insert(30, 40);
        assert!(r.overlaps(15, 16) && !r.overlaps(20, 30) && !r.overlaps(0, 10));
        r.insert(20, 30);
        assert!(r.covers(10, 40) && !r.covers(9, 40));
        r.insert(0, 50);
        assert_eq!(r, {
            let mut one = RangeSet::default();
            one.insert(0, 50);
            one
        });
        assert!(r.covers(5, 5) && !r.overlaps(5, 5));
    }
}
