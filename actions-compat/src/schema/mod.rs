//! The schema language GitHub describes workflow and action files in, and the reader that checks
//! a YAML tree against a schema.
//!
//! GitHub reads workflow files with a schema-driven reader: each key has a definition (a string,
//! a boolean, a mapping with known properties, one of several definitions...) and a list of the
//! expression contexts and functions allowed there, inherited by everything below it. Its errors
//! ("Unexpected value 'runn'", "A sequence was not expected", "Required property is missing:
//! jobs", "There's not enough info to determine what you meant...", "A template expression is not
//! allowed in this context") all come from that reader. We reproduce it here: the definitions are
//! our own Rust tables ([`crate::workflow`] and [`crate::action`] hold theirs), checked by the
//! compiler, and [`reader`] walks a [`crate::yaml::Node`] tree against them, producing a
//! [`token::Token`] tree in which strings holding `${{ }}` have become expressions.
//!
//! This module knows the schema language, not what any key means.

pub(crate) mod builtin;
pub(crate) mod reader;
pub(crate) mod strings;
pub(crate) mod token;

/// A named definition: what a value may be, and which contexts expressions may use in it.
#[derive(Debug)]
pub(crate) struct Def {
    /// The name GitHub's schema gives the definition, for reading the tables side by side (and
    /// in `Debug` output); the reader does not need it.
    #[allow(dead_code)]
    pub name: &'static str,
    /// Contexts and functions allowed in expressions at and below this definition, added to
    /// those allowed above it. Empty means "as above"; where nothing is allowed above either,
    /// expressions are refused.
    pub context: &'static [Allowed],
    pub kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Null,
    Boolean,
    Number,
    String(Text),
    Sequence(&'static Def),
    Mapping(Mapping),
    /// Any of these definitions; a mapping is matched to one by its keys.
    OneOf(&'static [&'static Def]),
}

/// Which strings a string definition accepts.
#[derive(Debug)]
pub(crate) enum Text {
    Any,
    NonEmpty,
    /// Only these exact values (GitHub's `constant` and `allowed-values`).
    OneOf(&'static [&'static str]),
}

#[derive(Debug)]
pub(crate) struct Mapping {
    /// Properties known by name (matched case-sensitively).
    pub properties: &'static [Prop],
    /// Definitions of other keys and their values, if other keys are allowed.
    pub loose: Option<Loose>,
}

#[derive(Debug)]
pub(crate) struct Loose {
    pub key: &'static Def,
    pub value: &'static Def,
}

#[derive(Debug)]
pub(crate) struct Prop {
    pub name: &'static str,
    pub def: &'static Def,
    pub required: bool,
}

/// Something an expression may refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// A named value (context) such as `github`.
    Context(&'static str),
    /// A function beyond the built-in ones, with its least and greatest number of arguments.
    Function(&'static str, usize, usize),
}

impl Def {
    pub const fn null(name: &'static str) -> Def {
        Def::new(name, Kind::Null)
    }

    pub const fn boolean(name: &'static str) -> Def {
        Def::new(name, Kind::Boolean)
    }

    pub const fn number(name: &'static str) -> Def {
        Def::new(name, Kind::Number)
    }

    pub const fn string(name: &'static str) -> Def {
        Def::new(name, Kind::String(Text::Any))
    }

    pub const fn non_empty_string(name: &'static str) -> Def {
        Def::new(name, Kind::String(Text::NonEmpty))
    }

    /// A string that must be one of `values`.
    pub const fn allowed(name: &'static str, values: &'static [&'static str]) -> Def {
        Def::new(name, Kind::String(Text::OneOf(values)))
    }

    pub const fn sequence(name: &'static str, item: &'static Def) -> Def {
        Def::new(name, Kind::Sequence(item))
    }

    /// A mapping with known properties only.
    pub const fn mapping(name: &'static str, properties: &'static [Prop]) -> Def {
        Def::new(
            name,
            Kind::Mapping(Mapping {
                properties,
                loose: None,
            }),
        )
    }

    /// A mapping whose keys are all free, each key read as `key` and each value as `value`.
    pub const fn loose_mapping(name: &'static str, key: &'static Def, value: &'static Def) -> Def {
        Def::mapping_with_loose(name, &[], key, value)
    }

    /// A mapping with known properties that also accepts other keys.
    pub const fn mapping_with_loose(
        name: &'static str,
        properties: &'static [Prop],
        key: &'static Def,
        value: &'static Def,
    ) -> Def {
        Def::new(
            name,
            Kind::Mapping(Mapping {
                properties,
                loose: Some(Loose { key, value }),
            }),
        )
    }

    pub const fn one_of(name: &'static str, defs: &'static [&'static Def]) -> Def {
        Def::new(name, Kind::OneOf(defs))
    }

    /// The same definition, allowing these contexts and functions in expressions.
    pub const fn context(self, context: &'static [Allowed]) -> Def {
        Def { context, ..self }
    }

    const fn new(name: &'static str, kind: Kind) -> Def {
        Def {
            name,
            context: &[],
            kind,
        }
    }
}

/// A property that may be left out.
pub(crate) const fn prop(name: &'static str, def: &'static Def) -> Prop {
    Prop {
        name,
        def,
        required: false,
    }
}

/// A property that must be present ("Required property is missing: NAME").
pub(crate) const fn required(name: &'static str, def: &'static Def) -> Prop {
    Prop {
        name,
        def,
        required: true,
    }
}

/// `usize::MAX` as an argument count: GitHub's `MAX`.
pub(crate) const MAX_ARGS: usize = usize::MAX;

/// The contexts allowed below a definition: those above it, then its own.
pub(crate) fn inherit(above: &[Allowed], def: &Def) -> Vec<Allowed> {
    let mut allowed = above.to_vec();
    for item in def.context {
        let name = allowed_name(item);
        if !allowed
            .iter()
            .any(|a| allowed_name(a).eq_ignore_ascii_case(name))
        {
            allowed.push(*item);
        }
    }
    allowed
}

fn allowed_name(a: &Allowed) -> &'static str {
    match a {
        Allowed::Context(name) | Allowed::Function(name, _, _) => name,
    }
}
