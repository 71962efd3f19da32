//! Reader for Telcordia SR-4731 (Bellcore) OTDR trace files (`.sor`), versions 1 and 2.
//! Written from scratch for Kasi Fiber from the public format description; the maintained Rust parser is LGPL, so none of it is used.
//!
//! `parse` turns the bytes of a `.sor` file into a [`SorFile`]: the instrument (SupParams), the job details
//! (GenParams), the acquisition settings (FxdParams), the key events and link summary (KeyEvents), the trace
//! (DataPts) and the state of the checksum (Cksum). Proprietary blocks are skipped using the Map's sizes.
//! Every read is bounds-checked: malformed input gives a [`SorError`], never a panic.

mod blocks;
mod checksum;
mod error;
mod reader;
#[cfg(test)]
mod tests;

pub use checksum::{Crc16Pair, crc16_ccitt_both};
pub use error::SorError;

/// Speed of light in vacuum, m/s.
pub const SPEED_OF_LIGHT_M_PER_S: f64 = 299_792_458.0;

/// Parses a whole `.sor` file. A checksum that fails to verify is an error (the file is corrupted) unless the
/// file was written by software whose checksum cannot be reproduced (see [`ChecksumStatus::NotVerifiable`]).
pub fn parse(bytes: &[u8]) -> Result<SorFile, SorError> {
    blocks::parse_file(bytes, true)
}

/// Like [`parse`], but a checksum mismatch is reported as [`ChecksumStatus::Mismatch`] instead of an error,
/// for showing a damaged file with a warning.
pub fn parse_ignoring_checksum(bytes: &[u8]) -> Result<SorFile, SorError> {
    blocks::parse_file(bytes, false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SorVersion {
    /// Revision 1.xx: no block names inside the blocks themselves.
    V1,
    /// Revision 2.xx: the file opens with `Map\0` and every block with its name.
    V2,
}

/// One entry of the Map block: where a block lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    pub name: String,
    /// Block revision as written, e.g. 200 for 2.00.
    pub revision: u16,
    pub offset: usize,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SorFile {
    pub version: SorVersion,
    /// Format revision from the Map block, e.g. 200 for 2.00.
    pub revision: u16,
    /// Every block the Map lists after itself, known or proprietary, in file order.
    pub blocks: Vec<BlockEntry>,
    pub supplier: Supplier,
    pub general: GeneralParams,
    pub fixed: FixedParams,
    /// Empty when the file has no KeyEvents block.
    pub events: Vec<KeyEvent>,
    /// End-to-end figures from the KeyEvents block; `None` when there is none.
    pub link: Option<LinkSummary>,
    pub trace: Trace,
    pub checksum: ChecksumStatus,
}

/// SupParams: who made the instrument and what it was.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Supplier {
    /// Instrument maker as written; EXFO instruments leave it blank (see [`SorFile::maker`]).
    pub name: String,
    pub mainframe_model: String,
    pub mainframe_serial: String,
    pub optical_module_id: String,
    pub optical_module_serial: String,
    pub software_version: String,
    pub other: String,
}

/// GenParams: the job, cable and fibre the trace was taken on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeneralParams {
    /// Two-letter language code, e.g. "EN".
    pub language: String,
    pub cable_id: String,
    pub fibre_id: String,
    /// ITU-T fibre type number, e.g. 652 for G.652 (version 2 only).
    pub fibre_type: Option<u16>,
    /// Nominal wavelength, nm.
    pub wavelength_nm: u16,
    pub originating_location: String,
    pub terminating_location: String,
    pub cable_code: String,
    /// Two-letter code: BC as-built, CC as-current, RC as-repaired, OT other (some makers write others).
    pub build_condition: String,
    pub operator: String,
    pub comments: String,
}

/// One pulse width used for the acquisition, with its sampling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PulseSetting {
    pub width_ns: u16,
    /// Distance between two trace points in metres (time spacing converted with the group index).
    pub sample_spacing_m: f64,
    pub points: u32,
}

