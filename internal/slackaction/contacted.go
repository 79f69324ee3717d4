package slackaction

import (
	"context"
	"log/slog"
	"net/http"
)

// Contacts records that someone reached a failure's customer
// (internal/loop's Contacted).
type Contacts interface {
	Contacted(ctx context.Context, failureID, by string) error
}

// contacted records a Contacted press for each failure of the alert and
// tells the presser, privately; the alert itself stays as it is.
func (h *Handler) contacted(ctx context.Context, log *slog.Logger, p Payload, ids []string, by string) (int, string) {
	if h.Contacts == nil {
		return http.StatusNotImplemented, "contacts are not recorded here"
	}
	for _, id := range ids {
		if err := h.Contacts.Contacted(ctx, id, by); err != nil {
			log.Error("record contact", "failure_id", id, "err", err)
			return http.StatusServiceUnavailable, "the contact was not recorded; press again"
		}
	}
	log.Info("customer contact recorded", "failures", len(ids))
	h.respond(ctx, log, p.ResponseURL, ephemeral{ResponseType: "ephemeral",
		Text: "Recorded that <@" + p.User.ID + "> reached the customer; the follow-up is met."})
	return http.StatusOK, ""
}
