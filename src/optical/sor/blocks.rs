//! Decoding of the SR-4731 blocks (Map, GenParams, SupParams, FxdParams, KeyEvents, DataPts, Cksum).
//! Field layouts follow the public descriptions of the format; version 2 adds fields that version 1 lacks.

use super::checksum::crc16_ccitt_both;
use super::reader::BlockReader;
use super::{
    BlockEntry, ChecksumStatus, EventKind, FixedParams, GeneralParams, KeyEvent, LinkSummary,
    PulseSetting, SPEED_OF_LIGHT_M_PER_S, SorError, SorFile, SorVersion, Supplier, Trace,
};

const MAP_MAGIC: &[u8] = b"Map\0";
/// Version-1 files open directly with the Map's revision number, 1.00–1.99 written as 100–199.
const VERSION_1_REVISIONS: std::ops::RangeInclusive<u16> = 100..=199;
/// Times of travel and sample spacings are stored in units of 100 ps.
const SECONDS_PER_TIME_UNIT: f64 = 1e-10;
/// The data spacing field is the time taken by 10 000 points, in 100 ps units.
const POINTS_PER_DATA_SPACING: f64 = 10_000.0;
const GROUP_INDEX_SCALE: f64 = 100_000.0;
const PLAUSIBLE_GROUP_INDEX: std::ops::RangeInclusive<f64> = 1.3..=1.6;
/// OTDR wavelengths lie between these, in nm; used to recognise wavelengths written in nm instead of 0.1 nm.
const PLAUSIBLE_WAVELENGTH_NM: std::ops::RangeInclusive<f64> = 600.0..=1700.0;

struct Map {
    version: SorVersion,
    revision: u16,
    blocks: Vec<BlockEntry>,
}

/// Parses every block the reader knows. The checksum is checked first, so a corrupted file is reported as such
/// rather than as whatever parse error the corruption causes; with `reject_mismatch` false it is only reported.
pub(super) fn parse_file(bytes: &[u8], reject_mismatch: bool) -> Result<SorFile, SorError> {
    let map = read_map(bytes)?;
    let checksum = checksum_status(bytes, &map, reject_mismatch)?;
    let supplier = read_supplier(&mut required_block(bytes, &map, "SupParams")?)?;
    let general = read_general(&mut required_block(bytes, &map, "GenParams")?, map.version)?;
    let fixed = read_fixed(&mut required_block(bytes, &map, "FxdParams")?, map.version)?;
    let (events, link) = match block(bytes, &map, "KeyEvents")? {
        Some(mut reader) => {
            let (events, link) = read_key_events(&mut reader, map.version, fixed.group_index)?;
            (events, Some(link))
        }
        None => (Vec::new(), None),
    };
    let trace = read_trace(&mut required_block(bytes, &map, "DataPts")?, &fixed)?;
    Ok(SorFile {
        version: map.version,
        revision: map.revision,
        blocks: map.blocks,
        supplier,
        general,
        fixed,
        events,
        link,
        trace,
        checksum,
    })
}

fn read_map(bytes: &[u8]) -> Result<Map, SorError> {
    if bytes.is_empty() {
        return Err(SorError::Empty);
    }
    let version = if bytes.starts_with(MAP_MAGIC) {
        SorVersion::V2
    } else if bytes.len() >= 2
        && VERSION_1_REVISIONS.contains(&u16::from_le_bytes([bytes[0], bytes[1]]))
    {
        SorVersion::V1
    } else {
        return Err(SorError::NotSor {
            first_bytes: bytes.iter().take(MAP_MAGIC.len()).copied().collect(),
        });
    };
    let header_len = match version {
        SorVersion::V1 => 0,
        SorVersion::V2 => MAP_MAGIC.len(),
    };
    let mut header = BlockReader::new(bytes, 0, "Map");
    header.skip(header_len, "block name")?;
    let revision = header.u16("revision")?;
    let map_size = header.u32("block size")?;
    let block_count = header.u16("number of blocks")?;
    let map_len = usize::try_from(map_size).unwrap_or(usize::MAX);
    if map_len > bytes.len() {
        return Err(SorError::BlockPastEnd {
            block: "Map".to_string(),
            offset: 0,
            size: map_size,
            file_len: bytes.len(),
        });
    }
    let mut entries = BlockReader::new(&bytes[..map_len], 0, "Map");
    entries.skip(header.file_offset(), "header")?;
    let mut blocks = Vec::new();
    let mut offset = map_len;
    // The count includes the Map block itself.
    for _ in 1..block_count {
        let name = entries.terminated_text("block name")?;
        let revision = entries.u16("block revision")?;
        let size = entries.u32("block size")?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| offset.checked_add(size));
        match end {
            Some(end) if end <= bytes.len() => {
                blocks.push(BlockEntry {
                    name,
                    revision,
                    offset,
                    size,
                });
                offset = end;
            }
            _ => {
                return Err(SorError::BlockPastEnd {
                    block: name,
                    offset,
                    size,
                    file_len: bytes.len(),
                });
            }
        }
    }
    Ok(Map {
        version,
        revision,
        blocks,
    })
}

