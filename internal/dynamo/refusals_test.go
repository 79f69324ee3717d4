package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"

	"github.com/ocxhq/ocx/internal/dynamo/journeystore"

	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

// Refusals are kept once per cause and listed newest first, a page at a
// time; a cursor this listing did not issue is refused.
func TestRefusalsAreListedNewestFirst(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := journeystore.NewRefusals(c, names[topology.TableCustomers])
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i, id := range []string{"ref_a", "ref_b", "ref_c"} {
		r := journey.Refusal{ID: id, At: at.Add(time.Duration(i) * time.Minute), CauseEvent: "evt_" + id, Channel: "stripe",
			What: "link", Customers: []string{"cus_1"}, Kinds: []string{"email"}}
		for range 2 { // a redelivered cause
			if err := st.Refuse(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	page, next, err := st.Refused(ctx, "", 2)
	if err != nil || len(page) != 2 || page[0].ID != "ref_c" || page[1].ID != "ref_b" || next == "" {
		t.Fatalf("first page %+v next %q: %v", page, next, err)
	}
	rest, next, err := st.Refused(ctx, next, 2)
	if err != nil || len(rest) != 1 || rest[0].ID != "ref_a" || rest[0].Kinds[0] != "email" || next != "" {
		t.Fatalf("second page %+v next %q: %v", rest, next, err)
	}
	if _, _, err := st.Refused(ctx, dynamo.EncodeCursor(dynamo.ItemKey("badrow#x", "badrow")), 2); !errors.Is(err, journey.ErrBadCursor) {
		t.Fatalf("a foreign cursor: %v", err)
	}
}
