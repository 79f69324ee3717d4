package app

import (
	"context"
	"time"

	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/notify"
)

// failureNotes writes notify's notes (an undeliverable notification) on
// the failure's activity, as "notify".
type failureNotes struct{ svc *failure.Service }

var _ notify.FailureNotes = failureNotes{}

func (n failureNotes) Note(ctx context.Context, failureID, text string, _ time.Time) error {
	_, err := n.svc.Note(ctx, failureID, text, "notify")
	return err
}
