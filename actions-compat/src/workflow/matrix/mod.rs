//! A job's `strategy:` expanded into the jobs GitHub would run: the matrix's combinations, each
//! with its `matrix` context and its name, and the `fail-fast` and `max-parallel` settings.
//!
//! The expansion is GitHub's, step by step:
//!
//! 1. the cross product of the vectors, the first vector varying slowest (`version: [10, 12]`,
//!    `os: [a, b]` gives `10 a`, `10 b`, `12 a`, `12 b`);
//! 2. `exclude` removes every combination an entry matches, partially: an entry names some
//!    vectors and, inside objects, some keys; it matches when each scalar it holds equals (as the
//!    expression `==` compares) the value at the same place in the combination;
//! 3. `include`, entry by entry: the keys naming vectors are a filter, the others are values to
//!    add. Every remaining combination the filter matches gets the values (so an entry never
//!    changes an original vector value, but may overwrite what an earlier entry added); an entry
//!    that matches no combination becomes a combination of its own, after the cross product.
//!
//! A combination's name lists its vector values (not the values `include` added to it), and a
//! combination from `include` lists all of its values: `build (ubuntu, 3.11)`. A strategy with no
//! matrix, or whose combinations are all excluded, runs the job once with no `matrix` values. More
//! than [`MAX_CONFIGURATIONS`] combinations is GitHub's error.
//!
//! Expressions in the strategy (`${{ fromJSON(needs.setup.outputs.matrix) }}`) are evaluated
//! against the contexts given, and may read `github`, `inputs`, `vars` and `needs` only.
//!
//! Pure: nothing here reads a file or starts a process.
//!
//! ```
//! use actions_compat::expr::Value;
//! use actions_compat::workflow::{self, matrix::StrategyPlan};
//! let src = "on: push\njobs:\n  build:\n    runs-on: x\n    strategy:\n      matrix:\n        os: [ubuntu, mac]\n        py: ['3.11']\n    steps: [{run: echo}]\n";
//! let job = &workflow::parse(src, "ci.yml").unwrap().jobs[0];
//! let plan = StrategyPlan::for_job(job, &Value::Null).unwrap();
//! assert_eq!(plan.combinations[0].display_name("build"), "build (ubuntu, 3.11)");
//! assert!(plan.fail_fast);
//! ```

mod error;
mod evaluate;
mod filter;

pub use error::MatrixError;

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use self::evaluate::{unexpected, EvaluatedMatrix, Placed, Pos, StrategyEvaluator};
use self::filter::{name_segments, Filter};
use crate::expr::{fold_str, Value};
use crate::workflow::model::{Job, Strategy, Templated};

/// The most jobs one strategy may produce, GitHub's limit.
pub const MAX_CONFIGURATIONS: usize = 256;

/// The largest cross product walked before `exclude` applies. GitHub walks any product; no
/// exclude list brings one this large back under [`MAX_CONFIGURATIONS`], and refusing it keeps
/// a hostile matrix from taking minutes.
pub const MAX_CROSS_PRODUCT: usize = 1 << 20;

/// The most comparisons an expansion makes: the cross product times the scalars in the
/// `include` and `exclude` entries (plus one). Real matrices make a few thousand.
pub const MAX_COMPARISONS: usize = 1 << 26;

/// How deeply nested a value written in a matrix may be (YAML refuses deeper documents anyway).
pub const MAX_VALUE_DEPTH: usize = 256;

/// GitHub cuts job names longer than this (in UTF-16 units) to 97 units and `...`.
const MAX_NAME_LENGTH: usize = 100;

/// One job of a strategy: its `matrix` values and the suffix of its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatrixCombination {
    /// The `matrix` context, in GitHub's order: the vectors as written, then the values
    /// `include` added; or the keys of the `include` entry the combination came from.
    pub values: IndexMap<String, Value>,
    /// What GitHub shows in parentheses after the job's name: `ubuntu, 3.11`. Empty when there is
    /// nothing to show.
    pub name_suffix: String,
}

impl MatrixCombination {
    /// The job's name as GitHub shows it: `build (ubuntu, 3.11)`, or `job_name` alone when the
    /// suffix is empty; cut to 100 UTF-16 units as GitHub cuts it.
    pub fn display_name(&self, job_name: &str) -> String {
        let name = if self.name_suffix.is_empty() {
            job_name.to_owned()
        } else {
            format!("{job_name} ({})", self.name_suffix)
        };
        cut_name(name)
    }

