package fetch

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Blocks forgets the Retry-After times that have passed: the one asked
// about at once, those of hosts never asked about again as more are
// recorded. A daemon that met ten thousand rate-limited hosts over the
// years keeps those still blocking, not every one.
func TestBlocksForgetExpired(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	blocks := &Blocks{}
	c := NewClient(nil, Options{Now: clock, Blocks: blocks})

	c.BlockHost("Asked.example", now.Add(time.Minute))
	if got := c.BlockedUntil("asked.example"); !got.Equal(now.Add(time.Minute)) {
		t.Fatalf("BlockedUntil = %v, want a minute from now", got)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got := c.BlockedUntil("asked.example"); !got.IsZero() {
		t.Errorf("BlockedUntil at the time asked for = %v, want none", got)
	}
	if n := len(blocks.until); n != 0 {
		t.Errorf("after its time was asked about, Blocks holds %d hosts, want 0", n)
	}

	// Each host asks for a minute; an hour passes between them.
	for i := range 10_000 {
		c.BlockHost(fmt.Sprintf("h%d.example", i), clock().Add(time.Minute))
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
	}
	c.BlockHost("last.example", clock().Add(time.Minute))
	if got := c.BlockedUntil("last.example"); got.IsZero() {
		t.Error("the last host's block is lost")
	}
	if n := len(blocks.until); n > 128 { // twice minBlocksSweep
		t.Errorf("after 10,000 expired blocks Blocks holds %d hosts, want at most 128", n)
	}
}
