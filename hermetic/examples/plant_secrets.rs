//! Writes the labeled corpus of planted synthetic secrets (the one `tests/scan_corpus.rs` checks)
//! for `ci/bench/scan.sh`: `plant_secrets DIR LABELS [SEED] [SCALE]` fills DIR and writes the
//! labels to LABELS as `file<TAB>line<TAB>rule` lines.

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::io::Write;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(labels_path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: plant_secrets DIR LABELS [SEED] [SCALE]");
        std::process::exit(2);
    };
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20240501);
    let scale = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let labels = corpus::generate(&dir, seed, scale)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(labels_path)?);
    for l in &labels {
        writeln!(out, "{}\t{}\t{}", l.file, l.line, l.rule)?;
    }
    out.flush()?;
    eprintln!("{} secrets planted in {}", labels.len(), dir.display());
    Ok(())
}
