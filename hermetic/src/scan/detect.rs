//! The search itself: keywords first, then each rule's regex near its keywords, then base64 blobs.
//!
//! One Aho-Corasick automaton holds every rule's keywords (ASCII case ignored). Each keyword
//! found opens a *window* for the rules that listed it: the keyword's line (at most
//! [`LINE_CONTEXT`] bytes either side), or [`MULTILINE_CONTEXT`] bytes after it for a rule whose
//! regex spans lines. Windows of one rule that touch are merged, so a regex never reads a byte
//! twice however many keywords a line holds, and text without keywords is never given to a regex.
//! Rules without keywords read the whole buffer. A regex anchored with `^`/`$` (without `(?m)`)
//! sees the window's bounds as line bounds, where gitleaks sees the file's.
//!
//! Nothing here allocates per line or per keyword: the per-rule state lives in [`Scratch`],
//! reused from one buffer to the next.

use aho_corasick::{AhoCorasick, Input, MatchKind};
use regex::bytes::CaptureLocations;

use super::allow::{Candidate, PathVerdict};
use super::decode::BlobDecoder;
use super::entropy::shannon_entropy;
use super::finding::{Encoding, Fingerprint};
use super::pack::RulePack;

/// Bytes of a keyword's line given to a regex on each side of the keyword.
pub const LINE_CONTEXT: usize = 4096;

/// Bytes after a keyword given to a regex that spans lines (a PEM block fits with room to spare).
pub const MULTILINE_CONTEXT: usize = 16384;

/// How deep base64 blobs inside decoded base64 are followed, by default.
pub const DEFAULT_DECODE_DEPTH: u8 = 2;

/// A rule pack ready to search: the keyword automaton and, for each keyword, its rules.
#[derive(Debug, Clone)]
pub struct Detector {
    pub(crate) pack: RulePack,
    keywords: Option<AhoCorasick>,
    /// For each automaton pattern, the rules to try where it is found: the rules that list it and
    /// those that list one of its prefixes (a leftmost-longest search reports only the longest
    /// keyword at a position).
    keyword_rules: Vec<Vec<usize>>,
    /// Rules with a regex and no keyword.
    unkeyed: Vec<usize>,
    /// Per rule: tagged `generic`, so its findings yield to other rules' inside them.
    generic: Vec<bool>,
    /// How deep base64 blobs are followed.
    pub(crate) decode_depth: u8,
}

/// Which rules apply to one file, decided from its path.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Every rule is allowlisted for this path: the file need not be read.
    pub skip: bool,
    pub rule_on: Vec<bool>,
}

/// A match that passed every check: where its secret is in the buffer searched (for a secret in
/// a base64 blob, where the blob is).
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
    pub fingerprint: Fingerprint,
    pub encoding: Option<Encoding>,
}

/// Per-rule state reused across buffers.
pub(crate) struct Scratch {
    pending: Vec<Option<(usize, usize)>>,
    touched: Vec<usize>,
    /// End of the last match reported per rule, so overlapping windows report it once.
    last_end: Vec<usize>,
    locs: Vec<Option<CaptureLocations>>,
    decoder: BlobDecoder,
    /// The buffer in ASCII lower case, for the keyword search.
    lower: Vec<u8>,
}

