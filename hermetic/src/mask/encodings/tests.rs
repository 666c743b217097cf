use proptest::prelude::*;

use super::*;

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"hunter2"), "aHVudGVyMg==");
    assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
}

#[test]
fn complete_base64_characters_drop_the_ones_mixed_with_what_follows() {
    assert_eq!(base64_complete_chars(b"hunter2"), "aHVudGVyM");
    assert_eq!(base64_complete_chars(b"unter2"), "dW50ZXIy");
    assert_eq!(base64_complete_chars(b"nter2"), "bnRlcj");
    assert_eq!(base64_complete_chars(b"a"), "Y");
}

#[test]
fn forms_include_base64_at_the_three_offsets_as_github_registers_them() {
    let forms = encoded_forms("hunter2");
    for expected in ["aHVudGVyMg==", "dW50ZXIy", "bnRlcjI="] {
        assert!(
            forms.iter().any(|f| f == expected),
            "{expected} in {forms:?}"
        );
    }
}

#[test]
fn forms_include_trimmed_base64_long_enough_to_be_safe() {
    let forms = encoded_forms("hunter2");
    assert!(forms.iter().any(|f| f == "aHVudGVyM"));
    assert!(forms.iter().any(|f| f == "bnRlcj"));
    // "abcd" trims to 5, 4 and 2 characters: too short to register; the full forms stay.
    assert_eq!(encoded_forms("abcd"), ["YWJjZA==", "YmNk", "Y2Q="]);
}

#[test]
fn short_secrets_shift_no_further_than_their_length() {
    let forms = encoded_forms("a");
    assert!(forms.iter().all(|f| f == "YQ=="), "{forms:?}");
}

#[test]
fn base64_of_a_secret_inside_other_text_contains_a_form() {
    // "user:" is 5 bytes, so the secret starts at offset 2 of a base64 group.
    let encoded = base64(b"user:hunter2\n");
    let forms = encoded_forms("hunter2");
    assert!(forms.iter().any(|f| encoded.contains(f.as_str())));
}

#[test]
fn json_escapes_as_newtonsoft_does() {
    assert_eq!(
        json_string_content("a\"b\\c/\u{1}\u{8}\t\n\u{c}\r\u{1f}\u{7f}é\u{85}\u{2028}\u{2029}'"),
        "a\\\"b\\\\c/\\u0001\\b\\t\\n\\f\\r\\u001f\u{7f}é\\u0085\\u2028\\u2029'"
    );
}

#[test]
fn uri_escapes_all_but_unreserved_with_upper_case_hex() {
    assert_eq!(uri_data_escape("aZ09-._~"), "aZ09-._~");
    assert_eq!(
        uri_data_escape("a b/+:?&=ü"),
        "a%20b%2F%2B%3A%3F%26%3D%C3%BC"
    );
}

#[test]
fn xml_escapes_the_five_entities() {
    assert_eq!(
        xml_escape("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"
    );
}

#[test]
fn command_line_and_expression_escapes() {
    let forms = encoded_forms("p\"a'ss");
    assert!(forms.iter().any(|f| f == "p\\\"a'ss"));
    assert!(forms.iter().any(|f| f == "p\"a''ss"));
}

#[test]
fn shell_single_quote_form() {
    let forms = encoded_forms("it's-secret");
    assert!(forms.iter().any(|f| f == "it'\\''s-secret"));
}

#[test]
fn double_quotes_are_trimmed_from_values_longer_than_eight() {
    assert_eq!(trim_double_quotes("\"12345678\""), "12345678");
    assert_eq!(trim_double_quotes("\"123456\""), "");
    assert_eq!(trim_double_quotes("\"12345678"), "");
}

#[test]
fn powershell_pieces_around_ampersands() {
    let v = "secretpart1&secretpart2&secretpart3";
    assert_eq!(powershell_before_ampersand(v), "secretpart1&secretpart2&");
    assert_eq!(powershell_after_ampersand(v), "secretpart3");
    let v = "secretpart1&+secretpart2&secretpart3";
    assert_eq!(powershell_before_ampersand(v), "secretpart1&+");
    assert_eq!(powershell_after_ampersand(v), "ecretpart2&secretpart3");
}

#[test]
fn powershell_pieces_shorter_than_six_are_dropped() {
    assert_eq!(powershell_before_ampersand("ab&cdefgh"), "");
    assert_eq!(powershell_after_ampersand("abcdefgh&cd"), "");
    assert_eq!(powershell_after_ampersand("abcdef&+x"), "");
    assert_eq!(powershell_before_ampersand("no ampersand"), "");
}

#[test]
fn forms_leave_out_empty_and_unchanged_values() {
    // No escape changes "plain"; of the trimmed base64 forms only the 6-character one stays.
    assert_eq!(
        encoded_forms("plain"),
        ["cGxhaW4=", "cGxhaW", "bGFpbg==", "YWlu"]
    );
}

proptest! {
    #[test]
    fn any_base64_containing_the_secret_contains_one_of_its_forms(
        prefix in proptest::collection::vec(any::<u8>(), 0..8),
        secret in "[ -~]{8,24}",
        suffix in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut data = prefix;
        data.extend_from_slice(secret.as_bytes());
        data.extend_from_slice(&suffix);
        let encoded = base64(&data);
        let forms = encoded_forms(&secret);
        prop_assert!(forms.iter().any(|f| encoded.contains(f.as_str())));
    }

    #[test]
    fn no_value_makes_the_encoders_panic(value in any::<String>()) {
        let _ = encoded_forms(&value);
    }
}
