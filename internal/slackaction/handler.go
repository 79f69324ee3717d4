package slackaction

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Groups lists the failures an alert stands for.
type Groups interface {
	// Members returns the failure ids of the group with key group.
	Members(ctx context.Context, group string) ([]string, error)
}

// Lifecycle moves one failure; failure.Service is one.
type Lifecycle interface {
	Acknowledge(ctx context.Context, id, by, note string) (events.Failure, error)
	Resolve(ctx context.Context, id, by, note string) (events.Failure, error)
}

// Secrets returns the active signing secrets, the newest first or last:
// any of them verifies.
type Secrets func(ctx context.Context) ([]string, error)

// Defaults of a Handler.
const (
	// MaxBody caps a request body. A payload carries the message's blocks
	// (up to 50, form-encoded), which stays well below it.
	MaxBody = 1 << 20
	// DefaultBudget bounds the work of one press: Slack shows the presser an
	// error when the answer takes more than 3 seconds.
	DefaultBudget = 2500 * time.Millisecond
	// DefaultWorkers is how many failures of a group move at once.
	DefaultWorkers = 8
)

// Handler serves Slack's interactivity requests.
type Handler struct {
	Secrets  Secrets
	Groups   Groups
	Failures Lifecycle
	// Client posts message updates to response_url; nil means one bounded
	// by the budget alone.
	Client *http.Client
	Now    func() time.Time
	Log    *slog.Logger
	// Contacts records Contacted presses; nil refuses them.
	Contacts Contacts
	// Budget bounds one press, moves and message update together; zero
	// means DefaultBudget.
	Budget time.Duration
	// Workers bounds concurrent moves; zero means DefaultWorkers.
	Workers int
}

