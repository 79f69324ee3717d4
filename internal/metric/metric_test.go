package metric

import (
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
)

func TestNPS(t *testing.T) {
	cases := []struct {
		name string
		h    Histogram
		want NPSScore
	}{
		{"empty", Histogram{}, NPSScore{}},
		{"one detractor", Histogram{3: 1}, NPSScore{Value: -100, N: 1, Detractors: 1}},
		{"edges 6/7 and 8/9", Histogram{6: 1, 7: 1, 8: 1, 9: 1}, NPSScore{Value: 0, N: 4, Promoters: 1, Passives: 2, Detractors: 1}},
		{"all promoters", Histogram{9: 2, 10: 3}, NPSScore{Value: 100, N: 5, Promoters: 5}},
		{"thirds round to two places", Histogram{10: 1, 0: 2}, NPSScore{Value: -33.33, N: 3, Promoters: 1, Detractors: 2}},
	}
	for _, c := range cases {
		got, err := NPS(c.h)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: NPS = %+v, want %+v", c.name, got, c.want)
		}
	}
	if _, err := NPS(Histogram{11: 1}); err == nil {
		t.Error("NPS accepted a score of 11")
	}
}

func TestForBucketsByOccurredHour(t *testing.T) {
	ev := events.Interaction{
		Type: events.TypeSurveyResponded, Channel: "app",
		OccurredAt: time.Date(2026, 11, 23, 8, 59, 59, 0, time.FixedZone("x", 3600)),
		ReceivedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Attributes: map[string]any{"survey": "nps", "score": float64(3)},
	}
	incs := For(ev)
	if len(incs) != 2 {
		t.Fatalf("got %d increments, want 2", len(incs))
	}
	want := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	for _, inc := range incs {
		if !inc.Hour.Equal(want) {
			t.Errorf("%s bucket %v, want %v", inc.Family, inc.Hour, want)
		}
	}
	if incs[1].Family != FamilyNPS || incs[1].Fields["s3"] != 1 {
		t.Errorf("NPS increment = %+v", incs[1])
	}
	if got := FromFields(map[string]int64{"s3": 2, "s10": 1, "n": 5, "version": 3}); len(got) != 2 || got[3] != 2 || got[10] != 1 {
		t.Errorf("FromFields = %v", got)
	}
}
