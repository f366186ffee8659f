# /virtus-run/soak-lifecycle.sh: `virtus-run soak-lifecycle`'s cycles, on top of
# /lib/virtus.sh (busybox sh). The runner ships this file with each run and its
# script calls
#   soak_lc TEMPLATE CYCLES MARKER
# which creates and shuts down a guest made from /virtus-run/guests/TEMPLATE.cfg
# CYCLES times, all in this one boot of dom0, and after each cycle proves nothing
# was left behind. It reports, one line each, what the runner judges:
#   @@dom0| soak-lc baseline free_mb=F paths=P
#   @@dom0| soak-lc cycle n=N domid=D boot_ms=B shutdown_ms=S settle_ms=C total_ms=T free_mb=F
#   @@dom0| soak-lc failed n=N what=WHY [KEY=VALUE...] -- TEXT
#   @@dom0| soak-lc leak n=N kind=KIND -- PATH      (kind: xenstore, domain, memory)
#   @@dom0| soak-lc output n=N -- TEXT              (xl's or the guest's words)
#   @@dom0| soak-lc containers n=1 -- PATH...        (see SOAK_LC_CONTAINERS)
#   @@dom0| soak-lc done cycles=N
# It stops at the first failed cycle: a leak fails the run.

# Seconds: from `xl create` to the marker (a PVH boot is seconds, the slack is
# for a loaded two-core host); for `xl shutdown -w` to return and `xl create -F`
# to see the domain go; for xl and xenstore to be back at the baseline once the
# domain is gone (libxl removes its paths before `xl create -F` returns, and
# Xen's free memory follows as the domain's pages are freed).
SOAK_LC_BOOT=90
SOAK_LC_DOWN=30
SOAK_LC_SETTLE=20
# What the guest prints when the host's power-off request reaches it.
SOAK_LC_POWER_OFF="power: the host asks to power off; stopping"

soak_lc_mark() {
    virtus_progress
    echo "@@dom0| soak-lc $*"
}

# Every xenstore path, without values (they change: dom0's memory target,
# xenstored's own counters), one a line, sorted.
soak_lc_paths() {
    xenstore-ls -f 2>/dev/null | sed 's/ = .*//' | sort
}

# The containers libxl makes for the first domain and never removes: /vm and
# /libxl (parents of /vm/<uuid>, /libxl/<domid>), dom0's backend directory and
# one directory per device kind under it (parents of .../<kind>/<domid>). They
# hold no domain's data; anything below them is still a leak, since the
# entries under them are paths of their own that the baseline lacks.
SOAK_LC_CONTAINERS='^/vm$|^/libxl$|^/local/domain/0/backend$|^/local/domain/0/backend/[^/]*$'

# The paths of /tmp/soak-lc.paths that the baseline lacks, but containers.
soak_lc_added() {
    grep -vxF -f /tmp/soak-lc.base /tmp/soak-lc.paths | grep -vE "$SOAK_LC_CONTAINERS"
}

# The domains xl lists besides Domain-0, by name.
soak_lc_others() {
    xl list 2>/dev/null | awk 'NR > 1 && $1 != "Domain-0" { print $1 }'
}

# Xen's free memory (MiB), as `xl info` says it.
soak_lc_free() {
    xl info 2>/dev/null | sed -n 's/^free_memory[[:space:]]*:[[:space:]]*//p'
}

# N WHAT TEXT [KEY=VALUE...]: a cycle failed. Relay what xl and the guest said,
# and destroy the domain if it is still there, so the report is the last word.
soak_lc_fail() {
    local _n=$1 _what=$2 _text=$3 _name
    shift 3
    _name=$SOAK_LC_NAME
    tail -n 8 /tmp/soak-lc.xl 2>/dev/null | virtus_relay "@@dom0| soak-lc output n=$_n -- xl:"
    tail -n 12 "/var/log/xen/console/guest-$_name.log" 2>/dev/null |
        virtus_relay "@@dom0| soak-lc output n=$_n -- guest:"
    soak_lc_mark failed "n=$_n" "what=$_what" "$@" -- "$_text"
    xl destroy "$_name" >/dev/null 2>&1
    return 1
}

# PID SECONDS: wait for PID to exit; false if it was still running at the end.
soak_lc_reap() {
    local _deadline=$(($(virtus_centis) + $2 * 100))
    while virtus_alive "$1"; do
        [ "$(virtus_centis)" -lt "$_deadline" ] || return 1
        sleep 0.05
    done
    wait "$1" 2>/dev/null
}

