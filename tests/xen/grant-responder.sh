# dom0's side of the guests' grant test (pv-backend/src/grant/kernel_tests.rs),
# started in the background by the runner before a PVH suite's guests: it serves
# every domain, for as long as dom0 runs. A guest writes, in its own home,
# data/grant-test/request = "SEQ OP GREF LEN"; the answer goes to
# data/grant-test/result = "SEQ ANSWER". Grants are mapped with virtus-grant-peek
# (/dev/xen/gntdev). busybox sh: dom0 has no python and no compiler.
#   read     map read-only, hash LEN bytes with sha256sum, unmap: "sha256 HEX"
#   hold     map and keep it mapped: "held" (one hold at a time in all)
#   release  unmap what hold mapped: "released"
# Failures answer "error WHAT".
#
# The guest's test has 5 s in all, and every process dom0 starts is slow under
# emulation (a PV fork and exec): requests arrive through one xenstore watch
# rather than by polling, and the helper's replies come back through a fifo
# read with the shell's own `read`.

peek=/virtus-run/virtus-grant-peek
fifo=/tmp/grant.fifo
chmod 0755 "$peek" && mkfifo "$fifo" || exit 1
holding=

answer() {
    xenstore-write "/local/domain/$1/data/grant-test/result" "$2 $3" ||
        echo "domain $1: cannot write the result"
    echo "domain $1: answered $2 $3"
}

# serve DOMID SEQ OP GREF LEN
serve() {
    local d=$1 seq=$2 op=$3 gref=$4 len=$5 sum line
    case $op in
    read)
        if "$peek" read "$d" "$gref" "$len" >/tmp/grant.bytes 2>/tmp/grant.err; then
            sum=$(sha256sum </tmp/grant.bytes)
            answer "$d" "$seq" "sha256 ${sum%% *}"
        else
            read -r line </tmp/grant.err
            answer "$d" "$seq" "error $line"
        fi
        ;;
    hold)
        if [ -n "$holding" ]; then
            answer "$d" "$seq" "error already holding a grant of domain $holding"
            return
        fi
        rm -f /tmp/grant.release
        "$peek" hold "$d" "$gref" "$len" /tmp/grant.release >"$fifo" 2>&1 &
        holding=$d
        exec 3<"$fifo"
        if read -r line <&3 && [ "$line" = held ]; then
            answer "$d" "$seq" held
        else
            answer "$d" "$seq" "error ${line:-the helper ended}"
        fi
        ;;
    release)
        if [ "$holding" != "$d" ]; then
            answer "$d" "$seq" "error holding nothing of domain $d"
            return
        fi
        : >/tmp/grant.release
        if read -r line <&3 && [ "$line" = unmapped ]; then
            answer "$d" "$seq" released
        else
            answer "$d" "$seq" "error ${line:-the helper ended}"
        fi
        exec 3<&-
        wait
        holding=
        ;;
    *)
        answer "$d" "$seq" "error unknown request $op"
        ;;
    esac
}

echo "serving grant requests"
xenstore-watch /local/domain | while read -r path; do
    case $path in
    /local/domain/*/data/grant-test/request) ;;
    *) continue ;;
    esac
    d=${path#/local/domain/}
    d=${d%%/*}
    case $d in '' | *[!0-9]*) continue ;; esac
    request=$(xenstore-read "$path" 2>/dev/null) || continue
    # A watch may fire twice for one write: serve each request once.
    eval "last=\${last_$d}"
    [ "$request" = "$last" ] && continue
    eval "last_$d=\$request"
    echo "domain $d: request $request"
    # shellcheck disable=SC2086 # the request is separate words
    serve "$d" $request
done
