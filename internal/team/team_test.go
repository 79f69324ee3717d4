package team

import (
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ocxhq/ocx/infra/config"
)

func TestLoad(t *testing.T) {
	const file = "teams.yaml"
	tests := []struct {
		name string
		yaml string
		want []Team // when the file is valid
		err  string // exact error when it is not
	}{
		{
			name: "both receivers",
			yaml: `teams:
  - id: cx-support
    name: Customer support
    slack: cx-support
    email: [cx@example.com, lead@example.com]
`,
			want: []Team{{ID: "cx-support", Name: "Customer support", Slack: "cx-support", Email: []string{"cx@example.com", "lead@example.com"}}},
		},
		{
			name: "slack only, name defaults to id",
			yaml: `teams:
  - id: payments
    slack: payments-alerts
  - id: logistics
    email:
      - logistics@example.com
`,
			want: []Team{
				{ID: "payments", Name: "payments", Slack: "payments-alerts"},
				{ID: "logistics", Name: "logistics", Email: []string{"logistics@example.com"}},
			},
		},
		{
			name: "empty list",
			yaml: "teams: []\n",
			want: []Team{},
		},
		{
			name: "missing id",
			yaml: `teams:
  - name: Nobody
    slack: nobody
`,
			err: "teams.yaml:2: team has no id",
		},
		{
			name: "duplicate id",
			yaml: `teams:
  - id: payments
    slack: payments
  - id: digital
    slack: digital
  - id: payments
    email: [pay@example.com]
`,
			err: `teams.yaml:6: duplicate team id "payments" (first defined at line 2)`,
		},
		{
			name: "bad email addresses",
			yaml: `teams:
  - id: payments
    email:
      - pay@example.com
      - not-an-address
      - Payments <pay@example.com>
`,
			err: "teams.yaml:5: bad email address \"not-an-address\"\n" +
				`teams.yaml:6: bad email address "Payments <pay@example.com>"`,
		},
		{
			name: "email not a list",
			yaml: `teams:
  - id: payments
    email: pay@example.com
`,
			err: "teams.yaml:3: email must be a list of addresses",
		},
		{
			name: "no receivers",
			yaml: `teams:
  - id: payments
    name: Payments
  - id: digital
    slack: ""
    email: []
`,
			err: "teams.yaml:2: team \"payments\" has no receivers: set slack or email\n" +
				`teams.yaml:4: team "digital" has no receivers: set slack or email`,
		},
		{
			name: "unknown field",
			yaml: `teams:
  - id: payments
    slack: payments
    emails: [pay@example.com]
`,
			err: `teams.yaml:4: unknown field "emails" in team (want id, name, slack, email, escalation, quiet_hours)`,
		},
		{
			name: "bad secret name",
			yaml: `teams:
  - id: payments
    slack: "pay ments"
`,
			err: `teams.yaml:3: slack "pay ments" is not a valid secret name (letters, digits and /_+=.@- only)`,
		},
		{
			name: "entry not a mapping",
			yaml: `teams:
  - payments
`,
			err: "teams.yaml:2: team must be a mapping with id, name, slack and email",
		},
		{
			name: "no teams key",
			yaml: "team:\n  - id: payments\n",
			err:  `teams.yaml:1: missing top-level "teams" list`,
		},
		{
			name: "every problem reported",
			yaml: `teams:
  - name: Nobody
    slack: nobody
  - id: payments
    email: [bad]
`,
			err: "teams.yaml:2: team has no id\n" +
				`teams.yaml:5: bad email address "bad"`,
		},
		{
			name: "empty file",
			yaml: "",
			err:  "teams.yaml:1: file is empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Load(fstest.MapFS{file: {Data: []byte(tt.yaml)}}, file)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("Load succeeded, want error:\n%s", tt.err)
				}
				if err.Error() != tt.err {
					t.Fatalf("Load error:\n%s\nwant:\n%s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := reg.All()
			if !slices.EqualFunc(got, tt.want, equal) {
				t.Fatalf("teams = %+v, want %+v", got, tt.want)
			}
			for _, w := range tt.want {
				if g, ok := reg.Get(w.ID); !ok || !equal(g, w) {
					t.Errorf("Get(%q) = %+v, %v", w.ID, g, ok)
				}
			}
			if _, ok := reg.Get("no-such-team"); ok {
				t.Error("Get of an unknown id succeeded")
			}
		})
	}
}

func TestLoadShipped(t *testing.T) {
	reg, err := Load(config.Shipped, "teams.yaml")
	if err != nil {
		t.Fatalf("shipped teams.yaml: %v", err)
	}
	if len(reg.All()) == 0 {
		t.Fatal("shipped teams.yaml defines no teams")
	}
	// The shipped rules route to cx-support; it must exist and be reachable.
	sup, ok := reg.Get("cx-support")
	if !ok {
		t.Fatal("shipped teams.yaml has no cx-support team")
	}
	if sup.Slack == "" && len(sup.Email) == 0 {
		t.Fatal("cx-support has no receivers")
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(fstest.MapFS{}, "teams.yaml"); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func equal(a, b Team) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Slack == b.Slack && slices.Equal(a.Email, b.Email)
}

func TestEscalationAndQuietHours(t *testing.T) {
	const file = "teams.yaml"
	good := `teams:
  - id: digital
    slack: digital
    escalation: {after: 30m, to: leads}
    quiet_hours: {start: "22:00", end: "07:00", tz: Europe/Berlin}
  - id: leads
    email: [leads@example.com]
`
	reg, err := Load(fstest.MapFS{file: {Data: []byte(good)}}, file)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Get("digital")
	if d.Escalation != (Escalation{After: 30 * time.Minute, To: "leads"}) || d.Quiet == nil {
		t.Fatalf("digital = %+v", d)
	}
	berlin := d.Quiet.Location
	tests := []struct {
		at        time.Time
		quiet     bool
		untilHour int
	}{
		{time.Date(2026, 1, 5, 23, 0, 0, 0, berlin), true, 7},
		{time.Date(2026, 1, 5, 6, 59, 0, 0, berlin), true, 7},
		{time.Date(2026, 1, 5, 7, 0, 0, 0, berlin), false, 0},
		{time.Date(2026, 1, 5, 12, 0, 0, 0, berlin), false, 0},
	}
	for _, tt := range tests {
		until, quiet := d.Quiet.Until(tt.at.UTC())
		if quiet != tt.quiet || (quiet && (until.In(berlin).Hour() != tt.untilHour || !until.After(tt.at))) {
			t.Errorf("Until(%s) = %s, %v", tt.at, until.In(berlin), quiet)
		}
	}

	bad := `teams:
  - id: digital
    slack: digital
    escalation: {after: soon, to: nobody, when: x}
    quiet_hours: {start: "25:00", end: "07:00", tz: Mars/Base}
  - id: leads
    slack: leads
    escalation: {after: 1h, to: leads}
  - id: ops
    slack: ops
    escalation: {after: 1h, to: nobody}
`
	_, err = Load(fstest.MapFS{file: {Data: []byte(bad)}}, file)
	want := `teams.yaml:4: unknown field "when" in escalation (want after, to)
teams.yaml:4: escalation after "soon": want a positive duration such as 30m
teams.yaml:5: quiet_hours start "25:00": want HH:MM
teams.yaml:5: quiet_hours tz "Mars/Base": want an IANA time zone such as Europe/Berlin
teams.yaml:8: team "leads" escalates to itself
teams.yaml:11: escalation target "nobody" is not a team`
	if err == nil || err.Error() != want {
		t.Fatalf("Load error:\n%v\nwant:\n%s", err, want)
	}
}