    /// The `matrix` context: an object of the values, or `null` for a job without a matrix.
    pub fn context(&self) -> Value {
        if self.values.is_empty() {
            Value::Null
        } else {
            Value::Object(self.values.clone())
        }
    }
}

/// How to run a job's strategy: its combinations and how they run together.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyPlan {
    /// The jobs to run, in GitHub's order; never empty (a job without a matrix runs once, with no
    /// values).
    pub combinations: Vec<MatrixCombination>,
    /// `fail-fast` (default `true`): cancel the other combinations when one fails.
    pub fail_fast: bool,
    /// `max-parallel`: at most this many combinations at once; `None` for no limit (not written,
    /// or not at least 1 once cut to a whole number, as GitHub reads it).
    pub max_parallel: Option<u32>,
}

impl StrategyPlan {
    /// The plan for a job: its strategy expanded, errors naming the job as GitHub does.
    pub fn for_job(job: &Job, contexts: &Value) -> Result<StrategyPlan, MatrixError> {
        plan(job.strategy.as_ref(), contexts, Some(&job.id.value))
    }

    /// The plan for a strategy (`None`: the job has none).
    pub fn new(
        strategy: Option<&Templated<Strategy>>,
        contexts: &Value,
    ) -> Result<StrategyPlan, MatrixError> {
        plan(strategy, contexts, None)
    }

    /// Whether the job has a matrix (otherwise it runs once, with a `null` matrix context).
    pub fn is_matrix(&self) -> bool {
        self.combinations.iter().any(|c| !c.values.is_empty())
    }

    /// The `strategy` context of combination `index`: `fail-fast`, `job-index`, `job-total` and
    /// `max-parallel` (the limit, or the number of jobs when there is none; 1 without a matrix).
    pub fn strategy_context(&self, index: usize) -> Value {
        let total = self.combinations.len();
        let max_parallel = match self.max_parallel {
            _ if !self.is_matrix() => 1.0,
            Some(max) => f64::from(max),
            None => total as f64,
        };
        let mut context = IndexMap::new();
        context.insert("fail-fast".to_owned(), Value::Bool(self.fail_fast));
        context.insert("job-index".to_owned(), Value::Number(index as f64));
        context.insert("job-total".to_owned(), Value::Number(total as f64));
        context.insert("max-parallel".to_owned(), Value::Number(max_parallel));
        Value::Object(context)
    }
}

/// Expands a strategy's matrix into its combinations, evaluating its expressions against
/// `contexts` (an object of contexts: `github`, `inputs`, `vars`, `needs`). Without a matrix, or
/// when `exclude` removes every combination, the result is one combination with no values.
pub fn expand(
    strategy: &Strategy,
    contexts: &Value,
) -> Result<Vec<MatrixCombination>, MatrixError> {
    let evaluator = StrategyEvaluator::new(contexts);
    match &strategy.matrix {
        None => Ok(vec![MatrixCombination::default()]),
        Some(matrix) => {
            let matrix = evaluator.matrix(matrix)?;
            let pos = matrix.pos;
            combine(&matrix, pos, None)
        }
    }
}

fn plan(
    strategy: Option<&Templated<Strategy>>,
    contexts: &Value,
    job: Option<&str>,
) -> Result<StrategyPlan, MatrixError> {
    let evaluated = match strategy {
        None => None,
        Some(s) => StrategyEvaluator::new(contexts)
            .strategy(s)?
            .map(|e| (e, Pos::from(s))),
    };
    let Some((strategy, pos)) = evaluated else {
        return Ok(StrategyPlan {
            combinations: vec![MatrixCombination::default()],
            fail_fast: true,
            max_parallel: None,
        });
    };
    let combinations = match &strategy.matrix {
        None => vec![MatrixCombination::default()],
        Some(matrix) => combine(matrix, pos, job)?,
    };
    Ok(StrategyPlan {
        combinations,
        fail_fast: strategy.fail_fast,
        max_parallel: strategy.max_parallel.and_then(whole_limit),
    })
}

/// GitHub's `(int)max-parallel`, kept only when it is a limit (at least 1).
fn whole_limit(n: f64) -> Option<u32> {
    // The range check makes the conversion exact: finite, whole after `trunc`, within u32.
    (n.is_finite() && (1.0..=f64::from(i32::MAX)).contains(&n.trunc())).then(|| n.trunc() as u32)
}

/// An `include` entry, split as GitHub splits it.
struct Include {
    /// The keys that name vectors, with their values, in the entry's order.
    filter_values: Vec<(String, Value)>,
    /// The other keys, with their values, in the entry's order.
    extra: Vec<(String, Value)>,
    filter: Filter,
}

