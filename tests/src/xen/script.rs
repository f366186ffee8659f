//! The script dom0 runs: `/virtus-run/script.sh`, written by the runner.
//!
//! It is plain calls into the function library of dom0's init. Guests run
//! concurrently: all are started, then each is waited for, so the run
//! lasts as long as the slowest guest rather than the sum of all of them.

use super::guest::{GUEST_DIR, GuestImage, GuestSpec};

/// When a dom0 command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dom0Point {
    /// Before any guest starts (a helper left running in the background,
    /// such as the grant test's responder).
    Start,
    /// Once every guest has been started, while they run (`xl list`).
    Running,
    /// Once every guest has ended (`xl dmesg`).
    End,
}

/// A shell command for dom0, run through `sh -c` by `dom0_run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dom0Command {
    pub when: Dom0Point,
    pub command: String,
}

/// The script and the order its dom0 commands will run in, which is how
/// their output (only followed by an `rc=`) is matched back to them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub dom0_order: Vec<String>,
}

/// Appends to `text` the `dom0_run` lines of the commands in `dom0` that
/// run at `when`, and to `order` the commands, in the order the recorder
/// will see their markers. For a script of its own (the memory floor's)
/// as much as for [`script`]'s.
pub fn run_dom0(
    dom0: &[Dom0Command],
    when: Dom0Point,
    text: &mut String,
    order: &mut Vec<String>,
) -> Result<(), String> {
    for command in dom0.iter().filter(|c| c.when == when) {
        text.push_str(&format!(
            "dom0_run sh -c {}\n",
            shell_quote(&command.command)?
        ));
        order.push(command.command.clone());
    }
    Ok(())
}

pub fn script(
    guests: &[GuestSpec],
    dom0: &[Dom0Command],
    sequential: bool,
) -> Result<Script, String> {
    let mut text = String::from("# Written by virtus-run; sourced by dom0's init.\n");
    let mut dom0_order = Vec::new();
    let mut run_commands = |text: &mut String, when: Dom0Point| -> Result<(), String> {
        run_dom0(dom0, when, text, &mut dom0_order)
    };
    run_commands(&mut text, Dom0Point::Start)?;
    let (started, bed): (Vec<&GuestSpec>, Vec<&GuestSpec>) =
        guests.iter().partition(|g| g.image != GuestImage::BedLinux);
    if started.iter().any(|g| g.image == GuestImage::BedLinuxArgs) {
        text.push_str(&format!("mkdir -p {GUEST_DIR}\n"));
    }
    for guest in &started {
        if guest.image == GuestImage::BedLinuxArgs {
            let mut words = vec![guest.name.clone()];
            for word in guest.extra.split_whitespace() {
                words.push(shell_quote(word)?);
            }
            text.push_str(&format!(
                "linux_guest_cfg {} >{}\n",
                words.join(" "),
                guest.dom0_config()
            ));
        }
        text.push_str(&format!("guest_start {}\n", guest.name));
        if sequential {
            text.push_str(&wait_line(guest));
        }
    }
    run_commands(&mut text, Dom0Point::Running)?;
    // The bed's Linux guest is started and waited for by the library in
    // one call; the other guests keep running meanwhile.
    if !bed.is_empty() {
        text.push_str("linux_proof_guest\n");
    }
    if !sequential {
        for guest in &started {
            text.push_str(&wait_line(guest));
        }
    }
    run_commands(&mut text, Dom0Point::End)?;
    Ok(Script { text, dom0_order })
}

fn wait_line(guest: &GuestSpec) -> String {
    format!(
        "guest_wait {} {}\n",
        guest.name,
        guest.timeout.as_secs().max(1)
    )
}

