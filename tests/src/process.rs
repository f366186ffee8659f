//! Runs a child process under a hard deadline, handing over its output line
//! by line as it arrives.
//!
//! Nothing here knows about QEMU; it is tested with `sh`. The guarantees the
//! runner relies on: the call returns by the deadline (plus a short grace to
//! collect the last lines), a child still alive then is killed, and every
//! child is reaped.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crate::exit::Termination;

/// How often the child is polled for exit while it is quiet. Also bounds
/// how late an exit is noticed when something (a grandchild) keeps its
/// output pipe open.
const POLL: Duration = Duration::from_millis(20);

/// After the child is gone, how long to wait for the output it wrote just
/// before dying to drain out of the pipes.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Longest line handed over in one piece.
const MAX_LINE: u64 = 64 * 1024;

/// Which of the child's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a supervised run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    pub termination: Termination,
    /// From spawn until the exit was noticed (or the kill, on timeout).
    pub elapsed: Duration,
}

enum Event {
    Line(Stream, String),
    Closed,
}

/// Spawns `command` with stdin from /dev/null and both outputs captured,
/// calls `on_line(stream, line, since_spawn)` for each output line, and
/// returns once the child has exited (or been killed at `timeout`) and been
/// reaped. Fails only if the child cannot be spawned.
pub fn run_with_timeout(
    mut command: Command,
    timeout: Duration,
    mut on_line: impl FnMut(Stream, &str, Duration),
) -> io::Result<Finished> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn()?;
    let (sender, events) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        forward_lines(out, Stream::Stdout, sender.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward_lines(err, Stream::Stderr, sender);
    }

    let deadline = start + timeout;
    let mut open_streams = 2;
    let termination = loop {
        if let Some(status) = exited(&mut child)? {
            break status;
        }
        let now = Instant::now();
        if now >= deadline {
            kill_and_reap(&mut child);
            break Termination::TimedOut(timeout);
        }
        // Once both pipes are closed there is nothing to wait on but the
        // exit itself; sleep in small steps rather than block in wait().
        let step = POLL.min(deadline - now);
        if open_streams == 0 {
            thread::sleep(step);
            continue;
        }
        match events.recv_timeout(step) {
            Ok(Event::Line(stream, line)) => on_line(stream, &line, start.elapsed()),
            Ok(Event::Closed) => open_streams -= 1,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open_streams = 0,
        }
    };
    let elapsed = start.elapsed();
    drain(&events, open_streams, &mut on_line, start);
    Ok(Finished {
        termination,
        elapsed,
    })
}

/// Reads `pipe` on its own thread, sending each line (lossily decoded, line
/// terminator removed) and finally `Closed`. The thread is never joined: it
/// ends when the pipe closes, and if a stray grandchild keeps it open the
/// runner must not wait for that.
fn forward_lines(pipe: impl Read + Send + 'static, stream: Stream, sender: Sender<Event>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            // Bounded, so a kernel spewing bytes without a newline cannot
            // grow one line without limit; an overlong line arrives in pieces.
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buffer.last(), Some(b'\n' | b'\r')) {
                        buffer.pop();
                    }
                    let line = String::from_utf8_lossy(&buffer).into_owned();
                    if sender.send(Event::Line(stream, line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sender.send(Event::Closed);
    });
}

/// The child's termination, if it has exited.
fn exited(child: &mut Child) -> io::Result<Option<Termination>> {
    Ok(child.try_wait()?.map(|status| {
        use std::os::unix::process::ExitStatusExt;
        match status.code() {
            Some(code) => Termination::Exited(code),
            None => Termination::Signaled(status.signal().unwrap_or(0)),
        }
    }))
}

fn kill_and_reap(child: &mut Child) {
    // Kill fails only if the child already exited, and then wait() reaps it
    // just the same.
    let _ = child.kill();
    let _ = child.wait();
}

/// Collects output still in flight when the child went away, for at most
/// [`DRAIN_GRACE`].
fn drain(
    events: &Receiver<Event>,
    mut open_streams: usize,
    on_line: &mut impl FnMut(Stream, &str, Duration),
    start: Instant,
) {
    let grace_end = Instant::now() + DRAIN_GRACE;
    while open_streams > 0 {
        let Some(left) = grace_end.checked_duration_since(Instant::now()) else {
            return;
        };
        match events.recv_timeout(left) {
            Ok(Event::Line(stream, line)) => on_line(stream, &line, start.elapsed()),
            Ok(Event::Closed) => open_streams -= 1,
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> (Finished, Vec<(Stream, String)>) {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let mut lines = Vec::new();
        let finished = run_with_timeout(command, timeout, |stream, line, _| {
            lines.push((stream, line.to_string()));
        })
        .expect("sh runs");
        (finished, lines)
    }

    const LONG: Duration = Duration::from_secs(20);

    #[test]
    fn collects_lines_and_exit_status() {
        let (finished, lines) = sh(
            "echo one; printf 'two\\r\\n'; echo err >&2; printf three; exit 3",
            LONG,
        );
        assert_eq!(finished.termination, Termination::Exited(3));
        let stdout: Vec<_> = lines
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(stdout, ["one", "two", "three"]);
        assert!(lines.contains(&(Stream::Stderr, "err".to_string())));
    }

    #[test]
    fn invalid_utf8_does_not_lose_the_line() {
        let (_, lines) = sh("printf 'ok 1 \\377x\\n'", LONG);
        assert_eq!(lines, [(Stream::Stdout, "ok 1 \u{fffd}x".to_string())]);
    }

    #[test]
    fn an_endless_line_arrives_in_pieces() {
        let (_, lines) = sh("head -c 200000 /dev/zero | tr '\\0' x", LONG);
        assert_eq!(lines.len(), 4);
        assert!(
            lines
                .iter()
                .all(|(_, line)| line.len() <= MAX_LINE as usize)
        );
    }

    #[test]
    fn kills_a_child_that_outlives_its_timeout() {
        let started = Instant::now();
        let (finished, lines) = sh("echo booting; exec sleep 30", Duration::from_millis(300));
        assert_eq!(
            finished.termination,
            Termination::TimedOut(Duration::from_millis(300))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(lines, [(Stream::Stdout, "booting".to_string())]);
    }

    #[test]
    fn kills_a_silent_child_that_closed_its_output() {
        let started = Instant::now();
        let (finished, _) = sh("exec >&- 2>&-; exec sleep 30", Duration::from_millis(300));
        assert!(matches!(finished.termination, Termination::TimedOut(_)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn does_not_wait_for_a_grandchild_holding_the_pipe() {
        let started = Instant::now();
        let (finished, _) = sh("sleep 30 & echo bye; exit 5", LONG);
        assert_eq!(finished.termination, Termination::Exited(5));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn reports_a_signal_death() {
        let (finished, _) = sh("kill -9 $$", LONG);
        assert_eq!(finished.termination, Termination::Signaled(9));
    }

    #[test]
    fn missing_program_is_an_error() {
        let result = run_with_timeout(Command::new("/nonexistent/virtus-qemu"), LONG, |_, _, _| {});
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
