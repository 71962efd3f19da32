//! What a photo's first bytes say: its type from the magic bytes (JPEG, PNG, HEIC) and, for
//! JPEG (APP1) and PNG (eXIf), the EXIF capture time, its offset and GPS position. Only the
//! header is read; the caller passes at most [`HEADER_BYTES`] of the file.

use chrono::{FixedOffset, NaiveDateTime};

/// How much of the start of a file is kept for sniffing and EXIF: an APP1 segment is at most
/// 64 KiB, and cameras put it first (after an optional APP0).
pub const HEADER_BYTES: usize = 192 * 1024;

const TAG_EXIF_IFD: u16 = 0x8769;
const TAG_GPS_IFD: u16 = 0x8825;
const TAG_DATE_TIME_ORIGINAL: u16 = 0x9003;
const TAG_OFFSET_TIME_ORIGINAL: u16 = 0x9011;
const TAG_GPS_LATITUDE_REF: u16 = 1;
const TAG_GPS_LATITUDE: u16 = 2;
const TAG_GPS_LONGITUDE_REF: u16 = 3;
const TAG_GPS_LONGITUDE: u16 = 4;

/// The image formats accepted as photos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Heic,
}

impl ImageType {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Heic => "image/heic",
        }
    }

    /// The type the magic bytes announce; `None` for anything else (whatever the name says).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(ImageType::Jpeg);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(ImageType::Png);
        }
        if head.len() >= 12
            && &head[4..8] == b"ftyp"
            && matches!(
                &head[8..12],
                b"heic" | b"heix" | b"heim" | b"heis" | b"mif1"
            )
        {
            return Some(ImageType::Heic);
        }
        None
    }
}

/// The EXIF fields the evidence rules use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exif {
    /// `DateTimeOriginal`, camera-local.
    pub taken: Option<NaiveDateTime>,
    /// `OffsetTimeOriginal`, when the camera wrote one.
    pub offset: Option<FixedOffset>,
    /// Signed decimal degrees (S and W negative).
    pub gps: Option<(f64, f64)>,
}

/// What the header held.
#[derive(Clone, Debug, PartialEq)]
pub enum ExifOutcome {
    Found(Exif),
    /// No EXIF block (or a format whose EXIF is not read: HEIC).
    Missing,
    /// An EXIF block that cannot be read, and why.
    Corrupt(String),
}

