// Package schema compiles the event contracts' JSON Schemas. It is for
// tests and tools: no function links a schema compiler.
package schema

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ocxhq/ocx/events"
)

const schemaBase = "https://ocx.example/schemas/"

// Compile loads every schema; the result validates documents by schema
// name (e.g. "survey.responded", "interaction").
func Compile() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	names, err := fs.Glob(events.Schemas, "schemas/*.json")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		b, err := events.Schemas.ReadFile(n)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if err := c.AddResource(schemaBase+path.Base(n), doc); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, n := range names {
		s, err := c.Compile(schemaBase + path.Base(n))
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", n, err)
		}
		out[strings.TrimSuffix(path.Base(n), ".json")] = s
	}
	return out, nil
}
