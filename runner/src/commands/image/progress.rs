//! The display of an image build's progress on stderr: on a terminal, a bar over the build's
//! stages with the elapsed time and the latest line of the running stage (mmdebstrap's
//! progress, for one); otherwise one plain line per stage, so logs stay readable.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use images::{BuildProgress, Stage};

pub struct BuildDisplay {
    bar: Option<ProgressBar>,
    started: Instant,
    stage: Option<(Stage, Instant)>,
}

impl BuildDisplay {
    pub fn new() -> BuildDisplay {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(Stage::ALL.len() as u64),
                ProgressDrawTarget::stderr(),
            );
            let style = ProgressStyle::with_template(
                "{spinner} image build [{bar:14}] {pos}/{len} {elapsed:>4} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        BuildDisplay {
            bar,
            started: Instant::now(),
            stage: None,
        }
    }

    /// Ends the display: the bar is cleared (the command prints its result next); `ok` says
    /// whether the running stage ended well.
    pub fn finish(&mut self, ok: bool) {
        self.close_stage(ok);
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn close_stage(&mut self, ok: bool) {
        if let Some((stage, since)) = self.stage.take() {
            let line = format!(
                "image build: [{}/{}] {} {} {:.1}s",
                stage.number(),
                Stage::ALL.len(),
                stage.label(),
                if ok { "done in" } else { "FAILED after" },
                since.elapsed().as_secs_f64()
            );
            match &self.bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }
}

impl BuildProgress for BuildDisplay {
    fn stage(&mut self, stage: Stage) {
        self.close_stage(true);
        self.stage = Some((stage, Instant::now()));
        match &self.bar {
            Some(bar) => {
                bar.set_position(stage.number().saturating_sub(1) as u64);
                bar.set_message(stage.label());
            }
            None => eprintln!(
                "image build: [{}/{}] {} (at {:.0}s)",
                stage.number(),
                Stage::ALL.len(),
                stage.label(),
                self.started.elapsed().as_secs_f64()
            ),
        }
    }

    fn detail(&mut self, text: &str) {
        if let (Some(bar), Some((stage, _))) = (&self.bar, &self.stage) {
            let text: String = text.chars().take(160).collect();
            bar.set_message(format!("{}: {text}", stage.label()));
        }
    }
}
