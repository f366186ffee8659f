#!/usr/bin/env python3
"""Assemble the Virtus Xen test bed from Debian packages, cached outside the tree.

The bed is QEMU (TCG) -> Xen 4.17 -> Debian's Linux as PV dom0 with a busybox
initramfs running xl -> guests started with `xl create`. Nothing is installed on
the host except QEMU and cpio: the Xen, kernel and library packages are fetched
with `apt-get download` and only unpacked (`dpkg -x`) into a scratch tree from
which the bed files are cut.

    testbed.py prepare   build the bed if needed; last line "testbed: ready <dir>"
    testbed.py dir       print the bed dir if it is ready, else exit 1
    testbed.py info      print the manifest, download and cache sizes
                         (each with --hvm: the HVM flavour, see hvmbed.py)
    testbed.py overlay OUT SCRIPT [GUEST.cfg ...]
                         write the per-run cpio that is appended to dom0.cpio.gz

See README.md in this directory for the boot protocol.
"""

import fcntl
import gzip
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hvmbed
from bedformats import (Cpio, FormatError, elf_needed, extract_vmlinux, has_pvh_entry,
                        trim_elf, write_cpio_gz)

# Bump when the recipe changes in a way that changes the bed's contents.
BED_FORMAT = 3

HERE = Path(__file__).resolve().parent
HOST_PACKAGES = {"qemu-system-x86_64": "qemu-system-x86", "cpio": "cpio"}
XEN_VERSION = "4.17"
XEN_PACKAGES = [
    "xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
    "libxenmisc4.17", "libxenstore4", "libxentoolcore1", "libxencall1", "libxenevtchn1",
    "libxenforeignmemory1", "libxengnttab1", "libxentoollog1", "libxendevicemodel1",
    "libxenhypfs1", "libyajl2", "busybox-static",
]
# Where the shared libraries the Xen tools need beyond their own come from. The
# build checks the DT_NEEDED closure and names any library this list misses.
RUNTIME_LIB_PACKAGES = ["libc6", "libgcc-s1", "libuuid1", "liblzma5", "libzstd1", "zlib1g"]
# glibc dlopen()s libgcc_s for pthread_cancel; xl aborts (code 134) without it.
DLOPENED_LIBS = ["libgcc_s.so.1"]
KERNEL_META = "linux-image-amd64"
XEN_BIN = f"usr/lib/xen-{XEN_VERSION}/bin"
DOM0_TOOLS = ["xl", "xenstored", "xenconsoled", "xenconsole", "xen-init-dom0"]
# Run by libxl from its build-time path, never by name: `xl save`, `xl restore`,
# `xl save -c` and `xl migrate` fork it to write or read the domain's memory
# stream (without it: "cannot execute .../libxl-save-helper"). Its libraries
# (libxenguest, libxenctrl, lzma, zstd, zlib) join the DT_NEEDED closure.
DOM0_HELPERS = ["libxl-save-helper"]
XENSTORE_CLIENT_LINKS = ["xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-exists",
                         "xenstore-list", "xenstore-rm", "xenstore-watch"]
# Load order matters: the package ships no modules.dep, and xenfs needs privcmd.
# loop and xen-blkback (the PVH guest's disk: an image file on a loop device,
# served by the kernel's block backend) depend on no other module (their
# modinfo `depends=` is empty); blkback's xenbus driver needs xenfs's bus up.
DOM0_MODULES = ["xen-evtchn", "xen-privcmd", "xenfs", "xen-gntdev", "xen-gntalloc",
                "loop", "xen-blkback"]
GUEST_APPLETS = ["sh", "mount", "poweroff", "reboot", "cat", "echo", "sleep", "ls"]
LIB_DIR = "lib/x86_64-linux-gnu"
LIB_SEARCH = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib"]
APT_LISTS = Path("/var/lib/apt/lists")
APT_LISTS_MAX_AGE = 7 * 24 * 3600
BED_FILES = ["xen", "vmlinux", "dom0.cpio.gz", "linux-guest.cpio.gz", "manifest.json"]


class BedError(Exception):
    pass


