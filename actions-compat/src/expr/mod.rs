//! The `${{ }}` expression language.
//!
//! Written by hand: no maintained crate implements GitHub's expression grammar with its coercion
//! rules, case-insensitive comparison and error messages, and we must match them exactly (the
//! conformance test runs GitHub's own cases against this module).
//!
//! The public surface, which the workflow parser, the policy gate and the job engine depend on:
//! - [`parse`] turns an expression's text into an [`Expr`], checking that every named value
//!   (context) and function is allowed where the expression stands ([`ParseOptions`]).
//! - [`evaluate`] computes an [`Expr`] to a [`Value`] against the contexts in an [`EvalContext`].
//! - [`template`] splits a string holding `${{ }}` parts and evaluates it.
//! - [`Expr::context_paths`] lists the context paths an expression reads (for the policy gate's
//!   template-injection check).
//!
//! Where GitHub's implementations differ, this follows GitHub's runner (its C# expression SDK),
//! except where GitHub's own test data says otherwise (the token named in argument-count errors).
//! Positions in errors count UTF-16 code units, as the runner does.
//!
//! ```
//! use actions_compat::expr::{EvalContext, ParseOptions, Template, Value};
//! let options = ParseOptions::allow_all(["github"]);
//! let template = Template::parse("ref=${{ github.ref }}", &options).unwrap();
//! let contexts = Value::from_json(serde_json::json!({"github": {"ref": "refs/heads/main"}}));
//! let value = template.evaluate(&EvalContext::new(&contexts)).unwrap();
//! assert_eq!(value, Value::String("ref=refs/heads/main".into()));
//! assert_eq!(template.context_paths(), ["github.ref"]);
//! ```

mod ast;
mod casing;
mod error;
mod eval;
mod functions;
mod lexer;
mod number;
mod parser;
mod paths;
pub mod template;
mod value;

pub use ast::{BinaryOp, Expr, ExprKind};
pub use error::{ExprError, ExprErrorKind};
pub use eval::memory::{DEFAULT_MAX_MEMORY, TEMPLATE_MAX_MEMORY};
pub use parser::{DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT, MAX_EXPRESSION_LENGTH};
pub use template::{Directive, Segment, Template, TemplateError};
pub use value::Value;

/// A function that a [`ParseOptions`] allows besides the built-in ones, with its arity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSig {
    /// The name as GitHub spells it (`hashFiles`, `success`); matched case-insensitively.
    pub name: String,
    pub min_args: usize,
    pub max_args: usize,
}

impl FunctionSig {
    pub fn new(name: impl Into<String>, min_args: usize, max_args: usize) -> Self {
        FunctionSig {
            name: name.into(),
            min_args,
            max_args,
        }
    }

    /// `hashFiles(pattern, ...)`: 1 to 255 arguments, as GitHub's schema declares it.
    pub fn hash_files() -> Self {
        FunctionSig::new("hashFiles", 1, 255)
    }

    /// `success()`, `failure()`, `cancelled()` and `always()`.
    pub fn status_functions() -> Vec<Self> {
        ["success", "failure", "cancelled", "always"]
            .into_iter()
            .map(|name| FunctionSig::new(name, 0, 0))
            .collect()
    }

    /// Every function this engine evaluates besides the built-ins: `hashFiles` and the status
    /// functions.
    pub fn all_extensions() -> Vec<Self> {
        let mut all = FunctionSig::status_functions();
        all.push(FunctionSig::hash_files());
        all
    }
}

/// What an expression may refer to where it stands.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Named values (contexts) allowed, e.g. `github`, `matrix`; matched case-insensitively.
    pub named_values: Vec<String>,
    /// Functions allowed besides the always-available built-ins (`contains`, `format`, ...):
    /// the status functions and `hashFiles` are allowed only in some places.
    pub functions: Vec<FunctionSig>,
    /// Largest nesting depth accepted before a parse error, counted as GitHub counts it ("Exceeded
    /// max expression depth 50"); 0 means [`DEFAULT_MAX_DEPTH`] (GitHub's 50), and values above
    /// [`MAX_DEPTH_LIMIT`] are treated as that limit.
    pub max_depth: usize,
}