/// A reader over the first block called `name`, positioned after its version-2 name header.
fn block<'a>(
    bytes: &'a [u8],
    map: &Map,
    name: &'static str,
) -> Result<Option<BlockReader<'a>>, SorError> {
    let Some(entry) = map.blocks.iter().find(|entry| entry.name == name) else {
        return Ok(None);
    };
    // read_map checked that every block lies inside the file.
    let content = &bytes[entry.offset..entry.offset + entry.size as usize];
    let mut reader = BlockReader::new(content, entry.offset, name);
    if map.version == SorVersion::V2 {
        let header = reader.take(name.len() + 1, "block name")?;
        if &header[..name.len()] != name.as_bytes() || header[name.len()] != 0 {
            return Err(SorError::WrongBlockHeader {
                block: name.to_string(),
                offset: entry.offset,
            });
        }
    }
    Ok(Some(reader))
}

fn required_block<'a>(
    bytes: &'a [u8],
    map: &Map,
    name: &'static str,
) -> Result<BlockReader<'a>, SorError> {
    block(bytes, map, name)?.ok_or(SorError::MissingBlock { block: name })
}

fn read_supplier(reader: &mut BlockReader) -> Result<Supplier, SorError> {
    Ok(Supplier {
        name: reader.terminated_text("supplier name")?,
        mainframe_model: reader.terminated_text("OTDR mainframe ID")?,
        mainframe_serial: reader.terminated_text("OTDR mainframe serial number")?,
        optical_module_id: reader.terminated_text("optical module ID")?,
        optical_module_serial: reader.terminated_text("optical module serial number")?,
        software_version: reader.terminated_text("software revision")?,
        other: reader.terminated_text("other")?,
    })
}

fn read_general(reader: &mut BlockReader, version: SorVersion) -> Result<GeneralParams, SorError> {
    let language = reader.fixed_text(2, "language code")?;
    let cable_id = reader.terminated_text("cable ID")?;
    let fibre_id = reader.terminated_text("fibre ID")?;
    let fibre_type = match version {
        SorVersion::V1 => None,
        SorVersion::V2 => Some(reader.u16("fibre type")?),
    };
    let wavelength_nm = reader.u16("nominal wavelength")?;
    let originating_location = reader.terminated_text("originating location")?;
    let terminating_location = reader.terminated_text("terminating location")?;
    let cable_code = reader.terminated_text("cable code")?;
    let build_condition = reader.fixed_text(2, "build condition")?;
    reader.skip(4, "user offset")?;
    if version == SorVersion::V2 {
        reader.skip(4, "user offset distance")?;
    }
    let operator = reader.terminated_text("operator")?;
    let comments = reader.terminated_text("comment")?;
    Ok(GeneralParams {
        language,
        cable_id,
        fibre_id,
        fibre_type,
        wavelength_nm,
        originating_location,
        terminating_location,
        cable_code,
        build_condition,
        operator,
        comments,
    })
}

