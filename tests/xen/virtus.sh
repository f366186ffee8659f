# /lib/virtus.sh: what a dom0 run script may call (busybox sh). The runner parses
# the lines these functions print; the protocol is in README.md.
#
#   guest_start NAME          create /virtus-run/guests/NAME.cfg paused, attach its
#                             console (an HVM guest's emulated serial port), unpause;
#                             with /virtus-run/guests/NAME.input, type into its
#                             console once it prints a given text (virtus_typist)
#   guest_wait NAME SECONDS   wait for the guest to end; report how it ended, and
#                             dom0's clock at each step of its life (`stamps`)
#   guest_floor PREFIX LO HI SECONDS CONFIRM
#                             bisect over whole MiB for the least memory a guest
#                             made from the template PREFIX.cfg powers off with
#   dom0_run CMD...           run a command in dom0, relaying its output
#   linux_proof_guest         boot the bed's Linux as a PVH domU and wait for it
#   linux_guest_cfg NAME EXTRA...  print an xl config for that Linux guest
#   guest_console NAME        interactive: the guest's console (an HVM guest's
#                             serial port) on dom0's console, then report how the
#                             guest ended
#
# Time is always wall-clock time from /proc/uptime: a spinning guest starves dom0,
# so counting loop iterations would stretch every timeout.

VIRTUS_RUN=/virtus-run
VIRTUS_CR=$(printf '\r')

virtus_mark() {
    virtus_progress
    echo "@@virtus $*"
}

# Note that the script or a relay just spoke (dom0's uptime, centiseconds), for
# the stall sentinel in /init. A redirected function call: no process forked.
virtus_progress() {
    virtus_centis >/tmp/virtus.progress
}

# What every process in dom0 is doing, as `stall-info` markers: the sentinel's
# report when the script stalled. A process in D state also shows its kernel
# stack, where the kernel has one to show.
virtus_stall_report() {
    local _p _state _wchan _args
    virtus_mark stall-info -- "load $(cat /proc/loadavg)"
    virtus_mark stall-info -- "$(grep -E '^(MemFree|MemAvailable):' /proc/meminfo | tr -s ' \n' ' ')"
    for _p in /proc/[0-9]*; do
        _state=$(sed -n 's/^State:[[:space:]]*//p' "$_p/status" 2>/dev/null)
        _wchan=$(cat "$_p/wchan" 2>/dev/null)
        _args=$(tr '\0' ' ' <"$_p/cmdline" 2>/dev/null)
        # Kernel threads (no command line) only when they are stuck.
        [ -n "$_args" ] || [ "${_state%% *}" = D ] || continue
        virtus_mark stall-info -- "pid ${_p#/proc/} ${_state%% *} wchan=${_wchan:-?} ${_args:-[kernel]}"
        [ "${_state%% *}" != D ] || virtus_relay "@@virtus stall-info --   " <"$_p/stack"
    done
    xl list 2>&1 | virtus_relay "@@virtus stall-info -- xl list:"
}

virtus_uptime() {
    read -r up _ </proc/uptime
    echo "$up"
}

