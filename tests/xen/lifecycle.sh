# /virtus-run/lifecycle.sh: the steps of `virtus-run lifecycle`'s scenarios, on top
# of /lib/virtus.sh (busybox sh). The runner ships this file with each run (it is
# not part of the bed) and writes the script that calls it: per guest, one chain
#   guest_start NAME && lc_domid 0 NAME && lc_see 1 NAME ... && ...; lc_end NAME $? SECS
# that stops at its first failed step. Each step prints one line the runner judges:
#   @@dom0| lifecycle NAME step=N VERB at=UPTIME [KEY=VALUE...] [-- TEXT]
# (dom0's uptime in seconds). In a step's TEXT, @DOMID@ stands for the guest's
# domain id as the last lc_domid read it (it changes when the domain restarts).

lc_mark() {
    local _name=$1 _step=$2 _verb=$3
    shift 3
    virtus_progress
    echo "@@dom0| lifecycle $_name step=$_step $_verb at=$(virtus_uptime) $*"
}

# TEXT with @DOMID@ replaced by guest NAME's domain id.
lc_text() {
    local _domid
    _domid=$(cat "/tmp/$1.lc-domid" 2>/dev/null)
    echo "$2" | sed "s/@DOMID@/${_domid:-unknown}/g"
}

# STEP NAME: note the domain's id (the domain restarted under a new one).
lc_domid() {
    local _domid
    _domid=$(xl domid "$2" 2>/dev/null)
    if [ -z "$_domid" ]; then
        lc_mark "$2" "$1" missed -- "no domain named $2"
        return 1
    fi
    echo "$_domid" >"/tmp/$2.lc-domid"
    lc_mark "$2" "$1" domid "id=$_domid"
}

# The file that holds guest NAME's console: xenconsoled's log for a PV console
# (it carries on across a restart, the relay's copy stops with the first domain);
# the relay's copy for an HVM guest's serial port, which xenconsoled never sees.
# A domain migrated in is logged under the name it arrived with (NAME--incoming):
# its lines are in that second file.
lc_console() {
    if [ -f "/tmp/$1.hvm" ]; then
        echo "/tmp/$1.console"
    else
        echo "/var/log/xen/console/guest-$1.log"
        echo "/var/log/xen/console/guest-$1--incoming.log"
    fi
}

# STEP NAME TEXT: how many lines of guest NAME's console hold TEXT.
# cat reads /dev/null, not the script's input, if the file list comes back
# empty: it once did (busybox sh, under the HVM column's background jobs),
# and cat then waited on dom0's console for good, with the whole bed idle
# until the watchdog (the stall sentinel's report: `cat` in wait_woken,
# a tty read). The caller's loop simply looks again.
lc_count() {
    # shellcheck disable=SC2046 # one file name per line, none with spaces
    cat $(lc_console "$1") </dev/null 2>/dev/null | grep -cF -- "$2"
}

# STEP NAME COUNT SECONDS TEXT: wait until TEXT is in COUNT lines of the console.
lc_see() {
    local _step=$1 _name=$2 _count=$3 _text _deadline _n=0
    _text=$(lc_text "$_name" "$5")
    _deadline=$(($(virtus_centis) + $4 * 100))
    while :; do
        _n=$(lc_count "$_name" "$_text")
        if [ "${_n:-0}" -ge "$_count" ]; then
            lc_mark "$_name" "$_step" saw "n=$_n" -- "$_text"
            return 0
        fi
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.05
    done
    lc_mark "$_name" "$_step" missed "n=${_n:-0}" "secs=$4" -- "$_text"
    return 1
}

