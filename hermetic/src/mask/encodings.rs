//! The other spellings of a secret that a step may print, each masked like the secret itself.
//!
//! GitHub's runner derives these from every value it masks, and so do we:
//!
//! | form | where it shows up |
//! | --- | --- |
//! | base64 of the UTF-8 bytes, and of the bytes after the first 1 and 2 (a secret inside a longer base64 text starts at one of 3 offsets) | `echo -n "user:$S" \| base64` |
//! | JSON string content (`"` `\` and control characters escaped; U+0085, U+2028, U+2029 too) | `toJSON(secrets)` |
//! | URL data (`Uri.EscapeDataString`: all but `A-Za-z0-9-._~` percent-encoded, upper-case hex) | a token in a query string |
//! | XML (`& < > " '` as entities) | a secret in an XML config |
//! | command-line (`"` as `\"`) and expression (`'` as `''`) escapes | a secret passed to `docker -e` |
//! | the inside of a value wrapped in `"` (longer than 8) | a quoted secret |
//! | the parts before and after `&` that PowerShell prints separately | a secret passed to `pwsh` |
//!
//! We add two forms GitHub's runner does not register:
//! - base64 at each offset trimmed to the characters that depend only on the secret. The full
//!   form (which GitHub registers) ends in padding or in a character mixed with the next byte, so
//!   it matches only when the secret ends the encoded text: `echo "$S" | base64` (with its newline)
//!   would escape it. A trimmed form shorter than [`MIN_TRIMMED_BASE64`] is not registered, to
//!   keep short secrets from masking random base64 text.
//! - the POSIX shell single-quoted form (`'` as `'\''`), which `set -x` prints.

/// Shortest trimmed base64 form registered, in characters (36 bits: rare by chance).
pub const MIN_TRIMMED_BASE64: usize = 6;

/// Every encoded form of `value` (the value itself not included; duplicates possible). Public so
/// that tests elsewhere can check that none of them leaks; never log what it returns.
pub fn encoded_forms(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let mut forms = Vec::with_capacity(16);
    for shift in 0..3 {
        let shifted = if bytes.len() > shift {
            bytes.get(shift..).unwrap_or(bytes)
        } else {
            bytes
        };
        forms.push(base64(shifted));
        if bytes.len() > shift {
            let trimmed = base64_complete_chars(shifted);
            if trimmed.len() >= MIN_TRIMMED_BASE64 {
                forms.push(trimmed);
            }
        }
    }
    forms.push(value.replace('"', "\\\""));
    forms.push(value.replace('\'', "''"));
    forms.push(json_string_content(value));
    forms.push(uri_data_escape(value));
    forms.push(xml_escape(value));
    forms.push(trim_double_quotes(value));
    forms.push(powershell_before_ampersand(value));
    forms.push(powershell_after_ampersand(value));
    forms.push(value.replace('\'', "'\\''"));
    forms.retain(|f| !f.is_empty() && f != value);
    forms
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_char(sextet: u32) -> char {
    char::from(BASE64.get((sextet & 63) as usize).copied().unwrap_or(b'A'))
}

/// Standard base64 with `=` padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(b64_char(n >> 18));
        out.push(b64_char(n >> 12));
        out.push(if chunk.len() > 1 {
            b64_char(n >> 6)
        } else {
            '='
        });
        out.push(if chunk.len() > 2 { b64_char(n) } else { '=' });
    }
    out
}

/// The leading base64 characters whose 6 bits all come from `bytes`: the ones that stay the same
/// whatever follows `bytes` in the encoded text.
pub(crate) fn base64_complete_chars(bytes: &[u8]) -> String {
    let complete = bytes.len() * 8 / 6;
    base64(bytes).chars().take(complete).collect()
}

/// The content of the JSON string Newtonsoft.Json writes for `value` (without the quotes).
pub(crate) fn json_string_content(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// `value` as .NET's `Uri.EscapeDataString` writes it.
pub(crate) fn uri_data_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `value` as .NET's `SecurityElement.Escape` writes it.
pub(crate) fn xml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// Length as .NET counts it (UTF-16 code units), which GitHub's thresholds use.
fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The inside of a value wrapped in double quotes, if it is longer than 8.
pub(crate) fn trim_double_quotes(value: &str) -> String {
    if utf16_len(value) > 8 {
        if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            return inner.to_owned();
        }
    }
    String::new()
}

/// Shortest PowerShell piece registered, in UTF-16 code units, as in GitHub's runner.
const MIN_POWERSHELL_PIECE: usize = 6;

/// PowerShell reports a failing command around `&` in pieces: the part up to and including the
/// first `&+`, or else up to the last `&`.
pub(crate) fn powershell_before_ampersand(value: &str) -> String {
    let piece = if let Some(i) = value.find("&+") {
        value.get(..i + 2)
    } else if let Some(i) = value.rfind('&') {
        value.get(..i + 1)
    } else {
        None
    };
    piece
        .filter(|p| utf16_len(p) >= MIN_POWERSHELL_PIECE)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The part after the first `&+` less the one character PowerShell colours separately, or else
/// the part after the last `&`.
pub(crate) fn powershell_after_ampersand(value: &str) -> String {
    let piece = if let Some(i) = value.find("&+") {
        let rest = value.get(i + 2..).unwrap_or("");
        if utf16_len(rest) >= 2 {
            let mut chars = rest.chars();
            chars.next();
            Some(chars.as_str())
        } else {
            None
        }
    } else if let Some(i) = value.rfind('&') {
        value.get(i + 1..)
    } else {
        None
    };
    piece
        .filter(|p| utf16_len(p) >= MIN_POWERSHELL_PIECE)
        .map(str::to_owned)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