def say(msg):
    print(f"testbed: {msg}", flush=True)


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout
    except FileNotFoundError:
        raise BedError(f"{cmd[0]} not found")
    except subprocess.CalledProcessError as e:
        raise BedError(f"{' '.join(cmd[:3])} ... failed ({e.returncode}): {e.stderr.strip()[-800:]}")


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME", "/root"), ".cache")
    return Path(base) / "virtus"


# ---------------------------------------------------------------- apt

def apt_update_stamp():
    return cache_root() / "xen-testbed" / "apt-updated"


def apt_lists_fresh():
    # An update that finds nothing new leaves the lists' mtimes alone: keep a stamp.
    lists = list(APT_LISTS.glob("*_Packages*"))
    stamp = apt_update_stamp()
    times = [p.stat().st_mtime for p in lists] + ([stamp.stat().st_mtime] if stamp.exists() else [])
    return bool(lists) and time.time() - max(times) < APT_LISTS_MAX_AGE


def apt_update():
    say("apt-get update")
    run(["apt-get", "update", "-qq"])
    apt_update_stamp().parent.mkdir(parents=True, exist_ok=True)
    apt_update_stamp().touch()


def ensure_host_packages():
    missing = sorted({pkg for tool, pkg in HOST_PACKAGES.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise BedError(f"missing host packages {' '.join(missing)} and not root: install them")
    if not apt_lists_fresh():
        apt_update()
    say(f"installing host packages {' '.join(missing)}")
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def apt_show(packages):
    """Candidate version, size and checksum of each package, from the local lists."""
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                         text=True, capture_output=True).stdout
    found = {}
    for para in out.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in para.splitlines() if ": " in line and line[0] != " ")
        name = fields.get("Package")
        if name in packages and name not in found and fields.get("Architecture") in ("amd64", "all"):
            found[name] = {"version": fields["Version"], "arch": fields["Architecture"],
                           "size": int(fields["Size"]), "sha256": fields["SHA256"]}
    return found


def kernel_package():
    out = subprocess.run(["apt-cache", "depends", KERNEL_META], text=True, capture_output=True).stdout
    for line in out.splitlines():
        dep = line.strip().removeprefix("Depends: ")
        if line.strip().startswith("Depends: ") and dep.startswith("linux-image-") and dep.endswith("-amd64"):
            return dep
    return None


def apt_state(flavour):
    """Changes whenever apt's candidate versions may have changed."""
    files = [*APT_LISTS.glob("*"), *Path("/etc/apt").rglob("*")]
    state = sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file())
    wanted = XEN_PACKAGES + RUNTIME_LIB_PACKAGES + [KERNEL_META] + hvmbed.extra_packages(flavour)
    return hashlib.sha256(repr((state, wanted)).encode()).hexdigest()


def resolve_packages(flavour="pvh"):
    """Exact package set and versions, or None when the apt lists cannot say.

    apt-cache takes about a second per call here (no pkgcache.bin in containers),
    so the answer is memoized against the state of apt's lists and configuration.
    """
    memo = cache_root() / "xen-testbed" / hvmbed.memo_name(flavour)
    state = apt_state(flavour)
    try:
        saved = json.loads(memo.read_text())
        if saved["apt_state"] == state:
            return saved["resolved"]
    except (OSError, ValueError, KeyError):
        pass
    resolved = resolve_packages_uncached(flavour)
    if resolved is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}")
        tmp.write_text(json.dumps({"apt_state": state, "resolved": resolved}))
        os.replace(tmp, memo)
    return resolved


def resolve_packages_uncached(flavour):
    kernel = kernel_package()
    if kernel is None:
        return None
    wanted = XEN_PACKAGES + RUNTIME_LIB_PACKAGES + [kernel] + hvmbed.extra_packages(flavour)
    found = apt_show(wanted)
    if len(found) != len(wanted):
        return None
    return {"kernel": kernel, "packages": found}


def resolve_packages_updating(flavour):
    if not apt_lists_fresh():
        apt_update()
    resolved = resolve_packages(flavour)
    if resolved is None:
        apt_update()
        resolved = resolve_packages(flavour)
    if resolved is None:
        raise BedError("apt cannot resolve the Xen 4.17 / linux-image packages (Debian 12 main needed)")
    return resolved


