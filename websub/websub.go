// Package websub speaks WebSub (W3C Recommendation, 23 January 2018) for
// the aggregator, in its three roles: the publisher that tells hubs when
// our feeds change (Pinger), the hub of our own feeds (Hub), and the
// subscriber to the hubs of our sources (Subscriber). It owns the
// protocol: requests, intent verification, leases, signatures, and the
// guard that keeps requests to URLs that strangers give us off loopback
// and private addresses.
//
// It imports the root package, fetch (for its private-address rule and
// its discovery of hubs) and storage (where subscriptions are kept, in
// buckets of their own). It never sees config, poll or publish: the
// feeds it distributes and the pushed bodies it accepts go through the
// small interfaces it declares, which the command wires.
package websub

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// randomToken returns n random bytes in hex: callback tokens, secrets and
// challenges, which must be unguessable.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24)
	return hex.EncodeToString(b)
}

// backoff is the wait before the attempt after failures failed ones: base
// doubled for each, at most max.
func backoff(failures int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
