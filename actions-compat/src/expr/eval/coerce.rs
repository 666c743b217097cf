//! GitHub's conversions and comparisons: truthiness, value-to-number and value-to-string, and
//! the loose equality and ordering the operators use (JavaScript's abstract comparison, except
//! that strings compare ignoring case and arrays and objects are never converted: they are equal
//! only to themselves).

use super::val::{same_collection, Val};
use crate::expr::casing::{cmp_ignore_case, eq_ignore_case};
use crate::expr::number::{parse_number, to_display_string};
use std::borrow::Cow;
use std::cmp::Ordering;

pub(crate) fn is_truthy(v: &Val<'_>) -> bool {
    match v {
        Val::Null => false,
        Val::Bool(b) => *b,
        Val::Number(n) => *n != 0.0 && !n.is_nan(),
        Val::Str(s) => !s.as_str().is_empty(),
        Val::Array(_) | Val::Object(_) => true,
    }
}

/// JavaScript's `Number()` for primitives; NaN for arrays and objects.
pub(crate) fn to_number(v: &Val<'_>) -> f64 {
    match v {
        Val::Null => 0.0,
        Val::Bool(b) => f64::from(u8::from(*b)),
        Val::Number(n) => *n,
        Val::Str(s) => parse_number(s.as_str()),
        Val::Array(_) | Val::Object(_) => f64::NAN,
    }
}

pub(crate) fn to_string<'v>(v: &'v Val<'_>) -> Cow<'v, str> {
    match v {
        Val::Null => Cow::Borrowed(""),
        Val::Bool(true) => Cow::Borrowed("true"),
        Val::Bool(false) => Cow::Borrowed("false"),
        Val::Number(n) => Cow::Owned(to_display_string(*n)),
        Val::Str(s) => Cow::Borrowed(s.as_str()),
        Val::Array(_) => Cow::Borrowed("Array"),
        Val::Object(_) => Cow::Borrowed("Object"),
    }
}

/// An operand after GitHub's type coercion.
enum Coerced<'v, 'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'v str),
    Collection(&'v Val<'a>),
}

impl Coerced<'_, '_> {
    fn rank(&self) -> u8 {
        match self {
            Coerced::Null => 0,
            Coerced::Bool(_) => 1,
            Coerced::Number(_) => 2,
            Coerced::Str(_) => 3,
            Coerced::Collection(Val::Array(_)) => 4,
            Coerced::Collection(_) => 5,
        }
    }

    fn number(&self) -> f64 {
        match self {
            Coerced::Null => 0.0,
            Coerced::Bool(b) => f64::from(u8::from(*b)),
            Coerced::Number(n) => *n,
            Coerced::Str(s) => parse_number(s),
            Coerced::Collection(_) => f64::NAN,
        }
    }
}

fn coerced<'v, 'a>(v: &'v Val<'a>) -> Coerced<'v, 'a> {
    match v {
        Val::Null => Coerced::Null,
        Val::Bool(b) => Coerced::Bool(*b),
        Val::Number(n) => Coerced::Number(*n),
        Val::Str(s) => Coerced::Str(s.as_str()),
        Val::Array(_) | Val::Object(_) => Coerced::Collection(v),
    }
}

/// Brings two operands to a common kind where GitHub does: a number and a string compare as
/// numbers; a boolean or null becomes a number, then the rules apply again.
fn coerce<'v, 'a>(left: &'v Val<'a>, right: &'v Val<'a>) -> (Coerced<'v, 'a>, Coerced<'v, 'a>) {
    let (mut l, mut r) = (coerced(left), coerced(right));
    // Each round turns at least one boolean or null into a number, so three rounds suffice.
    for _ in 0..3 {
        match (&l, &r) {
            _ if l.rank() == r.rank() => break,
            (Coerced::Number(_), Coerced::Str(_)) => r = Coerced::Number(r.number()),
            (Coerced::Str(_), Coerced::Number(_)) => l = Coerced::Number(l.number()),
            (Coerced::Bool(_) | Coerced::Null, _) => l = Coerced::Number(l.number()),
            (_, Coerced::Bool(_) | Coerced::Null) => r = Coerced::Number(r.number()),
            _ => break,
        }
    }
    (l, r)
}

