# /virtus-run/soak-console.sh: the console soak's side in dom0 (busybox sh),
# sourced by the run's script after /lib/virtus.sh, whose functions it uses.
#
#   soak_console NAME BYTES SECONDS
#       start guest NAME (its config in /virtus-run/guests), read its console
#       pty directly, raw, instead of through `xl console`: relay its lines
#       until `soak-console: ready`, then send `G` and count BYTES raw bytes
#       into a file (never onto dom0's console, a 115200-baud UART), write
#       /virtus-run/soak/NAME.to-guest into the pty, relay the guest's last
#       lines and wait for it to end. Every step against one deadline,
#       SECONDS from the start.
#   soak_console_figures NAME
#       print what dom0 measured: per direction the byte count, busybox's
#       crc32 and dom0's clock at start and end (for dom0_run).
#
# The pty: a PVH guest's is xenconsoled's (xenstore console/tty), an HVM
# guest's the device model's emulated UART (serial/0/tty). One descriptor (8)
# stays open on it from before the guest runs until it ends: QEMU drops an
# HVM guest's output while no one holds the pty, and no byte may fall
# between two readers. `stty raw -echo`: no line discipline may act on the
# bytes either way (the guest's alphabet has no control byte besides).
# `read` takes a byte at a time, so the line relay never reads past the
# ready line; after it the guest is silent until it gets `G`, and after its
# burst until it has received ours, so `head -c` can read ahead freely.

# Fail the soak at STEP: note it, and destroy the guest so that the wait
# below ends at once.
soak_console_fail() {
    echo "failed $2" >>"/tmp/$1.soak"
    virtus_mark guest "$1" failed "soak-console: $2"
    xl destroy "$1" >/dev/null 2>&1
}

# Wait for PID until the deadline (centiseconds of uptime), telling the
# stall sentinel that the script is alive. False if it was still running.
soak_console_wait() {
    while virtus_alive "$1"; do
        virtus_progress
        [ "$(virtus_centis)" -lt "$2" ] || return 1
        sleep 0.2
    done
    wait "$1" 2>/dev/null
    return 0
}

soak_console() {
    local _name=$1 _bytes=$2 _cfg _xl _domid _node _tty _deadline _line _pid _relay _ok=
    local _out=/tmp/$1.from-guest _in=$VIRTUS_RUN/soak/$1.to-guest _t0 _t1 _t2= _t3= _insum
    _cfg=$VIRTUS_RUN/guests/$_name.cfg
    _deadline=$(($(virtus_centis) + $3 * 100))
    rm -f "/tmp/$_name".*
    # The sum of what dom0 will write, before the guest runs: afterwards the
    # guest prints its verdict as soon as the last byte is in, and powers
    # off, and its pty's unread lines go with it.
    _insum="bytes=$(wc -c <"$_in") crc32=$(crc32 <"$_in")"
    echo "xl_create=$(virtus_uptime)" >"/tmp/$_name.stamps"
    xl create -F -p "$_cfg" >"/tmp/$_name.xl" 2>&1 &
    _xl=$!
    echo "$_xl" >"/tmp/$_name.xl-pid"
    until grep -q "^Waiting for domain" "/tmp/$_name.xl"; do
        if ! virtus_alive "$_xl" || [ "$(virtus_centis)" -ge "$_deadline" ]; then
            virtus_stop "$_xl"
            virtus_guest_failed "$_name" "xl create did not finish"
            return 1
        fi
        sleep 0.05
    done
    echo "built=$(virtus_uptime)" >>"/tmp/$_name.stamps"
    _domid=$(xl domid "$_name" 2>/dev/null)
    _node=/local/domain/$_domid/console/tty
    if virtus_is_hvm "$_cfg"; then
        _node=/local/domain/$_domid/serial/0/tty
        : >"/tmp/$_name.hvm"
    fi
    until _tty=$(xenstore-read "$_node" 2>/dev/null) && [ -c "$_tty" ]; do
        if [ "$(virtus_centis)" -ge "$_deadline" ]; then
            soak_console_fail "$_name" "no console pty at $_node"
            guest_wait "$_name" 10
            return 1
        fi
        sleep 0.1
    done
    exec 8<>"$_tty"
    stty raw -echo <&8
    xl unpause "$_name" >>"/tmp/$_name.xl" 2>&1
    echo "unpaused=$(virtus_uptime)" >>"/tmp/$_name.stamps"
    virtus_mark guest "$_name" created "domid=$_domid" "uptime=$(virtus_uptime)"
    echo "pty $_tty" >"/tmp/$_name.soak"

    # The guest's boot, line by line, up to its ready line.
    while [ "$(virtus_centis)" -lt "$_deadline" ]; do
        IFS= read -r -t 10 _line <&8 || { virtus_alive "$_xl" && continue; break; }
        virtus_progress
        _line=${_line%"$VIRTUS_CR"}
        echo "@@guest $_name| $_line"
        case $_line in
        *"soak-console: ready "*) _ok=1; break ;;
        *"soak-console: FAILED"*) break ;;
        esac
    done
    if [ -z "$_ok" ]; then
        soak_console_fail "$_name" "no ready line"
    else
        # From the guest: exactly BYTES, into a file.
        _t0=$(virtus_uptime)
        head -c "$_bytes" <&8 >"$_out" &
        _pid=$!
        printf G >&8
        soak_console_wait "$_pid" "$_deadline" || { virtus_stop "$_pid"; _ok=; }
        _t1=$(virtus_uptime)
        echo "from-guest bytes=$(wc -c <"$_out") crc32=$(crc32 <"$_out") start=$_t0 end=$_t1" \
            >>"/tmp/$_name.soak"
        rm -f "$_out"
        [ -n "$_ok" ] || soak_console_fail "$_name" "from-guest: timed out"
    fi
    # The guest's verdict lines, until it ends. The relay reads from before
    # our stream goes in: the guest prints them and powers off as soon as
    # the last byte is in, and its pty's unread lines go with it, so no
    # moment may pass between our last byte and a reader (see _insum too).
    # Until then the guest is silent: the relay only waits.
    virtus_relay "@@guest $_name|" "" <&8 &
    _relay=$!
    if [ -n "$_ok" ]; then
        # To the guest: the runner's stream, as it is.
        _t2=$(virtus_uptime)
        cat "$_in" >&8 &
        _pid=$!
        soak_console_wait "$_pid" "$_deadline" || { virtus_stop "$_pid"; _ok=; }
        _t3=$(virtus_uptime)
    fi
    _pid=$_relay
    exec 8>&-
    if [ -n "$_t3" ]; then
        echo "to-guest $_insum start=$_t2 end=$_t3" >>"/tmp/$_name.soak"
        [ -n "$_ok" ] || soak_console_fail "$_name" "to-guest: timed out"
    fi
    _line=$(((_deadline - $(virtus_centis)) / 100))
    guest_wait "$_name" $((_line > 10 ? _line : 10))
    _ok=$?
    # Its pty closes with the domain (or its device model), which ends the relay.
    virtus_wait_exit "$_pid" 500 || virtus_stop "$_pid"
    wait "$_pid" 2>/dev/null
    return $_ok
}

soak_console_figures() {
    cat "/tmp/$1.soak"
}
