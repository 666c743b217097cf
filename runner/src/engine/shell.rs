//! `shell:` of a `run` step: which program runs the script, with which arguments, and what the
//! script file looks like.
//!
//! The built-in shells are GitHub's on Linux: `bash` (`bash --noprofile --norc -eo pipefail
//! {0}`, also used when no shell is named and bash is installed, else `sh`), `sh` (`sh -e {0}`),
//! `python` (`python {0}`), `pwsh` (`pwsh -command ". '{0}'"`). Anything else must be a template
//! holding `{0}`, the script's path: its first word is the program, the rest its arguments.

use std::path::Path;

/// Why a shell cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    #[error(
        "Invalid shell option `{0}`. Shell must be a valid built-in (bash, sh, python, pwsh) or a \
         format string containing '{{0}}'"
    )]
    Invalid(String),
    #[error("the shell `{0}` is not available on Linux")]
    NotOnLinux(String),
}

/// A shell resolved for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    /// What the log shows (`bash --noprofile --norc -eo pipefail {0}`).
    pub display: String,
    /// The program and its arguments; one of them holds `{0}`.
    pub template: Vec<String>,
    /// The script file's extension, with its dot (`.sh`), or empty.
    pub extension: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Posix,
    Python,
    Pwsh,
    Custom,
}

const BASH: &str = "bash --noprofile --norc -eo pipefail {0}";
const SH: &str = "sh -e {0}";
const PWSH: &str = "pwsh -command \". '{0}'\"";

impl Shell {
    /// The shell for `name` (the step's `shell:`, or the defaults' when it has none; `None` for
    /// neither). `available` says whether a program can be found on the step's `PATH`.
    pub fn resolve(
        name: Option<&str>,
        available: &dyn Fn(&str) -> bool,
    ) -> Result<Shell, ShellError> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        match name {
            None if available("bash") => Ok(Shell::builtin(BASH, ".sh", Kind::Posix)),
            None | Some("sh") => Ok(Shell::builtin(SH, ".sh", Kind::Posix)),
            Some("bash") => Ok(Shell::builtin(BASH, ".sh", Kind::Posix)),
            Some("python") => {
                // Hosts with only `python3` (most Linux distributions) still run `shell: python`.
                let program = if available("python") || !available("python3") {
                    "python {0}"
                } else {
                    "python3 {0}"
                };
                let mut shell = Shell::builtin(program, ".py", Kind::Python);
                shell.display = "python {0}".to_owned();
                Ok(shell)
            }
            Some("pwsh") => Ok(Shell::builtin(PWSH, ".ps1", Kind::Pwsh)),
            Some(other @ ("powershell" | "cmd")) => Err(ShellError::NotOnLinux(other.to_owned())),
            Some(custom) if custom.contains("{0}") => {
                let template = split_words(custom);
                if template.is_empty() {
                    return Err(ShellError::Invalid(custom.to_owned()));
                }
                Ok(Shell {
                    display: custom.to_owned(),
                    template,
                    extension: "",
                    kind: Kind::Custom,
                })
            }
            Some(other) => Err(ShellError::Invalid(other.to_owned())),
        }
    }

    fn builtin(template: &str, extension: &'static str, kind: Kind) -> Shell {
        Shell {
            display: template.to_owned(),
            template: split_words(template),
            extension,
            kind,
        }
    }

    /// The program and arguments that run the script at `script`.
    pub fn command(&self, script: &Path) -> (String, Vec<String>) {
        let path = script.display().to_string();
        let mut words = self.template.iter().map(|w| w.replace("{0}", &path));
        let program = words.next().unwrap_or_default();
        (program, words.collect())
    }

    /// The script file's contents for the step's `run:` text, as GitHub writes it.
    pub fn script(&self, run: &str) -> String {
        match self.kind {
            Kind::Pwsh => format!(
                "$ErrorActionPreference = 'stop'\n{run}\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) {{ exit $LASTEXITCODE }}\n"
            ),
            Kind::Posix | Kind::Python | Kind::Custom => run.to_owned(),
        }
    }
}

/// Splits a shell template into words at white space; double quotes group words (and are
/// removed), as GitHub's runner reads `pwsh -command ". '{0}'"`.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// Whether `program` is an executable file in one of the directories of `path`.
pub fn on_path(program: &str, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.split(':').filter(|d| !d.is_empty()).any(|dir| {
        std::fs::metadata(Path::new(dir).join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everything(_: &str) -> bool {
        true
    }

    fn nothing(_: &str) -> bool {
        false
    }

    #[test]
    fn default_shell_is_bash_with_pipefail_when_installed() {
        let shell = Shell::resolve(None, &everything).unwrap();
        let (program, args) = shell.command(Path::new("/t/s.sh"));
        assert_eq!(program, "bash");
        assert_eq!(
            args,
            ["--noprofile", "--norc", "-eo", "pipefail", "/t/s.sh"]
        );
        assert_eq!(shell.extension, ".sh");
    }

    #[test]
    fn default_shell_falls_back_to_sh() {
        let shell = Shell::resolve(None, &nothing).unwrap();
        assert_eq!(shell.command(Path::new("/s")).0, "sh");
        assert_eq!(shell.display, "sh -e {0}");
    }

    #[test]
    fn python_runs_python3_where_only_that_is_installed() {
        let only3 = |p: &str| p == "python3";
        let shell = Shell::resolve(Some("python"), &only3).unwrap();
        assert_eq!(shell.command(Path::new("/s.py")).0, "python3");
        assert_eq!(shell.display, "python {0}");
        assert_eq!(shell.extension, ".py");
    }

    #[test]
    fn pwsh_wraps_the_script_and_quotes_the_path() {
        let shell = Shell::resolve(Some("pwsh"), &everything).unwrap();
        let (program, args) = shell.command(Path::new("/t/s.ps1"));
        assert_eq!(program, "pwsh");
        assert_eq!(args, ["-command", ". '/t/s.ps1'"]);
        assert!(shell
            .script("echo 1")
            .starts_with("$ErrorActionPreference = 'stop'\n"));
    }

    #[test]
    fn custom_templates_put_the_script_where_0_is() {
        let shell = Shell::resolve(Some("perl -w {0} extra"), &everything).unwrap();
        let (program, args) = shell.command(Path::new("/s"));
        assert_eq!(program, "perl");
        assert_eq!(args, ["-w", "/s", "extra"]);
    }

    #[test]
    fn unknown_shell_without_placeholder_is_refused() {
        assert!(matches!(
            Shell::resolve(Some("zsh"), &everything),
            Err(ShellError::Invalid(_))
        ));
        assert!(matches!(
            Shell::resolve(Some("cmd"), &everything),
            Err(ShellError::NotOnLinux(_))
        ));
    }

    #[test]
    fn on_path_finds_sh() {
        assert!(on_path("sh", "/nonexistent:/bin:/usr/bin"));
        assert!(!on_path("surely-not-a-program-xyz", "/bin:/usr/bin"));
    }
}