# Uptime in hundredths of a second, for deadlines.
virtus_centis() {
    read -r up _ </proc/uptime
    echo $((${up%.*} * 100 + 1${up#*.} - 100))
}

# True while PID has not exited. `kill -0` is also true for a zombie.
virtus_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# Wait up to CENTISECONDS for PID to exit.
virtus_wait_exit() {
    local deadline=$(($(virtus_centis) + $2))
    while virtus_alive "$1"; do
        [ "$(virtus_centis)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# Stop PID: TERM, a moment's grace, then KILL; reap it if it is our child.
virtus_stop() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null
    virtus_wait_exit "$1" 100 || kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# Prefix each line of stdin; strip the \r of console line ends. Counts into FILE;
# with COPY, also appends each line, unprefixed, to it as it arrives.
virtus_relay() {
    local line count=0
    while IFS= read -r line || [ -n "$line" ]; do
        virtus_progress
        echo "$1 ${line%"$VIRTUS_CR"}"
        [ -z "$3" ] || echo "${line%"$VIRTUS_CR"}" >>"$3"
        count=$((count + 1))
    done
    [ -z "$2" ] || echo "$count" >"$2"
}

# Pass stdin through, and note dom0's clock when its first byte arrives: dd
# reads exactly one byte (blocking until it comes), then cat takes the rest.
# Only ever a pipeline stage: its exec replaces that stage's subshell.
virtus_first_byte() {
    dd bs=1 count=1 of="/tmp/$1.first" 2>/dev/null
    [ -s "/tmp/$1.first" ] && virtus_uptime >"/tmp/$1.first-byte"
    cat "/tmp/$1.first"
    exec cat
}

# Type into guest NAME's console once its console log shows a text: the first
# line of /virtus-run/guests/NAME.input is that text, the rest what to type
# (a printf format), written to the guest's console pty as density does.
virtus_typist() {
    local _name=$1 _domid=$2 _file=$VIRTUS_RUN/guests/$1.input _want _tty _deadline
    _want=$(head -n 1 "$_file")
    _deadline=$(($(virtus_centis) + 30000))
    until grep -qF -- "$_want" "/var/log/xen/console/guest-$_name.log" 2>/dev/null; do
        [ "$(virtus_centis)" -lt "$_deadline" ] || return 1
        sleep 0.1
    done
    _tty=$(xenstore-read "/local/domain/$_domid/console/tty") || return 1
    # shellcheck disable=SC2059 # the file holds a printf format
    printf "$(tail -n +2 "$_file")" >"$_tty"
}

# dom0's clock (uptime, s) at each step of guest NAME's life, as one marker:
# xl_create (xl create started), built (the paused domain exists), unpaused,
# first_byte (its first console byte reached dom0), gone (xl saw it end).
virtus_stamps() {
    local _s _f
    _s=$(cat "/tmp/$1.stamps" 2>/dev/null)
    _f=$(cat "/tmp/$1.first-byte" 2>/dev/null)
    # shellcheck disable=SC2086 # the stamps are separate words
    virtus_mark guest "$1" stamps $_s ${_f:+first_byte=$_f}
}

virtus_guest_failed() {
    virtus_mark guest "$1" failed "$2"
    [ -f "/tmp/$1.xl" ] && virtus_relay "@@guest-xl $1|" <"/tmp/$1.xl"
    return 1
}

# True if the xl config FILE makes an HVM guest (`type = "hvm"`).
virtus_is_hvm() {
    grep -q '^[[:space:]]*type[[:space:]]*=[[:space:]]*["'"'"']hvm["'"'"']' "$1"
}

guest_start() {
    local _name=$1 _cfg _xl _deadline _domid _console _out _type=
    _cfg=$VIRTUS_RUN/guests/$_name.cfg
    [ -r "$_cfg" ] || { virtus_guest_failed "$_name" "no config $_cfg"; return 1; }
    rm -f "/tmp/$_name".*
    # An HVM guest's console is the device model's emulated UART (a pty in
    # dom0); QEMU drops its output while no client is attached.
    if virtus_is_hvm "$_cfg"; then
        _type="-t serial"
        : >"/tmp/$_name.hvm"
    fi

    # -F keeps xl watching the domain, so it reports the shutdown reason; -p lets the
    # console attach before the guest prints anything.
    echo "xl_create=$(virtus_uptime)" >"/tmp/$_name.stamps"
    xl create -F -p "$_cfg" >"/tmp/$_name.xl" 2>&1 &
    _xl=$!
    echo "$_xl" >"/tmp/$_name.xl-pid"
    _deadline=$(($(virtus_centis) + 6000))
    until grep -q "^Waiting for domain" "/tmp/$_name.xl"; do
        if ! virtus_alive "$_xl"; then
            wait "$_xl"
            virtus_guest_failed "$_name" "xl create exited with $?"
            return 1
        fi
        if [ "$(virtus_centis)" -ge "$_deadline" ]; then
            virtus_stop "$_xl"
            xl destroy "$_name" >/dev/null 2>&1
            virtus_guest_failed "$_name" "xl create did not finish in 60 s"
            return 1
        fi
        sleep 0.05
    done
    echo "built=$(virtus_uptime)" >>"/tmp/$_name.stamps"
    _domid=$(xl domid "$_name" 2>/dev/null)
    [ -n "$_domid" ] || { virtus_guest_failed "$_name" "xl domid found no domain"; return 1; }

    # xenconsole quits at end of file on stdin: a sleeping writer keeps it open.
    mkfifo "/tmp/$_name.console-in" "/tmp/$_name.console-out"
    # The relay also copies the console to /tmp/NAME.console as it goes, for a
    # script that waits for a line (an HVM guest's serial console is not in
    # xenconsoled's log). The first-byte stage only where asked (a file
    # NAME.first-byte next to the config): it costs a process per guest, and
    # dom0's memory is tight with 32 guests.
    if [ -e "$VIRTUS_RUN/guests/$_name.first-byte" ]; then
        virtus_first_byte "$_name" <"/tmp/$_name.console-out" |
            virtus_relay "@@guest $_name|" "/tmp/$_name.console-lines" "/tmp/$_name.console" &
    else
        virtus_relay "@@guest $_name|" "/tmp/$_name.console-lines" "/tmp/$_name.console" \
            <"/tmp/$_name.console-out" &
    fi
    echo $! >"/tmp/$_name.relay-pid"
    # xenconsole may die of SIGSEGV when its domain goes away; the subshell reaps it,
    # so the shell's "Segmentation fault" notice lands in a file, not on the console.
    (
        xl console $_type "$_name" <"/tmp/$_name.console-in" >"/tmp/$_name.console-out" 2>&1 &
        echo $! >"/tmp/$_name.console-pid"
        wait $!
        echo "$?" >"/tmp/$_name.console-status"
    ) 2>"/tmp/$_name.console-err" &
    sleep 2147483647 >"/tmp/$_name.console-in" &
    echo $! >"/tmp/$_name.hold-pid"
    until _console=$(cat "/tmp/$_name.console-pid" 2>/dev/null) && [ -n "$_console" ]; do
        sleep 0.05
    done
    # Attached once xenconsole holds the guest's pty.
    _deadline=$(($(virtus_centis) + 1000))
    until ls -l "/proc/$_console/fd" 2>/dev/null | grep -q /dev/pts/; do
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.1
    done

    if ! _out=$(xl unpause "$_name" 2>&1); then
        echo "$_out" >>"/tmp/$_name.xl"
        virtus_guest_failed "$_name" "xl unpause failed"
        return 1
    fi
    echo "unpaused=$(virtus_uptime)" >>"/tmp/$_name.stamps"
    virtus_mark guest "$_name" created "domid=$_domid" "uptime=$(virtus_uptime)"
    if [ -r "$VIRTUS_RUN/guests/$_name.input" ]; then
        virtus_typist "$_name" "$_domid" &
        echo $! >"/tmp/$_name.typist-pid"
    fi
}

# Name of xl's shutdown reason code (xen/include/public/sched.h SHUTDOWN_*).
virtus_reason() {
    case $1 in
    0) echo poweroff ;; 1) echo reboot ;; 2) echo suspend ;; 3) echo crash ;;
    4) echo watchdog ;; 5) echo soft_reset ;; *) echo unknown ;;
    esac
}