/// Values to add to a combination, by key ignoring case; a key keeps its first spelling.
type Extra = IndexMap<String, (String, Value)>;

/// Steps 1 to 3 of the module documentation, and the limits. `limit_at` and `job` place and word
/// the error for too many combinations.
fn combine(
    matrix: &EvaluatedMatrix,
    limit_at: Pos,
    job: Option<&str>,
) -> Result<Vec<MatrixCombination>, MatrixError> {
    let names = VectorNames::new(matrix)?;
    let includes = includes(&matrix.include, &names)?;
    let excludes = excludes(&matrix.exclude, &names)?;
    let vectors: Vec<&[Value]> = matrix.vectors.iter().map(|v| v.values.as_slice()).collect();
    let comparisons = includes
        .iter()
        .map(|i| &i.filter)
        .chain(&excludes)
        .fold(1usize, |n, f| n.saturating_add(f.comparisons()));
    let product = cross_product_size(&vectors)
        .filter(|p| p.saturating_mul(comparisons) <= MAX_COMPARISONS)
        .ok_or(MatrixError::TooLargeToExpand {
            line: matrix.pos.line,
            col: matrix.pos.col,
        })?;

    let mut combinations = Vec::new();
    let mut count = 0usize;
    let mut matched = vec![false; includes.len()];
    let mut choice = vec![0usize; vectors.len()];
    for _ in 0..product {
        if !excludes.iter().any(|f| f.matches(&vectors, &choice)) {
            count += 1;
            // Past the limit only the count and which entries matched still matter.
            let keep = count <= MAX_CONFIGURATIONS;
            let mut extra = Extra::new();
            for (include, matched) in includes.iter().zip(matched.iter_mut()) {
                if include.filter.matches(&vectors, &choice) {
                    *matched = true;
                    if keep {
                        for (key, value) in &include.extra {
                            set_ignoring_case(&mut extra, key, value);
                        }
                    }
                }
            }
            if keep {
                let chosen = matrix.vectors.iter().zip(&choice).filter_map(|(v, &i)| {
                    v.values.get(i).map(|value| (v.name.clone(), value.clone()))
                });
                combinations.push(combination(chosen, extra.into_values()));
            }
        }
        advance(&mut choice, &vectors);
    }
    for (include, _) in includes.iter().zip(&matched).filter(|(_, m)| !**m) {
        count += 1;
        if count <= MAX_CONFIGURATIONS {
            let values = include.filter_values.iter().chain(&include.extra).cloned();
            combinations.push(combination(values, Vec::new()));
        }
    }
    if count > MAX_CONFIGURATIONS {
        return Err(MatrixError::TooManyConfigurations {
            job: job.map(str::to_owned),
            count,
            line: limit_at.line,
            col: limit_at.col,
        });
    }
    if combinations.is_empty() {
        combinations.push(MatrixCombination::default());
    }
    Ok(combinations)
}

/// A combination: `named` values make its name, `extra` ones follow without being named.
fn combination(
    named: impl Iterator<Item = (String, Value)>,
    extra: impl IntoIterator<Item = (String, Value)>,
) -> MatrixCombination {
    let mut values = IndexMap::new();
    let mut segments = Vec::new();
    for (key, value) in named {
        name_segments(&value, &mut segments);
        values.insert(key, value);
    }
    values.extend(extra);
    MatrixCombination {
        values,
        name_suffix: segments.join(", "),
    }
}

/// The vectors' names, looked up ignoring case as GitHub's dictionaries look keys up.
struct VectorNames {
    /// Index of each vector by its name's case fold.
    by_fold: HashMap<String, usize>,
}

impl VectorNames {
    /// Checks the vectors: each has values, no two names differ only in case, and the matrix has
    /// a vector or an `include` entry.
    fn new(matrix: &EvaluatedMatrix) -> Result<VectorNames, MatrixError> {
        let mut by_fold = HashMap::with_capacity(matrix.vectors.len());
        for (i, vector) in matrix.vectors.iter().enumerate() {
            let at = vector.pos;
            if vector.values.is_empty() {
                return Err(MatrixError::EmptyVector {
                    name: vector.name.clone(),
                    line: at.line,
                    col: at.col,
                });
            }
            if by_fold.insert(fold_str(&vector.name), i).is_some() {
                return Err(MatrixError::DuplicateKey {
                    key: vector.name.clone(),
                    line: at.line,
                    col: at.col,
                });
            }
        }
        if by_fold.is_empty() && matrix.include.is_empty() {
            return Err(MatrixError::NoVectors {
                line: matrix.pos.line,
                col: matrix.pos.col,
            });
        }
        Ok(VectorNames { by_fold })
    }

