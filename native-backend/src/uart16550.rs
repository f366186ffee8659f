//! The 16550 UART at COM1: console output by polling, input by interrupt.

use crate::port::Port8;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// I/O base of COM1 on PC-compatible machines.
pub const COM1: u16 = 0x3f8;
/// ISA IRQ of COM1.
pub const COM1_IRQ: u8 = 4;

const THR_RBR: u16 = 0; // transmit holding / receive buffer (DLAB=0), divisor low (DLAB=1)
const IER: u16 = 1; // interrupt enable (DLAB=0), divisor high (DLAB=1)
const FCR: u16 = 2; // FIFO control (write), interrupt identification (read)
const IIR: u16 = 2;
const LCR: u16 = 3; // line control
const MCR: u16 = 4; // modem control
const LSR: u16 = 5; // line status

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const MCR_DTR_RTS_OUT2: u8 = 0b1011; // OUT2 gates the IRQ line on PCs
const MCR_LOOPBACK: u8 = 1 << 4;
/// IIR bits 7:6 both set: the FIFOs are on (a 16550A; a 16450 has none).
const IIR_FIFOS_ON: u8 = 0b1100_0000;
/// IIR's low nibble when the receive FIFO holds at least the trigger level
/// (the character timeout, 0b1100, says it holds fewer).
const IIR_RECEIVED_DATA: u8 = 0b0100;

/// Bytes the transmit FIFO takes once LSR says it is empty.
const TX_FIFO: usize = 16;
/// The receive FIFO's trigger level that [`Uart::init`] sets (FCR 0xc7):
/// at least this many bytes wait when IIR says received data.
const RX_TRIGGER: usize = 14;

/// Bytes of received input kept until the kernel reads them.
const INPUT_CAPACITY: usize = 256;

struct InputRing {
    buf: [u8; INPUT_CAPACITY],
    head: usize,
    len: usize,
    /// The ring filled up and the receive interrupt is off: bytes wait in
    /// the UART, whose full FIFO holds the sender back (QEMU stops taking
    /// input), until [`Uart::read`] makes room.
    paused: bool,
}

/// One 16550 UART.
pub struct Uart {
    base: u16,
    input: Mutex<InputRing>,
    /// The FIFOs answered as on: bytes then move in bursts, one string
    /// instruction each, which under a hypervisor is one exit to the
    /// device model instead of one per byte (and one LSR poll per burst).
    fifos: AtomicBool,
}

impl Uart {
    /// # Safety
    /// A 16550-compatible UART must sit at `base`, driven by nothing else.
    pub const unsafe fn new(base: u16) -> Self {
        Self {
            base,
            input: Mutex::new(InputRing {
                buf: [0; INPUT_CAPACITY],
                head: 0,
                len: 0,
                paused: false,
            }),
            fifos: AtomicBool::new(false),
        }
    }

    fn reg(&self, offset: u16) -> Port8 {
        // SAFETY: the constructor's contract: the UART's eight registers are
        // at `base..base + 8` and belong to us.
        unsafe { Port8::new(self.base + offset) }
    }

    /// 115200 baud, 8N1, FIFOs on, interrupts off.
    pub fn init(&self) {
        self.reg(IER).write(0);
        self.reg(LCR).write(0x80); // DLAB: the next two registers are the divisor
        self.reg(THR_RBR).write(1); // 115200 / 1
        self.reg(IER).write(0);
        self.reg(LCR).write(0x03); // 8 bits, no parity, one stop bit
        self.reg(FCR).write(0xc7); // enable and clear FIFOs, 14-byte threshold
        self.reg(MCR).write(MCR_DTR_RTS_OUT2);
        let fifos = self.reg(IIR).read() & IIR_FIFOS_ON == IIR_FIFOS_ON;
        self.fifos.store(fifos, Ordering::Relaxed);
    }

    /// Whether a UART answers at all: the scratch register keeps a value.
    pub fn present(&self) -> bool {
        let scratch = self.reg(7);
        scratch.write(0x5a);
        scratch.read() == 0x5a
    }

