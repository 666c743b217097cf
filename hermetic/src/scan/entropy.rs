//! Shannon entropy of a byte string: how random a candidate secret looks.

/// Bits per byte (0 for an empty or uniform string, at most 8; a random base64 string of 40
/// characters is about 5, an English word about 2.5).
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_strings_have_no_entropy() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaaaaaa"), 0.0);
    }

    #[test]
    fn sixteen_distinct_symbols_give_four_bits() {
        let e = shannon_entropy(b"0123456789abcdef");
        assert!((e - 4.0).abs() < 1e-9, "{e}");
    }

    #[test]
    fn random_looking_tokens_score_higher_than_words() {
        assert!(shannon_entropy(b"q8Zr2LxV0pW7nKj3Tb9YcH4sDf6Gm1Ae") > 4.5);
        assert!(shannon_entropy(b"passwordpassword") < 3.0);
    }
}