# STEP NAME SECONDS COMMAND: run COMMAND in dom0 in the background. With SECONDS
# above 0 it must return, with status 0, within them; with 0 the chain goes on at
# once (`xl shutdown -w` returns only when the domain is gone) and the return is
# reported whenever it comes. lc_end stops a command still running.
lc_run() {
    local _step=$1 _name=$2 _secs=$3 _command _pid _deadline
    _command=$(lc_text "$_name" "$4")
    lc_mark "$_name" "$_step" run -- "$_command"
    (
        sh -c "$_command" >"/tmp/$_name.lc-out-$_step" 2>&1
        _rc=$?
        echo "$_rc" >"/tmp/$_name.lc-rc-$_step"
        lc_mark "$_name" "$_step" returned "rc=$_rc"
        virtus_relay "@@dom0| lifecycle $_name step=$_step output --" <"/tmp/$_name.lc-out-$_step"
    ) &
    _pid=$!
    echo "$_pid" >>"/tmp/$_name.lc-pids"
    [ "$_secs" -gt 0 ] || return 0
    _deadline=$(($(virtus_centis) + _secs * 100))
    while virtus_alive "$_pid"; do
        if [ "$(virtus_centis)" -ge "$_deadline" ]; then
            lc_mark "$_name" "$_step" missed "secs=$_secs" -- "$_command did not return"
            return 1
        fi
        sleep 0.05
    done
    wait "$_pid" 2>/dev/null
    [ "$(cat "/tmp/$_name.lc-rc-$_step" 2>/dev/null)" = 0 ]
}

# STEP NAME ENTER TEXT: type TEXT into the guest's console, then Enter if ENTER
# is 1, on the pty xenstore names for the domain as it is now: the PV console's
# (console/tty), or for an HVM guest its emulated UART's (serial/0/tty, where the
# device model puts it; the HVM domain's console/tty is a PV console the native
# image never reads).
lc_type() {
    local _step=$1 _name=$2 _text _domid _tty _key=console/tty
    _text=$(lc_text "$_name" "$4")
    _domid=$(cat "/tmp/$_name.lc-domid" 2>/dev/null)
    [ ! -f "/tmp/$_name.hvm" ] || _key=serial/0/tty
    if ! _tty=$(xenstore-read "/local/domain/$_domid/$_key" 2>/dev/null); then
        lc_mark "$_name" "$_step" missed -- "no $_key for domain $_domid"
        return 1
    fi
    if [ "$3" = 1 ]; then
        printf '%s\r' "$_text" >"$_tty"
    else
        printf '%s' "$_text" >"$_tty"
    fi
    lc_mark "$_name" "$_step" typed -- "$_text"
}

# STEP NAME COUNT SECONDS: wait for the domain's COUNT-th shutdown, as `xl create
# -F` reports it, and say its reason.
lc_gone() {
    local _step=$1 _name=$2 _count=$3 _deadline _n=0 _code
    _deadline=$(($(virtus_centis) + $4 * 100))
    while :; do
        _n=$(grep -c "shut down, reason code" "/tmp/$_name.xl" 2>/dev/null)
        if [ "${_n:-0}" -ge "$_count" ]; then
            _code=$(sed -n 's/.*shut down, reason code \([0-9]*\).*/\1/p' "/tmp/$_name.xl" |
                sed -n "${_count}p")
            lc_mark "$_name" "$_step" ended "reason=$(virtus_reason "$_code")" "code=$_code"
            return 0
        fi
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.05
    done
    tail -n 8 "/tmp/$_name.xl" | virtus_relay "@@dom0| lifecycle $_name step=$_step output --"
    lc_mark "$_name" "$_step" missed "n=${_n:-0}" "secs=$4" -- "the domain did not shut down"
    return 1
}

# STEP NAME SECONDS: wait until `xl create -F` says the domain has been destroyed
# (`xl destroy`: a destroyed domain has no shutdown reason). A shutdown is a miss:
# the guest ended by itself, so the destroy proves nothing.
lc_destroyed() {
    local _step=$1 _name=$2 _deadline _code
    _deadline=$(($(virtus_centis) + $3 * 100))
    while :; do
        _code=$(sed -n 's/.*shut down, reason code \([0-9]*\).*/\1/p' "/tmp/$_name.xl" | head -n 1)
        if [ -n "$_code" ]; then
            lc_mark "$_name" "$_step" missed -- \
                "the domain shut down ($(virtus_reason "$_code")) instead of being destroyed"
            return 1
        fi
        if grep -q "has been destroyed" "/tmp/$_name.xl" 2>/dev/null; then
            lc_mark "$_name" "$_step" destroyed
            return 0
        fi
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.05
    done
    lc_mark "$_name" "$_step" missed "secs=$3" -- "xl never said the domain was destroyed"
    return 1
}

