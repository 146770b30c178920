# Shared helpers for Periscope guest scripts (sourced).
# pparam NAME DEFAULT -> value of periscope.NAME= on the kernel command line
pparam() {
    _v=$2
    for _kv in $(cat /proc/cmdline); do
        case "$_kv" in "periscope.$1="*) _v=${_kv#*=} ;; esac
    done
    echo "$_v"
}
# now_ms -> milliseconds since boot. busybox date has no %N, so use the monotonic clock from
# /proc/timer_list ("now at N nsecs"); fall back to /proc/uptime (10 ms resolution).
now_ms() {
    _ns=$(sed -n '/^now at /{s/^now at \([0-9]*\) nsecs.*/\1/p;q}' /proc/timer_list 2>/dev/null)
    if [ -n "$_ns" ]; then echo $(( _ns / 1000000 )); return; fi
    read -r _up _idle < /proc/uptime
    _s=${_up%.*}; _f=${_up#*.}; _f=${_f#0}
    echo $(( _s * 1000 + _f * 10 ))
}
export PATH=/periscope/bin:/sbin:/usr/sbin:/bin:/usr/bin