def deb_filename(name, info):
    return f"{name}_{info['version'].replace(':', '%3a')}_{info['arch']}.deb"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(packages, debs):
    """The .deb of every package in debs/, reusing files whose checksum matches."""
    debs.mkdir(parents=True, exist_ok=True)
    missing = []
    for name, info in sorted(packages.items()):
        path = debs / deb_filename(name, info)
        if not (path.exists() and sha256_file(path) == info["sha256"]):
            say(f"fetching {name} {info['version']} ({info['size'] / 1e6:.1f} MB)")
            path.unlink(missing_ok=True)
            missing.append(f"{name}={info['version']}")
    if missing:
        cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *missing]
        try:
            run(cmd, cwd=debs)
        except BedError:
            apt_update()  # the mirror dropped an old version: refresh and retry once
            run(cmd, cwd=debs)
    for name, info in packages.items():
        path = debs / deb_filename(name, info)
        if not path.exists() or sha256_file(path) != info["sha256"]:
            raise BedError(f"{path.name}: missing or checksum mismatch after download")
    return [debs / deb_filename(n, i) for n, i in sorted(packages.items())]


# ---------------------------------------------------------------- libraries

def find_in_tree(root, rel):
    """Resolve rel inside the unpacked tree, following symlinks as if root were /."""
    path = root / rel
    for _ in range(16):
        if not path.is_symlink():
            return path if path.exists() else None
        target = os.readlink(path)
        path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
    return None


def library_closure(root, binaries):
    """Map soname -> file in the tree for everything the binaries load."""
    libs, todo = {}, [*binaries]
    todo_names = list(DLOPENED_LIBS)
    while todo or todo_names:
        if todo:
            binary = todo.pop()
            todo_names += [n for n in elf_needed(binary) if n not in libs]
            continue
        name = todo_names.pop()
        if name in libs:
            continue
        found = next((p for d in LIB_SEARCH if (p := find_in_tree(root, f"{d}/{name}"))), None)
        if found is None:
            raise BedError(f"shared library {name} not found in the unpacked packages: "
                           "add its package to RUNTIME_LIB_PACKAGES")
        libs[name] = found
        todo.append(found)
    return libs


def add_busybox(archive, busybox, applets=None):
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    listing = run([str(busybox), "--list-full"]).split()
    for path in listing:
        if path == "bin/busybox" or path == "linuxrc" or "/" not in path:
            continue
        if applets is None or os.path.basename(path) in applets:
            archive.symlink(path, "/bin/busybox")
    archive.chardev("dev/console", 5, 1)  # the kernel opens it for init before any mount
    for d in ["proc", "sys", "run", "tmp"]:
        archive.dir(d)


# ---------------------------------------------------------------- the bed

def overlay_sources():  # the PVH bed's; the HVM flavour adds hvmbed.py to its key
    names = ("init", "virtus.sh", "linux-guest-init", "block-virtus")
    return {name: (HERE / name).read_bytes() for name in names}


