//! Name normalization: the one place that decides when two spellings are the same name.
//!
//! Haitian place names reach Kat in French, in Kreyòl and in English news copy, with and
//! without accents, hyphens and apostrophes. Everything that compares names goes through
//! [`normalize`], so the gazetteer's keys and the queries are always folded the same way.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Folds a place name into a comparison key: lower case, accents removed, punctuation and
/// hyphens turned into single spaces, `St`/`Ste` spelled out, ordinals written as digits.
///
/// ```
/// use kat::geocode::normalize;
/// assert_eq!(normalize("Pont-Sondé"), "pont sonde");
/// assert_eq!(normalize("St  Marc"), "saint marc");
/// assert_eq!(normalize("1ère section Bas Coursin"), "1 section bas coursin");
/// assert_eq!(normalize("first section"), "1 section");
/// assert_eq!(normalize("Kafou Bèt"), "kafou bet");
/// assert_eq!(normalize("Grand'Anse"), "grand anse");
/// ```
pub fn normalize(name: &str) -> String {
    tokens(name).join(" ")
}

/// The normalized tokens of a name (see [`normalize`]).
pub fn tokens(name: &str) -> Vec<String> {
    let mut folded = String::with_capacity(name.len());
    for c in name.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'œ' | 'Œ' => folded.push_str("oe"),
            'æ' | 'Æ' => folded.push_str("ae"),
            c if c.is_alphanumeric() => folded.extend(c.to_lowercase()),
            // Apostrophes, hyphens, dots, slashes, quotes and line breaks all separate words.
            _ => folded.push(' '),
        }
    }
    folded
        .split_whitespace()
        .map(|t| canonical_token(t).to_string())
        .collect()
}

/// One token's canonical spelling: abbreviations, ordinals and Kreyòl words for "section".
fn canonical_token(t: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let fixed = match t {
        "st" => "saint",
        "ste" => "sainte",
        "sections" | "seksyon" => "section",
        "premier" | "premiere" | "first" | "premye" => "1",
        "deuxieme" | "second" | "seconde" | "dezyem" => "2",
        "troisieme" | "third" | "twazyem" => "3",
        "quatrieme" | "fourth" | "katriyem" => "4",
        "cinquieme" | "fifth" | "senkyem" => "5",
        "sixieme" | "sixth" => "6",
        "septieme" | "seventh" => "7",
        "huitieme" | "eighth" => "8",
        "neuvieme" | "ninth" => "9",
        "dixieme" | "tenth" => "10",
        "onzieme" | "eleventh" => "11",
        "douzieme" | "twelfth" => "12",
        _ => return ordinal_digits(t).map_or(Cow::Borrowed(t), Cow::Borrowed),
    };
    Cow::Borrowed(fixed)
}

/// "1re", "1ère", "2e", "2eme", "3rd", "11th" → the digits; plain numbers stay as they are
/// (they are street or kilometre markers such as "Delmas 30").
fn ordinal_digits(t: &str) -> Option<&str> {
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    if split == 0 {
        return None;
    }
    let (digits, suffix) = t.split_at(split);
    matches!(
        suffix,
        "e" | "eme" | "em" | "er" | "re" | "ere" | "ieme" | "st" | "nd" | "rd" | "th"
    )
    .then_some(digits)
}

/// The key with its spaces removed, so that "Belair" meets "Bel-Air" and "Ponsonde" comes
/// within one edit of "Pont Sonde".
pub fn compact(key: &str) -> String {
    key.chars().filter(|c| *c != ' ').collect()
}

/// A rough sound key for French and Kreyòl spellings of the same name ("Kenscoff"/"Kenskòf",
/// "Thomassin"/"Tomasin", "Vilette"/"Vilèt"). Used as one more exact-match tier, never alone
/// to accept a distant spelling.
pub fn phonetic(key: &str) -> String {
    let s = compact(key);
    let s = s
        .replace("eau", "o")
        .replace("au", "o")
        .replace("ou", "w")
        .replace("qu", "k")
        .replace("ph", "f")
        .replace("ck", "k")
        .replace("th", "t")
        .replace('c', "k")
        .replace('y', "i")
        .replace('h', "");
    let mut out = String::with_capacity(s.len());
    let mut prev = None;
    for c in s.chars() {
        if prev != Some(c) {
            out.push(c);
        }
        prev = Some(c);
    }
    // French silent endings that Kreyòl drops ("Vilette" / "Vilèt", "Saviens" / "Savien").
    for ending in ["es", "e", "s", "x"] {
        if out.len() > 4 && out.ends_with(ending) {
            out.truncate(out.len() - ending.len());
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_hyphens_fold_away() {
        assert_eq!(normalize("Pétion-Ville"), normalize("petion ville"));
        assert_eq!(normalize("Léogâne"), "leogane");
        assert_eq!(
            normalize("Croix-Des-Bouquets"),
            normalize("Croix des Bouquets")
        );
    }

    #[test]
    fn apostrophes_and_doubled_spaces_separate_words_once() {
        assert_eq!(normalize("Anse-d'Hainault"), "anse d hainault");
        assert_eq!(normalize("Anse  d’Hainault"), "anse d hainault");
        assert_eq!(normalize("Saut-d'Eau"), "saut d eau");
    }

    #[test]
    fn saint_abbreviations_are_spelled_out() {
        assert_eq!(normalize("St Marc"), "saint marc");
        assert_eq!(normalize("St-Marc"), "saint marc");
        assert_eq!(normalize("Ste Suzanne"), "sainte suzanne");
        assert_eq!(normalize("Saint-Marc"), "saint marc");
    }

    #[test]
    fn kreyol_grave_accents_fold_to_plain_vowels() {
        assert_eq!(normalize("Echalòt"), "echalot");
        assert_eq!(normalize("Vilèt"), "vilet");
        assert_eq!(normalize("Lwès"), "lwes");
    }

    #[test]
    fn ordinal_section_names_meet() {
        let cod_ab = normalize("1re Section Bas Coursin I");
        assert_eq!(normalize("1ère section Bas Coursin I"), cod_ab);
        assert_eq!(normalize("first section Bas Coursin I"), cod_ab);
        assert_eq!(normalize("premiere section bas coursin i"), cod_ab);
        assert_eq!(normalize("2e sections"), "2 section");
        assert_eq!(
            normalize("11e Section Rivière Froide"),
            "11 section riviere froide"
        );
    }

    #[test]
    fn street_numbers_stay_numbers() {
        assert_eq!(normalize("Delmas 30"), "delmas 30");
        assert_eq!(normalize("Thomassin 32"), "thomassin 32");
    }

    #[test]
    fn line_breaks_inside_names_are_spaces() {
        assert_eq!(
            normalize("5e Section Génipailler\r\n"),
            "5 section genipailler"
        );
    }

    #[test]
    fn phonetic_key_meets_kreyol_spellings() {
        assert_eq!(phonetic("kenscoff"), phonetic("kenskof"));
        assert_eq!(phonetic("vilette"), phonetic("vilet"));
        assert_eq!(phonetic("thomassin"), phonetic("tomasin"));
    }
}
