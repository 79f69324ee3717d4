package channel

import (
	"encoding/json"
	"testing"
)

func TestProviderID(t *testing.T) {
	for in, want := range map[string]ProviderID{
		`"cus_1"`:              "cus_1",
		`820982911946154508`:   "820982911946154508", // beyond float64's exact integers
		`-1`:                   "-1",
		`1e9`:                  "1e9",
		`null`:                 "",
		`"line\nbreak \u00e9"`: "line\nbreak é",
	} {
		var got struct{ ID ProviderID }
		if err := json.Unmarshal([]byte(`{"ID":`+in+`}`), &got); err != nil || got.ID != want {
			t.Errorf("%s: %q, %v; want %q", in, got.ID, err, want)
		}
	}
	for _, in := range []string{`true`, `{"id":1}`, `[1]`} {
		var got struct{ ID ProviderID }
		if err := json.Unmarshal([]byte(`{"ID":`+in+`}`), &got); err == nil {
			t.Errorf("%s: read as %q, want an error", in, got.ID)
		}
	}
}