def bed_key(resolved, flavour="pvh"):
    h = hashlib.sha256(f"format {BED_FORMAT}\n".encode())
    if flavour != "pvh":
        h.update(f"flavour {flavour}\n".encode() + hashlib.sha256((HERE / "hvmbed.py").read_bytes()).digest())
    for name, info in sorted(resolved["packages"].items()):
        h.update(f"{name} {info['version']}\n".encode())
    for name, data in sorted(overlay_sources().items()):
        h.update(name.encode() + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def bed_ready(bed):
    return all((bed / f).is_file() for f in BED_FILES)


def build_guest_initramfs(root, path):
    init = overlay_sources()["linux-guest-init"]

    def fill(a):
        add_busybox(a, root / "bin/busybox", GUEST_APPLETS)
        a.file("init", init, 0o755)
    write_cpio_gz(path, fill)


def build_dom0_initramfs(root, path, vmlinux, guest_cpio, kernel_release, flavour="pvh"):
    tools = ([root / XEN_BIN / t for t in DOM0_TOOLS + DOM0_HELPERS]
             + [root / "usr/bin/xenstore"])
    libs = library_closure(root, tools + [root / b for b in hvmbed.extra_binaries(flavour)])
    extra = hvmbed.extra_files(flavour)
    for rel, _ in extra:
        if not (root / rel).is_file():
            raise BedError(f"{rel} not found in the unpacked packages")
    if "ld-linux-x86-64.so.2" not in libs:
        raise BedError("ld-linux-x86-64.so.2 not found in libc6")
    modules = {}
    for m in DOM0_MODULES:
        hits = sorted((root / "lib/modules" / kernel_release).rglob(f"{m}.ko*"))
        if not hits:
            raise BedError(f"module {m} not in the kernel package")
        data = hits[0].read_bytes()
        if hits[0].suffix == ".xz":
            data = lzma.decompress(data)
        elif hits[0].suffix == ".gz":
            data = gzip.decompress(data)
        elif hits[0].suffix != ".ko":
            raise BedError(f"{hits[0].name}: unsupported module compression")
        modules[m] = data
    sources = overlay_sources()

    def fill(a):
        add_busybox(a, root / "bin/busybox")
        for t in tools:
            a.file(str(t.relative_to(root)), t.read_bytes(), 0o755)
        for t in DOM0_TOOLS:
            a.symlink(f"usr/sbin/{t}", f"/{XEN_BIN}/{t}")
        for link in XENSTORE_CLIENT_LINKS:
            a.symlink(f"usr/bin/{link}", "xenstore")
        a.symlink("lib64/ld-linux-x86-64.so.2", f"/{LIB_DIR}/ld-linux-x86-64.so.2")
        for soname, lib in sorted(libs.items()):
            a.file(f"{LIB_DIR}/{soname}", lib.read_bytes(), 0o755)
        for m, data in modules.items():
            a.file(f"lib/modules/xen/{m}.ko", data)
        a.file("etc/xen/xl.conf", (root / "etc/xen/xl.conf").read_bytes())
        for d in ["var/lib/xen", "var/log/xen/console", "dev/pts", "proc/xen", "virtus-run"]:
            a.dir(d)
        a.symlink("var/run", "/run")
        a.symlink("var/lock", "/run/lock")
        a.file("init", sources["init"], 0o755)
        a.file("lib/virtus.sh", sources["virtus.sh"], 0o644)
        a.file("etc/xen/scripts/block-virtus", sources["block-virtus"], 0o755)
        a.file("boot/linux-guest.cpio.gz", guest_cpio, 0o644)
        a.file("boot/vmlinux", vmlinux, 0o644)
        for rel, mode in extra:
            a.file(rel, (root / rel).read_bytes(), mode)
    # The kernel takes an appended uncompressed cpio only at a 4-byte aligned offset,
    # and skips zeros between archives. (libxenguest, which unpacks a domU's ramdisk,
    # rejects trailing zeros: the guest initramfs stays unpadded.)
    write_cpio_gz(path, fill, align=4)
    return sorted(libs)


def build_bed(resolved, debs, beds, key, flavour="pvh"):
    beds.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=beds))
    try:
        root, out = scratch / "root", scratch / "bed"
        out.mkdir()
        say("unpacking packages")
        for deb in debs:
            run(["dpkg", "-x", str(deb), str(root)])
        release = resolved["kernel"].removeprefix("linux-image-")

        say("extracting xen and the uncompressed kernel")
        xen = gzip.decompress((root / f"boot/xen-{XEN_VERSION}-amd64.gz").read_bytes())
        if xen[:4] != b"\x7fELF":
            raise BedError("xen-4.17-amd64.gz does not hold an ELF")
        (out / "xen").write_bytes(xen)
        vmlinux = extract_vmlinux((root / f"boot/vmlinuz-{release}").read_bytes())
        if not has_pvh_entry(vmlinux):
            raise BedError("vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note: cannot boot as PVH")
        (out / "vmlinux").write_bytes(vmlinux)

        say("building linux guest initramfs")
        build_guest_initramfs(root, out / "linux-guest.cpio.gz")
        say("building dom0 initramfs")
        libs = build_dom0_initramfs(root, out / "dom0.cpio.gz", trim_elf(vmlinux),
                                    (out / "linux-guest.cpio.gz").read_bytes(), release, flavour)

        manifest = {
            "format": BED_FORMAT, "flavour": flavour, "key": key, "kernel": resolved["kernel"],
            "packages": {n: i["version"] for n, i in sorted(resolved["packages"].items())},
            "download_bytes": sum(i["size"] for i in resolved["packages"].values()),
            "dom0_libraries": libs,
            "files": {f: (out / f).stat().st_size for f in BED_FILES if f != "manifest.json"},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        final = beds / key
        if final.exists():
            shutil.rmtree(final)
        os.rename(out, final)  # the bed appears whole or not at all
        prune_beds(beds)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prune_beds(beds, keep=3):
    """Drop all but the newest few beds (older ones may still be in use)."""
    old = sorted((p for p in beds.iterdir() if p.is_dir() and not p.name.startswith(".")),
                 key=lambda p: p.stat().st_mtime, reverse=True)[keep:]
    for bed in old:
        shutil.rmtree(bed, ignore_errors=True)


def dir_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) if Path(path).exists() else 0


