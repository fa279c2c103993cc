//! What a sync pushes, as Infisical's syncs would (pure: no I/O): the
//! folder's own secrets, plus its secret imports, with secret references
//! expanded, and with `recursive` its subfolders too.
//!
//! - **Imports** (Infisical's `$getInfisicalSecrets` with `includeImports`):
//!   the folder's own keys win; among its imports the *later* one wins; an
//!   imported folder brings its own keys first, then those of its own
//!   imports in order (the first wins there), up to [`MAX_DEPTH`] levels.
//!   Where Infisical skips a cycle or a missing folder silently, this fails
//!   naming the chain: a sync that silently lost keys could prune them.
//! - **References** (`expandSecretReferences`): `${KEY}` is a key of the
//!   secret's own folder, `${env.a.b.KEY}` the key `KEY` of folder `/a/b` in
//!   environment `env` (`${env.KEY}`: its root). Both look at the folder's
//!   own secrets, expanded in turn. A missing key or folder, or a cycle,
//!   fails naming the key and the reference; a literal `${...}` is never
//!   pushed.
//! - **Recursive**: each subfolder's secrets (resolved the same way) join
//!   the folder's; the same key from two folders fails naming both paths.
//!
//! The shell ([`super::source`]) loads folders as [`resolve`] asks for them
//! ([`Resolution::Need`]) and calls it again, until it is done.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use secrecy::{ExposeSecret, SecretString};

/// How deep imports and references nest before the sync fails.
pub const MAX_DEPTH: usize = 10;

/// A folder: environment slug and normalised path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FolderRef {
    pub env: String,
    pub path: String,
}

impl FolderRef {
    pub fn new(env: &str, path: &str) -> FolderRef {
        FolderRef {
            env: env.to_string(),
            path: path.to_string(),
        }
    }
}

impl std::fmt::Display for FolderRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.env, self.path)
    }
}

/// A secret as stored (decrypted). No Debug: it holds the value.
pub struct RawSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: String,
}

/// A loaded folder: its own secrets and its imports, by position.
#[derive(Default)]
pub struct FolderData {
    pub secrets: Vec<RawSecret>,
    pub imports: Vec<FolderRef>,
}

/// What the shell has loaded: `None` for a folder known not to exist.
#[derive(Default)]
pub struct Loaded {
    pub folders: HashMap<FolderRef, Option<FolderData>>,
}

/// A secret as the sync pushes it. No Debug: it holds the value.
pub struct ResolvedSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: String,
    /// The folder the secret comes from (its own, an import, a subfolder).
    pub origin: FolderRef,
}

pub enum Resolution {
    Done {
        secrets: Vec<ResolvedSecret>,
        /// Every folder read besides the sync's own (imports, references).
        read: BTreeSet<FolderRef>,
    },
    /// Load these and call again.
    Need(BTreeSet<FolderRef>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("secret imports form a cycle: {}; remove one of these imports", chain(.0))]
    ImportCycle(Vec<FolderRef>),
    #[error(
        "folder {folder} imports {import}, which does not exist; create it or remove the import"
    )]
    MissingImport {
        folder: FolderRef,
        import: FolderRef,
    },
    #[error("secret `{key}` in {folder} references `${{{reference}}}`, {why}")]
    MissingReference {
        key: String,
        folder: FolderRef,
        reference: String,
        why: &'static str,
    },
    #[error("secret references form a cycle: {}; break it in one of these secrets", .0.join(" -> "))]
    ReferenceCycle(Vec<String>),
    #[error("imports or references nest deeper than {MAX_DEPTH} levels from {0}")]
    TooDeep(FolderRef),
    #[error("key `{key}` is in both {first} and {second}; a recursive sync pushes each key once: rename or remove one")]
    RecursiveClash {
        key: String,
        first: FolderRef,
        second: FolderRef,
    },
}