// ServeHTTP verifies the request, then acts on an Acknowledge or Resolve
// press. It answers 200 once the failures have moved, whether or not the
// message update reached Slack: the failure records are what count, and a
// second press is harmless. Any other interaction is answered 200 and
// ignored, as Slack expects every interaction to be acknowledged.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Error(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ct := r.Header.Get("Content-Type")
	if err := checkContentType(ct); err != nil {
		httpjson.Error(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", MaxBody))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	log := h.log().With("retry", r.Header.Get(HeaderRetryNum))
	secrets, err := h.Secrets(r.Context())
	if err != nil {
		log.Error("slack signing secret unavailable", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "signing secret unavailable")
		return
	}
	if err := Verify(r.Header, body, secrets, h.now()); err != nil {
		log.Warn("slack request refused", "err", err)
		httpjson.Error(w, http.StatusUnauthorized, "signature does not verify: "+err.Error())
		return
	}
	p, err := Parse(ct, body)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	cmd, ok, err := p.Command()
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if !ok {
		log.Debug("slack interaction ignored", "type", p.Type)
		w.WriteHeader(http.StatusOK)
		return
	}
	log = log.With("action", cmd.Action, "group", cmd.Group, "slack_user", p.User.ID, "slack_team", p.Team.ID)
	ctx, cancel := context.WithTimeout(r.Context(), h.budget())
	defer cancel()
	status, msg := h.press(ctx, log, p, cmd)
	if status != http.StatusOK {
		httpjson.Error(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// press moves the group's failures and rewrites the message.
func (h *Handler) press(ctx context.Context, log *slog.Logger, p Payload, cmd Command) (status int, msg string) {
	ids, err := h.Groups.Members(ctx, cmd.Group)
	if err != nil {
		log.Error("read alert group", "err", err)
		return http.StatusInternalServerError, "could not read the alert's failures; press again"
	}
	if len(ids) == 0 {
		log.Warn("alert group has no failures")
		h.respond(ctx, log, p.ResponseURL, ephemeral{ResponseType: "ephemeral",
			Text: "OCX has no failures for this alert any more (group " + cmd.Group + "); nothing was changed."})
		return http.StatusOK, ""
	}
	by := "slack:" + p.User.ID
	if cmd.Action == ActionContacted {
		return h.contacted(ctx, log, p, ids, by)
	}
	moved, err := h.moveAll(ctx, ids, cmd.Action, by, note(p.User))
	if err != nil {
		log.Error("move alert group", "failures", len(ids), "err", err)
		return http.StatusServiceUnavailable, "some failures of this alert were not updated; press again"
	}
	o := outcome(moved, cmd.Action, by, h.now())
	log.Info("alert group moved", "state", o.State, "failures", o.Failures)
	body, err := Rewrite(p.Message, o, cmd.BlockID, cmd.Group)
	if err != nil {
		// The failures moved; only the message stays as it was.
		log.Warn("message not rewritten", "err", err)
		return http.StatusOK, ""
	}
	h.respond(ctx, log, p.ResponseURL, json.RawMessage(body))
	return http.StatusOK, ""
}

// note records the presser's Slack name with the step, since the id alone
// means little to someone reading the history outside Slack.
func note(u User) string {
	name := u.Name
	if u.Username != "" && u.Username != u.Name {
		name = strings.TrimSpace(name + " (@" + u.Username + ")")
	}
	if name == "" {
		return "from Slack"
	}
	return "from Slack by " + name
}

// moveAll moves every failure, a few at a time. A failure that already
// moved past the target (acknowledging a resolved one) or no longer exists
// is left as it is; any other error fails the press, and what did move
// stays moved, so pressing again completes it.
func (h *Handler) moveAll(ctx context.Context, ids []string, action, by, note string) ([]events.Failure, error) {
	move := h.Failures.Acknowledge
	if action == ActionResolve {
		move = h.Failures.Resolve
	}
	out := make([]events.Failure, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, h.workers())
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f, err := move(ctx, id, by, note)
			switch {
			case err == nil, errors.Is(err, failure.ErrTransition):
				out[i] = f
			case errors.Is(err, failure.ErrNotFound):
			default:
				errs[i] = fmt.Errorf("failure %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(f events.Failure) bool { return f.ID == "" }), nil
}

// outcome is the state the group is in after the press and the recorded
// step that put it there: the group counts as resolved once every failure
// is, whichever button was pressed, and the step shown is the first
// failure's (by id), so a repeated press shows the original step.
func outcome(fs []events.Failure, action, by string, now time.Time) Outcome {
	state := failure.Acknowledged
	if action == ActionResolve || (len(fs) > 0 && all(fs, failure.Resolved)) {
		state = failure.Resolved
	}
	o := Outcome{State: state, By: by, At: now, Failures: len(fs)}
	slices.SortFunc(fs, func(a, b events.Failure) int { return strings.Compare(a.ID, b.ID) })
	for _, f := range fs {
		for i := len(f.History) - 1; i >= 0; i-- {
			if s := f.History[i]; s.State == state {
				o.By, o.At = s.By, s.At
				return o
			}
		}
	}
	return o
}

func all(fs []events.Failure, state string) bool {
	for _, f := range fs {
		if f.State != state {
			return false
		}
	}
	return true
}

// respond posts v to the interaction's response_url. A failed post is
// logged, not returned: the failures have moved, and the message only lags.
func (h *Handler) respond(ctx context.Context, log *slog.Logger, responseURL string, v any) {
	u, err := url.Parse(responseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		log.Warn("message not updated: no usable response_url")
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		log.Warn("message not updated", "err", err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		log.Warn("message not updated", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client().Do(req)
	if err != nil {
		// url.Error quotes the response_url, which lets anyone post to the
		// message for half an hour.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		log.Warn("message not updated", "err", err)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		log.Warn("message not updated", "status", resp.StatusCode, "answer", strings.TrimSpace(string(answer)))
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) budget() time.Duration {
	if h.Budget > 0 {
		return h.Budget
	}
	return DefaultBudget
}

func (h *Handler) workers() int {
	if h.Workers > 0 {
		return h.Workers
	}
	return DefaultWorkers
}

func (h *Handler) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}
