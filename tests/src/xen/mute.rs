//! The smallest PVH guest there is: it powers off without a word.
//!
//! A 164-byte 32-bit ELF, written by the runner (no toolchain, no file in
//! the tree), for `xen-checks`: it must be reported as printing nothing.
//! The whole file is loaded at 1 MiB. Its one Xen note,
//! `XEN_ELFNOTE_PHYS32_ENTRY`, makes it a PVH kernel, entered in 32-bit
//! protected mode with paging off, so addresses are physical. It then
//! makes one hypercall, `sched_op(SCHEDOP_shutdown, {reason: poweroff})`,
//! with `vmmcall`: the bed's CPU is an emulated AMD one, and Xen takes
//! `vmmcall` from ring 0 without a hypercall page. 32-bit mode means the
//! 32-bit hypercall ABI: number in EAX, arguments in EBX and ECX. Should
//! the call return, the guest halts with interrupts off, forever: a hang,
//! which `xen-checks` reports as this case misbehaving.

/// Where the image is loaded (the ELF header included).
const BASE: u32 = 0x10_0000;

const EHDR_SIZE: u16 = 52;
const PHDR_SIZE: u16 = 32;
/// The note: name size, desc size, type, "Xen\0", the entry address.
const NOTE_AT: u32 = EHDR_SIZE as u32 + 2 * PHDR_SIZE as u32;
const NOTE_SIZE: u32 = 20;
const CODE_AT: u32 = NOTE_AT + NOTE_SIZE;
/// The `sched_shutdown` argument: one zero word, `SHUTDOWN_poweroff`.
const ARG_AT: u32 = 0xa0;
pub const SIZE: usize = ARG_AT as usize + 4;

const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const HYPERVISOR_SCHED_OP: u32 = 29;
const SCHEDOP_SHUTDOWN: u32 = 2;

/// The ELF file.
pub fn elf() -> Vec<u8> {
    let mut out = Vec::with_capacity(SIZE);
    let u16s =
        |out: &mut Vec<u8>, values: &[u16]| values.iter().for_each(|v| out.extend(v.to_le_bytes()));
    let u32s =
        |out: &mut Vec<u8>, values: &[u32]| values.iter().for_each(|v| out.extend(v.to_le_bytes()));
    // ELF header: 32-bit, little-endian, version 1, executable, i386.
    out.extend(b"\x7fELF\x01\x01\x01");
    out.resize(16, 0);
    u16s(&mut out, &[2, 3]);
    u32s(&mut out, &[1, BASE + CODE_AT, EHDR_SIZE.into(), 0, 0]);
    u16s(&mut out, &[EHDR_SIZE, PHDR_SIZE, 2, 40, 0, 0]);
    // PT_LOAD of the whole file, read and execute; then PT_NOTE.
    let size = SIZE as u32;
    u32s(&mut out, &[1, 0, BASE, BASE, size, size, 5, 0x1000]);
    u32s(&mut out, &[4, NOTE_AT, BASE + NOTE_AT, BASE + NOTE_AT]);
    u32s(&mut out, &[NOTE_SIZE, NOTE_SIZE, 4, 4]);
    u32s(&mut out, &[4, 4, XEN_ELFNOTE_PHYS32_ENTRY]);
    out.extend(b"Xen\0");
    u32s(&mut out, &[BASE + CODE_AT]);
    // mov eax, 29; mov ebx, 2; mov ecx, BASE + ARG_AT; vmmcall; hlt; jmp hlt
    out.push(0xb8);
    u32s(&mut out, &[HYPERVISOR_SCHED_OP]);
    out.push(0xbb);
    u32s(&mut out, &[SCHEDOP_SHUTDOWN]);
    out.push(0xb9);
    u32s(&mut out, &[BASE + ARG_AT]);
    out.extend([0x0f, 0x01, 0xd9, 0xf4, 0xeb, 0xfd]);
    out.resize(SIZE, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn a_pvh_elf_that_only_powers_off() {
        let elf = elf();
        assert_eq!(elf.len(), SIZE);
        assert_eq!(&elf[..7], b"\x7fELF\x01\x01\x01");
        // e_entry, e_phoff, e_phnum.
        assert_eq!(u32_at(&elf, 24), BASE + CODE_AT);
        assert_eq!(u32_at(&elf, 28), 52);
        assert_eq!(elf[44], 2);
        // The PT_LOAD covers the file; the PT_NOTE points at the note.
        assert_eq!(u32_at(&elf, 52), 1);
        assert_eq!(u32_at(&elf, 52 + 16), SIZE as u32);
        assert_eq!(u32_at(&elf, 84), 4);
        let note = u32_at(&elf, 84 + 4) as usize;
        assert_eq!(&elf[note + 12..note + 16], b"Xen\0");
        assert_eq!(u32_at(&elf, note + 8), XEN_ELFNOTE_PHYS32_ENTRY);
        let entry = (u32_at(&elf, note + 16) - BASE) as usize;
        assert_eq!(entry, CODE_AT as usize);
        // The code ends before the argument, which is zero (poweroff).
        let code = &elf[entry..];
        assert_eq!(code[0], 0xb8);
        assert_eq!(u32_at(code, 11), BASE + ARG_AT);
        assert_eq!(&code[15..21], [0x0f, 0x01, 0xd9, 0xf4, 0xeb, 0xfd]);
        assert!(entry + 21 <= ARG_AT as usize);
        assert_eq!(u32_at(&elf, ARG_AT as usize), 0);
    }
}
