//! Git access through libgit2: read a content tree at any revision straight from the object
//! database (no checkout), list release tags, record the commit a release came from, create
//! annotated tags, and find the commits that touched a document. The only user of `git2`.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::changelog::CommitInfo;
use crate::content::SourceFile;
// Reading content from git says what kbrel-core says about content: its error.
use crate::error::{CoreError as Error, GitError, MissingRoot};

type Result<T, E = Error> = std::result::Result<T, E>;
use crate::findings::{Code, Finding};

/// An open repository.
///
/// What it resolves is remembered for the life of the handle, as one command reads one
/// repository: revisions (each lookup tries several reference names and re-checks the
/// configuration files), tags, and the work tree's canonical path (one `readlink` per path
/// component). [`Repo::create_tag`], the one write, forgets the revisions and tags.
pub struct Repo {
    repo: Repository,
    commits: RefCell<HashMap<String, Oid>>,
    tags: RefCell<HashMap<String, Option<String>>>,
    /// The work tree, canonicalised.
    workdir: OnceCell<PathBuf>,
    /// [`canonical_prefix`] of the absolute paths asked about.
    canonical: RefCell<HashMap<PathBuf, PathBuf>>,
}

/// A tag that names a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub name: String,
    pub commit: String,
    /// Seconds since the epoch: the tagger's time for annotated tags, else the commit time.
    pub time: i64,
    pub annotated: bool,
}

/// A content tree read from the object database.
pub struct TreeContent {
    pub commit: String,
    pub files: Vec<SourceFile>,
    pub all: BTreeSet<String>,
    /// Symlinks and submodules found in the tree: skipped, never followed.
    pub findings: Vec<Finding>,
    /// The blob of every file of `all` that is not a document (the assets among them are
    /// hashed by [`tree_assets`]).
    pub others: BTreeMap<String, Oid>,
    /// The symbolic links of the tree (an asset's path among them is KB054).
    pub links: BTreeSet<String>,
}

/// Whether libgit2 checks that every object it reads hashes to its id (its default: on).
///
/// A process-wide libgit2 setting, so the library never changes it on its own: the caller
/// decides, once, before reading. The `kbrel` binary turns it off only for read-only commands
/// whose output is not stored (`diff`, `changelog`, `status`) — git itself does not re-hash
/// the objects it reads, and the check was about a quarter of `diff git:A git:B` — and leaves
/// it on for everything that writes a registry or vouches for content (`publish`, `import`,
/// `check`, `verify`, …).
pub fn verify_object_hashes(enabled: bool) {
    git2::opts::strict_hash_verification(enabled);
}

fn git_err(what: impl std::fmt::Display, e: git2::Error) -> Error {
    GitError::Git {
        what: what.to_string(),
        message: e.message().to_string(),
    }
    .into()
}

/// The first bytes of a Git LFS pointer file.
const LFS_POINTER: &[u8] = b"version https://git-lfs.github.com/spec/";

impl Repo {
    /// Open the repository containing `path` (work tree or bare).
    pub fn discover(path: &Path) -> Result<Repo> {
        let repo = Repository::discover(path).map_err(|e| {
            git_err(
                format!("`{}` is not inside a git repository", path.display()),
                e,
            )
        })?;
        Ok(Repo::with(repo))
    }

    /// Like [`discover`](Self::discover) but `None` outside a repository.
    pub fn try_discover(path: &Path) -> Option<Repo> {
        Repository::discover(path).ok().map(Repo::with)
    }

    fn with(repo: Repository) -> Repo {
        Repo {
            repo,
            commits: RefCell::default(),
            tags: RefCell::default(),
            workdir: OnceCell::new(),
            canonical: RefCell::default(),
        }
    }

    /// The work tree `wd`, canonicalised once.
    fn canonical_workdir(&self, wd: &Path) -> Result<&Path> {
        if let Some(w) = self.workdir.get() {
            return Ok(w);
        }
        let w = wd.canonicalize().map_err(|e| Error::io("resolve", wd, e))?;
        Ok(self.workdir.get_or_init(|| w))
    }

    /// [`canonical_prefix`] of an absolute path, remembered.
    fn canonical_prefix(&self, abs: PathBuf) -> PathBuf {
        if let Some(c) = self.canonical.borrow().get(&abs) {
            return c.clone();
        }
        let c = canonical_prefix(&abs);
        (self.canonical.borrow_mut()).insert(abs, c.clone());
        c
    }

    pub fn is_bare(&self) -> bool {
        self.repo.is_bare()
    }

    pub fn workdir(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    /// `path` relative to the work tree root, `/`-separated (for bare repositories the path is
    /// taken as already relative).
    pub fn relative(&self, path: &Path) -> Result<String> {
        let rel: PathBuf = match self.repo.workdir() {
            Some(wd) => {
                let wd = self.canonical_workdir(wd)?;
                let abs = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
                let abs = self.canonical_prefix(abs);
                abs.strip_prefix(wd).map(Path::to_path_buf).map_err(|_| {
                    Error::from(GitError::OutsideRepository {
                        path: path.to_path_buf(),
                        repo: wd.to_path_buf(),
                    })
                })?
            }
            // A bare repository: a path inside the repository folder (e.g. `--config
            // repo.git/kbrel.toml`) is taken relative to it; any other relative path as it is.
            None if path.is_absolute() => {
                let git_dir = self
                    .repo
                    .path()
                    .canonicalize()
                    .map_err(|e| Error::io("resolve", self.repo.path(), e))?;
                canonical_prefix(path)
                    .strip_prefix(&git_dir)
                    .map(Path::to_path_buf)
                    .map_err(|_| {
                        Error::from(GitError::OutsideBareRepository {
                            path: path.to_path_buf(),
                            repo: git_dir.clone(),
                        })
                    })?
            }
            None => path.to_path_buf(),
        };
        let s = rel
            .to_str()
            .ok_or_else(|| GitError::PathNotUtf8 { path: rel.clone() })?
            .replace('\\', "/");
        Ok(s.trim_start_matches("./").trim_end_matches('/').to_string())
    }

    fn commit_of(&self, rev: &str) -> Result<git2::Commit<'_>> {
        let known = self.commits.borrow().get(rev).copied();
        if let Some(c) = known.and_then(|id| self.repo.find_commit(id).ok()) {
            return Ok(c);
        }
        let obj = self.repo.revparse_single(rev).map_err(|e| {
            let hint = if self.repo.is_shallow() {
                " (this is a shallow clone; the commit may be missing: fetch with --unshallow)"
            } else {
                ""
            };
            Error::UnknownVersion {
                name: format!("git:{rev}"),
                known: format!("no such revision in the repository: {}{hint}", e.message()),
            }
        })?;
        let commit = obj
            .peel_to_commit()
            .map_err(|e| git_err(format!("revision `{rev}` does not name a commit"), e))?;
        (self.commits.borrow_mut()).insert(rev.to_string(), commit.id());
        Ok(commit)
    }

    /// Resolve a revision to a full commit id.
    pub fn resolve(&self, rev: &str) -> Result<String> {
        Ok(self.commit_of(rev)?.id().to_string())
    }