    /// The index of the vector named `key`.
    fn find(&self, key: &str) -> Option<usize> {
        self.by_fold.get(&fold_str(key)).copied()
    }
}

fn includes(entries: &[Placed], names: &VectorNames) -> Result<Vec<Include>, MatrixError> {
    let mut includes = Vec::with_capacity(entries.len());
    for entry in entries {
        let at = entry.pos;
        let keys = entry_keys(entry, "matrix includes item")?;
        if keys.is_empty() {
            return Err(MatrixError::EmptyInclude {
                line: at.line,
                col: at.col,
            });
        }
        let mut include = Include {
            filter_values: Vec::new(),
            extra: Vec::new(),
            filter: Filter::default(),
        };
        for (key, value) in keys {
            match names.find(key) {
                Some(vector) => {
                    include.filter.add(vector, value);
                    include.filter_values.push((key.clone(), value.clone()));
                }
                None => include.extra.push((key.clone(), value.clone())),
            }
        }
        includes.push(include);
    }
    Ok(includes)
}

fn excludes(entries: &[Placed], names: &VectorNames) -> Result<Vec<Filter>, MatrixError> {
    let mut excludes = Vec::with_capacity(entries.len());
    for entry in entries {
        let at = entry.pos;
        let keys = entry_keys(entry, "matrix excludes item")?;
        if keys.is_empty() {
            return Err(MatrixError::EmptyExclude {
                line: at.line,
                col: at.col,
            });
        }
        let mut filter = Filter::default();
        for (key, value) in keys {
            let vector = names
                .find(key)
                .ok_or_else(|| MatrixError::UnknownExcludeKey {
                    key: key.clone(),
                    line: at.line,
                    col: at.col,
                })?;
            filter.add(vector, value);
        }
        excludes.push(filter);
    }
    Ok(excludes)
}

/// The keys of an `include` or `exclude` entry, which must be a mapping whose keys differ in
/// more than case.
fn entry_keys<'e>(
    entry: &'e Placed,
    what: &'static str,
) -> Result<&'e IndexMap<String, Value>, MatrixError> {
    let Value::Object(keys) = &entry.value else {
        return Err(unexpected(what, "MappingToken", &entry.value, entry.pos));
    };
    let mut seen = HashSet::with_capacity(keys.len());
    if let Some(key) = keys.keys().find(|k| !seen.insert(fold_str(k))) {
        return Err(MatrixError::DuplicateKey {
            key: key.clone(),
            line: entry.pos.line,
            col: entry.pos.col,
        });
    }
    Ok(keys)
}

/// The number of combinations of the vectors (0 without vectors), or `None` past
/// [`MAX_CROSS_PRODUCT`].
fn cross_product_size(vectors: &[&[Value]]) -> Option<usize> {
    if vectors.is_empty() {
        return Some(0);
    }
    vectors
        .iter()
        .try_fold(1usize, |size, v| size.checked_mul(v.len()))
        .filter(|&size| size <= MAX_CROSS_PRODUCT)
}

/// The next combination: the last vector varies fastest.
fn advance(choice: &mut [usize], vectors: &[&[Value]]) {
    for (i, values) in choice.iter_mut().zip(vectors).rev() {
        *i += 1;
        if *i < values.len() {
            return;
        }
        *i = 0;
    }
}

/// Sets `key` in `values`, replacing a key equal to it ignoring case (and keeping that key's
/// spelling), as GitHub's dictionaries do.
fn set_ignoring_case(values: &mut Extra, key: &str, value: &Value) {
    match values.entry(fold_str(key)) {
        indexmap::map::Entry::Occupied(mut e) => e.get_mut().1 = value.clone(),
        indexmap::map::Entry::Vacant(e) => {
            e.insert((key.to_owned(), value.clone()));
        }
    }
}

/// Cuts a name longer than GitHub allows to 97 UTF-16 units and `...`, never inside a character.
fn cut_name(name: String) -> String {
    if name.encode_utf16().count() <= MAX_NAME_LENGTH {
        return name;
    }
    let mut cut = String::new();
    let mut units = 0;
    for c in name.chars() {
        units += c.len_utf16();
        if units > MAX_NAME_LENGTH - 3 {
            break;
        }
        cut.push(c);
    }
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests;
