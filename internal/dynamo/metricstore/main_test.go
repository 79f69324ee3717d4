package metricstore

import (
	"sync/atomic"
	"testing"

	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// tableSeq names each test's tables apart.
var tableSeq atomic.Int64