# Stop the console chain and relay any tail it missed from xenconsoled's log.
virtus_console_stop() {
    local _name=$1 _console _relay _seen _log
    _console=$(cat "/tmp/$_name.console-pid" 2>/dev/null)
    [ -n "$_console" ] || return 0
    virtus_wait_exit "$_console" 50  # let the last output drain
    virtus_stop "$(cat "/tmp/$_name.hold-pid")"  # EOF on stdin ends xenconsole...
    virtus_wait_exit "$_console" 100 || virtus_stop "$_console"  # ...unless it hangs
    wait "$_console" 2>/dev/null
    _relay=$(cat "/tmp/$_name.relay-pid")
    # The relay writes to dom0's console, which is a 115200-baud UART: a
    # guest that printed a burst can leave it seconds behind. It only writes
    # its line count when it finishes, and without that count the tail below
    # would replay the whole log, so give it time rather than kill it.
    virtus_wait_exit "$_relay" 3000 || virtus_stop "$_relay"
    wait "$_relay" 2>/dev/null
    _seen=$(cat "/tmp/$_name.console-lines" 2>/dev/null)
    _log=/var/log/xen/console/guest-$_name.log
    if [ -s "$_log" ]; then
        tail -n +$((${_seen:-0} + 1)) "$_log" | virtus_relay "@@guest $_name|"
    fi
    # A domain migrated in (`xl migrate`) is logged under the name it arrived
    # with; the relay, attached to the domain that left, saw none of it.
    _log=/var/log/xen/console/guest-$_name--incoming.log
    [ ! -s "$_log" ] || virtus_relay "@@guest $_name|" <"$_log"
    rm -f "/tmp/$_name.console-pid"
}

