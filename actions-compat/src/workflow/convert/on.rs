//! `on:`: events, their filters, schedules (with a cron check), and the inputs, secrets and
//! outputs of `workflow_dispatch` and `workflow_call`.

use super::values::{
    entries, get, items, key_text, scalar_value, spanned_string, string, string_list, value,
};
use super::Converter;
use crate::schema::token::{Token, TokenKind};
use crate::workflow::model::{
    DispatchInput, EventConfig, InputType, On, Schedule, WorkflowCallInput, WorkflowCallOutput,
    WorkflowCallSecret, WorkflowCallTrigger, WorkflowDispatch,
};

impl Converter<'_> {
    pub(crate) fn on(&mut self, token: &Token) -> On {
        let mut on = On {
            line: token.line,
            col: token.col,
            ..On::default()
        };
        let named: Vec<(&Token, Option<&Token>)> = match &token.kind {
            TokenKind::Mapping(entries) => entries.iter().map(|(k, v)| (k, Some(v))).collect(),
            TokenKind::Sequence(items) => items.iter().map(|i| (i, None)).collect(),
            _ => vec![(token, None)],
        };
        for (name_token, config) in named {
            let name = key_text(name_token);
            let position = config.unwrap_or(name_token);
            let mut event = EventConfig {
                line: position.line,
                col: position.col,
                ..EventConfig::default()
            };
            match name.as_str() {
                "schedule" => on.schedule = config.map(|c| self.schedule(c)).unwrap_or_default(),
                "workflow_dispatch" => {
                    on.workflow_dispatch =
                        Some(config.map(|c| self.dispatch(c)).unwrap_or_default());
                }
                "workflow_call" => {
                    on.workflow_call = Some(config.map(workflow_call).unwrap_or_default());
                }
                _ => {
                    if let Some(config) = config {
                        filters(&mut event, config);
                    }
                }
            }
            on.events.insert(name, event);
        }
        on
    }

    fn schedule(&mut self, token: &Token) -> Vec<Schedule> {
        items(token)
            .iter()
            .filter_map(|item| {
                let cron = spanned_string(get(item, "cron")?);
                if !is_valid_cron(&cron.value) {
                    self.error(
                        cron.line,
                        cron.col,
                        "Invalid cron expression. Expected format: '* * * * *' (minute hour day month weekday)",
                    );
                }
                Some(Schedule {
                    cron,
                    timezone: get(item, "timezone").map(spanned_string),
                })
            })
            .collect()
    }

    fn dispatch(&mut self, token: &Token) -> WorkflowDispatch {
        let inputs = get(token, "inputs").map_or(&[][..], entries);
        let mut dispatch = WorkflowDispatch::default();
        for (name, input) in inputs {
            let mut config = DispatchInput {
                line: input.line,
                col: input.col,
                description: get(input, "description").map(spanned_string),
                input_type: InputType::String,
                required: matches!(
                    get(input, "required").map(|r| &r.kind),
                    Some(TokenKind::Bool(true))
                ),
                default: get(input, "default").map(scalar_value),
                options: get(input, "options").map(string_list).unwrap_or_default(),
            };
            if let Some(t) = get(input, "type").and_then(Token::as_str) {
                config.input_type = input_type(t);
            }
            let has_options = get(input, "options").is_some();
            if config.input_type == InputType::Choice && config.options.is_empty() {
                self.error_at(input, "Missing 'options' for choice input");
            } else if config.input_type != InputType::Choice && has_options {
                self.error_at(
                    input,
                    "Input type is not 'choice', but 'options' is defined",
                );
            }
            if let (Some(default), InputType::Boolean) = (get(input, "default"), config.input_type)
            {
                if !matches!(default.kind, TokenKind::Bool(_)) {
                    self.error_at(
                        default,
                        format!("Unexpected value '{}'", default.to_display_string()),
                    );
                }
            }
            dispatch.inputs.insert(key_text(name), config);
        }
        dispatch
    }
}

