//! `hrun actions` end to end: pull through a GitHub API served on 127.0.0.1 by the test, import,
//! ls, resolve. The server answers a bounded number of connections and stops by itself.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const SHA: &str = "8e5e7e5ab8b370d6c329ec480221332ada57f0ab";
const ACTION: &str = "name: hello\ndescription: says hello\nruns:\n  using: composite\n  steps:\n    - run: echo hello\n      shell: bash\n";

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server on 127.0.0.1.

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/x-gzip".into())],
            body,
        }
    }

    fn redirect(location: String) -> Reply {
        Reply {
            status: 302,
            headers: vec![("Location".into(), location)],
            body: Vec::new(),
        }
    }

    fn not_found() -> Reply {
        Reply {
            status: 404,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"message":"Not Found"}"#.to_vec(),
        }
    }
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Serves `route(path)` for at most 64 connections or 60 seconds.
    fn start(route: impl Fn(&str) -> Reply + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while served < 64 && Instant::now() < deadline && !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        if let Some(request) = answer(stream, &route) {
                            log.lock().expect("log").push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, seen, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(mut stream: TcpStream, route: &impl Fn(&str) -> Reply) -> Option<Seen> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_string());
    let reply = route(&path);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).ok()?;
    stream.write_all(&reply.body).ok()?;
    stream.flush().ok()?;
    Some(Seen {
        path,
        authorization,
    })
}

// ---------------------------------------------------------------------------------------------
// Tarballs shaped like GitHub's.

