//! The live log on the terminal and each job's log file.
//!
//! Every line passes through the run's [`SharedMasker`] here, before it reaches the terminal or
//! the file: nothing else in the engine writes a log. On the terminal each line starts with the
//! job's name in brackets (jobs run in parallel), steps open with `▶ Run ...` and close with
//! their conclusion, group contents are indented under their title, annotations are colored;
//! colors only when asked (a terminal). The file keeps GitHub's raw log form (`##[group]`,
//! `##[error]`, ...) without colors or prefixes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::result::Conclusion;
use super::SharedMasker;

/// The terminal side, shared by all jobs. On a terminal (`color`), the last line shows the jobs
/// running, redrawn under each line printed.
#[derive(Debug)]
pub struct LiveLog {
    color: bool,
    quiet: bool,
    /// The jobs running now, by label, in the order they started.
    running: Mutex<Vec<String>>,
}

impl LiveLog {
    /// `color`: a terminal (ANSI colors and the progress line); `quiet`: print nothing (the log
    /// files are still written).
    pub fn new(color: bool, quiet: bool) -> Arc<LiveLog> {
        Arc::new(LiveLog {
            color,
            quiet,
            running: Mutex::new(Vec::new()),
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints one line, then the progress line again on a terminal.
    fn emit(&self, line: &str) {
        if self.quiet {
            return;
        }
        let running = self.running();
        let mut out = std::io::stdout().lock();
        if self.color {
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{line}");
        if self.color && !running.is_empty() {
            let text = format!("⋯ running: {}", running.join(", "));
            let _ = write!(out, "{}", self.paint(Style::Dim, &text));
        }
        let _ = out.flush();
    }

    /// A job started (for the progress line).
    pub fn job_started(&self, label: &str) {
        self.running().push(label.to_owned());
    }

    /// A job ended (for the progress line).
    pub fn job_ended(&self, label: &str) {
        let mut running = self.running();
        if let Some(i) = running.iter().position(|l| l == label) {
            running.remove(i);
        }
        if self.color && !self.quiet && running.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }

    /// Prints a line of the runner itself (not of a job).
    pub fn note(&self, text: &str) {
        self.emit(text);
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match style {
            Style::Plain => return text.to_owned(),
            Style::Label => "36",
            Style::Header => "1",
            Style::Dim => "2",
            Style::Error => "31",
            Style::Warning => "33",
            Style::Notice => "34",
            Style::Success => "32",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[derive(Debug, Clone, Copy)]
enum Style {
    Plain,
    Label,
    Header,
    Dim,
    Error,
    Warning,
    Notice,
    Success,
}

/// The level of an annotation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
    Debug,
}

impl Level {
    fn raw(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Debug => "debug",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Notice => "Notice",
            Level::Debug => "Debug",
        }
    }

    fn style(self) -> Style {
        match self {
            Level::Error => Style::Error,
            Level::Warning => Style::Warning,
            Level::Notice => Style::Notice,
            Level::Debug => Style::Dim,
        }
    }
}

/// One job's log: its lines on the terminal and in its file.
pub struct JobLog {
    label: String,
    live: Arc<LiveLog>,
    file: Option<BufWriter<File>>,
    masker: SharedMasker,
    /// Open `::group::`s.
    groups: usize,
    /// Failure to write the file, reported once at the end.
    file_error: Option<std::io::Error>,
}

impl std::fmt::Debug for JobLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLog")
            .field("label", &self.label)
            .finish()
    }
}

impl JobLog {
    /// A log for the job shown as `label`, written to `file` (created) when given.
    pub fn new(
        label: &str,
        live: Arc<LiveLog>,
        file: Option<&Path>,
        masker: SharedMasker,
    ) -> std::io::Result<JobLog> {
        let file = match file {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Some(BufWriter::new(File::create(path)?))
            }
            None => None,
        };
        Ok(JobLog {
            label: masker.mask(label),
            live,
            file,
            masker,
            groups: 0,
            file_error: None,
        })
    }

    fn write_file(&mut self, raw: &str) {
        if let Some(file) = &mut self.file {
            if let Err(e) = writeln!(file, "{raw}") {
                self.file_error.get_or_insert(e);
            }
        }
    }

    fn write_live(&self, indent: usize, style: Style, text: &str) {
        if self.live.quiet {
            return;
        }
        let label = self.live.paint(Style::Label, &format!("[{}]", self.label));
        let body = self.live.paint(style, text);
        let pad = "  ".repeat(indent);
        self.live.emit(&format!("{label} {pad}{body}"));
    }

    /// A line the job printed (already stripped of its line ending).
    pub fn line(&mut self, text: &str) {
        let text = self.masker.mask(text);
        self.write_file(&text);
        self.write_live(1 + self.groups, Style::Plain, &text);
    }

    /// A line the runner adds to the job's log.
    pub fn info(&mut self, text: &str) {
        let text = self.masker.mask(text);
        self.write_file(&text);
        self.write_live(1, Style::Dim, &text);
    }

    /// The job starts.
    pub fn job_header(&mut self, title: &str) {
        self.live.job_started(&self.label);
        let title = self.masker.mask(title);
        self.write_file(&format!("##[section]{title}"));
        self.write_live(0, Style::Header, &format!("⚑ {title}"));
    }

    /// A step starts; `details` (the script, the shell, the env) are folded in the file and
    /// shown dimmed on the terminal.
    pub fn step_header(&mut self, title: &str, details: &[String]) {
        let title = self.masker.mask(title);
        self.write_file(&format!("##[group]{title}"));
        self.write_live(0, Style::Header, &format!("▶ {title}"));
        for d in details {
            let d = self.masker.mask(d);
            self.write_file(&d);
            self.write_live(1, Style::Dim, &d);
        }
        self.write_file("##[endgroup]");
    }

    /// A step ended.
    pub fn step_footer(&mut self, title: &str, conclusion: Conclusion, took: Duration) {
        self.close_groups();
        let title = self.masker.mask(title);
        let (mark, style) = match conclusion {
            Conclusion::Success => ("✓", Style::Success),
            Conclusion::Failure => ("✗", Style::Error),
            Conclusion::Cancelled => ("⊘", Style::Warning),
            Conclusion::Skipped => ("○", Style::Dim),
        };
        let text = format!(
            "{mark} {title} ({}, {})",
            conclusion.as_str(),
            duration(took)
        );
        self.write_live(0, style, &text);
    }

    /// A step did not run: its `if` was false.
    pub fn step_skipped(&mut self, title: &str) {
        let title = self.masker.mask(title);
        self.write_file(&format!("Skipping step: {title}"));
        self.write_live(0, Style::Dim, &format!("○ {title} (skipped)"));
    }

    /// `::group::title`.
    pub fn group(&mut self, title: &str) {
        let title = self.masker.mask(title);
        self.write_file(&format!("##[group]{title}"));
        self.write_live(1 + self.groups, Style::Header, &format!("▾ {title}"));
        self.groups += 1;
    }

    /// `::endgroup::`.
    pub fn end_group(&mut self) {
        if self.groups > 0 {
            self.groups -= 1;
            self.write_file("##[endgroup]");
        }
    }

    fn close_groups(&mut self) {
        while self.groups > 0 {
            self.end_group();
        }
    }

    /// An annotation or debug line; `location` is `file:line:col` when known.
    pub fn annotation(&mut self, level: Level, message: &str, location: Option<&str>) {
        let message = self.masker.mask(message);
        let location = location.map(|l| self.masker.mask(l));
        let raw = match &location {
            Some(l) => format!("##[{}]{l}: {message}", level.raw()),
            None => format!("##[{}]{message}", level.raw()),
        };
        self.write_file(&raw);
        let text = match &location {
            Some(l) => format!("{}: {l}: {message}", level.title()),
            None => format!("{}: {message}", level.title()),
        };
        self.write_live(1 + self.groups, level.style(), &text);
    }

    /// The job ended.
    pub fn job_footer(&mut self, conclusion: Conclusion, took: Duration) {
        self.close_groups();
        let text = format!("Job {} ({})", conclusion.as_str(), duration(took));
        let style = match conclusion {
            Conclusion::Success => Style::Success,
            Conclusion::Failure => Style::Error,
            _ => Style::Warning,
        };
        self.write_file(&format!("##[section]{text}"));
        self.write_live(0, style, &format!("⚑ {text}"));
        self.live.job_ended(&self.label);
    }

    /// Flushes the file; the first write error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.file_error.take() {
            return Err(e);
        }
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// `1.2s`, `350ms`, `2m05s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_log_is_masked_and_in_githubs_raw_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        let masker = SharedMasker::default();
        masker.add_secret("topsecret");
        let mut log = JobLog::new("job", LiveLog::new(false, true), Some(&path), masker).unwrap();
        log.step_header("Run echo topsecret", &["echo topsecret".into()]);
        log.group("g");
        log.line("value=topsecret");
        log.end_group();
        log.annotation(Level::Error, "bad topsecret", Some("a.sh:3:1"));
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("topsecret"), "{text}");
        assert_eq!(
            text,
            "##[group]Run echo ***\necho ***\n##[endgroup]\n##[group]g\nvalue=***\n##[endgroup]\n##[error]a.sh:3:1: bad ***\n"
        );
    }

    #[test]
    fn the_progress_line_lists_running_jobs_until_they_end() {
        let live = LiveLog::new(false, true);
        live.job_started("a");
        live.job_started("b");
        live.job_ended("a");
        assert_eq!(*live.running(), ["b"]);
        live.job_ended("b");
        assert!(live.running().is_empty());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(350)), "350ms");
        assert_eq!(duration(Duration::from_millis(1300)), "1.3s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }
}
