#!/usr/bin/env bash
# Turns the samples of one hack/bench/run.sh run into a table on stdout and, unless DOC is
# "none", the results page DOC (docs/benchmarks.md):
#
#   hack/bench/report.sh WORKSPACE DOC
#
# WORKSPACE holds results.tsv (METRIC UNIT SUBJECT VALUE, one sample a line), meta.tsv
# (METRIC KEY VALUE: section, floor, ref, better) and machine.tsv (KEY VALUE). Every number
# printed comes from those files.
set -euo pipefail

[ $# -eq 2 ] || {
    echo "usage: report.sh WORKSPACE DOC|none" >&2
    exit 2
}
ws=$1
doc=$2
md=$ws/report.md

LC_ALL=C awk -F'\t' -v md="$md" -v charts="$ws/charts.md" '
function fmt(v,    a) {
    if (v == "") return "-"
    if (v == int(v)) return sprintf("%d", v)
    a = v < 0 ? -v : v
    if (a >= 100) return sprintf("%.0f", v)
    if (a >= 10) return sprintf("%.1f", v)
    if (a >= 1) return sprintf("%.2f", v)
    return sprintf("%.3f", v)
}
function ratio(v, r) {
    if (r == "" || r + 0 == 0) return "-"
    return sprintf("%.2fx", v / r)
}
# Sorts vals[1..n] in place (insertion sort: a few hundred samples at most).
function sortn(n,    i, j, t) {
    for (i = 2; i <= n; i++) {
        t = vals[i]
        for (j = i - 1; j >= 1 && vals[j] > t; j--) vals[j + 1] = vals[j]
        vals[j + 1] = t
    }
}
function median(n) {
    return n % 2 ? vals[(n + 1) / 2] : (vals[n / 2] + vals[n / 2 + 1]) / 2
}
function med(m, s) {
    return ((m SUBSEP s) in MED) ? MED[m, s] : ""
}
function pad(s, w) {
    return sprintf("%-" w "s", s)
}
# Goal rows: text, measured, verdict.
function goal(text, measured, ok) {
    ng++
    GT[ng] = text
    GM[ng] = measured
    GV[ng] = ok == "" ? "not measured" : (ok ? "met" : "missed")
}
# The metric "N=K: FIELD" with the largest K.
function memmetric(field,    m, best, k) {
    best = ""
    for (m in UNIT) {
        if (m ~ ("^N=[0-9]+: " field "$")) {
            k = substr(m, 3, index(m, ":") - 3) + 0
            if (best == "" || k > bestk) { best = m; bestk = k }
        }
    }
    return best
}
function firstmetric(prefix,    i) {
    for (i = 1; i <= nm; i++) if (index(M[i], prefix) == 1) return M[i]
    return ""
}
# A table cell in markdown: a "|" would end the cell.
function cell(s) {
    gsub(/\|/, "\\|", s)
    return s
}
function is_peer(s) {
    return s ~ /^(conmon|containerd)/
}

FILENAME ~ /results\.tsv$/ {
    m = $1; s = $3
    if (!(m in UNIT)) { M[++nm] = m; UNIT[m] = $2 }
    if (!((m SUBSEP s) in CNT)) { NS[m]++; SUBJ[m, NS[m]] = s }
    CNT[m, s]++
    V[m, s, CNT[m, s]] = $4 + 0
    next
}
FILENAME ~ /meta\.tsv$/ { META[$1, $2] = $3; next }
FILENAME ~ /machine\.tsv$/ { MACH[$1] = $2; MK[++nk] = $1; next }