# An HVM guest's config says on_poweroff/on_reboot/on_crash = "preserve": xl -F
# reports the shutdown and exits, the domain and its device model stay, and the
# UART's last bytes still reach the console. Give them a moment, then destroy it.
virtus_hvm_cleanup() {
    [ -f "/tmp/$1.hvm" ] || return 0
    xl list "$1" >/dev/null 2>&1 || return 0
    sleep 1
    xl destroy "$1" >/dev/null 2>&1
}

guest_wait() {
    local _name=$1 _xl _deadline _timeout= _code
    _xl=$(cat "/tmp/$_name.xl-pid" 2>/dev/null)
    [ -n "$_xl" ] || { virtus_guest_failed "$_name" "not started"; return 1; }
    _deadline=$(($(virtus_centis) + ${2:-60} * 100))
    while virtus_alive "$_xl"; do
        if [ "$(virtus_centis)" -ge "$_deadline" ]; then
            _timeout=1
            break
        fi
        sleep 0.1
    done
    virtus_stop "$(cat "/tmp/$_name.typist-pid" 2>/dev/null)"
    if [ -n "$_timeout" ]; then
        virtus_mark guest "$_name" timeout "uptime=$(virtus_uptime)"
        xl destroy "$_name" >/dev/null 2>&1
        virtus_wait_exit "$_xl" 1000 || virtus_stop "$_xl"
        wait "$_xl" 2>/dev/null
        virtus_console_stop "$_name"
        virtus_stamps "$_name"
        rm -f "/tmp/$_name.xl-pid"
        return 1
    fi
    echo "gone=$(virtus_uptime)" >>"/tmp/$_name.stamps"
    wait "$_xl" 2>/dev/null
    virtus_hvm_cleanup "$_name"
    virtus_console_stop "$_name"
    virtus_stamps "$_name"
    rm -f "/tmp/$_name.xl-pid"
    # The last shutdown is how it ended: one restarted (on_reboot = "restart")
    # shut down more than once.
    _code=$(sed -n 's/.*shut down, reason code \([0-9]*\).*/\1/p' "/tmp/$_name.xl" | tail -n 1)
    virtus_mark guest "$_name" ended "reason=$(virtus_reason "${_code:--1}")" \
        "code=${_code:--1}" "uptime=$(virtus_uptime)"
    [ "$_code" = 0 ]
}

dom0_run() {
    { "$@" 2>&1; echo $? >/tmp/dom0_run.rc; } | virtus_relay "@@dom0|"
    virtus_mark dom0-cmd "rc=$(cat /tmp/dom0_run.rc)"
}

# An xl config for the bed's own Linux as a PVH domU with the proof initramfs.
# 96 MB is the least that boots it (80 MB panics out of memory; below 72 MB xl
# refuses the 58 MB kernel image). tsc_mode native: under TCG, Xen cannot emulate a
# trapped RDTSCP, which Linux uses.
linux_guest_cfg() {
    local _name=$1
    shift
    cat <<EOF
name = "$_name"
type = "pvh"
kernel = "/boot/vmlinux"
ramdisk = "/boot/linux-guest.cpio.gz"
memory = 96
vcpus = 1
tsc_mode = "native"
extra = "console=hvc0 quiet $*"
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
}

# One probe of guest_floor: guest PREFIX-<MB>m-<TRY> from the template
# PREFIX.cfg (and PREFIX.input, if any) with MB MiB; true if it powered off.
virtus_probe() {
    local _n=$1-$2m-$3 _dir=$VIRTUS_RUN/guests
    sed -e "s/^name = .*/name = \"$_n\"/" -e "s/^memory = .*/memory = $2/" \
        -e "s/xen\.memory_mb=[0-9]*/xen.memory_mb=$2/" \
        -e "s/xen\.expect_name=[^ \"]*/xen.expect_name=$_n/" "$_dir/$1.cfg" >"$_dir/$_n.cfg"
    [ -r "$_dir/$1.input" ] && cp "$_dir/$1.input" "$_dir/$_n.input"
    guest_start "$_n" && guest_wait "$_n" "$4"
}

