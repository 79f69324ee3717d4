// Package channeltest holds what the tests of every channel kind check the
// same way: fixtures, requests, drafts against the event schemas, Verify
// against valid, tampered, stale, wrong and rotated secrets, a Signer
// against its own Verify, and what a fuzz target holds a kind to. Only
// _test.go files import it. A new kind's tests start from
//
//	func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }
//	func TestSigner(t *testing.T)     { channeltest.SignerRoundTrip(t, Scheme{}, request(...)) }
//	func TestVerify(t *testing.T) {
//		s := channeltest.Signing{Sign: ..., Body: ..., Secret: ..., Other: ..., At: ..., Tolerance: Tolerance}
//		channeltest.Verify(t, Scheme{}, s, s.Case("published vector", ..., nil), ...)
//	}
//
// then check each fixture with ParseOne (which also matches the draft
// against its schema), rejects with RejectsWhole, and fuzz with
// Invariants.Check; the provider's published vectors and library
// cross-checks stay in the kind's own tests.
package channeltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/events/schema"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/identity"
)

// Fixture returns the contents of testdata/name.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Fixtures returns the names of the files in testdata that match pattern
// ("*.json"), sorted. It fails when there are none.
func Fixtures(t testing.TB, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures testdata/%s: %v", pattern, err)
	}
	for i, p := range paths {
		paths[i] = filepath.Base(p)
	}
	return paths
}

// Request is a request carrying body and the headers given as name, value
// pairs; a pair with an empty value is left out.
func Request(body []byte, header ...string) channel.Request {
	if len(header)%2 != 0 {
		panic("channeltest.Request: headers must be name, value pairs")
	}
	h := http.Header{}
	for i := 0; i < len(header); i += 2 {
		if header[i+1] != "" {
			h.Set(header[i], header[i+1])
		}
	}
	return channel.Request{Header: h, Body: body}
}