END {
    for (i = 1; i <= nm; i++) {
        m = M[i]
        for (j = 1; j <= NS[m]; j++) {
            s = SUBJ[m, j]; n = CNT[m, s]
            for (k = 1; k <= n; k++) vals[k] = V[m, s, k]
            sortn(n)
            MED[m, s] = median(n); MIN[m, s] = vals[1]; MAX[m, s] = vals[n]
        }
    }

    # --- text table on stdout ---
    nsec = 0
    for (i = 1; i <= nm; i++) {
        sec = META[M[i], "section"]
        if (!(sec in SECSEEN)) { SECSEEN[sec] = 1; SEC[++nsec] = sec }
    }
    wm = 6; ws = 7
    for (i = 1; i <= nm; i++) {
        m = M[i]
        if (length(m " (" UNIT[m] ")") > wm) wm = length(m " (" UNIT[m] ")")
        for (j = 1; j <= NS[m]; j++) if (length(SUBJ[m, j]) > ws) ws = length(SUBJ[m, j])
    }
    printf "\n"
    for (si = 1; si <= nsec; si++) {
        printf "%s\n", SEC[si]
        printf "  %s %s %6s %10s %10s %10s %9s %9s\n", pad("metric", wm), pad("subject", ws),
            "n", "median", "min", "max", "vs floor", "vs tether"
        for (i = 1; i <= nm; i++) {
            m = M[i]
            if (META[m, "section"] != SEC[si]) continue
            fl = META[m, "floor"]; rf = META[m, "ref"]
            for (j = 1; j <= NS[m]; j++) {
                s = SUBJ[m, j]
                printf "  %s %s %6d %10s %10s %10s %9s %9s\n", pad(m " (" UNIT[m] ")", wm),
                    pad(s, ws), CNT[m, s], fmt(MED[m, s]), fmt(MIN[m, s]), fmt(MAX[m, s]),
                    fl == "" ? "-" : ratio(MED[m, s], med(m, fl)),
                    rf == "" ? "-" : ratio(MED[m, s], med(m, rf))
            }
        }
        printf "\n"
    }

    # --- goals ---
    pss = memmetric("PSS"); pd = memmetric("Private_Dirty"); th = memmetric("threads")
    if (pss != "") {
        t = med(pss, "tether"); c = med(pss, "conmon")
        goal("per-shim PSS at " substr(pss, 1, index(pss, ":") - 1) " <= 200 KiB and <= half of conmon",
            fmt(t) " KiB (conmon " fmt(c) " KiB, half of it " fmt(c / 2) ")", t != "" && c != "" && t <= 200 && t <= c / 2)
    }
    if (pd != "") {
        t = med(pd, "tether"); c = med(pd, "conmon")
        goal("per-shim Private_Dirty at " substr(pd, 1, index(pd, ":") - 1) " <= 160 KiB and <= half of conmon",
            fmt(t) " KiB (conmon " fmt(c) " KiB, half of it " fmt(c / 2) ")", t != "" && c != "" && t <= 160 && t <= c / 2)
    }
    if (th != "")
        goal("one thread per shim", "max " MAX[th, "tether"], MAX[th, "tether"] == 1)
    lm = "lifecycle of true"
    t = med(lm, "tether (protocol client)"); r = med(lm, "floor: runc run")
    st = med(lm, "runc create+start+delete")
    # The medians decide; the minima, less touched by other load on the machine, are shown too.
    tn = MIN[lm, "tether (protocol client)"]; rn = MIN[lm, "floor: runc run"]
    sn = MIN[lm, "runc create+start+delete"]
    if (t != "" && r != "")
        goal("lifecycle within 1.3x of `runc run`", sprintf("%.2fx (medians %s vs %s ms; minima %.2fx)",
            t / r, fmt(t), fmt(r), tn / rn), t <= 1.3 * r)
    if (t != "" && st != "")
        goal("shim adds < 2 ms beyond its runtime invocations (create+start+delete)",
            sprintf("%+.2f ms (medians %s vs %s ms; minima %+.2f ms)", t - st, fmt(t), fmt(st), tn - sn),
            t - st < 2)
    t = med("exit -> event at a client", "tether (subscribe)")
    if (t != "") goal("exit -> event at a subscribed client < 1 ms median", fmt(t) " ms", t < 1)
    t = med("exit -> exit file", "tether (exit.json)")
    if (t != "") goal("exit -> exit.json < 1 ms median", fmt(t) " ms", t < 1)
    lt = "log: elapsed"; f = med(lt, "floor: runc run | cat")
    t = med(lt, "tether raw")
    if (t != "" && f != "") goal("log raw within 1.15x of the floor", sprintf("%.2fx", t / f), t <= 1.15 * f)
    t = med(lt, "tether cri")
    if (t != "" && f != "") goal("log cri within 1.3x of the floor", sprintf("%.2fx", t / f), t <= 1.3 * f)
    c = med(lt, "conmon k8s-file")
    if (t != "" && c != "") goal("log cri ahead of conmon k8s-file", sprintf("%s s vs %s s", fmt(t), fmt(c)), t < c)
    m = "log: consumer peak RSS"; m2 = firstmetric("log: consumer peak RSS after only")
    small = m2; sub(/.* only /, "", small)
    for (i = 1; i <= 2 && m2 != ""; i++) {
        s = i == 1 ? "tether raw" : "tether cri"
        t = med(m, s); r = med(m2, s)
        if (t != "" && r != "")
            goal("log " substr(s, 8) ": shim memory does not grow with the amount logged (peak RSS after " small " and after the full run within 128 KiB)",
                sprintf("%s KiB and %s KiB", fmt(r), fmt(t)), t - r <= 128)
    }
    m = firstmetric("idle "); m2 = firstmetric("idle "); sub(/context switches$/, "CPU time", m2)
    if (m != "")
        goal("idle shims asleep: 0 context switches and 0 CPU time (" substr(m, 1, index(m, ":") - 1) ", every tether shim)",
            "max " MAX[m, "tether"] " switches, " MAX[m2, "tether"] " ms", MAX[m, "tether"] == 0 && MAX[m2, "tether"] == 0)
    m = firstmetric("density: context switches"); m2 = firstmetric("density: CPU time")
    if (m != "")
        goal("density: all tether shims asleep when idle (" substr(m, 10) ")",
            MED[m, "tether"] " switches, " MED[m2, "tether"] " ms", MED[m, "tether"] == 0 && MED[m2, "tether"] == 0)

    printf "Goals\n"
    for (i = 1; i <= ng; i++) printf "  %-8s %s: %s\n", GV[i], GT[i], GM[i]
    printf "\n"

    # --- where tether loses: any peer with a better median ---
    nl = 0
    for (i = 1; i <= nm; i++) {
        m = M[i]; rf = META[m, "ref"]
        if (rf == "" || med(m, rf) == "") continue
        hi = META[m, "better"] == "higher"
        for (j = 1; j <= NS[m]; j++) {
            s = SUBJ[m, j]
            if (!is_peer(s)) continue
            if ((hi && MED[m, s] > MED[m, rf]) || (!hi && MED[m, s] < MED[m, rf]))
                LOSS[++nl] = sprintf("%s: %s %s %s vs %s %s %s", m, rf, fmt(MED[m, rf]), UNIT[m],
                    s, fmt(MED[m, s]), UNIT[m])
            else if (UNIT[m] != "count" && MED[m, rf] != 0 && MED[m, s] / MED[m, rf] < 1.05 && MED[m, s] / MED[m, rf] > 0.95)
                LOSS[++nl] = sprintf("%s: a tie, %s %s %s vs %s %s %s (medians within 5%%)", m, rf,
                    fmt(MED[m, rf]), UNIT[m], s, fmt(MED[m, s]), UNIT[m])
        }
    }
    for (i = 1; i <= ng; i++) if (GV[i] == "missed") LOSS[++nl] = "goal missed: " GT[i] " (" GM[i] ")"
    tn = MIN[lm, "tether (protocol client)"]; sn = MIN[lm, "runc create+start+delete"]
    if (tn != "" && sn != "" && tn - sn >= 2)
        LOSS[++nl] = sprintf("%s: by the minima, tether adds %.2f ms beyond its runtime invocations (%s vs %s ms; goal < 2 ms)", lm, tn - sn, fmt(tn), fmt(sn))
    # Why the lifecycle goal can be out of reach: the runtime invocations alone.
    r = med(lm, "floor: runc run"); st = med(lm, "runc create+start+delete")
    if (r != "" && st != "" && st > 1.3 * r)
        LOSS[++nl] = sprintf("%s: `runc create`, `start` and `delete` as separate invocations, with no shim at all, take %s ms, %.2fx `runc run` (%s ms) by the medians (by the minima %.2fx); by the same measure no shim that drives runc that way can be within 1.3x of `runc run` on this machine", lm, fmt(st), st / r, fmt(r), MIN[lm, "runc create+start+delete"] / MIN[lm, "floor: runc run"])
    printf "Where tether loses\n"
    if (nl == 0) printf "  nowhere in this run\n"
    for (i = 1; i <= nl; i++) printf "  %s\n", LOSS[i]

    # --- markdown page ---
    print "# Benchmarks: tether-shim, conmon, containerd-shim-runc-v2" > md
    print "" > md
    print "Generated by `hack/bench/run.sh` on " MACH["date"] ". Every figure on this page comes from that one run: the script writes this file, nobody edits it. To reproduce (as root, on Debian 12; the script installs its packages and builds tether in Release):" > md
    print "" > md
    print "    hack/bench/run.sh" > md
    print "" > md
    print "`hack/bench/run.sh --quick` runs every measurement with small counts in a minute or two and writes no page (CI uses it to prove the harness works; its figures mean little)." > md
    print "" > md
    # The charts of this run (hack/bench/charts.sh), when there are any.
    if ((getline line < charts) > 0) {
        print "## At a glance" > md
        print "" > md
        print "Medians of this run; the bars go from the minimum to the maximum sample. tether in blue." > md
        print "" > md
        print line > md
        while ((getline line < charts) > 0) print line > md
    }
    print "## Machine" > md
    print "" > md
    print "| | |" > md
    print "|---|---|" > md
    for (i = 1; i <= nk; i++) {
        k = MK[i]
        if (k == "quick" || k == "crun") continue
        name = k
        if (k == "load_start") name = "load average at start (1/5/15 min)"
        if (k == "load_end") name = "load average at end"
        if (k == "fs") name = "filesystem of the workspace and logs"
        if (k == "params") name = "run parameters"
        if (k == "duration") name = "duration of the measurements"
        if (k ~ /^pkg /) name = substr(k, 5) " (Debian package)"
        printf "| %s | %s |\n", name, MACH[k] > md
    }
    print "" > md
    print "## Goals" > md
    print "" > md
    print "| goal | measured | |" > md
    print "|---|---|---|" > md
    for (i = 1; i <= ng; i++) printf "| %s | %s | %s |\n", cell(GT[i]), cell(GM[i]), GV[i] > md
    print "" > md
    print "## Where tether loses" > md
    print "" > md
    if (nl == 0) print "Nowhere in this run: no peer has a better or equal median on any metric, and every goal is met." > md
    else print "Every metric where a peer has a better median or one within 5% of tether'"'"'s, every goal missed, and what explains them:" > md
    if (nl > 0) print "" > md
    for (i = 1; i <= nl; i++) print "- " LOSS[i] > md
    print "" > md
    print "## Results" > md
    print "" > md
    print "Median, minimum and maximum over the samples of this run (n: samples; for memory, one sample per shim process). \"vs floor\" divides by the floor subject of the same metric (the bare runtime), \"vs tether\" by the tether subject it is compared with." > md
    for (si = 1; si <= nsec; si++) {
        print "" > md
        print "### " SEC[si] > md
        print "" > md
        print "| metric | subject | n | median | min | max | vs floor | vs tether |" > md
        print "|---|---|--:|--:|--:|--:|--:|--:|" > md
        for (i = 1; i <= nm; i++) {
            m = M[i]
            if (META[m, "section"] != SEC[si]) continue
            fl = META[m, "floor"]; rf = META[m, "ref"]
            for (j = 1; j <= NS[m]; j++) {
                s = SUBJ[m, j]
                printf "| %s (%s) | %s | %d | %s | %s | %s | %s | %s |\n", cell(m), UNIT[m], cell(s),
                    CNT[m, s], fmt(MED[m, s]), fmt(MIN[m, s]), fmt(MAX[m, s]),
                    fl == "" ? "" : ratio(MED[m, s], med(m, fl)),
                    rf == "" ? "" : ratio(MED[m, s], med(m, rf)) > md
            }
        }
    }
    print "" > md
    if (MACH["crun"] != "works")
        print "crun is not measured: on this machine it refuses to run containers (`" MACH["crun"] "`)." > md
    close(md)
}
' "$ws/results.tsv" "$ws/meta.tsv" "$ws/machine.tsv"

if [ "$doc" != none ]; then
    cat "$md" "$(dirname "$0")/method.md" >"$doc.tmp"
    mv "$doc.tmp" "$doc"
    echo
    echo "wrote $doc"
fi
