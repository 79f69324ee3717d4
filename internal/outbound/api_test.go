package outbound

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/topology"
)

// Every outbound route's real answers, success and refusal alike, match
// the API's OpenAPI document, and the mutating ones are an operator's.
func TestRoutesMatchOpenAPI(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(int, []byte) (int, http.Header) { return http.StatusBadGateway, nil })
	ctx := context.Background()
	if err := f.svc.Handle(ctx, f.event("ev1")); err != nil {
		t.Fatal(err)
	}
	id := DeliveryID("crm", "ev1")
	mux := http.NewServeMux()
	guard := httpauth.Guard{Token: "op", AnalystToken: "an", OperatorRoutes: topology.OperatorRoutes()}
	Routes(mux, f.admin, guard)

	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/outbound/endpoints", "an", 200},
		{"GET", "/v1/outbound/endpoints", "", 401},
		{"GET", "/v1/outbound/deliveries?endpoint=crm", "an", 200},
		{"GET", "/v1/outbound/deliveries?endpoint=crm&status=pending&limit=5", "an", 200},
		{"GET", "/v1/outbound/deliveries?endpoint=nope", "an", 400},
		{"GET", "/v1/outbound/deliveries?endpoint=crm&status=lost", "an", 400},
		{"GET", "/v1/outbound/deliveries/" + id, "an", 200},
		{"GET", "/v1/outbound/deliveries/msg_nope", "an", 404},
		{"POST", "/v1/outbound/endpoints/crm/enable", "an", 403},
		{"POST", "/v1/outbound/endpoints/crm/enable", "op", 200},
		{"POST", "/v1/outbound/endpoints/nope/enable", "op", 404},
		{"POST", "/v1/outbound/endpoints/crm/replay-failed", "an", 403},
		{"POST", "/v1/outbound/endpoints/crm/replay-failed", "op", 202},
		{"POST", "/v1/outbound/deliveries/" + id + "/replay", "op", 202},
		{"POST", "/v1/outbound/deliveries/msg_nope/replay", "op", 404},
	} {
		req := httptest.NewRequest(c.method, "http://ocx.example"+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		body, _ := io.ReadAll(w.Body)
		if w.Code != c.want {
			t.Errorf("%s %s as %q: %d, want %d: %s", c.method, c.path, c.token, w.Code, c.want, body)
			continue
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in openapi.json: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if w.Code < 400 {
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				t.Errorf("%s %s: request: %v", c.method, c.path, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code, Header: w.Header(),
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(bytes.Clone(body))
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s %s (%d): %v\n%s", c.method, c.path, w.Code, err, body)
		}
	}
	// Every route this package mounts is in topology, served by the API.
	for _, p := range []string{"GET /v1/outbound/endpoints", "POST /v1/outbound/endpoints/{id}/enable", "POST /v1/outbound/endpoints/{id}/replay-failed",
		"GET /v1/outbound/deliveries", "GET /v1/outbound/deliveries/{id}", "POST /v1/outbound/deliveries/{id}/replay"} {
		method, path, _ := strings.Cut(p, " ")
		found := false
		for _, r := range topology.Routes {
			if r.Method == method && r.Path == path && r.Target == topology.API && r.Auth == topology.Analyst {
				found = r.Operator == (method == "POST")
			}
		}
		if !found {
			t.Errorf("%s: not an analyst route of the API in topology (operator-only when it changes something)", p)
		}
	}
}
