package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/planetgo/aggregator"
)

// Parse parses body, fetched from feedURL with the given Content-Type, into
// the items of src, identified as src.Identity says. Relative links are
// resolved against their xml:base, else the feed's own link, else feedURL;
// text is made valid UTF-8, fields are capped (see maxTitle), and times are
// put in UTC. It returns an error wrapping ErrNotFeed when body is no feed
// at all, ErrTooComplex for XML shaped to exhaust the parser, and a
// *ParseError when it is a feed that cannot be read.
//
// Parsing stops when ctx ends, and Parse returns context.Cause(ctx) at
// once: gofeed cannot be cancelled, so it runs on a goroutine whose result
// is then dropped, and which fails at its next read of body.
func (p *Parser) Parse(ctx context.Context, body []byte, feedURL, contentType string, src aggregator.Source) (Feed, error) {
	return p.parseNoting(ctx, body, feedURL, contentType, src, nil)
}

// parseNoting is Parse, giving notes (when not nil) one ItemNote per item.
func (p *Parser) parseNoting(ctx context.Context, body []byte, feedURL, contentType string, src aggregator.Source, notes *[]ItemNote) (Feed, error) {
	if err := context.Cause(ctx); err != nil {
		return Feed{}, err
	}
	type result struct {
		feed Feed
		err  error
	}
	done := make(chan result, 1)
	var own []ItemNote
	go func() {
		var n *[]ItemNote
		if notes != nil {
			n = &own
		}
		f, err := p.parse(ctx, body, feedURL, contentType, src, n)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		if notes != nil {
			*notes = own
		}
		return r.feed, r.err
	case <-ctx.Done():
		return Feed{}, context.Cause(ctx)
	}
}

// readUntil returns a reader of body that fails once ctx has ended, so that
// a parse abandoned by Parse ends at its next read.
func readUntil(ctx context.Context, body []byte) io.Reader {
	return &ctxReader{ctx: ctx, r: bytes.NewReader(body)}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := context.Cause(r.ctx); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// parseContext returns the context that bounds parsing a fetched body:
// what is left of Options.Timeout, which runs from sending the request
// (deadline) to the end of parsing, or a whole Timeout for a local file
// (deadline zero). Past it, the fetch fails with ErrTimeout.
func (c *Client) parseContext(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	cause := fmt.Errorf("%w after %s: the feed was still being parsed", ErrTimeout, c.opts.Timeout)
	if deadline.IsZero() {
		return context.WithTimeoutCause(ctx, c.opts.Timeout, cause)
	}
	return context.WithDeadlineCause(ctx, deadline, cause)
}
