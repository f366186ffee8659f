# Virtus: the two commands are `make run` and `make test`.

TARGET      := x86_64-unknown-none
PROFILE     := release
IMAGE       := target/$(TARGET)/$(PROFILE)/virtus-native
# The same image in an ELF32 container: what Xen's 32-bit HVM device model
# loads. The code is unchanged; only the file format differs.
IMAGE32     := $(IMAGE).elf32
PV_IMAGE    := target/$(TARGET)/$(PROFILE)/virtus-pv
# The user programs (user/, a workspace of its own) packed as a cpio archive:
# the ramdisk every boot gets (QEMU's -initrd, xl's ramdisk =).
RAMDISK     := target/$(TARGET)/$(PROFILE)/virtus-ramdisk.cpio
USER_BIN    := target/user/$(TARGET)/release
USER_PROGS  := hello sh spin crash syscall-bench blk
QEMU        := qemu-system-x86_64
MACHINE     ?= q35
CPU         ?= max
MEM         ?= 256M
XEN_MEM     ?= 32
CMDLINE     ?=
QEMU_FLAGS  := -machine $(MACHINE) -cpu $(CPU) -m $(MEM) -accel tcg -smp 1 \
               -display none -vga none -nic none -no-reboot \
               -device isa-debug-exit,iobase=0xf4,iosize=4
RUNNER      := cargo run --locked --release -q -p virtus-tests --bin virtus-run --
FUZZ_SECONDS ?= 60
SOAK_CYCLES       ?= 200
SOAK_DISK_SECONDS ?= 180
FUZZ_FLAGS  ?=

.PHONY: all build run run-native run-xen run-hvm test test-host test-kernel test-xen xen-testbed checks gdb lint fmt-check clippy fmt deps clean fuzz soak

all: build

## Build both images: virtus-native (ELF64 and its ELF32 form) and virtus-pv,
## and the ramdisk of user programs.
build:
	cargo build --$(PROFILE) -p virtus-native -p virtus-pv --target $(TARGET)
	objcopy -O elf32-i386 $(IMAGE) $(IMAGE32)
	cd user && cargo build --locked --release
	$(RUNNER) ramdisk --out $(RAMDISK) $(addprefix $(USER_BIN)/,$(USER_PROGS))

## Install missing host packages (Debian) or say what is missing.
deps:
	@./tools/ensure-deps

## Boot Virtus as a Xen PVH domU: QEMU -> Xen 4.17 -> Linux dom0 -> `xl create`,
## with the guest's console (and its shell) on this terminal.
run run-xen: deps build
	$(RUNNER) xen-run --image $(PV_IMAGE) --memory $(XEN_MEM) --append "$(CMDLINE)"

## The same unmodified native image as a fully virtualized Xen HVM domU: its
## UART, timers and interrupt controllers are emulated by Xen and by the device
## model in dom0 (trap and emulate). The emulated serial port is this terminal.
run-hvm: deps build
	$(RUNNER) xen-run --hvm --image $(IMAGE32) --append "$(CMDLINE)"

## Boot Virtus natively in QEMU with the console (and its shell) on this terminal.
## Exit status 33 from QEMU means the kernel powered off cleanly.
run-native: deps build
	@echo "Booting $(IMAGE) (QEMU $(MACHINE), $(CPU), $(MEM)); type 'help', 'shutdown' to leave, Ctrl-A X to kill."
	@$(QEMU) $(QEMU_FLAGS) -serial mon:stdio -monitor none -kernel $(IMAGE) -initrd $(RAMDISK) -append "$(CMDLINE)"; \
	  s=$$?; if [ $$s -eq 33 ] || [ $$s -eq 0 ]; then exit 0; else echo "QEMU exited with status $$s"; exit $$s; fi

