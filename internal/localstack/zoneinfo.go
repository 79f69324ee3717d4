package localstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ocxhq/ocx/internal/topology"
)

// Zoneinfo is the time zone database the stack's functions use, as each
// function's asset carries one in Lambda (topology.ZoneinfoFile, named by
// ZONEINFO): ZONEINFO when set, else the Go toolchain's own, else "" (the
// system's /usr/share/zoneinfo).
var Zoneinfo = sync.OnceValue(func() string {
	if v := os.Getenv(topology.EnvZoneinfo); v != "" {
		return v
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	zip := filepath.Join(strings.TrimSpace(string(out)), "lib", "time", topology.ZoneinfoFile)
	if _, err := os.Stat(zip); err != nil {
		return ""
	}
	return zip
})

// useZoneinfo points this process's time package at Zoneinfo: the stack's
// functions run in it, and Go reads ZONEINFO from the process.
func useZoneinfo() {
	if zi := Zoneinfo(); zi != "" && os.Getenv(topology.EnvZoneinfo) == "" {
		os.Setenv(topology.EnvZoneinfo, zi)
	}
}
