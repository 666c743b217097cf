//! A strategy as written, with its `${{ }}` expressions evaluated: plain values and the positions
//! they came from, ready for the cross product.
//!
//! Expressions may read only what GitHub's schema allows in a strategy (`github`, `inputs`,
//! `vars`, `needs`), with the memory budget GitHub gives workflow templates. Values are walked
//! with a depth limit, so no input recurses without bound.

use indexmap::IndexMap;

use super::error::{token_kind, MatrixError};
use super::MAX_VALUE_DEPTH;
use crate::expr::{self, EvalContext, ParseOptions, Value, TEMPLATE_MAX_MEMORY};
use crate::workflow::model::{self, Expression, Matrix, OrExpr, Strategy, Templated};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl<T> From<&Templated<T>> for Pos {
    fn from(t: &Templated<T>) -> Self {
        Pos {
            line: t.line,
            col: t.col,
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    pub value: Value,
    pub pos: Pos,
}

/// A strategy's settings, evaluated.
#[derive(Debug)]
pub(super) struct EvaluatedStrategy {
    pub fail_fast: bool,
    /// As written, before GitHub's conversion to a whole number.
    pub max_parallel: Option<f64>,
    pub matrix: Option<EvaluatedMatrix>,
}

/// A matrix, evaluated: vectors in the order written, then the `include` and `exclude` entries.
#[derive(Debug)]
pub(super) struct EvaluatedMatrix {
    pub pos: Pos,
    pub vectors: Vec<Vector>,
    pub include: Vec<Placed>,
    pub exclude: Vec<Placed>,
}

#[derive(Debug)]
pub(super) struct Vector {
    pub name: String,
    pub values: Vec<Value>,
    pub pos: Pos,
}

/// Evaluates the expressions of one strategy against the contexts.
pub(super) struct StrategyEvaluator<'c> {
    contexts: &'c Value,
    options: ParseOptions,
}

impl<'c> StrategyEvaluator<'c> {
    pub fn new(contexts: &'c Value) -> Self {
        StrategyEvaluator {
            contexts,
            options: ParseOptions::with_named_values(["github", "inputs", "vars", "needs"]),
        }
    }

    /// A whole strategy; `None` when an expression computed `null` for it.
    pub fn strategy(
        &self,
        strategy: &Templated<Strategy>,
    ) -> Result<Option<EvaluatedStrategy>, MatrixError> {
        let pos = Pos::from(strategy);
        match &strategy.value {
            OrExpr::Literal { value } => Ok(Some(self.literal_strategy(value)?)),
            OrExpr::Expression(e) => match self.expression(e, pos)? {
                Value::Null => Ok(None),
                value => self.strategy_value(value, pos).map(Some),
            },
        }
    }

    /// The settings of a strategy written as a mapping.
    pub fn literal_strategy(&self, strategy: &Strategy) -> Result<EvaluatedStrategy, MatrixError> {
        let fail_fast = match &strategy.fail_fast {
            None => true,
            Some(t) => match &t.value {
                OrExpr::Literal { value } => *value,
                OrExpr::Expression(e) => {
                    let pos = Pos::from(t);
                    expect_bool(self.expression(e, pos)?, pos)?
                }
            },
        };
        let max_parallel = match &strategy.max_parallel {
            None => None,
            Some(t) => Some(match &t.value {
                OrExpr::Literal { value } => *value,
                OrExpr::Expression(e) => {
                    let pos = Pos::from(t);
                    expect_number(self.expression(e, pos)?, pos)?
                }
            }),
        };
        let matrix = match &strategy.matrix {
            None => None,
            Some(m) => Some(self.matrix(m)?),
        };
        Ok(EvaluatedStrategy {
            fail_fast,
            max_parallel,
            matrix,
        })
    }

    /// A strategy an expression computed.
    fn strategy_value(&self, value: Value, pos: Pos) -> Result<EvaluatedStrategy, MatrixError> {
        let Value::Object(entries) = value else {
            return Err(unexpected("strategy", "MappingToken", &value, pos));
        };
        let mut strategy = EvaluatedStrategy {
            fail_fast: true,
            max_parallel: None,
            matrix: None,
        };
        for (key, value) in entries {
            match key.as_str() {
                "fail-fast" => strategy.fail_fast = expect_bool(value, pos)?,
                "max-parallel" => strategy.max_parallel = Some(expect_number(value, pos)?),
                "matrix" => strategy.matrix = Some(matrix_value(value, pos)?),
                _ => {
                    return Err(MatrixError::UnexpectedKey {
                        key,
                        line: pos.line,
                        col: pos.col,
                    })
                }
            }
        }
        Ok(strategy)
    }

    /// A matrix, written as a mapping or computed by an expression.
    pub fn matrix(&self, matrix: &Templated<Matrix>) -> Result<EvaluatedMatrix, MatrixError> {
        let pos = Pos::from(matrix);
        let literal = match &matrix.value {
            OrExpr::Literal { value } => value,
            OrExpr::Expression(e) => return matrix_value(self.expression(e, pos)?, pos),
        };
        let mut vectors = Vec::with_capacity(literal.vectors.len());
        for (name, vector) in &literal.vectors {
            let values = self.list(vector, "matrix vector value")?;
            vectors.push(Vector {
                name: name.clone(),
                values: values.into_iter().map(|p| p.value).collect(),
                pos: Pos::from(vector),
            });
        }
        let include = match &literal.include {
            Some(list) => self.list(list, "matrix includes")?,
            None => Vec::new(),
        };
        let exclude = match &literal.exclude {
            Some(list) => self.list(list, "matrix excludes")?,
            None => Vec::new(),
        };
        Ok(EvaluatedMatrix {
            pos,
            vectors,
            include,
            exclude,
        })
    }

    /// A sequence as written, or an expression that must compute one; `what` names it in errors.
    fn list(
        &self,
        list: &Templated<Vec<Templated<model::Value>>>,
        what: &'static str,
    ) -> Result<Vec<Placed>, MatrixError> {
        let pos = Pos::from(list);
        match &list.value {
            OrExpr::Literal { value } => value
                .iter()
                .map(|item| {
                    Ok(Placed {
                        value: self.value(item, 0)?,
                        pos: Pos::from(item),
                    })
                })
                .collect(),
            OrExpr::Expression(e) => match self.expression(e, pos)? {
                Value::Array(items) => Ok(items
                    .into_iter()
                    .map(|value| Placed { value, pos })
                    .collect()),
                other => Err(unexpected(what, "SequenceToken", &other, pos)),
            },
        }
    }

    /// Any value as written, with the expressions inside it evaluated.
    fn value(&self, t: &Templated<model::Value>, depth: usize) -> Result<Value, MatrixError> {
        let pos = Pos::from(t);
        if depth > MAX_VALUE_DEPTH {
            return Err(MatrixError::TooDeep {
                limit: MAX_VALUE_DEPTH,
                line: pos.line,
                col: pos.col,
            });
        }
        let written = match &t.value {
            OrExpr::Literal { value } => value,
            OrExpr::Expression(e) => return self.expression(e, pos),
        };
        Ok(match written {
            model::Value::Null => Value::Null,
            model::Value::Bool(b) => Value::Bool(*b),
            model::Value::Number(n) => Value::Number(*n),
            model::Value::String(s) => Value::String(s.clone()),
            model::Value::Sequence(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.value(item, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            model::Value::Mapping(entries) => {
                let mut object = IndexMap::with_capacity(entries.len());
                for (key, item) in entries {
                    object.insert(key.clone(), self.value(item, depth + 1)?);
                }
                Value::Object(object)
            }
        })
    }

    fn expression(&self, e: &Expression, pos: Pos) -> Result<Value, MatrixError> {
        let failed = |error| MatrixError::Expression {
            expression: e.expression.clone(),
            error,
            line: pos.line,
            col: pos.col,
        };
        let ast = expr::parse(&e.expression, &self.options).map_err(failed)?;
        let mut ctx = EvalContext::new(self.contexts);
        ctx.max_memory = TEMPLATE_MAX_MEMORY;
        expr::evaluate(&ast, &ctx).map_err(failed)
    }
}

/// A matrix an expression computed: an object of vectors, `include` and `exclude`.
fn matrix_value(value: Value, pos: Pos) -> Result<EvaluatedMatrix, MatrixError> {
    let Value::Object(entries) = value else {
        return Err(unexpected("matrix", "MappingToken", &value, pos));
    };
    let mut matrix = EvaluatedMatrix {
        pos,
        vectors: Vec::new(),
        include: Vec::new(),
        exclude: Vec::new(),
    };
    for (key, value) in entries {
        let (what, target) = match key.as_str() {
            "include" => ("matrix includes", &mut matrix.include),
            "exclude" => ("matrix excludes", &mut matrix.exclude),
            _ => {
                let Value::Array(values) = value else {
                    return Err(unexpected(
                        "matrix vector value",
                        "SequenceToken",
                        &value,
                        pos,
                    ));
                };
                matrix.vectors.push(Vector {
                    name: key,
                    values,
                    pos,
                });
                continue;
            }
        };
        let Value::Array(items) = value else {
            return Err(unexpected(what, "SequenceToken", &value, pos));
        };
        target.extend(items.into_iter().map(|value| Placed { value, pos }));
    }
    Ok(matrix)
}

fn expect_bool(value: Value, pos: Pos) -> Result<bool, MatrixError> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(unexpected(
            "strategy fail-fast",
            "BooleanToken",
            &other,
            pos,
        )),
    }
}

fn expect_number(value: Value, pos: Pos) -> Result<f64, MatrixError> {
    match value {
        Value::Number(n) => Ok(n),
        other => Err(unexpected(
            "strategy max-parallel",
            "NumberToken",
            &other,
            pos,
        )),
    }
}

pub(super) fn unexpected(
    what: &'static str,
    expected: &'static str,
    found: &Value,
    pos: Pos,
) -> MatrixError {
    MatrixError::UnexpectedType {
        what,
        expected,
        found: token_kind(found),
        line: pos.line,
        col: pos.col,
    }
}
