//! The store on disk: records, idempotent and concurrent adds, corruption found and replaced,
//! listing.

use super::*;
use crate::actions::error::ActionStoreError;

const SHA: &str = "b4ffde65f46336ab88eb53be808477a3936bae11";
const ACTION: &str = "name: a\ndescription: a\nruns:\n  using: node20\n  main: index.js\n";

fn pin() -> PinnedRepo {
    PinnedRepo::new("Octo", "Hello", SHA).expect("pin")
}

fn source_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("action.yml"), ACTION).expect("write");
    std::fs::write(dir.path().join("index.js"), "console.log(1)\n").expect("write");
    dir
}

fn staging_is_empty(store: &ActionStore) -> bool {
    std::fs::read_dir(store.actions_dir().join(STAGING_DIR))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

#[test]
fn import_adds_an_entry_with_its_record_and_the_digest_of_the_tree() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let from = source_dir();
    let outcome = store.import(from.path(), &pin()).expect("import");
    let AddOutcome::Added(entry) = outcome else {
        panic!("not added: {outcome:?}");
    };
    assert_eq!(entry.dir, cache.path().join("actions/octo/hello").join(SHA));
    assert_eq!(
        std::fs::read_to_string(entry.tree().join("action.yml")).expect("copied"),
        ACTION
    );
    let on_disk: ActionRecord = serde_json::from_str(
        &std::fs::read_to_string(entry.dir.join(RECORD_FILE)).expect("record"),
    )
    .expect("valid record");
    assert_eq!(on_disk, entry.record);
    assert_eq!(on_disk.source, ActionSource::Import);
    assert_eq!(
        (on_disk.owner.as_str(), on_disk.repo.as_str()),
        ("Octo", "Hello")
    );
    let digest = tree_digest(from.path(), 1000).expect("digest");
    assert_eq!(on_disk.sha256, digest);
    assert_eq!(on_disk.tree_sha256, digest);
    assert!(staging_is_empty(&store));
}

#[test]
fn a_second_add_of_a_sound_entry_changes_nothing() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let from = source_dir();
    let first = store.import(from.path(), &pin()).expect("import");
    let lower = PinnedRepo::new("octo", "hello", SHA).expect("pin");
    let second = store.import(from.path(), &lower).expect("import again");
    assert_eq!(second, AddOutcome::AlreadyPresent(first.entry().clone()));
}

#[test]
fn missing_record_or_tree_is_reported_as_corrupt() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let entry = store
        .import(source_dir().path(), &pin())
        .expect("import")
        .entry()
        .clone();
    std::fs::remove_dir_all(entry.tree()).expect("rm tree");
    let err = store.get(&pin()).expect_err("corrupt");
    assert!(
        matches!(&err, ActionStoreError::Corrupt { problem, .. } if problem.contains("tree/")),
        "{err}"
    );
    std::fs::remove_file(entry.dir.join(RECORD_FILE)).expect("rm record");
    let err = store.get(&pin()).expect_err("corrupt");
    let text = err.to_string();
    assert!(text.contains("hrun-action.json is missing"), "{text}");
    assert!(
        text.contains(&format!("hrun actions pull {}", pin())),
        "{text}"
    );
}

#[test]
fn verify_detects_a_changed_file_and_the_next_import_replaces_the_entry() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let from = source_dir();
    let entry = store
        .import(from.path(), &pin())
        .expect("import")
        .entry()
        .clone();
    store.verify(&entry).expect("sound");
    std::fs::write(entry.tree().join("index.js"), "evil()\n").expect("tamper");
    let err = store.verify(&entry).expect_err("tampered");
    assert!(
        matches!(&err, ActionStoreError::Corrupt { problem, .. } if problem.contains("not the recorded")),
        "{err}"
    );
    let outcome = store.import(from.path(), &pin()).expect("re-import");
    assert!(
        matches!(outcome, AddOutcome::Replaced { .. }),
        "{outcome:?}"
    );
    store.verify(outcome.entry()).expect("sound again");
    assert!(staging_is_empty(&store));
}

#[test]
fn concurrent_adds_of_one_commit_leave_one_sound_entry() {
    let cache = tempfile::tempdir().expect("temp dir");
    let from = source_dir();
    let outcomes: Vec<AddOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let store = ActionStore::new(cache.path());
                let from = from.path();
                scope.spawn(move || store.import(from, &pin()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("import"))
            .collect()
    });
    let added = outcomes
        .iter()
        .filter(|o| matches!(o, AddOutcome::Added(_)))
        .count();
    assert_eq!(added, 1, "{outcomes:?}");
    let store = ActionStore::new(cache.path());
    assert!(store.get_verified(&pin()).expect("sound").is_some());
    assert!(staging_is_empty(&store));
}

#[test]
fn a_refused_import_leaves_no_entry_and_no_staging() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let from = source_dir();
    std::os::unix::fs::symlink("/etc/passwd", from.path().join("p")).expect("link");
    let err = store.import(from.path(), &pin()).expect_err("refused");
    assert!(matches!(err, ActionStoreError::Import { .. }), "{err}");
    assert_eq!(store.get(&pin()).expect("no entry"), None);
    assert!(staging_is_empty(&store));
}

#[test]
fn list_shows_sound_and_corrupt_entries_and_skips_staging() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    store.import(source_dir().path(), &pin()).expect("import");
    let stray = store.actions_dir().join("octo/hello/not-a-sha");
    std::fs::create_dir_all(&stray).expect("mkdir");
    std::fs::create_dir_all(store.actions_dir().join(STAGING_DIR).join("x")).expect("mkdir");
    let listed = store.list(false).expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let sound: Vec<_> = listed
        .iter()
        .filter_map(|l| l.status.as_ref().ok())
        .collect();
    assert_eq!(sound.len(), 1);
    assert!(sound[0].pin.same_as(&pin()));
    let bad = listed
        .iter()
        .find(|l| l.dir == stray)
        .expect("stray listed");
    assert!(bad.status.is_err());
}

#[test]
fn cache_dir_comes_from_hrun_cache_or_home() {
    // Only reads the environment: asserts the layout under a given directory.
    let store = ActionStore::new("/c");
    assert_eq!(
        store.entry_dir(&pin()),
        PathBuf::from(format!("/c/actions/octo/hello/{SHA}"))
    );
}

#[test]
fn staging_left_by_a_killed_process_is_removed_once_a_day_old() {
    let cache = tempfile::tempdir().expect("temp dir");
    let store = ActionStore::new(cache.path());
    let staging = store.actions_dir().join(STAGING_DIR);
    let (old, young) = (staging.join("pull-old"), staging.join("pull-young"));
    std::fs::create_dir_all(old.join("entry/tree")).expect("mkdir");
    std::fs::create_dir_all(&young).expect("mkdir");
    let two_days = std::time::Duration::from_secs(2 * 24 * 60 * 60);
    let then = SystemTime::now() - two_days;
    std::fs::File::open(&old)
        .and_then(|f| f.set_modified(then))
        .expect("age the leftover");
    store.import(source_dir().path(), &pin()).expect("import");
    assert!(!old.exists());
    assert!(young.exists());
}
