//! A git repository written from a list of commits: the messy fixture's release history
//! (`kbrel-synth --messy`, the adoption tests). kbrel itself only reads git (`kbrel::git`).

use std::path::Path;

use git2::{ObjectType, Oid, Repository};

use crate::content::SourceFile;
use crate::error::Error;

/// Why [`write_history`] failed: what it was doing when git refused (git's message), or a
/// file of the work tree that could not be written (kbrel-core's I/O error).
#[derive(Debug)]
pub enum RepoError {
    Git { what: String, message: String },
    Io(Error),
}

impl std::fmt::Display for RepoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoError::Git { what, message } => write!(f, "{what}: {message}"),
            RepoError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RepoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RepoError::Git { .. } => None,
            RepoError::Io(e) => e.source(),
        }
    }
}

type Result<T> = std::result::Result<T, RepoError>;

fn git_err(what: impl std::fmt::Display, e: git2::Error) -> RepoError {
    RepoError::Git {
        what: what.to_string(),
        message: e.message().to_string(),
    }
}

/// One commit for [`write_history`]: the whole tree (paths relative to the repository root),
/// its message, its author/committer time, and an optional lightweight tag on it.
#[derive(Debug, Clone)]
pub struct HistoryCommit {
    pub files: Vec<SourceFile>,
    pub message: String,
    /// Seconds since the epoch (UTC).
    pub time: i64,
    pub tag: Option<String>,
}

/// Create a repository in `dir` (which must not hold one) with `commits` on branch `main`, in
/// order, each tagged as asked; the last one's files are written to the work tree and the index. Author and committer are
/// `Acme Docs <docs@example.com>` at the commit's time, so the same commits give the same
/// object ids everywhere. Used by test fixtures (`messy`) and `kbrel-synth --messy`.
pub fn write_history(dir: &Path, commits: &[HistoryCommit]) -> Result<()> {
    let mut init = git2::RepositoryInitOptions::new();
    init.initial_head("main").no_reinit(true);
    let repo = Repository::init_opts(dir, &init)
        .map_err(|e| git_err(format!("creating a repository in {}", dir.display()), e))?;
    let mut parent: Option<Oid> = None;
    for c in commits {
        let tree = write_tree(&repo, &c.files)?;
        let tree = repo
            .find_tree(tree)
            .map_err(|e| git_err("reading a written tree", e))?;
        let sig =
            git2::Signature::new("Acme Docs", "docs@example.com", &git2::Time::new(c.time, 0))
                .map_err(|e| git_err("signature", e))?;
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| repo.find_commit(*p))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| git_err("reading the parent commit", e))?;
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let id = repo
            .commit(Some("HEAD"), &sig, &sig, &c.message, &tree, &refs)
            .map_err(|e| git_err("committing", e))?;
        if let Some(tag) = &c.tag {
            let obj = repo
                .find_object(id, Some(ObjectType::Commit))
                .map_err(|e| git_err("reading a commit", e))?;
            repo.tag_lightweight(tag, &obj, false)
                .map_err(|e| git_err(format!("creating tag `{tag}`"), e))?;
        }
        parent = Some(id);
    }
    // The work tree and the index: the last commit's files (a checkout of HEAD would compare
    // against HEAD itself and write nothing).
    if let Some(last) = commits.last() {
        for f in &last.files {
            let path = dir.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| RepoError::Io(Error::io("create directory", parent, e)))?;
            }
            std::fs::write(&path, &f.bytes)
                .map_err(|e| RepoError::Io(Error::io("write", &path, e)))?;
        }
        let tree = repo
            .head()
            .and_then(|h| h.peel_to_tree())
            .map_err(|e| git_err("reading HEAD", e))?;
        let mut index = repo.index().map_err(|e| git_err("opening the index", e))?;
        index
            .read_tree(&tree)
            .and_then(|_| index.write())
            .map_err(|e| git_err("writing the index", e))?;
    }
    Ok(())
}

/// Write the tree of `files` (nested folders from `/`-separated paths) into the object database.
fn write_tree(repo: &Repository, files: &[SourceFile]) -> Result<Oid> {
    #[derive(Default)]
    struct Dir<'a> {
        files: Vec<(&'a str, &'a [u8])>,
        dirs: std::collections::BTreeMap<&'a str, Dir<'a>>,
    }
    fn insert<'a>(dir: &mut Dir<'a>, path: &'a str, bytes: &'a [u8]) {
        match path.split_once('/') {
            Some((head, rest)) => insert(dir.dirs.entry(head).or_default(), rest, bytes),
            None => dir.files.push((path, bytes)),
        }
    }
    fn write(repo: &Repository, dir: &Dir) -> std::result::Result<Oid, git2::Error> {
        let mut tb = repo.treebuilder(None)?;
        for (name, bytes) in &dir.files {
            let blob = repo.blob(bytes)?;
            tb.insert(name, blob, 0o100644)?;
        }
        for (name, sub) in &dir.dirs {
            let id = write(repo, sub)?;
            tb.insert(name, id, 0o040000)?;
        }
        tb.write()
    }
    let mut root = Dir::default();
    for f in files {
        insert(&mut root, &f.path, &f.bytes);
    }
    write(repo, &root).map_err(|e| git_err("writing a tree", e))
}
