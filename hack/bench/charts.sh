#!/usr/bin/env bash
# Draws the charts of one hack/bench/run.sh run as SVG files with gnuplot, from the same
# samples report.sh reads, and writes the Markdown that shows them:
#
#   hack/bench/charts.sh WORKSPACE OUTDIR LINKDIR
#
# A phase asks for a chart of a metric with `meta METRIC chart FILE|TITLE` (meta.tsv); each
# chart is one bar per subject, the median over the run's samples, with the minimum and
# maximum as error bars. OUTDIR receives FILE.svg; WORKSPACE/charts.md gets one image line
# per chart, linked as LINKDIR/FILE.svg (the path from the results page to OUTDIR).
set -euo pipefail

[ $# -eq 3 ] || {
    echo "usage: charts.sh WORKSPACE OUTDIR LINKDIR" >&2
    exit 2
}
ws=$1
out=$2
link=$3
command -v gnuplot >/dev/null || {
    echo "charts.sh: gnuplot is not installed (hack/deps.sh bench installs it)" >&2
    exit 1
}
mkdir -p "$out"
: >"$ws/charts.md"

# chart_data METRIC: "SUBJECT<TAB>MEDIAN<TAB>MIN<TAB>MAX<TAB>COLOR" per subject, in the order
# the subjects first appear; tether's subjects in blue (a baseline build of tether-shim,
# "tether-shim @REV", in light blue), the others in grey.
chart_data() {
    LC_ALL=C awk -F'\t' -v m="$1" '
    $1 == m {
        if (!($3 in n)) order[++ns] = $3
        v[$3, ++n[$3]] = $4 + 0
        unit = $2
    }
    END {
        for (k = 1; k <= ns; k++) {
            s = order[k]; c = n[s]
            for (i = 2; i <= c; i++) {
                t = v[s, i]
                for (j = i - 1; j >= 1 && v[s, j] > t; j--) v[s, j + 1] = v[s, j]
                v[s, j + 1] = t
            }
            med = c % 2 ? v[s, (c + 1) / 2] : (v[s, c / 2] + v[s, c / 2 + 1]) / 2
            printf "%s\t%s\t%s\t%s\t%d\n", s, med, v[s, 1], v[s, c],
                s ~ /^tether-shim @/ ? 10005487 : s ~ /^(tether|containerd-shim-tether)/ ? 4487082 : 10066329
        }
        print unit > "/dev/stderr"
    }' "$ws/results.tsv"
}

while IFS=$'\t' read -r metric key value; do
    [ "$key" = chart ] || continue
    file=${value%%|*}
    title=${value#*|}
    data=$ws/chart-$file.dat
    unit=$(chart_data "$metric" 2>&1 >"$data")
    [ -s "$data" ] || continue
    n=$(wc -l <"$data")
    gnuplot <<GP
set terminal svg size 820,$((140 + 34 * n)) dynamic font "sans,12" background "#ffffff"
set output "$out/$file.svg"
set title "$title" font "sans,14"
set datafile separator "\t"
set style fill solid 0.85 border -1
set boxwidth 0.6
set ytics nomirror
set xtics nomirror
set grid xtics lc rgb "#dddddd"
set xlabel "$unit (median; bars: min to max)"
unset key
set yrange [-0.6:$n - 0.4]
set xrange [0:*]
set offsets 0, graph 0.12, 0, 0
set ytics font "sans,11"
plot "$data" using (\$2):(\$0):(0):(\$2):(\$0 - 0.3):(\$0 + 0.3):5:ytic(1) with boxxyerror lc rgb variable, \
     "" using 2:0:3:4 with xerrorbars lc rgb "#222222" pt -1, \
     "" using 4:0:(\$2 >= 100 ? sprintf(" %.0f", \$2) : sprintf(" %.3g", \$2)) with labels left offset 0.5,0 font "sans,11"
GP
    printf '![%s](%s/%s.svg)\n\n' "$title" "$link" "$file" >>"$ws/charts.md"
done <"$ws/meta.tsv"
