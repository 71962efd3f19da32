//! CRC-16/CCITT (polynomial 0x1021, MSB first) over the bytes that precede the stored checksum.
//! Makers differ in the initial value (Noyes/AFL 0xFFFF, Anritsu 0x0000), so both are computed in one pass.

const POLYNOMIAL: u16 = 0x1021;

const TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = (index as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ POLYNOMIAL
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

/// The CRC of `bytes` under both initial values a maker may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc16Pair {
    /// CRC-16/CCITT-FALSE (init 0xFFFF).
    pub init_ffff: u16,
    /// CRC-16/XMODEM (init 0x0000).
    pub init_0000: u16,
}

impl Crc16Pair {
    pub fn matches(self, stored: u16) -> bool {
        self.init_ffff == stored || self.init_0000 == stored
    }
}

pub fn crc16_ccitt_both(bytes: &[u8]) -> Crc16Pair {
    let mut from_ffff: u16 = 0xFFFF;
    let mut from_0000: u16 = 0x0000;
    for &byte in bytes {
        from_ffff = (from_ffff << 8) ^ TABLE[usize::from((from_ffff >> 8) as u8 ^ byte)];
        from_0000 = (from_0000 << 8) ^ TABLE[usize::from((from_0000 >> 8) as u8 ^ byte)];
    }
    Crc16Pair {
        init_ffff: from_ffff,
        init_0000: from_0000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_check_values() {
        // Catalogue check values for the ASCII string "123456789".
        let crc = crc16_ccitt_both(b"123456789");
        assert_eq!(crc.init_ffff, 0x29B1);
        assert_eq!(crc.init_0000, 0x31C3);
    }
}
