package outbound

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/lazyregexp"
	"github.com/ocxhq/ocx/internal/topology"
)

// File is the subscriptions' file in the configuration tree.
const File = config.Outbound

// SecretPrefix is where subscriptions' signing secrets live in Secrets
// Manager, under the stage's prefix: a subscription names one below it.
const SecretPrefix = topology.SecretOutboundPrefix

// Subscription sends OCX's events matching Pattern to URL, signed with the
// secrets named Secret.
type Subscription struct {
	ID          string
	Description string
	// URLTemplate is the url as written; URL is it with ${VAR} references
	// replaced from the environment. An empty URL makes the subscription
	// inactive: its events are neither recorded nor sent.
	URLTemplate string
	URL         string
	// Pattern is an EventBridge event pattern (JSON) over the envelope.
	Pattern string
	// Secret names the secret (below SecretPrefix) holding the endpoint's
	// whsec_ secrets, several during a rotation.
	Secret string
	File   string
	Line   int
}

// Active reports whether the subscription has somewhere to send to.
func (s Subscription) Active() bool { return s.URL != "" }

// Patterns lists the subscriptions' patterns, for the outbound function's
// bus rule (topology.BusRulesFor). Inactive ones are kept: the rule is
// built where a url's ${VAR} may not read as the function reads it, and a
// subscription wrongly left out would lose its events silently, while one
// wrongly kept costs only an invocation per event it matches.
func Patterns(subs []Subscription) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.Pattern
	}
	return out
}

type subscriptionYAML struct {
	ID          string    `yaml:"id"`
	Description string    `yaml:"description"`
	URL         string    `yaml:"url"`
	Pattern     yaml.Node `yaml:"pattern"`
	Secret      string    `yaml:"secret"`
}

var (
	idPattern     = lazyregexp.Bounded(`^[a-z0-9][a-z0-9-]*$`, 63)   // ^[a-z0-9][a-z0-9-]{0,62}$
	secretPattern = lazyregexp.Bounded(`^[A-Za-z0-9/_+=.@-]+$`, 200) // ^[A-Za-z0-9/_+=.@-]{1,200}$
	envRef        = lazyregexp.New(`\$\{([A-Z_][A-Z0-9_]*)\}`)
)

// Load reads and validates the subscriptions in file, reporting every
// problem as `file:line: what is wrong`. getenv expands ${VAR} in urls
// (nil means os.Getenv). A missing file means no subscriptions.
func Load(fsys fs.FS, file string, getenv func(string) string) ([]Subscription, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if _, err := fs.Stat(fsys, file); err != nil {
		return nil, nil
	}
	root, err := configfile.Read(fsys, file)
	if err != nil {
		return nil, err
	}
	var ps configfile.Problems
	var out []Subscription
	seen := map[string]bool{}
	for _, it := range configfile.Items[subscriptionYAML](file, root, "subscriptions", &ps) {
		y, n := it.Value, it.Node
		s := Subscription{ID: y.ID, Description: y.Description, URLTemplate: y.URL, Secret: y.Secret, File: file, Line: n.Line}
		switch {
		case !idPattern.MatchString(y.ID):
			ps.Add(file, configfile.Field(n, "id"), "id %q: want lower-case letters, digits and dashes", y.ID)
		case seen[y.ID]:
			ps.Add(file, configfile.Field(n, "id"), "subscription %q defined twice", y.ID)
		}
		seen[y.ID] = true
		if !secretPattern.MatchString(y.Secret) {
			ps.Add(file, configfile.Field(n, "secret"), "secret %q: want the name of a secret below %s in Secrets Manager", y.Secret, SecretPrefix)
		}
		if y.URL == "" {
			ps.Add(file, configfile.Field(n, "url"), "url is required (it may be ${VAR} to take it from the environment)")
		} else {
			s.URL = envRef.Regexp().ReplaceAllStringFunc(y.URL, func(ref string) string { return getenv(ref[2 : len(ref)-1]) })
			if s.URL != "" {
				if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					ps.Add(file, configfile.Field(n, "url"), "url %q: want an absolute http(s) URL", redactURL(s.URL))
				}
			}
		}
		s.Pattern, err = patternJSON(&y.Pattern)
		if err != nil {
			ps.Add(file, configfile.Field(n, "pattern"), "%v", err)
		}
		out = append(out, s)
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// patternJSON turns a pattern as written in YAML into EventBridge's JSON
// and checks that it compiles.
func patternJSON(n *yaml.Node) (string, error) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return "", fmt.Errorf("pattern: want a non-empty EventBridge event pattern")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return "", fmt.Errorf("pattern: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("pattern: %w", err)
	}
	if _, err := eventpattern.Compile(b); err != nil {
		return "", fmt.Errorf("pattern: %w", err)
	}
	return string(b), nil
}

// redactURL keeps a URL's scheme, host and path: a query or user info may
// carry a token.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
}
