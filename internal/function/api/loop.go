package api

import (
	"context"
	"errors"
	"time"

	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/slackaction"
)

// loopGroups lets Slack's buttons on a one-failure message (a missed
// follow-up, a reminder) act on that failure; other keys are groups.
type loopGroups struct{ slackaction.Groups }

func (g loopGroups) Members(ctx context.Context, key string) ([]string, error) {
	if id, ok := notify.FailureOfGroupKey(key); ok {
		return []string{id}, nil
	}
	return g.Groups.Members(ctx, key)
}

// loopContacts records Slack's Contacted presses on the failures' loops.
type loopContacts struct{ svc *loop.Service }

func (c loopContacts) Contacted(ctx context.Context, failureID, by string) error {
	_, err := c.svc.Contacted(ctx, failureID, by)
	if errors.Is(err, loop.ErrNotFound) {
		return nil
	}
	return err
}

// failureNotes writes the loop's notes on the failure's activity.
type failureNotes struct{ svc *failure.Service }

func (n failureNotes) Note(ctx context.Context, failureID, text string, _ time.Time) error {
	_, err := n.svc.Note(ctx, failureID, text, "notify")
	return err
}