/// Reads the EXIF block of a JPEG or PNG from its first bytes.
pub fn read(kind: ImageType, head: &[u8]) -> ExifOutcome {
    let block = match kind {
        ImageType::Jpeg => jpeg_app1(head),
        ImageType::Png => png_exif(head),
        ImageType::Heic => Ok(None),
    };
    match block {
        Ok(Some(tiff)) => match parse_tiff(tiff) {
            Ok(exif) => ExifOutcome::Found(exif),
            Err(why) => ExifOutcome::Corrupt(why),
        },
        Ok(None) => ExifOutcome::Missing,
        Err(why) => ExifOutcome::Corrupt(why),
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The TIFF data of the first `Exif` APP1 segment, walking the segments before the scan.
fn jpeg_app1(head: &[u8]) -> Result<Option<&[u8]>, String> {
    let mut at = 2;
    loop {
        while head.get(at) == Some(&0xFF) && head.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (head.get(at), head.get(at + 1)) else {
            return Ok(None);
        };
        match marker {
            0xD9 | 0xDA => return Ok(None),
            0x01 | 0xD0..=0xD7 => {
                at += 2;
                continue;
            }
            _ => {}
        }
        let Some(length) = be16(head, at + 2).map(usize::from) else {
            return Ok(None);
        };
        if length < 2 {
            return Err(format!("JPEG segment {marker:#04x} has length {length}"));
        }
        let body = at + 4..at + 2 + length;
        if marker == 0xE1 && head.get(at + 4..at + 10) == Some(b"Exif\0\0") {
            return head
                .get(body.start + 6..body.end)
                .map(Some)
                .ok_or_else(|| "EXIF segment is truncated".to_string());
        }
        at = body.end;
    }
}

/// The data of the `eXIf` chunk, walking the chunks before the image data.
fn png_exif(head: &[u8]) -> Result<Option<&[u8]>, String> {
    let mut at = 8;
    loop {
        let (Some(length), Some(kind)) = (be32(head, at), head.get(at + 4..at + 8)) else {
            return Ok(None);
        };
        let data = at + 8..at + 8 + length as usize;
        match kind {
            b"eXIf" => {
                return head
                    .get(data)
                    .map(Some)
                    .ok_or_else(|| "eXIf chunk is truncated".to_string());
            }
            b"IDAT" | b"IEND" => return Ok(None),
            _ => at = data.end + 4,
        }
    }
}

/// A TIFF structure in either byte order.
struct Tiff<'a> {
    data: &'a [u8],
    little: bool,
}

/// One IFD entry: type, count and the 4 bytes of value or offset.
#[derive(Clone, Copy)]
struct Entry {
    kind: u16,
    count: u32,
    value_at: usize,
}

impl<'a> Tiff<'a> {
    fn u16(&self, at: usize) -> Result<u16, String> {
        let bytes: [u8; 2] = self
            .data
            .get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("offset {at} is past the end of the EXIF block"))?;
        Ok(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32(&self, at: usize) -> Result<u32, String> {
        let bytes: [u8; 4] = self
            .data
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("offset {at} is past the end of the EXIF block"))?;
        Ok(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    /// The entries of the IFD at `at`, by tag.
    fn ifd(&self, at: usize) -> Result<Vec<(u16, Entry)>, String> {
        let count = usize::from(self.u16(at)?);
        (0..count)
            .map(|i| {
                let entry = at + 2 + i * 12;
                Ok((
                    self.u16(entry)?,
                    Entry {
                        kind: self.u16(entry + 2)?,
                        count: self.u32(entry + 4)?,
                        value_at: entry + 8,
                    },
                ))
            })
            .collect()
    }

    /// The bytes of an entry's value (inline when it fits in four bytes).
    fn bytes(&self, entry: Entry, unit: usize) -> Result<&'a [u8], String> {
        let size = unit
            .checked_mul(entry.count as usize)
            .ok_or("EXIF value size overflows")?;
        let start = if size <= 4 {
            entry.value_at
        } else {
            self.u32(entry.value_at)? as usize
        };
        self.data
            .get(start..start.saturating_add(size))
            .ok_or_else(|| "an EXIF value points past the end of the block".to_string())
    }

    fn ascii(&self, entry: Entry) -> Result<String, String> {
        if entry.kind != 2 {
            return Err(format!(
                "expected an ASCII value, found type {}",
                entry.kind
            ));
        }
        let bytes = self.bytes(entry, 1)?;
        let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
        Ok(String::from_utf8_lossy(text).trim().to_string())
    }

    /// Degrees, minutes and seconds (three RATIONALs) as decimal degrees.
    fn degrees(&self, entry: Entry) -> Result<f64, String> {
        if entry.kind != 5 || entry.count != 3 {
            return Err("GPS coordinates are not three rationals".into());
        }
        let start = self.u32(entry.value_at)? as usize;
        let mut parts = [0.0; 3];
        for (i, part) in parts.iter_mut().enumerate() {
            let (num, den) = (self.u32(start + i * 8)?, self.u32(start + i * 8 + 4)?);
            if den == 0 {
                return Err("GPS coordinate has a zero denominator".into());
            }
            *part = f64::from(num) / f64::from(den);
        }
        Ok(parts[0] + parts[1] / 60.0 + parts[2] / 3600.0)
    }
}

fn find(ifd: &[(u16, Entry)], tag: u16) -> Option<Entry> {
    ifd.iter().find(|(t, _)| *t == tag).map(|(_, entry)| *entry)
}

fn parse_tiff(data: &[u8]) -> Result<Exif, String> {
    let little = match data.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return Err("EXIF block has no TIFF byte-order mark".into()),
    };
    let tiff = Tiff { data, little };
    if tiff.u16(2)? != 42 {
        return Err("EXIF block has a bad TIFF magic number".into());
    }
    let ifd0 = tiff.ifd(tiff.u32(4)? as usize)?;
    let mut exif = Exif::default();
    if let Some(pointer) = find(&ifd0, TAG_EXIF_IFD) {
        let sub = tiff.ifd(tiff.u32(pointer.value_at)? as usize)?;
        if let Some(entry) = find(&sub, TAG_DATE_TIME_ORIGINAL) {
            let text = tiff.ascii(entry)?;
            exif.taken = Some(
                NaiveDateTime::parse_from_str(&text, "%Y:%m:%d %H:%M:%S")
                    .map_err(|_| format!("DateTimeOriginal `{text}` is not YYYY:MM:DD HH:MM:SS"))?,
            );
        }
        if let Some(entry) = find(&sub, TAG_OFFSET_TIME_ORIGINAL) {
            let text = tiff.ascii(entry)?;
            exif.offset = Some(
                text.parse::<FixedOffset>()
                    .map_err(|_| format!("OffsetTimeOriginal `{text}` is not ±HH:MM"))?,
            );
        }
    }
    if let Some(pointer) = find(&ifd0, TAG_GPS_IFD) {
        let gps = tiff.ifd(tiff.u32(pointer.value_at)? as usize)?;
        let coordinate = |value: u16, reference: u16, negative: &str, limit: f64| {
            let (Some(value), Some(reference)) = (find(&gps, value), find(&gps, reference)) else {
                return Ok(None);
            };
            let degrees = tiff.degrees(value)?;
            let reference = tiff.ascii(reference)?;
            if degrees > limit {
                return Err(format!("GPS coordinate {degrees} is out of range"));
            }
            Ok::<_, String>(Some(if reference.eq_ignore_ascii_case(negative) {
                -degrees
            } else {
                degrees
            }))
        };
        let lat = coordinate(TAG_GPS_LATITUDE, TAG_GPS_LATITUDE_REF, "S", 90.0)?;
        let lng = coordinate(TAG_GPS_LONGITUDE, TAG_GPS_LONGITUDE_REF, "W", 180.0)?;
        if let (Some(lat), Some(lng)) = (lat, lng) {
            // Six decimals (about 0.1 m), as the old service stored them.
            let round = |degrees: f64| (degrees * 1e6).round() / 1e6;
            exif.gps = Some((round(lat), round(lng)));
        }
    }
    Ok(exif)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::sample::{self, ExifSpec};

    fn spec(gps: (f64, f64)) -> ExifSpec {
        ExifSpec {
            taken: Some("2026:11:27 08:30:15".into()),
            offset: Some("+02:00".into()),
            gps: Some(gps),
        }
    }

    #[test]
    fn types_come_from_the_magic_bytes() {
        assert_eq!(
            ImageType::sniff(&sample::jpeg(None, 10)),
            Some(ImageType::Jpeg)
        );
        assert_eq!(ImageType::sniff(&sample::png(None)), Some(ImageType::Png));
        assert_eq!(
            ImageType::sniff(b"\0\0\0\x18ftypheic\0\0\0\0"),
            Some(ImageType::Heic)
        );
        assert_eq!(ImageType::sniff(b"GIF89a...."), None);
        assert_eq!(ImageType::sniff(b""), None);
    }

    #[test]
    fn time_offset_and_gps_signs_are_read() {
        for (gps, expected) in [
            ((-26.2041, 28.0473), (-26.2041, 28.0473)),
            ((40.7128, -74.006), (40.7128, -74.006)),
        ] {
            let bytes = sample::jpeg(Some(&spec(gps)), 100);
            let ExifOutcome::Found(exif) = read(ImageType::Jpeg, &bytes) else {
                panic!("no EXIF found");
            };
            assert_eq!(exif.taken.unwrap().to_string(), "2026-11-27 08:30:15");
            assert_eq!(exif.offset.unwrap().local_minus_utc(), 7200);
            let (lat, lng) = exif.gps.unwrap();
            assert!((lat - expected.0).abs() < 1e-6, "{lat}");
            assert!((lng - expected.1).abs() < 1e-6, "{lng}");
        }
        let bytes = sample::png(Some(&spec((-33.9, 18.4))));
        let ExifOutcome::Found(exif) = read(ImageType::Png, &bytes) else {
            panic!("no eXIf found");
        };
        assert!(exif.gps.unwrap().0 < 0.0);
    }

    #[test]
    fn missing_and_corrupt_blocks_are_told_apart() {
        assert_eq!(
            read(ImageType::Jpeg, &sample::jpeg(None, 10)),
            ExifOutcome::Missing
        );
        assert_eq!(
            read(ImageType::Png, &sample::png(None)),
            ExifOutcome::Missing
        );
        let garbage = sample::jpeg_with_app1(Some(b"XX\0\x2a\0\0\0\x08garbage"), 10);
        assert!(matches!(
            read(ImageType::Jpeg, &garbage),
            ExifOutcome::Corrupt(_)
        ));
        let mut pointer_past_end = sample::tiff(&spec((1.0, 1.0)));
        pointer_past_end.truncate(40);
        let truncated = sample::jpeg_with_app1(Some(&pointer_past_end), 10);
        assert!(matches!(
            read(ImageType::Jpeg, &truncated),
            ExifOutcome::Corrupt(_)
        ));
        let bad_date = ExifSpec {
            taken: Some("yesterday".into()),
            ..ExifSpec::default()
        };
        let ExifOutcome::Corrupt(why) = read(ImageType::Jpeg, &sample::jpeg(Some(&bad_date), 10))
        else {
            panic!("a bad date is corrupt EXIF");
        };
        assert!(why.contains("DateTimeOriginal"), "{why}");
    }

    mod properties {
        //! Arbitrary and mutated headers never panic the reader.
        use proptest::prelude::*;

        use super::*;

        fn kinds() -> impl Strategy<Value = ImageType> {
            prop_oneof![
                Just(ImageType::Jpeg),
                Just(ImageType::Png),
                Just(ImageType::Heic)
            ]
        }

        /// A real JPEG or PNG header with EXIF, some bytes overwritten, maybe cut short.
        fn mutated() -> impl Strategy<Value = (ImageType, Vec<u8>)> {
            let real = prop_oneof![
                Just((
                    ImageType::Jpeg,
                    sample::jpeg(Some(&spec((-26.2, 28.0))), 64)
                )),
                Just((ImageType::Png, sample::png(Some(&spec((40.7, -74.0)))))),
            ];
            (
                real,
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
                any::<prop::sample::Index>(),
            )
                .prop_map(|((kind, mut bytes), writes, cut)| {
                    for (at, byte) in writes {
                        let at = at.index(bytes.len());
                        bytes[at] = byte;
                    }
                    bytes.truncate(cut.index(bytes.len() + 1));
                    (kind, bytes)
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes_never_panic(kind in kinds(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = ImageType::sniff(&bytes);
                let _ = read(kind, &bytes);
            }

            #[test]
            fn arbitrary_bytes_behind_real_magic_never_panic(
                kind in kinds(),
                tail in prop::collection::vec(any::<u8>(), 0..512),
            ) {
                let magic: &[u8] = match kind {
                    ImageType::Jpeg => b"\xFF\xD8\xFF\xE1",
                    ImageType::Png => b"\x89PNG\r\n\x1a\n",
                    ImageType::Heic => b"\0\0\0\x18ftypheic",
                };
                let _ = read(kind, &[magic, &tail[..]].concat());
            }

            #[test]
            fn mutated_real_headers_parse_or_fail_cleanly((kind, bytes) in mutated()) {
                match read(kind, &bytes) {
                    ExifOutcome::Found(exif) => {
                        if let Some((lat, lng)) = exif.gps {
                            prop_assert!(lat.abs() <= 90.0 && lng.abs() <= 180.0);
                        }
                    }
                    ExifOutcome::Missing => {}
                    ExifOutcome::Corrupt(why) => prop_assert!(!why.is_empty()),
                }
            }
        }
    }
}
