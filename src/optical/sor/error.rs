//! Why a byte string could not be read as an SR-4731 file; each message names the block and the offset.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum SorError {
    /// The input has no bytes at all.
    Empty,
    /// Neither the version-2 magic `Map\0` nor a plausible version-1 revision number opens the file.
    NotSor { first_bytes: Vec<u8> },
    /// A field needs more bytes than the block (or file) has left.
    Truncated {
        block: String,
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// A NUL-terminated text field has no terminator before the block ends.
    Unterminated {
        block: String,
        field: &'static str,
        offset: usize,
    },
    /// The Map says a block lies (partly) beyond the end of the file.
    BlockPastEnd {
        block: String,
        offset: usize,
        size: u32,
        file_len: usize,
    },
    /// A version-2 block does not start with its own name.
    WrongBlockHeader { block: String, offset: usize },
    /// A block the reader needs is not listed in the Map.
    MissingBlock { block: &'static str },
    /// A value that no instrument would write (e.g. index of refraction 0.5, zero trace points).
    Implausible {
        block: &'static str,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// The stored CRC matches neither CRC-16/CCITT variant: the file is corrupted.
    ChecksumMismatch {
        stored: u16,
        computed_init_ffff: u16,
        computed_init_0000: u16,
    },
}

impl fmt::Display for SorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SorError::Empty => write!(f, "not a SOR file: the input is empty"),
            SorError::NotSor { first_bytes } => write!(
                f,
                "not a SOR file: it starts with {first_bytes:02x?}, not the Map block (\"Map\\0\" or a version-1 revision number)"
            ),
            SorError::Truncated {
                block,
                field,
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated {block} block at offset {offset}: field '{field}' needs {needed} bytes, only {available} left in the block"
            ),
            SorError::Unterminated {
                block,
                field,
                offset,
            } => write!(
                f,
                "truncated {block} block at offset {offset}: text field '{field}' has no NUL terminator before the block ends"
            ),
            SorError::BlockPastEnd {
                block,
                offset,
                size,
                file_len,
            } => write!(
                f,
                "block {block} runs past the end: the Map puts {size} bytes at offset {offset}, the file has {file_len} bytes"
            ),
            SorError::WrongBlockHeader { block, offset } => write!(
                f,
                "block {block} at offset {offset} does not start with its name, as a version-2 block must"
            ),
            SorError::MissingBlock { block } => {
                write!(f, "the Map lists no {block} block, which this reader needs")
            }
            SorError::Implausible {
                block,
                field,
                value,
                expected,
            } => write!(
                f,
                "implausible value in {block} block: {field} is {value}, expected {expected}"
            ),
            SorError::ChecksumMismatch {
                stored,
                computed_init_ffff,
                computed_init_0000,
            } => write!(
                f,
                "checksum mismatch in Cksum block: stored {stored:#06x}, computed {computed_init_ffff:#06x} (init 0xFFFF) / {computed_init_0000:#06x} (init 0x0000); the file is corrupted"
            ),
        }
    }
}

impl std::error::Error for SorError {}
