//! Sorting a million entries by a key whose high 32 bits already spread them out: the index's
//! curve keys and the id table's hashes, each sorted once per load.
//!
//! A comparison sort of a million entries makes about twenty passes over them; a radix sort on
//! the high 32 bits makes three, each a count and a scatter into 2,048 runs (few enough to stay
//! in cache). Entries whose high bits are equal are then put in order by a comparison sort of
//! each such run, which is short when the high bits spread the entries.
//!
//! ```
//! use kat::sort::sort_by_high_bits;
//! let mut v: Vec<u64> = vec![0x0000_0002_0000_0009, 0x0000_0001_0000_0005, 0x0000_0001_0000_0001];
//! sort_by_high_bits(&mut v, |k| (k >> 32) as u32);
//! assert_eq!(v, vec![0x0000_0001_0000_0001, 0x0000_0001_0000_0005, 0x0000_0002_0000_0009]);
//! ```

/// Bits per radix pass: three passes cover 32 bits.
const BITS: u32 = 11;
const RUNS: usize = 1 << BITS;

/// Sorts `v` into the order of `Ord`. `high` must agree with that order: `a < b` implies
/// `high(a) <= high(b)` (the high 32 bits of an integer key, say).
pub fn sort_by_high_bits<T: Ord + Copy + Default>(v: &mut Vec<T>, high: impl Fn(&T) -> u32) {
    if v.len() < 4096 {
        v.sort_unstable();
        return;
    }
    let digit = |x: &T, pass: u32| (high(x) >> (pass * BITS)) as usize & (RUNS - 1);
    // Every pass's counts in one read of the entries.
    let mut counts = vec![[0usize; RUNS]; 3];
    for x in v.iter() {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[digit(x, pass as u32)] += 1;
        }
    }
    let mut other = vec![T::default(); v.len()];
    for (pass, c) in counts.iter().enumerate() {
        // A pass whose digit is the same everywhere would copy the entries unchanged.
        if c.contains(&v.len()) {
            continue;
        }
        let mut next = [0usize; RUNS];
        let mut at = 0;
        for (slot, n) in next.iter_mut().zip(c) {
            *slot = at;
            at += n;
        }
        for x in v.iter() {
            let d = digit(x, pass as u32);
            other[next[d]] = *x;
            next[d] += 1;
        }
        std::mem::swap(v, &mut other);
    }
    // Stable passes leave equal high bits in their earlier order: sort each such run.
    let mut i = 0;
    while i < v.len() {
        let h = high(&v[i]);
        let mut j = i + 1;
        while j < v.len() && high(&v[j]) == h {
            j += 1;
        }
        if j - i > 1 {
            v[i..j].sort_unstable();
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift: a deterministic spread of keys without a crate.
    fn keys(n: usize, mut s: u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            })
            .collect()
    }

    #[test]
    fn sorts_like_the_standard_sort_with_ties_in_the_high_bits() {
        // Curve keys: few distinct high halves (many ties), positions below, in any order.
        let mut curve: Vec<u64> = keys(50_000, 3)
            .iter()
            .map(|k| ((k % 97) << 32) | (k >> 40))
            .collect();
        let mut expected = curve.clone();
        expected.sort();
        sort_by_high_bits(&mut curve, |k| (k >> 32) as u32);
        assert_eq!(curve, expected);

        // Id table: spread hashes with positions, one hash repeated, as a duplicate id has.
        let mut ids: Vec<(u64, u32)> = keys(100_000, 11)
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, i as u32))
            .collect();
        ids.push((ids[10].0, 7));
        ids.push((ids[20].0 & !0xFFFF, 3));
        ids.reverse();
        let mut expected = ids.clone();
        expected.sort();
        sort_by_high_bits(&mut ids, |(h, _)| (h >> 32) as u32);
        assert_eq!(ids, expected);
    }

    #[test]
    fn keys_that_differ_only_in_one_digit_are_sorted() {
        // Every entry shares two of the three digits: those passes are skipped.
        for shift in [0, BITS, 2 * BITS] {
            let mut v: Vec<u64> = keys(20_000, 5)
                .iter()
                .map(|k| ((k & (RUNS as u64 - 1)) << (32 + shift)) | (k >> 50))
                .collect();
            let mut expected = v.clone();
            expected.sort();
            sort_by_high_bits(&mut v, |k| (k >> 32) as u32);
            assert_eq!(v, expected, "digit at {shift}");
        }
    }
}
