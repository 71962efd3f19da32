//! Criterion benchmarks of the photo pipeline on a 4 MiB JPEG: EXIF extraction from the header
//! plus the verdict (what every upload path runs), and the SHA-256 of the whole photo.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kasi_fiber::photos::exif::{self, ImageType};
use kasi_fiber::photos::rules::{self, Fence, TimeWindow};
use kasi_fiber::photos::sample::{self, ExifSpec};
use sha2::{Digest, Sha256};

const PHOTO_BYTES: usize = 4 * 1024 * 1024;

fn photo() -> Vec<u8> {
    let spec = ExifSpec {
        taken: Some(chrono::Utc::now().format("%Y:%m:%d %H:%M:%S").to_string()),
        offset: Some("+00:00".into()),
        gps: Some((-26.2001, 28.0401)),
    };
    let bytes = sample::jpeg(Some(&spec), PHOTO_BYTES);
    assert!(bytes.len() >= PHOTO_BYTES);
    bytes
}

fn extraction_and_verdict(c: &mut Criterion) {
    let bytes = photo();
    let fence = Fence::Circle {
        lat: -26.2,
        lng: 28.04,
        radius_m: 250.0,
    };
    let window = TimeWindow {
        max_age: chrono::Duration::hours(24),
        max_future: chrono::Duration::minutes(5),
    };
    let zone = chrono_tz::Africa::Johannesburg;
    let now = chrono::Utc::now();
    let mut group = c.benchmark_group("photo_4mib");
    group.throughput(Throughput::Elements(1));
    group.bench_function("exif_and_verdict", |b| {
        b.iter(|| {
            // The pipeline keeps only the header of a photo; the rest streams past.
            let header = &bytes[..exif::HEADER_BYTES.min(bytes.len())];
            let kind = ImageType::sniff(header).unwrap();
            let reading = rules::reading(&exif::read(kind, header), zone);
            let verdict = rules::judge(&reading, &fence, now, window);
            assert!(verdict.valid());
            verdict
        })
    });
    group.bench_function("sha256", |b| b.iter(|| hex::encode(Sha256::digest(&bytes))));
    group.finish();
}

criterion_group!(benches, extraction_and_verdict);
criterion_main!(benches);
