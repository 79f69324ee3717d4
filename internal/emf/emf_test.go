package emf

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestCountWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf)
	r.now = func() time.Time { return time.UnixMilli(1700000000000) }
	r.Count("QuarantinedItems", 3, map[string]string{"channel": "stripe"})
	var rec struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Quarantined int    `json:"QuarantinedItems"`
		Channel     string `json:"channel"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	m := rec.AWS.CloudWatchMetrics[0]
	if rec.AWS.Timestamp != 1700000000000 || m.Namespace != "OCX" || m.Dimensions[0][0] != "channel" ||
		m.Metrics[0].Name != "QuarantinedItems" || rec.Quarantined != 3 || rec.Channel != "stripe" {
		t.Fatalf("record %s", buf.String())
	}
	var nilRec *Recorder
	nilRec.Count("x", 1, nil) // a nil recorder is a no-op
}