impl Scratch {
    pub fn new(detector: &Detector) -> Scratch {
        let n = detector.pack.rules.len();
        Scratch {
            pending: vec![None; n],
            touched: Vec::new(),
            last_end: vec![0; n],
            locs: vec![None; n],
            decoder: BlobDecoder::default(),
            lower: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.last_end.fill(0);
        self.touched.clear();
        self.pending.fill(None);
    }
}

impl Detector {
    pub fn new(pack: RulePack) -> Detector {
        let mut patterns: Vec<String> = Vec::new();
        let mut direct: Vec<Vec<usize>> = Vec::new();
        let mut unkeyed = Vec::new();
        for (i, rule) in pack.rules.iter().enumerate() {
            if rule.regex.is_none() {
                continue;
            }
            if rule.keywords.is_empty() {
                unkeyed.push(i);
            }
            for k in &rule.keywords {
                match patterns.iter().position(|p| p == k) {
                    Some(at) => direct[at].push(i),
                    None => {
                        patterns.push(k.clone());
                        direct.push(vec![i]);
                    }
                }
            }
        }
        let keyword_rules: Vec<Vec<usize>> = patterns
            .iter()
            .map(|p| {
                let mut rules: Vec<usize> = patterns
                    .iter()
                    .zip(&direct)
                    .filter(|(q, _)| p.starts_with(q.as_str()))
                    .flat_map(|(_, r)| r.iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        let keywords = if patterns.is_empty() {
            None
        } else {
            // Keywords are short literals; building can only fail past pattern-count limits far
            // above any rule file, and then every rule runs everywhere instead. The search runs
            // over a lower-cased copy of the text: a case-sensitive automaton keeps its SIMD
            // prefilter, which an ASCII-case-insensitive one loses (3x faster on source code).
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok()
        };
        if keywords.is_none() {
            unkeyed = (0..pack.rules.len())
                .filter(|&i| pack.rules.get(i).is_some_and(|r| r.regex.is_some()))
                .collect();
        }
        let generic = pack
            .rules
            .iter()
            .map(|r| r.tags.iter().any(|t| t == "generic"))
            .collect();
        Detector {
            pack,
            keywords,
            keyword_rules,
            unkeyed,
            generic,
            decode_depth: DEFAULT_DECODE_DEPTH,
        }
    }

    /// Which rules apply to `path`.
    pub(crate) fn scope(&self, path: &str) -> Scope {
        let global_allows = |id: &str| {
            self.pack
                .allowlists
                .iter()
                .filter(|a| a.targets(id))
                .any(|a| a.path_verdict(path) == PathVerdict::AllowsFile)
        };
        let rule_on: Vec<bool> = self
            .pack
            .rules
            .iter()
            .map(|r| {
                r.path.as_ref().is_none_or(|p| p.is_match(path))
                    && !global_allows(&r.id)
                    && !r
                        .allowlists
                        .iter()
                        .any(|a| a.path_verdict(path) == PathVerdict::AllowsFile)
            })
            .collect();
        Scope {
            skip: !rule_on.iter().any(|&on| on),
            rule_on,
        }
    }

    /// Rules that name files by path alone (no regex) and match `path`.
    pub(crate) fn path_rules_matching<'a>(
        &'a self,
        scope: &'a Scope,
    ) -> impl Iterator<Item = usize> + 'a {
        self.pack
            .rules
            .iter()
            .enumerate()
            .filter(move |(i, r)| r.regex.is_none() && scope.rule_on.get(*i) == Some(&true))
            .map(|(i, _)| i)
    }

    /// Appends to `out` the hits in `buf` (positions relative to `buf`), base64 blobs included.
    pub(crate) fn detect(
        &self,
        buf: &[u8],
        path: &str,
        scope: &Scope,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
    ) {
        let mut found = Vec::new();
        self.detect_at_depth(buf, path, scope, scratch, &mut found, 0);
        self.yield_generic(&mut found);
        out.append(&mut found);
    }

    /// Drops each hit of a `generic` rule whose secret holds another rule's secret.
    fn yield_generic(&self, hits: &mut Vec<Hit>) {
        let is_generic = |h: &Hit| self.generic.get(h.rule) == Some(&true);
        if !hits.iter().any(is_generic) {
            return;
        }
        // A secret found inside a base64 blob is placed at the blob: a generic finding of the
        // blob itself (a credential assigned in base64) yields to it too.
        let mut specific: Vec<(usize, usize)> = hits
            .iter()
            .filter(|h| !is_generic(h))
            .map(|h| (h.start, h.end))
            .collect();
        specific.sort_unstable_by_key(|s| (s.0, s.1));
        hits.retain(|g| {
            if !is_generic(g) {
                return true;
            }
            let first = specific.partition_point(|s| s.0 < g.start);
            !specific
                .get(first..)
                .unwrap_or_default()
                .iter()
                .take_while(|s| s.0 < g.end.max(g.start + 1))
                .any(|s| s.1 <= g.end)
        });
    }

    fn detect_at_depth(
        &self,
        buf: &[u8],
        path: &str,
        scope: &Scope,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
        depth: u8,
    ) {
        scratch.reset();
        let on = |r: usize| scope.rule_on.get(r) == Some(&true);
        if let Some(ac) = &self.keywords {
            let mut lower = std::mem::take(&mut scratch.lower);
            lower.clear();
            lower.extend(buf.iter().map(u8::to_ascii_lowercase));
            let mut pos = 0;
            while pos < lower.len() {
                let Some(m) = ac.find(Input::new(&lower).span(pos..lower.len())) else {
                    break;
                };
                for &r in self
                    .keyword_rules
                    .get(m.pattern().as_usize())
                    .into_iter()
                    .flatten()
                {
                    if on(r) {
                        self.open_window(buf, path, r, m.start(), m.end(), scratch, out);
                    }
                }
                pos = m.start() + 1;
            }
            scratch.lower = lower;
        }
        for &r in &self.unkeyed {
            if on(r) {
                self.run_rule(buf, path, r, 0, buf.len(), scratch, out);
            }
        }
        for k in 0..scratch.touched.len() {
            let Some(&r) = scratch.touched.get(k) else {
                break;
            };
            if let Some((ws, we)) = scratch.pending.get_mut(r).and_then(Option::take) {
                self.run_rule(buf, path, r, ws, we, scratch, out);
            }
        }
        if depth < self.decode_depth {
            let mut blobs: Vec<(usize, usize, Vec<u8>)> = Vec::new();
            scratch
                .decoder
                .for_each_text_blob(buf, |s, e, text| blobs.push((s, e, text.to_vec())));
            let mut inner = Vec::new();
            for (s, e, text) in blobs {
                inner.clear();
                self.detect_at_depth(&text, path, scope, scratch, &mut inner, depth + 1);
                out.extend(inner.drain(..).map(|h| Hit {
                    start: s,
                    end: e,
                    encoding: Some(Encoding::Base64),
                    ..h
                }));
            }
        }
    }

    /// A keyword of rule `r` at `start..end`: widen the rule's pending window or start a new one.
    #[allow(clippy::too_many_arguments)]
    fn open_window(
        &self,
        buf: &[u8],
        path: &str,
        r: usize,
        start: usize,
        end: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
    ) {
        let multiline = self.pack.rules.get(r).is_some_and(|rule| rule.multiline);
        let (ws, we) = window(buf, start, end, multiline);
        match scratch.pending.get(r).copied().flatten() {
            Some((ps, pe)) if ws <= pe => {
                if let Some(p) = scratch.pending.get_mut(r) {
                    *p = Some((ps, pe.max(we)));
                }
            }
            Some((ps, pe)) => {
                if let Some(p) = scratch.pending.get_mut(r) {
                    *p = Some((ws, we));
                }
                self.run_rule(buf, path, r, ps, pe, scratch, out);
            }
            None => {
                if let Some(p) = scratch.pending.get_mut(r) {
                    *p = Some((ws, we));
                    scratch.touched.push(r);
                }
            }
        }
    }

    /// Runs rule `r`'s regex over `buf[ws..we]` and keeps the matches that pass its checks.
    #[allow(clippy::too_many_arguments)]
    fn run_rule(
        &self,
        buf: &[u8],
        path: &str,
        r: usize,
        ws: usize,
        we: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Hit>,
    ) {
        let Some(rule) = self.pack.rules.get(r) else {
            return;
        };
        let Some(re) = &rule.regex else { return };
        let Some(hay) = buf.get(ws..we) else { return };
        let Some(slot) = scratch.locs.get_mut(r) else {
            return;
        };
        let locs = slot.get_or_insert_with(|| re.capture_locations());
        let mut last_end = scratch.last_end.get(r).copied().unwrap_or(0);
        let mut at = 0;
        while at <= hay.len() {
            let Some(m) = re.captures_read_at(locs, hay, at) else {
                break;
            };
            let (ms, me) = (m.start(), m.end());
            at = if me == ms { me + 1 } else { me };
            if ws + ms < last_end {
                continue;
            }
            let group = if rule.secret_group > 0 {
                locs.get(rule.secret_group)
            } else {
                (1..locs.len()).find_map(|g| locs.get(g)).or(Some((ms, me)))
            };
            let Some((ss, se)) = group else { continue };
            let Some(secret) = hay.get(ss..se) else {
                continue;
            };
            if secret.is_empty() {
                continue;
            }
            if rule
                .entropy
                .is_some_and(|min| shannon_entropy(secret) < min)
            {
                continue;
            }
            let candidate = Candidate {
                secret,
                matched: hay.get(ms..me).unwrap_or_default(),
                line: line_around(buf, ws + ms, ws + me),
            };
            let allowed = self
                .pack
                .allowlists
                .iter()
                .filter(|a| a.targets(&rule.id))
                .chain(&rule.allowlists)
                .any(|a| a.path_verdict(path) == PathVerdict::PerMatch && a.allows(&candidate));
            if allowed {
                continue;
            }
            out.push(Hit {
                rule: r,
                start: ws + ss,
                end: ws + se,
                fingerprint: Fingerprint::of(secret),
                encoding: None,
            });
            last_end = ws + me;
        }
        if let Some(l) = scratch.last_end.get_mut(r) {
            *l = last_end;
        }
    }
}

/// The window a keyword at `start..end` opens.
fn window(buf: &[u8], start: usize, end: usize, multiline: bool) -> (usize, usize) {
    let lo = start.saturating_sub(LINE_CONTEXT);
    let ws = buf
        .get(lo..start)
        .and_then(|b| memchr::memrchr(b'\n', b))
        .map_or(lo, |i| lo + i + 1);
    let limit = if multiline {
        end.saturating_add(MULTILINE_CONTEXT)
    } else {
        end.saturating_add(LINE_CONTEXT)
    }
    .min(buf.len());
    let we = if multiline {
        limit
    } else {
        buf.get(end..limit)
            .and_then(|b| memchr::memchr(b'\n', b))
            .map_or(limit, |i| end + i)
    };
    (ws, we)
}

/// The line(s) holding `start..end`, at most [`LINE_CONTEXT`] bytes beyond the match each side.
fn line_around(buf: &[u8], start: usize, end: usize) -> &[u8] {
    let lo = start.saturating_sub(LINE_CONTEXT);
    let from = buf
        .get(lo..start)
        .and_then(|b| memchr::memrchr(b'\n', b))
        .map_or(lo, |i| lo + i + 1);
    let hi = end.saturating_add(LINE_CONTEXT).min(buf.len());
    let to = buf
        .get(end..hi)
        .and_then(|b| memchr::memchr(b'\n', b))
        .map_or(hi, |i| end + i);
    buf.get(from..to).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(toml: &str) -> Detector {
        Detector::new(RulePack::from_toml(toml, "t", None).unwrap())
    }

    fn hits(d: &Detector, text: &str) -> Vec<(String, usize, usize, Option<Encoding>)> {
        let scope = d.scope("f.txt");
        let mut scratch = Scratch::new(d);
        let mut out = Vec::new();
        d.detect(text.as_bytes(), "f.txt", &scope, &mut scratch, &mut out);
        out.into_iter()
            .map(|h| (d.pack.rules[h.rule].id.clone(), h.start, h.end, h.encoding))
            .collect()
    }

    const TWO_RULES: &str = r#"
[[rules]]
id = "tok"
regex = '''tok_[a-z0-9_]{8,}'''
keywords = ["tok_"]
[[rules]]
id = "longer"
regex = '''tok_long_[a-z0-9]{8}'''
keywords = ["tok_long_"]
"#;

    #[test]
    fn a_regex_runs_only_near_its_keyword() {
        let d = detector("[[rules]]\nid = \"r\"\nregex = '[0-9]{6}'\nkeywords = [\"pin\"]\n");
        assert_eq!(hits(&d, "123456\nnothing\n").len(), 0);
        assert_eq!(
            hits(&d, "x\npin: 123456\n"),
            vec![("r".into(), 7, 13, None)]
        );
    }

    #[test]
    fn a_longer_keyword_still_triggers_the_rules_of_its_prefix() {
        let d = detector(TWO_RULES);
        let found = hits(&d, "a tok_long_abcdef12 b");
        let ids: Vec<&str> = found.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(ids, ["tok", "longer"]);
    }

    #[test]
    fn keywords_match_in_any_case_and_each_match_is_reported_once() {
        let d =
            detector("[[rules]]\nid = \"r\"\nregex = '(?i)key=([a-z]{5})'\nkeywords = [\"key\"]\n");
        let found = hits(&d, "KEY=abcde key=fghij KEY=klmno\n");
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn the_secret_group_is_what_entropy_and_allowlists_judge() {
        let toml = r#"
[[rules]]
id = "r"
regex = '''pw=([a-zA-Z0-9]{12})'''
entropy = 3.0
keywords = ["pw="]
[[rules.allowlists]]
stopwords = ["example"]
"#;
        let d = detector(toml);
        assert_eq!(hits(&d, "pw=aaaaaaaaaaaa").len(), 0, "low entropy");
        assert_eq!(hits(&d, "pw=example1234").len(), 0, "stopword");
        assert_eq!(hits(&d, "pw=Zq3vL9xT2mWb").len(), 1);
    }

    #[test]
    fn a_multiline_rule_sees_past_its_keywords_line() {
        let d = detector("[[rules]]\nid = \"blk\"\nregex = '(?s)BEGIN\\n.{0,64}?\\nEND'\nkeywords = [\"begin\"]\n");
        assert_eq!(hits(&d, "BEGIN\nabc\ndef\nEND\n").len(), 1);
    }

    #[test]
    fn a_secret_inside_base64_is_found_at_the_blob() {
        use base64::Engine;
        let d = detector(TWO_RULES);
        let blob = base64::engine::general_purpose::STANDARD.encode("config tok_abcdef12 end");
        let text = format!("data: {blob}\n");
        let found = hits(&d, &text);
        assert_eq!(
            found,
            vec![("tok".into(), 6, 6 + blob.len(), Some(Encoding::Base64))]
        );
    }

    #[test]
    fn a_path_allowlist_turns_the_rule_off_for_that_file() {
        let d = detector("[[rules]]\nid = \"r\"\nregex = 'x'\nkeywords = [\"x\"]\n[[allowlists]]\npaths = ['\\.lock$']\n");
        assert!(d.scope("Cargo.lock").skip);
        assert!(!d.scope("main.rs").skip);
    }

    #[test]
    fn many_keywords_on_one_long_line_cost_one_regex_pass() {
        let d = detector("[[rules]]\nid = \"r\"\nregex = 'key=([0-9]{4})'\nkeywords = [\"key\"]\n");
        let line = "key=12 ".repeat(10_000) + "key=1234";
        let found = hits(&d, &line);
        assert_eq!(found.len(), 1);
    }
}
