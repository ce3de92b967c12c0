//! Connected components by union-find, each named by its smallest member.

/// Disjoint sets over `0..n`; the representative of a set is its smallest element, so that a
/// component's id is the oldest ad in it, as in the store's incremental merges.
pub struct Components {
    parent: Vec<u32>,
}

impl Components {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        Components {
            parent: (0..n as u32).collect(),
        }
    }

    /// The smallest element of `x`'s set.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            // Path halving keeps the trees flat without recursion.
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins the sets of `a` and `b`.
    pub fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[high as usize] = low;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_named_by_their_smallest_member() {
        let mut c = Components::new(6);
        c.union(4, 2);
        c.union(5, 4);
        c.union(1, 3);
        assert_eq!([0, 1, 2, 3, 4, 5].map(|x| c.find(x)), [0, 1, 2, 1, 2, 2]);
    }
}