// Registered checks that kind is registered and that its factory accepts
// opts but not opts with an option it does not know.
func Registered(t *testing.T, kind string, opts channel.Options) {
	t.Helper()
	f, ok := channel.Lookup(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	if _, err := f(opts); err != nil {
		t.Fatalf("options %v: %v", opts, err)
	}
	unknown := channel.Options{"no-such-option": "x"}
	maps.Copy(unknown, opts)
	if _, err := f(unknown); err == nil {
		t.Fatalf("options %v: an unknown option was accepted", unknown)
	}
}

// Build builds a kind with factory f from opts, failing when f refuses
// them.
func Build[K channel.Kind](t testing.TB, f channel.Factory, opts channel.Options) K {
	t.Helper()
	k, err := f(opts)
	if err != nil {
		t.Fatal(err)
	}
	return k.(K)
}

var schemas = sync.OnceValues(schema.Compile)

// MatchSchemas checks that what ingest publishes from each of d's drafts is
// valid against the schema of its type in events/schemas.
func MatchSchemas(t testing.TB, d channel.Delivery) {
	t.Helper()
	compiled, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == "" {
		d.ID = "sha256:0" // ingest hashes the body of a delivery without an id
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, in := range canonical(d, now) {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("%s draft does not marshal: %v", in.Type, err)
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		s, ok := compiled[in.Type]
		if !ok {
			t.Errorf("no schema events/schemas/%s.json", in.Type)
			continue
		}
		if err := s.Validate(doc); err != nil {
			t.Errorf("%s does not match its schema: %v\n%s", in.Type, err, b)
		}
	}
}

// canonical is what ingest publishes for d's drafts, built here rather than
// by importing ingest (which imports kinds): a deterministic id, the
// draft's fields with identity values normalised, provenance.
func canonical(d channel.Delivery, now time.Time) []events.Interaction {
	out := make([]events.Interaction, len(d.Events))
	for i, dr := range d.Events {
		at := dr.OccurredAt
		if at.IsZero() {
			at = now
		}
		attrs := dr.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		c := dr.Customer
		if e := identity.Email(c.Email); e != "" {
			c.Email = e
		}
		if p := identity.Phone(c.Phone); p != "" {
			c.Phone = p
		}
		out[i] = events.Interaction{
			ID: "evt_0123456789abcdef0123456789", Type: dr.Type, Channel: "test",
			OccurredAt: at.UTC(), ReceivedAt: now, Customer: c, Attributes: attrs,
			DeliveryID: d.ID, Raw: "s3://ocx-test/raw/test/x.json",
		}
	}
	return out
}

// ParseOne checks that k maps req to one draft and no rejects, and that the
// draft matches its event schema. It returns the delivery and the draft.
func ParseOne(t testing.TB, k channel.Kind, req channel.Request) (channel.Delivery, channel.Draft) {
	t.Helper()
	d, err := k.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || len(d.Rejects) != 0 {
		t.Fatalf("%d events, rejects %+v; want one event", len(d.Events), d.Rejects)
	}
	MatchSchemas(t, d)
	return d, d.Events[0]
}

// RejectsWhole checks that k maps req to no events and one reject of the
// whole body (index 0) for a reason containing reason. It returns the
// delivery.
func RejectsWhole(t testing.TB, k channel.Kind, req channel.Request, reason string) channel.Delivery {
	t.Helper()
	d, err := k.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 0 || len(d.Rejects) != 1 {
		t.Fatalf("%d events, rejects %+v; want one reject", len(d.Events), d.Rejects)
	}
	if r := d.Rejects[0]; r.Index != 0 || !strings.Contains(r.Reason, reason) || !bytes.Equal(r.Item, req.Body) {
		t.Fatalf("reject %d %q of %.40q, want index 0, reason containing %q, the whole body", r.Index, r.Reason, r.Item, reason)
	}
	return d
}

// IgnoresOne checks that k answers req with nothing but one item ignored
// on purpose, of provider type typ.
func IgnoresOne(t testing.TB, k channel.Kind, req channel.Request, typ string) channel.Delivery {
	t.Helper()
	d, err := k.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 0 || len(d.Rejects) != 0 || len(d.Ignored) != 1 || d.Ignored[0].Type != typ {
		t.Fatalf("%d events, rejects %+v, ignored %+v; want %s ignored", len(d.Events), d.Rejects, d.Ignored, typ)
	}
	return d
}

// Documented checks that docs/channels.md names every provider event type
// of types (as `type`), so the catalogue an operator reads is the one the
// code applies.
func Documented(t testing.TB, types ...string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "channels.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range types {
		if !bytes.Contains(doc, []byte("`"+typ+"`")) {
			t.Errorf("docs/channels.md does not list `%s`", typ)
		}
	}
}

// Malformed checks that k refuses to parse req with an error wrapping
// ErrMalformed.
func Malformed(t testing.TB, k channel.Kind, req channel.Request) {
	t.Helper()
	if _, err := k.Parse(req); !errors.Is(err, channel.ErrMalformed) {
		t.Errorf("Parse(%q) = %v, want ErrMalformed", req.Body, err)
	}
}

// VerifyCase is a request Verify must accept (Want nil) or refuse with an
// error wrapping Want.
type VerifyCase struct {
	Name    string
	Req     channel.Request
	Secrets []string
	Now     time.Time
	Want    error
}

// Signing says how a test signs a kind's requests, from which Verify builds
// the cases every kind must get right.
type Signing struct {
	// Sign returns a request carrying body, signed at the given time with
	// the key Secret verifies.
	Sign func(body []byte, at time.Time) channel.Request
	// Body is what the shared cases sign.
	Body []byte
	// Secret verifies what Sign signs; Other is a well-formed secret that
	// does not.
	Secret, Other string
	// At is when the shared cases sign and, unless a case says otherwise,
	// verify.
	At time.Time
	// Tolerance is how far the signed time may be from now; zero for a
	// scheme that signs no time.
	Tolerance time.Duration
	// Tamper changes a signed body; nil puts a space in front of it.
	Tamper func(body []byte) []byte
}

// Case is a case verified with Secret at At.
func (s Signing) Case(name string, req channel.Request, want error) VerifyCase {
	return VerifyCase{Name: name, Req: req, Secrets: []string{s.Secret}, Now: s.At, Want: want}
}

// cases are the shared cases: a valid signature, secret rotation, a
// tampered body, a wrong secret, no secret, and the replay window.
func (s Signing) cases(t *testing.T) []VerifyCase {
	t.Helper()
	good := s.Sign(s.Body, s.At)
	tamper := s.Tamper
	if tamper == nil {
		tamper = func(b []byte) []byte { return append([]byte(" "), b...) }
	}
	tampered := good
	if tampered.Body = tamper(bytes.Clone(good.Body)); bytes.Equal(tampered.Body, good.Body) {
		t.Fatal("Tamper leaves the body as it is")
	}
	cases := []VerifyCase{
		s.Case("valid", good, nil),
		{Name: "rotated: old and new secrets active", Req: good, Secrets: []string{s.Other, s.Secret}, Now: s.At},
		s.Case("tampered body", tampered, channel.ErrSignature),
		{Name: "wrong secret", Req: good, Secrets: []string{s.Other}, Now: s.At, Want: channel.ErrSignature},
		{Name: "no secrets", Req: good, Now: s.At, Want: channel.ErrSignature},
	}
	if s.Tolerance == 0 {
		return append(cases, VerifyCase{Name: "no signed time: verifies a month later", Req: good, Secrets: []string{s.Secret}, Now: s.At.AddDate(0, 1, 0)})
	}
	return append(cases,
		VerifyCase{Name: "just inside tolerance", Req: good, Secrets: []string{s.Secret}, Now: s.At.Add(s.Tolerance)},
		VerifyCase{Name: "stale", Req: good, Secrets: []string{s.Secret}, Now: s.At.Add(s.Tolerance + time.Second), Want: channel.ErrStale},
		VerifyCase{Name: "from the future", Req: good, Secrets: []string{s.Secret}, Now: s.At.Add(-s.Tolerance - time.Second), Want: channel.ErrStale},
	)
}

// Verify runs the shared cases for s, then cases, against k, each as a
// subtest. No error may contain a secret of any case.
func Verify(t *testing.T, k channel.Kind, s Signing, cases ...VerifyCase) {
	t.Helper()
	all := append(s.cases(t), cases...)
	var secrets []string
	for _, c := range all {
		for _, secret := range c.Secrets {
			if secret != "" {
				secrets = append(secrets, secret)
			}
		}
	}
	for _, c := range all {
		t.Run(c.Name, func(t *testing.T) {
			err := k.Verify(c.Req, c.Secrets, c.Now)
			if c.Want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Want != nil && !errors.Is(err, c.Want) {
				t.Fatalf("Verify = %v, want %v", err, c.Want)
			}
			for _, secret := range secrets {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Fatalf("error echoes a secret: %v", err)
				}
			}
		})
	}
}