impl ParseOptions {
    /// Options that allow the given named values and only the always-available functions.
    pub fn with_named_values<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ParseOptions {
            named_values: names.into_iter().map(Into::into).collect(),
            functions: Vec::new(),
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Options that allow the given named values and every function this engine knows
    /// (`hashFiles` and the status functions too).
    pub fn allow_all<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ParseOptions::with_named_values(names).with_all_functions()
    }

    /// These options, also allowing `hashFiles` and the status functions.
    pub fn with_all_functions(mut self) -> Self {
        for f in FunctionSig::all_extensions() {
            if !self
                .functions
                .iter()
                .any(|g| g.name.eq_ignore_ascii_case(&f.name))
            {
                self.functions.push(f);
            }
        }
        self
    }

    /// Options from a list written as GitHub's workflow schema writes the context allowed at a
    /// place: context names (`github`, `matrix`) and functions with their argument counts
    /// (`hashFiles(1,255)`, `success(0,0)`, `MAX` for no limit).
    pub fn from_allowed_context<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut options = ParseOptions::with_named_values(Vec::<String>::new());
        for item in items {
            let item = item.as_ref();
            match parse_function_entry(item) {
                Some(sig) => options.functions.push(sig),
                None => options.named_values.push(item.to_string()),
            }
        }
        options
    }
}

/// `name(min,max)` with a decimal `min` and a decimal or `MAX` `max`.
fn parse_function_entry(item: &str) -> Option<FunctionSig> {
    let (name, rest) = item.split_once('(')?;
    let (min, max) = rest.strip_suffix(')')?.split_once(',')?;
    let valid_name =
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !valid_name || !digits(min) || !(digits(max) || max == "MAX") {
        return None;
    }
    let max = if max == "MAX" {
        usize::MAX
    } else {
        max.parse().ok()?
    };
    Some(FunctionSig::new(name, min.parse().ok()?, max))
}

/// What an evaluation reads: the contexts and the job's state for the status functions.
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    /// An object whose keys are the context names (`github`, `env`, ...).
    pub contexts: &'a Value,
    /// The state that `success()`, `failure()`, `cancelled()` report.
    pub status: JobStatus,
    /// The workspace directory `hashFiles` reads; `None` makes `hashFiles` an evaluation error.
    pub workspace: Option<&'a std::path::Path>,
    /// The memory budget of one evaluation in bytes, as GitHub accounts it; 0 means GitHub's
    /// default for an expression ([`DEFAULT_MAX_MEMORY`], 1 MiB). Expressions in workflow
    /// templates get [`TEMPLATE_MAX_MEMORY`] on GitHub.
    pub max_memory: usize,
}

impl<'a> EvalContext<'a> {
    pub fn new(contexts: &'a Value) -> Self {
        EvalContext {
            contexts,
            status: JobStatus::default(),
            workspace: None,
            max_memory: 0,
        }
    }
}

/// The state of the job (or composite action) that the status functions look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobStatus {
    #[default]
    Success,
    Failure,
    Cancelled,
    /// For a job's `if`: a job it needs was skipped and none failed. GitHub then holds neither
    /// `success()` (not every needed job succeeded) nor `failure()` (none failed), which is how
    /// `if: ${{ !failure() && !cancelled() }}` runs after a skipped job.
    NeedsSkipped,
}

/// Parses an expression (without the `${{ }}` around it). An empty expression is `null`, as on
/// GitHub.
///
/// Never panics and never recurses on its input: any string, however long or nested, returns a
/// result (expressions over 21,000 UTF-16 units, or nested deeper than `max_depth`, are errors).
pub fn parse(source: &str, options: &ParseOptions) -> Result<Expr, ExprError> {
    parser::parse(source, options)
}