# STEP NAME IMAGE START COUNT CHUNK: the sha256 of sectors START..START+COUNT of
# IMAGE (512-byte sectors), CHUNK sectors at a time: one `sum` report per chunk
# (lba=, count=, the digest as TEXT), then `checked`. dom0 only measures; the
# runner compares the digests with its own.
lc_sums() {
    local _step=$1 _name=$2 _image=$3 _lba=$4 _end=$(($4 + $5)) _n _sum
    if [ ! -r "$_image" ]; then
        lc_mark "$_name" "$_step" missed -- "no image $_image in dom0"
        return 1
    fi
    while [ "$_lba" -lt "$_end" ]; do
        _n=$((_end - _lba))
        [ "$_n" -le "$6" ] || _n=$6
        _sum=$(dd if="$_image" bs=512 skip="$_lba" count="$_n" 2>/dev/null | sha256sum)
        lc_mark "$_name" "$_step" sum "lba=$_lba" "count=$_n" -- "${_sum%% *}"
        _lba=$((_lba + _n))
    done
    lc_mark "$_name" "$_step" checked
}

# STEP NAME SECONDS COMMAND: COMMAND becomes what watches the domain, in place of
# the `xl create -F` that started it, which stops when the domain suspends for
# good: on `xl save` it says "Domain has suspended." or, when the save destroyed
# the domain before it looked, "has been destroyed", and exits. It may stop on
# the suspend inside `xl save -c` too. COMMAND: `xl restore -F FILE` (it watches
# the domain it restores, as `xl create -F` does), or `xl shutdown -w NAME` (it
# reports the shutdown of a domain nothing watches any more). The old watcher's
# output is moved to /tmp/NAME.xl-STEP, so /tmp/NAME.xl, where lc_gone counts
# shutdowns and guest_wait takes the last reason, is the new one's alone, and
# COMMAND's pid becomes the one guest_wait waits for. The watch has begun when
# xl says so ("Waiting for domain ...", "Waiting for 1 domains"), within SECONDS:
# then `watching`. Its return is reported when it comes.
lc_watch() {
    local _step=$1 _name=$2 _secs=$3 _command _pid _deadline
    _command=$(lc_text "$_name" "$4")
    mv "/tmp/$_name.xl" "/tmp/$_name.xl-$_step" 2>/dev/null
    lc_mark "$_name" "$_step" run -- "$_command"
    (
        sh -c "$_command" >"/tmp/$_name.xl" 2>&1
        lc_mark "$_name" "$_step" returned "rc=$?"
    ) &
    _pid=$!
    echo "$_pid" >"/tmp/$_name.xl-pid"
    _deadline=$(($(virtus_centis) + _secs * 100))
    while :; do
        if grep -q '^Waiting for ' "/tmp/$_name.xl" 2>/dev/null; then
            [ ! -f "/tmp/$_name.hvm" ] || lc_serial "$_name"
            lc_mark "$_name" "$_step" watching
            return 0
        fi
        if ! virtus_alive "$_pid" || [ "$(virtus_centis)" -ge "$_deadline" ]; then
            break
        fi
        sleep 0.05
    done
    tail -n 5 "/tmp/$_name.xl" | virtus_relay "@@dom0| lifecycle $_name step=$_step output --"
    lc_mark "$_name" "$_step" missed "secs=$_secs" -- "$_command did not start watching the domain"
    return 1
}

# NAME: relay the serial console of an HVM guest's new domain (restored: a new
# device model, a new pty; the console client guest_start attached served the
# old one) and copy it to /tmp/NAME.console, where lc_see looks. What the guest
# printed before the client attached is lost (QEMU drops output while no client
# is there). lc_end stops the client through its stdin, then the relay.
lc_serial() {
    local _in=/tmp/$1.serial-in-$$
    rm -f "$_in"
    mkfifo "$_in"
    sleep 2147483647 >"$_in" &
    echo $! >>"/tmp/$1.lc-pids"
    xl console -t serial "$1" <"$_in" 2>/dev/null |
        virtus_relay "@@guest $1|" "" "/tmp/$1.console" &
    echo $! >>"/tmp/$1.lc-pids"
    # Attached once the client holds the pty, as guest_start waits.
    sleep 1
}

# STEP NAME RUNSTEP SECONDS: wait for the command lc_run started without waiting
# at step RUNSTEP to return, with status 0 (`back`).
lc_returned() {
    local _step=$1 _name=$2 _rc _deadline
    _deadline=$(($(virtus_centis) + $4 * 100))
    while :; do
        _rc=$(cat "/tmp/$_name.lc-rc-$3" 2>/dev/null)
        if [ -n "$_rc" ]; then
            lc_mark "$_name" "$_step" back "rc=$_rc"
            [ "$_rc" = 0 ]
            return
        fi
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.05
    done
    lc_mark "$_name" "$_step" missed "secs=$4" -- "the command of step $3 did not return"
    return 1
}

