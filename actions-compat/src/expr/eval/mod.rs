//! Evaluates a parsed [`Expr`] against the contexts, with GitHub's semantics: `&&`/`||` return
//! one of their operands and stop early, comparisons coerce, property and index access ignore case
//! and give `null` when there is nothing there, and `*` projects arrays.
//!
//! Nodes are evaluated in the order GitHub evaluates them (an index is not computed when its
//! target is not a collection, `format` computes only the arguments its string refers to), since
//! that decides which error, if any, an expression reports.

pub(crate) mod coerce;
pub(crate) mod memory;
pub(crate) mod val;

use self::coerce::{abstract_cmp, abstract_eq, is_truthy, to_number, to_string};
use self::memory::{
    string_size, EvaluationMemory, MemoryCounter, DEFAULT_MAX_MEMORY, MIN_OBJECT_SIZE,
    REFERENCE_SIZE,
};
use self::val::{Arr, Val};
use super::ast::{BinaryOp, Expr, ExprKind};
use super::parser::MAX_DEPTH_LIMIT;
use super::{EvalContext, ExprError, Value};
use std::cmp::Ordering;

/// Evaluates `expr` and copies the result out.
pub(crate) fn evaluate<'a>(expr: &'a Expr, ctx: &EvalContext<'a>) -> Result<Value, ExprError> {
    let mut evaluator = Evaluator::new(expr, ctx);
    let value = evaluator.eval(expr, 0)?;
    Ok(value.to_value())
}

/// Size information a node reports about its own result (GitHub's `ResultMemory`).
pub(crate) struct ResultSize {
    pub bytes: u64,
}

pub(crate) struct Evaluator<'a> {
    pub(crate) ctx: EvalContext<'a>,
    root: &'a Expr,
    memory: EvaluationMemory,
    pub(crate) max_memory: usize,
}

/// The index of an index access, as GitHub reads it: a `*`, or a value that may serve as an
/// array position (a number, floored, non-negative) or an object key (any primitive, as a string).
struct IndexKey<'a> {
    wildcard: bool,
    value: Val<'a>,
}

impl IndexKey<'_> {
    fn position(&self) -> Option<usize> {
        if self.wildcard {
            return None;
        }
        let n = to_number(&self.value);
        if n.is_nan() || n < 0.0 {
            return None;
        }
        let n = n.floor();
        if n > f64::from(i32::MAX) {
            return None;
        }
        Some(n as usize)
    }

    fn key(&self) -> Option<String> {
        (!self.wildcard && self.value.is_primitive()).then(|| to_string(&self.value).into_owned())
    }
}

