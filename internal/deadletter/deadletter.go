// Package deadletter makes what lands on any dead-letter queue visible and
// recoverable: every queue's letters are listed with what they are and why
// they failed, and the bus events among them are redriven onto the bus with
// one call. Consumers are idempotent by event id, so a redriven event that
// one consumer had already handled changes nothing there.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Kinds of letter.
const (
	// KindEvent is a bus event a rule could not deliver or a function
	// failed on after its retries; redrive publishes it again.
	KindEvent = "event"
	// KindSchedule is a scheduled invocation that failed; the next run
	// catches up, so there is nothing to redrive.
	KindSchedule = "schedule"
	// KindNotification is a notification notify could not deliver; its
	// failures stay listed in /v1/failures with a note.
	KindNotification = "notification"
	// KindWebhook is an outbound webhook delivery the outbound function
	// gave up after its three days of retries; it stays listed failed in
	// /v1/outbound/deliveries, where it is replayed.
	KindWebhook = "webhook"
	KindUnknown = "unknown"
)

// Letter is one message on a dead-letter queue.
type Letter struct {
	Queue      string    `json:"queue"`
	ID         string    `json:"id"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	Receives   int       `json:"receive_count"`
	Kind       string    `json:"kind"`
	Source     string    `json:"source,omitempty"`
	DetailType string    `json:"detail_type,omitempty"`
	// EventID is the id inside the event's detail (an interaction's,
	// a failure's), which consumers dedupe on.
	EventID string `json:"event_id,omitempty"`
	Error   string `json:"error,omitempty"`
	// Body is the message as it sits on the queue.
	Body json.RawMessage `json:"body"`
	// Handle lets the queue delete this letter once redriven.
	Handle string `json:"-"`
}

// Queue is one dead-letter queue's letters.
type Queue struct {
	Name string `json:"name"`
	// Approximate is SQS's count of letters on the queue.
	Approximate int      `json:"approximate_count"`
	Letters     []Letter `json:"letters"`
}

// Queues reads and empties the dead-letter queues.
type Queues interface {
	// Peek lists up to limit letters of each queue without taking them.
	Peek(ctx context.Context, limit int) ([]Queue, error)
	// Take hides up to max letters of the named queue (all queues when
	// name is empty) from other readers while they are redriven.
	Take(ctx context.Context, name string, max int) ([]Letter, error)
	// Delete removes a letter taken with Take.
	Delete(ctx context.Context, l Letter) error
}

// envelope is an EventBridge event as queues hold it: a target DLQ holds
// the event, a Lambda on-failure record holds it as requestPayload.
type envelope struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       time.Time       `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

type onFailure struct {
	RequestPayload  *envelope `json:"requestPayload"`
	ResponsePayload struct {
		ErrorMessage string `json:"errorMessage"`
	} `json:"responsePayload"`
	RequestContext struct {
		Condition string `json:"condition"`
	} `json:"requestContext"`
}

type notification struct {
	GroupKey string `json:"group_key"`
	Receiver string `json:"receiver"`
	Phase    string `json:"phase"`
	Error    string `json:"error"`
}

// webhook is an outbound.DeadLetter.
type webhook struct {
	DeliveryID string `json:"outbound_delivery_id"`
	Endpoint   string `json:"endpoint"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	Error      string `json:"error"`
}

// describe fills in what l's body is; it returns the event to redrive,
// when it holds one.
func describe(l *Letter) *envelope {
	l.Kind = KindUnknown
	var ev envelope
	var of onFailure
	var n notification
	var wh webhook
	switch {
	case json.Unmarshal(l.Body, &of) == nil && of.RequestPayload != nil && of.RequestPayload.DetailType != "":
		ev = *of.RequestPayload
		l.Error = first(l.Error, of.ResponsePayload.ErrorMessage, of.RequestContext.Condition)
	case json.Unmarshal(l.Body, &ev) == nil && ev.DetailType != "" && ev.Source != "":
	case json.Unmarshal(l.Body, &n) == nil && n.GroupKey != "" && n.Phase != "":
		l.Kind = KindNotification
		l.Error = first(l.Error, n.Error)
		l.DetailType = "notification " + n.Phase + " to " + n.Receiver
		return nil
	case json.Unmarshal(l.Body, &wh) == nil && wh.DeliveryID != "":
		l.Kind = KindWebhook
		l.Error = first(l.Error, wh.Error)
		l.DetailType = "webhook " + wh.EventType + " to " + wh.Endpoint + " (delivery " + wh.DeliveryID + ")"
		l.EventID = wh.EventID
		return nil
	default:
		return nil
	}
	l.Source, l.DetailType = ev.Source, ev.DetailType
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(ev.Detail, &id)
	l.EventID = id.ID
	if strings.HasPrefix(ev.Source, "aws.") {
		l.Kind = KindSchedule
		return nil
	}
	l.Kind = KindEvent
	return &ev
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// Result says what a redrive did.
type Result struct {
	Redriven int      `json:"redriven"`
	Left     []Letter `json:"left"`
}

// maxRedrive bounds one call so it ends within a request's deadline; the
// caller repeats until nothing is redriven.
const maxRedrive = 100

// Redrive publishes the bus events on the named queue (every queue when
// name is empty) and deletes each once it is on the bus. Letters that are
// not bus events are left where they are and reported.
func Redrive(ctx context.Context, q Queues, pub events.Publisher, name string) (Result, error) {
	res := Result{Left: []Letter{}}
	letters, err := q.Take(ctx, name, maxRedrive)
	if err != nil {
		return res, err
	}
	for _, l := range letters {
		ev := describe(&l)
		if ev == nil {
			res.Left = append(res.Left, l)
			continue
		}
		if err := pub.Publish(ctx, events.Event{Source: ev.Source, DetailType: ev.DetailType, Detail: ev.Detail, Time: ev.Time, Resources: ev.Resources}); err != nil {
			return res, fmt.Errorf("redrive %s from %s: %w", l.ID, l.Queue, err)
		}
		if err := q.Delete(ctx, l); err != nil {
			return res, fmt.Errorf("delete redriven %s from %s: %w", l.ID, l.Queue, err)
		}
		res.Redriven++
	}
	return res, nil
}

// Page is the body of GET /v1/deadletters.
type Page struct {
	Total  int     `json:"total"`
	Queues []Queue `json:"queues"`
}

// Routes registers GET /v1/deadletters and POST /v1/deadletters/redrive.
func Routes(mux *http.ServeMux, q Queues, pub events.Publisher, guard httpauth.Guard, log *slog.Logger) {
	mux.Handle("GET /v1/deadletters", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 20
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				httpjson.Error(w, http.StatusBadRequest, "limit must be 1-100")
				return
			}
			limit = n
		}
		qs, err := q.Peek(r.Context(), limit)
		if err != nil {
			log.Error("list dead letters", "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, "could not read the dead-letter queues; try again")
			return
		}
		page := Page{Queues: qs}
		for i := range qs {
			page.Total += qs[i].Approximate
			for j := range qs[i].Letters {
				describe(&qs[i].Letters[j])
			}
		}
		httpjson.Write(w, http.StatusOK, page)
	})))
	mux.Handle("POST /v1/deadletters/redrive", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := Redrive(r.Context(), q, pub, r.URL.Query().Get("queue"))
		if errors.Is(err, ErrNoQueue) {
			httpjson.Error(w, http.StatusNotFound, err.Error())
			return
		}
		if err != nil {
			log.Error("redrive dead letters", "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		httpjson.Write(w, http.StatusOK, res)
	})))
}

// ErrNoQueue is returned for a queue name that is not a dead-letter queue.
var ErrNoQueue = errors.New("no such dead-letter queue")
