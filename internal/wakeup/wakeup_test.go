package wakeup

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{-time.Second, 0},
		{0, 0},
		{time.Millisecond, time.Second},
		{30 * time.Second, 30 * time.Second},
		{30*time.Second + time.Nanosecond, 31 * time.Second},
		{time.Hour, MaxDelay},
	} {
		if got := Delay(now.Add(c.at), now); got != c.want {
			t.Errorf("Delay(now+%s) = %s, want %s", c.at, got, c.want)
		}
	}
}

type recorder struct {
	keys []string
	at   []time.Time
	err  error
}

func (r *recorder) Schedule(_ context.Context, key string, at time.Time) error {
	r.keys, r.at = append(r.keys, key), append(r.at, at)
	return r.err
}

func TestDeliverHopsUntilDue(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	var woken []string
	wake := func(_ context.Context, key string) error { woken = append(woken, key); return nil }
	r := &recorder{}
	at := now.Add(4 * time.Hour)
	if err := Deliver(context.Background(), Wakeup{Key: "g1", At: at}, now, r, wake); err != nil {
		t.Fatal(err)
	}
	if len(woken) != 0 || len(r.keys) != 1 || !r.at[0].Equal(at) {
		t.Fatalf("a wake-up ahead of its instant: woke %v, scheduled %v %v", woken, r.keys, r.at)
	}
	if err := Deliver(context.Background(), Wakeup{Key: "g1", At: at}, at, r, wake); err != nil {
		t.Fatal(err)
	}
	if len(woken) != 1 || len(r.keys) != 1 {
		t.Fatalf("a due wake-up: woke %v, scheduled %v", woken, r.keys)
	}
	r.err = errors.New("queue down")
	if err := Deliver(context.Background(), Wakeup{Key: "g2", At: at}, now, r, wake); err == nil {
		t.Fatal("a hop that could not be scheduled reported no error, so the message would be lost")
	}
}

func TestEncodeDecode(t *testing.T) {
	w := Wakeup{Key: "ticket.first_response x", At: time.Date(2026, 12, 2, 3, 0, 0, 5, time.UTC)}
	body, err := Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(body)
	if err != nil || got.Key != w.Key || !got.At.Equal(w.At) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "{}", `{"key":"k"}`, "not json"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}
