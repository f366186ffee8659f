//! The power button natively: Virtus boots to its shell in QEMU with a QMP
//! socket; once the shell is ready the runner sends `system_powerdown`
//! (the ACPI power button), and the kernel must say why it stops and power
//! off through `isa-debug-exit` (QEMU's status 33), quickly.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::checks::Assessment;
use crate::exit::{KernelExit, Termination};
use crate::process::{self, Stream};
use crate::qemu::{self, LaunchError, MachineConfig};
use crate::xen::lifecycle::{KERNEL_SHELL, POWER_OFF, SHELL_READY};

/// Boot to the shell takes about a second natively under TCG; the rest is
/// the guest's time to answer, and slack for a loaded host.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How long one QMP exchange may take.
const QMP_TIMEOUT: Duration = Duration::from_secs(5);

/// What one boot produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerRun {
    pub console: Vec<String>,
    /// When `system_powerdown` was sent, from QEMU's start.
    pub sent_at: Option<Duration>,
    /// What QMP said, or why talking to it failed.
    pub qmp: Result<(), String>,
    pub termination: Termination,
    /// From QEMU's start until it was gone.
    pub elapsed: Duration,
}

/// QEMU's arguments: the native boot, with QMP on a socket.
pub fn arguments(config: &MachineConfig, image: &Path, socket: &Path) -> Vec<OsString> {
    let append = format!("loglevel=info {KERNEL_SHELL}");
    let mut args = qemu::arguments(config, image, &append);
    let qmp = format!("unix:{},server=on,wait=off", socket.display());
    args.extend([OsString::from("-qmp"), OsString::from(qmp)]);
    args
}

/// Boots `image` on `config` and presses the power button once the shell
/// is ready. `show` gets each console line as it arrives.
pub fn run(
    config: &MachineConfig,
    image: &Path,
    mut show: impl FnMut(&str),
) -> Result<PowerRun, LaunchError> {
    let socket = socket_path();
    let mut command = Command::new(qemu::QEMU);
    command.args(arguments(config, image, &socket));
    let mut console = Vec::new();
    let mut sent_at = None;
    let mut qmp: Result<(), String> =
        Err("the shell never became ready; nothing was sent".to_string());
    // QEMU's spawn as this clock sees it, from the first line's age: QEMU's
    // exit is timed from its spawn, so the press must be too. (The line's
    // delivery delay makes the spawn look later and the power-off longer,
    // never shorter.)
    let mut spawned: Option<Instant> = None;
    let finished = process::run_with_timeout(command, TIMEOUT, |stream, line, at| {
        let spawn = *spawned.get_or_insert_with(|| Instant::now() - at);
        if stream == Stream::Stdout {
            show(line);
            console.push(line.to_string());
            if sent_at.is_none() && qmp.is_err() && line.contains(SHELL_READY) {
                let sent = powerdown(&socket);
                sent_at = sent.as_ref().ok().map(|at| at.duration_since(spawn));
                qmp = sent.map(|_| ());
            }
        }
    });
    let _ = std::fs::remove_file(&socket);
    let finished = finished?;
    Ok(PowerRun {
        console,
        sent_at,
        qmp,
        termination: finished.termination,
        elapsed: finished.elapsed,
    })
}

fn socket_path() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("virtus-qmp-{}-{n}.sock", std::process::id()))
}

/// `system_powerdown` over QMP on `socket`, each read and write under
/// [`QMP_TIMEOUT`]; when it was sent.
fn powerdown(socket: &Path) -> Result<Instant, String> {
    let stream = UnixStream::connect(socket).map_err(|e| format!("QMP connect: {e}"))?;
    stream
        .set_read_timeout(Some(QMP_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(QMP_TIMEOUT)))
        .map_err(|e| format!("QMP socket: {e}"))?;
    let writer = stream.try_clone().map_err(|e| e.to_string())?;
    qmp_powerdown(BufReader::new(stream), writer)
}

/// The QMP exchange: the greeting, `qmp_capabilities`, `system_powerdown`;
/// each command answered with `return` (events such as `POWERDOWN` may
/// come in between), or refused with `error`. Returns when the last was
/// sent: the guest may be gone before its answer is read.
fn qmp_powerdown(mut reader: impl BufRead, mut writer: impl Write) -> Result<Instant, String> {
    let greeting = qmp_message(&mut reader, "the greeting")?;
    if greeting.get("QMP").is_none() {
        return Err(format!("not a QMP greeting: {greeting}"));
    }
    let mut sent = Instant::now();
    for command in ["qmp_capabilities", "system_powerdown"] {
        let request = serde_json::json!({ "execute": command });
        sent = Instant::now();
        writeln!(writer, "{request}").map_err(|e| format!("QMP {command}: {e}"))?;
        loop {
            let reply = qmp_message(&mut reader, command)?;
            if reply.get("return").is_some() {
                break;
            }
            if let Some(error) = reply.get("error") {
                return Err(format!("QMP refused {command}: {error}"));
            }
        }
    }
    Ok(sent)
}

/// One QMP message (a line of JSON); `what` names it in errors.
fn qmp_message(reader: &mut impl BufRead, what: &str) -> Result<serde_json::Value, String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Err(format!("QMP closed before {what}")),
        Ok(_) => serde_json::from_str(&line).map_err(|e| format!("QMP {what}: {e}: {line}")),
        Err(e) => Err(format!("QMP {what}: {e}")),
    }
}

