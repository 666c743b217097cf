//! The functions expressions may call: the built-ins allowed everywhere (`contains`,
//! `startsWith`, `endsWith`, `format`, `join`, `toJSON`, `fromJSON`, `case`) and the ones allowed
//! only where [`crate::expr::ParseOptions`] lists them (`hashFiles` and the status functions).

mod format;
mod from_json;
mod glob;
mod hash_files;
mod to_json;

use super::casing::{contains_ignore_case, ends_with_ignore_case, starts_with_ignore_case};
use super::eval::coerce::{abstract_eq, to_string};
use super::eval::val::Val;
use super::eval::{Evaluator, ResultSize};
use super::{Expr, ExprError, JobStatus};

pub(crate) use self::to_json::to_json_text;

/// The most arguments a variadic built-in takes (GitHub's `Byte.MaxValue`).
pub(crate) const MAX_ARGUMENTS: usize = 255;

/// Minimum and maximum argument counts of a built-in function, matched ignoring case.
pub(crate) fn builtin_arity(name: &str) -> Option<(usize, usize)> {
    const BUILTINS: &[(&str, usize, usize)] = &[
        ("case", 3, MAX_ARGUMENTS),
        ("contains", 2, 2),
        ("endsWith", 2, 2),
        ("format", 1, MAX_ARGUMENTS),
        ("join", 1, 2),
        ("startsWith", 2, 2),
        ("toJson", 1, 1),
        ("fromJson", 1, 1),
    ];
    BUILTINS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, min, max)| (*min, *max))
}

type Outcome<'a> = Result<(Val<'a>, Option<ResultSize>), ExprError>;

/// Calls the function `node` names. `args` are unevaluated: each function evaluates what it
/// needs, in GitHub's order.
pub(crate) fn call<'a>(
    ev: &mut Evaluator<'a>,
    node: &'a Expr,
    name: &str,
    args: &'a [Expr],
    level: usize,
) -> Outcome<'a> {
    let lower = name.to_ascii_lowercase();
    let value = match lower.as_str() {
        "contains" => contains(ev, args, level)?,
        "startswith" => compare_strings(ev, args, level, starts_with_ignore_case)?,
        "endswith" => compare_strings(ev, args, level, ends_with_ignore_case)?,
        "format" => format::format(ev, node, args, level)?,
        "join" => join(ev, node, args, level)?,
        "tojson" => {
            let value = arg(ev, args, 0, level)?;
            let mut counter = ev.counter();
            let text = to_json::write(&value, |bytes| ev.meter(&mut counter, node, bytes))?;
            Val::string(text)
        }
        "fromjson" => {
            let text = to_string(&arg(ev, args, 0, level)?).into_owned();
            from_json::parse(&text)?
        }
        "case" => case(ev, args, level)?,
        "hashfiles" => hash_files::hash_files(ev, args, level)?,
        "success" => Val::Bool(ev.ctx.status == JobStatus::Success),
        "failure" => Val::Bool(ev.ctx.status == JobStatus::Failure),
        "cancelled" => Val::Bool(ev.ctx.status == JobStatus::Cancelled),
        "always" => Val::Bool(true),
        _ => {
            return Err(ExprError::evaluation(format!(
                "The function '{name}' cannot be evaluated here"
            )))
        }
    };
    Ok((value, None))
}

/// Evaluates argument `i` (present: the parser checked the argument count).
fn arg<'a>(
    ev: &mut Evaluator<'a>,
    args: &'a [Expr],
    i: usize,
    level: usize,
) -> Result<Val<'a>, ExprError> {
    match args.get(i) {
        Some(expr) => ev.eval(expr, level + 1),
        None => Ok(Val::Null),
    }
}

/// `contains(search, item)`: substring test ignoring case for primitives, loose equality with
/// some element for arrays.
fn contains<'a>(
    ev: &mut Evaluator<'a>,
    args: &'a [Expr],
    level: usize,
) -> Result<Val<'a>, ExprError> {
    let left = arg(ev, args, 0, level)?;
    let found = match &left {
        l if l.is_primitive() => {
            let right = arg(ev, args, 1, level)?;
            right.is_primitive() && contains_ignore_case(&to_string(l), &to_string(&right))
        }
        Val::Array(items) if items.len() > 0 => {
            let right = arg(ev, args, 1, level)?;
            items.iter().any(|item| abstract_eq(&right, &item))
        }
        _ => false,
    };
    Ok(Val::Bool(found))
}

/// `startsWith` and `endsWith`: false unless both are primitives.
fn compare_strings<'a>(
    ev: &mut Evaluator<'a>,
    args: &'a [Expr],
    level: usize,
    test: fn(&str, &str) -> bool,
) -> Result<Val<'a>, ExprError> {
    let left = arg(ev, args, 0, level)?;
    if !left.is_primitive() {
        return Ok(Val::Bool(false));
    }
    let right = arg(ev, args, 1, level)?;
    Ok(Val::Bool(
        right.is_primitive() && test(&to_string(&left), &to_string(&right)),
    ))
}

/// `join(array, separator = ',')`; a primitive is converted to a string, anything else is `''`.
fn join<'a>(
    ev: &mut Evaluator<'a>,
    node: &'a Expr,
    args: &'a [Expr],
    level: usize,
) -> Result<Val<'a>, ExprError> {
    let items = arg(ev, args, 0, level)?;
    match &items {
        Val::Array(array) if array.len() > 0 => {
            let mut counter = ev.counter();
            let mut out = String::new();
            let mut separator = String::from(",");
            for (i, item) in array.iter().enumerate() {
                if i == 1 && args.len() > 1 {
                    let sep = arg(ev, args, 1, level)?;
                    if sep.is_primitive() {
                        separator = to_string(&sep).into_owned();
                    }
                }
                if i > 0 {
                    ev.meter(
                        &mut counter,
                        node,
                        super::eval::memory::string_size(&separator),
                    )?;
                    out.push_str(&separator);
                }
                let text = to_string(&item);
                ev.meter(&mut counter, node, super::eval::memory::string_size(&text))?;
                out.push_str(&text);
            }
            Ok(Val::string(out))
        }
        v if v.is_primitive() => Ok(Val::string(to_string(v).into_owned())),
        _ => Ok(Val::string("")),
    }
}

/// `case(pred1, value1, ..., default)`: each predicate must be a boolean.
fn case<'a>(ev: &mut Evaluator<'a>, args: &'a [Expr], level: usize) -> Result<Val<'a>, ExprError> {
    if args.len() % 2 == 0 {
        return Err(ExprError::evaluation(
            "case requires an odd number of arguments",
        ));
    }
    let mut i = 0;
    while i + 1 < args.len() {
        match arg(ev, args, i, level)? {
            Val::Bool(true) => return arg(ev, args, i + 1, level),
            Val::Bool(false) => {}
            _ => {
                return Err(ExprError::evaluation(
                    "case predicate must evaluate to a boolean value",
                ))
            }
        }
        i += 2;
    }
    arg(ev, args, args.len() - 1, level)
}
