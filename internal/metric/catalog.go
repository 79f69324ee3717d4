package metric

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Kind says how a metric's value reads.
type Kind string

// Kinds of metric.
const (
	KindCount    Kind = "count"
	KindScore    Kind = "score"
	KindRate     Kind = "rate"
	KindDuration Kind = "duration"
)

// Metric is one figure analysts can query.
type Metric struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Formula     string   `json:"formula"`
	Kind        Kind     `json:"kind"`
	Unit        string   `json:"unit"`
	Dimensions  []string `json:"dimensions"`
	// Parts and Stats name the point's parts and stats, in column order.
	Parts []string `json:"parts"`
	Stats []string `json:"stats"`
	// Family is the counter family it is computed from.
	Family string `json:"-"`
	// Settles is how long after a bucket ends its value can still change
	// without a late event.
	Settles time.Duration `json:"-"`
	// Needs names a dimension the metric only makes sense grouped or
	// filtered by (the funnel, by stage).
	Needs   string `json:"-"`
	compute func(Fields) Point
}

// Compute returns the point of merged fields (Start and Provisional are
// the caller's).
func (m Metric) Compute(f Fields) Point {
	p := m.compute(f)
	if p.Parts == nil {
		p.Parts = map[string]int64{}
	}
	for _, k := range m.Parts {
		p.Parts[k] += 0
	}
	if (m.Kind == KindScore || m.Kind == KindRate || m.Kind == KindDuration) && p.N < MinSample {
		p.LowSample = true
	}
	return p
}

// Quantiles reported for durations.
var quantiles = []struct {
	name string
	q    float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}

var nan = math.NaN()

func count(field string, parts ...string) func(Fields) Point {
	return func(f Fields) Point {
		p := Point{Value: float64(f[field]), N: f[field], Low: nan, High: nan, Parts: map[string]int64{}}
		for _, k := range parts {
			p.Parts[k] = f[k]
		}
		return p
	}
}

func rate(num func(Fields) int64, den string, numName string) func(Fields) Point {
	return func(f Fields) Point {
		k, n := num(f), f[den]
		s := Share(k, n)
		return Point{Value: s.Value, N: n, Low: s.Low, High: s.High, Parts: map[string]int64{numName: k, den: n}}
	}
}

func field(name string) func(Fields) int64 { return func(f Fields) int64 { return f[name] } }

func histogram(f Fields) Histogram {
	h := Histogram{}
	for k, v := range f {
		if s, ok := scoreOf(k); ok {
			h[s] += v
		}
	}
	return h
}

