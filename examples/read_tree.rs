//! Read a knowledge base's content tree at a git revision the way `kbrel` does, and nothing
//! else (no parsing, no lint): the read side of the git benchmark in `bench/run.sh`, compared
//! with `git archive <rev> | tar -x`.
//!
//! `cargo run --release --example read_tree -- <repository> <revision> <content root>`
//! prints the number of markdown files and bytes read from the object database.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, rev, root] = args.as_slice() else {
        eprintln!("usage: read_tree <repository> <revision> <content root>");
        return ExitCode::from(2);
    };
    let read = kbrel::git::Repo::discover(Path::new(repo)).and_then(|r| r.read_tree(rev, root));
    match read {
        Ok(tree) => {
            let bytes: usize = tree.files.iter().map(|f| f.bytes.len()).sum();
            println!(
                "{} markdown files, {bytes} bytes, {} files in all, at {}",
                tree.files.len(),
                tree.all.len(),
                tree.commit
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("read_tree: error: {e}");
            ExitCode::from(2)
        }
    }
}
