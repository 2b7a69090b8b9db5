# Cuts one traced run into the segments between its process events.
#
#   awk -v mode=ctr|life -v runtime=/usr/sbin/runc -f trace.awk TRACE
#
# TRACE is the text of a tracefs instance that recorded sched_process_exec,
# sched_process_exit and signal_generate (SIGCHLD only) with the option record-tgid, from
# before the run's first program was executed until after it ended. A process "ends" when
# its last thread exits (group_dead=true); the kernel has torn it down when its SIGCHLD is
# sent to the parent. Prints NAME=MILLISECONDS pairs on one line, or "error=REASON".
#
# mode=ctr, a `ctr run --rm ... true` (phase_trace in phases.sh says what each segment
# holds): which process is which, by its exec: ctr; the shim binary (containerd-shim-*: its
# first exec is the `start` command, its last the `delete` command containerd runs after the
# shim's connection closed); the runtime (its first three execs: create, start, and the
# delete of the stopped container); the container's /bin/true.
#
# mode=life, one benchlife lifecycle (tether-shim's, or the runtime's steps alone), from
# benchlife's exec to its end: total; runtime, the time in which a runtime process (from its
# exec until its SIGCHLD) or the container runs; other, the rest (benchlife, and the shim
# with its launch and shutdown when there is one); of the rest, lead before the first
# runtime exec and tail after the last runtime process or the container is gone.
function tgid_of(line,    m) {
    # "comm-PID (  TGID) [CPU] flags TIMESTAMP: event: ..."
    if (match(line, /\( *[0-9]+\)/) == 0) return ""
    m = substr(line, RSTART + 1, RLENGTH - 2)
    gsub(/ /, "", m)
    return m
}
function stamp(line) {
    match(line, /[0-9]+\.[0-9]+: /)
    return substr(line, RSTART, RLENGTH - 2) * 1000
}
function field(line, key,    s) {
    if (match(line, " " key "=[^ ]+") == 0) return ""
    s = substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
    return s
}
BEGIN { rtbase = runtime; sub(/.*\//, "", rtbase) }
/sched_process_exec:/ {
    f = field($0, "filename")
    p = field($0, "pid")
    t = stamp($0)
    if (mode == "life") {
        if (f ~ /\/benchlife$/ && ctr == "") { ctr = p; t_ctr = t }
        else if (ctr == "") next
        else if (f == runtime || substr(f, length(f) - length(rtbase)) == "/" rtbase ||
                 f == "/bin/true") { nrt++; rt[nrt] = p; rt_exec[nrt] = t }
        next
    }
    if (f ~ /\/ctr$/ && ctr == "") { ctr = p; t_ctr = t }
    else if (ctr == "") next
    else if (f ~ /\/containerd-shim-[^\/]*$/) { nshim++; shim[nshim] = p; shim_exec[nshim] = t }
    else if (f == runtime || substr(f, length(f) - length(rtbase)) == "/" rtbase) {
        nrt++; rt[nrt] = p; rt_exec[nrt] = t
    }
    else if (f == "/bin/true" && box == "") { box = p; box_exec = t }
    next
}
# With own=1 (tether's containerd shim): the forks, and the shim processes' epoll_wait
# calls (sys_enter/sys_exit of epoll_wait and epoll_pwait), to tell the time the shim's
# one-threaded daemon works from the time it sleeps.
/sched_process_fork:/ {
    if (own && ctr != "") {
        c = field($0, "child_pid")
        forked[c] = stamp($0)
        parent_of[c] = tgid_of($0)
    }
    next
}
/ sys_enter: NR (232|281) / {
    g = tgid_of($0)
    t = stamp($0)
    if (g in woke) {
        if (!(ctr in gone)) awake[g] += t - woke[g]
        delete woke[g]
    }
    if (!(g in slept)) slept[g] = t
    next
}
/ sys_exit: NR (232|281) / {
    woke[tgid_of($0)] = stamp($0)
    next
}
/sched_process_exit:/ && / group_dead=true/ {
    g = tgid_of($0)
    if (g != "" && !(g in gone)) gone[g] = stamp($0)
    next
}
/signal_generate:/ && / sig=17 / {
    g = tgid_of($0)
    if (g != "" && (g in gone) && !(g in chld)) chld[g] = stamp($0)
    next
}
# The length of the union of the intervals [rt_exec[i], end of rt[i]].
function busy(    i, j, n, t, a, b, sum, cur_a, cur_b) {
    n = 0
    for (i = 1; i <= nrt; i++) {
        if (!(rt[i] in gone)) return -1
        n++; A[n] = rt_exec[i]; B[n] = (rt[i] in chld) ? chld[rt[i]] : gone[rt[i]]
    }
    for (i = 2; i <= n; i++) {
        a = A[i]; b = B[i]
        for (j = i - 1; j >= 1 && A[j] > a; j--) { A[j + 1] = A[j]; B[j + 1] = B[j] }
        A[j + 1] = a; B[j + 1] = b
    }
    sum = 0; cur_a = A[1]; cur_b = B[1]
    for (i = 2; i <= n; i++) {
        if (A[i] > cur_b) { sum += cur_b - cur_a; cur_a = A[i]; cur_b = B[i] }
        else if (B[i] > cur_b) cur_b = B[i]
    }
    LAST = cur_b
    return sum + cur_b - cur_a
}
END {
    if (mode == "life") {
        if (ctr == "" || !(ctr in gone)) { print "error=benchlife not seen from exec to exit"; exit }
        if (nrt < 4) { print "error=" nrt " runtime and container execs"; exit }
        t = busy()
        if (t < 0) { print "error=a runtime process did not end"; exit }
        printf "total=%.3f runtime=%.3f other=%.3f lead=%.3f tail=%.3f\n", gone[ctr] - t_ctr, t,
            gone[ctr] - t_ctr - t, A[1] - t_ctr, gone[ctr] - LAST
        exit
    }
    if (ctr == "" || !(ctr in gone)) { print "error=ctr not seen from exec to exit"; exit }
    if (nshim < 2) { print "error=" nshim " shim execs"; exit }
    if (nrt < 3) { print "error=" nrt " runtime execs"; exit }
    if (box == "" || !(box in gone)) { print "error=the container was not seen"; exit }
    for (i = 1; i <= 3; i++) if (!(rt[i] in gone)) { print "error=runtime " i " did not end"; exit }
    s = shim[1]; d = shim[nshim]
    if (!(s in gone) || !(d in gone)) { print "error=a shim command did not end"; exit }
    if (own) {
        # The shim's own time on the way: its start and delete commands whole; its daemon
        # (the start command's child) from its fork to its first sleep, awake between its
        # sleeps, and from its last wakeup to its end. All of it counted, though some ran
        # beside containerd's or the runtime's work: the rest is what no shim could take
        # away. Not counted: the kernel's syncing of the filesystem under the rootfs while
        # it unmounts it, in a child of the daemon after Delete was answered, beside
        # containerd's work rather than before it.
        mine = gone[s] - shim_exec[1] + gone[d] - shim_exec[nshim]
        for (c in parent_of) if (parent_of[c] == s) dmn = c
        if (dmn == "" || !(dmn in slept)) { print "error=the shim daemon was not seen"; exit }
        mine += slept[dmn] - forked[dmn] + awake[dmn]
        end = (dmn in gone && gone[dmn] < gone[ctr]) ? gone[dmn] : gone[ctr]
        if ((dmn in woke) && woke[dmn] < end) mine += end - woke[dmn]
    }
    printf "total=%.3f", gone[ctr] - t_ctr
    printf " pre=%.3f", shim_exec[1] - t_ctr
    printf " start=%.3f", gone[s] - shim_exec[1]
    printf " tocreate=%.3f", rt_exec[1] - gone[s]
    printf " create=%.3f", gone[rt[1]] - rt_exec[1]
    printf " tostart=%.3f", rt_exec[2] - gone[rt[1]]
    printf " run=%.3f", gone[box] - rt_exec[2]
    printf " todelete=%.3f", rt_exec[3] - gone[box]
    printf " delete=%.3f", gone[rt[3]] - rt_exec[3]
    printf " todelcmd=%.3f", shim_exec[nshim] - gone[rt[3]]
    printf " delcmd=%.3f", gone[d] - shim_exec[nshim]
    printf " post=%.3f", gone[ctr] - gone[d]
    if (own)
        printf " own=%.3f notown=%.3f", mine, gone[ctr] - t_ctr - mine
    # The segments of the chain in which no shim code runs: containerd before the shim, the
    # runtime's create, its start with the container's run, its delete, containerd after.
    printf " noshim=%.3f", shim_exec[1] - t_ctr + gone[rt[1]] - rt_exec[1] + gone[box] - rt_exec[2] + \
        gone[rt[3]] - rt_exec[3] + gone[ctr] - gone[d]
    # The kernel's teardown of an exited process before its parent hears of it, for the
    # three ends a shim waits for on the way: runtime create, the container, runtime delete.
    if ((rt[1] in chld) && (box in chld) && (rt[3] in chld))
        printf " teardown=%.3f", chld[rt[1]] - gone[rt[1]] + chld[box] - gone[box] + chld[rt[3]] - gone[rt[3]]
    printf "\n"
}
