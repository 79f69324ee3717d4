package channel

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/topology"
)

// Config is one configured channel.
type Config struct {
	ID          string  `yaml:"id"`
	Kind        string  `yaml:"kind"`
	Description string  `yaml:"description"`
	Options     Options `yaml:"options"`
}

// Channel is a configured channel ready to verify and parse requests.
type Channel struct {
	Config
	Kind Kind
}

// Load reads and validates channels.yaml and builds each channel's kind:
// every kind it names must be registered (package channel/kinds).
func Load(fsys fs.FS, name string) ([]Channel, error) { return load(fsys, name, true) }

// List reads and validates channels.yaml without building the channels'
// kinds, for what only names them (the channel health view): it links no
// provider's code.
func List(fsys fs.FS, name string) ([]Config, error) {
	chans, err := load(fsys, name, false)
	out := make([]Config, len(chans))
	for i, c := range chans {
		out[i] = c.Config
	}
	return out, err
}

func load(fsys fs.FS, name string, build bool) ([]Channel, error) {
	root, err := configfile.Read(fsys, name)
	if err != nil {
		return nil, err
	}
	var ps configfile.Problems
	var out []Channel
	seen := map[string]bool{}
	for _, it := range configfile.Items[Config](name, root, "channels", &ps) {
		c := it.Value
		switch {
		case !identity.ChannelID(c.ID):
			ps.Add(name, configfile.Field(it.Node, "id"), "channel id %q must be lower-case letters, digits and dashes", c.ID)
			continue
		case seen[c.ID]:
			ps.Add(name, configfile.Field(it.Node, "id"), "channel %q defined twice", c.ID)
			continue
		case c.Kind == "":
			ps.Add(name, it.Node, "channel %q has no kind", c.ID)
			continue
		}
		seen[c.ID] = true
		if !build {
			out = append(out, Channel{Config: c})
			continue
		}
		factory, ok := Lookup(c.Kind)
		if !ok {
			ps.Add(name, configfile.Field(it.Node, "kind"), "channel %q: unknown kind %q (known: %s)", c.ID, c.Kind, strings.Join(Kinds(), ", "))
			continue
		}
		k, err := factory(c.Options)
		if err != nil {
			ps.Add(name, configfile.Field(it.Node, "options"), "channel %q (%s): %v", c.ID, c.Kind, err)
			continue
		}
		out = append(out, Channel{Config: c, Kind: k})
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no channels configured", name)
	}
	return out, nil
}

// SecretName is where a channel's signing secrets are stored, under the
// stack's secret prefix.
func SecretName(id string) string { return topology.SecretChannelPrefix + id }

// SecretEnv is the local stack's environment variable for a channel's
// secrets, e.g. OCX_SECRET_APP.
func SecretEnv(id string) string {
	return "OCX_SECRET_" + strings.ToUpper(strings.ReplaceAll(id, "-", "_"))
}
