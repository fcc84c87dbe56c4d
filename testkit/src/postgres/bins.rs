//! Locating the PostgreSQL executables.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::process::{find_on_path, is_executable};

/// Where Debian and Ubuntu install one directory per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The executables a [`super::PgServer`] runs, all from one installation where possible.
#[derive(Debug, Clone)]
pub(crate) struct PgBins {
    pub(crate) initdb: PathBuf,
    pub(crate) pg_ctl: PathBuf,
    pub(crate) psql: PathBuf,
}

impl PgBins {
    /// Finds the binaries in `dir` if given, else next to `initdb` on `PATH`, else in the
    /// highest version under `/usr/lib/postgresql/*/bin`.
    pub(crate) fn find(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => default_dir().ok_or_else(|| missing("initdb"))?,
        };
        let initdb = in_dir(&dir, "initdb").ok_or_else(|| missing("initdb"))?;
        let pg_ctl = in_dir(&dir, "pg_ctl").ok_or_else(|| missing("pg_ctl"))?;
        let psql = in_dir(&dir, "psql")
            .or_else(|| find_on_path("psql"))
            .ok_or_else(|| Error::MissingBinary {
                binary: "psql".into(),
                searched: format!("{} and PATH", dir.display()),
                install: "apt-get install postgresql-client",
            })?;
        Ok(PgBins {
            initdb,
            pg_ctl,
            psql,
        })
    }
}

fn missing(binary: &str) -> Error {
    Error::MissingBinary {
        binary: binary.into(),
        searched: format!("PATH and {DEBIAN_ROOT}/*/bin"),
        install: "apt-get install postgresql",
    }
}

fn in_dir(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    is_executable(&path).then_some(path)
}

fn default_dir() -> Option<PathBuf> {
    if let Some(initdb) = find_on_path("initdb") {
        if let Some(dir) = initdb.parent() {
            if in_dir(dir, "pg_ctl").is_some() {
                return Some(dir.to_path_buf());
            }
        }
    }
    highest_debian_dir(Path::new(DEBIAN_ROOT))
}

/// The `bin` dir of the highest version under `root` that has both `initdb` and `pg_ctl`.
fn highest_debian_dir(root: &Path) -> Option<PathBuf> {
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let name = entry.file_name();
        let Some(version) = parse_version(&name.to_string_lossy()) else {
            continue;
        };
        let bin = entry.path().join("bin");
        if in_dir(&bin, "initdb").is_none() || in_dir(&bin, "pg_ctl").is_none() {
            continue;
        }
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin)
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; anything else → `None`.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10").unwrap() > parse_version("9.6").unwrap());
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("common"), None);
    }

    #[test]
    fn picks_highest_version_with_both_binaries() {
        use std::os::unix::fs::PermissionsExt;
        let root = crate::tempdir::TempDir::new("unit-pgbins").unwrap();
        for (version, complete) in [("9.6", true), ("12", true), ("16", false)] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let names: &[&str] = if complete {
                &["initdb", "pg_ctl"]
            } else {
                &["initdb"]
            };
            for name in names {
                let p = bin.join(name);
                std::fs::write(&p, "").unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        assert_eq!(
            highest_debian_dir(root.path()),
            Some(root.path().join("12").join("bin"))
        );
    }
}
