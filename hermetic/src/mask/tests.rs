use proptest::prelude::*;

use super::encodings::base64;
use super::*;

fn masker(secrets: &[&str]) -> Masker {
    let mut m = Masker::new();
    for s in secrets {
        m.add_value(s);
    }
    m
}

/// GitHub's algorithm written the slow, obvious way: every occurrence of every value, sorted by
/// start, overlapping or touching ones merged, each merged stretch replaced by `***`.
pub(super) fn reference_mask(masker: &Masker, text: &[u8]) -> Vec<u8> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    for p in &masker.patterns {
        let p = &p.0;
        if p.is_empty() || p.len() > text.len() {
            continue;
        }
        for i in 0..=text.len() - p.len() {
            if text[i..].starts_with(p) {
                found.push((i, i + p.len()));
            }
        }
    }
    found.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in found {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = Vec::new();
    let mut cur = 0;
    for (s, e) in merged {
        out.extend_from_slice(&text[cur..s]);
        out.extend_from_slice(b"***");
        cur = e;
    }
    out.extend_from_slice(&text[cur..]);
    out
}

#[test]
fn replaces_every_occurrence() {
    let m = masker(&["hunter2"]);
    assert_eq!(m.mask_str("hunter2 and hunter2hunter2 x"), "*** and *** x");
}

#[test]
fn text_without_secrets_is_unchanged() {
    let m = masker(&["hunter2"]);
    assert_eq!(m.mask_str("nothing here"), "nothing here");
    assert_eq!(Masker::new().mask_str("anything"), "anything");
    assert_eq!(m.mask_str(""), "");
}

#[test]
fn overlapping_secrets_merge_into_one_mask() {
    let m = masker(&["abcd", "cdef"]);
    assert_eq!(m.mask_str("xabcdefx"), "x***x");
}

#[test]
fn touching_secrets_merge_as_on_github() {
    let m = masker(&["abc", "def"]);
    assert_eq!(m.mask_str("abcdef abc def"), "*** *** ***");
}

#[test]
fn the_longest_of_nested_secrets_is_masked_whole() {
    let m = masker(&["secret", "my-secret-value"]);
    assert_eq!(m.mask_str("[my-secret-value]"), "[***]");
    assert_eq!(m.mask_str("[secret]"), "[***]");
}

#[test]
fn self_overlapping_secret_masks_the_whole_run() {
    let m = masker(&["aaa"]);
    assert_eq!(m.mask_str("baaaaab"), "b***b");
    assert_eq!(m.mask_str("baab"), "baab");
}

#[test]
fn masks_base64_at_each_offset() {
    let m = masker(&["hunter2"]);
    for prefix in ["", "u", "us", "user:"] {
        let plain = format!("{prefix}hunter2");
        let encoded = base64(plain.as_bytes());
        let masked = m.mask_str(&encoded);
        assert!(masked.contains("***"), "{encoded} -> {masked}");
        assert!(!m.contains_secret(masked.as_bytes()));
    }
}

#[test]
fn masks_base64_of_a_secret_followed_by_more_bytes() {
    let m = masker(&["correct-horse-battery"]);
    // `echo "$S" | base64` adds a newline that the full (padded) form would not match.
    let encoded = base64(b"correct-horse-battery\n");
    assert!(m.mask_str(&encoded).contains("***"), "{encoded}");
}

#[test]
fn masks_json_url_xml_and_shell_forms() {
    let secret = "p@ss \"w'rd\"&<x>\\";
    let m = masker(&[secret]);
    let forms = [
        "p@ss \\\"w'rd\\\"&<x>\\\\",                  // JSON
        "p%40ss%20%22w%27rd%22%26%3Cx%3E%5C",         // URL
        "p@ss &quot;w&apos;rd&quot;&amp;&lt;x&gt;\\", // XML
        "p@ss \\\"w'rd\\\"&<x>\\",                    // command line
        "p@ss \"w''rd\"&<x>\\",                       // expression
        "p@ss \"w'\\''rd\"&<x>\\",                    // shell single quotes
    ];
    for form in forms {
        assert_eq!(m.mask_str(&format!("<{form}>")), "<***>", "{form}");
    }
}

