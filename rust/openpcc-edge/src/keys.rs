//! The gateway's keys: JSON files in a directory (read-only here, so replicas can share it),
//! reloaded when the directory changes, each with a validity window. A key is *published* from
//! the moment its file exists until its window ends (so the next key is known to clients before it
//! becomes active) and *accepted* only inside its window.
//!
//! File format (`<anything>.json`; names starting with `.` are ignored, so writers can write a
//! dot-file and rename it into place atomically):
//! `{"key_id": 1, "kem": 48, "seed": "<64 hex>", "active_from": <unix s>, "active_until": <unix s>}`.
//! `kem` is 32 (X25519) or 48 (`X25519Kyber768Draft00`); the suite is HKDF-SHA256 / AES-128-GCM.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use openpcc_ohttp::{Aead, GatewayKey, Kdf, Kem, SymmetricSuite};
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::Error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    key_id: u8,
    kem: u16,
    seed: String,
    active_from: u64,
    active_until: u64,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

/// One loaded key and its window (unix seconds, inclusive).
#[derive(Clone)]
pub struct WindowedKey {
    /// The key pair.
    pub key: GatewayKey,
    /// First second the key is accepted.
    pub active_from: u64,
    /// Last second the key is accepted.
    pub active_until: u64,
    encoded: Vec<u8>,
}

/// Why no key opens a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// No key with this id is published.
    NotFound,
    /// The key exists but its window does not contain now.
    Inactive,
}

/// The keys loaded from the directory at one moment.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<WindowedKey>,
}

/// Seconds since the epoch.
#[must_use]
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn load_file(path: &Path) -> Result<WindowedKey, Error> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|_| Error::KeyFile("unreadable"))?);
    let file: KeyFile =
        serde_json::from_str(&text).map_err(|_| Error::KeyFile("not a key file"))?;
    let kem = match file.kem {
        0x0020 => Kem::X25519,
        0x0030 => Kem::X25519Kyber768Draft00,
        _ => {
            return Err(Error::KeyFile(
                "kem must be 32 (X25519) or 48 (X25519Kyber768Draft00)",
            ))
        }
    };
    if file.active_until <= file.active_from {
        return Err(Error::KeyFile("active_until must be after active_from"));
    }
    let seed = Zeroizing::new(
        hex::decode(file.seed.as_bytes()).map_err(|_| Error::KeyFile("seed is not hex"))?,
    );
    if seed.len() < 32 {
        return Err(Error::KeyFile("seed shorter than 32 bytes"));
    }
    let suite = vec![SymmetricSuite {
        kdf: Kdf::HkdfSha256,
        aead: Aead::Aes128Gcm,
    }];
    let key = GatewayKey::from_seed(file.key_id, kem, &seed, suite)
        .map_err(|_| Error::KeyFile("seed rejected"))?;
    let mut encoded = Vec::new();
    let config = key.key_config();
    let len =
        u16::try_from(config.encoded_len()).map_err(|_| Error::KeyFile("key config too long"))?;
    encoded.extend_from_slice(&len.to_be_bytes());
    config.encode(&mut encoded);
    Ok(WindowedKey {
        key,
        active_from: file.active_from,
        active_until: file.active_until,
        encoded,
    })
}

/// The key files of `dir` with their modification times, sorted: changes when any file changes.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name.ends_with(".json")
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.modified().ok()?, meta.len()))
        })
        .collect();
    entries.sort();
    entries
}

impl KeySet {
    /// Loads every key file of `dir`. Files that do not parse are skipped and counted; two files
    /// with the same key id and overlapping windows make the later one (by name) skipped too.
    #[must_use]
    pub fn load(dir: &Path) -> (Self, usize) {
        let mut keys: Vec<WindowedKey> = Vec::new();
        let mut skipped = 0;
        for (path, _, _) in fingerprint(dir) {
            match load_file(&path) {
                Ok(k)
                    if keys.iter().any(|o| {
                        o.key.key_config().key_id() == k.key.key_config().key_id()
                            && o.active_from <= k.active_until
                            && k.active_from <= o.active_until
                    }) =>
                {
                    skipped += 1;
                }
                Ok(k) => keys.push(k),
                Err(_) => skipped += 1,
            }
        }
        keys.sort_by_key(|k| k.active_from);
        (Self { keys }, skipped)
    }

    /// The key for `key_id` accepted at `now`.
    pub fn accept(&self, key_id: u8, now: u64) -> Result<&GatewayKey, KeyProblem> {
        let mut found = false;
        for k in self
            .keys
            .iter()
            .filter(|k| k.key.key_config().key_id() == key_id)
        {
            found = true;
            if k.active_from <= now && now <= k.active_until {
                return Ok(&k.key);
            }
        }
        Err(if found {
            KeyProblem::Inactive
        } else {
            KeyProblem::NotFound
        })
    }

    /// Keys not yet expired at `now` (active or upcoming), oldest first.
    pub fn published(&self, now: u64) -> impl Iterator<Item = &WindowedKey> {
        self.keys.iter().filter(move |k| now <= k.active_until)
    }

