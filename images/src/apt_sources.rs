//! Which Debian mirror the guest is built from: the host's apt sources for the guest's suite
//! (`bookworm`, `bookworm-updates`, `bookworm-security`, component `main`), read from
//! `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}`, or deb.debian.org when
//! the host has none. Sources of other suites or vendors (a NodeSource or cloud SDK repository)
//! are never used.

use std::path::Path;

use crate::deb822;

/// One source of the guest's packages: a mirror and a suite; the component is always `main`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DebianSource {
    /// The mirror, without a trailing slash (`http://deb.debian.org/debian`).
    pub uri: String,
    /// `bookworm`, `bookworm-updates` or `bookworm-security`.
    pub suite: String,
    /// Where the host's apt finds the key of this mirror (`Signed-By`). It is a path on the host,
    /// so it is not a build input: it changes nothing in the image.
    #[serde(skip)]
    pub signed_by: Option<String>,
}

impl DebianSource {
    /// The one-line source mmdebstrap takes, with the host's keyring when it named one.
    pub fn mmdebstrap_line(&self) -> String {
        match &self.signed_by {
            Some(keyring) => format!("deb [signed-by={keyring}] {} {} main", self.uri, self.suite),
            None => self.sources_list_line(),
        }
    }

    /// The line written to the guest's `/etc/apt/sources.list` (no host path in it).
    pub fn sources_list_line(&self) -> String {
        format!("deb {} {} main", self.uri, self.suite)
    }

    /// Where the suite's signed index lives; its digest tells whether the mirror changed.
    pub fn in_release_url(&self) -> String {
        format!("{}/dists/{}/InRelease", self.uri, self.suite)
    }
}

/// The suites a guest of `suite` is built from, in this order.
fn wanted_suites(suite: &str) -> [String; 3] {
    [
        suite.to_owned(),
        format!("{suite}-updates"),
        format!("{suite}-security"),
    ]
}

/// deb.debian.org for `suite`, its updates and its security suite.
pub fn default_sources(suite: &str) -> Vec<DebianSource> {
    wanted_suites(suite)
        .into_iter()
        .map(|s| DebianSource {
            uri: if s.ends_with("-security") {
                "http://deb.debian.org/debian-security".to_owned()
            } else {
                "http://deb.debian.org/debian".to_owned()
            },
            suite: s,
            signed_by: None,
        })
        .collect()
}

/// The host's sources for `suite` (see the module doc), or [`default_sources`] when the host
/// has no source for `suite` itself.
pub fn from_host(suite: &str) -> Vec<DebianSource> {
    let mut found = Vec::new();
    let etc = Path::new("/etc/apt");
    if let Ok(text) = std::fs::read_to_string(etc.join("sources.list")) {
        found.extend(parse_one_line(&text));
    }
    if let Ok(dir) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            match path.extension().and_then(|e| e.to_str()) {
                Some("list") => found.extend(parse_one_line(&text)),
                Some("sources") => found.extend(parse_deb822(&text)),
                _ => {}
            }
        }
    }
    select(&found, suite)
}

/// A host source line as written, before selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSource {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
}

/// The `deb` lines of a one-line-style file (`deb [opts] URI SUITE COMPONENT...`).
pub fn parse_one_line(text: &str) -> Vec<HostSource> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                continue;
            };
            for option in options.split_whitespace() {
                if let Some(value) = option.strip_prefix("signed-by=") {
                    signed_by = Some(value.to_owned());
                }
            }
            rest = after;
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        sources.push(HostSource {
            uri: uri.trim_end_matches('/').to_owned(),
            suite: suite.to_owned(),
            components: words.map(str::to_owned).collect(),
            signed_by,
        });
    }
    sources
}

/// The `deb` entries of a deb822-style `.sources` file (one per URI and suite).
pub fn parse_deb822(text: &str) -> Vec<HostSource> {
    let mut sources = Vec::new();
    for paragraph in deb822::parse(text) {
        let enabled = paragraph
            .get("Enabled")
            .is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        let is_deb = paragraph
            .get("Types")
            .is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        if !enabled || !is_deb {
            continue;
        }
        let components: Vec<String> = paragraph
            .get("Components")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        // An inline key block (several lines) is not a path; only a path is passed on.
        let signed_by = paragraph
            .get("Signed-By")
            .filter(|v| !v.contains('\n') && v.starts_with('/'))
            .map(str::to_owned);
        for uri in paragraph.get("URIs").unwrap_or_default().split_whitespace() {
            for suite in paragraph
                .get("Suites")
                .unwrap_or_default()
                .split_whitespace()
            {
                sources.push(HostSource {
                    uri: uri.trim_end_matches('/').to_owned(),
                    suite: suite.to_owned(),
                    components: components.clone(),
                    signed_by: signed_by.clone(),
                });
            }
        }
    }
    sources
}

/// The sources for `suite` among `host`'s (with component `main`), one per suite, in the order
/// suite, updates, security; [`default_sources`] when none is for `suite` itself.
pub fn select(host: &[HostSource], suite: &str) -> Vec<DebianSource> {
    let mut selected = Vec::new();
    for wanted in wanted_suites(suite) {
        let source = host
            .iter()
            .find(|s| s.suite == wanted && s.components.iter().any(|c| c == "main"));
        if let Some(source) = source {
            selected.push(DebianSource {
                uri: source.uri.clone(),
                suite: source.suite.clone(),
                signed_by: source.signed_by.clone(),
            });
        }
    }
    if selected.first().is_none_or(|s| s.suite != suite) {
        return default_sources(suite);
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
URIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n";

    #[test]
    fn picks_the_hosts_mirror_for_the_suite_and_ignores_other_vendors() {
        let selected = select(&parse_deb822(DEB822), "bookworm");
        let lines: Vec<String> = selected.iter().map(|s| s.sources_list_line()).collect();
        assert_eq!(
            lines,
            [
                "deb http://mirror.example/debian bookworm main",
                "deb http://mirror.example/debian bookworm-updates main",
                "deb http://mirror.example/debian-security bookworm-security main",
            ]
        );
        assert_eq!(
            selected[0].mmdebstrap_line(),
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
             http://mirror.example/debian bookworm main"
        );
    }

    #[test]
    fn reads_one_line_sources_with_options_and_comments() {
        let text = "# comment\ndeb-src http://x/debian bookworm main\n\
            deb [arch=amd64 signed-by=/k.gpg] http://x/debian/ bookworm main contrib # tail\n";
        let sources = parse_one_line(text);
        assert_eq!(
            sources,
            [HostSource {
                uri: "http://x/debian".into(),
                suite: "bookworm".into(),
                components: vec!["main".into(), "contrib".into()],
                signed_by: Some("/k.gpg".into()),
            }]
        );
    }

    #[test]
    fn falls_back_to_deb_debian_org_without_a_source_for_the_suite() {
        let host = parse_one_line("deb http://x/debian trixie main\n");
        let selected = select(&host, "bookworm");
        assert_eq!(selected, default_sources("bookworm"));
        assert_eq!(
            selected[2].in_release_url(),
            "http://deb.debian.org/debian-security/dists/bookworm-security/InRelease"
        );
    }

    #[test]
    fn skips_disabled_deb822_entries() {
        let text =
            "Types: deb\nURIs: http://x/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n";
        assert!(parse_deb822(text).is_empty());
    }
}
