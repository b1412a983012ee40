package fetch

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/planetgo/aggregator"
)

// Pushed reads body, which a WebSub hub pushed for src, as Fetch reads a
// body it fetched: the same size limit, shape check, parser, normalising
// and time bound (Options.Timeout), and the same body again (prev's
// BodyHash) is NotModified. The Result keeps prev's validators, which
// belong to src's own responses, and its URL is src's, without
// credentials. It waits for a slot of Options.Concurrency, shared with
// fetches. Errors are ctx's cause, ErrTooLarge, ErrTimeout, ErrNotFeed,
// ErrTooComplex or a *ParseError.
func (c *Client) Pushed(ctx context.Context, src aggregator.Source, prev aggregator.SourceState, body []byte, contentType string) (Result, error) {
	if int64(len(body)) > c.opts.MaxBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(body), c.opts.MaxBytes)
	}
	res := Result{
		ETag:         prev.ETag,
		LastModified: prev.LastModified,
		BodyHash:     bodyHash(body),
		Bytes:        int64(len(body)),
		URL:          aggregator.RedactURL(src.URL),
	}
	if u, err := url.Parse(src.URL); err == nil {
		u.User = nil
		res.URL = u.String()
	}
	if res.BodyHash == prev.BodyHash {
		res.NotModified = true
		return res, nil
	}
	// Parsed in one of the slots of Options.Concurrency, as a fetch is:
	// pushes take no more of the machine than fetches may.
	release, err := c.slot(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()
	// A whole Timeout from now, on the real clock the context runs on
	// (Options.Now may be a test's fixed one).
	parseCtx, cancel := c.parseContext(ctx, time.Time{})
	defer cancel()
	feed, err := c.parser.Parse(parseCtx, body, res.URL, contentType, src)
	if err != nil {
		return Result{}, err
	}
	feed.dropFutureUpdates(c.opts.Now())
	res.Feed = feed
	return res, nil
}