# ---------------------------------------------------------------- commands

def cmd_prepare(flavour):
    started = time.monotonic()
    ensure_host_packages()
    resolved = resolve_packages_updating(flavour)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".xen-testbed.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; others wait and reuse
        key = bed_key(resolved, flavour)
        beds = root / hvmbed.beds_dir_name(flavour)
        bed = beds / key
        if not bed_ready(bed):
            pkgs = resolved["packages"]
            say(f"xen {pkgs['xen-hypervisor-4.17-amd64']['version']}, kernel {resolved['kernel']} "
                f"{pkgs[resolved['kernel']]['version']}, {flavour} bed {key}")
            debs = fetch(pkgs, root / "debs")
            bed = build_bed(resolved, debs, beds, key, flavour)
            say(f"built in {time.monotonic() - started:.1f} s")
    say(f"ready {bed}")


def current_bed(flavour):
    resolved = resolve_packages(flavour)
    if resolved is None:
        return None
    bed = cache_root() / hvmbed.beds_dir_name(flavour) / bed_key(resolved, flavour)
    return bed if bed_ready(bed) else None


def cmd_dir(flavour):
    bed = current_bed(flavour)
    if bed is None:
        print("testbed: no ready bed; run `testbed.py prepare`", file=sys.stderr)
        return 1
    print(bed)
    return 0


def cmd_info(flavour):
    root = cache_root()
    bed = current_bed(flavour)
    if bed is None:
        print("bed: not ready (run `testbed.py prepare`)")
    else:
        m = json.loads((bed / "manifest.json").read_text())
        print(f"bed: {bed}\nbuilt: {m['built_at']} in {m['build_seconds']} s\nkernel: {m['kernel']}")
        for name, version in m["packages"].items():
            print(f"  {name} {version}")
        print(f"download: {m['download_bytes'] / 1e6:.1f} MB")
        for name, size in m["files"].items():
            print(f"  {name}: {size / 1e6:.1f} MB")
    for sub in ["debs", hvmbed.beds_dir_name(flavour)]:
        print(f"cache {root / sub}: {dir_size(root / sub) / 1e6:.1f} MB")
    return 0 if bed else 1


def cmd_overlay(out, script, guest_cfgs):
    """Uncompressed cpio with /virtus-run/script.sh and /virtus-run/guests/*."""
    with open(out, "wb") as f:
        a = Cpio(f)
        a.file("virtus-run/script.sh", Path(script).read_bytes(), 0o755)
        a.dir("virtus-run/guests")
        for cfg in guest_cfgs:
            a.file(f"virtus-run/guests/{Path(cfg).name}", Path(cfg).read_bytes())
        a.close()
    return 0


def main(argv):
    flavour, argv = hvmbed.parse_flavour(argv)
    cmd = argv[1] if len(argv) > 1 else ""
    try:
        if cmd == "prepare" and len(argv) == 2:
            cmd_prepare(flavour)
            return 0
        if cmd == "dir" and len(argv) == 2:
            return cmd_dir(flavour)
        if cmd == "info" and len(argv) == 2:
            return cmd_info(flavour)
        if cmd == "overlay" and len(argv) >= 4:
            return cmd_overlay(argv[2], argv[3], argv[4:])
    except (BedError, FormatError, OSError) as e:
        print(f"testbed: error: {e}", file=sys.stderr)
        return 1
    print(__doc__.split("\n\n")[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
