package notify

import (
	"context"
	"log/slog"
	"time"
)

// Wake flushes the one group a wake-up names, if it is due. A wake-up
// that arrives early, twice or after the group was flushed finds it not
// due and sends nothing; the Ledger keeps a delivery racing another flush
// exactly-once.
func (s *Service) Wake(ctx context.Context, key string) error {
	return s.flush(ctx, s.now(), []string{key})
}

// wakeAt asks for a wake-up when a group saved with due falls due, so it
// is sent at that instant rather than at the next sweep. It does nothing
// when due was already asked for (was) or is not ahead of now. A wake-up
// that cannot be scheduled is logged, not returned: the group is saved
// and due, and the safety sweep (notify-flush) sends it.
func (s *Service) wakeAt(ctx context.Context, log *slog.Logger, key string, due, was, now time.Time) {
	if s.Wakeups == nil || due.IsZero() || due.Equal(was) || !due.After(now) {
		return
	}
	if err := s.Wakeups.Schedule(ctx, key, due); err != nil {
		log.Error("schedule wake-up; the sweep will send the group", "group", key, "due", due, "err", err)
	}
}