## Everything: lint, host unit tests, the native suite on a matrix of machines,
## the native crash checks, the Xen test bed checks (Linux proof guest, crashing,
## hanging and mute guests), the runs that must turn red (a failing test, a
## filter that matches nothing, a crash after the summary) under Xen PVH and
## Xen HVM, the same suite in three columns: native, the same image as a Xen
## HVM domU (trap and emulate), and virtus-pv as a Xen PVH domU; and finally
## the lifecycle driven from outside in each column (the power button natively
## and under HVM; xl shutdown, reboot, sysrq and a xenstore watch under PVH);
## the short soaks (create/shutdown cycles, disk, console bursts) and mixed
## Linux and Virtus guests at once (xen-concurrency). `make fuzz` runs 5 s of
## each fuzz target first.
test: deps lint
	cargo test --locked -p virtus-kernel -p virtus-native -p virtus-pv --lib
	cargo test --locked -p virtus-tests -p virtus-grant-peek -p virtus-fuzz
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5
	python3 tests/xen/test_bedformats.py
	$(MAKE) --no-print-directory build
	$(RUNNER) suite --image $(IMAGE)
	$(RUNNER) suite --quick --image $(IMAGE32)
	$(RUNNER) checks --image $(IMAGE)
	$(RUNNER) xen-checks
	$(RUNNER) xen-suite --red --quiet --image $(PV_IMAGE)
	$(RUNNER) xen-hvm-suite --red --quiet --image $(IMAGE32)
	$(RUNNER) legs --native-image $(IMAGE) --hvm-image $(IMAGE32) --pv-image $(PV_IMAGE) --memory $(XEN_MEM)
	$(RUNNER) legs --cpus 2 --native-image $(IMAGE) --hvm-image $(IMAGE32) --pv-image $(PV_IMAGE) --memory $(XEN_MEM)
	$(RUNNER) legs --cpus 4 --native-image $(IMAGE) --hvm-image $(IMAGE32) --pv-image $(PV_IMAGE) --memory $(XEN_MEM)
	$(RUNNER) lifecycle --quiet --native-image $(IMAGE) --hvm-image $(IMAGE32) --pv-image $(PV_IMAGE)
	$(RUNNER) soak-lifecycle --quiet --cycles 5 --pv-image $(PV_IMAGE)
	$(RUNNER) soak-disk --quiet --seconds 20 --pv-image $(PV_IMAGE)
	$(RUNNER) soak-console --native --pvh --quiet
	$(RUNNER) soak-console --hvm --bytes 8K --quiet
	$(RUNNER) xen-concurrency

## Host unit tests only.
test-host:
	cargo test -p virtus-kernel -p virtus-native -p virtus-pv --lib
	cargo test -p virtus-tests -p virtus-grant-peek -p virtus-fuzz

## Fuzz the kernel's parsers of untrusted input and its ring consumers on the
## host, with the kernel's own code: ELF plan, ramdisk archive, PVH start info,
## command line, memory map, ACPI, AHCI IDENTIFY, PCI BARs, the PV console
## rings, the xenstore client, blkfront's ring and the xenstore values (fake
## other ends on real pages). FUZZ_SECONDS per target (default 60), targets on
## all host CPUs; FUZZ_FLAGS for more, e.g. --seed 0x1 --iterations 10000000
## (reproducible), --jobs N, --corpus DIR, --target elf. Ends with a table of
## executions per target. A crash saves its input under target/fuzz-crashes/
## and fails the run; fixed ones live on in fuzz/regressions/.
## The user programs and the ramdisk, if built, join the seeds.
fuzz:
	@mkdir -p target/fuzz-corpus/elf target/fuzz-corpus/archive
	@cp $(addprefix $(USER_BIN)/,$(USER_PROGS)) target/fuzz-corpus/elf/ 2>/dev/null || true
	@cp $(RAMDISK) target/fuzz-corpus/archive/ 2>/dev/null || true
	cargo run --locked --profile fuzz -q -p virtus-fuzz -- --seconds $(FUZZ_SECONDS) --corpus target/fuzz-corpus $(FUZZ_FLAGS)

## The native kernel suite on the first machine configuration only.
test-kernel: deps build
	$(RUNNER) suite --quick --image $(IMAGE)

