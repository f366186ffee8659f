# Virtus: the two commands are `make run` and `make test`.

TARGET      := x86_64-unknown-none
PROFILE     := release
IMAGE       := target/$(TARGET)/$(PROFILE)/virtus-native
# The same image in an ELF32 container: what Xen's 32-bit HVM device model
# loads. The code is unchanged; only the file format differs.
IMAGE32     := $(IMAGE).elf32
QEMU        := qemu-system-x86_64
MACHINE     ?= q35
CPU         ?= max
MEM         ?= 256M
CMDLINE     ?= loglevel=info
QEMU_FLAGS  := -machine $(MACHINE) -cpu $(CPU) -m $(MEM) -accel tcg -smp 1 \
               -display none -vga none -nic none -no-reboot \
               -device isa-debug-exit,iobase=0xf4,iosize=4

.PHONY: all build run run-native test test-host test-kernel test-xen xen-testbed checks gdb lint clippy fmt deps clean

all: build

## Build the native kernel image (ELF64, and its ELF32 form).
build:
	cargo build --$(PROFILE) -p virtus-native --target $(TARGET)
	objcopy -O elf32-i386 $(IMAGE) $(IMAGE32)

## Install missing host packages (Debian) or say what is missing.
deps:
	@./tools/ensure-deps

## Boot Virtus natively in QEMU with the console (and its shell) on this terminal.
## Exit status 33 from QEMU means the kernel powered off cleanly.
run run-native: deps build
	@echo "Booting $(IMAGE) (QEMU $(MACHINE), $(CPU), $(MEM)); type 'help', 'shutdown' to leave, Ctrl-A X to kill."
	@$(QEMU) $(QEMU_FLAGS) -serial mon:stdio -monitor none -kernel $(IMAGE) -append "$(CMDLINE)"; \
	  s=$$?; if [ $$s -eq 33 ] || [ $$s -eq 0 ]; then exit 0; else echo "QEMU exited with status $$s"; exit $$s; fi

## Everything: host unit tests, the kernel suite on a matrix of machines,
## and the negative checks (crashes and broken tests must be caught).
test: deps lint
	cargo test --locked -p virtus-kernel -p virtus-native --lib
	cargo test --locked -p virtus-tests
	$(MAKE) --no-print-directory build
	cargo run --locked --release -q -p virtus-tests --bin virtus-run -- suite --image $(IMAGE)
	cargo run --locked --release -q -p virtus-tests --bin virtus-run -- suite --quick --image $(IMAGE32)
	cargo run --locked --release -q -p virtus-tests --bin virtus-run -- checks --image $(IMAGE)
	python3 tests/xen/test_bedformats.py
	cargo run --locked --release -q -p virtus-tests --bin virtus-run -- xen-proof

## Prepare (download, build, cache) the Xen test bed: QEMU -> Xen 4.17 ->
## Linux dom0 with xl. Cached in ~/.cache/virtus; a second run is instant.
xen-testbed: deps
	python3 tests/xen/testbed.py prepare

## Prove the bed is real: Debian's Linux boots as a PVH domU under Xen via
## `xl create`, prints its marker and powers off.
test-xen: deps
	cargo run --locked --release -q -p virtus-tests --bin virtus-run -- xen-proof

## Host unit tests only.
test-host:
	cargo test -p virtus-kernel -p virtus-native --lib
	cargo test -p virtus-tests

## The kernel suite on the first machine configuration only.
test-kernel: deps build
	cargo run --release -q -p virtus-tests --bin virtus-run -- suite --quick --image $(IMAGE)

## QEMU halted, with a gdb stub on :1234; then: gdb -ex 'target remote :1234' $(IMAGE)
gdb: deps build
	@echo "QEMU waits for gdb on localhost:1234. In another terminal:"
	@echo "  gdb -ex 'target remote :1234' -ex 'break virtus_backend_entry' -ex continue $(IMAGE)"
	$(QEMU) $(QEMU_FLAGS) -serial mon:stdio -monitor none -kernel $(IMAGE) -append "$(CMDLINE)" -s -S

## Formatting and clippy (unsafe blocks must carry SAFETY comments).
lint: fmt-check clippy

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy -p virtus-kernel -p virtus-native --target $(TARGET) -- -D warnings
	cargo clippy -p virtus-kernel -p virtus-native -p virtus-tests --lib --tests -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