pub(crate) fn abstract_eq<'a>(left: &Val<'a>, right: &Val<'a>) -> bool {
    match coerce(left, right) {
        (Coerced::Null, Coerced::Null) => true,
        (Coerced::Number(a), Coerced::Number(b)) => a == b,
        (Coerced::Str(a), Coerced::Str(b)) => eq_ignore_case(a, b),
        (Coerced::Bool(a), Coerced::Bool(b)) => a == b,
        (Coerced::Collection(a), Coerced::Collection(b)) => same_collection(a, b),
        _ => false,
    }
}

/// The ordering of two operands, or `None` where GitHub says neither `<` nor `>` holds (NaN,
/// arrays, objects, mismatched kinds).
pub(crate) fn abstract_cmp<'a>(left: &Val<'a>, right: &Val<'a>) -> Option<Ordering> {
    match coerce(left, right) {
        (Coerced::Number(a), Coerced::Number(b)) => a.partial_cmp(&b),
        (Coerced::Str(a), Coerced::Str(b)) => Some(cmp_ignore_case(a, b)),
        (Coerced::Bool(a), Coerced::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &'static str) -> Val<'static> {
        Val::string(text)
    }

    #[test]
    fn coercion_table() {
        let n = Val::Number;
        let cases: Vec<(Val<'static>, Val<'static>, bool)> = vec![
            (Val::Null, n(0.0), true),
            (Val::Null, s(""), true),
            (Val::Null, s("0"), true),
            (Val::Null, s("null"), false),
            (Val::Null, Val::Bool(false), true),
            (Val::Bool(true), n(1.0), true),
            (Val::Bool(true), s(" 1.0 "), true),
            (Val::Bool(false), s("  "), true),
            (Val::Bool(true), n(2.0), false),
            (n(255.0), s(" 0xff "), true),
            (n(8.0), s(" 0o10 "), true),
            (n(f64::NAN), n(f64::NAN), false),
            (n(0.0), n(-0.0), true),
            (s("ABC"), s("abc"), true),
            (s("1"), s("1.0"), false),
            (Val::filtered(vec![]), n(f64::NAN), false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(abstract_eq(&a, &b), expected, "{a:?} == {b:?}");
        }
    }

    #[test]
    fn collections_are_equal_only_to_themselves() {
        let a = Val::filtered(vec![]);
        let b = Val::filtered(vec![]);
        assert!(abstract_eq(&a, &a.clone()));
        assert!(!abstract_eq(&a, &b));
        let (x, y) = (
            crate::expr::Value::Array(vec![]),
            crate::expr::Value::Array(vec![]),
        );
        assert!(abstract_eq(&Val::from_value(&x), &Val::from_value(&x)));
        assert!(!abstract_eq(&Val::from_value(&x), &Val::from_value(&y)));
    }

    #[test]
    fn ordering_coerces_and_nan_is_unordered() {
        assert_eq!(
            abstract_cmp(&Val::Bool(true), &Val::Null),
            Some(Ordering::Greater)
        );
        assert_eq!(
            abstract_cmp(&s(" 1 "), &Val::Number(0.0)),
            Some(Ordering::Greater)
        );
        assert_eq!(abstract_cmp(&s("abc"), &Val::Number(1.0)), None);
        assert_eq!(abstract_cmp(&s("a"), &s("[")), Some(Ordering::Less));
        assert_eq!(
            abstract_cmp(&Val::filtered(vec![]), &Val::Number(0.0)),
            None
        );
    }

    #[test]
    fn converts_values_to_strings_and_numbers() {
        assert_eq!(to_string(&Val::Number(-0.0)), "0");
        assert_eq!(to_string(&Val::Null), "");
        assert_eq!(to_string(&Val::filtered(vec![])), "Array");
        assert!(to_number(&Val::filtered(vec![])).is_nan());
        assert_eq!(to_number(&Val::Bool(true)), 1.0);
        assert!(!is_truthy(&Val::Number(f64::NAN)));
        assert!(is_truthy(&s("0")));
    }
}