/// Evaluates a parsed expression.
pub fn evaluate(expr: &Expr, ctx: &EvalContext<'_>) -> Result<Value, ExprError> {
    eval::evaluate(expr, ctx)
}

/// GitHub's `==` between two values, as the matrix filters compare (coercing, strings ignoring
/// case; an array or object equals only itself).
pub(crate) fn loose_equals(left: &Value, right: &Value) -> bool {
    eval::coerce::abstract_eq(
        &eval::val::Val::from_value(left),
        &eval::val::Val::from_value(right),
    )
}

pub(crate) use casing::fold_str;
pub(crate) use number::parse_number;

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so the garbage below is the same every run.
    struct Garbage(u64);

    impl Garbage {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'t>(&mut self, items: &[&'t str]) -> &'t str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    #[rustfmt::skip]
    const PIECES: &[&str] = &[
        "(", ")", "[", "]", ".", ",", "*", "!", "=", "==", "!=", "<", "<=", ">", ">=", "&", "&&",
        "|", "||", "'", "''", "'a'", "'{0}'", "'{{'", "'}}'", " ", "\n", "\t", "0", "1", ".5",
        "-1", "0x1F", "0o7", "1e3", "NaN", "Infinity", "null", "true", "false", "github", "matrix",
        "nope", "x-y", "_", "format(", "fromJSON(", "toJSON(", "join(", "contains(", "startsWith(",
        "endsWith(", "case(", "success(", "hashFiles(", "always()", "${{", "}}", "😊", "ı", "\"",
        "@", "#", "\u{85}", "{", "}",
    ];

    #[test]
    fn no_input_panics_or_hangs() {
        let options = ParseOptions::allow_all(["github", "matrix"]);
        let contexts = Value::from_json(serde_json::json!({
            "github": {"a": [1, {"b": "c"}], "s": "text"},
            "matrix": [[1, 2], {"k": null}]
        }));
        let ctx = EvalContext::new(&contexts);
        let mut garbage = Garbage(0x9E37_79B9_7F4A_7C15);
        for round in 0..20_000 {
            let len = (garbage.next() % 40) as usize;
            let source: String = (0..len).map(|_| garbage.pick(PIECES)).collect();
            if let Ok(expr) = parse(&source, &options) {
                let _ = evaluate(&expr, &ctx);
                let _ = expr.to_string();
                let _ = expr.context_paths();
            }
            if let Ok(template) = Template::parse(&source, &options) {
                let _ = template.evaluate(&ctx);
            }
            if round % 1000 == 0 {
                let long: String = (0..3_000).map(|_| garbage.pick(PIECES)).collect();
                let _ = parse(&long, &options).map(|e| evaluate(&e, &ctx));
                let _ = Template::parse(&long, &options);
            }
        }
    }

    #[test]
    fn allowed_context_lists_read_like_githubs_schema() {
        let options = ParseOptions::from_allowed_context([
            "github",
            "hashFiles(1,255)",
            "success(0,0)",
            "custom(2,MAX)",
            "weird(x,1)",
        ]);
        assert_eq!(options.named_values, ["github", "weird(x,1)"]);
        assert_eq!(
            options.functions,
            [
                FunctionSig::hash_files(),
                FunctionSig::new("success", 0, 0),
                FunctionSig::new("custom", 2, usize::MAX),
            ]
        );
    }

    #[test]
    fn public_types_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Expr>();
        assert_send_sync::<Value>();
        assert_send_sync::<Template>();
        assert_send_sync::<ExprError>();
        assert_send_sync::<TemplateError>();
        assert_send_sync::<ParseOptions>();
        assert_send_sync::<EvalContext<'static>>();
    }

    #[test]
    fn allow_all_adds_every_extension_function_once() {
        let options = ParseOptions::allow_all(["github"]).with_all_functions();
        assert_eq!(options.functions.len(), 5);
        assert_eq!(options.max_depth, DEFAULT_MAX_DEPTH);
    }
}
