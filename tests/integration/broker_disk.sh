#!/usr/bin/env bash
# broker_disk.sh - the recordings disk guard ([recording] min_free): a
# login is refused below min_free with one sentence and an auth.fail whose
# reason names the free and required bytes; a recording that cannot be
# started is told to the vendor once, with one TOTP prompt (no second
# prompt refused as a replay); a live session is warned below min_free
# (session.disk.low) and ends below half of it with end reason disk-full
# (session.end, meta.json).  The free space of a live session is faked by
# build/tools/statvfs_fake.so.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

if [ $ROOT != 1 ]; then
    skip_all "needs root (nis2ctl --as for requests and approvals)"
fi
shim=$(readlink -f "$B/tools/statvfs_fake.so")
[ -e "$shim" ] || bail "$shim missing (make tests)"
setup_keys
start_target
write_config
sed -i 's/^\[recording\]$/[recording]\nmin_free = 1G/' "$T/nis2.conf"
init_state || bail "nis2ctl init"
for u in alice omar; do
    "$B/nis2ctl" --config "$T/nis2.conf" totp enroll "$u" \
        --secret "$TOTP_SECRET" --force >>"$T/enroll.log" 2>&1
done
write_askpass
# Count the TOTP prompts: one line per askpass call.
mv "$T/askpass" "$T/askpass.real"
cat >"$T/askpass" <<EOF
#!/bin/sh
echo x >>"$T/askpass.calls"
exec "$T/askpass.real" "\$@"