/// The index of an index access before it is evaluated.
enum IndexArg<'a> {
    Name(&'a str),
    Star,
    Expr(&'a Expr),
}

impl<'a> Evaluator<'a> {
    fn new(root: &'a Expr, ctx: &EvalContext<'a>) -> Self {
        let max_memory = match ctx.max_memory {
            0 => DEFAULT_MAX_MEMORY,
            n => n,
        };
        Evaluator {
            ctx: ctx.clone(),
            root,
            memory: EvaluationMemory::new(max_memory),
            max_memory,
        }
    }

    /// Evaluates a node at `level` (the root is 0) and charges its result to the memory budget.
    pub(crate) fn eval(&mut self, expr: &'a Expr, level: usize) -> Result<Val<'a>, ExprError> {
        if level > MAX_DEPTH_LIMIT {
            return Err(ExprError::max_depth(MAX_DEPTH_LIMIT));
        }
        let (value, size) = self.eval_core(expr, level)?;
        // Primitives read out of contexts or parsed JSON are wrapped objects in GitHub's runner:
        // they cost an object plus their converted value, and do not release the results below.
        let wrapped = value.is_primitive() && !matches!(value, Val::Null) && reads_data(expr);
        let own_size = match (&size, &value) {
            (Some(size), _) => size.bytes,
            (None, _) if wrapped => MIN_OBJECT_SIZE,
            (None, Val::Str(s)) => string_size(s.as_str()),
            (None, _) => MIN_OBJECT_SIZE,
        };
        let trim = !wrapped && value.is_primitive();
        self.charge(level, own_size, trim)?;
        if wrapped {
            let converted = match &value {
                Val::Str(s) => string_size(s.as_str()),
                _ => MIN_OBJECT_SIZE,
            };
            self.charge(level, converted, false)?;
        }
        Ok(value)
    }

    fn charge(&mut self, level: usize, bytes: u64, trim: bool) -> Result<(), ExprError> {
        if self.memory.add(level, bytes, trim) {
            Ok(())
        } else {
            Err(ExprError::memory_exceeded(&self.root.to_string()))
        }
    }

    /// A meter for what `node` builds.
    pub(crate) fn counter(&self) -> MemoryCounter {
        MemoryCounter::new(self.max_memory)
    }

    /// Adds to a function's meter, failing with GitHub's error naming that function's node.
    pub(crate) fn meter(
        &self,
        counter: &mut MemoryCounter,
        node: &Expr,
        bytes: u64,
    ) -> Result<(), ExprError> {
        if counter.add(bytes) {
            Ok(())
        } else {
            Err(ExprError::memory_exceeded(&node.to_string()))
        }
    }

    fn eval_core(
        &mut self,
        expr: &'a Expr,
        level: usize,
    ) -> Result<(Val<'a>, Option<ResultSize>), ExprError> {
        let value = match &expr.kind {
            ExprKind::Null => Val::Null,
            ExprKind::Bool(b) => Val::Bool(*b),
            ExprKind::Number(n) => Val::Number(*n),
            ExprKind::String(s) => Val::Str(val::Str::Borrowed(s)),
            ExprKind::NamedValue(name) => match self.ctx.contexts {
                Value::Object(_) => self
                    .ctx
                    .contexts
                    .get(name)
                    .map(Val::from_value)
                    .unwrap_or(Val::Null),
                _ => Val::Null,
            },
            ExprKind::Property { target, name } => {
                return self.index(expr, target, IndexArg::Name(name), level)
            }
            ExprKind::Index { target, index } => {
                return self.index(expr, target, IndexArg::Expr(index), level)
            }
            ExprKind::Wildcard { target } => {
                return self.index(expr, target, IndexArg::Star, level)
            }
            ExprKind::Not(operand) => Val::Bool(!is_truthy(&self.eval(operand, level + 1)?)),
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And | BinaryOp::Or => {
                    let want = *op == BinaryOp::Or;
                    let mut result = Val::Null;
                    for operand in expr.logical_operands(*op) {
                        result = self.eval(operand, level + 1)?;
                        if is_truthy(&result) == want {
                            break;
                        }
                    }
                    result
                }
                _ => {
                    let left = self.eval(lhs, level + 1)?;
                    let right = self.eval(rhs, level + 1)?;
                    Val::Bool(compare(*op, &left, &right))
                }
            },
            ExprKind::Call { name, args } => {
                return super::functions::call(self, expr, name, args, level)
            }
        };
        Ok((value, None))
    }

    /// `target.name`, `target[index]` and `target.*`.
    fn index(
        &mut self,
        node: &'a Expr,
        target: &'a Expr,
        arg: IndexArg<'a>,
        level: usize,
    ) -> Result<(Val<'a>, Option<ResultSize>), ExprError> {
        let left = self.eval(target, level + 1)?;
        if left.is_primitive() {
            let value = match arg {
                IndexArg::Star => Val::filtered(Vec::new()),
                _ => Val::Null,
            };
            return Ok((value, None));
        }
        let key = match arg {
            IndexArg::Name(name) => {
                self.charge(level + 1, string_size(name), true)?;
                IndexKey {
                    wildcard: false,
                    value: Val::Str(val::Str::Borrowed(name)),
                }
            }
            IndexArg::Star => {
                self.charge(level + 1, string_size("*"), true)?;
                IndexKey {
                    wildcard: true,
                    value: Val::string("*"),
                }
            }
            IndexArg::Expr(index) => IndexKey {
                wildcard: false,
                value: self.eval(index, level + 1)?,
            },
        };
        match left {
            Val::Array(Arr::Filtered(items)) => {
                let mut counter = self.counter();
                let mut out = Vec::new();
                let position = key.position();
                let name = key.key();
                for item in items.iter() {
                    match item {
                        Val::Object(obj) if key.wildcard => {
                            for v in obj.values() {
                                self.meter(&mut counter, node, REFERENCE_SIZE)?;
                                out.push(v);
                            }
                        }
                        Val::Object(obj) => {
                            if let Some(v) = name.as_deref().and_then(|k| obj.get(k)) {
                                self.meter(&mut counter, node, REFERENCE_SIZE)?;
                                out.push(v);
                            }
                        }
                        Val::Array(arr) if key.wildcard => {
                            for v in arr.iter() {
                                self.meter(&mut counter, node, REFERENCE_SIZE)?;
                                out.push(v);
                            }
                        }
                        Val::Array(arr) => {
                            if let Some(v) = position.and_then(|i| arr.get(i)) {
                                self.meter(&mut counter, node, REFERENCE_SIZE)?;
                                out.push(v);
                            }
                        }
                        _ => {}
                    }
                }
                let bytes = counter.current();
                Ok((Val::filtered(out), Some(ResultSize { bytes })))
            }
            Val::Object(obj) if key.wildcard => {
                let mut counter = self.counter();
                self.meter(&mut counter, node, MIN_OBJECT_SIZE)?;
                let mut out = Vec::with_capacity(obj.len());
                for v in obj.values() {
                    self.meter(&mut counter, node, REFERENCE_SIZE)?;
                    out.push(v);
                }
                let bytes = counter.current();
                Ok((Val::filtered(out), Some(ResultSize { bytes })))
            }
            Val::Object(obj) => {
                let value = key.key().and_then(|k| obj.get(&k)).unwrap_or(Val::Null);
                Ok((value, None))
            }
            Val::Array(arr) if key.wildcard => {
                let mut counter = self.counter();
                self.meter(&mut counter, node, MIN_OBJECT_SIZE)?;
                let mut out = Vec::with_capacity(arr.len());
                for v in arr.iter() {
                    self.meter(&mut counter, node, REFERENCE_SIZE)?;
                    out.push(v);
                }
                let bytes = counter.current();
                Ok((Val::filtered(out), Some(ResultSize { bytes })))
            }
            Val::Array(arr) => {
                let value = key.position().and_then(|i| arr.get(i)).unwrap_or(Val::Null);
                Ok((value, None))
            }
            _ => Ok((Val::Null, None)),
        }
    }
}

/// True for nodes whose result is read out of data (contexts, parsed JSON) rather than computed.
fn reads_data(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::NamedValue(_)
        | ExprKind::Property { .. }
        | ExprKind::Index { .. }
        | ExprKind::Wildcard { .. } => true,
        ExprKind::Call { name, .. } => name.eq_ignore_ascii_case("fromJSON"),
        _ => false,
    }
}