func duration(s Sketch, value string) func(Fields) Point {
	return func(f Fields) Point {
		p := Point{N: s.Count(f), Value: nan, Low: nan, High: nan}
		if p.N == 0 {
			return p
		}
		qs := make([]float64, len(quantiles))
		for i, q := range quantiles {
			qs[i] = q.q
		}
		vs, err := s.Quantiles(f, qs...)
		if err != nil {
			return p
		}
		p.Stats = map[string]float64{"mean": round3(s.Mean(f))}
		for i, q := range quantiles {
			p.Stats[q.name] = round3(vs[i])
		}
		p.Value = p.Stats[value]
		return p
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Dimension sets of the families.
var (
	journeyDims = []string{"journey", "stage", "team"}
	failureDims = []string{"rule", "team", "severity", "channel", "journey"}
)

// Catalog lists every metric; attributes are the configured customer
// attributes, dimensions of the interaction metrics.
func Catalog(attributes []string) []Metric {
	withAttrs := func(dims ...string) []string { return append(dims, attributes...) }
	durationStats := []string{"p50", "p90", "p99", "mean"}
	ms := []Metric{
		{Name: "interactions", Family: FamilyVolume, Kind: KindCount, Unit: "interactions",
			Description: "Interactions received, by the time they occurred.",
			Formula:     "count of interactions", Dimensions: withAttrs("channel", "type"),
			compute: count("n")},
		{Name: "nps", Family: ScoreFamily("nps"), Kind: KindScore, Unit: "score -100..100",
			Description: "Net Promoter Score of survey answers on the 0-10 scale.",
			Formula:     "100 × (promoters (9-10) − detractors (0-6)) ÷ answers; 95 % interval by adjusted Wald (Rocks 2016)",
			Dimensions:  withAttrs("channel"), Parts: []string{"promoters", "passives", "detractors"},
			compute: func(f Fields) Point {
				s, err := NPS(histogram(f))
				if err != nil || s.N == 0 {
					return Point{Value: nan, Low: nan, High: nan}
				}
				lo, hi := NPSInterval(s)
				return Point{Value: s.Value, N: s.N, Low: lo, High: hi,
					Parts: map[string]int64{"promoters": s.Promoters, "passives": s.Passives, "detractors": s.Detractors}}
			}},
		{Name: "csat", Family: ScoreFamily("csat"), Kind: KindScore, Unit: "percent",
			Description: "Customer satisfaction: the share of satisfied answers on the 1-5 scale.",
			Formula:     "100 × answers of 4 or 5 ÷ answers; 95 % Wilson interval",
			Dimensions:  withAttrs("channel"), Parts: []string{"satisfied"},
			compute: func(f Fields) Point {
				sat, p := CSAT(histogram(f))
				return Point{Value: p.Value, N: p.N, Low: p.Low, High: p.High, Parts: map[string]int64{"satisfied": sat}}
			}},
		{Name: "ces", Family: ScoreFamily("ces"), Kind: KindScore, Unit: "mean 1..7",
			Description: "Customer effort score: mean agreement on the 1-7 scale that the company made it easy.",
			Formula:     "sum of answers ÷ answers; 95 % Student-t interval; stats.share_5_7 = 100 × answers of 5-7 ÷ answers",
			Dimensions:  withAttrs("channel"), Parts: []string{"agree"}, Stats: []string{"share_5_7"},
			compute: func(f Fields) Point {
				agree, m := CES(histogram(f))
				p := Point{Value: m.Value, N: m.N, Low: m.Low, High: m.High, Parts: map[string]int64{"agree": agree}}
				if m.N > 0 {
					p.Stats = map[string]float64{"share_5_7": Share(agree, m.N).Value}
				}
				return p
			}},
		{Name: "contacts", Family: FamilyContacts, Kind: KindCount, Unit: "contacts",
			Description: "Contacts the customer started: tickets, chats, inbound messages and calls.",
			Formula:     "count of ticket.created, conversation.opened, message.received and call.completed (not outbound)",
			Dimensions:  withAttrs("channel"), Parts: []string{"repeat", "hop", "followed"},
			compute: count("contacts", "repeat", "hop", "followed")},
		{Name: "repeat_contact_rate", Family: FamilyContacts, Kind: KindRate, Unit: "percent",
			Description: "Share of contacts made within 7 days after another contact by the same customer.",
			Formula:     "100 × contacts with a previous contact in the 7 days before ÷ contacts; 95 % Wilson interval",
			Dimensions:  withAttrs("channel"), Parts: []string{"repeat", "contacts"},
			compute: rate(field("repeat"), "contacts", "repeat")},
		{Name: "first_contact_resolution", Family: FamilyContacts, Kind: KindRate, Unit: "percent", Settles: ContactWindow,
			Description: "Share of contacts not followed by another contact from the same customer within 7 days.",
			Formula:     "100 × (contacts − contacts followed by another within 7 days) ÷ contacts; 95 % Wilson interval; provisional until 7 days after the bucket",
			Dimensions:  withAttrs("channel"), Parts: []string{"resolved", "contacts"},
			compute: rate(func(f Fields) int64 { return f["contacts"] - f["followed"] }, "contacts", "resolved")},
		{Name: "channel_hop_rate", Family: FamilyContacts, Kind: KindRate, Unit: "percent",
			Description: "Share of contacts that repeat, within 7 days, a contact made on another channel.",
			Formula:     "100 × contacts whose previous contact (within 7 days) was on another channel ÷ contacts; 95 % Wilson interval",
			Dimensions:  withAttrs("channel"), Parts: []string{"hop", "contacts"},
			compute: rate(field("hop"), "contacts", "hop")},
		{Name: "failures", Family: FamilyFailures, Kind: KindCount, Unit: "failures",
			Description: "Failures detected by the rules, by when they were detected; parts say how many of them were acknowledged and resolved since.",
			Formula:     "count of failure.detected", Dimensions: failureDims, Parts: []string{"acknowledged", "resolved"},
			compute: count("detected", "acknowledged", "resolved")},
		{Name: "mtta", Family: FamilyFailures, Kind: KindDuration, Unit: "seconds",
			Description: "Mean time to acknowledge the failures detected in the bucket (those acknowledged so far).",
			Formula:     "sum of (acknowledged − detected) ÷ acknowledged failures; stats p50/p90/p99 from a DDSketch (1 % relative error)",
			Dimensions:  failureDims, Stats: durationStats,
			compute: duration(TimeToAcknowledge, "mean")},
		{Name: "mttr", Family: FamilyFailures, Kind: KindDuration, Unit: "seconds",
			Description: "Mean time to resolve the failures detected in the bucket (those resolved so far).",
			Formula:     "sum of (resolved − detected) ÷ resolved failures; stats p50/p90/p99 from a DDSketch (1 % relative error)",
			Dimensions:  failureDims, Stats: durationStats,
			compute: duration(TimeToResolve, "mean")},
		{Name: "journeys", Family: FamilyJourneys, Kind: KindCount, Unit: "journeys",
			Description: "Journey instances started; parts count those completed, abandoned and failed in the bucket.",
			Formula:     "count of journey.started", Dimensions: journeyDims, Parts: []string{"completed", "abandoned", "failed"},
			compute: count("started", "completed", "abandoned", "failed")},
		{Name: "failure_rate", Family: FamilyJourneys, Kind: KindRate, Unit: "percent",
			Description: "Journey instances that had a failure, per instance started in the same bucket.",
			Formula:     "100 × instances with a first failure detected in the bucket ÷ instances started in the bucket; 95 % Wilson interval",
			Dimensions:  journeyDims, Parts: []string{"failed", "started"},
			compute: rate(field("failed"), "started", "failed")},
		{Name: "funnel", Family: FamilyJourneys, Kind: KindCount, Unit: "journeys", Needs: "stage",
			Description: "Journey instances reaching each stage (each instance once per stage); parts count those started, completed and abandoned there. Group or filter by stage.",
			Formula:     "count of instances entering the stage for the first time", Dimensions: journeyDims,
			Parts:   []string{"started", "completed", "abandoned"},
			compute: count("reached", "started", "completed", "abandoned")},
		{Name: "time_in_stage", Family: FamilyJourneys, Kind: KindDuration, Unit: "seconds",
			Description: "Time journey instances spent in a stage, by when they left it: the value is the median.",
			Formula:     "p50 of (left − entered) from a DDSketch (1 % relative error); stats p90, p99 and the exact mean",
			Dimensions:  journeyDims, Stats: durationStats,
			compute: duration(StageTime, "p50")},
	}
	ms = append(ms, loopMetrics()...)
	for i := range ms {
		// Lists, never null, in the catalog a client reads.
		ms[i].Parts = append([]string{}, ms[i].Parts...)
		ms[i].Stats = append([]string{}, ms[i].Stats...)
	}
	return ms
}

// Lookup returns the named metric.
func Lookup(name string, attributes []string) (Metric, bool) {
	for _, m := range Catalog(attributes) {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Names lists the metric names, sorted.
func Names() []string {
	var out []string
	for _, m := range Catalog(nil) {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

// Families lists the counter families metrics are computed from.
func Families() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range Catalog(nil) {
		if !seen[m.Family] {
			seen[m.Family] = true
			out = append(out, m.Family)
		}
	}
	sort.Strings(out)
	return out
}

// Attributes parses a comma-separated list of customer attributes to use
// as dimensions, refusing names that clash with a built-in dimension.
func Attributes(list string) ([]string, error) {
	var out []string
	builtin := map[string]bool{"channel": true, "type": true, "from": true, "to": true, "granularity": true, "tz": true, "group_by": true}
	for _, d := range slices.Concat(journeyDims, failureDims) {
		builtin[d] = true
	}
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case builtin[a]:
			return nil, fmt.Errorf("customer attribute %q clashes with a built-in dimension or parameter", a)
		case slices.Contains(out, a):
		default:
			out = append(out, a)
		}
	}
	return out, nil
}