/// A tarball with a pax global header naming `SHA`, one top-level `octo-hello-8e5e7e5/`
/// directory, and `extra` raw entries (name, data) written byte for byte after it.
fn tarball(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let record = format!("52 comment={SHA}\n");
    let mut global = tar::Header::new_ustar();
    global.set_entry_type(tar::EntryType::XGlobalHeader);
    global.set_path("pax_global_header").expect("path");
    global.set_size(record.len() as u64);
    global.set_mode(0o644);
    global.set_cksum();
    builder.append(&global, record.as_bytes()).expect("global");
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    builder
        .append_data(&mut dir, "octo-hello-8e5e7e5/", std::io::empty())
        .expect("dir");
    for (name, data, mode) in [
        ("action.yml", ACTION.as_bytes(), 0o644),
        ("bin/run.sh", b"#!/bin/sh\necho hi\n".as_slice(), 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, format!("octo-hello-8e5e7e5/{name}"), data)
            .expect("file");
    }
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_mode(0o777);
    link.set_size(0);
    builder
        .append_link(
            &mut link,
            "octo-hello-8e5e7e5/bin/action.yml",
            "../action.yml",
        )
        .expect("link");
    for (name, data) in extra {
        let mut header = tar::Header::new_gnu();
        let field = &mut header.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, *data).expect("raw entry");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The API: `/repos/octo/hello/tarball/SHA` redirects to `location`, which serves `body`.
fn github(body: Vec<u8>) -> Server {
    Server::start(move |path| {
        if path == format!("/repos/octo/hello/tarball/{SHA}") {
            Reply::redirect(format!("/_codeload/octo/hello/{SHA}.tar.gz"))
        } else if path == format!("/_codeload/octo/hello/{SHA}.tar.gz") {
            Reply::ok(body.clone())
        } else {
            Reply::not_found()
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Running hrun.

struct Env {
    cache: tempfile::TempDir,
    api: String,
    token: Option<&'static str>,
}

impl Env {
    fn new(api: String) -> Env {
        Env {
            cache: tempfile::tempdir().expect("temp dir"),
            api,
            token: None,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hrun"));
        command
            .args(args)
            .env("HRUN_CACHE", self.cache.path())
            .env("GITHUB_API_URL", &self.api)
            .env_remove("GITHUB_TOKEN");
        if let Some(token) = self.token {
            command.env("GITHUB_TOKEN", token);
        }
        command
    }

    fn hrun(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("hrun runs")
    }

    fn entry(&self) -> PathBuf {
        self.cache.path().join("actions/octo/hello").join(SHA)
    }

    fn staging_is_empty(&self) -> bool {
        std::fs::read_dir(self.cache.path().join("actions/.tmp"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn record(entry: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(entry.join("hrun-action.json")).expect("record");
    serde_json::from_str(&text).expect("record is JSON")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn pull_follows_the_redirect_unpacks_and_records_the_tarball_digest() {
    let body = tarball(&[]);
    let server = github(body.clone());
    let mut env = Env::new(server.url());
    env.token = Some("test-token");
    let out = env.hrun(&["actions", "pull", &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let digest = sha256_hex(&body);
    assert!(
        text(&out.stdout).contains(&format!("added octo/hello@{SHA} (sha256 {digest})")),
        "{}",
        text(&out.stdout)
    );
    let entry = env.entry();
    let tree = entry.join("tree");
    assert_eq!(
        std::fs::read_to_string(tree.join("action.yml")).expect("file"),
        ACTION
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(tree.join("bin/run.sh"))
            .expect("script")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_link(tree.join("bin/action.yml")).expect("link"),
        Path::new("../action.yml")
    );
    let record = record(&entry);
    assert_eq!(record["owner"], "octo");
    assert_eq!(record["repo"], "hello");
    assert_eq!(record["sha"], SHA);
    assert_eq!(record["source"], "api");
    assert_eq!(record["sha256"], digest.as_str());
    assert_eq!(
        record["origin"],
        format!("{}/repos/octo/hello/tarball/{SHA}", server.url()).as_str()
    );
    assert!(record["fetched_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer test-token"));
    assert!(env.staging_is_empty());

    // A second pull finds the entry and asks nothing of the API.
    let out = env.hrun(&["actions", "pull", &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("is already in the store"));
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn pull_sends_the_token_only_to_the_api_origin() {
    let body = tarball(&[]);
    let codeload = Server::start(move |_| Reply::ok(body.clone()));
    let codeload_url = codeload.url();
    let api = Server::start(move |_| Reply::redirect(format!("{codeload_url}/o/r/{SHA}")));
    let mut env = Env::new(api.url());
    env.token = Some("test-token");
    let out = env.hrun(&["actions", "pull", &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let to_api = api.seen();
    let to_codeload = codeload.seen();
    assert_eq!(to_api.len(), 1);
    assert_eq!(
        to_api[0].authorization.as_deref(),
        Some("Bearer test-token")
    );
    assert_eq!(to_codeload.len(), 1);
    assert_eq!(to_codeload[0].path, format!("/o/r/{SHA}"));
    assert_eq!(to_codeload[0].authorization, None);
}

#[test]
fn pull_refuses_a_ref_that_is_not_a_full_commit_sha() {
    let server = github(Vec::new());
    let env = Env::new(server.url());
    for git_ref in ["v4", "main", "8e5e7e5"] {
        let out = env.hrun(&["actions", "pull", &format!("octo/hello@{git_ref}")]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(err.contains("is not a full 40-hex commit SHA"), "{err}");
    }
    assert!(server.seen().is_empty());
}

#[test]
fn pull_of_an_unknown_repository_reports_http_404() {
    let server = Server::start(|_| Reply::not_found());
    let env = Env::new(server.url());
    let out = env.hrun(&["actions", "pull", &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("HTTP 404"), "{err}");
    assert!(err.contains("GITHUB_TOKEN is not set"), "{err}");
    assert!(!env.entry().exists());
}

#[test]
fn pull_refuses_a_tarball_with_a_path_leaving_the_tree_and_keeps_nothing() {
    let server = github(tarball(&[("octo-hello-8e5e7e5/../../evil", b"x")]));
    let env = Env::new(server.url());
    let out = env.hrun(&["actions", "pull", &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("entry `octo-hello-8e5e7e5/../../evil`"),
        "{err}"
    );
    assert!(!env.entry().exists());
    assert!(env.staging_is_empty());
    assert!(!env.cache.path().join("evil").exists());
    assert!(!env.cache.path().join("actions/evil").exists());
}

#[test]
fn concurrent_pulls_of_one_commit_all_succeed_with_one_entry() {
    let server = github(tarball(&[]));
    let env = Env::new(server.url());
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.command(&["actions", "pull", &format!("octo/hello@{SHA}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn hrun")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("hrun finishes");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let out = env.hrun(&["actions", "ls", "--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(env.staging_is_empty());
}

#[test]
fn import_fills_the_store_and_ls_lists_it_in_both_formats() {
    let env = Env::new("http://127.0.0.1:9".to_string());
    let out = env.hrun(&["actions", "ls"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("is empty"));

    let copy = tempfile::tempdir().expect("temp dir");
    std::fs::write(copy.path().join("action.yml"), ACTION).expect("write");
    std::fs::create_dir(copy.path().join(".git")).expect("mkdir");
    std::fs::write(copy.path().join(".git/HEAD"), SHA).expect("write");
    let dir = copy.path().to_str().expect("utf-8 path");
    let out = env.hrun(&["actions", "import", dir, &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!env.entry().join("tree/.git").exists());
    let record = record(&env.entry());
    assert_eq!(record["source"], "import");
    assert_eq!(record["sha256"], record["tree_sha256"]);

    let out = env.hrun(&["actions", "ls"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    assert!(listing.contains(&format!("octo/hello@{SHA}")), "{listing}");
    assert!(listing.contains("import"), "{listing}");

    let out = env.hrun(&["actions", "ls", "--format", "json", "--verify"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    assert_eq!(json[0]["ref"], format!("octo/hello@{SHA}").as_str());
    assert_eq!(json[0]["status"], "ok");
    assert_eq!(json[0]["sha256"], record["sha256"]);
}

#[test]
fn ls_reports_a_tampered_or_incomplete_entry_and_exits_2() {
    let env = Env::new("http://127.0.0.1:9".to_string());
    let copy = tempfile::tempdir().expect("temp dir");
    std::fs::write(copy.path().join("action.yml"), ACTION).expect("write");
    let dir = copy.path().to_str().expect("utf-8 path");
    let out = env.hrun(&["actions", "import", dir, &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    std::fs::write(env.entry().join("tree/action.yml"), "tampered").expect("tamper");
    let out = env.hrun(&["actions", "ls", "--verify", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["status"], "corrupt");
    assert!(json[0]["problem"]
        .as_str()
        .is_some_and(|p| p.contains("not the recorded")));

    std::fs::remove_file(env.entry().join("hrun-action.json")).expect("rm record");
    let out = env.hrun(&["actions", "ls"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("CORRUPT"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("hrun-action.json is missing"));

    // Importing again replaces the corrupt entry.
    let out = env.hrun(&["actions", "import", dir, &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("replaced the corrupt entry"));
    assert_eq!(
        env.hrun(&["actions", "ls", "--verify"]).status.code(),
        Some(0)
    );
}

#[test]
fn resolve_names_the_pull_command_for_a_missing_action_then_finds_it_once_pulled() {
    let server = github(tarball(&[]));
    let env = Env::new(server.url());
    let workspace = tempfile::tempdir().expect("temp dir");
    let ws = workspace.path().to_str().expect("utf-8 path");
    let uses = format!("octo/hello/bin@{SHA}");
    let out = env.hrun(&["actions", "resolve", &uses, "--workspace", ws]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "fetch it with `hrun actions pull octo/hello@{SHA}`"
        )),
        "{err}"
    );
    assert!(server.seen().is_empty(), "resolve never downloads");

    let out = env.hrun(&["actions", "pull", &format!("octo/hello@{SHA}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // `bin/action.yml` is a link to the root's action.yml, inside the tree.
    let out = env.hrun(&["actions", "resolve", &uses, "--workspace", ws]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["kind"], "composite");
    assert_eq!(json["origin"]["store"]["source"], "api");
    assert_eq!(json["origin"]["store"]["sha"], SHA);
}

#[test]
fn resolve_reads_local_actions_from_the_workspace() {
    let env = Env::new("http://127.0.0.1:9".to_string());
    let workspace = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(workspace.path().join(".github/actions/hello")).expect("mkdir");
    std::fs::write(
        workspace.path().join(".github/actions/hello/action.yml"),
        ACTION,
    )
    .expect("write");
    let ws = workspace.path().to_str().expect("utf-8 path");
    let out = env.hrun(&[
        "actions",
        "resolve",
        "./.github/actions/hello",
        "--workspace",
        ws,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["origin"], "workspace");
    assert_eq!(json["using"], "composite");
}
