// Package config is the configuration tree OCX runs with: where it comes
// from (the shipped files embedded in every binary, or OCX_CONFIG_DIR) and
// its layout. Every reader of the tree opens it here; each domain package
// parses its own part (file:line errors), and package load loads and
// validates the whole tree at once for ocx check, the local stack, the
// demo and the CDK app.
package config

import (
	"io/fs"
	"os"

	shipped "github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/topology"
)

// EnvDir names a directory of the tree's layout to use instead of the
// shipped files.
const EnvDir = topology.EnvConfigDir

// The tree's layout. Adding a file is adding it here, to the embed list in
// infra/config and to package load.
const (
	Channels = "channels.yaml"
	Teams    = "teams.yaml"
	Routes   = "routes.yaml"
	Identity = "identity.yaml"
	Outbound = "outbound.yaml"
	// Rules and Journeys are directories of YAML files.
	Rules    = "rules"
	Journeys = "journeys"
)

// Tree is a configuration tree.
type Tree struct {
	fsys  fs.FS
	where string
}

// Shipped is the configuration OCX ships with.
func Shipped() *Tree { return &Tree{fsys: shipped.Shipped, where: "shipped configuration"} }

// Dir is the tree in a directory.
func Dir(dir string) *Tree { return &Tree{fsys: os.DirFS(dir), where: dir} }

// FS is a tree over any file system (tests).
func FS(fsys fs.FS, where string) *Tree { return &Tree{fsys: fsys, where: where} }

// Open is the tree a process runs with: OCX_CONFIG_DIR when set, else the
// shipped files.
func Open(getenv func(string) string) *Tree {
	if dir := getenv(EnvDir); dir != "" {
		return Dir(dir)
	}
	return Shipped()
}

// FS is the tree's files.
func (t *Tree) FS() fs.FS { return t.fsys }

// Where says where the tree is, for messages.
func (t *Tree) Where() string { return t.where }