    /// The tree of `root` (relative to the repository root) at `commit`.
    fn root_tree<'r>(
        &'r self,
        commit: &git2::Commit<'r>,
        rev: &str,
        root: &str,
    ) -> Result<git2::Tree<'r>> {
        let tree = commit
            .tree()
            .map_err(|e| git_err(format!("tree of `{rev}`"), e))?;
        Ok(if root.is_empty() || root == "." {
            tree
        } else {
            let entry = tree.get_path(Path::new(root)).map_err(|_| {
                Error::ContentRootMissing(Box::new(MissingRoot {
                    root: root.to_string(),
                    rev: rev.to_string(),
                    commit: commit.id().to_string(),
                    version: None,
                    entry: None,
                    found: None,
                }))
            })?;
            entry
                .to_object(&self.repo)
                .and_then(|o| o.peel_to_tree())
                .map_err(|_| Error::Content {
                    path: PathBuf::from(root),
                    message: format!("`{root}` is not a directory at `{rev}`"),
                })?
        })
    }

    /// Read the files below `root` (relative to the repository root) at `rev`.
    pub fn read_tree(&self, rev: &str, root: &str) -> Result<TreeContent> {
        let commit = self.commit_of(rev)?;
        let sub = self.root_tree(&commit, rev, root)?;
        let mut wanted: Vec<(String, Oid)> = Vec::new();
        let mut all = BTreeSet::new();
        let mut findings = Vec::new();
        let mut others = BTreeMap::new();
        let mut links = BTreeSet::new();
        let mut failure: Option<Error> = None;
        let in_root = |p: &str| {
            if root.is_empty() || root == "." {
                p.to_string()
            } else {
                format!("{root}/{p}")
            }
        };
        sub.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let Ok(name) = std::str::from_utf8(entry.name_bytes()) else {
                failure = Some(Error::Content {
                    path: PathBuf::from(in_root(&format!(
                        "{dir}{}",
                        entry.name_bytes().escape_ascii()
                    ))),
                    message: format!("the file name is not valid UTF-8 at `{rev}`; rename it"),
                });
                return TreeWalkResult::Abort;
            };
            let path = format!("{dir}{name}");
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    return if name.starts_with('.') || name == "node_modules" {
                        TreeWalkResult::Skip
                    } else {
                        TreeWalkResult::Ok
                    };
                }
                Some(ObjectType::Commit) => {
                    findings.push(Finding::warning(
                        Code::NoFrontMatter,
                        &path,
                        1,
                        "submodule in the content tree: skipped".into(),
                    ));
                    return TreeWalkResult::Ok;
                }
                Some(ObjectType::Blob) => {}
                _ => return TreeWalkResult::Ok,
            }
            if name.starts_with('.') {
                return TreeWalkResult::Ok;
            }
            if entry.filemode() == 0o120000 {
                findings.push(Finding::warning(
                    Code::NoFrontMatter,
                    &path,
                    1,
                    "symlink in the content tree: skipped, never followed".into(),
                ));
                links.insert(path);
                return TreeWalkResult::Ok;
            }
            all.insert(path.clone());
            if crate::files::is_document_name(name) {
                wanted.push((path, entry.id()));
            } else {
                others.insert(path, entry.id());
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| {
            failure
                .take()
                .unwrap_or_else(|| git_err(format!("reading `{root}` at `{rev}`"), e))
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let files = self.read_blobs(&wanted, rev, &in_root)?;
        Ok(TreeContent {
            commit: commit.id().to_string(),
            files,
            all,
            findings,
            others,
            links,
        })
    }

    /// The markdown files that differ between the content tree `root_a` at `rev_a` and
    /// `root_b` at `rev_b`, found as git finds them: subtrees with the same id on both sides
    /// are skipped unread, and only the blobs that differ (added, removed, modified, or whose
    /// mode changed) are read — plus, on both sides, the files `also` names (paths relative
    /// to the content roots) when they exist there. The same entries as [`read_tree`]
    /// (`Self::read_tree`) reads are considered: names starting with `.`, `node_modules`
    /// folders, symlinks and submodules are left out; and of those, only the paths each
    /// side's `keep` accepts are read. Each file read is passed to `each` with its side (0 for
    /// `a`, 1 for `b`), on rayon's workers while the next ones are read
    /// ([`Self::read_blob_sides`]).
    pub fn changed_files<T: Send>(
        &self,
        (rev_a, root_a): (&str, &str),
        (rev_b, root_b): (&str, &str),
        also: &BTreeSet<String>,
        (keep_a, keep_b): (&Keep<'_>, &Keep<'_>),
        each: &(dyn Fn(usize, SourceFile) -> T + Sync),
    ) -> Result<ChangedFiles<T>> {
        let (ca, cb) = (self.commit_of(rev_a)?, self.commit_of(rev_b)?);
        let (ta, tb) = (
            self.root_tree(&ca, rev_a, root_a)?,
            self.root_tree(&cb, rev_b, root_b)?,
        );
        let mut delta = TreeDelta::default();
        if ta.id() != tb.id() {
            let odb = self
                .repo
                .odb()
                .map_err(|e| git_err("the object database", e))?;
            let ids = (Some(ta.id()), Some(tb.id()));
            diff_trees(&odb, ids, "", (rev_a, rev_b), &mut delta)?;
        }
        let TreeDelta {
            mut old,
            mut new,
            other,
            mut old_others,
            mut new_others,
        } = delta;
        old.retain(|(p, _)| keep_a(p));
        new.retain(|(p, _)| keep_b(p));
        old_others.retain(|(p, _)| keep_a(p));
        new_others.retain(|(p, _)| keep_b(p));
        for (tree, list, keep) in [(&ta, &mut old, keep_a), (&tb, &mut new, keep_b)] {
            let known: BTreeSet<String> = list.iter().map(|(p, _)| p.clone()).collect();
            for p in also {
                if known.contains(p) || p.split('/').any(|c| c.starts_with('.')) || !keep(p) {
                    continue;
                }
                if let Ok(e) = tree.get_path(Path::new(p))
                    && e.kind() == Some(ObjectType::Blob)
                    && e.filemode() != 0o120000
                {
                    list.push((p.clone(), e.id()));
                }
            }
        }
        let in_root = |root: &str, p: &str| {
            if root.is_empty() || root == "." {
                p.to_string()
            } else {
                format!("{root}/{p}")
            }
        };
        let in_a: &(dyn Fn(&str) -> String + Sync) = &|p| in_root(root_a, p);
        let in_b: &(dyn Fn(&str) -> String + Sync) = &|p| in_root(root_b, p);
        let sides = [(old.as_slice(), rev_a, in_a), (new.as_slice(), rev_b, in_b)];
        let mut read = self.read_blob_sides(&sides, each)?;
        let (new, old) = (
            read.pop().unwrap_or_default(),
            read.pop().unwrap_or_default(),
        );
        Ok(ChangedFiles {
            old_commit: ca.id().to_string(),
            new_commit: cb.id().to_string(),
            old,
            new,
            other,
            old_others,
            new_others,
        })
    }

    /// What differs between `rev` and the work tree below the folders `dirs` (repository
    /// paths; `""` is the whole repository), as `git status` finds it: the index's stat cache
    /// tells which files changed, so unchanged files are neither read nor hashed. Each entry is
    /// a repository path, its blob at `rev` (a regular file there, else `None`), and whether
    /// a file is in the work tree at that path now. Untracked and ignored files are included,
    /// as kbrel reads a content folder whatever `.gitignore` says. `None` when git cannot tell
    /// it this way and the folders must be read whole: a bare repository, an ignored or
    /// nested-repository folder, a symlink or an unreadable file in the work tree. The
    /// documents are returned; the other files (assets, anything else) go to `other`.
    fn worktree_changes(
        &self,
        rev: &str,
        dirs: &[&str],
        other: &mut Vec<WorkChange>,
    ) -> Result<Option<Vec<WorkChange>>> {
        use git2::{Delta, FileMode};
        let Some(workdir) = self.repo.workdir() else {
            return Ok(None);
        };
        let commit = self.commit_of(rev)?;
        let tree = commit
            .tree()
            .map_err(|e| git_err(format!("tree of `{rev}`"), e))?;
        let mut opts = git2::DiffOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(true)
            .recurse_ignored_dirs(false)
            .include_typechange(true)
            .include_unreadable(true)
            .disable_pathspec_match(true);
        if !dirs.iter().any(|d| d.is_empty()) {
            for d in dirs {
                opts.pathspec(*d);
            }
        }
        let diff = self
            .repo
            .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut opts))
            .map_err(|e| git_err(format!("comparing `{rev}` with the work tree"), e))?;
        let mut out = Vec::new();
        for d in diff.deltas() {
            let (of, nf) = (d.old_file(), d.new_file());
            let path = nf.path_bytes().or(of.path_bytes()).unwrap_or_default();
            let Ok(path) = std::str::from_utf8(path) else {
                return Ok(None);
            };
            let inside = dirs.iter().any(|dir| {
                dir.is_empty()
                    || path
                        .strip_prefix(dir)
                        .is_some_and(|r| r.is_empty() || r.starts_with('/'))
            });
            if !inside {
                continue;
            }
            let path = path.trim_end_matches('/');
            let skipped = |path: &str| path.split('/').any(skipped_entry);
            let new_kind = match d.status() {
                Delta::Deleted => None,
                Delta::Unreadable => return Ok(None),
                _ => Some(nf.mode()),
            };
            match new_kind {
                // A folder git does not descend into (ignored, or another repository).
                Some(FileMode::Tree | FileMode::Commit) | Some(FileMode::Unreadable)
                    if !skipped(path) =>
                {
                    return Ok(None);
                }
                // kbrel follows a symlink in the work tree, where git never does.
                Some(FileMode::Link) if !skipped(path) => return Ok(None),
                _ => {}
            }
            if skipped(path) {
                continue;
            }
            let old = match d.status() {
                Delta::Added | Delta::Untracked | Delta::Ignored => None,
                _ if matches!(of.mode(), FileMode::Blob | FileMode::BlobExecutable) => {
                    Some(of.id())
                }
                _ => None,
            };
            let new = matches!(new_kind, Some(FileMode::Blob | FileMode::BlobExecutable))
                && workdir.join(path).is_file();
            if crate::files::is_document_name(path) {
                out.push((path.to_string(), old, new));
            } else {
                other.push((path.to_string(), old, new));
            }
        }
        Ok(Some(out))
    }

    /// The paths of the documents below `root` at `rev` that [`read_tree`]
    /// (`Self::read_tree`) would read, without reading them.
    pub fn markdown_paths(&self, rev: &str, root: &str) -> Result<Vec<String>> {
        let commit = self.commit_of(rev)?;
        let sub = self.root_tree(&commit, rev, root)?;
        let mut out = Vec::new();
        sub.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let Ok(name) = std::str::from_utf8(entry.name_bytes()) else {
                return TreeWalkResult::Skip;
            };
            if name.starts_with('.')
                || (name == "node_modules" && entry.kind() == Some(ObjectType::Tree))
            {
                return TreeWalkResult::Skip;
            }
            if entry.kind() == Some(ObjectType::Blob)
                && entry.filemode() != 0o120000
                && crate::files::is_document_name(name)
            {
                out.push(format!("{dir}{name}"));
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| git_err(format!("reading `{root}` at `{rev}`"), e))?;
        Ok(out)
    }

    /// The blobs `wanted` (path, id) as files, read in parallel; errors are reported for the
    /// first failing path in tree order. libgit2 handles are not shared between threads, so
    /// the list is cut into two runs per thread, each read through a handle of its own
    /// (`map_init` would open the repository once per rayon job, and opening reads the
    /// configuration each time). Unlike a change's blobs ([`Self::read_blob_sides`]), a whole
    /// tree has nothing to do with what is read but keep it, so it gets as many readers as
    /// threads: `check --from-git` of a synth tree of 100,000 documents took 4.7 s this way
    /// and 6.4 s with one reader (a deltified messy tree: 3.0 s either way).
    fn read_blobs(
        &self,
        wanted: &[(String, Oid)],
        rev: &str,
        in_root: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<Vec<SourceFile>> {
        use rayon::prelude::*;
        let read = |repo: &Repository, (path, oid): &(String, Oid)| {
            read_blob(repo, path, *oid, rev, in_root)
        };
        // A few blobs, or a single thread: read on this thread, since opening the repository
        // once per worker would cost more than reading them.
        if wanted.len() <= 64 || rayon::current_num_threads() == 1 {
            return wanted.iter().map(|w| read(&self.repo, w)).collect();
        }
        let git_dir = self.repo.path().to_path_buf();
        let run = wanted.len().div_ceil(2 * rayon::current_num_threads());
        let parts: Vec<Result<Vec<SourceFile>>> = wanted
            .par_chunks(run)
            .map(|part| {
                let repo = reopen(&git_dir)?;
                part.iter().map(|w| read(&repo, w)).collect()
            })
            .collect();
        let mut all = Vec::with_capacity(wanted.len());
        for part in parts {
            all.extend(part?);
        }
        Ok(all)
    }

    /// The blobs of each side (paths and blobs, read at the side's revision), each one
    /// passed to `each` with its side's index, each side's results in its order, the first
    /// error in that order.
    ///
    /// The blobs are read by one reader (for a small change this thread, through this handle;
    /// else one of rayon's workers, through a handle of its own), and batches of what it read
    /// go to the other workers for `each` while it reads on. libgit2 gains nothing from a
    /// second reader on a deltified pack: its threads share each pack's delta-base cache
    /// (16 MiB, behind one lock) and evict each other's bases, so two readers took as long as
    /// one with 1.5 times the CPU for 28,414 changed blobs (BENCHMARKS.md, "Sixth pass"); the
    /// work done with what is read is what runs in parallel.
    ///
    /// A path on several sides has its versions read one right after the other, as git's
    /// diff reads a pair: a changed document's blob is often stored as a delta of its other
    /// version, and reading one whole side before the other evicted the bases of a large
    /// change, which were then inflated twice (1.7 times the bytes `git diff` inflates, for
    /// 3,585 changed documents).
    fn read_blob_sides<T: Send>(
        &self,
        sides: &[BlobSide<'_>],
        each: &(dyn Fn(usize, SourceFile) -> T + Sync),
    ) -> Result<Vec<Vec<T>>> {
        // (side, index) in reading order: each path's versions together.
        let at: Vec<HashMap<&str, usize>> = (sides.iter())
            .map(|(list, ..)| {
                list.iter()
                    .enumerate()
                    .map(|(i, (p, _))| (p.as_str(), i))
                    .collect()
            })
            .collect();
        let mut placed: Vec<Vec<bool>> = sides.iter().map(|(l, ..)| vec![false; l.len()]).collect();
        let mut order = Vec::with_capacity(placed.iter().map(Vec::len).sum());
        for (s, (list, ..)) in sides.iter().enumerate() {
            for (i, (path, _)) in list.iter().enumerate() {
                if placed[s][i] {
                    continue;
                }
                placed[s][i] = true;
                order.push((s, i));
                for t in s + 1..sides.len() {
                    if let Some(&j) = at[t].get(path.as_str())
                        && !placed[t][j]
                    {
                        placed[t][j] = true;
                        order.push((t, j));
                    }
                }
            }
        }
        let read = |repo: &Repository, (s, i): (usize, usize)| {
            let (list, rev, in_root) = sides[s];
            read_blob(repo, &list[i].0, list[i].1, rev, in_root)
        };
        let mut out: Vec<Vec<Option<Result<T>>>> = (sides.iter())
            .map(|(l, ..)| std::iter::repeat_with(|| None).take(l.len()).collect())
            .collect();
        // A few blobs (a small change), or a single thread: all of it on this thread.
        if order.len() <= 64 * sides.len() || rayon::current_num_threads() == 1 {
            for &(s, i) in &order {
                out[s][i] = Some(read(&self.repo, (s, i)).map(|f| each(s, f)));
            }
        } else {
            // The reader is one of rayon's workers, with a handle of its own (this one stays
            // on this thread), so that it and the workers `each` runs on are as many threads
            // as there are cores; read files go out in batches, results come back by channel.
            const BATCH: usize = 32;
            let git_dir = self.repo.path().to_path_buf();
            let (tx, rx) = std::sync::mpsc::channel::<Vec<((usize, usize), T)>>();
            let failed: Vec<((usize, usize), Error)> = rayon::scope(|scope| {
                let repo = match reopen(&git_dir) {
                    Ok(repo) => repo,
                    Err(e) => return vec![(order[0], e)],
                };
                let mut failed = Vec::new();
                let mut batch = Vec::with_capacity(BATCH);
                for &(s, i) in &order {
                    match read(&repo, (s, i)) {
                        Ok(f) => batch.push(((s, i), f)),
                        Err(e) => failed.push(((s, i), e)),
                    }
                    if batch.len() == BATCH {
                        let (full, tx) = (std::mem::take(&mut batch), tx.clone());
                        scope.spawn(move |_| {
                            let done = full.into_iter().map(|(o, f)| (o, each(o.0, f)));
                            // The receiver outlives the scope.
                            let _ = tx.send(done.collect());
                        });
                    }
                }
                let done = batch.into_iter().map(|(o, f)| (o, each(o.0, f)));
                let _ = tx.send(done.collect());
                failed
            });
            drop(tx);
            for ((s, i), e) in failed {
                out[s][i] = Some(Err(e));
            }
            for ((s, i), t) in rx.into_iter().flatten() {
                out[s][i] = Some(Ok(t));
            }
        }
        out.into_iter()
            .map(|side| side.into_iter().flatten().collect())
            .collect()
    }

    /// The first folder below `base` (breadth first, at most three levels down) at `rev` that
    /// holds a folder for every one of `languages`: where the content root probably is.
    /// The path is relative to `base`; `.` is `base` itself.
    pub fn find_language_root(
        &self,
        rev: &str,
        base: &str,
        languages: &[String],
    ) -> Option<String> {
        let tree = self.commit_of(rev).ok()?.tree().ok()?;
        let start = if base.is_empty() || base == "." {
            tree
        } else {
            tree.get_path(Path::new(base))
                .ok()?
                .to_object(&self.repo)
                .ok()?
                .peel_to_tree()
                .ok()?
        };
        let mut queue = std::collections::VecDeque::from([(String::new(), start, 0)]);
        let mut budget = 2000;
        while let Some((path, tree, depth)) = queue.pop_front() {
            let is_dir = |name: &str| {
                tree.get_name(name)
                    .is_some_and(|e| e.kind() == Some(ObjectType::Tree))
            };
            if !languages.is_empty() && languages.iter().all(|l| is_dir(l)) {
                return Some(if path.is_empty() { ".".into() } else { path });
            }
            if depth == 3 {
                continue;
            }
            for e in tree.iter() {
                let Ok(name) = std::str::from_utf8(e.name_bytes()) else {
                    continue;
                };
                if e.kind() != Some(ObjectType::Tree) || name.starts_with('.') {
                    continue;
                }
                budget -= 1;
                if budget == 0 {
                    return None;
                }
                let Ok(sub) = e.to_object(&self.repo).and_then(|o| o.peel_to_tree()) else {
                    continue;
                };
                let sub_path = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}/{name}")
                };
                queue.push_back((sub_path, sub, depth + 1));
            }
        }
        None
    }

    /// The release `rev` names when it is a release tag: a tag name (`v1.2.0`, `tags/v1.2.0`
    /// or `refs/tags/v1.2.0`) that is a semver version, read as `import` reads tag names.
    /// `None` for branches, commits and other expressions (`v1.2.0~1`).
    pub fn release_tag(&self, rev: &str) -> Option<(String, semver::Version)> {
        let name = rev
            .strip_prefix("refs/tags/")
            .or_else(|| rev.strip_prefix("tags/"))
            .unwrap_or(rev);
        let version = crate::version::parse_version(name).ok()?;
        let tagged = self.tag_target(name)?;
        // `rev` must resolve to the tag (git prefers tags over branches of the same name, but
        // `refs/<rev>` comes first).
        (self.resolve(rev).ok()? == tagged).then(|| (name.to_string(), version))
    }

    /// Read a single file at `rev` (e.g. kbrel.toml for `--config-from-rev`).
    pub fn read_file(&self, rev: &str, path: &str) -> Result<Vec<u8>> {
        let commit = self.commit_of(rev)?;
        let tree = commit
            .tree()
            .map_err(|e| git_err(format!("tree of `{rev}`"), e))?;
        let entry = tree.get_path(Path::new(path)).map_err(|_| Error::Content {
            path: PathBuf::from(path),
            message: format!("does not exist at `{rev}`"),
        })?;
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| git_err(format!("`{path}` at `{rev}`"), e))?;
        Ok(blob.content().to_vec())
    }

    /// Every tag, with its commit and date. Tags on non-commits are left out.
    pub fn tags(&self) -> Result<Vec<TagInfo>> {
        let names = self
            .repo
            .tag_names(None)
            .map_err(|e| git_err("listing tags", e))?;
        let mut out = Vec::new();
        for name in names.iter().flatten().flatten() {
            let Ok(reference) = self.repo.find_reference(&format!("refs/tags/{name}")) else {
                continue;
            };
            let Ok(obj) = reference.peel(ObjectType::Any) else {
                continue;
            };
            let (annotated, tagger_time) = match reference.peel(ObjectType::Tag) {
                Ok(t) => (
                    true,
                    t.as_tag()
                        .and_then(|t| t.tagger())
                        .map(|s| s.when().seconds()),
                ),
                Err(_) => (false, None),
            };
            let Ok(commit) = obj.peel_to_commit() else {
                continue;
            };
            out.push(TagInfo {
                name: name.to_string(),
                commit: commit.id().to_string(),
                time: tagger_time.unwrap_or_else(|| commit.time().seconds()),
                annotated,
            });
        }
        Ok(out)
    }

    /// HEAD's commit id and whether anything under `root` differs from it (index, work tree
    /// or untracked files).
    /// `None` when HEAD has no commit yet.
    pub fn head_state(&self, root: &str) -> Result<Option<(String, bool)>> {
        let Ok(head) = self.repo.head().and_then(|h| h.peel_to_commit()) else {
            return Ok(None);
        };
        if self.repo.is_bare() {
            return Ok(Some((head.id().to_string(), false)));
        }
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        if !root.is_empty() && root != "." {
            opts.pathspec(format!("{root}/"));
        }
        let statuses = self
            .repo
            .statuses(Some(&mut opts))
            .map_err(|e| git_err("git status", e))?;
        Ok(Some((head.id().to_string(), !statuses.is_empty())))
    }

    /// Whether commit `ancestor` is `of` itself or one of its ancestors (false when either is
    /// not a commit of this repository).
    pub fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        let (Ok(a), Ok(b)) = (git2::Oid::from_str(ancestor), git2::Oid::from_str(of)) else {
            return false;
        };
        a == b || self.repo.graph_descendant_of(b, a).unwrap_or(false)
    }

    /// The commit a tag points at, if the tag exists.
    pub fn tag_target(&self, name: &str) -> Option<String> {
        if let Some(known) = self.tags.borrow().get(name) {
            return known.clone();
        }
        let target = (self.repo.find_reference(&format!("refs/tags/{name}")).ok())
            .and_then(|r| r.peel_to_commit().ok())
            .map(|c| c.id().to_string());
        (self.tags.borrow_mut()).insert(name.to_string(), target.clone());
        target
    }

    /// Create an annotated tag `name` on `commit`. An existing tag on the same commit is left as
    /// it is; on another commit it is an error.
    pub fn create_tag(&self, name: &str, commit: &str, message: &str) -> Result<bool> {
        // Another process may have tagged since a lookup: look again, and again after tagging.
        self.commits.borrow_mut().clear();
        self.tags.borrow_mut().clear();
        if let Some(existing) = self.tag_target(name) {
            if existing == commit {
                return Ok(false);
            }
            return Err(GitError::TagExists {
                tag: name.to_string(),
                existing: existing.to_string(),
                commit: commit.to_string(),
            }
            .into());
        }
        let oid = Oid::from_str(commit).map_err(|e| git_err(format!("commit `{commit}`"), e))?;
        let obj = self
            .repo
            .find_object(oid, Some(ObjectType::Commit))
            .map_err(|e| git_err(format!("commit `{commit}`"), e))?;
        let sig = self
            .repo
            .signature()
            .or_else(|_| git2::Signature::now("kbrel", "kbrel@localhost"))
            .map_err(|e| git_err("tagger signature", e))?;
        self.repo
            .tag(name, &obj, &sig, message, false)
            .map_err(|e| git_err(format!("creating tag `{name}`"), e))?;
        self.tags.borrow_mut().clear();
        Ok(true)
    }

    /// For each document path (relative to the repository root), the commits between `from`
    /// (exclusive, `None` = the beginning) and `to` that touched it, newest first, following
    /// renames backwards.
    pub fn commits_touching(
        &self,
        from: Option<&str>,
        to: &str,
        paths: &[String],
    ) -> Result<HashMap<String, Vec<CommitInfo>>> {
        let mut walk = self.repo.revwalk().map_err(|e| git_err("revwalk", e))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(|e| git_err("revwalk", e))?;
        let to_id = self.commit_of(to)?.id();
        walk.push(to_id).map_err(|e| git_err("revwalk", e))?;
        if let Some(f) = from {
            walk.hide(self.commit_of(f)?.id())
                .map_err(|e| git_err("revwalk", e))?;
        }
        // current name (as seen walking backwards) → the document path it becomes at `to`.
        let mut alias: HashMap<String, String> =
            paths.iter().map(|p| (p.clone(), p.clone())).collect();
        let mut out: HashMap<String, Vec<CommitInfo>> = HashMap::new();
        for oid in walk {
            let oid = oid.map_err(|e| git_err("revwalk", e))?;
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(|e| git_err("commit", e))?;
            let tree = commit.tree().map_err(|e| git_err("tree", e))?;
            let parent_tree = commit.parents().next().and_then(|p| p.tree().ok());
            // A merge touched a path only when the path differs from every parent (as `git log
            // -- <path>` sees it): a change brought in unchanged from a merged branch belongs
            // to the branch's commits, not to the merge.
            let other_parents: Vec<git2::Tree<'_>> = commit
                .parents()
                .skip(1)
                .filter_map(|p| p.tree().ok())
                .collect();
            let same_as_other_parent = |p: &str| {
                let here = tree.get_path(Path::new(p)).ok().map(|e| e.id());
                other_parents
                    .iter()
                    .any(|t| t.get_path(Path::new(p)).ok().map(|e| e.id()) == here)
            };
            let mut diff = self
                .repo
                .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
                .map_err(|e| git_err("diff", e))?;
            let mut find = git2::DiffFindOptions::new();
            find.renames(true);
            let _ = diff.find_similar(Some(&mut find));
            let mut touched: Vec<String> = Vec::new();
            for delta in diff.deltas() {
                let new = delta
                    .new_file()
                    .path()
                    .and_then(Path::to_str)
                    .map(String::from);
                let old = delta
                    .old_file()
                    .path()
                    .and_then(Path::to_str)
                    .map(String::from);
                if let Some(target) = new.as_ref().and_then(|n| alias.get(n)).cloned() {
                    if !new.as_deref().is_some_and(same_as_other_parent) {
                        touched.push(target.clone());
                    }
                    if delta.status() == git2::Delta::Renamed
                        && let Some(o) = old
                    {
                        alias.insert(o, target);
                    }
                } else if let Some(target) = old.as_ref().and_then(|o| alias.get(o)).cloned()
                    && !old.as_deref().is_some_and(same_as_other_parent)
                {
                    touched.push(target);
                }
            }
            if touched.is_empty() {
                continue;
            }
            let author = commit.author();
            let info = CommitInfo {
                id: oid.to_string(),
                short_id: short(&oid),
                author: author.name().unwrap_or("").to_string(),
                date: crate::date::Timestamp(author.when().seconds()).rfc3339(),
                subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
            };
            touched.sort();
            touched.dedup();
            for t in touched {
                out.entry(t).or_default().push(info.clone());
            }
        }
        Ok(out)
    }
}

