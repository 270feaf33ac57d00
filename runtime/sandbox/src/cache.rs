//! On-disk cache of compiled components.
//!
//! Entries are keyed by the sha256 of the component bytes and the engine fingerprint, so a new
//! wasmtime version or engine setting never picks up old code. Each entry carries the sha256 of
//! the compiled artifact it holds; an entry whose bytes do not match (truncated, bit-flipped,
//! half-written) is deleted and rebuilt, never handed to wasmtime.
//!
//! Entry layout: `CORDONC1` (8 bytes), sha256 of the artifact (32 bytes), the artifact as
//! produced by `Component::serialize`.
//!
//! The cache holds native code that will run in this process: its directory must be writable
//! only by the operator, like the binary itself. The checksum catches accidents, not an attacker
//! who can write there.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

const MAGIC: &[u8; 8] = b"CORDONC1";
const HEADER: usize = 8 + 32;

/// Where the compiled form of a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Compiled now; no cache configured.
    Compiled,
    /// Not in the cache: compiled now and stored.
    Miss,
    /// Loaded from the cache without compiling.
    Hit,
    /// A cache entry existed but failed its check; it was replaced by a fresh compile.
    Rebuilt,
}

#[derive(Debug, Clone)]
pub(crate) struct ComponentCache {
    dir: PathBuf,
    fingerprint: String,
}

impl ComponentCache {
    pub(crate) fn new(dir: PathBuf, fingerprint: String) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(ComponentCache { dir, fingerprint })
    }

    pub(crate) fn entry_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.fingerprint))
    }

    /// The verified artifact of an entry: `Ok(None)` when there is none, `Err(reason)` when one
    /// exists but is not intact (the caller deletes and rebuilds it).
    pub(crate) fn read(&self, digest: &str) -> Result<Option<Vec<u8>>, String> {
        let path = self.entry_path(digest);
        let mut bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("bad header".into());
        }
        if Sha256::digest(&bytes[HEADER..]).as_slice() != &bytes[8..HEADER] {
            return Err("checksum mismatch".into());
        }
        bytes.drain(..HEADER);
        Ok(Some(bytes))
    }

    /// Stores an artifact atomically (temporary file, then rename), so a crash mid-write leaves
    /// no entry rather than a torn one.
    pub(crate) fn write(&self, digest: &str, artifact: &[u8]) -> std::io::Result<()> {
        let path = self.entry_path(digest);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&Sha256::digest(artifact))?;
        f.write_all(artifact)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)
    }

    pub(crate) fn remove(&self, digest: &str) {
        let _ = std::fs::remove_file(self.entry_path(digest));
    }

    #[cfg(test)]
    fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// Hex sha256 of a component's bytes: its identity everywhere in cordon.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = std::env::temp_dir().join(format!("cordon-cache-test-{}", std::process::id()));
        let cache = ComponentCache::new(dir.clone(), "fp".into()).unwrap();
        assert_eq!(cache.read("d"), Ok(None));
        cache.write("d", b"artifact").unwrap();
        assert_eq!(cache.read("d"), Ok(Some(b"artifact".to_vec())));

        let path = cache.entry_path("d");
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.read("d"), Err("checksum mismatch".into()));

        std::fs::write(&path, b"CORD").unwrap();
        assert_eq!(cache.read("d"), Err("bad header".into()));
        cache.remove("d");
        assert_eq!(cache.read("d"), Ok(None));
        std::fs::remove_dir_all(cache.dir()).unwrap();
    }
}