fn compare<'a>(op: BinaryOp, left: &Val<'a>, right: &Val<'a>) -> bool {
    match op {
        BinaryOp::Eq => abstract_eq(left, right),
        BinaryOp::Ne => !abstract_eq(left, right),
        BinaryOp::Lt => abstract_cmp(left, right) == Some(Ordering::Less),
        BinaryOp::Gt => abstract_cmp(left, right) == Some(Ordering::Greater),
        BinaryOp::Le => {
            abstract_eq(left, right) || abstract_cmp(left, right) == Some(Ordering::Less)
        }
        BinaryOp::Ge => {
            abstract_eq(left, right) || abstract_cmp(left, right) == Some(Ordering::Greater)
        }
        BinaryOp::And | BinaryOp::Or => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::{evaluate, parse, EvalContext, JobStatus, ParseOptions, Value};
    use serde_json::json;

    fn contexts() -> Value {
        Value::from_json(json!({
            "github": {
                "event": {
                    "commits": [{"message": "one", "id": 1}, {"message": "two", "id": 2}],
                    "labels": {"Bug": {"name": "bug"}, "docs": {"name": "docs"}}
                },
                "ref": "refs/heads/main"
            },
            "matrix": {"os": ["linux", "mac"], "n": 0}
        }))
    }

    fn run_with(source: &str, ctx: &EvalContext<'_>) -> Result<Value, String> {
        let options = ParseOptions::allow_all(["github", "matrix"]);
        let expr = parse(source, &options).map_err(|e| e.message)?;
        evaluate(&expr, ctx).map_err(|e| e.message)
    }

    fn run(source: &str) -> Value {
        let contexts = contexts();
        match run_with(source, &EvalContext::new(&contexts)) {
            Ok(v) => v,
            Err(e) => panic!("{source}: {e}"),
        }
    }

    #[test]
    fn and_or_return_an_operand_and_stop_early() {
        assert_eq!(
            run("matrix.n || 'fallback'"),
            Value::String("fallback".into())
        );
        assert_eq!(run("github.ref && matrix.n && 'x'"), Value::Number(0.0));
        assert_eq!(run("false && fromJSON('not json')"), Value::Bool(false));
        assert_eq!(run("true || format('{0')"), Value::Bool(true));
    }

    #[test]
    fn member_access_ignores_case_and_misses_are_null() {
        assert_eq!(run("GITHUB.REF"), Value::String("refs/heads/main".into()));
        assert_eq!(
            run("github.event.labels.bug.name"),
            Value::String("bug".into())
        );
        assert_eq!(run("github.nothing.deeper"), Value::Null);
        assert_eq!(run("matrix.os[1]"), Value::String("mac".into()));
        assert_eq!(run("matrix.os[1.9]"), Value::String("mac".into()));
        assert_eq!(run("matrix.os[2]"), Value::Null);
        assert_eq!(run("matrix.os['0']"), Value::String("linux".into()));
    }

    #[test]
    fn an_index_is_not_evaluated_when_the_target_is_not_a_collection() {
        assert_eq!(run("matrix.n[fromJSON('bad')]"), Value::Null);
        assert_eq!(run("matrix.n.*"), Value::Array(vec![]));
    }

    #[test]
    fn wildcards_project_and_flatten_one_level() {
        assert_eq!(
            run("github.event.commits.*.message"),
            Value::from_json(json!(["one", "two"]))
        );
        assert_eq!(
            run("github.event.labels.*.name"),
            Value::from_json(json!(["bug", "docs"]))
        );
        assert_eq!(
            run("toJSON(github.event.commits[*].id)"),
            Value::String("[\n  1,\n  2\n]".into())
        );
        assert_eq!(run("contains(matrix.os.*, 'MAC')"), Value::Bool(true));
        assert_eq!(run("github.event.commits.*[0]"), Value::Array(vec![]));
    }

    #[test]
    fn collections_compare_by_identity() {
        assert_eq!(run("github.event == github.event"), Value::Bool(true));
        assert_eq!(run("github.event == github['EVENT']"), Value::Bool(true));
        assert_eq!(
            run("github.event.commits.* == github.event.commits.*"),
            Value::Bool(false)
        );
        assert_eq!(run("fromJSON('{}') == fromJSON('{}')"), Value::Bool(false));
        assert_eq!(run("github.event >= github.event"), Value::Bool(true));
    }

    #[test]
    fn status_functions_read_the_job_status() {
        let contexts = contexts();
        let mut ctx = EvalContext::new(&contexts);
        assert_eq!(run_with("success()", &ctx), Ok(Value::Bool(true)));
        ctx.status = JobStatus::Failure;
        assert_eq!(
            run_with("success() || failure()", &ctx),
            Ok(Value::Bool(true))
        );
        assert_eq!(run_with("cancelled()", &ctx), Ok(Value::Bool(false)));
        ctx.status = JobStatus::Cancelled;
        assert_eq!(
            run_with("cancelled() && always()", &ctx),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn a_skipped_need_holds_neither_success_nor_failure() {
        let contexts = contexts();
        let mut ctx = EvalContext::new(&contexts);
        ctx.status = JobStatus::NeedsSkipped;
        assert_eq!(
            run_with("success() || failure() || cancelled()", &ctx),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            run_with("!failure() && !cancelled() && always()", &ctx),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn the_memory_budget_is_enforced_with_githubs_message() {
        let contexts = contexts();
        let mut ctx = EvalContext::new(&contexts);
        ctx.max_memory = 2_000;
        assert_eq!(
            run_with("format('{0}{0}{0}{0}{0}{0}{0}{0}', toJSON(github))", &ctx),
            Err("The maximum allowed memory size was exceeded while evaluating the following expression: format('{0}{0}{0}{0}{0}{0}{0}{0}', toJSON(github))".into())
        );
        assert!(run_with("toJSON(github.ref)", &ctx).is_ok());
    }

    #[test]
    fn long_chains_evaluate_without_deep_recursion() {
        let chain = vec!["1"; 7_000].join("&&");
        let options = ParseOptions::default();
        let expr = parse(&chain, &options).expect("parses");
        let contexts = Value::Null;
        assert_eq!(
            evaluate(&expr, &EvalContext::new(&contexts)),
            Ok(Value::Number(1.0))
        );
        assert!(expr.to_string().len() > 14_000);
    }

    #[test]
    fn the_deepest_allowed_trees_evaluate_within_a_test_threads_stack() {
        let options = ParseOptions {
            max_depth: crate::expr::MAX_DEPTH_LIMIT,
            ..ParseOptions::allow_all(["github"])
        };
        let contexts = contexts();
        let ctx = EvalContext::new(&contexts);
        let n = crate::expr::MAX_DEPTH_LIMIT - 1;
        let sources = [
            format!("{}true", "!".repeat(n)),
            format!("{}1{}", "format('{0}', ".repeat(n), ")".repeat(n)),
            format!("github{}", "['a']".repeat(n)),
            format!("github{}", ".*".repeat(n)),
            format!("{}1{}", "(1 == ".repeat(n), ")".repeat(n)),
        ];
        for source in sources {
            let expr = parse(&source, &options).expect("parses at the limit");
            let _ = evaluate(&expr, &ctx);
            let _ = expr.to_string();
            let _ = expr.context_paths();
        }
    }
}