/// What [`Repo::changed_files`] found: each side's files (relative to its content root) that
/// differ from the other side's, as its `each` made them.
pub struct ChangedFiles<T> {
    pub old_commit: String,
    pub new_commit: String,
    pub old: Vec<T>,
    pub new: Vec<T>,
    /// The other files that differ (not documents: assets, symlinks, anything else), by
    /// path below the roots; never read.
    pub other: Vec<String>,
    /// Of [`Self::other`], the regular files each side keeps, with their blobs (unread).
    pub old_others: Vec<(String, Oid)>,
    pub new_others: Vec<(String, Oid)>,
}

/// One side of [`Repo::read_blob_sides`]: paths and blobs, the revision they are read at and
/// how a path is named in an error.
type BlobSide<'s> = (
    &'s [(String, Oid)],
    &'s str,
    &'s (dyn Fn(&str) -> String + Sync),
);

/// Another handle on the repository at `git_dir`, for another thread (libgit2 handles are
/// not shared between threads).
fn reopen(git_dir: &Path) -> Result<Repository> {
    Repository::open(git_dir).map_err(|e| open_failed(git_dir, &e))
}

/// The error of opening the repository at `git_dir` again.
fn open_failed(git_dir: &Path, e: &git2::Error) -> Error {
    Error::from(GitError::Open {
        repo: git_dir.to_path_buf(),
        message: e.message().to_string(),
    })
}