    /// Wait for the transmitter to be empty (with the FIFOs on, the whole
    /// transmit FIFO). Bounded: a missing UART reads 0xff (empty) and never
    /// blocks; a wedged one should not hang the kernel forever.
    fn wait_transmitter_empty(&self) {
        for _ in 0..1_000_000 {
            if self.reg(LSR).read() & LSR_THR_EMPTY != 0 {
                break;
            }
            core::hint::spin_loop();
        }
    }

    /// Send one byte, waiting for room in the transmitter.
    pub fn write_byte(&self, byte: u8) {
        self.wait_transmitter_empty();
        self.reg(THR_RBR).write(byte);
    }

    /// Send bytes, turning `\n` into `\r\n` for terminals: a byte at a
    /// time without FIFOs, else up to a transmit FIFO's worth per wait.
    pub fn write(&self, bytes: &[u8]) {
        if !self.fifos.load(Ordering::Relaxed) {
            for &b in bytes {
                if b == b'\n' {
                    self.write_byte(b'\r');
                }
                self.write_byte(b);
            }
            return;
        }
        let mut burst = [0u8; TX_FIFO];
        let mut len = 0;
        for &b in bytes {
            if len + 2 > TX_FIFO {
                self.write_burst(&burst[..len]);
                len = 0;
            }
            if b == b'\n' {
                burst[len] = b'\r';
                len += 1;
            }
            burst[len] = b;
            len += 1;
        }
        self.write_burst(&burst[..len]);
    }

    /// Up to [`TX_FIFO`] bytes into the empty transmit FIFO.
    fn write_burst(&self, burst: &[u8]) {
        if !burst.is_empty() {
            self.wait_transmitter_empty();
            self.reg(THR_RBR).write_all(burst);
        }
    }

    /// Interrupt when a byte is received.
    pub fn enable_receive_interrupt(&self) {
        self.reg(IER).write(0x01);
    }

    /// Drain the receiver into the input ring (interrupt context).
    pub fn on_interrupt(&self) {
        let mut ring = self.input.lock();
        // Whole trigger levels in one string read each, while they fit.
        while self.fifos.load(Ordering::Relaxed)
            && INPUT_CAPACITY - ring.len >= RX_TRIGGER
            && self.reg(IIR).read() & 0x0f == IIR_RECEIVED_DATA
        {
            let mut burst = [0u8; RX_TRIGGER];
            self.reg(THR_RBR).read_into(&mut burst);
            for byte in burst {
                let tail = (ring.head + ring.len) % INPUT_CAPACITY;
                ring.buf[tail] = byte;
                ring.len += 1;
            }
        }
        while self.reg(LSR).read() & LSR_DATA_READY != 0 {
            if ring.len == INPUT_CAPACITY {
                // Leave the byte in the UART rather than drop it.
                self.reg(IER).write(0);
                ring.paused = true;
                break;
            }
            let byte = self.reg(THR_RBR).read();
            let tail = (ring.head + ring.len) % INPUT_CAPACITY;
            ring.buf[tail] = byte;
            ring.len += 1;
        }
    }

    /// Take up to `out.len()` received bytes. Call with interrupts off.
    pub fn read(&self, out: &mut [u8]) -> usize {
        let mut ring = self.input.lock();
        let n = out.len().min(ring.len);
        for slot in out.iter_mut().take(n) {
            *slot = ring.buf[ring.head];
            ring.head = (ring.head + 1) % INPUT_CAPACITY;
            ring.len -= 1;
        }
        if ring.paused && n > 0 {
            // Room again: what waits in the UART interrupts at once.
            ring.paused = false;
            self.enable_receive_interrupt();
        }
        n
    }

    /// Route the transmitter back into the receiver (for the input test),
    /// or restore normal operation.
    pub fn set_loopback(&self, on: bool) {
        let mcr = if on {
            MCR_DTR_RTS_OUT2 | MCR_LOOPBACK
        } else {
            MCR_DTR_RTS_OUT2
        };
        self.reg(MCR).write(mcr);
    }
}