# STEP NAME TEXT: TEXT is on no line of the console (so far).
lc_absent() {
    local _step=$1 _name=$2 _text _n
    _text=$(lc_text "$_name" "$3")
    _n=$(lc_count "$_name" "$_text")
    if [ "${_n:-0}" -gt 0 ]; then
        lc_mark "$_name" "$_step" missed "n=$_n" -- "$_text"
        return 1
    fi
    lc_mark "$_name" "$_step" absent -- "$_text"
}

# STEP NAME: the domain's memory as `xl list NAME` shows it (MiB, its Mem column).
lc_mem() {
    local _step=$1 _name=$2 _mb
    _mb=$(xl list "$_name" 2>/dev/null | awk 'NR == 2 { print $3 }')
    if [ -z "$_mb" ]; then
        lc_mark "$_name" "$_step" missed -- "xl list shows no domain $_name"
        return 1
    fi
    lc_mark "$_name" "$_step" mem "mb=$_mb"
}

# STEP NAME SECONDS: wait until xl lists no domain of the guest's, under its
# name or the names a migration gives (NAME--incoming, NAME--migratedaway).
lc_unlisted() {
    local _step=$1 _name=$2 _deadline _left
    _deadline=$(($(virtus_centis) + $3 * 100))
    while :; do
        _left=$(xl list 2>/dev/null | awk -v n="$_name" \
            '$1 == n || $1 == n "--incoming" || $1 == n "--migratedaway" { print $1 }')
        if [ -z "$_left" ]; then
            lc_mark "$_name" "$_step" unlisted
            return 0
        fi
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.1
    done
    lc_mark "$_name" "$_step" missed "secs=$3" -- "xl still lists" $_left
    return 1
}

# NAME RC SECONDS: the end of a chain whose last step returned RC. A chain that
# stopped early leaves the guest running: destroy it. Then stop any command still
# running and report how the guest ended, as guest_wait does for every guest.
lc_end() {
    local _pid _domain
    if [ "$2" != 0 ]; then
        # A migration stopped half way leaves its domains under these names.
        for _domain in "$1" "$1--incoming" "$1--migratedaway"; do
            ! xl domid "$_domain" >/dev/null 2>&1 || xl destroy "$_domain" >/dev/null 2>&1
        done
    fi
    guest_wait "$1" "$3"
    for _pid in $(cat "/tmp/$1.lc-pids" 2>/dev/null); do
        virtus_wait_exit "$_pid" 200 || virtus_stop "$_pid"
    done
    rm -f "/tmp/$1.save"  # xl save's file: dom0's memory
    return 0
}

# STEP NAME VCPU up|down SECONDS: wait until `xl vcpu-list NAME` shows vCPU VCPU up
# (online in Xen: a CPU number, a state without p) or down (xl prints CPU "-" and
# state "--p" for a vCPU whose VPF_down is set). Reports its state and online=1|0.
lc_vcpu() {
    local _step=$1 _name=$2 _vcpu=$3 _want=$4 _deadline _state=none _online
    _deadline=$(($(virtus_centis) + $5 * 100))
    while :; do
        _state=$(xl vcpu-list "$_name" </dev/null 2>/dev/null |
            awk -v v="$_vcpu" 'NR > 1 && $3 == v { print $5 }')
        _online=
        case "$_state" in
            "") ;;
            *p) _online=0 ;;
            *) _online=1 ;;
        esac
        if { [ "$_want" = up ] && [ "$_online" = 1 ]; } ||
            { [ "$_want" = down ] && [ "$_online" = 0 ]; }; then
            lc_mark "$_name" "$_step" vcpu "vcpu=$_vcpu" "state=$_state" "online=$_online"
            return 0
        fi
        [ "$(virtus_centis)" -lt "$_deadline" ] || break
        sleep 0.1
    done
    xl vcpu-list "$_name" </dev/null 2>&1 | virtus_relay "@@dom0| lifecycle $_name step=$_step output --"
    lc_mark "$_name" "$_step" missed "secs=$5" -- "xl vcpu-list never showed vCPU $_vcpu $_want (state ${_state:-none})"
    return 1
}