fn read_fixed(reader: &mut BlockReader, version: SorVersion) -> Result<FixedParams, SorError> {
    let measured_at_unix_s = reader.u32("date/time stamp")?;
    let distance_units = reader.fixed_text(2, "distance units")?;
    let actual_wavelength_nm = wavelength_from_tenths(reader.u16("actual wavelength")?);
    reader.skip(4, "acquisition offset")?;
    if version == SorVersion::V2 {
        reader.skip(4, "acquisition offset distance")?;
    }
    let pulse_count = usize::from(reader.u16("number of pulse widths")?);
    if pulse_count == 0 {
        return Err(implausible("number of pulse widths", 0, "at least 1"));
    }
    let mut widths_ns = Vec::new();
    for _ in 0..pulse_count {
        widths_ns.push(reader.u16("pulse width")?);
    }
    let mut data_spacings = Vec::new();
    for _ in 0..pulse_count {
        data_spacings.push(reader.u32("data spacing")?);
    }
    let mut point_counts = Vec::new();
    for _ in 0..pulse_count {
        point_counts.push(reader.u32("number of data points")?);
    }
    let group_index = f64::from(reader.u32("group index")?) / GROUP_INDEX_SCALE;
    if !PLAUSIBLE_GROUP_INDEX.contains(&group_index) {
        return Err(implausible(
            "group index of refraction",
            group_index,
            "1.3 to 1.6",
        ));
    }
    let backscatter_coefficient_db = -0.1 * f64::from(reader.u16("backscatter coefficient")?);
    let averages = reader.u32("number of averages")?;
    if version == SorVersion::V2 {
        reader.skip(2, "averaging time")?;
    }
    reader.skip(4, "acquisition range")?;
    if version == SorVersion::V2 {
        reader.skip(4, "acquisition range distance")?;
    }
    reader.skip(4, "front panel offset")?;
    reader.skip(2, "noise floor level")?;
    reader.skip(2, "noise floor scale factor")?;
    reader.skip(2, "power offset first point")?;
    let loss_threshold_db = 0.001 * f64::from(reader.u16("loss threshold")?);
    let reflectance_threshold_db = -0.001 * f64::from(reader.u16("reflectance threshold")?);
    let end_of_fibre_threshold_db = 0.001 * f64::from(reader.u16("end-of-fibre threshold")?);
    let trace_type = match version {
        SorVersion::V1 => None,
        SorVersion::V2 => Some(reader.fixed_text(2, "trace type")?),
    };

    let mut pulses = Vec::with_capacity(pulse_count);
    for ((&width_ns, &data_spacing), &points) in
        widths_ns.iter().zip(&data_spacings).zip(&point_counts)
    {
        if data_spacing == 0 {
            return Err(implausible("data spacing", 0, "more than 0"));
        }
        let seconds_per_point =
            f64::from(data_spacing) * SECONDS_PER_TIME_UNIT / POINTS_PER_DATA_SPACING;
        pulses.push(PulseSetting {
            width_ns,
            sample_spacing_m: seconds_per_point * SPEED_OF_LIGHT_M_PER_S / group_index,
            points,
        });
    }
    let range_m = pulses[0].sample_spacing_m * f64::from(pulses[0].points);
    Ok(FixedParams {
        measured_at_unix_s,
        distance_units,
        actual_wavelength_nm,
        pulses,
        group_index,
        backscatter_coefficient_db,
        averages,
        range_m,
        loss_threshold_db,
        reflectance_threshold_db,
        end_of_fibre_threshold_db,
        trace_type,
    })
}

/// The actual wavelength is stored in 0.1 nm, but some instruments (Noyes OFL280) write whole nm:
/// 1550 read as 155.0 nm is no OTDR wavelength, so a value that only makes sense in nm is taken as nm.
fn wavelength_from_tenths(raw: u16) -> f64 {
    let in_tenths = f64::from(raw) / 10.0;
    let in_nm = f64::from(raw);
    if !PLAUSIBLE_WAVELENGTH_NM.contains(&in_tenths) && PLAUSIBLE_WAVELENGTH_NM.contains(&in_nm) {
        in_nm
    } else {
        in_tenths
    }
}

fn read_key_events(
    reader: &mut BlockReader,
    version: SorVersion,
    group_index: f64,
) -> Result<(Vec<KeyEvent>, LinkSummary), SorError> {
    let event_count = reader.u16("number of key events")?;
    let mut events = Vec::new();
    for position in 0..event_count {
        let number = reader.u16("event number")?;
        let time_of_travel = reader.u32("event propagation time")?;
        let slope_db_per_km = 0.001 * f64::from(reader.i16("attenuation coefficient")?);
        let splice_loss_db = 0.001 * f64::from(reader.i16("event loss")?);
        let reflectance_db = 0.001 * f64::from(reader.i32("event reflectance")?);
        let type_code = reader.fixed_text(8, "event code")?;
        if version == SorVersion::V2 {
            reader.skip(20, "event marker locations")?;
        }
        let comment = reader.terminated_text("event comment")?;
        let mut kind = classify_event(&type_code);
        if position == 0 && time_of_travel == 0 && kind != EventKind::EndOfFibre {
            kind = EventKind::Start;
        }
        events.push(KeyEvent {
            number,
            distance_m: f64::from(time_of_travel) * SECONDS_PER_TIME_UNIT * SPEED_OF_LIGHT_M_PER_S
                / group_index,
            slope_db_per_km,
            splice_loss_db,
            reflectance_db,
            type_code,
            kind,
            comment,
        });
    }
    let total_loss_db = 0.001 * f64::from(reader.i32("end-to-end loss")?);
    reader.skip(8, "end-to-end marker positions")?;
    let optical_return_loss_db = 0.001 * f64::from(reader.u16("optical return loss")?);
    reader.skip(8, "optical return loss marker positions")?;
    Ok((
        events,
        LinkSummary {
            total_loss_db,
            optical_return_loss_db,
        },
    ))
}