/// The verdict: the power button was pressed, the kernel said why it stops,
/// and QEMU ended with the kernel's success status. Returns the time from
/// the press to QEMU's exit, if it exited.
pub fn judge(run: &PowerRun) -> (Assessment, Option<Duration>) {
    let mut problems = Vec::new();
    if let Err(error) = &run.qmp {
        problems.push(format!("system_powerdown not sent: {error}"));
    }
    let said = run.console.iter().any(|line| line.contains(POWER_OFF));
    if run.qmp.is_ok() && !said {
        problems.push(format!("waited for the line `{POWER_OFF}`; it never came"));
    }
    let success = KernelExit::Success.qemu_status();
    let observed = match run.termination {
        Termination::Exited(status) if status == success => "powered off (status 33)".into(),
        Termination::Exited(status) => {
            problems.push(format!("QEMU exited with {status}, expected {success}"));
            format!("QEMU exited with {status}")
        }
        Termination::Signaled(signal) => {
            problems.push(format!("QEMU killed by signal {signal}"));
            format!("killed by signal {signal}")
        }
        Termination::TimedOut(after) => {
            problems.push(format!(
                "still running {} after QEMU started",
                crate::table::budget(after)
            ));
            "still running".into()
        }
    };
    let took = match run.termination {
        Termination::Exited(_) => run.sent_at.map(|at| run.elapsed.saturating_sub(at)),
        _ => None,
    };
    (Assessment { observed, problems }, took)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(console: &[&str], termination: Termination) -> PowerRun {
        PowerRun {
            console: console.iter().map(|l| l.to_string()).collect(),
            sent_at: Some(Duration::from_millis(1200)),
            qmp: Ok(()),
            termination,
            elapsed: Duration::from_millis(1500),
        }
    }

    #[test]
    fn a_clean_power_off_passes_with_its_time() {
        let (a, took) = judge(&run(&[SHELL_READY, POWER_OFF], Termination::Exited(33)));
        assert!(a.behaved(), "{:?}", a.problems);
        assert_eq!(a.observed, "powered off (status 33)");
        assert_eq!(took, Some(Duration::from_millis(300)));
    }

    #[test]
    fn an_ignored_button_names_the_line_it_waited_for() {
        let hung = Termination::TimedOut(TIMEOUT);
        let (a, took) = judge(&run(&[SHELL_READY], hung));
        assert_eq!(
            a.problems,
            [
                format!("waited for the line `{POWER_OFF}`; it never came"),
                "still running 20s after QEMU started".to_string()
            ]
        );
        assert_eq!(took, None);
    }

    #[test]
    fn a_power_off_without_its_line_or_with_another_status_fails() {
        let (a, _) = judge(&run(&[SHELL_READY], Termination::Exited(33)));
        assert_eq!(a.problems.len(), 1);
        let (a, _) = judge(&run(&[POWER_OFF], Termination::Exited(37)));
        assert_eq!(a.problems, ["QEMU exited with 37, expected 33"]);
        let mut unsent = run(&[], Termination::Exited(33));
        unsent.qmp = Err("QMP connect: refused".into());
        let (a, _) = judge(&unsent);
        assert_eq!(
            a.problems,
            ["system_powerdown not sent: QMP connect: refused"]
        );
    }

    /// QEMU's side of the exchange, as QEMU 7 words it.
    const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}"#;

    #[test]
    fn qmp_negotiates_then_powers_down_across_events() {
        let answers = format!(
            "{GREETING}\n{{\"return\": {{}}}}\n\
             {{\"timestamp\": {{\"seconds\": 1}}, \"event\": \"POWERDOWN\"}}\n{{\"return\": {{}}}}\n"
        );
        let mut sent = Vec::new();
        qmp_powerdown(answers.as_bytes(), &mut sent).unwrap();
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"system_powerdown\"}\n"
        );
    }

    #[test]
    fn qmp_refusals_and_silence_are_errors() {
        let refused = format!(
            "{GREETING}\n{{\"return\": {{}}}}\n{{\"error\": {{\"class\": \"GenericError\"}}}}\n"
        );
        let error = qmp_powerdown(refused.as_bytes(), Vec::new()).unwrap_err();
        assert!(
            error.starts_with("QMP refused system_powerdown:"),
            "{error}"
        );
        let cut = format!("{GREETING}\n");
        let error = qmp_powerdown(cut.as_bytes(), Vec::new()).unwrap_err();
        assert_eq!(error, "QMP closed before qmp_capabilities");
        let error = qmp_powerdown(&b"{}\n"[..], Vec::new()).unwrap_err();
        assert_eq!(error, "not a QMP greeting: {}");
    }

    #[test]
    fn qmp_listens_on_its_socket() {
        let config = MachineConfig::new("q35", "max", "128M");
        let args = arguments(&config, Path::new("/k"), Path::new("/tmp/q.sock"));
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let pair = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(pair("-qmp"), "unix:/tmp/q.sock,server=on,wait=off");
        assert_eq!(pair("-device"), "isa-debug-exit,iobase=0xf4,iosize=4");
        assert_eq!(pair("-append"), "loglevel=info init=none smp.cpus=1");
    }
}