#[test]
fn add_secret_trims_and_registers_each_line() {
    let mut m = Masker::new();
    m.add_secret("  first line\r\n  second line  \n\n");
    assert_eq!(m.len(), 3);
    assert_eq!(m.mask_str("a first line b"), "a *** b");
    assert_eq!(m.mask_str("x second line"), "x ***");
    assert_eq!(m.mask_str("first line\r\n  second line"), "***");
    // Printed line by line with other line endings, each line is still masked.
    assert_eq!(m.mask_str("first line\nsecond line\n"), "***\n***\n");
}

#[test]
fn add_mask_keeps_the_value_as_written_and_adds_lines() {
    let mut m = Masker::new();
    m.add_mask(" padded ");
    assert_eq!(m.mask_str("[ padded ]"), "[***]");
    assert_eq!(m.mask_str("[padded]"), "[***]");
    m.add_mask("   ");
    m.add_mask("");
    assert_eq!(m.len(), 2);
}

#[test]
fn empty_values_and_repeats_are_ignored() {
    let mut m = Masker::new();
    m.add_value("");
    m.add_secret("  ");
    assert!(m.is_empty());
    m.add_value("abc");
    m.add_value("abc");
    assert_eq!(m.len(), 1);
}

#[test]
fn secrets_added_later_are_masked_from_then_on() {
    let mut m = masker(&["first"]);
    assert_eq!(m.mask_str("first second"), "*** second");
    m.add_value("second");
    assert_eq!(m.mask_str("first second"), "*** ***");
}

#[test]
fn non_ascii_text_and_secrets_stay_valid_utf8() {
    let m = masker(&["пароль"]);
    assert_eq!(m.mask_str("ключ: пароль ✓"), "ключ: *** ✓");
}

#[test]
fn mask_bytes_works_on_invalid_utf8() {
    let m = masker(&["key"]);
    assert_eq!(m.mask_bytes(b"\xff key \xfe"), b"\xff *** \xfe");
}

#[test]
fn debug_output_never_shows_a_secret() {
    let mut m = masker(&["hunter2"]);
    m.add_secret("other-secret");
    let shown = format!("{m:?} {:?} {:?}", m.stream(), m.writer(Vec::new()));
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("other-secret"), "{shown}");
    assert!(!shown.contains(&base64(b"hunter2")), "{shown}");
}

#[test]
fn many_secrets_are_all_masked() {
    let secrets: Vec<String> = (0..2000)
        .map(|i| format!("tok-{i:05}-{}", i * 7919))
        .collect();
    let mut m = Masker::new();
    for s in &secrets {
        m.add_secret(s);
    }
    let text: String = secrets
        .iter()
        .step_by(97)
        .map(|s| format!("value {s} end\n"))
        .collect();
    let masked = m.mask_str(&text);
    assert_eq!(masked.lines().count(), secrets.len().div_ceil(97));
    assert!(masked.lines().all(|l| l == "value *** end"), "{masked}");
}

#[test]
fn matcher_is_shared_until_a_value_is_added() {
    let mut m = masker(&["abc"]);
    let a = m.matcher();
    assert!(Arc::ptr_eq(&a, &m.matcher()));
    m.add_value("def");
    assert!(!Arc::ptr_eq(&a, &m.matcher()));
}

proptest! {
    #[test]
    fn whole_string_masking_matches_githubs_algorithm(
        secrets in proptest::collection::vec("[ab%\"'&=\n]{1,6}", 1..5),
        text in "[ab%\"'&=\nYW]{0,60}",
    ) {
        let mut m = Masker::new();
        for s in &secrets {
            m.add_mask(s);
        }
        prop_assert_eq!(m.mask_bytes(text.as_bytes()), reference_mask(&m, text.as_bytes()));
    }

    #[test]
    fn masked_text_never_contains_a_registered_value(
        secrets in proptest::collection::vec("[abc]{2,5}", 1..4),
        text in "[abc ]{0,60}",
    ) {
        let m = masker(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
        let masked = m.mask_str(&text);
        for s in &secrets {
            prop_assert!(!masked.contains(s.as_str()), "{} in {}", s, masked);
        }
    }

    #[test]
    fn no_input_makes_the_masker_panic(secret in any::<String>(), text in any::<Vec<u8>>()) {
        let mut m = Masker::new();
        m.add_secret(&secret);
        m.add_mask(&secret);
        let _ = m.mask_bytes(&text);
        let _ = m.mask_str(&String::from_utf8_lossy(&text));
    }
}