# TEMPLATE N MARKER: one cycle, as guest TEMPLATE-N.
soak_lc_cycle() {
    local _n=$2 _marker=$3 _cfg _log _xl _down _c0 _ready _asked _gone _clean
    local _domid _code _others _added _free _p
    SOAK_LC_NAME=$1-$2
    _cfg=/tmp/$SOAK_LC_NAME.cfg
    _log=/var/log/xen/console/guest-$SOAK_LC_NAME.log
    sed -e "s/^name = .*/name = \"$SOAK_LC_NAME\"/" \
        -e "s/xen\.expect_name=[^ \"]*/xen.expect_name=$SOAK_LC_NAME/" \
        "$VIRTUS_RUN/guests/$1.cfg" >"$_cfg"
    _c0=$(virtus_centis)
    # -F: xl watches the domain, reports its shutdown reason and exits once
    # the domain is destroyed (on_poweroff = "destroy").
    xl create -F "$_cfg" >/tmp/soak-lc.xl 2>&1 &
    _xl=$!
    until grep -qF -- "$_marker" "$_log" 2>/dev/null; do
        if ! virtus_alive "$_xl"; then
            soak_lc_fail "$_n" boot "xl create ended before the guest printed: $_marker"
            return 1
        fi
        if [ "$(virtus_centis)" -ge $((_c0 + SOAK_LC_BOOT * 100)) ]; then
            soak_lc_fail "$_n" boot "no \"$_marker\" within $SOAK_LC_BOOT s"
            virtus_stop "$_xl"
            return 1
        fi
        sleep 0.05
    done
    _ready=$(virtus_centis)
    _domid=$(xl domid "$SOAK_LC_NAME" 2>/dev/null)
    _asked=$(virtus_centis)
    xl shutdown -w "$SOAK_LC_NAME" >/tmp/soak-lc.shutdown 2>&1 &
    _down=$!
    if ! soak_lc_reap "$_down" "$SOAK_LC_DOWN"; then
        soak_lc_fail "$_n" shutdown "xl shutdown -w did not return within $SOAK_LC_DOWN s"
        virtus_stop "$_down"
        virtus_stop "$_xl"
        return 1
    fi
    if ! soak_lc_reap "$_xl" "$SOAK_LC_DOWN"; then
        soak_lc_fail "$_n" shutdown "xl create -F still watching $SOAK_LC_DOWN s after the shutdown"
        virtus_stop "$_xl"
        return 1
    fi
    _gone=$(virtus_centis)
    _code=$(sed -n 's/.*shut down, reason code \([0-9]*\).*/\1/p' /tmp/soak-lc.xl | head -n 1)
    if [ "$_code" != 0 ]; then
        soak_lc_fail "$_n" reason "the domain ended with reason code ${_code:-none}, not 0 (poweroff)"
        return 1
    fi
    if ! grep -qF -- "$SOAK_LC_POWER_OFF" "$_log"; then
        soak_lc_fail "$_n" reason "the guest powered off without saying: $SOAK_LC_POWER_OFF"
        return 1
    fi
    # Until the deadline: no domain but Domain-0, no xenstore path the
    # baseline lacks, Xen's free memory back where it was.
    while :; do
        _others=$(soak_lc_others)
        soak_lc_paths >/tmp/soak-lc.paths
        _added=$(soak_lc_added)
        _free=$(soak_lc_free)
        if [ -z "$_others" ] && [ -z "$_added" ] && [ "${_free:-0}" -ge "$SOAK_LC_FREE" ]; then
            break
        fi
        if [ "$(virtus_centis)" -ge $((_gone + SOAK_LC_SETTLE * 100)) ]; then
            for _p in $_others; do soak_lc_mark leak "n=$_n" kind=domain -- "$_p"; done
            echo "$_added" | head -n 40 | while IFS= read -r _p; do
                [ -z "$_p" ] || soak_lc_mark leak "n=$_n" kind=xenstore -- "$_p"
            done
            [ "${_free:-0}" -ge "$SOAK_LC_FREE" ] ||
                soak_lc_mark leak "n=$_n" kind=memory -- "free_memory ${_free:-unknown} MB, baseline $SOAK_LC_FREE MB"
            soak_lc_fail "$_n" leak "still there $SOAK_LC_SETTLE s after the domain was gone" \
                "added=$(echo "$_added" | grep -c .)"
            return 1
        fi
        sleep 0.2
    done
    _clean=$(virtus_centis)
    if [ "$_n" = 1 ]; then
        soak_lc_mark containers "n=$_n" -- \
            $(grep -vxF -f /tmp/soak-lc.base /tmp/soak-lc.paths | grep -E "$SOAK_LC_CONTAINERS")
    fi
    soak_lc_mark cycle "n=$_n" "domid=${_domid:-unknown}" "boot_ms=$(((_ready - _c0) * 10))" \
        "shutdown_ms=$(((_gone - _asked) * 10))" "settle_ms=$(((_clean - _gone) * 10))" \
        "total_ms=$(((_clean - _c0) * 10))" "free_mb=$_free"
    rm -f "$_log" "$_cfg" /tmp/soak-lc.xl /tmp/soak-lc.shutdown
}

# TEMPLATE CYCLES MARKER: the baseline, then the cycles, stopping at the first
# that fails.
soak_lc() {
    local _n=1 _others
    _others=$(soak_lc_others)
    if [ -n "$_others" ]; then
        soak_lc_mark failed n=0 what=baseline -- "xl lists domains before the first cycle:" $_others
        return 1
    fi
    soak_lc_paths >/tmp/soak-lc.base
    SOAK_LC_FREE=$(soak_lc_free)
    if [ -z "$SOAK_LC_FREE" ]; then
        soak_lc_mark failed n=0 what=baseline -- "xl info gave no free_memory"
        return 1
    fi
    soak_lc_mark baseline "free_mb=$SOAK_LC_FREE" "paths=$(grep -c . /tmp/soak-lc.base)"
    while [ "$_n" -le "$2" ]; do
        soak_lc_cycle "$1" "$_n" "$3" || return 1
        _n=$((_n + 1))
    done
    soak_lc_mark done "cycles=$2"
}