/// One blob as a source file; a Git LFS pointer is an error.
fn read_blob(
    repo: &Repository,
    path: &str,
    oid: Oid,
    rev: &str,
    in_root: &(dyn Fn(&str) -> String + Sync),
) -> Result<SourceFile> {
    let blob = repo
        .find_blob(oid)
        .map_err(|e| git_err(format!("blob `{}` at `{rev}`", in_root(path)), e))?;
    let bytes = blob.content();
    if bytes.starts_with(LFS_POINTER) {
        return Err(Error::Content {
            path: PathBuf::from(in_root(path)),
            message: format!(
                "is a Git LFS pointer at `{rev}`, not markdown: run `git lfs pull` or keep documents out of LFS"
            ),
        });
    }
    Ok(SourceFile {
        path: path.to_string(),
        bytes: bytes.to_vec(),
    })
}

/// What a content tree walk never enters or reads, as [`Repo::read_tree`] walks: names
/// starting with `.`, and `node_modules` folders (a file of that name is no document either).
fn skipped_entry(name: &str) -> bool {
    name.starts_with('.') || name == "node_modules"
}

/// A path that differs between a revision and the work tree ([`Repo::worktree_changes`]):
/// the repository path, its blob at the revision (a regular file there), and whether a file
/// is at that path in the work tree.
type WorkChange = (String, Option<Oid>, bool);

