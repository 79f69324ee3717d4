package dynamo_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/dynamo/customerstore"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/rulestore"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

// Notes and assignments live beside the failure record: writing them never
// touches the record (a lifecycle step after them still succeeds), the
// listing's assignments come in one batch, and erasing the failure's
// customer takes its notes with it.
func TestFailureNotes(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	fs := failurestore.NewFailures(c, names[topology.TableFailures])
	notes, outbox := failurestore.NewNotebook(c, names[topology.TableFailures]), failurestore.NewOutbox(c, names[topology.TableFailures])
	st := rulestore.NewRuleState(c, names[topology.TableRules], names[topology.TableFailures])
	a, b := ruleFailure("flr_000000000000000000000001", ruleT0), ruleFailure("flr_000000000000000000000002", ruleT0.Add(time.Minute))
	a.CustomerID = "cus_0a"
	if err := st.Commit(ctx, rules.Commit{Failures: []events.Failure{a, b}}); err != nil {
		t.Fatal(err)
	}
	now := ruleT0.Add(time.Hour)
	svc := &failure.Service{Store: fs, Notebook: notes, Now: func() time.Time { return now },
		Announcer: &failure.Announcer{Outbox: outbox, Bus: &ruleBus{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	if _, err := svc.Assign(ctx, a.ID, "Dana", "console:Lead"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := svc.Note(ctx, a.ID, "called back", "console:Dana"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := svc.Assign(ctx, a.ID, "Sam", "console:Dana"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Note(ctx, "flr_000000000000000000000009", "x", "y"); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("a note on no failure: %v", err)
	}
	if _, err := svc.Acknowledge(ctx, a.ID, "console:Sam", ""); err != nil {
		t.Fatalf("acknowledge after notes: %v", err)
	}
	d, err := svc.Detail(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != failure.Acknowledged || len(d.Activity) != 3 || d.Activity[1].Text != "called back" ||
		d.Assignment == nil || d.Assignment.Assignee != "Sam" || !d.Assignment.At.Equal(ruleT0.Add(time.Hour+2*time.Minute)) {
		t.Fatalf("detail %+v", d)
	}
	as, err := notes.Assignments(ctx, []string{a.ID, b.ID, a.ID})
	if err != nil || len(as) != 1 || as[a.ID].Assignee != "Sam" {
		t.Fatalf("assignments %+v, %v", as, err)
	}
	// Unassigning leaves no current assignment.
	if _, err := svc.Assign(ctx, a.ID, "", "console:Sam"); err != nil {
		t.Fatal(err)
	}
	if as, _ := notes.Assignments(ctx, []string{a.ID}); len(as) != 0 {
		t.Fatalf("after unassigning: %+v", as)
	}
	cf := customerstore.NewCustomerFailures(c, names[topology.TableFailures])
	cf.Now = func() time.Time { return now }
	if n, err := cf.Erase(ctx, customer.Subject{CustomerIDs: []string{"cus_0a"}}); err != nil || n != 1 {
		t.Fatalf("erase: %d, %v", n, err)
	}
	if acts, err := notes.Activity(ctx, a.ID); err != nil || len(acts) != 0 {
		t.Fatalf("notes left after erasure: %+v, %v", acts, err)
	}
	if acts, err := notes.Activity(ctx, b.ID); err != nil || len(acts) != 0 {
		t.Fatalf("b: %+v, %v", acts, err)
	}
}
