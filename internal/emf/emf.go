// Package emf writes CloudWatch Embedded Metric Format records: one JSON
// log line that CloudWatch turns into a metric, with no API call on the hot
// path.
package emf

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace of every OCX metric.
const Namespace = "OCX"

// Recorder writes metrics to a log stream.
type Recorder struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

// New returns a recorder writing to out (the function's stdout in Lambda).
func New(out io.Writer) *Recorder { return &Recorder{out: out, now: time.Now} }

// Count records n occurrences of name with the given dimensions.
func (r *Recorder) Count(name string, n int, dims map[string]string) {
	if r == nil {
		return
	}
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rec := map[string]any{
		"_aws": map[string]any{
			"Timestamp": r.now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  Namespace,
				"Dimensions": [][]string{keys},
				"Metrics":    []any{map[string]string{"Name": name, "Unit": "Count"}},
			}},
		},
		name: n,
	}
	for k, v := range dims {
		rec[k] = v
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.out.Write(append(b, '\n'))
}
