//! The 16550 UART at COM1: console output by polling, input by interrupt.

use crate::port::Port8;
use spin::Mutex;

/// I/O base of COM1 on PC-compatible machines.
pub const COM1: u16 = 0x3f8;
/// ISA IRQ of COM1.
pub const COM1_IRQ: u8 = 4;

const THR_RBR: u16 = 0; // transmit holding / receive buffer (DLAB=0), divisor low (DLAB=1)
const IER: u16 = 1; // interrupt enable (DLAB=0), divisor high (DLAB=1)
const FCR: u16 = 2; // FIFO control (write)
const LCR: u16 = 3; // line control
const MCR: u16 = 4; // modem control
const LSR: u16 = 5; // line status

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const MCR_DTR_RTS_OUT2: u8 = 0b1011; // OUT2 gates the IRQ line on PCs
const MCR_LOOPBACK: u8 = 1 << 4;

/// Bytes of received input kept until the kernel reads them.
const INPUT_CAPACITY: usize = 256;

struct InputRing {
    buf: [u8; INPUT_CAPACITY],
    head: usize,
    len: usize,
    dropped: u64,
}

/// One 16550 UART.
pub struct Uart {
    base: u16,
    input: Mutex<InputRing>,
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
                dropped: 0,
            }),
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
    }

    /// Whether a UART answers at all: the scratch register keeps a value.
    pub fn present(&self) -> bool {
        let scratch = self.reg(7);
        scratch.write(0x5a);
        scratch.read() == 0x5a
    }

    /// Send one byte, waiting for room in the transmitter.
    pub fn write_byte(&self, byte: u8) {
        // Bounded wait: a missing UART reads 0xff (empty) and never blocks;
        // a wedged one should not hang the kernel forever.
        for _ in 0..1_000_000 {
            if self.reg(LSR).read() & LSR_THR_EMPTY != 0 {
                break;
            }
            core::hint::spin_loop();
        }
        self.reg(THR_RBR).write(byte);
    }

    /// Send bytes, turning `\n` into `\r\n` for terminals.
    pub fn write(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
    }

    /// Interrupt when a byte is received.
    pub fn enable_receive_interrupt(&self) {
        self.reg(IER).write(0x01);
    }

    /// Drain the receiver into the input ring (interrupt context).
    pub fn on_interrupt(&self) {
        let mut ring = self.input.lock();
        while self.reg(LSR).read() & LSR_DATA_READY != 0 {
            let byte = self.reg(THR_RBR).read();
            if ring.len == INPUT_CAPACITY {
                ring.dropped += 1;
                continue;
            }
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
        n
    }

    /// Bytes dropped because the input ring was full.
    pub fn dropped(&self) -> u64 {
        self.input.lock().dropped
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