fn chain(folders: &[FolderRef]) -> String {
    folders
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Resolves `root`'s source (and with `subfolders`, theirs) from what is
/// loaded; asks for what is not.
pub fn resolve(
    root: &FolderRef,
    subfolders: &[FolderRef],
    loaded: &Loaded,
) -> Result<Resolution, SourceError> {
    let mut walk = Walk {
        loaded,
        need: BTreeSet::new(),
        read: BTreeSet::new(),
    };
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    for folder in std::iter::once(root).chain(subfolders) {
        for (key, entry) in walk.merged(folder)? {
            if let Some(first) = out.get(&key) {
                return Err(SourceError::RecursiveClash {
                    key,
                    first: first.folder_of_sync.clone(),
                    second: entry.folder_of_sync,
                });
            }
            out.insert(key, entry);
        }
    }
    let mut secrets = Vec::with_capacity(out.len());
    for (key, entry) in out {
        let value = walk.expand(&entry.origin, &key, entry.value, &mut Vec::new())?;
        if let Some(value) = value {
            secrets.push(ResolvedSecret {
                key,
                value: SecretString::from(value),
                comment: entry.comment,
                origin: entry.origin,
            });
        }
    }
    if !walk.need.is_empty() {
        return Ok(Resolution::Need(walk.need));
    }
    walk.read.remove(root);
    for sub in subfolders {
        walk.read.remove(sub);
    }
    Ok(Resolution::Done {
        secrets,
        read: walk.read,
    })
}

/// A key's raw value and where it comes from.
struct Entry {
    value: String,
    comment: String,
    origin: FolderRef,
    /// The root or subfolder of the sync that brought it (for clashes).
    folder_of_sync: FolderRef,
}

struct Walk<'a> {
    loaded: &'a Loaded,
    need: BTreeSet<FolderRef>,
    read: BTreeSet<FolderRef>,
}

/// A folder's state: loaded, missing, or still to load.
enum Lookup<'a> {
    Found(&'a FolderData),
    Missing,
    NotLoaded,
}

