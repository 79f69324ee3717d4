package rollup

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/metric"
)

// A month of mixed traffic — surveys, contacts, journeys, failures —
// delivered shuffled, with redeliveries and rollups in between, gives the
// figures a direct computation over the same events gives.
func TestFiguresMatchDirectComputation(t *testing.T) {
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(42, 1))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	month := 30 * 24 * time.Hour
	randAt := func() time.Time {
		return start.Add(time.Duration(rng.Int64N(int64(month))) / time.Second * time.Second)
	}
	type sent struct {
		source, typ string
		detail      any
	}
	var all []sent

	// Surveys.
	type answer struct {
		survey, channel string
		score           int
		at              time.Time
	}
	var answers []answer
	scales := map[string]int{"nps": 11, "csat": 5, "ces": 7}
	for i := range 600 {
		survey := []string{"nps", "csat", "ces"}[i%3]
		score := rng.IntN(scales[survey])
		if survey != "nps" {
			score++
		}
		a := answer{survey, []string{"typeform", "delighted"}[rng.IntN(2)], score, randAt()}
		answers = append(answers, a)
		all = append(all, sent{events.SourceIngest, events.TypeSurveyResponded, events.Interaction{
			ID: fmt.Sprint("s", i), Type: events.TypeSurveyResponded, Channel: a.channel, OccurredAt: a.at,
			Customer: events.Customer{Email: fmt.Sprintf("s%d@example.com", i)}, Attributes: map[string]any{"survey": survey, "score": float64(score)},
		}})
	}
	// Contacts by 40 customers on three channels.
	type contact struct {
		id, cust, channel string
		at                time.Time
	}
	var contacts []contact
	kinds := map[string]string{"zendesk": "ticket.created", "intercom": "conversation.opened", "twilio": "message.received"}
	chans := []string{"zendesk", "intercom", "twilio"}
	for i := range 400 {
		c := contact{fmt.Sprint("c", i), fmt.Sprint("cust", rng.IntN(40)), chans[rng.IntN(3)], randAt()}
		contacts = append(contacts, c)
		all = append(all, sent{events.SourceIngest, kinds[c.channel], events.Interaction{
			ID: c.id, Type: kinds[c.channel], Channel: c.channel, OccurredAt: c.at,
			Customer: events.Customer{Email: c.cust + "@example.com"}, Attributes: map[string]any{},
		}})
	}
	// Journeys: placed -> fulfilled -> completed, or abandoned while placed.
	type visit struct {
		stage    string
		in, out  time.Time
		finished bool
	}
	var visits []visit
	var started []time.Time
	for i := range 120 {
		inst := fmt.Sprint("o", i)
		placed := randAt()
		started = append(started, placed)
		ev := func(typ, stage, prev string, entered time.Time, exited *time.Time, at time.Time) {
			all = append(all, sent{events.SourceJourney, typ, events.JourneyEvent{
				ID: fmt.Sprintf("jev_%s_%s_%s", inst, typ, stage), Type: typ, Journey: "order-to-delivery", Instance: inst, Team: "logistics",
				Stage: stage, PreviousStage: prev, EnteredAt: entered, ExitedAt: exited, OccurredAt: at, CustomerID: "cus_1", Channel: "shopify",
			}})
		}
		ev(events.TypeJourneyStarted, "placed", "", placed, nil, placed)
		if rng.IntN(5) == 0 {
			gone := placed.Add(time.Duration(rng.IntN(72)) * time.Hour)
			ev(events.TypeJourneyAbandoned, "placed", "", placed, &gone, gone)
			visits = append(visits, visit{"placed", placed, gone, true})
			continue
		}
		fulfilled := placed.Add(time.Duration(1+rng.IntN(100000)) * time.Second)
		delivered := fulfilled.Add(time.Duration(1+rng.IntN(400000)) * time.Second)
		ev(events.TypeJourneyStageChanged, "fulfilled", "placed", fulfilled, &fulfilled, fulfilled)
		ev(events.TypeJourneyCompleted, "fulfilled", "", fulfilled, &delivered, delivered)
		visits = append(visits, visit{"placed", placed, fulfilled, true}, visit{"fulfilled", fulfilled, delivered, true})
	}
	// Failures: detected, some acknowledged, some resolved.
	type flr struct {
		rule          string
		detected      time.Time
		acked, solved time.Duration
	}
	var failures []flr
	for i := range 150 {
		f := flr{rule: []string{"nps.detractor", "email.bounced"}[rng.IntN(2)], detected: randAt()}
		rec := events.Failure{ID: fmt.Sprint("flr_", i), RuleID: f.rule, Team: "cx", Severity: "warning", DetectedAt: f.detected,
			Labels: map[string]string{"channel": "app"}, History: []events.FailureStep{{State: "open", At: f.detected}}}
		all = append(all, sent{events.SourceRules, events.TypeFailureDetected, rec})
		if rng.IntN(3) > 0 {
			f.acked = time.Duration(rng.IntN(7200)+1) * time.Second
			rec.History = append(rec.History, events.FailureStep{State: "acknowledged", At: f.detected.Add(f.acked)})
			all = append(all, sent{events.SourceRules, events.TypeFailureAcknowledged, rec})
		}
		if rng.IntN(2) > 0 {
			f.solved = f.acked + time.Duration(rng.IntN(86400)+1)*time.Second
			rec.History = append(rec.History, events.FailureStep{State: "resolved", At: f.detected.Add(f.solved)})
			all = append(all, sent{events.SourceRules, events.TypeFailureResolved, rec})
		}
		failures = append(failures, f)
	}

	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i, s := range all {
		w.send(s.source, s.typ, s.detail)
		if i%7 == 0 {
			w.send(s.source, s.typ, s.detail)
		}
		if i%500 == 0 {
			w.run()
		}
	}
	w.run()

	paris, _ := time.LoadLocation("Europe/Paris")
	for _, loc := range []*time.Location{time.UTC, paris} {
		dayOf := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
		from, to := time.Date(2026, 10, 31, 0, 0, 0, 0, loc), time.Date(2026, 12, 8, 0, 0, 0, 0, loc)
		got := func(name string, groupBy ...string) map[string]metric.Point {
			ans := w.query(q{metric: name, gran: Day, tz: loc.String(), from: from, to: to, groupBy: groupBy})
			out := map[string]metric.Point{}
			for _, s := range ans.Series {
				for _, p := range s.Points {
					g := ""
					for _, d := range groupBy {
						g += s.Group[d] + "/"
					}
					out[g+dayOf(p.Start)] = p
				}
			}
			return out
		}
		check := func(what, key string, p metric.Point, n int64, parts map[string]int64, value float64) {
			t.Helper()
			if p.N != n {
				t.Errorf("%s %s %s: n %d, want %d", loc, what, key, p.N, n)
			}
			for k, v := range parts {
				if p.Parts[k] != v {
					t.Errorf("%s %s %s: %s %d, want %d", loc, what, key, k, p.Parts[k], v)
				}
			}
			if !(math.IsNaN(value) && math.IsNaN(p.Value)) && math.Abs(p.Value-value) > 0.006 {
				t.Errorf("%s %s %s: value %v, want %v", loc, what, key, p.Value, value)
			}
		}

		// NPS and CSAT by channel and day.
		type tally struct{ n, pro, det, sat int64 }
		scores := map[string]map[string]*tally{"nps": {}, "csat": {}}
		for _, a := range answers {
			if a.survey == "ces" {
				continue
			}
			k := a.channel + "/" + dayOf(a.at)
			tl := scores[a.survey][k]
			if tl == nil {
				tl = &tally{}
				scores[a.survey][k] = tl
			}
			tl.n++
			tl.pro += b2i(a.score >= 9)
			tl.det += b2i(a.score <= 6)
			tl.sat += b2i(a.score >= 4)
		}
		nps := got("nps", "channel")
		for k, tl := range scores["nps"] {
			check("nps", k, nps[k], tl.n, map[string]int64{"promoters": tl.pro, "detractors": tl.det}, math.Round(10000*float64(tl.pro-tl.det)/float64(tl.n))/100)
		}
		csat := got("csat", "channel")
		for k, tl := range scores["csat"] {
			check("csat", k, csat[k], tl.n, map[string]int64{"satisfied": tl.sat}, math.Round(10000*float64(tl.sat)/float64(tl.n))/100)
		}

		// Contacts: repeats, hops and follow-ups per customer in time order.
		byCust := map[string][]contact{}
		for _, c := range contacts {
			byCust[c.cust] = append(byCust[c.cust], c)
		}
		type ct struct{ n, repeat, hop, followed int64 }
		want := map[string]*ct{}
		for _, cs := range byCust {
			sort.Slice(cs, func(i, j int) bool {
				return cs[i].at.Before(cs[j].at) || cs[i].at.Equal(cs[j].at) && cs[i].id < cs[j].id
			})
			for i, c := range cs {
				k := c.channel + "/" + dayOf(c.at)
				if want[k] == nil {
					want[k] = &ct{}
				}
				want[k].n++
				if i > 0 && c.at.Sub(cs[i-1].at) <= metric.ContactWindow {
					want[k].repeat++
					want[k].hop += b2i(cs[i-1].channel != c.channel)
				}
				if i+1 < len(cs) && cs[i+1].at.Sub(c.at) <= metric.ContactWindow {
					want[k].followed++
				}
			}
		}
		repeat, fcr, hop := got("repeat_contact_rate", "channel"), got("first_contact_resolution", "channel"), got("channel_hop_rate", "channel")
		for k, c := range want {
			check("repeat", k, repeat[k], c.n, map[string]int64{"repeat": c.repeat}, math.Round(10000*float64(c.repeat)/float64(c.n))/100)
			check("fcr", k, fcr[k], c.n, map[string]int64{"resolved": c.n - c.followed}, math.Round(10000*float64(c.n-c.followed)/float64(c.n))/100)
			check("hop", k, hop[k], c.n, map[string]int64{"hop": c.hop}, math.Round(10000*float64(c.hop)/float64(c.n))/100)
		}

		// Funnel and time in stage by stage and day.
		reached := map[string]int64{}
		for _, s := range started {
			reached["placed/"+dayOf(s)]++
		}
		spent := map[string][]float64{}
		for _, v := range visits {
			if v.stage == "fulfilled" {
				reached["fulfilled/"+dayOf(v.in)]++
			}
			k := v.stage + "/" + dayOf(v.out)
			spent[k] = append(spent[k], v.out.Sub(v.in).Seconds())
		}
		funnel := got("funnel", "stage")
		for k, n := range reached {
			check("funnel", k, funnel[k], n, nil, float64(n))
		}
		tis := got("time_in_stage", "stage")
		for k, ds := range spent {
			sort.Float64s(ds)
			p := tis[k]
			exact := ds[int(0.5*float64(len(ds)-1))]
			check("time_in_stage", k, p, int64(len(ds)), nil, p.Value)
			if math.Abs(p.Value-exact) > metric.RelativeAccuracy*exact+1e-9 {
				t.Errorf("%s time in stage %s: p50 %v, exact %v", loc, k, p.Value, exact)
			}
		}

		// Failures, MTTA and MTTR by rule and day of detection.
		type ft struct {
			n, acked, solved int64
			tta, ttr         time.Duration
		}
		fw := map[string]*ft{}
		for _, f := range failures {
			k := f.rule + "/" + dayOf(f.detected)
			if fw[k] == nil {
				fw[k] = &ft{}
			}
			fw[k].n++
			if f.acked > 0 {
				fw[k].acked++
				fw[k].tta += f.acked
			}
			if f.solved > 0 {
				fw[k].solved++
				fw[k].ttr += f.solved
			}
		}
		fl, mtta, mttr := got("failures", "rule"), got("mtta", "rule"), got("mttr", "rule")
		for k, f := range fw {
			check("failures", k, fl[k], f.n, map[string]int64{"acknowledged": f.acked, "resolved": f.solved}, float64(f.n))
			if f.acked > 0 {
				check("mtta", k, mtta[k], f.acked, nil, math.Round(1000*f.tta.Seconds()/float64(f.acked))/1000)
			}
			if f.solved > 0 {
				check("mttr", k, mttr[k], f.solved, nil, math.Round(1000*f.ttr.Seconds()/float64(f.solved))/1000)
			}
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