fn workflow_call(token: &Token) -> WorkflowCallTrigger {
    let mut call = WorkflowCallTrigger::default();
    for (name, input) in get(token, "inputs").map_or(&[][..], entries) {
        let config = WorkflowCallInput {
            line: input.line,
            col: input.col,
            description: get(input, "description").map(spanned_string),
            input_type: get(input, "type")
                .and_then(Token::as_str)
                .map_or(InputType::String, input_type),
            required: is_true(get(input, "required")),
            default: get(input, "default").map(value),
        };
        call.inputs.insert(key_text(name), config);
    }
    for (name, secret) in get(token, "secrets").map_or(&[][..], entries) {
        let config = WorkflowCallSecret {
            line: secret.line,
            col: secret.col,
            description: get(secret, "description").map(spanned_string),
            required: is_true(get(secret, "required")),
        };
        call.secrets.insert(key_text(name), config);
    }
    for (name, output) in get(token, "outputs").map_or(&[][..], entries) {
        let config = WorkflowCallOutput {
            line: output.line,
            col: output.col,
            description: get(output, "description").map(spanned_string),
            value: get(output, "value").map_or_else(
                || {
                    crate::workflow::model::Templated::literal(
                        String::new(),
                        output.line,
                        output.col,
                    )
                },
                string,
            ),
        };
        call.outputs.insert(key_text(name), config);
    }
    call
}

fn is_true(t: Option<&Token>) -> bool {
    matches!(t.map(|t| &t.kind), Some(TokenKind::Bool(true)))
}

fn input_type(name: &str) -> InputType {
    match name {
        "boolean" => InputType::Boolean,
        "number" => InputType::Number,
        "environment" => InputType::Environment,
        "choice" => InputType::Choice,
        _ => InputType::String,
    }
}

/// Activity types and filters; a single string is a list of one.
fn filters(event: &mut EventConfig, config: &Token) {
    let list = |name: &str| get(config, name).map(string_list);
    event.types = list("types");
    event.branches = list("branches");
    event.branches_ignore = list("branches-ignore");
    event.tags = list("tags");
    event.tags_ignore = list("tags-ignore");
    event.paths = list("paths");
    event.paths_ignore = list("paths-ignore");
    event.workflows = list("workflows");
    event.names = list("names");
    event.versions = list("versions");
}

/// One field of a cron expression: its range and the names it accepts.
struct CronField {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const CRON_FIELDS: [CronField; 5] = [
    CronField {
        min: 0,
        max: 59,
        names: &[],
    },
    CronField {
        min: 0,
        max: 23,
        names: &[],
    },
    CronField {
        min: 1,
        max: 31,
        names: &[],
    },
    CronField {
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    CronField {
        min: 0,
        max: 6,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

/// Whether a cron expression has GitHub's five fields (minute hour day month weekday), each a
/// `*`, a value, a range, a step (`*/5`, `1-10/2`) or a list of those.
pub(crate) fn is_valid_cron(cron: &str) -> bool {
    let parts: Vec<&str> = cron.split(' ').filter(|p| !p.is_empty()).collect();
    parts.len() == CRON_FIELDS.len()
        && parts
            .iter()
            .zip(CRON_FIELDS.iter())
            .all(|(part, field)| part.split(',').all(|item| cron_item(item, field)))
}

fn cron_item(item: &str, field: &CronField) -> bool {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        if !matches!(step.parse::<u32>(), Ok(s) if s > 0 && s <= field.max) {
            return false;
        }
    }
    if range == "*" {
        return true;
    }
    match range.split_once('-') {
        Some((start, end)) => match (cron_value(start, field), cron_value(end, field)) {
            (Some(s), Some(e)) => s <= e,
            _ => false,
        },
        None => cron_value(range, field).is_some(),
    }
}

fn cron_value(text: &str, field: &CronField) -> Option<u32> {
    if let Some(i) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        let i = u32::try_from(i).ok()?;
        return Some(i + field.min);
    }
    let n: u32 = text.parse().ok()?;
    (field.min..=field.max).contains(&n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::is_valid_cron;

    #[test]
    fn checks_cron_expressions() {
        for ok in [
            "* * * * *",
            "0 */12 * * *",
            "*/5 1-3 1,15 jan-mar mon-fri",
            "30 5 * * 0",
        ] {
            assert!(is_valid_cron(ok), "{ok}");
        }
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "5-1 * * * *",
            "*/0 * * * *",
            "x * * * *",
        ] {
            assert!(!is_valid_cron(bad), "{bad}");
        }
    }
}