impl<'a> Walk<'a> {
    fn folder(&mut self, at: &FolderRef) -> Lookup<'a> {
        self.read.insert(at.clone());
        match self.loaded.folders.get(at) {
            Some(Some(data)) => Lookup::Found(data),
            Some(None) => Lookup::Missing,
            None => {
                self.need.insert(at.clone());
                Lookup::NotLoaded
            }
        }
    }

    /// A sync folder's keys: own first, then its imports, the later import
    /// winning (Infisical's order).
    fn merged(&mut self, at: &FolderRef) -> Result<BTreeMap<String, Entry>, SourceError> {
        let mut out = BTreeMap::new();
        let Lookup::Found(data) = self.folder(at) else {
            // The sync's own folder is checked to exist before this; a
            // subfolder deleted meanwhile has nothing to give.
            return Ok(out);
        };
        let entry = |s: &RawSecret, origin: &FolderRef| Entry {
            value: s.value.expose_secret().to_string(),
            comment: s.comment.clone(),
            origin: origin.clone(),
            folder_of_sync: at.clone(),
        };
        for s in &data.secrets {
            out.insert(s.key.clone(), entry(s, at));
        }
        for import in data.imports.iter().rev() {
            let mut chain = vec![at.clone()];
            for (secret, origin) in self.flattened(at, import, &mut chain)? {
                if !out.contains_key(&secret.key) {
                    out.insert(secret.key.clone(), entry(secret, &origin));
                }
            }
        }
        Ok(out)
    }

    /// An imported folder's secrets: its own, then its imports' in order,
    /// the first of a key winning (Infisical's `unique`).
    fn flattened(
        &mut self,
        from: &FolderRef,
        at: &FolderRef,
        chain: &mut Vec<FolderRef>,
    ) -> Result<Vec<(&'a RawSecret, FolderRef)>, SourceError> {
        if chain.contains(at) {
            let mut cycle = chain.clone();
            cycle.push(at.clone());
            return Err(SourceError::ImportCycle(cycle));
        }
        if chain.len() > MAX_DEPTH {
            return Err(SourceError::TooDeep(chain[0].clone()));
        }
        let data = match self.folder(at) {
            Lookup::Found(data) => data,
            Lookup::NotLoaded => return Ok(Vec::new()),
            Lookup::Missing => {
                return Err(SourceError::MissingImport {
                    folder: from.clone(),
                    import: at.clone(),
                })
            }
        };
        chain.push(at.clone());
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for s in &data.secrets {
            if seen.insert(s.key.clone()) {
                out.push((s, at.clone()));
            }
        }
        for import in &data.imports {
            for (s, origin) in self.flattened(at, import, chain)? {
                if seen.insert(s.key.clone()) {
                    out.push((s, origin));
                }
            }
        }
        chain.pop();
        Ok(out)
    }

    /// `value` of secret `key` in folder `at`, references expanded; None
    /// while a folder it needs is not loaded.
    fn expand(
        &mut self,
        at: &FolderRef,
        key: &str,
        value: String,
        stack: &mut Vec<String>,
    ) -> Result<Option<String>, SourceError> {
        if !value.contains("${") {
            return Ok(Some(value));
        }
        let here = format!("{at}/{key}");
        if stack.contains(&here) {
            let mut cycle = stack.clone();
            cycle.push(here);
            return Err(SourceError::ReferenceCycle(cycle));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(SourceError::TooDeep(at.clone()));
        }
        stack.push(here);
        let mut out = String::with_capacity(value.len());
        let mut rest = value.as_str();
        let mut complete = true;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                // Not a reference: kept as written.
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let reference = &after[..end];
            let missing = |why| SourceError::MissingReference {
                key: key.to_string(),
                folder: at.clone(),
                reference: reference.to_string(),
                why,
            };
            let (target, target_key) = parse_reference(at, reference)
                .ok_or_else(|| missing("which is not `KEY` or `environment.path.KEY`"))?;
            match self.folder(&target) {
                Lookup::NotLoaded => complete = false,
                Lookup::Missing => return Err(missing("but that folder does not exist")),
                Lookup::Found(data) => {
                    let secret = data
                        .secrets
                        .iter()
                        .find(|s| s.key == target_key)
                        .ok_or_else(|| missing("but no such secret exists"))?;
                    let raw = secret.value.expose_secret().to_string();
                    match self.expand(&target, &target_key, raw, stack)? {
                        Some(v) => out.push_str(&v),
                        None => complete = false,
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        stack.pop();
        Ok(complete.then_some(out))
    }
}

/// `KEY` (in `at`) or `env.a.b.KEY` (folder `/a/b` of `env`).
fn parse_reference(at: &FolderRef, reference: &str) -> Option<(FolderRef, String)> {
    let parts: Vec<&str> = reference.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    match parts.as_slice() {
        [key] => Some((at.clone(), key.to_string())),
        [env, middle @ .., key] => {
            let path = format!("/{}", middle.join("/"));
            Some((FolderRef::new(env, &path), key.to_string()))
        }
        [] => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(key: &str, value: &str) -> RawSecret {
        RawSecret {
            key: key.into(),
            value: SecretString::from(value.to_string()),
            comment: String::new(),
        }
    }

    fn folder(secrets: &[(&str, &str)], imports: &[(&str, &str)]) -> Option<FolderData> {
        Some(FolderData {
            secrets: secrets.iter().map(|(k, v)| secret(k, v)).collect(),
            imports: imports.iter().map(|(e, p)| FolderRef::new(e, p)).collect(),
        })
    }

    /// Resolves with `folders` loaded, asking for nothing more.
    fn run(
        root: &FolderRef,
        subfolders: &[FolderRef],
        folders: Vec<(FolderRef, Option<FolderData>)>,
    ) -> Result<Vec<(String, String, String)>, SourceError> {
        let loaded = Loaded {
            folders: folders.into_iter().collect(),
        };
        match resolve(root, subfolders, &loaded)? {
            Resolution::Done { secrets, .. } => Ok(secrets
                .into_iter()
                .map(|s| {
                    (
                        s.key,
                        s.value.expose_secret().to_string(),
                        s.origin.to_string(),
                    )
                })
                .collect()),
            Resolution::Need(need) => panic!("needs {need:?}"),
        }
    }

    fn f(env: &str, path: &str) -> FolderRef {
        FolderRef::new(env, path)
    }

    #[test]
    fn own_keys_win_then_the_later_import_and_nested_imports_come_after_their_folder() {
        let root = f("prod", "/app");
        let got = run(
            &root,
            &[],
            vec![
                (
                    root.clone(),
                    folder(&[("A", "own")], &[("shared", "/one"), ("shared", "/two")]),
                ),
                (
                    f("shared", "/one"),
                    folder(&[("A", "one"), ("B", "one"), ("C", "one")], &[]),
                ),
                (
                    f("shared", "/two"),
                    folder(&[("B", "two")], &[("shared", "/deep")]),
                ),
                (
                    f("shared", "/deep"),
                    folder(&[("B", "deep"), ("D", "deep")], &[]),
                ),
            ],
        )
        .map_err(|e| e.to_string());
        assert_eq!(
            got,
            Ok(vec![
                ("A".into(), "own".into(), "prod:/app".into()),
                ("B".into(), "two".into(), "shared:/two".into()),
                ("C".into(), "one".into(), "shared:/one".into()),
                ("D".into(), "deep".into(), "shared:/deep".into()),
            ])
        );
    }

    #[test]
    fn references_expand_at_two_levels_in_the_secrets_own_folder() {
        let root = f("prod", "/app");
        let got = run(
            &root,
            &[],
            vec![
                (
                    root.clone(),
                    folder(
                        &[("HOST", "db"), ("URL", "pg://${HOST}:${shared.net.PORT}/x")],
                        &[("shared", "/")],
                    ),
                ),
                // Imported, and expanded where it lives: HOST is shared's.
                (
                    f("shared", "/"),
                    folder(&[("HOST", "shared-db"), ("DSN", "${HOST}")], &[]),
                ),
                (
                    f("shared", "/net"),
                    folder(&[("PORT", "${BASE}2"), ("BASE", "543")], &[]),
                ),
            ],
        )
        .map_err(|e| e.to_string());
        assert_eq!(
            got,
            Ok(vec![
                ("DSN".into(), "shared-db".into(), "shared:/".into()),
                ("HOST".into(), "db".into(), "prod:/app".into()),
                ("URL".into(), "pg://db:5432/x".into(), "prod:/app".into()),
            ])
        );
    }

    #[test]
    fn what_is_not_loaded_is_asked_for_and_nothing_is_half_expanded() {
        let root = f("prod", "/app");
        let loaded = Loaded {
            folders: [(
                root.clone(),
                folder(&[("A", "${dev.x.B}")], &[("dev", "/y")]),
            )]
            .into_iter()
            .collect(),
        };
        match resolve(&root, &[], &loaded) {
            Ok(Resolution::Need(need)) => {
                assert_eq!(
                    need.into_iter().collect::<Vec<_>>(),
                    vec![f("dev", "/x"), f("dev", "/y")]
                )
            }
            _ => panic!("expected a request for more folders"),
        }
    }

    #[test]
    fn cycles_missing_references_and_clashes_fail_naming_what_to_fix() {
        let root = f("prod", "/app");
        let err = |folders| {
            run(&root, &[], folders)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let cycle = err(vec![
            (root.clone(), folder(&[], &[("s", "/a")])),
            (f("s", "/a"), folder(&[], &[("s", "/b")])),
            (f("s", "/b"), folder(&[], &[("s", "/a")])),
        ]);
        assert!(
            cycle.contains("prod:/app -> s:/a -> s:/b -> s:/a"),
            "{cycle}"
        );
        let refs = err(vec![(
            root.clone(),
            folder(&[("A", "${B}"), ("B", "x${A}")], &[]),
        )]);
        assert!(
            refs.contains("cycle") && refs.contains("prod:/app/A -> prod:/app/B -> prod:/app/A"),
            "{refs}"
        );
        let missing = err(vec![(root.clone(), folder(&[("A", "${NOPE}")], &[]))]);
        assert!(
            missing.contains("`A`")
                && missing.contains("${NOPE}")
                && missing.contains("no such secret"),
            "{missing}"
        );
        let gone = err(vec![
            (root.clone(), folder(&[("A", "${dev.gone.K}")], &[])),
            (f("dev", "/gone"), None),
        ]);
        assert!(gone.contains("that folder does not exist"), "{gone}");
        let import = err(vec![
            (root.clone(), folder(&[], &[("dev", "/gone")])),
            (f("dev", "/gone"), None),
        ]);
        assert!(
            import.contains("imports dev:/gone, which does not exist"),
            "{import}"
        );
        let sub = f("prod", "/app/sub");
        let clash = run(
            &root,
            std::slice::from_ref(&sub),
            vec![
                (root.clone(), folder(&[("K", "1")], &[])),
                (sub.clone(), folder(&[("K", "2")], &[])),
            ],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            clash.contains("`K` is in both prod:/app and prod:/app/sub"),
            "{clash}"
        );
    }

    #[test]
    fn recursive_adds_subfolders_and_unclosed_braces_stay_text() {
        let root = f("prod", "/");
        let sub = f("prod", "/a");
        let got = run(
            &root,
            std::slice::from_ref(&sub),
            vec![
                (root.clone(), folder(&[("X", "a${b")], &[])),
                (sub.clone(), folder(&[("Y", "${X}")], &[("prod", "/")])),
            ],
        );
        // /a imports the root, so X comes from both: a clash.
        assert!(got.is_err_and(|e| matches!(e, SourceError::RecursiveClash { .. })));
        let got = run(
            &root,
            std::slice::from_ref(&sub),
            vec![
                (root.clone(), folder(&[("X", "a${b")], &[])),
                (sub.clone(), folder(&[("Y", "${prod.X}")], &[])),
            ],
        )
        .map_err(|e| e.to_string());
        assert_eq!(
            got,
            Ok(vec![
                ("X".into(), "a${b".into(), "prod:/".into()),
                ("Y".into(), "a${b".into(), "prod:/a".into()),
            ])
        );
    }
}