/// Which paths (relative to the folder read) a side keeps.
pub type Keep<'a> = dyn Fn(&str) -> bool + Sync + 'a;

/// The markdown blobs (path below `dir`, id) that differ between trees `a` and `b` (either may
/// be absent: a whole subtree added or removed), into `old` and `new`; the other files that
/// differ into `other`, and those that are regular files also into `old_others`/`new_others`.
/// As git's own tree diff does (libgit2's `diff_tree_to_tree` expands every subtree, so its
/// cost follows the size of the trees): the two sorted entry lists, read raw from the object
/// database (no parsed tree object, no allocation per entry), are walked side by side, and
/// an entry with the same id and mode on both sides — a whole unchanged subtree — is skipped
/// without being read, so the cost follows the change.
fn diff_trees(
    odb: &git2::Odb<'_>,
    (a, b): (Option<Oid>, Option<Oid>),
    dir: &str,
    revs: (&str, &str),
    out: &mut TreeDelta,
) -> Result<()> {
    use std::cmp::Ordering;
    let read = |id: Option<Oid>| -> Result<Option<git2::OdbObject<'_>>> {
        id.map(|id| {
            odb.read(id)
                .map_err(|e| git_err(format!("reading tree {id} below `{dir}`"), e))
        })
        .transpose()
    };
    let (oa, ob) = (read(a)?, read(b)?);
    let ea = raw_entries(oa.as_ref().map_or(&[][..], |o| o.data()), dir)?;
    let eb = raw_entries(ob.as_ref().map_or(&[][..], |o| o.data()), dir)?;
    let (mut i, mut j) = (0, 0);
    while i < ea.len() || j < eb.len() {
        let order = match (ea.get(i), eb.get(j)) {
            (Some(x), Some(y)) => git_order(x, y),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                let x = &ea[i];
                i += 1;
                let name = entry_name(x, dir, revs.0)?;
                if !skipped_entry(name) {
                    one_side(odb, x, format!("{dir}{name}"), true, revs, out)?;
                }
            }
            Ordering::Greater => {
                let y = &eb[j];
                j += 1;
                let name = entry_name(y, dir, revs.1)?;
                if !skipped_entry(name) {
                    one_side(odb, y, format!("{dir}{name}"), false, revs, out)?;
                }
            }
            Ordering::Equal => {
                let (x, y) = (&ea[i], &eb[j]);
                (i, j) = (i + 1, j + 1);
                let name = entry_name(x, dir, revs.0)?;
                if skipped_entry(name) || (x.id == y.id && x.mode == y.mode) {
                    continue;
                }
                let path = format!("{dir}{name}");
                if x.kind() == ObjectType::Tree && y.kind() == ObjectType::Tree {
                    let ids = (Some(x.oid()?), Some(y.oid()?));
                    diff_trees(odb, ids, &format!("{path}/"), revs, out)?;
                } else {
                    one_side(odb, x, path.clone(), true, revs, out)?;
                    one_side(odb, y, path, false, revs, out)?;
                }
            }
        }
    }
    Ok(())
}

/// One entry of a tree object as stored: `<octal mode> <name>\0<20-byte id>`.
struct RawEntry<'a> {
    mode: i32,
    name: &'a [u8],
    id: &'a [u8],
}

impl RawEntry<'_> {
    /// What the entry names, from its mode, as libgit2 tells it (`git_tree_entry_type`).
    fn kind(&self) -> ObjectType {
        match self.mode & 0o170000 {
            0o040000 => ObjectType::Tree,
            0o160000 => ObjectType::Commit,
            _ => ObjectType::Blob,
        }
    }

    fn oid(&self) -> Result<Oid> {
        Oid::from_bytes(self.id).map_err(|e| git_err("a tree entry's id", e))
    }
}

/// The entries of a tree object's bytes, in their stored order; a malformed tree is an error.
fn raw_entries<'a>(mut data: &'a [u8], dir: &str) -> Result<Vec<RawEntry<'a>>> {
    let bad = || Error::Content {
        path: PathBuf::from(if dir.is_empty() { "." } else { dir }),
        message: "a malformed tree object in the repository".into(),
    };
    let mut out = Vec::with_capacity(data.len() / 48);
    while !data.is_empty() {
        let sp = data.iter().position(|&c| c == b' ').ok_or_else(bad)?;
        let mode = (data[..sp].iter())
            .try_fold(0i32, |m, &c| {
                (b'0'..=b'7')
                    .contains(&c)
                    .then(|| m.checked_mul(8)?.checked_add(i32::from(c - b'0')))
                    .flatten()
            })
            .filter(|_| sp > 0)
            .ok_or_else(bad)?;
        let rest = &data[sp + 1..];
        let nul = rest.iter().position(|&c| c == 0).ok_or_else(bad)?;
        let (name, rest) = (&rest[..nul], &rest[nul + 1..]);
        if name.is_empty() || rest.len() < 20 {
            return Err(bad());
        }
        out.push(RawEntry {
            mode,
            name,
            id: &rest[..20],
        });
        data = &rest[20..];
    }
    Ok(out)
}

/// Git's order of tree entries (`base_name_compare`): by name, a folder's name read as if it
/// ended in `/`. Two entries of one name but of different kinds (a file that became a folder)
/// are apart in it, and are then an entry of each side alone.
fn git_order(x: &RawEntry<'_>, y: &RawEntry<'_>) -> std::cmp::Ordering {
    let (xn, yn) = (x.name, y.name);
    let n = xn.len().min(yn.len());
    xn[..n].cmp(&yn[..n]).then_with(|| {
        let after = |name: &[u8], e: &RawEntry<'_>| {
            name.get(n)
                .copied()
                .or((e.kind() == ObjectType::Tree).then_some(b'/'))
        };
        after(xn, x).cmp(&after(yn, y))
    })
}

/// An entry's name, which must be UTF-8 (as [`Repo::read_tree`] requires of every name).
fn entry_name<'e>(e: &RawEntry<'e>, dir: &str, rev: &str) -> Result<&'e str> {
    std::str::from_utf8(e.name).map_err(|_| Error::Content {
        path: PathBuf::from(format!("{dir}{}", e.name.escape_ascii())),
        message: format!("the file name is not valid UTF-8 at `{rev}`; rename it"),
    })
}

