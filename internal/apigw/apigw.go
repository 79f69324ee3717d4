// Package apigw translates between API Gateway HTTP API events (payload
// format 2.0) and net/http, in both directions: Lambda hands the event to
// an http.Handler (Handler), and the local stack builds the event from a
// real HTTP request the way API Gateway does (Event) and writes the
// function's answer back (Write).
//
// It replaces aws-lambda-go-api-proxy's httpadapter, which splits every
// header value on commas: API Gateway joins repeated headers with commas,
// so a single header that itself holds commas (Stripe-Signature,
// webhook-signature) cannot be told apart from repeated ones, and the
// adapter cut signatures short. Here a header value reaches the handler
// byte for byte as API Gateway delivered it.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

type contextKey struct{}

// RequestContext returns the API Gateway request context of a request
// translated by Request, and whether there is one.
func RequestContext(ctx context.Context) (events.APIGatewayV2HTTPRequestContext, bool) {
	rc, ok := ctx.Value(contextKey{}).(events.APIGatewayV2HTTPRequestContext)
	return rc, ok
}

// RequestIDHeader carries API Gateway's request id into the handler, so
// logs and error answers can name it.
const RequestIDHeader = "X-Request-Id"

// Request builds the http.Request an API Gateway 2.0 event describes.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = b
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("event has no requestContext.http.method")
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		// API Gateway's paths are absolute; "*" or "x" would reach
		// net/http's server-wide and relative forms instead of a route.
		return nil, fmt.Errorf("path %q is not absolute", path)
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	// RawPath keeps the path's bytes as sent (%2F, !) for handlers that
	// read EscapedPath.
	if unescaped, err := url.PathUnescape(path); err == nil {
		u.Path, u.RawPath = unescaped, path
	}
	r, err := http.NewRequestWithContext(context.WithValue(ctx, contextKey{}, ev.RequestContext), method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	// Set, not parsed: a path such as //x is a path here, not a host.
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Proto = ev.RequestContext.HTTP.Protocol
	if major, minor, ok := http.ParseHTTPVersion(r.Proto); ok {
		r.ProtoMajor, r.ProtoMinor = major, minor
	} else {
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	}
	r.Header = make(http.Header, len(ev.Headers)+2)
	for k, v := range ev.Headers {
		// One value, as delivered: never split on commas.
		r.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	if ev.RequestContext.RequestID != "" && r.Header.Get(RequestIDHeader) == "" {
		r.Header.Set(RequestIDHeader, ev.RequestContext.RequestID)
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.URL.Host = r.Host
	r.ContentLength = int64(len(body))
	r.Header.Del("Content-Length")
	if len(body) > 0 {
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		r.RemoteAddr = ip + ":0"
	}
	for k, v := range ev.PathParameters {
		r.SetPathValue(k, v)
	}
	return r, nil
}

// Handler adapts an http.Handler to API Gateway 2.0 events.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := Request(ctx, ev)
		if err != nil {
			// An event API Gateway could not have built: answer as a
			// client error rather than failing the invocation.
			return errorResponse(http.StatusBadRequest, err.Error()), nil
		}
		w := NewRecorder()
		h.ServeHTTP(w, r)
		return w.Response(), nil
	}
}

func errorResponse(status int, msg string) events.APIGatewayV2HTTPResponse {
	body := fmt.Sprintf(`{"error":{"status":%d,"message":%s}}`, status, strconv.Quote(msg))
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
}

// Recorder is the http.ResponseWriter a Lambda invocation writes into.
type Recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{header: http.Header{}} }