// SignerKind is a kind that signs requests the way its provider does.
type SignerKind interface {
	channel.Kind
	channel.Signer
}

// SignerRoundTrip checks k's Signer against its own Verify, as the local
// stack and `ocx sign` rely on: the demo secrets are fixed for a seed, a
// request signed now with them verifies, and neither a tampered copy nor
// another seed's secret does. unsigned carries the body and whatever else
// the provider sends (a topic, the URL).
func SignerRoundTrip(t *testing.T, k SignerKind, unsigned channel.Request) {
	t.Helper()
	sign, verify := k.DemoSecrets("local-test")
	if s, v := k.DemoSecrets("local-test"); s != sign || v != verify {
		t.Fatalf("demo secrets are not fixed for a seed: %q %q, then %q %q", sign, verify, s, v)
	}
	_, otherVerify := k.DemoSecrets("local-elsewhere")
	now := time.Now()
	req := unsigned
	req.Header = unsigned.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if err := k.Sign(&req, sign, now); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(req, []string{verify}, now); err != nil {
		t.Fatalf("Verify rejects Sign: %v", err)
	}
	if err := k.Verify(req, []string{otherVerify}, now); !errors.Is(err, channel.ErrSignature) {
		t.Fatalf("another channel's secret verifies: %v", err)
	}
	tampered := req
	tampered.Body = append([]byte(" "), req.Body...)
	if err := k.Verify(tampered, []string{verify}, now); !errors.Is(err, channel.ErrSignature) {
		t.Fatalf("a tampered body verifies: %v", err)
	}
}