    /// The `application/ohttp-keys` list of the published keys.
    #[must_use]
    pub fn encoded_configs(&self, now: u64) -> Vec<u8> {
        self.published(now)
            .flat_map(|k| k.encoded.iter().copied())
            .collect()
    }

    /// Number of keys active at `now`.
    #[must_use]
    pub fn active_count(&self, now: u64) -> usize {
        self.keys
            .iter()
            .filter(|k| k.active_from <= now && now <= k.active_until)
            .count()
    }

    /// `[{"key_id":..,"kem":..,"active_from":..,"active_until":..}]` of the published keys.
    #[must_use]
    pub fn periods_json(&self, now: u64) -> String {
        let periods: Vec<serde_json::Value> = self
            .published(now)
            .map(|k| {
                serde_json::json!({
                    "key_id": k.key.key_config().key_id(),
                    "kem": k.key.key_config().kem().id(),
                    "active_from": k.active_from,
                    "active_until": k.active_until,
                })
            })
            .collect();
        serde_json::Value::Array(periods).to_string()
    }
}

/// The current key set, swapped in whole when the directory changes.
pub struct KeyStore {
    dir: PathBuf,
    current: RwLock<Arc<KeySet>>,
    seen: std::sync::Mutex<Vec<(PathBuf, SystemTime, u64)>>,
    skipped: std::sync::atomic::AtomicUsize,
}

impl KeyStore {
    /// Loads `dir` once; fails when the directory cannot be read.
    pub fn open(dir: PathBuf) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::KeyFile("keys_dir is not a readable directory"));
        }
        let seen = fingerprint(&dir);
        let (set, skipped) = KeySet::load(&dir);
        Ok(Self {
            dir,
            current: RwLock::new(Arc::new(set)),
            seen: std::sync::Mutex::new(seen),
            skipped: std::sync::atomic::AtomicUsize::new(skipped),
        })
    }

    /// The current set.
    #[must_use]
    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Files skipped at the last load.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reloads when the directory changed; returns whether it did. An empty result keeps the old
    /// set (a half-finished rotation must not leave the gateway without keys).
    pub fn refresh(&self) -> bool {
        let print = fingerprint(&self.dir);
        {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen == print {
                return false;
            }
            *seen = print;
        }
        let (set, skipped) = KeySet::load(&self.dir);
        self.skipped
            .store(skipped, std::sync::atomic::Ordering::Relaxed);
        if set.keys.is_empty() && !self.current().keys.is_empty() {
            return false;
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, key_id: u8, kem: u16, from: u64, until: u64) {
        let body = format!(
            r#"{{"key_id":{key_id},"kem":{kem},"seed":"{}","active_from":{from},"active_until":{until}}}"#,
            "ab".repeat(32)
        );
        std::fs::write(dir.join(name), body).unwrap();
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("openpcc-edge-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn windows_publish_early_and_accept_inside() {
        let dir = temp_dir("windows");
        write(&dir, "a.json", 1, 0x0020, 100, 200);
        write(&dir, "b.json", 2, 0x0030, 180, 300);
        write(&dir, ".hidden.json", 3, 0x0020, 0, 1000); // ignored: half-written files are dot-files
        write(&dir, "bad.json", 4, 0x0099, 0, 1000); // skipped: unknown KEM
        std::fs::write(dir.join("junk.json"), "{not json").unwrap();
        let (set, skipped) = KeySet::load(&dir);
        assert_eq!(skipped, 2);
        assert!(set.accept(1, 150).is_ok());
        assert_eq!(set.accept(2, 150).err(), Some(KeyProblem::Inactive)); // published, not yet active
        assert_eq!(set.published(150).count(), 2);
        assert!(set.accept(1, 190).is_ok() && set.accept(2, 190).is_ok()); // overlap
        assert_eq!(set.accept(1, 201).err(), Some(KeyProblem::Inactive));
        assert_eq!(set.accept(3, 150).err(), Some(KeyProblem::NotFound));
        assert_eq!(set.published(250).count(), 1);
        let configs = decode_configs(&set.encoded_configs(150));
        assert_eq!(configs, vec![(1, 0x0020), (2, 0x0030)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn decode_configs(data: &[u8]) -> Vec<(u8, u16)> {
        openpcc_ohttp::decode_key_configs(data)
            .unwrap()
            .iter()
            .map(|c| (c.key_id(), c.kem().id()))
            .collect()
    }

    #[test]
    fn refresh_sees_new_files_and_keeps_keys_when_emptied() {
        let dir = temp_dir("refresh");
        write(&dir, "a.json", 1, 0x0020, 0, u64::MAX / 2);
        let store = KeyStore::open(dir.clone()).unwrap();
        assert_eq!(store.current().active_count(10), 1);
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&dir, "b.json", 2, 0x0020, 0, u64::MAX / 2);
        assert!(store.refresh());
        assert_eq!(store.current().active_count(10), 2);
        std::fs::remove_file(dir.join("a.json")).unwrap();
        std::fs::remove_file(dir.join("b.json")).unwrap();
        assert!(!store.refresh()); // an emptied directory keeps the last keys
        assert_eq!(store.current().active_count(10), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