# The least memory in LO..HI MiB at which a guest made from PREFIX.cfg powers
# off, by bisection over whole MiB: HI first (nothing to bisect if it fails),
# then halve the interval, keeping a size that passed as the upper end. Then
# CONFIRM more tries each of the floor and the size below it. The runner reads
# every probe's own report and judges them again.
guest_floor() {
    local _p=$1 _lo=$2 _hi=$3 _secs=$4 _mid _try=1
    virtus_probe "$_p" "$_hi" 1 "$_secs" || return 1
    while [ "$_lo" -lt "$_hi" ]; do
        _mid=$(((_lo + _hi) / 2))
        if virtus_probe "$_p" "$_mid" 1 "$_secs"; then
            _hi=$_mid
        else
            _lo=$((_mid + 1))
        fi
    done
    while [ "$_try" -le "$5" ]; do
        _try=$((_try + 1))
        virtus_probe "$_p" "$_hi" "$_try" "$_secs"
        [ "$_hi" -le "$2" ] || virtus_probe "$_p" $((_hi - 1)) "$_try" "$_secs"
    done
    return 0
}

linux_proof_guest() {
    linux_guest_cfg linux-proof >/tmp/linux-proof.cfg
    mkdir -p "$VIRTUS_RUN/guests"
    cp /tmp/linux-proof.cfg "$VIRTUS_RUN/guests/linux-proof.cfg"
    guest_start linux-proof && guest_wait linux-proof 60
}

# Interactive: /virtus-run/guests/NAME.cfg with its console in the foreground on
# dom0's console (/dev/console: Xen's console, QEMU's serial stdio), until the guest
# ends. xl attaches the console before it unpauses the guest (xenconsole's start
# notification), so no output is missed. The `created` marker is printed as xl
# starts, before the guest's first line; `ended` as for guest_wait.
guest_console() {
    local _name=$1 _cfg _rc _code
    _cfg=$VIRTUS_RUN/guests/$_name.cfg
    [ -r "$_cfg" ] || { virtus_guest_failed "$_name" "no config $_cfg"; return 1; }
    rm -f "/tmp/$_name".*
    virtus_mark guest "$_name" created "uptime=$(virtus_uptime)"
    if virtus_is_hvm "$_cfg"; then
        virtus_hvm_console "$_name" "$_cfg"
        _rc=$?
    else
        # xl's own messages go to the file; the console client keeps the terminal.
        xl create -F -c "$_cfg" </dev/console >/dev/console 2>"/tmp/$_name.xl"
        _rc=$?
    fi
    _code=$(sed -n 's/.*shut down, reason code \([0-9]*\).*/\1/p' "/tmp/$_name.xl" | head -n 1)
    if [ -z "$_code" ] && [ "$_rc" != 0 ]; then
        virtus_guest_failed "$_name" "xl create exited with $_rc"
        return 1
    fi
    virtus_mark guest "$_name" ended "reason=$(virtus_reason "${_code:--1}")" \
        "code=${_code:--1}" "uptime=$(virtus_uptime)"
    [ "$_code" = 0 ]
}

# guest_console for an HVM guest. `xl create -c` would attach its serial console
# (an HVM guest's primary console), but the domain is preserved at its end for the
# UART to drain, and with it the device model and the console client: the session
# would hang after "powering off". So: create it paused, attach `xl console -t
# serial` on dom0's console, unpause, wait for xl -F to report the shutdown, then
# destroy the domain (virtus_hvm_cleanup), which ends the console client.
virtus_hvm_console() {
    local _name=$1 _cfg=$2 _xl _console _deadline _rc
    xl create -F -p "$_cfg" >"/tmp/$_name.xl" 2>&1 &
    _xl=$!
    until grep -q "^Waiting for domain" "/tmp/$_name.xl"; do
        if ! virtus_alive "$_xl"; then
            wait "$_xl"
            _rc=$?
            cat "/tmp/$_name.xl" >/dev/console
            return "$_rc"
        fi
        sleep 0.1
    done
    : >"/tmp/$_name.hvm"
    xl console -t serial "$_name" </dev/console >/dev/console 2>"/tmp/$_name.console-err" &
    _console=$!
    # Attached once xenconsole holds the guest's pty (QEMU drops the UART's
    # output while no client is attached).
    _deadline=$(($(virtus_centis) + 1000))
    until ls -l "/proc/$_console/fd" 2>/dev/null | grep -q /dev/pts/; do
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.1
    done
    if ! xl unpause "$_name" >>"/tmp/$_name.xl" 2>&1; then
        xl destroy "$_name" >/dev/null 2>&1
        virtus_stop "$_console"
        virtus_stop "$_xl"
        return 1
    fi
    wait "$_xl"
    _rc=$?
    virtus_hvm_cleanup "$_name"
    virtus_wait_exit "$_console" 200 || virtus_stop "$_console"
    wait "$_console" 2>/dev/null
    return "$_rc"
}
