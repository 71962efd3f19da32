//! Bounds-checked little-endian cursor over one block of a SOR file.
//! Every read names the block and field, so a short block becomes a `SorError::Truncated`, never a panic.

use super::SorError;

/// Reads fields from `bytes`, which is one block (or the whole file) starting at absolute file offset `base`.
pub(crate) struct BlockReader<'a> {
    bytes: &'a [u8],
    position: usize,
    base: usize,
    block: &'a str,
}

impl<'a> BlockReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: usize, block: &'a str) -> Self {
        BlockReader {
            bytes,
            position: 0,
            base,
            block,
        }
    }

    /// Absolute file offset of the next byte to be read.
    pub(crate) fn file_offset(&self) -> usize {
        self.base + self.position
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub(crate) fn take(&mut self, count: usize, field: &'static str) -> Result<&'a [u8], SorError> {
        if count > self.remaining() {
            return Err(SorError::Truncated {
                block: self.block.to_string(),
                field,
                offset: self.file_offset(),
                needed: count,
                available: self.remaining(),
            });
        }
        let taken = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(taken)
    }

    pub(crate) fn skip(&mut self, count: usize, field: &'static str) -> Result<(), SorError> {
        self.take(count, field).map(|_| ())
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], SorError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, SorError> {
        self.array(field).map(u16::from_le_bytes)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, SorError> {
        self.array(field).map(i16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, SorError> {
        self.array(field).map(u32::from_le_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, SorError> {
        self.array(field).map(i32::from_le_bytes)
    }

    /// A fixed-width text field (e.g. the 2-character language or unit code).
    pub(crate) fn fixed_text(
        &mut self,
        width: usize,
        field: &'static str,
    ) -> Result<String, SorError> {
        self.take(width, field).map(decode_text)
    }

    /// A NUL-terminated text field; the terminator must lie inside the block.
    pub(crate) fn terminated_text(&mut self, field: &'static str) -> Result<String, SorError> {
        let rest = &self.bytes[self.position..];
        match rest.iter().position(|&byte| byte == 0) {
            Some(length) => {
                let text = self.take(length, field)?;
                self.position += 1;
                Ok(decode_text(text))
            }
            None => Err(SorError::Unterminated {
                block: self.block.to_string(),
                field,
                offset: self.file_offset(),
            }),
        }
    }
}

/// Makers pad text with spaces and sometimes write non-UTF-8 bytes: decode lossily and trim.
fn decode_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string()
}
