//! Numbers as GitHub reads and writes them: string-to-number coercion follows the runner's
//! `ParseNumber` (JavaScript's `Number()` rules plus `0x`/`0o`), and number-to-string follows .NET's
//! `ToString("G15")`.

/// Whitespace as .NET's `Char.IsWhiteSpace` sees it (the Unicode White_Space property).
pub(crate) fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// Converts a string to a number the way GitHub coerces strings: trimmed, empty is 0, decimal with
/// optional sign/fraction/exponent, `Infinity`/`NaN` in any case, `0x` hex and `0o` octal (32-bit,
/// two's complement as .NET parses them); anything else is NaN.
pub(crate) fn parse_number(text: &str) -> f64 {
    let s = text.trim_matches(is_whitespace);
    if s.is_empty() {
        return 0.0;
    }
    if let Some(value) = parse_decimal(s) {
        return value;
    }
    if let Some(digits) = s.strip_prefix("0x") {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return parse_int32_radix(digits, 16);
        }
        return f64::NAN;
    }
    if let Some(digits) = s.strip_prefix("0o") {
        if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return parse_int32_radix(digits, 8);
        }
    }
    f64::NAN
}

/// Parses digits in `radix` as .NET parses a 32-bit integer from hex or octal: any value up to
/// 0xFFFFFFFF is accepted and reinterpreted as a signed 32-bit integer; larger values are NaN.
fn parse_int32_radix(digits: &str, radix: u32) -> f64 {
    let mut value: u64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return f64::NAN;
        };
        value = value * u64::from(radix) + u64::from(d);
        if value > u64::from(u32::MAX) {
            return f64::NAN;
        }
    }
    let bits = u32::try_from(value).unwrap_or(0);
    f64::from(bits as i32)
}

/// .NET's `Double.TryParse` with leading sign, decimal point and exponent allowed (no whitespace,
/// no thousands separators), including its case-insensitive `Infinity`, `-Infinity`, `NaN`,
/// `+Infinity`, `+NaN` and `-NaN`.
fn parse_decimal(s: &str) -> Option<f64> {
    if is_decimal_syntax(s) {
        return s.parse::<f64>().ok();
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if rest.eq_ignore_ascii_case("Infinity") {
        Some(sign * f64::INFINITY)
    } else if rest.eq_ignore_ascii_case("NaN") {
        Some(f64::NAN)
    } else {
        None
    }
}

/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, ASCII digits only.
fn is_decimal_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - frac_start;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Formats a number as .NET's `ToString("G15", InvariantCulture)`: at most 15 significant digits,
/// trailing zeros dropped, scientific notation (`1E+15`, `1E-05`) outside 1e-5 ..= 1e15.
/// Negative zero keeps its sign here; [`to_display_string`] is the conversion GitHub uses for
/// values.
pub(crate) fn format_g15(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0");
    }
    // `{:.14e}` rounds the exact binary value to 15 significant digits, half to even, as .NET does.
    let sci = format!("{:.14e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::from(sign);
    if exponent > -5 && exponent < 15 {
        if exponent >= 0 {
            let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            let zeros = usize::try_from(-exponent - 1).unwrap_or(0);
            out.extend(std::iter::repeat_n('0', zeros));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('E');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.unsigned_abs()));
    }
    out
}

/// Number to string as GitHub converts values (`format`, `join`, `toJSON`, string comparison):
/// G15, with negative zero written `0`.
pub(crate) fn to_display_string(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    format_g15(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strings_like_github_coerces_them() {
        let cases: &[(&str, f64)] = &[
            ("", 0.0),
            ("   ", 0.0),
            (" 123456.789 ", 123456.789),
            (" +123456.789 ", 123456.789),
            ("-123456.789", -123456.789),
            (".5", 0.5),
            ("5.", 5.0),
            ("1.2e2", 120.0),
            ("1.2E+2", 120.0),
            ("1.2e-2", 0.012),
            (" 0xff ", 255.0),
            ("0xFF", 255.0),
            ("0xFFFFFFFF", -1.0),
            ("0o10", 8.0),
            ("0o37777777777", -1.0),
            (" Infinity ", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("+infinity", f64::INFINITY),
            ("1e400", f64::INFINITY),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_number(text), *expected, "parsing {text:?}");
        }
    }

    #[test]
    fn unparsable_strings_are_nan() {
        for text in [
            "abc",
            "NaN",
            "-NaN",
            "0x",
            "0x100000000",
            "0xFZ",
            "-0xFF",
            "0X1",
            "0o8",
            "1e",
            "1e+",
            ".",
            "+",
            "1.2.3",
            "1_000",
            "inf",
            "-Inf",
            "0x01p2",
            "1 2",
        ] {
            assert!(parse_number(text).is_nan(), "{text:?} should be NaN");
        }
    }

    #[test]
    fn formats_numbers_as_dotnet_g15() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.0, "-2"),
            (123456.789, "123456.789"),
            (-123456.789, "-123456.789"),
            (0.845_512_408_225_570_1, "0.84551240822557"),
            (1.9, "1.9"),
            (1234.56, "1234.56"),
            (120.0, "120"),
            (0.012, "0.012"),
            (0.0001, "0.0001"),
            (0.00001, "1E-05"),
            (1.5e-7, "1.5E-07"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1E+15"),
            (1234567890123456.0, "1.23456789012346E+15"),
            (1e21, "1E+21"),
            (1.7976931348623157e308, "1.79769313486232E+308"),
            (0.1 + 0.2, "0.3"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_g15(*value), *expected, "formatting {value:e}");
        }
    }

    #[test]
    fn negative_zero_displays_as_zero_but_keeps_sign_in_g15() {
        assert_eq!(to_display_string(-0.0), "0");
        assert_eq!(format_g15(-0.0), "-0");
    }
}
