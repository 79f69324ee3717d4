package metric

import "testing"

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
