//! Builders of photo bytes with chosen EXIF (capture time, offset, GPS), for the tests and the
//! benchmark: a baseline JPEG layout with an APP1 segment, and a PNG with an eXIf chunk.

/// What to write into the EXIF block.
#[derive(Clone, Debug, Default)]
pub struct ExifSpec {
    /// `DateTimeOriginal`, `YYYY:MM:DD HH:MM:SS`.
    pub taken: Option<String>,
    /// `OffsetTimeOriginal`, `+HH:MM`.
    pub offset: Option<String>,
    /// Signed latitude and longitude (the references get N/S and E/W).
    pub gps: Option<(f64, f64)>,
}

type Field = (u16, u16, u32, Vec<u8>);

fn ascii(tag: u16, text: &str) -> Field {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    (tag, 2, bytes.len() as u32, bytes)
}

fn long(tag: u16, value: u32) -> Field {
    (tag, 4, 1, value.to_be_bytes().to_vec())
}

fn degrees(tag: u16, value: f64) -> Field {
    let value = value.abs();
    let whole = value.trunc();
    let minutes = ((value - whole) * 60.0).trunc();
    let milliseconds = (((value - whole) * 60.0 - minutes) * 60_000.0).round();
    let mut bytes = Vec::new();
    for (num, den) in [(whole, 1), (minutes, 1), (milliseconds, 1000)] {
        bytes.extend_from_slice(&(num as u32).to_be_bytes());
        bytes.extend_from_slice(&(den as u32).to_be_bytes());
    }
    (tag, 5, 3, bytes)
}

/// One big-endian IFD placed at `start`, its out-of-line values after it.
fn ifd(fields: &[Field], start: usize) -> Vec<u8> {
    let mut out = (fields.len() as u16).to_be_bytes().to_vec();
    let mut extra = Vec::new();
    let data_start = start + 2 + fields.len() * 12 + 4;
    for (tag, kind, count, data) in fields {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        if data.len() <= 4 {
            let mut inline = data.clone();
            inline.resize(4, 0);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&((data_start + extra.len()) as u32).to_be_bytes());
            extra.extend_from_slice(data);
        }
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&extra);
    out
}

/// A TIFF structure (big-endian) holding the spec's fields.
pub fn tiff(spec: &ExifSpec) -> Vec<u8> {
    let mut exif_fields = Vec::new();
    if let Some(taken) = &spec.taken {
        exif_fields.push(ascii(0x9003, taken));
    }
    if let Some(offset) = &spec.offset {
        exif_fields.push(ascii(0x9011, offset));
    }
    let gps_fields = spec
        .gps
        .map(|(lat, lng)| {
            vec![
                ascii(1, if lat < 0.0 { "S" } else { "N" }),
                degrees(2, lat),
                ascii(3, if lng < 0.0 { "W" } else { "E" }),
                degrees(4, lng),
            ]
        })
        .unwrap_or_default();
    let ifd0_len = 2 + 2 * 12 + 4;
    let exif_at = 8 + ifd0_len;
    let exif_ifd = ifd(&exif_fields, exif_at);
    let gps_at = exif_at + exif_ifd.len();
    let gps_ifd = ifd(&gps_fields, gps_at);
    let mut out = b"MM\0\x2a\0\0\0\x08".to_vec();
    out.extend(ifd(
        &[long(0x8769, exif_at as u32), long(0x8825, gps_at as u32)],
        8,
    ));
    out.extend(exif_ifd);
    out.extend(gps_ifd);
    out
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// A JPEG: JFIF APP0, an APP1 `Exif` segment with `app1` as its TIFF data (when given), then a
/// scan of `scan_bytes` entropy-coded bytes and EOI.
pub fn jpeg_with_app1(app1: Option<&[u8]>, scan_bytes: usize) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    segment(&mut out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    if let Some(tiff) = app1 {
        let mut body = b"Exif\0\0".to_vec();
        body.extend_from_slice(tiff);
        segment(&mut out, 0xE1, &body);
    }
    segment(&mut out, 0xDA, &[1, 1, 0, 0, 63, 0]);
    out.extend((0..scan_bytes).map(|i| (i % 251) as u8));
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A JPEG with the spec's EXIF (or none) and `scan_bytes` of image data.
pub fn jpeg(spec: Option<&ExifSpec>, scan_bytes: usize) -> Vec<u8> {
    jpeg_with_app1(spec.map(tiff).as_deref(), scan_bytes)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A 1×1 grey PNG with the spec's EXIF in an eXIf chunk (or none).
pub fn png(spec: Option<&ExifSpec>) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    if let Some(spec) = spec {
        chunk(&mut out, b"eXIf", &tiff(spec));
    }
    // zlib stream of the one scanline [filter 0, grey 0x80].
    chunk(
        &mut out,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x02, 0x00, 0xFD, 0xFF, 0x00, 0x80, 0x00, 0x82, 0x00, 0x81,
        ],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}
