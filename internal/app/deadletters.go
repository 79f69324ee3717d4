package app

import (
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/deadletter"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/queue"
	"github.com/ocxhq/ocx/internal/topology"
)

// deadLetterRoutes serves GET /v1/deadletters and POST
// /v1/deadletters/redrive over the queues OCX_DEAD_LETTER_QUEUES names.
func (d Deps) deadLetterRoutes(mux *http.ServeMux, guard httpauth.Guard) error {
	pub, err := d.publisher()
	if err != nil {
		return err
	}
	var names []string
	for _, q := range strings.Split(d.Getenv(topology.EnvDeadLetterQueues), ",") {
		if q = strings.TrimSpace(q); q != "" {
			names = append(names, q)
		}
	}
	deadletter.Routes(mux, queue.NewDeadLetters(sqs.NewFromConfig(d.AWS), names), pub, guard, d.Log)
	return nil
}
