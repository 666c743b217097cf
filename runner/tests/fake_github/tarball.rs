//! Repository tarballs as GitHub's API serves them, built by the tests.

use std::io::Write;

/// A repository tarball as GitHub's API serves it: a pax global header naming the commit, then
/// everything under one `owner-repo-<short sha>/` directory.
pub fn action_tarball(name: &str, sha: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let record = format!("52 comment={sha}\n");
    let mut global = tar::Header::new_ustar();
    global.set_entry_type(tar::EntryType::XGlobalHeader);
    global.set_path("pax_global_header").expect("path");
    global.set_size(record.len() as u64);
    global.set_mode(0o644);
    global.set_cksum();
    builder
        .append(&global, record.as_bytes())
        .expect("global header");
    let top = format!("{}-{}/", name.replace('/', "-"), &sha[..7]);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    builder
        .append_data(&mut dir, &top, std::io::empty())
        .expect("dir");
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(text.len() as u64);
        builder
            .append_data(&mut header, format!("{top}{path}"), text.as_bytes())
            .expect("file");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}
