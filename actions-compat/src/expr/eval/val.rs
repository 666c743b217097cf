//! The values the evaluator passes around. Unlike the public [`Value`], they borrow from the
//! contexts instead of copying them, and arrays and objects have an identity: GitHub compares
//! them by reference (`github == github` is true, `fromJSON('[]') == fromJSON('[]')` is false).
//! Identity is the address of the borrowed context value, or the `Rc` of a computed one.

use crate::expr::casing::eq_ignore_case;
use crate::expr::Value;
use indexmap::IndexMap;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(Str<'a>),
    Array(Arr<'a>),
    Object(Obj<'a>),
}

#[derive(Debug, Clone)]
pub(crate) enum Str<'a> {
    Borrowed(&'a str),
    Shared(Rc<str>),
}

impl Str<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Shared(s) => s,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Arr<'a> {
    /// An array in the contexts.
    Context(&'a Vec<Value>),
    /// An array computed during evaluation (by `fromJSON`).
    Owned(Rc<Vec<Val<'a>>>),
    /// The result of a `*` (`foo.*`, `foo[*]`): indexing it indexes each of its items.
    Filtered(Rc<Vec<Val<'a>>>),
}

#[derive(Debug, Clone)]
pub(crate) enum Obj<'a> {
    Context(&'a IndexMap<String, Value>),
    Owned(Rc<IndexMap<String, Val<'a>>>),
}

impl<'a> Val<'a> {
    pub(crate) fn from_value(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Number(*n),
            Value::String(s) => Val::Str(Str::Borrowed(s)),
            Value::Array(a) => Val::Array(Arr::Context(a)),
            Value::Object(o) => Val::Object(Obj::Context(o)),
        }
    }

    pub(crate) fn string(s: impl Into<Rc<str>>) -> Val<'a> {
        Val::Str(Str::Shared(s.into()))
    }

    pub(crate) fn filtered(items: Vec<Val<'a>>) -> Val<'a> {
        Val::Array(Arr::Filtered(Rc::new(items)))
    }

    pub(crate) fn is_primitive(&self) -> bool {
        !matches!(self, Val::Array(_) | Val::Object(_))
    }

    /// GitHub's name for the value's kind.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Val::Null => "Null",
            Val::Bool(_) => "Boolean",
            Val::Number(_) => "Number",
            Val::Str(_) => "String",
            Val::Array(_) => "Array",
            Val::Object(_) => "Object",
        }
    }

    /// Copies the value out into a public [`Value`].
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Number(n) => Value::Number(*n),
            Val::Str(s) => Value::String(s.as_str().to_string()),
            Val::Array(Arr::Context(a)) => Value::Array((*a).clone()),
            Val::Array(Arr::Owned(items) | Arr::Filtered(items)) => {
                Value::Array(items.iter().map(Val::to_value).collect())
            }
            Val::Object(Obj::Context(o)) => Value::Object((*o).clone()),
            Val::Object(Obj::Owned(o)) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }
}

impl<'a> Arr<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Arr::Context(a) => a.len(),
            Arr::Owned(a) | Arr::Filtered(a) => a.len(),
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<Val<'a>> {
        match self {
            Arr::Context(a) => a.get(index).map(Val::from_value),
            Arr::Owned(a) | Arr::Filtered(a) => a.get(index).cloned(),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Val<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    fn same(&self, other: &Arr<'a>) -> bool {
        match (self, other) {
            (Arr::Context(a), Arr::Context(b)) => std::ptr::eq(*a, *b),
            (Arr::Owned(a), Arr::Owned(b)) | (Arr::Filtered(a), Arr::Filtered(b)) => {
                Rc::ptr_eq(a, b)
            }
            _ => false,
        }
    }
}

impl<'a> Obj<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Obj::Context(o) => o.len(),
            Obj::Owned(o) => o.len(),
        }
    }

    /// Looks a key up ignoring case; an exact match wins.
    pub(crate) fn get(&self, key: &str) -> Option<Val<'a>> {
        match self {
            Obj::Context(o) => o
                .get(key)
                .or_else(|| {
                    o.iter()
                        .find(|(k, _)| eq_ignore_case(k, key))
                        .map(|(_, v)| v)
                })
                .map(Val::from_value),
            Obj::Owned(o) => o
                .get(key)
                .or_else(|| {
                    o.iter()
                        .find(|(k, _)| eq_ignore_case(k, key))
                        .map(|(_, v)| v)
                })
                .cloned(),
        }
    }

    /// The key and value at a position, in insertion order.
    pub(crate) fn entry(&self, index: usize) -> Option<(&str, Val<'a>)> {
        match self {
            Obj::Context(o) => o
                .get_index(index)
                .map(|(k, v)| (k.as_str(), Val::from_value(v))),
            Obj::Owned(o) => o.get_index(index).map(|(k, v)| (k.as_str(), v.clone())),
        }
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = Val<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.entry(i).map(|(_, v)| v))
    }

    fn same(&self, other: &Obj<'a>) -> bool {
        match (self, other) {
            (Obj::Context(a), Obj::Context(b)) => std::ptr::eq(*a, *b),
            (Obj::Owned(a), Obj::Owned(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Reference equality of two arrays or two objects.
pub(crate) fn same_collection(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Array(x), Val::Array(y)) => x.same(y),
        (Val::Object(x), Val::Object(y)) => x.same(y),
        _ => false,
    }
}
