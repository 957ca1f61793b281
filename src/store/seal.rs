//! The seal: one BLAKE3 digest over everything a baseline asserts (schema version,
//! policy, metadata, every entry row in path order), optionally signed with ed25519.
//! Each row is hashed on its own as it is written, so the digest is the same whatever
//! order the parallel scan wrote the rows in.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::fs::{Attrs, Entry};

const DOMAIN: &[u8] = b"fim baseline seal v1\0";

/// Append the canonical bytes of one entry row (from its decoded values: fixed-width
/// little-endian integers, length-prefixed byte strings, presence flags) to `buf`. It
/// starts with the length-prefixed path, which orders rows.
pub fn row_bytes(path: &[u8], a: &Attrs, buf: &mut Vec<u8>) {
    bytes(buf, path);
    buf.extend_from_slice(&a.file_type.code().to_le_bytes());
    for n in [
        a.size,
        a.mode.into(),
        a.uid.into(),
        a.gid.into(),
        a.inode,
        a.nlink,
    ] {
        buf.extend_from_slice(&n.to_le_bytes());
    }
    for t in [a.mtime, a.ctime] {
        buf.extend_from_slice(&t.sec.to_le_bytes());
        buf.extend_from_slice(&t.nsec.to_le_bytes());
    }
    optional(buf, a.target.as_deref());
    buf.extend_from_slice(&(a.xattrs.len() as u64).to_le_bytes());
    for (name, value) in &a.xattrs {
        bytes(buf, name);
        bytes(buf, value);
    }
    optional(buf, a.blake3.as_ref().map(|d| &d[..]));
}

fn bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
    buf.extend_from_slice(b);
}

fn optional(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => buf.push(0),
        Some(b) => {
            buf.push(1);
            bytes(buf, b);
        }
    }
}

/// The path inside a row's canonical bytes.
fn row_path(row: &[u8]) -> &[u8] {
    let len = u64::from_le_bytes(row[..8].try_into().unwrap_or_default()) as usize;
    &row[8..8 + len]
}

/// What the seal covers besides the rows.
pub struct Header<'a> {
    pub schema_version: i64,
    pub policy: &'a str,
    pub host: &'a str,
    pub fim_version: &'a str,
    pub created: &'a str,
}

/// The seal digest, fed rows in path order: one BLAKE3 stream over the header and the
/// canonical bytes of every row.
pub struct Digest {
    hasher: blake3::Hasher,
    rows: u64,
    buf: Vec<u8>,
}

impl Digest {
    pub fn new(header: &Header<'_>) -> Digest {
        let mut head = Vec::new();
        head.extend_from_slice(DOMAIN);
        head.extend_from_slice(&header.schema_version.to_le_bytes());
        for field in [
            header.policy,
            header.host,
            header.fim_version,
            header.created,
        ] {
            bytes(&mut head, field.as_bytes());
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(&head);
        Digest {
            hasher,
            rows: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    pub fn row(&mut self, path: &[u8], attrs: &Attrs) {
        row_bytes(path, attrs, &mut self.buf);
        self.rows += 1;
        // Hash in large pieces: many small updates cost more than the hashing.
        if self.buf.len() >= 64 << 10 {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    fn raw_row(&mut self, row: &[u8]) {
        self.buf.extend_from_slice(row);
        self.rows += 1;
        if self.buf.len() >= 64 << 10 {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    pub fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf);
        self.hasher.update(&self.rows.to_le_bytes());
        *self.hasher.finalize().as_bytes()
    }
}

/// Collects rows in any order (the parallel scan's), for a digest in path order: their
/// canonical bytes in one arena, sorted by an index at the end.
#[derive(Default)]
pub struct Sealer {
    arena: Vec<u8>,
    rows: Vec<(usize, usize)>,
}

impl Sealer {
    pub fn add(&mut self, entry: &Entry) {
        let start = self.arena.len();
        row_bytes(&entry.path, &entry.attrs, &mut self.arena);
        self.rows.push((start, self.arena.len()));
    }

    pub fn digest(mut self, header: &Header<'_>) -> [u8; 32] {
        let arena = &self.arena;
        self.rows
            .sort_unstable_by(|a, b| row_path(&arena[a.0..a.1]).cmp(row_path(&arena[b.0..b.1])));
        let mut digest = Digest::new(header);
        for &(start, end) in &self.rows {
            digest.raw_row(&arena[start..end]);
        }
        digest.finish()
    }
}

pub fn sign(key: &SigningKey, digest: &[u8; 32]) -> [u8; 64] {
    key.sign(digest).to_bytes()
}

pub fn verify(key: &VerifyingKey, digest: &[u8; 32], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| key.verify(digest, &s).is_ok())
}
