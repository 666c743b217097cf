//! Values that expressions compute, and their conversion from and to JSON.

use super::casing::eq_ignore_case;
use super::number::to_display_string;
use indexmap::IndexMap;

/// An expression value. Objects keep their keys' order and case; lookups ignore case.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(IndexMap<String, Value>),
}

impl Value {
    /// Builds a value from JSON (contexts arrive as JSON).
    pub fn from_json(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => {
                Value::Array(a.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON. Numbers JSON cannot hold (NaN, infinities) become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// GitHub's name for the value's kind, as its test data and error messages spell it:
    /// `Null`, `Boolean`, `Number`, `String`, `Array` or `Object`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Number(_) => "Number",
            Value::String(_) => "String",
            Value::Array(_) => "Array",
            Value::Object(_) => "Object",
        }
    }

    /// GitHub's truthiness: `null`, `false`, `0`, `NaN` and `''` are false, everything else
    /// (including empty arrays and objects) is true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// The value as GitHub converts it to a string (what `format` and `${{ }}` inside a string
    /// produce): `null` is empty, numbers as .NET's G15, arrays and objects as `Array` and `Object`.
    pub fn to_expr_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => to_display_string(*n),
            Value::String(s) => s.clone(),
            Value::Array(_) => "Array".to_string(),
            Value::Object(_) => "Object".to_string(),
        }
    }

    /// The value as `toJSON` writes it: indented by two spaces, numbers as G15.
    pub fn to_github_json(&self) -> String {
        super::functions::to_json_text(self)
    }

    /// Looks up an object's key ignoring case, as expressions do (an exact match wins).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key).or_else(|| {
                map.iter()
                    .find(|(k, _)| eq_ignore_case(k, key))
                    .map(|(_, v)| v)
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_ignore_case_but_prefer_an_exact_match() {
        let v = Value::from_json(json!({"Foo": 1, "foo": 2, "BAR": 3}));
        assert_eq!(v.get("foo"), Some(&Value::Number(2.0)));
        assert_eq!(v.get("bar"), Some(&Value::Number(3.0)));
        assert_eq!(v.get("baz"), None);
    }

    #[test]
    fn converts_to_strings_as_github_does() {
        assert_eq!(Value::Null.to_expr_string(), "");
        assert_eq!(Value::Number(-0.0).to_expr_string(), "0");
        assert_eq!(Value::Number(1.5e-7).to_expr_string(), "1.5E-07");
        assert_eq!(Value::Array(vec![]).to_expr_string(), "Array");
        assert_eq!(Value::Object(IndexMap::new()).to_expr_string(), "Object");
    }

    #[test]
    fn truthiness_follows_github() {
        assert!(!Value::Number(f64::NAN).is_truthy());
        assert!(!Value::String(String::new()).is_truthy());
        assert!(Value::String("false".into()).is_truthy());
        assert!(Value::Array(vec![]).is_truthy());
    }

    #[test]
    fn json_round_trips_and_drops_unrepresentable_numbers() {
        let v = Value::from_json(json!({"a": [1, "x", null, true]}));
        assert_eq!(v.to_json(), json!({"a": [1.0, "x", null, true]}));
        assert_eq!(Value::Number(f64::INFINITY).to_json(), json!(null));
    }
}
