package motoserver

import (
	"encoding/json"
	"strings"
	"testing"
)

// Item sizes as DynamoDB counts them, so puts are priced by the KB.
func TestItemSize(t *testing.T) {
	for _, c := range []struct {
		item string
		want int
	}{
		{`{"pk":{"S":"abc"}}`, 2 + 3},
		{`{"n":{"N":"12345"}}`, 1 + 4},
		{`{"ok":{"BOOL":true},"z":{"NULL":true}}`, 2 + 1 + 1 + 1},
		{`{"l":{"L":[{"S":"ab"},{"N":"1"}]}}`, 1 + 3 + (1 + 2) + (1 + 2)},
		{`{"m":{"M":{"k":{"S":"v"}}}}`, 1 + 3 + (1 + 1 + 1)},
		{`{"ss":{"SS":["a","bc"]}}`, 2 + 3},
	} {
		var item map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.item), &item); err != nil {
			t.Fatal(err)
		}
		if got := ItemSize(item); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.item, got, c.want)
		}
	}
	big := `{"Item":{"pk":{"S":"` + strings.Repeat("x", 1500) + `"}}}`
	if u := writeUnits([]byte(big)); u != 2 {
		t.Errorf("a 1.5 KB put: %d units, want 2", u)
	}
	if u := writeUnits([]byte(`{"Key":{"pk":{"S":"a"}},"UpdateExpression":"SET x = :x"}`)); u != 1 {
		t.Errorf("an update: %d units, want 1", u)
	}
}