/// FxdParams: the acquisition settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedParams {
    /// Date and time of the measurement, UTC, seconds since the Unix epoch.
    pub measured_at_unix_s: u32,
    /// Distance units code as written: "mt", "km", "ft", "kf" or "mi".
    pub distance_units: String,
    /// Actual (measured) wavelength, nm.
    pub actual_wavelength_nm: f64,
    /// At least one entry; the trace's spacing is the first entry's.
    pub pulses: Vec<PulseSetting>,
    /// Group index of refraction, e.g. 1.4675.
    pub group_index: f64,
    /// Backscatter coefficient, dB (negative, e.g. -80.2).
    pub backscatter_coefficient_db: f64,
    pub averages: u32,
    /// Length covered by the trace: points × sample spacing, metres.
    pub range_m: f64,
    pub loss_threshold_db: f64,
    /// Reflectance threshold, dB (negative).
    pub reflectance_threshold_db: f64,
    pub end_of_fibre_threshold_db: f64,
    /// "ST" standard, "RT" reverse, "DT" difference, "RF" reference (version 2 only).
    pub trace_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The launch event: the first event, at zero distance, that is not also the end of the fibre.
    Start,
    /// Type code starting with '1' (reflective) or '2' (saturated reflective).
    Reflective,
    /// Type code starting with '0': a splice, bend or other loss/gain.
    NonReflective,
    /// Type code with 'E' as its second character.
    EndOfFibre,
    /// A first character that the standard does not define.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyEvent {
    pub number: u16,
    /// One-way distance from the instrument: time of travel × c / group index, metres.
    pub distance_m: f64,
    /// Attenuation of the fibre leading into the event, dB/km.
    pub slope_db_per_km: f64,
    pub splice_loss_db: f64,
    /// Reflectance, dB (negative; 0 for non-reflective events).
    pub reflectance_db: f64,
    /// The 8-character code as written: 6 for the event (e.g. "1F9999") and 2 for the loss technique ("LS", "2P").
    pub type_code: String,
    pub kind: EventKind,
    pub comment: String,
}

/// The end-to-end figures stored after the last key event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSummary {
    pub total_loss_db: f64,
    pub optical_return_loss_db: f64,
}

/// DataPts: the backscatter trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Scale factors as multipliers (stored value / 1000), one per group of points.
    pub scale_factors: Vec<f64>,
    /// Metres between consecutive points.
    pub sample_spacing_m: f64,
    /// Level of each point, dB relative to the zero of the instrument's scale: −(value × scale / 1000) / 1000.
    pub levels_db: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The stored CRC equals CRC-16/CCITT with init 0xFFFF or 0x0000.
    Verified,
    /// Neither matched: the file is corrupted. Only [`parse_ignoring_checksum`] returns a file in this state;
    /// [`parse`] returns [`SorError::ChecksumMismatch`].
    Mismatch,
    /// The file has no Cksum block.
    Absent,
    /// Neither matched, but the file was written by EXFO software (its Map lists an `Exfo…` block). None of the
    /// EXFO-written samples verify under any CRC-16/CCITT variant tried (init 0xFFFF/0x0000/0x1D0F, reflected or
    /// not, with or without the proprietary block), so EXFO's checksum cannot be checked and is not an error.
    NotVerifiable,
}

impl SorFile {
    /// The instrument maker: SupParams' supplier name, or "EXFO" when that is blank and the file carries EXFO's
    /// proprietary block (EXFO instruments leave the supplier name empty).
    pub fn maker(&self) -> Option<&str> {
        if !self.supplier.name.is_empty() {
            Some(&self.supplier.name)
        } else if self.written_by_exfo_software() {
            Some("EXFO")
        } else {
            None
        }
    }

    fn written_by_exfo_software(&self) -> bool {
        self.blocks
            .iter()
            .any(|block| block.name.starts_with("Exfo"))
    }

    /// At most `max_points` (distance m, level dB) pairs for drawing the trace. When thinning, each bucket of
    /// consecutive points contributes its lowest and highest level (in distance order), so peaks and dips survive.
    pub fn downsampled(&self, max_points: usize) -> Vec<(f64, f64)> {
        let levels = &self.trace.levels_db;
        let spacing = self.trace.sample_spacing_m;
        let point = |index: usize| (index as f64 * spacing, f64::from(levels[index]));
        if levels.len() <= max_points {
            return (0..levels.len()).map(point).collect();
        }
        if max_points < 2 {
            return (0..max_points).map(point).collect();
        }
        let buckets = max_points / 2;
        let mut out = Vec::with_capacity(buckets * 2);
        for bucket in 0..buckets {
            let start = bucket * levels.len() / buckets;
            let end = (bucket + 1) * levels.len() / buckets;
            let mut lowest = start;
            let mut highest = start;
            for (index, &level) in levels.iter().enumerate().take(end).skip(start) {
                if level < levels[lowest] {
                    lowest = index;
                }
                if level > levels[highest] {
                    highest = index;
                }
            }
            let (first, second) = (lowest.min(highest), lowest.max(highest));
            out.push(point(first));
            if second != first {
                out.push(point(second));
            }
        }
        out
    }
}
