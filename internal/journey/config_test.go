package journey_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/journey"
)

func TestShippedJourneysLoad(t *testing.T) {
	defs, err := journey.Load(config.Shipped, "journeys", []string{"cx-support", "payments", "logistics", "digital"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, d := range defs {
		got[d.ID] = true
	}
	for _, want := range []string{"order-to-delivery", "support-case", "onboarding", "failed-payment-recovery"} {
		if !got[want] {
			t.Errorf("shipped journeys lack %s", want)
		}
	}
	if _, err := journey.NewCatalog(defs); err != nil {
		t.Fatal(err)
	}
}

func TestLoadReportsEveryProblemWithItsLine(t *testing.T) {
	const bad = `journeys:
  - id: Order
    description: x
    instance: attributes.order_id
    team: nobody
    start:
      detail-type: ["order.created"]
    stages:
      - id: placed
        sla: soon
      - id: placed
        enter:
          detail-type: ["order.fulfilled"]
      - id: shipped
        slaa: 2d
  - id: ok
    description: fine
    instance: detail.attributes.x
    stages:
      - id: one
        enter:
          detail-type: ["a.b"]
      - id: two
    abandon:
      detail-type: {"prefix": "x"}
  - id: ok
    description: again
    instance: detail.attributes.x
    start:
      detail-type: ["a.b"]
    stages:
      - id: one
`
	fsys := fstest.MapFS{"journeys/bad.yaml": {Data: []byte(bad)}}
	_, err := journey.Load(fsys, "journeys", []string{"cx-support"})
	if err == nil {
		t.Fatal("bad journeys loaded")
	}
	want := []string{
		`journeys/bad.yaml:2: journey id "Order" must be lower-case`,
		`journeys/bad.yaml:4: journey "Order": instance "attributes.order_id" must be detail.attributes.<name>`,
		`journeys/bad.yaml:5: journey "Order": unknown team "nobody"`,
		`journeys/bad.yaml:10: journey "Order" stage "placed": sla "soon"`,
		`journeys/bad.yaml:11: journey "Order": stage "placed" defined twice`,
		`journeys/bad.yaml:15: unknown stage field "slaa"`,
		`journeys/bad.yaml:14: journey "Order" has no stage shipped enter pattern`,
		`journeys/bad.yaml:16: journey "ok" has no start pattern`,
		`journeys/bad.yaml:22: journey "ok": the first stage "one" is entered by the journey's start pattern`,
		`journeys/bad.yaml:23: journey "ok" has no stage two enter pattern`,
		`journeys/bad.yaml:25: journey "ok": invalid abandon event pattern`,
		`journeys/bad.yaml:26: journey "ok" already defined at journeys/bad.yaml:16`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("problems lack %q", w)
		}
	}
	if t.Failed() {
		t.Logf("problems:\n%v", err)
	}
}

func TestNoJourneysIsFine(t *testing.T) {
	defs, err := journey.Load(fstest.MapFS{}, "journeys", nil)
	if err != nil || len(defs) != 0 {
		t.Fatalf("Load of nothing = %v, %v", defs, err)
	}
}
