//! Criterion benchmark of the `.sor` reader: single-threaded parse throughput over the seven
//! sample traces in `tests/data/otdr` (bytes per second of whole files, checksum included).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kasi_fiber::optical::sor;

const SAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/otdr/");

fn samples() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(SAMPLE_DIR)
        .expect("tests/data/otdr is in the repository")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "sor"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read(path).expect("readable sample"))
        .collect()
}

fn parse_all_samples(c: &mut Criterion) {
    let samples = samples();
    assert_eq!(samples.len(), 7, "the seven sample traces");
    let bytes: usize = samples.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("sor");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse seven sample traces", |b| {
        b.iter(|| {
            for file in &samples {
                std::hint::black_box(sor::parse(file).expect("sample parses"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse_all_samples);
criterion_main!(benches);
