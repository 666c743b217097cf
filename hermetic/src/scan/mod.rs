//! The secret scanner: a rule pack in gitleaks' format, searched in files, trees and bytes.
//!
//! A [`Scanner`] is built from a [`RulePack`] (hrun's [`RulePack::builtin`], or a gitleaks-format
//! TOML file, which may extend the built-in pack). It reports [`Finding`]s: the rule, where
//! (path or label, line and column), and a [`Fingerprint`], never any part of the value.
//!
//! How it stays fast (hundreds of MB/s on one core): an Aho-Corasick automaton finds every rule's
//! keywords in one pass; a rule's regex (the `regex` crate, bytes API) then reads only the lines
//! around its keywords ([`detect`]); files are read in large chunks into one reused buffer, binary
//! files are skipped after their first 8 KiB ([`walk`]); base64 blobs are found by probing every
//! 24th byte and decoded only when they hold text ([`decode`]).
//!
//! ```
//! use hermetic::scan::{RulePack, Scanner};
//! let scanner = Scanner::new(RulePack::builtin());
//! let text = format!("export NPM_TOKEN=npm_{}\n", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5");
//! let findings = scanner.scan_bytes(text.as_bytes(), ".env");
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].rule, "npm-access-token");
//! assert_eq!((findings[0].line, findings[0].column), (1, 18));
//! assert!(!findings[0].to_string().contains("npm_aB3"));
//! ```
//!
//! [`KnownSecrets`] finds the job's own secrets by value (in every encoding the masker knows),
//! where the rules find secrets by shape: both look at artifacts and at the processes a step
//! leaves ([`crate::sweep`]).
//!
//! What this module must never do: put a matched value (or part of one) in a [`Finding`], an error
//! or a `Debug` output; follow a symbolic link inside a tree, or open a FIFO or device.

mod allow;
mod config;
mod decode;
mod detect;
mod entropy;
mod finding;
mod known;
mod locate;
mod pack;
mod walk;

pub use allow::{Allowlist, Condition, RegexTarget};
pub use detect::{DEFAULT_DECODE_DEPTH, LINE_CONTEXT, MULTILINE_CONTEXT};
pub use entropy::shannon_entropy;
pub use finding::{Encoding, Finding, Fingerprint};
pub use known::{KnownHit, KnownSecrets, KNOWN_SECRET_RULE, MIN_KNOWN_LEN};
pub use pack::{Rule, RulePack, RulePackError, BUILTIN_RULES};
pub use walk::{ScanFailure, ScanReport, ScanStats};

use detect::{Detector, Hit, Scratch};
use locate::LineCursor;

/// A compiled rule pack, ready to scan. Cheap to share between threads (`Sync`); each scan
/// call keeps its own buffers.
#[derive(Debug, Clone)]
pub struct Scanner {
    detector: Detector,
}

impl Scanner {
    pub fn new(pack: RulePack) -> Scanner {
        Scanner {
            detector: Detector::new(pack),
        }
    }

    /// How deep base64 blobs inside decoded blobs are followed (0: blobs are not decoded).
    pub fn with_decode_depth(mut self, depth: u8) -> Scanner {
        self.detector.decode_depth = depth;
        self
    }

    pub fn rules(&self) -> &[Rule] {
        self.detector.pack.rules()
    }

    /// Scans bytes held in memory (an output, a summary, an environment). `source` names them in
    /// findings and is what rules' and allowlists' `path` patterns see. Binary content is scanned
    /// too: the caller chose these bytes.
    pub fn scan_bytes(&self, bytes: &[u8], source: &str) -> Vec<Finding> {
        let scope = self.detector.scope(source);
        if scope.skip {
            return Vec::new();
        }
        let mut scratch = Scratch::new(&self.detector);
        let mut hits = Vec::new();
        self.detector
            .detect(bytes, source, &scope, &mut scratch, &mut hits);
        hits.sort_by_key(|h| (h.start, h.rule));
        let mut cursor = LineCursor::default();
        hits.iter()
            .map(|hit| {
                let at = cursor.locate(bytes, hit.start);
                let end = LineCursor::locate_end(bytes, hit.start, hit.end, at);
                self.finding(hit, source, 0, at, end)
            })
            .collect()
    }

    /// The finding for `hit` of a buffer that starts at byte `base` of its source.
    fn finding(
        &self,
        hit: &Hit,
        source: &str,
        base: u64,
        at: (u64, u64),
        end: (u64, u64),
    ) -> Finding {
        let rule = self.detector.pack.rules().get(hit.rule);
        Finding {
            rule: rule.map(|r| r.id.clone()).unwrap_or_default(),
            description: rule.map(|r| r.description.clone()).unwrap_or_default(),
            source: source.to_owned(),
            line: at.0,
            column: at.1,
            end_line: end.0,
            end_column: end.1,
            offset: base + hit.start as u64,
            length: hit.end.saturating_sub(hit.start) as u64,
            fingerprint: hit.fingerprint.clone(),
            encoding: hit.encoding,
        }
    }
}

#[cfg(test)]
mod tests;