/// `word` as one single-quoted shell word.
pub(super) fn shell_quote(word: &str) -> Result<String, String> {
    if word.contains(['\n', '\r', '\0']) {
        return Err(format!(
            "dom0 command must be one line: `{}`",
            word.escape_debug()
        ));
    }
    Ok(format!("'{}'", word.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The script's lines after its header comment.
    fn body(guests: &[GuestSpec], sequential: bool) -> Vec<String> {
        let text = script(guests, &[], sequential).unwrap().text;
        text.lines().skip(1).map(String::from).collect()
    }

    fn dom0(when: Dom0Point, command: &str) -> Dom0Command {
        let command = command.into();
        Dom0Command { when, command }
    }

    fn guest(name: &str, secs: u64) -> GuestSpec {
        let mut spec = GuestSpec::pvh(name, "/k").unwrap();
        spec.timeout = Duration::from_secs(secs);
        spec
    }

    #[test]
    fn starts_all_then_waits_all() {
        let dom0 = [
            dom0(Dom0Point::End, "xl dmesg | tail -n 5"),
            dom0(Dom0Point::Running, "xl list"),
        ];
        let script = script(&[guest("a", 30), guest("b", 90)], &dom0, false).unwrap();
        assert_eq!(
            script.text,
            "# Written by virtus-run; sourced by dom0's init.\n\
             guest_start a\n\
             guest_start b\n\
             dom0_run sh -c 'xl list'\n\
             guest_wait a 30\n\
             guest_wait b 90\n\
             dom0_run sh -c 'xl dmesg | tail -n 5'\n"
        );
        assert_eq!(script.dom0_order, ["xl list", "xl dmesg | tail -n 5"]);
    }

    #[test]
    fn start_commands_run_before_the_first_guest() {
        let dom0 = [
            dom0(Dom0Point::End, "cat log"),
            dom0(Dom0Point::Start, "helper &"),
        ];
        let script = script(&[guest("a", 30)], &dom0, true).unwrap();
        assert_eq!(
            script.text.lines().skip(1).collect::<Vec<_>>(),
            [
                "dom0_run sh -c 'helper &'",
                "guest_start a",
                "guest_wait a 30",
                "dom0_run sh -c 'cat log'"
            ]
        );
        assert_eq!(script.dom0_order, ["helper &", "cat log"]);
    }

    #[test]
    fn sequential_waits_for_each_guest_before_the_next() {
        assert_eq!(
            body(&[guest("a", 30), guest("b", 90)], true),
            [
                "guest_start a",
                "guest_wait a 30",
                "guest_start b",
                "guest_wait b 90"
            ]
        );
    }

    #[test]
    fn the_bed_guest_runs_while_the_others_do() {
        assert_eq!(
            body(&[GuestSpec::linux_proof(), guest("a", 5)], false),
            ["guest_start a", "linux_proof_guest", "guest_wait a 5"]
        );
        assert_eq!(
            body(&[GuestSpec::linux_proof()], false),
            ["linux_proof_guest"]
        );
    }

    #[test]
    fn the_bed_linux_with_arguments_gets_its_config_from_the_library() {
        let mut hanger = GuestSpec::bed_linux("hanger", "rdinit=/bin/sh  it's").unwrap();
        hanger.timeout = Duration::from_secs(15);
        let guests = [guest("a", 5), hanger, GuestSpec::linux_proof()];
        assert_eq!(
            body(&guests, false),
            [
                "mkdir -p /virtus-run/guests",
                "guest_start a",
                "linux_guest_cfg hanger 'rdinit=/bin/sh' 'it'\\''s' \
                 >/virtus-run/guests/hanger.cfg",
                "guest_start hanger",
                "linux_proof_guest",
                "guest_wait a 5",
                "guest_wait hanger 15",
            ]
        );
    }

    #[test]
    fn dom0_commands_are_quoted_as_one_word() {
        let at_end = |command| [dom0(Dom0Point::End, command)];
        let text = script(&[], &at_end("echo 'hi there'; ls $HOME"), false);
        assert!(
            text.unwrap()
                .text
                .ends_with("dom0_run sh -c 'echo '\\''hi there'\\''; ls $HOME'\n")
        );
        assert!(script(&[], &at_end("a\nb"), false).is_err());
    }
}
