package api

import (
	"encoding/csv"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
)

// wantsCSV reports whether the caller asked for CSV (Accept: text/csv)
// ahead of JSON.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true
		case "application/json", "*/*", "application/*":
			return false
		}
	}
	return false
}

func writeCSV(w http.ResponseWriter, filename string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+filename+`"`)
	cw := csv.NewWriter(w)
	_ = cw.WriteAll(rows)
}

// seriesCSV lays a series out one row per group and bucket: the same
// figures as the JSON, with empty cells where the JSON has null.
func seriesCSV(m metric.Metric, groupBy []string, series []rollup.Series, loc *time.Location) [][]string {
	head := append([]string{"start"}, groupBy...)
	head = append(head, "value", "n", "ci_low", "ci_high", "low_sample", "provisional")
	for _, p := range m.Parts {
		head = append(head, "part_"+p)
	}
	for _, s := range m.Stats {
		head = append(head, "stat_"+s)
	}
	rows := [][]string{head}
	for _, s := range series {
		for _, p := range s.Points {
			row := []string{p.Start.In(loc).Format(time.RFC3339)}
			for _, d := range groupBy {
				row = append(row, s.Group[d])
			}
			row = append(row, float(p.Value), strconv.FormatInt(p.N, 10), float(p.Low), float(p.High),
				strconv.FormatBool(p.LowSample), strconv.FormatBool(p.Provisional))
			for _, k := range m.Parts {
				row = append(row, strconv.FormatInt(p.Parts[k], 10))
			}
			for _, k := range m.Stats {
				v, ok := p.Stats[k]
				if !ok {
					v = math.NaN()
				}
				row = append(row, float(v))
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func float(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