// Header implements http.ResponseWriter.
func (w *Recorder) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter; the first call wins.
func (w *Recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// Write implements http.ResponseWriter.
func (w *Recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Response is the API Gateway 2.0 response for what was written: cookies
// in their own field, repeated headers joined with commas, a body that is
// not text base64-encoded.
func (w *Recorder) Response() events.APIGatewayV2HTTPResponse {
	w.WriteHeader(http.StatusOK)
	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	ct := w.header.Get("Content-Type")
	if ct == "" && w.body.Len() > 0 {
		ct = http.DetectContentType(w.body.Bytes())
		w.header.Set("Content-Type", ct)
	}
	for k, vs := range w.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ",")
	}
	if w.body.Len() > 0 {
		if IsText(ct) && utf8.Valid(w.body.Bytes()) {
			resp.Body = w.body.String()
		} else {
			resp.Body = base64.StdEncoding.EncodeToString(w.body.Bytes())
			resp.IsBase64Encoded = true
		}
	}
	return resp
}

// IsText reports whether API Gateway passes a body of this content type as
// text rather than base64: text/*, JSON, XML and JavaScript. Everything
// else — a missing type and application/x-www-form-urlencoded included —
// arrives base64-encoded.
func IsText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/xml", mt == "application/javascript":
		return true
	case strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}

// EventOptions describe the API and route a request arrives on.
type EventOptions struct {
	// RouteKey is "METHOD /path/{param}" (or "$default").
	RouteKey string
	// PathParameters are the route's parameters taken from the path.
	PathParameters map[string]string
	// RequestID, AccountID, APIID, Stage and DomainName fill the request
	// context; TimeEpochMillis is when API Gateway received the request.
	RequestID       string
	AccountID       string
	APIID           string
	Stage           string
	TimeEpochMillis int64
	// SourceIP is the caller's address.
	SourceIP string
}

// Event builds the 2.0 event API Gateway sends for r: header names
// lowercased, repeated headers joined with commas, cookies moved to their
// own field, a body that is not text base64-encoded, the forwarding headers
// API Gateway adds.
func Event(r *http.Request, body []byte, o EventOptions) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       o.RouteKey,
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		PathParameters: o.PathParameters,
	}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	if len(body) > 0 || r.ContentLength > 0 {
		ev.Headers["content-length"] = strconv.Itoa(len(body))
	}
	host, port := r.Host, "80"
	if h, p, ok := strings.Cut(r.Host, ":"); ok {
		host, port = h, p
	}
	proto := "http"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	ev.Headers["x-forwarded-for"] = joinNonEmpty(ev.Headers["x-forwarded-for"], o.SourceIP)
	ev.Headers["x-forwarded-port"] = port
	ev.Headers["x-forwarded-proto"] = proto
	ev.Headers["x-amzn-trace-id"] = traceID(o.TimeEpochMillis, o.RequestID)
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if IsText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	ev.RequestContext = events.APIGatewayV2HTTPRequestContext{
		RouteKey:     o.RouteKey,
		AccountID:    o.AccountID,
		Stage:        o.Stage,
		RequestID:    o.RequestID,
		APIID:        o.APIID,
		DomainName:   host,
		DomainPrefix: strings.Split(host, ".")[0],
		TimeEpoch:    o.TimeEpochMillis,
		Time:         timeString(o.TimeEpochMillis),
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method:    r.Method,
			Path:      r.URL.EscapedPath(),
			Protocol:  r.Proto,
			SourceIP:  o.SourceIP,
			UserAgent: r.UserAgent(),
		},
	}
	return ev
}

// traceID is an X-Ray trace header: epoch seconds in hex and 96 bits of
// the request id.
func traceID(epochMillis int64, requestID string) string {
	hex := strings.ReplaceAll(requestID, "-", "")
	hex = (hex + strings.Repeat("0", 24))[:24]
	return fmt.Sprintf("Root=1-%08x-%s", epochMillis/1000, hex)
}

// timeString is the request context's time, as API Gateway writes it.
func timeString(epochMillis int64) string {
	return time.UnixMilli(epochMillis).UTC().Format("02/Jan/2006:15:04:05 -0700")
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

// Write sends an API Gateway 2.0 response to a client as API Gateway does:
// headers as given, each cookie a Set-Cookie header, a base64 body decoded.
func Write(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("decode base64 response body: %w", err)
		}
		body = b
	}
	keys := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		w.Header().Set(k, resp.Headers[k])
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if len(body) == 0 {
		return nil
	}
	_, err := w.Write(body)
	return err
}
