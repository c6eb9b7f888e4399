//! Random cases for the unit tests that hold a structure against a model: a
//! small seeded generator, so that a failing case is named by its seed and
//! the library needs no test dependency.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// How many random cases [`cases`] runs.
const CASES: u64 = 256;

/// A xorshift64* generator: fast, reproducible, good enough to pick test
/// operations.
pub(crate) struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Spread small seeds over the state; zero is the one stuck state.
        Rng(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    pub(crate) fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut at = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if at < w {
                return i;
            }
            at -= w;
        }
        unreachable!("`at` is below the sum of the weights")
    }
}

/// Runs `case` with [`CASES`] generators of different seeds, each case a
/// sequence of `1..200` steps (`case` gets the length); a failing case prints
/// its seed before its panic goes on.
pub(crate) fn cases(mut case: impl FnMut(&mut Rng, usize)) {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let steps = 1 + rng.below(199);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| case(&mut rng, steps))) {
            eprintln!("the random case of seed {seed} ({steps} steps) failed");
            resume_unwind(panic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_choose_in_proportion_and_seeds_repeat() {
        let mut rng = Rng::new(7);
        let mut counts = [0usize; 3];
        for _ in 0..60_000 {
            counts[rng.weighted(&[1, 2, 3])] += 1;
        }
        for (count, weight) in counts.into_iter().zip([1, 2, 3]) {
            assert!(count.abs_diff(10_000 * weight) < 1_000, "{counts:?}");
        }
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        assert!((0..100).all(|_| a.next() == b.next()));
        assert_ne!(Rng::new(3).next(), Rng::new(4).next());
    }
}
