#!/usr/bin/env python3
"""Host tests of bedformats and hvmbed: python3 tests/xen/test_bedformats.py"""

import gzip
import lzma
import os
import struct
import tempfile
import unittest

import hvmbed
from bedformats import (Cpio, elf_needed, elf_notes, extract_vmlinux, has_pvh_entry, trim_elf,
                        write_cpio_gz)


def parse_newc(data):
    """(name, mode, rdevmajor, rdevminor, body) of each entry, checking alignment."""
    entries, pos = [], 0
    while True:
        assert pos % 4 == 0 and data[pos:pos + 6] == b"070701", pos
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        name_at = pos + 110
        name = data[name_at:name_at + f[11] - 1].decode()
        body_at = (name_at + f[11] + 3) // 4 * 4
        body = data[body_at:body_at + f[6]]
        pos = (body_at + f[6] + 3) // 4 * 4
        if name == "TRAILER!!!":
            return entries, pos
        entries.append((name, f[1], f[9], f[10], body))


def make_elf(segments, notes=b""):
    """An ELF64 with PT_LOADs (paddr, data, memsz) and one PT_NOTE after them."""
    phnum = len(segments) + 1
    out = bytearray(64 + 56 * phnum)
    out[:4] = b"\x7fELF"
    out[4] = 2
    struct.pack_into("<QQ", out, 0x20, 64, 0)
    struct.pack_into("<HHHHHH", out, 0x34, 64, 56, phnum, 64, 0, 0)
    for i, (paddr, data, memsz) in enumerate(segments):
        offset = len(out)
        out += data
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * i, 1, 5, offset, paddr, paddr,
                         len(data), memsz, 4)
    struct.pack_into("<IIQQQQQQ", out, 64 + 56 * len(segments), 4, 4, len(out), 0, 0,
                     len(notes), len(notes), 4)
    return bytes(out + notes)


def xen_note(ntype, desc):
    return struct.pack("<III", 4, len(desc), ntype) + b"Xen\0" + desc


class CpioTest(unittest.TestCase):
    def test_round_trip(self):
        with tempfile.TemporaryFile() as f:
            a = Cpio(f)
            a.file("usr/bin/tool", b"abcde", 0o755)
            a.symlink("bin/sh", "/bin/busybox")
            a.chardev("dev/console", 5, 1)
            a.close()
            f.seek(0)
            entries, end = parse_newc(f.read())
        names = [e[0] for e in entries]
        self.assertEqual(names, ["usr", "usr/bin", "usr/bin/tool", "bin", "bin/sh", "dev",
                                 "dev/console"])
        self.assertEqual(entries[2][1:], (0o100755, 0, 0, b"abcde"))
        self.assertEqual(entries[4][4], b"/bin/busybox")
        self.assertEqual(entries[6][1:4], (0o020600, 5, 1))

    def test_gz_padding_keeps_appended_archive_aligned(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "a.cpio.gz")
            write_cpio_gz(path, lambda a: a.file("x", b"1"), align=4)
            data = open(path, "rb").read()
            self.assertEqual(len(data) % 4, 0)
            entries, _ = parse_newc(gzip.decompress(data))
            self.assertEqual(entries[0][0], "x")


class ElfTest(unittest.TestCase):
    def test_pvh_note_found(self):
        elf = make_elf([(0x1000000, b"\x90" * 16, 16)], xen_note(18, b"\0" * 4))
        self.assertTrue(has_pvh_entry(elf))
        self.assertEqual([(n, t) for n, t, _ in elf_notes(elf)], [("Xen", 18)])
        self.assertFalse(has_pvh_entry(make_elf([(0, b"x", 1)], xen_note(6, b"linux\0"))))

    def test_trim_keeps_memsz_and_drops_zero_tail(self):
        text = b"\x90" * 32
        data = b"\x01\x02" + b"\0" * 4094
        elf = make_elf([(0x1000000, text, 32), (0x2000000, data, 8192)])
        trimmed = trim_elf(elf)
        p_filesz, p_memsz = struct.unpack_from("<QQ", trimmed, 64 + 56 + 0x20)
        self.assertEqual((p_filesz, p_memsz), (2, 8192))
        self.assertEqual(len(trimmed), len(elf) - 4094)
        self.assertEqual(trimmed[64 + 56 * 3 + 32:][:2], b"\x01\x02")

    def test_needed_of_a_host_binary(self):
        self.assertIn("libc.so.6", elf_needed("/bin/ls"))


class BzImageTest(unittest.TestCase):
    def bzimage(self, payload):
        image = bytearray(0x1000)
        image[0x1f1] = 3  # setup sectors: the payload area starts at 4 * 512
        image[0x202:0x206] = b"HdrS"
        struct.pack_into("<II", image, 0x248, 0x100, len(payload))
        image[4 * 512 + 0x100:4 * 512 + 0x100] = payload + b"\x10\x00\x00\x00"
        return bytes(image)

    def test_xz_and_gzip_payloads(self):
        elf = make_elf([(0x1000000, b"kernel", 6)])
        for compress in (lambda b: lzma.compress(b, check=lzma.CHECK_CRC32), gzip.compress):
            self.assertEqual(extract_vmlinux(self.bzimage(compress(elf))), elf)


class HvmFlavour(unittest.TestCase):
    def test_flag_selects_the_flavour(self):
        self.assertEqual(hvmbed.parse_flavour(["t", "prepare"]), ("pvh", ["t", "prepare"]))
        self.assertEqual(hvmbed.parse_flavour(["t", "prepare", "--hvm"]), ("hvm", ["t", "prepare"]))
        self.assertEqual(hvmbed.parse_flavour(["t", "--hvm", "dir"]), ("hvm", ["t", "dir"]))

    def test_the_pvh_bed_is_unchanged(self):
        self.assertEqual(hvmbed.extra_packages("pvh"), [])
        self.assertEqual(hvmbed.extra_binaries("pvh"), [])
        self.assertEqual(hvmbed.extra_files("pvh"), [])
        self.assertEqual(hvmbed.beds_dir_name("pvh"), "xen-testbed")
        self.assertEqual(hvmbed.memo_name("pvh"), "resolved.json")

    def test_the_hvm_bed_has_the_device_model_and_firmware(self):
        self.assertIn("qemu-system-xen", hvmbed.extra_packages("hvm"))
        self.assertEqual(hvmbed.extra_binaries("hvm"), ["usr/libexec/xen-qemu-system-i386"])
        files = dict(hvmbed.extra_files("hvm"))
        self.assertEqual(files["usr/libexec/xen-qemu-system-i386"], 0o755)
        for path in ["usr/lib/xen-4.17/boot/hvmloader", "usr/share/seabios/bios-256k.bin",
                     "usr/share/qemu/pvh.bin", "usr/share/qemu/keymaps/en-us"]:
            self.assertEqual(files[path], 0o644, path)
        self.assertNotEqual(hvmbed.beds_dir_name("hvm"), hvmbed.beds_dir_name("pvh"))
        self.assertNotEqual(hvmbed.memo_name("hvm"), hvmbed.memo_name("pvh"))
        with self.assertRaises(ValueError):
            hvmbed.extra_packages("pv")


if __name__ == "__main__":
    unittest.main()
