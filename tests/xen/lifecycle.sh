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
lc_console() {
    if [ -f "/tmp/$1.hvm" ]; then
        echo "/tmp/$1.console"
    else
        echo "/var/log/xen/console/guest-$1.log"
    fi
}

# STEP NAME COUNT SECONDS TEXT: wait until TEXT is in COUNT lines of the console.
lc_see() {
    local _step=$1 _name=$2 _count=$3 _text _file _deadline _n=0
    _text=$(lc_text "$_name" "$5")
    _file=$(lc_console "$_name")
    _deadline=$(($(virtus_centis) + $4 * 100))
    while :; do
        _n=$(grep -cF -- "$_text" "$_file" 2>/dev/null)
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

# NAME RC SECONDS: the end of a chain whose last step returned RC. A chain that
# stopped early leaves the guest running: destroy it. Then stop any command still
# running and report how the guest ended, as guest_wait does for every guest.
lc_end() {
    local _pid
    if [ "$2" != 0 ] && xl domid "$1" >/dev/null 2>&1; then
        xl destroy "$1" >/dev/null 2>&1
    fi
    guest_wait "$1" "$3"
    for _pid in $(cat "/tmp/$1.lc-pids" 2>/dev/null); do
        virtus_wait_exit "$_pid" 200 || virtus_stop "$_pid"
    done
    return 0
}
