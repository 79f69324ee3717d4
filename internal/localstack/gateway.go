package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/apigw"
	"github.com/ocxhq/ocx/internal/topology"
)

// Limits API Gateway and Lambda put on a request, reproduced locally.
const (
	// MaxRequestBody is the HTTP API's payload limit.
	MaxRequestBody = 10 << 20
	// MaxInvokePayload is Lambda's limit on a synchronous invocation's
	// request and response.
	MaxInvokePayload = 6 << 20
	// IntegrationTimeout is the HTTP API's limit on waiting for Lambda.
	IntegrationTimeout = 30 * time.Second
)

// Account and Region are what the local stack reports as its AWS account
// and region in the events it builds.
const (
	Account = "000000000000"
	Region  = "us-east-1"
)

// gateway plays API Gateway's HTTP API (payload format 2.0): it matches
// topology.Routes as API Gateway matches routes, builds the event API
// Gateway builds, invokes the route's function through its Lambda handler
// and writes the response as API Gateway does. What API Gateway answers
// itself (no route, too large, function error, timeout) it answers the
// same way.
type gateway struct {
	functions map[string]*lambdaFunction
	now       func() time.Time
	log       *slog.Logger
}

// match finds the route for method and path: literal segments beat
// parameters, as API Gateway prefers the most specific route.
func match(method, path string) (topology.Route, map[string]string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var best *topology.Route
	var bestParams map[string]string
	bestLiterals := -1
	for i := range topology.Routes {
		r := topology.Routes[i]
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		rs := strings.Split(strings.Trim(r.Path, "/"), "/")
		params, literals, ok := matchSegments(rs, segs)
		if ok && literals > bestLiterals {
			best, bestParams, bestLiterals = &topology.Routes[i], params, literals
		}
	}
	if best == nil {
		return topology.Route{}, nil, false
	}
	return *best, bestParams, true
}

func matchSegments(route, path []string) (map[string]string, int, bool) {
	params := map[string]string{}
	literals := 0
	for i, rs := range route {
		if strings.HasPrefix(rs, "{") && strings.HasSuffix(rs, "+}") {
			if i >= len(path) {
				return nil, 0, false
			}
			params[strings.TrimSuffix(rs[1:], "+}")] = strings.Join(path[i:], "/")
			return params, literals, true
		}
		if i >= len(path) {
			return nil, 0, false
		}
		if strings.HasPrefix(rs, "{") && strings.HasSuffix(rs, "}") {
			if path[i] == "" {
				return nil, 0, false
			}
			params[rs[1:len(rs)-1]] = path[i]
			continue
		}
		if rs != path[i] {
			return nil, 0, false
		}
		literals++
	}
	if len(route) != len(path) {
		return nil, 0, false
	}
	if len(params) == 0 {
		params = nil
	}
	return params, literals, true
}

// apiGatewayError is how API Gateway itself answers: {"message": …}.
func apiGatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Apigw-Requestid", newID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, params, ok := match(r.Method, r.URL.EscapedPath())
	if !ok {
		apiGatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	fn := g.functions[rt.Target]
	if fn == nil {
		apiGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		apiGatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxRequestBody {
		apiGatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	reqID := newID()
	ev := apigw.Event(r, body, apigw.EventOptions{
		RouteKey: rt.Method + " " + rt.Path, PathParameters: params, RequestID: reqID,
		AccountID: Account, APIID: "local", Stage: "$default", TimeEpochMillis: g.now().UnixMilli(), SourceIP: ip,
	})
	payload, err := json.Marshal(ev)
	if err != nil {
		apiGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(payload) > MaxInvokePayload {
		apiGatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), IntegrationTimeout)
	defer cancel()
	out, err := fn.invoke(ctx, payload)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
			// API Gateway stopped waiting before the function answered.
			apiGatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		g.log.Error("function error", "function", fn.name, "request_id", reqID, "err", err)
		apiGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(out) > MaxInvokePayload {
		g.log.Error("response over Lambda's payload limit", "function", fn.name, "bytes", len(out))
		apiGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	resp, err := response(out)
	if err != nil {
		g.log.Error("malformed Lambda response", "function", fn.name, "request_id", reqID, "err", err)
		apiGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	w.Header().Set("Apigw-Requestid", reqID)
	if err := apigw.Write(w, resp); err != nil {
		g.log.Error("write response", "function", fn.name, "request_id", reqID, "err", err)
	}
}

// response reads a function's answer as API Gateway 2.0 does: an object
// with statusCode is a response; any other JSON is the body of a 200.
func response(out []byte) (lambdaevents.APIGatewayV2HTTPResponse, error) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(out, &probe) == nil {
		if _, ok := probe["statusCode"]; ok {
			var resp lambdaevents.APIGatewayV2HTTPResponse
			err := json.Unmarshal(out, &resp)
			return resp, err
		}
	}
	if !json.Valid(out) {
		return lambdaevents.APIGatewayV2HTTPResponse{}, errors.New("not JSON")
	}
	return lambdaevents.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: map[string]string{"content-type": "application/json"}, Body: string(out)}, nil
}
