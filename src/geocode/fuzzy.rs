//! Typo tolerance: the optimal-string-alignment form of the Damerau–Levenshtein distance,
//! and the edit budget that Kat allows for a name of a given length.

/// Edits allowed when a name is matched on its own: none for short names (too many
/// four-letter places differ by one letter), one for 5–8 letters, two beyond.
///
/// ```
/// use kat::geocode::edit_budget;
/// assert_eq!(edit_budget(4), 0);
/// assert_eq!(edit_budget(8), 1);
/// assert_eq!(edit_budget(9), 2);
/// ```
pub fn edit_budget(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Damerau–Levenshtein distance (adjacent transpositions count as one edit) between `a` and
/// `b`, or `None` when it exceeds `max`. Stops early, so scanning the whole gazetteer for each
/// query stays cheap.
///
/// ```
/// use kat::geocode::damerau_levenshtein;
/// assert_eq!(damerau_levenshtein("ponsonde", "pontsonde", 2), Some(1));
/// assert_eq!(damerau_levenshtein("segiun", "seguin", 1), Some(1));
/// assert_eq!(damerau_levenshtein("jacmel", "hinche", 2), None);
/// ```
pub fn damerau_levenshtein(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let (n, m) = (a.len(), b.len());
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= max).then_some(prev[m])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposition_is_one_edit() {
        assert_eq!(damerau_levenshtein("thomsasin", "thomassin", 2), Some(1));
    }

    #[test]
    fn identical_strings_are_zero_apart() {
        assert_eq!(damerau_levenshtein("kenscoff", "kenscoff", 0), Some(0));
    }

    #[test]
    fn distance_beyond_budget_is_none() {
        assert_eq!(damerau_levenshtein("seguin", "segur", 1), None);
        assert_eq!(damerau_levenshtein("seguin", "segur", 2), Some(2));
    }

    #[test]
    fn empty_strings_measure_their_length() {
        assert_eq!(damerau_levenshtein("", "abc", 3), Some(3));
        assert_eq!(damerau_levenshtein("", "abcd", 3), None);
    }
}
