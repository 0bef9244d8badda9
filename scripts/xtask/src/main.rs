//! `cargo run -p xtask` regenerates man/, completions/ and the job.json schema; see lib.rs.
fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (path, bytes) in xtask::render_all()? {
        let full = root.join(&path);
        std::fs::create_dir_all(full.parent().unwrap())?;
        std::fs::write(&full, bytes)?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
