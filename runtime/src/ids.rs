//! Identifiers: event ids, session ids and stream epochs. Unique per process and, with high
//! probability, across processes: a random node prefix followed by a counter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random bits for this process (std's `RandomState` is seeded from the OS).
fn node() -> u64 {
    static NODE: OnceLock<u64> = OnceLock::new();
    *NODE.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        RandomState::new().hash_one((nanos, std::process::id()))
    })
}

/// A new unique id: 16 hex digits of node, then the counter in hex.
pub(crate) fn next() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{n:x}", node())
}

/// A new stream epoch: short, unique, never reused by this process.
pub(crate) fn epoch() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}{n:x}", node() as u32)
}

/// This process's node id (16 hex digits), carried by events it sends through a backplane.
pub(crate) fn node_id() -> String {
    format!("{:016x}", node())
}

/// A random (version 4) UUID, from the OS-seeded hasher and the counter.
pub(crate) fn uuid() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = RandomState::new().hash_one((node(), n));
    let b = RandomState::new().hash_one((n, node(), a));
    let hi = (a & 0xffff_ffff_ffff_0fff) | 0x4000; // version 4
    let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000; // variant 10
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}