/// First character: 0 non-reflective, 1 reflective, 2 saturated reflective; second: E end of fibre
/// (others say who placed the event: F found by software, A added or M moved by the user, O out of range).
fn classify_event(type_code: &str) -> EventKind {
    let mut characters = type_code.chars();
    let reflection = characters.next();
    if characters.next() == Some('E') {
        return EventKind::EndOfFibre;
    }
    match reflection {
        Some('0') => EventKind::NonReflective,
        Some('1' | '2') => EventKind::Reflective,
        _ => EventKind::Unknown,
    }
}

fn read_trace(reader: &mut BlockReader, fixed: &FixedParams) -> Result<Trace, SorError> {
    let total_points = reader.u32("number of data points")?;
    if total_points == 0 {
        return Err(implausible_trace("number of data points", 0, "at least 1"));
    }
    let group_count = reader.u16("number of scale factors")?;
    if group_count == 0 {
        return Err(implausible_trace(
            "number of scale factors",
            0,
            "at least 1",
        ));
    }
    let mut scale_factors = Vec::new();
    let mut levels_db = Vec::new();
    let mut points_read: u64 = 0;
    for _ in 0..group_count {
        let group_points = reader.u32("points using scale factor")?;
        let scale = reader.u16("scale factor")?;
        if scale == 0 {
            return Err(implausible_trace("scale factor", 0, "more than 0"));
        }
        let byte_len = usize::try_from(group_points)
            .unwrap_or(usize::MAX)
            .saturating_mul(2);
        let data = reader.take(byte_len, "data points")?;
        let db_per_unit = -f64::from(scale) / 1000.0 / 1000.0;
        levels_db.reserve(data.len() / 2);
        levels_db.extend(
            data.chunks_exact(2).map(|pair| {
                (f64::from(u16::from_le_bytes([pair[0], pair[1]])) * db_per_unit) as f32
            }),
        );
        scale_factors.push(f64::from(scale) / 1000.0);
        points_read += u64::from(group_points);
    }
    if points_read != u64::from(total_points) {
        return Err(implausible_trace(
            "number of data points",
            total_points,
            "the sum of the points of every scale factor",
        ));
    }
    Ok(Trace {
        scale_factors,
        sample_spacing_m: fixed.pulses[0].sample_spacing_m,
        levels_db,
    })
}

/// Offset and value of the stored checksum; `None` when there is no Cksum block.
fn stored_checksum(bytes: &[u8], map: &Map) -> Result<Option<(usize, u16)>, SorError> {
    match block(bytes, map, "Cksum")? {
        Some(mut reader) => {
            let value_offset = reader.file_offset();
            Ok(Some((value_offset, reader.u16("checksum")?)))
        }
        None => Ok(None),
    }
}

fn checksum_status(
    bytes: &[u8],
    map: &Map,
    reject_mismatch: bool,
) -> Result<ChecksumStatus, SorError> {
    let Some((value_offset, stored)) = stored_checksum(bytes, map)? else {
        return Ok(ChecksumStatus::Absent);
    };
    let computed = crc16_ccitt_both(&bytes[..value_offset]);
    if computed.matches(stored) {
        Ok(ChecksumStatus::Verified)
    } else if map
        .blocks
        .iter()
        .any(|block| block.name.starts_with("Exfo"))
    {
        Ok(ChecksumStatus::NotVerifiable)
    } else if reject_mismatch {
        Err(SorError::ChecksumMismatch {
            stored,
            computed_init_ffff: computed.init_ffff,
            computed_init_0000: computed.init_0000,
        })
    } else {
        Ok(ChecksumStatus::Mismatch)
    }
}

fn implausible(field: &'static str, value: impl ToString, expected: &'static str) -> SorError {
    SorError::Implausible {
        block: "FxdParams",
        field,
        value: value.to_string(),
        expected,
    }
}

fn implausible_trace(
    field: &'static str,
    value: impl ToString,
    expected: &'static str,
) -> SorError {
    SorError::Implausible {
        block: "DataPts",
        field,
        value: value.to_string(),
        expected,
    }
}
