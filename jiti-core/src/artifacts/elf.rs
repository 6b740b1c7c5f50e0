//! What a built Lambda binary needs from the machine it runs on, read from its ELF headers: the
//! CPU it is for (`e_machine`) and the glibc symbol versions it requires (the `GLIBC_2.x` names of
//! its `.gnu.version_r` section), so a binary that would fail to start on Amazon Linux 2023
//! (glibc 2.34) is refused before it is uploaded. Only 64-bit little-endian ELF is read: both
//! Lambda architectures are that.

/// `e_machine` of x86-64 and of AArch64.
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
/// `sh_type` of the GNU version-needs section.
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;

/// What the headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub machine: u16,
    /// The highest `GLIBC_2.x` version required, as (2, x); `None` for a static binary.
    pub max_glibc: Option<(u32, u32)>,
}

/// Why the bytes could not be read as a 64-bit little-endian ELF file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a 64-bit little-endian ELF executable: {0}")]
pub struct NotElf(pub &'static str);

fn u16_at(b: &[u8], at: usize) -> Result<u16, NotElf> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or(NotElf("truncated"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, NotElf> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(NotElf("truncated"))
}

fn u64_at(b: &[u8], at: usize) -> Result<usize, NotElf> {
    let s = b.get(at..at + 8).ok_or(NotElf("truncated"))?;
    let v = u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
    usize::try_from(v).map_err(|_| NotElf("offset out of range"))
}

/// Reads the machine and the glibc versions an ELF binary needs.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, NotElf> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(NotElf("no ELF magic"));
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err(NotElf("not 64-bit little-endian"));
    }
    let machine = u16_at(bytes, 18)?;
    let (shoff, shentsize, shnum) = (
        u64_at(bytes, 0x28)?,
        usize::from(u16_at(bytes, 0x3a)?),
        usize::from(u16_at(bytes, 0x3c)?),
    );
    let section = |i: usize| -> Result<(u32, u32, usize, usize, u32), NotElf> {
        let at = shoff + i * shentsize;
        // (type, link, offset, size, info)
        Ok((
            u32_at(bytes, at + 4)?,
            u32_at(bytes, at + 40)?,
            u64_at(bytes, at + 24)?,
            u64_at(bytes, at + 32)?,
            u32_at(bytes, at + 44)?,
        ))
    };
    let mut max_glibc = None;
    for i in 0..shnum {
        let (kind, link, offset, _, count) = section(i)?;
        if kind != SHT_GNU_VERNEED {
            continue;
        }
        let (_, _, strings, _, _) = section(link as usize)?;
        // Verneed entries, each with `vn_cnt` Vernaux entries naming one version.
        let mut need = offset;
        for _ in 0..count {
            let (aux_count, aux_offset, next) =
                (u16_at(bytes, need + 2)?, u32_at(bytes, need + 8)?, u32_at(bytes, need + 12)?);
            let mut aux = need + aux_offset as usize;
            for _ in 0..aux_count {
                let name_at = strings + u32_at(bytes, aux + 8)? as usize;
                let name = bytes
                    .get(name_at..)
                    .and_then(|s| s.split(|b| *b == 0).next())
                    .ok_or(NotElf("truncated"))?;
                if let Some(version) = glibc_version(name) {
                    max_glibc = max_glibc.max(Some(version));
                }
                let aux_next = u32_at(bytes, aux + 12)?;
                if aux_next == 0 {
                    break;
                }
                aux += aux_next as usize;
            }
            if next == 0 {
                break;
            }
            need += next as usize;
        }
    }
    Ok(Inspection { machine, max_glibc })
}

/// `GLIBC_2.34` → (2, 34); `GLIBC_2.2.5` → (2, 2); anything else → `None`.
fn glibc_version(name: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    let mut parts = text.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_names() {
        assert_eq!(glibc_version(b"GLIBC_2.34"), Some((2, 34)));
        assert_eq!(glibc_version(b"GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version(b"GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version(b"GCC_3.0"), None);
    }

    #[test]
    fn this_test_binary_is_read_as_the_host_built_it() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let found = inspect(&bytes).unwrap();
        let expected = if cfg!(target_arch = "x86_64") { EM_X86_64 } else { EM_AARCH64 };
        assert_eq!(found.machine, expected);
        // Linked against the host's glibc: some 2.x version is required.
        assert!(
            found.max_glibc.is_some_and(|(major, minor)| major == 2 && minor >= 2),
            "{found:?}"
        );
    }

    #[test]
    fn what_is_not_a_64_bit_little_endian_elf_is_refused() {
        assert_eq!(inspect(b"#!/bin/sh\n"), Err(NotElf("no ELF magic")));
        assert_eq!(inspect(b"\x7fELF\x01\x01"), Err(NotElf("not 64-bit little-endian")));
        assert_eq!(inspect(b"\x7fELF\x02\x01\x01"), Err(NotElf("truncated")));
    }
}
