//! Case-insensitive string comparison as GitHub does it (.NET's `OrdinalIgnoreCase`): each
//! character is upper-cased on its own (simple case mapping, so `ς`, `σ` and `Σ` are equal) except
//! the Turkish dotless `ı`, and the results are compared as UTF-16 code units.

use std::cmp::Ordering;

/// The character GitHub compares in place of `c`.
pub(crate) fn fold(c: char) -> char {
    if c == 'ı' || c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// The folded form of a whole string; two strings are equal ignoring case iff their folds are.
pub(crate) fn fold_str(s: &str) -> String {
    s.chars().map(fold).collect()
}

pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().map(fold).eq(b.chars().map(fold))
}

pub(crate) fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    let left: Vec<u16> = fold_str(a).encode_utf16().collect();
    let right: Vec<u16> = fold_str(b).encode_utf16().collect();
    left.cmp(&right)
}

pub(crate) fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    fold_str(haystack).contains(&fold_str(needle))
}

pub(crate) fn starts_with_ignore_case(haystack: &str, needle: &str) -> bool {
    fold_str(haystack).starts_with(&fold_str(needle))
}

pub(crate) fn ends_with_ignore_case(haystack: &str, needle: &str) -> bool {
    fold_str(haystack).ends_with(&fold_str(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_forms_are_equal() {
        assert!(eq_ignore_case("ς", "Σ"));
        assert!(eq_ignore_case("σ", "ς"));
        assert_eq!(cmp_ignore_case("ς", "σ"), Ordering::Equal);
    }

    #[test]
    fn turkish_i_forms_stay_distinct() {
        assert!(!eq_ignore_case("ı", "I"));
        assert!(!eq_ignore_case("i", "İ"));
        assert_eq!(cmp_ignore_case("i", "İ"), Ordering::Less);
        assert_eq!(cmp_ignore_case("ı", "I"), Ordering::Greater);
    }

    #[test]
    fn compares_upper_cased_so_letters_sort_before_brackets() {
        assert_eq!(cmp_ignore_case("a", "["), Ordering::Less);
        assert_eq!(cmp_ignore_case("abc", "ABD"), Ordering::Less);
    }

    #[test]
    fn substring_tests_ignore_case() {
        assert!(contains_ignore_case("abCdEf", "cDe"));
        assert!(starts_with_ignore_case("АБВ_asdf", "абв"));
        assert!(ends_with_ignore_case("asdf_Ü", "ü"));
        assert!(!starts_with_ignore_case("ß", "SS"));
    }
}
