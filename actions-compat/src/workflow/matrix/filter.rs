//! `include` and `exclude` entries as the filters GitHub makes of them, and the job-name segments
//! of a combination.
//!
//! GitHub turns a filter into one comparison per scalar it holds, however deep:
//! `{node: {version: 14}, os: linux}` holds when `matrix.node.version == 14` and
//! `matrix.os == 'linux'`. So a filter matches partially at every level (an object in a vector
//! matches a filter naming only some of its keys), a `null` in a filter matches a missing key, and
//! the comparison is the expression language's `==`: strings ignore case and `'12'` equals `12`.
//! Keys are looked up ignoring case, as everywhere in GitHub's contexts.

use crate::expr::{loose_equals, parse_number, Value};

/// One step from a value to a part of it.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// An object key (`matrix['os']`).
    Key(String),
    /// An array position (`matrix['os'][0]`).
    Position(usize),
}

/// One comparison: the scalar at `path` below vector `vector` must equal `expected`.
#[derive(Debug, Clone)]
struct Leaf {
    vector: usize,
    path: Vec<Step>,
    expected: Value,
}

/// A filter over the vectors of a matrix: every comparison must hold.
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    leaves: Vec<Leaf>,
}

impl Filter {
    /// Adds the comparisons that the value `value`, under the vector at index `vector`, makes.
    /// Walks without recursion; empty objects and arrays add nothing, as on GitHub.
    pub fn add(&mut self, vector: usize, value: &Value) {
        let mut todo: Vec<(Vec<Step>, &Value)> = vec![(Vec::new(), value)];
        while let Some((path, value)) = todo.pop() {
            match value {
                Value::Object(entries) => {
                    for (key, item) in entries.iter().rev() {
                        let mut child = path.clone();
                        child.push(Step::Key(key.clone()));
                        todo.push((child, item));
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        let mut child = path.clone();
                        child.push(Step::Position(i));
                        todo.push((child, item));
                    }
                }
                scalar => self.leaves.push(Leaf {
                    vector,
                    path,
                    expected: scalar.clone(),
                }),
            }
        }
    }

    /// How many comparisons the filter makes.
    pub fn comparisons(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the combination (the value `vectors[k][choice[k]]` for each vector `k`) matches.
    pub fn matches(&self, vectors: &[&[Value]], choice: &[usize]) -> bool {
        self.leaves.iter().all(|leaf| {
            let root = vectors
                .get(leaf.vector)
                .zip(choice.get(leaf.vector))
                .and_then(|(values, &i)| values.get(i));
            let found =
                root.and_then(|root| leaf.path.iter().try_fold(root, |v, step| index(v, step)));
            loose_equals(found.unwrap_or(&Value::Null), &leaf.expected)
        })
    }
}

/// `value[step]` as expressions index: a key on an object (ignoring case, an exact match first),
/// a position on an array; a key that reads as a number indexes an array and a position names an
/// object's key. `None` where expressions give `null`.
fn index<'v>(value: &'v Value, step: &Step) -> Option<&'v Value> {
    match (value, step) {
        (Value::Object(_), Step::Key(key)) => value.get(key),
        (Value::Object(_), Step::Position(i)) => value.get(&i.to_string()),
        (Value::Array(items), Step::Position(i)) => items.get(*i),
        (Value::Array(items), Step::Key(key)) => {
            let n = parse_number(key);
            if n.is_nan() || n < 0.0 || n.floor() > f64::from(i32::MAX) {
                return None;
            }
            // Non-negative, whole and at most i32::MAX: the conversion is exact.
            items.get(n.floor() as usize)
        }
        _ => None,
    }
}

/// Appends the job-name segments of `value` to `segments`: every boolean, number and non-empty
/// string inside it, depth first, in order, without keys (GitHub's `build (ubuntu, 3.11)`).
pub(super) fn name_segments(value: &Value, segments: &mut Vec<String>) {
    let mut todo = vec![value];
    while let Some(value) = todo.pop() {
        match value {
            Value::Object(entries) => todo.extend(entries.values().rev()),
            Value::Array(items) => todo.extend(items.iter().rev()),
            Value::Null => {}
            scalar => {
                let text = scalar.to_expr_string();
                if !text.is_empty() {
                    segments.push(text);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(json: serde_json::Value) -> Value {
        Value::from_json(json)
    }

    #[test]
    fn nested_filter_matches_objects_partially() {
        let node = [v(json!({"version": 20, "env": "X=1"}))];
        let mut filter = Filter::default();
        filter.add(0, &v(json!({"version": 20})));
        assert!(filter.matches(&[&node], &[0]));
        let mut other = Filter::default();
        other.add(0, &v(json!({"version": 14})));
        assert!(!other.matches(&[&node], &[0]));
    }

    #[test]
    fn null_in_filter_matches_a_missing_key() {
        let node = [v(json!({"version": 20}))];
        let mut filter = Filter::default();
        filter.add(0, &v(json!({"env": null})));
        assert!(filter.matches(&[&node], &[0]));
    }

    #[test]
    fn comparison_coerces_and_ignores_case_as_expressions_do() {
        let values = [v(json!("Ubuntu-Latest")), v(json!(12))];
        let mut filter = Filter::default();
        filter.add(0, &v(json!("ubuntu-latest")));
        filter.add(1, &v(json!("12")));
        assert!(filter.matches(&[&values[..1], &values[1..]], &[0, 0]));
    }

    #[test]
    fn arrays_compare_by_position_and_empty_collections_match_anything() {
        let values = [v(json!([1, [2, 3]]))];
        let mut filter = Filter::default();
        filter.add(0, &v(json!([1, [2]])));
        assert!(filter.matches(&[&values], &[0]));
        let mut wrong = Filter::default();
        wrong.add(0, &v(json!([[2]])));
        assert!(!wrong.matches(&[&values], &[0]));
        let mut empty = Filter::default();
        empty.add(0, &v(json!({"a": {}, "b": []})));
        assert!(empty.matches(&[&values], &[0]));
    }

    #[test]
    fn numeric_keys_index_arrays_and_positions_index_objects() {
        let array = [v(json!(["a", "b"]))];
        let mut by_key = Filter::default();
        by_key.add(0, &v(json!({"1": "b"})));
        assert!(by_key.matches(&[&array], &[0]));
        let object = [v(json!({"0": "a"}))];
        let mut by_position = Filter::default();
        by_position.add(0, &v(json!(["a"])));
        assert!(by_position.matches(&[&object], &[0]));
    }

    #[test]
    fn name_segments_flatten_values_and_skip_nulls_and_empty_strings() {
        let mut segments = Vec::new();
        let value = v(json!({"version": 20, "env": "", "tags": [true, null, {"x": 1.5}]}));
        name_segments(&value, &mut segments);
        assert_eq!(segments, ["20", "true", "1.5"]);
    }
}
