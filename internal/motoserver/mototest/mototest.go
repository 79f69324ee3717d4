// Package mototest gives integration tests a moto_server of their own. A
// missing moto_server fails the test binary; it never skips.
package mototest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/motoserver"
)

var server *motoserver.Server

// Main starts moto_server, runs the package's tests and stops it. Call it
// from TestMain.
func Main(m *testing.M) {
	s, err := motoserver.Start(context.Background(), motoserver.Options{Serialize: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: integration tests need moto_server:", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// Endpoint is the running emulator's base URL.
func Endpoint(t testing.TB) string {
	t.Helper()
	if server == nil {
		t.Fatal("mototest.Main was not called from TestMain")
	}
	return server.Endpoint
}

// Config is an SDK configuration pointed at the emulator.
func Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := awsclient.Load(context.Background(), Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
