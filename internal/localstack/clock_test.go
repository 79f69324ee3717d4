package localstack_test

import (
	"time"

	"github.com/ocxhq/ocx/internal/testclock"
)

// testClock is the run's "now": OCX_TEST_NOW, or testclock.Default,
// advancing with real time. Every stack these tests start runs on it (or
// on an offset from it), and every signature and event time is taken from
// it, so no expectation depends on the wall clock.
var testClock = testclock.MustFromEnv()

func testNow() time.Time { return testClock.Now() }
