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
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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

// postForm sends form to hub with client, as userAgent: a 2xx is success;
// any other status is an error with the start of the hub's answer. A
// network error is returned without url.Error's text, which repeats the
// hub's URL.
func postForm(ctx context.Context, client *http.Client, hub, userAgent string, form url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection is reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("hub answered %s: %s", resp.Status, strings.TrimSpace(strings.ToValidUTF8(string(msg), "")))
	}
	return nil
}
