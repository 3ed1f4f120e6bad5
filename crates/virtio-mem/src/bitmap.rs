//! One bit per device block, set = plugged, with a running count so
//! `plugged_size` never needs a scan.

/// The plugged state of every block of the region.
#[derive(Clone, Debug)]
pub(crate) struct BlockBitmap {
    words: Vec<u64>,
    nbits: u64,
    count: u64,
}

/// Calls `f(word_index, mask)` for every word that `[first, first + n)` touches.
fn for_each_word(first: u64, n: u64, mut f: impl FnMut(usize, u64)) {
    let end = first + n;
    let mut bit = first;
    while bit < end {
        let word = bit / 64;
        let lo = bit % 64;
        let hi = (end - word * 64).min(64);
        let width = hi - lo;
        let mask = if width == 64 {
            u64::MAX
        } else {
            ((1u64 << width) - 1) << lo
        };
        f(word as usize, mask);
        bit = word * 64 + hi;
    }
}

impl BlockBitmap {
    /// `nbits` unplugged blocks.
    pub(crate) fn new(nbits: u64) -> BlockBitmap {
        BlockBitmap {
            words: vec![0; nbits.div_ceil(64) as usize],
            nbits,
            count: 0,
        }
    }

    /// Number of plugged blocks.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Number of plugged blocks in `[first, first + n)`; the range must lie
    /// inside the bitmap.
    pub(crate) fn count_range(&self, first: u64, n: u64) -> u64 {
        debug_assert!(first + n <= self.nbits);
        let mut c = 0;
        for_each_word(first, n, |w, m| {
            c += u64::from((self.words[w] & m).count_ones())
        });
        c
    }

    /// Mark `[first, first + n)` plugged (`on`) or unplugged.
    pub(crate) fn set_range(&mut self, first: u64, n: u64, on: bool) {
        debug_assert!(first + n <= self.nbits);
        let words = &mut self.words;
        let count = &mut self.count;
        for_each_word(first, n, |w, m| {
            let before = u64::from((words[w] & m).count_ones());
            if on {
                words[w] |= m;
                *count += u64::from(m.count_ones()) - before;
            } else {
                words[w] &= !m;
                *count -= before;
            }
        });
    }

    /// Unplug everything.
    pub(crate) fn clear(&mut self) {
        self.words.fill(0);
        self.count = 0;
    }

    /// Runs of plugged blocks as `(first, n)`, ascending.
    pub(crate) fn runs(&self) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut start: Option<u64> = None;
        for (w, &word) in self.words.iter().enumerate() {
            // A word that neither starts nor ends a run needs no bit scan.
            let uniform = if start.is_some() { u64::MAX } else { 0 };
            if word == uniform && (w as u64 + 1) * 64 <= self.nbits {
                continue;
            }
            for b in 0..64 {
                let bit = w as u64 * 64 + b;
                if bit >= self.nbits {
                    break;
                }
                let on = word & (1 << b) != 0;
                match (start, on) {
                    (None, true) => start = Some(bit),
                    (Some(s), false) => {
                        runs.push((s, bit - s));
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        if let Some(s) = start {
            runs.push((s, self.nbits - s));
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_across_words() {
        let mut b = BlockBitmap::new(200);
        b.set_range(60, 70, true);
        assert_eq!(b.count(), 70);
        assert_eq!(b.count_range(0, 200), 70);
        assert_eq!(b.count_range(59, 2), 1);
        assert_eq!(b.count_range(129, 10), 1);
        b.set_range(60, 10, true);
        assert_eq!(b.count(), 70);
        b.set_range(64, 64, false);
        assert_eq!(b.count(), 6);
        assert_eq!(b.runs(), vec![(60, 4), (128, 2)]);
        b.set_range(190, 10, true);
        assert_eq!(b.runs(), vec![(60, 4), (128, 2), (190, 10)]);
        b.clear();
        assert_eq!((b.count(), b.runs()), (0, vec![]));
    }
}
