//! The interrupt flag as the rest of the core sees it: run a section with
//! interrupts off. A primitive of the CPU layer, below memory, time and the
//! console, which all need it; it asks the platform (which knows whether
//! its interrupt flag is the CPU's) and works before one is set.

/// Run `f` with interrupts disabled, restoring the previous state after.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let Some(platform) = crate::try_platform() else {
        return f();
    };
    let was_enabled = platform.interrupts_enabled();
    if was_enabled {
        platform.interrupts_disable();
    }
    let result = f();
    if was_enabled {
        platform.interrupts_enable();
    }
    result
}
