//! The packet check of HJ 212-2017 (附录 A): a CRC-16 over the data segment,
//! sent as four hexadecimal digits.
//!
//! It is not the common CRC-16/MODBUS: the standard's reference routine
//! shifts the register right by eight and XORs the byte into the low
//! bits before the eight reflected steps with 0xA001. Implemented from that
//! routine; the standard's own worked examples are the tests.

/// The CRC of `segment` as the standard computes it.
pub fn crc16(segment: &[u8]) -> u16 {
    let mut register: u16 = 0xFFFF;
    for &byte in segment {
        register = (register >> 8) ^ u16::from(byte);
        for _ in 0..8 {
            let carry = register & 1;
            register >>= 1;
            if carry == 1 {
                register ^= 0xA001;
            }
        }
    }
    register
}

#[cfg(test)]
mod tests {
    use super::crc16;

    #[test]
    fn the_standards_worked_example() {
        // HJ 212-2017 §6.6 example (设置实时数据间隔): length 0101, CRC 1C80.
        let segment = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";
        assert_eq!(segment.len(), 101);
        assert_eq!(crc16(segment), 0x1C80);
    }

    #[test]
    fn one_changed_byte_changes_the_crc() {
        let segment = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=31&&";
        assert_ne!(crc16(segment), 0x1C80);
        assert_eq!(crc16(b""), 0xFFFF);
    }
}
