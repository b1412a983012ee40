package publish

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"

	"github.com/planetgo/aggregator"
)

// preparedKey identifies one version of an item's HTML as it is made safe:
// a hash of its source, id, base URL, content and summary.
type preparedKey [32]byte

// preparedHTML is the safe content and summary of one version.
type preparedHTML struct{ content, summary string }

// Prepared keeps the safe HTML of the item versions the last rebuild
// showed, so that each version is sanitized once while it is shown, and a
// restart sanitizes only what is shown. The store is only read: the
// database holds items as the feeds gave them. Sites may share one
// (Options.Prepared), so that the Site a reload makes finds the versions
// shown made safe; their rebuilds then take turns. Its zero value is
// ready to use.
type Prepared struct {
	mu   sync.Mutex                   // held from begin to done or abort
	prev map[preparedKey]preparedHTML // of the last rebuild
	next map[preparedKey]preparedHTML // of the rebuild under way
}

// begin starts a rebuild: what it does not use again is dropped at done.
func (c *Prepared) begin() {
	c.mu.Lock()
	c.next = make(map[preparedKey]preparedHTML, len(c.prev))
}

// done ends a rebuild that succeeded.
func (c *Prepared) done() {
	c.prev, c.next = c.next, nil
	c.mu.Unlock()
}

// abort ends a rebuild that failed; what it prepared is kept for the next.
func (c *Prepared) abort() {
	defer c.mu.Unlock()
	for k, v := range c.next {
		if c.prev == nil {
			c.prev = make(map[preparedKey]preparedHTML)
		}
		c.prev[k] = v
	}
	c.next = nil
}

// prepare replaces the content and summary of items with their safe
// versions, sanitizing on every CPU those not in the cache. base gives the
// URL an item's relative links resolve against. It runs inside a rebuild.
func (c *Prepared) prepare(items []aggregator.Item, base func(aggregator.Item) string, sanitize func(html, base string) string) {
	if sanitize == nil {
		return
	}
	keys := make([]preparedKey, len(items))
	bases := make([]string, len(items))
	var todo []int
	for i, it := range items {
		bases[i] = base(it)
		keys[i] = versionKey(it, bases[i])
		if h, ok := c.next[keys[i]]; ok {
			items[i].Content, items[i].Summary = h.content, h.summary
		} else if h, ok := c.prev[keys[i]]; ok {
			items[i].Content, items[i].Summary = h.content, h.summary
			c.next[keys[i]] = h
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	// A render waits for it, and each item is its own.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for i := range next {
				if items[i].Content != "" {
					items[i].Content = sanitize(items[i].Content, bases[i])
				}
				if items[i].Summary != "" {
					items[i].Summary = sanitize(items[i].Summary, bases[i])
				}
			}
		})
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, i := range todo {
		c.next[keys[i]] = preparedHTML{items[i].Content, items[i].Summary}
	}
}

// versionKey hashes what the safe HTML of it depends on.
func versionKey(it aggregator.Item, base string) preparedKey {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, s := range []string{it.SourceID, it.ID, base, it.Content, it.Summary} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	var k preparedKey
	h.Sum(k[:0])
	return k
}
