"""The file formats the test bed cuts and writes: kernel ELFs and newc cpio archives.

Pure functions over bytes, testable on the host (test_bedformats.py).
"""

import gzip
import lzma
import os
import struct
import zlib

XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry point note


class FormatError(ValueError):
    pass


def extract_vmlinux(bzimage):
    """The uncompressed kernel ELF inside a bzImage (boot protocol >= 2.08)."""
    if bzimage[0x202:0x206] != b"HdrS":
        raise FormatError("kernel is not a bzImage")
    setup_sects = bzimage[0x1f1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = bzimage[start:start + payload_length]
    if payload.startswith(b"\xfd7zXZ\x00"):
        out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload.startswith(b"\x1f\x8b"):
        out = zlib.decompressobj(wbits=31).decompress(payload)
    elif payload.startswith(b"\x28\xb5\x2f\xfd"):
        try:
            import zstandard  # not in the stdlib; used only if present
        except ImportError:
            raise FormatError("kernel payload is zstd and Python has no zstandard module")
        out = zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 30)
    else:
        raise FormatError(f"unknown bzImage payload compression {payload[:6].hex()}")
    if out[:4] != b"\x7fELF":
        raise FormatError("bzImage payload is not an ELF")
    return out


def elf_notes(elf):
    """(name, type, desc) of every note in the PT_NOTE segments of an ELF64."""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset = struct.unpack_from("<IIQ", elf, phoff + i * phentsize)
        p_filesz, = struct.unpack_from("<Q", elf, phoff + i * phentsize + 0x20)
        if p_type != 4:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0").decode(errors="replace")
            desc_at = pos + 12 + (namesz + 3) // 4 * 4
            yield name, ntype, elf[desc_at:desc_at + descsz]
            pos = desc_at + (descsz + 3) // 4 * 4


def has_pvh_entry(elf):
    return any(n == "Xen" and t == XEN_ELFNOTE_PHYS32_ENTRY for n, t, _ in elf_notes(elf))


def trim_elf(elf):
    """The same ELF64 with the zero tail of its last loaded segment left to memsz.

    The loaders (Xen's libelf for dom0 and for domUs) zero memsz beyond filesz, so
    the kernel's .bss, .brk and .init.scratch need not be in the file: dom0's rootfs
    is a tmpfs limited to half its memory, and the untrimmed 66 MB kernel overflows it.
    Section headers go too (they sit at the end of the file; loaders use segments).
    """
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    loads = []
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type, _, p_offset = struct.unpack_from("<IIQ", elf, at)
        if p_type == 1:
            loads.append((p_offset, at))
    p_offset, at = max(loads)
    p_filesz, = struct.unpack_from("<Q", elf, at + 0x20)
    kept = len(elf[p_offset:p_offset + p_filesz].rstrip(b"\0"))
    out = bytearray(elf[:p_offset + kept])
    struct.pack_into("<Q", out, at + 0x20, kept)
    struct.pack_into("<Q", out, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", out, 0x3a, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(out)


def elf_needed(path):
    """DT_NEEDED sonames of an ELF64 shared object, read from its section headers."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3a)
    sections = [struct.unpack_from("<IIQQQQII", data, shoff + i * shentsize) for i in range(shnum)]
    needed = []
    for _, sh_type, _, _, offset, size, link, _ in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][4]
        for pos in range(offset, offset + size, 16):
            tag, val = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                needed.append(data[strtab + val:data.index(b"\0", strtab + val)].decode())
    return needed



class Cpio:
    """A newc archive (the format the kernel's initramfs unpacker reads)."""

    def __init__(self, out):
        self.out, self.ino, self.dirs = out, 1, {""}

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        self.ino += 1
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        self.out.write(head + b"\0" * (-len(head) % 4))
        self.out.write(data + b"\0" * (-len(data) % 4))

    def dir(self, name, mode=0o755):
        name = name.strip("/")
        if name in self.dirs:
            return
        self.dir(os.path.dirname(name))
        self.dirs.add(name)
        self._entry(name, 0o040000 | mode)

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        name = name.strip("/")
        self.dir(os.path.dirname(name))
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name, major, minor):
        self.dir(os.path.dirname(name.strip("/")))
        self._entry(name.strip("/"), 0o020600, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)


def write_cpio_gz(path, fill, align=1):
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
            archive = Cpio(gz)
            fill(archive)
            archive.close()
        raw.write(b"\0" * (-raw.tell() % align))


