# dom0's side of the guest's grant test (pv-backend/src/grant/kernel_tests.rs),
# started in the background by the runner for a PVH suite: sh THIS NAME.
# It polls the guest's data/grant-test/request ("SEQ OP GREF LEN") and answers
# in data/grant-test/result ("SEQ ANSWER"), mapping the grant with
# virtus-grant-peek (/dev/xen/gntdev). It ends when the guest is gone.
# busybox sh: no python, no compiler in dom0.

peek=/virtus-run/virtus-grant-peek
chmod 0755 "$peek" || exit 1
name=$1

# The guest exists once guest_start has returned; wait a little anyway.
tries=0
until domid=$(xl domid "$name" 2>/dev/null) && [ -n "$domid" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || { echo "no domain $name"; exit 1; }
    sleep 0.2
done
dir=/local/domain/$domid/data/grant-test
echo "serving $name (domain $domid) at $dir"
last=
holder=

answer() {
    xenstore-write "$dir/result" "$1 $2" || echo "cannot write $dir/result"
    echo "answered: $1 $2"
}

while xenstore-read "/local/domain/$domid/name" >/dev/null 2>&1; do
    request=$(xenstore-read "$dir/request" 2>/dev/null)
    if [ -z "$request" ] || [ "$request" = "$last" ]; then
        sleep 0.1
        continue
    fi
    last=$request
    echo "request: $request"
    # shellcheck disable=SC2086 # the request is separate words
    set -- $request
    seq=$1 op=$2 gref=$3 len=$4
    case $op in
    read)
        if "$peek" read "$domid" "$gref" "$len" >/tmp/grant.bytes 2>/tmp/grant.err; then
            sum=$(sha256sum </tmp/grant.bytes)
            answer "$seq" "sha256 ${sum%% *}"
        else
            answer "$seq" "error $(cat /tmp/grant.err)"
        fi
        ;;
    hold)
        rm -f /tmp/grant.release /tmp/grant.held
        "$peek" hold "$domid" "$gref" "$len" /tmp/grant.release >/tmp/grant.held 2>&1 &
        holder=$!
        tries=0
        until grep -q '^held$' /tmp/grant.held 2>/dev/null; do
            tries=$((tries + 1))
            kill -0 "$holder" 2>/dev/null && [ "$tries" -lt 100 ] || break
            sleep 0.1
        done
        if grep -q '^held$' /tmp/grant.held; then
            answer "$seq" held
        else
            answer "$seq" "error $(cat /tmp/grant.held)"
        fi
        ;;
    release)
        touch /tmp/grant.release
        # The helper unmaps, says so and exits: wait for it.
        [ -n "$holder" ] && wait "$holder"
        holder=
        if grep -q '^unmapped$' /tmp/grant.held 2>/dev/null; then
            answer "$seq" released
        else
            answer "$seq" "error $(cat /tmp/grant.held 2>/dev/null)"
        fi
        ;;
    *)
        answer "$seq" "error unknown request $op"
        ;;
    esac
done
echo "domain $domid is gone"
