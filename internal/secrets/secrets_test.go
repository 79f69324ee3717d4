package secrets

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

func TestPutGetListAndCache(t *testing.T) {
	ctx := context.Background()
	s := New(secretsmanager.NewFromConfig(mototest.Config(t)), "ocx/test/")
	if _, err := s.Get(ctx, "channel/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing secret: got %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, "channel/app", "whsec_a,whsec_b"); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "channel/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "whsec_a" || got[1] != "whsec_b" {
		t.Fatalf("List = %q", got)
	}

	// A rotation made elsewhere is seen only after the TTL.
	clock := time.Now()
	s.now = func() time.Time { return clock }
	other := New(secretsmanager.NewFromConfig(mototest.Config(t)), "ocx/test/")
	if err := other.Put(ctx, "channel/app", "whsec_c"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(ctx, "channel/app"); v != "whsec_a,whsec_b" {
		t.Fatalf("within TTL got %q, want cached value", v)
	}
	clock = clock.Add(DefaultTTL + time.Second)
	if v, _ := s.Get(ctx, "channel/app"); v != "whsec_c" {
		t.Fatalf("after TTL got %q, want rotated value", v)
	}
}
