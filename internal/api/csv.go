package api

import (
	"encoding/csv"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/lazyregexp"
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

// writeCSV writes rows with every cell made safe to open in a spreadsheet.
func writeCSV(w http.ResponseWriter, filename string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+filename+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	for _, row := range rows {
		_ = cw.Write(SafeRow(row))
	}
	cw.Flush()
}

// SafeRow neutralises each cell of row (see SafeCell), in a new slice.
func SafeRow(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = SafeCell(c)
	}
	return out
}

// SafeCell keeps a cell from being read as a formula by a spreadsheet
// (CSV or formula injection): a cell starting with =, +, -, @, tab,
// carriage return or NUL gets a leading single quote, as OWASP advises, so
// Excel, LibreOffice and Sheets show it as text. Values such as a plan
// set through a webhook reach exports verbatim otherwise. A plain number
// ("-12.5", "-100") is left alone: it is data, and the figures must stay
// numeric for whoever charts them.
func SafeCell(c string) string {
	if c == "" || !strings.ContainsRune("=+-@\t\r\x00", rune(c[0])) || plainNumber.MatchString(c) {
		return c
	}
	return "'" + c
}

// plainNumber is a decimal number as strconv formats one, and nothing else.
var plainNumber = lazyregexp.New(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

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
