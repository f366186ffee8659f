//! The shell's `xs` command: xenstore by hand, as dom0's `xenstore-*`
//! tools do it. Relative paths are under the domain's home, as xenstored
//! resolves them.
//!
//! Output is part of the runner's scenarios: `xs watch` prints
//! `xs: watching <absolute path> (press any key to stop)`, then
//! `xs: watch fired: <path>` per event (xenstored fires once at
//! registration), then `xs: stopped watching`; a failure prints
//! `xs: <op> <path>: <error>`.

use crate::xenstore::{XsError, with_client};
use virtus_kernel::kprintln;
use virtus_kernel::platform::ShellCommand;

pub const COMMANDS: [ShellCommand; 1] = [ShellCommand {
    name: "xs",
    help: "read|write|ls|rm|watch PATH [VALUE]: xenstore",
    run,
}];

const USAGE: &str = "xs: usage: xs read PATH | write PATH VALUE | ls PATH | rm PATH | watch PATH";
/// The token of the shell's watch.
const TOKEN: &str = "virtus-shell";

fn run(args: &str) {
    let mut words = args.splitn(3, ' ').map(str::trim);
    let (Some(op), Some(path)) = (words.next(), words.next()) else {
        return kprintln!("{USAGE}");
    };
    let value = words.next();
    let failed = |e: XsError| kprintln!("xs: {op} {path}: {e}");
    match (op, value) {
        ("read", None) => match with_client(|c| c.read(path)) {
            Ok(v) => kprintln!("{}", alloc::string::String::from_utf8_lossy(&v)),
            Err(e) => failed(e),
        },
        ("write", Some(value)) => {
            if let Err(e) = with_client(|c| c.write(path, value.as_bytes())) {
                failed(e);
            }
        }
        ("ls", None) => match with_client(|c| c.directory(path)) {
            Ok(names) => names.iter().for_each(|n| kprintln!("{n}")),
            Err(e) => failed(e),
        },
        ("rm", None) => {
            if let Err(e) = with_client(|c| c.rm(path)) {
                failed(e);
            }
        }
        ("watch", None) => {
            if let Err(e) = watch(path) {
                failed(e);
            }
        }
        _ => kprintln!("{USAGE}"),
    }
}

/// Watch `path` until a key is pressed, printing each event. A request
/// from the host meanwhile is still served (an `xl shutdown` must not wait
/// for someone to stop the watch).
fn watch(path: &str) -> Result<(), XsError> {
    let absolute = with_client(|c| c.absolute(path))?;
    with_client(|c| c.watch(&absolute, TOKEN))?;
    kprintln!("xs: watching {absolute} (press any key to stop)");
    let platform = virtus_kernel::platform();
    let result = loop {
        let mut key = [0u8; 1];
        let mut pressed = false;
        virtus_kernel::time::wait_for(|| {
            pressed = platform.console_read(&mut key) == 1;
            pressed || virtus_kernel::power::pending()
        });
        if pressed {
            break Ok(());
        }
        match with_client(|c| c.take_events(TOKEN)) {
            Ok(events) => events
                .iter()
                .for_each(|e| kprintln!("xs: watch fired: {}", e.path)),
            Err(e) => break Err(e),
        }
        virtus_kernel::power::serve();
    };
    let unwatched = with_client(|c| c.unwatch(&absolute, TOKEN));
    kprintln!("xs: stopped watching");
    result.and(unwatched)
}
