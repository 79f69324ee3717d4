// Package testclock gives tests a "now" of their own, so that no test
// decides what it expects from the wall clock: a fixed instant — the
// OCX_TEST_NOW environment variable (RFC 3339) or Default — that advances
// with real time from the moment the clock is made, so timeouts and
// signature tolerances still behave.
package testclock

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Env pins the instant a test run starts at.
const Env = "OCX_TEST_NOW"

// Default is the instant tests start at when OCX_TEST_NOW is unset: an
// ordinary Wednesday afternoon, far from month, year and DST edges.
var Default = time.Date(2026, time.June, 17, 14, 30, 0, 0, time.UTC)

// Instants are the edges `make test` also runs the clock-sensitive tests
// at: month end, year end, the DST changes of America/New_York and
// Europe/Paris, and either side of midnight UTC.
var Instants = []string{
	"2026-11-30T23:58:30Z", // month end, just before midnight UTC
	"2026-12-31T23:59:00Z", // year end
	"2027-01-01T00:00:30Z", // just after midnight UTC, a new year
	"2026-03-08T06:59:00Z", // 01:59 in New York, a minute before clocks go forward
	"2026-11-01T05:30:00Z", // 01:30 in New York, the hour that happens twice
	"2026-03-29T00:59:00Z", // 01:59 in Paris, a minute before clocks go forward
	"2026-10-25T00:30:00Z", // 02:30 in Paris, the hour that happens twice
}

// Clock is a test's clock.
type Clock struct {
	base    time.Time
	started time.Time
	offset  atomic.Int64
}

// New starts a clock at base.
func New(base time.Time) *Clock {
	return &Clock{base: base.UTC(), started: time.Now()}
}

// FromEnv starts a clock at OCX_TEST_NOW, or at Default when it is unset.
func FromEnv() (*Clock, error) {
	v := os.Getenv(Env)
	if v == "" {
		return New(Default), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want an RFC 3339 instant such as 2026-12-31T23:59:00Z: %w", Env, v, err)
	}
	return New(t), nil
}

// MustFromEnv is FromEnv for package-level clocks; a malformed
// OCX_TEST_NOW stops the run.
func MustFromEnv() *Clock {
	c, err := FromEnv()
	if err != nil {
		panic(err)
	}
	return c
}

// Now is the clock's time: its instant plus the real time elapsed since it
// started, plus any Advance.
func (c *Clock) Now() time.Time {
	return c.base.Add(time.Since(c.started) + time.Duration(c.offset.Load()))
}

// Advance moves the clock forward by d (backward if negative).
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.Advance(t.Sub(c.Now())) }
