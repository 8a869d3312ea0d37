//! The tailer's state file: where each path was read up to, so that a restart resumes exactly.
//!
//! One JSON file in the state directory, keyed by path. An entry names the file generation by
//! device and inode and carries a fingerprint of its first bytes: an inode number can be reused
//! by a new file once the old one is gone, and the fingerprint tells the two apart.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The name of the state file inside the state directory.
pub const STATE_FILE: &str = "log-offsets.json";

/// A state file larger than this is not a state file this tailer wrote.
const MAX_STATE_BYTES: u64 = 4 << 20;

/// Bytes from the start of a file that identify it.
pub const FINGERPRINT_BYTES: u64 = 1024;

/// Where reading of one path stopped: every line before `offset` has been fully handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    /// Lines before `offset`.
    pub line: u64,
    pub fingerprint: Fingerprint,
}

/// A hash of a file's first `len` bytes (at most [`FINGERPRINT_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of no bytes: every file matches it.
    pub const EMPTY: Fingerprint = Fingerprint {
        len: 0,
        hash: FNV_BASIS,
    };

    /// The fingerprint of `file`'s first `min(len, FINGERPRINT_BYTES)` bytes, or `None` when
    /// the file holds fewer bytes than that.
    ///
    /// # Errors
    /// A read error.
    pub fn of(file: &File, len: u64) -> io::Result<Option<Fingerprint>> {
        let len = len.min(FINGERPRINT_BYTES);
        let mut buf = [0u8; FINGERPRINT_BYTES as usize];
        // `len` is at most FINGERPRINT_BYTES, so the cast and the slice are in range.
        let want = &mut buf[..len as usize];
        let mut got = 0;
        while got < want.len() {
            match file.read_at(&mut want[got..], got as u64) {
                Ok(0) => return Ok(None),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Fingerprint {
            len,
            hash: fnv1a(want),
        }))
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken of.
    ///
    /// # Errors
    /// A read error.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        Ok(Fingerprint::of(file, self.len)? == Some(*self))
    }
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: stable across builds and Rust versions, unlike `DefaultHasher`, which matters for a
/// value kept on disk.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_BASIS, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    files: BTreeMap<String, Position>,
}

const VERSION: u32 = 1;

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is larger than {MAX_STATE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path} is not a state file: {source}")]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} has version {found}, this build reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
}

/// The positions kept in `dir`; none when there is no state file yet.
///
/// # Errors
/// A state file that cannot be read or is not one this build wrote.
pub fn load(dir: &Path) -> Result<BTreeMap<String, Position>, LoadError> {
    let path = dir.join(STATE_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(LoadError::Read { path, source }),
    };
    let mut text = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
    if text.len() as u64 > MAX_STATE_BYTES {
        return Err(LoadError::TooLarge { path });
    }
    let state: StateFile = serde_json::from_slice(&text).map_err(|source| LoadError::Invalid {
        path: path.clone(),
        source,
    })?;
    if state.version != VERSION {
        return Err(LoadError::Version {
            path,
            found: state.version,
        });
    }
    Ok(state.files)
}

/// The serialized state of `files`, as [`store`] writes it.
pub fn encode(files: BTreeMap<String, Position>) -> Vec<u8> {
    let state = StateFile {
        version: VERSION,
        files,
    };
    // A map of plain numbers keyed by strings always serializes.
    serde_json::to_vec_pretty(&state).expect("the state serializes")
}

/// Replaces the state file in `dir` by `bytes` atomically: a crash leaves the old or the new
/// file, never a torn one.
///
/// # Errors
/// Any IO error; the old state file is then left as it was.
pub fn store(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(STATE_FILE))?;
    // The rename itself is durable only once the directory is synced.
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let dir = std::env::temp_dir().join(format!("tapio-tail-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).unwrap().is_empty());
        let pos = Position {
            dev: 1,
            ino: 2,
            offset: 3,
            line: 1,
            fingerprint: Fingerprint { len: 3, hash: 9 },
        };
        let files = BTreeMap::from([("/var/log/x.log".to_owned(), pos)]);
        store(&dir, &encode(files.clone())).unwrap();
        assert_eq!(load(&dir).unwrap(), files);
        fs::write(dir.join(STATE_FILE), b"{\"version\":1,\"files\":{\"x\":1}}").unwrap();
        assert!(matches!(load(&dir), Err(LoadError::Invalid { .. })));
        fs::write(dir.join(STATE_FILE), b"{\"version\":7,\"files\":{}}").unwrap();
        assert!(matches!(
            load(&dir),
            Err(LoadError::Version { found: 7, .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
