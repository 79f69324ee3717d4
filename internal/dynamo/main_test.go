package dynamo_test

import (
	"testing"

	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }
