package aggregator

import "time"

// The defaults that both config (for a setting the admin leaves out) and
// the packages (for a zero field of their Options) apply: each is written
// once, here.
const (
	DefaultTitle        = "Planet"                                                 // of the merged feed and the page
	DefaultUserAgent    = "aggregator/1 (+https://github.com/planetgo/aggregator)" // sent with every request
	DefaultFetchTimeout = 30 * time.Second                                         // a fetch, from the request to the end of parsing
	DefaultMaxBytes     = 10 << 20                                                 // a feed's body, decompressed
	DefaultPerHost      = 2                                                        // requests in flight to one host
	DefaultMaxInterval  = 24 * time.Hour                                           // cap of cache hints, backoff and Retry-After
	DefaultItems        = 50                                                       // items in each output feed
)
