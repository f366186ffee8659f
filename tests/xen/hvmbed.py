"""The HVM flavour of the test bed (`testbed.py prepare --hvm`).

The same bed as the PVH one, plus what dom0 needs to run fully virtualized
(HVM) domUs: Xen's QEMU device model with the shared libraries it loads,
hvmloader, SeaBIOS and QEMU's option ROMs for direct kernel boot (hvmloader ->
SeaBIOS -> pvh.bin -> the kernel's PVH entry). It boots with dom0_mem=512M and
QEMU -m 1536 (the runner's business); dom0's tmpfs root holds half of that, so
only the files named here go in, not the packages' whole data directories.
"""

FLAVOURS = ("pvh", "hvm")

# Packages beyond the PVH bed's: the device model and the firmware it loads.
HVM_PACKAGES = ["qemu-system-xen", "seabios", "qemu-system-data"]
# Where the device model's shared libraries come from (its DT_NEEDED closure;
# the build names any library this list misses). Found with ldd on the binary.
HVM_LIB_PACKAGES = [
    "libpixman-1-0", "libspice-server1", "libjpeg62-turbo", "libusb-1.0-0", "libfdt1",
    "libglib2.0-0", "libssl3", "libopus0", "libgstreamer1.0-0",
    "libgstreamer-plugins-base1.0-0", "liborc-0.4-0", "liblz4-1", "libsasl2-2", "libstdc++6",
    "libudev1", "libpcre2-8-0", "libunwind8", "libdw1", "libffi8", "libelf1", "libbz2-1.0",
]
# libxl starts the device model from this path (Debian's QEMU_XEN_PATH).
DEVICE_MODEL = "usr/libexec/xen-qemu-system-i386"
# libxl loads these from their build-time paths and hands them to the domain.
FIRMWARE = ["usr/lib/xen-4.17/boot/hvmloader", "usr/share/seabios/bios-256k.bin"]
# The device model's -kernel support: the PVH, Linux and multiboot loaders.
ROM_DIR = "usr/share/qemu"
# keymaps/en-us: libxl passes `-vnc none -k en-us`, and the device model exits
# if it cannot read the keymap.
OPTION_ROMS = ["pvh.bin", "linuxboot.bin", "linuxboot_dma.bin", "multiboot.bin",
               "multiboot_dma.bin", "kvmvapic.bin", "keymaps/en-us"]


def check_flavour(flavour):
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown bed flavour {flavour!r}")
    return flavour


def extra_packages(flavour):
    """Packages the flavour needs beyond the PVH bed's."""
    return HVM_PACKAGES + HVM_LIB_PACKAGES if check_flavour(flavour) == "hvm" else []


def extra_binaries(flavour):
    """Executables (relative to the unpacked tree) whose libraries dom0 needs."""
    return [DEVICE_MODEL] if check_flavour(flavour) == "hvm" else []


def extra_files(flavour):
    """(path, mode) of every further file of the flavour's dom0, as in the tree."""
    if check_flavour(flavour) != "hvm":
        return []
    return ([(DEVICE_MODEL, 0o755)] + [(f, 0o644) for f in FIRMWARE]
            + [(f"{ROM_DIR}/{rom}", 0o644) for rom in OPTION_ROMS])


def beds_dir_name(flavour):
    """The flavour's directory under the cache: each keeps its own newest few."""
    return "xen-testbed" if check_flavour(flavour) == "pvh" else "xen-testbed-hvm"


def memo_name(flavour):
    return "resolved.json" if check_flavour(flavour) == "pvh" else "resolved-hvm.json"


def parse_flavour(args):
    """(flavour, the other arguments) of a command line that may say --hvm."""
    rest = [a for a in args if a != "--hvm"]
    return ("hvm" if len(rest) != len(args) else "pvh"), rest