## Prepare (download, build, cache) the Xen test bed: QEMU -> Xen 4.17 ->
## Linux dom0 with xl. Cached in ~/.cache/virtus; a second run is instant.
xen-testbed: deps
	python3 tests/xen/testbed.py prepare
	python3 tests/xen/testbed.py prepare --hvm

## Prove the bed is real (Debian's Linux as a PVH domU prints its marker and
## powers off), then run the suite in virtus-pv under Xen.
test-xen: deps build
	$(RUNNER) xen-proof
	$(RUNNER) xen-suite --image $(PV_IMAGE) --memory $(XEN_MEM)
	$(RUNNER) xen-hvm-suite --image $(IMAGE32)
	$(RUNNER) xen-concurrency

## Soak: create/shutdown cycles of a Virtus PVH domU with nothing left behind
## in xl list, xenstore or Xen's free memory (SOAK_CYCLES, 200), the block
## workload on its blkfront disk for SOAK_DISK_SECONDS (180), checksummed by
## the guest, by dom0 and by the host, and a console burst both ways with a
## CRC-32 at both ends: 10 MiB natively and under PVH, 64 KiB under HVM (its
## emulated UART moves a few hundred bytes a second). `make test` runs short
## forms of each (64 KiB, and 8 KiB under HVM).
soak: deps build
	$(RUNNER) soak-lifecycle --quiet --cycles $(SOAK_CYCLES) --pv-image $(PV_IMAGE)
	$(RUNNER) soak-disk --quiet --seconds $(SOAK_DISK_SECONDS) --pv-image $(PV_IMAGE)
	$(RUNNER) soak-console --native --pvh --bytes 10M --quiet
	$(RUNNER) soak-console --hvm --bytes 64K --quiet

## QEMU halted, with a gdb stub on :1234; then: gdb -ex 'target remote :1234' $(IMAGE)
gdb: deps build
	@echo "QEMU waits for gdb on localhost:1234. In another terminal:"
	@echo "  gdb -ex 'target remote :1234' -ex 'break virtus_backend_entry' -ex continue $(IMAGE)"
	$(QEMU) $(QEMU_FLAGS) -serial mon:stdio -monitor none -kernel $(IMAGE) -initrd $(RAMDISK) -append "$(CMDLINE)" -s -S

## Formatting and clippy (unsafe blocks must carry SAFETY comments).
lint: fmt-check clippy

fmt-check:
	cargo fmt --all -- --check
	cd user && cargo fmt --all -- --check

clippy:
	cargo clippy -p virtus-kernel -p virtus-native -p virtus-pv --target $(TARGET) -- -D warnings
	cargo clippy -p virtus-kernel -p virtus-native -p virtus-pv -p virtus-tests --lib --tests -- -D warnings
	cargo clippy -p virtus-grant-peek --bins --tests -- -D warnings
	cargo clippy -p virtus-fuzz --lib --bins --tests -- -D warnings
	cd user && cargo clippy --locked --release -- -D warnings

fmt:
	cargo fmt --all
	cd user && cargo fmt --all

clean:
	cargo clean

## Benchmarks: the kernel's micro-benchmarks natively, as a Xen HVM domU and as
## a Xen PVH domU (emulated against paravirtual, per pair), each run 3 times;
## the three columns again with 2 and 4 CPUs for the SMP table (IPI round trip,
## TLB shootdown, lock hand-off); boot against Linux from `xl create`; the
## memory floor by bisection; density; the live operations.
## Writes bench/report.md, report.json and charts. BENCH_FLAGS: --repeat N runs
## of everything, --quick (2 runs, one density step), --only PART,... to run
## one part (native, hvm, pvh, smp, boot, floor, density, live) with --out DIR.
.PHONY: bench
bench: deps build
	$(RUNNER) bench --native-image $(IMAGE) --hvm-image $(IMAGE32) --pv-image $(PV_IMAGE) $(BENCH_FLAGS)
