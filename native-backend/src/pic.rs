//! The legacy 8259A programmable interrupt controller pair, put out of the way.
//!
//! Interrupts are delivered by the I/O APIC, but the 8259s are still there on
//! PC-compatible machines (MADT PCAT_COMPAT) and come out of the BIOS mapped
//! onto vectors 0x08-0x0F, which are CPU exceptions (#DF, #GP, #PF, ...). A
//! stray or spurious IRQ would then look like a fault. So they are remapped
//! to 0x20-0x2F and every line is masked. Even masked, an 8259 can still
//! raise a spurious IRQ 7 (or 15) if a request goes away during the
//! acknowledge cycle; [`handle_spurious`] deals with those.

use crate::port::Port8;

/// Vector of the master's IRQ 0; its IRQs 0-7 use 0x20-0x27.
pub const MASTER_VECTOR_BASE: u8 = 0x20;
/// Vector of the slave's IRQ 8; its IRQs 8-15 use 0x28-0x2F.
pub const SLAVE_VECTOR_BASE: u8 = 0x28;
/// Where a spurious IRQ 7 of the master arrives.
pub const MASTER_SPURIOUS_VECTOR: u8 = MASTER_VECTOR_BASE + 7;
/// Where a spurious IRQ 15 (IRQ 7 of the slave) arrives.
pub const SLAVE_SPURIOUS_VECTOR: u8 = SLAVE_VECTOR_BASE + 7;

const MASTER_COMMAND: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_COMMAND: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;
/// POST diagnostic port: writing to it is harmless and takes about a
/// microsecond, which old 8259s need between initialization words.
const IO_DELAY_PORT: u16 = 0x80;

/// ICW1: initialization, ICW4 follows (cascade mode, edge triggered).
const ICW1_INIT_WITH_ICW4: u8 = 0x11;
/// ICW3 (master): the slave hangs off IRQ 2.
const ICW3_MASTER_SLAVE_ON_IRQ2: u8 = 1 << 2;
/// ICW3 (slave): its cascade identity is 2.
const ICW3_SLAVE_CASCADE_ID: u8 = 2;
/// ICW4: 8086/88 mode, normal (not automatic) end of interrupt.
const ICW4_8086: u8 = 0x01;
/// OCW3: the next read of the command port returns the In-Service Register.
const OCW3_READ_ISR: u8 = 0x0b;
/// OCW2: non-specific end of interrupt.
const OCW2_EOI: u8 = 0x20;
const ALL_MASKED: u8 = 0xff;

struct Chip {
    command: Port8,
    data: Port8,
}

fn chips() -> (Chip, Chip) {
    // SAFETY: 0x20/0x21 and 0xA0/0xA1 are the command and data ports of the
    // 8259 pair on every PC-compatible machine (and ignored where there is
    // none, as under Xen PVH); this module is the only code that drives them.
    unsafe {
        (
            Chip {
                command: Port8::new(MASTER_COMMAND),
                data: Port8::new(MASTER_DATA),
            },
            Chip {
                command: Port8::new(SLAVE_COMMAND),
                data: Port8::new(SLAVE_DATA),
            },
        )
    }
}

fn io_delay() {
    // SAFETY: port 0x80 is the POST code port; nothing reads back what is
    // written to it.
    unsafe { Port8::new(IO_DELAY_PORT) }.write(0);
}

/// Remap the pair to [`MASTER_VECTOR_BASE`] and [`SLAVE_VECTOR_BASE`] and
/// mask all sixteen lines. Call with interrupts disabled.
pub fn disable() {
    let (master, slave) = chips();
    // Mask everything first, so nothing is delivered on a half-programmed chip.
    master.data.write(ALL_MASKED);
    slave.data.write(ALL_MASKED);
    for (chip, vector_base, icw3) in [
        (&master, MASTER_VECTOR_BASE, ICW3_MASTER_SLAVE_ON_IRQ2),
        (&slave, SLAVE_VECTOR_BASE, ICW3_SLAVE_CASCADE_ID),
    ] {
        chip.command.write(ICW1_INIT_WITH_ICW4);
        io_delay();
        chip.data.write(vector_base); // ICW2
        io_delay();
        chip.data.write(icw3);
        io_delay();
        chip.data.write(ICW4_8086);
        io_delay();
    }
    // Initialization cleared the masks (OCW1): set them again.
    master.data.write(ALL_MASKED);
    slave.data.write(ALL_MASKED);
}

/// Handle an interrupt on [`MASTER_SPURIOUS_VECTOR`] or
/// [`SLAVE_SPURIOUS_VECTOR`]. Returns whether it was spurious (the usual
/// case with every line masked); if it was real, it is acknowledged. A
/// spurious IRQ must not be acknowledged on its own chip, but a spurious
/// IRQ 15 was a real IRQ 2 for the master, which does need its EOI.
/// Any other vector is not the 8259's business: `false`, nothing done.
pub fn handle_spurious(vector: u8) -> bool {
    let (master, slave) = chips();
    let in_service = |chip: &Chip| {
        chip.command.write(OCW3_READ_ISR);
        chip.command.read() & (1 << 7) != 0
    };
    match vector {
        MASTER_SPURIOUS_VECTOR => {
            let real = in_service(&master);
            if real {
                master.command.write(OCW2_EOI);
            }
            !real
        }
        SLAVE_SPURIOUS_VECTOR => {
            let real = in_service(&slave);
            if real {
                slave.command.write(OCW2_EOI);
            }
            master.command.write(OCW2_EOI);
            !real
        }
        _ => false,
    }
}
