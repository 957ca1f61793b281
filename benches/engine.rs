//! Micro-benchmarks of the two hot paths: hashing a file through its descriptor, and
//! writing baseline rows. Whole-tree comparisons against b3sum and AIDE are in
//! `benches/compare.sh`.

use std::io::Write;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use fim::fs::{Attrs, Entry, FileType, Timestamp};
use fim::scan::hasher::hash_exact;
use fim::store::{Meta, NewBaseline};

fn hasher(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_exact");
    for size in [4u64 << 10, 256 << 10, 64 << 20] {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![0x5a; size as usize]).unwrap();
        group.throughput(Throughput::Bytes(size));
        group.bench_function(format!("{} KiB", size >> 10), |b| {
            b.iter(|| hash_exact(&file, size).unwrap().unwrap())
        });
    }
    group.finish();
}

fn entry(i: u64) -> Entry {
    Entry {
        path: format!(
            "/var/www/html/wp-content/plugins/plugin-{}/includes/file-{i}.php",
            i % 97
        )
        .into_bytes(),
        attrs: Attrs {
            file_type: FileType::File,
            size: 4096 + i,
            mode: 0o644,
            uid: 33,
            gid: 33,
            mtime: Timestamp {
                sec: 1_764_000_000,
                nsec: 123_456_789,
            },
            ctime: Timestamp {
                sec: 1_764_000_000,
                nsec: 123_456_789,
            },
            inode: 1_000_000 + i,
            nlink: 1,
            target: None,
            xattrs: Vec::new(),
            blake3: Some(*blake3::hash(&i.to_le_bytes()).as_bytes()),
        },
    }
}

fn store(c: &mut Criterion) {
    const ROWS: u64 = 10_000;
    let entries: Vec<Entry> = (0..ROWS).map(entry).collect();
    let meta = Meta {
        policy: "[[watch]]\npath = \"/var/www/html\"\n".into(),
        host: "bench".into(),
        fim_version: "bench".into(),
        created: "2026-11-25T00:00:00.000Z".into(),
    };
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(20);
    group.bench_function("init 10k rows", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let mut new = NewBaseline::create(&dir.path().join("b.db"), false, &meta).unwrap();
                for e in &entries {
                    new.insert(e).unwrap();
                }
                new.finish(None).unwrap();
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn seal(c: &mut Criterion) {
    use fim::store::seal::{Digest, Header};
    const ROWS: u64 = 80_000;
    let entries: Vec<Entry> = (0..ROWS).map(entry).collect();
    let header = Header {
        schema_version: 1,
        policy: "[[watch]]\npath = \"/var/www/html\"\n",
        host: "bench",
        fim_version: "bench",
        created: "2026-11-25T00:00:00.000Z",
    };
    let mut group = c.benchmark_group("seal");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(20);
    group.bench_function("digest of 80k rows", |b| {
        b.iter(|| {
            let mut digest = Digest::new(&header);
            for e in &entries {
                digest.row(&e.path, &e.attrs);
            }
            digest.finish()
        })
    });
    group.finish();
}

criterion_group!(benches, hasher, store, seal);
criterion_main!(benches);
