//! A set of byte ranges: the parts of a mapping that were unmapped. (The
//! scenario layer keeps its own record of them with the same type.)

use std::collections::BTreeMap;

/// Disjoint, non-adjacent half-open ranges `start -> end`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet(BTreeMap<u64, u64>);

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

    /// The parts of `[start, end)` not in the set, in order.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        if start >= end {
            return gaps;
        }
        let mut at = start;
        let before = self.0.range(..=start).next_back();
        for (&s, &e) in before
            .into_iter()
            .chain(self.0.range(start.saturating_add(1)..end))
        {
            if s > at {
                gaps.push((at, s.min(end)));
            }
            at = at.max(e);
        }
        if at < end {
            gaps.push((at, end));
        }
        gaps
    }

    /// Drops everything at or above `end`.
    pub fn truncate(&mut self, end: u64) {
        let above: Vec<(u64, u64)> = self
            .0
            .range(..)
            .filter(|(_, &e)| e > end)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, _) in above {
            self.0.remove(&s);
            if s < end {
                self.0.insert(s, end);
            }
        }
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
    fn gaps_are_what_the_set_leaves_out() {
        let mut r = RangeSet::default();
        assert_eq!(r.gaps(0, 10), [(0, 10)]);
        r.insert(10, 20);
        r.insert(30, 40);
        assert_eq!(r.gaps(0, 50), [(0, 10), (20, 30), (40, 50)]);
        assert_eq!(r.gaps(15, 35), [(20, 30)]);
        assert_eq!(r.gaps(10, 20), []);
        assert_eq!(r.gaps(12, 12), []);
    }

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

    #[test]
    fn truncate_cuts_what_lies_above() {
        let mut r = RangeSet::default();
        r.insert(10, 20);
        r.insert(30, 40);
        r.truncate(35);
        assert_eq!(r.gaps(0, 50), [(0, 10), (20, 30), (35, 50)]);
        r.truncate(30);
        assert_eq!(r.gaps(0, 50), [(0, 10), (20, 50)]);
    }
}