/// One side's entry of [`diff_trees`], alone: a document to read, another file to name, or a
/// whole subtree of them.
fn one_side(
    odb: &git2::Odb<'_>,
    e: &RawEntry<'_>,
    path: String,
    is_old: bool,
    revs: (&str, &str),
    out: &mut TreeDelta,
) -> Result<()> {
    match e.kind() {
        ObjectType::Tree => {
            let id = Some(e.oid()?);
            let ids = if is_old { (id, None) } else { (None, id) };
            diff_trees(odb, ids, &format!("{path}/"), revs, out)
        }
        ObjectType::Blob if e.mode != 0o120000 && crate::files::is_document_name(&path) => {
            if is_old { &mut out.old } else { &mut out.new }.push((path, e.oid()?));
            Ok(())
        }
        // Any other file (an asset, a symlink): named; a regular file's blob kept, unread.
        ObjectType::Blob => {
            if e.mode != 0o120000 {
                let others = if is_old {
                    &mut out.old_others
                } else {
                    &mut out.new_others
                };
                others.push((path.clone(), e.oid()?));
            }
            out.other.push(path);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What [`diff_trees`] finds: the documents that differ on each side (path, blob), the other
/// files that differ (named, never read), and of those the regular files on each side (path,
/// blob: the assets among them are hashed from these by [`load_changed`]).
#[derive(Default)]
struct TreeDelta {
    old: Vec<(String, Oid)>,
    new: Vec<(String, Oid)>,
    other: Vec<String>,
    old_others: Vec<(String, Oid)>,
    new_others: Vec<(String, Oid)>,
}

/// `path` with its longest existing ancestor canonicalised (so a path that does not exist
/// yet still resolves through symlinked parents such as macOS's `/tmp`).
fn canonical_prefix(path: &Path) -> PathBuf {
    for anc in path.ancestors() {
        if let Ok(c) = anc.canonicalize() {
            let rest = path.strip_prefix(anc).unwrap_or(Path::new(""));
            return if rest.as_os_str().is_empty() {
                c
            } else {
                c.join(rest)
            };
        }
    }
    path.to_path_buf()
}

/// The configured content root inside the repository, `/`-separated. When kbrel.toml is
/// outside the repository (a bare repository, or `import --repo` naming another one), the
/// content root is taken relative to the repository root exactly as kbrel.toml places it
/// relative to its own folder.
pub fn content_root_in(cfg: &crate::config::Config, repo: &Repo) -> Result<String> {
    folder_in(cfg, &cfg.content.root, repo)
}

/// The content root of release `version` inside the repository (`/`-separated): the
/// `[[content.history]]` entry whose range holds the version, else `content.root`; and the
/// index of that entry. `None` (a revision that is not a release tag) is `content.root`.
pub fn content_root_for(
    cfg: &crate::config::Config,
    repo: &Repo,
    version: Option<&semver::Version>,
) -> Result<(String, Option<usize>)> {
    let (root, entry) = cfg.root_for(version)?;
    Ok((folder_in(cfg, root, repo)?, entry))
}

/// A folder named in kbrel.toml (relative to its folder, or absolute) inside the repository.
fn folder_in(cfg: &crate::config::Config, folder: &Path, repo: &Repo) -> Result<String> {
    let root = cfg.base_dir.join(folder);
    match repo.relative(&root) {
        Ok(rel) if !Path::new(&rel).has_root() => Ok(rel),
        other => {
            let fallback = root
                .strip_prefix(&cfg.base_dir)
                .ok()
                .filter(|r| {
                    r.is_relative() && !r.components().any(|c| c == std::path::Component::ParentDir)
                })
                .and_then(Path::to_str)
                .map(|r| {
                    r.replace('\\', "/")
                        .trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_string()
                });
            match (fallback, other) {
                (Some(rel), _) => Ok(rel),
                (None, Err(e)) => Err(e),
                (None, Ok(rel)) => Err(GitError::RootOutside {
                    root: rel.to_string(),
                }
                .into()),
            }
        }
    }
}

fn short(oid: &Oid) -> String {
    oid.to_string()[..7].to_string()
}

/// The key map at `rev`: every key source read from the revision's tree, like its documents
/// (a source the revision does not have yet gives no keys). Entry-module imports resolve
/// against the content root of `version`.
pub fn keys_at(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
    version: Option<&semver::Version>,
) -> Result<crate::keys::KeyMap> {
    let base = folder_in(cfg, Path::new(""), repo)?;
    let (root, _) = cfg.root_for(version)?;
    let read = |rel: &Path| -> Result<Option<Vec<u8>>> {
        let Some(rel) = rel.to_str() else {
            return Ok(None);
        };
        let path = if base.is_empty() {
            rel.to_string()
        } else {
            format!("{base}/{rel}")
        };
        let path = path.trim_start_matches("./").to_string();
        match repo.read_file(rev, &path) {
            Ok(b) => Ok(Some(b)),
            Err(Error::Content { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    };
    crate::keys::load(cfg, root, &read, true).map_err(|e| match e {
        Error::Keys {
            path,
            line,
            message,
        } => Error::Keys {
            path,
            line,
            message: format!("{message} (at git revision `{rev}`)"),
        },
        other => other,
    })
}

/// Load the knowledge base as it is at `rev`, with the configured layout and pairing rules.
/// When `rev` is a release tag ([`Repo::release_tag`]), the content root is the one configured
/// for its version (`[[content.history]]`); otherwise `content.root`.
/// Symlinks and submodules in the tree become warnings; LFS pointers are errors.
pub fn load_kb(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
) -> Result<(crate::content::KnowledgeBase, String)> {
    let version = repo.release_tag(rev).map(|(_, v)| v);
    load_release(cfg, repo, rev, rev, version.as_ref())
}

/// Load the knowledge base at `rev` as release `version` (its content root chosen by
/// `[[content.history]]`; `None`: `content.root`). `name` is how errors call the revision
/// (`import` reads a tag's commit and names the tag).
pub fn load_release(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
    name: &str,
    version: Option<&semver::Version>,
) -> Result<(crate::content::KnowledgeBase, String)> {
    let (root, entry) = content_root_for(cfg, repo, version)?;
    if !cfg.plain_folders() {
        return load_roots(cfg, repo, rev, &root, version);
    }
    let tree = repo
        .read_tree(rev, &root)
        .map_err(|e| explain_missing_root(cfg, repo, rev, name, version, entry, e))?;
    let keys = keys_at(cfg, repo, rev, version)?;
    let mut kb =
        crate::content::build(cfg, tree.files, tree.all, &keys).map_err(|e| at_revision(rev, e))?;
    let (assets, found) = tree_assets(cfg, repo, &kb.files, &tree.others, &tree.links)?;
    kb.assets = assets;
    kb.problems
        .extend(without_asset_links(tree.findings, &found));
    kb.problems.extend(found);
    kb.problems.sort();
    Ok((kb, tree.commit))
}

/// A content error, saying at which revision.
fn at_revision(rev: &str, e: Error) -> Error {
    match e {
        Error::Content { path, message } => Error::Content {
            path,
            message: format!("{message} (at git revision `{rev}`)"),
        },
        other => other,
    }
}

/// A missing content root, with the release, the `[[content.history]]` entry and a likely
/// root named; other errors as they are.
fn explain_missing_root(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
    name: &str,
    version: Option<&semver::Version>,
    entry: Option<usize>,
    e: Error,
) -> Error {
    let Error::ContentRootMissing(missing) = e else {
        return e;
    };
    let found = folder_in(cfg, Path::new(""), repo)
        .ok()
        .and_then(|base| repo.find_language_root(rev, &base, &cfg.content.languages));
    Error::ContentRootMissing(Box::new(MissingRoot {
        rev: name.to_string(),
        version: version.map(ToString::to_string),
        entry: entry.map(|i| (i, cfg.content.history[i].versions.clone())),
        found,
        ..*missing
    }))
}

/// The documents that differ between two revisions, read as [`load_kb`] reads each side
/// (content root by release tag, key sources at the revision) but only from the files whose
/// blobs differ (see [`Repo::changed_files`]) and the documents whose declared keys differ:
/// a document with the same bytes at the same path on both sides, and the same declared keys,
/// is the same document and is not read. Url claims (`front-matter:url`) are settled among
/// the documents read, in path order. What `kbrel diff git:A git:B` compares.
pub struct ChangedDocs {
    pub old: crate::content::KnowledgeBase,
    pub new: crate::content::KnowledgeBase,
    pub old_commit: String,
    pub new_commit: String,
    /// The folders each side was read from.
    pub folders: (Vec<Folder>, Vec<Folder>),
    /// The content paths of the files read on each side.
    pub read: (Vec<String>, Vec<String>),
}

/// A folder documents are read from: the content root (one folder per language below it),
/// or one language's folder (`[content] layout`, `[content.roots]`: read as `<lang>/…`),
/// with what inside it belongs to something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// `Some(lang)`: a language's folder, its files read as `<lang>/…`; `None`: the content
    /// root, its files read as they are.
    pub lang: Option<String>,
    /// Relative to the repository root, `/`-separated (`""`: the repository root).
    pub dir: String,
    /// The folders of other languages inside this one (relative to it, ending in `/`).
    inner: Vec<String>,
    /// kbrel's own files (repository paths), which may sit in a language folder.
    own: Vec<String>,
}

impl Folder {
    /// Whether a path below the folder is read as content.
    pub fn keep(&self, p: &str) -> bool {
        self.lang.is_none()
            || (!self.inner.iter().any(|i| p.starts_with(i.as_str()))
                && !p.split('/').any(|c| c == "node_modules")
                && !self.own.contains(&self.in_repo(p)))
    }

    /// A path below the folder as a content path (`<lang>/…` for a language's folder).
    pub fn content_path(&self, p: &str) -> String {
        match &self.lang {
            Some(l) => format!("{l}/{p}"),
            None => p.to_string(),
        }
    }

    /// A path below the folder relative to the repository root.
    fn in_repo(&self, p: &str) -> String {
        if self.dir.is_empty() {
            p.to_string()
        } else {
            format!("{}/{p}", self.dir)
        }
    }

    /// The paths of `paths` (content paths) below this folder, relative to it.
    fn below(&self, paths: &BTreeSet<String>) -> BTreeSet<String> {
        match &self.lang {
            None => paths.clone(),
            Some(l) => paths
                .iter()
                .filter_map(|p| p.strip_prefix(l.as_str())?.strip_prefix('/'))
                .map(str::to_string)
                .collect(),
        }
    }
}

/// The folders the documents below the content root `root` (a repository path) are read
/// from: `root` itself with one folder per language, else each language's folder
/// ([`crate::config::Config::language_root`]), in configured order.
pub fn folders(cfg: &crate::config::Config, repo: &Repo, root: &str) -> Vec<Folder> {
    if cfg.plain_folders() {
        return vec![Folder {
            lang: None,
            dir: root.to_string(),
            inner: Vec::new(),
            own: Vec::new(),
        }];
    }
    let roots = cfg.language_roots(Path::new(root));
    let folder = |p: &Path| p.to_string_lossy().replace('\\', "/");
    // kbrel's own files may sit in a language folder that is the project folder.
    let own: Vec<String> = [
        PathBuf::from(crate::config::CONFIG_FILE),
        cfg.changelog.path.clone(),
        cfg.lint
            .baseline
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::config::BASELINE_FILE)),
    ]
    .iter()
    .filter_map(|p| folder_in(cfg, p, repo).ok())
    .collect();
    roots
        .iter()
        .map(|(lang, dir)| Folder {
            lang: Some(lang.clone()),
            dir: folder(dir),
            inner: roots
                .iter()
                .filter(|(l, d)| l != lang && d.starts_with(dir) && d != dir)
                .filter_map(|(_, d)| d.strip_prefix(dir).ok().map(|r| format!("{}/", folder(r))))
                .collect(),
            own: own.clone(),
        })
        .collect()
}

/// The content root of `rev` (by its release tag) and its folders, checked as a whole load
/// checks them (the root exists; with one folder per language, every language's folder),
/// and its key map.
fn side_at(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
) -> Result<(Vec<Folder>, crate::keys::KeyMap)> {
    let version = repo.release_tag(rev).map(|(_, v)| v);
    let (root, entry) = content_root_for(cfg, repo, version.as_ref())?;
    if cfg.plain_folders() {
        // The root must exist (the error names the release and a likely root).
        let commit = repo.commit_of(rev)?;
        let tree = repo
            .root_tree(&commit, rev, &root)
            .map_err(|e| explain_missing_root(cfg, repo, rev, rev, version.as_ref(), entry, e))?;
        // As a whole load would find (a git tree holds no empty folder).
        for lang in &cfg.content.languages {
            if tree.get_name(lang).and_then(|e| e.kind()) != Some(ObjectType::Tree) {
                return Err(at_revision(
                    rev,
                    Error::Content {
                        path: cfg.content_root().join(lang),
                        message: format!(
                            "language folder `{lang}` is missing or empty (content.languages lists it)"
                        ),
                    },
                ));
            }
        }
    }
    Ok((
        folders(cfg, repo, &root),
        keys_at(cfg, repo, rev, version.as_ref())?,
    ))
}

/// [`ChangedDocs`] between `rev_a` and `rev_b`. The assets that differ are hashed from their
/// blobs on each side (as a whole load hashes every asset, [`tree_assets`]); the assets whose
/// blob is the same on both sides are not read, and are on neither side.
pub fn load_changed(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev_a: &str,
    rev_b: &str,
) -> Result<ChangedDocs> {
    load_changed_with(cfg, repo, rev_a, rev_b, &|_| {})
}

/// [`load_changed`], calling `walked` with the number of files that differ (the documents
/// read on both sides and the assets to hash) once the documents are read and parsed (each
/// as soon as it is read, [`Repo::changed_files`]) and before the assets are hashed: the
/// caller's chance to choose how the rest runs (the binary runs a small change on its own
/// thread rather than on rayon's workers).
pub fn load_changed_with(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev_a: &str,
    rev_b: &str,
    walked: &dyn Fn(usize),
) -> Result<ChangedDocs> {
    let ((fa, keys_a), (fb, keys_b)) = (side_at(cfg, repo, rev_a)?, side_at(cfg, repo, rev_b)?);
    let redeclared = crate::content::redeclared_paths(&keys_a, &keys_b);
    let classifier = crate::content::Classifier::new(cfg)?;
    // Each changed document is parsed as soon as it is read.
    let parsers = [
        crate::content::DocParser::new(cfg, &classifier, &keys_a),
        crate::content::DocParser::new(cfg, &classifier, &keys_b),
    ];
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let (mut old_commit, mut new_commit) = (String::new(), String::new());
    // The assets that differ (content path → blob), on each side.
    let (mut assets_a, mut assets_b) = (BTreeMap::new(), BTreeMap::new());
    for (a, b) in fa.iter().zip(&fb) {
        let changed = repo.changed_files(
            (rev_a, &a.dir),
            (rev_b, &b.dir),
            &a.below(&redeclared),
            (&|p| a.keep(p), &|p| b.keep(p)),
            &|side, f| {
                let path = [a, b][side].content_path(&f.path);
                let parsed = parsers[side].parse(SourceFile {
                    path: path.clone(),
                    bytes: f.bytes,
                });
                (path, parsed)
            },
        )?;
        for (f, others, assets) in [
            (a, &changed.old_others, &mut assets_a),
            (b, &changed.new_others, &mut assets_b),
        ] {
            for (p, oid) in others {
                let path = f.content_path(p);
                if classifier.classify(&path) == crate::content::FileClass::Asset {
                    assets.insert(path, *oid);
                }
            }
        }
        (old_commit, new_commit) = (changed.old_commit, changed.new_commit);
        old.extend(changed.old);
        new.extend(changed.new);
    }
    walked(old.len() + new.len() + assets_a.len() + assets_b.len());
    let paths = |files: &[(String, _)]| files.iter().map(|(p, _)| p.clone()).collect();
    let read = (paths(&old), paths(&new));
    let [pa, pb] = &parsers;
    let mut old = pa.assemble(old.into_iter().filter_map(|(_, parsed)| parsed));
    let mut new = pb.assemble(new.into_iter().filter_map(|(_, parsed)| parsed));
    let no_links = BTreeSet::new();
    for (kb, assets) in [(&mut old, assets_a), (&mut new, assets_b)] {
        if assets.is_empty() {
            continue;
        }
        let paths = assets.keys().cloned().collect();
        kb.assets = tree_assets(cfg, repo, &paths, &assets, &no_links)?.0;
    }
    Ok(ChangedDocs {
        read,
        old,
        new,
        old_commit,
        new_commit,
        folders: (fa, fb),
    })
}

/// [`ChangedDocs`] between `rev_a` and the work tree (the working content, as `kbrel diff
/// git:A .` reads it): git's index tells which files differ ([`Repo::worktree_changes`]);
/// those and the documents whose declared keys differ are read, at `rev_a` from its blobs and
/// from the work tree from disk. `None` when this cannot be told cheaply and both sides must
/// be loaded whole: a bare repository, a content root at `rev_a` other than the working one
/// (`[[content.history]]`), a missing folder, or what [`Repo::worktree_changes`] refuses.
pub fn load_changed_worktree(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev_a: &str,
) -> Result<Option<ChangedDocs>> {
    let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(None);
    };
    let (fa, keys_a) = side_at(cfg, repo, rev_a)?;
    let fw = folders(cfg, repo, &content_root_in(cfg, repo)?);
    if fa != fw {
        return Ok(None);
    }
    // A missing folder: the whole load names it.
    let present = |dir: &str| workdir.join(dir).is_dir();
    let missing = match &fw[..] {
        [
            Folder {
                lang: None, dir, ..
            },
        ] => cfg
            .content
            .languages
            .iter()
            .any(|l| !present(&format!("{dir}/{l}"))),
        _ => fw.iter().any(|f| !present(&f.dir)),
    };
    if missing {
        return Ok(None);
    }
    let keys_w = crate::content::load_key_map(cfg)?;
    let redeclared = crate::content::redeclared_paths(&keys_a, &keys_w);
    let dirs: Vec<&str> = fw.iter().map(|f| f.dir.as_str()).collect();
    let mut other = Vec::new();
    let Some(changes) = repo.worktree_changes(rev_a, &dirs, &mut other)? else {
        return Ok(None);
    };
    let classifier = crate::content::Classifier::new(cfg)?;
    let commit = repo.resolve(rev_a)?;
    let tree = repo
        .commit_of(rev_a)?
        .tree()
        .map_err(|e| git_err("tree", e))?;
    // (content path, blob) at `rev_a`; (content path, file) in the work tree.
    let mut old: Vec<(String, Oid)> = Vec::new();
    let mut new: Vec<(String, PathBuf)> = Vec::new();
    // The assets that differ: (content path → blob) at `rev_a`; in the work tree, content
    // path → (the folder it is read below, the length of its part inside it).
    let mut old_assets = BTreeMap::new();
    let mut new_assets: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
    for f in &fw {
        let rel = |p: &str| -> Option<String> {
            let r = if f.dir.is_empty() {
                p
            } else {
                p.strip_prefix(f.dir.as_str())?.strip_prefix('/')?
            };
            f.keep(r).then(|| r.to_string())
        };
        for (path, blob, present) in &other {
            let Some(r) = rel(path) else { continue };
            let cp = f.content_path(&r);
            if classifier.classify(&cp) != crate::content::FileClass::Asset {
                continue;
            }
            if let Some(oid) = blob {
                old_assets.insert(cp.clone(), *oid);
            }
            if *present {
                new_assets.insert(cp, (workdir.join(&f.dir), r.len()));
            }
        }
        let mut seen = (BTreeSet::new(), BTreeSet::new());
        for (path, blob, present) in &changes {
            let Some(r) = rel(path) else { continue };
            if let Some(oid) = blob {
                seen.0.insert(r.clone());
                old.push((f.content_path(&r), *oid));
            }
            if *present {
                seen.1.insert(r.clone());
                new.push((f.content_path(&r), workdir.join(path)));
            }
        }
        // The documents whose declared keys changed, on both sides.
        for r in f.below(&redeclared) {
            if r.split('/').any(skipped_entry) || !f.keep(&r) {
                continue;
            }
            let in_repo = f.in_repo(&r);
            if !seen.0.contains(&r)
                && let Ok(e) = tree.get_path(Path::new(&in_repo))
                && e.kind() == Some(ObjectType::Blob)
                && e.filemode() != 0o120000
            {
                old.push((f.content_path(&r), e.id()));
            }
            let file = workdir.join(&in_repo);
            if !seen.1.contains(&r)
                && std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_file())
            {
                new.push((f.content_path(&r), file));
            }
        }
    }
    let old = repo.read_blobs(&old, rev_a, &|p| p.to_string())?;
    let new = {
        use rayon::prelude::*;
        new.par_iter()
            .map(|(p, file)| {
                crate::fsx::read(file)
                    .map(|bytes| SourceFile {
                        path: p.clone(),
                        bytes,
                    })
                    .map_err(|e| Error::io("read", file, e))
            })
            .collect::<Result<Vec<_>>>()?
    };
    let read = paths_of(&old, &new);
    let (old, new) = rayon::join(
        || crate::content::build_some(cfg, old, &keys_a),
        || crate::content::build_some(cfg, new, &keys_w),
    );
    let (mut old, mut new) = (old.map_err(|e| at_revision(rev_a, e))?, new?);
    // The changed assets, hashed as the whole loads would: from their blobs at `rev_a`, from
    // their files in the work tree.
    if !old_assets.is_empty() {
        let paths = old_assets.keys().cloned().collect();
        old.assets = tree_assets(cfg, repo, &paths, &old_assets, &BTreeSet::new())?.0;
    }
    if !new_assets.is_empty() {
        let paths = new_assets.keys().cloned().collect();
        let folder_of = |p: &str| new_assets[p].clone();
        let known = crate::content::KnownHashes::default();
        new.assets = crate::content::load_assets(cfg, &folder_of, &paths, &known)?.0;
    }
    Ok(Some(ChangedDocs {
        read,
        old,
        new,
        old_commit: commit,
        new_commit: String::new(),
        folders: (fa, fw),
    }))
}

/// The paths of two lists of files.
fn paths_of(old: &[SourceFile], new: &[SourceFile]) -> (Vec<String>, Vec<String>) {
    let paths = |files: &[SourceFile]| files.iter().map(|f| f.path.clone()).collect();
    (paths(old), paths(new))
}

/// The documents per language of `rev` read from `folders` (what a whole load would find),
/// from a walk of its trees that reads no blob (a file that is not valid UTF-8 counts as a
/// document here).
pub fn document_counts(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
    folders: &[Folder],
) -> Result<std::collections::BTreeMap<String, u64>> {
    let classifier = crate::content::Classifier::new(cfg)?;
    let mut counts = std::collections::BTreeMap::new();
    for f in folders {
        for p in repo.markdown_paths(rev, &f.dir)? {
            if !f.keep(&p) {
                continue;
            }
            let p = f.content_path(&p);
            if let Some((lang, _)) = p.split_once('/')
                && classifier.classify(&p) == crate::content::FileClass::Document
            {
                *counts.entry(lang.to_string()).or_default() += 1;
            }
        }
    }
    Ok(counts)
}

/// [`load_release`] for per-language folders ([`crate::config::Config::language_root`]):
/// each language's folder read at `rev` as `<lang>/…`, without the folders of the other
/// languages inside it or `node_modules`.
fn load_roots(
    cfg: &crate::config::Config,
    repo: &Repo,
    rev: &str,
    root: &str,
    version: Option<&semver::Version>,
) -> Result<(crate::content::KnowledgeBase, String)> {
    let mut files = Vec::new();
    let mut all = BTreeSet::new();
    let mut findings = Vec::new();
    let mut others = BTreeMap::new();
    let mut links = BTreeSet::new();
    let mut commit = String::new();
    for f in folders(cfg, repo, root) {
        let tree = repo.read_tree(rev, &f.dir)?;
        commit = tree.commit;
        for file in tree.files {
            if f.keep(&file.path) {
                files.push(crate::content::SourceFile {
                    path: f.content_path(&file.path),
                    bytes: file.bytes,
                });
            }
        }
        all.extend(
            tree.all
                .iter()
                .filter(|p| f.keep(p))
                .map(|p| f.content_path(p)),
        );
        others.extend(
            (tree.others.iter())
                .filter(|(p, _)| f.keep(p))
                .map(|(p, id)| (f.content_path(p), *id)),
        );
        links.extend(
            (tree.links.iter())
                .filter(|p| f.keep(p))
                .map(|p| f.content_path(p)),
        );
        findings.extend(
            tree.findings
                .into_iter()
                .filter(|x| f.keep(&x.file))
                .map(|mut x| {
                    x.file = f.content_path(&x.file);
                    x
                }),
        );
    }
    let keys = keys_at(cfg, repo, rev, version)?;
    let mut kb = crate::content::build(cfg, files, all, &keys).map_err(|e| match e {
        Error::Content { path, message } => Error::Content {
            path,
            message: format!("{message} (at git revision `{rev}`)"),
        },
        other => other,
    })?;
    let (assets, found) = tree_assets(cfg, repo, &kb.files, &others, &links)?;
    kb.assets = assets;
    kb.problems.extend(without_asset_links(findings, &found));
    kb.problems.extend(found);
    kb.problems.sort();
    Ok((kb, commit))
}

/// The assets of a tree read from git, as [`crate::content`] finds them in a folder: every
/// file of `files` that [`crate::content::Classifier::classify`] calls an asset, hashed from
/// its blob (streamed where libgit2 can stream it: loose objects; a packed blob is inflated by
/// libgit2 itself). A blob over `[content] max_asset_size` is KB052 and never read; a symbolic
/// link where an asset would be is KB054; a Git LFS pointer in place of an asset is an error
/// naming it.
fn tree_assets(
    cfg: &crate::config::Config,
    repo: &Repo,
    files: &BTreeSet<String>,
    others: &BTreeMap<String, Oid>,
    links: &BTreeSet<String>,
) -> Result<(Vec<crate::content::Asset>, Vec<Finding>)> {
    use crate::content::{Asset, AssetSource, Classifier, FileClass};
    use rayon::prelude::*;
    let classifier = Classifier::new(cfg)?;
    let max = cfg.content.max_asset_size();
    let mut found: Vec<Finding> = links
        .iter()
        .filter(|p| classifier.classify(p) == FileClass::Asset)
        .map(|p| {
            Finding::error(
                Code::SymlinkedAsset,
                p,
                1,
                "the asset is a symbolic link (or inside one); store the file itself: a release holds files, never links".into(),
            )
        })
        .collect();
    let wanted: Vec<(&String, Oid)> = files
        .iter()
        .filter(|p| classifier.classify(p) == FileClass::Asset)
        .filter_map(|p| others.get(p).map(|id| (p, *id)))
        .collect();
    let git_dir = repo.repo.path().to_path_buf();
    let results: Vec<Result<std::result::Result<Asset, Finding>>> = wanted
        .par_iter()
        .map_init(
            || Repository::open(&git_dir),
            |r, (path, oid)| {
                let r = r.as_ref().map_err(|e| open_failed(&git_dir, e))?;
                let what = || format!("asset `{path}`");
                let odb = r.odb().map_err(|e| git_err(what(), e))?;
                let (size, _) = odb.read_header(*oid).map_err(|e| git_err(what(), e))?;
                let size = size as u64;
                if size > max {
                    return Ok(Err(Finding::error(
                        Code::AssetTooLarge,
                        path,
                        1,
                        format!(
                            "the asset holds {size} bytes, more than `[content] max_asset_size` ({max}); shrink it, exclude it, or raise the limit"
                        ),
                    )));
                }
                let source = AssetSource::Git {
                    git_dir: git_dir.clone(),
                    blob: oid.to_string(),
                };
                let mut head = [0u8; 64];
                let (sha256, len, lfs) = with_asset_reader(&source, |reader| {
                    let mut reader = crate::hash::HashingReader::new(reader);
                    let n = read_up_to(&mut reader, &mut head)
                        .map_err(|e| Error::io("read", source.describe(), e))?;
                    std::io::copy(&mut reader, &mut std::io::sink())
                        .map_err(|e| Error::io("read", source.describe(), e))?;
                    let (sha, len) = reader.finish();
                    Ok((sha, len, head[..n].starts_with(LFS_POINTER)))
                })?;
                if lfs {
                    return Err(Error::Content {
                        path: PathBuf::from(path.as_str()),
                        message: "is a Git LFS pointer, not the asset: run `git lfs pull` or keep assets out of LFS".into(),
                    });
                }
                Ok(Ok(Asset {
                    path: (*path).clone(),
                    sha256,
                    size: len,
                    source,
                    declared: classifier.in_asset_dir(path),
                    stamp: None,
                }))
            },
        )
        .collect();
    let mut assets = Vec::new();
    for r in results {
        match r? {
            Ok(a) => assets.push(a),
            Err(f) => found.push(f),
        }
    }
    Ok((assets, found))
}

/// Fill `buf` as far as `r` allows; the number of bytes read.
fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The tree's findings without the generic symlink warning of a path `found` reports as a
/// symlinked asset (KB054): one finding per file.
fn without_asset_links(findings: Vec<Finding>, found: &[Finding]) -> Vec<Finding> {
    let linked: BTreeSet<&str> = found
        .iter()
        .filter(|f| f.code == Code::SymlinkedAsset)
        .map(|f| f.file.as_str())
        .collect();
    findings
        .into_iter()
        .filter(|f| !linked.contains(f.file.as_str()))
        .collect()
}

/// Run `f` on a reader of an asset's bytes: its file (opened as [`crate::fsx`] opens every
/// content file), or its git blob (streamed when the object is loose; libgit2 inflates a
/// packed object whole, so that one is read from the blob it gives).
pub fn with_asset_reader<T>(
    source: &crate::content::AssetSource,
    f: impl FnOnce(&mut dyn std::io::Read) -> Result<T>,
) -> Result<T> {
    use crate::content::AssetSource;
    match source {
        AssetSource::File(path) => {
            let (mut file, _) =
                crate::fsx::open_regular(path).map_err(|e| Error::io("read", path, e))?;
            f(&mut file)
        }
        AssetSource::Git { git_dir, blob } => {
            let what = || format!("blob {blob} of `{}`", git_dir.display());
            let repo = Repository::open(git_dir).map_err(|e| git_err(what(), e))?;
            let oid = Oid::from_str(blob).map_err(|e| git_err(what(), e))?;
            let odb = repo.odb().map_err(|e| git_err(what(), e))?;
            if let Ok((mut reader, _, _)) = odb.reader(oid) {
                return f(&mut reader);
            }
            let b = repo.find_blob(oid).map_err(|e| git_err(what(), e))?;
            f(&mut b.content())
        }
    }
}
