//! The console soak's native column: the runner is the other end, on
//! QEMU's serial port (`-serial stdio`, so pipes: no line discipline at
//! all). It reads the guest's lines up to its ready line, sends `G`, counts
//! exactly the burst's bytes into a CRC-32 as they come, writes the stream
//! to the guest from a thread of its own (QEMU takes it as fast as the
//! UART's receiver drains), and reads the guest's last lines until QEMU
//! exits. One deadline for all of it; past it QEMU is killed.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::judge::{Leg, OtherEnd, Sum};
use super::stream::{self, Crc32};
use crate::qemu::{self, MachineConfig};

/// What a native soak produced.
pub struct NativeRun {
    pub lines: Vec<String>,
    pub other: OtherEnd,
    /// QEMU's exit status (33: the kernel's success); `None` if killed.
    pub status: Option<i32>,
}

/// Where the runner is in the guest's output.
enum Phase {
    /// Lines, until the ready line.
    Text,
    /// Raw bytes of the burst, until `bytes`.
    Burst { crc: Crc32, start: Instant },
    /// Lines again, until QEMU exits.
    Verdict,
}

/// Boot `image` with `soak.console=BYTES,SEED` and be the other end.
pub fn run(
    config: &MachineConfig,
    image: &Path,
    (bytes, seed): (u64, u64),
    timeout: Duration,
    mut show: impl FnMut(&str),
) -> Result<NativeRun, String> {
    let append = format!("soak.console={bytes},{seed}");
    let args = qemu::arguments(config, image, &append);
    show(&format!("$ {}", qemu::shell_command(&args)));
    let mut child = Command::new(qemu::QEMU)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    let result = drive(&mut child, bytes, seed, timeout, &mut show);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().ok().and_then(|s| s.code());
    result.map(|(lines, other)| NativeRun {
        lines,
        other,
        status,
    })
}

fn drive(
    child: &mut Child,
    bytes: u64,
    seed: u64,
    timeout: Duration,
    show: &mut impl FnMut(&str),
) -> Result<(Vec<String>, OtherEnd), String> {
    let deadline = Instant::now() + timeout;
    let mut stdin = Some(child.stdin.take().ok_or("no pipe to QEMU's stdin")?);
    let mut stdout = child.stdout.take().ok_or("no pipe from QEMU's stdout")?;
    let (chunks, from_qemu) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if chunks.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut other = OtherEnd {
        who: "the runner",
        ..OtherEnd::default()
    };
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut phase = Phase::Text;
    let mut writer = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = match from_qemu.recv_timeout(left) {
            Ok(chunk) => chunk,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let at = match &phase {
                    Phase::Text => "waiting for the ready line".to_string(),
                    Phase::Burst { crc, .. } => {
                        format!("{} of {bytes} bytes from the guest", crc.len)
                    }
                    Phase::Verdict => "waiting for the guest's verdict".to_string(),
                };
                return Err(format!("timed out after {} s, {at}", timeout.as_secs()));
            }
        };
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            match &mut phase {
                Phase::Burst { crc, start } => {
                    let take = rest.len().min((bytes - crc.len) as usize);
                    crc.update(&rest[..take]);
                    rest = &rest[take..];
                    if crc.len == bytes {
                        other.from_guest = Some(Leg {
                            sum: Sum {
                                bytes,
                                crc: crc.value(),
                            },
                            seconds: start.elapsed().as_secs_f64(),
                        });
                        writer = stdin.take().map(|pipe| write_stream(pipe, seed, bytes));
                        phase = Phase::Verdict;
                    }
                }
                Phase::Text | Phase::Verdict => {
                    let end = rest.iter().position(|&b| b == b'\n');
                    let (piece, next) = match end {
                        Some(at) => (&rest[..at], &rest[at + 1..]),
                        None => (rest, &[][..]),
                    };
                    line.extend_from_slice(piece);
                    rest = next;
                    if end.is_none() {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches('\r')
                        .to_string();
                    line.clear();
                    show(&text);
                    let ready = text.contains("soak-console: ready ");
                    lines.push(text);
                    if ready && matches!(phase, Phase::Text) {
                        let pipe = stdin.as_mut().ok_or("QEMU's stdin is gone")?;
                        pipe.write_all(b"G")
                            .and_then(|()| pipe.flush())
                            .map_err(|e| format!("cannot write to QEMU: {e}"))?;
                        phase = Phase::Burst {
                            crc: Crc32::default(),
                            start: Instant::now(),
                        };
                    }
                }
            }
        }
    }
    if !line.is_empty() {
        lines.push(String::from_utf8_lossy(&line).to_string());
    }
    if let Some(writer) = writer {
        match writer.join() {
            Ok(Ok(leg)) => other.to_guest = Some(leg),
            Ok(Err(e)) => other.failed.push(e),
            Err(_) => other.failed.push("the writer thread panicked".into()),
        }
    }
    if let Phase::Burst { crc, .. } = phase {
        other.failed.push(format!(
            "QEMU exited after {} of {bytes} bytes from the guest",
            crc.len
        ));
    }
    Ok((lines, other))
}

/// Write the stream the guest expects, from a thread (QEMU reads it as
/// the guest drains the UART, while this one keeps reading its output).
/// The pipe closes when it is done, an end of file QEMU ignores.
fn write_stream(
    mut pipe: std::process::ChildStdin,
    seed: u64,
    bytes: u64,
) -> thread::JoinHandle<Result<Leg, String>> {
    thread::spawn(move || {
        let data = stream::to_guest(seed, bytes);
        let start = Instant::now();
        pipe.write_all(&data)
            .and_then(|()| pipe.flush())
            .map_err(|e| format!("writing to the guest: {e}"))?;
        Ok(Leg {
            sum: Sum {
                bytes,
                crc: Crc32::of(&data).value(),
            },
            seconds: start.elapsed().as_secs_f64(),
        })
    })
}