// Invariants are what a kind promises for any request, however garbled.
// Fuzz targets check them.
type Invariants struct {
	// Secrets and Now are what Verify is given.
	Secrets []string
	Now     time.Time
	// OneItem says a request is one item, so a parsed delivery holds
	// exactly one event or reject.
	OneItem bool
	// RFC3339 says every draft's occurred_at can be written as RFC 3339
	// (a year from 0 to 9999).
	RFC3339 bool
}

// Check verifies and parses req with k. Verify may fail only with
// ErrSignature or ErrStale and Parse only with ErrMalformed. A parsed
// delivery holds at least one event or reject; every draft has a type, a
// customer and attributes that marshal, and every reject a reason. Check
// returns the delivery (empty when Parse failed) for the kind's own checks.
func (inv Invariants) Check(t *testing.T, k channel.Kind, req channel.Request) channel.Delivery {
	t.Helper()
	if err := k.Verify(req, inv.Secrets, inv.Now); err != nil &&
		!errors.Is(err, channel.ErrSignature) && !errors.Is(err, channel.ErrStale) {
		t.Fatalf("Verify error wraps neither ErrSignature nor ErrStale: %v", err)
	}
	d, err := k.Parse(req)
	if err != nil {
		if !errors.Is(err, channel.ErrMalformed) {
			t.Fatalf("Parse error does not wrap ErrMalformed: %v", err)
		}
		return channel.Delivery{}
	}
	switch n := len(d.Events) + len(d.Rejects) + len(d.Ignored); {
	case n == 0:
		t.Fatal("Parse succeeded with no events, rejects or ignored items")
	case inv.OneItem && n != 1:
		t.Fatalf("%d events and %d rejects from one item", len(d.Events), len(d.Rejects))
	}
	for _, e := range d.Events {
		if e.Type == "" || e.Customer.Empty() {
			t.Fatalf("draft without type or customer %+v", e)
		}
		if _, err := json.Marshal(e.Attributes); err != nil {
			t.Fatalf("attributes do not marshal: %v", err)
		}
		if _, err := e.OccurredAt.MarshalJSON(); inv.RFC3339 && err != nil {
			t.Fatalf("occurred_at does not marshal: %v", err)
		}
	}
	for _, r := range d.Rejects {
		if r.Reason == "" {
			t.Fatalf("reject without reason: %+v", r)
		}
	}
	for _, ig := range d.Ignored {
		if ig.Type == "" {
			t.Fatalf("ignored item without type: %+v", ig)
		}
	}
	return d
}

// Benchmark measures Verify then Parse of req, as ingest runs them. Verify
// must accept req and Parse map it to events drafts.
func Benchmark(b *testing.B, k channel.Kind, req channel.Request, secrets []string, now time.Time, events int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		if err := k.Verify(req, secrets, now); err != nil {
			b.Fatal(err)
		}
		if d, err := k.Parse(req); err != nil || len(d.Events) != events {
			b.Fatal(d, err)
		}
	}
}
